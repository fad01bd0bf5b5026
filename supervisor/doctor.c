/* Host prerequisites, each checked with a fix: see include/slipway/doctor.h. */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <sys/mount.h>
#include <sched.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "slipway/agent.h"
#include "slipway/cache.h"
#include "slipway/caps.h"
#include "slipway/cleanup.h"
#include "slipway/config.h"
#include "slipway/docker.h"
#include "slipway/doctor.h"
#include "slipway/fsutil.h"
#include "slipway/userns.h"
#include "slipway/jenkins.h"
#include "slipway/seed.h"
#include "slipway/ssh_probe.h"

/* Not in <linux/magic.h>. */
#define DOCTOR_CIFS_MAGIC 0xff534d42UL
#define DOCTOR_SMB2_MAGIC 0xfe534d42UL
#define DOCTOR_ZFS_MAGIC 0x2fc12fc1UL

#define CGROUP_ROOT "/sys/fs/cgroup"
#define PROC_READ_MAX (4u << 20) /* bytes of a /proc or /sys file we parse */
#define DETAIL_MAX 1024
#define FIX_MAX 1024

/* Every controller of a v1 host is mounted in agents and remounted by slipway-init; these are
 * the ones the agents' dockerd uses. runc refuses to start a container without "devices" on
 * v1 (for security, libcontainer/cgroups/fs); the others only make resource limits and stats
 * of the builds' own containers fail. */
static const char *const cgroup_v1_required[] = { "cpu", "cpuacct", "cpuset", "memory", "devices",
                                                  "freezer", "pids", "blkio", NULL };
static const char *const cgroup_v2_required[] = { "cpu", "memory", "pids", NULL };

const char *doctor_status_name(enum doctor_status status)
{
        switch (status) {
        case DOCTOR_PASS:
                return "PASS";
        case DOCTOR_WARN:
                return "WARN";
        case DOCTOR_FAIL:
                return "FAIL";
        }
        return "FAIL";
}

size_t doctor_count(json_t *results, enum doctor_status status)
{
        size_t n = 0, i;
        json_t *result;
        json_array_foreach(results, i, result) {
                const char *s = json_string_value(json_object_get(result, "status"));
                if (s && strcmp(s, doctor_status_name(status)) == 0)
                        n++;
        }
        return n;
}

int doctor_add(json_t *results, const char *check, enum doctor_status status, const char *fix,
               const char *detail_fmt, ...)
{
        char detail[DETAIL_MAX];
        va_list ap;
        va_start(ap, detail_fmt);
        vsnprintf(detail, sizeof(detail), detail_fmt, ap);
        va_end(ap);
        json_t *result = json_pack("{s:s, s:s, s:s}", "check", check, "status",
                                   doctor_status_name(status), "detail", detail);
        if (!result)
                return -ENOMEM;
        if (status != DOCTOR_PASS && fix && *fix &&
            json_object_set_new(result, "fix", json_string(fix)) < 0) {
                json_decref(result);
                return -ENOMEM;
        }
        return json_array_append_new(results, result) < 0 ? -ENOMEM : 0;
}

/* ---- pure helpers ---- */

bool doctor_filesystems_has(const char *proc_filesystems, const char *name)
{
        /* Lines are "nodev\toverlay" or "\text4": the name is the last field. */
        for (const char *line = proc_filesystems; line && *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t) (end - line) : strlen(line);
                const char *field = line + len;
                while (field > line && field[-1] != '\t' && field[-1] != ' ')
                        field--;
                size_t field_len = (size_t) (line + len - field);
                if (field_len == strlen(name) && strncmp(field, name, field_len) == 0)
                        return true;
                line = end ? end + 1 : NULL;
        }
        return false;
}

const char *doctor_fs_type_name(unsigned long magic)
{
        switch (magic) {
        case EXT4_SUPER_MAGIC:
                return "ext4";
        case XFS_SUPER_MAGIC:
                return "xfs";
        case BTRFS_SUPER_MAGIC:
                return "btrfs";
        case OVERLAYFS_SUPER_MAGIC:
                return "overlayfs";
        case TMPFS_MAGIC:
                return "tmpfs";
        case RAMFS_MAGIC:
                return "ramfs";
        case F2FS_SUPER_MAGIC:
                return "f2fs";
        case NFS_SUPER_MAGIC:
                return "nfs";
        case DOCTOR_CIFS_MAGIC:
                return "cifs";
        case DOCTOR_SMB2_MAGIC:
                return "smb2";
        case CEPH_SUPER_MAGIC:
                return "ceph";
        case V9FS_MAGIC:
                return "9p";
        case FUSE_SUPER_MAGIC:
                return "fuse";
        case ECRYPTFS_SUPER_MAGIC:
                return "ecryptfs";
        case SQUASHFS_MAGIC:
                return "squashfs";
        case DOCTOR_ZFS_MAGIC:
                return "zfs";
        case MSDOS_SUPER_MAGIC:
                return "vfat";
        case EXFAT_SUPER_MAGIC:
                return "exfat";
        default:
                return NULL;
        }
}

enum doctor_status doctor_state_fs_status(unsigned long magic, const char **why)
{
        const char *reason = NULL;
        enum doctor_status status = DOCTOR_FAIL;
        switch (magic) {
        case EXT4_SUPER_MAGIC:
        case XFS_SUPER_MAGIC:
        case BTRFS_SUPER_MAGIC:
                status = DOCTOR_PASS;
                break;
        case OVERLAYFS_SUPER_MAGIC:
                reason = "the agents' overlay2 driver refuses an upper directory on overlayfs";
                break;
        case TMPFS_MAGIC:
                status = DOCTOR_WARN;
                reason = "agents' data roots and cache generations take memory and vanish at reboot";
                break;
        case DOCTOR_ZFS_MAGIC:
                status = DOCTOR_WARN;
                reason = "overlay2 stacks on ZFS only from OpenZFS 2.2 on";
                break;
        case NFS_SUPER_MAGIC:
        case DOCTOR_CIFS_MAGIC:
        case DOCTOR_SMB2_MAGIC:
        case CEPH_SUPER_MAGIC:
        case V9FS_MAGIC:
        case FUSE_SUPER_MAGIC:
                reason = "overlay2 cannot use a network or FUSE file system as its upper directory";
                break;
        case RAMFS_MAGIC:
        case ECRYPTFS_SUPER_MAGIC:
        case MSDOS_SUPER_MAGIC:
        case EXFAT_SUPER_MAGIC:
                reason = "overlay2 needs the extended attributes and whiteouts this file system lacks";
                break;
        case SQUASHFS_MAGIC:
                reason = "the file system is read-only";
                break;
        default:
                status = DOCTOR_WARN;
                reason = "overlay2 is not known to work on it (ext4, xfs and btrfs are)";
                break;
        }
        if (why)
                *why = reason;
        return status;
}

