/* One build per agent (slipway/build_gate.h): the agent's half.
 *
 * The build starts when Jenkins makes its workspace directory in <remote-fs>/workspace
 * (inotify), or when a descendant of the agent's Java process (Jenkins' remoting, which runs
 * every step) executes a program, whichever comes first: a build that keeps out of the
 * workspace still runs its steps through remoting. From then until serve writes
 * BUILD_GATE_OFFLINE, every exec by a process of the user namespace waits in a fanotify
 * permission event that PID 1 answers later. Holding the exec itself leaves no window: the
 * inotify queue is read before every permission decision, and Jenkins made the workspace
 * before it launches anything in it.
 *
 * After that the execs are let through, but still seen: a second build's workspace (one that
 * is not the first's, nor one of its <workspace>@tmp, @script... companions) makes the gate
 * refuse every exec of the namespace from then on, and serve destroys the agent. Processes of
 * PID 1's own user namespace (its helpers) are never held. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/securebits.h>

#include "init.h"
#include "slipway/build_gate.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"

/* Execs held at once; beyond that they are refused (EPERM): a build that forks this many
 * programs before its node is offline is not waited for. */
#define GATE_HELD_MAX 4096
/* Reads of a descriptor per wake-up: a build renaming entries in a loop cannot keep PID 1
 * from its signals and children. */
#define GATE_READS_MAX 64
/* How far up a process's parents to look for the agent's Java process. */
#define GATE_ANCESTRY_MAX 16

static struct {
        bool enabled;
        bool started;        /* the build began (workspace, or a program of remoting) */
        bool open;           /* its node is offline: nothing waits any more */
        bool refused;        /* a second build appeared: every exec is refused */
        char first[NAME_MAX + 1]; /* the build's workspace, its @suffix dropped ("" unknown) */
        int gate_dir;        /* BUILD_GATE_IN_CONTAINER */
        int workspace_dir;   /* <remote-fs>/workspace, to tell directories from files */
        int inotify_fd;
        int workspace_wd;
        int gate_wd;
        int fanotify_fd;
        dev_t userns_dev;    /* PID 1's user namespace: its processes are never held */
        ino_t userns_ino;
        struct held_exec {
                int fd;      /* the exec event, answered later */
                int pidfd;   /* its process: one that ends while held tells of a build that ended */
        } *held;
        size_t held_count;
} gate = { .gate_dir = -1, .workspace_dir = -1, .inotify_fd = -1, .fanotify_fd = -1 };

