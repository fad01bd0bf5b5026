/* The inner Docker policy (see docker_policy.h; SECURITY.md explains each rule).
 *
 * Two things make an Engine API filter hard, and both are handled here once:
 * - dockerd decodes JSON with Go's encoding/json, which matches keys to struct fields
 *   case-insensitively, with Unicode folding (U+017F "ſ" is an "s", U+212A KELVIN SIGN a "k"),
 *   and lets the last of two matching keys win. So every key of a body must be ASCII, no two
 *   keys of one object may fold to the same name, and fields are looked up ASCII
 *   case-insensitively.
 * - Before API 1.44-era clean-ups, dockerd also read HostConfig fields from the top level of a
 *   create body (the deprecated embedded HostConfig of ContainerConfigWrapper). The top level is
 *   judged with the same rules as HostConfig. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "slipway/docker_policy.h"
#include "slipway/http_request.h"

#define DENY(err, ...) sw_error_set(err, 403, "slipway policy: " __VA_ARGS__)

/* ---- routes ---------------------------------------------------------------------------- */

/* A path pattern: words separated by '/', where "*" is one segment (a container, network,
 * volume or exec id or name) and "**" one or more segments (an image reference may hold '/'). */
struct route_rule {
        const char *method;
        const char *pattern;
        enum docker_policy_kind kind;
        enum docker_policy_body body;
};

