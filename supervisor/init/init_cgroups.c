/* Writable cgroups for the inner dockerd.
 *
 * cgroup v1: inside a non-privileged container the hierarchies under /sys/fs/cgroup are
 * mounted read-only and cannot be remounted read-write (EBUSY), so each one is unmounted and
 * a fresh hierarchy with the same controllers mounted in its place. The agent runs in a
 * private cgroup namespace, so the fresh mounts show the agent's own subtree.
 * cgroup v2: controllers can only be enabled for children of a cgroup with no processes of
 * its own, so every process moves into an "init" child first. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "init.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"

#define CGROUP2_SUPER_MAGIC 0x63677270
#define CGROUP_ROOT "/sys/fs/cgroup"

/* What init_cgroups_prepare found and mounted: the user namespace delegates and mounts the
 * same hierarchies (init_userns.c). */
static struct init_cgroup_hierarchy hierarchies[INIT_CGROUP_HIERARCHIES_MAX];
static size_t hierarchy_count;
static bool unified;

size_t init_cgroups_hierarchies(const struct init_cgroup_hierarchy **list, bool *v2)
{
        *list = hierarchies;
        *v2 = unified;
        return hierarchy_count;
}

int init_cgroups_mount(const struct init_cgroup_hierarchy *list, size_t count, struct sw_error *err)
{
        const unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
        if (unified)
                return mount("cgroup2", CGROUP_ROOT, "cgroup2", flags, NULL) < 0
                               ? sw_error_errno(err, errno, "mount cgroup2 on %s", CGROUP_ROOT) : 0;
        if (mount("tmpfs", CGROUP_ROOT, "tmpfs", flags, "mode=755") < 0)
                return sw_error_errno(err, errno, "mount tmpfs on %s", CGROUP_ROOT);
        for (size_t i = 0; i < count; i++) {
                const struct init_cgroup_hierarchy *h = &list[i];
                if (mkdir(h->path, 0755) < 0 && errno != EEXIST)
                        return sw_error_errno(err, errno, "mkdir %s", h->path);
                if (mount("cgroup", h->path, "cgroup", flags, h->options) < 0)
                        return sw_error_errno(err, errno, "mount cgroup (%s) on %s", h->options, h->path);
                /* "cpu,cpuacct" is also reachable as "cpu" and "cpuacct", as on the host. */
                const char *name = strrchr(h->path, '/') + 1;
                if (!strchr(name, ','))
                        continue;
                char copy[256];
                snprintf(copy, sizeof(copy), "%s", name);
                char *save = NULL;
                for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
                        char link[PATH_MAX];
                        snprintf(link, sizeof(link), CGROUP_ROOT "/%s", part);
                        if (symlink(name, link) < 0 && errno != EEXIST)
                                return sw_error_errno(err, errno, "symlink %s", link);
                }
        }
        return 0;
}

/* Keep only the controller and name= options of a cgroup mount (drop ro, relatime...). */
static void controller_options(const char *all, char *out, size_t size)
{
        out[0] = '\0';
        char copy[512];
        snprintf(copy, sizeof(copy), "%s", all);
        char *save = NULL;
        for (char *opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
                if (strcmp(opt, "ro") == 0 || strcmp(opt, "rw") == 0 || strncmp(opt, "rel", 3) == 0 ||
                    strcmp(opt, "nosuid") == 0 || strcmp(opt, "nodev") == 0 ||
                    strcmp(opt, "noexec") == 0 || strcmp(opt, "noatime") == 0)
                        continue;
                size_t len = strlen(out);
                snprintf(out + len, size - len, "%s%s", len ? "," : "", opt);
        }
}

