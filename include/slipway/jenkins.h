/* Jenkins REST client: libcurl, jansson; the wire format of DESIGN.md ("Jenkins wire format").
 *
 * Auth is HTTP Basic. With an API token no crumb is needed; with a password the client fetches
 * a crumb from /crumbIssuer/api/json once (and again after a 403), keeps the session cookie it
 * is bound to, and sends both on every POST.
 *
 * Every call is bounded (response size, connect and total timeouts) and every failure fills
 * struct sw_error with the URL path, the HTTP status and Jenkins' own error text, e.g.
 *   "jenkins http://127.0.0.1:8080: POST /computer/doCreateItem: 400 Agent called 'x' already exists".
 * Return values: 0 on success; -ENOENT for 404 (callers treat "already gone" as success);
 * -EEXIST when a node of that name exists; -EACCES for 401/403; -EINVAL for 400 (and for
 * arguments refused before any request); -ECONNREFUSED/-ETIMEDOUT/-EIO for transport failures
 * and 5xx (all worth retrying); -EFBIG for a body over JENKINS_MAX_RESPONSE; -EPROTO for a
 * 2xx body that is not what the API promises.
 *
 * Requests carry "Accept-Language: en": Jenkins localizes its error texts per request (the
 * duplicate-name check reads "already exists"), and English logs are what we grep.
 * Redirects are never followed: 302/303 is how Jenkins answers a successful form POST
 * (doCreateItem, doDelete, changeOfflineCause), except a redirect to the login page. */
#ifndef SLIPWAY_JENKINS_H
#define SLIPWAY_JENKINS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "slipway/error.h"

#define JENKINS_MAX_RESPONSE (8u << 20) /* bytes; larger bodies are refused */
#define JENKINS_NODE_NAME_MAX 200
#define JENKINS_MAX_ITEMS 10000  /* computers, queue items, executors; more is refused */
#define JENKINS_MAX_LABELS 1000  /* assignedLabels per computer; more is refused */
#define JENKINS_STRING_MAX 4096  /* bytes of a name or label; longer is refused */
#define JENKINS_TEXT_MAX 1024    /* bytes of free text (description, why): truncated to this */

struct jenkins_client;

struct jenkins_options {
        const char *url;      /* "http://host:port/prefix" (trailing slash optional) */
        const char *user;
        const char *token;    /* API token, or NULL when password is used */
        const char *password; /* password (crumb + session), or NULL */
                              /* neither (and user NULL): anonymous, with crumbs like a password */
        long timeout_s;       /* whole-request timeout; 0: 10 s */
};

int jenkins_open(struct jenkins_client **out, const struct jenkins_options *options,
                 struct sw_error *err);
void jenkins_close(struct jenkins_client *client);
const char *jenkins_url(const struct jenkins_client *client);

/* GET /api/json?tree=nodeName: checks the URL and the credentials. */
int jenkins_ping(struct jenkins_client *client, struct sw_error *err);

/* An SSH agent node, exactly as slipway defines it (one executor, EXCLUSIVE, SSHLauncher with
 * ManuallyProvidedKeyVerificationStrategy, RetentionStrategy$Always). */
struct jenkins_node_spec {
        const char *name;
        const char *description;
        const char *remote_fs;
        const char *labels;         /* space-separated label atoms */
        const char *host;           /* where Jenkins connects */
        int port;
        const char *credentials_id; /* Jenkins credentials id of the SSH private key */
        const char *java_path;      /* may be NULL or "" */
        const char *jvm_options;    /* may be NULL or "" */
        int launch_timeout_s;       /* SSHLauncher launchTimeoutSeconds */
        int max_retries;            /* SSHLauncher maxNumRetries */
        int retry_wait_s;           /* SSHLauncher retryWaitTime */
        const char *host_key;       /* "ssh-ed25519 AAAA..." (a trailing comment is dropped) */
};

/* The `json` form field of POST /computer/doCreateItem (pure; unit-tested). */
char *jenkins_node_json(const struct jenkins_node_spec *spec, struct sw_error *err);

/* The rules of Jenkins.checkGoodName: not empty, not "." or "..", no control characters (C0,
 * DEL and C1, as Java's Character.isISOControl), none of ? * / \ % ! @ # $ ^ & | < > [ ] : ; and
 * not ending in "."; plus: valid UTF-8, at most JENKINS_NODE_NAME_MAX bytes, and no leading or
 * trailing space (ComputerSet.doDoCreateItem trims the name, so the node would get another name
 * than the one we track). Also checked before a name goes into a URL path. */
bool jenkins_node_name_valid(const char *name, struct sw_error *err);

/* An anchor: a node nothing ever connects to (inbound launcher, no labels, EXCLUSIVE, so it
 * never takes a build). Jenkins only names the label a queued item waits for while at least
 * one agent node exists ("There are no nodes with the label ‘dind’"); with none, a Pipeline
 * item only says "Waiting for next available executor" and exports no label at all. */
char *jenkins_anchor_json(const char *name, const char *description, struct sw_error *err);
int jenkins_anchor_create(struct jenkins_client *client, const char *name,
                          const char *description, struct sw_error *err);

