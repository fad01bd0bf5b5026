/* The CLI's side of the control socket: see include/slipway/control_client.h. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "slipway/buffer.h"
#include "slipway/cleanup.h"
#include "slipway/control_client.h"

struct control_client {
        char *path;
};

void control_client_close(struct control_client *client)
{
        if (!client)
                return;
        free(client->path);
        free(client);
}

int control_client_open(const char *state_dir, struct control_client **out, struct sw_error *err)
{
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        int n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/control.sock", state_dir);
        if (n < 0 || (size_t) n >= sizeof(addr.sun_path))
                return 0; /* serve could not have made it either */
        /* A connect of our own first: curl says "couldn't connect" for a refused, a missing and
         * a forbidden socket alike, and only the last is worth an error. */
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return sw_error_errno(err, errno, "socket");
        if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0) {
                if (errno == ENOENT || errno == ECONNREFUSED || errno == ENOTDIR)
                        return 0;
                if (errno == EACCES || errno == EPERM)
                        return sw_error_set(err, EACCES, "%s: permission denied: the daemon's "
                                            "control socket is for root and group slipway (run as "
                                            "root, or add yourself to group slipway)", addr.sun_path);
                return sw_error_errno(err, errno, "connect to %s", addr.sun_path);
        }
        struct control_client *client = calloc(1, sizeof(*client));
        if (!client || !(client->path = strdup(addr.sun_path))) {
                free(client);
                return sw_error_set(err, ENOMEM, "control client");
        }
        *out = client;
        return 1;
}

static size_t on_body(char *data, size_t size, size_t count, void *user)
{
        size_t n = size * count;
        return sw_buffer_append(user, data, n, CONTROL_CLIENT_MAX_REPLY) < 0 ? 0 : n;
}

static void curl_cleanupp(CURL **curl)
{
        if (*curl)
                curl_easy_cleanup(*curl);
}

static void slist_freep(struct curl_slist **list)
{
        curl_slist_free_all(*list);
}

int control_client_request(struct control_client *client, const char *method, const char *path,
                           const char *body_json, long *status, json_t **reply,
                           struct sw_error *err)
{
        *status = 0;
        *reply = NULL;
        _cleanup_(curl_cleanupp) CURL *curl = curl_easy_init();
        _cleanup_(slist_freep) struct curl_slist *headers = NULL;
        struct sw_buffer body = { 0 };
        char url[512];
        if (!curl)
                return sw_error_set(err, ENOMEM, "control client");
        snprintf(url, sizeof(url), "http://slipway%s", path);
        curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, client->path);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long) CONTROL_CLIENT_TIMEOUT_S);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        if (body_json) {
                headers = curl_slist_append(NULL, "Content-Type: application/json");
                if (!headers)
                        return sw_error_set(err, ENOMEM, "control client");
                curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body_json);
                curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body_json));
        }
        CURLcode code = curl_easy_perform(curl);
        if (code != CURLE_OK) {
                sw_buffer_release(&body);
                return sw_error_set(err, EIO, "%s %s on %s: %s", method, path, client->path,
                                    curl_easy_strerror(code));
        }
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
        if (body.len > 0)
                *reply = json_loadb(body.data, body.len, 0, NULL);
        sw_buffer_release(&body);
        if (*status >= 400) {
                const char *message = json_string_value(json_object_get(*reply, "error"));
                sw_error_set(err, *status == 404 ? ENOENT : EIO, "daemon: %s",
                             message ? message : "failed");
        }
        return 0;
}
