/* slipway serve's per-agent state records: written whole or not at all, read back exactly,
 * and a bad one is an error that names it. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"

#include "slipway/fsutil.h"
#include "slipway/serve_state.h"

#define ID "0123456789ab"

static void write_file(const char *dir, const char *name, const char *text)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/" SERVE_STATE_DIR "/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(fs_write_all(fd, text, strlen(text)), 0);
        close(fd);
}

static void test_write_load_remove(void **state)
{
        const char *dir = *state;
        struct sw_error err = { 0 };
        json_t *records = NULL;
        assert_int_equal(serve_state_load(dir, &records, &err), 0);
        assert_int_equal(json_object_size(records), 0); /* no directory yet */
        json_decref(records);

        struct serve_state_record record = {
                .id = ID, .node = "host-" ID, .template_name = "dind",
                .intended = SERVE_STEP_PREPARE,
        };
        assert_int_equal(serve_state_write(dir, &record, &err), 0);
        record.reached = SERVE_STEP_PREPARE;
        record.intended = SERVE_STEP_REGISTER;
        assert_int_equal(serve_state_write(dir, &record, &err), 0); /* replaced whole */
        assert_int_equal(serve_state_load(dir, &records, &err), 0);
        assert_int_equal(json_object_size(records), 1);
        json_t *r = json_object_get(records, ID);
        assert_string_equal(json_string_value(json_object_get(r, "node")), "host-" ID);
        assert_string_equal(json_string_value(json_object_get(r, "template")), "dind");
        assert_string_equal(json_string_value(json_object_get(r, "intended")), "register");
        assert_string_equal(json_string_value(json_object_get(r, "reached")), "prepare");
        assert_null(json_object_get(r, "container"));
        assert_true(json_integer_value(json_object_get(r, "updated_ms")) > 0);
        json_decref(records);

        char *path = serve_state_path(dir, ID);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(serve_state_remove(dir, ID, &err), 0);
        assert_int_equal(stat(path, &st), -1);
        assert_int_equal(serve_state_remove(dir, ID, &err), 0); /* already gone */
        free(path);
}

static void test_interrupted_write_and_foreign_files(void **state)
{
        const char *dir = *state;
        struct sw_error err = { 0 };
        struct serve_state_record record = { .id = ID, .intended = SERVE_STEP_DESTROY };
        assert_int_equal(serve_state_write(dir, &record, &err), 0);
        /* A write cut short by a crash leaves only its temporary file: removed on load, the
         * whole record before it kept. */
        write_file(dir, ID ".json.tmp.4242", "{\"id\":");
        write_file(dir, "README", "an operator's note");
        json_t *records = NULL;
        assert_int_equal(serve_state_load(dir, &records, &err), 0);
        assert_int_equal(json_object_size(records), 1);
        assert_string_equal(json_string_value(json_object_get(json_object_get(records, ID), "intended")),
                            "destroy");
        json_decref(records);
        char path[512];
        snprintf(path, sizeof(path), "%s/" SERVE_STATE_DIR "/" ID ".json.tmp.4242", dir);
        assert_int_equal(access(path, F_OK), -1);
}

static void expect_load_error(const char *dir, const char *text, const char *message)
{
        write_file(dir, ID ".json", text);
        struct sw_error err = { 0 };
        json_t *records = NULL;
        assert_true(serve_state_load(dir, &records, &err) < 0);
        assert_null(records);
        if (!strstr(err.message, message) || !strstr(err.message, ID ".json"))
                fail_msg("expected '%s' naming the file, got '%s'", message, err.message);
}

static void test_bad_records_are_errors(void **state)
{
        const char *dir = *state;
        char served[512];
        snprintf(served, sizeof(served), "%s/" SERVE_STATE_DIR, dir);
        assert_int_equal(fs_mkdir_p(served, 0700), 0);
        expect_load_error(dir, "{\"id\":\"0123", "not a JSON object");
        expect_load_error(dir, "[1]", "not a JSON object");
        expect_load_error(dir, "{\"id\":\"ffffffffffff\",\"intended\":\"seed\"}", "does not match");
        expect_load_error(dir, "{\"id\":\"" ID "\"}", "no intended step");
        expect_load_error(dir, "{\"id\":\"" ID "\",\"intended\":\"seed\",\"node\":7}", "node is not a string");
}

static void test_write_failure_names_the_file(void **state)
{
        const char *dir = *state;
        struct sw_error err = { 0 };
        char served[512];
        snprintf(served, sizeof(served), "%s/" SERVE_STATE_DIR, dir);
        /* A file where the directory should be: creating the record fails. */
        int fd = open(served, O_WRONLY | O_CREAT, 0600);
        assert_true(fd >= 0);
        close(fd);
        struct serve_state_record record = { .id = ID, .intended = SERVE_STEP_SEED };
        assert_true(serve_state_write(dir, &record, &err) < 0);
        assert_non_null(strstr(err.message, served));
        unlink(served);
        assert_int_equal(mkdir(served, 0500), 0);
        if (geteuid() != 0) { /* root writes anyway */
                assert_true(serve_state_write(dir, &record, &err) < 0);
                assert_non_null(strstr(err.message, ID ".json"));
                assert_non_null(strstr(err.message, "before step seed"));
        }
        record.id = "../../etc";
        assert_int_equal(serve_state_write(dir, &record, &err), -EINVAL);
        assert_non_null(strstr(err.message, "invalid agent id"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_write_load_remove, tmpdir_setup, tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_interrupted_write_and_foreign_files, tmpdir_setup, tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_bad_records_are_errors, tmpdir_setup, tmpdir_teardown),
                cmocka_unit_test_setup_teardown(test_write_failure_names_the_file, tmpdir_setup, tmpdir_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
