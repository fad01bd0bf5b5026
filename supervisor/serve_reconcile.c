/* Reconciliation: what exists on this host (Docker containers by label, agent directories,
 * mounts), in Jenkins (nodes with this host's prefix) and in the agents' state records,
 * against what the daemon knows.
 *
 * At start, before any launch: a served agent whose record, running container and node all
 * exist is adopted (a build running there finishes); every other record, served container,
 * node, data root and mount of this host is destroyed. Every reconcile-interval after that:
 * an agent whose container died or went away (the outer dockerd restarted underneath) is
 * retired, and orphans are destroyed the same way. Docker being unreachable pauses launches
 * and is retried with back-off. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "serve_internal.h"
#include "slipway/build_gate.h"
#include "slipway/agent_disk.h"
#include "slipway/cleanup.h"
#include "slipway/demand.h"
#include "slipway/docker.h"
#include "slipway/fsutil.h"
#include "slipway/userns.h"
#include "slipway/log.h"
#include "slipway/serve_state.h"

#define MOUNTINFO_MAX (4 * 1024 * 1024)

const char *serve_step_constant(const char *step)
{
        static const char *const steps[] = {
                SERVE_STEP_PREPARE, SERVE_STEP_REGISTER, SERVE_STEP_SEED,
                SERVE_STEP_CREATE,  SERVE_STEP_START,    SERVE_STEP_READY,
                SERVE_STEP_SERVE,   SERVE_STEP_RETIRE,   SERVE_STEP_DESTROY,
        };
        for (size_t i = 0; step && i < ARRAY_SIZE(steps); i++)
                if (strcmp(step, steps[i]) == 0)
                        return steps[i];
        return NULL;
}

/* --- mounts --------------------------------------------------------------------------------- */

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_mount_point(char *p)
{
        char *out = p;
        while (*p) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7' &&
                    p[3] >= '0' && p[3] <= '7') {
                        *out++ = (char) ((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 4;
                } else {
                        *out++ = *p++;
                }
        }
        *out = '\0';
}

/* The mount points at or below dir, as a JSON array of strings in mountinfo order. */
static int mounts_under(const char *dir, json_t **out, struct sw_error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = fs_read_bounded("/proc/self/mountinfo", MOUNTINFO_MAX, &text, &len);
        if (r < 0)
                return sw_error_errno(err, -r, "read /proc/self/mountinfo");
        _cleanup_json_ json_t *found = json_array();
        if (!found)
                return sw_error_set(err, ENOMEM, "mounts");
        size_t dir_len = strlen(dir);
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                /* "36 35 98:0 /mnt1 /mnt2 rw ...": the fifth field is the mount point. */
                char *field = line;
                for (int i = 0; i < 4 && field; i++) {
                        field = strchr(field, ' ');
                        if (field)
                                field++;
                }
                if (!field)
                        continue;
                char *end = strchr(field, ' ');
                if (end)
                        *end = '\0';
                unescape_mount_point(field);
                if (strncmp(field, dir, dir_len) == 0 && (field[dir_len] == '/' || field[dir_len] == '\0'))
                        json_array_append_new(found, json_string(field));
        }
        *out = TAKE_PTR(found);
        return 0;
}

