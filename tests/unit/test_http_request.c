/* HTTP request framing for the Docker policy proxy: heads, framing headers, chunked bodies
 * (any split), query strings; and that everything ambiguous is refused with the right status. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slipway/http_request.h"

static struct http_request req;

static int parse(const char *head, struct sw_error *err)
{
        sw_error_clear(err);
        return http_request_parse_head(head, strlen(head), &req, err);
}

static void expect_status(const char *head, int status, const char *text)
{
        struct sw_error err = { 0 };
        int r = parse(head, &err);
        if (r >= 0)
                fail_msg("accepted (%d): %.80s", r, head);
        assert_int_equal(err.code, status);
        if (!strstr(err.message, text))
                fail_msg("\"%s\" lacks \"%s\"", err.message, text);
}

static void test_head(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        const char *head = "POST /v1.45/containers/create?name=a%20b HTTP/1.1\r\nHost: docker\r\n"
                           "User-Agent: Docker-Client/26.1.5\r\nContent-Type: application/json\r\n"
                           "Content-Length: 17\r\nConnection: keep-alive\r\n\r\n{\"Image\":\"tiny\"}";
        int r = parse(head, &err);
        assert_int_equal(r, (int) (strstr(head, "\r\n\r\n") - head) + 4);
        assert_string_equal(req.method, "POST");
        assert_string_equal(req.path, "/v1.45/containers/create");
        assert_string_equal(req.query, "name=a%20b");
        assert_int_equal(req.minor_version, 1);
        assert_int_equal(req.content_length, 17);
        assert_false(req.chunked);
        assert_string_equal(req.content_type, "application/json");
        /* Framing and hop-by-hop headers are the proxy's to write. */
        assert_string_equal(req.forward, "User-Agent: Docker-Client/26.1.5\r\nContent-Type: application/json\r\n");

        r = parse("POST /containers/x/attach?stream=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\n"
                  "Upgrade: tcp\r\n\r\n", &err);
        assert_true(r > 0);
        assert_true(req.upgrade_tcp);
        assert_int_equal(req.content_length, -1);

        r = parse("GET /_ping HTTP/1.0\r\n\r\n", &err);
        assert_true(r > 0);
        assert_int_equal(req.minor_version, 0);
        assert_string_equal(req.query, "");

        r = parse("POST /build HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: Chunked\r\n\r\n", &err);
        assert_true(r > 0);
        assert_true(req.chunked);
}

static void test_incomplete_head_needs_more(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        assert_int_equal(parse("", &err), 0);
        assert_int_equal(parse("GET /_ping HTTP/1.1\r\nHost: d\r\n", &err), 0);
        assert_int_equal(parse("GET /_ping HTTP/1.1\r\nHost: d\r\n\r", &err), 0);
        /* A bare LF is fatal at once, whatever follows. */
        assert_true(parse("GET /_ping HTTP/1.1\nHost: d\n", &err) < 0);
        assert_int_equal(err.code, 400);
}

