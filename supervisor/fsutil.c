/* File system helpers: see include/slipway/fsutil.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "slipway/btrfs.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"

#define OVERLAYFS_SUPER_MAGIC 0x794c7630

int fs_mkdir_p(const char *path, mode_t mode)
{
        char buf[PATH_MAX];
        if (snprintf(buf, sizeof(buf), "%s", path) >= (int) sizeof(buf))
                return -ENAMETOOLONG;
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) < 0) {
                if (errno != EEXIST)
                        return -errno;
                struct stat st;
                if (stat(buf, &st) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
        }
        return 0;
}

/* Tree removal holds at most this many directory streams (and one fd being opened beside
 * them), whatever the depth: a build can leave a tree tens of thousands of levels deep (a
 * nested container's data root), and one fd per level ran into RLIMIT_NOFILE (EMFILE) on
 * every retry. Levels further up are closed and re-opened through ".." on the way back. */
#define REMOVE_TREE_MAX_OPEN 16

/* glibc before 2.32 has statx but not this flag (Linux 5.8). */
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x2000
#endif

/* A directory level that is open: its stream, and the subdirectory being emptied below it,
 * whose name the stream has already passed. */
struct open_level {
        DIR *dir;
        char child[NAME_MAX + 1];
};

/* Where a level is: its device (a btrfs subvolume inside has its own) and inode, to check a
 * re-opened level is still the one left. */
struct level_id {
        dev_t dev;
        ino_t ino;
};

struct tree_walk {
        struct level_id *ids; /* of each level from the top */
        size_t capacity;      /* of ids */
        size_t levels;   /* levels on the way down; the deepest one is being read */
        size_t lowest_open; /* levels lowest_open .. levels - 1 are open, those above closed */
        struct open_level open[REMOVE_TREE_MAX_OPEN]; /* level n in slot n % REMOVE_TREE_MAX_OPEN */
};

static struct open_level *walk_slot(struct tree_walk *w, size_t level)
{
        return &w->open[level % REMOVE_TREE_MAX_OPEN];
}

static void walk_close_level(struct open_level *level)
{
        if (level->dir) {
                closedir(level->dir);
                level->dir = NULL;
        }
}

static void walk_release(struct tree_walk *w)
{
        for (size_t i = 0; i < REMOVE_TREE_MAX_OPEN; i++)
                walk_close_level(&w->open[i]);
        free(w->ids);
}

struct entry_id {
        mode_t mode;
        dev_t dev;
        ino_t ino;
        bool mount_root;
};

/* statx rather than fstatat: a bind mount of the same file system has the same st_dev, only
 * STATX_ATTR_MOUNT_ROOT tells it is a mount. Where the kernel does not report it (before
 * 5.8, or glibc's fstatat emulation) the st_dev check is what is left. */
