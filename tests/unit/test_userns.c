/* Per-agent user namespace ranges: claims never overlap (whatever layout made them), run out
 * with ENOSPC, are given back by release and by reclaim once their agent's directory is gone,
 * and a layout that would map host ids is refused. Needs root (a private mount namespace to
 * show it a host user in the range). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/userns.h"

#define AGENT_A "0123456789ab"
#define AGENT_B "abcdef012345"
#define AGENT_C "a1b2c3d4e5f6"

static bool ranges_overlap(struct userns_range a, struct userns_range b)
{
        return (uint64_t) a.base < (uint64_t) b.base + b.size && (uint64_t) b.base < (uint64_t) a.base + a.size;
}

/* <state>/agents/<id>, as agent_prepare makes it. */
static void make_agent_dir(const char *state_dir, const char *id)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/agents/%s", state_dir, id);
        assert_int_equal(fs_mkdir_p(path, 0700), 0);
}

static int claim(const char *state_dir, const struct userns_layout *layout, const char *id,
                 struct userns_range *range, struct sw_error *err)
{
        sw_error_clear(err);
        return userns_claim(state_dir, layout, id, range, err);
}

static void test_claims_differ(void **state)
{
        const char *dir = *state;
        struct userns_layout layout = userns_layout_default();
        struct sw_error err = { 0 };
        struct userns_range a, b, found;
        assert_int_equal(claim(dir, &layout, AGENT_A, &a, &err), 0);
        assert_int_equal(claim(dir, &layout, AGENT_B, &b, &err), 0);
        assert_int_equal(a.size, USERNS_DEFAULT_SIZE);
        assert_int_equal(b.size, USERNS_DEFAULT_SIZE);
        assert_int_not_equal(a.base, b.base);
        assert_false(ranges_overlap(a, b));
        /* Both inside the layout, on its grid. */
        const struct userns_range both[] = { a, b };
        for (size_t i = 0; i < ARRAY_SIZE(both); i++) {
                assert_true(both[i].base >= layout.base);
                assert_true((uint64_t) both[i].base + both[i].size <=
                            (uint64_t) layout.base + (uint64_t) layout.size * layout.count);
                assert_int_equal((both[i].base - layout.base) % layout.size, 0);
        }
        /* Recorded as <state>/userns/<base>-<size> -> <id>, and found again by id. */
        char path[512], owner[64];
        snprintf(path, sizeof(path), "%s/" USERNS_DIR "/%u-%u", dir, a.base, a.size);
        ssize_t len = readlink(path, owner, sizeof(owner) - 1);
        assert_true(len > 0);
        owner[len] = '\0';
        assert_string_equal(owner, AGENT_A);
        assert_int_equal(userns_lookup(dir, AGENT_A, &found), 0);
        assert_int_equal(found.base, a.base);
        assert_int_equal(found.size, a.size);
        assert_int_equal(userns_lookup(dir, AGENT_B, &found), 0);
        assert_int_equal(found.base, b.base);
        assert_int_equal(userns_lookup(dir, AGENT_C, &found), -ENOENT);
}

/* A claim made with another layout (another slipway.conf, or slipway run's default) is
 * avoided too: ranges overlap nothing held, not just nothing on the same grid. */
static void test_claims_avoid_other_layouts(void **state)
{
        const char *dir = *state;
        struct userns_layout wide = { .base = 0x10000000u, .size = 3 * 65536u, .count = 4 };
        struct userns_layout narrow = { .base = 0x10000000u, .size = 65536u, .count = 16 };
        struct sw_error err = { 0 };
        struct userns_range a, b;
        assert_int_equal(claim(dir, &wide, AGENT_A, &a, &err), 0);
        assert_int_equal(a.base, wide.base);
        assert_int_equal(claim(dir, &narrow, AGENT_B, &b, &err), 0);
        assert_false(ranges_overlap(a, b));
        assert_int_equal(b.base, wide.base + wide.size); /* the first narrow one clear of it */
}

