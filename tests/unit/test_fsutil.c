/* File system helpers: tree removal never follows symlinks; bounded reads refuse, not truncate. */
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
#include <unistd.h>

#include <cmocka.h>

#include "slipway/cleanup.h"
#include "slipway/fsutil.h"

static void test_remove_tree_keeps_symlink_targets(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-fs-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char path[512], target[512];
        snprintf(target, sizeof(target), "%s/keep", dir);
        assert_int_equal(fs_mkdir_p(target, 0755), 0);
        snprintf(path, sizeof(path), "%s/keep/precious", dir);
        assert_int_equal(fs_write_atomic(path, "x", 1, 0444), 0);
        snprintf(path, sizeof(path), "%s/tree/a/b", dir);
        assert_int_equal(fs_mkdir_p(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/tree/a/b/diff", dir);
        assert_int_equal(symlink(target, path), 0); /* like a seeded layer's diff link */

        snprintf(path, sizeof(path), "%s/tree", dir);
        assert_int_equal(fs_remove_tree(path), 0);
        assert_int_equal(access(path, F_OK), -1);
        snprintf(path, sizeof(path), "%s/keep/precious", dir);
        assert_int_equal(access(path, F_OK), 0);
        snprintf(path, sizeof(path), "%s/missing", dir);
        assert_int_equal(fs_remove_tree(path), 0);
        assert_int_equal(fs_remove_tree(dir), 0);
}

static void test_read_bounded(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-fs-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char path[512];
        snprintf(path, sizeof(path), "%s/f", dir);
        assert_int_equal(fs_write_atomic(path, "hello", 5, 0600), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        assert_int_equal(fs_read_bounded(path, 5, &text, &len), 0);
        assert_string_equal(text, "hello");
        assert_int_equal(len, 5);
        char *too_big = NULL;
        assert_int_equal(fs_read_bounded(path, 4, &too_big, &len), -EFBIG);
        assert_null(too_big);
        assert_int_equal(fs_read_bounded("/nonexistent", 4, &too_big, &len), -ENOENT);
        assert_int_equal(fs_remove_tree(dir), 0);
}

static void test_random_hex(void **state)
{
        (void) state;
        char a[13], b[13];
        assert_int_equal(random_hex(a, 6), 0);
        assert_int_equal(random_hex(b, 6), 0);
        assert_int_equal(strlen(a), 12);
        assert_int_equal(strspn(a, "0123456789abcdef"), 12);
        assert_string_not_equal(a, b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_remove_tree_keeps_symlink_targets),
                cmocka_unit_test(test_read_bounded),
                cmocka_unit_test(test_random_hex),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