static void test_bad_heads(void **state)
{
        (void) state;
        expect_status("GET /_ping HTTP/2.0\r\n\r\n", 400, "HTTP version");
        expect_status("get /_ping HTTP/1.1\r\n\r\n", 400, "method");
        expect_status("GET http://x/_ping HTTP/1.1\r\n\r\n", 400, "absolute path");
        expect_status("GET /_ping#x HTTP/1.1\r\n\r\n", 400, "bad character");
        expect_status("GET /_ping HTTP/1.1\r\nHost: d\r\n folded\r\n\r\n", 400, "folded");
        expect_status("GET /_ping HTTP/1.1\r\nHost : d\r\n\r\n", 400, "bad header name");
        expect_status("GET /_ping HTTP/1.1\r\nX: a\rb\r\n\r\n", 400, "line ending");
        expect_status("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400,
                      "more than one Content-Length");
        expect_status("POST /x HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400, "bad Content-Length");
        expect_status("POST /x HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", 400, "bad Content-Length");
        expect_status("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "bad Content-Length");
        expect_status("POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                      "both Content-Length and Transfer-Encoding");
        expect_status("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "only chunked");
        expect_status("POST /x HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 501, "only chunked");
        expect_status("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                      "more than one Transfer-Encoding");
        expect_status("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0");
        expect_status("POST /x HTTP/1.1\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n", 400, "more than one Content-Type");
        expect_status("\r\n\r\n", 400, "request line");

        /* Bounded: the head, the number of headers. */
        size_t big = HTTP_HEAD_MAX + 10;
        char *head = malloc(big + 1);
        assert_non_null(head);
        memset(head, 'a', big);
        memcpy(head, "GET /_ping HTTP/1.1\r\nX: ", 24);
        head[big] = '\0';
        struct sw_error err = { 0 };
        assert_true(http_request_parse_head(head, big, &req, &err) < 0);
        assert_int_equal(err.code, 431);
        free(head);
        char many[8192] = "GET /_ping HTTP/1.1\r\n";
        for (int i = 0; i <= HTTP_HEADERS_MAX; i++)
                strcat(many, "X: y\r\n");
        strcat(many, "\r\n");
        expect_status(many, 431, "more than");
}

/* Decode body split into pieces of step bytes; returns the decoder's last result. */
static int decode_split(const char *body, size_t step, char *out, size_t out_size, size_t *out_len,
                        size_t *consumed_total, struct sw_error *err)
{
        struct http_chunked c = { 0 };
        size_t len = strlen(body), pos = 0;
        *out_len = 0;
        int r = 0;
        while (pos < len && r == 0) {
                size_t n = len - pos < step ? len - pos : step;
                size_t consumed, produced;
                r = http_chunked_decode(&c, body + pos, n, &consumed, out + *out_len, out_size - *out_len,
                                        &produced, err);
                if (r < 0)
                        return r;
                pos += consumed;
                *out_len += produced;
                if (consumed < n && r == 0)
                        fail_msg("decoder stalled with room left");
        }
        *consumed_total = pos;
        return r;
}

static void test_chunked(void **state)
{
        (void) state;
        const char *body = "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for (size_t step = 1; step <= strlen(body); step++) {
                char out[64];
                size_t out_len, consumed;
                struct sw_error err = { 0 };
                int r = decode_split(body, step, out, sizeof(out), &out_len, &consumed, &err);
                assert_int_equal(r, 1);
                assert_int_equal(out_len, 12);
                assert_memory_equal(out, "hello, world", 12);
                assert_int_equal(consumed, strlen(body) - 4); /* NEXT is not the body's */
        }
        /* An empty chunked body. */
        char out[16];
        size_t out_len, consumed;
        struct sw_error err = { 0 };
        assert_int_equal(decode_split("0\r\n\r\n", 1, out, sizeof(out), &out_len, &consumed, &err), 1);
        assert_int_equal(out_len, 0);

        static const char *const bad[] = {
                "x\r\n",                 /* not hex */
                "\r\n",                  /* no size */
                "5\nhello\r\n0\r\n\r\n", /* bare LF */
                "5\r\nhello!\r\n",       /* data longer than its size */
                "5\r\nhelloXX",          /* no CRLF after the data */
                "fffffffffffffffff\r\n", /* size overflow */
                "-1\r\n",
                "0\r\nbad\nline\r\n\r\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                sw_error_clear(&err);
                if (decode_split(bad[i], 3, out, sizeof(out), &out_len, &consumed, &err) >= 0)
                        fail_msg("accepted bad chunked body %zu", i);
                assert_int_equal(err.code, 400);
        }
}

static void test_query(void **state)
{
        (void) state;
        struct http_query q;
        struct sw_error err = { 0 };
        assert_int_equal(http_query_parse("t=a&t=b+c&network%6Dode=host&flag&=x&&e=%2F", &q, &err), 0);
        const char *v;
        assert_int_equal(http_query_get(&q, "t", &v), 2);
        assert_string_equal(v, "a");
        assert_int_equal(http_query_get(&q, "networkmode", &v), 1);
        assert_string_equal(v, "host");
        assert_int_equal(http_query_get(&q, "flag", &v), 1);
        assert_string_equal(v, "");
        assert_int_equal(http_query_get(&q, "e", &v), 1);
        assert_string_equal(v, "/");
        assert_int_equal(http_query_get(&q, "missing", &v), 0);
        assert_null(v);
        http_query_free(&q);
        assert_int_equal(http_query_parse("", &q, &err), 0);
        assert_int_equal(q.count, 0);
        http_query_free(&q);

        assert_true(http_query_parse("a=1;b=2", &q, &err) < 0);
        assert_non_null(strstr(err.message, "';'"));
        assert_true(http_query_parse("a=%zz", &q, &err) < 0);
        assert_true(http_query_parse("a=%2", &q, &err) < 0);
        assert_true(http_query_parse("a=%00", &q, &err) < 0);
        assert_true(http_query_parse("%=1", &q, &err) < 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_head),
                cmocka_unit_test(test_incomplete_head_needs_more),
                cmocka_unit_test(test_bad_heads),
                cmocka_unit_test(test_chunked),
                cmocka_unit_test(test_query),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