static void test_reclaim_only_agents_gone(void **state)
{
        const char *dir = *state;
        struct userns_layout layout = userns_layout_default();
        struct sw_error err = { 0 };
        struct userns_range a, b, found;
        make_agent_dir(dir, AGENT_A);
        assert_int_equal(claim(dir, &layout, AGENT_A, &a, &err), 0);
        /* B's directory never made it (a crash between claim and cleanup, in either order). */
        assert_int_equal(claim(dir, &layout, AGENT_B, &b, &err), 0);
        /* Nothing of ours: a claim pointing at no agent id goes too. */
        char path[512];
        snprintf(path, sizeof(path), "%s/" USERNS_DIR "/%u-%u", dir, 0x60000000u, 65536u);
        assert_int_equal(symlink("../../etc", path), 0);

        int reclaimed = -1;
        assert_int_equal(userns_reclaim(dir, &reclaimed, &err), 0);
        assert_int_equal(reclaimed, 2);
        assert_int_equal(userns_lookup(dir, AGENT_A, &found), 0);
        assert_int_equal(found.base, a.base);
        assert_int_equal(userns_lookup(dir, AGENT_B, &found), -ENOENT);
        struct stat st;
        assert_int_equal(lstat(path, &st), -1);
        /* Nothing more to do the second time. */
        assert_int_equal(userns_reclaim(dir, &reclaimed, &err), 0);
        assert_int_equal(reclaimed, 0);
        /* B's range is free again: the next claim may take it. */
        struct userns_range c;
        assert_int_equal(claim(dir, &layout, AGENT_C, &c, &err), 0);
        assert_false(ranges_overlap(a, c));
}

static void test_release_only_that_agent(void **state)
{
        const char *dir = *state;
        struct sw_error err = { 0 };
        struct userns_range found;
        /* Nothing claimed yet, not even the directory: nothing to do. */
        assert_int_equal(userns_release(dir, AGENT_A), 0);
        int reclaimed = -1;
        assert_int_equal(userns_reclaim(dir, &reclaimed, &err), 0);
        assert_int_equal(reclaimed, 0);

        struct userns_layout layout = userns_layout_default();
        struct userns_range a, b;
        assert_int_equal(claim(dir, &layout, AGENT_A, &a, &err), 0);
        assert_int_equal(claim(dir, &layout, AGENT_B, &b, &err), 0);
        assert_int_equal(userns_release(dir, AGENT_A), 0);
        assert_int_equal(userns_lookup(dir, AGENT_A, &found), -ENOENT);
        assert_int_equal(userns_lookup(dir, AGENT_B, &found), 0);
        assert_int_equal(found.base, b.base);
        assert_int_equal(userns_release(dir, AGENT_A), 0); /* missing is success */
        assert_int_equal(userns_lookup(dir, AGENT_B, &found), 0);
}

static void test_full_layout(void **state)
{
        const char *dir = *state;
        struct userns_layout layout = { .base = USERNS_DEFAULT_BASE, .size = 65536u, .count = 2 };
        struct sw_error err = { 0 };
        struct userns_range a, b, c;
        assert_int_equal(claim(dir, &layout, AGENT_A, &a, &err), 0);
        assert_int_equal(claim(dir, &layout, AGENT_B, &b, &err), 0);
        assert_int_equal(claim(dir, &layout, AGENT_C, &c, &err), -ENOSPC);
        assert_int_equal(err.code, ENOSPC);
        assert_non_null(strstr(err.message, "no free user namespace range: all 2 are held"));
        assert_int_equal(userns_lookup(dir, AGENT_C, &c), -ENOENT);
        /* One given back, one to take. */
        assert_int_equal(userns_release(dir, AGENT_A), 0);
        assert_int_equal(claim(dir, &layout, AGENT_C, &c, &err), 0);
        assert_int_equal(c.base, a.base);
}