/* Whether word is one of the separator-delimited tokens of the first len bytes of list. */
static bool token_in(const char *list, size_t len, const char *separators, const char *word)
{
        size_t word_len = strlen(word);
        size_t i = 0;
        while (i < len) {
                size_t start = i;
                while (i < len && !strchr(separators, list[i]))
                        i++;
                if (i - start == word_len && strncmp(list + start, word, word_len) == 0)
                        return true;
                i++;
        }
        return false;
}

/* Whether a mountinfo line is a cgroup v1 mount whose super options name controller. Format:
 * "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS". */
static bool mountinfo_line_has_controller(const char *line, size_t len, const char *controller)
{
        const char *dash = NULL;
        for (size_t i = 0; i + 2 < len; i++)
                if (line[i] == ' ' && line[i + 1] == '-' && line[i + 2] == ' ') {
                        dash = line + i + 3;
                        break;
                }
        if (!dash)
                return false;
        size_t rest = len - (size_t) (dash - line);
        if (rest < 7 || strncmp(dash, "cgroup ", 7) != 0)
                return false;
        const char *source = dash + 7;
        const char *options = memchr(source, ' ', rest - 7);
        if (!options)
                return false;
        options++;
        return token_in(options, len - (size_t) (options - line), ",", controller);
}

void doctor_cgroup_missing(bool v2, const char *available, char *out, size_t size)
{
        const char *const *required = v2 ? cgroup_v2_required : cgroup_v1_required;
        size_t used = 0;
        if (size)
                out[0] = '\0';
        for (size_t r = 0; required[r]; r++) {
                bool found = false;
                if (v2) {
                        found = available && token_in(available, strlen(available), " \n", required[r]);
                } else {
                        for (const char *line = available; line && *line && !found;) {
                                const char *end = strchr(line, '\n');
                                size_t len = end ? (size_t) (end - line) : strlen(line);
                                found = mountinfo_line_has_controller(line, len, required[r]);
                                line = end ? end + 1 : NULL;
                        }
                }
                if (found || used >= size)
                        continue;
                int n = snprintf(out + used, size - used, "%s%s", used ? " " : "", required[r]);
                if (n > 0)
                        used += (size_t) n < size - used ? (size_t) n : size - used - 1;
        }
}

bool doctor_capability_critical(const char *name)
{
        /* What the agents' own dockerd, containerd and runc use as root for every container:
         * mounts and namespaces, the bridge and its rules, device nodes, switching users, and
         * unpacking layers whose files belong to other users. */
        static const char *const critical[] = {
                "CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_MKNOD", "CAP_SETUID", "CAP_SETGID",
                "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SYS_CHROOT", NULL,
        };
        for (size_t i = 0; critical[i]; i++)
                if (strcmp(name, critical[i]) == 0)
                        return true;
        return false;
}

enum doctor_status doctor_free_space_status(uint64_t avail_bytes, uint64_t total_bytes,
                                            uint64_t avail_inodes, uint64_t total_inodes)
{
        if (avail_bytes < DOCTOR_FREE_FAIL_BYTES)
                return DOCTOR_FAIL;
        /* Some file systems (btrfs) report no inode counts at all: nothing to judge. */
        if (total_inodes > 0 && avail_inodes == 0)
                return DOCTOR_FAIL;
        if (avail_bytes < DOCTOR_FREE_WARN_BYTES)
                return DOCTOR_WARN;
        if (total_bytes > 0 && avail_bytes * 100 / total_bytes < DOCTOR_FREE_MIN_PERCENT)
                return DOCTOR_WARN;
        if (total_inodes > 0 && avail_inodes * 100 / total_inodes < DOCTOR_FREE_MIN_PERCENT)
                return DOCTOR_WARN;
        return DOCTOR_PASS;
}

const char *doctor_docker_fix(int code, const char *host, char *out, size_t size)
{
        switch (-code) {
        case EACCES:
        case EPERM:
                snprintf(out, size, "run slipway as root: the Docker socket %s is root's (and root-"
                                    "equivalent; slipway needs root for agents' directories anyway)",
                         host);
                break;
        case EINVAL:
                snprintf(out, size, "give the socket as unix:///PATH (--docker-host, $DOCKER_HOST or "
                                    "docker-host in [host] of slipway.conf)");
                break;
        case ENOTSUP:
                snprintf(out, size, "upgrade dockerd (Debian 12's docker.io 20.10, API 1.41, is "
                                    "enough): apt-get install docker.io");
                break;
        case ETIMEDOUT:
                snprintf(out, size, "dockerd at %s does not answer in time: look at its log "
                                    "(journalctl -u docker) and restart it (systemctl restart docker)",
                         host);
                break;
        default:
                snprintf(out, size, "start dockerd (systemctl enable --now docker; apt-get install "
                                    "docker.io if it is missing), or point slipway at its socket: "
                                    "--docker-host unix:///PATH, $DOCKER_HOST, or docker-host in "
                                    "[host] of slipway.conf (now %s)",
                         host);
                break;
        }
        return out;
}

const char *doctor_jenkins_fix(int code, const char *url, const char *user, const char *secret_file,
                               char *out, size_t size)
{
        switch (-code) {
        case EACCES:
                snprintf(out, size,
                         "Jenkins refused the credentials of \"%s\": create a new API token as that "
                         "user (User menu > Security > API Token > Add new token), write it to %s "
                         "(chmod 600), and check user = in [jenkins]; the user needs Overall/Read "
                         "and Agent/Create, Delete, Configure, Connect, Disconnect",
                         user ? user : "", secret_file ? secret_file : "the token-file");
                break;
        case ENOENT:
                snprintf(out, size,
                         "%s is not Jenkins' root: set url = in [jenkins] to the address its "
                         "dashboard is at, with its path prefix (e.g. http://jenkins:8080/jenkins/)",
                         url ? url : "the url");
                break;
        case EPROTO:
                snprintf(out, size, "what answers at %s is not Jenkins' REST API: check url = in "
                                    "[jenkins] (and any proxy in front of it)",
                         url ? url : "the url");
                break;
        default:
                snprintf(out, size,
                         "make Jenkins reachable from this host at %s: is it running, is the host "
                         "and port in url = of [jenkins] right, does a firewall or proxy block it? "
                         "(try: curl -sI %slogin)",
                         url ? url : "the url", url ? url : "URL/");
                break;
        }
        return out;
}

/* ---- the checks ---- */

struct doctor {
        json_t *results;
        const char *state_dir;
        const char *docker_host;
        const struct config *config; /* NULL without a valid configuration */
        unsigned long state_fs_magic;
        bool state_fs_known;
        char probe_dir[PATH_MAX]; /* the state dir, or its nearest existing ancestor */
};

#define ADD(d, ...)                                                                                \
        do {                                                                                       \
                if (doctor_add((d)->results, __VA_ARGS__) < 0)                                     \
                        return -ENOMEM;                                                            \
        } while (0)

static int read_text(const char *path, char **out)
{
        return fs_read_bounded(path, PROC_READ_MAX, out, NULL);
}

static bool config_uses_strategy(const struct config *config, enum seed_strategy strategy,
                                 const char **template_name)
{
        for (size_t i = 0; config && i < config->template_count; i++)
                if (config->templates[i].seed_strategy == strategy) {
                        *template_name = config->templates[i].name;
                        return true;
                }
        return false;
}

