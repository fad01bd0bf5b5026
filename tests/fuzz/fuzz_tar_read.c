/* tar_read_files: the tar archive Docker's GET /containers/{id}/archive returns (the agent's
 * logs). Every file handed to the callback must lie inside the archive, with a NUL-terminated
 * name; the walk returns 0, -EPROTO, or the callback's own non-zero value (the callback stops
 * the walk at a file whose content starts with "STOP"). */
#include "fuzz.h"
#include "slipway/tar.h"

#define STOP 4242

struct walk {
        const char *tar;
        size_t len;
        size_t files;
};

static int file(void *user, const char *name, const char *content, size_t len)
{
        struct walk *w = user;
        FUZZ_CHECK(strlen(name) < TAR_NAME_MAX);
        FUZZ_CHECK(content >= w->tar && len <= w->len && content - w->tar <= (ptrdiff_t) (w->len - len));
        FUZZ_CHECK((content - w->tar) % 512 == 0);
        w->files++;
        return len >= 4 && memcmp(content, "STOP", 4) == 0 ? STOP : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct walk w = { .tar = (const char *) data, .len = size };
        int r = tar_read_files(data, size, file, &w);
        FUZZ_CHECK(r == 0 || r == -EPROTO || r == STOP);
        FUZZ_CHECK(w.files <= size / 512);
        return 0;
}
