/* serve's control socket (<state dir>/control.sock): what the daemon knows, as JSON, and
 * Prometheus metrics.
 *
 *   GET    /v1/status          draining, capacity, agents, Jenkins health, templates
 *   GET    /v1/agents          every agent of this supervisor
 *   GET    /v1/agents/ID       one agent
 *   DELETE /v1/agents/ID       retire it now (node deleted, agent destroyed)
 *   POST   /v1/drain           as SIGTERM: no new agents, running builds finish
 *   GET    /v1/cache           the cache generations (as `slipway cache ls --json`)
 *   GET    /metrics            Prometheus text format */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_internal.h"
#include "slipway/buffer.h"
#include "slipway/cache.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/log.h"

static const double seed_bounds[SERVE_HISTOGRAM_BUCKETS] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                             0.05, 0.1, 0.5, 2 };
static const double ready_bounds[SERVE_HISTOGRAM_BUCKETS] = { 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 15, 60 };

void serve_histogram_observe(struct serve_histogram *histogram, double value)
{
        size_t i = 0;
        while (i < SERVE_HISTOGRAM_BUCKETS && value > histogram->bounds[i])
                i++;
        histogram->counts[i]++;
        histogram->count++;
        histogram->sum += value;
}

static const char *state_name(const struct served *s)
{
        switch (s->state) {
        case SERVED_REGISTERED:
                return "registered";
        case SERVED_LAUNCHING:
                return "launching";
        case SERVED_READY:
                return s->used ? "busy" : s->online_at > 0 ? "online" : "connecting";
        case SERVED_RETIRING:
                return "retiring";
        case SERVED_DESTROYING:
                return "destroying";
        }
        return "unknown";
}

static json_t *agent_json(const struct served *s)
{
        double now = serve_now();
        return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:b, s:f, s:f?, s:s?}", "id", s->id, "node",
                         s->node, "template", s->template->name, "state", state_name(s),
                         "container", s->container_id, "used", s->used, "age_seconds",
                         now - s->requested, "online_seconds",
                         s->online_at > 0 ? json_real(now - s->online_at) : NULL,
                         "retire_reason", s->retire_reason);
}

static struct served *find_agent(struct server *server, const char *id)
{
        for (struct served *s = server->agents; s; s = s->next)
                if (strcmp(s->id, id) == 0 || strcmp(s->node, id) == 0)
                        return s;
        return NULL;
}

static json_t *status_json(const struct server *server)
{
        const struct config *config = server->config;
        json_t *templates = json_array();
        for (size_t i = 0; templates && i < config->template_count; i++) {
                const struct template_health *h = &server->health[i];
                json_array_append_new(templates,
                                      json_pack("{s:s, s:s, s:i, s:b, s:i, s:I, s:I}", "name",
                                                config->templates[i].name, "labels",
                                                config->templates[i].labels, "max_instances",
                                                config->templates[i].max_instances, "failing",
                                                h->failing, "failures_in_a_row", h->failures,
                                                "launches", (json_int_t) h->launches_total,
                                                "launch_failures",
                                                (json_int_t) h->launch_failures_total));
        }
        int agents = 0;
        for (const struct served *s = server->agents; s; s = s->next)
                agents++;
        return json_pack("{s:b, s:i, s:i, s:s, s:b, s:i, s:o}", "draining", server->draining,
                         "capacity", config->host.capacity, "agents", agents, "jenkins",
                         config->jenkins.url, "jenkins_reachable", server->jenkins_failures == 0,
                         "jenkins_failures_in_a_row", server->jenkins_failures, "templates",
                         templates ? templates : json_array());
}

/* --- /metrics ------------------------------------------------------------------------------ */

struct text {
        struct sw_buffer buffer;
        bool failed;
};

#define METRICS_MAX (4u << 20) /* bytes of a /metrics reply */

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *fmt, ...)
{
        va_list ap;
        char *piece = NULL;
        va_start(ap, fmt);
        int n = vasprintf(&piece, fmt, ap);
        va_end(ap);
        if (n < 0 || sw_buffer_append(&t->buffer, piece, (size_t) n, METRICS_MAX) < 0)
                t->failed = true;
        free(n < 0 ? NULL : piece);
}

