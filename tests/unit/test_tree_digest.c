/* Tree digests: stable for the same tree, different for any change that matters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "slipway/fsutil.h"
#include "slipway/tree_digest.h"

static char root[] = "/var/tmp/slipway-digest-XXXXXX";

static void at(char *out, size_t size, const char *rel)
{
        snprintf(out, size, "%s/%s", root, rel);
}

static void digest(char out[TREE_DIGEST_MAX])
{
        struct sw_error err = { 0 };
        assert_int_equal(tree_digest(root, out, &err), 0);
        assert_int_equal(strncmp(out, "sha256:", 7), 0);
        assert_int_equal(strlen(out), 71);
}

static void test_digest_tracks_changes(void **state)
{
        (void) state;
        assert_non_null(mkdtemp(root));
        char path[512], a[TREE_DIGEST_MAX], b[TREE_DIGEST_MAX];
        at(path, sizeof(path), "dir/sub");
        assert_int_equal(fs_mkdir_p(path, 0755), 0);
        at(path, sizeof(path), "dir/file");
        assert_int_equal(fs_write_atomic(path, "content", 7, 0644), 0);
        at(path, sizeof(path), "dir/link");
        assert_int_equal(symlink("file", path), 0);
        digest(a);
        digest(b);
        assert_string_equal(a, b); /* stable */

        at(path, sizeof(path), "dir/file");
        assert_int_equal(fs_write_atomic(path, "Content", 7, 0644), 0); /* same size */
        digest(b);
        assert_string_not_equal(a, b);
        assert_int_equal(fs_write_atomic(path, "content", 7, 0644), 0);
        digest(b);
        assert_string_equal(a, b); /* back to the same tree */

        assert_int_equal(chmod(path, 0600), 0);
        digest(b);
        assert_string_not_equal(a, b);
        assert_int_equal(chmod(path, 0644), 0);

        at(path, sizeof(path), "dir/link");
        assert_int_equal(unlink(path), 0);
        assert_int_equal(symlink("other", path), 0);
        digest(b);
        assert_string_not_equal(a, b);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(symlink("file", path), 0);
        digest(b);
        assert_string_equal(a, b);

        at(path, sizeof(path), "dir/sub");
        assert_int_equal(setxattr(path, "trusted.overlay.opaque", "y", 1, 0), 0);
        digest(b);
        assert_string_not_equal(a, b);
        assert_int_equal(removexattr(path, "trusted.overlay.opaque"), 0);

        at(path, sizeof(path), "dir/sub/new");
        assert_int_equal(fs_write_atomic(path, "", 0, 0644), 0); /* an empty file appears */
        digest(b);
        assert_string_not_equal(a, b);
        assert_int_equal(fs_remove_tree(root), 0);
}

static void test_missing_root(void **state)
{
        (void) state;
        char out[TREE_DIGEST_MAX];
        struct sw_error err = { 0 };
        assert_true(tree_digest("/nonexistent-tree", out, &err) < 0);
        assert_non_null(strstr(err.message, "/nonexistent-tree"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_digest_tracks_changes),
                cmocka_unit_test(test_missing_root),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
