/* Which agents exist: containers labelled with our state dir, and agent directories under
 * <state dir>/agents (a directory without a container is an orphan left by a crash). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/agent.h"
#include "slipway/agent_disk.h"
#include "slipway/cleanup.h"

static int list_containers(struct docker_client *docker, const char *state_dir, json_t **out,
                           struct sw_error *err)
{
        _cleanup_free_ char *filter = NULL;
        if (asprintf(&filter, "%s=%s", AGENT_LABEL_STATE_DIR, state_dir) < 0)
                return sw_error_set(err, ENOMEM, "list agents");
        return docker_container_list(docker, filter, true, out, err);
}

static json_t *agent_entry_from_container(json_t *container)
{
        json_t *labels = json_object_get(container, "Labels");
        const char *id = json_string_value(json_object_get(labels, AGENT_LABEL_ID));
        const char *name = json_string_value(json_array_get(json_object_get(container, "Names"), 0));
        if (!id)
                return NULL;
        if (name && name[0] == '/')
                name++;
        json_t *user_labels = json_object();
        const char *key;
        json_t *value;
        json_object_foreach(labels, key, value) {
                if (strncmp(key, AGENT_LABEL_PREFIX, strlen(AGENT_LABEL_PREFIX)) != 0 &&
                    json_is_string(value))
                        json_object_set(user_labels, key, value);
        }
        const char *ssh_host = NULL;
        json_int_t ssh_port = 0;
        json_t *port;
        size_t i;
        json_array_foreach(json_object_get(container, "Ports"), i, port) {
                if (json_integer_value(json_object_get(port, "PrivatePort")) == 22 &&
                    json_integer_value(json_object_get(port, "PublicPort")) > 0) {
                        ssh_host = json_string_value(json_object_get(port, "IP"));
                        ssh_port = json_integer_value(json_object_get(port, "PublicPort"));
                        break;
                }
        }
        const char *state = json_string_value(json_object_get(container, "State"));
        const char *status = json_string_value(json_object_get(container, "Status"));
        const char *image = json_string_value(json_object_get(container, "Image"));
        const char *cid = json_string_value(json_object_get(container, "Id"));
        const char *generation = json_string_value(json_object_get(labels, AGENT_LABEL_GENERATION));
        return json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:s?, s:I, s:s?, s:o}",
                         "id", id, "name", name, "container", cid, "state", state, "status", status,
                         "image", image, "created",
                         json_integer_value(json_object_get(container, "Created")), "ssh_host",
                         ssh_host, "ssh_port", ssh_port, "generation", generation, "labels", user_labels);
}

static bool agent_id_listed(json_t *agents, const char *id)
{
        json_t *agent;
        size_t i;
        json_array_foreach(agents, i, agent)
                if (strcmp(json_string_value(json_object_get(agent, "id")), id) == 0)
                        return true;
        return false;
}

bool agent_id_valid(const char *id)
{
        if (strlen(id) != 2 * AGENT_ID_BYTES)
                return false;
        for (const char *p = id; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

/* Agent directories without a container: what a crash between steps leaves. */
static int add_orphan_dirs(json_t *agents, const char *state_dir, struct sw_error *err)
{
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/agents", state_dir) < 0)
                return sw_error_set(err, ENOMEM, "list agents");
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : sw_error_errno(err, errno, "read %s", dir);
        struct dirent *entry;
        while ((entry = readdir(d))) {
                if (!agent_id_valid(entry->d_name) || agent_id_listed(agents, entry->d_name))
                        continue;
                json_array_append_new(agents, json_pack("{s:s, s:s, s:s, s:o}", "id", entry->d_name,
                                                        "state", "orphaned", "status",
                                                        "data root without a container", "labels",
                                                        json_object()));
        }
        return 0;
}

