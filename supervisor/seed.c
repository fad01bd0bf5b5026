/* Seeding a data root from a generation: see include/slipway/seed.h.
 *
 * Works on directory fds (openat/fstatat/mkdirat) so no path is rebuilt per file. What is not
 * copied, and why:
 *  - engine-id: every agent daemon must have its own identity;
 *  - containers/, network/, volumes/, tmp/, runtimes/, swarm/, containerd/: per-daemon
 *    runtime state (a generation holds images only; volumes/backingFsBlockDev is a device
 *    node);
 *  - overlay2/<id>/diff with layer-link: linked, never copied (the bytes). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "slipway/btrfs.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/seed.h"

static const char *const skipped_top_level[] = {
        "engine-id", "containers", "network", "volumes", "tmp", "runtimes", "swarm", "containerd",
};

struct seeder {
        enum seed_strategy strategy;
        uid_t owner_shift;
        const char *seed_mount;
        struct seed_stats *stats;
        struct sw_error *err;
};

const char *seed_strategy_name(enum seed_strategy strategy)
{
        switch (strategy) {
        case SEED_LAYER_LINK:
                return "layer-link";
        case SEED_REFLINK:
                return "reflink";
        case SEED_COPY:
                return "copy";
        case SEED_BTRFS_SNAPSHOT:
                return "btrfs-snapshot";
        }
        return "?";
}

int seed_strategy_parse(const char *name, enum seed_strategy *out)
{
        static const enum seed_strategy all[] = { SEED_LAYER_LINK, SEED_REFLINK, SEED_COPY,
                                                  SEED_BTRFS_SNAPSHOT };
        for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
                if (strcmp(name, seed_strategy_name(all[i])) == 0) {
                        *out = all[i];
                        return 0;
                }
        }
        return -EINVAL;
}

/* Extended attributes matter inside layers: overlayfs marks opaque directories with
 * trusted.overlay.opaque, and file capabilities live in security.capability. */
static int copy_xattrs(int src_fd, int dst_fd)
{
        char names[4096];
        ssize_t len = flistxattr(src_fd, names, sizeof(names));
        if (len < 0)
                return errno == ENOTSUP ? 0 : -errno;
        for (char *name = names; name < names + len; name += strlen(name) + 1) {
                char value[4096];
                ssize_t vlen = fgetxattr(src_fd, name, value, sizeof(value));
                if (vlen < 0)
                        return -errno;
                if (fsetxattr(dst_fd, name, value, (size_t) vlen, 0) < 0 && errno != ENOTSUP)
                        return -errno;
        }
        return 0;
}

static int copy_file_data(struct seeder *s, int src, int dst, off_t size)
{
        if (s->strategy == SEED_REFLINK)
                return ioctl(dst, FICLONE, src) < 0 ? -errno : 0;
        off_t done = 0;
        while (done < size) {
                ssize_t n = copy_file_range(src, NULL, dst, NULL, (size_t) (size - done), 0);
                if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL))
                        break; /* across file systems (or unsupported): plain reads and writes */
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                done += n;
        }
        char buf[65536];
        while (done < size) {
                ssize_t n = pread(src, buf, sizeof(buf), done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                int r = fs_write_all(dst, buf, (size_t) n);
                if (r < 0)
                        return r;
                done += n;
        }
        return 0;
}

/* Owners as the agent's user namespace must see them: the generation's ids (those of the
 * image's own users, below SEED_ID_RANGE) moved to the agent's range. */
#define SEED_ID_RANGE 65536u
static uid_t shifted(const struct seeder *s, uid_t id)
{
        return s->owner_shift && id < SEED_ID_RANGE ? id + s->owner_shift : id;
}

/* What seeding itself creates (layer directories, diff links, markers) is root's: the
 * namespace's root when shifting, and left as created otherwise (no syscall spent). */
