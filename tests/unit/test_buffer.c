/* Bounded buffers: appends past the limit are refused whole, never truncated. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "slipway/buffer.h"

static void test_appends_and_terminates(void **state)
{
        (void) state;
        struct sw_buffer b = { 0 };
        assert_int_equal(sw_buffer_append(&b, "abc", 3, 10), 0);
        assert_int_equal(sw_buffer_append(&b, "", 0, 10), 0);
        assert_int_equal(sw_buffer_append(&b, "defg", 4, 10), 0);
        assert_int_equal(b.len, 7);
        assert_string_equal(b.data, "abcdefg");
        sw_buffer_release(&b);
        assert_null(b.data);
        assert_int_equal(b.len, 0);
}

static void test_limit_refuses_whole_append(void **state)
{
        (void) state;
        struct sw_buffer b = { 0 };
        assert_int_equal(sw_buffer_append(&b, "12345678", 8, 10), 0);
        assert_int_equal(sw_buffer_append(&b, "abc", 3, 10), -EFBIG);
        assert_int_equal(b.len, 8);
        assert_string_equal(b.data, "12345678");
        assert_int_equal(sw_buffer_append(&b, "ab", 2, 10), 0); /* exactly the limit */
        assert_int_equal(sw_buffer_append(&b, "x", 1, 10), -EFBIG);
        /* n itself larger than the limit must not wrap around. */
        assert_int_equal(sw_buffer_append(&b, "x", SIZE_MAX, 10), -EFBIG);
        sw_buffer_release(&b);
}

static void test_grows_past_first_capacity(void **state)
{
        (void) state;
        struct sw_buffer b = { 0 };
        char chunk[1000];
        memset(chunk, 'z', sizeof(chunk));
        for (int i = 0; i < 20; i++)
                assert_int_equal(sw_buffer_append(&b, chunk, sizeof(chunk), 1 << 20), 0);
        assert_int_equal(b.len, 20000);
        assert_true(b.capacity > b.len);
        assert_int_equal(b.data[b.len], '\0');
        sw_buffer_release(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_appends_and_terminates),
                cmocka_unit_test(test_limit_refuses_whole_append),
                cmocka_unit_test(test_grows_past_first_capacity),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
