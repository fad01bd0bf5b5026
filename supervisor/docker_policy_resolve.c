/* The path resolver the Docker policy proxy judges bind-mount sources with: what the kernel
 * will find when dockerd mounts the path (symlinks followed). Kept apart from the pure policy
 * (docker_policy.c) because it reads the file system. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/docker_policy.h"

int docker_policy_resolve_path(const char *path, char *out, size_t size, void *data)
{
        (void) data;
        char prefix[PATH_MAX];
        if (path[0] != '/' || strlen(path) >= sizeof(prefix))
                return -EINVAL;
        strcpy(prefix, path);
        /* realpath(3) of the longest existing prefix; the rest does not exist, so it holds no
         * symlink (yet: SECURITY.md describes that race) and dockerd will create it as is. */
        for (;;) {
                char real[PATH_MAX];
                if (realpath(prefix, real)) {
                        const char *tail = path + strlen(prefix);
                        const char *base = strcmp(real, "/") == 0 && *tail ? "" : real;
                        if (strlen(base) + strlen(tail) + 1 > size)
                                return -ENAMETOOLONG;
                        snprintf(out, size, "%s%s", base, tail);
                        return 0;
                }
                if (errno != ENOENT)
                        return -errno;
                char *slash = strrchr(prefix, '/');
                if (!slash)
                        return -EINVAL;
                if (slash == prefix) {
                        /* Nothing below / exists: the path is what it says. */
                        if (strlen(path) + 1 > size)
                                return -ENAMETOOLONG;
                        snprintf(out, size, "%s", path);
                        return 0;
                }
                *slash = '\0';
        }
}
