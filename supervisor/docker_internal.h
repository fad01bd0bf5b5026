/* Shared between the Docker client's files; not part of the public interface. */
#ifndef SLIPWAY_DOCKER_INTERNAL_H
#define SLIPWAY_DOCKER_INTERNAL_H

#include <curl/curl.h>

#include "slipway/cleanup.h"
#include "slipway/docker.h"

#define DOCKER_NEWEST_API_MAJOR 1
#define DOCKER_NEWEST_API_MINOR 45
#define DOCKER_OLDEST_API_MINOR 40
#define DOCKER_CONNECT_TIMEOUT_S 5
#define DOCKER_DEFAULT_TIMEOUT_S 60

struct docker_client {
        CURL *curl;
        char *host;        /* "unix:///path" */
        char *socket_path; /* "/path" */
        char api_version[16];
        int api_major, api_minor;
        json_t *version_info;
};

struct docker_response {
        long status;
        char *body; /* NUL-terminated */
        size_t len;
};

struct docker_request {
        const char *method;
        const char *path;         /* "/containers/json?..." (versioned unless raw_path) */
        bool raw_path;            /* no /vX.Y prefix (for /version) */
        const char *content_type; /* with body */
        const void *body;
        size_t body_len;
        long timeout_s;           /* 0: default */
};

/* Performs the request; fills response (body bounded by DOCKER_MAX_RESPONSE). A transport
 * failure is an error; any HTTP status is returned for the caller to judge. */
int docker_perform(struct docker_client *client, const struct docker_request *request,
                   struct docker_response *response, struct sw_error *err);
void docker_response_release(struct docker_response *response);
static inline void docker_response_releasep(struct docker_response *response)
{
        docker_response_release(response);
}
#define _cleanup_response_ _cleanup_(docker_response_releasep)
/* Fill err from an unexpected status: Docker's own message, host, method and path.
 * Returns -ENOENT for 404, else -EIO (or -EPROTO for a 2xx the caller did not expect). */
int docker_status_error(struct docker_client *client, const struct docker_request *request,
                        const struct docker_response *response, struct sw_error *err);
/* URL-encode one path or query component; NULL on allocation failure. */
char *docker_escape(struct docker_client *client, const char *text);
/* Parse a JSON body as an object or array (type: JSON_OBJECT or JSON_ARRAY). */
int docker_parse_json(struct docker_client *client, const struct docker_request *request,
                      const struct docker_response *response, json_type type, json_t **out,
                      struct sw_error *err);

#endif
