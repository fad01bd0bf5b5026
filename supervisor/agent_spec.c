/* The container create request of an agent: see include/slipway/agent_spec.h. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "slipway/agent.h"
#include "slipway/agent_disk.h"
#include "slipway/agent_spec.h"
#include "slipway/build_gate.h"
#include "slipway/cleanup.h"
#include "slipway/seed.h"
#include "slipway/userns.h"

bool agent_spec_name_valid(const char *name, struct sw_error *err)
{
        size_t len = strlen(name);
        bool ok = len > 0 && len <= 63;
        for (size_t i = 0; ok && i < len; i++) {
                char c = name[i];
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                ok = alnum || (i > 0 && (c == '_' || c == '.' || c == '-'));
        }
        if (!ok)
                sw_error_set(err, EINVAL,
                             "invalid agent name \"%.64s\": use 1-63 of [a-zA-Z0-9_.-], starting "
                             "with a letter or digit", name);
        return ok;
}

bool agent_spec_dockerd_arg_valid(const char *arg, struct sw_error *err)
{
        bool ok = arg[0] != '\0';
        for (const char *p = arg; ok && *p; p++)
                ok = (unsigned char) *p > 0x20 && *p != 0x7f;
        if (!ok)
                sw_error_set(err, EINVAL, "invalid dockerd argument \"%.64s\": empty or with "
                             "whitespace (give each word as its own --dockerd-arg)", arg);
        return ok;
}

bool agent_spec_label_valid(const char *label, struct sw_error *err)
{
        const char *eq = strchr(label, '=');
        if (!eq || eq == label) {
                sw_error_set(err, EINVAL, "invalid label \"%.64s\": expected key=value", label);
                return false;
        }
        if (strncmp(label, AGENT_LABEL_PREFIX, strlen(AGENT_LABEL_PREFIX)) == 0) {
                sw_error_set(err, EINVAL, "invalid label \"%.64s\": the %s namespace is slipway's own",
                             label, AGENT_LABEL_PREFIX);
                return false;
        }
        for (const char *p = label; *p; p++) {
                if ((unsigned char) *p < 0x20) {
                        sw_error_set(err, EINVAL, "invalid label: control character");
                        return false;
                }
        }
        return true;
}

/* Add NAME=value to the container's Env list. */
static int append_env(json_t *body, const char *entry)
{
        json_t *list = json_object_get(body, "Env");
        if (!list) {
                list = json_array();
                if (!list || json_object_set_new(body, "Env", list) < 0)
                        return -ENOMEM;
        }
        return json_array_append_new(list, json_string(entry)) < 0 ? -ENOMEM : 0;
}

static json_t *string_array(const char *const *items)
{
        json_t *array = json_array();
        for (size_t i = 0; array && items && items[i]; i++)
                if (json_array_append_new(array, json_string(items[i])) < 0) {
                        json_decref(array);
                        return NULL;
                }
        return array;
}

static json_t *agent_labels(const struct agent_spec *spec, struct sw_error *err)
{
        _cleanup_json_ json_t *labels = json_pack("{s:s, s:s}",
                                                  spec->cache_builder ? AGENT_LABEL_CACHE_BUILD : AGENT_LABEL_ID,
                                                  spec->id, AGENT_LABEL_STATE_DIR, spec->state_dir);
        if (!labels)
                return NULL;
        if (spec->generation &&
            json_object_set_new(labels, AGENT_LABEL_GENERATION, json_string(spec->generation)) < 0)
                return NULL;
        if (spec->node_name &&
            json_object_set_new(labels, AGENT_LABEL_NODE, json_string(spec->node_name)) < 0)
                return NULL;
        if (spec->template_name &&
            json_object_set_new(labels, AGENT_LABEL_TEMPLATE, json_string(spec->template_name)) < 0)
                return NULL;
        for (size_t i = 0; spec->labels && spec->labels[i]; i++) {
                const char *label = spec->labels[i];
                if (!agent_spec_label_valid(label, err))
                        return NULL;
                const char *eq = strchr(label, '=');
                _cleanup_free_ char *key = strndup(label, (size_t) (eq - label));
                if (!key || json_object_set_new(labels, key, json_string(eq + 1)) < 0)
                        return NULL;
        }
        return TAKE_PTR(labels);
}

