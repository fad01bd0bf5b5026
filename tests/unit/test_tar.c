/* The ustar writer: checked by GNU tar itself, so a malformed archive fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slipway/tar.h"

static void test_archive_lists_and_extracts(void **state)
{
        (void) state;
        struct tar_writer tar = { 0 };
        assert_int_equal(tar_add_directory(&tar, "etc/ssh", 0755, 0, 0), 0);
        assert_int_equal(tar_add_file(&tar, "etc/ssh/key", 0600, 0, 0, "secret\n", 7), 0);
        char big[1500];
        memset(big, 'x', sizeof(big));
        assert_int_equal(tar_add_file(&tar, "run/big", 0644, 1000, 1000, big, sizeof(big)), 0);
        assert_int_equal(tar_add_file(&tar, "empty", 0644, 0, 0, "", 0), 0);
        assert_int_equal(tar_finish(&tar), 0);
        assert_int_equal(tar.len % 512, 0);

        char dir[] = "/tmp/slipway-tar-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char path[256], cmd[512];
        snprintf(path, sizeof(path), "%s/a.tar", dir);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(tar.data, 1, tar.len, f), tar.len);
        fclose(f);
        tar_writer_release(&tar);
        assert_null(tar.data);

        snprintf(cmd, sizeof(cmd),
                 "cd %s && tar -tvf a.tar > list 2>&1 && mkdir x && tar --numeric-owner -xpf a.tar -C x "
                 "&& test \"$(cat x/etc/ssh/key)\" = secret && test $(stat -c %%a x/etc/ssh/key) = 600 "
                 "&& test $(stat -c %%s x/run/big) = 1500 && test $(stat -c %%u x/run/big) = 1000 "
                 "&& test -f x/empty && grep -q 'etc/ssh/$' list",
                 dir);
        int rc = system(cmd);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(rc, 0);
}

static void test_long_path_refused(void **state)
{
        (void) state;
        struct tar_writer tar = { 0 };
        char name[120];
        memset(name, 'a', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        assert_true(tar_add_file(&tar, name, 0644, 0, 0, "x", 1) < 0);
        assert_true(tar_add_file(&tar, "", 0644, 0, 0, "x", 1) < 0);
        tar_writer_release(&tar);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_archive_lists_and_extracts),
                cmocka_unit_test(test_long_path_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
