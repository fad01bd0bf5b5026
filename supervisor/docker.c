/* Docker Engine API client core: transport, errors, version negotiation, containers, images,
 * archive and logs. Exec lives in docker_exec.c, the stream demuxer in docker_stream.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker_internal.h"
#include "slipway/buffer.h"
#include "slipway/cleanup.h"

static void slist_freep(struct curl_slist **list)
{
        if (*list)
                curl_slist_free_all(*list);
}

struct body_sink {
        struct sw_buffer buffer;
        bool too_large;
};

static size_t body_write(char *data, size_t size, size_t count, void *user)
{
        struct body_sink *sink = user;
        int r = sw_buffer_append(&sink->buffer, data, size * count, DOCKER_MAX_RESPONSE);
        sink->too_large = r == -EFBIG;
        return r < 0 ? 0 : size * count; /* 0 aborts the transfer: refused, never truncated */
}

void docker_response_release(struct docker_response *response)
{
        free(response->body);
        response->body = NULL;
        response->len = 0;
}


/* The path without its query string, for messages. */
static void request_what(const struct docker_request *request, char *out, size_t size)
{
        snprintf(out, size, "%s %.*s", request->method, (int) strcspn(request->path, "?"),
                 request->path);
}

int docker_perform(struct docker_client *client, const struct docker_request *request,
                   struct docker_response *response, struct sw_error *err)
{
        memset(response, 0, sizeof(*response));
        char url[4096];
        if (request->raw_path)
                snprintf(url, sizeof(url), "http://localhost%s", request->path);
        else
                snprintf(url, sizeof(url), "http://localhost/v%s%s", client->api_version, request->path);

        CURL *curl = client->curl;
        curl_easy_reset(curl); /* keeps the live connection */
        _cleanup_(slist_freep) struct curl_slist *headers = NULL;
        struct body_sink sink = { 0 };
        curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, client->socket_path);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long) DOCKER_CONNECT_TIMEOUT_S);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT,
                         request->timeout_s > 0 ? request->timeout_s : (long) DOCKER_DEFAULT_TIMEOUT_S);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, body_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
        if (strcmp(request->method, "GET") == 0) {
                curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        } else if (strcmp(request->method, "HEAD") == 0) {
                curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        } else {
                curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request->method);
                if (request->body || strcmp(request->method, "DELETE") != 0) {
                        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) request->body_len);
                        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request->body ? request->body : "");
                }
        }
        if (request->content_type) {
                char header[128];
                snprintf(header, sizeof(header), "Content-Type: %s", request->content_type);
                headers = curl_slist_append(headers, header);
        }
        /* No "Expect: 100-continue" round trip for uploads. */
        headers = curl_slist_append(headers, "Expect:");
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

        CURLcode code = curl_easy_perform(curl);
        response->body = sink.buffer.data;
        response->len = sink.buffer.len;
        char what[512];
        request_what(request, what, sizeof(what));
        if (sink.too_large) {
                docker_response_release(response);
                return sw_error_set(err, EFBIG, "docker %s: %s: response larger than %u bytes refused",
                                    client->host, what, DOCKER_MAX_RESPONSE);
        }
        if (code != CURLE_OK) {
                long os_errno = 0;
                curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
                docker_response_release(response);
                if (code == CURLE_COULDNT_CONNECT)
                        return sw_error_set(err, os_errno ? (int) os_errno : ECONNREFUSED,
                                            "docker %s: cannot connect: %s (is dockerd running?)",
                                            client->host,
                                            os_errno ? strerror((int) os_errno) : curl_easy_strerror(code));
                if (code == CURLE_OPERATION_TIMEDOUT)
                        return sw_error_set(err, ETIMEDOUT, "docker %s: %s: timed out", client->host, what);
                return sw_error_set(err, EIO, "docker %s: %s: %s", client->host, what,
                                    curl_easy_strerror(code));
        }
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response->status);
        if (!response->body) {
                response->body = strdup("");
                if (!response->body)
                        return sw_error_set(err, ENOMEM, "docker response");
        }
        return 0;
}

