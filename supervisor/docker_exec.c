/* Exec in containers: create, attach (a hijacked connection), resize, inspect; and the
 * other raw stream, a followed container log.
 *
 * Attaching cannot go through libcurl's request/response model: after the daemon answers
 * "101 UPGRADED" the connection becomes a raw two-way stream. So the request is written by
 * hand on our own unix socket, and the response head is read one byte at a time so that no
 * stream byte after it is swallowed into a buffer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "docker_internal.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"

#define ATTACH_HEAD_MAX 16384

static json_t *string_array(const char *const *items)
{
        json_t *array = json_array();
        for (size_t i = 0; array && items && items[i]; i++)
                json_array_append_new(array, json_string(items[i]));
        return array;
}

int docker_exec_create(struct docker_client *client, const char *container_id,
                       const struct docker_exec_options *options, char **exec_id_out,
                       struct sw_error *err)
{
        if (!options->argv || !options->argv[0])
                return sw_error_set(err, EINVAL, "exec: empty command");
        _cleanup_json_ json_t *body = json_pack("{s:b, s:b, s:b, s:b, s:o}", "AttachStdin",
                                                options->attach_stdin, "AttachStdout", 1,
                                                "AttachStderr", 1, "Tty", options->tty, "Cmd",
                                                string_array(options->argv));
        if (!body)
                return sw_error_set(err, ENOMEM, "exec");
        if (options->env)
                json_object_set_new(body, "Env", string_array(options->env));
        if (options->user)
                json_object_set_new(body, "User", json_string(options->user));
        if (options->workdir)
                json_object_set_new(body, "WorkingDir", json_string(options->workdir));
        _cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
        _cleanup_free_ char *escaped = docker_escape(client, container_id);
        _cleanup_free_ char *path = NULL;
        if (!text || !escaped || asprintf(&path, "/containers/%s/exec", escaped) < 0)
                return sw_error_set(err, ENOMEM, "exec");
        struct docker_request request = { .method = "POST", .path = path,
                                          .content_type = "application/json", .body = text,
                                          .body_len = strlen(text) };
        struct docker_response response;
        int r = docker_perform(client, &request, &response, err);
        if (r < 0)
                return r;
        if (response.status != 201) {
                r = docker_status_error(client, &request, &response, err);
                docker_response_release(&response);
                return r;
        }
        json_t *created = NULL;
        r = docker_parse_json(client, &request, &response, JSON_OBJECT, &created, err);
        docker_response_release(&response);
        if (r < 0)
                return r;
        const char *id = json_string_value(json_object_get(created, "Id"));
        *exec_id_out = id && *id && strlen(id) <= 128 ? strdup(id) : NULL;
        json_decref(created);
        if (!*exec_id_out)
                return sw_error_set(err, EPROTO, "docker %s: POST /containers/…/exec: no valid Id",
                                    client->host);
        return 0;
}

/* Read the response head up to and including the blank line, byte by byte. */
static int read_head(int fd, char *head, size_t size, size_t *len_out)
{
        size_t len = 0;
        while (len + 1 < size) {
                ssize_t n = read(fd, head + len, 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -ECONNRESET;
                len++;
                head[len] = '\0';
                if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0) {
                        *len_out = len;
                        return 0;
                }
        }
        return -E2BIG;
}

/* A connection of our own to the daemon's socket, for the streams libcurl cannot hand over
 * (a hijacked exec, an endless log). */
static int connect_raw(struct docker_client *client, int *fd_out, struct sw_error *err)
{
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return sw_error_errno(err, errno, "docker %s: socket", client->host);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        if (strlen(client->socket_path) >= sizeof(addr.sun_path))
                return sw_error_set(err, ENAMETOOLONG, "docker %s: socket path too long", client->host);
        strcpy(addr.sun_path, client->socket_path);
        if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
                return sw_error_errno(err, errno, "docker %s: cannot connect", client->host);
        *fd_out = TAKE_FD(fd);
        return 0;
}

