/* An agent's size-limited disk: see include/slipway/agent_disk.h.
 *
 * Why a loop-mounted ext4 image rather than a quota: it works the same on any host file
 * system (ext4, xfs, btrfs, even overlayfs), needs no quota set-up or mount option on the
 * host, and the limit is a hard ENOSPC that no process inside can raise. The image is sparse
 * and the file system made lazily, so creating a 20G disk costs a few milliseconds and a few
 * MB. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slipway/agent_disk.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/tool.h"

#define LOOP_ATTEMPTS 16 /* another process may take the free device we were given */

const char *agent_disk_strategy_conflict(enum seed_strategy strategy)
{
        switch (strategy) {
        case SEED_LAYER_LINK:
        case SEED_COPY:
                return NULL;
        case SEED_REFLINK:
                return "seed-strategy reflink cannot seed a data root inside a disk limit: "
                       "extents are shared only within one file system, and the agent's disk is "
                       "its own (use layer-link, or copy)";
        case SEED_BTRFS_SNAPSHOT:
                return "seed-strategy btrfs-snapshot cannot seed a data root inside a disk limit: "
                       "a snapshot stays in the generation's btrfs, outside the agent's own file "
                       "system (use layer-link, or copy)";
        }
        return "unknown seed strategy";
}

static char *path_join(const char *dir, const char *name)
{
        char *path;
        return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

/* Run one of e2fsprogs' tools (tool.h), its output kept for the error message. */
static int run_tool(const char *const *argv, struct sw_error *err)
{
        const struct tool_run run = { .argv = argv, .netns_fd = -1, .package = "e2fsprogs" };
        return tool_run(&run, err);
}

/* A sparse image file of bytes. On btrfs, no copy-on-write for it: the file system inside
 * rewrites blocks in place, and CoW would fragment it for nothing (ignored elsewhere). */
static int disk_image_create(const char *image, long long bytes, struct sw_error *err)
{
        _cleanup_close_ int fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return sw_error_errno(err, errno, "create disk image %s", image);
        int flags = 0;
        if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
                flags |= FS_NOCOW_FL;
                (void) ioctl(fd, FS_IOC_SETFLAGS, &flags);
        }
        if (ftruncate(fd, (off_t) bytes) < 0)
                return sw_error_errno(err, errno, "size disk image %s", image);
        return 0;
}

/* mkfs.ext4 tuned for a throw-away disk, measured by `make bench`:
 *  - no journal: the disk never outlives its agent, crash consistency buys nothing, and
 *    dockerd's fsyncs get cheaper;
 *  - lazy inode tables and no discard: mkfs writes only a few MB of metadata into the sparse
 *    file (and the mount's noinit_itable keeps the kernel from zeroing the tables later:
 *    they read as zeros anyway, from a fresh sparse file);
 *  - no reserved blocks: root inside the agent (its dockerd) gets the limit, not 95% of it;
 *  - one inode per 8 KiB: image layers are many small files. */
static int disk_mkfs(const char *image, struct sw_error *err)
{
        const char *const argv[] = {
                "mkfs.ext4", "-q", "-F", "-b", "4096", "-i", "8192", "-m", "0",
                "-O", "^has_journal", "-E", "lazy_itable_init=1,nodiscard", "-L", "slipway-agent",
                image, NULL,
        };
        int r = run_tool(argv, err);
        return r < 0 ? sw_error_prefix(err, "make the file system in %s", image) : 0;
}

/* Attach image to a free loop device with autoclear (see the header). Returns the open
 * device fd; *number is its minor. */
