/* log_escape: text a build controls cannot forge log lines nor drive an operator's terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "slipway/log_escape.h"

static char out[256];

/* The line escape of a NUL-terminated string, checking it was escaped whole. */
static const char *line(const char *in)
{
        assert_int_equal(log_escape(in, strlen(in), out, sizeof(out)), strlen(in));
        return out;
}

static const char *terminal(const char *in)
{
        assert_int_equal(log_escape_terminal(in, strlen(in), out, sizeof(out)), strlen(in));
        return out;
}

static void test_forged_line(void **state)
{
        (void) state;
        /* A path with a newline must not start a line of its own in the container log. */
        assert_string_equal(line("cannot remove /tmp/x\nslipway-init: all good"),
                            "cannot remove /tmp/x\\nslipway-init: all good");
        assert_string_equal(line("a\r\nb\tc"), "a\\x0d\\nb\\tc");
        assert_null(strchr(line("\n\n\n"), '\n'));
}

static void test_control_bytes(void **state)
{
        (void) state;
        assert_string_equal(line("\033[2J\033]0;owned\007"), "\\x1b[2J\\x1b]0;owned\\x07");
        assert_string_equal(line("bs\b del\x7f"), "bs\\x08 del\\x7f");
        /* A NUL inside the message is escaped, not an end that hides what follows. */
        assert_int_equal(log_escape("a\0b", 3, out, sizeof(out)), 3);
        assert_string_equal(out, "a\\x00b");
        /* Printable ASCII as it is. */
        assert_string_equal(line(" !\"#~ az AZ 09 {}"), " !\"#~ az AZ 09 {}");
}

static void test_backslash(void **state)
{
        (void) state;
        /* Doubled in a log line, so a literal "\x1b" cannot pass for an escaped ESC. */
        assert_string_equal(line("C:\\x1b\\"), "C:\\\\x1b\\\\");
        /* Left alone on a terminal: daemons' JSON and paths are full of them. */
        assert_string_equal(terminal("{\"msg\":\"a\\\"b\"}"), "{\"msg\":\"a\\\"b\"}");
}

static void test_c1_controls(void **state)
{
        (void) state;
        /* U+009B, CSI, in UTF-8: some terminals honour it like ESC [. */
        assert_string_equal(line("x\xc2\x9b" "2Jy"), "x\\xc2\\x9b2Jy");
        assert_string_equal(line("\xc2\x80\xc2\x9f"), "\\xc2\\x80\\xc2\\x9f");
        assert_string_equal(terminal("\xc2\x9d" "0;t\xc2\x9c"), "\\xc2\\x9d0;t\\xc2\\x9c");
        /* U+00A0, the first character past C1, is printable. */
        assert_string_equal(line("\xc2\xa0"), "\xc2\xa0");
        /* A lone 0x9b is CSI to a terminal in an 8-bit mode; an overlong C1 (0xe0 0x82 0x9b)
         * is one to a lax decoder. Neither is UTF-8: every byte escaped. */
        assert_string_equal(line("\x9b" "2J"), "\\x9b2J");
        assert_string_equal(line("\xe0\x82\x9b"), "\\xe0\\x82\\x9b");
        /* Surrogates, past U+10FFFF, and a character cut short: not UTF-8 either. */
        assert_string_equal(line("\xed\xa0\x80"), "\\xed\\xa0\\x80");
        assert_string_equal(line("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
        assert_string_equal(line("\xe2\x9c"), "\\xe2\\x9c");
        assert_string_equal(line("\xff\xfe"), "\\xff\\xfe");
}

static void test_utf8_left_alone(void **state)
{
        (void) state;
        assert_string_equal(line("café ✓ 😀 日本"), "café ✓ 😀 日本");
        assert_string_equal(terminal("é\n✓\t."), "é\n✓\t.");
        assert_string_equal(line("\xef\xbf\xbd \xf4\x8f\xbf\xbf"), "\xef\xbf\xbd \xf4\x8f\xbf\xbf");
}

static void test_terminal_keeps_layout(void **state)
{
        (void) state;
        assert_string_equal(terminal("l1\n\tl2\r\033[1Al3\n"), "l1\n\tl2\\x0d\\x1b[1Al3\n");
        assert_string_equal(terminal("\a\b\x7f"), "\\x07\\x08\\x7f");
}

static void test_truncation(void **state)
{
        (void) state;
        char small[8];
        /* Stops where the next byte's escape would not fit with the NUL, never inside one. */
        memset(small, 'Z', sizeof(small));
        assert_int_equal(log_escape("abcdefghij", 10, small, sizeof(small)), 7);
        assert_string_equal(small, "abcdefg");
        assert_int_equal(log_escape("ab\033cd", 5, small, sizeof(small)), 4);
        assert_string_equal(small, "ab\\x1bc");
        assert_int_equal(log_escape("abcd\033e", 6, small, sizeof(small)), 4);
        assert_string_equal(small, "abcd");
        assert_int_equal(log_escape("abcdef\n", 7, small, sizeof(small)), 6);
        assert_string_equal(small, "abcdef");
        /* Nor inside a character: ✓ is three bytes. */
        assert_int_equal(log_escape("abcde\xe2\x9c\x93", 8, small, sizeof(small)), 5);
        assert_string_equal(small, "abcde");
        assert_int_equal(log_escape("abcd\xe2\x9c\x93", 7, small, sizeof(small)), 7);
        assert_string_equal(small, "abcd\xe2\x9c\x93");
        /* One byte holds the NUL only; none holds nothing and is not written. */
        assert_int_equal(log_escape("abc", 3, small, 1), 0);
        assert_string_equal(small, "");
        small[0] = 'Z';
        assert_int_equal(log_escape("abc", 3, small, 0), 0);
        assert_int_equal(small[0], 'Z');
        /* LOG_ESCAPE_SIZE always holds the worst case. */
        char worst[LOG_ESCAPE_SIZE(4)];
        assert_int_equal(log_escape("\x01\x02\x03\x04", 4, worst, sizeof(worst)), 4);
        assert_string_equal(worst, "\\x01\\x02\\x03\\x04");
        assert_int_equal(log_escape("", 0, worst, sizeof(worst)), 0);
        assert_string_equal(worst, "");
}

static void test_incomplete(void **state)
{
        (void) state;
        assert_int_equal(log_escape_incomplete("abc", 3), 0);
        assert_int_equal(log_escape_incomplete("", 0), 0);
        assert_int_equal(log_escape_incomplete("ab\xc2", 3), 1);
        assert_int_equal(log_escape_incomplete("ab\xe2\x9c", 4), 2);
        assert_int_equal(log_escape_incomplete("\xf0\x9f\x98", 3), 3);
        assert_int_equal(log_escape_incomplete("ab\xe2\x9c\x93", 5), 0); /* complete */
        assert_int_equal(log_escape_incomplete("\xc3\xa9\xe2", 3), 1);
        /* What never becomes UTF-8 is not kept waiting. */
        assert_int_equal(log_escape_incomplete("ab\x9b", 3), 0);
        assert_int_equal(log_escape_incomplete("ab\xff", 3), 0);
        assert_int_equal(log_escape_incomplete("ab\xe0\x82", 4), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_forged_line),
                cmocka_unit_test(test_control_bytes),
                cmocka_unit_test(test_backslash),
                cmocka_unit_test(test_c1_controls),
                cmocka_unit_test(test_utf8_left_alone),
                cmocka_unit_test(test_terminal_keeps_layout),
                cmocka_unit_test(test_truncation),
                cmocka_unit_test(test_incomplete),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