static int bind_append(json_t *binds, const char *host, const char *container)
{
        _cleanup_free_ char *bind = NULL;
        if (asprintf(&bind, "%s:%s", host, container) < 0)
                return -ENOMEM;
        return json_array_append_new(binds, json_string(bind)) < 0 ? -ENOMEM : 0;
}

/* Everything a build can fill goes into the agent's disk, so the limit covers it: the home
 * (workspace, tool caches), /tmp, and a workspace elsewhere. What stays on the container's
 * writable layer is the image's own files, writable by root only. */
static int agent_disk_binds(const struct agent_spec *spec, json_t *binds)
{
        _cleanup_free_ char *home = NULL, *tmp = NULL, *workspace = NULL;
        if (asprintf(&home, "%s/home", spec->disk_root) < 0 ||
            asprintf(&tmp, "%s/tmp", spec->disk_root) < 0 ||
            asprintf(&workspace, "%s/workspace", spec->disk_root) < 0)
                return -ENOMEM;
        const char *inside = spec->workspace ? spec->workspace : AGENT_DEFAULT_WORKSPACE;
        size_t home_len = strlen(AGENT_DISK_HOME_IN_CONTAINER);
        bool in_home = strncmp(inside, AGENT_DISK_HOME_IN_CONTAINER, home_len) == 0 &&
                       (inside[home_len] == '/' || inside[home_len] == '\0');
        int r = bind_append(binds, home, AGENT_DISK_HOME_IN_CONTAINER);
        if (r >= 0)
                r = bind_append(binds, tmp, "/tmp");
        if (r >= 0 && !in_home)
                r = bind_append(binds, workspace, inside);
        return r;
}

