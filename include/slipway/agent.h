/* Agents: one container per build, running its own dockerd on a dedicated data root.
 *
 * On the host an agent is a container labelled io.slipway.agent=<id> and
 * io.slipway.state-dir=<state dir>, plus <state dir>/agents/<id>/ holding its data root and
 * SSH material. agent_run either returns a ready agent or leaves nothing behind. */
#ifndef SLIPWAY_AGENT_H
#define SLIPWAY_AGENT_H

#include <jansson.h>

#include "slipway/docker.h"
#include "slipway/error.h"
#include "slipway/seed.h"
#include "slipway/tar.h"
#include "slipway/userns.h"

#define AGENT_LABEL_ID "io.slipway.agent"
#define AGENT_LABEL_STATE_DIR "io.slipway.state-dir"
#define AGENT_LABEL_GENERATION "io.slipway.generation"
#define AGENT_LABEL_CACHE_BUILD "io.slipway.cache-build"
#define AGENT_LABEL_NODE "io.slipway.node"         /* the Jenkins node of a served agent */
#define AGENT_LABEL_TEMPLATE "io.slipway.template" /* its template in slipway.conf */
#define AGENT_LABEL_USERNS "io.slipway.userns"     /* its user namespace range, BASE:SIZE */
#define AGENT_LABEL_PREFIX "io.slipway."
#define AGENT_DEFAULT_IMAGE "slipway/agent:latest"
#define AGENT_DEFAULT_STATE_DIR "/var/lib/slipway"
#define AGENT_DEFAULT_BIND_ADDRESS "127.0.0.1"
#define AGENT_DEFAULT_READY_TIMEOUT 120 /* seconds */
#define AGENT_SSH_PROBE_MS 4000 /* ready inside, and still no SSH banner outside: unreachable */
#define AGENT_STOP_TIMEOUT 10           /* seconds docker waits before SIGKILL */
#define AGENT_USER "jenkins"
/* Agents' own bridge, without inter-container communication (docker_network_ensure_isolated). */
#define AGENT_NETWORK "slipway"
#define AGENT_DEFAULT_WORKSPACE "/home/jenkins/agent"
#define AGENT_ID_BYTES 6 /* 12 hex characters */
/* An id as slipway makes them (2 * AGENT_ID_BYTES lowercase hex digits): anything else found in
 * a label, a directory name or a state record is not an agent of ours to act on. */
bool agent_id_valid(const char *id);

struct agent_options {
        const char *name;             /* container name; NULL: "slipway-<id>" */
        const char *image;            /* NULL: AGENT_DEFAULT_IMAGE */
        const char *state_dir;        /* NULL: AGENT_DEFAULT_STATE_DIR */
        const char *bind_address;     /* NULL: AGENT_DEFAULT_BIND_ADDRESS */
        const char *pubkey_file;      /* authorized key; NULL: generate a client key */
        const char *authorized_keys;  /* or the authorized keys' text (wins over pubkey_file) */
        const char *const *labels;    /* NULL-terminated "key=value", may be NULL */
        int ready_timeout_s;          /* 0: AGENT_DEFAULT_READY_TIMEOUT */
        /* Cache generation to seed the data root from: NULL for the current one (cold when
         * there is none), "none" for a cold agent. */
        const char *generation;
        enum seed_strategy seed_strategy;
        const char *const *dockerd_args; /* extra words for the agent's dockerd, may be NULL */
        int ssh_port;                 /* host port to publish SSH on; 0: Docker picks one */
        /* Served agents (slipway serve): their Jenkins node and template, as labels. */
        const char *node_name;
        const char *template_name;
        long long nano_cpus;          /* limits; 0: none */
        long long memory_bytes;
        long long pids_limit;
        /* slipway serve: the agent's id (NULL: a random one), and a hook agent_launch calls
         * before each step ("seed", "create", "start", "ready") so the daemon can record it
         * first; a hook that fails stops the launch there, which is then rolled back. */
        const char *id;
        int (*before_step)(void *context, const char *step, struct sw_error *err);
        void *step_context;
        /* The agent's disk (see agent_disk.h): data root, home, /tmp and workspace in a
         * file system of this size; 0: none (they share the host's disks). */
        long long disk_limit_bytes;
        const char *workspace;        /* remote-fs in the agent; NULL: AGENT_DEFAULT_WORKSPACE */
        const char *egress_allow;     /* normalized allowlist (egress.h); NULL: unrestricted */
        /* slipway serve: one build only, held by the agent until its node is offline
         * (slipway/build_gate.h); <agent dir>/gate is made for it. */
        bool build_gate;
        /* Where the agent's SSH client will connect (slipway serve: Jenkins' agent-host); its
         * sshd's banner must answer there before the agent counts as ready. NULL: the bind
         * address. */
        const char *probe_host;
        /* Where its user namespace range is taken from; NULL: userns_layout_default(). */
        const struct userns_layout *userns_layout;
};

