/* Capabilities an agent must drop: what the host bounding set lacks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "slipway/caps.h"
#include "slipway/cleanup.h"

static void test_full_set_drops_nothing(void **state)
{
        (void) state;
        _cleanup_strv_ char **names = NULL;
        assert_int_equal(caps_missing_from_mask(UINT64_C(0x1ffffffffff), 40, 63, &names, NULL), 0);
        assert_null(names[0]);
}

static void test_missing_sys_resource_is_dropped(void **state)
{
        (void) state;
        /* This machine's bounding set: everything up to 40 except CAP_SYS_RESOURCE (24). */
        _cleanup_strv_ char **names = NULL;
        assert_int_equal(caps_missing_from_mask(UINT64_C(0x1fffeffffff), 40, 63, &names, NULL), 0);
        assert_non_null(names[0]);
        assert_string_equal(names[0], "CAP_SYS_RESOURCE");
        assert_null(names[1]);
}

static void test_old_docker_never_sees_new_names(void **state)
{
        (void) state;
        /* CAP_PERFMON (38) missing: dockerd 20.10 would reject its name, and its ALL never
         * grants it, so it is left out. CAP_NET_ADMIN (12) is still dropped. */
        uint64_t mask = UINT64_C(0x1ffffffffff) & ~(UINT64_C(1) << 38) & ~(UINT64_C(1) << 12);
        _cleanup_strv_ char **names = NULL;
        assert_int_equal(caps_missing_from_mask(mask, 40, CAPS_LAST_KNOWN_BY_OLD_DOCKER, &names, NULL), 0);
        assert_string_equal(names[0], "CAP_NET_ADMIN");
        assert_null(names[1]);
        _cleanup_strv_ char **all = NULL;
        assert_int_equal(caps_missing_from_mask(mask, 40, 63, &all, NULL), 0);
        assert_string_equal(all[1], "CAP_PERFMON");
}

static void test_bad_last_cap(void **state)
{
        (void) state;
        char **names = NULL;
        struct sw_error err = { 0 };
        assert_true(caps_missing_from_mask(0, 64, 63, &names, &err) < 0);
        assert_null(names);
}

static void test_host_reads_bounding_set(void **state)
{
        (void) state;
        _cleanup_strv_ char **names = NULL;
        struct sw_error err = { 0 };
        assert_int_equal(caps_host_missing(63, &names, &err), 0);
        for (char **p = names; *p; p++)
                assert_memory_equal(*p, "CAP_", 4);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_set_drops_nothing),
                cmocka_unit_test(test_missing_sys_resource_is_dropped),
                cmocka_unit_test(test_old_docker_never_sees_new_names),
                cmocka_unit_test(test_bad_last_cap),
                cmocka_unit_test(test_host_reads_bounding_set),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