static void add_histogram(struct text *t, const char *name, const char *help,
                          const struct serve_histogram *h)
{
        add(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
        unsigned long cumulative = 0;
        for (size_t i = 0; i < SERVE_HISTOGRAM_BUCKETS; i++) {
                cumulative += h->counts[i];
                add(t, "%s_bucket{le=\"%g\"} %lu\n", name, h->bounds[i], cumulative);
        }
        add(t, "%s_bucket{le=\"+Inf\"} %lu\n%s_sum %.6f\n%s_count %lu\n", name, h->count, name,
            h->sum, name, h->count);
}

static char *metrics_text(struct server *server)
{
        const struct config *config = server->config;
        struct text t = { 0 };
        static const char *const states[] = { "registered", "launching", "connecting", "online",
                                              "busy", "retiring", "destroying" };
        add(&t, "# HELP slipway_agents Agents of this supervisor by state.\n"
                "# TYPE slipway_agents gauge\n");
        for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
                int n = 0;
                for (const struct served *s = server->agents; s; s = s->next)
                        n += strcmp(state_name(s), states[i]) == 0;
                add(&t, "slipway_agents{state=\"%s\"} %d\n", states[i], n);
        }
        add(&t, "# HELP slipway_capacity Agents this host may run at once.\n"
                "# TYPE slipway_capacity gauge\nslipway_capacity %d\n", config->host.capacity);
        add(&t, "# HELP slipway_draining 1 while the supervisor drains.\n"
                "# TYPE slipway_draining gauge\nslipway_draining %d\n", server->draining ? 1 : 0);
        add(&t, "# HELP slipway_launches_total Agent launches started, by template.\n"
                "# TYPE slipway_launches_total counter\n");
        for (size_t i = 0; i < config->template_count; i++)
                add(&t, "slipway_launches_total{template=\"%s\"} %ld\n", config->templates[i].name,
                    server->health[i].launches_total);
        add(&t, "# HELP slipway_launch_failures_total Launches that failed or never came online, "
                "by template.\n# TYPE slipway_launch_failures_total counter\n");
        for (size_t i = 0; i < config->template_count; i++)
                add(&t, "slipway_launch_failures_total{template=\"%s\"} %ld\n",
                    config->templates[i].name, server->health[i].launch_failures_total);
        add(&t, "# HELP slipway_template_failing 1 while a template's launches keep failing.\n"
                "# TYPE slipway_template_failing gauge\n");
        for (size_t i = 0; i < config->template_count; i++)
                add(&t, "slipway_template_failing{template=\"%s\"} %d\n", config->templates[i].name,
                    server->health[i].failing ? 1 : 0);
        add(&t, "# HELP slipway_builds_total Agents that ran their one build, by template.\n"
                "# TYPE slipway_builds_total counter\n");
        for (size_t i = 0; i < config->template_count; i++)
                add(&t, "slipway_builds_total{template=\"%s\"} %ld\n", config->templates[i].name,
                    server->health[i].builds_total);
        add(&t, "# HELP slipway_nodes_withdrawn_total Nodes withdrawn because another host's "
                "earlier node took the build.\n# TYPE slipway_nodes_withdrawn_total counter\n"
                "slipway_nodes_withdrawn_total %ld\n", server->withdrawn_total);
        add(&t, "# HELP slipway_jenkins_errors_total Failed Jenkins requests.\n"
                "# TYPE slipway_jenkins_errors_total counter\nslipway_jenkins_errors_total %ld\n",
            server->jenkins_errors_total);
        add(&t, "# HELP slipway_jenkins_up 1 when the last Jenkins request succeeded.\n"
                "# TYPE slipway_jenkins_up gauge\nslipway_jenkins_up %d\n",
            server->jenkins_failures == 0 ? 1 : 0);
        add(&t, "# HELP slipway_destroy_failures_total Failed agent removals (retried).\n"
                "# TYPE slipway_destroy_failures_total counter\nslipway_destroy_failures_total %ld\n",
            server->destroy_failures_total);
        add(&t, "# HELP slipway_docker_errors_total Failed Docker checks of the reconciliation.\n"
                "# TYPE slipway_docker_errors_total counter\nslipway_docker_errors_total %ld\n"
                "# HELP slipway_docker_up 1 when the last Docker check succeeded.\n"
                "# TYPE slipway_docker_up gauge\nslipway_docker_up %d\n",
            server->docker_errors_total, server->docker_failures == 0 ? 1 : 0);
        add(&t, "# HELP slipway_state_write_failures_total State records that could not be "
                "written (the step was not taken).\n# TYPE slipway_state_write_failures_total "
                "counter\nslipway_state_write_failures_total %ld\n",
            server->state_write_failures_total);
        add_histogram(&t, "slipway_seed_seconds", "Seeding an agent's data root from the cache.",
                      &server->seed_seconds);
        add_histogram(&t, "slipway_ready_seconds", "From an agent's request to its readiness.",
                      &server->ready_seconds);
        _cleanup_json_ json_t *generations = NULL;
        struct sw_error ignored;
        long long bytes = 0;
        size_t count = 0;
        if (cache_list(config->host.state_dir, &generations, &ignored) >= 0) {
                json_t *g;
                size_t i;
                json_array_foreach(generations, i, g) {
                        bytes += json_integer_value(json_object_get(g, "bytes"));
                        count++;
                }
        }
        add(&t, "# HELP slipway_cache_generations Cache generations in the state directory.\n"
                "# TYPE slipway_cache_generations gauge\nslipway_cache_generations %zu\n"
                "# HELP slipway_cache_bytes Bytes of all cache generations (manifests).\n"
                "# TYPE slipway_cache_bytes gauge\nslipway_cache_bytes %lld\n", count, bytes);
        if (t.failed) {
                sw_buffer_release(&t.buffer);
                return NULL;
        }
        return t.buffer.data;
}

