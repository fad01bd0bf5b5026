/* The agent's inner world: containerd, dockerd, sshd and everything a build starts run in a
 * user namespace of their own, with their own mount, network, cgroup, IPC and UTS namespaces.
 *
 * Why: a build can always become root over its own dockerd (a privileged container, a bind of
 * the socket); the question is what that root holds. Here it is root of a user namespace whose
 * ids map to a range of host ids nobody else uses (SLIPWAY_USERNS, allocated per agent by the
 * supervisor), so it holds no capability over anything the host kernel owns: global sysctls,
 * the device cgroup, block devices, kernel modules, files of the agent's own image, and mounts
 * it inherited, which the kernel locks (MNT_LOCKED, MNT_LOCK_READONLY) when it copies them
 * into a namespace of a less privileged user namespace.
 *
 * This file does the set-up, as PID 1 (root of the initial user namespace, outside):
 *  1. a helper child unshares a user namespace; PID 1 writes its uid and gid maps;
 *  2. the cache generation at SEED_MOUNT gets an idmapped, read-only mount onto that range
 *     (files owned by host root show as the namespace's root), made before the mount namespace
 *     is copied, so it arrives locked;
 *  3. a delegated cgroup ("inner") per hierarchy, owned by the namespace's root, with its
 *     limits (and the agent's) still set from outside;
 *  4. the helper unshares the other namespaces and mounts what a daemon needs there: sysfs of
 *     its network namespace, the cgroup hierarchies rooted at "inner", /dev/shm, /dev/mqueue;
 *  5. PID 1 keeps a descriptor of each namespace (named in INIT_NS_FILE for
 *     `slipway-init --enter`) and connects the network (init_inner_net.c).
 * Every daemon is then started by init_userns_enter() in its child, between fork and exec.
 * PID 1 itself stays outside: it reaps, restarts and stops them as before. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/seed.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

/* Ranges a template agent (no supervisor to allocate one) picks from at random: those from
 * here to the ones slipway itself hands out (USERNS_DEFAULT_BASE). */
#define TEMPLATE_RANGE_FIRST 0x40000000u
#define TEMPLATE_RANGE_SLOTS ((USERNS_DEFAULT_BASE - TEMPLATE_RANGE_FIRST) / USERNS_MIN_SIZE)

static const struct {
        const char *name;
        int type;
} namespaces[INIT_NS_COUNT] = {
        [INIT_NS_USER] = { "user", CLONE_NEWUSER },     [INIT_NS_MNT] = { "mnt", CLONE_NEWNS },
        [INIT_NS_NET] = { "net", CLONE_NEWNET },        [INIT_NS_CGROUP] = { "cgroup", CLONE_NEWCGROUP },
        [INIT_NS_IPC] = { "ipc", CLONE_NEWIPC },        [INIT_NS_UTS] = { "uts", CLONE_NEWUTS },
        [INIT_NS_PID] = { "pid", CLONE_NEWPID },
};

struct init_userns init_inner = { .ns_fd = { -1, -1, -1, -1, -1, -1, -1 } };

/* The hierarchies init_cgroups_prepare mounted (init_cgroups.c): delegated to the namespace
 * and mounted again inside. */
static const struct init_cgroup_hierarchy *hierarchies;
static size_t hierarchy_count;
static bool cgroup_v2;
/* cgroup v2: how many cgroups the namespace may make. The host has ids for 65535 memory
 * cgroups in all; a build gets a few thousand. (cgroup v1 has no such cap: SECURITY.md.) */
#define INNER_CGROUPS_MAX "4096"

