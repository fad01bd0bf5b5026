/* slipway serve: the loop, signals, Jenkins polling and provisioning. See
 * include/slipway/serve.h; each agent's own state machine is in serve_agent.c. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve_internal.h"
#include "slipway/cleanup.h"
#include "slipway/demand.h"
#include "slipway/log.h"

double serve_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

long long serve_wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- Jenkins reachability ------------------------------------------------------------- */

void serve_jenkins_failed(struct server *server, const struct sw_error *err)
{
        server->jenkins_failures++;
        server->jenkins_errors_total++;
        double wait = 0.5;
        for (int i = 1; i < server->jenkins_failures && wait < SERVE_JENKINS_BACKOFF_MAX_S; i++)
                wait *= 2;
        if (wait > SERVE_JENKINS_BACKOFF_MAX_S)
                wait = SERVE_JENKINS_BACKOFF_MAX_S;
        server->jenkins_retry_at = serve_now() + wait;
        /* The first failure and then every tenth: a long outage must not flood the log. */
        if (server->jenkins_failures == 1 || server->jenkins_failures % 10 == 0)
                log_warning("jenkins unavailable (%d failures in a row, next try in %.1f s): %s",
                            server->jenkins_failures, wait, err->message);
}

static void jenkins_succeeded(struct server *server)
{
        if (server->jenkins_failures > 0)
                log_info("jenkins reachable again after %d failed requests", server->jenkins_failures);
        server->jenkins_failures = 0;
        server->jenkins_retry_at = 0;
}

static int fetch_jenkins(struct server *server, struct jenkins_computers *computers,
                         struct jenkins_queue *queue)
{
        struct sw_error err = { 0 };
        if (jenkins_computers_get(server->jenkins, computers, &err) < 0 ||
            jenkins_queue_get(server->jenkins, queue, &err) < 0) {
                jenkins_computers_release(computers);
                serve_jenkins_failed(server, &err);
                return -1;
        }
        jenkins_succeeded(server);
        return 0;
}

/* --- provisioning ----------------------------------------------------------------------- */

static int count_active(const struct server *server, const struct config_template *template)
{
        int n = 0;
        for (const struct served *s = server->agents; s; s = s->next)
                if (!template || s->template == template)
                        n++;
        return n;
}

static bool template_may_launch(struct server *server, size_t index)
{
        struct template_health *health = &server->health[index];
        return health->next_attempt <= serve_now();
}

void serve_template_failed(struct server *server, const struct config_template *template,
                           const char *why)
{
        size_t index = (size_t) (template - server->config->templates);
        struct template_health *health = &server->health[index];
        health->failures++;
        health->launch_failures_total++;
        double wait = SERVE_TEMPLATE_BACKOFF_MIN_S;
        for (int i = 1; i < health->failures && wait < SERVE_TEMPLATE_BACKOFF_MAX_S; i++)
                wait *= 2;
        if (wait > SERVE_TEMPLATE_BACKOFF_MAX_S)
                wait = SERVE_TEMPLATE_BACKOFF_MAX_S;
        health->next_attempt = serve_now() + wait;
        if (health->failures >= SERVE_TEMPLATE_FAILING_AFTER && !health->failing) {
                health->failing = true;
                log_error("template %s is failing: %d launches in a row failed, the last: %s; "
                          "retrying every %.0f s at most", template->name, health->failures, why,
                          SERVE_TEMPLATE_BACKOFF_MAX_S);
        } else {
                log_warning("template %s: launch failed (%d in a row), next launch in %.0f s: %s",
                            template->name, health->failures, wait, why);
        }
}

void serve_template_succeeded(struct server *server, const struct config_template *template)
{
        size_t index = (size_t) (template - server->config->templates);
        struct template_health *health = &server->health[index];
        if (health->failing)
                log_info("template %s works again", template->name);
        health->failures = 0;
        health->failing = false;
        health->next_attempt = 0;
}

