/* Everything slipway knows of one agent, from its container (labels, state, limits, mounts)
 * and from its directory on the host (data root, SSH material). See agent_inspect in agent.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "slipway/agent.h"
#include "slipway/agent_disk.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/sshkey.h"

#define DATA_ROOT_MAX_DEPTH 256 /* deeper trees are not counted further (nor are they real) */

/* Disk usage of a tree (allocated blocks, like du), not following symlinks: a layer-linked
 * data root counts its own bytes, not the generation's it links to. */
static int tree_usage(int dir_fd, int depth, unsigned long long *bytes)
{
        if (depth > DATA_ROOT_MAX_DEPTH)
                return 0;
        DIR *d = fdopendir(dir_fd);
        if (!d) {
                close(dir_fd);
                return -errno;
        }
        _cleanup_closedir_ DIR *dir = d;
        struct dirent *entry;
        int first = 0;
        while ((entry = readdir(dir))) {
                if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                        continue;
                struct stat st;
                if (fstatat(dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue; /* gone meanwhile: the agent is running */
                *bytes += (unsigned long long) st.st_blocks * 512;
                if (!S_ISDIR(st.st_mode))
                        continue;
                int child = openat(dirfd(dir), entry->d_name,
                                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                int r = child < 0 ? -errno : tree_usage(child, depth + 1, bytes);
                if (r < 0 && r != -ENOENT && first == 0)
                        first = r;
        }
        return first;
}

static json_t *data_root_info(const char *agent_dir)
{
        _cleanup_free_ char *path = NULL;
        if (!(path = agent_data_root_path(agent_dir)))
                return NULL;
        json_t *info = json_pack("{s:s}", "path", path);
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        unsigned long long bytes = 0;
        int r = fd < 0 ? -errno : tree_usage(fd, 0, &bytes);
        if (r < 0)
                json_object_set_new(info, "error", json_string(strerror(-r)));
        /* Even with an unreadable corner, what was counted is a lower bound worth showing. */
        json_object_set_new(info, "bytes", fd >= 0 ? json_integer((json_int_t) bytes) : json_null());
        return info;
}

/* The agent's disk limit (agent_disk.h), from the mounted file system itself: its size is
 * the limit a build sees. */
static json_t *disk_info(const char *agent_dir)
{
        if (!agent_disk_exists(agent_dir))
                return json_null();
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s", agent_dir, AGENT_DISK_MOUNT) < 0)
                return NULL;
        json_t *info = json_pack("{s:s}", "path", path);
        struct statvfs fs;
        struct stat st, parent;
        bool mounted = stat(path, &st) == 0 && stat(agent_dir, &parent) == 0 && st.st_dev != parent.st_dev;
        json_object_set_new(info, "mounted", json_boolean(mounted));
        if (mounted && statvfs(path, &fs) == 0) {
                json_object_set_new(info, "limit_bytes", json_integer((json_int_t) (fs.f_blocks * fs.f_frsize)));
                json_object_set_new(info, "used_bytes",
                                    json_integer((json_int_t) ((fs.f_blocks - fs.f_bfree) * fs.f_frsize)));
        }
        return info;
}

static bool file_exists(const char *dir, const char *name)
{
        _cleanup_free_ char *path = NULL;
        return asprintf(&path, "%s/%s", dir, name) >= 0 && access(path, F_OK) == 0;
}

/* Host key, fingerprint, known_hosts and client key from the agent's ssh/ directory. */
static void ssh_info(json_t *out, const char *agent_dir)
{
        _cleanup_free_ char *ssh_dir = NULL, *pub_path = NULL, *host_key = NULL;
        if (asprintf(&ssh_dir, "%s/ssh", agent_dir) < 0 ||
            asprintf(&pub_path, "%s/host_ed25519_key.pub", ssh_dir) < 0)
                return;
        size_t len = 0;
        if (fs_read_bounded(pub_path, SSHKEY_MAX_PUBLIC, &host_key, &len) == 0) {
                host_key[strcspn(host_key, "\r\n")] = '\0';
                char fingerprint[SSHKEY_FINGERPRINT_MAX];
                json_object_set_new(out, "host_key", json_string(host_key));
                if (sshkey_fingerprint(host_key, fingerprint, sizeof(fingerprint)) == 0)
                        json_object_set_new(out, "host_key_fingerprint", json_string(fingerprint));
        }
        _cleanup_free_ char *known_hosts = NULL, *client_key = NULL;
        if (file_exists(ssh_dir, "known_hosts") && asprintf(&known_hosts, "%s/known_hosts", ssh_dir) >= 0)
                json_object_set_new(out, "known_hosts", json_string(known_hosts));
        if (file_exists(ssh_dir, "id_ed25519") && asprintf(&client_key, "%s/id_ed25519", ssh_dir) >= 0)
                json_object_set_new(out, "client_key", json_string(client_key));
}

/* The ssh command, as `slipway run` printed it. */
static void ssh_command(json_t *out)
{
        const char *host = json_string_value(json_object_get(out, "ssh_host"));
        json_int_t port = json_integer_value(json_object_get(out, "ssh_port"));
        const char *known_hosts = json_string_value(json_object_get(out, "known_hosts"));
        if (!host || port <= 0 || !known_hosts)
                return;
        struct agent agent = {
                .ssh_port = (int) port,
                .bind_address = (char *) host,
                .known_hosts = (char *) known_hosts,
                .client_key = (char *) json_string_value(json_object_get(out, "client_key")),
        };
        char *command = agent_ssh_command(&agent);
        if (command)
                json_object_set_new(out, "ssh_command", json_string(command));
        free(command);
}

/* One decimal number of at most 32 bits, digits only; *end after it. */
static bool parse_u32(const char *text, const char **end, unsigned long long *out)
{
        unsigned long long n = 0;
        const char *p = text;
        for (; *p >= '0' && *p <= '9'; p++) {
                n = n * 10 + (unsigned long long) (*p - '0');
                if (n > 0xFFFFFFFFull)
                        return false;
        }
        *end = p;
        *out = n;
        return p != text;
}

/* The AGENT_LABEL_USERNS label ("BASE:SIZE") as {base, size}; null when the agent has none (a
 * container from before user namespaces) or it is not one slipway writes: labels are anyone's
 * to set on a container, so it is read strictly. */
static json_t *userns_info(const char *label)
{
        unsigned long long base, size;
        const char *end;
        if (!label || !parse_u32(label, &end, &base) || *end != ':' ||
            !parse_u32(end + 1, &end, &size) || *end || size == 0 || base + size > 0x100000000ull)
                return json_null();
        return json_pack("{s:I, s:I}", "base", (json_int_t) base, "size", (json_int_t) size);
}

/* What the container's inspect data adds to the list entry. */
static void container_info(json_t *out, json_t *inspect)
{
        json_t *state = json_object_get(inspect, "State");
        json_t *config = json_object_get(inspect, "Config");
        json_t *host_config = json_object_get(inspect, "HostConfig");
        json_t *labels = json_object_get(config, "Labels");
        json_object_set_new(out, "created_at", json_incref(json_object_get(inspect, "Created")));
        json_object_set_new(out, "started_at", json_incref(json_object_get(state, "StartedAt")));
        /* Docker's zero time for "never": null. */
        const char *finished = json_string_value(json_object_get(state, "FinishedAt"));
        json_object_set_new(out, "finished_at", finished && strncmp(finished, "0001-", 5) != 0
                                                        ? json_string(finished) : json_null());
        json_object_set_new(out, "exit_code", json_incref(json_object_get(state, "ExitCode")));
        json_object_set_new(out, "pid", json_incref(json_object_get(state, "Pid")));
        json_object_set_new(out, "image_id", json_incref(json_object_get(inspect, "Image")));
        json_object_set_new(out, "image", json_incref(json_object_get(config, "Image")));
        json_object_set_new(out, "hostname", json_incref(json_object_get(config, "Hostname")));
        if (json_is_object(labels)) {
                /* All of them here, slipway's own io.slipway.* too (ps shows the user's only). */
                json_object_set(out, "labels", labels);
                json_object_set_new(out, "node", json_incref(json_object_get(labels, AGENT_LABEL_NODE)));
                json_object_set_new(out, "template", json_incref(json_object_get(labels, AGENT_LABEL_TEMPLATE)));
        }
        json_t *limits = json_object();
        json_int_t nano_cpus = json_integer_value(json_object_get(host_config, "NanoCpus"));
        json_int_t memory = json_integer_value(json_object_get(host_config, "Memory"));
        json_int_t pids = json_integer_value(json_object_get(host_config, "PidsLimit"));
        json_object_set_new(limits, "cpus", nano_cpus > 0 ? json_real((double) nano_cpus / 1e9) : json_null());
        json_object_set_new(limits, "memory_bytes", memory > 0 ? json_integer(memory) : json_null());
        json_object_set_new(limits, "pids_limit", pids > 0 ? json_integer(pids) : json_null());
        json_object_set_new(out, "limits", limits);
        json_object_set(out, "binds", json_is_array(json_object_get(host_config, "Binds"))
                                              ? json_object_get(host_config, "Binds")
                                              : json_array());
        /* The words given to the agent's dockerd (slipway run --dockerd-arg). */
        json_t *env_item;
        size_t i;
        json_array_foreach(json_object_get(config, "Env"), i, env_item) {
                const char *env = json_string_value(env_item);
                if (env && strncmp(env, "SLIPWAY_DOCKERD_ARGS=", 21) == 0)
                        json_object_set_new(out, "dockerd_args", json_string(env + 21));
        }
        json_object_set_new(out, "userns", userns_info(json_string_value(
                                                   json_object_get(labels, AGENT_LABEL_USERNS))));
}

int agent_inspect(struct docker_client *docker, const char *state_dir, const char *ref,
                  json_t **out, struct sw_error *err)
{
        _cleanup_free_ char *agent_id = NULL, *container_id = NULL;
        int r = agent_find(docker, state_dir, ref, &agent_id, &container_id, err);
        if (r < 0)
                return r;
        /* The list entry has what ps shows (state, status, SSH address); start from it. */
        _cleanup_json_ json_t *agents = NULL;
        r = agent_list(docker, state_dir, &agents, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *agent = NULL;
        json_t *entry;
        size_t i;
        json_array_foreach(agents, i, entry) {
                if (strcmp(json_string_value(json_object_get(entry, "id")), agent_id) == 0)
                        agent = json_deep_copy(entry);
        }
        if (!agent)
                return sw_error_set(err, ENOENT, "agent %s is gone", agent_id);
        if (container_id) {
                _cleanup_json_ json_t *inspect = NULL;
                r = docker_container_inspect(docker, container_id, &inspect, err);
                if (r < 0)
                        return sw_error_prefix(err, "inspect agent %s", agent_id);
                container_info(agent, inspect);
        }
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/agents/%s", state_dir, agent_id) < 0)
                return sw_error_set(err, ENOMEM, "inspect agent");
        if (!json_object_get(agent, "userns"))
                json_object_set_new(agent, "userns", json_null()); /* orphaned: no container */
        json_object_set_new(agent, "state_dir", json_string(state_dir));
        if (access(dir, F_OK) == 0) {
                json_object_set_new(agent, "directory", json_string(dir));
                json_object_set_new(agent, "data_root", data_root_info(dir));
                json_object_set_new(agent, "disk", disk_info(dir));
                ssh_info(agent, dir);
                ssh_command(agent);
        }
        *out = TAKE_PTR(agent);
        return 0;
}
