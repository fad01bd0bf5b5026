/* The inner Docker policy: what the untrusted `jenkins` user in an agent may ask its dockerd
 * for (the proxy in slipway-init enforces it; SECURITY.md says why each rule exists). Pure: the
 * only contact with the file system is the path resolver the caller passes, so it is
 * unit-tested with a fake one and fuzzed.
 *
 * Fail closed: an endpoint not on the allow-list, a query parameter not known for its
 * endpoint, a JSON body that does not parse, a field of the wrong type, a HostConfig key this
 * module does not know, a key with non-ASCII bytes or two keys that Go's case-insensitive
 * decoder would both map to one field — all are denied. */
#ifndef SLIPWAY_DOCKER_POLICY_H
#define SLIPWAY_DOCKER_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "slipway/error.h"

/* What the proxy does with a request's body. */
enum docker_policy_body {
        DOCKER_POLICY_BODY_NONE,   /* none expected: a body is relayed but must be empty */
        DOCKER_POLICY_BODY_JSON,   /* read whole (bounded), judged, then sent upstream */
        DOCKER_POLICY_BODY_STREAM, /* relayed as it comes (build context, image load, archive) */
};

/* What the endpoint is, where its body is judged. */
enum docker_policy_kind {
        DOCKER_POLICY_PLAIN,
        DOCKER_POLICY_CONTAINER_CREATE,
        DOCKER_POLICY_CONTAINER_UPDATE,
        DOCKER_POLICY_CONTAINER_START, /* binds are re-checked from the container's inspect */
        DOCKER_POLICY_EXEC_CREATE,
        DOCKER_POLICY_NETWORK_CREATE,
        DOCKER_POLICY_NETWORK_CONNECT,
        DOCKER_POLICY_VOLUME_CREATE,
        DOCKER_POLICY_HIJACK, /* attach, exec start: the connection becomes a raw stream */
};

struct docker_policy_route {
        enum docker_policy_kind kind;
        enum docker_policy_body body;
        char container[256]; /* the container named in the path, for CONTAINER_START */
};

/* Resolve path as the kernel would for dockerd (symlinks followed, as realpath(3)), into out;
 * a path that does not exist resolves through its longest existing prefix. Returns 0 or a
 * negative errno. */
typedef int (*docker_policy_resolve_fn)(const char *path, char *out, size_t size, void *data);

struct docker_policy {
        /* Bind-mount sources must resolve under one of these (canonical, no trailing '/'). */
        const char *const *bind_roots;
        /* The proxy's own sockets: binding exactly one of them is allowed (a container then
         * talks to the same policy; Docker Pipeline relies on it). */
        const char *const *proxy_sockets;
        docker_policy_resolve_fn resolve;
        void *resolve_data;
};

/* Classify a request (method, path as sent, raw query). Returns 0 and fills route when the
 * endpoint is allowed and its query passes; otherwise a negative value with err->code 403
 * (denied: err->message says why, for the user) or 400 (malformed). */
int docker_policy_route(const char *method, const char *path, const char *query,
                        struct docker_policy_route *route, struct sw_error *err);

/* Judge a JSON body for route (len 0 is judged as an empty object: never skipped). Same
 * returns as docker_policy_route. */
int docker_policy_check_body(const struct docker_policy *policy, const struct docker_policy_route *route,
                             const char *body, size_t len, struct sw_error *err);

/* Judge the bind mounts of a container about to start, from dockerd's inspect JSON of it
 * (HostConfig.Binds and HostConfig.Mounts): a workspace path may have become a symlink since
 * the container was created. */
int docker_policy_check_inspect(const struct docker_policy *policy, const char *inspect, size_t len,
                                struct sw_error *err);

/* The resolver the proxy uses (docker_policy_resolve.c, which reads the file system): realpath(3)
 * of the longest existing prefix of path, with the rest appended. */
int docker_policy_resolve_path(const char *path, char *out, size_t size, void *data);

/* A request's Content-Type (may be ""): form types are denied, because Go's ParseForm reads a
 * urlencoded body as more query parameters, which dockerd would see and the proxy would not. */
int docker_policy_check_content_type(const char *content_type, struct sw_error *err);

/* Whether name is one of Docker's default capabilities (with or without CAP_, any case). */
bool docker_policy_default_capability(const char *name);

#endif
