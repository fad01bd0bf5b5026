/* One served agent's life: register its node, launch it in a worker, follow its node in
 * Jenkins (online, busy, idle again), retire and destroy it; each step recorded in its state
 * file first (serve_state.h). Reconciliation is in serve_reconcile.c. See
 * include/slipway/serve.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_internal.h"
#include "slipway/agent_disk.h"
#include "slipway/cleanup.h"
#include "slipway/demand.h"
#include "slipway/docker.h"
#include "slipway/fsutil.h"
#include "slipway/log.h"
#include "slipway/serve_state.h"

#define OFFLINE_MESSAGE_USED "slipway: one build per agent; removed when this build ends"
#define OFFLINE_MESSAGE_IDLE "slipway: idle timeout; being removed"

void serve_agent_free(struct served *s)
{
        if (!s)
                return;
        if (s->worker.pid > 0 && !s->worker.reaped)
                kill(s->worker.pid, SIGTERM);
        worker_release(&s->worker);
        agent_free(s->agent);
        free(s->node);
        free(s->dir);
        free(s->container_id);
        free(s->retire_reason);
        free(s);
}

static void serve_agent_freep(struct served **s)
{
        serve_agent_free(*s);
}

static void unlink_agent(struct server *server, struct served *s)
{
        struct sw_error err = { 0 };
        if (serve_state_remove(server->config->host.state_dir, s->id, &err) < 0)
                log_error("agent=%s: %s (the next start destroys it again, harmlessly)", s->id,
                          err.message);
        serve_gate_forget(server, s);
        for (struct served **p = &server->agents; *p; p = &(*p)->next) {
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        }
        serve_agent_free(s);
}

/* --- the agent's state record ------------------------------------------------------------ */

bool serve_state_ready(const struct server *server)
{
        return server->state_retry_at <= serve_now();
}

static void state_failed(struct server *server)
{
        server->state_failures++;
        server->state_write_failures_total++;
        double wait = SERVE_STATE_BACKOFF_MIN_S;
        for (int i = 1; i < server->state_failures && wait < SERVE_STATE_BACKOFF_MAX_S; i++)
                wait *= 2;
        if (wait > SERVE_STATE_BACKOFF_MAX_S)
                wait = SERVE_STATE_BACKOFF_MAX_S;
        server->state_retry_at = serve_now() + wait;
        log_warning("state records cannot be written (%d failures in a row): no new agent and no "
                    "retire or destroy step for %.0f s", server->state_failures, wait);
}

static void state_succeeded(struct server *server)
{
        if (server->state_failures > 0)
                log_info("state records are written again after %d failures", server->state_failures);
        server->state_failures = 0;
        server->state_retry_at = 0;
}

/* Record that s is about to take step intended, BEFORE it does: on failure the step is not
 * taken (the caller returns and retries later, or undoes what exists). */
static int record_step(struct server *server, struct served *s, const char *intended)
{
        struct serve_state_record record = {
                .id = s->id,
                .node = s->node,
                .template_name = s->template ? s->template->name : NULL,
                .intended = intended,
                .reached = s->reached,
                .container_id = s->container_id,
        };
        struct sw_error err = { 0 };
        if (serve_state_write(server->config->host.state_dir, &record, &err) < 0) {
                log_error("agent=%s step %s not taken: %s", s->id, intended, err.message);
                state_failed(server);
                return -1;
        }
        state_succeeded(server);
        s->intended = intended;
        serve_state_crash_point(intended, false);
        return 0;
}

static void remove_record(struct server *server, struct served *s)
{
        struct sw_error err = { 0 };
        if (serve_state_remove(server->config->host.state_dir, s->id, &err) < 0)
                log_error("agent=%s: %s", s->id, err.message);
}

static const char *agent_host(const struct config *config)
{
        return config->jenkins.agent_host ? config->jenkins.agent_host : config->host.bind_address;
}

