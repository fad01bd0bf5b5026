/* Agent capabilities from the host bounding set: see include/slipway/caps.h. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>

#include "slipway/caps.h"
#include "slipway/cleanup.h"

/* "cap_sys_resource" -> "CAP_SYS_RESOURCE" (Docker's spelling). Unknown numbers get libcap's
 * numeric name, which Docker would reject: those never pass known_max. */
static char *capability_docker_name(int cap)
{
        char *lower = cap_to_name((cap_value_t) cap);
        if (!lower)
                return NULL;
        char *name = strdup(lower);
        cap_free(lower);
        if (!name)
                return NULL;
        for (char *p = name; *p; p++)
                *p = (char) toupper((unsigned char) *p);
        return name;
}

int caps_missing_from_mask(uint64_t bounding_mask, int last_cap, int known_max, char ***out,
                           struct sw_error *err)
{
        if (last_cap < 0 || last_cap > 63)
                return sw_error_set(err, EINVAL, "capabilities: bad last capability %d", last_cap);
        _cleanup_strv_ char **names = calloc((size_t) last_cap + 2, sizeof(char *));
        if (!names)
                return sw_error_errno(err, ENOMEM, "capabilities");
        size_t n = 0;
        for (int cap = 0; cap <= last_cap && cap <= known_max; cap++) {
                if (bounding_mask & (UINT64_C(1) << cap))
                        continue;
                names[n] = capability_docker_name(cap);
                if (!names[n])
                        return sw_error_errno(err, ENOMEM, "capabilities");
                n++;
        }
        *out = TAKE_PTR(names);
        return 0;
}

static int host_bounding_mask(uint64_t *mask_out, int *last_cap_out, struct sw_error *err);

int caps_host_missing(int known_max, char ***out, struct sw_error *err)
{
        uint64_t mask;
        int last_cap;
        int r = host_bounding_mask(&mask, &last_cap, err);
        return r < 0 ? r : caps_missing_from_mask(mask, last_cap, known_max, out, err);
}

int caps_agent_drop(int known_max, char ***out, struct sw_error *err)
{
        uint64_t mask;
        int last_cap;
        int r = host_bounding_mask(&mask, &last_cap, err);
        return r < 0 ? r : caps_missing_from_mask(mask & ~CAPS_NEVER_FOR_AGENTS, last_cap,
                                                  known_max, out, err);
}

static int host_bounding_mask(uint64_t *mask_out, int *last_cap_out, struct sw_error *err)
{
        /* cap_max_bits() is the running kernel's count, so this follows the host, not the
         * headers we were built with. */
        int last_cap = (int) cap_max_bits() - 1;
        if (last_cap > 63)
                last_cap = 63;
        uint64_t mask = 0;
        for (int cap = 0; cap <= last_cap; cap++) {
                int present = cap_get_bound((cap_value_t) cap);
                if (present < 0)
                        return sw_error_errno(err, errno, "read capability bounding set (cap %d)", cap);
                if (present)
                        mask |= UINT64_C(1) << cap;
        }
        *mask_out = mask;
        *last_cap_out = last_cap;
        return 0;
}