json_t *agent_spec_container_body(const struct agent_spec *spec, struct sw_error *err)
{
        sw_error_clear(err);
        _cleanup_json_ json_t *labels = agent_labels(spec, err);
        if (!labels) {
                if (err && !err->code)
                        sw_error_set(err, ENOMEM, "build container request");
                return NULL;
        }
        _cleanup_free_ char *bind = NULL;
        if (asprintf(&bind, "%s:%s", spec->data_root, AGENT_DATA_ROOT_IN_CONTAINER) < 0) {
                sw_error_set(err, ENOMEM, "build container request");
                return NULL;
        }
        char host_port[16] = "";
        if (spec->host_port > 0)
                snprintf(host_port, sizeof(host_port), "%d", spec->host_port);
        _cleanup_free_ char *hostname = NULL;
        if (asprintf(&hostname, "slipway-%s", spec->id) < 0) {
                sw_error_set(err, ENOMEM, "build container request");
                return NULL;
        }

        /* Why each host setting:
         * - CapAdd ALL + CapDrop what the host bounding set lacks: --privileged fails on hosts
         *   whose bounding set is reduced, and nested dockerd needs nearly every capability.
         * - seccomp/apparmor unconfined, no masked or read-only /proc paths (the API form of
         *   the CLI's systempaths=unconfined): dockerd mounts, unshares and writes sysctls.
         * - a private cgroup namespace: the init mounts fresh cgroup hierarchies, which then
         *   show this agent's own subtree, not the host's.
         * - the data root is a host directory: overlay2 cannot stack on the container's own
         *   overlay root. */
        json_t *body = json_pack(
                "{s:s, s:s, s:O, s:{s:{}}, s:i, s:s,"
                " s:{s:[s], s:{s:[{s:s, s:s}]}, s:[s], s:o, s:[s, s], s:[], s:[], s:s,"
                "    s:{s:s}, s:b}}",
                "Image", spec->image,
                "Hostname", hostname,
                "Labels", labels,
                "ExposedPorts", "22/tcp",
                "StopTimeout", AGENT_STOP_TIMEOUT,
                "StopSignal", "SIGTERM",
                "HostConfig",
                "Binds", bind,
                "PortBindings", "22/tcp", "HostIp", spec->bind_address, "HostPort", host_port,
                "CapAdd", "ALL",
                "CapDrop", string_array(spec->cap_drop),
                "SecurityOpt", "seccomp=unconfined", "apparmor=unconfined",
                "MaskedPaths",
                "ReadonlyPaths",
                "CgroupnsMode", "private",
                "RestartPolicy", "Name", "no",
                "Init", 0);
        if (!body) {
                sw_error_set(err, ENOMEM, "build container request");
                return NULL;
        }
        json_t *host = json_object_get(body, "HostConfig");
        json_t *binds = json_object_get(host, "Binds");
        if (spec->generation_root) {
                /* Read-only: no build can change a generation other agents and later images
                 * depend on. */
                _cleanup_free_ char *seed = NULL;
                if (asprintf(&seed, "%s:%s:ro", spec->generation_root, SEED_MOUNT) < 0 ||
                    json_array_append_new(binds, json_string(seed)) < 0)
                        goto oom;
        }
        if (spec->network && json_object_set_new(host, "NetworkMode", json_string(spec->network)) < 0)
                goto oom;
        /* Limits: a build is untrusted and must not starve its neighbours. */
        if ((spec->nano_cpus > 0 && json_object_set_new(host, "NanoCpus", json_integer(spec->nano_cpus)) < 0) ||
            (spec->memory_bytes > 0 && json_object_set_new(host, "Memory", json_integer(spec->memory_bytes)) < 0) ||
            (spec->pids_limit > 0 && json_object_set_new(host, "PidsLimit", json_integer(spec->pids_limit)) < 0))
                goto oom;
        if (spec->disk_root && agent_disk_binds(spec, binds) < 0)
                goto oom;
        for (size_t i = 0; spec->extra_binds && spec->extra_binds[i]; i++)
                if (json_array_append_new(binds, json_string(spec->extra_binds[i])) < 0)
                        goto oom;
        if (spec->command && json_object_set_new(body, "Cmd", string_array(spec->command)) < 0)
                goto oom;
        if (spec->gate_dir) {
                _cleanup_free_ char *gate = NULL, *env = NULL;
                if (asprintf(&gate, "%s:%s", spec->gate_dir, BUILD_GATE_IN_CONTAINER) < 0 ||
                    asprintf(&env, BUILD_GATE_ENV "=%s",
                             spec->workspace ? spec->workspace : AGENT_DEFAULT_WORKSPACE) < 0 ||
                    json_array_append_new(binds, json_string(gate)) < 0 || append_env(body, env) < 0)
                        goto oom;
        }
        if (spec->dockerd_args && spec->dockerd_args[0]) {
                /* Not secret (the SSH launcher logs the agent's environment). */
                size_t len = strlen("SLIPWAY_DOCKERD_ARGS=") + 1;
                for (size_t i = 0; spec->dockerd_args[i]; i++) {
                        if (!agent_spec_dockerd_arg_valid(spec->dockerd_args[i], err)) {
                                json_decref(body);
                                return NULL;
                        }
                        len += strlen(spec->dockerd_args[i]) + 1;
                }
                _cleanup_free_ char *env = malloc(len);
                if (!env)
                        goto oom;
                strcpy(env, "SLIPWAY_DOCKERD_ARGS=");
                for (size_t i = 0; spec->dockerd_args[i]; i++) {
                        strcat(env, i ? " " : "");
                        strcat(env, spec->dockerd_args[i]);
                }
                if (append_env(body, env) < 0)
                        goto oom;
        }
        /* Read by slipway-init (userns.h): the host ids of the agent's user namespace. */
        char range[32], userns[64];
        snprintf(range, sizeof(range), "%u:%u", spec->userns_base, spec->userns_size);
        snprintf(userns, sizeof(userns), USERNS_ENV "=%s", spec->userns_size ? range : USERNS_ENV_OFF);
        if (append_env(body, userns) < 0)
                goto oom;
        if (spec->userns_size &&
            json_object_set_new(json_object_get(body, "Labels"), AGENT_LABEL_USERNS, json_string(range)) < 0)
                goto oom;
        if (spec->cache_builder) {
                json_object_del(body, "ExposedPorts");
                json_object_del(host, "PortBindings");
        }
        return body;
oom:
        json_decref(body);
        sw_error_set(err, ENOMEM, "build container request");
        return NULL;
}