int docker_exec_attach(struct docker_client *client, const char *exec_id, bool tty, int *fd_out,
                       struct sw_error *err)
{
        _cleanup_close_ int fd = -1;
        int c = connect_raw(client, &fd, err);
        if (c < 0)
                return c;

        _cleanup_free_ char *escaped = docker_escape(client, exec_id);
        char body[64];
        snprintf(body, sizeof(body), "{\"Detach\":false,\"Tty\":%s}", tty ? "true" : "false");
        _cleanup_free_ char *request = NULL;
        if (!escaped ||
            asprintf(&request,
                     "POST /v%s/exec/%s/start HTTP/1.1\r\n"
                     "Host: docker\r\n"
                     "Content-Type: application/json\r\n"
                     "Connection: Upgrade\r\n"
                     "Upgrade: tcp\r\n"
                     "Content-Length: %zu\r\n"
                     "\r\n%s",
                     client->api_version, escaped, strlen(body), body) < 0)
                return sw_error_set(err, ENOMEM, "exec attach");
        int r = fs_write_all(fd, request, strlen(request));
        if (r < 0)
                return sw_error_errno(err, -r, "docker %s: exec attach: write", client->host);

        char head[ATTACH_HEAD_MAX];
        size_t head_len = 0;
        r = read_head(fd, head, sizeof(head), &head_len);
        if (r < 0)
                return sw_error_errno(err, -r, "docker %s: exec attach: read response", client->host);
        int status = 0;
        if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
                return sw_error_set(err, EPROTO, "docker %s: exec attach: malformed response", client->host);
        if (status != 101 && status != 200) {
                /* An error body follows the head: read a bounded piece for the message. */
                char message[512];
                ssize_t n = read(fd, message, sizeof(message) - 1);
                message[n > 0 ? n : 0] = '\0';
                for (char *p = message; *p; p++)
                        if ((unsigned char) *p < 0x20)
                                *p = ' ';
                return sw_error_set(err, status == 404 ? ENOENT : EIO,
                                    "docker %s: POST /exec/%s/start: %d %s", client->host, exec_id,
                                    status, message);
        }
        *fd_out = TAKE_FD(fd);
        return 0;
}

int docker_container_logs_follow(struct docker_client *client, const char *id, int tail,
                                 int *fd_out, struct sw_error *err)
{
        _cleanup_close_ int fd = -1;
        int c = connect_raw(client, &fd, err);
        if (c < 0)
                return c;
        /* HTTP/1.0: the body is the raw stream up to the end of the connection, never chunked
         * (libcurl would hold it to its bounded buffer; this stream has no end). */
        _cleanup_free_ char *escaped = docker_escape(client, id);
        _cleanup_free_ char *request = NULL;
        if (!escaped ||
            asprintf(&request,
                     "GET /v%s/containers/%s/logs?follow=1&stdout=1&stderr=1&tail=%d HTTP/1.0\r\n"
                     "Host: docker\r\n\r\n",
                     client->api_version, escaped, tail < 0 ? -1 : tail) < 0)
                return sw_error_set(err, ENOMEM, "follow logs");
        int r = fs_write_all(fd, request, strlen(request));
        if (r < 0)
                return sw_error_errno(err, -r, "docker %s: follow logs: write", client->host);
        char head[ATTACH_HEAD_MAX];
        size_t head_len = 0;
        r = read_head(fd, head, sizeof(head), &head_len);
        if (r < 0)
                return sw_error_errno(err, -r, "docker %s: follow logs: read response", client->host);
        int status = 0;
        if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
                return sw_error_set(err, EPROTO, "docker %s: follow logs: malformed response", client->host);
        if (status != 200)
                return sw_error_set(err, status == 404 ? ENOENT : EIO,
                                    "docker %s: GET /containers/%s/logs: %d", client->host, id, status);
        *fd_out = TAKE_FD(fd);
        return 0;
}

