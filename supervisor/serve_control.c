/* serve's control socket (<state dir>/control.sock): what the daemon knows, as JSON, and
 * Prometheus metrics.
 *
 *   GET    /v1/status          draining, capacity, agents, Jenkins health, templates
 *   GET    /v1/agents          every agent of this supervisor
 *   POST   /v1/agents          {"template": NAME, "count": N}: new agents now (201)
 *   GET    /v1/agents/ID       one agent
 *   GET    /v1/agents/ID/inspect  as `slipway inspect --json`, plus "served" (the above)
 *   DELETE /v1/agents/ID       retire it now (node deleted, agent destroyed)
 *   POST   /v1/drain           as SIGTERM: no new agents, running builds finish
 *   GET    /v1/cache           the cache generations (as `slipway cache ls --json`)
 *   GET    /metrics            Prometheus text format (also on host.metrics-address, alone)
 *
 * Routing and body decoding are control_api.c's (fuzzed); what each request does is here. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_internal.h"
#include "slipway/agent.h"
#include "slipway/buffer.h"
#include "slipway/cache.h"
#include "slipway/cleanup.h"
#include "slipway/control_api.h"
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

static const char *state_name(const struct server *server, const struct served *s)
{
        switch (s->state) {
        case SERVED_REGISTERED:
                return "registered";
        case SERVED_LAUNCHING:
                return "launching";
        case SERVED_READY:
                /* Standalone agents have no Jenkins connection to wait for. */
                return s->used                             ? "busy"
                       : s->online_at > 0 || !server->jenkins ? "online"
                                                             : "connecting";
        case SERVED_RETIRING:
                return "retiring";
        case SERVED_DESTROYING:
                return "destroying";
        }
        return "unknown";
}

static json_t *agent_json(const struct server *server, const struct served *s)
{
        double now = serve_now();
        char name[sizeof(s->id) + 16];
        snprintf(name, sizeof(name), "slipway-%s", s->id); /* agent_prepare's default */
        return json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s?, s:s, s:o?, s:b, s:f, s:o?, s:s?}",
                         "id", s->id, "name", name, "node", server->jenkins ? s->node : NULL,
                         "template", s->template->name, "state", state_name(server, s),
                         "container", s->container_id, "ssh_host",
                         server->config->host.bind_address, "ssh_port",
                         s->ssh_port > 0 ? json_integer(s->ssh_port) : NULL, "used", s->used,
                         "age_seconds", now - s->requested, "online_seconds",
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
        return json_pack("{s:b, s:i, s:i, s:s?, s:b, s:i, s:o}", "draining", server->draining,
                         "capacity", config->host.capacity, "agents", agents, "jenkins",
                         config->jenkins.url, "jenkins_reachable",
                         server->jenkins && server->jenkins_failures == 0,
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

static char *metrics_text(const struct server *server)
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
                        n += strcmp(state_name(server, s), states[i]) == 0;
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
        add(&t, "# HELP slipway_agents_reused_total Agents that ran more than one build (each "
                "is logged as an error; one-build agents make this 0).\n"
                "# TYPE slipway_agents_reused_total counter\nslipway_agents_reused_total %ld\n",
            server->agents_reused_total);
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

static int count_agents(const struct server *server, const struct config_template *template)
{
        int n = 0;
        for (const struct served *s = server->agents; s; s = s->next)
                n += !template || s->template == template;
        return n;
}

int serve_create_agents(struct server *server, const struct config_template *template,
                        int count, struct served **created, struct sw_error *err)
{
        int total = count_agents(server, NULL), mine = count_agents(server, template);
        if (server->draining)
                return sw_error_set(err, EBUSY, "draining: no new agents");
        /* Before the start-up reconciliation, an earlier run's agents are not known yet, and
         * that reconciliation would take a new agent's record for one of them. */
        if (!server->reconciled)
                return sw_error_set(err, EAGAIN, "starting: an earlier run's agents are not "
                                                 "reconciled yet, try again shortly");
        if (total + count > server->config->host.capacity)
                return sw_error_set(err, EBUSY, "over capacity: %d of %d agents exist, %d more asked",
                                    total, server->config->host.capacity, count);
        if (mine + count > template->max_instances)
                return sw_error_set(err, EBUSY, "template %s: %d of its max-instances %d exist, %d "
                                    "more asked", template->name, mine, template->max_instances,
                                    count);
        for (int i = 0; i < count; i++) {
                int r = serve_agent_register(server, template, &created[i]);
                if (r < 0) {
                        /* All or none: the ones made so far go again. */
                        for (int k = 0; k < i; k++)
                                serve_agent_retire(server, created[k], "creation failed");
                        if (r == -EIO || r == -ECONNREFUSED || r == -ETIMEDOUT)
                                return sw_error_set(err, EAGAIN, "jenkins unreachable: cannot "
                                                    "register a node (see the daemon's log)");
                        return sw_error_set(err, -r, "template %s: cannot create an agent: %s "
                                            "(see the daemon's log)", template->name, strerror(-r));
                }
        }
        for (int i = 0; i < count; i++) {
                log_info("agent=%s created through the control socket", created[i]->id);
                serve_agent_launch(server, created[i]);
        }
        return 0;
}

static void create_agents(struct server *server, const struct control_request *request,
                          struct control_reply *reply)
{
        struct control_create create;
        struct sw_error err = { 0 };
        unsigned status = (unsigned) control_create_decode(request->content_type, request->body,
                                                           request->body_len, &create, &err);
        if (status)
                return reply_error(reply, status, err.message);
        const struct config_template *template = config_template_find(server->config,
                                                                      create.template);
        if (!template) {
                char known[512] = "";
                for (size_t i = 0; i < server->config->template_count; i++)
                        snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
                                 i ? ", " : "", server->config->templates[i].name);
                snprintf(err.message, sizeof(err.message), "unknown template \"%s\" (known: %s)",
                         create.template, known);
                return reply_error(reply, 404, err.message);
        }
        _cleanup_free_ struct served **created = calloc((size_t) create.count, sizeof(*created));
        if (!created)
                return reply_error(reply, 500, "out of memory");
        int r = serve_create_agents(server, template, create.count, created, &err);
        if (r < 0)
                return reply_error(reply, r == -EBUSY ? 409 : r == -EAGAIN ? 503 : 500, err.message);
        json_t *list = json_array();
        for (int i = 0; list && i < create.count; i++)
                json_array_append_new(list, agent_json(server, created[i]));
        reply_json(reply, 201, list);
}

