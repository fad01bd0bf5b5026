/* slipway doctor: the kernel and host prerequisites of agents and of `slipway serve`, each
 * checked and, when it fails, given the exact fix.
 *
 * The result is a JSON array, one object per check, in a fixed order:
 *   {"check": "overlay", "status": "PASS", "detail": "overlay file system available"}
 *   {"check": "state-dir", "status": "FAIL", "detail": "/x is on overlayfs ...", "fix": "..."}
 * status is PASS, WARN (works, with a limit worth knowing) or FAIL (agents or serve will not
 * work); "fix" is present unless the status is PASS. A check that cannot run because an earlier
 * one failed (no Docker: no image check) says so as a WARN: the FAIL it depends on is there.
 * Nothing here prints; the verb decides how to show it. */
#ifndef SLIPWAY_DOCTOR_H
#define SLIPWAY_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "slipway/error.h"

enum doctor_status { DOCTOR_PASS, DOCTOR_WARN, DOCTOR_FAIL };

/* Below these, the state dir's free space is a FAIL or a WARN: every agent's data root grows
 * with what its build pulls and builds, and a full disk fails builds half-way. */
#define DOCTOR_FREE_FAIL_BYTES (UINT64_C(2) << 30)
#define DOCTOR_FREE_WARN_BYTES (UINT64_C(20) << 30)
#define DOCTOR_FREE_MIN_PERCENT 5 /* of bytes and of inodes: WARN below */

struct doctor_options {
        const char *docker_host; /* unix:///PATH, or NULL: $DOCKER_HOST, then the default */
        const char *state_dir;   /* NULL: AGENT_DEFAULT_STATE_DIR */
        /* slipway.conf to check (validity, Jenkins, its templates' images, cache and seed
         * strategies), or NULL for none. When it loads, its [host] state-dir and docker-host
         * (what `slipway serve` uses) replace the two above. */
        const char *config_path;
};

/* Run every check. Returns 0 with *results set (whatever the statuses), or -ENOMEM. */
int doctor_run(const struct doctor_options *options, json_t **results, struct sw_error *err);

/* "PASS", "WARN", "FAIL". */
const char *doctor_status_name(enum doctor_status status);

/* How many results have that status. */
size_t doctor_count(json_t *results, enum doctor_status status);

/* Append {"check", "status", "detail"[, "fix"]} to results; fix is dropped for PASS.
 * Returns 0 or -ENOMEM. */
int doctor_add(json_t *results, const char *check, enum doctor_status status, const char *fix,
               const char *detail_fmt, ...) __attribute__((format(printf, 5, 6)));

/* Pure helpers, exposed for the unit tests. */

/* Whether /proc/filesystems text lists the file system name ("overlay", "btrfs"). */
bool doctor_filesystems_has(const char *proc_filesystems, const char *name);

/* A statfs f_type as a name ("ext4", "xfs", "btrfs", "overlayfs", "tmpfs", ...), NULL when
 * unknown. ext2, ext3 and ext4 share one magic number: all are "ext4". */
const char *doctor_fs_type_name(unsigned long magic);

/* Whether a state dir may live on that file system: PASS for the ones overlay2 is known to
 * stack on (ext4, xfs, btrfs), FAIL for ones it cannot (overlayfs, network and FUSE file
 * systems, ...), WARN for tmpfs (agents' data roots in memory) and unknown types. *why gets a
 * short reason for anything but PASS. */
enum doctor_status doctor_state_fs_status(unsigned long magic, const char **why);

/* The cgroup controllers agents need that are not available, space-separated into out ("" when
 * none). v1: available is /proc/self/mountinfo (each controller must be mounted as a cgroup v1
 * hierarchy: slipway-init remounts those it finds); v2: the root's cgroup.controllers. */
void doctor_cgroup_missing(bool v2, const char *available, char *out, size_t size);

/* Whether an agent without this capability ("CAP_SYS_ADMIN") cannot run its own dockerd at
 * all, rather than only lose `docker run --privileged` inside. */
bool doctor_capability_critical(const char *name);

/* The free space verdict for the state dir's file system. */
enum doctor_status doctor_free_space_status(uint64_t avail_bytes, uint64_t total_bytes,
                                            uint64_t avail_inodes, uint64_t total_inodes);

/* The fix for a failed docker_open (its negative return value), for that host. Returns out. */
const char *doctor_docker_fix(int code, const char *host, char *out, size_t size);

/* The fix for a failed jenkins_open/jenkins_ping (its negative return value). secret_file
 * names the token or password file (may be NULL). Returns out. */
const char *doctor_jenkins_fix(int code, const char *url, const char *user, const char *secret_file,
                               char *out, size_t size);

/* The SSH Build Agents plugin versions slipway's agents need (ed25519 host and client keys,
 * current key exchanges): ssh-slaves DOCTOR_SSH_SLAVES_MIN with trilead-api
 * DOCTOR_TRILEAD_API_MIN (Jenkins 2.204 and later). */
#define DOCTOR_SSH_SLAVES_MIN "1.29.0"
#define DOCTOR_TRILEAD_API_MIN "1.0.13"

/* Jenkins plugin versions: the leading dot-separated numbers ("2.948.vb_8050d697fec" is 2.948;
 * "1.29.0" is 1.29.0), compared numerically; what follows is ignored. <0, 0 or >0. */
int doctor_plugin_version_compare(const char *a, const char *b);

/* The verdict on the plugins array of /pluginManager/api/json: PASS when both plugins are at
 * least their minimum, WARN otherwise, with what is old or missing in out. */
enum doctor_status doctor_ssh_plugins_status(const json_t *plugins, char *out, size_t size);

#endif