int init_userns_plan(struct sw_error *err)
{
        const char *value = getenv(USERNS_ENV);
        if (value && strcmp(value, USERNS_ENV_OFF) == 0) {
                init_log("user namespace: off (a cache builder: nothing of a build runs here)");
                return 0;
        }
        unsigned long long base, size;
        char tail;
        if (value) {
                if (sscanf(value, "%llu:%llu%c", &base, &size, &tail) != 2)
                        return sw_error_set(err, EINVAL, USERNS_ENV "=\"%.64s\": expected BASE:SIZE or "
                                            USERNS_ENV_OFF, value);
        } else {
                /* A template agent of the Jenkins Docker plugin: nobody allocates for it. The
                 * pick is kept for a restart of the same container (its home and data root
                 * are that range's already), where the namespace cannot write. */
                _cleanup_free_ char *kept = NULL;
                if (fs_read_bounded(INIT_USERNS_FILE, 64, &kept, NULL) == 0 &&
                    sscanf(kept, "%llu:%llu%c", &base, &size, &tail) == 3 && tail == '\n') {
                        init_log("user namespace: the range this container had before");
                } else {
                        uint32_t pick;
                        if (getrandom(&pick, sizeof(pick), 0) != sizeof(pick))
                                return sw_error_errno(err, errno, "user namespace: getrandom");
                        size = USERNS_MIN_SIZE;
                        base = TEMPLATE_RANGE_FIRST + (unsigned long long) (pick % TEMPLATE_RANGE_SLOTS) * size;
                        char text[64];
                        int len = snprintf(text, sizeof(text), "%llu:%llu\n", base, size);
                        int r = fs_write_atomic(INIT_USERNS_FILE, text, (size_t) len, 0600);
                        if (r < 0)
                                return sw_error_errno(err, -r, "write %s", INIT_USERNS_FILE);
                }
        }
        /* jenkins (1000), nogroup (65534) and the image's system ids must all map, and no host
         * system id may be in the range (the supervisor's rule, userns_layout_check). */
        if (size < USERNS_MIN_SIZE || base < 65536 || base + size > 0xFFFFFFFFull)
                return sw_error_set(err, EINVAL, USERNS_ENV "=%llu:%llu: need a size of at least %u, "
                                    "a base of 65536 or above and a range that ends below 2^32-1",
                                    base, size, USERNS_MIN_SIZE);
        init_inner.enabled = true;
        init_inner.base = (uid_t) base;
        init_inner.size = (uid_t) size;
        return 0;
}

uid_t init_userns_outside(uid_t inside)
{
        return init_inner.enabled && inside < init_inner.size ? init_inner.base + inside : inside;
}

/* Read one byte from fd (the other side's step); false on EOF or error. */
static bool await(int fd)
{
        char c;
        ssize_t n;
        do
                n = read(fd, &c, 1);
        while (n < 0 && errno == EINTR);
        return n == 1;
}

static void signal_step(int fd)
{
        (void) !write(fd, "x", 1);
}

