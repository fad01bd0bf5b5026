/* Per-agent user namespace ranges: see include/slipway/userns.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slipway/agent.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/userns.h"

struct userns_layout userns_layout_default(void)
{
        return (struct userns_layout){ USERNS_DEFAULT_BASE, USERNS_DEFAULT_SIZE, USERNS_DEFAULT_COUNT };
}

int userns_layout_check(const struct userns_layout *layout, struct sw_error *err)
{
        unsigned long long end = (unsigned long long) layout->base +
                                 (unsigned long long) layout->size * layout->count;
        if (layout->size < USERNS_MIN_SIZE)
                return sw_error_set(err, EINVAL, "user namespace ranges of %u ids: need at least %u",
                                    layout->size, USERNS_MIN_SIZE);
        if (layout->count == 0)
                return sw_error_set(err, EINVAL, "user namespace ranges: need at least one");
        if (layout->base < 65536)
                return sw_error_set(err, EINVAL, "user namespace ranges from %u: ids below 65536 are the "
                                    "host's own", layout->base);
        if (end > 0xFFFFFFFFull)
                return sw_error_set(err, EINVAL, "user namespace ranges %u + %u x %u end at %llu, past "
                                    "the last usable id (2^32-2)", layout->base, layout->count,
                                    layout->size, end - 1);
        return 0;
}

static bool overlaps(unsigned long long a, unsigned long long a_size, unsigned long long b,
                     unsigned long long b_size)
{
        return a < b + b_size && b < a + a_size;
}

/* A host user or group (ids from /etc/passwd or /etc/group) or a subordinate range (from
 * /etc/subuid or /etc/subgid) inside [base, base+size): its description in why. */
static bool host_conflict(uint32_t base, uint32_t size, char *why, size_t why_size)
{
        static const struct {
                const char *path;
                int id_field; /* colon-separated field holding the id; -1: name:start:count */
        } sources[] = { { "/etc/passwd", 2 }, { "/etc/group", 2 }, { "/etc/subuid", -1 }, { "/etc/subgid", -1 } };
        for (size_t i = 0; i < ARRAY_SIZE(sources); i++) {
                _cleanup_fclose_ FILE *f = fopen(sources[i].path, "re");
                char line[1024];
                while (f && fgets(line, sizeof(line), f)) {
                        char *fields[4] = { 0 };
                        char *p = line;
                        for (int n = 0; n < 4 && p; n++) {
                                fields[n] = p;
                                p = strchr(p, ':');
                                if (p)
                                        *p++ = '\0';
                        }
                        unsigned long long start, count = 1;
                        if (sources[i].id_field >= 0) {
                                if (!fields[2])
                                        continue;
                                start = strtoull(fields[2], NULL, 10);
                        } else {
                                if (!fields[1] || !fields[2])
                                        continue;
                                start = strtoull(fields[1], NULL, 10);
                                count = strtoull(fields[2], NULL, 10);
                        }
                        if (overlaps(base, size, start, count)) {
                                snprintf(why, why_size, "%s has %s at %llu%s%.0llu", sources[i].path,
                                         fields[0], start, count > 1 ? "+" : "", count > 1 ? count : 0);
                                return true;
                        }
                }
        }
        return false;
}

bool userns_layout_conflict(const struct userns_layout *layout, char *why, size_t size)
{
        unsigned long long span = (unsigned long long) layout->size * layout->count;
        if (span > 0xFFFFFFFFull - layout->base) {
                snprintf(why, size, "the ranges end past 2^32-1");
                return true;
        }
        return host_conflict(layout->base, (uint32_t) span, why, size);
}

static int userns_dir_open(const char *state_dir, struct sw_error *err)
{
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/" USERNS_DIR, state_dir) < 0)
                return sw_error_set(err, ENOMEM, "user namespace claims");
        int r = fs_mkdir_p(dir, 0700);
        if (r < 0)
                return sw_error_errno(err, -r, "create %s", dir);
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        return fd < 0 ? sw_error_errno(err, errno, "open %s", dir) : fd;
}

