/* A fresh directory under /tmp per test, as cmocka setup and teardown: *state is its path,
 * removed whole afterwards. */
#ifndef SLIPWAY_TEST_TMPDIR_H
#define SLIPWAY_TEST_TMPDIR_H

#include <stdlib.h>
#include <string.h>

#include "slipway/fsutil.h"

static int tmpdir_setup(void **state)
{
        char *dir = strdup("/tmp/slipway-unit-XXXXXX");
        if (!dir || !mkdtemp(dir)) {
                free(dir);
                return -1;
        }
        *state = dir;
        return 0;
}

static int tmpdir_teardown(void **state)
{
        (void) fs_remove_tree(*state);
        free(*state);
        return 0;
}

#endif
