/* slipway.conf: see include/slipway/config.h.
 *
 * inih does the INI syntax. Two things it does not do are done here, in the reader that feeds
 * it one line at a time: line numbers (the Debian build has no INI_HANDLER_LINENO, so the
 * handler reads the reader's count) and sections (the handler is not called on a section
 * header, so an empty or repeated section would be invisible to it). The reader also refuses
 * what inih would accept silently: lines longer than its buffer (split into two lines),
 * indented lines (continuations of the previous value) and control characters. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slipway/agent.h"
#include "slipway/agent_disk.h"
#include "slipway/cache.h"
#include "slipway/cleanup.h"
#include "slipway/config.h"
#include "slipway/egress.h"
#include "slipway/fsutil.h"
#include "slipway/limits.h"
#include "slipway/seed.h"
#include "slipway/sshkey.h"
#include "slipway/userns.h"

#define DEFAULT_CAPACITY 4
#define DEFAULT_POLL_INTERVAL_MS 1000
#define DEFAULT_TIMEOUT_S 10
#define DEFAULT_LAUNCH_TIMEOUT_S 180
#define DEFAULT_IDLE_TIMEOUT_S 600
#define DEFAULT_DRAIN_TIMEOUT_S 3600
#define DEFAULT_RECONCILE_INTERVAL_S 60
#define DEFAULT_REMOTE_FS "/home/jenkins/agent"
#define DEFAULT_JAVA_PATH "/usr/bin/java"
#define DEFAULT_CACHE "current"
#define NODE_PREFIX_MAX 40
#define TEMPLATE_NAME_MAX 32
#define REASON_MAX 512

#define ID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"

enum section_kind { SECTION_NONE, SECTION_JENKINS, SECTION_HOST, SECTION_TEMPLATE };

enum key_type {
        KEY_URL,
        KEY_USER,
        KEY_PATH,           /* absolute */
        KEY_CREDENTIALS_ID,
        KEY_AGENT_HOST,     /* address or host name */
        KEY_BIND_ADDRESS,   /* address */
        KEY_LISTEN_ADDRESS, /* IPv4:PORT or [IPv6]:PORT */
        KEY_NODE_PREFIX,
        KEY_INT,            /* int field in [min, max] */
        KEY_LONG_LONG,      /* long long field in [min, max] */
        KEY_UINT32,         /* uint32_t field in [min, max] */
        KEY_DOCKER_HOST,
        KEY_LABELS,
        KEY_IMAGE,
        KEY_CACHE,
        KEY_SEED_STRATEGY,
        KEY_OBSOLETE_DOCKER_POLICY, /* no field: checked, then ignored */
        KEY_CPUS,
        KEY_MEMORY,
        KEY_DISK,
        KEY_EGRESS,
        KEY_TEXT,           /* anything, even empty */
};

struct key_def {
        const char *name;
        enum key_type type;
        size_t offset; /* of the field in its section's struct */
        long long min, max;
};

enum {
        JENKINS_URL,
        JENKINS_USER,
        JENKINS_TOKEN_FILE,
        JENKINS_PASSWORD_FILE,
        JENKINS_CREDENTIALS_ID,
        JENKINS_AGENT_PUBLIC_KEY,
        JENKINS_AGENT_HOST,
        JENKINS_NODE_PREFIX,
        JENKINS_POLL_INTERVAL_MS,
        JENKINS_TIMEOUT,
        JENKINS_KEY_COUNT
};

#define JENKINS_FIELD(f) offsetof(struct config_jenkins, f)
static const struct key_def jenkins_keys[JENKINS_KEY_COUNT] = {
        [JENKINS_URL] = { "url", KEY_URL, JENKINS_FIELD(url), 0, 0 },
        [JENKINS_USER] = { "user", KEY_USER, JENKINS_FIELD(user), 0, 0 },
        [JENKINS_TOKEN_FILE] = { "token-file", KEY_PATH, JENKINS_FIELD(token_file), 0, 0 },
        [JENKINS_PASSWORD_FILE] = { "password-file", KEY_PATH, JENKINS_FIELD(password_file), 0, 0 },
        [JENKINS_CREDENTIALS_ID] = { "credentials-id", KEY_CREDENTIALS_ID,
                                     JENKINS_FIELD(credentials_id), 0, 0 },
        [JENKINS_AGENT_PUBLIC_KEY] = { "agent-public-key", KEY_PATH,
                                       JENKINS_FIELD(agent_public_key_file), 0, 0 },
        [JENKINS_AGENT_HOST] = { "agent-host", KEY_AGENT_HOST, JENKINS_FIELD(agent_host), 0, 0 },
        [JENKINS_NODE_PREFIX] = { "node-prefix", KEY_NODE_PREFIX, JENKINS_FIELD(node_prefix), 0, 0 },
        [JENKINS_POLL_INTERVAL_MS] = { "poll-interval-ms", KEY_INT, JENKINS_FIELD(poll_interval_ms),
                                       100, 60000 },
        [JENKINS_TIMEOUT] = { "timeout", KEY_INT, JENKINS_FIELD(timeout_s), 1, 300 },
};

enum {
        HOST_CAPACITY,
        HOST_STATE_DIR,
        HOST_DOCKER_HOST,
        HOST_BIND_ADDRESS,
        HOST_LAUNCH_TIMEOUT,
        HOST_IDLE_TIMEOUT,
        HOST_DRAIN_TIMEOUT,
        HOST_METRICS_ADDRESS,
        HOST_RECONCILE_INTERVAL,
        HOST_USERNS_BASE,
        HOST_USERNS_SIZE,
        HOST_USERNS_COUNT,
        HOST_KEY_COUNT
};

#define HOST_FIELD(f) offsetof(struct config_host, f)
static const struct key_def host_keys[HOST_KEY_COUNT] = {
        [HOST_CAPACITY] = { "capacity", KEY_INT, HOST_FIELD(capacity), 1, 1000 },
        [HOST_STATE_DIR] = { "state-dir", KEY_PATH, HOST_FIELD(state_dir), 0, 0 },
        [HOST_DOCKER_HOST] = { "docker-host", KEY_DOCKER_HOST, HOST_FIELD(docker_host), 0, 0 },
        [HOST_BIND_ADDRESS] = { "bind-address", KEY_BIND_ADDRESS, HOST_FIELD(bind_address), 0, 0 },
        [HOST_LAUNCH_TIMEOUT] = { "launch-timeout", KEY_INT, HOST_FIELD(launch_timeout_s), 10, 3600 },
        [HOST_IDLE_TIMEOUT] = { "idle-timeout", KEY_INT, HOST_FIELD(idle_timeout_s), 10, 86400 },
        [HOST_DRAIN_TIMEOUT] = { "drain-timeout", KEY_INT, HOST_FIELD(drain_timeout_s), 0, 86400 },
        [HOST_METRICS_ADDRESS] = { "metrics-address", KEY_LISTEN_ADDRESS,
                                   HOST_FIELD(metrics_address), 0, 0 },
        [HOST_RECONCILE_INTERVAL] = { "reconcile-interval", KEY_INT,
                                      HOST_FIELD(reconcile_interval_s), 1, 3600 },
        /* Each alone within what a uid can be; together checked by userns_layout_check. */
        [HOST_USERNS_BASE] = { "userns-base", KEY_UINT32, HOST_FIELD(userns_layout.base), 65536,
                               UINT32_MAX },
        [HOST_USERNS_SIZE] = { "userns-size", KEY_UINT32, HOST_FIELD(userns_layout.size),
                               USERNS_MIN_SIZE, UINT32_MAX },
        [HOST_USERNS_COUNT] = { "userns-count", KEY_UINT32, HOST_FIELD(userns_layout.count), 1,
                                UINT32_MAX },
};

