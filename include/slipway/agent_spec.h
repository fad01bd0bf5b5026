/* The Engine API request that creates an agent container: capabilities instead of
 * --privileged, the security options nested dockerd needs, the data root bind mount, labels
 * and the SSH port published on one address only. Pure functions, unit-tested. */
#ifndef SLIPWAY_AGENT_SPEC_H
#define SLIPWAY_AGENT_SPEC_H

#include <stdbool.h>

#include <jansson.h>

#include "slipway/error.h"

#define AGENT_DATA_ROOT_IN_CONTAINER "/var/lib/docker"

struct agent_spec {
        const char *id;
        const char *image;
        const char *state_dir;
        const char *data_root;     /* host directory bind-mounted at /var/lib/docker */
        const char *bind_address;  /* host address the SSH port is published on */
        const char *const *labels; /* user "key=value" pairs, NULL-terminated, may be NULL */
        const char *const *cap_drop; /* capabilities the host lacks, NULL-terminated */
        /* Extra arguments for the agent's dockerd (e.g. --registry-mirror=URL), NULL-terminated,
         * may be NULL; none may contain whitespace. */
        const char *const *dockerd_args;
        /* The agent's user namespace: host ids userns_base.. of userns_size (SLIPWAY_USERNS for
         * slipway-init, and a label). 0: none (a cache builder). */
        unsigned userns_base;
        unsigned userns_size;
        /* A cache generation to seed from: its data root is mounted read-only at SEED_MOUNT
         * and the agent is labelled with (pinned to) its id. NULL for a cold agent. */
        const char *generation;
        const char *generation_root;
        /* Served agents: their Jenkins node and slipway.conf template (labels), may be NULL. */
        const char *node_name;
        const char *template_name;
        int host_port;             /* 0: Docker picks the published port */
        const char *network;       /* NetworkMode (AGENT_NETWORK for agents), NULL: default */
        long long nano_cpus;       /* limits, 0: none */
        long long memory_bytes;
        long long pids_limit;
        /* The agent's mounted disk (agent_disk.h), or NULL: its home, /tmp and workspace (the
         * container path, remote-fs) are bound from there too. */
        const char *disk_root;
        const char *workspace;
        /* Served agents: the host side of the build gate (slipway/build_gate.h), or NULL. */
        const char *gate_dir;
        /* A cache builder instead of an agent: labelled AGENT_LABEL_CACHE_BUILD, no SSH port,
         * running command (e.g. sleep) as its service, with extra_binds ("host:ctr:ro"). */
        bool cache_builder;
        const char *const *command;
        const char *const *extra_binds;
};

json_t *agent_spec_container_body(const struct agent_spec *spec, struct sw_error *err);

/* Container names: what Docker accepts, [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 63 chars. */
bool agent_spec_name_valid(const char *name, struct sw_error *err);
/* dockerd arguments: non-empty, no whitespace or control characters (the init splits on
 * spaces). */
bool agent_spec_dockerd_arg_valid(const char *arg, struct sw_error *err);
/* User labels: "key=value", key not empty, not in slipway's own io.slipway. namespace. */
bool agent_spec_label_valid(const char *label, struct sw_error *err);

#endif