static int check_overlay(struct doctor *d)
{
        _cleanup_free_ char *text = NULL;
        int r = read_text("/proc/filesystems", &text);
        if (r < 0) {
                ADD(d, "overlay", DOCTOR_FAIL, "mount /proc (mount -t proc proc /proc)",
                    "cannot read /proc/filesystems: %s", strerror(-r));
                return 0;
        }
        if (doctor_filesystems_has(text, "overlay")) {
                ADD(d, "overlay", DOCTOR_PASS, NULL, "overlay file system available");
                return 0;
        }
        ADD(d, "overlay", DOCTOR_FAIL,
            "modprobe overlay, and load it at every boot: echo overlay > "
            "/etc/modules-load.d/slipway.conf (if modprobe finds no module, boot a kernel built "
            "with CONFIG_OVERLAY_FS, e.g. Debian's linux-image-amd64)",
            "the kernel has no overlay file system loaded (/proc/filesystems): the overlay2 "
            "driver of dockerd and of every agent's dockerd needs it, and agents cannot load "
            "modules themselves");
        return 0;
}

static int check_cgroups(struct doctor *d)
{
        struct statfs sfs;
        if (statfs(CGROUP_ROOT, &sfs) < 0 ||
            (sfs.f_type != CGROUP2_SUPER_MAGIC && sfs.f_type != TMPFS_MAGIC)) {
                ADD(d, "cgroups", DOCTOR_FAIL,
                    "mount the cgroup file systems at " CGROUP_ROOT " (systemd does at boot; "
                    "by hand: mount -t cgroup2 none " CGROUP_ROOT ")",
                    "no cgroup hierarchy at " CGROUP_ROOT);
                return 0;
        }
        bool v2 = sfs.f_type == CGROUP2_SUPER_MAGIC;
        /* Agents run in a private cgroup namespace (CgroupnsMode private): slipway-init's
         * fresh hierarchies then show the agent's own subtree, not the host's. */
        if (access("/proc/self/ns/cgroup", F_OK) < 0) {
                ADD(d, "cgroups", DOCTOR_FAIL,
                    "boot a kernel with cgroup namespaces (Linux 4.6 or newer, CONFIG_CGROUPS)",
                    "the kernel has no cgroup namespaces (/proc/self/ns/cgroup): agents run in a "
                    "private one");
                return 0;
        }
        _cleanup_free_ char *text = NULL;
        const char *source = v2 ? CGROUP_ROOT "/cgroup.controllers" : "/proc/self/mountinfo";
        int r = read_text(source, &text);
        if (r < 0) {
                ADD(d, "cgroups", DOCTOR_FAIL, "run slipway doctor on the host itself, as root",
                    "cannot read %s: %s", source, strerror(-r));
                return 0;
        }
        char missing[256];
        doctor_cgroup_missing(v2, text, missing, sizeof(missing));
        char kind[96];
        struct statfs unified;
        if (v2)
                snprintf(kind, sizeof(kind), "cgroup v2");
        else if (statfs(CGROUP_ROOT "/unified", &unified) == 0 && unified.f_type == CGROUP2_SUPER_MAGIC)
                snprintf(kind, sizeof(kind), "cgroup v1 (hybrid: v2 at " CGROUP_ROOT "/unified)");
        else
                snprintf(kind, sizeof(kind), "cgroup v1");
        if (!missing[0]) {
                ADD(d, "cgroups", DOCTOR_PASS, NULL,
                    v2 ? "%s: controllers cpu, memory, pids available; slipway-init delegates them "
                         "to the agent's dockerd"
                       : "%s: every controller mounted; slipway-init remounts them writable in "
                         "each agent",
                    kind);
                return 0;
        }
        char fix[FIX_MAX];
        if (v2)
                snprintf(fix, sizeof(fix),
                         "the kernel does not offer them: boot with the controllers enabled (remove "
                         "cgroup_disable=... from the kernel command line, add cgroup_enable=memory "
                         "for memory: GRUB_CMDLINE_LINUX in /etc/default/grub, update-grub, reboot)");
        else
                snprintf(fix, sizeof(fix),
                         "mount each as its own hierarchy: mkdir -p " CGROUP_ROOT "/NAME && mount -t "
                         "cgroup -o NAME cgroup " CGROUP_ROOT "/NAME (systemd does at boot); a "
                         "controller the kernel disabled (enabled 0 in /proc/cgroups) needs "
                         "cgroup_enable=NAME on the kernel command line");
        /* Without the devices controller on v1, runc refuses every container. */
        bool fatal = !v2 && token_in(missing, strlen(missing), " ", "devices");
        ADD(d, "cgroups", fatal ? DOCTOR_FAIL : DOCTOR_WARN, fix,
            fatal ? "%s: controllers missing: %s; runc in agents refuses to start containers"
                  : "%s: controllers missing: %s; resource limits of containers in agents fail",
            kind, missing);
        return 0;
}

static int check_capabilities(struct doctor *d)
{
        struct sw_error err = { 0 };
        _cleanup_strv_ char **missing = NULL;
        if (caps_host_missing(63, &missing, &err) < 0) {
                ADD(d, "capabilities", DOCTOR_FAIL, "run slipway doctor on the host itself",
                    "%s", err.message);
                return 0;
        }
        if (!missing[0]) {
                ADD(d, "capabilities", DOCTOR_PASS, NULL,
                    "the capability bounding set is full: agents get every capability");
                return 0;
        }
        char all[768] = "", critical[512] = "";
        for (size_t i = 0; missing[i]; i++) {
                size_t len = strlen(all);
                snprintf(all + len, sizeof(all) - len, "%s%s", len ? " " : "", missing[i]);
                if (doctor_capability_critical(missing[i])) {
                        len = strlen(critical);
                        snprintf(critical + len, sizeof(critical) - len, "%s%s", len ? " " : "",
                                 missing[i]);
                }
        }
        const char *fix = "run slipway and dockerd with the full capability bounding set: "
                          "remove CapabilityBoundingSet= (and options that shrink it: "
                          "ProtectKernelModules=, ProtectKernelLogs=, ProtectClock=, "
                          "PrivateDevices=) from their systemd units, or run them outside the "
                          "container or sandbox that drops them (grep CapBnd /proc/self/status)";
        if (critical[0])
                ADD(d, "capabilities", DOCTOR_FAIL, fix,
                    "the capability bounding set lacks %s, so agents will too: their dockerd "
                    "and runc need %s for every container",
                    all, critical);
        else
                ADD(d, "capabilities", DOCTOR_WARN, fix,
                    "agents will lack %s: the capability bounding set does not hold them, so "
                    "slipway drops them from agents (CapDrop); nested docker works, but no "
                    "container a build starts in an agent can have them",
                    all);
        return 0;
}

