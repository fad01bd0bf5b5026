/* One build per agent (slipway/build_gate.h): serve's half. One inotify descriptor watches
 * every served agent's gate directory; BUILD_GATE_STARTED makes serve mark the node offline
 * at once, and once Jenkins took that, BUILD_GATE_OFFLINE lets the agent's build go on. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "serve_internal.h"
#include "slipway/build_gate.h"
#include "slipway/cleanup.h"
#include "slipway/log.h"

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
                          "another build", s->id, s->node);
        }
}

void serve_gate_watch(struct server *server, struct served *s)
{
        _cleanup_free_ char *dir = gate_path(s, NULL);
        if (!dir || server->gate_fd < 0)
                return;
        s->gate_wd = inotify_add_watch(server->gate_fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR);
        if (s->gate_wd < 0) {
                if (errno != ENOENT) /* an agent of a slipway without gates */
                        log_warning("agent=%s: watch %s: %s", s->id, dir, strerror(errno));
                return;
        }
        /* What happened while nobody watched (serve restarted). */
        if (gate_has(s, BUILD_GATE_STARTED))
                gate_event(server, s, BUILD_GATE_STARTED);
        if (gate_has(s, BUILD_GATE_SECOND))
                gate_event(server, s, BUILD_GATE_SECOND);
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
        if (!dir)
                return;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
                log_warning("agent=%s: open %s: %s", s->id, dir, strerror(errno));
                return;
        }
        _cleanup_close_ int fd = openat(dfd, "." BUILD_GATE_OFFLINE ".tmp",
                                        O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, "offline\n", 8) != 8 ||
            renameat(dfd, "." BUILD_GATE_OFFLINE ".tmp", dfd, BUILD_GATE_OFFLINE) < 0) {
                log_warning("agent=%s: write %s/%s: %s", s->id, dir, BUILD_GATE_OFFLINE, strerror(errno));
                return;
        }
        s->gate_released = true;
}

void serve_gate_handle(struct server *server)
{
        char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
                __attribute__((aligned(__alignof__(struct inotify_event))));
        for (;;) {
                ssize_t n = read(server->gate_fd, buf, sizeof(buf));
                if (n <= 0)
                        return;
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *event = (const struct inotify_event *) p;
                        p += sizeof(*event) + event->len;
                        if (event->mask & IN_Q_OVERFLOW) {
                                /* Events were lost: look at every gate. */
                                for (struct served *s = server->agents; s; s = s->next)
                                        if (s->gate_wd >= 0 && gate_has(s, BUILD_GATE_STARTED))
                                                gate_event(server, s, BUILD_GATE_STARTED);
                                continue;
                        }
                        if (!event->len || event->name[0] == '.')
                                continue;
                        for (struct served *s = server->agents; s; s = s->next) {
                                if (s->gate_wd == event->wd) {
                                        gate_event(server, s, event->name);
                                        break;
                                }
                        }
                }
        }
}
