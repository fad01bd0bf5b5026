/* agent_logs_tail: the last N lines of a log, as `slipway logs --tail N` shows them;
 * agent_log_lines: a followed log cut into lines, escaped for the operator's terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slipway/agent_logs.h"

static const char *tail(const char *text, int lines)
{
        return agent_logs_tail(text, strlen(text), lines);
}

static void test_tail(void **state)
{
        (void) state;
        assert_string_equal(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_string_equal(tail("a\nb\nc\n", 1), "c\n");
        assert_string_equal(tail("a\nb\nc\n", 3), "a\nb\nc\n");
        assert_string_equal(tail("a\nb\nc\n", 10), "a\nb\nc\n");
        assert_string_equal(tail("a\nb\nc\n", -1), "a\nb\nc\n");
        assert_string_equal(tail("a\nb\nc\n", 0), "");
        /* A last line without its newline (a daemon in mid-write) is a line. */
        assert_string_equal(tail("a\nb\nc", 1), "c");
        assert_string_equal(tail("a\nb\nc", 2), "b\nc");
        assert_string_equal(tail("", 3), "");
        assert_string_equal(tail("\n\n", 1), "\n");
        assert_string_equal(tail("only", 1), "only");
}

static void test_source_names(void **state)
{
        (void) state;
        assert_string_equal(agent_log_source_name(AGENT_LOG_INIT), "init");
        assert_string_equal(agent_log_source_name(AGENT_LOG_DOCKERD), "dockerd");
        assert_string_equal(agent_log_source_where(AGENT_LOG_SSHD), AGENT_LOG_DIR "/sshd.log");
        assert_string_equal(agent_log_source_where(AGENT_LOG_INIT), "container log");
}

/* What the line function was handed, one line after the other, each followed by '|'. */
struct seen_lines {
        char text[4 * AGENT_LOG_LINE_MAX];
        size_t len;
        int count;
        int stop_after; /* return 1 once that many lines are seen; 0: never */
};

static int record_line(void *user, enum agent_log_source source, const char *line, size_t len)
{
        struct seen_lines *seen = user;
        assert_int_equal(source, AGENT_LOG_SSHD);
        assert_int_equal(strlen(line), len);
        assert_true(seen->len + len + 1 < sizeof(seen->text));
        memcpy(seen->text + seen->len, line, len);
        seen->len += len;
        seen->text[seen->len++] = '|';
        seen->text[seen->len] = '\0';
        seen->count++;
        return seen->stop_after && seen->count == seen->stop_after ? 1 : 0;
}

/* Feed the log one byte at a time: every cut a read can make is made somewhere. */
static int feed_bytes(struct agent_log_lines *lines, const char *data, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                int r = agent_log_lines_feed(lines, data + i, 1);
                if (r != 0)
                        return r;
        }
        return 0;
}

static void test_follow_escapes(void **state)
{
        (void) state;
        struct agent_log_lines *lines = malloc(sizeof(*lines));
        struct seen_lines *seen = calloc(1, sizeof(*seen));
        assert_non_null(lines);
        assert_non_null(seen);
        agent_log_lines_init(lines, AGENT_LOG_SSHD, record_line, seen);
        static const char log[] = "user \033[2Jx\tok\n"
                                  "bell\a\rback\b\x7f\n"
                                  "csi \xc2\x9b" "31m\n"
                                  "caf\xc3\xa9 \xe2\x9c\x93 C:\\x\n"
                                  "no newline";
        assert_int_equal(feed_bytes(lines, log, sizeof(log) - 1), 0);
        assert_int_equal(seen->count, 4);
        assert_int_equal(agent_log_lines_end(lines), 0);
        assert_string_equal(seen->text, "user \\x1b[2Jx\tok|"
                                        "bell\\x07\\x0dback\\x08\\x7f|"
                                        "csi \\xc2\\x9b31m|"
                                        "caf\xc3\xa9 \xe2\x9c\x93 C:\\x|"
                                        "no newline|");
        /* Nothing left to end with. */
        assert_int_equal(agent_log_lines_end(lines), 0);
        assert_int_equal(seen->count, 5);
        free(seen);
        free(lines);
}

