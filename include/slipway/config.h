/* slipway.conf: what `slipway serve` reads. INI syntax (parsed by inih), e.g.
 *
 *   [jenkins]
 *   url = http://127.0.0.1:8080/
 *   user = slipway
 *   token-file = /etc/slipway/jenkins-token
 *   credentials-id = slipway-agent-ssh
 *   agent-public-key = /etc/slipway/agent_ed25519.pub
 *
 *   [host]
 *   capacity = 4
 *
 *   [template dind]
 *   labels = dind docker
 *   max-instances = 3
 *
 * Sections are [jenkins], [host] (optional) and one or more [template NAME]; each at most once.
 * Without [jenkins], serve runs standalone: agents are made only through the control socket
 * (POST /v1/agents, `slipway create`), and each template names its authorized-keys.
 * Keys are "key = value", lowercase with dashes, one per line at the start of the line. Lines
 * starting with '#' or ';' are comments, and so is the rest of a line from " ;" on (inih's
 * inline comments: a value cannot hold " ;"). Refused rather than guessed at: unknown sections
 * and keys, a key set twice, indented lines (inih would glue them to the previous value),
 * lines longer than inih's buffer (197 characters in Debian's build), control characters.
 *
 * Every error names the file, the line, the section and key, and the reason:
 *   "/etc/slipway/slipway.conf:12: [template dind] max-instances: expected 1-1000, not \"x\"".
 * The secret files are read here: the token (or password) file must be a regular file (not a
 * symlink) that belongs to the user running slipway and that nobody else can access (mode
 * 0600 or 0400), else it is refused. It holds the secret on one line (a final newline is
 * dropped). */
#ifndef SLIPWAY_CONFIG_H
#define SLIPWAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "slipway/error.h"
#include "slipway/seed.h"
#include "slipway/userns.h"

#define CONFIG_DEFAULT_PATH "/etc/slipway/slipway.conf"
#define CONFIG_MAX_TEMPLATES 64
#define CONFIG_MAX_FILE (1u << 20) /* bytes */
#define CONFIG_MAX_SECRET 4096     /* bytes of a token or password file */

struct config_jenkins {
        /* All NULL when there is no [jenkins] section (standalone: config_standalone). */
        char *url;              /* required: http(s)://HOST[:PORT][/PATH], no user@ */
        char *user;             /* required; no ':' (HTTP Basic) */
        char *token_file;       /* one of token-file and password-file is required */
        char *password_file;
        char *token;            /* the secret read from token_file (or NULL) */
        char *password;         /* the secret read from password_file (or NULL) */
        char *credentials_id;   /* required: Jenkins credentials id of the agents' SSH key */
        char *agent_public_key_file; /* required: its public half, authorized in agents */
        char *agent_public_key; /* that file's text, validated */
        char *agent_host;       /* where Jenkins reaches agents: address or host name;
                                 * default host.bind_address (required when that is 0.0.0.0
                                 * or ::) */
        char *node_prefix;      /* [a-zA-Z0-9_.-]{1,40}; default: the short host name,
                                 * lowercased, other characters turned into '-' */
        int poll_interval_ms;   /* 100-60000, default 1000 */
        int timeout_s;          /* 1-300, default 10: one HTTP request */
};

struct config_host {
        int capacity;           /* 1-1000, default 4: agents on this host, all templates */
        char *state_dir;        /* default AGENT_DEFAULT_STATE_DIR; absolute */
        char *docker_host;      /* unix:///PATH; default NULL: $DOCKER_HOST, then the default
                                 * socket */
        char *bind_address;     /* default AGENT_DEFAULT_BIND_ADDRESS: an IPv4 or IPv6 literal,
                                 * where agents' SSH ports are published */
        int launch_timeout_s;   /* 10-3600, default 180: request to online in Jenkins */
        int idle_timeout_s;     /* 10-86400, default 600: online without a build */
        int drain_timeout_s;    /* 0-86400, default 3600: running builds on SIGTERM */
        char *metrics_address;  /* "ADDRESS:PORT" ([IPv6]:PORT) to serve GET /metrics on over
                                 * TCP too; NULL (default): only on the control socket */
        int reconcile_interval_s; /* 1-3600, default 60: periodic reconciliation */
        /* Where agents' user namespace ranges are taken from (userns.h): "userns-base"
         * (default USERNS_DEFAULT_BASE, at least 65536), "userns-size" (default and minimum
         * USERNS_MIN_SIZE) and "userns-count" (default USERNS_DEFAULT_COUNT, at least
         * capacity); together they pass userns_layout_check. */
        struct userns_layout userns_layout;
};

struct config_template {
        char *name;             /* from [template NAME]: [a-zA-Z0-9_.-]{1,32} */
        char *labels;           /* required: Jenkins label atoms, joined by single spaces; none
                                 * of ?*\/%!@#$^&|<>[]:;=()"' in them */
        char *image;            /* default AGENT_DEFAULT_IMAGE */
        char *cache;            /* "current" (default), "none" or a generation id */
        enum seed_strategy seed_strategy; /* default layer-link */
        int max_instances;      /* 1-1000, default host.capacity (which bounds all templates) */
        char *remote_fs;        /* default /home/jenkins/agent; absolute */
        char *java_path;        /* default /usr/bin/java; absolute */
        char *jvm_options;      /* default "" */
        long long nano_cpus;    /* "cpus = 1.5": 1.5e9 (0.01-1024); 0 (default) = unlimited */
        long long memory_bytes; /* "memory = 4G" (K, M, G, T; powers of 1024; at least 6M);
                                 * 0 (default) = unlimited */
        long long pids_limit;   /* 0-4194304; 0 (default) = unlimited */
        char *authorized_keys_file; /* public keys (path) that may log in to its agents;
                                 * required without [jenkins] */
        char *authorized_keys;  /* that file's text, then [jenkins] agent-public-key's: what
                                 * its agents authorize */
        /* "docker-policy = standard|trusted" is accepted and ignored: obsolete since agents
         * run in a user namespace (there is no policy proxy any more). */
        long long disk_limit_bytes; /* "disk-limit = 20G": the agent's own file system for its
                                 * data root, home, /tmp and workspace (256M-16T); 0 (default)
                                 * = none. Not with seed-strategy reflink or btrfs-snapshot. */
        char *egress_allow;     /* "egress-allow = 10.0.0.5:443, 10.1.0.0/16:80" normalized
                                 * (egress.h); NULL (default): no restriction */
        int line;               /* where the section starts, for messages */
};

struct config {
        char *path;
        struct config_jenkins jenkins;
        struct config_host host;
        struct config_template *templates;
        size_t template_count;
};

/* Parse and validate path (at most CONFIG_MAX_FILE bytes), read the secret and the public key
 * it names. On failure *out is untouched and err says where and why. */
int config_load(const char *path, struct config **out, struct sw_error *err);
/* The same from text (len bytes, NUL-terminated or not; path only names it in messages; secret
 * files are still read from disk). For tests and the fuzzer. */
int config_parse(const char *path, const char *text, size_t len, struct config **out,
                 struct sw_error *err);
/* Frees everything; secrets are wiped first. NULL is fine. */
void config_free(struct config *config);

/* No [jenkins] section: agents only through the control socket. */
static inline bool config_standalone(const struct config *config)
{
        return config->jenkins.url == NULL;
}

/* The template of that name, or NULL. */
const struct config_template *config_template_find(const struct config *config, const char *name);

#endif