/* Docker's {"message": "..."}, or a bounded printable prefix of whatever came. */
static void response_message(const struct docker_response *response, char *out, size_t size)
{
        json_error_t jerr;
        _cleanup_json_ json_t *body = json_loadb(response->body, response->len, 0, &jerr);
        const char *message = json_string_value(json_object_get(body, "message"));
        if (message) {
                snprintf(out, size, "%s", message);
        } else {
                size_t n = response->len < 200 ? response->len : 200;
                snprintf(out, size, "%.*s", (int) n, response->body ? response->body : "");
        }
        for (char *p = out; *p; p++)
                if ((unsigned char) *p < 0x20)
                        *p = ' ';
        size_t len = strlen(out);
        while (len > 0 && out[len - 1] == ' ')
                out[--len] = '\0';
}

int docker_status_error(struct docker_client *client, const struct docker_request *request,
                        const struct docker_response *response, struct sw_error *err)
{
        char what[512], message[512];
        request_what(request, what, sizeof(what));
        response_message(response, message, sizeof(message));
        int code = response->status == 404 ? ENOENT : response->status == 409 ? EEXIST : EIO;
        return sw_error_set(err, code, "docker %s: %s: %ld%s%s", client->host, what, response->status,
                            message[0] ? " " : "", message);
}

char *docker_escape(struct docker_client *client, const char *text)
{
        char *escaped = curl_easy_escape(client->curl, text, 0);
        if (!escaped)
                return NULL;
        char *copy = strdup(escaped);
        curl_free(escaped);
        return copy;
}

int docker_parse_json(struct docker_client *client, const struct docker_request *request,
                      const struct docker_response *response, json_type type, json_t **out,
                      struct sw_error *err)
{
        json_error_t jerr;
        json_t *body = json_loadb(response->body, response->len, 0, &jerr);
        if (!body || json_typeof(body) != type) {
                char what[512];
                request_what(request, what, sizeof(what));
                json_decref(body);
                return sw_error_set(err, EPROTO, "docker %s: %s: malformed response (%s)", client->host,
                                    what, body ? "unexpected JSON type" : jerr.text);
        }
        *out = body;
        return 0;
}

/* Perform and accept exactly the listed statuses (0-terminated). */
static int docker_call(struct docker_client *client, const struct docker_request *request,
                       const long *accepted, struct docker_response *response, struct sw_error *err)
{
        int r = docker_perform(client, request, response, err);
        if (r < 0)
                return r;
        for (const long *s = accepted; *s; s++)
                if (response->status == *s)
                        return 0;
        r = docker_status_error(client, request, response, err);
        docker_response_release(response);
        return r;
}

static const long ok_200[] = { 200, 0 };
static const long ok_201[] = { 201, 0 };
static const long ok_204_304[] = { 204, 304, 0 };
static const long ok_204[] = { 204, 0 };

/* "1.41" -> 1, 41. */
static bool parse_api_version(const char *text, int *major, int *minor)
{
        char *end;
        long a = strtol(text, &end, 10);
        if (*end != '.')
                return false;
        long b = strtol(end + 1, &end, 10);
        if (*end || a < 0 || a > 99 || b < 0 || b > 999)
                return false;
        *major = (int) a;
        *minor = (int) b;
        return true;
}

static int docker_negotiate(struct docker_client *client, struct sw_error *err)
{
        struct docker_request request = { .method = "GET", .path = "/version", .raw_path = true };
        _cleanup_response_ struct docker_response response;
        int r = docker_call(client, &request, ok_200, &response, err);
        if (r < 0)
                return r;
        json_t *info = NULL;
        r = docker_parse_json(client, &request, &response, JSON_OBJECT, &info, err);
        if (r < 0)
                return r;
        client->version_info = info;
        const char *api = json_string_value(json_object_get(info, "ApiVersion"));
        int major, minor;
        if (!api || !parse_api_version(api, &major, &minor))
                return sw_error_set(err, EPROTO, "docker %s: GET /version: no valid ApiVersion",
                                    client->host);
        if (major != DOCKER_NEWEST_API_MAJOR || minor < DOCKER_OLDEST_API_MINOR)
                return sw_error_set(err, ENOTSUP,
                                    "docker %s: API version %s is too old (slipway needs 1.%d or newer)",
                                    client->host, api, DOCKER_OLDEST_API_MINOR);
        if (minor > DOCKER_NEWEST_API_MINOR)
                minor = DOCKER_NEWEST_API_MINOR;
        client->api_major = major;
        client->api_minor = minor;
        snprintf(client->api_version, sizeof(client->api_version), "%d.%d", major, minor);
        return 0;
}

