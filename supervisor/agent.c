/* Agent lifecycle for manual agents: see include/slipway/agent.h.
 *
 * agent_run takes these steps, undoing all of them if any fails (no half-made agents):
 *   directory and data root -> data root seeded from a cache generation (unless cold) ->
 *   SSH keys -> container create -> keys uploaded -> start -> wait for the init's ready
 *   file -> known_hosts written. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "slipway/agent.h"
#include "slipway/agent_disk.h"
#include "slipway/agent_spec.h"
#include "slipway/build_gate.h"
#include "slipway/ssh_probe.h"
#include "slipway/cache.h"
#include "slipway/caps.h"
#include "slipway/cleanup.h"
#include "slipway/egress.h"
#include "slipway/fsutil.h"
#include "slipway/sshkey.h"
#include "slipway/tar.h"

#define READY_FILE "/run/slipway/ready"
#define READY_POLL_NS (50 * 1000 * 1000)

void agent_free(struct agent *agent)
{
        if (!agent)
                return;
        free(agent->container_id);
        free(agent->name);
        free(agent->dir);
        free(agent->bind_address);
        free(agent->host_public_key);
        free(agent->client_key);
        free(agent->known_hosts);
        free(agent->generation);
        tar_writer_release(&agent->keys);
        free(agent);
}

static void agent_freep(struct agent **agent)
{
        agent_free(*agent);
}

static double now_seconds(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static char *path_join(const char *dir, const char *name)
{
        char *path;
        return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

/* Give back the user namespace range of the agent whose directory was dir:
 * <state>/agents/<id> holds it in <state>. */
static int agent_release_userns(const char *dir)
{
        _cleanup_free_ char *state = strdup(dir);
        if (!state)
                return -ENOMEM;
        char *id = strrchr(state, '/');
        if (!id)
                return 0;
        *id++ = '\0';
        char *agents = strrchr(state, '/');
        if (!agents || strcmp(agents, "/agents") != 0)
                return 0; /* not an agent directory of a state dir: nothing was claimed for it */
        *agents = '\0';
        return userns_release(state[0] ? state : "/", id);
}