static int own_created(const struct seeder *s, int dir_fd, const char *name)
{
        if (!s->owner_shift)
                return 0;
        return fchownat(dir_fd, name ? name : "", s->owner_shift, s->owner_shift,
                        name ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH) < 0 ? -errno : 0;
}

static int seed_fail(struct seeder *s, int r, const char *what, const char *name)
{
        return sw_error_errno(s->err, -r, "seed: %s %s", what, name);
}

static int copy_regular(struct seeder *s, int src_dir, int dst_dir, const char *name,
                        const struct stat *st)
{
        _cleanup_close_ int src = openat(src_dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (src < 0)
                return seed_fail(s, -errno, "open", name);
        _cleanup_close_ int dst = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                                         st->st_mode & 07777);
        if (dst < 0)
                return seed_fail(s, -errno, "create", name);
        int r = copy_file_data(s, src, dst, st->st_size);
        if (r < 0)
                return seed_fail(s, r, s->strategy == SEED_REFLINK ? "clone (FICLONE)" : "copy", name);
        if (fchown(dst, shifted(s, st->st_uid), shifted(s, st->st_gid)) < 0 || fchmod(dst, st->st_mode & 07777) < 0)
                return seed_fail(s, -errno, "set owner of", name);
        r = copy_xattrs(src, dst);
        if (r < 0)
                return seed_fail(s, r, "copy xattrs of", name);
        s->stats->files++;
        s->stats->bytes += (unsigned long long) st->st_size;
        return 0;
}

static int copy_tree(struct seeder *s, int src_dir, int dst_dir, bool top_level, bool in_overlay2);

static int copy_entry(struct seeder *s, int src_dir, int dst_dir, const char *name,
                      bool in_layer_dir)
{
        struct stat st;
        if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return seed_fail(s, -errno, "stat", name);
        switch (st.st_mode & S_IFMT) {
        case S_IFDIR: {
                if (mkdirat(dst_dir, name, st.st_mode & 07777) < 0)
                        return seed_fail(s, -errno, "mkdir", name);
                _cleanup_close_ int src = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                _cleanup_close_ int dst = openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (src < 0 || dst < 0)
                        return seed_fail(s, -errno, "open directory", name);
                if (fchown(dst, shifted(s, st.st_uid), shifted(s, st.st_gid)) < 0 || fchmod(dst, st.st_mode & 07777) < 0)
                        return seed_fail(s, -errno, "set owner of", name);
                int r = copy_xattrs(src, dst);
                if (r < 0)
                        return seed_fail(s, r, "copy xattrs of", name);
                s->stats->directories++;
                return copy_tree(s, src, dst, false, in_layer_dir);
        }
        case S_IFREG:
                return copy_regular(s, src_dir, dst_dir, name, &st);
        case S_IFLNK: {
                char target[4096];
                ssize_t len = readlinkat(src_dir, name, target, sizeof(target) - 1);
                if (len < 0)
                        return seed_fail(s, -errno, "readlink", name);
                target[len] = '\0';
                if (symlinkat(target, dst_dir, name) < 0)
                        return seed_fail(s, -errno, "symlink", name);
                if (fchownat(dst_dir, name, shifted(s, st.st_uid), shifted(s, st.st_gid), AT_SYMLINK_NOFOLLOW) < 0)
                        return seed_fail(s, -errno, "set owner of", name);
                s->stats->symlinks++;
                return 0;
        }
        case S_IFCHR:
        case S_IFBLK:
                /* Inside layers, 0:0 character devices are overlayfs whiteouts: they must be
                 * recreated. Anywhere else a device node is runtime state: skip it. */
                if (!in_layer_dir)
                        return 0;
                if (mknodat(dst_dir, name, st.st_mode, st.st_rdev) < 0)
                        return seed_fail(s, -errno, "mknod", name);
                if (fchownat(dst_dir, name, shifted(s, st.st_uid), shifted(s, st.st_gid), AT_SYMLINK_NOFOLLOW) < 0)
                        return seed_fail(s, -errno, "set owner of", name);
                s->stats->files++;
                return 0;
        default:
                return 0; /* sockets and fifos: runtime state */
        }
}