static void gate_write(const char *name, const char *text)
{
        int r = fs_write_notice_at(gate.gate_dir, name, text);
        if (r < 0)
                init_log("build gate: cannot write %s/%s: %s", BUILD_GATE_IN_CONTAINER, name, strerror(-r));
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

/* inotify and fanotify instances count against the creator's effective uid. PID 1 is host
 * root: charged there, every agent would eat into host root's 128 of each. They are made as
 * the agent's own range base instead, keeping the capabilities (SECBIT_NO_SETUID_FIXUP). */
static int as_range_base(int (*make)(void))
{
        int bits = prctl(PR_GET_SECUREBITS);
        if (bits < 0 || prctl(PR_SET_SECUREBITS, bits | SECBIT_NO_SETUID_FIXUP) < 0)
                return -errno;
        int fd = -EPERM;
        if (setresuid(-1, init_inner.base, -1) == 0) {
                fd = make();
                if (fd < 0)
                        fd = -errno;
                if (setresuid(-1, 0, -1) < 0)
                        init_log("build gate: cannot become root again: %s", strerror(errno));
        } else {
                fd = -errno;
        }
        (void) prctl(PR_SET_SECUREBITS, bits);
        return fd;
}

static int make_inotify(void)
{
        return inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
}

static int make_fanotify(void)
{
        /* Unlimited: a full queue would let execs through unanswered (and its memory is the
         * agent's, charged to its cgroup). */
        return fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE,
                             O_RDONLY | O_CLOEXEC);
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
        gate.workspace_dir = open(workspace, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (gate.workspace_dir < 0)
                return sw_error_errno(err, errno, "build gate: open %s", workspace);

        struct stat own;
        if (stat("/proc/self/ns/user", &own) < 0)
                return sw_error_errno(err, errno, "build gate: stat /proc/self/ns/user");
        gate.userns_dev = own.st_dev;
        gate.userns_ino = own.st_ino;

        gate.inotify_fd = as_range_base(make_inotify);
        if (gate.inotify_fd < 0)
                return sw_error_errno(err, -gate.inotify_fd, "build gate: inotify");
        gate.workspace_wd = inotify_add_watch(gate.inotify_fd, workspace,
                                              IN_CREATE | IN_MOVED_TO | IN_MOVE_SELF | IN_DELETE_SELF | IN_ONLYDIR);
        if (gate.workspace_wd < 0)
                return sw_error_errno(err, errno, "build gate: watch %s", workspace);
        gate.gate_wd = inotify_add_watch(gate.inotify_fd, BUILD_GATE_IN_CONTAINER, IN_MOVED_TO | IN_CLOSE_WRITE);
        if (gate.gate_wd < 0)
                return sw_error_errno(err, errno, "build gate: watch %s", BUILD_GATE_IN_CONTAINER);
        gate.enabled = true;
        init_log("build gate: one build, in %s", workspace);
        return 0;
}

static void respond(int fd, uint32_t response)
{
        struct fanotify_response answer = { .fd = fd, .response = response };
        if (write(gate.fanotify_fd, &answer, sizeof(answer)) < 0)
                init_log("build gate: answer an exec: %s", strerror(errno));
        close(fd);
}

static void answer_held(uint32_t response)
{
        for (size_t i = 0; i < gate.held_count; i++) {
                respond(gate.held[i].fd, response);
                if (gate.held[i].pidfd >= 0)
                        close(gate.held[i].pidfd);
        }
        gate.held_count = 0;
}

static void second_build(const char *name);

/* Whether a held program's process ended while it waited (killed: a step's timeout, an
 * abort). Then the build it belonged to may have ended too, and Jenkins may have given the
 * still-online node the next build, whose programs wait beside it. */
static bool held_process_ended(void)
{
        for (size_t i = 0; i < gate.held_count; i++) {
                struct pollfd pfd = { .fd = gate.held[i].pidfd, .events = POLLIN };
                if (gate.held[i].pidfd >= 0 && poll(&pfd, 1, 0) > 0)
                        return true;
        }
        return false;
}

/* The node is offline: everything waiting goes on, and nothing waits again. */
static void gate_open(void)
{
        if (gate.open || gate.refused)
                return;
        if (held_process_ended()) {
                second_build("(a held program ended before the node was offline)");
                return;
        }
        gate.open = true;
        init_log("build gate: node offline, %zu waiting program(s) go on", gate.held_count);
        answer_held(FAN_ALLOW);
}

/* "job@tmp" -> "job"; "job@2" stays (a second workspace of the job is another build). */
static void workspace_base(const char *name, char *out, size_t size)
{
        snprintf(out, size, "%s", name);
        char *at = strrchr(out, '@');
        if (at && at[1] && at[1 + strspn(at + 1, "0123456789")] != '\0')
                *at = '\0';
}

static void build_started(const char *why)
{
        if (gate.started)
                return;
        gate.started = true;
        char text[NAME_MAX + 64];
        snprintf(text, sizeof(text), "%s\n", why);
        gate_write(BUILD_GATE_STARTED, text);
        init_log("build gate: the build started (%s); its programs wait until the node is offline", why);
}

static void second_build(const char *name)
{
        if (gate.refused)
                return;
        gate.refused = true;
        char text[NAME_MAX + 2];
        snprintf(text, sizeof(text), "%s\n", name);
        gate_write(BUILD_GATE_SECOND, text);
        init_log("build gate: ERROR a second build's workspace (%s) appeared on this one-build "
                 "agent: every program of the namespace is refused from now on", name);
        answer_held(FAN_DENY);
}

static void workspace_entry(const char *name)
{
        struct stat st;
        /* Regular files are no workspaces: branch-api keeps workspaces.txt (and its temporary
         * files) beside them. Anything else is (a symlink to elsewhere, too). */
        if (fstatat(gate.workspace_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISREG(st.st_mode))
                return;
        char base[NAME_MAX + 1];
        workspace_base(name, base, sizeof(base));
        if (!gate.first[0]) {
                snprintf(gate.first, sizeof(gate.first), "%s", base);
                char why[NAME_MAX + 16];
                snprintf(why, sizeof(why), "workspace/%s", name);
                build_started(why);
        } else if (strcmp(base, gate.first) != 0) {
                second_build(name);
        }
}

/* Every entry of the workspace directory, as if each had just appeared. */
static void workspace_rescan(void)
{
        int fd = openat(gate.workspace_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *dir = fd < 0 ? NULL : fdopendir(fd);
        if (!dir) {
                if (fd >= 0)
                        close(fd);
                second_build("(the workspace directory cannot be read)");
                return;
        }
        for (struct dirent *entry; (entry = readdir(dir));)
                if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, ".."))
                        workspace_entry(entry->d_name);
        closedir(dir);
}

static void inotify_event_seen(const struct inotify_event *event, void *user)
{
        (void) user;
        if (event->mask & IN_Q_OVERFLOW) {
                /* Lost events: assume the worst, a build started; look at what is there. */
                build_started("events lost: assumed");
                workspace_rescan();
                if (faccessat(gate.gate_dir, BUILD_GATE_OFFLINE, F_OK, 0) == 0)
                        gate_open();
        } else if (event->wd == gate.workspace_wd && (event->mask & (IN_MOVE_SELF | IN_DELETE_SELF))) {
                /* Watched no more: a new one could hide a second build's workspace. */
                second_build("(the workspace directory was moved or removed)");
        } else if (event->wd == gate.workspace_wd && event->len) {
                workspace_entry(event->name);
        } else if (event->wd == gate.gate_wd && event->len && strcmp(event->name, BUILD_GATE_OFFLINE) == 0) {
                gate_open();
        }
}

static void drain_inotify(void)
{
        fs_inotify_drain(gate.inotify_fd, GATE_READS_MAX, inotify_event_seen, NULL);
}

/* The parent of pid and its name, from /proc/PID/stat ("pid (comm) state ppid ..."; comm may
 * hold spaces and parentheses, hence the last ')'). */
static pid_t parent_of(pid_t pid, char *comm, size_t size)
{
        char path[64], stat_line[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd < 0 ? -1 : read(fd, stat_line, sizeof(stat_line) - 1);
        if (n <= 0)
                return 0;
        stat_line[n] = '\0';
        char *open_paren = strchr(stat_line, '('), *close_paren = strrchr(stat_line, ')');
        if (!open_paren || !close_paren || close_paren < open_paren)
                return 0;
        snprintf(comm, size, "%.*s", (int) (close_paren - open_paren - 1), open_paren + 1);
        int ppid = 0;
        return sscanf(close_paren + 1, " %*c %d", &ppid) == 1 ? ppid : 0;
}

/* Whether pid runs for Jenkins' remoting: a Java process among its parents. Before the first
 * build nothing of a build runs in the agent, so nothing can pose as one. */
static bool from_remoting(pid_t pid)
{
        char comm[32];
        pid_t parent = parent_of(pid, comm, sizeof(comm));
        for (int depth = 0; parent > 1 && depth < GATE_ANCESTRY_MAX; depth++) {
                parent = parent_of(parent, comm, sizeof(comm));
                if (strcmp(comm, "java") == 0)
                        return true;
        }
        return false;
}

/* Whether pid belongs to PID 1's own user namespace (never held). A pid of 0 is a process
 * outside this PID namespace (the host), which is no build either. */
static bool outside_namespace(pid_t pid)
{
        if (pid == 0)
                return true;
        char path[64];
        struct stat st;
        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
        return stat(path, &st) == 0 && st.st_dev == gate.userns_dev && st.st_ino == gate.userns_ino;
}

static void exec_seen(int fd, pid_t pid)
{
        if (outside_namespace(pid)) {
                respond(fd, FAN_ALLOW);
                return;
        }
        if (!gate.started && from_remoting(pid))
                build_started("a program of the agent's Java process");
        if (gate.refused)
                respond(fd, FAN_DENY);
        else if (gate.open || !gate.started)
                respond(fd, FAN_ALLOW);
        else if (gate.held_count < GATE_HELD_MAX)
                gate.held[gate.held_count++] = (struct held_exec){
                        .fd = fd, .pidfd = (int) syscall(SYS_pidfd_open, pid, 0) };
        else
                respond(fd, FAN_DENY);
}

static void drain_fanotify(void)
{
        char buf[4096] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
        for (unsigned reads = 0; reads < GATE_READS_MAX && gate.fanotify_fd >= 0; reads++) {
                ssize_t n = read(gate.fanotify_fd, buf, sizeof(buf));
                if (n <= 0)
                        return;
                /* Workspace events made before these execs are in the inotify queue already. */
                drain_inotify();
                const struct fanotify_event_metadata *m = (const struct fanotify_event_metadata *) buf;
                for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
                        if (m->mask & FAN_Q_OVERFLOW)
                                second_build("(fanotify queue overflow: execs went unanswered)");
                        else if (m->fd >= 0)
                                exec_seen(m->fd, m->pid);
                }
        }
}

static int mark_filesystem(const char *path, struct sw_error *err)
{
        if (fanotify_mark(gate.fanotify_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC_PERM,
                          AT_FDCWD, path) < 0)
                return sw_error_errno(err, errno, "build gate: fanotify mark on %s", path);
        return 0;
}

int init_build_gate_arm(struct sw_error *err)
{
        if (!gate.enabled)
                return 0;
        gate.fanotify_fd = as_range_base(make_fanotify);
        if (gate.fanotify_fd < 0)
                return sw_error_errno(err, -gate.fanotify_fd, "build gate: fanotify_init");
        /* Every file system a build can execute from before it has a container of its own:
         * the image (where the shell and git are), and what is bound over it. */
        static const char *const roots[] = INIT_BIND_ROOTS;
        int r;
        if ((r = mark_filesystem("/", err)) < 0 || (r = mark_filesystem(getenv(BUILD_GATE_ENV), err)) < 0)
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
        answer_held(FAN_DENY);
        close(gate.fanotify_fd);
        gate.fanotify_fd = -1;
}
