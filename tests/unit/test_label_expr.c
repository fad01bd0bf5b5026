/* Jenkins label expressions: parsing (precedence, quoting, whitespace, errors with positions,
 * hostile nesting and length) and matching against a node's label atoms. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slipway/cleanup.h"
#include "slipway/label_expr.h"

/* A NULL-terminated list of atoms, as a node has them. */
#define ATOMS(...) ((const char *const[]){ __VA_ARGS__, NULL })
static const char *const no_atoms[] = { NULL };

/* text must parse, and match atoms exactly when expected says so. */
static void expect_match(const char *text, const char *const *atoms, bool expected)
{
        struct label_expr *expr = NULL;
        struct sw_error err = { 0 };
        if (label_expr_parse(text, &expr, &err) < 0)
                fail_msg("\"%s\" does not parse: %s", text, err.message);
        assert_non_null(expr);
        bool match = label_expr_match(expr, atoms);
        label_expr_free(expr);
        if (match != expected) {
                char list[256] = "";
                for (size_t i = 0; atoms && atoms[i]; i++) {
                        strncat(list, atoms[i], sizeof(list) - strlen(list) - 2);
                        strncat(list, " ", sizeof(list) - strlen(list) - 1);
                }
                fail_msg("\"%s\" against { %s}: expected %s", text, list, expected ? "match" : "no match");
        }
        /* The one-step form agrees. */
        assert_true(label_expr_text_matches(text, atoms) == expected);
}

/* text must not parse, with a message containing message. */
static void expect_error(const char *text, const char *message)
{
        struct label_expr *expr = NULL;
        struct sw_error err = { 0 };
        int rc = label_expr_parse(text, &expr, &err);
        if (rc >= 0)
                fail_msg("\"%.60s\" parses", text);
        assert_int_equal(rc, -EINVAL);
        assert_int_equal(err.code, EINVAL);
        assert_null(expr);
        if (!strstr(err.message, message))
                fail_msg("\"%.60s\": \"%s\" lacks \"%s\"", text, err.message, message);
        assert_false(label_expr_text_matches(text, ATOMS("a", "b", "c")));
}

static void test_atoms(void **state)
{
        (void) state;
        expect_match("dind", ATOMS("dind"), true);
        expect_match("dind", ATOMS("docker", "dind", "linux"), true);
        expect_match("dind", ATOMS("docker", "linux"), false);
        expect_match("dind", no_atoms, false);
        expect_match("dind", NULL, false);
        /* Atoms are whole words, compared exactly. */
        expect_match("dind", ATOMS("dind2"), false);
        expect_match("dind", ATOMS("DIND"), false);
        /* '-', '.', '_', ':' and UTF-8 are atom characters. */
        expect_match("docker-linux", ATOMS("docker-linux"), true);
        expect_match("docker-linux", ATOMS("docker", "linux"), false);
        expect_match("jdk_17.0.2", ATOMS("jdk_17.0.2"), true);
        expect_match("os:ubuntu-22.04", ATOMS("os:ubuntu-22.04"), true);
        expect_match("a-", ATOMS("a-"), true);
        expect_match("x86-64-v3", ATOMS("x86-64-v3"), true);
        expect_match("caf\xc3\xa9", ATOMS("caf\xc3\xa9"), true);
        expect_match("slipway-a-1", ATOMS("dind", "slipway-a-1"), true);
}

static void test_operators(void **state)
{
        (void) state;
        static const struct {
                const char *text;
                bool neither, only_a, only_b, both;
        } truth[] = {
                { "!a", true, false, true, false },
                { "a && b", false, false, false, true },
                { "a || b", false, true, true, true },
                { "a -> b", true, false, true, true },
                { "a <-> b", true, false, false, true },
        };
        for (size_t i = 0; i < ARRAY_SIZE(truth); i++) {
                expect_match(truth[i].text, no_atoms, truth[i].neither);
                expect_match(truth[i].text, ATOMS("a"), truth[i].only_a);
                expect_match(truth[i].text, ATOMS("b"), truth[i].only_b);
                expect_match(truth[i].text, ATOMS("a", "b"), truth[i].both);
        }
        expect_match("!!a", ATOMS("a"), true);
        expect_match("!!!a", ATOMS("a"), false);
        expect_match("a && b && c", ATOMS("a", "b"), false);
        expect_match("a && b && c", ATOMS("c", "b", "a"), true);
        expect_match("a || b || c", ATOMS("c"), true);
        expect_match("a <-> b <-> c", no_atoms, false); /* (a <-> b) <-> c */
        expect_match("a <-> b <-> c", ATOMS("c"), true);
}

