/* Seeding an agent's data root from a frozen cache generation (see DESIGN.md).
 *
 * A generation is a stopped dockerd's overlay2 data root, frozen read-only and mounted
 * read-only into agents at SEED_MOUNT. layer-link seeding copies only metadata: each
 * overlay2/<id>/ becomes a real, writable directory whose `diff` is a symlink to
 * SEED_MOUNT/overlay2/<id>/diff, and a `committed` marker makes the driver use those layers
 * as lower dirs only. Cost grows with the number of layers, not with bytes. */
#ifndef SLIPWAY_SEED_H
#define SLIPWAY_SEED_H

#include <sys/types.h>

#include "slipway/error.h"

#define SEED_MOUNT "/var/lib/slipway-seed"

enum seed_strategy {
        SEED_LAYER_LINK, /* metadata copied, diff dirs linked to the read-only mount */
        SEED_REFLINK,    /* everything cloned with FICLONE (fails where unsupported) */
        SEED_COPY,       /* everything copied: always works, slow */
        SEED_BTRFS_SNAPSHOT, /* a writable snapshot of a generation that is a btrfs subvolume */
};

struct seed_stats {
        unsigned layers;
        unsigned files;
        unsigned directories;
        unsigned symlinks;
        unsigned long long bytes; /* file bytes copied or cloned */
};

const char *seed_strategy_name(enum seed_strategy strategy);
int seed_strategy_parse(const char *name, enum seed_strategy *out);

/* Build target (an empty, existing directory; btrfs-snapshot replaces it) from generation. seed_mount: where the agent
 * sees the generation (layer-link only; NULL for SEED_MOUNT). owner_shift: the host id of the
 * agent's user namespace root; every owner below 65536 that seeding writes is moved up by it
 * (0: owners as they are). Layers linked with layer-link keep the generation's owners: the
 * agent sees them through an idmapped mount. */
int seed_data_root(const char *generation, const char *target, const char *seed_mount,
                   enum seed_strategy strategy, uid_t owner_shift, struct seed_stats *stats,
                   struct sw_error *err);

#endif
