/* btrfs subvolumes, for generations built and agents seeded on a btrfs state directory.
 * All return 0 or -errno. */
#ifndef SLIPWAY_BTRFS_H
#define SLIPWAY_BTRFS_H

#include <stdbool.h>

/* Whether path is on btrfs. */
int btrfs_on(const char *path, bool *on_btrfs);
/* Whether the directory open at fd is the root of a btrfs subvolume. */
bool btrfs_is_subvolume_fd(int fd);
/* Create the subvolume path (its parent must exist). */
int btrfs_subvolume_create(const char *path);
/* Snapshot the subvolume source as dest (which must not exist), writable. */
int btrfs_snapshot(const char *source, const char *dest);
/* Make a subvolume read-only: a frozen generation cannot change even on the host. */
int btrfs_subvolume_set_readonly(const char *path);
/* Make the subvolume open at fd writable again (to empty one that cannot be deleted whole). */
int btrfs_subvolume_set_writable_fd(int fd);
/* Delete the subvolume name in the directory open at parent_fd, with all it holds. */
int btrfs_subvolume_delete_at(int parent_fd, const char *name);

#endif
