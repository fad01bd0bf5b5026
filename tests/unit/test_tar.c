/* The ustar writer: checked by GNU tar itself, so a malformed archive fails the test. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
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

/* The reader: what our writer, GNU tar and a PAX archive hold, and nothing of a broken one. */
struct seen {
        char names[8][260];
        size_t lens[8];
        char first_byte[8];
        int count;
};

static int remember(void *user, const char *name, const char *content, size_t len)
{
        struct seen *seen = user;
        if (seen->count == 8)
                return 0;
        snprintf(seen->names[seen->count], sizeof(seen->names[0]), "%s", name);
        seen->lens[seen->count] = len;
        seen->first_byte[seen->count] = len ? content[0] : 0;
        seen->count++;
        return 0;
}

static void fix_checksum(char *header)
{
        memset(header + 148, ' ', 8);
        unsigned sum = 0;
        for (int i = 0; i < 512; i++)
                sum += (unsigned char) header[i];
        snprintf(header + 148, 8, "%06o", sum);
        header[155] = ' ';
}

static void test_reader_reads_our_archives(void **state)
{
        (void) state;
        struct tar_writer tar = { 0 };
        char big[1500];
        memset(big, 'x', sizeof(big));
        assert_int_equal(tar_add_directory(&tar, "slipway", 0755, 0, 0), 0);
        assert_int_equal(tar_add_file(&tar, "slipway/dockerd.log", 0640, 0, 0, "one\ntwo\n", 8), 0);
        assert_int_equal(tar_add_file(&tar, "slipway/big", 0640, 0, 0, big, sizeof(big)), 0);
        assert_int_equal(tar_add_file(&tar, "slipway/empty", 0640, 0, 0, "", 0), 0);
        assert_int_equal(tar_finish(&tar), 0);
        struct seen seen = { 0 };
        assert_int_equal(tar_read_files(tar.data, tar.len, remember, &seen), 0);
        assert_int_equal(seen.count, 3); /* the directory is no file */
        assert_string_equal(seen.names[0], "slipway/dockerd.log");
        assert_int_equal(seen.lens[0], 8);
        assert_int_equal(seen.first_byte[0], 'o');
        assert_int_equal(seen.lens[1], 1500);
        assert_int_equal(seen.lens[2], 0);

        /* Without the end marker: complete entries still read; a cut one is an error. */
        memset(&seen, 0, sizeof(seen));
        assert_int_equal(tar_read_files(tar.data, tar.len - 1024, remember, &seen), 0);
        assert_int_equal(seen.count, 3);
        assert_int_equal(tar_read_files(tar.data, 512 + 512 + 4, remember, &seen), -EPROTO);
        assert_int_equal(tar_read_files(tar.data, 512 + 300, remember, &seen), -EPROTO);
        /* The last file's padding may be missing. */
        assert_int_equal(tar_read_files(tar.data, 512 + 512 + 8, remember, &seen), 0);
        /* A size past the buffer (checksum right), a broken checksum, a size not octal. */
        char *second = tar.data + 512; /* the header of dockerd.log */
        second[124] = '7';
        fix_checksum(second);
        memset(&seen, 0, sizeof(seen));
        assert_int_equal(tar_read_files(tar.data, tar.len, remember, &seen), -EPROTO);
        assert_int_equal(seen.count, 0);
        second[124] = '0';
        assert_int_equal(tar_read_files(tar.data, tar.len, remember, &seen), -EPROTO);
        fix_checksum(second);
        assert_int_equal(tar_read_files(tar.data, tar.len, remember, &seen), 0);
        memcpy(second + 124, "0000000001x", 11);
        fix_checksum(second);
        assert_int_equal(tar_read_files(tar.data, tar.len, remember, &seen), -EPROTO);
        second[124] = (char) 0x80; /* base-256 */
        fix_checksum(second);
        assert_int_equal(tar_read_files(tar.data, tar.len, remember, &seen), -EPROTO);
        assert_int_equal(tar_read_files(tar.data, 100, remember, &seen), -EPROTO);
        assert_int_equal(tar_read_files(tar.data, 0, remember, &seen), 0);
        tar_writer_release(&tar);
}

static void test_reader_reads_gnu_and_pax_tar(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-tar-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char cmd[1024];
        /* A long name: ustar's prefix field (PAX) or a GNU 'L' entry; and a PAX header with
         * sub-second times, as Go's archive/tar writes for Docker. */
        snprintf(cmd, sizeof(cmd),
                 "cd %s && mkdir -p d/%s && printf 'hello\\n' > d/%s/f.log && printf 'x' > d/g && "
                 "tar --format=pax -cf pax.tar d && tar --format=gnu -cf gnu.tar d",
                 dir, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_int_equal(system(cmd), 0);
        static const char *const formats[] = { "pax.tar", "gnu.tar" };
        for (size_t i = 0; i < 2; i++) {
                char path[256];
                snprintf(path, sizeof(path), "%s/%s", dir, formats[i]);
                FILE *f = fopen(path, "r");
                assert_non_null(f);
                static char data[65536];
                size_t len = fread(data, 1, sizeof(data), f);
                fclose(f);
                struct seen seen = { 0 };
                assert_int_equal(tar_read_files(data, len, remember, &seen), 0);
                assert_int_equal(seen.count, 2);
                bool found_log = false, found_g = false;
                for (int j = 0; j < seen.count; j++) {
                        size_t n = strlen(seen.names[j]);
                        if (n > 6 && strcmp(seen.names[j] + n - 6, "/f.log") == 0 && seen.lens[j] == 6)
                                found_log = true;
                        if (strcmp(seen.names[j], "d/g") == 0 && seen.lens[j] == 1 && seen.first_byte[j] == 'x')
                                found_g = true;
                }
                assert_true(found_g);
                /* The long name, from a PAX path record or a GNU 'L' entry. */
                assert_true(found_log);
        }
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_archive_lists_and_extracts),
                cmocka_unit_test(test_long_path_refused),
                cmocka_unit_test(test_reader_reads_our_archives),
                cmocka_unit_test(test_reader_reads_gnu_and_pax_tar),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