/* --- requests -------------------------------------------------------------------------------- */

static void reply_json(struct control_reply *reply, unsigned status, json_t *json)
{
        reply->status = status;
        reply->content_type = "application/json";
        reply->body = json ? json_dumps(json, JSON_COMPACT) : NULL;
        json_decref(json);
        if (!reply->body) {
                reply->status = 500;
                reply->body = strdup("{\"error\":\"out of memory\"}");
        }
}

static void reply_error(struct control_reply *reply, unsigned status, const char *message)
{
        reply_json(reply, status, json_pack("{s:s}", "error", message));
}

static void handle(void *user, const char *method, const char *path, const char *body,
                   size_t body_len, struct control_reply *reply)
{
        struct server *server = user;
        (void) body;
        bool get = strcmp(method, "GET") == 0;
        if (body_len > 0)
                return reply_error(reply, 400, "no request takes a body");
        if (strcmp(path, "/metrics") == 0 && get) {
                reply->status = 200;
                reply->content_type = "text/plain; version=0.0.4";
                reply->body = metrics_text(server);
                if (!reply->body)
                        reply_error(reply, 500, "out of memory");
                return;
        }
        if (strcmp(path, "/v1/status") == 0 && get)
                return reply_json(reply, 200, status_json(server));
        if (strcmp(path, "/v1/agents") == 0 && get) {
                json_t *list = json_array();
                for (const struct served *s = server->agents; list && s; s = s->next)
                        json_array_append_new(list, agent_json(s));
                return reply_json(reply, 200, list);
        }
        if (strncmp(path, "/v1/agents/", 11) == 0) {
                struct served *s = find_agent(server, path + 11);
                if (!s)
                        return reply_error(reply, 404, "no such agent");
                if (get)
                        return reply_json(reply, 200, agent_json(s));
                if (strcmp(method, "DELETE") == 0) {
                        log_info("agent=%s retire requested on the control socket", s->id);
                        serve_agent_retire(server, s, "removed through the control socket");
                        return reply_json(reply, 202, agent_json(s));
                }
                return reply_error(reply, 405, "GET or DELETE");
        }
        if (strcmp(path, "/v1/drain") == 0) {
                if (strcmp(method, "POST") != 0)
                        return reply_error(reply, 405, "POST");
                serve_start_drain(server, "drain requested on the control socket");
                return reply_json(reply, 202, status_json(server));
        }
        if (strcmp(path, "/v1/cache") == 0 && get) {
                json_t *list = NULL;
                struct sw_error err = { 0 };
                if (cache_list(server->config->host.state_dir, &list, &err) < 0)
                        return reply_error(reply, 500, err.message);
                return reply_json(reply, 200, list);
        }
        reply_error(reply, 404, "unknown path: see GET /v1/status, /v1/agents, /v1/cache, /metrics");
}

int serve_control_open(struct server *server, struct sw_error *err)
{
        server->seed_seconds.bounds = seed_bounds;
        server->ready_seconds.bounds = ready_bounds;
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/control.sock", server->config->host.state_dir) < 0)
                return sw_error_set(err, ENOMEM, "control socket");
        int r = fs_mkdir_p(server->config->host.state_dir, 0700);
        if (r < 0)
                return sw_error_errno(err, -r, "create %s", server->config->host.state_dir);
        return control_open(&server->control, path, handle, server, err);
}