enum {
        TEMPLATE_LABELS,
        TEMPLATE_IMAGE,
        TEMPLATE_CACHE,
        TEMPLATE_SEED_STRATEGY,
        TEMPLATE_MAX_INSTANCES,
        TEMPLATE_REMOTE_FS,
        TEMPLATE_JAVA_PATH,
        TEMPLATE_JVM_OPTIONS,
        TEMPLATE_CPUS,
        TEMPLATE_MEMORY,
        TEMPLATE_PIDS_LIMIT,
        TEMPLATE_AUTHORIZED_KEYS,
        TEMPLATE_DOCKER_POLICY,
        TEMPLATE_DISK_LIMIT,
        TEMPLATE_EGRESS_ALLOW,
        TEMPLATE_KEY_COUNT
};

#define TEMPLATE_FIELD(f) offsetof(struct config_template, f)
static const struct key_def template_keys[TEMPLATE_KEY_COUNT] = {
        [TEMPLATE_LABELS] = { "labels", KEY_LABELS, TEMPLATE_FIELD(labels), 0, 0 },
        [TEMPLATE_IMAGE] = { "image", KEY_IMAGE, TEMPLATE_FIELD(image), 0, 0 },
        [TEMPLATE_CACHE] = { "cache", KEY_CACHE, TEMPLATE_FIELD(cache), 0, 0 },
        [TEMPLATE_SEED_STRATEGY] = { "seed-strategy", KEY_SEED_STRATEGY,
                                     TEMPLATE_FIELD(seed_strategy), 0, 0 },
        [TEMPLATE_MAX_INSTANCES] = { "max-instances", KEY_INT, TEMPLATE_FIELD(max_instances), 1, 1000 },
        [TEMPLATE_REMOTE_FS] = { "remote-fs", KEY_PATH, TEMPLATE_FIELD(remote_fs), 0, 0 },
        [TEMPLATE_JAVA_PATH] = { "java-path", KEY_PATH, TEMPLATE_FIELD(java_path), 0, 0 },
        [TEMPLATE_JVM_OPTIONS] = { "jvm-options", KEY_TEXT, TEMPLATE_FIELD(jvm_options), 0, 0 },
        [TEMPLATE_CPUS] = { "cpus", KEY_CPUS, TEMPLATE_FIELD(nano_cpus), 0, 0 },
        [TEMPLATE_MEMORY] = { "memory", KEY_MEMORY, TEMPLATE_FIELD(memory_bytes), 0, 0 },
        [TEMPLATE_PIDS_LIMIT] = { "pids-limit", KEY_LONG_LONG, TEMPLATE_FIELD(pids_limit), 0,
                                  LIMITS_PIDS_MAX },
        [TEMPLATE_AUTHORIZED_KEYS] = { "authorized-keys", KEY_PATH,
                                       TEMPLATE_FIELD(authorized_keys_file), 0, 0 },
        [TEMPLATE_DOCKER_POLICY] = { "docker-policy", KEY_OBSOLETE_DOCKER_POLICY, 0, 0, 0 },
        [TEMPLATE_DISK_LIMIT] = { "disk-limit", KEY_DISK, TEMPLATE_FIELD(disk_limit_bytes), 0, 0 },
        [TEMPLATE_EGRESS_ALLOW] = { "egress-allow", KEY_EGRESS, TEMPLATE_FIELD(egress_allow), 0, 0 },
};

struct parse_ctx {
        const char *path;
        const char *text;
        size_t len, pos;
        int line;                 /* the line inih is parsing: the reader's count */
        struct config *config;
        enum section_kind section;
        size_t template_index;    /* with SECTION_TEMPLATE */
        size_t template_capacity;
        int jenkins_line, host_line; /* where those sections start; 0: absent */
        /* Where each key was set; 0: not set (so: default it). */
        int jenkins_lines[JENKINS_KEY_COUNT];
        int host_lines[HOST_KEY_COUNT];
        int template_lines[CONFIG_MAX_TEMPLATES][TEMPLATE_KEY_COUNT];
        bool failed;
        int error_code;           /* errno-style, of the first error found here */
        int error_line;           /* of that error; 0: none, or it has no line */
        struct sw_error *err;
};

