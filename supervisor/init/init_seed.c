/* Seeding the inner data root inside the agent, for agents nobody seeded on the host.
 *
 * slipway itself seeds an agent's data root on the host before the container exists. An
 * agent started by someone else (a Jenkins Docker plugin cloud template) gets an empty data
 * root, usually the image's anonymous /var/lib/docker volume; when a cache generation is
 * mounted read-only at SEED_MOUNT, the init seeds it here with the very code the supervisor
 * uses (seed.c, layer-link), so both kinds of agents see the same data root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/seed.h"

/* Whether dir holds anything but lost+found (a fresh ext4 file system mounted there). */
static int directory_empty(const char *dir, bool *empty)
{
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d)
                return -errno;
        *empty = true;
        struct dirent *entry;
        while ((entry = readdir(d))) {
                const char *name = entry->d_name;
                if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && strcmp(name, "lost+found") != 0) {
                        *empty = false;
                        break;
                }
        }
        return 0;
}

/* After a failed seeding: empty the data root again (it is usually a mount point, which
 * stays), so that a restart of the container does not take half a seed for a whole one. */
static void empty_directory(const char *dir)
{
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *entry;
        while (d && (entry = readdir(d))) {
                const char *name = entry->d_name;
                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, "lost+found") == 0)
                        continue;
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", dir, name);
                int r = fs_remove_tree(path);
                if (r < 0)
                        init_log("cannot remove %s after the failed seeding: %s", path, strerror(-r));
        }
}

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

int init_seed_data_root(struct sw_error *err)
{
        struct stat st;
        if (stat(SEED_MOUNT, &st) < 0) {
                if (errno != ENOENT)
                        return sw_error_errno(err, errno, "seed: %s", SEED_MOUNT);
                init_log("no cache generation at %s: starting cold", SEED_MOUNT);
                return 0;
        }
        bool empty = false;
        int r = directory_empty(INIT_DATA_ROOT, &empty);
        if (r < 0)
                return sw_error_errno(err, -r, "seed: read %s", INIT_DATA_ROOT);
        if (!empty) {
                /* slipway seeded it on the host, or this container ran before. */
                init_log("data root %s already populated: not seeding it from %s", INIT_DATA_ROOT,
                         SEED_MOUNT);
                return 0;
        }
        /* Linked layers are shared by every agent seeded from the generation and by the images
         * built on them later: a writable mount would let this agent change them all. */
        struct statvfs vfs;
        if (statvfs(SEED_MOUNT, &vfs) < 0)
                return sw_error_errno(err, errno, "seed: %s", SEED_MOUNT);
        if (!(vfs.f_flag & ST_RDONLY))
                return sw_error_set(err, EPERM, "seed: %s is writable: mount the cache generation "
                                    "read-only (readonly / :ro)", SEED_MOUNT);
        double started = now_ms();
        struct seed_stats stats;
        r = seed_data_root(SEED_MOUNT, INIT_DATA_ROOT, SEED_MOUNT, SEED_LAYER_LINK, init_userns_outside(0), &stats, err);
        if (r < 0) {
                empty_directory(INIT_DATA_ROOT);
                return r;
        }
        init_log("seeded the data root from the cache generation at %s (layer-link): %u layers in %.0f ms",
                 SEED_MOUNT, stats.layers, now_ms() - started);
        return 0;
}