/* Thaw dir_fd's cgroup and every one below it (depth-bounded, by descriptor). */
static void thaw_below(int dir_fd, int depth_left)
{
        _cleanup_close_ int state = openat(dir_fd, "freezer.state", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        if (state >= 0)
                (void) fs_write_all(state, "THAWED", 6);
        if (depth_left == 0)
                return;
        _cleanup_closedir_ DIR *d = fdopendir(dup(dir_fd));
        if (!d)
                return;
        rewinddir(d);
        struct dirent *entry;
        while ((entry = readdir(d))) {
                if (entry->d_type != DT_DIR || strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                        continue;
                _cleanup_close_ int child = openat(dir_fd, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (child >= 0)
                        thaw_below(child, depth_left - 1);
        }
}

void init_cgroups_thaw(void)
{
        /* Only the v1 freezer keeps a frozen task from dying of SIGKILL (v2's lets it). */
        for (size_t i = 0; !unified && i < hierarchy_count; i++) {
                if (!strstr(hierarchies[i].options, "freezer"))
                        continue;
                _cleanup_close_ int top = open(hierarchies[i].path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (top >= 0)
                        thaw_below(top, INIT_CGROUP_THAW_DEPTH);
        }
}

static int prepare_v1(struct sw_error *err)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mounts", "re");
        if (!f)
                return sw_error_errno(err, errno, "read /proc/self/mounts");
        char line[4096];
        hierarchy_count = 0;
        while (fgets(line, sizeof(line), f) && hierarchy_count < INIT_CGROUP_HIERARCHIES_MAX) {
                char source[256], path[PATH_MAX], type[64], options[1024];
                if (sscanf(line, "%255s %4095s %63s %1023s", source, path, type, options) != 4)
                        continue;
                if (strcmp(type, "cgroup") != 0 || strncmp(path, CGROUP_ROOT "/", strlen(CGROUP_ROOT) + 1) != 0)
                        continue;
                struct init_cgroup_hierarchy *h = &hierarchies[hierarchy_count++];
                snprintf(h->path, sizeof(h->path), "%s", path);
                controller_options(options, h->options, sizeof(h->options));
        }
        /* The tmpfs holding the hierarchies is read-only too: a fresh one replaces it. */
        for (size_t i = 0; i < hierarchy_count; i++)
                if (umount2(hierarchies[i].path, MNT_DETACH) < 0)
                        return sw_error_errno(err, errno, "unmount %s", hierarchies[i].path);
        if (umount2(CGROUP_ROOT, MNT_DETACH) < 0 && errno != EINVAL)
                return sw_error_errno(err, errno, "unmount %s", CGROUP_ROOT);
        int r = init_cgroups_mount(hierarchies, hierarchy_count, err);
        if (r < 0)
                return r;
        init_log("cgroup v1: %zu hierarchies remounted writable", hierarchy_count);
        return 0;
}

static int prepare_v2(struct sw_error *err)
{
        /* Read-only cgroup2 (the default for non-privileged containers): remount it. */
        unified = true;
        snprintf(hierarchies[0].path, sizeof(hierarchies[0].path), "%s", CGROUP_ROOT);
        hierarchy_count = 1;
        if (access(CGROUP_ROOT "/cgroup.procs", W_OK) < 0 || mkdir(CGROUP_ROOT "/init", 0755) < 0) {
                if (errno != EEXIST) {
                        if (umount2(CGROUP_ROOT, MNT_DETACH) < 0)
                                return sw_error_errno(err, errno, "unmount %s", CGROUP_ROOT);
                        int r = init_cgroups_mount(hierarchies, hierarchy_count, err);
                        if (r < 0)
                                return r;
                        if (mkdir(CGROUP_ROOT "/init", 0755) < 0 && errno != EEXIST)
                                return sw_error_errno(err, errno, "mkdir %s/init", CGROUP_ROOT);
                }
        }
        /* Move every process out of the root, then delegate all controllers. */
        for (int attempt = 0; attempt < 10; attempt++) {
                _cleanup_fclose_ FILE *procs = fopen(CGROUP_ROOT "/cgroup.procs", "re");
                if (!procs)
                        return sw_error_errno(err, errno, "read %s/cgroup.procs", CGROUP_ROOT);
                char pid[32];
                bool moved = false;
                while (fgets(pid, sizeof(pid), procs)) {
                        pid[strcspn(pid, "\n")] = '\0';
                        if (fs_write_text(CGROUP_ROOT "/init/cgroup.procs", pid) == 0)
                                moved = true;
                }
                if (!moved)
                        break;
        }
        _cleanup_fclose_ FILE *controllers = fopen(CGROUP_ROOT "/cgroup.controllers", "re");
        char list[1024] = "";
        if (controllers && fgets(list, sizeof(list), controllers)) {
                char *save = NULL;
                for (char *c = strtok_r(list, " \n", &save); c; c = strtok_r(NULL, " \n", &save)) {
                        char enable[64];
                        snprintf(enable, sizeof(enable), "+%s", c);
                        if (fs_write_text(CGROUP_ROOT "/cgroup.subtree_control", enable) < 0)
                                init_log("cgroup v2: cannot enable controller %s", c);
                }
        }
        init_log("cgroup v2: processes moved to init, controllers delegated");
        return 0;
}

/* Whether this process sees cgroup paths below the root: it shares an outer cgroup
 * namespace (Docker's default on cgroup v1 hosts is CgroupnsMode "host", and the Jenkins
 * Docker plugin cannot ask for "private"). */
static bool in_outer_cgroup_namespace(void)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
        char line[4096];
        while (f && fgets(line, sizeof(line), f)) {
                /* hierarchy-id:controllers:path */
                char *path = strchr(line, ':');
                path = path ? strchr(path + 1, ':') : NULL;
                if (path && strcmp(path + 1, "/\n") != 0 && strcmp(path + 1, "/") != 0)
                        return true;
        }
        return false;
}

int init_cgroups_prepare(struct sw_error *err)
{
        /* Fresh hierarchies mounted in an outer namespace would show the host's whole tree:
         * the inner dockerd would then put builds beside the agent, outside its limits. A
         * namespace of our own, rooted at the agent's cgroup, makes them show its subtree
         * (what slipway gets by creating agents with CgroupnsMode "private"). */
        if (in_outer_cgroup_namespace()) {
                if (unshare(CLONE_NEWCGROUP) < 0)
                        return sw_error_errno(err, errno, "unshare the cgroup namespace");
                init_log("cgroup namespace: the container shares an outer one; now in its own");
        }
        struct statfs sfs;
        if (statfs(CGROUP_ROOT, &sfs) < 0)
                return sw_error_errno(err, errno, "statfs %s", CGROUP_ROOT);
        if (sfs.f_type == CGROUP2_SUPER_MAGIC)
                return prepare_v2(err);
        return prepare_v1(err);
}