struct agent {
        char id[2 * AGENT_ID_BYTES + 1];
        char *container_id;
        char *name;
        char *dir;             /* <state dir>/agents/<id> */
        char *bind_address;
        int ssh_port;
        char *host_public_key; /* "ssh-ed25519 AAAA... comment" */
        char *client_key;      /* generated private key path, or NULL with --pubkey */
        char *known_hosts;     /* path of a known_hosts file holding the host key */
        char *generation;      /* seeded from this generation, or NULL (cold) */
        struct userns_range userns; /* its user namespace's host ids (userns.h) */
        double disk_seconds;   /* making and mounting its disk (with a disk limit) */
        double seed_seconds;   /* seeding the data root */
        double ready_seconds;  /* from request to ready */
        struct tar_writer keys; /* the archive that hands the host key to the container */
        double started;        /* monotonic time of the request */
};

void agent_free(struct agent *agent);

/* agent_prepare + agent_launch; on failure nothing is left. */
int agent_run(struct docker_client *docker, const struct agent_options *options,
              struct agent **out, struct sw_error *err);

/* The first half of agent_run, with no container yet: the agent's id, directory and SSH keys
 * (so its host key is known before it exists, e.g. to register it in Jenkins first). Needs no
 * Docker daemon. On failure nothing is left. */
int agent_prepare(const struct agent_options *options, struct agent **out, struct sw_error *err);

/* The second half: seed the data root, create, start and wait until ready. On failure the
 * container and directory are removed and agent is still to be freed by the caller. */
int agent_launch(struct docker_client *docker, struct agent *agent,
                 const struct agent_options *options, struct sw_error *err);

/* A free TCP port on address (bound and released at once), for options.ssh_port. */
int agent_pick_port(const char *address, int *port, struct sw_error *err);

/* The exact ssh command line that reaches the agent with strict host key checking. */
char *agent_ssh_command(const struct agent *agent);

/* The agents of state_dir as a JSON array of objects: id, name, container, state, status,
 * image, created, ssh_host, ssh_port, labels. Data roots left without a container appear with
 * state "orphaned". */
int agent_list(struct docker_client *docker, const char *state_dir, json_t **out,
               struct sw_error *err);

/* Find an agent of state_dir by agent id, container name or container id (prefix of at least
 * 4 characters). *container_id may be set to NULL for an orphaned data root. */
int agent_find(struct docker_client *docker, const char *state_dir, const char *ref,
               char **agent_id, char **container_id, struct sw_error *err);

/* Everything known of one agent (found as agent_find does) as a JSON object: what
 * agent_list gives, plus, from its container, created_at, started_at, finished_at, exit_code,
 * pid, image_id, hostname, labels (all, io.slipway.* too), node and template (served agents),
 * limits {cpus, memory_bytes, pids_limit} (null: unlimited), binds, dockerd_args and userns
 * {base, size} (its user namespace's host ids, from AGENT_LABEL_USERNS; null: none); and from
 * its directory: directory, data_root {path, bytes (disk usage, symlinks not followed)},
 * disk {path, mounted, limit_bytes, used_bytes} (null without a disk limit),
 * host_key, host_key_fingerprint, known_hosts, client_key and ssh_command. */
int agent_inspect(struct docker_client *docker, const char *state_dir, const char *ref,
                  json_t **out, struct sw_error *err);

/* Stop and remove the container (with its volumes), then its data root and files. Already
 * gone is success. */
int agent_remove(struct docker_client *docker, const char *state_dir, const char *ref,
                 struct sw_error *err);

/* Capabilities an agent (or cache seeder) drops on this host and daemon: what the host
 * bounding set lacks and CAPS_NEVER_FOR_AGENTS, spelled as the daemon accepts. */
int agent_cap_drop(struct docker_client *docker, char ***out, struct sw_error *err);

/* Whether SIGINT, SIGTERM or SIGHUP is pending. The CLI blocks them while it creates agents
 * or generations, so that a pending one means "give up at the next step" and the rollback
 * removes what exists, instead of a half-made agent left behind by a dead process. */
bool agent_stop_requested(void);

/* Poll until the container's init wrote its ready file; fail early with the init's last log
 * line when the container stops. what names it in messages ("agent 1a2b..."). */
int agent_wait_ready(struct docker_client *docker, const char *what, const char *container_id,
                     int timeout_s, struct sw_error *err);

/* Stop and remove a container (if container_id) and an agent directory (if dir), its disk
 * unmounted first. */
int agent_destroy(struct docker_client *docker, const char *container_id, const char *dir,
                  struct sw_error *err);

/* The host path of the agent's data root: <dir>/disk/data-root with a disk limit, else
 * <dir>/data-root. NULL: out of memory. */
char *agent_data_root_path(const char *dir);
/* Remove every agent of state_dir; continues past failures, returns the first. */
int agent_remove_all(struct docker_client *docker, const char *state_dir, int *removed,
                     struct sw_error *err);

#endif
