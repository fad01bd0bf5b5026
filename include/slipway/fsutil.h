/* File system helpers. All return 0 or -errno unless stated. */
#ifndef SLIPWAY_FSUTIL_H
#define SLIPWAY_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* mkdir -p; the last component gets mode, parents 0755. */
int fs_mkdir_p(const char *path, mode_t mode);

/* Remove a tree without following symlinks and without crossing into other file systems:
 * a mount found inside is an error (-EBUSY), never a descent; a btrfs subvolume inside (or
 * at path) is deleted whole, or, when it holds subvolumes of its own, made writable, emptied
 * like a directory and deleted. Missing path is success. The walk is iterative and works on
 * fds with *at() calls, so neither depth nor paths past PATH_MAX defeat it: it holds at most
 * 17 fds whatever the depth (levels further up are re-opened through ".."), and 8 bytes per
 * level to check each re-opened level is still the one left: -ESTALE if the tree was moved
 * or swapped under it meanwhile. */
int fs_remove_tree(const char *path);

/* Write all of data to fd, retrying short writes and EINTR. */
int fs_write_all(int fd, const void *data, size_t len);

/* Write text to an existing file (a sysctl, a cgroup or /proc file): no O_CREAT, never
 * through a symlink. */
int fs_write_text(const char *path, const char *text);

/* Move the owners of everything below dir_fd (not dir_fd itself) into a user namespace's
 * range: an id below size becomes base + id, any other stays. Never follows a symlink, never
 * leaves dir_fd's file system, and puts back the setuid and setgid bits chown clears. With
 * FS_SHIFT_SKIP_LINKED, a file with a second link is left alone: it may be a link to a file
 * that is not the tree's own. Recursive, with one fd per level: at most max_depth levels
 * (-ELOOP beyond), for trees the caller trusts to be shallow. */
#define FS_SHIFT_SKIP_LINKED 1u
int fs_shift_owners(int dir_fd, uid_t base, uid_t size, unsigned flags, int max_depth);

/* Write a file atomically: temp file in the same directory, fsync, rename, fsync dir. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* A notice between processes in the directory dir_fd: text written to ".NAME.tmp" and renamed
 * to name, so a reader sees it whole or not at all. No fsync: it need not survive a crash. */
int fs_write_notice_at(int dir_fd, const char *name, const char *text);

/* Read a non-blocking inotify descriptor until it is empty, calling each for every event, but
 * at most max_reads reads: a writer in a loop cannot keep the caller there. */
struct inotify_event;
void fs_inotify_drain(int fd, unsigned max_reads,
                      void (*each)(const struct inotify_event *event, void *user), void *user);

/* Read a whole file of at most max bytes (-EFBIG beyond) into a NUL-terminated buffer. */
int fs_read_bounded(const char *path, size_t max, char **out, size_t *len_out);

/* Whether path lives on overlayfs (where an inner overlay2 data root cannot live). */
int fs_is_overlay(const char *path, bool *overlay);

/* n random bytes as 2n lowercase hex chars plus NUL into out (size >= 2n+1). */
int random_hex(char *out, size_t n);

#endif