/* The first error wins: later ones are consequences or would only hide it. */
static void ctx_fail(struct parse_ctx *ctx, int code, int line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void ctx_fail(struct parse_ctx *ctx, int code, int line, const char *fmt, ...)
{
        if (ctx->failed)
                return;
        char message[SW_ERROR_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        if (line > 0)
                sw_error_set(ctx->err, code, "%s:%d: %s", ctx->path, line, message);
        else
                sw_error_set(ctx->err, code, "%s: %s", ctx->path, message);
        ctx->failed = true;
        ctx->error_code = code;
        ctx->error_line = line;
}


/* "jenkins", "host" or "template NAME": how messages name a section. */
static const char *section_label(const struct parse_ctx *ctx, enum section_kind kind, size_t index,
                                 char *buf, size_t size)
{
        switch (kind) {
        case SECTION_JENKINS:
                return "jenkins";
        case SECTION_HOST:
                return "host";
        case SECTION_TEMPLATE:
                snprintf(buf, size, "template %s", ctx->config->templates[index].name);
                return buf;
        case SECTION_NONE:
                break;
        }
        return "";
}

static bool id_chars_only(const char *s, size_t len)
{
        return strspn(s, ID_CHARS) >= len;
}

/* ---- values ---------------------------------------------------------------------------- */

/* Digits only (no sign, no space, no junk), in [min, max]. */
static int parse_range(const char *value, long long min, long long max, long long *out, char *reason,
                       size_t size)
{
        long long n = 0;
        bool ok = value[0] != '\0';
        for (const char *p = value; ok && *p; p++) {
                if (*p < '0' || *p > '9' || n > (LLONG_MAX - (*p - '0')) / 10)
                        ok = false;
                else
                        n = n * 10 + (*p - '0');
        }
        if (!ok || n < min || n > max)
                return sw_reason_set(reason, size, "expected %lld-%lld, not \"%s\"", min, max, value);
        *out = n;
        return 0;
}

static bool address_literal(const char *value, bool *unspecified)
{
        unsigned char addr[sizeof(struct in6_addr)];
        static const unsigned char zero[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, value, addr) == 1) {
                *unspecified = memcmp(addr, zero, sizeof(struct in_addr)) == 0;
                return true;
        }
        if (inet_pton(AF_INET6, value, addr) == 1) {
                *unspecified = memcmp(addr, zero, sizeof(struct in6_addr)) == 0;
                return true;
        }
        return false;
}

static bool address_unspecified(const char *value)
{
        bool unspecified = false;
        return address_literal(value, &unspecified) && unspecified;
}

/* "127.0.0.1:9469" or "[::1]:9469": a literal address (no name to resolve) and a port. */
static int check_listen_address(const char *value, char *reason, size_t size)
{
        char host[INET6_ADDRSTRLEN + 2];
        const char *text = value;
        const char *colon = strrchr(value, ':');
        bool unspecified;
        long long port = 0;
        char port_reason[REASON_MAX];
        size_t host_len = colon ? (size_t) (colon - value) : 0;
        bool bracketed = host_len >= 2 && value[0] == '[' && value[host_len - 1] == ']';
        if (bracketed) {
                value++;
                host_len -= 2;
        }
        if (!colon || host_len == 0 || host_len >= sizeof(host))
                return sw_reason_set(reason, size, "expected ADDRESS:PORT (e.g. 127.0.0.1:9469 or "
                                  "[::1]:9469), not \"%s\"", text);
        memcpy(host, value, host_len);
        host[host_len] = '\0';
        /* "::1:9469" could be read two ways. */
        if (!bracketed && strchr(host, ':'))
                return sw_reason_set(reason, size, "an IPv6 address goes in brackets, as in "
                                  "[::1]:9469, not \"%s\"", text);
        if (!address_literal(host, &unspecified))
                return sw_reason_set(reason, size, "expected an IPv4 or [IPv6] address before the "
                                  "port, not \"%s\"", host);
        if (parse_range(colon + 1, 1, 65535, &port, port_reason, sizeof(port_reason)) < 0)
                return sw_reason_set(reason, size, "port: %s", port_reason);
        return 0;
}

/* What Jenkins connects to: an address other than 0.0.0.0 or ::, or a host name. */
static int check_agent_host(const char *value, char *reason, size_t size)
{
        bool unspecified;
        if (address_literal(value, &unspecified)) {
                if (unspecified)
                        return sw_reason_set(reason, size,
                                          "%s is no address to connect to: give this host's "
                                          "address or name as Jenkins reaches it", value);
                return 0;
        }
        size_t len = strlen(value);
        bool name = len <= 253 && value[0] != '-' && value[0] != '.' &&
                    strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == len;
        /* All digits and dots is a mistyped IPv4 address, not a name. */
        if (!name || strspn(value, "0123456789.") == len)
                return sw_reason_set(reason, size,
                                  "expected an IPv4 or IPv6 address or a host name, not \"%s\"", value);
        return 0;
}

/* http(s)://HOST[:PORT][/PATH]: no credentials, query or fragment. */
static int check_url(const char *url, char *reason, size_t size)
{
        const char *rest;
        if (strncmp(url, "http://", 7) == 0)
                rest = url + 7;
        else if (strncmp(url, "https://", 8) == 0)
                rest = url + 8;
        else
                return sw_reason_set(reason, size,
                                  "expected http://HOST[:PORT][/PATH] or https://..., not \"%s\"", url);
        if (strpbrk(url, " \t"))
                return sw_reason_set(reason, size, "spaces in \"%s\"", url);
        if (strpbrk(url, "?#"))
                return sw_reason_set(reason, size,
                                  "\"%s\" has a query or fragment: give Jenkins' root URL", url);
        size_t authority_len = strcspn(rest, "/");
        if (memchr(rest, '@', authority_len))
                return sw_reason_set(reason, size,
                                  "no credentials in the URL: use user and token-file (or password-file)");
        const char *port = NULL;
        size_t host_len;
        if (rest[0] == '[') { /* [IPv6] */
                const char *close = memchr(rest, ']', authority_len);
                char address[INET6_ADDRSTRLEN + 1];
                unsigned char binary[sizeof(struct in6_addr)];
                size_t address_len = close ? (size_t) (close - rest - 1) : 0;
                if (!close || address_len >= sizeof(address))
                        return sw_reason_set(reason, size, "bad IPv6 address in \"%s\"", url);
                memcpy(address, rest + 1, address_len);
                address[address_len] = '\0';
                if (inet_pton(AF_INET6, address, binary) != 1)
                        return sw_reason_set(reason, size, "bad IPv6 address in \"%s\"", url);
                host_len = (size_t) (close - rest) + 1;
                if (host_len < authority_len && rest[host_len] != ':')
                        return sw_reason_set(reason, size, "bad host in \"%s\"", url);
        } else {
                host_len = strcspn(rest, ":/");
                if (host_len == 0)
                        return sw_reason_set(reason, size, "no host in \"%s\"", url);
                if (!id_chars_only(rest, host_len))
                        return sw_reason_set(reason, size, "bad host in \"%s\"", url);
        }
        if (host_len < authority_len)
                port = rest + host_len + 1; /* after ':' */
        if (port) {
                size_t digits = (size_t) (rest + authority_len - port);
                long number = 0;
                bool ok = digits > 0 && digits <= 5;
                for (size_t i = 0; ok && i < digits; i++) {
                        ok = port[i] >= '0' && port[i] <= '9';
                        number = number * 10 + (port[i] - '0');
                }
                if (!ok || number < 1 || number > 65535)
                        return sw_reason_set(reason, size, "bad port in \"%s\"", url);
        }
        return 0;
}

/* Jenkins label atoms, space separated, written back with single spaces. Forbidden: what
 * Jenkins.checkGoodName refuses (see jenkins_node_name_valid) and what would make the atom
 * a label expression ('=', parentheses, quotes). */
static int parse_labels(const char *value, char **out, char *reason, size_t size)
{
        static const char forbidden[] = "?*/\\%!@#$^&|<>[]:;=()\"'";
        _cleanup_free_ char *labels = malloc(strlen(value) + 1);
        if (!labels)
                return -ENOMEM;
        size_t len = 0;
        for (const char *p = value; *p;) {
                size_t space = strspn(p, " \t");
                p += space;
                size_t atom = strcspn(p, " \t");
                if (atom == 0)
                        break;
                for (size_t i = 0; i < atom; i++) {
                        unsigned char c = (unsigned char) p[i];
                        if (c < 0x20 || c == 0x7f || strchr(forbidden, c))
                                return sw_reason_set(reason, size,
                                                  "label \"%.*s\": '%c' is not allowed in a Jenkins label",
                                                  (int) atom, p, c < 0x20 || c == 0x7f ? '?' : c);
                }
                if ((atom == 1 && p[0] == '.') || (atom == 2 && p[0] == '.' && p[1] == '.'))
                        return sw_reason_set(reason, size, "label \"%.*s\" is not allowed", (int) atom, p);
                if (len > 0)
                        labels[len++] = ' ';
                memcpy(labels + len, p, atom);
                len += atom;
                p += atom;
        }
        labels[len] = '\0';
        if (len == 0)
                return sw_reason_set(reason, size, "no labels");
        *out = TAKE_PTR(labels);
        return 0;
}

/* A reference like registry:5000/team/agent:tag or name@sha256:...: its characters only. */
static int check_image(const char *value, char *reason, size_t size)
{
        size_t len = strlen(value);
        if (len > 255 || !strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                                 value[0]) ||
            strspn(value, ID_CHARS "/:@") != len)
                return sw_reason_set(reason, size,
                                  "expected an image reference like slipway/agent:latest, not \"%s\"",
                                  value);
        return 0;
}

