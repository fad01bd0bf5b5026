/* Shared between serve.c (the loop) and serve_agent.c (each agent's life); not public. */
#ifndef SLIPWAY_SERVE_INTERNAL_H
#define SLIPWAY_SERVE_INTERNAL_H

#include <stdbool.h>

#include "slipway/agent.h"
#include "slipway/config.h"
#include "slipway/control.h"
#include "slipway/jenkins.h"
#include "slipway/serve.h"
#include "slipway/worker.h"

#define SERVE_MAX_POLLED 1024
#define SERVE_JENKINS_BACKOFF_MAX_S 30.0
#define SERVE_TEMPLATE_BACKOFF_MIN_S 5.0
#define SERVE_TEMPLATE_BACKOFF_MAX_S 300.0
#define SERVE_TEMPLATE_FAILING_AFTER 3
#define SERVE_DESTROY_RETRY_S 10.0
#define SERVE_STATE_BACKOFF_MIN_S 2.0   /* a state record could not be written (disk full) */
#define SERVE_STATE_BACKOFF_MAX_S 60.0
#define SERVE_DOCKER_BACKOFF_MAX_S 30.0
/* Periodic reconciliation leaves alone a data root without a container younger than this
 * beyond launch-timeout: `slipway run` in the same state dir makes one before its container. */
#define SERVE_ORPHAN_GRACE_S 60
/* SSHLauncher: seconds between connection attempts while the agent starts. The node exists
 * before the container, so the first attempts are refused. */
#define SERVE_SSH_RETRY_WAIT_S 1
#define SERVE_SSH_CONNECT_TIMEOUT_S 60

enum served_state {
        SERVED_REGISTERED,  /* node created in Jenkins, no container yet */
        SERVED_LAUNCHING,   /* a worker seeds, creates and starts it */
        SERVED_READY,       /* running; Jenkins connects, then it waits for its build */
        SERVED_RETIRING,    /* its node is to be deleted (retried while Jenkins fails) */
        SERVED_DESTROYING,  /* a worker removes its container and data root */
};

struct served {
        char id[2 * AGENT_ID_BYTES + 1];
        char *node;
        char *dir;
        char *container_id;
        const struct config_template *template;
        struct agent *agent;   /* keys and port from agent_prepare, until launched */
        enum served_state state;
        int ssh_port;          /* published on host.bind_address; 0: not known (adopted) */
        double requested;      /* monotonic */
        double online_at;      /* first seen online, 0 before */
        bool used;             /* its one build started */
        bool seen_busy;        /* a poll saw its executor busy */
        double build_event_at; /* monotonic: its gate said the build started; 0 before */
        int gate_wd;           /* inotify watch of its gate directory, or -1 */
        bool gate_released;    /* BUILD_GATE_OFFLINE written: its build goes on */
        bool reused;           /* its gate saw a second build */
        double offline_retry_at; /* monotonic: marking the node offline is retried from then */
        int offline_failures;  /* in a row */
        bool offline_set;      /* marked offline in Jenkins (takes no more builds) */
        bool idle_retiring;    /* marked offline for the idle timeout; delete once still idle */
        bool node_gone;        /* deleted in Jenkins (or never created) */
        char *retire_reason;
        double retry_at;       /* a failed destroy is retried from then */
        const char *intended;  /* its record (serve_state.h): the step being taken */
        const char *reached;   /* and the last one completed, or NULL */
        struct worker worker;
        struct served *next;
};

struct template_health {
        int failures;          /* launches failed in a row */
        bool failing;
        double next_attempt;   /* monotonic: no launch before */
        long launch_failures_total;
        long launches_total;
        long builds_total;     /* agents that took their build */
};

/* A Prometheus histogram with fixed bounds. */
#define SERVE_HISTOGRAM_BUCKETS 9
struct serve_histogram {
        const double *bounds;  /* SERVE_HISTOGRAM_BUCKETS upper bounds; +Inf is implicit */
        unsigned long counts[SERVE_HISTOGRAM_BUCKETS + 1];
        unsigned long count;
        double sum;
};
void serve_histogram_observe(struct serve_histogram *histogram, double value);