static int chown_if_exists(const char *dir, const char *name, uid_t uid, gid_t gid)
{
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (lchown(path, uid, gid) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* Copy cpuset.cpus/mems from parent into dir: a new v1 cpuset is empty, and a process cannot
 * join an empty one. */
static void cpuset_inherit(const char *parent, const char *dir)
{
        static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
        for (size_t i = 0; i < 2; i++) {
                char from[PATH_MAX], to[PATH_MAX], value[4096] = "";
                snprintf(from, sizeof(from), "%s/%s", parent, files[i]);
                snprintf(to, sizeof(to), "%s/%s", dir, files[i]);
                _cleanup_fclose_ FILE *f = fopen(from, "re");
                if (!f || !fgets(value, sizeof(value), f))
                        continue;
                (void) fs_write_text(to, value);
        }
}

/* INIT_CGROUP_INNER in each hierarchy, owned by the namespace's root the way cgroup delegation
 * works (the directory and the files that create and move, never the limits of the delegated
 * cgroup itself), and INIT_CGROUP_DAEMONS below it for the daemons: on cgroup v2 a cgroup that
 * enables controllers for its children may hold no process itself. */
static int cgroups_delegate(struct sw_error *err)
{
        uid_t root = init_inner.base;
        for (size_t i = 0; i < hierarchy_count; i++) {
                char inner[PATH_MAX], daemons[PATH_MAX];
                snprintf(inner, sizeof(inner), "%s/" INIT_CGROUP_INNER, hierarchies[i].path);
                snprintf(daemons, sizeof(daemons), "%s/" INIT_CGROUP_DAEMONS, hierarchies[i].path);
                if (mkdir(inner, 0755) < 0 && errno != EEXIST)
                        return sw_error_errno(err, errno, "mkdir %s", inner);
                if (!cgroup_v2)
                        cpuset_inherit(hierarchies[i].path, inner);
                if (mkdir(daemons, 0755) < 0 && errno != EEXIST)
                        return sw_error_errno(err, errno, "mkdir %s", daemons);
                if (!cgroup_v2)
                        cpuset_inherit(inner, daemons);
                static const char *const delegated[] = { ".", "cgroup.procs", "tasks", "cgroup.threads",
                                                         "cgroup.subtree_control", "cgroup.clone_children",
                                                         "notify_on_release" };
                for (size_t j = 0; j < ARRAY_SIZE(delegated); j++)
                        if (chown_if_exists(inner, delegated[j], root, root) < 0)
                                return sw_error_errno(err, errno, "chown %s/%s", inner, delegated[j]);
                /* The daemons' own cgroup is the namespace's entirely (as any cgroup it makes). */
                _cleanup_closedir_ DIR *d = opendir(daemons);
                struct dirent *entry;
                while (d && (entry = readdir(d)))
                        if (strcmp(entry->d_name, "..") != 0 &&
                            chown_if_exists(daemons, entry->d_name, root, root) < 0)
                                return sw_error_errno(err, errno, "chown %s/%s", daemons, entry->d_name);
        }
        return 0;
}

/* cgroup v2: what the agent's root enables (init_cgroups.c), the inner root gets, once no
 * process is left in "inner" itself (a cgroup that enables controllers for its children may
 * hold none: the helper is there while it makes the cgroup namespace, then moves on). */
static void cgroups_enable_inner(void)
{
        if (!cgroup_v2)
                return;
        char controllers[1024] = "", path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/" INIT_CGROUP_INNER "/cgroup.controllers", hierarchies[0].path);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f || !fgets(controllers, sizeof(controllers), f))
                return;
        snprintf(path, sizeof(path), "%s/" INIT_CGROUP_INNER "/cgroup.max.descendants", hierarchies[0].path);
        if (fs_write_text(path, INNER_CGROUPS_MAX) < 0)
                init_log("cgroup v2: cannot cap the user namespace's cgroups at " INNER_CGROUPS_MAX);
        snprintf(path, sizeof(path), "%s/" INIT_CGROUP_INNER "/cgroup.subtree_control", hierarchies[0].path);
        char *save = NULL;
        for (char *c = strtok_r(controllers, " \n", &save); c; c = strtok_r(NULL, " \n", &save)) {
                char enable[64];
                snprintf(enable, sizeof(enable), "+%s", c);
                if (fs_write_text(path, enable) < 0)
                        init_log("cgroup v2: cannot enable controller %s for the user namespace", c);
        }
}

/* Move pid (0: the caller) into `cgroup` (relative to each hierarchy). */
static int cgroups_join(pid_t pid, const char *cgroup)
{
        char text[32];
        snprintf(text, sizeof(text), "%d\n", (int) pid);
        for (size_t i = 0; i < hierarchy_count; i++) {
                char path[PATH_MAX];
                snprintf(path, sizeof(path), "%s/%s/cgroup.procs", hierarchies[i].path, cgroup);
                int r = fs_write_text(path, text);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Inside the new mount namespace, as its root: the kernel lets a namespace's root mount
 * sysfs for a network namespace it owns, and cgroup hierarchies for a cgroup namespace it
 * owns (existing hierarchies only, rooted at the namespace's cgroup). */
static int inner_mounts(void)
{
        const char *what = "/";
        _cleanup_close_ int shared = -1;
        const unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
        /* Nothing mounted in here propagates back out. */
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                goto fail;
        what = "sysfs on /sys";
        if (mount("sysfs", "/sys", "sysfs", flags, NULL) < 0)
                goto fail;
        struct sw_error mount_err = { 0 };
        if (init_cgroups_mount(hierarchies, hierarchy_count, &mount_err) < 0) {
                init_log("user namespace: %s inside", mount_err.message);
                return -mount_err.code;
        }
        /* POSIX shared memory and message queues of this IPC namespace, not the agent's. */
        what = "/dev/shm";
        if (mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k") < 0)
                goto fail;
        struct stat st;
        what = "/dev/mqueue";
        if (stat("/dev/mqueue", &st) == 0 && mount("mqueue", "/dev/mqueue", "mqueue", flags, NULL) < 0)
                goto fail;
        /* The agent's DNS relay (init_dns.c) instead of Docker's resolver, unreachable here. */
        what = "/etc/resolv.conf";
        if (stat(INIT_RESOLV_CONF, &st) == 0 && stat("/etc/resolv.conf", &st) == 0 &&
            mount(INIT_RESOLV_CONF, "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0)
                goto fail;
        /* A /run of the namespace's own, where its daemons write what they like (runc, BuildKit,
         * sshd, iptables' lock...), with the one directory the agent shares: dockerd's socket
         * and containerd's state (INIT_DOCKERD_DIR), which PID 1 talks to. */
        what = INIT_DOCKERD_DIR;
        shared = open_tree(AT_FDCWD, INIT_DOCKERD_DIR, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (shared < 0)
                goto fail;
        what = "tmpfs on /run";
        if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") < 0)
                goto fail;
        what = "/run/docker";
        if (mkdir(INIT_DOCKERD_DIR, 0711) < 0 ||
            move_mount(shared, "", AT_FDCWD, INIT_DOCKERD_DIR, MOVE_MOUNT_F_EMPTY_PATH) < 0 ||
            symlink("docker/docker.sock", INIT_DOCKER_SOCKET) < 0)
                goto fail;
        /* sshd's privilege separation directory, root's and not writable by others. */
        what = "/run/sshd";
        if (mkdir("/run/sshd", 0755) < 0)
                goto fail;
        return 0;
fail:;
        int saved = errno;
        init_log("user namespace: mount %s inside: %s", what, strerror(saved));
        return -saved;
}

/* PID 1 of the inner PID namespace: mounts the namespace's own /proc (the kernel lets only a
 * process of that namespace do so), then reaps what is orphaned in there, forever (when it
 * ends, the kernel kills the namespace). The daemons themselves are children of the agent's
 * PID 1, which supervises them; this one only keeps the namespace alive and clean. */
static void reaper_terminate(int signo)
{
        (void) signo;
        _exit(0);
}

static __attribute__((noreturn)) void inner_init(int ready)
{
        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                init_log("user namespace: mount /proc inside: %s", strerror(errno));
                _exit(1);
        }
        signal_step(ready);
        close(ready);
        prctl(PR_SET_NAME, "slipway-reaper");
        /* The init of a PID namespace gets only the signals it handles: SIGTERM from the
         * agent's shutdown (kill(-1)) ends it, and the kernel then kills what is left inside. */
        sigset_t all;
        sigfillset(&all);
        sigdelset(&all, SIGTERM);
        signal(SIGTERM, reaper_terminate);
        sigprocmask(SIG_SETMASK, &all, NULL); /* PID 1's mask, inherited, blocks SIGTERM */
        for (;;) {
                if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD)
                        sleep(1);
        }
}

/* The helper child: unshares the user namespace, waits for its maps, becomes its root,
 * unshares the rest, mounts, reports, and lives until PID 1 has what it needs. */
static __attribute__((noreturn)) void helper(int to_parent, int from_parent)
{
        /* The namespace is made by the agent's own host id, not by host root: the kernel
         * charges what a user namespace uses (inotify instances and watches, message queues,
         * processes...) to its creator as well, and a build must never use up host root's. */
        if (setgroups(0, NULL) < 0 || setresgid(init_inner.base, init_inner.base, init_inner.base) < 0 ||
            setresuid(init_inner.base, init_inner.base, init_inner.base) < 0) {
                init_log("user namespace: become host id %u: %s", (unsigned) init_inner.base, strerror(errno));
                _exit(1);
        }
        if (unshare(CLONE_NEWUSER) < 0) {
                init_log("user namespace: unshare: %s", strerror(errno));
                _exit(1);
        }
        signal_step(to_parent);
        if (!await(from_parent))
                _exit(1);
        if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
                init_log("user namespace: become its root: %s", strerror(errno));
                _exit(1);
        }
        if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWUTS |
                    CLONE_NEWPID) < 0) {
                init_log("user namespace: unshare the other namespaces: %s", strerror(errno));
                _exit(1);
        }
        if (inner_mounts() < 0)
                _exit(1); /* it said which */
        int ready[2];
        if (pipe2(ready, O_CLOEXEC) < 0)
                _exit(1);
        pid_t reaper = fork();
        if (reaper < 0)
                _exit(1);
        if (reaper == 0) {
                close(ready[0]);
                inner_init(ready[1]);
        }
        close(ready[1]);
        if (!await(ready[0]))
                _exit(1);
        char text[16];
        int len = snprintf(text, sizeof(text), "%d\n", (int) reaper);
        (void) !write(to_parent, text, (size_t) len);
        (void) await(from_parent); /* EOF: PID 1 is done with us */
        _exit(0);
}

static int write_maps(pid_t child, struct sw_error *err)
{
        char map[64], path[64];
        snprintf(map, sizeof(map), "0 %u %u\n", (unsigned) init_inner.base, (unsigned) init_inner.size);
        static const char *const files[] = { "uid_map", "gid_map" };
        for (size_t i = 0; i < 2; i++) {
                snprintf(path, sizeof(path), "/proc/%d/%s", (int) child, files[i]);
                int r = fs_write_text(path, map);
                if (r < 0)
                        return sw_error_errno(err, -r, "user namespace: write %s \"%u %u\"", files[i],
                                              (unsigned) init_inner.base, (unsigned) init_inner.size);
        }
        return 0;
}

/* The generation, as the namespace sees it: an idmapped mount (host uid 0 shows as the
 * namespace's root, so layers keep their owners inside), read-only, over SEED_MOUNT. Made here,
 * outside, before the mount namespace is copied: the copy then locks it read-only, and it can
 * be neither remounted read-write nor unmounted to show what lies under it. */
static int seed_idmapped(struct sw_error *err)
{
        struct stat st;
        if (stat(SEED_MOUNT, &st) < 0)
                return errno == ENOENT ? 0 : sw_error_errno(err, errno, "%s", SEED_MOUNT);
        _cleanup_close_ int tree = open_tree(AT_FDCWD, SEED_MOUNT, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (tree < 0)
                return sw_error_errno(err, errno, "open_tree %s", SEED_MOUNT);
        struct mount_attr attr = {
                .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                .userns_fd = (uint64_t) init_inner.ns_fd[INIT_NS_USER],
        };
        if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
                return sw_error_errno(err, errno, "idmapped mount of the cache generation at %s (the file "
                                      "system under the state directory must support idmapped mounts)",
                                      SEED_MOUNT);
        if (move_mount(tree, "", AT_FDCWD, SEED_MOUNT, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return sw_error_errno(err, errno, "move_mount onto %s", SEED_MOUNT);
        return 0;
}

/* Mounts under /proc and /sys hide parts of them (Docker's masked paths, in plugin mode). The
 * kernel refuses a new proc or sysfs in a user namespace while any part is hidden ("mount too
 * revealing"), and /sys must not be read-only for the same reason. Outside, as here, nothing
 * is locked; what is unmasked needs capabilities of the initial user namespace to use. */
static int unmask_proc_sys(struct sw_error *err)
{
        for (int round = 0; round < 64; round++) {
                _cleanup_fclose_ FILE *f = fopen("/proc/self/mounts", "re");
                if (!f)
                        return sw_error_errno(err, errno, "read /proc/self/mounts");
                char line[4096], found[PATH_MAX] = "";
                while (fgets(line, sizeof(line), f)) {
                        char source[256], path[PATH_MAX];
                        if (sscanf(line, "%255s %4095s", source, path) != 2)
                                continue;
                        bool in_proc = strncmp(path, "/proc/", 6) == 0;
                        bool in_sys = strncmp(path, "/sys/", 5) == 0 && strncmp(path, CGROUP_ROOT, strlen(CGROUP_ROOT)) != 0;
                        if (in_proc || in_sys)
                                snprintf(found, sizeof(found), "%s", path); /* the last: the top */
                }
                if (!found[0])
                        break;
                if (umount2(found, MNT_DETACH) < 0)
                        return sw_error_errno(err, errno, "unmount %s", found);
        }
        /* The agent's own procfs shows the namespace nothing of the agent's processes, should
         * the namespace's root unmount its own /proc from over it (mounts made inside are the
         * namespace's to unmount; only what it inherited is locked): hidepid=invisible hides
         * every process one may not ptrace, and root of the namespace may ptrace none of
         * the agent's. */
        if (mount(NULL, "/proc", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible") < 0)
                return sw_error_errno(err, errno, "remount /proc hidepid=invisible");
        /* The superblock too: the kernel counts a read-only superblock as a locked read-only
         * mount. This sysfs is the agent's network namespace's own, not the host's. */
        if (mount(NULL, "/sys", NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                return sw_error_errno(err, errno, "remount /sys read-write");
        return 0;
}

/* Where `slipway-init --enter` (operator shells, through docker exec) finds the namespaces:
 * PID 1's own descriptors, /proc/1/fd/N, which only a process allowed to ptrace PID 1 (root
 * of the agent, not of the namespace) can open. INIT_NS_FILE names N for each. */
static int publish_namespaces(struct sw_error *err)
{
        char text[256];
        size_t len = 0;
        for (int i = 0; i < INIT_NS_COUNT; i++)
                len += (size_t) snprintf(text + len, sizeof(text) - len, "%s %d\n", namespaces[i].name,
                                         init_inner.ns_fd[i]);
        int r = fs_write_atomic(INIT_NS_FILE, text, len, 0600);
        return r < 0 ? sw_error_errno(err, -r, "write %s", INIT_NS_FILE) : 0;
}

int init_userns_setup(const struct init_inner_net *net, struct sw_error *err)
{
        if (!init_inner.enabled) {
                /* `--enter` then runs commands here, as it always did. */
                int r = fs_write_atomic(INIT_NS_FILE, "none\n", 5, 0600);
                return r < 0 ? sw_error_errno(err, -r, "write %s", INIT_NS_FILE) : 0;
        }
        hierarchy_count = init_cgroups_hierarchies(&hierarchies, &cgroup_v2);
        int r = unmask_proc_sys(err);
        if (r < 0 || (r = cgroups_delegate(err)) < 0)
                return r;
        int up[2], down[2];
        if (pipe2(up, O_CLOEXEC) < 0)
                return sw_error_errno(err, errno, "pipe");
        if (pipe2(down, O_CLOEXEC) < 0) {
                close(up[0]);
                close(up[1]);
                return sw_error_errno(err, errno, "pipe");
        }
        _cleanup_close_ int from_child = up[0], to_child = down[1];
        pid_t child = fork();
        if (child < 0) {
                close(up[1]);
                close(down[0]);
                return sw_error_errno(err, errno, "fork");
        }
        if (child == 0) {
                close(from_child);
                close(to_child);
                helper(up[1], down[0]);
        }
        close(up[1]);
        close(down[0]);
        char path[64];
        if (!await(from_child)) {
                r = sw_error_set(err, EIO, "user namespace: the helper failed (see the lines above)");
                goto out;
        }
        if ((r = write_maps(child, err)) < 0)
                goto out;
        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) child);
        init_inner.ns_fd[INIT_NS_USER] = open(path, O_RDONLY | O_CLOEXEC);
        if (init_inner.ns_fd[INIT_NS_USER] < 0) {
                r = sw_error_errno(err, errno, "open %s", path);
                goto out;
        }
        if ((r = seed_idmapped(err)) < 0)
                goto out;
        /* The cgroup namespace is rooted where the helper is when it unshares it. */
        if ((r = cgroups_join(child, INIT_CGROUP_INNER)) < 0) {
                r = sw_error_errno(err, -r, "move the helper into cgroup %s", INIT_CGROUP_INNER);
                goto out;
        }
        signal_step(to_child);
        char reaper[16] = "";
        ssize_t n = read(from_child, reaper, sizeof(reaper) - 1);
        init_inner.init_pid = n > 0 ? (pid_t) atoi(reaper) : 0;
        if (init_inner.init_pid <= 0) {
                r = sw_error_set(err, EIO, "user namespace: the helper failed (see the lines above)");
                goto out;
        }
        /* Both out of "inner" into its leaf, so that "inner" may enable controllers. */
        if ((r = cgroups_join(child, INIT_CGROUP_DAEMONS)) < 0 ||
            (r = cgroups_join(init_inner.init_pid, INIT_CGROUP_DAEMONS)) < 0) {
                r = sw_error_errno(err, -r, "move the helpers into cgroup %s", INIT_CGROUP_DAEMONS);
                goto out;
        }
        cgroups_enable_inner();
        for (int i = 0; i < INIT_NS_COUNT; i++) {
                if (i == INIT_NS_USER)
                        continue;
                /* The helper's children are in the PID namespace, not the helper itself. */
                snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int) child,
                         i == INIT_NS_PID ? "pid_for_children" : namespaces[i].name);
                init_inner.ns_fd[i] = open(path, O_RDONLY | O_CLOEXEC);
                if (init_inner.ns_fd[i] < 0) {
                        r = sw_error_errno(err, errno, "open %s", path);
                        goto out;
                }
        }
        if ((r = publish_namespaces(err)) < 0)
                goto out;
        r = init_inner_net_setup(net, child, err);
out:
        close(to_child);
        to_child = -1;
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
                ;
        if (r >= 0)
                init_log("user namespace: ids 0-%u are host ids %u-%u", (unsigned) init_inner.size - 1,
                         (unsigned) init_inner.base, (unsigned) (init_inner.base + init_inner.size - 1));
        return r;
}

/* Join the namespaces (fds, in enum init_ns order; count of them) as their root: the user
 * namespace first, becoming its root at once, so that no moment passes in there as host uid 0
 * (whose files and /proc/sys entries a process of that uid may write whatever its
 * capabilities), and not dumpable all along (no process of the namespace may ptrace or read
 * the memory of this one; execve resets it). Then the rest, which that root owns. */
static int join_as_root(const int *fds, int count)
{
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return -errno;
        if (count > INIT_NS_USER && setns(fds[INIT_NS_USER], CLONE_NEWUSER) < 0)
                return -errno;
        if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
                return -errno;
        uid_t ruid, euid, suid;
        if (getresuid(&ruid, &euid, &suid) < 0 || ruid != 0 || euid != 0 || suid != 0)
                return -EPERM;
        for (int i = INIT_NS_USER + 1; i < count; i++)
                if (setns(fds[i], namespaces[i].type) < 0)
                        return -errno;
        return chdir("/") < 0 ? -errno : 0;
}

int init_userns_enter(void)
{
        if (!init_inner.enabled)
                return 0;
        /* The cgroup first, from outside (the files are host root's to write there). */
        int r = cgroups_join(0, INIT_CGROUP_DAEMONS);
        if (r < 0)
                return r;
        return join_as_root(init_inner.ns_fd, INIT_NS_COUNT);
}

/* slipway-init --enter USER -- COMMAND...: what `slipway shell` runs through docker exec,
 * so an operator's shell is where the build is, with the build's view and no more. */
int init_enter_exec(char **argv)
{
        if (!argv[0] || !argv[1] || strcmp(argv[1], "--") != 0 || !argv[2]) {
                init_log("usage: slipway-init %s root|USER -- COMMAND...", INIT_ENTER_FLAG);
                return 2;
        }
        const char *user = argv[0];
        /* The account from the agent's own /etc/passwd, before joining anything: inside, root
         * of the namespace could put any file there. Its ids must be ids of the namespace. */
        struct init_account account = { 0 };
        if (strcmp(user, "root") != 0) {
                struct sw_error err = { 0 };
                if (init_account_lookup(user, &account, &err) < 0) {
                        init_log("enter: %s", err.message);
                        return 126;
                }
                bool mapped = account.uid > 0 && account.uid < USERNS_MIN_SIZE && account.gid < USERNS_MIN_SIZE;
                for (size_t i = 0; mapped && i < account.group_count; i++)
                        mapped = account.groups[i] < USERNS_MIN_SIZE;
                if (!mapped) {
                        init_log("enter: user %s has ids outside the namespace's first %u", user, USERNS_MIN_SIZE);
                        return 126;
                }
        }
        /* Open all first, join after: the paths are PID 1's, in the agent's own /proc. Without
         * the file the agent is not set up (yet): nothing runs outside by mistake. */
        int fds[INIT_NS_COUNT];
        int count = 0;
        _cleanup_fclose_ FILE *f = fopen(INIT_NS_FILE, "re");
        if (!f) {
                init_log("enter: read %s: %s (is the agent ready?)", INIT_NS_FILE, strerror(errno));
                return 126;
        }
        char first[16] = "";
        if (fscanf(f, "%15s", first) != 1) {
                init_log("enter: %s is empty", INIT_NS_FILE);
                return 126;
        }
        rewind(f);
        for (; strcmp(first, "none") != 0 && count < INIT_NS_COUNT; count++) {
                char name[16];
                int number;
                if (fscanf(f, "%15s %d", name, &number) != 2 || strcmp(name, namespaces[count].name) != 0) {
                        init_log("enter: %s is not what slipway-init writes", INIT_NS_FILE);
                        return 126;
                }
                char path[64];
                snprintf(path, sizeof(path), "/proc/1/fd/%d", number);
                fds[count] = open(path, O_RDONLY | O_CLOEXEC);
                if (fds[count] < 0) {
                        init_log("enter: open the %s namespace (%s): %s", name, path, strerror(errno));
                        return 126;
                }
        }
        int r = count > 0 ? join_as_root(fds, count) : 0;
        if (r < 0) {
                init_log("enter: join the agent's namespaces: %s", strerror(-r));
                return 126;
        }
        gid_t groups[INIT_ACCOUNT_GROUPS_MAX];
        size_t ngroups = 0;
        for (size_t i = 0; i < account.group_count; i++)
                groups[ngroups++] = account.groups[i];
        if (setgroups(ngroups, groups) < 0 || setresgid(account.gid, account.gid, account.gid) < 0 ||
            setresuid(account.uid, account.uid, account.uid) < 0) {
                init_log("enter: become %s: %s", user, strerror(errno));
                return 126;
        }
        if (chdir(account.home[0] ? account.home : "/") < 0)
                (void) !chdir("/");
        if (account.home[0])
                setenv("HOME", account.home, 1);
        setenv("USER", user, 1);
        /* Into the PID namespace: only a child is in it. A terminal's signals reach the child
         * (same process group); this one waits and hands on its status. */
        pid_t child = count > INIT_NS_PID ? fork() : 0;
        if (child < 0) {
                init_log("enter: fork: %s", strerror(errno));
                return 126;
        }
        if (child == 0) {
                execvp(argv[2], argv + 2);
                init_log("enter: execute %s: %s", argv[2], strerror(errno));
                _exit(127);
        }
        signal(SIGINT, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        int status;
        while (waitpid(child, &status, 0) < 0)
                if (errno != EINTR)
                        return 126;
        return init_exit_status(status);
}