/* Withdraw just-registered nodes that another host's earlier node will serve instead. */
static void withdraw_unclaimed(struct server *server, struct served **fresh, size_t count)
{
        struct jenkins_computers computers = { 0 };
        struct jenkins_queue queue = { 0 };
        if (fetch_jenkins(server, &computers, &queue) < 0)
                return; /* keep them: the launch timeout retires a surplus one */
        _cleanup_free_ const char **names = calloc(count + 1, sizeof(char *));
        _cleanup_free_ bool *unclaimed = calloc(count + 1, sizeof(bool));
        if (names && unclaimed) {
                for (size_t i = 0; i < count; i++)
                        names[i] = fresh[i]->node;
                demand_unclaimed(&queue, &computers, names, count, unclaimed);
                for (size_t i = 0; i < count; i++) {
                        if (!unclaimed[i])
                                continue;
                        log_info("agent=%s node %s withdrawn: an earlier node takes that build",
                                 fresh[i]->id, fresh[i]->node);
                        serve_agent_retire(server, fresh[i], "withdrawn");
                        server->withdrawn_total++;
                }
        }
        jenkins_computers_release(&computers);
        jenkins_queue_release(&queue);
}

static void provision(struct server *server, const struct jenkins_computers *computers,
                      const struct jenkins_queue *queue)
{
        const struct config *config = server->config;
        size_t n = config->template_count;
        _cleanup_free_ struct demand_template *templates = calloc(n, sizeof(*templates));
        _cleanup_free_ int *launch = calloc(n, sizeof(int));
        _cleanup_free_ struct served **fresh = NULL;
        if (!templates || !launch)
                return;
        for (size_t i = 0; i < n; i++) {
                templates[i] = (struct demand_template){
                        .name = config->templates[i].name,
                        .labels = (const char *const *) server->template_atoms[i],
                        .max_instances = config->templates[i].max_instances,
                        .active = count_active(server, &config->templates[i]),
                };
                /* A template backing off takes no work now. */
                if (!template_may_launch(server, i))
                        templates[i].max_instances = 0;
        }
        struct demand_result result;
        demand_plan(queue, computers, templates, n, config->host.capacity,
                    count_active(server, NULL), launch, &result);
        if (result.launch_total == 0)
                return;
        fresh = calloc((size_t) result.launch_total, sizeof(*fresh));
        if (!fresh)
                return;
        size_t registered = 0;
        for (size_t i = 0; i < n; i++) {
                for (int k = 0; k < launch[i]; k++) {
                        struct served *s = NULL;
                        if (serve_agent_register(server, &config->templates[i], &s) == 0)
                                fresh[registered++] = s;
                }
        }
        if (registered > 0)
                withdraw_unclaimed(server, fresh, registered);
        for (size_t i = 0; i < registered; i++)
                if (fresh[i]->state == SERVED_REGISTERED)
                        serve_agent_launch(server, fresh[i]);
}

static char **split_atoms(const char *labels);

/* --- the anchor node -------------------------------------------------------------------- */

/* Jenkins names the label a queued item waits for only while some agent node exists; with
 * none, Pipeline items say "Waiting for next available executor" and export no label. When
 * such an item is buildable, keep an anchor node (inbound launcher, no labels, EXCLUSIVE:
 * it never connects and never takes a build) so the next poll shows the label. */
static void ensure_anchor(struct server *server, const struct jenkins_computers *computers,
                          const struct jenkins_queue *queue)
{
        if (jenkins_computers_find(computers, server->anchor)) {
                server->anchor_made = true;
                return;
        }
        server->anchor_made = false;
        bool unlabelled = false;
        for (size_t i = 0; i < queue->count && !unlabelled; i++) {
                _cleanup_free_ char *label = demand_item_label(&queue->items[i]);
                unlabelled = queue->items[i].buildable && !label;
        }
        if (!unlabelled)
                return;
        _cleanup_free_ char *description = NULL;
        if (asprintf(&description, "slipway-anchor: host=%s (never runs builds: lets Jenkins name "
                     "the label queued builds wait for)", server->config->jenkins.node_prefix) < 0)
                return;
        struct sw_error err = { 0 };
        int r = jenkins_anchor_create(server->jenkins, server->anchor, description, &err);
        if (r < 0 && r != -EEXIST) {
                log_warning("create anchor node %s: %s", server->anchor, err.message);
                return;
        }
        server->anchor_made = true;
        log_info("anchor node %s created: a queued build names no label while Jenkins has no "
                 "agent nodes", server->anchor);
}