int agent_list(struct docker_client *docker, const char *state_dir, json_t **out,
               struct sw_error *err)
{
        _cleanup_json_ json_t *containers = NULL;
        int r = list_containers(docker, state_dir, &containers, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *agents = json_array();
        json_t *container;
        size_t i;
        json_array_foreach(containers, i, container) {
                json_t *entry = agent_entry_from_container(container);
                if (entry)
                        json_array_append_new(agents, entry);
        }
        r = add_orphan_dirs(agents, state_dir, err);
        if (r < 0)
                return r;
        *out = TAKE_PTR(agents);
        return 0;
}

static bool agent_matches(json_t *agent, const char *ref)
{
        const char *id = json_string_value(json_object_get(agent, "id"));
        const char *name = json_string_value(json_object_get(agent, "name"));
        const char *container = json_string_value(json_object_get(agent, "container"));
        if ((id && strcmp(id, ref) == 0) || (name && strcmp(name, ref) == 0))
                return true;
        size_t len = strlen(ref);
        return container && len >= 4 && strncmp(container, ref, len) == 0;
}

int agent_find(struct docker_client *docker, const char *state_dir, const char *ref,
               char **agent_id, char **container_id, struct sw_error *err)
{
        _cleanup_json_ json_t *agents = NULL;
        int r = agent_list(docker, state_dir, &agents, err);
        if (r < 0)
                return r;
        json_t *found = NULL, *agent;
        size_t i;
        json_array_foreach(agents, i, agent) {
                if (!agent_matches(agent, ref))
                        continue;
                if (found)
                        return sw_error_set(err, EINVAL, "agent \"%s\" is ambiguous: give the full id", ref);
                found = agent;
        }
        if (!found)
                return sw_error_set(err, ENOENT, "no agent \"%s\" in %s", ref, state_dir);
        const char *container = json_string_value(json_object_get(found, "container"));
        *agent_id = strdup(json_string_value(json_object_get(found, "id")));
        *container_id = container ? strdup(container) : NULL;
        if (!*agent_id || (container && !*container_id)) {
                free(*agent_id);
                free(*container_id);
                return sw_error_set(err, ENOMEM, "find agent");
        }
        return 0;
}

static int remove_found(struct docker_client *docker, const char *state_dir, const char *agent_id,
                        const char *container_id, struct sw_error *err)
{
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/agents/%s", state_dir, agent_id) < 0)
                return sw_error_set(err, ENOMEM, "remove agent");
        int r = agent_destroy(docker, container_id, dir, err);
        if (r < 0)
                return sw_error_prefix(err, "remove agent %s", agent_id);
        return 0;
}

int agent_remove(struct docker_client *docker, const char *state_dir, const char *ref,
                 struct sw_error *err)
{
        _cleanup_free_ char *agent_id = NULL, *container_id = NULL;
        int r = agent_find(docker, state_dir, ref, &agent_id, &container_id, err);
        if (r < 0)
                return r;
        return remove_found(docker, state_dir, agent_id, container_id, err);
}

int agent_remove_all(struct docker_client *docker, const char *state_dir, int *removed,
                     struct sw_error *err)
{
        _cleanup_json_ json_t *agents = NULL;
        *removed = 0;
        int r = agent_list(docker, state_dir, &agents, err);
        if (r < 0)
                return r;
        int first = 0;
        json_t *agent;
        size_t i;
        json_array_foreach(agents, i, agent) {
                struct sw_error one;
                const char *id = json_string_value(json_object_get(agent, "id"));
                const char *container = json_string_value(json_object_get(agent, "container"));
                if (remove_found(docker, state_dir, id, container, &one) < 0) {
                        if (first == 0) {
                                first = -(one.code ? one.code : 1);
                                if (err)
                                        *err = one;
                        }
                        continue;
                }
                (*removed)++;
        }
        /* Loop devices of disks whose agent directory is gone already (agent_disk.h). */
        struct sw_error ignored;
        int released = 0;
        (void) agent_disk_sweep(state_dir, &released, &ignored);
        return first;
}
