/* One build per agent (slipway/build_gate.h): serve's half. One inotify descriptor watches
 * every served agent's gate directory; BUILD_GATE_STARTED makes serve mark the node offline
 * at once, and once Jenkins took that, BUILD_GATE_OFFLINE lets the agent's build go on.
 * BUILD_GATE_SECOND (a second build appeared after all) retires the agent at once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "serve_internal.h"
#include "slipway/build_gate.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/log.h"

/* Reads of the descriptor per wake-up (agents' inits write a handful of files each). */
#define GATE_READS_MAX 64

int serve_gate_open(struct server *server, struct sw_error *err)
{
        server->gate_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (server->gate_fd < 0)
                return sw_error_errno(err, errno, "inotify for the agents' build gates");
        return 0;
}

static char *gate_path(const struct served *s, const char *name)
{
        char *path = NULL;
        if (asprintf(&path, "%s/%s%s%s", s->dir, BUILD_GATE_DIR_NAME, name ? "/" : "", name ? name : "") < 0)
                return NULL;
        return path;
}

static bool gate_has(const struct served *s, const char *name)
{
        _cleanup_free_ char *path = gate_path(s, name);
        return path && access(path, F_OK) == 0;
}

static void gate_event(struct server *server, struct served *s, const char *name)
{
        if (strcmp(name, BUILD_GATE_STARTED) == 0) {
                serve_agent_build_started(server, s);
        } else if (strcmp(name, BUILD_GATE_SECOND) == 0 && !s->reused) {
                s->reused = true;
                server->agents_reused_total++;
                log_error("agent=%s ran a second build (node %s): a one-build agent was given "
                          "another build; its programs are refused and it is removed", s->id, s->node);
                serve_agent_retire(server, s, "a second build appeared on it");
        }
}

/* Both gate files, as they are now: for what happened while nobody watched. */
static void gate_look(struct server *server, struct served *s)
{
        if (gate_has(s, BUILD_GATE_STARTED))
                gate_event(server, s, BUILD_GATE_STARTED);
        if (gate_has(s, BUILD_GATE_SECOND))
                gate_event(server, s, BUILD_GATE_SECOND);
}

int serve_gate_watch(struct server *server, struct served *s)
{
        _cleanup_free_ char *dir = gate_path(s, NULL);
        if (!dir)
                return -ENOMEM;
        s->gate_wd = inotify_add_watch(server->gate_fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR);
        if (s->gate_wd < 0) {
                int r = -errno;
                log_error("agent=%s: cannot watch its build gate %s: %s", s->id, dir, strerror(errno));
                return r;
        }
        gate_look(server, s); /* serve restarted */
        return 0;
}

void serve_gate_forget(struct server *server, struct served *s)
{
        if (s->gate_wd >= 0 && server->gate_fd >= 0)
                inotify_rm_watch(server->gate_fd, s->gate_wd);
        s->gate_wd = -1;
}

void serve_gate_release(struct served *s)
{
        if (s->gate_released || s->gate_wd < 0)
                return;
        _cleanup_free_ char *dir = gate_path(s, NULL);
        _cleanup_close_ int dfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
        int r = dfd < 0 ? -errno : fs_write_notice_at(dfd, BUILD_GATE_OFFLINE, "offline\n");
        if (r < 0) {
                log_warning("agent=%s: write %s/%s: %s", s->id, dir ? dir : "gate", BUILD_GATE_OFFLINE,
                            strerror(-r));
                return;
        }
        s->gate_released = true;
}

static void gate_inotify_event(const struct inotify_event *event, void *user)
{
        struct server *server = user;
        if (event->mask & IN_Q_OVERFLOW) {
                /* Events were lost: look at every gate. */
                for (struct served *s = server->agents, *next; s; s = next) {
                        next = s->next;
                        if (s->gate_wd >= 0)
                                gate_look(server, s);
                }
                return;
        }
        if (!event->len || event->name[0] == '.')
                return;
        for (struct served *s = server->agents; s; s = s->next) {
                if (s->gate_wd == event->wd) {
                        gate_event(server, s, event->name);
                        return;
                }
        }
}

void serve_gate_handle(struct server *server)
{
        fs_inotify_drain(server->gate_fd, GATE_READS_MAX, gate_inotify_event, server);
}
