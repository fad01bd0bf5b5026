/* The control API's routing and body decoding: see include/slipway/control_api.h. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "slipway/cleanup.h"
#include "slipway/control_api.h"

#define REF_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"

static bool is(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

static int wrong_method(struct sw_error *err, const char *path, const char *allowed)
{
        sw_error_set(err, EINVAL, "%s takes %s", path, allowed);
        return 405;
}

int control_route(const char *method, const char *path, struct control_route *out,
                  struct sw_error *err)
{
        static const struct {
                const char *path;
                enum control_endpoint get, post; /* CONTROL_STATUS as "none" is never a POST */
                bool has_get, has_post;
        } fixed[] = {
                { "/v1/status", CONTROL_STATUS, CONTROL_STATUS, true, false },
                { "/v1/agents", CONTROL_AGENTS_LIST, CONTROL_AGENTS_CREATE, true, true },
                { "/v1/drain", CONTROL_STATUS, CONTROL_DRAIN, false, true },
                { "/v1/cache", CONTROL_CACHE, CONTROL_STATUS, true, false },
                { "/metrics", CONTROL_METRICS, CONTROL_STATUS, true, false },
        };
        *out = (struct control_route){ 0 };
        bool get = is(method, "GET"), post = is(method, "POST");
        for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
                if (!is(path, fixed[i].path))
                        continue;
                if (get && fixed[i].has_get) {
                        out->endpoint = fixed[i].get;
                        return 0;
                }
                if (post && fixed[i].has_post) {
                        out->endpoint = fixed[i].post;
                        return 0;
                }
                return wrong_method(err, path,
                                    fixed[i].has_get && fixed[i].has_post ? "GET or POST"
                                    : fixed[i].has_get                    ? "GET"
                                                                          : "POST");
        }
        static const char agents[] = "/v1/agents/";
        if (strncmp(path, agents, sizeof(agents) - 1) == 0) {
                const char *ref = path + sizeof(agents) - 1;
                size_t len = strspn(ref, REF_CHARS);
                const char *rest = ref + len;
                bool inspect = is(rest, "/inspect");
                bool dots = strspn(ref, ".") == len; /* "." and "..": never a name */
                if (len == 0 || len > CONTROL_AGENT_REF_MAX || (*rest && !inspect) || dots) {
                        sw_error_set(err, ENOENT, "no such agent (an agent id or node name, "
                                     "[A-Za-z0-9_.-], at most %d characters)", CONTROL_AGENT_REF_MAX);
                        return 404;
                }
                memcpy(out->agent, ref, len);
                out->agent[len] = '\0';
                if (inspect) {
                        if (!get)
                                return wrong_method(err, "/v1/agents/ID/inspect", "GET");
                        out->endpoint = CONTROL_AGENT_INSPECT;
                        return 0;
                }
                if (get)
                        out->endpoint = CONTROL_AGENT_GET;
                else if (is(method, "DELETE"))
                        out->endpoint = CONTROL_AGENT_DELETE;
                else
                        return wrong_method(err, "/v1/agents/ID", "GET or DELETE");
                return 0;
        }
        sw_error_set(err, ENOENT, "unknown path (see GET /v1/status, /v1/agents, /v1/cache, /metrics)");
        return 404;
}

/* "application/json", any case, optionally followed by ";" and parameters. */
static bool content_type_json(const char *content_type)
{
        static const char json[] = "application/json";
        if (!content_type)
                return false;
        content_type += strspn(content_type, " \t");
        if (strncasecmp(content_type, json, sizeof(json) - 1) != 0)
                return false;
        const char *rest = content_type + sizeof(json) - 1;
        rest += strspn(rest, " \t");
        return *rest == '\0' || *rest == ';';
}

int control_create_decode(const char *content_type, const char *body, size_t len,
                          struct control_create *out, struct sw_error *err)
{
        *out = (struct control_create){ .count = 1 };
        if (!content_type_json(content_type)) {
                sw_error_set(err, EINVAL, "POST /v1/agents takes Content-Type: application/json, "
                             "not %s%s%s", content_type ? "\"" : "", content_type ? content_type : "none",
                             content_type ? "\"" : "");
                return 415;
        }
        if (len == 0) {
                sw_error_set(err, EINVAL, "empty body: expected {\"template\": NAME, \"count\": N}");
                return 400;
        }
        json_error_t jerr;
        _cleanup_json_ json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                sw_error_set(err, EINVAL, "body is not JSON: line %d, column %d: %s", jerr.line,
                             jerr.column, jerr.text);
                return 400;
        }
        if (!json_is_object(root)) {
                sw_error_set(err, EINVAL, "body: expected an object {\"template\": NAME, \"count\": N}");
                return 400;
        }
        const char *key;
        json_t *value;
        bool have_template = false;
        json_object_foreach(root, key, value) {
                if (is(key, "template")) {
                        const char *name = json_string_value(value);
                        size_t name_len = name ? json_string_length(value) : 0;
                        if (!name || name_len == 0 || name_len > CONTROL_TEMPLATE_MAX ||
                            strspn(name, REF_CHARS) != name_len) {
                                sw_error_set(err, EINVAL, "\"template\": expected a template name "
                                             "(1-%d characters of a-z A-Z 0-9 _ . -)",
                                             CONTROL_TEMPLATE_MAX);
                                return 400;
                        }
                        memcpy(out->template, name, name_len + 1);
                        have_template = true;
                } else if (is(key, "count")) {
                        json_int_t n = json_is_integer(value) ? json_integer_value(value) : 0;
                        if (n < 1 || n > CONTROL_CREATE_MAX) {
                                sw_error_set(err, EINVAL, "\"count\": expected an integer 1-%d",
                                             CONTROL_CREATE_MAX);
                                return 400;
                        }
                        out->count = (int) n;
                } else {
                        sw_error_set(err, EINVAL, "unknown key \"%.64s\" (expected \"template\" "
                                     "and optionally \"count\")", key);
                        return 400;
                }
        }
        if (!have_template) {
                sw_error_set(err, EINVAL, "\"template\": required");
                return 400;
        }
        return 0;
}
