/* agent_logs_tail: the last N lines of a log, as `slipway logs --tail N` shows them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tail),
                cmocka_unit_test(test_source_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
