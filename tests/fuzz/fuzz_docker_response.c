/* The Docker client's decoders of response bodies that are pure functions: docker_status_error
 * (Docker's {"message": ...} or a bounded printable prefix of the body, for every error status)
 * and docker_parse_json (a body that must be a JSON object or array). Both take the client only
 * for its host name in messages, so a client struct with just that stands in; nothing is sent.
 * The first input byte picks the status, the rest is the body. */
#include "fuzz.h"
#include "../../supervisor/docker_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        static const long statuses[] = { 400, 404, 409, 500, 200, 304, 403, 503 };
        long status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
        data++;
        size--;

        struct docker_client client = { .host = "unix:///run/fuzz.sock" };
        struct docker_request request = { .method = "GET", .path = "/containers/x/json?size=1" };
        /* As docker_perform leaves it: len bytes, NUL-terminated. */
        struct docker_response response = { .status = status, .body = fuzz_string(data, size), .len = size };

        struct sw_error err = { 0 };
        int r = docker_status_error(&client, &request, &response, &err);
        FUZZ_CHECK(r == (status == 404 ? -ENOENT : status == 409 ? -EEXIST : -EIO));
        FUZZ_CHECK(strlen(err.message) < SW_ERROR_MAX);
        for (const char *p = err.message; *p; p++)
                FUZZ_CHECK((unsigned char) *p >= 0x20);

        static const json_type types[] = { JSON_OBJECT, JSON_ARRAY };
        for (size_t i = 0; i < 2; i++) {
                json_t *json = NULL;
                r = docker_parse_json(&client, &request, &response, types[i], &json, &err);
                if (r == 0) {
                        FUZZ_CHECK(json && json_typeof(json) == types[i]);
                        json_decref(json);
                } else {
                        FUZZ_CHECK(r == -EPROTO && json == NULL);
                }
        }
        free(response.body);
        return 0;
}