static void agent_options_for(const struct server *server, const struct served *s,
                              struct agent_options *options)
{
        const struct config *config = server->config;
        const struct config_template *t = s->template;
        const char *cache = t->cache;
        *options = (struct agent_options){
                .image = t->image,
                .state_dir = config->host.state_dir,
                .bind_address = config->host.bind_address,
                .authorized_keys = t->authorized_keys,
                .ready_timeout_s = config->host.launch_timeout_s,
                /* "current" resolves when the agent launches: a new generation serves the next
                 * agents while running ones keep theirs. */
                .generation = (!cache || strcmp(cache, "current") == 0) ? NULL : cache,
                .seed_strategy = t->seed_strategy,
                .ssh_port = s->agent ? s->agent->ssh_port : 0,
                .node_name = s->node,
                .template_name = t->name,
                .nano_cpus = t->nano_cpus,
                .memory_bytes = t->memory_bytes,
                .pids_limit = t->pids_limit,
                .disk_limit_bytes = t->disk_limit_bytes,
                .workspace = t->remote_fs,
                .egress_allow = t->egress_allow,
                /* With Jenkins: one build, held by the agent until its node is offline. */
                .build_gate = server->jenkins != NULL,
                .probe_host = agent_host(config),
                /* The config outlives every launch (workers are forked with it). */
                .userns_layout = &config->host.userns_layout,
        };
}

int serve_agent_register(struct server *server, const struct config_template *template,
                         struct served **out)
{
        const struct config *config = server->config;
        struct sw_error err = { 0 };
        if (!serve_state_ready(server))
                return -EAGAIN; /* the last record could not be written; backing off */
        _cleanup_(serve_agent_freep) struct served *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->worker.fd = -1;
        s->gate_wd = -1;
        s->template = template;
        s->requested = serve_now();
        int r = random_hex(s->id, AGENT_ID_BYTES);
        if (r < 0)
                return r;
        if (asprintf(&s->node, "%s-%s", config->jenkins.node_prefix, s->id) < 0) {
                s->node = NULL;
                return -ENOMEM;
        }
        /* Recorded before its directory exists: a crash from here on leaves a record that
         * names everything the agent may own. */
        if (record_step(server, s, SERVE_STEP_PREPARE) < 0)
                return -EIO;
        struct agent_options options;
        agent_options_for(server, s, &options);
        options.id = s->id;
        int port = 0;
        r = agent_pick_port(config->host.bind_address, &port, &err);
        options.ssh_port = port;
        if (r >= 0)
                r = agent_prepare(&options, &s->agent, &err);
        if (r < 0) {
                log_error("template %s: cannot prepare an agent: %s", template->name, err.message);
                remove_record(server, s);
                serve_template_failed(server, template, err.message);
                return r;
        }
        s->reached = SERVE_STEP_PREPARE;
        s->ssh_port = port;
        s->dir = strdup(s->agent->dir);
        /* Watched before Jenkins can connect; an agent whose gate cannot be watched would hold
         * its build for ever: not launched. */
        bool watched = !s->dir || !server->jenkins || serve_gate_watch(server, s) == 0;
        _cleanup_free_ char *description = demand_node_description(
                config->jenkins.node_prefix, template->name, s->id, serve_wall_ms());
        if (!s->dir || !watched || !description || record_step(server, s, SERVE_STEP_REGISTER) < 0) {
                serve_gate_forget(server, s);
                struct sw_error ignored;
                (void) agent_destroy(NULL, NULL, s->agent->dir, &ignored);
                remove_record(server, s);
                return -EIO;
        }
        if (!server->jenkins) {
                /* Standalone: no node to register; reached by ssh with the template's keys. */
                log_info("agent=%s created for template %s (ssh %s:%d)", s->id, template->name,
                         config->host.bind_address, port);
                s->node_gone = true;
                s->reached = SERVE_STEP_REGISTER;
                s->state = SERVED_REGISTERED;
                s->next = server->agents;
                server->agents = s;
                *out = TAKE_PTR(s);
                return 0;
        }
        struct jenkins_node_spec spec = {
                .name = s->node,
                .description = description,
                .remote_fs = template->remote_fs,
                .labels = template->labels,
                .host = agent_host(config),
                .port = port,
                .credentials_id = config->jenkins.credentials_id,
                .java_path = template->java_path,
                .jvm_options = template->jvm_options,
                .launch_timeout_s = SERVE_SSH_CONNECT_TIMEOUT_S,
                .max_retries = config->host.launch_timeout_s / SERVE_SSH_RETRY_WAIT_S,
                .retry_wait_s = SERVE_SSH_RETRY_WAIT_S,
                .host_key = s->agent->host_public_key,
        };
        r = jenkins_node_create(server->jenkins, &spec, &err);
        if (r < 0) {
                struct sw_error ignored;
                (void) agent_destroy(NULL, NULL, s->agent->dir, &ignored);
                remove_record(server, s);
                if (r == -EIO || r == -ECONNREFUSED || r == -ETIMEDOUT)
                        serve_jenkins_failed(server, &err);
                else
                        log_error("agent=%s template %s: register node %s: %s", s->id,
                                  template->name, s->node, err.message);
                return r;
        }
        log_info("agent=%s node %s registered for template %s (ssh %s:%d)", s->id, s->node,
                 template->name, spec.host, port);
        s->reached = SERVE_STEP_REGISTER;
        s->state = SERVED_REGISTERED;
        s->next = server->agents;
        server->agents = s;
        *out = TAKE_PTR(s);
        return 0;
}

