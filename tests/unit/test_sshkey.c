/* Public key validation and generation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "slipway/cleanup.h"
#include "slipway/sshkey.h"

#define ED25519 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGjmU3Hq3Wq3Wq3Wq3Wq3Wq3Wq3Wq3Wq3Wq3Wq3Wq3W"

static void test_valid_keys(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        assert_true(sshkey_public_valid(ED25519 " me@host\n", &err));
        assert_true(sshkey_public_valid("# comment\n\n" ED25519 "\n" ED25519 " second\n", &err));
        assert_true(sshkey_public_valid(ED25519, &err));
}

static void test_invalid_keys(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        assert_false(sshkey_public_valid("", &err));
        assert_non_null(strstr(err.message, "no public key"));
        assert_false(sshkey_public_valid("-----BEGIN OPENSSH PRIVATE KEY-----\n", &err));
        assert_non_null(strstr(err.message, "line 1"));
        assert_false(sshkey_public_valid(ED25519 "\ncommand=\"rm -rf /\" " ED25519 "\n", &err));
        assert_non_null(strstr(err.message, "line 2"));
        assert_false(sshkey_public_valid("ssh-ed25519 short\n", &err));
        assert_false(sshkey_public_valid("ssh-ed25519 AAAA!!notbase64!!AAAAAAAAAAAAA\n", &err));
}

static void test_generate_and_read(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-key-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char key[256], pub[256], cmd[300];
        snprintf(key, sizeof(key), "%s/k", dir);
        snprintf(pub, sizeof(pub), "%s/k.pub", dir);
        struct sw_error err = { 0 };
        assert_int_equal(sshkey_generate(key, "test-comment", &err), 0);
        struct stat st;
        assert_int_equal(stat(key, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(sshkey_read_public(pub, &text, &err), 0);
        assert_non_null(strstr(text, "ssh-ed25519 "));
        assert_non_null(strstr(text, "test-comment"));
        /* A second generation onto an existing key fails clearly, without prompting. */
        assert_true(sshkey_generate(key, "again", &err) < 0);
        assert_non_null(strstr(err.message, key));
        assert_true(sshkey_read_public(key, &text, &err) < 0); /* the private half */
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

static void test_read_missing(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        char *text = NULL;
        assert_true(sshkey_read_public("/nonexistent/key.pub", &text, &err) < 0);
        assert_non_null(strstr(err.message, "/nonexistent/key.pub"));
        assert_non_null(strstr(err.message, "No such file"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_keys),
                cmocka_unit_test(test_invalid_keys),
                cmocka_unit_test(test_generate_and_read),
                cmocka_unit_test(test_read_missing),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