static int disk_loop_attach(const char *image, int *number, struct sw_error *err)
{
        _cleanup_close_ int image_fd = open(image, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (image_fd < 0)
                return sw_error_errno(err, errno, "open disk image %s", image);
        _cleanup_close_ int control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (control < 0)
                return sw_error_errno(err, errno, "open /dev/loop-control (is the loop module "
                                      "loaded?)");
        for (int attempt = 0; attempt < LOOP_ATTEMPTS; attempt++) {
                int n = ioctl(control, LOOP_CTL_GET_FREE);
                if (n < 0)
                        return sw_error_errno(err, errno, "find a free loop device");
                char device[32];
                snprintf(device, sizeof(device), "/dev/loop%d", n);
                int fd = open(device, O_RDWR | O_CLOEXEC);
                if (fd < 0)
                        return sw_error_errno(err, errno, "open %s", device);
                /* Direct I/O: the agent's file system caches pages already; a second copy in
                 * the host's cache of the image would only double the memory. */
                struct loop_config config = {
                        .fd = (__u32) image_fd,
                        .info = { .lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO },
                };
                snprintf((char *) config.info.lo_file_name, sizeof(config.info.lo_file_name), "%s",
                         image);
                if (ioctl(fd, LOOP_CONFIGURE, &config) == 0) {
                        *number = n;
                        return fd;
                }
                int saved = errno;
                close(fd);
                if (saved == EBUSY)
                        continue; /* taken since LOOP_CTL_GET_FREE: ask again */
                return sw_error_errno(err, saved, "attach %s to %s", image, device);
        }
        return sw_error_set(err, EBUSY, "attach %s: no free loop device after %d attempts", image,
                            LOOP_ATTEMPTS);
}

static int make_dir(const char *root, const char *name, mode_t mode, uid_t uid, struct sw_error *err)
{
        _cleanup_free_ char *path = path_join(root, name);
        if (!path)
                return sw_error_set(err, ENOMEM, "agent disk");
        /* chmod after mkdir: the umask must not decide (tmp needs its sticky 1777). */
        if (mkdir(path, 0700) < 0 || chown(path, uid, uid) < 0 || chmod(path, mode) < 0)
                return sw_error_errno(err, errno, "create %s", path);
        return 0;
}

/* The directories the container binds, and what the agent user's home needs to stay quiet
 * over SSH (the SSH launcher aborts on any output). */
static int disk_populate(const char *root, struct sw_error *err)
{
        int r = make_dir(root, "data-root", 0710, 0, err);
        if (r >= 0)
                r = make_dir(root, "home", 0755, AGENT_DISK_UID, err);
        if (r >= 0)
                r = make_dir(root, "home/agent", 0755, AGENT_DISK_UID, err);
        if (r >= 0)
                r = make_dir(root, "workspace", 0755, AGENT_DISK_UID, err);
        if (r >= 0)
                r = make_dir(root, "tmp", 01777, 0, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *hush = path_join(root, "home/.hushlogin");
        if (!hush)
                return sw_error_set(err, ENOMEM, "agent disk");
        _cleanup_close_ int fd = open(hush, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 || fchown(fd, AGENT_DISK_UID, AGENT_DISK_UID) < 0)
                return sw_error_errno(err, errno, "create %s", hush);
        /* The root of the file system is reached by the supervisor and dockerd only. */
        if (chmod(root, 0711) < 0)
                return sw_error_errno(err, errno, "chmod %s", root);
        return 0;
}

/* Whether mount_point is mounted in PID 1's mount namespace, the host's, where dockerd runs
 * (true when that cannot be read: nothing to check against). A supervisor in a private mount
 * namespace (systemd's ProtectSystem=, PrivateTmp=, ...) mounts where dockerd cannot see:
 * Docker would bind the empty directory under it and the agent would run without a limit. */
static bool disk_visible_to_host(const char *mount_point)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/1/mountinfo", "re");
        if (!f)
                return true;
        char *line = NULL;
        size_t size = 0;
        bool found = false;
        while (!found && getline(&line, &size, f) > 0) {
                /* "id parent major:minor root mount-point ...": the fifth field. */
                char *field = line;
                for (int i = 0; i < 4 && field; i++) {
                        field = strchr(field, ' ');
                        if (field)
                                field++;
                }
                size_t len = strlen(mount_point);
                found = field && strncmp(field, mount_point, len) == 0 && field[len] == ' ';
        }
        free(line);
        return found;
}

int agent_disk_create(const char *agent_dir, long long bytes, struct sw_error *err)
{
        _cleanup_free_ char *image = path_join(agent_dir, AGENT_DISK_IMAGE);
        _cleanup_free_ char *mount_point = path_join(agent_dir, AGENT_DISK_MOUNT);
        if (!image || !mount_point)
                return sw_error_set(err, ENOMEM, "agent disk");
        int r = disk_image_create(image, bytes, err);
        if (r >= 0)
                r = disk_mkfs(image, err);
        if (r < 0)
                return r;
        int number = -1;
        _cleanup_close_ int loop_fd = disk_loop_attach(image, &number, err);
        if (loop_fd < 0)
                return loop_fd;
        char device[32];
        snprintf(device, sizeof(device), "/dev/loop%d", number);
        if (mount(device, mount_point, "ext4", MS_NOATIME, "noinit_itable") < 0)
                return sw_error_errno(err, errno, "mount %s (%s) on %s", device, image, mount_point);
        /* Mounted: closing loop_fd now leaves the mount as the device's only user. */
        if (!disk_visible_to_host(mount_point)) {
                (void) umount2(mount_point, MNT_DETACH | UMOUNT_NOFOLLOW);
                return sw_error_set(err, EPERM,
                                    "the agent disk mounted on %s is not visible to the host "
                                    "(PID 1's mount namespace), where dockerd runs: slipway runs in "
                                    "a private mount namespace (systemd's ProtectSystem=, "
                                    "PrivateTmp=, ...?); see scripts/systemd/slipway.service for "
                                    "disk-limit", mount_point);
        }
        r = disk_populate(mount_point, err);
        if (r < 0) {
                (void) umount2(mount_point, MNT_DETACH | UMOUNT_NOFOLLOW);
                return r;
        }
        return 0;
}

bool agent_disk_exists(const char *agent_dir)
{
        _cleanup_free_ char *mount_point = path_join(agent_dir, AGENT_DISK_MOUNT);
        struct stat st;
        return mount_point && lstat(mount_point, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether path is the root of a mount: another device than its parent's. */
static int is_mount_point(const char *parent, const char *path, bool *mounted)
{
        struct stat st, parent_st;
        if (lstat(path, &st) < 0)
                return -errno;
        if (lstat(parent, &parent_st) < 0)
                return -errno;
        *mounted = S_ISDIR(st.st_mode) && st.st_dev != parent_st.st_dev;
        return 0;
}

/* The backing file of loop device name ("loop3"), from sysfs; "" when it has none. */
static void loop_backing_file(const char *name, char *out, size_t size)
{
        char path[128];
        snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", name);
        out[0] = '\0';
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f || !fgets(out, (int) size, f))
                out[0] = '\0';
        out[strcspn(out, "\n")] = '\0';
}

/* Detach the loop devices whose backing file matches (is exactly image, with or without the
 * kernel's " (deleted)" mark; or, with image ending in '/', lies under it and is deleted). A
 * device still in use is not torn down by LOOP_CLR_FD: it only gets autoclear. */
static int loop_detach_matching(const char *image, bool prefix, int *released)
{
        _cleanup_closedir_ DIR *dir = opendir("/sys/block");
        if (!dir)
                return errno == ENOENT ? 0 : -errno;
        size_t len = strlen(image);
        struct dirent *entry;
        while ((entry = readdir(dir))) {
                if (strncmp(entry->d_name, "loop", 4) != 0)
                        continue;
                char backing[4096];
                loop_backing_file(entry->d_name, backing, sizeof(backing));
                if (strncmp(backing, image, len) != 0)
                        continue;
                const char *rest = backing + len;
                size_t rest_len = strlen(rest);
                bool deleted = rest_len >= 10 && strcmp(rest + rest_len - 10, " (deleted)") == 0;
                bool exact = rest_len == 0 || strcmp(rest, " (deleted)") == 0;
                if (prefix ? !deleted : !exact)
                        continue;
                char device[300];
                snprintf(device, sizeof(device), "/dev/%s", entry->d_name);
                _cleanup_close_ int fd = open(device, O_RDONLY | O_CLOEXEC);
                if (fd >= 0 && ioctl(fd, LOOP_CLR_FD, 0) == 0 && released)
                        (*released)++;
        }
        return 0;
}

int agent_disk_release(const char *agent_dir, struct sw_error *err)
{
        _cleanup_free_ char *image = path_join(agent_dir, AGENT_DISK_IMAGE);
        _cleanup_free_ char *mount_point = path_join(agent_dir, AGENT_DISK_MOUNT);
        if (!image || !mount_point)
                return sw_error_set(err, ENOMEM, "agent disk");
        bool mounted = false;
        int r = is_mount_point(agent_dir, mount_point, &mounted);
        if (r == -ENOENT)
                return 0; /* no disk (or no agent directory) */
        if (r < 0)
                return sw_error_errno(err, -r, "agent disk %s", mount_point);
        if (mounted && umount2(mount_point, UMOUNT_NOFOLLOW) < 0) {
                /* Busy: a process of ours still inside (a shell, a du). Detached, it cannot be
                 * reached by path any more, and it is freed when that process leaves. */
                if (errno != EBUSY || umount2(mount_point, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
                        return sw_error_errno(err, errno, "unmount agent disk %s", mount_point);
        }
        /* Autoclear detaches the device with the last unmount; this catches a device left
         * attached without a mount by a crash between attaching and mounting while
         * something else held it open. */
        r = loop_detach_matching(image, false, NULL);
        if (r < 0)
                return sw_error_errno(err, -r, "detach loop devices of %s", image);
        return 0;
}

int agent_disk_sweep(const char *state_dir, int *released, struct sw_error *err)
{
        _cleanup_free_ char *agents = path_join(state_dir, "agents/");
        if (!agents)
                return sw_error_set(err, ENOMEM, "sweep loop devices");
        *released = 0;
        int r = loop_detach_matching(agents, true, released);
        if (r < 0)
                return sw_error_errno(err, -r, "sweep loop devices of %s", agents);
        return 0;
}