/* --- workers (child processes) ---------------------------------------------------------- */

struct launch_job {
        struct server *server;
        struct served *served;
};

/* In the worker, before each step of agent_launch: the step it reaches is the one before. */
static int launch_before_step(void *context, const char *step, struct sw_error *err)
{
        struct launch_job *job = context;
        struct served *s = job->served;
        struct serve_state_record record = {
                .id = s->id,
                .node = s->node,
                .template_name = s->template->name,
                .intended = step,
                .reached = s->intended,
        };
        int r = serve_state_write(job->server->config->host.state_dir, &record, err);
        if (r < 0)
                return r;
        s->intended = step; /* the worker's copy */
        serve_state_crash_point(step, true);
        return 0;
}

static int launch_job_run(void *arg, json_t **report, struct sw_error *err)
{
        struct launch_job *job = arg;
        struct served *s = job->served;
        struct agent_options options;
        agent_options_for(job->server, s, &options);
        options.before_step = launch_before_step;
        options.step_context = job;
        struct docker_client *docker = NULL;
        int r = docker_open(&docker, job->server->config->host.docker_host, err);
        if (r < 0)
                return r;
        r = agent_launch(docker, s->agent, &options, err);
        docker_close(docker);
        if (r < 0)
                return r;
        *report = json_pack("{s:s, s:f, s:f, s:s?}", "container", s->agent->container_id,
                            "ready_seconds", s->agent->ready_seconds, "seed_seconds",
                            s->agent->seed_seconds, "generation", s->agent->generation);
        return *report ? 0 : sw_error_set(err, ENOMEM, "report");
}

/* Remove every container of the agent (found by its label, so a launch that died half-way
 * leaves nothing either) and its directory. */