/* An exclusive lock over the claims: reading them and adding one is then atomic. */
static int userns_lock(int dir_fd, struct sw_error *err)
{
        int fd = openat(dir_fd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return sw_error_errno(err, errno, "user namespace claims: lock");
        while (flock(fd, LOCK_EX) < 0) {
                if (errno != EINTR) {
                        int saved = errno;
                        close(fd);
                        return sw_error_errno(err, saved, "user namespace claims: lock");
                }
        }
        return fd;
}

/* A claim's name "<base>-<size>" (digits only), parsed. */
static bool claim_parse(const char *name, struct userns_range *range)
{
        char *end;
        if (name[0] < '0' || name[0] > '9')
                return false;
        unsigned long long base = strtoull(name, &end, 10);
        if (*end != '-' || end[1] < '0' || end[1] > '9')
                return false;
        unsigned long long size = strtoull(end + 1, &end, 10);
        if (*end || base > 0xFFFFFFFFull || size > 0xFFFFFFFFull)
                return false;
        range->base = (uint32_t) base;
        range->size = (uint32_t) size;
        return true;
}

/* The agent id a claim points to (into id, NUL-terminated); false when it is not a claim. */
static bool claim_owner(int dir_fd, const char *name, char *id, size_t size)
{
        ssize_t len = readlinkat(dir_fd, name, id, size - 1);
        if (len <= 0)
                return false;
        id[len] = '\0';
        return true;
}

int userns_claim(const char *state_dir, const struct userns_layout *layout, const char *agent_id,
                 struct userns_range *range, struct sw_error *err)
{
        int r = userns_layout_check(layout, err);
        if (r < 0)
                return r;
        _cleanup_close_ int dir = userns_dir_open(state_dir, err);
        if (dir < 0)
                return dir;
        _cleanup_close_ int lock = userns_lock(dir, err);
        if (lock < 0)
                return lock;
        /* The ranges held now: the candidates must avoid all of them, whatever layout the
         * process that claimed them used. */
        _cleanup_free_ struct userns_range *held = NULL;
        size_t held_count = 0, held_size = 0;
        {
                _cleanup_closedir_ DIR *d = fdopendir(dup(dir));
                if (!d)
                        return sw_error_errno(err, errno, "read the user namespace claims");
                struct dirent *entry;
                while ((entry = readdir(d))) {
                        struct userns_range range_held;
                        if (!claim_parse(entry->d_name, &range_held))
                                continue;
                        if (held_count == held_size) {
                                size_t grown = held_size ? 2 * held_size : 64;
                                struct userns_range *more = reallocarray(held, grown, sizeof(*held));
                                if (!more)
                                        return sw_error_set(err, ENOMEM, "user namespace claims");
                                held = more;
                                held_size = grown;
                        }
                        held[held_count++] = range_held;
                }
        }
        for (uint32_t i = 0; i < layout->count; i++) {
                struct userns_range candidate = { layout->base + i * layout->size, layout->size };
                bool taken = false;
                for (size_t j = 0; j < held_count && !taken; j++)
                        taken = overlaps(candidate.base, candidate.size, held[j].base, held[j].size);
                if (taken)
                        continue;
                char why[512];
                if (host_conflict(candidate.base, candidate.size, why, sizeof(why)))
                        return sw_error_set(err, EEXIST, "user namespace range %u-%u overlaps host ids "
                                            "(%s): move the ranges (userns-base in slipway.conf)",
                                            candidate.base, candidate.base + candidate.size - 1, why);
                char name[32];
                snprintf(name, sizeof(name), "%u-%u", candidate.base, candidate.size);
                if (symlinkat(agent_id, dir, name) < 0)
                        return sw_error_errno(err, errno, "claim user namespace range %s", name);
                *range = candidate;
                return 0;
        }
        return sw_error_set(err, ENOSPC, "no free user namespace range: all %u are held (%s/" USERNS_DIR
                            "); destroy agents or raise userns-count", layout->count, state_dir);
}

/* Walk the claims, calling visit for each (name, owner); stops on a negative return. */
static int claims_each(const char *state_dir, int (*visit)(int dir, const char *name, const char *owner, void *ctx),
                       void *ctx)
{
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/" USERNS_DIR, state_dir) < 0)
                return -ENOMEM;
        _cleanup_close_ int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dir < 0)
                return errno == ENOENT ? 0 : -errno;
        /* Under the claims' lock: a claim removed here is never one made meanwhile. */
        struct sw_error lock_err;
        _cleanup_close_ int lock = userns_lock(dir, &lock_err);
        if (lock < 0)
                return -lock_err.code;
        _cleanup_closedir_ DIR *d = fdopendir(dup(dir));
        if (!d)
                return -errno;
        struct dirent *entry;
        while ((entry = readdir(d))) {
                struct userns_range ignored;
                char owner[64];
                if (!claim_parse(entry->d_name, &ignored) || !claim_owner(dir, entry->d_name, owner, sizeof(owner)))
                        continue;
                int r = visit(dir, entry->d_name, owner, ctx);
                if (r != 0)
                        return r;
        }
        return 0;
}

struct lookup_ctx {
        const char *id;
        struct userns_range *range;
};

static int lookup_visit(int dir, const char *name, const char *owner, void *ctx)
{
        (void) dir;
        struct lookup_ctx *c = ctx;
        return strcmp(owner, c->id) == 0 && claim_parse(name, c->range) ? 1 : 0;
}

int userns_lookup(const char *state_dir, const char *agent_id, struct userns_range *range)
{
        struct lookup_ctx c = { agent_id, range };
        int r = claims_each(state_dir, lookup_visit, &c);
        return r == 1 ? 0 : (r < 0 ? r : -ENOENT);
}

static int release_visit(int dir, const char *name, const char *owner, void *ctx)
{
        if (strcmp(owner, ctx) == 0 && unlinkat(dir, name, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int userns_release(const char *state_dir, const char *agent_id)
{
        return claims_each(state_dir, release_visit, (void *) agent_id);
}

struct reclaim_ctx {
        const char *state_dir;
        int count;
};

static int reclaim_visit(int dir, const char *name, const char *owner, void *ctx)
{
        struct reclaim_ctx *c = ctx;
        _cleanup_free_ char *agent_dir = NULL;
        if (asprintf(&agent_dir, "%s/agents/%s", c->state_dir, owner) < 0)
                return -ENOMEM;
        struct stat st;
        /* An owner that is no agent id of ours is no claim of ours either: it goes too. */
        if (agent_id_valid(owner) && lstat(agent_dir, &st) == 0)
                return 0;
        if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
                return -errno;
        c->count++;
        return 0;
}

int userns_reclaim(const char *state_dir, int *reclaimed, struct sw_error *err)
{
        struct reclaim_ctx c = { state_dir, 0 };
        int r = claims_each(state_dir, reclaim_visit, &c);
        if (reclaimed)
                *reclaimed = c.count;
        return r < 0 ? sw_error_errno(err, -r, "reclaim user namespace ranges in %s/" USERNS_DIR, state_dir) : 0;
}
