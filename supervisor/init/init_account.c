/* Accounts of the agent image, read from /etc/passwd and /etc/group by hand (a static binary
 * must not use NSS), and the agent user's home made the namespace's own.
 *
 * Ids here are the image's, i.e. as seen inside the user namespace; init_userns_outside()
 * gives the host id a file must carry to show them inside. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"

/* Split a colon-separated line into at most max fields; returns how many. */
static size_t split_fields(char *line, char **fields, size_t max)
{
        line[strcspn(line, "\n")] = '\0';
        size_t n = 0;
        for (char *p = line; p && n < max; n++) {
                fields[n] = p;
                p = strchr(p, ':');
                if (p)
                        *p++ = '\0';
        }
        return n;
}

/* Whether user is listed in a group's member field (comma-separated). */
static bool member_of(char *members, const char *user)
{
        char *save = NULL;
        for (char *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
                if (strcmp(m, user) == 0)
                        return true;
        return false;
}

int init_account_lookup(const char *name, struct init_account *account, struct sw_error *err)
{
        memset(account, 0, sizeof(*account));
        _cleanup_fclose_ FILE *passwd = fopen("/etc/passwd", "re");
        if (!passwd)
                return sw_error_errno(err, errno, "read /etc/passwd");
        char line[1024];
        bool found = false;
        while (!found && fgets(line, sizeof(line), passwd)) {
                char *fields[7];
                /* name:password:uid:gid:gecos:home:shell */
                if (split_fields(line, fields, 7) < 6 || strcmp(fields[0], name) != 0)
                        continue;
                account->uid = (uid_t) strtoul(fields[2], NULL, 10);
                account->gid = (gid_t) strtoul(fields[3], NULL, 10);
                snprintf(account->home, sizeof(account->home), "%s", fields[5]);
                found = true;
        }
        if (!found)
                return sw_error_set(err, ENOENT, "user %s is not in /etc/passwd", name);
        account->groups[account->group_count++] = account->gid;
        _cleanup_fclose_ FILE *group = fopen("/etc/group", "re");
        while (group && fgets(line, sizeof(line), group) && account->group_count < INIT_ACCOUNT_GROUPS_MAX) {
                char *fields[4];
                /* name:password:gid:members */
                if (split_fields(line, fields, 4) == 4 && member_of(fields[3], name))
                        account->groups[account->group_count++] = (gid_t) strtoul(fields[2], NULL, 10);
        }
        return 0;
}

int init_home_prepare(struct sw_error *err)
{
        if (!init_inner.enabled)
                return 0;
        struct init_account account;
        int r = init_account_lookup(INIT_AGENT_USER, &account, err);
        if (r < 0)
                return r;
        _cleanup_close_ int home = open(account.home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (home < 0)
                return sw_error_errno(err, errno, "open %s", account.home);
        struct stat st;
        if (fstat(home, &st) < 0)
                return sw_error_errno(err, errno, "stat %s", account.home);
        /* Only the image's own home (or the supervisor's, on an agent disk) is shifted, once:
         * owned by the image's jenkins. Anything else is the namespace's already (this
         * container ran before), or a build made it so: left as it is. */
        if (st.st_uid != account.uid)
                return 0;
        /* The image's home is shallow; a file with a second link may be a file of the agent's
         * own (the image's, host root's), whose owner must never change. */
        r = fs_shift_owners(home, init_inner.base, init_inner.size, FS_SHIFT_SKIP_LINKED, 64);
        if (r < 0)
                return sw_error_errno(err, -r, "give %s to the user namespace", account.home);
        if (fchown(home, init_userns_outside(st.st_uid), init_userns_outside(st.st_gid)) < 0)
                return sw_error_errno(err, errno, "chown %s", account.home);
        return 0;
}
