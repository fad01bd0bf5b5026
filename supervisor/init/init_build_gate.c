/* One build per agent (slipway/build_gate.h): the agent's half.
 *
 * An inotify watch on <remote-fs>/workspace tells when the build starts; from then until
 * serve writes BUILD_GATE_OFFLINE, every exec by a process of the user namespace waits in a
 * fanotify permission event that PID 1 answers later. Execs are where a build's steps begin
 * (the shell of a freestyle step, Pipeline's sh, git), and holding the exec itself leaves no
 * window: Jenkins made the workspace before it launches anything, and the inotify queue is
 * read before every permission decision. Processes outside the namespace (PID 1's own
 * helpers) are never held. Once the node is offline the fanotify descriptor is closed, which
 * lets everything through at no further cost. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init.h"
#include "slipway/build_gate.h"
#include "slipway/cleanup.h"

/* Execs held at once; beyond that they are refused (EPERM): a build that forks this many
 * programs before its node is offline is not waited for. */
#define GATE_HELD_MAX 4096

static struct {
        bool enabled;
        bool started;        /* the build's workspace appeared */
        bool open;           /* its node is offline: nothing waits any more */
        bool second_seen;
        char first[NAME_MAX + 1];
        int gate_dir;        /* BUILD_GATE_IN_CONTAINER */
        int inotify_fd;
        int workspace_wd;
        int gate_wd;
        int fanotify_fd;
        dev_t userns_dev;    /* PID 1's user namespace: its processes are never held */
        ino_t userns_ino;
        int *held;           /* the descriptors of waiting exec events */
        size_t held_count;
} gate = { .gate_dir = -1, .inotify_fd = -1, .fanotify_fd = -1 };