/* POST /computer/doCreateItem (302 is success). -EEXIST when the name is taken. */
int jenkins_node_create(struct jenkins_client *client, const struct jenkins_node_spec *spec,
                        struct sw_error *err);
/* POST /computer/<name>/doDelete (302 is success; 404 gives -ENOENT). */
int jenkins_node_delete(struct jenkins_client *client, const char *name, struct sw_error *err);
/* POST /computer/<name>/changeOfflineCause?offlineMessage=...: marks it temporarily offline
 * (idempotent, unlike toggleOffline). */
int jenkins_node_set_offline(struct jenkins_client *client, const char *name, const char *message,
                             struct sw_error *err);

struct jenkins_computer {
        char *name;        /* displayName ("Built-In Node" for the controller: skip it) */
        char *description; /* may be NULL */
        char **labels;     /* assignedLabels[].name, NULL-terminated (never NULL itself) */
        bool offline;
        bool temporarily_offline;
        bool idle;
        int num_executors;
        int busy_executors; /* executors[] whose idle is false */
};

struct jenkins_computers {
        struct jenkins_computer *items;
        size_t count;
};

/* GET /pluginManager/api/json?depth=1&tree=plugins[shortName,version]: *plugins gets the
 * array ([{"shortName": ..., "version": ...}]). Jenkins answers 403 (-EACCES) to users without
 * Overall/SystemRead. */
int jenkins_plugins_get(struct jenkins_client *client, json_t **plugins, struct sw_error *err);

/* GET /computer/api/json?tree=computer[displayName,description,offline,temporarilyOffline,
 * idle,numExecutors,assignedLabels[name],executors[idle]] */
int jenkins_computers_get(struct jenkins_client *client, struct jenkins_computers *out,
                          struct sw_error *err);
/* Decode that body (pure, fuzzed). Unknown fields are ignored; wrong types are errors (EPROTO,
 * naming the field and index: "computer[3].numExecutors: not an integer"). displayName is
 * required; missing booleans are false, a missing numExecutors 0, description NULL. On error
 * *out is left empty. */
int jenkins_computers_parse(const char *body, size_t len, struct jenkins_computers *out,
                            struct sw_error *err);
void jenkins_computers_release(struct jenkins_computers *computers);
const struct jenkins_computer *jenkins_computers_find(const struct jenkins_computers *computers,
                                                      const char *name);

struct jenkins_queue_item {
        long long id;
        bool buildable;
        bool stuck;
        long long in_queue_since; /* ms since the epoch */
        char *why;                /* may be NULL */
        char *task_name;          /* may be NULL */
        char *label;              /* task.labelExpression where Jenkins exports it, else NULL */
};

struct jenkins_queue {
        struct jenkins_queue_item *items;
        size_t count;
};

/* GET /queue/api/json?tree=items[id,why,buildable,stuck,inQueueSince,
 * task[name,url,labelExpression]] */
int jenkins_queue_get(struct jenkins_client *client, struct jenkins_queue *out,
                      struct sw_error *err);
/* Decode that body (pure, fuzzed): like jenkins_computers_parse; id is required. */
int jenkins_queue_parse(const char *body, size_t len, struct jenkins_queue *out,
                        struct sw_error *err);
void jenkins_queue_release(struct jenkins_queue *queue);

/* Jenkins' own words from an error response, for messages (pure, fuzzed): the X-Error header
 * when there is one (Jenkins' error pages set it to the Failure's message), else, for an HTML
 * page, its <title> unless it is just "Jenkins", else the first <p>/<pre> after the <h1>, else
 * <h1>/<h2>, else the page's text; a plain body as it is. Whitespace is collapsed, control
 * characters dropped, invalid UTF-8 replaced by '?', and the result bounded to 200 bytes.
 * x_error may be NULL; out gets "" when nothing readable is found. */
void jenkins_error_text(const char *x_error, const char *body, size_t len, char *out, size_t size);

/* The periodic poll of /computer and /queue without blocking (jenkins_poll.c):
 *   jenkins_poll_new once; then per poll jenkins_poll_start, and until jenkins_poll_step
 *   returns non-zero, jenkins_poll_wait (poll(2) on fds and the transfer's sockets together,
 *   returns how many of fds are ready) followed by jenkins_poll_step: 0 while running, 1 with
 *   computers and queue filled (the caller releases them), negative with err filled as the
 *   blocking calls would. Each request is bounded by the client's timeout. */
struct jenkins_poll;
struct pollfd;
int jenkins_poll_new(struct jenkins_client *client, struct jenkins_poll **out, struct sw_error *err);
void jenkins_poll_free(struct jenkins_poll *poll);
int jenkins_poll_start(struct jenkins_poll *poll, struct sw_error *err);
bool jenkins_poll_running(const struct jenkins_poll *poll);
int jenkins_poll_wait(struct jenkins_poll *poll, struct pollfd *fds, size_t nfds, int timeout_ms,
                      struct sw_error *err);
int jenkins_poll_step(struct jenkins_poll *poll, struct jenkins_computers *computers,
                      struct jenkins_queue *queue, struct sw_error *err);

#endif
