/* Egress allowlist: parsing and the rules it becomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slipway/cleanup.h"
#include "slipway/egress.h"

static void expect_normalized(const char *value, const char *want)
{
        char reason[256] = "";
        _cleanup_free_ char *out = NULL;
        assert_int_equal(egress_parse(value, &out, reason, sizeof(reason)), 0);
        assert_string_equal(out, want);
}

static void expect_refused(const char *value, const char *want)
{
        char reason[256] = "";
        char *out = NULL;
        assert_int_equal(egress_parse(value, &out, reason, sizeof(reason)), -EINVAL);
        assert_null(out);
        if (!strstr(reason, want))
                fail_msg("reason \"%s\" lacks \"%s\"", reason, want);
}

static void test_parse(void **state)
{
        (void) state;
        expect_normalized("10.0.0.5:443", "10.0.0.5/32:443");
        expect_normalized(" 10.0.0.5:443 , 192.168.7.9/24:5000,0.0.0.0/0:53",
                          "10.0.0.5/32:443,192.168.7.0/24:5000,0.0.0.0/0:53");
        expect_refused("10.0.0.5", "no port");
        expect_refused("10.0.0.5:0", "expected a port 1-65535");
        expect_refused("10.0.0.5:65536", "expected a port 1-65535");
        expect_refused("10.0.0.5:44x", "expected a port");
        expect_refused("10.0.0.5/33:1", "prefix length 0-32");
        expect_refused("10.0.0.5/:1", "prefix length 0-32");
        expect_refused("example.com:443", "not an IPv4 address (host names are not resolved");
        expect_refused("::1:443", "not an IPv4 address");
        expect_refused("10.0.0.5:443,", "expected ADDRESS[/BITS]:PORT");
        expect_refused(",10.0.0.5:443", "expected ADDRESS[/BITS]:PORT");
        expect_refused("10.0.0.5:443 10.0.0.6:443", "not an IPv4 address");
        char many[4096] = "";
        for (int i = 0; i <= EGRESS_MAX_ENTRIES; i++)
                snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s10.0.0.%d:80", i ? "," : "", i);
        expect_refused(many, "more than 64 destinations");
}

static void test_rules(void **state)
{
        (void) state;
        _cleanup_free_ char *rules = egress_rules("10.0.0.5/32:443,192.168.7.0/24:5000");
        assert_non_null(rules);
        /* Both paths out (own and forwarded), replies, each destination for TCP and UDP, and a
         * refusal last. */
        assert_non_null(strstr(rules, "-I OUTPUT 1 -o eth0 -j SLIPWAY-EGRESS\n"));
        assert_non_null(strstr(rules, "-I DOCKER-USER 1 -o eth0 -j SLIPWAY-EGRESS\n"));
        assert_non_null(strstr(rules, "-I FORWARD 1 -o eth0 -j SLIPWAY-EGRESS\n"));
        assert_non_null(strstr(rules, "--ctstate ESTABLISHED,RELATED -j RETURN\n"));
        assert_non_null(strstr(rules, "-A SLIPWAY-EGRESS -d 10.0.0.5/32 -p tcp --dport 443 -j RETURN\n"));
        assert_non_null(strstr(rules, "-A SLIPWAY-EGRESS -d 192.168.7.0/24 -p udp --dport 5000 -j RETURN\n"));
        const char *reject = strstr(rules, "-j REJECT --reject-with icmp-admin-prohibited\nCOMMIT\n");
        assert_non_null(reject);
        assert_true(reject > strstr(rules, "--dport 5000"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_rules),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