/* A long line arrives in pieces of AGENT_LOG_LINE_MAX bytes; a character at a cut goes whole
 * into the next piece, so a C1 control there is still escaped and "é" still shown. */
static void test_follow_long_line_cut(void **state)
{
        (void) state;
        struct agent_log_lines *lines = malloc(sizeof(*lines));
        struct seen_lines *seen = calloc(1, sizeof(*seen));
        char *log = malloc(2 * AGENT_LOG_LINE_MAX);
        assert_non_null(lines);
        assert_non_null(seen);
        assert_non_null(log);
        static const char *const middles[] = { "\xc2\x9b", "\xc3\xa9", "\xf0\x9f\x98\x80" };
        static const char *const shown[] = { "\\xc2\\x9b", "\xc3\xa9", "\xf0\x9f\x98\x80" };
        for (size_t m = 0; m < 3; m++) {
                memset(seen, 0, sizeof(*seen));
                agent_log_lines_init(lines, AGENT_LOG_SSHD, record_line, seen);
                size_t middle = strlen(middles[m]);
                /* The character's first byte is the piece's last. */
                size_t before = AGENT_LOG_LINE_MAX - 1;
                memset(log, 'a', before);
                memcpy(log + before, middles[m], middle);
                memcpy(log + before + middle, "b\n", 2);
                assert_int_equal(feed_bytes(lines, log, before + middle + 2), 0);
                assert_int_equal(seen->count, 2);
                assert_int_equal(seen->len, before + 1 + strlen(shown[m]) + 2);
                for (size_t i = 0; i < before; i++)
                        assert_int_equal(seen->text[i], 'a');
                assert_memory_equal(seen->text + before, "|", 1);
                const char *second = seen->text + before + 1;
                assert_memory_equal(second, shown[m], strlen(shown[m]));
                assert_string_equal(second + strlen(shown[m]), "b|");
        }
        /* A cut that is not inside a character keeps nothing back. */
        memset(seen, 0, sizeof(*seen));
        agent_log_lines_init(lines, AGENT_LOG_SSHD, record_line, seen);
        memset(log, 'a', AGENT_LOG_LINE_MAX + 1);
        assert_int_equal(agent_log_lines_feed(lines, log, AGENT_LOG_LINE_MAX + 1), 0);
        assert_int_equal(seen->count, 1);
        assert_int_equal(seen->len, AGENT_LOG_LINE_MAX + 1);
        assert_int_equal(agent_log_lines_end(lines), 0);
        assert_string_equal(seen->text + AGENT_LOG_LINE_MAX + 1, "a|");
        /* A piece ending in a lone byte that never becomes UTF-8 does not wait for more. */
        memset(seen, 0, sizeof(*seen));
        agent_log_lines_init(lines, AGENT_LOG_SSHD, record_line, seen);
        memset(log, 'a', AGENT_LOG_LINE_MAX);
        log[AGENT_LOG_LINE_MAX - 1] = '\x9b';
        assert_int_equal(agent_log_lines_feed(lines, log, AGENT_LOG_LINE_MAX), 0);
        assert_int_equal(seen->count, 1);
        assert_string_equal(seen->text + AGENT_LOG_LINE_MAX - 1, "\\x9b|");
        free(log);
        free(seen);
        free(lines);
}

static void test_follow_stops(void **state)
{
        (void) state;
        struct agent_log_lines *lines = malloc(sizeof(*lines));
        struct seen_lines *seen = calloc(1, sizeof(*seen));
        assert_non_null(lines);
        assert_non_null(seen);
        seen->stop_after = 2;
        agent_log_lines_init(lines, AGENT_LOG_SSHD, record_line, seen);
        assert_int_equal(agent_log_lines_feed(lines, "one\ntwo\nthree\n", 14), 1);
        assert_int_equal(seen->count, 2);
        assert_string_equal(seen->text, "one|two|");
        free(seen);
        free(lines);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tail),
                cmocka_unit_test(test_source_names),
                cmocka_unit_test(test_follow_escapes),
                cmocka_unit_test(test_follow_long_line_cut),
                cmocka_unit_test(test_follow_stops),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