static void test_bad_layouts_refused(void **state)
{
        const char *dir = *state;
        static const struct userns_layout bad[] = {
                { .base = USERNS_DEFAULT_BASE, .size = 65535u, .count = 1 },   /* nogroup unmapped */
                { .base = 0, .size = 65536u, .count = 1 },                     /* host root */
                { .base = 0xFFFF0000u, .size = 65536u, .count = 1 },           /* reaches 2^32 */
                { .base = USERNS_DEFAULT_BASE, .size = 65536u, .count = 0 },   /* no range */
                { .base = 0x80000000u, .size = 0x80000000u, .count = 2 },      /* wraps */
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct sw_error err = { 0 };
                struct userns_range range;
                assert_int_equal(userns_layout_check(&bad[i], &err), -EINVAL);
                assert_int_equal(claim(dir, &bad[i], AGENT_A, &range, &err), -EINVAL);
        }
        struct sw_error err = { 0 };
        struct userns_layout fine = userns_layout_default();
        assert_int_equal(userns_layout_check(&fine, &err), 0);
        /* The largest that fits: its last id is 2^32-2. */
        fine = (struct userns_layout){ .base = 0xFFFEFFFFu, .size = 65536u, .count = 1 };
        assert_int_equal(userns_layout_check(&fine, &err), 0);
        /* Nothing was claimed by the refusals. */
        struct userns_range found;
        assert_int_equal(userns_lookup(dir, AGENT_A, &found), -ENOENT);
}

/* A host user inside the next free range: the claim fails rather than hand that user's files
 * to an agent's root. This host has no id at or above 65536 and no /etc/subuid, so the test
 * shows userns.c one: a copy of /etc/passwd with an extra user, bound over it in a mount
 * namespace of this process's own (nothing outside it sees the change). */
static void test_host_ids_refused(void **state)
{
        const char *dir = *state;
        /* Needs root, like the rest of the suite: fail loudly rather than skip. */
        assert_int_equal(geteuid(), 0);
        assert_int_equal(unshare(CLONE_NEWNS), 0);
        assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        char passwd[512];
        snprintf(passwd, sizeof(passwd), "%s/passwd", dir);
        {
                _cleanup_fclose_ FILE *in = fopen("/etc/passwd", "re");
                _cleanup_fclose_ FILE *out = fopen(passwd, "we");
                assert_non_null(in);
                assert_non_null(out);
                char line[1024];
                while (fgets(line, sizeof(line), in))
                        assert_true(fputs(line, out) >= 0);
                assert_true(fputs("slipway-test:x:200000:200000::/nonexistent:/bin/false\n", out) >= 0);
        }
        assert_int_equal(mount(passwd, "/etc/passwd", NULL, MS_BIND, NULL), 0);

        struct userns_layout layout = { .base = 3 * 65536u, .size = 65536u, .count = 4 };
        struct sw_error err = { 0 };
        struct userns_range range;
        int r = claim(dir, &layout, AGENT_A, &range, &err);
        /* Restore /etc/passwd before any assertion can leave the test. */
        assert_int_equal(umount2("/etc/passwd", MNT_DETACH), 0);
        assert_int_equal(r, -EEXIST);
        assert_non_null(strstr(err.message, "user namespace range 196608-262143 overlaps host ids"));
        assert_non_null(strstr(err.message, "/etc/passwd has slipway-test at 200000"));
        assert_int_equal(userns_lookup(dir, AGENT_A, &range), -ENOENT);
        /* Past that user, the same host is fine. */
        layout.base = 4 * 65536u;
        assert_int_equal(claim(dir, &layout, AGENT_A, &range, &err), 0);
        assert_int_equal(range.base, 4 * 65536u);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_claims_differ, tmpdir_setup, tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_claims_avoid_other_layouts, tmpdir_setup, tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_reclaim_only_agents_gone, tmpdir_setup, tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_release_only_that_agent, tmpdir_setup, tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_full_layout, tmpdir_setup, tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_bad_layouts_refused, tmpdir_setup, tmpdir_teardown),
                /* Last: it leaves this process in a mount namespace of its own. */
                cmocka_unit_test_setup_teardown(test_host_ids_refused, tmpdir_setup, tmpdir_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