static int check_ssh_keygen(struct doctor *d)
{
        const char *path = getenv("PATH");
        if (!path || !*path)
                path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        char *save = NULL;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char candidate[PATH_MAX];
                snprintf(candidate, sizeof(candidate), "%s/ssh-keygen", dir);
                if (access(candidate, X_OK) == 0) {
                        ADD(d, "ssh-keygen", DOCTOR_PASS, NULL, "%s", candidate);
                        return 0;
                }
        }
        ADD(d, "ssh-keygen", DOCTOR_FAIL, "apt-get install openssh-client",
            "ssh-keygen is not in PATH: every agent's SSH host and client keys are made with it");
        return 0;
}

/* The state dir, or the nearest ancestor that exists (the state dir is created on first use). */
static int find_probe_dir(struct doctor *d, bool *exists)
{
        snprintf(d->probe_dir, sizeof(d->probe_dir), "%s", d->state_dir);
        *exists = true;
        for (;;) {
                struct stat st;
                if (stat(d->probe_dir, &st) == 0)
                        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
                if (errno != ENOENT)
                        return -errno;
                *exists = false;
                char *slash = strrchr(d->probe_dir, '/');
                if (!slash)
                        return -ENOENT;
                if (slash == d->probe_dir)
                        slash[1] = '\0';
                else
                        *slash = '\0';
        }
}

static int check_state_dir(struct doctor *d)
{
        bool exists;
        int r = find_probe_dir(d, &exists);
        struct statfs sfs;
        if (r == 0 && statfs(d->probe_dir, &sfs) < 0)
                r = -errno;
        if (r < 0) {
                char fix[FIX_MAX];
                snprintf(fix, sizeof(fix), "make %s a directory root can write (or choose another "
                                           "with --state-dir / state-dir in [host])",
                         d->state_dir);
                ADD(d, "state-dir", DOCTOR_FAIL, fix, "%s: %s", d->probe_dir, strerror(-r));
                return 0;
        }
        d->state_fs_magic = (unsigned long) sfs.f_type;
        d->state_fs_known = true;
        const char *name = doctor_fs_type_name(d->state_fs_magic);
        char where[PATH_MAX + 64];
        if (exists)
                snprintf(where, sizeof(where), "%s", d->state_dir);
        else
                snprintf(where, sizeof(where), "%s (not created yet; checked at %s)", d->state_dir,
                         d->probe_dir);
        char type[64];
        snprintf(type, sizeof(type), "%s", name ? name : "");
        if (!name)
                snprintf(type, sizeof(type), "file system type 0x%lx", d->state_fs_magic);

        bool overlay = false;
        if (fs_is_overlay(d->probe_dir, &overlay) == 0 && overlay) {
                char fix[FIX_MAX];
                snprintf(fix, sizeof(fix),
                         "put the state dir on a host file system (ext4, xfs or btrfs): state-dir = "
                         "DIR in [host] of slipway.conf, or --state-dir DIR; in a container, "
                         "bind-mount a host directory or a volume at %s",
                         d->state_dir);
                ADD(d, "state-dir", DOCTOR_FAIL, fix,
                    "%s is on overlayfs: the agents' overlay2 driver refuses an upper directory "
                    "on overlayfs", where);
                return 0;
        }
        const char *why = NULL;
        enum doctor_status status = doctor_state_fs_status(d->state_fs_magic, &why);
        if (status == DOCTOR_PASS) {
                if (exists && access(d->state_dir, W_OK) < 0) {
                        char fix[FIX_MAX];
                        snprintf(fix, sizeof(fix), "run slipway as root (it owns %s)", d->state_dir);
                        ADD(d, "state-dir", DOCTOR_FAIL, fix, "%s on %s: not writable: %s", where,
                            type, strerror(errno));
                        return 0;
                }
                ADD(d, "state-dir", DOCTOR_PASS, NULL, "%s on %s", where, type);
                return 0;
        }
        char fix[FIX_MAX];
        snprintf(fix, sizeof(fix),
                 "put the state dir on ext4, xfs or btrfs: state-dir = DIR in [host] of "
                 "slipway.conf, or --state-dir DIR (now %s)",
                 d->state_dir);
        ADD(d, "state-dir", status, fix, "%s is on %s: %s", where, type, why);
        return 0;
}

static int check_free_space(struct doctor *d)
{
        if (!d->state_fs_known)
                return 0;
        struct statvfs vfs;
        if (statvfs(d->probe_dir, &vfs) < 0) {
                ADD(d, "free-space", DOCTOR_WARN, "run slipway doctor as root",
                    "cannot stat %s: %s", d->probe_dir, strerror(errno));
                return 0;
        }
        uint64_t avail = (uint64_t) vfs.f_bavail * vfs.f_frsize;
        uint64_t total = (uint64_t) vfs.f_blocks * vfs.f_frsize;
        enum doctor_status status = doctor_free_space_status(avail, total, vfs.f_favail, vfs.f_files);
        char inodes[64] = "";
        if (vfs.f_files > 0)
                snprintf(inodes, sizeof(inodes), ", %llu%% of inodes free",
                         (unsigned long long) (vfs.f_favail * 100 / vfs.f_files));
        char fix[FIX_MAX];
        snprintf(fix, sizeof(fix),
                 "free space on %s (slipway cache gc removes unused generations; slipway ps shows "
                 "orphaned agents for slipway rm), or move the state dir to a larger file system; "
                 "at least %llu GiB, better %llu GiB",
                 d->probe_dir, (unsigned long long) (DOCTOR_FREE_FAIL_BYTES >> 30),
                 (unsigned long long) (DOCTOR_FREE_WARN_BYTES >> 30));
        ADD(d, "free-space", status, fix, "%.1f GiB free of %.1f GiB on %s%s",
            (double) avail / (1 << 30), (double) total / (1 << 30), d->probe_dir, inodes);
        return 0;
}

static int check_btrfs(struct doctor *d)
{
        if (!d->state_fs_known)
                return 0;
        if (d->state_fs_magic == BTRFS_SUPER_MAGIC) {
                ADD(d, "btrfs", DOCTOR_PASS, NULL,
                    "%s is on btrfs: generations are frozen subvolumes, --seed-strategy "
                    "btrfs-snapshot available",
                    d->probe_dir);
                return 0;
        }
        const char *name = doctor_fs_type_name(d->state_fs_magic);
        const char *template_name = NULL;
        char fix[FIX_MAX];
        if (config_uses_strategy(d->config, SEED_BTRFS_SNAPSHOT, &template_name)) {
                snprintf(fix, sizeof(fix),
                         "put the state dir on btrfs, or set seed-strategy = layer-link in "
                         "[template %s]",
                         template_name);
                ADD(d, "btrfs", DOCTOR_FAIL, fix,
                    "[template %s] uses seed-strategy btrfs-snapshot, but %s is on %s, not btrfs",
                    template_name, d->probe_dir, name ? name : "another file system");
                return 0;
        }
        snprintf(fix, sizeof(fix),
                 "only for btrfs snapshots: put the state dir on btrfs (mkfs.btrfs DEVICE && mount "
                 "DEVICE %s)",
                 d->state_dir);
        ADD(d, "btrfs", DOCTOR_WARN, fix,
            "%s is on %s, not btrfs: --seed-strategy btrfs-snapshot unavailable (the default, "
            "layer-link, does not need it)",
            d->probe_dir, name ? name : "another file system");
        return 0;
}