static void remove_anchor(struct server *server)
{
        if (!server->anchor_made)
                return;
        struct sw_error err = { 0 };
        int r = jenkins_node_delete(server->jenkins, server->anchor, &err);
        if (r < 0 && r != -ENOENT)
                log_warning("delete anchor node %s: %s", server->anchor, err.message);
        else
                log_info("anchor node %s deleted", server->anchor);
        server->anchor_made = false;
}

/* --- the loop ----------------------------------------------------------------------------- */

/* Standalone (no [jenkins]): agents come only through the control socket; the tick
 * reconciles with Docker and the state records, at start and every reconcile-interval. */
static void tick_standalone(struct server *server)
{
        double now = serve_now();
        if (!server->reconciled) {
                if (server->reconcile_at <= now && serve_reconcile_start(server, NULL) >= 0)
                        server->reconciled = true;
        } else if (now >= server->reconcile_at) {
                serve_reconcile_periodic(server, NULL);
        }
}

/* A tick with Jenkins has two halves: this one starts the poll of /computer and /queue, which
 * runs on while the loop serves everything else (jenkins_poll.c); tick_answered does the rest
 * once Jenkins has answered. */
static void tick(struct server *server)
{
        if (!server->jenkins)
                return tick_standalone(server);
        double now = serve_now();
        /* Docker is checked on time even while Jenkins is away (without Jenkins' view of the
         * nodes, which only the removal of orphan nodes needs). */
        bool periodic = server->reconciled && now >= server->reconcile_at;
        if (server->jenkins_retry_at > now) {
                if (periodic)
                        serve_reconcile_periodic(server, NULL);
                return;
        }
        if (jenkins_poll_running(server->poll))
                return; /* the previous poll is still on its way (bounded by the timeout) */
        struct sw_error err = { 0 };
        server->poll_started_at = now;
        if (jenkins_poll_start(server->poll, &err) < 0) {
                serve_jenkins_failed(server, &err);
                if (periodic)
                        serve_reconcile_periodic(server, NULL);
        }
}

static void tick_answered(struct server *server, int result, struct jenkins_computers *computers,
                          struct jenkins_queue *queue, const struct sw_error *err)
{
        double now = serve_now();
        bool periodic = server->reconciled && now >= server->reconcile_at;
        if (result < 0) {
                serve_jenkins_failed(server, err);
                if (periodic)
                        serve_reconcile_periodic(server, NULL);
                return;
        }
        jenkins_succeeded(server);
        if (!server->reconciled) {
                /* Nothing is launched before everything of an earlier run is known. */
                if (server->reconcile_at > now || serve_reconcile_start(server, computers) < 0)
                        return;
                server->reconciled = true;
        } else if (periodic) {
                serve_reconcile_periodic(server, computers);
        }
        for (struct served *s = server->agents, *next; s; s = next) {
                next = s->next;
                serve_agent_observe(server, s, computers);
        }
        if (!server->draining) {
                ensure_anchor(server, computers, queue);
                /* Not while Docker is unreachable or state records cannot be written: every
                 * launch would fail (the reasons are logged where they are found). */
                if (server->docker_failures == 0 && serve_state_ready(server))
                        provision(server, computers, queue);
        }
}

/* Drive the poll after a wait; its answer completes the tick. */
static void poll_progress(struct server *server)
{
        if (!server->poll || !jenkins_poll_running(server->poll))
                return;
        struct jenkins_computers computers = { 0 };
        struct jenkins_queue queue = { 0 };
        struct sw_error err = { 0 };
        int r = jenkins_poll_step(server->poll, &computers, &queue, &err);
        if (r == 0)
                return;
        tick_answered(server, r, &computers, &queue, &err);
        jenkins_computers_release(&computers);
        jenkins_queue_release(&queue);
}

static void reap_children(struct server *server)
{
        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);
                if (pid <= 0)
                        return;
                for (struct served *s = server->agents; s; s = s->next) {
                        if (s->worker.pid == pid) {
                                s->worker.status = status;
                                s->worker.reaped = true;
                        }
                }
        }
}