/* Write name in the gate directory whole: a temporary file renamed over it. */
static void gate_write(const char *name, const char *text)
{
        char tmp[NAME_MAX + 1];
        snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
        _cleanup_close_ int fd = openat(gate.gate_dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        size_t len = strlen(text);
        if (fd < 0 || write(fd, text, len) != (ssize_t) len || renameat(gate.gate_dir, tmp, gate.gate_dir, name) < 0)
                init_log("build gate: cannot write %s/%s: %s", BUILD_GATE_IN_CONTAINER, name, strerror(errno));
}

/* mkdir -p for the workspace directory: what is made belongs to the agent user, whose host id
 * is uid (before a build runs, nothing in the path is a build's). */
static int make_owned_dirs(const char *path, uid_t uid, gid_t gid, struct sw_error *err)
{
        char partial[PATH_MAX];
        if (snprintf(partial, sizeof(partial), "%s", path) >= (int) sizeof(partial))
                return sw_error_set(err, ENAMETOOLONG, "workspace path %s", path);
        for (char *slash = strchr(partial + 1, '/');; slash = strchr(slash + 1, '/')) {
                if (slash)
                        *slash = '\0';
                if (mkdir(partial, 0755) == 0) {
                        if (lchown(partial, uid, gid) < 0)
                                return sw_error_errno(err, errno, "chown %s", partial);
                } else if (errno != EEXIST) {
                        return sw_error_errno(err, errno, "mkdir %s", partial);
                }
                if (!slash)
                        return 0;
                *slash = '/';
        }
}

static void drain_inotify(void);

static int mark_filesystem(const char *path, struct sw_error *err)
{
        if (fanotify_mark(gate.fanotify_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC_PERM,
                          AT_FDCWD, path) < 0)
                return sw_error_errno(err, errno, "build gate: fanotify mark on %s", path);
        return 0;
}

int init_build_gate_setup(struct sw_error *err)
{
        const char *remote_fs = getenv(BUILD_GATE_ENV);
        if (!remote_fs || !*remote_fs)
                return 0;
        if (!init_inner.enabled)
                return sw_error_set(err, EINVAL, "%s needs the user namespace", BUILD_GATE_ENV);
        if (remote_fs[0] != '/' || strstr(remote_fs, "/.."))
                return sw_error_set(err, EINVAL, "%s=%s: not an absolute path", BUILD_GATE_ENV, remote_fs);
        gate.gate_dir = open(BUILD_GATE_IN_CONTAINER, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (gate.gate_dir < 0)
                return sw_error_errno(err, errno, "build gate: open %s", BUILD_GATE_IN_CONTAINER);
        struct init_account account;
        int r = init_account_lookup(INIT_AGENT_USER, &account, err);
        if (r < 0)
                return r;
        char workspace[PATH_MAX];
        if (snprintf(workspace, sizeof(workspace), "%s/workspace", strcmp(remote_fs, "/") ? remote_fs : "") >=
            (int) sizeof(workspace))
                return sw_error_set(err, ENAMETOOLONG, "workspace path %s/workspace", remote_fs);
        r = make_owned_dirs(workspace, init_userns_outside(account.uid), init_userns_outside(account.gid), err);
        if (r < 0)
                return r;

        struct stat own;
        if (stat("/proc/self/ns/user", &own) < 0)
                return sw_error_errno(err, errno, "build gate: stat /proc/self/ns/user");
        gate.userns_dev = own.st_dev;
        gate.userns_ino = own.st_ino;

        gate.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (gate.inotify_fd < 0)
                return sw_error_errno(err, errno, "build gate: inotify");
        gate.workspace_wd = inotify_add_watch(gate.inotify_fd, workspace, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
        if (gate.workspace_wd < 0)
                return sw_error_errno(err, errno, "build gate: watch %s", workspace);
        gate.gate_wd = inotify_add_watch(gate.inotify_fd, BUILD_GATE_IN_CONTAINER, IN_MOVED_TO | IN_CLOSE_WRITE);
        if (gate.gate_wd < 0)
                return sw_error_errno(err, errno, "build gate: watch %s", BUILD_GATE_IN_CONTAINER);

        gate.enabled = true;
        init_log("build gate: one build, in %s", workspace);
        return 0;
}

int init_build_gate_arm(struct sw_error *err)
{
        if (!gate.enabled)
                return 0;
        const char *remote_fs = getenv(BUILD_GATE_ENV);
        int r;
        gate.fanotify_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_CLOEXEC);
        if (gate.fanotify_fd < 0)
                return sw_error_errno(err, errno, "build gate: fanotify_init");
        /* Every file system a build can execute from before it has a container of its own:
         * the image (where the shell and git are), and what is bound over it. */
        static const char *const roots[] = INIT_BIND_ROOTS;
        if ((r = mark_filesystem("/", err)) < 0 || (r = mark_filesystem(remote_fs, err)) < 0)
                return r;
        for (size_t i = 0; roots[i]; i++)
                if ((r = mark_filesystem(roots[i], err)) < 0)
                        return r;
        gate.held = calloc(GATE_HELD_MAX, sizeof(*gate.held));
        if (!gate.held)
                return sw_error_set(err, ENOMEM, "build gate");
        /* A build cannot have started yet (Jenkins connects to the sshd that just came up,
         * copies its agent and starts it first), but if one did, it waits from now on. */
        drain_inotify();
        return 0;
}

static void respond(int fd, uint32_t response)
{
        struct fanotify_response answer = { .fd = fd, .response = response };
        if (write(gate.fanotify_fd, &answer, sizeof(answer)) < 0)
                init_log("build gate: answer an exec: %s", strerror(errno));
        close(fd);
}

/* The node is offline: everything waiting goes on, and nothing waits again. */
static void gate_open(void)
{
        gate.open = true;
        for (size_t i = 0; i < gate.held_count; i++)
                respond(gate.held[i], FAN_ALLOW);
        if (gate.held_count)
                init_log("build gate: node offline, %zu waiting program(s) go on", gate.held_count);
        else
                init_log("build gate: node offline");
        gate.held_count = 0;
        close(gate.fanotify_fd);
        gate.fanotify_fd = -1;
}

/* A build's own entries: its workspace and the <workspace>@tmp, @script, @libs... beside it.
 * <workspace>@2 is a second workspace of the same job: another build. */
static bool own_entry(const char *name)
{
        size_t len = strlen(gate.first);
        if (strcmp(name, gate.first) == 0)
                return true;
        if (strncmp(name, gate.first, len) != 0 || name[len] != '@' || !name[len + 1])
                return false;
        return strspn(name + len + 1, "0123456789") != strlen(name + len + 1);
}

static void workspace_entry(const char *name)
{
        if (!gate.started) {
                gate.started = true;
                snprintf(gate.first, sizeof(gate.first), "%s", name);
                char text[NAME_MAX + 2];
                snprintf(text, sizeof(text), "%s\n", name);
                gate_write(BUILD_GATE_STARTED, text);
                if (!gate.open)
                        init_log("build gate: the build started (workspace/%s); its programs wait "
                                 "until the node is offline", name);
                return;
        }
        if (own_entry(name) || gate.second_seen)
                return;
        gate.second_seen = true;
        char text[NAME_MAX + 2];
        snprintf(text, sizeof(text), "%s\n", name);
        gate_write(BUILD_GATE_SECOND, text);
        init_log("build gate: ERROR a second build's workspace appeared on this one-build agent");
}

static void drain_inotify(void)
{
        char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
                __attribute__((aligned(__alignof__(struct inotify_event))));
        for (;;) {
                ssize_t n = read(gate.inotify_fd, buf, sizeof(buf));
                if (n <= 0)
                        return;
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *event = (const struct inotify_event *) p;
                        p += sizeof(*event) + event->len;
                        if (event->mask & IN_Q_OVERFLOW) {
                                /* Lost events: assume the worst, a build started. */
                                if (!gate.started)
                                        workspace_entry("(unknown: inotify overflow)");
                        } else if (event->wd == gate.workspace_wd && event->len) {
                                workspace_entry(event->name);
                        } else if (event->wd == gate.gate_wd && event->len &&
                                   strcmp(event->name, BUILD_GATE_OFFLINE) == 0 && !gate.open) {
                                gate_open();
                        }
                }
        }
}

/* Whether pid belongs to PID 1's own user namespace (never held). */
static bool outside_namespace(pid_t pid)
{
        char path[64];
        struct stat st;
        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
        return stat(path, &st) == 0 && st.st_dev == gate.userns_dev && st.st_ino == gate.userns_ino;
}

static void drain_fanotify(void)
{
        char buf[4096] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
        while (gate.fanotify_fd >= 0) {
                ssize_t n = read(gate.fanotify_fd, buf, sizeof(buf));
                if (n <= 0)
                        return;
                /* Workspace events made before these execs are in the inotify queue already. */
                drain_inotify();
                const struct fanotify_event_metadata *m = (const struct fanotify_event_metadata *) buf;
                for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
                        if (m->fd < 0)
                                continue;
                        if (gate.open || !gate.started || outside_namespace(m->pid)) {
                                if (gate.fanotify_fd >= 0)
                                        respond(m->fd, FAN_ALLOW);
                                else
                                        close(m->fd);
                        } else if (gate.held_count < GATE_HELD_MAX) {
                                gate.held[gate.held_count++] = m->fd;
                        } else {
                                respond(m->fd, FAN_DENY);
                        }
                }
        }
}

size_t init_build_gate_pollfds(struct pollfd *fds)
{
        if (!gate.enabled)
                return 0;
        size_t n = 0;
        fds[n++] = (struct pollfd) { .fd = gate.inotify_fd, .events = POLLIN };
        if (gate.fanotify_fd >= 0)
                fds[n++] = (struct pollfd) { .fd = gate.fanotify_fd, .events = POLLIN };
        return n;
}

void init_build_gate_handle(void)
{
        if (!gate.enabled)
                return;
        drain_inotify();
        drain_fanotify();
}

void init_build_gate_close(void)
{
        if (!gate.enabled || gate.fanotify_fd < 0)
                return;
        /* Stopping: what waits is refused (closing alone would let it run). */
        for (size_t i = 0; i < gate.held_count; i++)
                respond(gate.held[i], FAN_DENY);
        gate.held_count = 0;
        close(gate.fanotify_fd);
        gate.fanotify_fd = -1;
}