/* disk-limit (agent_disk.h) needs loop devices, mkfs.ext4, ext4, and a supervisor in the
 * host's mount namespace (where dockerd sees its mounts); the images are sparse, so the state
 * dir should have room for every agent filling its disk. Only when a template sets it. */
static bool tool_found(const char *name)
{
        static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin" };
        for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
                char path[PATH_MAX];
                snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
                if (access(path, X_OK) == 0)
                        return true;
        }
        return false;
}

static int check_disk_limit(struct doctor *d)
{
        long long largest = 0;
        const char *template_name = NULL;
        for (size_t i = 0; d->config && i < d->config->template_count; i++) {
                if (d->config->templates[i].disk_limit_bytes > largest) {
                        largest = d->config->templates[i].disk_limit_bytes;
                        template_name = d->config->templates[i].name;
                }
        }
        if (!template_name)
                return 0;
        int fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                ADD(d, "disk-limit", DOCTOR_FAIL, "load the loop module (modprobe loop) and run slipway as root",
                    "[template %s] disk-limit: cannot open /dev/loop-control: %s", template_name,
                    strerror(errno));
                return 0;
        }
        close(fd);
        if (!tool_found("mkfs.ext4")) {
                ADD(d, "disk-limit", DOCTOR_FAIL, "install e2fsprogs",
                    "[template %s] disk-limit: mkfs.ext4 not found", template_name);
                return 0;
        }
        _cleanup_free_ char *filesystems = NULL;
        if (read_text("/proc/filesystems", &filesystems) == 0 &&
            !doctor_filesystems_has(filesystems, "ext4")) {
                ADD(d, "disk-limit", DOCTOR_FAIL, "load the ext4 module (modprobe ext4)",
                    "[template %s] disk-limit: the kernel has no ext4", template_name);
                return 0;
        }
        char self_ns[64] = "", host_ns[64] = "";
        ssize_t n1 = readlink("/proc/self/ns/mnt", self_ns, sizeof(self_ns) - 1);
        ssize_t n2 = readlink("/proc/1/ns/mnt", host_ns, sizeof(host_ns) - 1);
        if (n1 > 0 && n2 > 0 && (n1 != n2 || memcmp(self_ns, host_ns, (size_t) n1) != 0)) {
                ADD(d, "disk-limit", DOCTOR_FAIL,
                    "run slipway in the host's mount namespace (see scripts/systemd/slipway.service "
                    "for the drop-in disk-limit needs)",
                    "[template %s] disk-limit: slipway runs in a private mount namespace; dockerd "
                    "would not see the agents' disks", template_name);
                return 0;
        }
        struct statvfs vfs;
        int capacity = d->config->host.capacity;
        if (d->state_fs_known && statvfs(d->probe_dir, &vfs) == 0 &&
            (unsigned long long) vfs.f_bavail * vfs.f_frsize < (unsigned long long) largest * (unsigned long long) capacity) {
                ADD(d, "disk-limit", DOCTOR_WARN,
                    "lower disk-limit or capacity, or give the state dir more room",
                    "%d agents of [template %s] could write %.1f GiB, more than the %.1f GiB free on "
                    "%s (agent disks are sparse: the host runs out before they do)",
                    capacity, template_name, (double) largest * capacity / (1 << 30),
                    (double) vfs.f_bavail * vfs.f_frsize / (1 << 30), d->probe_dir);
                return 0;
        }
        ADD(d, "disk-limit", DOCTOR_PASS, NULL,
            "loop devices, mkfs.ext4 and ext4 available, host mount namespace; room for %d agents "
            "of %.1f GiB ([template %s])",
            capacity, (double) largest / (1 << 30), template_name);
        return 0;
}

/* Clone one block between two fresh files in dir. Both are unlinked at once: a crash leaves
 * nothing behind. 0 when FICLONE works, else -errno. */
static int probe_reflink(const char *dir)
{
        char src_path[PATH_MAX], dst_path[PATH_MAX];
        snprintf(src_path, sizeof(src_path), "%s/.slipway-doctor-XXXXXX", dir);
        snprintf(dst_path, sizeof(dst_path), "%s/.slipway-doctor-XXXXXX", dir);
        _cleanup_close_ int src = mkostemp(src_path, O_CLOEXEC);
        if (src < 0)
                return -errno;
        unlink(src_path);
        _cleanup_close_ int dst = mkostemp(dst_path, O_CLOEXEC);
        if (dst < 0)
                return -errno;
        unlink(dst_path);
        char block[4096];
        memset(block, 's', sizeof(block));
        int r = fs_write_all(src, block, sizeof(block));
        if (r < 0)
                return r;
        return ioctl(dst, FICLONE, src) < 0 ? -errno : 0;
}

static int check_reflink(struct doctor *d)
{
        if (!d->state_fs_known)
                return 0;
        const char *name = doctor_fs_type_name(d->state_fs_magic);
        int r = probe_reflink(d->probe_dir);
        if (r == 0) {
                ADD(d, "reflink", DOCTOR_PASS, NULL,
                    "FICLONE works on %s (%s): --seed-strategy reflink available", d->probe_dir,
                    name ? name : "?");
                return 0;
        }
        if (r == -EACCES || r == -EPERM || r == -EROFS) {
                ADD(d, "reflink", DOCTOR_WARN, "run slipway doctor as root",
                    "cannot probe FICLONE in %s: %s", d->probe_dir, strerror(-r));
                return 0;
        }
        const char *template_name = NULL;
        char fix[FIX_MAX];
        if (config_uses_strategy(d->config, SEED_REFLINK, &template_name)) {
                snprintf(fix, sizeof(fix),
                         "put the state dir on btrfs or on xfs with reflink=1, or set "
                         "seed-strategy = layer-link in [template %s]",
                         template_name);
                ADD(d, "reflink", DOCTOR_FAIL, fix,
                    "[template %s] uses seed-strategy reflink, but FICLONE fails on %s (%s): %s",
                    template_name, d->probe_dir, name ? name : "?", strerror(-r));
                return 0;
        }
        ADD(d, "reflink", DOCTOR_WARN,
            "only for reflink seeding: put the state dir on btrfs, or on xfs made with reflink=1 "
            "(mkfs.xfs's default since xfsprogs 5.1)",
            "FICLONE fails on %s (%s): %s; --seed-strategy reflink unavailable (the default, "
            "layer-link, does not need it)",
            d->probe_dir, name ? name : "?", strerror(-r));
        return 0;
}

/* An idmapped clone of dir onto a user namespace mapping 0 to base: what slipway-init does
 * with the cache generation. The clone is never attached anywhere; closing it drops it. */