/* "current", "none" or a generation id (the rule of cache.c: it names a directory). */
static int check_cache(const char *value, char *reason, size_t size)
{
        size_t len = strlen(value);
        if (strcmp(value, "current") == 0 || strcmp(value, "none") == 0)
                return 0;
        if (len == 0 || len >= CACHE_GENERATION_ID_MAX || value[0] == '.' || !id_chars_only(value, len))
                return sw_reason_set(reason, size,
                                  "expected \"current\", \"none\" or a generation id (see `slipway "
                                  "cache ls`), not \"%s\"", value);
        return 0;
}

static int parse_seed_strategy(const char *value, enum seed_strategy *out, char *reason, size_t size)
{
        if (seed_strategy_parse(value, out) == 0)
                return 0;
        return sw_reason_set(reason, size, "expected %s, %s, %s or %s, not \"%s\"",
                          seed_strategy_name(SEED_LAYER_LINK), seed_strategy_name(SEED_REFLINK),
                          seed_strategy_name(SEED_COPY), seed_strategy_name(SEED_BTRFS_SNAPSHOT),
                          value);
}

/* Parse value into the field def describes in base (a section's struct). */
static int key_parse(const struct key_def *def, void *base, const char *value, char *reason,
                     size_t size)
{
        void *field = (char *) base + def->offset;
        char **string = field;
        long long number = 0;
        int r = 0;
        if (value[0] == '\0' && def->type != KEY_TEXT)
                return sw_reason_set(reason, size, "empty value (leave the key out for the default)");
        switch (def->type) {
        case KEY_URL:
                r = check_url(value, reason, size);
                break;
        case KEY_USER:
                /* HTTP Basic puts "user:token" on the wire: a ':' in the user cannot be sent. */
                if (strchr(value, ':'))
                        r = sw_reason_set(reason, size, "':' cannot be part of a user name");
                break;
        case KEY_PATH:
                if (value[0] != '/')
                        r = sw_reason_set(reason, size, "expected an absolute path, not \"%s\"", value);
                else if (strlen(value) >= PATH_MAX)
                        r = sw_reason_set(reason, size, "path too long");
                break;
        case KEY_CREDENTIALS_ID:
                if (strpbrk(value, " \t"))
                        r = sw_reason_set(reason, size, "spaces in \"%s\"", value);
                break;
        case KEY_AGENT_HOST:
                r = check_agent_host(value, reason, size);
                break;
        case KEY_BIND_ADDRESS: {
                bool unspecified;
                if (!address_literal(value, &unspecified))
                        r = sw_reason_set(reason, size, "expected an IPv4 or IPv6 address, not \"%s\"",
                                       value);
                break;
        }
        case KEY_LISTEN_ADDRESS:
                r = check_listen_address(value, reason, size);
                break;
        case KEY_NODE_PREFIX: {
                size_t len = strlen(value);
                if (len > NODE_PREFIX_MAX || !id_chars_only(value, len))
                        r = sw_reason_set(reason, size,
                                       "expected 1-%d characters of a-z A-Z 0-9 _ . -, not \"%s\"",
                                       NODE_PREFIX_MAX, value);
                break;
        }
        case KEY_INT:
                r = parse_range(value, def->min, def->max, &number, reason, size);
                if (r == 0)
                        *(int *) field = (int) number;
                return r;
        case KEY_LONG_LONG:
                r = parse_range(value, def->min, def->max, &number, reason, size);
                if (r == 0)
                        *(long long *) field = number;
                return r;
        case KEY_DOCKER_HOST:
                if (strncmp(value, "unix://", 7) != 0 || value[7] != '/')
                        r = sw_reason_set(reason, size,
                                       "expected unix:///PATH (a local socket), not \"%s\"", value);
                break;
        case KEY_LABELS:
                return parse_labels(value, string, reason, size);
        case KEY_IMAGE:
                r = check_image(value, reason, size);
                break;
        case KEY_CACHE:
                r = check_cache(value, reason, size);
                break;
        case KEY_SEED_STRATEGY:
                return parse_seed_strategy(value, field, reason, size);
        case KEY_UINT32:
                r = parse_range(value, def->min, def->max, &number, reason, size);
                if (r == 0)
                        *(uint32_t *) field = (uint32_t) number;
                return r;
        case KEY_OBSOLETE_DOCKER_POLICY:
                /* The Docker policy proxy is gone: the agent's user namespace contains what
                 * builds ask of its dockerd, so "standard" and "trusted" now mean the same.
                 * Still accepted, so that existing configs load; there is no channel for
                 * warnings out of the parser, slipway.conf(5) says it is ignored. A value that
                 * was never valid is still refused. */
                if (strcmp(value, "standard") == 0 || strcmp(value, "trusted") == 0)
                        return 0;
                return sw_reason_set(reason, size, "expected standard or trusted, not \"%s\"", value);
        case KEY_CPUS:
                return limits_parse_cpus(value, field, reason, size);
        case KEY_MEMORY:
                return limits_parse_memory(value, field, reason, size);
        case KEY_DISK:
                return limits_parse_disk(value, field, reason, size);
        case KEY_EGRESS:
                return egress_parse(value, string, reason, size);
        case KEY_TEXT:
                break;
        }
        if (r < 0)
                return r;
        *string = strdup(value);
        return *string ? 0 : -ENOMEM;
}

/* ---- inih callbacks -------------------------------------------------------------------- */

