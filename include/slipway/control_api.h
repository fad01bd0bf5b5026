/* The control API's requests, decoded without touching the daemon: which endpoint a method
 * and path name, and the body of POST /v1/agents. Pure functions of untrusted bytes, so the
 * fuzzer drives them (tests/fuzz/fuzz_control_api.c).
 *
 *   GET    /v1/status                GET  /v1/cache
 *   GET    /v1/agents                POST /v1/drain
 *   POST   /v1/agents                GET  /metrics
 *   GET    /v1/agents/ID
 *   GET    /v1/agents/ID/inspect
 *   DELETE /v1/agents/ID
 *
 * Both return 0, or the HTTP status to answer with (400, 404, 405, 415) and err saying why. */
#ifndef SLIPWAY_CONTROL_API_H
#define SLIPWAY_CONTROL_API_H

#include <stddef.h>

#include "slipway/error.h"

#define CONTROL_AGENT_REF_MAX 64   /* characters of an agent id or node name in a path */
#define CONTROL_TEMPLATE_MAX 32    /* as config.c's template names */
#define CONTROL_CREATE_MAX 100     /* agents one POST may ask for */

enum control_endpoint {
        CONTROL_STATUS,
        CONTROL_AGENTS_LIST,
        CONTROL_AGENTS_CREATE,
        CONTROL_AGENT_GET,
        CONTROL_AGENT_INSPECT,
        CONTROL_AGENT_DELETE,
        CONTROL_DRAIN,
        CONTROL_CACHE,
        CONTROL_METRICS,
};

struct control_route {
        enum control_endpoint endpoint;
        char agent[CONTROL_AGENT_REF_MAX + 1]; /* with CONTROL_AGENT_*: [A-Za-z0-9_.-]+ */
};

int control_route(const char *method, const char *path, struct control_route *out,
                  struct sw_error *err);

/* POST /v1/agents: Content-Type application/json (parameters such as charset allowed), body
 * {"template": NAME, "count": N} with count optional (default 1, at most CONTROL_CREATE_MAX);
 * unknown keys are refused. content_type may be NULL (refused: 415). */
struct control_create {
        char template[CONTROL_TEMPLATE_MAX + 1];
        int count;
};

int control_create_decode(const char *content_type, const char *body, size_t len,
                          struct control_create *out, struct sw_error *err);

#endif
