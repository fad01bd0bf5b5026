/* Capabilities of agent containers.
 *
 * `--privileged` fails on hosts whose capability bounding set lacks a capability (here:
 * CAP_SYS_RESOURCE; "unable to apply caps: operation not permitted"). Agents instead get every
 * capability the host's bounding set holds: CapAdd ["ALL"] plus CapDrop of what it lacks. */
#ifndef SLIPWAY_CAPS_H
#define SLIPWAY_CAPS_H

#include <stdint.h>

#include "slipway/error.h"

/* The last capability dockerd 20.10 (API < 1.42) knows; it rejects newer names
 * (CAP_PERFMON, CAP_BPF, CAP_CHECKPOINT_RESTORE) even in CapDrop, and its "ALL" never
 * grants them anyway. */
#define CAPS_LAST_KNOWN_BY_OLD_DOCKER 37 /* CAP_AUDIT_READ */

/* Names ("CAP_SYS_RESOURCE", ...) of capabilities in 0..last_cap that are absent from the
 * bounding mask and no higher than known_max. Pure function, for tests. *out is a
 * NULL-terminated array (possibly empty) to free with sw_strvfreep. */
int caps_missing_from_mask(uint64_t bounding_mask, int last_cap, int known_max, char ***out,
                           struct sw_error *err);

/* The same for this host's bounding set, read with libcap. */
int caps_host_missing(int known_max, char ***out, struct sw_error *err);

/* Capabilities no agent gets even where the host has them: a nested dockerd and its builds do
 * not need them, and each reaches past the agent's own namespaces into the host kernel:
 * DAC_READ_SEARCH (open_by_handle_at opens host files outside every mount), SYS_MODULE,
 * SYS_RAWIO, SYS_PACCT, SYS_BOOT (kexec), SYS_TIME, AUDIT_CONTROL, MAC_OVERRIDE, MAC_ADMIN,
 * SYSLOG, WAKE_ALARM and BLOCK_SUSPEND. See SECURITY.md. */
#define CAPS_NEVER_FOR_AGENTS                                                                      \
        ((UINT64_C(1) << 2) | (UINT64_C(1) << 16) | (UINT64_C(1) << 17) | (UINT64_C(1) << 20) |   \
         (UINT64_C(1) << 22) | (UINT64_C(1) << 25) | (UINT64_C(1) << 30) | (UINT64_C(1) << 32) |  \
         (UINT64_C(1) << 33) | (UINT64_C(1) << 34) | (UINT64_C(1) << 35) | (UINT64_C(1) << 36))

/* What an agent's CapDrop lists: what the host lacks plus CAPS_NEVER_FOR_AGENTS. */
int caps_agent_drop(int known_max, char ***out, struct sw_error *err);

#endif