/* Remove whatever part of an agent exists. Used for rollback and for rm. */
int agent_destroy(struct docker_client *docker, const char *container_id, const char *dir,
                  struct sw_error *err)
{
        if (container_id) {
                struct sw_error ignored;
                /* A clean stop lets the inner dockerd unmount its layers; remove forces anyway. */
                (void) docker_container_stop(docker, container_id, AGENT_STOP_TIMEOUT, &ignored);
                int r = docker_container_remove(docker, container_id, true, true, err);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        if (dir) {
                /* The disk first: the tree's removal never descends into a mount. */
                int r = agent_disk_release(dir, err);
                if (r < 0)
                        return r;
                r = fs_remove_tree(dir);
                if (r < 0)
                        return sw_error_errno(err, -r, "remove agent directory %s", dir);
                r = agent_release_userns(dir);
                if (r < 0)
                        return sw_error_errno(err, -r, "release the user namespace range of %s", dir);
        }
        return 0;
}

char *agent_data_root_path(const char *dir)
{
        return path_join(dir, agent_disk_exists(dir) ? AGENT_DISK_MOUNT "/data-root" : "data-root");
}

/* A directory below the agent's, host root's alone (mode 0700 keeps every id of the agent's
 * user namespace out: the gate, its keys). */
static int agent_mkdir(const struct agent *agent, const char *name, struct sw_error *err)
{
        _cleanup_free_ char *path = path_join(agent->dir, name);
        if (!path)
                return sw_error_set(err, ENOMEM, "agent directory");
        if (mkdir(path, 0700) < 0)
                return sw_error_errno(err, errno, "create %s", path);
        return 0;
}

static int agent_prepare_dir(struct agent *agent, const char *state_dir, long long disk_limit_bytes,
                             struct sw_error *err)
{
        _cleanup_free_ char *agents = path_join(state_dir, "agents");
        _cleanup_free_ char *dir = NULL;
        if (!agents || asprintf(&dir, "%s/%s", agents, agent->id) < 0)
                return sw_error_set(err, ENOMEM, "agent directory");
        int r = fs_mkdir_p(agents, 0700);
        if (r < 0)
                return sw_error_errno(err, -r, "create state directory %s", agents);
        if (mkdir(dir, 0700) < 0)
                return sw_error_errno(err, errno, "create agent directory %s", dir);
        /* Recorded only once created: a rollback must never remove what it did not make. */
        agent->dir = TAKE_PTR(dir);
        if ((r = agent_mkdir(agent, "ssh", err)) < 0)
                return r;
        /* The disk's mount point; the disk itself is made by agent_launch. Its own ext4 holds
         * the data root, so the state directory's file system does not matter. */
        if (disk_limit_bytes > 0)
                return agent_mkdir(agent, AGENT_DISK_MOUNT, err);
        _cleanup_free_ char *data_root = path_join(agent->dir, "data-root");
        if (!data_root)
                return sw_error_set(err, ENOMEM, "agent directory");
        if (mkdir(data_root, 0710) < 0)
                return sw_error_errno(err, errno, "create data root %s", data_root);
        bool overlay;
        r = fs_is_overlay(data_root, &overlay);
        if (r < 0)
                return sw_error_errno(err, -r, "data root %s", data_root);
        if (overlay)
                return sw_error_set(err, EINVAL,
                                    "data root %s is on overlayfs, where the agent's overlay2 "
                                    "driver cannot work: put the state directory (--state-dir) "
                                    "on another file system", data_root);
        return 0;
}

/* Which generation this agent starts from; *generation stays NULL for a cold agent. */
static int agent_resolve_generation(const struct agent_options *options, const char *state_dir,
                                    int *cache_lock_fd, char **generation, char **generation_root,
                                    struct sw_error *err)
{
        if (options->generation && strcmp(options->generation, "none") == 0)
                return 0;
        /* Shared, so `cache gc` cannot remove the generation before the container's label pins
         * it: the caller holds *cache_lock_fd until the container exists or the start failed. */
        int lock = cache_lock(state_dir, false, cache_lock_fd, err);
        if (lock < 0)
                return lock;
        if (options->generation) {
                int r = cache_generation_root(state_dir, options->generation, generation_root, err);
                if (r < 0)
                        return r;
                *generation = strdup(options->generation);
                return *generation ? 0 : sw_error_set(err, ENOMEM, "agent");
        }
        int r = cache_current(state_dir, generation, generation_root, err);
        if (r == -ENOENT) {
                sw_error_clear(err);
                return 0; /* no cache yet: a cold agent */
        }
        return r;
}

static int agent_seed(struct agent *agent, const char *generation_root,
                      enum seed_strategy strategy, struct sw_error *err)
{
        _cleanup_free_ char *data_root = agent_data_root_path(agent->dir);
        if (!data_root)
                return sw_error_set(err, ENOMEM, "seed");
        double started = now_seconds();
        struct seed_stats stats;
        int r = seed_data_root(generation_root, data_root, SEED_MOUNT, strategy, agent->userns.base, &stats, err);
        agent->seed_seconds = now_seconds() - started;
        if (r == -ENOSPC && agent_disk_exists(agent->dir))
                return sw_error_prefix(err, "the cache generation does not fit in the agent's disk "
                                       "limit (raise disk-limit, or seed with layer-link, which "
                                       "copies only metadata)");
        return r;
}

static int agent_prepare_disk(struct agent *agent, long long bytes, struct sw_error *err)
{
        double started = now_seconds();
        int r = agent_disk_create(agent->dir, bytes, err);
        agent->disk_seconds = now_seconds() - started;
        return r;
}

/* Generate the agent's host key (and a client key unless one was given) and return the tar
 * that hands them to the container. The private host key leaves the host disk right after. */
static int agent_prepare_keys(struct agent *agent, const struct agent_options *options,
                              struct tar_writer *tar, struct sw_error *err)
{
        _cleanup_free_ char *authorized = NULL;
        if (options->authorized_keys) {
                if (!sshkey_public_valid(options->authorized_keys, err))
                        return -1;
                authorized = strdup(options->authorized_keys);
                if (!authorized)
                        return sw_error_set(err, ENOMEM, "authorized keys");
        } else if (options->pubkey_file) {
                int r = sshkey_read_public(options->pubkey_file, &authorized, err);
                if (r < 0)
                        return r;
        } else {
                agent->client_key = NULL;
                if (asprintf(&agent->client_key, "%s/ssh/id_ed25519", agent->dir) < 0)
                        return sw_error_set(err, ENOMEM, "client key");
                char comment[64];
                snprintf(comment, sizeof(comment), "slipway-client-%s", agent->id);
                int r = sshkey_generate(agent->client_key, comment, err);
                if (r < 0)
                        return r;
                _cleanup_free_ char *pub = NULL;
                if (asprintf(&pub, "%s.pub", agent->client_key) < 0)
                        return sw_error_set(err, ENOMEM, "client key");
                r = sshkey_read_public(pub, &authorized, err);
                if (r < 0)
                        return r;
        }