int docker_exec_resize(struct docker_client *client, const char *exec_id, unsigned rows,
                       unsigned cols, struct sw_error *err)
{
        _cleanup_free_ char *escaped = docker_escape(client, exec_id);
        _cleanup_free_ char *path = NULL;
        if (!escaped || asprintf(&path, "/exec/%s/resize?h=%u&w=%u", escaped, rows, cols) < 0)
                return sw_error_set(err, ENOMEM, "exec resize");
        struct docker_request request = { .method = "POST", .path = path };
        struct docker_response response;
        int r = docker_perform(client, &request, &response, err);
        if (r < 0)
                return r;
        if (response.status != 200 && response.status != 201)
                r = docker_status_error(client, &request, &response, err);
        docker_response_release(&response);
        return r;
}

int docker_exec_inspect(struct docker_client *client, const char *exec_id, bool *running,
                        int *exit_code, struct sw_error *err)
{
        _cleanup_free_ char *escaped = docker_escape(client, exec_id);
        _cleanup_free_ char *path = NULL;
        if (!escaped || asprintf(&path, "/exec/%s/json", escaped) < 0)
                return sw_error_set(err, ENOMEM, "exec inspect");
        struct docker_request request = { .method = "GET", .path = path };
        struct docker_response response;
        int r = docker_perform(client, &request, &response, err);
        if (r < 0)
                return r;
        if (response.status != 200) {
                r = docker_status_error(client, &request, &response, err);
                docker_response_release(&response);
                return r;
        }
        json_t *info = NULL;
        r = docker_parse_json(client, &request, &response, JSON_OBJECT, &info, err);
        docker_response_release(&response);
        if (r < 0)
                return r;
        json_t *is_running = json_object_get(info, "Running");
        json_t *code = json_object_get(info, "ExitCode");
        if (!json_is_boolean(is_running)) {
                json_decref(info);
                return sw_error_set(err, EPROTO, "docker %s: exec %s: no Running state", client->host, exec_id);
        }
        *running = json_is_true(is_running);
        *exit_code = *running || !json_is_integer(code) ? -1 : (int) json_integer_value(code);
        json_decref(info);
        return 0;
}

struct bounded_output {
        char *data;
        size_t len, max;
};

static int keep_output(void *user, int stream, const char *data, size_t len)
{
        (void) stream;
        struct bounded_output *out = user;
        size_t take = out->len + len > out->max ? out->max - out->len : len;
        memcpy(out->data + out->len, data, take);
        out->len += take;
        out->data[out->len] = '\0';
        return 0;
}

int docker_exec_run(struct docker_client *client, const char *container_id,
                    const struct docker_exec_options *options, size_t output_max, char **output,
                    int *exit_code, struct sw_error *err)
{
        struct docker_exec_options run = *options;
        run.tty = false;
        run.attach_stdin = false;
        _cleanup_free_ char *exec_id = NULL;
        int r = docker_exec_create(client, container_id, &run, &exec_id, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = -1;
        r = docker_exec_attach(client, exec_id, false, &fd, err);
        if (r < 0)
                return r;
        struct bounded_output out = { .data = malloc(output_max + 1), .max = output_max };
        if (!out.data)
                return sw_error_set(err, ENOMEM, "exec output");
        out.data[0] = '\0';
        struct docker_stream_demux demux;
        docker_stream_demux_init(&demux);
        char buf[16384];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                if (docker_stream_demux_feed(&demux, buf, (size_t) n, keep_output, &out) < 0) {
                        free(out.data);
                        return sw_error_set(err, EPROTO, "docker %s: exec %s: malformed output stream",
                                            client->host, run.argv[0]);
                }
        }
        /* The exit code becomes final a moment after the stream closes. */
        for (int attempt = 0; attempt < 200; attempt++) {
                bool running = true;
                r = docker_exec_inspect(client, exec_id, &running, exit_code, err);
                if (r < 0 || !running)
                        break;
                usleep(10000);
        }
        if (r < 0) {
                free(out.data);
                return r;
        }
        *output = out.data;
        return 0;
}
