/* Per-agent user namespace ranges.
 *
 * Every agent's inner world (its dockerd, sshd and builds) runs in a user namespace whose ids
 * 0..size-1 are host ids base..base+size-1 (slipway-init sets it up from SLIPWAY_USERNS). Each
 * agent gets a range of its own, which overlaps no host user or group, no /etc/subuid or
 * /etc/subgid range, and no other agent's range: so root in one agent owns nothing of the host
 * and nothing of its neighbours.
 *
 * The state directory records who holds which range, one symlink per claim:
 *   <state>/userns/<base>-<size> -> <agent id>
 * created under an exclusive lock on <state>/userns/.lock (slipway run and slipway serve may
 * claim at the same time), removed when the agent is destroyed, and reclaimed when its agent's
 * directory is gone (a crash between the two). */
#ifndef SLIPWAY_USERNS_H
#define SLIPWAY_USERNS_H

#include <stdbool.h>
#include <stdint.h>

#include "slipway/error.h"

/* systemd reserves 0x00080000-0x6FFFFFFF for containers it allocates (nspawn) and ids from
 * 0x7FFE0000 up for itself; slipway takes 1024 ranges of 65536 from 0x70000000. */
#define USERNS_DEFAULT_BASE 0x70000000u
#define USERNS_DEFAULT_SIZE 65536u
#define USERNS_DEFAULT_COUNT 1024u
#define USERNS_MIN_SIZE 65536u /* nogroup (65534) must map */
#define USERNS_DIR "userns"

struct userns_layout {
        uint32_t base;  /* first host id of the first range */
        uint32_t size;  /* ids per agent */
        uint32_t count; /* ranges */
};

struct userns_range {
        uint32_t base;
        uint32_t size;
};

/* The default layout. */
struct userns_layout userns_layout_default(void);
/* Whether layout fits below 2^32-1 with a usable size ("why" in err otherwise). */
int userns_layout_check(const struct userns_layout *layout, struct sw_error *err);

/* Whether any range of layout holds a host user or group id or a subordinate range (its
 * description in why). */
bool userns_layout_conflict(const struct userns_layout *layout, char *why, size_t size);

/* Claim a free range of layout for agent_id; fails with a clear error when none is free or
 * the layout overlaps host ids. */
int userns_claim(const char *state_dir, const struct userns_layout *layout, const char *agent_id,
                 struct userns_range *range, struct sw_error *err);
/* The range agent_id holds (-ENOENT: none). */
int userns_lookup(const char *state_dir, const char *agent_id, struct userns_range *range);
/* Give back every range agent_id holds. Missing is success. */
int userns_release(const char *state_dir, const char *agent_id);
/* Give back the ranges of agents whose directory <state>/agents/<id> is gone; *reclaimed
 * counts them. */
int userns_reclaim(const char *state_dir, int *reclaimed, struct sw_error *err);

/* The contract with slipway-init: the agent's range as USERNS_ENV=BASE:SIZE (also its label
 * AGENT_LABEL_USERNS, BASE:SIZE), or USERNS_ENV=USERNS_ENV_OFF for a cache builder, whose data
 * root becomes a generation that keeps the images' own owners. Unset: a template agent, which
 * picks a range of its own below USERNS_DEFAULT_BASE (init_userns.c). */
#define USERNS_ENV "SLIPWAY_USERNS"
#define USERNS_ENV_OFF "off"

#endif
