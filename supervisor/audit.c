/* Audit log of debug shells: see include/slipway/audit.h. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slipway/audit.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"

/* Who asked: behind sudo the invoking user matters more than root. */
static void audit_user(char *out, size_t size)
{
        const char *sudo_user = getenv("SUDO_USER");
        struct passwd *pw = getpwuid(getuid());
        if (sudo_user && *sudo_user)
                snprintf(out, size, "%s (via sudo as %s)", sudo_user, pw ? pw->pw_name : "?");
        else
                snprintf(out, size, "%s", pw ? pw->pw_name : "?");
}

int audit_append(const char *state_dir, const char *event_name, json_t *fields,
                 struct sw_error *err)
{
        char when[32], user[256];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        audit_user(user, sizeof(user));

        _cleanup_json_ json_t *event = json_pack("{s:s, s:s, s:s, s:I}", "time", when, "event",
                                                 event_name, "user", user, "uid", (json_int_t) getuid());
        if (!event || (fields && json_object_update(event, fields) < 0))
                return sw_error_set(err, ENOMEM, "audit event");
        _cleanup_free_ char *line = json_dumps(event, JSON_COMPACT | JSON_SORT_KEYS);
        if (!line)
                return sw_error_set(err, ENOMEM, "audit event");
        size_t len = strlen(line);
        if (len + 1 > AUDIT_MAX_LINE)
                return sw_error_set(err, E2BIG, "audit event longer than %d bytes", AUDIT_MAX_LINE);
        line[len] = '\n'; /* replaces the NUL: written with its length below */

        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s", state_dir, AUDIT_LOG_NAME) < 0)
                return sw_error_set(err, ENOMEM, "audit log");
        int r = fs_mkdir_p(state_dir, 0755);
        if (r < 0)
                return sw_error_errno(err, -r, "audit log directory %s", state_dir);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return sw_error_errno(err, errno, "open audit log %s", path);
        ssize_t n = write(fd, line, len + 1);
        if (n < 0)
                return sw_error_errno(err, errno, "write audit log %s", path);
        if ((size_t) n != len + 1)
                return sw_error_set(err, EIO, "write audit log %s: short write", path);
        if (fsync(fd) < 0)
                return sw_error_errno(err, errno, "sync audit log %s", path);
        return 0;
}
