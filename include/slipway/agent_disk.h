/* An agent's disk limit: a per-agent ext4 file system in a sparse image file, loop-mounted by
 * the supervisor, holding everything a build can fill (so that it fails alone, with ENOSPC,
 * and the host and other agents never notice):
 *
 *   <agent dir>/disk.img          the image (sparse: takes only what is written)
 *   <agent dir>/disk/             its mount point, root-only
 *              disk/data-root     bind-mounted at /var/lib/docker (the inner dockerd)
 *              disk/home          at /home/jenkins (the workspace /home/jenkins/agent, tool
 *                                 caches like ~/.m2), owned by the agent user (uid 1000)
 *              disk/tmp           at /tmp
 *              disk/workspace     at the template's remote-fs when that is outside the home
 *
 * The loop device is set up with autoclear: it detaches itself once the file system is
 * unmounted (or, had the mount failed, once the setting-up process exits), so a crash can
 * leak a mount but never a device on its own; agent_disk_release undoes the mount. */
#ifndef SLIPWAY_AGENT_DISK_H
#define SLIPWAY_AGENT_DISK_H

#include <stdbool.h>

#include "slipway/error.h"
#include "slipway/seed.h"

#define AGENT_DISK_IMAGE "disk.img"
#define AGENT_DISK_MOUNT "disk"
#define AGENT_DISK_UID 1000 /* the agent user (jenkins/ssh-agent convention) */
#define AGENT_DISK_HOME_IN_CONTAINER "/home/jenkins"

/* Why strategy cannot seed a data root inside a disk limit (NULL: it can). layer-link and
 * copy can; reflink and btrfs-snapshot clone extents, which only works inside one file
 * system, and the generation lives outside the agent's own. */
const char *agent_disk_strategy_conflict(enum seed_strategy strategy);

/* Create <agent_dir>/disk.img of bytes, make the file system and mount it on
 * <agent_dir>/disk (an existing empty directory), with the directories above. On failure
 * nothing is mounted (the image file may remain: the agent directory's removal takes it). */
int agent_disk_create(const char *agent_dir, long long bytes, struct sw_error *err);

/* Whether the agent has a disk (its mount point exists, mounted or not). */
bool agent_disk_exists(const char *agent_dir);

/* Unmount the agent's disk and detach any loop device still backed by its image. Nothing
 * there is success. A mount that is busy (a process still inside) is detached lazily: it
 * disappears from the host at once and is freed when the last user goes. */
int agent_disk_release(const char *agent_dir, struct sw_error *err);

/* Loop devices backed by an image under <state_dir>/agents/ that no longer exists (deleted
 * while something still held the device): detach them. *released counts them. */
int agent_disk_sweep(const char *state_dir, int *released, struct sw_error *err);

#endif