        _cleanup_free_ char *host_key = NULL, *host_pub = NULL;
        if (asprintf(&host_key, "%s/ssh/host_ed25519_key", agent->dir) < 0 ||
            asprintf(&host_pub, "%s.pub", host_key) < 0)
                return sw_error_set(err, ENOMEM, "host key");
        char comment[64];
        snprintf(comment, sizeof(comment), "slipway-agent-%s", agent->id);
        int r = sshkey_generate(host_key, comment, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *private_key = NULL;
        size_t private_len = 0;
        r = fs_read_bounded(host_key, 16384, &private_key, &private_len);
        unlink(host_key);
        if (r < 0)
                return sw_error_errno(err, -r, "read %s", host_key);
        r = sshkey_read_public(host_pub, &agent->host_public_key, err);
        if (r < 0) {
                explicit_bzero(private_key, private_len);
                return r;
        }
        agent->host_public_key[strcspn(agent->host_public_key, "\n")] = '\0';

        size_t pub_len = strlen(agent->host_public_key);
        r = tar_add_directory(tar, "etc/ssh", 0755, 0, 0);
        if (r >= 0)
                r = tar_add_file(tar, "etc/ssh/ssh_host_ed25519_key", 0600, 0, 0, private_key,
                                 private_len);
        explicit_bzero(private_key, private_len);
        if (r >= 0) {
                _cleanup_free_ char *line = NULL;
                if (asprintf(&line, "%s\n", agent->host_public_key) < 0)
                        return sw_error_set(err, ENOMEM, "host key");
                r = tar_add_file(tar, "etc/ssh/ssh_host_ed25519_key.pub", 0644, 0, 0, line, pub_len + 1);
        }
        if (r >= 0)
                r = tar_add_directory(tar, "run", 0755, 0, 0);
        if (r >= 0)
                r = tar_add_directory(tar, "run/slipway", 0755, 0, 0);
        if (r >= 0)
                r = tar_add_file(tar, "run/slipway/authorized_keys", 0644, 0, 0, authorized,
                                 strlen(authorized));
        if (r >= 0)
                r = tar_finish(tar);
        if (r < 0)
                return sw_error_errno(err, -r, "build key archive");
        return 0;
}

/* The last non-empty line of the container's log: the init's own reason when it gave up. */
static void agent_last_log_line(struct docker_client *docker, const char *container_id, char *out,
                                size_t size);

/* An agent whose container stopped while starting: say why, from its own last words. */
static int agent_check_running(struct docker_client *docker, const char *what,
                               const char *container_id, json_t *info, struct sw_error *err)
{
        json_t *state = json_object_get(info, "State");
        if (json_is_true(json_object_get(state, "Running")))
                return 0;
        char line[512];
        agent_last_log_line(docker, container_id, line, sizeof(line));
        return sw_error_set(err, EIO, "%s exited during start-up (exit code %lld)%s%s", what,
                            (long long) json_integer_value(json_object_get(state, "ExitCode")),
                            line[0] ? ": " : "", line);
}

static int agent_read_port(struct docker_client *docker, struct agent *agent, struct sw_error *err)
{
        _cleanup_json_ json_t *info = NULL;
        int r = docker_container_inspect(docker, agent->container_id, &info, err);
        if (r < 0)
                return r;
        char what[64];
        snprintf(what, sizeof(what), "agent %s", agent->id);
        r = agent_check_running(docker, what, agent->container_id, info, err);
        if (r < 0)
                return r;
        json_t *bindings = json_object_get(json_object_get(json_object_get(info, "NetworkSettings"),
                                                           "Ports"), "22/tcp");
        const char *port = json_string_value(json_object_get(json_array_get(bindings, 0), "HostPort"));
        char *end = NULL;
        long value = port ? strtol(port, &end, 10) : 0;
        if (!port || *end || value <= 0 || value > 65535)
                return sw_error_set(err, EPROTO, "container %s: no published SSH port in inspect data",
                                    agent->container_id);
        agent->ssh_port = (int) value;
        return 0;
}

/* Right after the start, before the agent is ready: no build can connect before the rules. */
static int agent_apply_egress(struct docker_client *docker, struct agent *agent,
                              const char *allow, struct sw_error *err)
{
        _cleanup_json_ json_t *info = NULL;
        int r = docker_container_inspect(docker, agent->container_id, &info, err);
        if (r < 0)
                return r;
        json_int_t pid = json_integer_value(json_object_get(json_object_get(info, "State"), "Pid"));
        if (pid <= 0)
                return sw_error_set(err, EIO, "agent %s: not running, no egress rules set", agent->id);
        return egress_apply((pid_t) pid, allow, err);
}

static void agent_last_log_line(struct docker_client *docker, const char *container_id, char *out,
                                size_t size)
{
        struct sw_error ignored;
        _cleanup_free_ char *logs = NULL;
        out[0] = '\0';
        if (docker_container_logs(docker, container_id, 20, &logs, &ignored) < 0 || !logs)
                return;
        char *end = logs + strlen(logs);
        while (end > logs && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
                *--end = '\0';
        char *line = strrchr(logs, '\n');
        line = line ? line + 1 : logs;
        /* The init's reason comes before its "stopped (exit 1)": the last fatal line wins. */
        for (char *fatal = strstr(logs, "slipway-init: fatal: "); fatal;
             fatal = strstr(fatal + 1, "slipway-init: fatal: "))
                line = fatal;
        snprintf(out, size, "%.*s", (int) strcspn(line, "\n"), line);
}

bool agent_stop_requested(void)
{
        sigset_t pending;
        return sigpending(&pending) == 0 &&
               (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1 ||
                sigismember(&pending, SIGHUP) == 1);
}

int agent_wait_ready(struct docker_client *docker, const char *what, const char *container_id,
                     int timeout_s, struct sw_error *err)
{
        double deadline = now_seconds() + timeout_s;
        for (;;) {
                int r = docker_archive_stat(docker, container_id, READY_FILE, err);
                if (r == 0)
                        return 0;
                if (r != -ENOENT)
                        return r;
                _cleanup_json_ json_t *info = NULL;
                r = docker_container_inspect(docker, container_id, &info, err);
                if (r < 0)
                        return r;
                r = agent_check_running(docker, what, container_id, info, err);
                if (r < 0)
                        return r;
                if (agent_stop_requested())
                        return sw_error_set(err, ECANCELED, "%s: start interrupted", what);
                if (now_seconds() > deadline)
                        return sw_error_set(err, ETIMEDOUT, "%s not ready after %d s", what, timeout_s);
                struct timespec pause = { 0, READY_POLL_NS };
                nanosleep(&pause, NULL);
        }
}

/* Ready inside the container; is it where its client will connect? */
static int agent_probe_reachable(const struct agent *agent, const struct agent_options *options,
                                 struct sw_error *err)
{
        const char *host = options->probe_host ? options->probe_host : agent->bind_address;
        int r = ssh_banner_probe(host, agent->ssh_port, AGENT_SSH_PROBE_MS, err);
        if (r < 0 && err) {
                char reason[SW_ERROR_MAX];
                memcpy(reason, err->message, sizeof(reason));
                sw_error_set(err, err->code, "agent %s is ready but unreachable: %s", agent->id, reason);
        }
        return r;
}

static int agent_write_known_hosts(struct agent *agent, struct sw_error *err)
{
        agent->known_hosts = path_join(agent->dir, "ssh/known_hosts");
        _cleanup_free_ char *line = NULL;
        /* OpenSSH writes non-default ports as "[host]:port". */
        if (!agent->known_hosts ||
            asprintf(&line, "[%s]:%d %s\n", agent->bind_address, agent->ssh_port,
                     agent->host_public_key) < 0)
                return sw_error_set(err, ENOMEM, "known_hosts");
        int r = fs_write_atomic(agent->known_hosts, line, strlen(line), 0644);
        if (r < 0)
                return sw_error_errno(err, -r, "write %s", agent->known_hosts);
        return 0;
}

int agent_cap_drop(struct docker_client *docker, char ***out, struct sw_error *err)
{
        int known_max = docker_api_at_least(docker, 1, 42) ? 63 : CAPS_LAST_KNOWN_BY_OLD_DOCKER;
        return caps_agent_drop(known_max, out, err);
}

static int agent_create_container(struct docker_client *docker, struct agent *agent,
                                  const struct agent_options *options, const char *state_dir,
                                  const char *generation_root, struct sw_error *err)
{
        _cleanup_strv_ char **cap_drop = NULL;
        int r = agent_cap_drop(docker, &cap_drop, err);
        if (r < 0)
                return r;
        r = docker_network_ensure_isolated(docker, AGENT_NETWORK, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *data_root = agent_data_root_path(agent->dir);
        _cleanup_free_ char *disk_root = options->disk_limit_bytes > 0
                                                 ? path_join(agent->dir, AGENT_DISK_MOUNT) : NULL;
        _cleanup_free_ char *gate_dir = options->build_gate ? path_join(agent->dir, BUILD_GATE_DIR_NAME) : NULL;
        if (!data_root || (options->disk_limit_bytes > 0 && !disk_root) || (options->build_gate && !gate_dir))
                return sw_error_set(err, ENOMEM, "data root");
        struct agent_spec spec = {
                .id = agent->id,
                .image = options->image ? options->image : AGENT_DEFAULT_IMAGE,
                .state_dir = state_dir,
                .data_root = data_root,
                .bind_address = agent->bind_address,
                .labels = options->labels,
                .cap_drop = (const char *const *) cap_drop,
                .dockerd_args = options->dockerd_args,
                .userns_base = agent->userns.base,
                .userns_size = agent->userns.size,
                .generation = agent->generation,
                .node_name = options->node_name,
                .template_name = options->template_name,
                .host_port = options->ssh_port,
                .network = AGENT_NETWORK,
                .nano_cpus = options->nano_cpus,
                .memory_bytes = options->memory_bytes,
                .pids_limit = options->pids_limit,
                .disk_root = disk_root,
                .workspace = options->workspace,
                .gate_dir = gate_dir,
                /* Only layer-link reads the generation at run time: the others copied it. */
                .generation_root = options->seed_strategy == SEED_LAYER_LINK ? generation_root : NULL,
        };
        _cleanup_json_ json_t *body = agent_spec_container_body(&spec, err);
        if (!body)
                return -1;
        return docker_container_create(docker, agent->name, body, &agent->container_id, err);
}

static int agent_check_options(struct docker_client *docker, const struct agent_options *options,
                               struct sw_error *err)
{
        if (options->name && !agent_spec_name_valid(options->name, err))
                return -1;
        for (size_t i = 0; options->labels && options->labels[i]; i++)
                if (!agent_spec_label_valid(options->labels[i], err))
                        return -1;
        for (size_t i = 0; options->dockerd_args && options->dockerd_args[i]; i++)
                if (!agent_spec_dockerd_arg_valid(options->dockerd_args[i], err))
                        return -1;
        if (options->disk_limit_bytes > 0) {
                const char *conflict = agent_disk_strategy_conflict(options->seed_strategy);
                if (conflict)
                        return sw_error_set(err, EINVAL, "%s", conflict);
                const char *workspace = options->workspace ? options->workspace : AGENT_DEFAULT_WORKSPACE;
                if (workspace[0] != '/' || strcmp(workspace, "/") == 0 || strpbrk(workspace, ":,") ||
                    strstr(workspace, "/.."))
                        return sw_error_set(err, EINVAL, "workspace \"%s\" cannot be bound from "
                                            "the agent's disk: give an absolute path below /",
                                            workspace);
        }
        if (options->pubkey_file) {
                _cleanup_free_ char *text = NULL;
                int r = sshkey_read_public(options->pubkey_file, &text, err);
                if (r < 0)
                        return r;
        }
        const char *image = options->image ? options->image : AGENT_DEFAULT_IMAGE;
        _cleanup_json_ json_t *info = NULL;
        int r = docker_image_inspect(docker, image, &info, err);
        if (r == -ENOENT)
                return sw_error_set(err, ENOENT, "agent image %s not found on %s: build it with "
                                    "'make image' (or pass --image)", image, docker_host(docker));
        return r;
}

int agent_pick_port(const char *address, int *port, struct sw_error *err)
{
        struct sockaddr_storage storage = { 0 };
        socklen_t len;
        struct sockaddr_in *in4 = (struct sockaddr_in *) &storage;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &storage;
        if (inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                len = sizeof(*in4);
        } else if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                len = sizeof(*in6);
        } else {
                return sw_error_set(err, EINVAL, "bind address \"%s\" is not an IP address", address);
        }
        _cleanup_close_ int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &storage, len) < 0 ||
            getsockname(fd, (struct sockaddr *) &storage, &len) < 0)
                return sw_error_errno(err, errno, "find a free port on %s", address);
        *port = ntohs(storage.ss_family == AF_INET ? in4->sin_port : in6->sin6_port);
        return 0;
}

/* After the directory exists (a range whose agent directory is missing is reclaimable). The
 * data root, seeded or cold, belongs to the namespace's root. */
static int agent_claim_userns(struct agent *agent, const struct agent_options *options,
                              const char *state_dir, struct sw_error *err)
{
        struct userns_layout fallback = userns_layout_default();
        int r = userns_claim(state_dir, options->userns_layout ? options->userns_layout : &fallback,
                             agent->id, &agent->userns, err);
        if (r < 0 || options->disk_limit_bytes > 0)
                return r; /* the disk's data root is made later, by the disk (agent_disk.c) */
        _cleanup_free_ char *data_root = agent_data_root_path(agent->dir);
        if (!data_root)
                return sw_error_set(err, ENOMEM, "data root");
        if (lchown(data_root, agent->userns.base, agent->userns.base) < 0)
                return sw_error_errno(err, errno, "give %s to the agent's user namespace", data_root);
        return 0;
}

int agent_prepare(const struct agent_options *options, struct agent **out, struct sw_error *err)
{
        const char *state_dir = options->state_dir ? options->state_dir : AGENT_DEFAULT_STATE_DIR;
        _cleanup_(agent_freep) struct agent *agent = calloc(1, sizeof(*agent));
        if (!agent)
                return sw_error_set(err, ENOMEM, "agent");
        agent->started = now_seconds();
        int r = 0;
        if (options->id) {
                if (strlen(options->id) != 2 * AGENT_ID_BYTES)
                        return sw_error_set(err, EINVAL, "agent id '%s': expected %d hex digits",
                                            options->id, 2 * AGENT_ID_BYTES);
                memcpy(agent->id, options->id, sizeof(agent->id));
        } else if ((r = random_hex(agent->id, AGENT_ID_BYTES)) < 0) {
                return sw_error_errno(err, -r, "agent id");
        }
        if (options->name)
                agent->name = strdup(options->name);
        else if (asprintf(&agent->name, "slipway-%s", agent->id) < 0)
                agent->name = NULL;
        agent->bind_address = strdup(options->bind_address ? options->bind_address
                                                           : AGENT_DEFAULT_BIND_ADDRESS);
        if (!agent->name || !agent->bind_address)
                return sw_error_set(err, ENOMEM, "agent");
        agent->ssh_port = options->ssh_port;
        r = agent_prepare_dir(agent, state_dir, options->disk_limit_bytes, err);
        if (r >= 0 && options->build_gate)
                r = agent_mkdir(agent, BUILD_GATE_DIR_NAME, err);
        if (r >= 0)
                r = agent_claim_userns(agent, options, state_dir, err);
        if (r >= 0)
                r = agent_prepare_keys(agent, options, &agent->keys, err);
        if (r < 0) {
                struct sw_error ignored;
                (void) agent_destroy(NULL, NULL, agent->dir, &ignored);
                return r;
        }
        *out = TAKE_PTR(agent);
        return 0;
}

static int agent_before_step(const struct agent_options *options, const char *step,
                             struct sw_error *err)
{
        return options->before_step ? options->before_step(options->step_context, step, err) : 0;
}

int agent_launch(struct docker_client *docker, struct agent *agent,
                 const struct agent_options *options, struct sw_error *err)
{
        const char *state_dir = options->state_dir ? options->state_dir : AGENT_DEFAULT_STATE_DIR;
        char what[64];
        snprintf(what, sizeof(what), "agent %s", agent->id);
        _cleanup_free_ char *generation_root = NULL;
        _cleanup_close_ int cache_lock_fd = -1;
        int r = agent_check_options(docker, options, err);
        if (r >= 0)
                r = agent_resolve_generation(options, state_dir, &cache_lock_fd, &agent->generation,
                                             &generation_root, err);
        if (r >= 0 && options->disk_limit_bytes > 0)
                r = agent_prepare_disk(agent, options->disk_limit_bytes, err);
        if (r >= 0 && agent->generation && (r = agent_before_step(options, "seed", err)) >= 0)
                r = agent_seed(agent, generation_root, options->seed_strategy, err);
        if (r >= 0 && (r = agent_before_step(options, "create", err)) >= 0)
                r = agent_create_container(docker, agent, options, state_dir, generation_root, err);
        cache_unlock(&cache_lock_fd); /* the container's label pins the generation now (or failed) */
        if (r >= 0)
                r = docker_archive_put(docker, agent->container_id, "/", agent->keys.data,
                                       agent->keys.len, err);
        tar_writer_release(&agent->keys); /* the private host key is in the container now */
        if (r >= 0 && (r = agent_before_step(options, "start", err)) >= 0)
                r = docker_container_start(docker, agent->container_id, err);
        if (r >= 0 && options->egress_allow)
                r = agent_apply_egress(docker, agent, options->egress_allow, err);
        if (r >= 0)
                r = agent_read_port(docker, agent, err);
        if (r >= 0 && (r = agent_before_step(options, "ready", err)) >= 0)
                r = agent_wait_ready(docker, what, agent->container_id,
                                     options->ready_timeout_s > 0 ? options->ready_timeout_s
                                                                  : AGENT_DEFAULT_READY_TIMEOUT,
                                     err);
        if (r >= 0)
                r = agent_probe_reachable(agent, options, err);
        if (r >= 0)
                r = agent_write_known_hosts(agent, err);
        if (r < 0) {
                struct sw_error cleanup_err;
                if (agent_destroy(docker, agent->container_id, agent->dir, &cleanup_err) < 0 && err) {
                        char first[SW_ERROR_MAX];
                        memcpy(first, err->message, sizeof(first));
                        sw_error_set(err, err->code, "%s (and cleanup failed: %s)", first,
                                     cleanup_err.message);
                } else {
                        /* Gone: a later destroy must not touch a directory a new agent of the
                         * same id could (in theory) own. */
                        free(agent->dir);
                        agent->dir = NULL;
                        free(agent->container_id);
                        agent->container_id = NULL;
                }
                return r;
        }
        agent->ready_seconds = now_seconds() - agent->started;
        return 0;
}

int agent_run(struct docker_client *docker, const struct agent_options *options,
              struct agent **out, struct sw_error *err)
{
        _cleanup_(agent_freep) struct agent *agent = NULL;
        int r = agent_prepare(options, &agent, err);
        if (r < 0)
                return r;
        r = agent_launch(docker, agent, options, err);
        if (r < 0)
                return r;
        *out = TAKE_PTR(agent);
        return 0;
}

char *agent_ssh_command(const struct agent *agent)
{
        char *command = NULL;
        _cleanup_free_ char *identity = NULL;
        if (agent->client_key && asprintf(&identity, "-i %s ", agent->client_key) < 0)
                return NULL;
        if (asprintf(&command,
                     "ssh %s-o IdentitiesOnly=%s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes "
                     "-p %d %s@%s",
                     identity ? identity : "", identity ? "yes" : "no", agent->known_hosts,
                     agent->ssh_port, AGENT_USER, agent->bind_address) < 0)
                return NULL;
        return command;
}