static int probe_idmapped_mount(const char *dir, uint32_t base)
{
        int ready[2];
        if (pipe2(ready, O_CLOEXEC) < 0)
                return -errno;
        pid_t child = fork();
        if (child < 0) {
                int saved = -errno;
                close(ready[0]);
                close(ready[1]);
                return saved;
        }
        if (child == 0) {
                close(ready[0]);
                if (unshare(CLONE_NEWUSER) < 0)
                        _exit(1);
                (void) !write(ready[1], "u", 1);
                pause();
                _exit(0);
        }
        close(ready[1]);
        char c;
        int r = read(ready[0], &c, 1) == 1 ? 0 : -EPERM;
        close(ready[0]);
        char path[64], map[64];
        snprintf(map, sizeof(map), "0 %u 65536\n", base);
        for (int i = 0; r == 0 && i < 2; i++) {
                snprintf(path, sizeof(path), "/proc/%d/%s", (int) child, i ? "gid_map" : "uid_map");
                r = fs_write_text(path, map);
        }
        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) child);
        _cleanup_close_ int userns = r == 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (r == 0 && userns < 0)
                r = -errno;
        _cleanup_close_ int tree = r == 0 ? open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC) : -1;
        if (r == 0 && tree < 0)
                r = -errno;
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY, .userns_fd = (uint64_t) userns };
        if (r == 0 && mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                r = -errno;
        kill(child, SIGKILL);
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
                ;
        return r;
}

/* Agents' user namespaces: ranges free of host ids, and idmapped mounts where the cache
 * generations live (layer-link agents see them through one). */
static int check_userns(struct doctor *d)
{
        struct userns_layout layout = d->config ? d->config->host.userns_layout : userns_layout_default();
        char why[256];
        if (userns_layout_conflict(&layout, why, sizeof(why)))
                ADD(d, "user namespaces", DOCTOR_FAIL, "move the ranges: userns-base in [host] of slipway.conf",
                    "agents' id ranges %u + %u x %u overlap host ids: %s", layout.base, layout.count,
                    layout.size, why);
        else
                ADD(d, "user namespaces", DOCTOR_PASS, NULL,
                    "agents' id ranges %u + %u x %u hold no host user, group or subordinate id",
                    layout.base, layout.count, layout.size);
        int r = probe_idmapped_mount(d->probe_dir, layout.base);
        if (r == 0)
                ADD(d, "idmapped mounts", DOCTOR_PASS, NULL,
                    "%s supports idmapped mounts: layer-link agents see generations with their owners",
                    d->probe_dir);
        else if (r == -EPERM || r == -EACCES)
                ADD(d, "idmapped mounts", DOCTOR_WARN, "run slipway doctor as root",
                    "cannot probe idmapped mounts in %s: %s", d->probe_dir, strerror(-r));
        else
                ADD(d, "idmapped mounts", DOCTOR_FAIL,
                    "put the state dir on a file system with idmapped mounts (ext4, xfs, btrfs; Linux 5.12+), "
                    "or seed with copy or btrfs-snapshot",
                    "idmapped mount of %s: %s: layer-link agents cannot start", d->probe_dir, strerror(-r));
        return 0;
}

static int check_docker(struct doctor *d, struct docker_client **docker)
{
        struct sw_error err = { 0 };
        int r = docker_open(docker, d->docker_host, &err);
        if (r < 0) {
                const char *host = d->docker_host;
                if (!host || !*host)
                        host = getenv("DOCKER_HOST");
                if (!host || !*host)
                        host = DOCKER_DEFAULT_HOST;
                char fix[FIX_MAX];
                ADD(d, "docker", DOCTOR_FAIL, doctor_docker_fix(r, host, fix, sizeof(fix)), "%s",
                    err.message);
                *docker = NULL;
                return 0;
        }
        json_t *info = docker_version_info(*docker);
        const char *version = json_string_value(json_object_get(info, "Version"));
        const char *api = json_string_value(json_object_get(info, "ApiVersion"));
        ADD(d, "docker", DOCTOR_PASS, NULL, "dockerd %s at %s (API %s; slipway uses %s)",
            version ? version : "?", docker_host(*docker), api ? api : "?",
            docker_api_version(*docker));
        return 0;
}

static bool entrypoint_runs_init(json_t *image)
{
        json_t *entrypoint = json_object_get(json_object_get(image, "Config"), "Entrypoint");
        size_t i;
        json_t *word;
        json_array_foreach(entrypoint, i, word) {
                const char *text = json_string_value(word);
                if (text && strstr(text, "slipway-init"))
                        return true;
        }
        return false;
}

static int check_image(struct doctor *d, struct docker_client *docker, const char *image)
{
        if (!docker) {
                ADD(d, "image", DOCTOR_WARN, "fix the docker check first",
                    "%s: not checked, Docker is not reachable", image);
                return 0;
        }
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *inspect = NULL;
        int r = docker_image_inspect(docker, image, &inspect, &err);
        char fix[FIX_MAX];
        if (r == -ENOENT) {
                if (strcmp(image, AGENT_DEFAULT_IMAGE) == 0)
                        snprintf(fix, sizeof(fix),
                                 "build it offline from slipway's source tree: make image (or "
                                 "scripts/build-agent-image --init PATH/TO/slipway-init), with "
                                 "DOCKER_HOST=%s",
                                 docker_host(docker));
                else
                        snprintf(fix, sizeof(fix),
                                 "put it on the daemon at %s: docker load -i FILE, docker pull %s, "
                                 "or docker build -t %s (FROM " AGENT_DEFAULT_IMAGE "); slipway "
                                 "never pulls by itself",
                                 docker_host(docker), image, image);
                ADD(d, "image", DOCTOR_FAIL, fix, "%s is not on the daemon at %s", image,
                    docker_host(docker));
                return 0;
        }
        if (r < 0) {
                ADD(d, "image", DOCTOR_FAIL, "fix the docker check first, then retry", "%s: %s",
                    image, err.message);
                return 0;
        }
        const char *id = json_string_value(json_object_get(inspect, "Id"));
        if (!entrypoint_runs_init(inspect)) {
                snprintf(fix, sizeof(fix),
                         "build agent images FROM " AGENT_DEFAULT_IMAGE " (whose entrypoint is "
                         "/usr/sbin/slipway-init) and keep its ENTRYPOINT");
                ADD(d, "image", DOCTOR_FAIL, fix,
                    "%s is present but its entrypoint is not slipway-init: its agents never "
                    "become ready", image);
                return 0;
        }
        ADD(d, "image", DOCTOR_PASS, NULL, "%s present (%.19s)", image, id ? id : "?");
        return 0;
}

/* Does a port Docker publishes on the bind address answer where Jenkins connects? Another
 * dockerd in the host's network namespace can rewrite the nat rules Docker's published ports
 * rely on, and a firewall can drop them: agents would then start, be ready and never be
 * reached. A throwaway sshd from the agent image, on the agents' own network, tells. */