int serve_unmount_under(const char *dir, struct sw_error *err)
{
        _cleanup_json_ json_t *mounts = NULL;
        int r = mounts_under(dir, &mounts, err);
        if (r < 0)
                return r;
        /* Last mounted first: a mount on top of (or inside) another goes before it. */
        for (size_t i = json_array_size(mounts); i-- > 0;) {
                const char *point = json_string_value(json_array_get(mounts, i));
                if (umount2(point, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
                        return sw_error_errno(err, errno, "unmount %s", point);
        }
        return 0;
}

/* --- what Docker and the state hold ---------------------------------------------------------- */

static bool agent_known(const struct server *server, const char *id)
{
        for (const struct served *s = server->agents; s; s = s->next)
                if (strcmp(s->id, id) == 0)
                        return true;
        return false;
}

static bool node_known(const struct server *server, const char *name)
{
        for (const struct served *s = server->agents; s; s = s->next)
                if (strcmp(s->node, name) == 0)
                        return true;
        return false;
}

/* Every container labelled with this state dir, as an object agent id -> container. */
static int list_containers(struct server *server, json_t **out, struct sw_error *err)
{
        _cleanup_free_ char *filter = NULL;
        if (asprintf(&filter, "%s=%s", AGENT_LABEL_STATE_DIR, server->config->host.state_dir) < 0)
                return sw_error_set(err, ENOMEM, "reconcile");
        _cleanup_json_ json_t *containers = NULL;
        int r = docker_container_list(server->docker, filter, true, &containers, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *by_id = json_object();
        if (!by_id)
                return sw_error_set(err, ENOMEM, "reconcile");
        json_t *container;
        size_t i;
        json_array_foreach(containers, i, container) {
                const char *id = json_string_value(json_object_get(
                        json_object_get(container, "Labels"), AGENT_LABEL_ID));
                if (id && agent_id_valid(id))
                        json_object_set(by_id, id, container);
        }
        *out = TAKE_PTR(by_id);
        return 0;
}

static const char *container_label(json_t *container, const char *label)
{
        return json_string_value(json_object_get(json_object_get(container, "Labels"), label));
}

static bool container_running(json_t *container)
{
        const char *state = json_string_value(json_object_get(container, "State"));
        return state && strcmp(state, "running") == 0;
}

static void docker_failed(struct server *server, const struct sw_error *err)
{
        server->docker_failures++;
        server->docker_errors_total++;
        double wait = 1;
        for (int i = 1; i < server->docker_failures && wait < SERVE_DOCKER_BACKOFF_MAX_S; i++)
                wait *= 2;
        if (wait > SERVE_DOCKER_BACKOFF_MAX_S)
                wait = SERVE_DOCKER_BACKOFF_MAX_S;
        server->reconcile_at = serve_now() + wait;
        if (server->docker_failures == 1 || server->docker_failures % 10 == 0)
                log_warning("docker unavailable (%d failed checks in a row, next in %.0f s; no new "
                            "agents until it answers): %s", server->docker_failures, wait,
                            err->message);
}

static void docker_succeeded(struct server *server)
{
        if (server->docker_failures > 0)
                log_info("docker reachable again after %d failed checks", server->docker_failures);
        server->docker_failures = 0;
        server->reconcile_at = serve_now() + server->config->host.reconcile_interval_s;
}

/* A served agent of an earlier run or unknown to this one, to be destroyed: retired here
 * (node deletion when it has one) and destroyed by the loop. */
static struct served *take_for_removal(struct server *server, const char *id, const char *node,
                                       const char *template_name, const char *container_id,
                                       bool node_exists, const char *why)
{
        char fallback[128];
        if (!node) {
                snprintf(fallback, sizeof(fallback), "%s-%s", server->config->jenkins.node_prefix, id);
                node = fallback;
        }
        struct served *s = serve_agent_adopt(server, id, node, container_id);
        if (!s)
                return NULL;
        const struct config_template *t = template_name
                                                  ? config_template_find(server->config, template_name)
                                                  : NULL;
        s->template = t ? t : &server->config->templates[0];
        s->node_gone = !node_exists || !server->jenkins; /* standalone agents have none */
        s->state = SERVED_RETIRING;
        s->retire_reason = strdup(why);
        log_info("agent=%s to be removed: %s", id, why);
        return s;
}

/* Nodes with this host's prefix (by their description) that no agent owns: a crash between
 * registering and recording, or a node left while Jenkins was unreachable. */
static int delete_stray_nodes(struct server *server, const struct jenkins_computers *computers)
{
        for (size_t k = 0; k < computers->count; k++) {
                const struct jenkins_computer *c = &computers->items[k];
                char host[128];
                long long created;
                if (!demand_node_parse(c->description, host, sizeof(host), &created) ||
                    strcmp(host, server->config->jenkins.node_prefix) != 0 || node_known(server, c->name))
                        continue;
                struct sw_error err = { 0 };
                int r = jenkins_node_delete(server->jenkins, c->name, &err);
                if (r < 0 && r != -ENOENT) {
                        log_error("reconcile: delete node %s: %s", c->name, err.message);
                        return r;
                }
                log_info("reconcile: deleted node %s (no agent)", c->name);
        }
        return 0;
}

/* Mounts and data roots under <state dir>/agents of no agent: a container that is neither
 * known here nor exists (slipway run's agents have one) and older than min_age_s. */
static void remove_stray_dirs(struct server *server, json_t *containers, double min_age_s)
{
        const char *state_dir = server->config->host.state_dir;
        _cleanup_free_ char *agents = NULL;
        if (asprintf(&agents, "%s/agents", state_dir) < 0)
                return;
        _cleanup_closedir_ DIR *d = opendir(agents);
        if (!d)
                return;
        struct dirent *entry;
        time_t now = time(NULL);
        while ((entry = readdir(d))) {
                const char *id = entry->d_name;
                if (!agent_id_valid(id) || agent_known(server, id) ||
                    json_object_get(containers, id))
                        continue;
                _cleanup_free_ char *dir = NULL;
                if (asprintf(&dir, "%s/%s", agents, id) < 0)
                        continue;
                struct stat st;
                if (lstat(dir, &st) < 0 || (double) (now - st.st_mtime) < min_age_s)
                        continue;
                struct sw_error err = { 0 };
                /* Its disk (agent_disk.h) first, then whatever else is mounted there. */
                int r = agent_disk_release(dir, &err);
                if (r >= 0)
                        r = serve_unmount_under(dir, &err);
                if (r < 0) {
                        log_error("reconcile: %s", err.message);
                        continue;
                }
                r = fs_remove_tree(dir);
                if (r < 0)
                        log_error("reconcile: remove %s: %s", dir, strerror(-r));
                else
                        log_info("reconcile: removed orphaned data root %s", dir);
        }
        /* Loop devices whose image is already gone (a crash between unmount and detach). */
        struct sw_error err = { 0 };
        int released = 0;
        if (agent_disk_sweep(state_dir, &released, &err) < 0)
                log_error("reconcile: %s", err.message);
        else if (released > 0)
                log_info("reconcile: detached %d loop device(s) of removed agent disks", released);
        /* User namespace ranges whose agent directory is gone (a crash between the two). */
        int reclaimed = 0;
        if (userns_reclaim(state_dir, &reclaimed, &err) < 0)
                log_error("reconcile: %s", err.message);
        else if (reclaimed > 0)
                log_info("reconcile: gave back %d user namespace range(s) of removed agents", reclaimed);
}

/* Served containers (they carry a node label) that no agent here owns. Without computers
 * (Jenkins unreachable) their nodes are taken to exist: deleting a missing one is harmless. */
static void take_stray_containers(struct server *server, json_t *containers,
                                  const struct jenkins_computers *computers)
{
        const char *id;
        json_t *container;
        json_object_foreach(containers, id, container) {
                const char *node = container_label(container, AGENT_LABEL_NODE);
                if (!node || agent_known(server, id))
                        continue; /* slipway run's agents and cache builds are not ours */
                (void) take_for_removal(server, id, node, container_label(container, AGENT_LABEL_TEMPLATE),
                                        json_string_value(json_object_get(container, "Id")),
                                        !computers || jenkins_computers_find(computers, node),
                                        "a served container unknown to the state records");
        }
}

/* --- at start ---------------------------------------------------------------------------- */

static void adopt_or_remove(struct server *server, const char *id, json_t *record,
                            json_t *container, const struct jenkins_computers *computers)
{
        const char *node = json_string_value(json_object_get(record, "node"));
        const char *template_name = json_string_value(json_object_get(record, "template"));
        const char *intended = json_string_value(json_object_get(record, "intended"));
        const char *reached = json_string_value(json_object_get(record, "reached"));
        const struct jenkins_computer *c = node && computers ? jenkins_computers_find(computers, node) : NULL;
        const struct config_template *t = template_name
                                                  ? config_template_find(server->config, template_name)
                                                  : NULL;
        const char *cid = json_string_value(json_object_get(container, "Id"));
        const char *container_node = container_label(container, AGENT_LABEL_NODE);
        /* Adopted only when whole: recorded past its start, running, its node there (and the
         * container's the same node), its template still configured. */
        bool started = intended && (strcmp(intended, SERVE_STEP_READY) == 0 ||
                                    strcmp(intended, SERVE_STEP_SERVE) == 0);
        if (!server->jenkins && started && t && container && container_running(container)) {
                /* Standalone: no node to check; reached by ssh with the template's keys. */
                char fallback[128];
                if (!node) { /* a record written by hand: the name slipway would give it */
                        snprintf(fallback, sizeof(fallback), "%s-%s", server->config->jenkins.node_prefix, id);
                        node = fallback;
                }
                struct served *s = serve_agent_adopt(server, id, node, cid);
                if (!s)
                        return;
                s->template = t;
                s->state = SERVED_READY;
                s->node_gone = true;
                s->intended = serve_step_constant(intended);
                s->reached = serve_step_constant(reached);
                log_info("agent=%s adopted (standalone)", id);
                return;
        }
        if (started && c && t && container && container_running(container) && container_node &&
            strcmp(container_node, node) == 0) {
                struct served *s = serve_agent_adopt(server, id, node, cid);
                if (!s)
                        return;
                s->template = t;
                s->state = SERVED_READY;
                s->intended = serve_step_constant(intended);
                s->reached = serve_step_constant(reached);
                s->used = c->busy_executors > 0 || c->temporarily_offline;
                s->offline_set = c->temporarily_offline;
                s->online_at = c->offline ? 0 : serve_now();
                log_info("agent=%s adopted (node %s, %s)", id, node,
                         s->used ? "build running" : c->offline ? "connecting" : "online");
                /* A build that started while no serve ran waits at its gate. An agent of a
                 * slipway before gates has none (and, then, no pre-made workspace either). */
                _cleanup_free_ char *gate = NULL;
                if (asprintf(&gate, "%s/" BUILD_GATE_DIR_NAME, s->dir) >= 0 && access(gate, F_OK) == 0 &&
                    serve_gate_watch(server, s) < 0)
                        serve_agent_retire(server, s, "its build gate cannot be watched");
                return;
        }
        char why[160];
        snprintf(why, sizeof(why), "left by an earlier run at step %s (reached %s): %s",
                 intended ? intended : "?", reached ? reached : "none",
                 !container ? "no container" : !container_running(container) ? "not running"
                 : !started ? "not recorded as started" : !c ? "its node is gone"
                 : !t ? "its template is gone" : "its container is another node's");
        struct served *s = take_for_removal(server, id, node, template_name, cid,
                                            server->jenkins && c != NULL, why);
        if (s) {
                s->intended = serve_step_constant(intended);
                s->reached = serve_step_constant(reached);
        }
}

int serve_reconcile_start(struct server *server, const struct jenkins_computers *computers)
{
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *containers = NULL;
        _cleanup_json_ json_t *records = NULL;
        double started = serve_now();
        int r = list_containers(server, &containers, &err);
        if (r < 0) {
                docker_failed(server, &err);
                return r;
        }
        docker_succeeded(server);
        r = serve_state_load(server->config->host.state_dir, &records, &err);
        if (r < 0) {
                /* Nothing is launched until the records are read: an agent they name could
                 * otherwise be forgotten, with its container and node. */
                log_error("reconcile: %s; fix or remove it (nothing is launched until then)",
                          err.message);
                server->reconcile_at = serve_now() + SERVE_DOCKER_BACKOFF_MAX_S;
                return r;
        }
        size_t recorded = json_object_size(records);
        const char *id;
        json_t *record;
        json_object_foreach(records, id, record)
                if (!agent_known(server, id)) /* (none should be: nothing is launched before) */
                        adopt_or_remove(server, id, record, json_object_get(containers, id), computers);
        take_stray_containers(server, containers, computers);
        /* Not fatal: the agents found above are in the list now (a second pass would take
         * them twice), and the periodic reconciliation deletes stray nodes again. */
        if (computers)
                (void) delete_stray_nodes(server, computers);
        remove_stray_dirs(server, containers, 0);
        /* Those being removed go on from the loop (serve_agent_observe). */
        size_t adopted = 0, removing = 0;
        for (const struct served *s = server->agents; s; s = s->next) {
                if (s->state == SERVED_READY)
                        adopted++;
                else
                        removing++;
        }
        log_info("reconcile: %zu state record(s), %zu container(s): %zu agent(s) adopted, %zu "
                 "being removed, in %.0f ms", recorded, json_object_size(containers), adopted,
                 removing, (serve_now() - started) * 1000);
        return 0;
}

/* --- every reconcile-interval ------------------------------------------------------------ */

/* computers is NULL while Jenkins is unreachable. */
void serve_reconcile_periodic(struct server *server, const struct jenkins_computers *computers)
{
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *containers = NULL;
        if (list_containers(server, &containers, &err) < 0) {
                docker_failed(server, &err);
                return;
        }
        docker_succeeded(server);
        /* A ready agent whose container stopped or went: the outer dockerd was restarted (it
         * stops containers, and agents have no restart policy), or someone removed it. Its
         * build is lost; its node must go before Jenkins sends another one there. */
        for (struct served *s = server->agents, *next; s; s = next) {
                next = s->next;
                if (s->state != SERVED_READY)
                        continue;
                json_t *container = json_object_get(containers, s->id);
                if (container && container_running(container))
                        continue;
                char reason[160];
                snprintf(reason, sizeof(reason), "its container is %s (outer dockerd restarted?)",
                         container ? json_string_value(json_object_get(container, "State")) : "gone");
                serve_agent_retire(server, s, reason);
        }
        take_stray_containers(server, containers, computers);
        if (computers)
                (void) delete_stray_nodes(server, computers);
        remove_stray_dirs(server, containers, server->config->host.launch_timeout_s + SERVE_ORPHAN_GRACE_S);
}