void serve_start_drain(struct server *server, const char *why)
{
        double now = serve_now();
        if (server->draining) {
                log_warning("%s again: retiring every agent now", why);
                server->drain_deadline = now;
                return;
        }
        server->draining = true;
        server->drain_deadline = now + server->config->host.drain_timeout_s;
        log_info("%s: draining (no new agents; running builds may finish for %d s)", why,
                 server->config->host.drain_timeout_s);
}

/* The Jenkins client of a configuration and the poll that runs on it (at start and on reload).
 * On failure nothing is left open. */
static int open_jenkins(const struct config *config, struct jenkins_client **client,
                        struct jenkins_poll **poll, struct sw_error *err)
{
        const struct jenkins_options options = {
                .url = config->jenkins.url,
                .user = config->jenkins.user,
                .token = config->jenkins.token,
                .password = config->jenkins.password,
                .timeout_s = config->jenkins.timeout_s,
        };
        int r = jenkins_open(client, &options, err);
        if (r < 0)
                return r;
        r = jenkins_poll_new(*client, poll, err);
        if (r < 0) {
                jenkins_close(*client);
                *client = NULL;
        }
        return r;
}

static bool same_text(const char *a, const char *b)
{
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Why fresh cannot replace the running configuration without a restart, or NULL. */
static const char *reload_refused(const struct server *server, const struct config *fresh)
{
        const struct config *old = server->config;
        if (config_standalone(fresh) != config_standalone(old))
                return "a [jenkins] section is added or removed only with a restart";
        if (!same_text(fresh->host.metrics_address, old->host.metrics_address))
                return "metrics-address changes only with a restart";
        if (!same_text(fresh->host.state_dir, old->host.state_dir) ||
            !same_text(fresh->host.docker_host, old->host.docker_host) ||
            !same_text(fresh->jenkins.node_prefix, old->jenkins.node_prefix))
                return "state-dir, docker-host and node-prefix change only with a restart";
        for (const struct served *s = server->agents; s; s = s->next)
                if (!config_template_find(fresh, s->template->name))
                        return "a template that still has agents is gone (remove it once they are)";
        return NULL;
}

/* SIGHUP: read slipway.conf again; switch only to a valid one. Agents keep running; the
 * new limits, templates and Jenkins settings apply from the next tick. */
static void reload(struct server *server)
{
        struct config *fresh = NULL;
        struct sw_error err = { 0 };
        if (config_load(server->config_path, &fresh, &err) < 0) {
                log_error("SIGHUP: %s; keeping the running configuration", err.message);
                return;
        }
        const char *refused = reload_refused(server, fresh);
        if (refused) {
                log_error("SIGHUP: %s: %s; keeping the running configuration",
                          server->config_path, refused);
                config_free(fresh);
                return;
        }
        struct jenkins_client *jenkins = NULL;
        struct template_health *health = calloc(fresh->template_count, sizeof(*health));
        char ***atoms = calloc(fresh->template_count, sizeof(char **));
        struct jenkins_poll *poll = NULL;
        bool ok = health && atoms &&
                  (config_standalone(fresh) || open_jenkins(fresh, &jenkins, &poll, &err) >= 0);
        for (size_t i = 0; ok && i < fresh->template_count; i++)
                ok = (atoms[i] = split_atoms(fresh->templates[i].labels)) != NULL;
        if (!ok) {
                log_error("SIGHUP: %s; keeping the running configuration",
                          err.message[0] ? err.message : "out of memory");
                for (size_t i = 0; atoms && i < fresh->template_count; i++)
                        sw_strvfreep(&atoms[i]);
                free(atoms);
                free(health);
                jenkins_poll_free(poll);
                jenkins_close(jenkins);
                config_free(fresh);
                return;
        }
        /* A template keeps its counters (and back-off) across the reload, by name. */
        for (size_t i = 0; i < fresh->template_count; i++) {
                const struct config_template *old = config_template_find(server->config,
                                                                         fresh->templates[i].name);
                if (old)
                        health[i] = server->health[old - server->config->templates];
        }
        for (struct served *s = server->agents; s; s = s->next)
                s->template = config_template_find(fresh, s->template->name);
        for (size_t i = 0; i < server->config->template_count; i++)
                sw_strvfreep(&server->template_atoms[i]);
        free(server->template_atoms);
        free(server->health);
        jenkins_poll_free(server->poll); /* a poll on its way is dropped: the next tick asks again */
        jenkins_close(server->jenkins);
        config_free(server->reloaded); /* the previous reload's; the first belongs to main */
        server->template_atoms = atoms;
        server->health = health;
        server->jenkins = jenkins;
        server->poll = poll;
        server->reloaded = fresh;
        server->config = fresh;
        log_info("SIGHUP: %s reloaded: %zu template(s), capacity %d", server->config_path,
                 fresh->template_count, fresh->host.capacity);
}

static int handle_signal(struct server *server)
{
        struct signalfd_siginfo info;
        while (read(server->signal_fd, &info, sizeof(info)) == (ssize_t) sizeof(info)) {
                switch (info.ssi_signo) {
                case SIGCHLD:
                        reap_children(server);
                        break;
                case SIGTERM:
                case SIGINT:
                        serve_start_drain(server, info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
                        break;
                case SIGHUP:
                        reload(server);
                        break;
                default:
                        break;
                }
        }
        return 0;
}

static void finish_workers(struct server *server)
{
        for (struct served *s = server->agents, *next; s; s = next) {
                next = s->next;
                if (s->worker.pid == 0)
                        continue;
                worker_read(&s->worker);
                if (s->worker.eof && s->worker.reaped)
                        serve_agent_worker_done(server, s);
        }
}

/* Between ticks: failed destroys retried, and the drain moved along. */
static void step_agents(struct server *server)
{
        bool force = server->draining && serve_now() >= server->drain_deadline;
        for (struct served *s = server->agents, *next; s; s = next) {
                next = s->next;
                serve_agent_step(server, s, force);
        }
}

static void release_server(struct server *server)
{
        while (server->agents) {
                struct served *s = server->agents;
                server->agents = s->next;
                serve_agent_free(s);
        }
        for (size_t i = 0; server->template_atoms && i < server->config->template_count; i++)
                sw_strvfreep(&server->template_atoms[i]);
        free(server->template_atoms);
        free(server->health);
        free(server->anchor);
        if (server->signal_fd >= 0)
                close(server->signal_fd);
        if (server->gate_fd >= 0)
                close(server->gate_fd);
        jenkins_poll_free(server->poll);
        jenkins_close(server->jenkins);
        config_free(server->reloaded);
        if (server->docker)
                docker_close(server->docker);
        control_close(server->control);
        control_close(server->metrics);
}

static char **split_atoms(const char *labels)
{
        size_t n = 1;
        for (const char *p = labels; *p; p++)
                n += *p == ' ';
        char **atoms = calloc(n + 1, sizeof(char *));
        if (!atoms)
                return NULL;
        size_t k = 0;
        for (const char *p = labels; *p;) {
                while (*p == ' ')
                        p++;
                size_t len = strcspn(p, " ");
                if (len > 0 && !(atoms[k++] = strndup(p, len))) {
                        sw_strvfreep(&atoms);
                        return NULL;
                }
                p += len;
        }
        return atoms;
}

static int open_server(struct server *server, const struct config *config, struct sw_error *err)
{
        server->config = config;
        server->signal_fd = -1;
        server->gate_fd = -1;
        server->health = calloc(config->template_count, sizeof(*server->health));
        server->template_atoms = calloc(config->template_count, sizeof(char **));
        if (!server->health || !server->template_atoms)
                return sw_error_set(err, ENOMEM, "serve");
        for (size_t i = 0; i < config->template_count; i++)
                if (!(server->template_atoms[i] = split_atoms(config->templates[i].labels)))
                        return sw_error_set(err, ENOMEM, "serve");
        if (asprintf(&server->anchor, "%s-anchor", config->jenkins.node_prefix) < 0) {
                server->anchor = NULL;
                return sw_error_set(err, ENOMEM, "serve");
        }
        int r = docker_open(&server->docker, config->host.docker_host, err);
        if (r < 0)
                return r;
        if (!config_standalone(config)) {
                r = open_jenkins(config, &server->jenkins, &server->poll, err);
                if (r >= 0)
                        r = serve_gate_open(server, err);
                if (r < 0)
                        return r;
                /* Checked once at start, so a wrong URL or token is a clear error, not a retry
                 * loop; later outages are retried with back-off. */
                r = jenkins_ping(server->jenkins, err);
                if (r == -EACCES || r == -ENOENT || r == -EINVAL)
                        return r;
                if (r < 0) {
                        log_warning("%s (will retry)", err->message);
                        sw_error_clear(err);
                }
        }
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        /* Blocked for good: workers inherit the mask, so a SIGTERM to one stays pending and
         * makes its agent_launch roll back (agent_stop_requested) instead of killing it. */
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return sw_error_errno(err, errno, "block signals");
        server->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (server->signal_fd < 0)
                return sw_error_errno(err, errno, "signalfd");
        return serve_control_open(server, err);
}

int serve_run(const struct config *config, const char *config_path, struct sw_error *err)
{
        struct server server = { .config_path = config_path };
        int r = open_server(&server, config, err);
        if (r < 0) {
                release_server(&server);
                return r;
        }
        if (config_standalone(config))
                log_info("serving %zu template(s) standalone (agents through the control "
                         "socket only), capacity %d", config->template_count, config->host.capacity);
        else
                log_info("serving %zu template(s) for %s as %s, capacity %d, node prefix %s",
                         config->template_count, config->jenkins.url, config->jenkins.user,
                         config->host.capacity, config->jenkins.node_prefix);
        config = NULL; /* from here on server.config, which SIGHUP may replace */
        double next_tick = serve_now();
        for (;;) {
                finish_workers(&server);
                double now = serve_now();
                if (now >= next_tick) {
                        tick(&server);
                        next_tick = serve_now() + server.config->jenkins.poll_interval_ms / 1000.0;
                }
                step_agents(&server);
                if (server.draining && !server.agents)
                        break;

                struct pollfd fds[4 + SERVE_MAX_POLLED];
                struct served *polled[4 + SERVE_MAX_POLLED];
                nfds_t nfds = 0;
                fds[nfds++] = (struct pollfd){ .fd = server.signal_fd, .events = POLLIN };
                fds[nfds++] = (struct pollfd){ .fd = control_fd(server.control), .events = POLLIN };
                if (server.metrics)
                        fds[nfds++] = (struct pollfd){ .fd = control_fd(server.metrics), .events = POLLIN };
                nfds_t first_worker = nfds;
                for (struct served *s = server.agents; s && nfds < ARRAY_SIZE(fds) - 1; s = s->next) {
                        if (s->worker.fd >= 0) {
                                polled[nfds] = s;
                                fds[nfds++] = (struct pollfd){ .fd = s->worker.fd, .events = POLLIN };
                        }
                }
                if (server.gate_fd >= 0)
                        fds[nfds++] = (struct pollfd){ .fd = server.gate_fd, .events = POLLIN };
                double wait = next_tick - serve_now();
                /* A build waits at its gate until its node is offline: retried sooner. */
                double offline_wait = serve_agents_offline_retry(&server);
                if (offline_wait >= 0 && offline_wait < wait)
                        wait = offline_wait;
                int timeout = wait <= 0 ? 0 : (int) (wait * 1000) + 1;
                if (server.draining && timeout > 200)
                        timeout = 200; /* drain deadlines are checked between ticks too */
                /* While Jenkins is being polled, its sockets are waited on too. */
                bool polling = server.poll && jenkins_poll_running(server.poll);
                int n = polling ? jenkins_poll_wait(server.poll, fds, nfds, timeout, err)
                                : poll(fds, nfds, timeout);
                if (n < 0 && (polling || errno != EINTR)) {
                        if (!polling)
                                sw_error_errno(err, errno, "poll");
                        r = -1;
                        break;
                }
                if (n > 0 && (fds[0].revents & POLLIN))
                        handle_signal(&server);
                /* Always: libmicrohttpd also times out idle connections from here. */
                control_run(server.control);
                if (server.metrics)
                        control_run(server.metrics);
                for (nfds_t i = first_worker; n > 0 && i < nfds; i++) {
                        if (fds[i].fd == server.gate_fd) {
                                if (fds[i].revents)
                                        serve_gate_handle(&server);
                        } else if (fds[i].revents) {
                                worker_read(&polled[i]->worker);
                        }
                }
                poll_progress(&server);
        }
        if (r >= 0) {
                remove_anchor(&server);
                log_info("drained: every agent of this host is gone");
        }
        release_server(&server);
        return r;
}