static void test_precedence(void **state)
{
        (void) state;
        /* && binds tighter than ||: a || (b && c). */
        expect_match("a || b && c", ATOMS("a"), true);
        expect_match("a || b && c", ATOMS("b"), false);
        expect_match("a || b && c", ATOMS("b", "c"), true);
        expect_match("a && b || c", ATOMS("c"), true);
        expect_match("a && b || c", ATOMS("a"), false);
        /* ! binds tightest: (!a) && b. */
        expect_match("!a && b", ATOMS("b"), true);
        expect_match("!a && b", no_atoms, false);
        expect_match("!a && b", ATOMS("a", "b"), false);
        expect_match("!a || b", ATOMS("a", "b"), true);
        expect_match("!a || b", ATOMS("a"), false);
        /* || binds tighter than ->: (a || b) -> c. */
        expect_match("a || b -> c", ATOMS("a"), false);
        expect_match("a || b -> c", ATOMS("a", "c"), true);
        expect_match("a -> b || c", ATOMS("a", "c"), true);
        expect_match("a -> b && c", ATOMS("a", "b"), false);
        /* -> binds tighter than <->: (a -> b) <-> c. */
        expect_match("a -> b <-> c", no_atoms, false);
        expect_match("a -> b <-> c", ATOMS("c"), true);
        expect_match("a <-> b -> c", ATOMS("c"), false); /* a <-> (b -> c); (a <-> b) -> c holds */
        expect_match("a <-> b -> c", ATOMS("a"), true);
        expect_match("a <-> b -> c", ATOMS("a", "b"), false);
        expect_match("a <-> b -> c", ATOMS("a", "b", "c"), true);
        /* Parentheses override. */
        expect_match("(a || b) && c", ATOMS("a"), false);
        expect_match("(a || b) && c", ATOMS("a", "c"), true);
        expect_match("!(a && b)", ATOMS("a"), true);
        expect_match("!(a && b)", ATOMS("a", "b"), false);
        expect_match("!(a || b) && c", ATOMS("c"), true);
        expect_match("a -> (b <-> c)", no_atoms, true);
        expect_match("((((a))))", ATOMS("a"), true);
        expect_match("(a && (b || (c && !d)))", ATOMS("a", "c"), true);
        expect_match("(a && (b || (c && !d)))", ATOMS("a", "c", "d"), false);
        /* Realistic ones. */
        expect_match("dind && !windows", ATOMS("dind", "docker", "linux"), true);
        expect_match("dind && !windows", ATOMS("dind", "windows"), false);
        expect_match("linux && (docker || dind)", ATOMS("linux", "dind"), true);
        expect_match("built-in || slipway-a-1", ATOMS("slipway-a-1"), true);
}

static void test_operators_without_spaces(void **state)
{
        (void) state;
        /* '-' ends an atom only when '>' follows: a->b is an implication, a-b an atom. */
        expect_match("a->b", ATOMS("a"), false);
        expect_match("a->b", ATOMS("a", "b"), true);
        expect_match("a->b", no_atoms, true);
        expect_match("a-b", ATOMS("a-b"), true);
        expect_match("a-b", ATOMS("a", "b"), false);
        expect_match("docker-linux->dind", ATOMS("docker-linux"), false);
        expect_match("docker-linux->dind", ATOMS("docker-linux", "dind"), true);
        expect_match("a<->b", no_atoms, true);
        expect_match("a<->b", ATOMS("a"), false);
        expect_match("a--b", ATOMS("a--b"), true);
        expect_match("!a&&b||c", ATOMS("c"), true);
        expect_match("!a&&b||c", ATOMS("a", "b"), false);
        expect_match("(a||b)&&!c", ATOMS("b"), true);
}

static void test_whitespace(void **state)
{
        (void) state;
        static const char *const same[] = {
                "dind&&linux", "dind && linux", "  dind   &&   linux  ", "\tdind\t&&\tlinux\t",
                "dind\n&&\r\nlinux\n", "(dind)&&(linux)", "( dind && linux )",
        };
        for (size_t i = 0; i < ARRAY_SIZE(same); i++) {
                expect_match(same[i], ATOMS("dind", "linux"), true);
                expect_match(same[i], ATOMS("dind"), false);
                expect_match(same[i], ATOMS("linux"), false);
        }
        expect_match("! dind", ATOMS("linux"), true);
        expect_match("!  ( dind )", ATOMS("dind"), false);
}

static void test_quoted_atoms(void **state)
{
        (void) state;
        expect_match("\"dind\"", ATOMS("dind"), true);
        expect_match("\"my label\"", ATOMS("my label"), true);
        expect_match("\"my label\"", ATOMS("my", "label"), false);
        /* Operators inside quotes are atom text. */
        expect_match("\"a&&b\"", ATOMS("a&&b"), true);
        expect_match("\"a&&b\"", ATOMS("a", "b"), false);
        expect_match("\"(x) || !y\"", ATOMS("(x) || !y"), true);
        expect_match("\"a->b\"", ATOMS("a->b"), true);
        /* \" and \\ escape. */
        expect_match("\"say \\\"hi\\\"\"", ATOMS("say \"hi\""), true);
        expect_match("\"back\\\\slash\"", ATOMS("back\\slash"), true);
        expect_match("\"back\\\\slash\"", ATOMS("back\\\\slash"), false);
        /* Combined with other terms, with and without spaces. */
        expect_match("\"my label\" && linux", ATOMS("linux", "my label"), true);
        expect_match("\"my label\"&&!\"other one\"", ATOMS("my label"), true);
        expect_match("\"my label\"&&!\"other one\"", ATOMS("my label", "other one"), false);
        expect_match("(\"a b\")", ATOMS("a b"), true);
}

