/* Seeding a data root from a synthetic generation: what is linked, copied and skipped. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/seed.h"

static char root[] = "/var/tmp/slipway-seed-test-XXXXXX";

static void put(const char *rel, const char *content)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/gen/%s", root, rel);
        char dir[512];
        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = '\0';
        assert_int_equal(fs_mkdir_p(dir, 0755), 0);
        assert_int_equal(fs_write_atomic(path, content, strlen(content), 0644), 0);
}

static void at(char *out, size_t size, const char *rel)
{
        snprintf(out, size, "%s/%s", root, rel);
}

static int make_generation(void **state)
{
        (void) state;
        assert_non_null(mkdtemp(root));
        put("engine-id", "seeder-identity");
        put("image/overlay2/repositories.json", "{\"Repositories\":{}}");
        put("overlay2/aaa/diff/etc/hello", "hello from layer a");
        put("overlay2/aaa/link", "SHORTA");
        put("overlay2/bbb/diff/etc/other", "b");
        put("overlay2/bbb/link", "SHORTB");
        put("overlay2/bbb/lower", "l/SHORTA");
        put("buildkit/cache.db", "x");
        char path[512], target[64];
        at(path, sizeof(path), "gen/overlay2/bbb/work");
        assert_int_equal(mkdir(path, 0700), 0);
        at(path, sizeof(path), "gen/overlay2/l");
        assert_int_equal(mkdir(path, 0700), 0);
        at(path, sizeof(path), "gen/overlay2/l/SHORTA");
        snprintf(target, sizeof(target), "../aaa/diff");
        assert_int_equal(symlink(target, path), 0);
        /* An overlayfs whiteout inside a layer, and a device node outside any layer. */
        at(path, sizeof(path), "gen/overlay2/bbb/diff/etc/hello");
        assert_int_equal(mknod(path, S_IFCHR | 0000, makedev(0, 0)), 0);
        at(path, sizeof(path), "gen/overlay2/bbb/diff/etc");
        assert_int_equal(setxattr(path, "trusted.overlay.opaque", "y", 1, 0), 0);
        at(path, sizeof(path), "gen/volumes");
        assert_int_equal(mkdir(path, 0700), 0);
        at(path, sizeof(path), "gen/volumes/backingFsBlockDev");
        assert_int_equal(mknod(path, S_IFBLK | 0600, makedev(7, 0)), 0);
        return 0;
}

static int remove_generation(void **state)
{
        (void) state;
        return fs_remove_tree(root);
}

static void fresh_target(const char *name, char *out, size_t size)
{
        at(out, size, name);
        assert_int_equal(fs_remove_tree(out), 0);
        assert_int_equal(mkdir(out, 0710), 0);
}

static void test_layer_link(void **state)
{
        (void) state;
        char gen[512], target[512], path[600], link[512];
        at(gen, sizeof(gen), "gen");
        fresh_target("link", target, sizeof(target));
        struct seed_stats stats;
        struct sw_error err = { 0 };
        assert_int_equal(seed_data_root(gen, target, "/seed", SEED_LAYER_LINK, 0, &stats, &err), 0);
        assert_int_equal(stats.layers, 2);
        assert_true(stats.bytes < 200); /* metadata only */

        struct stat st;
        snprintf(path, sizeof(path), "%s/overlay2/aaa/diff", target);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        assert_true(n > 0);
        link[n] = '\0';
        assert_string_equal(link, "/seed/overlay2/aaa/diff");
        snprintf(path, sizeof(path), "%s/overlay2/aaa", target);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode)); /* real and writable */
        snprintf(path, sizeof(path), "%s/overlay2/aaa/committed", target);
        assert_int_equal(access(path, F_OK), 0);
        snprintf(path, sizeof(path), "%s/overlay2/bbb/lower", target);
        _cleanup_free_ char *lower = NULL;
        assert_int_equal(fs_read_bounded(path, 100, &lower, NULL), 0);
        assert_string_equal(lower, "l/SHORTA");
        snprintf(path, sizeof(path), "%s/overlay2/bbb/work", target);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        snprintf(path, sizeof(path), "%s/overlay2/l/SHORTA", target);
        n = readlink(path, link, sizeof(link) - 1);
        assert_true(n > 0);
        link[n] = '\0';
        assert_string_equal(link, "../aaa/diff");
        snprintf(path, sizeof(path), "%s/image/overlay2/repositories.json", target);
        assert_int_equal(access(path, F_OK), 0);
        snprintf(path, sizeof(path), "%s/buildkit/cache.db", target);
        assert_int_equal(access(path, F_OK), 0);
        /* Per-daemon state is not copied. */
        snprintf(path, sizeof(path), "%s/engine-id", target);
        assert_int_equal(access(path, F_OK), -1);
        snprintf(path, sizeof(path), "%s/volumes", target);
        assert_int_equal(access(path, F_OK), -1);
}

static void test_copy_recreates_whiteouts_and_xattrs(void **state)
{
        (void) state;
        char gen[512], target[512], path[600];
        at(gen, sizeof(gen), "gen");
        fresh_target("copy", target, sizeof(target));
        struct seed_stats stats;
        struct sw_error err = { 0 };
        assert_int_equal(seed_data_root(gen, target, NULL, SEED_COPY, 0, &stats, &err), 0);
        assert_int_equal(stats.layers, 2);
        struct stat st;
        snprintf(path, sizeof(path), "%s/overlay2/aaa/diff/etc/hello", target);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(fs_read_bounded(path, 100, &text, NULL), 0);
        assert_string_equal(text, "hello from layer a");
        snprintf(path, sizeof(path), "%s/overlay2/bbb/diff/etc/hello", target);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(0, 0));
        snprintf(path, sizeof(path), "%s/overlay2/bbb/diff/etc", target);
        char value[8];
        assert_int_equal(getxattr(path, "trusted.overlay.opaque", value, sizeof(value)), 1);
        snprintf(path, sizeof(path), "%s/overlay2/aaa/committed", target);
        assert_int_equal(access(path, F_OK), -1);
}