#define PUBLISHED_PORT_PROBE_MS 8000
static int check_published_port(struct doctor *d, struct docker_client *docker)
{
        if (!docker)
                return 0; /* the docker check says why */
        const struct config *config = d->config;
        const char *image = config && config->template_count ? config->templates[0].image : AGENT_DEFAULT_IMAGE;
        const char *bind = config && config->host.bind_address ? config->host.bind_address
                                                                : AGENT_DEFAULT_BIND_ADDRESS;
        const char *host = config && config->jenkins.agent_host ? config->jenkins.agent_host : bind;
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *inspect = NULL;
        if (docker_image_inspect(docker, image, &inspect, &err) < 0)
                return 0; /* the image check says why */
        char name[64];
        snprintf(name, sizeof(name), "slipway-doctor-%d", (int) getpid());
        _cleanup_json_ json_t *body = json_pack(
                "{s:s, s:[s, s, s], s:{s:s}, s:{s:{}},"
                " s:{s:{s:[{s:s, s:s}]}, s:s, s:{s:s}}}",
                "Image", image,
                "Entrypoint", "/bin/sh", "-c",
                "mkdir -p /run/sshd && ssh-keygen -q -t ed25519 -N '' -f /tmp/doctor-key && "
                "exec /usr/sbin/sshd -D -e -p 22 -h /tmp/doctor-key -o PidFile=none",
                "Labels", "io.slipway.doctor", "published-port",
                "ExposedPorts", "22/tcp",
                "HostConfig", "PortBindings", "22/tcp", "HostIp", bind, "HostPort", "",
                "NetworkMode", AGENT_NETWORK, "RestartPolicy", "Name", "no");
        if (!body)
                return -ENOMEM;
        _cleanup_free_ char *id = NULL;
        _cleanup_json_ json_t *info = NULL;
        int r = docker_network_ensure_isolated(docker, AGENT_NETWORK, &err);
        if (r >= 0)
                r = docker_container_create(docker, name, body, &id, &err);
        if (r >= 0)
                r = docker_container_start(docker, id, &err);
        if (r >= 0)
                r = docker_container_inspect(docker, id, &info, &err);
        const char *port = NULL;
        if (r >= 0) {
                json_t *bindings = json_object_get(json_object_get(json_object_get(info, "NetworkSettings"),
                                                                   "Ports"), "22/tcp");
                port = json_string_value(json_object_get(json_array_get(bindings, 0), "HostPort"));
                if (!port)
                        r = sw_error_set(&err, EPROTO, "container %s: no published port", name);
        }
        enum doctor_status status = DOCTOR_FAIL;
        char detail[SW_ERROR_MAX + 64];
        if (r >= 0 && (r = ssh_banner_probe(host, atoi(port), PUBLISHED_PORT_PROBE_MS, &err)) >= 0) {
                status = DOCTOR_PASS;
                snprintf(detail, sizeof(detail), "a port published on %s answers at %s:%s", bind, host, port);
        } else {
                snprintf(detail, sizeof(detail), "a throwaway container's published port: %s", err.message);
        }
        if (id) {
                struct sw_error ignored;
                (void) docker_container_remove(docker, id, true, true, &ignored);
        }
        ADD(d, "published-port", status,
            status == DOCTOR_PASS ? NULL
                                  : "agents would start and never be reached: check the host's "
                                    "iptables nat table (DOCKER chain, OUTPUT and PREROUTING rules "
                                    "of another dockerd), firewalls, and [host] bind-address / "
                                    "[jenkins] agent-host",
            "%s", detail);
        return 0;
}