static int template_add(struct parse_ctx *ctx, const char *name, size_t name_len)
{
        struct config *config = ctx->config;
        for (size_t i = 0; i < config->template_count; i++) {
                if (strlen(config->templates[i].name) == name_len &&
                    memcmp(config->templates[i].name, name, name_len) == 0) {
                        ctx_fail(ctx, EINVAL, ctx->line,
                                 "duplicate section [template %.*s] (first on line %d)",
                                 (int) name_len, name, config->templates[i].line);
                        return -EINVAL;
                }
        }
        if (config->template_count == CONFIG_MAX_TEMPLATES) {
                ctx_fail(ctx, EINVAL, ctx->line, "too many templates (at most %d)",
                         CONFIG_MAX_TEMPLATES);
                return -EINVAL;
        }
        if (config->template_count == ctx->template_capacity) {
                size_t capacity = ctx->template_capacity ? ctx->template_capacity * 2 : 4;
                struct config_template *templates =
                        reallocarray(config->templates, capacity, sizeof(*templates));
                if (!templates) {
                        ctx_fail(ctx, ENOMEM, ctx->line, "out of memory");
                        return -ENOMEM;
                }
                config->templates = templates;
                ctx->template_capacity = capacity;
        }
        struct config_template *template = &config->templates[config->template_count];
        memset(template, 0, sizeof(*template));
        template->name = strndup(name, name_len);
        if (!template->name) {
                ctx_fail(ctx, ENOMEM, ctx->line, "out of memory");
                return -ENOMEM;
        }
        template->line = ctx->line;
        ctx->template_index = config->template_count++;
        ctx->section = SECTION_TEMPLATE;
        return 0;
}

/* "[...]" at the start of a line (n bytes, no newline). */
static int section_header(struct parse_ctx *ctx, const char *p, size_t n)
{
        const char *close = memchr(p, ']', n);
        if (!close) {
                ctx_fail(ctx, EINVAL, ctx->line, "syntax error: no ']' after '['");
                return -EINVAL;
        }
        const char *rest = close + 1, *end = p + n;
        while (rest < end && (*rest == ' ' || *rest == '\t'))
                rest++;
        if (rest < end && *rest != ';' && *rest != '#') {
                ctx_fail(ctx, EINVAL, ctx->line, "syntax error: text after ']'");
                return -EINVAL;
        }
        const char *name = p + 1;
        size_t len = (size_t) (close - name);
        if (len == 7 && memcmp(name, "jenkins", 7) == 0) {
                if (ctx->jenkins_line) {
                        ctx_fail(ctx, EINVAL, ctx->line, "duplicate section [jenkins] (first on line %d)",
                                 ctx->jenkins_line);
                        return -EINVAL;
                }
                ctx->jenkins_line = ctx->line;
                ctx->section = SECTION_JENKINS;
                return 0;
        }
        if (len == 4 && memcmp(name, "host", 4) == 0) {
                if (ctx->host_line) {
                        ctx_fail(ctx, EINVAL, ctx->line, "duplicate section [host] (first on line %d)",
                                 ctx->host_line);
                        return -EINVAL;
                }
                ctx->host_line = ctx->line;
                ctx->section = SECTION_HOST;
                return 0;
        }
        if (len >= 8 && memcmp(name, "template", 8) == 0 &&
            (len == 8 || name[8] == ' ' || name[8] == '\t')) {
                const char *template = name + 8;
                while (template < close && (*template == ' ' || *template == '\t'))
                        template++;
                size_t template_len = (size_t) (close - template);
                if (template_len == 0) {
                        ctx_fail(ctx, EINVAL, ctx->line, "[template] needs a name: [template NAME]");
                        return -EINVAL;
                }
                if (template_len > TEMPLATE_NAME_MAX || !id_chars_only(template, template_len)) {
                        ctx_fail(ctx, EINVAL, ctx->line,
                                 "[%.*s]: bad template name \"%.*s\": use 1-%d characters of "
                                 "a-z A-Z 0-9 _ . -", (int) len, name, (int) template_len, template,
                                 TEMPLATE_NAME_MAX);
                        return -EINVAL;
                }
                return template_add(ctx, template, template_len);
        }
        ctx_fail(ctx, EINVAL, ctx->line,
                 "unknown section [%.*s] (expected [jenkins], [host] or [template NAME])", (int) len,
                 name);
        return -EINVAL;
}

/* One raw line (n bytes, without its newline), before inih sees it. */
static int check_line(struct parse_ctx *ctx, const char *p, size_t n)
{
        if (n > 0 && p[n - 1] == '\r')
                n--;
        if (ctx->line == 1 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) { /* inih skips a BOM */
                p += 3;
                n -= 3;
        }
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) p[i];
                if ((c < 0x20 && c != '\t') || c == 0x7f) {
                        ctx_fail(ctx, EINVAL, ctx->line, "control character 0x%02x", c);
                        return -EINVAL;
                }
        }
        size_t indent = 0;
        while (indent < n && (p[indent] == ' ' || p[indent] == '\t'))
                indent++;
        if (indent == n || p[indent] == ';' || p[indent] == '#')
                return 0; /* blank or comment */
        /* inih would take an indented line as the continuation of the previous value (or as a
         * key when nothing precedes it): neither is worth the surprise. */
        if (indent > 0) {
                ctx_fail(ctx, EINVAL, ctx->line,
                         "indented line: start keys and sections at the beginning of the line "
                         "(a value cannot continue on the next line)");
                return -EINVAL;
        }
        if (p[0] == '[')
                return section_header(ctx, p, n);
        return 0;
}

/* inih's fgets-like reader over the text: one line per call, counted. */
static char *config_reader(char *buf, int size, void *stream)
{
        struct parse_ctx *ctx = stream;
        if (ctx->failed || ctx->pos >= ctx->len)
                return NULL;
        const char *start = ctx->text + ctx->pos;
        const char *newline = memchr(start, '\n', ctx->len - ctx->pos);
        size_t take = newline ? (size_t) (newline - start) + 1 : ctx->len - ctx->pos;
        size_t content = newline ? take - 1 : take;
        ctx->line++;
        ctx->pos += take;
        /* inih's buffer needs room for '\r', '\n' and NUL; it would split a longer line in two. */
        size_t bare = content > 0 && start[content - 1] == '\r' ? content - 1 : content;
        if (size < 4 || bare > (size_t) size - 3) {
                ctx_fail(ctx, EINVAL, ctx->line, "line too long (at most %d characters)", size - 3);
                return NULL;
        }
        if (check_line(ctx, start, content) < 0)
                return NULL;
        memcpy(buf, start, take);
        buf[take] = '\0';
        return buf;
}