struct server {
        const struct config *config;
        const char *config_path;   /* re-read on SIGHUP */
        struct config *reloaded;   /* the configuration SIGHUP installed (owned), or NULL */
        struct jenkins_client *jenkins;
        struct jenkins_poll *poll;  /* the tick's poll of /computer and /queue (NULL standalone) */
        struct docker_client *docker; /* quick local checks only; blocking work is in workers */
        struct served *agents;
        char ***template_atoms;
        struct template_health *health;
        int signal_fd;
        bool reconciled;
        bool draining;
        double drain_deadline;
        int jenkins_failures;
        double jenkins_retry_at;
        long withdrawn_total;
        long agents_reused_total;  /* agents that ran a second build (should stay 0) */
        int gate_fd;           /* inotify on the agents' gate directories (serve_gate.c) */
        double poll_started_at; /* monotonic: when the poll being answered was sent */
        long jenkins_errors_total;
        long destroy_failures_total;
        struct serve_histogram seed_seconds;
        struct serve_histogram ready_seconds;
        struct control *control;
        struct control *metrics; /* GET /metrics on host.metrics-address, or NULL */
        char *anchor;          /* name of this host's anchor node (see jenkins_anchor_create) */
        bool anchor_made;      /* it exists in Jenkins, as far as we know */
        /* Writing state records failed (a full disk): no new agent, and no retire or destroy
         * step, before state_retry_at. */
        int state_failures;
        double state_retry_at;
        long state_write_failures_total;
        /* Docker, as the periodic reconciliation sees it. While it is unreachable no agent
         * is launched; checks back off up to SERVE_DOCKER_BACKOFF_MAX_S. */
        int docker_failures;
        double reconcile_at;   /* monotonic: the next periodic reconciliation */
        long docker_errors_total;
};

double serve_now(void);
long long serve_wall_ms(void);
void serve_jenkins_failed(struct server *server, const struct sw_error *err);
void serve_template_failed(struct server *server, const struct config_template *template,
                           const char *why);
void serve_template_succeeded(struct server *server, const struct config_template *template);

/* serve_agent.c */
int serve_agent_register(struct server *server, const struct config_template *template,
                         struct served **out);
void serve_agent_launch(struct server *server, struct served *s);
void serve_agent_observe(struct server *server, struct served *s,
                         const struct jenkins_computers *computers);
void serve_agent_retire(struct server *server, struct served *s, const char *reason);
void serve_agent_worker_done(struct server *server, struct served *s);
void serve_agent_step(struct server *server, struct served *s, bool force);
void serve_agent_free(struct served *s);
struct served *serve_agent_adopt(struct server *server, const char *id, const char *node,
                                 const char *container_id);
void serve_agent_advance_retiring(struct server *server, struct served *s);
bool serve_state_ready(const struct server *server);

/* An agent's gate says its build started: offline first, then the build may go on. */
void serve_agent_build_started(struct server *server, struct served *s);
/* Retry marking offline the nodes whose build waits for it. Returns the seconds until the
 * next retry is due, or a negative number when none waits. */
double serve_agents_offline_retry(struct server *server);

/* serve_gate.c: the host side of slipway/build_gate.h. */
int serve_gate_open(struct server *server, struct sw_error *err);
/* Watch s's gate directory (and act on what it already holds). */
int serve_gate_watch(struct server *server, struct served *s);
void serve_gate_forget(struct server *server, struct served *s);
/* The node is offline: write BUILD_GATE_OFFLINE, once. */
void serve_gate_release(struct served *s);
void serve_gate_handle(struct server *server);

/* serve_reconcile.c: at start (before any agent is launched) and every reconcile-interval
 * (computers NULL while Jenkins is unreachable, and always when standalone). */
int serve_reconcile_start(struct server *server, const struct jenkins_computers *computers);
void serve_reconcile_periodic(struct server *server, const struct jenkins_computers *computers);
/* Detach every mount at or below dir (deepest first): what an agent left mounted must not
 * keep its directory from being removed. */
int serve_unmount_under(const char *dir, struct sw_error *err);
/* The step name as the constant serve_state.h defines, or NULL for one it does not. */
const char *serve_step_constant(const char *step);

/* serve_control.c: the control socket's requests and /metrics. */
int serve_control_open(struct server *server, struct sw_error *err);
/* Agents now, as a POST /v1/agents asks: registered (a node, with Jenkins) and launching. */
int serve_create_agents(struct server *server, const struct config_template *template,
                        int count, struct served **created, struct sw_error *err);
void serve_start_drain(struct server *server, const char *why);

#endif