/* One overlay2/<id>/ layer directory with layer-link: a real directory holding copies of its
 * small files, `diff` linked into the read-only generation, and the `committed` marker. */
static int link_layer(struct seeder *s, int src_overlay, int dst_overlay, const char *id)
{
        struct stat st;
        if (fstatat(src_overlay, id, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return seed_fail(s, -errno, "stat layer", id);
        if (!S_ISDIR(st.st_mode))
                return copy_entry(s, src_overlay, dst_overlay, id, false);
        if (mkdirat(dst_overlay, id, st.st_mode & 07777) < 0)
                return seed_fail(s, -errno, "mkdir layer", id);
        _cleanup_close_ int src = openat(src_overlay, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_close_ int dst = openat(dst_overlay, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (src < 0 || dst < 0)
                return seed_fail(s, -errno, "open layer", id);
        if (s->owner_shift && fchown(dst, shifted(s, st.st_uid), shifted(s, st.st_gid)) < 0)
                return seed_fail(s, -errno, "set owner of layer", id);
        _cleanup_closedir_ DIR *d = fdopendir(dup(src));
        if (!d)
                return seed_fail(s, -errno, "read layer", id);
        bool has_diff = false;
        struct dirent *entry;
        while ((entry = readdir(d))) {
                const char *name = entry->d_name;
                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                        continue;
                if (strcmp(name, "diff") == 0) {
                        char target[4096];
                        snprintf(target, sizeof(target), "%s/overlay2/%s/diff", s->seed_mount, id);
                        if (symlinkat(target, dst, "diff") < 0 || own_created(s, dst, "diff") < 0)
                                return seed_fail(s, -errno, "link diff of layer", id);
                        s->stats->symlinks++;
                        has_diff = true;
                        continue;
                }
                if (strcmp(name, "committed") == 0)
                        continue; /* written below for every linked layer */
                int r = copy_entry(s, src, dst, name, false);
                if (r < 0)
                        return r;
        }
        if (has_diff) {
                _cleanup_close_ int marker = openat(dst, "committed", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                if (marker < 0 || own_created(s, marker, NULL) < 0)
                        return seed_fail(s, -errno, "mark committed layer", id);
                s->stats->layers++;
        }
        return 0;
}

static bool skipped_at_top(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(skipped_top_level); i++)
                if (strcmp(name, skipped_top_level[i]) == 0)
                        return true;
        return false;
}

static int copy_tree(struct seeder *s, int src_dir, int dst_dir, bool top_level, bool in_layer_dir)
{
        _cleanup_closedir_ DIR *d = fdopendir(dup(src_dir));
        if (!d)
                return sw_error_errno(s->err, errno, "seed: read directory");
        struct dirent *entry;
        while ((entry = readdir(d))) {
                const char *name = entry->d_name;
                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                        continue;
                if (top_level && skipped_at_top(name))
                        continue;
                int r;
                if (top_level && strcmp(name, "overlay2") == 0) {
                        r = mkdirat(dst_dir, name, 0710) < 0 ? seed_fail(s, -errno, "mkdir", name) : 0;
                        if (r < 0)
                                return r;
                        _cleanup_close_ int src = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        _cleanup_close_ int dst = openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (src < 0 || dst < 0)
                                return seed_fail(s, -errno, "open", name);
                        if (own_created(s, dst, NULL) < 0)
                                return seed_fail(s, -errno, "set owner of", name);
                        _cleanup_closedir_ DIR *layers = fdopendir(dup(src));
                        if (!layers)
                                return seed_fail(s, -errno, "read", name);
                        struct dirent *layer;
                        while ((layer = readdir(layers))) {
                                const char *id = layer->d_name;
                                if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
                                        continue;
                                /* overlay2/l holds the short symlinks; copied as they are. */
                                if (s->strategy == SEED_LAYER_LINK && strcmp(id, "l") != 0)
                                        r = link_layer(s, src, dst, id);
                                else
                                        r = copy_entry(s, src, dst, id, strcmp(id, "l") != 0);
                                if (r < 0)
                                        return r;
                                if (s->strategy != SEED_LAYER_LINK && strcmp(id, "l") != 0)
                                        s->stats->layers++;
                        }
                        continue;
                }
                r = copy_entry(s, src_dir, dst_dir, name, in_layer_dir);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A snapshot shares every extent with the generation; only the per-daemon state the other
 * strategies skip is removed from it. Owners are shifted in the snapshot (metadata only: its
 * extents stay shared). */
static int seed_snapshot(const struct seeder *s, const char *generation, const char *target,
                         struct seed_stats *stats, struct sw_error *err)
{
        if (rmdir(target) < 0)
                return sw_error_errno(err, errno, "seed: %s must be an empty directory", target);
        int r = btrfs_snapshot(generation, target);
        if (r == -ENOTSUP)
                return sw_error_set(err, ENOTSUP, "seed: generation %s is not a btrfs subvolume "
                                    "(build it with the state directory on btrfs)", generation);
        if (r < 0)
                return sw_error_errno(err, -r, "seed: snapshot %s as %s", generation, target);
        for (size_t i = 0; i < ARRAY_SIZE(skipped_top_level); i++) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", target, skipped_top_level[i]);
                r = fs_remove_tree(path);
                if (r < 0)
                        return sw_error_errno(err, -r, "seed: remove %s", path);
        }
        if (s->owner_shift) {
                /* A generation's tree (the operator's cache build made it, not a build); its
                 * layers' hard links are its own and are shifted too. */
                _cleanup_close_ int top = open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = top < 0 ? -errno : fs_shift_owners(top, s->owner_shift, SEED_ID_RANGE, 0, 512);
                if (r >= 0)
                        r = own_created(s, top, NULL);
                if (r < 0)
                        return sw_error_errno(err, -r, "seed: give %s to the agent's user namespace", target);
        }
        char overlay[4096];
        snprintf(overlay, sizeof(overlay), "%s/overlay2", target);
        _cleanup_closedir_ DIR *d = opendir(overlay);
        struct dirent *entry;
        while (d && (entry = readdir(d)))
                if (entry->d_name[0] != '.' && strcmp(entry->d_name, "l") != 0)
                        stats->layers++;
        return 0;
}

int seed_data_root(const char *generation, const char *target, const char *seed_mount,
                   enum seed_strategy strategy, uid_t owner_shift, struct seed_stats *stats,
                   struct sw_error *err)
{
        struct seed_stats local = { 0 };
        struct seeder s = {
                .strategy = strategy,
                .owner_shift = owner_shift,
                .seed_mount = seed_mount ? seed_mount : SEED_MOUNT,
                .stats = stats ? stats : &local,
                .err = err,
        };
        memset(s.stats, 0, sizeof(*s.stats));
        _cleanup_close_ int src = open(generation, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src < 0)
                return sw_error_errno(err, errno, "seed: generation %s", generation);
        struct stat st;
        if (fstatat(src, "overlay2", &st, 0) < 0 || !S_ISDIR(st.st_mode))
                return sw_error_set(err, EINVAL, "seed: %s is not an overlay2 data root (no overlay2/)",
                                    generation);
        if (strategy == SEED_BTRFS_SNAPSHOT)
                return seed_snapshot(&s, generation, target, s.stats, err);
        _cleanup_close_ int dst = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dst < 0)
                return sw_error_errno(err, errno, "seed: target %s", target);
        if (own_created(&s, dst, NULL) < 0)
                return sw_error_errno(err, errno, "seed: give %s to the agent's user namespace", target);
        int r = copy_tree(&s, src, dst, true, false);
        if (r < 0)
                return sw_error_prefix(err, "%s -> %s (%s)", generation, target,
                                       seed_strategy_name(strategy));
        return 0;
}