static int check_images(struct doctor *d, struct docker_client *docker)
{
        if (!d->config || d->config->template_count == 0)
                return check_image(d, docker, AGENT_DEFAULT_IMAGE);
        for (size_t i = 0; i < d->config->template_count; i++) {
                const char *image = d->config->templates[i].image;
                bool seen = false;
                for (size_t j = 0; j < i && !seen; j++)
                        seen = strcmp(d->config->templates[j].image, image) == 0;
                if (!seen) {
                        int r = check_image(d, docker, image);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int check_cache(struct doctor *d)
{
        /* Templates that name a generation of their own need exactly that one. */
        bool wants_current = !d->config || d->config->template_count == 0;
        for (size_t i = 0; d->config && i < d->config->template_count; i++) {
                const struct config_template *t = &d->config->templates[i];
                if (strcmp(t->cache, "current") == 0) {
                        wants_current = true;
                        continue;
                }
                if (strcmp(t->cache, "none") == 0)
                        continue;
                struct sw_error err = { 0 };
                _cleanup_free_ char *root = NULL;
                int r = cache_generation_root(d->state_dir, t->cache, &root, &err);
                if (r < 0) {
                        char fix[FIX_MAX];
                        snprintf(fix, sizeof(fix),
                                 "set cache = current (or an id slipway cache ls lists) in "
                                 "[template %s], or build one: slipway cache build --image IMAGE...",
                                 t->name);
                        ADD(d, "cache", DOCTOR_FAIL, fix, "[template %s] cache = %s: %s", t->name,
                            t->cache, err.message);
                } else {
                        ADD(d, "cache", DOCTOR_PASS, NULL, "[template %s] generation %s present",
                            t->name, t->cache);
                }
        }
        if (!wants_current)
                return 0;
        struct sw_error err = { 0 };
        _cleanup_free_ char *generation = NULL, *root = NULL;
        int r = cache_current(d->state_dir, &generation, &root, &err);
        if (r == 0) {
                ADD(d, "cache", DOCTOR_PASS, NULL, "current generation %s", generation);
        } else if (r == -ENOENT) {
                char fix[FIX_MAX];
                snprintf(fix, sizeof(fix),
                         "build one from the images your builds use: slipway --state-dir %s cache "
                         "build --image IMAGE... (or --tar FILE from docker save)",
                         d->state_dir);
                ADD(d, "cache", DOCTOR_WARN, fix,
                    "no cache generation in %s: agents start with an empty image cache",
                    d->state_dir);
        } else {
                char fix[FIX_MAX];
                snprintf(fix, sizeof(fix),
                         "look at %s/cache (slipway cache ls, slipway cache verify), or build a new "
                         "generation: slipway cache build --image IMAGE...",
                         d->state_dir);
                ADD(d, "cache", DOCTOR_FAIL, fix, "%s", err.message);
        }
        return 0;
}

int doctor_plugin_version_compare(const char *a, const char *b)
{
        /* A missing or non-numeric part counts as 0: 1.29 is 1.29.0. */
        for (;;) {
                bool a_num = *a >= '0' && *a <= '9', b_num = *b >= '0' && *b <= '9';
                if (!a_num && !b_num)
                        return 0;
                unsigned long long x = a_num ? strtoull(a, (char **) &a, 10) : 0;
                unsigned long long y = b_num ? strtoull(b, (char **) &b, 10) : 0;
                if (x != y)
                        return x < y ? -1 : 1;
                a = a_num && *a == '.' ? a + 1 : "";
                b = b_num && *b == '.' ? b + 1 : "";
        }
}

enum doctor_status doctor_ssh_plugins_status(const json_t *plugins, char *out, size_t size)
{
        static const char *const names[] = { "ssh-slaves", "trilead-api" };
        static const char *const minimums[] = { DOCTOR_SSH_SLAVES_MIN, DOCTOR_TRILEAD_API_MIN };
        enum doctor_status status = DOCTOR_PASS;
        size_t used = 0;
        out[0] = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                const char *version = NULL;
                size_t index;
                json_t *plugin;
                json_array_foreach(plugins, index, plugin) {
                        const char *name = json_string_value(json_object_get(plugin, "shortName"));
                        if (name && strcmp(name, names[i]) == 0)
                                version = json_string_value(json_object_get(plugin, "version"));
                }
                int n;
                if (!version) {
                        status = DOCTOR_WARN;
                        n = snprintf(out + used, size - used, "%s%s is not installed", used ? "; " : "", names[i]);
                } else if (doctor_plugin_version_compare(version, minimums[i]) < 0) {
                        status = DOCTOR_WARN;
                        n = snprintf(out + used, size - used, "%s%s %.40s is older than %s", used ? "; " : "",
                                     names[i], version, minimums[i]);
                } else {
                        n = snprintf(out + used, size - used, "%s%s %.40s", used ? ", " : "", names[i], version);
                }
                if (n > 0)
                        used = (size_t) n >= size - used ? size - 1 : used + (size_t) n;
        }
        return status;
}

/* The SSH Build Agents plugin: reading the versions needs Overall/SystemRead, which the user
 * slipway runs as may well not have (that is only a note). */
static int check_jenkins_plugins(struct doctor *d, struct jenkins_client *client)
{
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *plugins = NULL;
        int r = jenkins_plugins_get(client, &plugins, &err);
        if (r == -EACCES) {
                ADD(d, "jenkins-plugins", DOCTOR_PASS, NULL,
                    "plugin versions not readable by this user (needs Overall/SystemRead); agents "
                    "need ssh-slaves >= %s with trilead-api >= %s", DOCTOR_SSH_SLAVES_MIN,
                    DOCTOR_TRILEAD_API_MIN);
                return 0;
        }
        if (r < 0) {
                ADD(d, "jenkins-plugins", DOCTOR_WARN, NULL, "cannot read the plugin versions: %s", err.message);
                return 0;
        }
        char found[512];
        enum doctor_status status = doctor_ssh_plugins_status(plugins, found, sizeof(found));
        char fix[FIX_MAX];
        snprintf(fix, sizeof(fix),
                 "update the SSH Build Agents plugin (ssh-slaves >= %s, trilead-api >= %s; Jenkins "
                 ">= 2.204): older ones cannot use the agents' ed25519 keys",
                 DOCTOR_SSH_SLAVES_MIN, DOCTOR_TRILEAD_API_MIN);
        ADD(d, "jenkins-plugins", status, status == DOCTOR_PASS ? NULL : fix, "%s", found);
        return 0;
}

static int check_jenkins(struct doctor *d)
{
        const struct config_jenkins *j = &d->config->jenkins;
        if (config_standalone(d->config)) {
                ADD(d, "jenkins", DOCTOR_PASS, NULL, "%s",
                    "none configured: standalone (agents through the control socket only)");
                return 0;
        }
        struct jenkins_options options = {
                .url = j->url,
                .user = j->user,
                .token = j->token,
                .password = j->token ? NULL : j->password,
                .timeout_s = j->timeout_s,
        };
        const char *secret_file = j->token_file ? j->token_file : j->password_file;
        struct sw_error err = { 0 };
        struct jenkins_client *client = NULL;
        int r = jenkins_open(&client, &options, &err);
        if (r == 0)
                r = jenkins_ping(client, &err);
        if (r < 0) {
                jenkins_close(client);
                char fix[FIX_MAX];
                ADD(d, "jenkins", DOCTOR_FAIL,
                    doctor_jenkins_fix(r, j->url, j->user, secret_file, fix, sizeof(fix)), "%s",
                    err.message);
                return 0;
        }
        if (doctor_add(d->results, "jenkins", DOCTOR_PASS, NULL,
                       "%s answers; the credentials of \"%s\" are accepted", j->url, j->user) < 0 ||
            check_jenkins_plugins(d, client) < 0) {
                jenkins_close(client);
                return -ENOMEM;
        }
        jenkins_close(client);
        return 0;
}

static int check_config(struct doctor *d, const char *path, struct config **config)
{
        struct sw_error err = { 0 };
        if (config_load(path, config, &err) < 0) {
                char fix[FIX_MAX];
                if (err.code == ENOENT)
                        snprintf(fix, sizeof(fix),
                                 "write %s (README.md, \"slipway.conf\", shows every key), or "
                                 "name another with --config",
                                 path);
                else
                        snprintf(fix, sizeof(fix),
                                 "correct what the message names (file, line, key), then check "
                                 "again: slipway serve --config %s --check",
                                 path);
                ADD(d, "config", DOCTOR_FAIL, fix, "%s", err.message);
                *config = NULL;
                return 0;
        }
        ADD(d, "config", DOCTOR_PASS, NULL, "%s: valid; %zu template(s), capacity %d", path,
            (*config)->template_count, (*config)->host.capacity);
        return 0;
}

static int doctor_checks(struct doctor *d, const struct doctor_options *options)
{
        struct config *config = NULL;
        int r = 0;
        if (options->config_path) {
                r = check_config(d, options->config_path, &config);
                if (r < 0)
                        return r;
                if (config) {
                        /* What `slipway serve` will use. */
                        d->config = config;
                        d->state_dir = config->host.state_dir;
                        if (config->host.docker_host)
                                d->docker_host = config->host.docker_host;
                }
        }
        /* Each returns -ENOMEM or 0, whatever it found: a failed check is a result. */
        struct docker_client *docker = NULL;
        r = check_overlay(d);
        if (r == 0)
                r = check_cgroups(d);
        if (r == 0)
                r = check_capabilities(d);
        if (r == 0)
                r = check_ssh_keygen(d);
        if (r == 0)
                r = check_state_dir(d);
        if (r == 0)
                r = check_free_space(d);
        if (r == 0)
                r = check_btrfs(d);
        if (r == 0)
                r = check_reflink(d);
        if (r == 0)
                r = check_disk_limit(d);
        if (r >= 0)
                r = check_userns(d);
        if (r == 0)
                r = check_docker(d, &docker);
        if (r == 0)
                r = check_images(d, docker);
        if (r == 0)
                r = check_published_port(d, docker);
        if (r == 0)
                r = check_cache(d);
        if (r == 0 && config)
                r = check_jenkins(d);
        docker_close(docker);
        d->config = NULL;
        config_free(config);
        return r;
}

int doctor_run(const struct doctor_options *options, json_t **results, struct sw_error *err)
{
        struct doctor d = {
                .results = json_array(),
                .state_dir = options->state_dir ? options->state_dir : AGENT_DEFAULT_STATE_DIR,
                .docker_host = options->docker_host,
        };
        if (!d.results)
                return sw_error_set(err, ENOMEM, "doctor");
        int r = doctor_checks(&d, options);
        if (r < 0) {
                json_decref(d.results);
                return sw_error_errno(err, -r, "doctor");
        }
        *results = d.results;
        return 0;
}
