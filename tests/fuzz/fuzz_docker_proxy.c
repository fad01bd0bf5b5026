/* http_request_parse_head, http_chunked_decode, docker_policy_route and
 * docker_policy_check_body: what the Docker policy proxy in slipway-init does with the bytes a
 * build sends to /run/docker.sock. The input is one raw request (head and body). The body is
 * taken by Content-Length or de-chunked (in pieces whose sizes come from the input's length),
 * then judged by the route's rules with a fake resolver in which one workspace path is a
 * symlink to /. Promises checked: statuses are the documented ones, every error has a
 * message, denials start with "slipway policy:", and no bind of / ever passes. */
#include <jansson.h>

#include "fuzz.h"
#include "slipway/docker_policy.h"
#include "slipway/http_request.h"

static int fake_resolve(const char *path, char *out, size_t size, void *data)
{
        (void) data;
        const char *link = "/home/jenkins/ws/root";
        size_t n = strlen(link);
        if (strncmp(path, link, n) == 0 && (path[n] == '\0' || path[n] == '/'))
                snprintf(out, size, "%s", path[n] ? path + n : "/");
        else
                snprintf(out, size, "%s", path);
        return 0;
}

static const char *const roots[] = { "/home/jenkins", NULL };
static const char *const sockets[] = { "/run/docker.sock", NULL };
static const struct docker_policy policy = { .bind_roots = roots, .proxy_sockets = sockets,
                                             .resolve = fake_resolve };

static bool status_known(int code)
{
        return code == 400 || code == 403 || code == 413 || code == 414 || code == 431 || code == 501;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct http_request req;
        struct sw_error err = { 0 };
        int head = http_request_parse_head((const char *) data, size, &req, &err);
        if (head < 0) {
                FUZZ_CHECK(status_known(err.code) && strlen(err.message) > 0);
                return 0;
        }
        if (head == 0)
                return 0;
        FUZZ_CHECK((size_t) head <= size);
        FUZZ_CHECK(req.path[0] == '/');
        FUZZ_CHECK(!(req.chunked && req.content_length >= 0));
        struct docker_policy_route route;
        if (docker_policy_route(req.method, req.path, req.query, &route, &err) < 0) {
                FUZZ_CHECK(err.code == 403 && strncmp(err.message, "slipway policy: ", 16) == 0);
                return 0;
        }
        (void) docker_policy_check_content_type(req.content_type, &err);

        const char *in = (const char *) data + head;
        size_t in_len = size - (size_t) head;
        char *body = malloc(in_len + 1);
        FUZZ_CHECK(body != NULL);
        size_t body_len = 0;
        if (req.chunked) {
                struct http_chunked c = { 0 };
                size_t step = 1 + size % 7, pos = 0;
                int r = 0;
                while (pos < in_len && r == 0) {
                        size_t n = in_len - pos < step ? in_len - pos : step, used, produced;
                        r = http_chunked_decode(&c, in + pos, n, &used, body + body_len, in_len - body_len,
                                                &produced, &err);
                        if (r < 0) {
                                FUZZ_CHECK(err.code == 400 && strlen(err.message) > 0);
                                free(body);
                                return 0;
                        }
                        FUZZ_CHECK(used <= n && produced <= used);
                        pos += used;
                        body_len += produced;
                        if (used == 0)
                                break;
                }
        } else if (req.content_length > 0) {
                body_len = (size_t) req.content_length < in_len ? (size_t) req.content_length : in_len;
                memcpy(body, in, body_len);
        }
        body[body_len] = '\0';
        if (route.body == DOCKER_POLICY_BODY_JSON) {
                sw_error_clear(&err);
                int r = docker_policy_check_body(&policy, &route, body, body_len, &err);
                if (r < 0) {
                        FUZZ_CHECK(err.code == 403 || err.code == 400 || err.code == 413);
                        FUZZ_CHECK(strlen(err.message) > 0);
                } else if (route.kind == DOCKER_POLICY_CONTAINER_CREATE) {
                        /* What dockerd would read as privileged, or as a bind of /, never passes. */
                        json_t *root = json_loadb(body, body_len, JSON_DECODE_ANY, NULL);
                        json_t *host = json_object_get(root, "HostConfig");
                        FUZZ_CHECK(!json_is_true(json_object_get(host, "Privileged")));
                        FUZZ_CHECK(!json_is_true(json_object_get(root, "Privileged")));
                        json_t *binds = json_object_get(host, "Binds"), *bind;
                        size_t i;
                        json_array_foreach(binds, i, bind) {
                                const char *b = json_string_value(bind);
                                FUZZ_CHECK(!b || (strncmp(b, "/:", 2) != 0 && strncmp(b, "/home/jenkins/ws/root:", 22) != 0));
                        }
                        json_decref(root);
                }
        }
        free(body);
        return 0;
}