/* copy_file_range refuses to cross file systems (EXDEV): the copy must still work. */
static void test_copy_across_file_systems(void **state)
{
        (void) state;
        char gen[512], target[] = "/dev/shm/slipway-seed-target-XXXXXX", path[600];
        at(gen, sizeof(gen), "gen");
        assert_non_null(mkdtemp(target));
        struct sw_error err = { 0 };
        struct seed_stats stats;
        assert_int_equal(seed_data_root(gen, target, NULL, SEED_COPY, 0, &stats, &err), 0);
        snprintf(path, sizeof(path), "%s/overlay2/aaa/diff/etc/hello", target);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(fs_read_bounded(path, 100, &text, NULL), 0);
        assert_string_equal(text, "hello from layer a");
        assert_int_equal(fs_remove_tree(target), 0);
}

/* Owners as the agent's user namespace sees them: every entry seeding writes is moved by the
 * shift, what had an owner above the id range keeps it, and the target itself is the
 * namespace root's. */
static void owner_is(const char *target, const char *rel, uid_t uid)
{
        char path[600];
        struct stat st;
        snprintf(path, sizeof(path), "%s%s%s", target, rel[0] ? "/" : "", rel);
        assert_int_equal(lstat(path, &st), 0);
        if (st.st_uid != uid || st.st_gid != uid)
                fail_msg("%s: owner %u:%u, expected %u", path, (unsigned) st.st_uid, (unsigned) st.st_gid,
                         (unsigned) uid);
}

static void test_owner_shift(void **state)
{
        (void) state;
        const uid_t shift = 1879048192;
        char gen[512], target[512], path[512];
        at(gen, sizeof(gen), "gen");
        at(path, sizeof(path), "gen/overlay2/bbb/link");
        assert_int_equal(lchown(path, 1000, 1000), 0);
        struct seed_stats stats;
        struct sw_error err = { 0 };
        fresh_target("shift-link", target, sizeof(target));
        assert_int_equal(seed_data_root(gen, target, "/seed", SEED_LAYER_LINK, shift, &stats, &err), 0);
        owner_is(target, "", shift);
        owner_is(target, "overlay2", shift);
        owner_is(target, "overlay2/aaa", shift);
        owner_is(target, "overlay2/aaa/diff", shift); /* the symlink into the generation */
        owner_is(target, "overlay2/aaa/committed", shift);
        owner_is(target, "overlay2/bbb/link", shift + 1000);
        owner_is(target, "overlay2/l/SHORTA", shift);
        owner_is(target, "image/overlay2/repositories.json", shift);
        /* copy shifts inside the layers too, whiteouts included; the generation is untouched. */
        fresh_target("shift-copy", target, sizeof(target));
        assert_int_equal(seed_data_root(gen, target, NULL, SEED_COPY, shift, &stats, &err), 0);
        owner_is(target, "overlay2/aaa/diff/etc/hello", shift);
        owner_is(target, "overlay2/bbb/diff/etc/hello", shift);
        owner_is(target, "overlay2/bbb/link", shift + 1000);
        at(path, sizeof(path), "gen/overlay2/bbb/link");
        struct stat st;
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_uid, 1000);
        at(path, sizeof(path), "gen/overlay2/aaa/diff/etc/hello");
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(lchown(path, 0, 0), 0);
        at(path, sizeof(path), "gen/overlay2/bbb/link");
        assert_int_equal(lchown(path, 0, 0), 0);
}

static void test_not_a_generation(void **state)
{
        (void) state;
        char target[512];
        fresh_target("bad", target, sizeof(target));
        struct sw_error err = { 0 };
        assert_true(seed_data_root(target, target, NULL, SEED_LAYER_LINK, 0, NULL, &err) < 0);
        assert_non_null(strstr(err.message, "not an overlay2 data root"));
        assert_true(seed_data_root("/nonexistent-gen", target, NULL, SEED_COPY, 0, NULL, &err) < 0);
        assert_non_null(strstr(err.message, "/nonexistent-gen"));
}

static void test_strategy_names(void **state)
{
        (void) state;
        enum seed_strategy s;
        assert_int_equal(seed_strategy_parse("layer-link", &s), 0);
        assert_int_equal(s, SEED_LAYER_LINK);
        assert_int_equal(seed_strategy_parse("reflink", &s), 0);
        assert_int_equal(s, SEED_REFLINK);
        assert_int_equal(seed_strategy_parse("copy", &s), 0);
        assert_int_equal(s, SEED_COPY);
        assert_int_equal(seed_strategy_parse("snapshot", &s), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_layer_link),
                cmocka_unit_test(test_copy_recreates_whiteouts_and_xattrs),
                cmocka_unit_test(test_copy_across_file_systems),
                cmocka_unit_test(test_owner_shift),
                cmocka_unit_test(test_not_a_generation),
                cmocka_unit_test(test_strategy_names),
        };
        return cmocka_run_group_tests(tests, make_generation, remove_generation);
}
