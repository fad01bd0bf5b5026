/* Where builds may bind-mount from (INIT_BIND_ROOTS: jenkins' home with its workspaces, and
 * /tmp) is also where a nested container's root can write. A setuid-root binary or a device
 * node left there by such a container must not work for `jenkins` in the agent afterwards:
 * each root is bind-mounted on itself and remounted nosuid,nodev (which also ignores file
 * capabilities). */
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "init.h"

int init_workspace_harden(struct sw_error *err)
{
        static const char *const roots[] = INIT_BIND_ROOTS;
        for (size_t i = 0; roots[i]; i++) {
                struct stat st;
                if (stat(roots[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
                        init_log("%s is not a directory: not made nosuid", roots[i]);
                        continue;
                }
                if (mount(roots[i], roots[i], NULL, MS_BIND | MS_REC, NULL) < 0)
                        return sw_error_errno(err, errno, "bind-mount %s on itself", roots[i]);
                if (mount(NULL, roots[i], NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV, NULL) < 0)
                        return sw_error_errno(err, errno, "remount %s nosuid,nodev", roots[i]);
        }
        return 0;
}
