/* slipway serve's per-agent records: see include/slipway/serve_state.h. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slipway/agent.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/serve_state.h"

char *serve_state_path(const char *state_dir, const char *id)
{
        char *path;
        return asprintf(&path, "%s/" SERVE_STATE_DIR "/%s.json", state_dir, id) < 0 ? NULL : path;
}

static long long wall_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int serve_state_write(const char *state_dir, const struct serve_state_record *record,
                      struct sw_error *err)
{
        if (!agent_id_valid(record->id))
                return sw_error_set(err, EINVAL, "state record: invalid agent id '%s'", record->id);
        _cleanup_free_ char *dir = NULL;
        _cleanup_free_ char *path = serve_state_path(state_dir, record->id);
        if (!path || asprintf(&dir, "%s/" SERVE_STATE_DIR, state_dir) < 0)
                return sw_error_set(err, ENOMEM, "state record %s", record->id);
        int r = fs_mkdir_p(dir, 0700);
        if (r < 0)
                return sw_error_errno(err, -r, "create state directory %s", dir);
        _cleanup_json_ json_t *json = json_pack("{s:s, s:s*, s:s*, s:s, s:s*, s:s*, s:I}",
                                                "id", record->id, "node", record->node,
                                                "template", record->template_name, "intended",
                                                record->intended, "reached", record->reached,
                                                "container", record->container_id, "updated_ms",
                                                (json_int_t) wall_ms());
        _cleanup_free_ char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;
        if (!text)
                return sw_error_set(err, ENOMEM, "state record %s", path);
        r = fs_write_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return sw_error_errno(err, -r, "write state record %s (before step %s)", path,
                                      record->intended);
        return 0;
}

int serve_state_remove(const char *state_dir, const char *id, struct sw_error *err)
{
        _cleanup_free_ char *path = serve_state_path(state_dir, id);
        if (!path)
                return sw_error_set(err, ENOMEM, "state record %s", id);
        if (unlink(path) < 0 && errno != ENOENT)
                return sw_error_errno(err, errno, "remove state record %s", path);
        return 0;
}

static int load_one(const char *path, const char *id, json_t *out, struct sw_error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = fs_read_bounded(path, SERVE_STATE_MAX_BYTES, &text, &len);
        if (r < 0)
                return sw_error_errno(err, -r, "read state record %s", path);
        json_error_t jerr;
        _cleanup_json_ json_t *record = json_loadb(text, len, 0, &jerr);
        if (!json_is_object(record))
                return sw_error_set(err, EINVAL, "state record %s: not a JSON object (%s)", path,
                                    record ? "wrong type" : jerr.text);
        const char *record_id = json_string_value(json_object_get(record, "id"));
        if (!record_id || strcmp(record_id, id) != 0)
                return sw_error_set(err, EINVAL, "state record %s: its id does not match its name",
                                    path);
        if (!json_is_string(json_object_get(record, "intended")))
                return sw_error_set(err, EINVAL, "state record %s: no intended step", path);
        static const char *const optional[] = { "node", "template", "reached", "container" };
        for (size_t i = 0; i < ARRAY_SIZE(optional); i++) {
                json_t *value = json_object_get(record, optional[i]);
                if (value && !json_is_string(value))
                        return sw_error_set(err, EINVAL, "state record %s: %s is not a string",
                                            path, optional[i]);
        }
        return json_object_set(out, id, record) < 0 ? sw_error_set(err, ENOMEM, "%s", path) : 0;
}

int serve_state_load(const char *state_dir, json_t **out, struct sw_error *err)
{
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/" SERVE_STATE_DIR, state_dir) < 0)
                return sw_error_set(err, ENOMEM, "load state records");
        _cleanup_json_ json_t *records = json_object();
        if (!records)
                return sw_error_set(err, ENOMEM, "load state records");
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d) {
                if (errno != ENOENT)
                        return sw_error_errno(err, errno, "open state directory %s", dir);
                *out = TAKE_PTR(records);
                return 0;
        }
        struct dirent *entry;
        while ((entry = readdir(d))) {
                const char *name = entry->d_name;
                if (name[0] == '.')
                        continue;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", dir, name) < 0)
                        return sw_error_set(err, ENOMEM, "load state records");
                /* "<id>.json.tmp.<pid>": a write cut short; the record it was to replace
                 * (if any) is still whole. */
                if (strstr(name, ".json.tmp.")) {
                        (void) unlink(path);
                        continue;
                }
                /* Only <id>.json is ours; anything else (an operator's backup copy) is left
                 * alone rather than read as an agent. */
                size_t len = strlen(name);
                char id[2 * AGENT_ID_BYTES + 1];
                if (len != 2 * AGENT_ID_BYTES + 5 || strcmp(name + 2 * AGENT_ID_BYTES, ".json") != 0)
                        continue;
                memcpy(id, name, 2 * AGENT_ID_BYTES);
                id[2 * AGENT_ID_BYTES] = '\0';
                if (!agent_id_valid(id))
                        continue;
                int r = load_one(path, id, records, err);
                if (r < 0)
                        return r;
        }
        *out = TAKE_PTR(records);
        return 0;
}

void serve_state_crash_point(const char *step, bool in_worker)
{
        const char *at = getenv("SLIPWAY_CRASH_AT");
        if (!at || strcmp(at, step) != 0)
                return;
        if (in_worker)
                kill(getppid(), SIGKILL);
        raise(SIGKILL);
}