static void test_errors_name_the_position(void **state)
{
        (void) state;
        expect_error("", "label expression \"\": unexpected end at position 1");
        expect_error("   ", "unexpected end at position 4");
        expect_error("a &&", "label expression \"a &&\": unexpected end at position 5");
        expect_error("a ||", "unexpected end at position 5");
        expect_error("a ->", "unexpected end at position 5");
        expect_error("a <->", "unexpected end at position 6");
        expect_error("!", "unexpected end at position 2");
        expect_error("(a", "expected ')' at position 3");
        expect_error("((a)", "expected ')' at position 5");
        expect_error("a)", "unexpected text at position 2");
        expect_error("(a))", "unexpected text at position 4");
        expect_error("a b", "unexpected text at position 3");
        expect_error("dind linux", "unexpected text at position 6");
        expect_error("a & b", "unexpected text at position 3");
        expect_error("a | b", "unexpected text at position 3");
        expect_error("&& a", "expected a label at position 1");
        expect_error("a || || b", "expected a label at position 6");
        expect_error("()", "expected a label at position 2");
        expect_error("->b", "expected a label at position 1");
        expect_error("\"abc", "unterminated quote at position 5");
        expect_error("a && \"abc", "unterminated quote at position 10");
        expect_error("\"abc\\\"", "unterminated quote"); /* the escaped quote does not close */
        expect_error("\"abc\\", "unterminated quote");
        expect_error("\"a\"b", "unexpected text at position 4");
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
        size_t len = strlen(unit) * times + strlen(tail);
        char *text = malloc(len + 1);
        assert_non_null(text);
        char *p = text;
        for (size_t i = 0; i < times; i++) {
                memcpy(p, unit, strlen(unit));
                p += strlen(unit);
        }
        strcpy(p, tail);
        return text;
}

static void test_hostile_nesting_fails_cleanly(void **state)
{
        (void) state;
        /* Far beyond LABEL_EXPR_MAX: refused before any recursion. */
        _cleanup_free_ char *parens = repeat("(", 10000, "a");
        expect_error(parens, "longer than 1024 characters");
        _cleanup_free_ char *nots = repeat("!", 10000, "a");
        expect_error(nots, "longer than 1024 characters");

        /* Within the length limit, the depth limit refuses them, naming where. */
        _cleanup_free_ char *open = repeat("(", LABEL_EXPR_MAX, "");
        expect_error(open, "nested too deeply at position");
        _cleanup_free_ char *nested = malloc(1002);
        assert_non_null(nested);
        memset(nested, '(', 500);
        nested[500] = 'a';
        memset(nested + 501, ')', 500);
        nested[1001] = '\0';
        expect_error(nested, "nested too deeply at position");
        _cleanup_free_ char *negated = repeat("!", 1000, "a");
        expect_error(negated, "nested too deeply at position");
        _cleanup_free_ char *mixed = repeat("!(", 400, "a");
        expect_error(mixed, "nested too deeply at position");

        /* Reasonable nesting is fine. */
        char ok[80];
        memset(ok, '(', 32);
        ok[32] = 'a';
        memset(ok + 33, ')', 32);
        ok[65] = '\0';
        expect_match(ok, ATOMS("a"), true);
        _cleanup_free_ char *twenty_nots = repeat("!", 20, "a");
        expect_match(twenty_nots, ATOMS("a"), true);

        /* Long flat chains are iterative, not nested: all 1024 characters parse. */
        _cleanup_free_ char *chain = repeat("a&&", 341, "a");
        assert_int_equal(strlen(chain), LABEL_EXPR_MAX);
        expect_match(chain, ATOMS("a"), true);
        expect_match(chain, no_atoms, false);
        _cleanup_free_ char *ors = repeat("x||", 340, "a||a");
        expect_match(ors, ATOMS("a"), true);
}

static void test_length_limit(void **state)
{
        (void) state;
        _cleanup_free_ char *longest = repeat("x", LABEL_EXPR_MAX, "");
        _cleanup_free_ char *too_long = repeat("x", LABEL_EXPR_MAX + 1, "");
        expect_match(longest, ATOMS(longest), true);
        expect_error(too_long, "label expression longer than 1024 characters");
}

static void test_free_null(void **state)
{
        (void) state;
        label_expr_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_atoms),
                cmocka_unit_test(test_operators),
                cmocka_unit_test(test_precedence),
                cmocka_unit_test(test_operators_without_spaces),
                cmocka_unit_test(test_whitespace),
                cmocka_unit_test(test_quoted_atoms),
                cmocka_unit_test(test_errors_name_the_position),
                cmocka_unit_test(test_hostile_nesting_fails_cleanly),
                cmocka_unit_test(test_length_limit),
                cmocka_unit_test(test_free_null),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