int docker_open(struct docker_client **out, const char *host, struct sw_error *err)
{
        if (!host || !*host)
                host = getenv("DOCKER_HOST");
        if (!host || !*host)
                host = DOCKER_DEFAULT_HOST;
        if (strncmp(host, "unix://", 7) != 0 || host[7] != '/')
                return sw_error_set(err, EINVAL,
                                    "unsupported docker host \"%.200s\": only unix:///path sockets", host);
        struct docker_client *client = calloc(1, sizeof(*client));
        if (!client)
                return sw_error_set(err, ENOMEM, "docker client");
        client->host = strdup(host);
        client->socket_path = strdup(host + 7);
        client->curl = curl_easy_init();
        if (!client->host || !client->socket_path || !client->curl) {
                docker_close(client);
                return sw_error_set(err, ENOMEM, "docker client");
        }
        int r = docker_negotiate(client, err);
        if (r < 0) {
                docker_close(client);
                return r;
        }
        *out = client;
        return 0;
}

void docker_close(struct docker_client *client)
{
        if (!client)
                return;
        if (client->curl)
                curl_easy_cleanup(client->curl);
        json_decref(client->version_info);
        free(client->host);
        free(client->socket_path);
        free(client);
}

const char *docker_host(const struct docker_client *client)
{
        return client->host;
}

const char *docker_api_version(const struct docker_client *client)
{
        return client->api_version;
}

bool docker_api_at_least(const struct docker_client *client, int major, int minor)
{
        return client->api_major > major || (client->api_major == major && client->api_minor >= minor);
}

json_t *docker_version_info(const struct docker_client *client)
{
        return client->version_info;
}

int docker_ping(struct docker_client *client, struct sw_error *err)
{
        struct docker_request request = { .method = "GET", .path = "/_ping" };
        _cleanup_response_ struct docker_response response;
        return docker_call(client, &request, ok_200, &response, err);
}

/* "/containers/<escaped id><suffix>" */
static char *container_path(struct docker_client *client, const char *id, const char *suffix)
{
        _cleanup_free_ char *escaped = docker_escape(client, id);
        char *path = NULL;
        if (!escaped || asprintf(&path, "/containers/%s%s", escaped, suffix) < 0)
                return NULL;
        return path;
}

