/* Limit values: see include/slipway/limits.h. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "slipway/error.h"
#include "slipway/limits.h"

#define NANO 1000000000LL
#define CPUS_MIN_NANO (NANO / 100) /* Docker refuses less than 0.01 CPU */


int limits_parse_cpus(const char *value, long long *out, char *reason, size_t size)
{
        long long whole = 0, fraction = 0, scale = NANO;
        const char *p = value;
        size_t whole_digits = 0, fraction_digits = 0;
        for (; *p >= '0' && *p <= '9' && whole_digits < 5; p++, whole_digits++)
                whole = whole * 10 + (*p - '0');
        if (*p == '.') {
                for (p++; *p >= '0' && *p <= '9' && fraction_digits < 9; p++, fraction_digits++) {
                        scale /= 10;
                        fraction += (*p - '0') * scale;
                }
                if (fraction_digits == 0)
                        whole_digits = 0; /* "1." is malformed */
        }
        long long nano = whole * NANO + fraction;
        if (whole_digits == 0 || *p != '\0' || nano < CPUS_MIN_NANO || nano > LIMITS_CPUS_MAX * NANO)
                return sw_reason_set(reason, size,
                                  "expected a number of CPUs from 0.01 to %d (e.g. 1.5), not \"%s\"",
                                  LIMITS_CPUS_MAX, value);
        *out = nano;
        return 0;
}

/* 1536M for 1.5 GiB: the largest unit that divides n, for messages. */
static void size_text(long long n, char *out, size_t size)
{
        static const char units[] = "KMGT";
        int unit = -1;
        while (unit < 3 && n > 0 && n % 1024 == 0) {
                n /= 1024;
                unit++;
        }
        if (unit < 0)
                snprintf(out, size, "%lld", n);
        else
                snprintf(out, size, "%lld%c", n, units[unit]);
}

int limits_parse_size(const char *value, long long min, const char *min_name, long long max,
                      long long *out, char *reason, size_t size)
{
        long long n = 0;
        const char *p = value;
        bool overflow = false;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (n > (LLONG_MAX - (*p - '0')) / 10)
                        overflow = true;
                else
                        n = n * 10 + (*p - '0');
        }
        static const char suffixes[] = "KkMmGgTt"; /* pairs: 2^10, 2^20, 2^30, 2^40 */
        int shift = 0;
        if (p == value) {
                shift = -1;
        } else if (*p != '\0') {
                const char *suffix = strchr(suffixes, *p);
                if (!suffix || p[1] != '\0')
                        shift = -1;
                else
                        shift = 10 * (int) ((suffix - suffixes) / 2 + 1);
        }
        if (shift < 0)
                return sw_reason_set(reason, size,
                                  "expected a size like 512M or 4G (K, M, G, T: powers of 1024), "
                                  "not \"%s\"", value);
        char bound[32];
        if (overflow || n > (LLONG_MAX >> shift))
                return sw_reason_set(reason, size, "\"%s\" is too large", value);
        if ((n << shift) > max) {
                size_text(max, bound, sizeof(bound));
                return sw_reason_set(reason, size, "\"%s\" is more than the maximum of %s", value, bound);
        }
        n <<= shift;
        if (n < min) {
                size_text(min, bound, sizeof(bound));
                return sw_reason_set(reason, size, "\"%s\" is less than %s of %s", value, min_name,
                                  bound);
        }
        *out = n;
        return 0;
}

int limits_parse_memory(const char *value, long long *out, char *reason, size_t size)
{
        return limits_parse_size(value, LIMITS_MEMORY_MIN, "Docker's minimum", LLONG_MAX, out, reason, size);
}

int limits_parse_disk(const char *value, long long *out, char *reason, size_t size)
{
        return limits_parse_size(value, LIMITS_DISK_MIN, "the minimum", LIMITS_DISK_MAX, out, reason, size);
}

int limits_parse_pids(const char *value, long long *out, char *reason, size_t size)
{
        long long n = 0;
        bool ok = value[0] != '\0';
        for (const char *p = value; ok && *p; p++) {
                if (*p < '0' || *p > '9' || n > LIMITS_PIDS_MAX)
                        ok = false;
                else
                        n = n * 10 + (*p - '0');
        }
        if (!ok || n < 1 || n > LIMITS_PIDS_MAX)
                return sw_reason_set(reason, size, "expected 1-%lld processes, not \"%s\"",
                                  LIMITS_PIDS_MAX, value);
        *out = n;
        return 0;
}