static void inspect_agent(struct server *server, const struct served *s,
                          struct control_reply *reply)
{
        /* The one request that reads Docker and the disk from the loop: the local socket, with
         * the Docker client's own timeout. */
        json_t *inspected = NULL;
        struct sw_error err = { 0 };
        if (!server->docker ||
            agent_inspect(server->docker, server->config->host.state_dir, s->id, &inspected,
                          &err) < 0)
                return reply_error(reply, 502, err.message[0] ? err.message : "no Docker client");
        json_object_set_new(inspected, "served", agent_json(server, s));
        reply_json(reply, 200, inspected);
}

static void reply_metrics(struct server *server, struct control_reply *reply)
{
        reply->status = 200;
        reply->content_type = "text/plain; version=0.0.4";
        reply->body = metrics_text(server);
        if (!reply->body)
                reply_error(reply, 500, "out of memory");
}

static void handle(void *user, const struct control_request *request, struct control_reply *reply)
{
        struct server *server = user;
        struct control_route route;
        struct sw_error err = { 0 };
        unsigned status = (unsigned) control_route(request->method, request->path, &route, &err);
        if (status)
                return reply_error(reply, status, err.message);
        if (route.endpoint != CONTROL_AGENTS_CREATE && request->body_len > 0)
                return reply_error(reply, 400, "only POST /v1/agents takes a body");
        struct served *s = NULL;
        switch (route.endpoint) {
        case CONTROL_AGENT_GET:
        case CONTROL_AGENT_INSPECT:
        case CONTROL_AGENT_DELETE:
                if (!(s = find_agent(server, route.agent)))
                        return reply_error(reply, 404, "no such agent");
                break;
        case CONTROL_STATUS:
        case CONTROL_AGENTS_LIST:
        case CONTROL_AGENTS_CREATE:
        case CONTROL_DRAIN:
        case CONTROL_CACHE:
        case CONTROL_METRICS:
                break;
        }
        switch (route.endpoint) {
        case CONTROL_METRICS:
                return reply_metrics(server, reply);
        case CONTROL_STATUS:
                return reply_json(reply, 200, status_json(server));
        case CONTROL_AGENTS_LIST: {
                json_t *list = json_array();
                for (const struct served *a = server->agents; list && a; a = a->next)
                        json_array_append_new(list, agent_json(server, a));
                return reply_json(reply, 200, list);
        }
        case CONTROL_AGENTS_CREATE:
                return create_agents(server, request, reply);
        case CONTROL_AGENT_GET:
                return reply_json(reply, 200, agent_json(server, s));
        case CONTROL_AGENT_INSPECT:
                return inspect_agent(server, s, reply);
        case CONTROL_AGENT_DELETE:
                log_info("agent=%s retire requested on the control socket", s->id);
                serve_agent_retire(server, s, "removed through the control socket");
                return reply_json(reply, 202, agent_json(server, s));
        case CONTROL_DRAIN:
                serve_start_drain(server, "drain requested on the control socket");
                return reply_json(reply, 202, status_json(server));
        case CONTROL_CACHE: {
                json_t *list = NULL;
                if (cache_list(server->config->host.state_dir, &list, &err) < 0)
                        return reply_error(reply, 500, err.message);
                return reply_json(reply, 200, list);
        }
        }
        reply_error(reply, 500, "unhandled endpoint");
}

/* host.metrics-address: reachable by anyone who reaches that address, so nothing but
 * GET /metrics. */
static void handle_metrics_only(void *user, const struct control_request *request,
                                struct control_reply *reply)
{
        if (strcmp(request->path, "/metrics") != 0)
                return reply_error(reply, 404, "only GET /metrics here (the control API is on "
                                   "the state directory's control.sock)");
        if (strcmp(request->method, "GET") != 0)
                return reply_error(reply, 405, "/metrics takes GET");
        if (request->body_len > 0)
                return reply_error(reply, 400, "GET /metrics takes no body");
        reply_metrics(user, reply);
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
        r = control_open(&server->control, path, handle, server, err);
        if (r < 0 || !server->config->host.metrics_address)
                return r;
        r = control_open_tcp(&server->metrics, server->config->host.metrics_address,
                             handle_metrics_only, server, err);
        if (r >= 0)
                log_info("metrics on http://%s/metrics", server->config->host.metrics_address);
        return r;
}
