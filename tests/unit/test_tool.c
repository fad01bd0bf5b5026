/* External tools (tool.c): exit status, output in the message, input, a missing tool. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "slipway/tool.h"

static void test_success_and_input(void **state)
{
        (void) state;
        const char *const argv[] = { "sh", "-c", "read line; test \"$line\" = rules-in", NULL };
        struct tool_run run = { .argv = argv, .input = "rules-in\n", .netns_fd = -1 };
        struct sw_error err = { 0 };
        assert_int_equal(tool_run(&run, &err), 0);
        /* Without input, stdin is /dev/null: read finds nothing. */
        run.input = NULL;
        assert_int_equal(tool_run(&run, &err), -EIO);
        assert_string_equal(err.message, "sh failed: no output");
}

static void test_failure_keeps_output_on_one_line(void **state)
{
        (void) state;
        const char *const argv[] = { "sh", "-c", "echo first; echo second >&2; exit 3", NULL };
        struct tool_run run = { .argv = argv, .netns_fd = -1 };
        struct sw_error err = { 0 };
        assert_int_equal(tool_run(&run, &err), -EIO);
        assert_string_equal(err.message, "sh failed: first second");
}

static void test_long_output_is_bounded_and_drained(void **state)
{
        (void) state;
        /* 1 MiB of output: more than a pipe holds, so the tool only ends if it is drained. */
        const char *const argv[] = { "sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' x; exit 1", NULL };
        struct tool_run run = { .argv = argv, .netns_fd = -1 };
        struct sw_error err = { 0 };
        assert_int_equal(tool_run(&run, &err), -EIO);
        assert_int_equal(strlen(err.message), strlen("sh failed: ") + 511);
}

static void test_missing_tool_names_its_package(void **state)
{
        (void) state;
        const char *const argv[] = { "slipway-no-such-tool", NULL };
        struct tool_run run = { .argv = argv, .netns_fd = -1, .package = "slipway-tools" };
        struct sw_error err = { 0 };
        assert_int_equal(tool_run(&run, &err), -EIO);
        assert_string_equal(err.message, "slipway-no-such-tool failed: cannot run slipway-no-such-tool: "
                                         "No such file or directory (install slipway-tools)");
}

static void test_tool_exiting_without_reading_input(void **state)
{
        (void) state;
        /* More input than a pipe holds, to a tool that reads none: no SIGPIPE kills us. */
        static char big[256 * 1024];
        memset(big, 'x', sizeof(big) - 1);
        const char *const argv[] = { "true", NULL };
        struct tool_run run = { .argv = argv, .input = big, .netns_fd = -1 };
        struct sw_error err = { 0 };
        assert_int_equal(tool_run(&run, &err), -EIO);
        assert_string_equal(err.message, "true failed: no output");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_success_and_input),
                cmocka_unit_test(test_failure_keeps_output_on_one_line),
                cmocka_unit_test(test_long_output_is_bounded_and_drained),
                cmocka_unit_test(test_missing_tool_names_its_package),
                cmocka_unit_test(test_tool_exiting_without_reading_input),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
