/* The audit log: one JSON object per line, 0600, appended. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "slipway/audit.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"

static void test_append_two_events(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-audit-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char sub[256], path[300];
        snprintf(sub, sizeof(sub), "%s/state", dir); /* created on first use */
        snprintf(path, sizeof(path), "%s/%s", sub, AUDIT_LOG_NAME);
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *open_fields = json_pack("{s:s, s:[s, s]}", "agent", "abc", "command", "id", "-u");
        assert_int_equal(audit_append(sub, "shell-open", open_fields, &err), 0);
        _cleanup_json_ json_t *close_fields = json_pack("{s:s, s:i}", "agent", "abc", "exit", 3);
        assert_int_equal(audit_append(sub, "shell-close", close_fields, &err), 0);

        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(fs_read_bounded(path, 65536, &text, NULL), 0);
        char *second = strchr(text, '\n');
        assert_non_null(second);
        *second++ = '\0';
        json_error_t jerr;
        _cleanup_json_ json_t *first_event = json_loads(text, 0, &jerr);
        _cleanup_json_ json_t *second_event = json_loads(second, 0, &jerr);
        assert_non_null(first_event);
        assert_non_null(second_event);
        assert_string_equal(json_string_value(json_object_get(first_event, "event")), "shell-open");
        assert_string_equal(json_string_value(json_object_get(first_event, "agent")), "abc");
        assert_non_null(json_object_get(first_event, "time"));
        assert_non_null(json_object_get(first_event, "user"));
        assert_true(json_is_integer(json_object_get(first_event, "uid")));
        assert_int_equal(json_integer_value(json_object_get(second_event, "exit")), 3);
        assert_int_equal(fs_remove_tree(dir), 0);
}

static void test_unwritable_log_is_an_error(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        assert_true(audit_append("/proc/slipway-no-such-dir", "shell-open", NULL, &err) < 0);
        assert_non_null(strstr(err.message, "/proc/slipway-no-such-dir"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_append_two_events),
                cmocka_unit_test(test_unwritable_log_is_an_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