static const struct route_rule routes[] = {
        { "GET", "/_ping", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "HEAD", "/_ping", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/version", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/info", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/events", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/system/df", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/auth", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_JSON },
        /* images */
        { "GET", "/images/json", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/images/create", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_STREAM },
        { "GET", "/images/search", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/images/load", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_STREAM },
        { "GET", "/images/get", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/images/prune", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/images/**/push", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/images/**/tag", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/images/**/json", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/images/**/history", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/images/**/get", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "DELETE", "/images/**", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/distribution/**/json", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        /* build (the legacy builder; BuildKit's /session and /grpc are not listed) */
        { "POST", "/build", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_STREAM },
        { "POST", "/build/prune", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/commit", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_JSON },
        /* containers */
        { "GET", "/containers/json", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/containers/create", DOCKER_POLICY_CONTAINER_CREATE, DOCKER_POLICY_BODY_JSON },
        { "POST", "/containers/prune", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/containers/*/json", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/containers/*/top", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/containers/*/logs", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/containers/*/changes", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/containers/*/export", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/containers/*/stats", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        /* docker cp mounts the container's binds by path (as root), started or not: the same
         * re-check as start. */
        { "GET", "/containers/*/archive", DOCKER_POLICY_CONTAINER_START, DOCKER_POLICY_BODY_NONE },
        { "HEAD", "/containers/*/archive", DOCKER_POLICY_CONTAINER_START, DOCKER_POLICY_BODY_NONE },
        { "PUT", "/containers/*/archive", DOCKER_POLICY_CONTAINER_START, DOCKER_POLICY_BODY_STREAM },
        { "POST", "/containers/*/start", DOCKER_POLICY_CONTAINER_START, DOCKER_POLICY_BODY_NONE },
        { "POST", "/containers/*/restart", DOCKER_POLICY_CONTAINER_START, DOCKER_POLICY_BODY_NONE },
        { "POST", "/containers/*/stop", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/containers/*/kill", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/containers/*/wait", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/containers/*/resize", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/containers/*/rename", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/containers/*/pause", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/containers/*/unpause", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/containers/*/update", DOCKER_POLICY_CONTAINER_UPDATE, DOCKER_POLICY_BODY_JSON },
        { "POST", "/containers/*/attach", DOCKER_POLICY_HIJACK, DOCKER_POLICY_BODY_NONE },
        { "POST", "/containers/*/exec", DOCKER_POLICY_EXEC_CREATE, DOCKER_POLICY_BODY_JSON },
        { "DELETE", "/containers/*", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        /* exec */
        { "POST", "/exec/*/start", DOCKER_POLICY_HIJACK, DOCKER_POLICY_BODY_JSON },
        { "POST", "/exec/*/resize", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/exec/*/json", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        /* networks */
        { "GET", "/networks", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/networks/create", DOCKER_POLICY_NETWORK_CREATE, DOCKER_POLICY_BODY_JSON },
        { "POST", "/networks/prune", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/networks/*", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "DELETE", "/networks/*", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/networks/*/connect", DOCKER_POLICY_NETWORK_CONNECT, DOCKER_POLICY_BODY_JSON },
        { "POST", "/networks/*/disconnect", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_JSON },
        /* volumes */
        { "GET", "/volumes", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "POST", "/volumes/create", DOCKER_POLICY_VOLUME_CREATE, DOCKER_POLICY_BODY_JSON },
        { "POST", "/volumes/prune", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "GET", "/volumes/*", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
        { "DELETE", "/volumes/*", DOCKER_POLICY_PLAIN, DOCKER_POLICY_BODY_NONE },
};

/* Words that end a route and so cannot be the name in a "*" or "**" segment of a shorter one
 * (gorilla/mux in dockerd would route "/containers/x/json" to inspect, never delete "x/json"). */
static bool pattern_match(const char *pattern, const char *path, char *name, size_t name_size)
{
        /* Split both on '/' (paths are checked free of empty segments beforehand). */
        const char *p = pattern, *s = path;
        while (*p && *s) {
                if (*p != '/' || *s != '/')
                        return false;
                p++, s++;
                const char *pend = strchrnul(p, '/'), *send = strchrnul(s, '/');
                size_t plen = (size_t) (pend - p), slen = (size_t) (send - s);
                if (plen == 2 && strncmp(p, "**", 2) == 0) {
                        /* One or more segments, up to the rest of the pattern matching the
                         * path's tail exactly. */
                        const char *rest = pend;
                        size_t rest_len = strlen(rest), path_left = strlen(s);
                        if (path_left <= rest_len || strcmp(s + path_left - rest_len, rest) != 0)
                                return false;
                        if (rest_len && s[path_left - rest_len - 1] == '/')
                                return false;
                        if (path_left - rest_len == 0)
                                return false;
                        if (name) {
                                /* A name that does not fit is not matched (never cut: a check
                                 * would then look at another container). */
                                size_t n = path_left - rest_len;
                                if (n > name_size - 1)
                                        return false;
                                memcpy(name, s, n);
                                name[n] = '\0';
                        }
                        return true;
                }
                if (plen == 1 && *p == '*') {
                        if (slen == 0)
                                return false;
                        if (name) {
                                if (slen > name_size - 1)
                                        return false;
                                memcpy(name, s, slen);
                                name[slen] = '\0';
                        }
                } else if (plen != slen || strncmp(p, s, plen) != 0) {
                        return false;
                }
                p = pend, s = send;
        }
        return *p == '\0' && *s == '\0';
}

/* The path without its optional /vX.Y prefix; versions below 1.24 (dockerd's minimum since
 * v25, whose old create/start forms took a HostConfig at start) are denied. */
static int strip_version(const char *path, const char **rest, struct sw_error *err)
{
        *rest = path;
        if (path[0] != '/' || path[1] != 'v' || path[2] < '0' || path[2] > '9')
                return 0;
        const char *p = path + 2;
        char *end;
        errno = 0;
        unsigned long major = strtoul(p, &end, 10);
        if (end == p || *end != '.' || errno)
                return 0; /* not a version: an unknown path, denied later */
        p = end + 1;
        unsigned long minor = strtoul(p, &end, 10);
        if (end == p || (*end != '/' && *end != '\0') || errno || end - p > 3)
                return DENY(err, "bad API version in path %s", path);
        if (major != 1 || minor < 24)
                return DENY(err, "API version %lu.%lu is not accepted (1.24 or later)", major, minor);
        *rest = end;
        return 0;
}

/* Characters dockerd's routes take in a path: names, ids, image references. No '%' (the
 * proxy would have to decode exactly as gorilla/mux does), no dot segments. */
static int check_path_chars(const char *path, struct sw_error *err)
{
        for (const char *c = path; *c; c++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._:@+-", *c))
                        return DENY(err, "unexpected character '%c' in the request path", *c);
        if (strstr(path, "//") || strstr(path, "/./") || strstr(path, "/../"))
                return DENY(err, "a request path with empty or dot segments is not accepted");
        size_t len = strlen(path);
        if ((len >= 2 && strcmp(path + len - 2, "/.") == 0) || (len >= 3 && strcmp(path + len - 3, "/..") == 0) ||
            (len > 1 && path[len - 1] == '/'))
                return DENY(err, "a request path ending in '/' or a dot segment is not accepted");
        return 0;
}

static bool equal_nocase(const char *a, const char *b)
{
        return a && strcasecmp(a, b) == 0;
}

/* A query parameter that decides policy: at most once (dockerd reads the first, a proxy might
 * read another). */
static int query_once(const struct http_query *q, const char *name, const char **value, struct sw_error *err)
{
        if (http_query_get(q, name, value) > 1)
                return DENY(err, "query parameter '%s' given more than once", name);
        return 0;
}

static bool network_name_ok(const char *mode)
{
        if (!mode || !*mode)
                return true;
        if (equal_nocase(mode, "host") || strncasecmp(mode, "container:", 10) == 0)
                return false;
        for (const char *c = mode; *c; c++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", *c))
                        return false;
        return true;
}

/* docker build's query: every parameter known, the ones that reach the host denied. */
static int check_build_query(const struct http_query *q, struct sw_error *err)
{
        static const char *const known[] = {
                "dockerfile", "t", "extrahosts", "remote", "q", "nocache", "cachefrom", "pull", "rm",
                "forcerm", "memory", "memswap", "cpushares", "cpusetcpus", "cpusetmems", "cpuperiod",
                "cpuquota", "buildargs", "shmsize", "squash", "labels", "networkmode", "platform",
                "target", "outputs", "version", "ulimits", "isolation", "cgroupparent", "session",
                "buildid", "securityopt",
        };
        for (size_t i = 0; i < q->count; i++) {
                const char *name = q->params[i].name;
                bool found = false;
                for (size_t k = 0; k < sizeof(known) / sizeof(known[0]) && !found; k++)
                        found = strcmp(name, known[k]) == 0;
                if (!found)
                        return DENY(err, "docker build option '%s' is not known to the policy", name);
                /* Only tags may repeat (docker build -t a -t b). */
                if (strcmp(name, "t") != 0 && http_query_get(q, name, NULL) > 1)
                        return DENY(err, "query parameter '%s' given more than once", name);
        }
        const char *v;
        http_query_get(q, "version", &v);
        if (v && *v && strcmp(v, "1") != 0)
                return DENY(err, "BuildKit builds (version=%s) are not available; the legacy builder is", v);
        http_query_get(q, "networkmode", &v);
        if (v && !equal_nocase(v, "default") && !network_name_ok(v))
                return DENY(err, "docker build --network=%s is not allowed", v);
        http_query_get(q, "cgroupparent", &v);
        if (v && *v)
                return DENY(err, "docker build --cgroup-parent is not allowed");
        http_query_get(q, "isolation", &v);
        if (v && *v && !equal_nocase(v, "default"))
                return DENY(err, "docker build --isolation=%s is not allowed", v);
        http_query_get(q, "securityopt", &v);
        if (v && *v && strcmp(v, "[]") != 0 && strcmp(v, "null") != 0)
                return DENY(err, "docker build --security-opt is not allowed");
        http_query_get(q, "remote", &v);
        if (v && *v)
                return DENY(err, "a remote build context (URL or git) is not allowed: fetch it and build "
                                 "from a directory");
        http_query_get(q, "outputs", &v);
        if (v && *v && strcmp(v, "[]") != 0 && strcmp(v, "null") != 0)
                return DENY(err, "docker build --output needs BuildKit, which is not available");
        http_query_get(q, "session", &v);
        if (v && *v)
                return DENY(err, "BuildKit sessions are not available");
        return 0;
}

static int check_query(const struct docker_policy_route *route, const char *rest, const char *method,
                       const struct http_query *q, struct sw_error *err)
{
        (void) route;
        const char *v;
        if (strcmp(method, "POST") == 0 && strcmp(rest, "/build") == 0)
                return check_build_query(q, err);
        if (strcmp(method, "POST") == 0 && strcmp(rest, "/images/create") == 0) {
                /* docker import - streams the tarball; a URL would have dockerd fetch it. */
                if (query_once(q, "fromSrc", &v, err) < 0)
                        return -1;
                if (v && *v && strcmp(v, "-") != 0)
                        return DENY(err, "importing from a URL is not allowed: download it and import from stdin");
        }
        return 0;
}

int docker_policy_route(const char *method, const char *path, const char *query,
                        struct docker_policy_route *route, struct sw_error *err)
{
        memset(route, 0, sizeof(*route));
        const char *rest;
        if (strip_version(path, &rest, err) < 0)
                return -1;
        if (check_path_chars(rest, err) < 0)
                return -1;
        const struct route_rule *rule = NULL;
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]) && !rule; i++)
                if (strcmp(routes[i].method, method) == 0 &&
                    pattern_match(routes[i].pattern, rest, route->container, sizeof(route->container)))
                        rule = &routes[i];
        if (!rule) {
                if (strncmp(rest, "/session", 8) == 0 || strncmp(rest, "/grpc", 5) == 0)
                        return DENY(err, "BuildKit is not available (%s %s); docker build uses the legacy builder",
                                    method, rest);
                return DENY(err, "%s %s is not an allowed Docker API call", method, rest);
        }
        route->kind = rule->kind;
        route->body = rule->body;
        if (rule->kind != DOCKER_POLICY_CONTAINER_START)
                route->container[0] = '\0';
        struct http_query q;
        if (http_query_parse(query, &q, err) < 0) {
                char why[256];
                snprintf(why, sizeof(why), "%s", err->message);
                return DENY(err, "query string refused: %s", why);
        }
        int r = check_query(route, rest, method, &q, err);
        http_query_free(&q);
        return r < 0 ? -1 : 0;
}

int docker_policy_check_content_type(const char *content_type, struct sw_error *err)
{
        /* The media type, as mime.ParseMediaType reads it: up to ';', trimmed, any case. */
        char media[256];
        size_t n = strcspn(content_type, ";");
        while (n && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t'))
                n--;
        size_t start = strspn(content_type, " \t");
        if (start > n)
                start = n;
        snprintf(media, sizeof(media), "%.*s", (int) (n - start), content_type + start);
        if (strcasestr(media, "form"))
                return DENY(err, "Content-Type %s is not accepted (dockerd would read the body as "
                                 "query parameters)", media);
        return 0;
}

/* ---- JSON keys as Go reads them ---------------------------------------------------------- */

/* Every key of every object in v: ASCII only, and no two keys of one object equal ignoring
 * ASCII case. */
static int check_keys(json_t *v, int depth, struct sw_error *err)
{
        if (depth > 64)
                return DENY(err, "JSON nested too deeply");
        if (json_is_array(v)) {
                size_t i;
                json_t *item;
                json_array_foreach(v, i, item)
                        if (check_keys(item, depth + 1, err) < 0)
                                return -1;
                return 0;
        }
        if (!json_is_object(v))
                return 0;
        const char *key;
        json_t *item;
        json_object_foreach(v, key, item) {
                for (const unsigned char *c = (const unsigned char *) key; *c; c++)
                        if (*c >= 0x80 || *c < 0x20)
                                return DENY(err, "JSON key with non-ASCII or control bytes: dockerd folds "
                                                 "Unicode in keys, so they could mean a field the policy checks");
                const char *other;
                json_t *ignored;
                json_object_foreach(v, other, ignored) {
                        if (other == key)
                                break;
                        if (strcasecmp(other, key) == 0)
                                return DENY(err, "JSON keys '%s' and '%s' name the same field", other, key);
                }
                if (check_keys(item, depth + 1, err) < 0)
                        return -1;
        }
        return 0;
}

/* The value of the field called name (ASCII case-insensitively; keys are checked unique). */
static json_t *field(json_t *obj, const char *name)
{
        if (!json_is_object(obj))
                return NULL;
        const char *key;
        json_t *value;
        json_object_foreach(obj, key, value)
                if (strcasecmp(key, name) == 0)
                        return value;
        return NULL;
}

/* A field that is absent, null or JSON false/""/0/[]/{} (Go's zero values) is unset. */
static bool unset(json_t *v)
{
        if (!v || json_is_null(v) || json_is_false(v))
                return true;
        if (json_is_string(v))
                return json_string_length(v) == 0;
        if (json_is_integer(v))
                return json_integer_value(v) == 0;
        if (json_is_array(v))
                return json_array_size(v) == 0;
        if (json_is_object(v))
                return json_object_size(v) == 0;
        return false;
}

/* A string field: absent or null gives "", another type is denied. */
static int string_field(json_t *obj, const char *name, const char **out, struct sw_error *err)
{
        json_t *v = field(obj, name);
        *out = "";
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return DENY(err, "%s must be a string", name);
        *out = json_string_value(v);
        return 0;
}

/* Fields of a struct: every key must be one of known (case-insensitively). */
static int check_known(json_t *obj, const char *what, const char *const *known, struct sw_error *err)
{
        const char *key;
        json_t *value;
        json_object_foreach(obj, key, value) {
                bool found = false;
                for (size_t i = 0; known[i] && !found; i++)
                        found = strcasecmp(key, known[i]) == 0;
                if (!found)
                        return DENY(err, "%s field '%s' is not known to the policy", what, key);
        }
        return 0;
}

/* ---- capabilities ------------------------------------------------------------------------ */

/* Docker's default capability set (moby oci/caps/defaults.go). */
static const char *const default_caps[] = {
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
        "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
};

bool docker_policy_default_capability(const char *name)
{
        if (strncasecmp(name, "CAP_", 4) == 0)
                name += 4;
        for (size_t i = 0; i < sizeof(default_caps) / sizeof(default_caps[0]); i++)
                if (strcasecmp(name, default_caps[i]) == 0)
                        return true;
        return false;
}

/* ---- bind mounts ----------------------------------------------------------------------- */

static bool under(const char *path, const char *root)
{
        size_t n = strlen(root);
        return strncmp(path, root, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Judge one bind-mount source (as dockerd would mount it). */
static int check_bind_source(const struct docker_policy *policy, const char *source, struct sw_error *err)
{
        if (source[0] != '/')
                return DENY(err, "bind mount source '%s' is not an absolute path", source);
        /* ".." after a symlink means the symlink's parent to the kernel: never fold it here. */
        char clean[4096];
        size_t o = 0;
        for (const char *p = source; *p;) {
                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                const char *end = strchrnul(p, '/');
                size_t len = (size_t) (end - p);
                if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
                        return DENY(err, "bind mount source '%s' has '.' or '..' in it", source);
                if (o + len + 2 >= sizeof(clean))
                        return DENY(err, "bind mount source too long");
                clean[o++] = '/';
                memcpy(clean + o, p, len);
                o += len;
                p = end;
        }
        if (o == 0)
                clean[o++] = '/';
        clean[o] = '\0';
        for (size_t i = 0; policy->proxy_sockets && policy->proxy_sockets[i]; i++)
                if (strcmp(clean, policy->proxy_sockets[i]) == 0)
                        return 0;
        char resolved[4096];
        int r = policy->resolve ? policy->resolve(clean, resolved, sizeof(resolved), policy->resolve_data) : -ENOSYS;
        if (r < 0)
                return DENY(err, "bind mount source '%s' cannot be resolved: %s", source, strerror(-r));
        for (size_t i = 0; policy->bind_roots && policy->bind_roots[i]; i++)
                if (under(resolved, policy->bind_roots[i]))
                        return 0;
        if (strcmp(resolved, clean) != 0)
                return DENY(err, "bind mount of %s (which is %s) is outside the build workspace", source, resolved);
        return DENY(err, "bind mount of %s is outside the build workspace", source);
}

static bool volume_name_ok(const char *name)
{
        if (!*name || !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", name[0]))
                return false;
        for (const char *c = name; *c; c++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", *c))
                        return false;
        return true;
}

/* HostConfig.Binds: "src:dst[:opts]" (src a path: a bind; a name: a volume) or "dst". */
static int check_binds(const struct docker_policy *policy, json_t *binds, struct sw_error *err)
{
        if (!binds || json_is_null(binds))
                return 0;
        if (!json_is_array(binds))
                return DENY(err, "Binds must be a list");
        size_t i;
        json_t *item;
        json_array_foreach(binds, i, item) {
                if (!json_is_string(item))
                        return DENY(err, "Binds entries must be strings");
                const char *spec = json_string_value(item);
                const char *colon = strchr(spec, ':');
                if (!colon)
                        continue; /* an anonymous volume at that path */
                char source[4096];
                size_t len = (size_t) (colon - spec);
                if (len >= sizeof(source))
                        return DENY(err, "bind mount source too long");
                memcpy(source, spec, len);
                source[len] = '\0';
                if (source[0] == '/') {
                        if (check_bind_source(policy, source, err) < 0)
                                return -1;
                } else if (!volume_name_ok(source)) {
                        return DENY(err, "Binds entry '%s' is neither a path nor a volume name", spec);
                }
        }
        return 0;
}

static int check_volume_driver_config(json_t *volume_options, struct sw_error *err)
{
        static const char *const known[] = { "NoCopy", "Labels", "Subpath", "DriverConfig", NULL };
        if (!volume_options || json_is_null(volume_options))
                return 0;
        if (!json_is_object(volume_options))
                return DENY(err, "VolumeOptions must be an object");
        if (check_known(volume_options, "VolumeOptions", known, err) < 0)
                return -1;
        json_t *driver = field(volume_options, "DriverConfig");
        if (!driver || json_is_null(driver))
                return 0;
        static const char *const driver_known[] = { "Name", "Options", NULL };
        if (!json_is_object(driver) || check_known(driver, "DriverConfig", driver_known, err) < 0)
                return DENY(err, "bad VolumeOptions.DriverConfig");
        const char *name;
        if (string_field(driver, "Name", &name, err) < 0)
                return -1;
        if (*name && strcmp(name, "local") != 0)
                return DENY(err, "volume driver '%s' is not allowed (only local)", name);
        if (!unset(field(driver, "Options")))
                return DENY(err, "volume driver options are not allowed (type=none,o=bind is a bind mount "
                                 "of anything)");
        return 0;
}

/* HostConfig.Mounts. */
static int check_mounts(const struct docker_policy *policy, json_t *mounts, struct sw_error *err)
{
        static const char *const known[] = { "Type", "Source", "Target", "ReadOnly", "Consistency",
                                             "BindOptions", "VolumeOptions", "TmpfsOptions", NULL };
        if (!mounts || json_is_null(mounts))
                return 0;
        if (!json_is_array(mounts))
                return DENY(err, "Mounts must be a list");
        size_t i;
        json_t *m;
        json_array_foreach(mounts, i, m) {
                if (!json_is_object(m))
                        return DENY(err, "Mounts entries must be objects");
                if (check_known(m, "Mounts", known, err) < 0)
                        return -1;
                const char *type, *source;
                if (string_field(m, "Type", &type, err) < 0 || string_field(m, "Source", &source, err) < 0)
                        return -1;
                if (strcmp(type, "bind") == 0) {
                        if (check_bind_source(policy, source, err) < 0)
                                return -1;
                } else if (strcmp(type, "volume") == 0) {
                        if (*source && !volume_name_ok(source))
                                return DENY(err, "volume mount source '%s' is not a volume name", source);
                        if (check_volume_driver_config(field(m, "VolumeOptions"), err) < 0)
                                return -1;
                } else if (strcmp(type, "tmpfs") != 0) {
                        return DENY(err, "mount type '%s' is not allowed (bind, volume or tmpfs)", type);
                }
        }
        return 0;
}

/* ---- HostConfig ------------------------------------------------------------------------ */

/* moby api/types/container/hostconfig.go: HostConfig and its embedded Resources, plus the
 * fields older API versions had (Capabilities, the Windows-only ones). */
static const char *const host_config_fields[] = {
        "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy",
        "AutoRemove", "VolumeDriver", "VolumesFrom", "ConsoleSize", "Annotations", "CapAdd", "CapDrop",
        "CgroupnsMode", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup",
        "Links", "OomScoreAdj", "PidMode", "Privileged", "PublishAllPorts", "ReadonlyRootfs",
        "SecurityOpt", "StorageOpt", "Tmpfs", "UTSMode", "UsernsMode", "ShmSize", "Sysctls", "Runtime",
        "Isolation", "Mounts", "MaskedPaths", "ReadonlyPaths", "Init", "Capabilities",
        /* Resources */
        "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice",
        "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
        "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems",
        "Devices", "DeviceCgroupRules", "DeviceRequests", "KernelMemory", "KernelMemoryTCP",
        "MemoryReservation", "MemorySwap", "MemorySwappiness", "OomKillDisable", "PidsLimit", "Ulimits",
        "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth", NULL,
};

/* Resources fields that reach the host: checked in HostConfig and in docker update. */
static int check_resources(json_t *obj, struct sw_error *err)
{
        if (!unset(field(obj, "Devices")))
                return DENY(err, "devices (--device) are not allowed");
        if (!unset(field(obj, "DeviceCgroupRules")))
                return DENY(err, "device cgroup rules (--device-cgroup-rule) are not allowed");
        if (!unset(field(obj, "DeviceRequests")))
                return DENY(err, "device requests (--gpus) are not allowed");
        if (!unset(field(obj, "CgroupParent")))
                return DENY(err, "--cgroup-parent is not allowed");
        return 0;
}

static int check_namespace_mode(json_t *obj, const char *name, const char *flag, struct sw_error *err)
{
        const char *mode;
        if (string_field(obj, name, &mode, err) < 0)
                return -1;
        if (equal_nocase(mode, "host"))
                return DENY(err, "%s=host is not allowed", flag);
        return 0;
}

static int check_security_opt(json_t *opts, struct sw_error *err)
{
        if (!opts || json_is_null(opts))
                return 0;
        if (!json_is_array(opts))
                return DENY(err, "SecurityOpt must be a list");
        size_t i;
        json_t *item;
        json_array_foreach(opts, i, item) {
                if (!json_is_string(item))
                        return DENY(err, "SecurityOpt entries must be strings");
                const char *opt = json_string_value(item);
                if (strcmp(opt, "no-new-privileges") == 0 || strcmp(opt, "no-new-privileges=true") == 0 ||
                    strcmp(opt, "no-new-privileges:true") == 0 || strncmp(opt, "label=", 6) == 0 ||
                    strncmp(opt, "label:", 6) == 0)
                        continue;
                return DENY(err, "--security-opt %s is not allowed", opt);
        }
        return 0;
}

/* dockerd restarts such containers on its own, past the proxy's start-time bind re-check. */
static int check_restart_policy(json_t *obj, struct sw_error *err)
{
        json_t *policy = field(obj, "RestartPolicy");
        if (unset(policy))
                return 0;
        if (!json_is_object(policy))
                return DENY(err, "RestartPolicy must be an object");
        const char *name;
        if (string_field(policy, "Name", &name, err) < 0)
                return -1;
        if (*name && strcmp(name, "no") != 0)
                return DENY(err, "--restart %s is not allowed (dockerd would restart the container "
                                 "without the proxy's checks)", name);
        return 0;
}

/* The HostConfig rules, on obj (HostConfig, or the top level of a create body). */
static int check_host_fields(const struct docker_policy *policy, json_t *obj, struct sw_error *err)
{
        if (check_restart_policy(obj, err) < 0)
                return -1;
        json_t *v = field(obj, "Privileged");
        if (v && !json_is_null(v) && !json_is_false(v))
                return DENY(err, "privileged containers are not allowed");
        v = field(obj, "CapAdd");
        if (v && !json_is_null(v)) {
                if (!json_is_array(v))
                        return DENY(err, "CapAdd must be a list");
                size_t i;
                json_t *cap;
                json_array_foreach(v, i, cap) {
                        if (!json_is_string(cap))
                                return DENY(err, "CapAdd entries must be strings");
                        if (!docker_policy_default_capability(json_string_value(cap)))
                                return DENY(err, "--cap-add %s is not allowed (only Docker's default capabilities)",
                                            json_string_value(cap));
                }
        }
        if (!unset(field(obj, "Capabilities")))
                return DENY(err, "Capabilities is not allowed");
        if (check_resources(obj, err) < 0)
                return -1;
        if (check_binds(policy, field(obj, "Binds"), err) < 0 || check_mounts(policy, field(obj, "Mounts"), err) < 0)
                return -1;
        if (!unset(field(obj, "VolumeDriver")))
                return DENY(err, "--volume-driver is not allowed");
        if (check_namespace_mode(obj, "NetworkMode", "--network", err) < 0 ||
            check_namespace_mode(obj, "PidMode", "--pid", err) < 0 ||
            check_namespace_mode(obj, "IpcMode", "--ipc", err) < 0 ||
            check_namespace_mode(obj, "UTSMode", "--uts", err) < 0 ||
            check_namespace_mode(obj, "UsernsMode", "--userns", err) < 0 ||
            check_namespace_mode(obj, "CgroupnsMode", "--cgroupns", err) < 0)
                return -1;
        if (!unset(field(obj, "Cgroup")))
                return DENY(err, "joining another cgroup (Cgroup) is not allowed");
        const char *runtime;
        if (string_field(obj, "Runtime", &runtime, err) < 0)
                return -1;
        if (*runtime && strcmp(runtime, "runc") != 0)
                return DENY(err, "--runtime %s is not allowed", runtime);
        if (check_security_opt(field(obj, "SecurityOpt"), err) < 0)
                return -1;
        if (!unset(field(obj, "Sysctls")))
                return DENY(err, "--sysctl is not allowed");
        v = field(obj, "MaskedPaths");
        if (v && !json_is_null(v))
                return DENY(err, "changing the masked paths (systempaths=unconfined) is not allowed");
        v = field(obj, "ReadonlyPaths");
        if (v && !json_is_null(v))
                return DENY(err, "changing the read-only paths (systempaths=unconfined) is not allowed");
        if (!unset(field(obj, "Annotations")))
                return DENY(err, "runtime annotations are not allowed");
        const char *isolation;
        if (string_field(obj, "Isolation", &isolation, err) < 0)
                return -1;
        if (*isolation && strcmp(isolation, "default") != 0)
                return DENY(err, "--isolation %s is not allowed", isolation);
        return 0;
}

/* An endpoint's driver options reach the network driver (per-interface sysctls, for one):
 * none are needed by the CLI's common use, so none pass. */
static int check_endpoint(json_t *endpoint, struct sw_error *err)
{
        if (!endpoint || json_is_null(endpoint))
                return 0;
        if (!json_is_object(endpoint))
                return DENY(err, "endpoint settings must be an object");
        if (!unset(field(endpoint, "DriverOpts")))
                return DENY(err, "network endpoint driver options (driver-opt) are not allowed");
        return 0;
}

static int check_networking_config(json_t *networking, struct sw_error *err)
{
        if (!networking || json_is_null(networking))
                return 0;
        json_t *endpoints = field(networking, "EndpointsConfig");
        if (!endpoints || json_is_null(endpoints))
                return 0;
        if (!json_is_object(endpoints))
                return DENY(err, "NetworkingConfig.EndpointsConfig must be an object");
        const char *name;
        json_t *endpoint;
        json_object_foreach(endpoints, name, endpoint)
                if (check_endpoint(endpoint, err) < 0)
                        return -1;
        return 0;
}

static int check_container_create(const struct docker_policy *policy, json_t *body, struct sw_error *err)
{
        if (check_networking_config(field(body, "NetworkingConfig"), err) < 0)
                return -1;
        /* The top level, for the deprecated embedded HostConfig older daemons still read. */
        if (check_host_fields(policy, body, err) < 0)
                return -1;
        json_t *host = field(body, "HostConfig");
        if (!host || json_is_null(host))
                return 0;
        if (!json_is_object(host))
                return DENY(err, "HostConfig must be an object");
        if (check_known(host, "HostConfig", host_config_fields, err) < 0)
                return -1;
        return check_host_fields(policy, host, err);
}

static int check_container_update(json_t *body, struct sw_error *err)
{
        static const char *known[sizeof(host_config_fields) / sizeof(host_config_fields[0]) + 1];
        /* UpdateConfig: Resources and RestartPolicy. */
        size_t n = 0;
        bool in_resources = false;
        for (size_t i = 0; host_config_fields[i]; i++) {
                if (strcmp(host_config_fields[i], "CpuShares") == 0)
                        in_resources = true;
                if (in_resources)
                        known[n++] = host_config_fields[i];
        }
        known[n++] = "RestartPolicy";
        known[n] = NULL;
        if (check_known(body, "docker update", known, err) < 0 || check_restart_policy(body, err) < 0)
                return -1;
        return check_resources(body, err);
}

static int check_exec_create(json_t *body, struct sw_error *err)
{
        static const char *const known[] = { "User", "Privileged", "Tty", "ConsoleSize", "AttachStdin",
                                             "AttachStderr", "AttachStdout", "Detach", "DetachKeys", "Env",
                                             "WorkingDir", "Cmd", NULL };
        if (check_known(body, "exec", known, err) < 0)
                return -1;
        json_t *v = field(body, "Privileged");
        if (v && !json_is_null(v) && !json_is_false(v))
                return DENY(err, "docker exec --privileged is not allowed");
        return 0;
}

static int check_network_create(json_t *body, struct sw_error *err)
{
        static const char *const known[] = { "Name", "CheckDuplicate", "Driver", "Scope", "EnableIPv4",
                                             "EnableIPv6", "IPAM", "Internal", "Attachable", "Ingress",
                                             "ConfigOnly", "ConfigFrom", "Options", "Labels", NULL };
        if (check_known(body, "network", known, err) < 0)
                return -1;
        const char *driver, *scope;
        if (string_field(body, "Driver", &driver, err) < 0 || string_field(body, "Scope", &scope, err) < 0)
                return -1;
        if (*driver && strcmp(driver, "bridge") != 0)
                return DENY(err, "network driver '%s' is not allowed (only bridge)", driver);
        if (*scope && strcmp(scope, "local") != 0)
                return DENY(err, "network scope '%s' is not allowed", scope);
        if (!unset(field(body, "Options")))
                return DENY(err, "network driver options (-o) are not allowed");
        if (!unset(field(body, "Ingress")))
                return DENY(err, "ingress networks are not allowed");
        if (!unset(field(body, "ConfigFrom")))
                return DENY(err, "--config-from is not allowed");
        json_t *ipam = field(body, "IPAM");
        if (ipam && !json_is_null(ipam)) {
                static const char *const ipam_known[] = { "Driver", "Options", "Config", NULL };
                if (!json_is_object(ipam) || check_known(ipam, "IPAM", ipam_known, err) < 0)
                        return DENY(err, "bad IPAM");
                const char *ipam_driver;
                if (string_field(ipam, "Driver", &ipam_driver, err) < 0)
                        return -1;
                if (*ipam_driver && strcmp(ipam_driver, "default") != 0)
                        return DENY(err, "IPAM driver '%s' is not allowed", ipam_driver);
                if (!unset(field(ipam, "Options")))
                        return DENY(err, "IPAM options are not allowed");
        }
        return 0;
}

static int check_volume_create(json_t *body, struct sw_error *err)
{
        static const char *const known[] = { "Name", "Driver", "DriverOpts", "Labels", "ClusterVolumeSpec", NULL };
        if (check_known(body, "volume", known, err) < 0)
                return -1;
        const char *driver;
        if (string_field(body, "Driver", &driver, err) < 0)
                return -1;
        if (*driver && strcmp(driver, "local") != 0)
                return DENY(err, "volume driver '%s' is not allowed (only local)", driver);
        if (!unset(field(body, "DriverOpts")))
                return DENY(err, "volume driver options are not allowed (type=none,o=bind is a bind mount of "
                                 "anything)");
        if (!unset(field(body, "ClusterVolumeSpec")))
                return DENY(err, "cluster volumes are not allowed");
        return 0;
}

static json_t *parse_body(const char *body, size_t len, struct sw_error *err)
{
        if (len > HTTP_JSON_BODY_MAX) {
                sw_error_set(err, 413, "request body larger than %d bytes", HTTP_JSON_BODY_MAX);
                return NULL;
        }
        /* An empty body is an empty config: dockerd applies its defaults, and so does the
         * policy (authorization plugins that skipped empty bodies were bypassed: CVE-2024-41110). */
        size_t i = 0;
        while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
                i++;
        if (i == len)
                return json_object();
        json_error_t jerr;
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!root) {
                sw_error_set(err, 400, "request body is not JSON the policy can read: %s", jerr.text);
                return NULL;
        }
        if (json_is_null(root)) {
                json_decref(root);
                return json_object();
        }
        return root;
}

int docker_policy_check_body(const struct docker_policy *policy, const struct docker_policy_route *route,
                             const char *body, size_t len, struct sw_error *err)
{
        json_t *root = parse_body(body, len, err);
        if (!root)
                return -1;
        int r = check_keys(root, 0, err);
        if (r == 0 && route->kind != DOCKER_POLICY_PLAIN && route->kind != DOCKER_POLICY_HIJACK &&
            !json_is_object(root))
                r = DENY(err, "request body must be a JSON object");
        if (r == 0) {
                switch (route->kind) {
                case DOCKER_POLICY_CONTAINER_CREATE:
                        r = check_container_create(policy, root, err);
                        break;
                case DOCKER_POLICY_CONTAINER_UPDATE:
                        r = check_container_update(root, err);
                        break;
                case DOCKER_POLICY_EXEC_CREATE:
                        r = check_exec_create(root, err);
                        break;
                case DOCKER_POLICY_NETWORK_CREATE:
                        r = check_network_create(root, err);
                        break;
                case DOCKER_POLICY_VOLUME_CREATE:
                        r = check_volume_create(root, err);
                        break;
                case DOCKER_POLICY_NETWORK_CONNECT:
                        r = check_endpoint(field(root, "EndpointConfig"), err);
                        break;
                case DOCKER_POLICY_PLAIN:
                case DOCKER_POLICY_HIJACK:
                case DOCKER_POLICY_CONTAINER_START:
                        break;
                }
        }
        json_decref(root);
        return r < 0 ? -1 : 0;
}

int docker_policy_check_inspect(const struct docker_policy *policy, const char *inspect, size_t len,
                                struct sw_error *err)
{
        json_error_t jerr;
        json_t *root = json_loadb(inspect, len, 0, &jerr);
        if (!root)
                return sw_error_set(err, 502, "dockerd's inspect answer is not JSON: %s", jerr.text);
        json_t *host = json_object_get(root, "HostConfig");
        int r = 0;
        if (!json_is_object(host))
                r = sw_error_set(err, 502, "dockerd's inspect answer has no HostConfig");
        if (r == 0)
                r = check_binds(policy, json_object_get(host, "Binds"), err);
        if (r == 0) {
                /* Only the bind entries: dockerd reports volume mounts with their own fields. */
                json_t *mounts = json_object_get(host, "Mounts");
                size_t i;
                json_t *m;
                json_array_foreach(mounts, i, m) {
                        json_t *type = json_object_get(m, "Type"), *source = json_object_get(m, "Source");
                        if (json_is_string(type) && strcmp(json_string_value(type), "bind") == 0 &&
                            (r = check_bind_source(policy, json_is_string(source) ? json_string_value(source) : "",
                                                   err)) < 0)
                                break;
                }
        }
        if (r == 0) {
                /* The mount points dockerd will really mount, those inherited through
                 * VolumesFrom included (they are in no HostConfig of this container). */
                json_t *points = json_object_get(root, "Mounts");
                size_t i;
                json_t *m;
                json_array_foreach(points, i, m) {
                        json_t *type = json_object_get(m, "Type"), *source = json_object_get(m, "Source");
                        if (!json_is_string(type) || strcmp(json_string_value(type), "bind") != 0)
                                continue;
                        if ((r = check_bind_source(policy, json_is_string(source) ? json_string_value(source) : "",
                                                   err)) < 0)
                                break;
                }
        }
        json_decref(root);
        return r < 0 ? -1 : 0;
}