static void key_list(const struct key_def *defs, size_t count, char *buf, size_t size)
{
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < count && len < size; i++)
                len += (size_t) snprintf(buf + len, size - len, "%s%s", i ? ", " : "", defs[i].name);
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
        struct parse_ctx *ctx = user;
        (void) section; /* the reader tracks sections, with their lines */
        if (ctx->failed)
                return 0;
        const struct key_def *defs;
        size_t count;
        int *lines;
        void *base;
        switch (ctx->section) {
        case SECTION_JENKINS:
                defs = jenkins_keys;
                count = JENKINS_KEY_COUNT;
                lines = ctx->jenkins_lines;
                base = &ctx->config->jenkins;
                break;
        case SECTION_HOST:
                defs = host_keys;
                count = HOST_KEY_COUNT;
                lines = ctx->host_lines;
                base = &ctx->config->host;
                break;
        case SECTION_TEMPLATE:
                defs = template_keys;
                count = TEMPLATE_KEY_COUNT;
                lines = ctx->template_lines[ctx->template_index];
                base = &ctx->config->templates[ctx->template_index];
                break;
        case SECTION_NONE:
        default:
                ctx_fail(ctx, EINVAL, ctx->line,
                         "%s: key before any section (put it under [jenkins], [host] or "
                         "[template NAME])", name);
                return 0;
        }
        char label[64], reason[REASON_MAX];
        const char *where = section_label(ctx, ctx->section, ctx->template_index, label, sizeof(label));
        if (name[0] == '\0') {
                ctx_fail(ctx, EINVAL, ctx->line, "[%s] syntax error: no key before '='", where);
                return 0;
        }
        size_t i = 0;
        while (i < count && strcmp(defs[i].name, name) != 0)
                i++;
        if (i == count) {
                key_list(defs, count, reason, sizeof(reason));
                ctx_fail(ctx, EINVAL, ctx->line, "[%s] %s: unknown key (expected one of: %s)", where,
                         name, reason);
                return 0;
        }
        if (lines[i]) {
                ctx_fail(ctx, EINVAL, ctx->line, "[%s] %s: set twice (first on line %d)", where, name,
                         lines[i]);
                return 0;
        }
        lines[i] = ctx->line;
        int r = key_parse(&defs[i], base, value, reason, sizeof(reason));
        if (r == -ENOMEM)
                ctx_fail(ctx, ENOMEM, ctx->line, "[%s] %s: out of memory", where, name);
        else if (r < 0)
                ctx_fail(ctx, -r, ctx->line, "[%s] %s: %s", where, name, reason);
        return r == 0;
}

/* ---- after parsing --------------------------------------------------------------------- */

/* Read a secret: a regular file of this user's, private to it (checked on the open fd, so
 * nothing can be swapped in between), one line of at most CONFIG_MAX_SECRET bytes. */
struct secret_buffer {
        char *data;
        size_t size;
};

static void secret_buffer_wipe(struct secret_buffer *buffer)
{
        if (buffer->data) {
                explicit_bzero(buffer->data, buffer->size);
                free(buffer->data);
        }
}

static int secret_read(const char *path, char **out, char *reason, size_t size)
{
        /* O_NOFOLLOW: a symlink could point anywhere the owner check cannot vouch for.
         * O_NONBLOCK: opening a FIFO must not hang (fstat refuses it next). */
        _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0 && errno == ELOOP)
                return sw_reason_set(reason, size, "%s is a symbolic link: name the file itself", path);
        if (fd < 0) {
                int saved = errno;
                sw_reason_set(reason, size, "%s: %s", path, strerror(saved));
                return -saved;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                int saved = errno;
                sw_reason_set(reason, size, "%s: %s", path, strerror(saved));
                return -saved;
        }
        if (!S_ISREG(st.st_mode))
                return sw_reason_set(reason, size, "%s is not a regular file", path);
        uid_t uid = geteuid();
        if (st.st_uid != uid) {
                sw_reason_set(reason, size,
                           "%s belongs to uid %u, not to uid %u that runs slipway (chown %u %s)",
                           path, (unsigned) st.st_uid, (unsigned) uid, (unsigned) uid, path);
                return -EACCES;
        }
        if (st.st_mode & 077) {
                sw_reason_set(reason, size,
                           "%s has mode %04o: group and others must have no access (chmod 600 %s)",
                           path, (unsigned) (st.st_mode & 07777), path);
                return -EACCES;
        }
        _cleanup_(secret_buffer_wipe) struct secret_buffer buffer = {
                .data = malloc(CONFIG_MAX_SECRET + 2),
                .size = CONFIG_MAX_SECRET + 2, /* the secret, its newline, one byte too many */
        };
        if (!buffer.data)
                return -ENOMEM;
        size_t len = 0;
        while (len < buffer.size) {
                ssize_t n = read(fd, buffer.data + len, buffer.size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int saved = errno;
                        sw_reason_set(reason, size, "read %s: %s", path, strerror(saved));
                        return -saved;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (len > 0 && buffer.data[len - 1] == '\n')
                len--;
        if (len > CONFIG_MAX_SECRET)
                return sw_reason_set(reason, size, "%s: longer than %d bytes", path, CONFIG_MAX_SECRET);
        if (len == 0)
                return sw_reason_set(reason, size, "%s is empty", path);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) buffer.data[i];
                if (c < 0x20 || c == 0x7f)
                        return sw_reason_set(reason, size,
                                          "%s: control character at byte %zu (the file holds one "
                                          "line: the secret)", path, i + 1);
        }
        char *secret = strndup(buffer.data, len);
        if (!secret)
                return -ENOMEM;
        *out = secret;
        return 0;
}

/* The short host name, as a valid node prefix: "Build-01.example.com" gives "build-01". */
static char *default_node_prefix(void)
{
        char host[256] = "";
        if (gethostname(host, sizeof(host) - 1) < 0)
                host[0] = '\0';
        host[sizeof(host) - 1] = '\0';
        host[strcspn(host, ".")] = '\0';
        char prefix[NODE_PREFIX_MAX + 1];
        size_t len = 0;
        for (const char *p = host; *p && len < NODE_PREFIX_MAX; p++) {
                char c = *p;
                if (c >= 'A' && c <= 'Z')
                        c = (char) (c - 'A' + 'a');
                else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
                        c = '-';
                prefix[len++] = c;
        }
        prefix[len] = '\0';
        return strdup(len ? prefix : "slipway");
}

static bool dup_default(char **field, const char *value)
{
        if (!*field)
                *field = strdup(value);
        return *field != NULL;
}

