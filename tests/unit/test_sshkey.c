/* Public key validation and generation. */
#include <errno.h>
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

/* The fingerprints ssh-keygen -l printed for these keys: no padding, one '=', two. */
static void test_fingerprint(void **state)
{
        (void) state;
        char fingerprint[SSHKEY_FINGERPRINT_MAX];
        assert_int_equal(sshkey_fingerprint("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOGJLRG+UqBigMaSfPRTfl7M9IFCTldKXZV1PDCLSw3D "
                                            "slipway-agent-70263610c460",
                                            fingerprint, sizeof(fingerprint)),
                         0);
        assert_string_equal(fingerprint, "SHA256:ewRtOpvBJfZSP69Tq9o6jNxYhto6TFJlSw9xDA82dUg");
        assert_int_equal(sshkey_fingerprint("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAIlocC8D34IW6GA/"
                                            "S3Ibc5a+uGzW3Ub7ostXHLwQqFMb9QSmVeGwPC8Eq4aO5EmAbtrTUPxG9r+ngv29E7qaSY= root@vm\n",
                                            fingerprint, sizeof(fingerprint)),
                         0);
        assert_string_equal(fingerprint, "SHA256:c1LYYwCO/8+WpwlwfdmhQCkNuZiQFubufPMcTbvPlk0");
        assert_int_equal(sshkey_fingerprint("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDdsWQfIXNBVqbK7+oyR8nInEpIa/16TRHt"
                                            "Y1rO5RL+wOVoNlnuFyBxAEcRaAUim9tdGBNk1ODYAzsTTcb+b+/xUcRxCBcnh+5E2ax12OZr"
                                            "4p1bs1XPFIFU2vnlHn8ZQyj1VjRfOdJEJmJfWNBPg1sNX+AiLiVkuN3sFjm9gGjSKw==", fingerprint, sizeof(fingerprint)), 0);
        assert_string_equal(fingerprint, "SHA256:nahSrDwfveGoQm9LJOmVIocHbEVODYtbVzSWFUIZKzY");
        assert_int_equal(sshkey_fingerprint("ssh-ed25519 AAAA!!!!", fingerprint, sizeof(fingerprint)), -EINVAL);
        assert_int_equal(sshkey_fingerprint("ssh-ed25519 AAA", fingerprint, sizeof(fingerprint)), -EINVAL);
        assert_int_equal(sshkey_fingerprint("ssh-ed25519", fingerprint, sizeof(fingerprint)), -EINVAL);
        assert_int_equal(sshkey_fingerprint("ssh-ed25519 A=AA", fingerprint, sizeof(fingerprint)), -EINVAL);
        assert_int_equal(sshkey_fingerprint(ED25519, fingerprint, 10), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_keys),
                cmocka_unit_test(test_invalid_keys),
                cmocka_unit_test(test_generate_and_read),
                cmocka_unit_test(test_read_missing),
                cmocka_unit_test(test_fingerprint),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