static int entry_stat(int dir_fd, const char *name, int flags, struct entry_id *id)
{
        struct statx stx;
        flags |= AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT;
        if (statx(dir_fd, name, flags, STATX_TYPE | STATX_INO, &stx) < 0)
                return -errno;
        id->mode = stx.stx_mode;
        id->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
        id->ino = stx.stx_ino;
        id->mount_root = (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
                         (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
        return 0;
}

/* Go one level down into the directory open at fd (taken), found at id. */
static int walk_push(struct tree_walk *w, int fd, struct level_id id)
{
        _cleanup_close_ int owned = fd;
        if (w->levels == w->capacity) {
                size_t capacity = w->capacity ? 2 * w->capacity : 64;
                struct level_id *ids = reallocarray(w->ids, capacity, sizeof(*ids));
                if (!ids)
                        return -ENOMEM;
                w->ids = ids;
                w->capacity = capacity;
        }
        if (w->levels - w->lowest_open == REMOVE_TREE_MAX_OPEN) {
                /* Out of budget: close the level furthest up, the last to be needed again. */
                walk_close_level(walk_slot(w, w->lowest_open));
                w->lowest_open++;
        }
        struct open_level *slot = walk_slot(w, w->levels);
        slot->dir = fdopendir(owned);
        if (!slot->dir)
                return -errno;
        TAKE_FD(owned);
        slot->child[0] = '\0';
        w->ids[w->levels++] = id;
        return 0;
}

/* rmdir, which also deletes an empty btrfs subvolume (Linux 4.18+); where it does not, the
 * subvolume ioctl. */
static int remove_empty_dir(int dir_fd, const char *name)
{
        if (unlinkat(dir_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
                return 0;
        int saved = -errno;
        if (saved == -EPERM || saved == -EINVAL) {
                _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0 && btrfs_is_subvolume_fd(fd))
                        return btrfs_subvolume_delete_at(dir_fd, name);
        }
        return saved;
}

/* The deepest level is empty: go back up to its parent and remove it there. */
static int walk_pop(struct tree_walk *w)
{
        size_t child = w->levels - 1, parent = child - 1;
        struct open_level *child_slot = walk_slot(w, child);
        if (parent < w->lowest_open) {
                /* The parent was closed for the budget. ".." of the child is it only if nothing
                 * moved the child meanwhile; a rename must not lead the walk out of the tree. */
                int child_fd = dirfd(child_slot->dir);
                _cleanup_close_ int fd = openat(child_fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                struct stat st;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (st.st_dev != w->ids[parent].dev || st.st_ino != w->ids[parent].ino)
                        return -ESTALE;
                walk_close_level(child_slot);
                struct open_level *parent_slot = walk_slot(w, parent);
                parent_slot->dir = fdopendir(fd);
                if (!parent_slot->dir)
                        return -errno;
                TAKE_FD(fd);
                /* The child's name went with the parent's slot: the parent is read again from
                 * the start (what it held before the child is gone already), finds the child
                 * empty and removes it then. */
                parent_slot->child[0] = '\0';
                w->lowest_open = parent;
                w->levels--;
                return 0;
        }
        walk_close_level(child_slot);
        w->levels--;
        struct open_level *parent_slot = walk_slot(w, parent);
        return remove_empty_dir(dirfd(parent_slot->dir), parent_slot->child);
}

/* Remove the entry name of the deepest level, or go down into it if it is a directory. */
static int walk_entry(struct tree_walk *w, const char *name)
{
        struct open_level *slot = walk_slot(w, w->levels - 1);
        int dir_fd = dirfd(slot->dir);
        struct entry_id before;
        int r = entry_stat(dir_fd, name, 0, &before);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        if (!S_ISDIR(before.mode)) {
                /* Symlinks are removed, never followed: seeded layers link into the read-only
                 * cache. */
                if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                        return -errno;
                return 0;
        }
        if (before.mount_root)
                return -EBUSY;
        _cleanup_close_ int sub = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
                return errno == ENOENT ? 0 : -errno;
        /* What was opened is what was looked at, not something swapped in between. */
        struct entry_id opened;
        r = entry_stat(sub, "", AT_EMPTY_PATH, &opened);
        if (r < 0)
                return r;
        if (opened.dev != before.dev || opened.ino != before.ino)
                return -ESTALE;
        if (opened.mount_root)
                return -EBUSY;
        if (opened.dev != w->ids[w->levels - 1].dev) {
                /* Another device: a real mount is never descended into. A btrfs subvolume (a
                 * seeded data root, a generation, read-only or not) is deleted whole, unless
                 * it holds another one (a build can make them; the kernel deletes only those
                 * that hold none): then it is made writable, walked like a directory and
                 * removed once empty. */
                if (!btrfs_is_subvolume_fd(sub))
                        return -EBUSY;
                r = btrfs_subvolume_delete_at(dir_fd, name);
                if (r != -ENOTEMPTY)
                        return r;
                r = btrfs_subvolume_set_writable_fd(sub);
                if (r < 0)
                        return r;
        }
        snprintf(slot->child, sizeof(slot->child), "%s", name);
        return walk_push(w, TAKE_FD(sub), (struct level_id){ opened.dev, opened.ino });
}

/* Empty the directory open at fd (taken), on device dev, depth first and without recursion. */
static int remove_contents(int fd, dev_t dev, ino_t ino)
{
        _cleanup_(walk_release) struct tree_walk w = { 0 };
        int r = walk_push(&w, fd, (struct level_id){ dev, ino });
        if (r < 0)
                return r;
        for (;;) {
                errno = 0;
                struct dirent *entry = readdir(walk_slot(&w, w.levels - 1)->dir);
                if (!entry) {
                        if (errno != 0)
                                return -errno;
                        if (w.levels == 1)
                                return 0;
                        r = walk_pop(&w);
                } else if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
                        r = walk_entry(&w, entry->d_name);
                }
                if (r < 0)
                        return r;
        }
}

int fs_remove_tree(const char *path)
{
        struct stat st;
        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlink(path) < 0 ? -errno : 0;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        /* Asked before the walk takes over fd, so that no fd is held beside its budget. */
        bool subvolume = btrfs_is_subvolume_fd(fd);
        int r = remove_contents(TAKE_FD(fd), st.st_dev, st.st_ino);
        if (r < 0)
                return r;
        if (subvolume) {
                char parent[PATH_MAX], name[PATH_MAX];
                if (snprintf(parent, sizeof(parent), "%s", path) >= (int) sizeof(parent))
                        return -ENAMETOOLONG;
                snprintf(name, sizeof(name), "%s", path);
                _cleanup_close_ int parent_fd = open(dirname(parent), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (parent_fd < 0)
                        return -errno;
                return btrfs_subvolume_delete_at(parent_fd, basename(name));
        }
        return rmdir(path) < 0 ? -errno : 0;
}

int fs_write_all(int fd, const void *data, size_t len)
{
        const char *p = data;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

int fs_write_text(const char *path, const char *text)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        return fs_write_all(fd, text, strlen(text));
}

static uid_t shifted_id(uid_t id, uid_t base, uid_t size)
{
        return id < size ? base + id : id;
}

static int shift_owners_below(int dir_fd, dev_t dev, uid_t base, uid_t size, unsigned flags, int depth_left)
{
        if (depth_left < 0)
                return -ELOOP;
        _cleanup_closedir_ DIR *d = fdopendir(dup(dir_fd));
        if (!d)
                return -errno;
        rewinddir(d); /* the duplicate shares the caller's offset: from the start, always */
        struct dirent *entry;
        while ((entry = readdir(d))) {
                const char *name = entry->d_name;
                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                        continue;
                struct stat st;
                if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (st.st_dev != dev)
                        continue; /* a mount inside: not the tree's to change */
                if ((flags & FS_SHIFT_SKIP_LINKED) && !S_ISDIR(st.st_mode) && st.st_nlink > 1)
                        continue;
                if (fchownat(dir_fd, name, shifted_id(st.st_uid, base, size), shifted_id(st.st_gid, base, size),
                             AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (!S_ISLNK(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) &&
                    fchmodat(dir_fd, name, st.st_mode & 07777, 0) < 0)
                        return -errno;
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int child = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (child < 0)
                                return -errno;
                        int r = shift_owners_below(child, dev, base, size, flags, depth_left - 1);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

int fs_shift_owners(int dir_fd, uid_t base, uid_t size, unsigned flags, int max_depth)
{
        struct stat st;
        if (fstat(dir_fd, &st) < 0)
                return -errno;
        return shift_owners_below(dir_fd, st.st_dev, base, size, flags, max_depth);
}

int fs_write_notice_at(int dir_fd, const char *name, const char *text)
{
        char tmp[NAME_MAX + 1];
        if (snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= (int) sizeof(tmp))
                return -ENAMETOOLONG;
        int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        int r = fs_write_all(fd, text, strlen(text));
        /* Closed before the rename: a watcher sees the name appear once, whole. */
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dir_fd, tmp, 0);
        return r;
}

void fs_inotify_drain(int fd, unsigned max_reads,
                      void (*each)(const struct inotify_event *event, void *user), void *user)
{
        char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
                __attribute__((aligned(__alignof__(struct inotify_event))));
        for (unsigned reads = 0; reads < max_reads; reads++) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n <= 0)
                        return;
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *event = (const struct inotify_event *) p;
                        p += sizeof(*event) + event->len;
                        each(event, user);
                }
        }
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
        char tmp[PATH_MAX], dir[PATH_MAX];
        if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int) getpid()) >= (int) sizeof(tmp))
                return -ENAMETOOLONG;
        snprintf(dir, sizeof(dir), "%s", path);

        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        int r = fs_write_all(fd, data, len);
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
                int saved = -errno;
                unlink(tmp);
                return saved;
        }
        if (rename(tmp, path) < 0) {
                int saved = -errno;
                unlink(tmp);
                return saved;
        }
        _cleanup_close_ int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

int fs_read_bounded(const char *path, size_t max, char **out, size_t *len_out)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        _cleanup_free_ char *buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        size_t len = 0;
        for (;;) {
                /* Read one byte past max so an oversized file is refused, not truncated. */
                if (len == max) {
                        char extra;
                        ssize_t n = read(fd, &extra, 1);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                return -errno;
                        if (n > 0)
                                return -EFBIG;
                        break;
                }
                ssize_t n = read(fd, buf + len, max - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        if (len_out)
                *len_out = len;
        *out = TAKE_PTR(buf);
        return 0;
}

int fs_is_overlay(const char *path, bool *overlay)
{
        struct statfs sfs;
        if (statfs(path, &sfs) < 0)
                return -errno;
        *overlay = sfs.f_type == OVERLAYFS_SUPER_MAGIC;
        return 0;
}

int random_hex(char *out, size_t n)
{
        unsigned char bytes[64];
        if (n > sizeof(bytes))
                return -EINVAL;
        size_t have = 0;
        while (have < n) {
                ssize_t r = getrandom(bytes + have, n - have, 0);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                have += (size_t) r;
        }
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[bytes[i] >> 4];
                out[2 * i + 1] = digits[bytes[i] & 15];
        }
        out[2 * n] = '\0';
        return 0;
}
