/* Per-agent resource limits: how their values are written (slipway.conf and `slipway run`
 * share these parsers, so both accept and refuse the same text). Each parser returns 0, or
 * -EINVAL with a reason ("expected ..., not \"x\"") written into reason. */
#ifndef SLIPWAY_LIMITS_H
#define SLIPWAY_LIMITS_H

#include <stddef.h>

#define LIMITS_CPUS_MAX 1024
#define LIMITS_MEMORY_MIN (6LL << 20)     /* Docker refuses less than 6 MiB */
#define LIMITS_PIDS_MAX 4194304LL         /* the kernel's PID_MAX_LIMIT */
/* The agent's disk: below 256 MiB the inner dockerd has no room for even one small image;
 * 16 TiB is ext4's limit with 4 KiB blocks and no 64bit feature, far above any real need. */
#define LIMITS_DISK_MIN (256LL << 20)
#define LIMITS_DISK_MAX (16LL << 40)

/* "1", "1.5", "0.25": a number of CPUs with at most 9 decimals, 0.01-LIMITS_CPUS_MAX, as
 * nano CPUs. */
int limits_parse_cpus(const char *value, long long *nano_cpus, char *reason, size_t size);
/* "4G": a number with an optional K, M, G or T (powers of 1024), bytes without; in [min, max].
 * min_name names the lower bound in the reason ("Docker's minimum"). */
int limits_parse_size(const char *value, long long min, const char *min_name, long long max,
                      long long *bytes, char *reason, size_t size);
/* Memory: a size of at least LIMITS_MEMORY_MIN. */
int limits_parse_memory(const char *value, long long *bytes, char *reason, size_t size);
/* Disk: a size in [LIMITS_DISK_MIN, LIMITS_DISK_MAX]. */
int limits_parse_disk(const char *value, long long *bytes, char *reason, size_t size);
/* Pids: 1-LIMITS_PIDS_MAX (0 means unlimited and is only a template default). */
int limits_parse_pids(const char *value, long long *pids, char *reason, size_t size);

#endif
