/* control_api.c: which endpoint a request names, and POST /v1/agents bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "slipway/control_api.h"

static int route(const char *method, const char *path, struct control_route *out)
{
        struct sw_error err = { 0 };
        int status = control_route(method, path, out, &err);
        if (status)
                assert_true(err.message[0] != '\0');
        return status;
}

static void test_routes(void **state)
{
        (void) state;
        struct control_route r;
        assert_int_equal(route("GET", "/v1/status", &r), 0);
        assert_int_equal(r.endpoint, CONTROL_STATUS);
        assert_int_equal(route("GET", "/v1/agents", &r), 0);
        assert_int_equal(r.endpoint, CONTROL_AGENTS_LIST);
        assert_int_equal(route("POST", "/v1/agents", &r), 0);
        assert_int_equal(r.endpoint, CONTROL_AGENTS_CREATE);
        assert_int_equal(route("GET", "/v1/agents/0a1b2c3d4e5f", &r), 0);
        assert_int_equal(r.endpoint, CONTROL_AGENT_GET);
        assert_string_equal(r.agent, "0a1b2c3d4e5f");
        assert_int_equal(route("DELETE", "/v1/agents/build-host-0a1b2c3d4e5f", &r), 0);
        assert_int_equal(r.endpoint, CONTROL_AGENT_DELETE);
        assert_string_equal(r.agent, "build-host-0a1b2c3d4e5f");
        assert_int_equal(route("GET", "/v1/agents/0a1b/inspect", &r), 0);
        assert_int_equal(r.endpoint, CONTROL_AGENT_INSPECT);
        assert_string_equal(r.agent, "0a1b");
        assert_int_equal(route("POST", "/v1/drain", &r), 0);
        assert_int_equal(r.endpoint, CONTROL_DRAIN);
        assert_int_equal(route("GET", "/v1/cache", &r), 0);
        assert_int_equal(r.endpoint, CONTROL_CACHE);
        assert_int_equal(route("GET", "/metrics", &r), 0);
        assert_int_equal(r.endpoint, CONTROL_METRICS);
}

static void test_bad_routes(void **state)
{
        (void) state;
        struct control_route r;
        assert_int_equal(route("GET", "/v1/drain", &r), 405);
        assert_int_equal(route("DELETE", "/v1/agents", &r), 405);
        assert_int_equal(route("POST", "/v1/status", &r), 405);
        assert_int_equal(route("PUT", "/v1/agents/abc", &r), 405);
        assert_int_equal(route("DELETE", "/v1/agents/abc/inspect", &r), 405);
        assert_int_equal(route("GET", "/v1/agents/", &r), 404);
        assert_int_equal(route("GET", "/v1/agents/a/b", &r), 404);
        assert_int_equal(route("GET", "/v1/agents/..", &r), 404);
        assert_int_equal(route("GET", "/v1/agents/.", &r), 404);
        assert_int_equal(route("GET", "/v1/agents/a b", &r), 404);
        assert_int_equal(route("GET", "/v1/agents/"
                               "0123456789012345678901234567890123456789012345678901234567890123456789",
                               &r), 404);
        assert_int_equal(route("GET", "/", &r), 404);
        assert_int_equal(route("GET", "/v1/statusx", &r), 404);
        assert_int_equal(route("GET", "", &r), 404);
}

static int decode(const char *type, const char *body, struct control_create *out, const char *want)
{
        struct sw_error err = { 0 };
        int status = control_create_decode(type, body, strlen(body), out, &err);
        if (want && strstr(err.message, want) == NULL)
                fail_msg("expected \"%s\" in \"%s\"", want, err.message);
        return status;
}

static void test_create_bodies(void **state)
{
        (void) state;
        struct control_create c;
        assert_int_equal(decode("application/json", "{\"template\":\"dind\"}", &c, NULL), 0);
        assert_string_equal(c.template, "dind");
        assert_int_equal(c.count, 1);
        assert_int_equal(decode("Application/JSON; charset=utf-8",
                                "{\"count\": 3, \"template\": \"a.b-c_d\"}", &c, NULL), 0);
        assert_int_equal(c.count, 3);
        assert_string_equal(c.template, "a.b-c_d");

        assert_int_equal(decode(NULL, "{}", &c, "not none"), 415);
        assert_int_equal(decode("text/plain", "{}", &c, "not \"text/plain\""), 415);
        assert_int_equal(decode("application/jsonx", "{}", &c, NULL), 415);
        assert_int_equal(decode("application/json", "", &c, "empty body"), 400);
        assert_int_equal(decode("application/json", "{\"template\":", &c, "line 1, column"), 400);
        assert_int_equal(decode("application/json", "[]", &c, "expected an object"), 400);
        assert_int_equal(decode("application/json", "{}", &c, "\"template\": required"), 400);
        assert_int_equal(decode("application/json", "{\"template\":3}", &c, "template name"), 400);
        assert_int_equal(decode("application/json", "{\"template\":\"\"}", &c, "template name"), 400);
        assert_int_equal(decode("application/json", "{\"template\":\"a/b\"}", &c, "template name"), 400);
        assert_int_equal(decode("application/json",
                                "{\"template\":\"012345678901234567890123456789012\"}", &c,
                                "template name"), 400);
        assert_int_equal(decode("application/json", "{\"template\":\"a\",\"count\":0}", &c,
                                "\"count\": expected an integer 1-100"), 400);
        assert_int_equal(decode("application/json", "{\"template\":\"a\",\"count\":101}", &c,
                                "1-100"), 400);
        assert_int_equal(decode("application/json", "{\"template\":\"a\",\"count\":1.5}", &c,
                                "1-100"), 400);
        assert_int_equal(decode("application/json", "{\"template\":\"a\",\"image\":\"x\"}", &c,
                                "unknown key \"image\""), 400);
        assert_int_equal(decode("application/json", "{\"template\":\"a\",\"template\":\"b\"}",
                                &c, "duplicate"), 400);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_routes),
                cmocka_unit_test(test_bad_routes),
                cmocka_unit_test(test_create_bodies),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
