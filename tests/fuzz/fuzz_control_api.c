/* control_route and control_create_decode: a control-socket request as the daemon gets it
 * from libmicrohttpd. The input is NUL-separated fields: method, path, Content-Type, then the
 * body (the rest, NULs and all, exactly as a body arrives). Checks: a status is 0 or one of
 * the 4xx the header names, with a message; a routed agent reference is bounded and made of
 * its characters; a decoded create names a template and a count in range. */
#include "fuzz.h"
#include "slipway/control_api.h"

static bool ref_valid(const char *ref)
{
        size_t len = strlen(ref);
        return len > 0 && len <= CONTROL_AGENT_REF_MAX && strspn(ref, ".") != len &&
               strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = fuzz_string(data, size);
        char *fields[3];
        fuzz_fields(text, size, fields, 3);
        const char *method = fields[0];
        const char *path = fields[1] ? fields[1] : "";
        const char *content_type = fields[2];
        /* The body: everything after the third field, NULs included. */
        const char *body = "";
        size_t body_len = 0;
        if (fields[2]) {
                const char *start = fields[2] + strlen(fields[2]) + 1;
                if (start <= text + size) {
                        body = start;
                        body_len = (size_t) (text + size - start);
                }
        }

        struct control_route route;
        struct sw_error err = { 0 };
        int status = control_route(method, path, &route, &err);
        FUZZ_CHECK(status == 0 || status == 404 || status == 405);
        if (status) {
                FUZZ_CHECK(err.code > 0 && strlen(err.message) > 0);
        } else if (route.endpoint == CONTROL_AGENT_GET || route.endpoint == CONTROL_AGENT_INSPECT ||
                   route.endpoint == CONTROL_AGENT_DELETE) {
                FUZZ_CHECK(ref_valid(route.agent));
        }

        /* Every body goes through the decoder, whatever the route: it must hold for any. */
        struct control_create create;
        struct sw_error create_err = { 0 };
        status = control_create_decode(content_type, body, body_len, &create, &create_err);
        FUZZ_CHECK(status == 0 || status == 400 || status == 415);
        if (status) {
                FUZZ_CHECK(create_err.code > 0 && strlen(create_err.message) > 0);
        } else {
                FUZZ_CHECK(create.count >= 1 && create.count <= CONTROL_CREATE_MAX);
                size_t len = strlen(create.template);
                FUZZ_CHECK(len >= 1 && len <= CONTROL_TEMPLATE_MAX);
        }
        free(text);
        return 0;
}
