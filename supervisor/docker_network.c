/* The network agents are attached to: a bridge of their own with inter-container
 * communication disabled, so that no agent can reach another agent, or a container another
 * build started, across the bridge. Agents still reach the outside world and the host (where
 * Jenkins and the published SSH ports are); Jenkins reaches each agent through its published
 * port. Docker's default bridge cannot do this: its ICC setting is daemon-wide. */
#include <errno.h>
#include <string.h>

#include "docker_internal.h"
#include "slipway/cleanup.h"

#define ICC_OPTION "com.docker.network.bridge.enable_icc"

static int network_inspect(struct docker_client *client, const char *path, json_t **out,
                           struct sw_error *err)
{
        struct docker_request request = { .method = "GET", .path = path };
        _cleanup_response_ struct docker_response response;
        int r = docker_perform(client, &request, &response, err);
        if (r < 0)
                return r;
        if (response.status == 404)
                return 0;
        if (response.status != 200)
                return docker_status_error(client, &request, &response, err);
        r = docker_parse_json(client, &request, &response, JSON_OBJECT, out, err);
        return r < 0 ? r : 1;
}

static int network_create(struct docker_client *client, const char *name, struct sw_error *err)
{
        /* No IPv6: egress-allow filters IPv4 only, whatever the daemon's default for networks. */
        _cleanup_json_ json_t *body = json_pack("{s:s, s:s, s:b, s:b, s:{s:s}, s:{s:s}}", "Name", name,
                                                "Driver", "bridge", "CheckDuplicate", 1, "EnableIPv6", 0,
                                                "Options", ICC_OPTION, "false",
                                                "Labels", "io.slipway.network", "agents");
        _cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        if (!text)
                return sw_error_set(err, ENOMEM, "create network %s", name);
        struct docker_request request = { .method = "POST", .path = "/networks/create",
                                          .content_type = "application/json", .body = text,
                                          .body_len = strlen(text) };
        _cleanup_response_ struct docker_response response;
        int r = docker_perform(client, &request, &response, err);
        if (r < 0)
                return r;
        if (response.status == 201 || response.status == 409) /* 409: a neighbour made it first */
                return 0;
        return docker_status_error(client, &request, &response, err);
}

int docker_network_ensure_isolated(struct docker_client *client, const char *name,
                                   struct sw_error *err)
{
        _cleanup_free_ char *escaped = docker_escape(client, name);
        _cleanup_free_ char *path = NULL;
        if (!escaped || asprintf(&path, "/networks/%s", escaped) < 0)
                return sw_error_set(err, ENOMEM, "network %s", name);
        for (int attempt = 0; attempt < 2; attempt++) {
                _cleanup_json_ json_t *info = NULL;
                int r = network_inspect(client, path, &info, err);
                if (r < 0)
                        return sw_error_prefix(err, "agent network %s", name);
                if (r == 0) {
                        if (network_create(client, name, err) < 0)
                                return sw_error_prefix(err, "agent network %s", name);
                        continue; /* check what exists now, whoever created it */
                }
                const char *driver = json_string_value(json_object_get(info, "Driver"));
                const char *icc = json_string_value(
                        json_object_get(json_object_get(info, "Options"), ICC_OPTION));
                if (!driver || strcmp(driver, "bridge") != 0 || !icc || strcmp(icc, "false") != 0 ||
                    json_is_true(json_object_get(info, "EnableIPv6")))
                        return sw_error_set(err, EEXIST,
                                            "agent network %s exists but is not an IPv4-only bridge with "
                                            "%s=false, so agents could reach each other: remove it "
                                            "(docker network rm %s) and slipway creates it",
                                            name, ICC_OPTION, name);
                return 0;
        }
        return sw_error_set(err, EAGAIN, "agent network %s: created but not found", name);
}