/* What must be there, and what cannot be there together. */
static int config_check_required(struct parse_ctx *ctx)
{
        const struct config *config = ctx->config;
        if (config->template_count == 0) {
                ctx_fail(ctx, EINVAL, 0, "no [template NAME] section: at least one is required");
                return -EINVAL;
        }
        for (size_t i = 0; i < config->template_count; i++) {
                if (!ctx->template_lines[i][TEMPLATE_LABELS]) {
                        ctx_fail(ctx, EINVAL, config->templates[i].line,
                                 "[template %s] labels: required", config->templates[i].name);
                        return -EINVAL;
                }
                const char *conflict = agent_disk_strategy_conflict(config->templates[i].seed_strategy);
                const int *lines = ctx->template_lines[i];
                if (lines[TEMPLATE_DISK_LIMIT] && lines[TEMPLATE_SEED_STRATEGY] && conflict) {
                        ctx_fail(ctx, EINVAL, lines[TEMPLATE_DISK_LIMIT],
                                 "[template %s] disk-limit: %s (seed-strategy is on line %d)",
                                 config->templates[i].name, conflict, lines[TEMPLATE_SEED_STRATEGY]);
                        return -EINVAL;
                }
                /* Standalone, nobody else holds a key the agent would authorize. */
                if (!ctx->jenkins_line && !ctx->template_lines[i][TEMPLATE_AUTHORIZED_KEYS]) {
                        ctx_fail(ctx, EINVAL, config->templates[i].line,
                                 "[template %s] authorized-keys: required without a [jenkins] "
                                 "section (who else could log in to its agents?)",
                                 config->templates[i].name);
                        return -EINVAL;
                }
        }
        if (!ctx->jenkins_line)
                return 0; /* standalone: agents only through the control socket */
        static const int required[] = { JENKINS_URL, JENKINS_USER, JENKINS_CREDENTIALS_ID,
                                         JENKINS_AGENT_PUBLIC_KEY };
        for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
                if (!ctx->jenkins_lines[required[i]]) {
                        ctx_fail(ctx, EINVAL, ctx->jenkins_line, "[jenkins] %s: required",
                                 jenkins_keys[required[i]].name);
                        return -EINVAL;
                }
        }
        int token_line = ctx->jenkins_lines[JENKINS_TOKEN_FILE];
        int password_line = ctx->jenkins_lines[JENKINS_PASSWORD_FILE];
        if (token_line && password_line) {
                ctx_fail(ctx, EINVAL, password_line,
                         "[jenkins] password-file: token-file is set too (line %d): give one of them",
                         token_line);
                return -EINVAL;
        }
        if (!token_line && !password_line) {
                ctx_fail(ctx, EINVAL, ctx->jenkins_line,
                         "[jenkins] token-file: required (or password-file)");
                return -EINVAL;
        }
        return 0;
}

/* Defaults for what was not set. Only -ENOMEM, or -EINVAL when a default cannot work. */
static int config_defaults(struct parse_ctx *ctx)
{
        struct config *config = ctx->config;
        struct config_jenkins *jenkins = &config->jenkins;
        struct config_host *host = &config->host;
        if (!ctx->host_lines[HOST_CAPACITY])
                host->capacity = DEFAULT_CAPACITY;
        if (!ctx->host_lines[HOST_LAUNCH_TIMEOUT])
                host->launch_timeout_s = DEFAULT_LAUNCH_TIMEOUT_S;
        if (!ctx->host_lines[HOST_IDLE_TIMEOUT])
                host->idle_timeout_s = DEFAULT_IDLE_TIMEOUT_S;
        if (!ctx->host_lines[HOST_DRAIN_TIMEOUT])
                host->drain_timeout_s = DEFAULT_DRAIN_TIMEOUT_S;
        if (!ctx->host_lines[HOST_RECONCILE_INTERVAL])
                host->reconcile_interval_s = DEFAULT_RECONCILE_INTERVAL_S;
        struct userns_layout userns = userns_layout_default();
        if (!ctx->host_lines[HOST_USERNS_BASE])
                host->userns_layout.base = userns.base;
        if (!ctx->host_lines[HOST_USERNS_SIZE])
                host->userns_layout.size = userns.size;
        if (!ctx->host_lines[HOST_USERNS_COUNT])
                host->userns_layout.count = userns.count;
        if (!ctx->jenkins_lines[JENKINS_POLL_INTERVAL_MS])
                jenkins->poll_interval_ms = DEFAULT_POLL_INTERVAL_MS;
        if (!ctx->jenkins_lines[JENKINS_TIMEOUT])
                jenkins->timeout_s = DEFAULT_TIMEOUT_S;
        if (!dup_default(&host->state_dir, AGENT_DEFAULT_STATE_DIR) ||
            !dup_default(&host->bind_address, AGENT_DEFAULT_BIND_ADDRESS))
                return -ENOMEM;
        if (!jenkins->agent_host && ctx->jenkins_line) {
                if (address_unspecified(host->bind_address)) {
                        ctx_fail(ctx, EINVAL, ctx->jenkins_line,
                                 "[jenkins] agent-host: required when [host] bind-address is %s "
                                 "(Jenkins cannot connect to that)", host->bind_address);
                        return -EINVAL;
                }
                if (!dup_default(&jenkins->agent_host, host->bind_address))
                        return -ENOMEM;
        }
        if (!jenkins->node_prefix && !(jenkins->node_prefix = default_node_prefix()))
                return -ENOMEM;
        for (size_t i = 0; i < config->template_count; i++) {
                struct config_template *template = &config->templates[i];
                const int *lines = ctx->template_lines[i];
                if (!lines[TEMPLATE_SEED_STRATEGY])
                        template->seed_strategy = SEED_LAYER_LINK;
                /* After parsing: [host] may come after the templates. */
                if (!lines[TEMPLATE_MAX_INSTANCES])
                        template->max_instances = host->capacity;
                if (!dup_default(&template->image, AGENT_DEFAULT_IMAGE) ||
                    !dup_default(&template->cache, DEFAULT_CACHE) ||
                    !dup_default(&template->remote_fs, DEFAULT_REMOTE_FS) ||
                    !dup_default(&template->java_path, DEFAULT_JAVA_PATH) ||
                    !dup_default(&template->jvm_options, ""))
                        return -ENOMEM;
        }
        return 0;
}

/* The user namespace ranges, as a whole (each key alone was checked as it was read): they
 * must fit below 2^32-1, and there must be one for every agent the host may run. Only the
 * keys set can be wrong, so the error names the last of them: on its line the layout
 * stopped fitting. */
static int config_check_userns(struct parse_ctx *ctx)
{
        const struct config_host *host = &ctx->config->host;
        static const int keys[] = { HOST_USERNS_BASE, HOST_USERNS_SIZE, HOST_USERNS_COUNT };
        int last = -1;
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (ctx->host_lines[keys[i]] && (last < 0 || ctx->host_lines[keys[i]] > ctx->host_lines[last]))
                        last = keys[i];
        if (last < 0)
                return 0; /* the default layout */
        struct sw_error why = { 0 };
        if (userns_layout_check(&host->userns_layout, &why) < 0) {
                ctx_fail(ctx, EINVAL, ctx->host_lines[last], "[host] %s: %s", host_keys[last].name,
                         why.message);
                return -EINVAL;
        }
        /* Past that many agents, the next launch would fail for want of a range. */
        if (host->userns_layout.count < (uint32_t) host->capacity) {
                ctx_fail(ctx, EINVAL, ctx->host_lines[HOST_USERNS_COUNT],
                         "[host] userns-count: %u user namespace ranges for a capacity of %d "
                         "agents: each agent needs one (raise userns-count to at least %d)",
                         host->userns_layout.count, host->capacity, host->capacity);
                return -EINVAL;
        }
        return 0;
}

