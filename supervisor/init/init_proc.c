/* A writable /proc/sys for the inner dockerd.
 *
 * Docker mounts /proc/sys (and a few other /proc paths) read-only in every container that is
 * not privileged, unless it is created with `--security-opt systempaths=unconfined` (over
 * the Engine API: empty MaskedPaths and ReadonlyPaths), which slipway does. The Jenkins
 * Docker plugin cannot ask for that, and without it dockerd 26 fails every nested container
 * ("failed to disable IPv6 on container's interface eth0"), because it writes the nested
 * network namespace's sysctls through this /proc. The read-only /proc/sys is a bind mount
 * over the container's own procfs; with CAP_SYS_ADMIN in the initial user namespace (no
 * MNT_LOCKED mounts) it can simply be unmounted, which gives what systempaths=unconfined
 * gives for /proc/sys and nothing more. */
#include <errno.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include "init.h"

#define PROC_SYS "/proc/sys"

static bool read_only(const char *path, int *error)
{
        struct statvfs vfs;
        if (statvfs(path, &vfs) < 0) {
                *error = errno;
                return false;
        }
        *error = 0;
        return vfs.f_flag & ST_RDONLY;
}

int init_proc_sys_writable(struct sw_error *err)
{
        int error = 0;
        int unmounted = 0;
        /* Stacked read-only mounts are possible (bounded: never loop on a stuck one). */
        while (read_only(PROC_SYS, &error) && unmounted < 8) {
                if (umount2(PROC_SYS, MNT_DETACH) < 0)
                        return sw_error_errno(err, errno, "%s is read-only and cannot be unmounted (create "
                                              "the container with systempaths=unconfined)", PROC_SYS);
                unmounted++;
        }
        if (error)
                return sw_error_errno(err, error, "statvfs %s", PROC_SYS);
        if (read_only(PROC_SYS, &error))
                return sw_error_set(err, EROFS, "%s stays read-only: create the container with "
                                    "systempaths=unconfined", PROC_SYS);
        if (unmounted)
                init_log("%s was read-only (no systempaths=unconfined): unmounted the read-only mount over it",
                         PROC_SYS);
        return 0;
}