int docker_container_create(struct docker_client *client, const char *name, json_t *body,
                            char **id_out, struct sw_error *err)
{
        _cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
        _cleanup_free_ char *escaped = name ? docker_escape(client, name) : NULL;
        _cleanup_free_ char *path = NULL;
        if (!text || (name && !escaped) ||
            asprintf(&path, "/containers/create%s%s", name ? "?name=" : "", name ? escaped : "") < 0)
                return sw_error_set(err, ENOMEM, "create container");
        struct docker_request request = { .method = "POST", .path = path,
                                          .content_type = "application/json", .body = text,
                                          .body_len = strlen(text) };
        _cleanup_response_ struct docker_response response;
        int r = docker_call(client, &request, ok_201, &response, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *created = NULL;
        r = docker_parse_json(client, &request, &response, JSON_OBJECT, &created, err);
        if (r < 0)
                return r;
        const char *id = json_string_value(json_object_get(created, "Id"));
        if (!id || !*id || strlen(id) > 128)
                return sw_error_set(err, EPROTO, "docker %s: POST /containers/create: no valid Id in response",
                                    client->host);
        *id_out = strdup(id);
        return *id_out ? 0 : sw_error_set(err, ENOMEM, "create container");
}

static int container_simple(struct docker_client *client, const char *method, const char *id,
                            const char *suffix, const long *accepted, long timeout_s,
                            struct sw_error *err)
{
        _cleanup_free_ char *path = container_path(client, id, suffix);
        if (!path)
                return sw_error_set(err, ENOMEM, "docker request");
        struct docker_request request = { .method = method, .path = path, .timeout_s = timeout_s };
        _cleanup_response_ struct docker_response response;
        return docker_call(client, &request, accepted, &response, err);
}

int docker_container_start(struct docker_client *client, const char *id, struct sw_error *err)
{
        return container_simple(client, "POST", id, "/start", ok_204_304, 0, err);
}

int docker_container_stop(struct docker_client *client, const char *id, int timeout_s,
                          struct sw_error *err)
{
        char suffix[32];
        snprintf(suffix, sizeof(suffix), "/stop?t=%d", timeout_s);
        return container_simple(client, "POST", id, suffix, ok_204_304, timeout_s + 30, err);
}

int docker_container_kill(struct docker_client *client, const char *id, const char *signal,
                          struct sw_error *err)
{
        _cleanup_free_ char *escaped = docker_escape(client, signal);
        _cleanup_free_ char *suffix = NULL;
        if (!escaped || asprintf(&suffix, "/kill?signal=%s", escaped) < 0)
                return sw_error_set(err, ENOMEM, "docker request");
        return container_simple(client, "POST", id, suffix, ok_204, 0, err);
}

int docker_container_remove(struct docker_client *client, const char *id, bool force,
                            bool volumes, struct sw_error *err)
{
        char suffix[32];
        snprintf(suffix, sizeof(suffix), "?force=%d&v=%d", force, volumes);
        return container_simple(client, "DELETE", id, suffix, ok_204, 0, err);
}

static int get_json(struct docker_client *client, const char *path, json_type type, json_t **out,
                    struct sw_error *err)
{
        struct docker_request request = { .method = "GET", .path = path };
        _cleanup_response_ struct docker_response response;
        int r = docker_call(client, &request, ok_200, &response, err);
        if (r < 0)
                return r;
        return docker_parse_json(client, &request, &response, type, out, err);
}

int docker_container_inspect(struct docker_client *client, const char *id, json_t **out,
                             struct sw_error *err)
{
        _cleanup_free_ char *path = container_path(client, id, "/json");
        if (!path)
                return sw_error_set(err, ENOMEM, "docker request");
        return get_json(client, path, JSON_OBJECT, out, err);
}

int docker_container_list(struct docker_client *client, const char *label, bool all, json_t **out,
                          struct sw_error *err)
{
        _cleanup_json_ json_t *filters = json_pack("{s:[s]}", "label", label);
        _cleanup_free_ char *text = filters ? json_dumps(filters, JSON_COMPACT) : NULL;
        _cleanup_free_ char *escaped = text ? docker_escape(client, text) : NULL;
        _cleanup_free_ char *path = NULL;
        if (!escaped || asprintf(&path, "/containers/json?all=%d&filters=%s", all, escaped) < 0)
                return sw_error_set(err, ENOMEM, "list containers");
        return get_json(client, path, JSON_ARRAY, out, err);
}

static int append_text(void *user, int stream, const char *data, size_t len)
{
        (void) stream;
        return sw_buffer_append(user, data, len, DOCKER_MAX_RESPONSE);
}

int docker_container_logs(struct docker_client *client, const char *id, int tail, char **out,
                          struct sw_error *err)
{
        char suffix[64];
        snprintf(suffix, sizeof(suffix), "/logs?stdout=1&stderr=1&tail=%d", tail);
        _cleanup_free_ char *path = container_path(client, id, suffix);
        if (!path)
                return sw_error_set(err, ENOMEM, "docker request");
        struct docker_request request = { .method = "GET", .path = path };
        _cleanup_response_ struct docker_response response;
        int r = docker_call(client, &request, ok_200, &response, err);
        if (r < 0)
                return r;
        /* Agents have no TTY, so the log is multiplexed; a TTY container's log is raw. */
        struct docker_stream_demux demux;
        struct sw_buffer sink = { 0 };
        docker_stream_demux_init(&demux);
        if (docker_stream_demux_feed(&demux, response.body, response.len, append_text, &sink) < 0) {
                free(sink.data);
                *out = TAKE_PTR(response.body);
                return 0;
        }
        *out = sink.data ? sink.data : strdup("");
        return *out ? 0 : sw_error_set(err, ENOMEM, "logs");
}

static char *archive_path(struct docker_client *client, const char *id, const char *path_in_container)
{
        _cleanup_free_ char *escaped = docker_escape(client, path_in_container);
        _cleanup_free_ char *suffix = NULL;
        if (!escaped || asprintf(&suffix, "/archive?path=%s", escaped) < 0)
                return NULL;
        return container_path(client, id, suffix);
}

int docker_archive_put(struct docker_client *client, const char *id, const char *path,
                       const void *tar, size_t tar_len, struct sw_error *err)
{
        _cleanup_free_ char *request_path = archive_path(client, id, path);
        if (!request_path)
                return sw_error_set(err, ENOMEM, "docker request");
        struct docker_request request = { .method = "PUT", .path = request_path,
                                          .content_type = "application/x-tar", .body = tar,
                                          .body_len = tar_len };
        _cleanup_response_ struct docker_response response;
        return docker_call(client, &request, ok_200, &response, err);
}

int docker_archive_stat(struct docker_client *client, const char *id, const char *path,
                        struct sw_error *err)
{
        _cleanup_free_ char *request_path = archive_path(client, id, path);
        if (!request_path)
                return sw_error_set(err, ENOMEM, "docker request");
        struct docker_request request = { .method = "HEAD", .path = request_path };
        _cleanup_response_ struct docker_response response;
        return docker_call(client, &request, ok_200, &response, err);
}

int docker_archive_get(struct docker_client *client, const char *id, const char *path,
                       char **tar, size_t *tar_len, struct sw_error *err)
{
        _cleanup_free_ char *request_path = archive_path(client, id, path);
        if (!request_path)
                return sw_error_set(err, ENOMEM, "docker request");
        struct docker_request request = { .method = "GET", .path = request_path };
        struct docker_response response;
        int r = docker_call(client, &request, ok_200, &response, err);
        if (r < 0)
                return r;
        *tar = TAKE_PTR(response.body);
        *tar_len = response.len;
        return 0;
}

int docker_image_inspect(struct docker_client *client, const char *name, json_t **out,
                         struct sw_error *err)
{
        /* References go into the path as the docker CLI sends them ('/' and ':' unescaped);
         * anything outside a reference's alphabet is refused rather than escaped. */
        size_t len = strlen(name);
        if (len == 0 || len > 255 ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@") != len)
                return sw_error_set(err, EINVAL, "invalid image reference \"%.80s\"", name);
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "/images/%s/json", name) < 0)
                return sw_error_set(err, ENOMEM, "inspect image");
        return get_json(client, path, JSON_OBJECT, out, err);
}

