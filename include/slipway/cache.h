/* The layer cache: read-only generations of a pre-populated dockerd data root.
 *
 *   <state dir>/cache/generations/<id>/data-root    a stopped dockerd's overlay2 data root
 *   <state dir>/cache/generations/<id>/manifest.json  images, layers, bytes, sources
 *   <state dir>/cache/current -> generations/<id>     replaced atomically (rename)
 *   <state dir>/cache/building/<id>/                  a generation being built
 *   <state dir>/cache/lock                            flock: users shared, gc exclusive
 *
 * A generation is built by the agents' own dockerd (a seeder container of the agent image),
 * so its on-disk format always matches what agents run. It is never modified once built:
 * agents seeded from it reference its layers, and they mount it read-only. */
#ifndef SLIPWAY_CACHE_H
#define SLIPWAY_CACHE_H

#include <jansson.h>
#include <stdbool.h>

#include "slipway/docker.h"
#include "slipway/error.h"

#define CACHE_GENERATION_ID_MAX 40

struct cache_build_options {
        const char *state_dir;
        const char *agent_image;      /* the seeder's image: the agents' own */
        const char *const *images;    /* images on the outer daemon, NULL-terminated, may be NULL */
        const char *const *tar_files; /* `docker save` archives, NULL-terminated, may be NULL */
        /* Step `step` of `steps` begins (the last call, step == steps, reports the result). */
        void (*progress)(void *user, int step, int steps, const char *message);
        void *progress_user;
};

/* Build a generation and make it current. Nothing is left behind on failure and `current`
 * never points at an incomplete generation. Holds the cache lock shared throughout. */
int cache_build(struct docker_client *docker, const struct cache_build_options *options,
                char **generation_out, struct sw_error *err);

/* The current generation's id and data root; -ENOENT when there is none. */
int cache_current(const char *state_dir, char **generation, char **data_root, struct sw_error *err);

/* The data root of a named generation; -ENOENT when it does not exist. */
int cache_generation_root(const char *state_dir, const char *generation, char **data_root,
                          struct sw_error *err);

/* Recompute a generation's digest (NULL: the current one) and compare it with its manifest.
 * 0 when unchanged; -EUCLEAN with both digests in err when it changed. *digest_out (may be
 * NULL) receives the recomputed digest. */
int cache_verify(const char *state_dir, const char *generation, char **generation_out,
                 char **digest_out, struct sw_error *err);

/* Take the cache lock, <state dir>/cache/lock (flock; the directory is created if needed),
 * waiting as long as it takes. A generation is pinned against gc by the io.slipway.generation
 * label of an agent container, but an agent only gets that container after it chose and seeded
 * from its generation, and a build's directories are unpinned before its seeder exists and
 * after it is gone. Whoever is in such a window holds the lock SHARED (agents starting, builds);
 * cache_gc holds it EXCLUSIVE while it decides and removes. *fd_out (close-on-exec) holds the
 * lock until cache_unlock. flock locks belong to the open file: never ask again on a second fd
 * while holding one in the same process (an exclusive request would wait for itself). */
int cache_lock(const char *state_dir, bool exclusive, int *fd_out, struct sw_error *err);

/* Release a lock taken by cache_lock, if any (*fd >= 0), and set *fd to -1. */
void cache_unlock(int *fd);

/* Remove generations that are neither current nor pinned by an agent container of state_dir,
 * and leftovers of builds whose seeder is gone. *removed: a JSON array of what went. Holds the
 * cache lock exclusive: waits for agents being started and builds under way. */
int cache_gc(struct docker_client *docker, const char *state_dir, json_t **removed,
             struct sw_error *err);

/* Every generation's manifest, with "current": true on the current one. */
int cache_list(const char *state_dir, json_t **out, struct sw_error *err);

#endif