static int destroy_job_run(void *arg, json_t **report, struct sw_error *err)
{
        struct launch_job *job = arg;
        struct served *s = job->served;
        struct docker_client *docker = NULL;
        int r = docker_open(&docker, job->server->config->host.docker_host, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *filter = NULL;
        _cleanup_json_ json_t *containers = NULL;
        if (asprintf(&filter, "%s=%s", AGENT_LABEL_ID, s->id) < 0)
                r = sw_error_set(err, ENOMEM, "destroy");
        if (r >= 0)
                r = docker_container_list(docker, filter, true, &containers, err);
        json_t *container;
        size_t i;
        json_array_foreach(containers, i, container) {
                const char *id = json_string_value(json_object_get(container, "Id"));
                const char *state_dir = json_string_value(json_object_get(
                        json_object_get(container, "Labels"), AGENT_LABEL_STATE_DIR));
                if (!id || !state_dir || strcmp(state_dir, job->server->config->host.state_dir) != 0)
                        continue;
                if (r >= 0)
                        r = agent_destroy(docker, id, NULL, err);
        }
        if (r >= 0 && s->dir)
                r = serve_unmount_under(s->dir, err);
        if (r >= 0 && s->dir)
                r = agent_destroy(docker, NULL, s->dir, err);
        docker_close(docker);
        (void) report;
        return r;
}

static int start_worker(struct server *server, struct served *s, worker_job job)
{
        struct launch_job arg = { .server = server, .served = s };
        struct sw_error err = { 0 };
        worker_release(&s->worker);
        int r = worker_start(&s->worker, job, &arg, &err);
        if (r < 0)
                log_error("agent=%s: %s", s->id, err.message);
        return r;
}

static struct template_health *health_of(struct server *server, const struct served *s)
{
        return &server->health[s->template - server->config->templates];
}

void serve_agent_launch(struct server *server, struct served *s)
{
        health_of(server, s)->launches_total++;
        if (start_worker(server, s, launch_job_run) < 0) {
                serve_agent_retire(server, s, "cannot start a launch worker");
                return;
        }
        s->state = SERVED_LAUNCHING;
}

static void start_destroy(struct server *server, struct served *s)
{
        s->state = SERVED_DESTROYING;
        if (!serve_state_ready(server) || record_step(server, s, SERVE_STEP_DESTROY) < 0) {
                s->retry_at = server->state_retry_at;
                return;
        }
        if (start_worker(server, s, destroy_job_run) < 0)
                s->retry_at = serve_now() + SERVE_DESTROY_RETRY_S;
}

/* --- retiring ------------------------------------------------------------------------------ */

void serve_agent_advance_retiring(struct server *server, struct served *s)
{
        if (!s->node_gone) {
                if (!serve_state_ready(server))
                        return;
                if (!(s->intended && strcmp(s->intended, SERVE_STEP_RETIRE) == 0) &&
                    record_step(server, s, SERVE_STEP_RETIRE) < 0)
                        return;
                struct sw_error err = { 0 };
                int r = jenkins_node_delete(server->jenkins, s->node, &err);
                if (r < 0 && r != -ENOENT) {
                        /* Kept until Jenkins answers: a node without its agent would take
                         * builds it can never run. */
                        if (r == -EIO || r == -ECONNREFUSED || r == -ETIMEDOUT)
                                serve_jenkins_failed(server, &err);
                        else
                                log_error("agent=%s: delete node %s: %s", s->id, s->node, err.message);
                        return;
                }
                s->node_gone = true;
                s->reached = SERVE_STEP_RETIRE;
                log_info("agent=%s node %s deleted", s->id, s->node);
        }
        start_destroy(server, s);
}

void serve_agent_retire(struct server *server, struct served *s, const char *reason)
{
        if (!s->retire_reason) {
                s->retire_reason = strdup(reason);
                log_info("agent=%s retiring: %s", s->id, reason);
        }
        if (s->state == SERVED_LAUNCHING) {
                /* Its worker rolls back at its next step (the signal stays pending there);
                 * worker_done then carries on here. */
                if (s->worker.pid > 0 && !s->worker.reaped)
                        kill(s->worker.pid, SIGTERM);
                return;
        }
        if (s->state == SERVED_DESTROYING)
                return;
        s->state = SERVED_RETIRING;
        if (server->jenkins_retry_at <= serve_now())
                serve_agent_advance_retiring(server, s);
}

void serve_agent_worker_done(struct server *server, struct served *s)
{
        _cleanup_json_ json_t *result = worker_result(&s->worker);
        bool ok = json_is_true(json_object_get(result, "ok"));
        const char *error = json_string_value(json_object_get(result, "error"));
        pid_t pid = s->worker.pid;
        worker_release(&s->worker);
        if (s->state == SERVED_LAUNCHING) {
                const char *container = json_string_value(json_object_get(result, "container"));
                if (ok && container && !s->retire_reason) {
                        s->container_id = strdup(container);
                        s->state = SERVED_READY;
                        s->reached = SERVE_STEP_READY;
                        /* Nothing is taken on this step: a failed write only leaves the record
                         * one step behind, and the next start still finds the container. */
                        (void) record_step(server, s, SERVE_STEP_SERVE);
                        serve_histogram_observe(&server->ready_seconds,
                                                json_real_value(json_object_get(result, "ready_seconds")));
                        if (json_string_value(json_object_get(result, "generation")))
                                serve_histogram_observe(&server->seed_seconds,
                                                        json_real_value(json_object_get(result, "seed_seconds")));
                        agent_free(s->agent); /* keys were handed over */
                        s->agent = NULL;
                        log_info("agent=%s container %.12s ready in %.2f s (seeded %s in %.1f ms)",
                                 s->id, container,
                                 json_real_value(json_object_get(result, "ready_seconds")),
                                 json_string_value(json_object_get(result, "generation"))
                                         ? json_string_value(json_object_get(result, "generation"))
                                         : "(cold)",
                                 json_real_value(json_object_get(result, "seed_seconds")) * 1000);
                        return;
                }
                if (!ok && !s->retire_reason) {
                        log_error("agent=%s launch failed: %s", s->id, error ? error : "unknown");
                        serve_template_failed(server, s->template, error ? error : "launch failed");
                }
                s->state = SERVED_RETIRING;
                serve_agent_retire(server, s, ok ? "retired while launching" : "launch failed");
                return;
        }
        if (s->state == SERVED_DESTROYING) {
                if (ok) {
                        log_info("agent=%s destroyed (%s)", s->id,
                                 s->retire_reason ? s->retire_reason : "done");
                        unlink_agent(server, s);
                        return;
                }
                server->destroy_failures_total++;
                log_error("agent=%s destroy (worker %d) failed, retrying in %.0f s: %s", s->id,
                          (int) pid, SERVE_DESTROY_RETRY_S, error ? error : "unknown");
                s->retry_at = serve_now() + SERVE_DESTROY_RETRY_S;
        }
}

/* --- following the node in Jenkins ----------------------------------------------------- */

/* Mark the node offline (temporarily): Jenkins gives it no further build. Then its gate may
 * let the build that started go on. A node already deleted takes no build either (and a 404
 * that was not a deletion is caught by the next poll, which still lists the node online).
 * The call blocks the loop for at most the Jenkins timeout, so failures back off (0.25 s
 * doubling up to 5 s) and are logged at the first and every tenth. */
#define OFFLINE_RETRY_MIN_S 0.25
#define OFFLINE_RETRY_MAX_S 5.0
static void set_offline(struct server *server, struct served *s, const char *message)
{
        struct sw_error err = { 0 };
        int r = jenkins_node_set_offline(server->jenkins, s->node, message, &err);
        if (r < 0 && r != -ENOENT) {
                if (s->offline_failures++ % 10 == 0)
                        log_warning("agent=%s: mark node %s offline (%d failures): %s", s->id, s->node,
                                    s->offline_failures, err.message);
                double wait = OFFLINE_RETRY_MIN_S * (double) (1u << (s->offline_failures < 5 ? s->offline_failures - 1 : 4));
                s->offline_retry_at = serve_now() + (wait < OFFLINE_RETRY_MAX_S ? wait : OFFLINE_RETRY_MAX_S);
                return; /* tried again (serve_agents_offline_retry, or the next tick) */
        }
        s->offline_failures = 0;
        s->offline_set = true;
        serve_gate_release(s);
}

static void count_build(struct server *server, struct served *s, const char *how)
{
        if (s->used)
                return;
        s->used = true;
        log_info("agent=%s build started %.2f s after it was requested (%s)", s->id,
                 serve_now() - s->requested, how);
        health_of(server, s)->builds_total++;
}

void serve_agent_build_started(struct server *server, struct served *s)
{
        if (s->build_event_at == 0)
                s->build_event_at = serve_now();
        count_build(server, s, "its gate");
        s->idle_retiring = false;
        if (s->offline_set || s->node_gone || !server->jenkins)
                serve_gate_release(s);
        else
                set_offline(server, s, OFFLINE_MESSAGE_USED);
}

double serve_agents_offline_retry(struct server *server)
{
        double now = serve_now(), next = -1;
        for (struct served *s = server->agents; s; s = s->next) {
                if (!s->used || s->offline_set || s->node_gone || s->build_event_at == 0 ||
                    s->state == SERVED_DESTROYING)
                        continue;
                if (s->offline_retry_at <= now)
                        set_offline(server, s, OFFLINE_MESSAGE_USED);
                if (!s->offline_set) {
                        double wait = s->offline_retry_at - now;
                        if (next < 0 || wait < next)
                                next = wait < 0 ? 0 : wait;
                }
        }
        return next;
}

/* Whether Jenkins ran a build here: it creates <remoteFS>/workspace for the first one. The
 * executor being busy is the main signal, but a build shorter than a poll interval is over
 * before we look, and a second one could then land on this agent. */
static bool build_ran(struct server *server, const struct served *s)
{
        if (!server->docker || !s->container_id)
                return false;
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/workspace", s->template->remote_fs) < 0)
                return false;
        struct sw_error ignored;
        return docker_archive_stat(server->docker, s->container_id, path, &ignored) == 0;
}

void serve_agent_observe(struct server *server, struct served *s,
                         const struct jenkins_computers *computers)
{
        const struct config *config = server->config;
        double now = serve_now();
        if (s->state == SERVED_RETIRING) {
                serve_agent_advance_retiring(server, s);
                return;
        }
        if (s->state != SERVED_READY)
                return;
        const struct jenkins_computer *c = jenkins_computers_find(computers, s->node);
        if (!c) {
                s->node_gone = true;
                serve_agent_retire(server, s, "its node was deleted in Jenkins");
                return;
        }
        if (s->used && s->offline_set && !c->temporarily_offline) {
                /* Jenkins lost the mark (a restart, an operator) or never took it (a 404 that
                 * was not a deletion): a used node must not take another build. */
                log_warning("agent=%s: node %s is no longer offline in Jenkins: marking it again",
                            s->id, s->node);
                s->offline_set = false;
                set_offline(server, s, OFFLINE_MESSAGE_USED);
        }
        if (c->busy_executors > 0) {
                if (s->online_at == 0) {
                        s->online_at = now;
                        serve_template_succeeded(server, s->template);
                }
                count_build(server, s, "Jenkins");
                s->seen_busy = true;
                s->idle_retiring = false;
                if (!s->offline_set)
                        set_offline(server, s, OFFLINE_MESSAGE_USED);
                return;
        }
        if (s->used) {
                /* Idle after its build. A build its gate reported but no poll saw busy is over
                 * only by a poll sent after that report (an earlier one may predate it). */
                if (s->seen_busy || server->poll_started_at > s->build_event_at)
                        serve_agent_retire(server, s, "its build finished");
                return;
        }
        if (s->idle_retiring) {
                char reason[64];
                snprintf(reason, sizeof(reason), "no build within %d s", config->host.idle_timeout_s);
                serve_agent_retire(server, s, reason);
                return;
        }
        if (!c->offline && s->gate_wd < 0 && build_ran(server, s)) {
                /* A build shorter than a poll interval: its workspace shows it. Offline first
                 * (nothing else lands here); deleted on the next tick once idle. */
                count_build(server, s, "its workspace exists: a build between two polls");
                set_offline(server, s, OFFLINE_MESSAGE_USED);
                return;
        }
        if (!c->offline) {
                if (s->online_at == 0) {
                        s->online_at = now;
                        serve_template_succeeded(server, s->template);
                        log_info("agent=%s online in Jenkins %.2f s after it was requested", s->id,
                                 now - s->requested);
                }
                if (now - s->online_at > config->host.idle_timeout_s) {
                        /* Offline first, delete on the next tick if still idle: a build Jenkins
                         * assigns in between is not killed. */
                        set_offline(server, s, OFFLINE_MESSAGE_IDLE);
                        s->idle_retiring = s->offline_set;
                }
                return;
        }
        if (s->online_at != 0) {
                serve_agent_retire(server, s, "its node went offline");
                return;
        }
        if (now - s->requested > config->host.launch_timeout_s) {
                char reason[96];
                snprintf(reason, sizeof(reason), "not online in Jenkins after %d s (launch-timeout)",
                         config->host.launch_timeout_s);
                serve_template_failed(server, s->template, reason);
                serve_agent_retire(server, s, reason);
        }
}

/* Between ticks: a failed destroy is retried; while draining, agents are retired (those with
 * a running build only once force, the drain timeout, is reached). */
void serve_agent_step(struct server *server, struct served *s, bool force)
{
        if (s->state == SERVED_DESTROYING && s->worker.pid == 0 && serve_now() >= s->retry_at) {
                start_destroy(server, s);
                return;
        }
        if (!server->draining)
                return;
        switch (s->state) {
        case SERVED_REGISTERED:
        case SERVED_LAUNCHING:
                serve_agent_retire(server, s, "draining");
                break;
        case SERVED_READY:
                if (!s->used || force)
                        serve_agent_retire(server, s, force ? "drain timeout" : "draining");
                break;
        case SERVED_RETIRING:
                if (force && server->jenkins_failures > 0) {
                        /* Shutting down with Jenkins unreachable: the agent goes anyway; its
                         * node (this host's prefix) is deleted by the next start. */
                        log_warning("agent=%s node %s left in Jenkins (unreachable); the next "
                                    "start deletes it", s->id, s->node);
                        start_destroy(server, s);
                } else if (server->jenkins_retry_at <= serve_now()) {
                        serve_agent_advance_retiring(server, s);
                }
                break;
        case SERVED_DESTROYING:
                break;
        }
}

/* --- agents found by reconciliation ---------------------------------------------------- */

/* An agent of an earlier run (its state is set by the caller). */
struct served *serve_agent_adopt(struct server *server, const char *id, const char *node,
                                 const char *container_id)
{
        struct served *s = calloc(1, sizeof(*s));
        if (!s)
                return NULL;
        s->worker.fd = -1;
        s->gate_wd = -1;
        snprintf(s->id, sizeof(s->id), "%s", id);
        s->node = strdup(node);
        s->container_id = container_id ? strdup(container_id) : NULL;
        if (asprintf(&s->dir, "%s/agents/%s", server->config->host.state_dir, id) < 0)
                s->dir = NULL;
        s->requested = serve_now();
        if (!s->node || !s->dir) {
                serve_agent_free(s);
                return NULL;
        }
        s->next = server->agents;
        server->agents = s;
        return s;
}