struct fd_sink {
        int fd;
        int error;
};

static size_t fd_write(char *data, size_t size, size_t count, void *user)
{
        struct fd_sink *sink = user;
        size_t n = size * count, done = 0;
        while (done < n) {
                ssize_t w = write(sink->fd, data + done, n - done);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        sink->error = errno;
                        return 0;
                }
                done += (size_t) w;
        }
        return n;
}

int docker_image_save(struct docker_client *client, const char *const *names, int fd,
                      long timeout_s, struct sw_error *err)
{
        /* /images/get?names=a&names=b */
        size_t len = 0;
        for (size_t i = 0; names[i]; i++)
                len += strlen(names[i]) * 3 + 8;
        _cleanup_free_ char *path = malloc(len + 32);
        if (!path)
                return sw_error_set(err, ENOMEM, "save images");
        strcpy(path, "/images/get");
        for (size_t i = 0; names[i]; i++) {
                _cleanup_free_ char *escaped = docker_escape(client, names[i]);
                if (!escaped)
                        return sw_error_set(err, ENOMEM, "save images");
                strcat(path, i ? "&names=" : "?names=");
                strcat(path, escaped);
        }
        char url[8192];
        snprintf(url, sizeof(url), "http://localhost/v%s%s", client->api_version, path);
        CURL *curl = client->curl;
        curl_easy_reset(curl);
        struct fd_sink sink = { .fd = fd };
        curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, client->socket_path);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long) DOCKER_CONNECT_TIMEOUT_S);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
        curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fd_write);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
        CURLcode code = curl_easy_perform(curl);
        if (code == CURLE_OK)
                return 0;
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (sink.error)
                return sw_error_errno(err, sink.error, "docker %s: save images: write", client->host);
        if (status == 404)
                return sw_error_set(err, ENOENT, "docker %s: GET /images/get: 404 (an image is not on this daemon)",
                                    client->host);
        return sw_error_set(err, EIO, "docker %s: GET /images/get: %s (HTTP %ld)", client->host,
                            curl_easy_strerror(code), status);
}
