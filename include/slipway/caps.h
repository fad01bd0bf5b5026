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

#endif