/* Each template's authorized keys: its own file, then the Jenkins key (Jenkins must log in
 * to every served agent). */
static int config_read_template_keys(struct parse_ctx *ctx)
{
        struct config *config = ctx->config;
        for (size_t i = 0; i < config->template_count; i++) {
                struct config_template *template = &config->templates[i];
                const char *jenkins_key = config->jenkins.agent_public_key;
                _cleanup_free_ char *own = NULL;
                if (template->authorized_keys_file) {
                        int r = sshkey_read_public(template->authorized_keys_file, &own, ctx->err);
                        if (r < 0) {
                                sw_error_prefix(ctx->err, "%s:%d: [template %s] authorized-keys",
                                                ctx->path,
                                                ctx->template_lines[i][TEMPLATE_AUTHORIZED_KEYS],
                                                template->name);
                                ctx->failed = true;
                                ctx->error_code = -r;
                                return r;
                        }
                }
                size_t own_len = own ? strlen(own) : 0;
                bool newline = own_len > 0 && own[own_len - 1] != '\n';
                if (asprintf(&template->authorized_keys, "%s%s%s", own ? own : "",
                             newline && jenkins_key ? "\n" : "", jenkins_key ? jenkins_key : "") < 0) {
                        template->authorized_keys = NULL;
                        return -ENOMEM;
                }
        }
        return 0;
}

/* The secret and the public key the config names. */
static int config_read_files(struct parse_ctx *ctx)
{
        struct config_jenkins *jenkins = &ctx->config->jenkins;
        if (!ctx->jenkins_line)
                return config_read_template_keys(ctx);
        int token_line = ctx->jenkins_lines[JENKINS_TOKEN_FILE];
        int line = token_line ? token_line : ctx->jenkins_lines[JENKINS_PASSWORD_FILE];
        const char *key = token_line ? "token-file" : "password-file";
        const char *path = token_line ? jenkins->token_file : jenkins->password_file;
        char **secret = token_line ? &jenkins->token : &jenkins->password;
        char reason[REASON_MAX];
        int r = secret_read(path, secret, reason, sizeof(reason));
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                ctx_fail(ctx, -r, line, "[jenkins] %s: %s", key, reason);
                return r;
        }
        r = sshkey_read_public(jenkins->agent_public_key_file, &jenkins->agent_public_key, ctx->err);
        if (r < 0) {
                sw_error_prefix(ctx->err, "%s:%d: [jenkins] agent-public-key", ctx->path,
                                ctx->jenkins_lines[JENKINS_AGENT_PUBLIC_KEY]);
                ctx->failed = true;
                ctx->error_code = -r;
                return r;
        }
        return config_read_template_keys(ctx);
}

static int config_finish(struct parse_ctx *ctx)
{
        int r = config_check_required(ctx);
        if (r >= 0)
                r = config_defaults(ctx);
        if (r >= 0)
                r = config_check_userns(ctx);
        if (r >= 0)
                r = config_read_files(ctx);
        if (r == -ENOMEM)
                ctx_fail(ctx, ENOMEM, 0, "out of memory");
        return r;
}

/* ---- API ------------------------------------------------------------------------------- */

static void config_freep(struct config **config)
{
        config_free(*config);
}

static void secret_free(char *secret)
{
        if (secret) {
                explicit_bzero(secret, strlen(secret));
                free(secret);
        }
}

void config_free(struct config *config)
{
        if (!config)
                return;
        struct config_jenkins *jenkins = &config->jenkins;
        secret_free(jenkins->token);
        secret_free(jenkins->password);
        free(jenkins->url);
        free(jenkins->user);
        free(jenkins->token_file);
        free(jenkins->password_file);
        free(jenkins->credentials_id);
        free(jenkins->agent_public_key_file);
        free(jenkins->agent_public_key);
        free(jenkins->agent_host);
        free(jenkins->node_prefix);
        free(config->host.state_dir);
        free(config->host.docker_host);
        free(config->host.bind_address);
        free(config->host.metrics_address);
        for (size_t i = 0; i < config->template_count; i++) {
                struct config_template *template = &config->templates[i];
                free(template->name);
                free(template->labels);
                free(template->image);
                free(template->cache);
                free(template->remote_fs);
                free(template->java_path);
                free(template->jvm_options);
                free(template->authorized_keys_file);
                free(template->authorized_keys);
                free(template->egress_allow);
        }
        free(config->templates);
        free(config->path);
        free(config);
}

int config_parse(const char *path, const char *text, size_t len, struct config **out,
                 struct sw_error *err)
{
        if (len > CONFIG_MAX_FILE)
                return sw_error_set(err, EFBIG, "%s: larger than %u bytes", path, CONFIG_MAX_FILE);
        const char *nul = memchr(text, '\0', len);
        if (nul) {
                int line = 1;
                for (const char *p = text; p < nul; p++)
                        line += *p == '\n';
                return sw_error_set(err, EINVAL, "%s:%d: NUL byte: not a text file", path, line);
        }
        _cleanup_(config_freep) struct config *config = calloc(1, sizeof(*config));
        if (!config || !(config->path = strdup(path)))
                return sw_error_set(err, ENOMEM, "%s: out of memory", path);
        /* Large (the per-template key lines): on the heap. */
        _cleanup_free_ struct parse_ctx *ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return sw_error_set(err, ENOMEM, "%s: out of memory", path);
        ctx->path = path;
        ctx->text = text;
        ctx->len = len;
        ctx->config = config;
        ctx->err = err;
        int r = ini_parse_stream(config_reader, ctx, config_handler, ctx);
        /* inih reports the first line it could not parse ("no '='") and keeps going; the reader
         * and handler stop at their first error. The earlier of the two is the one to show. */
        if (r > 0 && (!ctx->failed || r < ctx->error_line))
                return sw_error_set(err, EINVAL,
                                    "%s:%d: syntax error (expected \"key = value\", \"[section]\" or "
                                    "a comment)", path, r);
        if (r < 0 && !ctx->failed)
                return sw_error_set(err, ENOMEM, "%s: out of memory", path);
        if (ctx->failed)
                return -ctx->error_code;
        r = config_finish(ctx);
        if (r < 0)
                return r;
        *out = TAKE_PTR(config);
        return 0;
}

int config_load(const char *path, struct config **out, struct sw_error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = fs_read_bounded(path, CONFIG_MAX_FILE, &text, &len);
        if (r == -EFBIG)
                return sw_error_set(err, EFBIG, "%s: larger than %u bytes", path, CONFIG_MAX_FILE);
        if (r < 0)
                return sw_error_errno(err, -r, "%s", path);
        return config_parse(path, text, len, out, err);
}

const struct config_template *config_template_find(const struct config *config, const char *name)
{
        if (!config || !name)
                return NULL;
        for (size_t i = 0; i < config->template_count; i++)
                if (strcmp(config->templates[i].name, name) == 0)
                        return &config->templates[i];
        return NULL;
}
