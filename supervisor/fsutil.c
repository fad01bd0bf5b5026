/* File system helpers: see include/slipway/fsutil.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
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

/* Remove the contents of the directory open at dir_fd, which is on device dev. */
static int remove_contents(int dir_fd, dev_t dev)
{
        _cleanup_closedir_ DIR *d = fdopendir(dup(dir_fd));
        if (!d)
                return -errno;
        struct dirent *entry;
        while ((entry = readdir(d))) {
                const char *name = entry->d_name;
                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                        continue;
                struct stat st;
                if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                if (!S_ISDIR(st.st_mode)) {
                        /* Symlinks are removed, never followed: seeded layers link into the
                         * read-only cache. */
                        if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                                return -errno;
                        continue;
                }
                _cleanup_close_ int sub = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (sub < 0)
                        return -errno;
                if (st.st_dev != dev) {
                        /* Another device: a btrfs subvolume of ours (a seeded data root, a
                         * generation) is deleted whole; a real mount is never descended into. */
                        if (!btrfs_is_subvolume_fd(sub))
                                return -EBUSY;
                        int r = btrfs_subvolume_delete_at(dir_fd, name);
                        if (r < 0)
                                return r;
                        continue;
                }
                int r = remove_contents(sub, dev);
                if (r < 0)
                        return r;
                if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                        return -errno;
        }
        return 0;
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
        int r = remove_contents(fd, st.st_dev);
        if (r < 0)
                return r;
        if (btrfs_is_subvolume_fd(fd)) {
                char parent[PATH_MAX];
                snprintf(parent, sizeof(parent), "%s", path);
                _cleanup_close_ int parent_fd = open(dirname(parent), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                char name[PATH_MAX];
                snprintf(name, sizeof(name), "%s", path);
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
