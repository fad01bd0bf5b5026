/* btrfs subvolumes through the kernel's ioctls: see include/slipway/btrfs.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "slipway/btrfs.h"
#include "slipway/cleanup.h"

/* The root directory of every subvolume has this inode number. */
#define BTRFS_SUBVOLUME_ROOT_INODE 256

int btrfs_on(const char *path, bool *on_btrfs)
{
        struct statfs sfs;
        if (statfs(path, &sfs) < 0)
                return -errno;
        *on_btrfs = sfs.f_type == BTRFS_SUPER_MAGIC;
        return 0;
}

bool btrfs_is_subvolume_fd(int fd)
{
        struct statfs sfs;
        struct stat st;
        return fstatfs(fd, &sfs) == 0 && sfs.f_type == BTRFS_SUPER_MAGIC && fstat(fd, &st) == 0 &&
               st.st_ino == BTRFS_SUBVOLUME_ROOT_INODE;
}

/* Split path into an open parent directory and the last component. */
static int open_parent(const char *path, char *name, size_t size)
{
        char dir[PATH_MAX];
        if (snprintf(dir, sizeof(dir), "%s", path) >= (int) sizeof(dir))
                return -ENAMETOOLONG;
        char *slash = strrchr(dir, '/');
        if (!slash || !slash[1])
                return -EINVAL;
        if (snprintf(name, size, "%s", slash + 1) >= (int) size)
                return -ENAMETOOLONG;
        if (slash == dir)
                slash[1] = '\0';
        else
                *slash = '\0';
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int btrfs_subvolume_create(const char *path)
{
        struct btrfs_ioctl_vol_args args = { 0 };
        _cleanup_close_ int parent = open_parent(path, args.name, sizeof(args.name));
        if (parent < 0)
                return parent;
        return ioctl(parent, BTRFS_IOC_SUBVOL_CREATE, &args) < 0 ? -errno : 0;
}

int btrfs_snapshot(const char *source, const char *dest)
{
        _cleanup_close_ int src = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src < 0)
                return -errno;
        if (!btrfs_is_subvolume_fd(src))
                return -ENOTSUP;
        struct btrfs_ioctl_vol_args_v2 args = { .fd = src };
        _cleanup_close_ int parent = open_parent(dest, args.name, sizeof(args.name));
        if (parent < 0)
                return parent;
        return ioctl(parent, BTRFS_IOC_SNAP_CREATE_V2, &args) < 0 ? -errno : 0;
}

int btrfs_subvolume_set_readonly(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        __u64 flags = 0;
        if (ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0)
                return -errno;
        flags |= BTRFS_SUBVOL_RDONLY;
        return ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &flags) < 0 ? -errno : 0;
}

int btrfs_subvolume_set_writable_fd(int fd)
{
        __u64 flags = 0;
        if (ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0)
                return -errno;
        if (!(flags & BTRFS_SUBVOL_RDONLY))
                return 0;
        flags &= ~(__u64) BTRFS_SUBVOL_RDONLY;
        return ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &flags) < 0 ? -errno : 0;
}

int btrfs_subvolume_delete_at(int parent_fd, const char *name)
{
        struct btrfs_ioctl_vol_args args = { 0 };
        if (snprintf(args.name, sizeof(args.name), "%s", name) >= (int) sizeof(args.name))
                return -ENAMETOOLONG;
        return ioctl(parent_fd, BTRFS_IOC_SNAP_DESTROY, &args) < 0 ? -errno : 0;
}
