/* Docker Engine API client: libcurl over the daemon's unix socket, jansson for bodies.
 *
 * Every call is bounded (response size, connect and total timeouts) and every failure fills
 * struct sw_error with the socket, the request and Docker's own message, e.g.
 *   "docker unix:///run/docker.sock: POST /containers/create: 404 No such image: foo:1".
 * A missing object (HTTP 404) returns -ENOENT so callers can treat "already gone" as success. */
#ifndef SLIPWAY_DOCKER_H
#define SLIPWAY_DOCKER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "slipway/error.h"

#define DOCKER_DEFAULT_HOST "unix:///var/run/docker.sock"
#define DOCKER_MAX_RESPONSE (16u << 20) /* bytes; larger bodies are refused, never truncated */

struct docker_client;

/* host: "unix:///path", or NULL for $DOCKER_HOST, else DOCKER_DEFAULT_HOST. Only unix sockets
 * are supported. Opening negotiates the API version with GET /version (the daemon's ApiVersion,
 * capped at the newest version this client knows), so it fails when no daemon answers. */
int docker_open(struct docker_client **out, const char *host, struct sw_error *err);
void docker_close(struct docker_client *client);

const char *docker_host(const struct docker_client *client);        /* "unix:///..." */
const char *docker_api_version(const struct docker_client *client); /* e.g. "1.41" */
bool docker_api_at_least(const struct docker_client *client, int major, int minor);
/* The daemon's GET /version body (borrowed reference, valid until docker_close). */
json_t *docker_version_info(const struct docker_client *client);

int docker_ping(struct docker_client *client, struct sw_error *err);

/* body: the ContainerConfig JSON (not stolen). name may be NULL. */
int docker_container_create(struct docker_client *client, const char *name, json_t *body,
                            char **id_out, struct sw_error *err);
int docker_container_start(struct docker_client *client, const char *id, struct sw_error *err);
int docker_container_inspect(struct docker_client *client, const char *id, json_t **out,
                             struct sw_error *err);
/* timeout_s: seconds Docker waits before SIGKILL; already stopped (304) is success. */
int docker_container_stop(struct docker_client *client, const char *id, int timeout_s,
                          struct sw_error *err);
int docker_container_kill(struct docker_client *client, const char *id, const char *signal,
                          struct sw_error *err);
int docker_container_remove(struct docker_client *client, const char *id, bool force,
                            bool volumes, struct sw_error *err);
/* List containers carrying label (a key, or key=value); all: include stopped ones. *out is
 * the JSON array Docker returns. */
int docker_container_list(struct docker_client *client, const char *label, bool all, json_t **out,
                          struct sw_error *err);
/* The last `tail` lines of the container's stdout+stderr, demultiplexed, as one string. */
int docker_container_logs(struct docker_client *client, const char *id, int tail, char **out,
                          struct sw_error *err);
/* Follow the container's log (GET .../logs?follow=1 on a connection of its own) from its
 * last `tail` lines (all when negative): a close-on-exec socket carrying Docker's
 * multiplexed frames (see docker_stream_demux) until the container stops. */
int docker_container_logs_follow(struct docker_client *client, const char *id, int tail,
                                 int *fd_out, struct sw_error *err);

/* PUT a tar archive to be extracted at path (a directory) in the container. */
int docker_archive_put(struct docker_client *client, const char *id, const char *path,
                       const void *tar, size_t tar_len, struct sw_error *err);
/* HEAD the archive endpoint: 0 when path exists in the container, -ENOENT when not. */
int docker_archive_stat(struct docker_client *client, const char *id, const char *path,
                        struct sw_error *err);

/* GET a tar archive of path (a file or a directory) from the container, running or stopped;
 * bounded by DOCKER_MAX_RESPONSE. -ENOENT when path does not exist. */
int docker_archive_get(struct docker_client *client, const char *id, const char *path,
                       char **tar, size_t *tar_len, struct sw_error *err);

/* GET /images/get: stream `docker save` of names (NULL-terminated) into fd. Not size-capped
 * (it is not parsed; the disk bounds it); timeout_s bounds the whole transfer. */
int docker_image_save(struct docker_client *client, const char *const *names, int fd,
                      long timeout_s, struct sw_error *err);

/* The bridge network agents join (created on first use, idempotent, safe against a
 * concurrent creator): inter-container communication disabled, so agents cannot reach each
 * other. An existing network of that name without it is an error, never used. */
int docker_network_ensure_isolated(struct docker_client *client, const char *name,
                                   struct sw_error *err);
int docker_image_inspect(struct docker_client *client, const char *name, json_t **out,
                         struct sw_error *err);

struct docker_exec_options {
        const char *const *argv; /* NULL-terminated, required */
        const char *const *env;  /* NULL-terminated "K=V", may be NULL */
        const char *user;        /* may be NULL (image default) */
        const char *workdir;     /* may be NULL */
        bool tty;
        bool attach_stdin;
};
int docker_exec_create(struct docker_client *client, const char *container_id,
                       const struct docker_exec_options *options, char **exec_id_out,
                       struct sw_error *err);
/* Start an exec and hijack the connection (POST /exec/{id}/start with Upgrade: tcp). Returns a
 * connected, close-on-exec socket carrying the raw stream: with a TTY, plain bytes both ways;
 * without, Docker's multiplexed frames from the daemon (see docker_stream_demux). No byte after
 * the HTTP response head is lost. */
int docker_exec_attach(struct docker_client *client, const char *exec_id, bool tty, int *fd_out,
                       struct sw_error *err);
int docker_exec_resize(struct docker_client *client, const char *exec_id, unsigned rows,
                       unsigned cols, struct sw_error *err);
/* Run a command to completion without a TTY; *output gets its stdout and stderr (bounded
 * to output_max bytes, the rest dropped), *exit_code its status. */
int docker_exec_run(struct docker_client *client, const char *container_id,
                    const struct docker_exec_options *options, size_t output_max, char **output,
                    int *exit_code, struct sw_error *err);
/* exit_code is -1 while running. */
int docker_exec_inspect(struct docker_client *client, const char *exec_id, bool *running,
                        int *exit_code, struct sw_error *err);

/* Incremental decoder for Docker's multiplexed stream (8-byte header: stream type, 3 zero
 * bytes, big-endian 32-bit length, then payload). Feed it any chunking of the stream; it calls
 * sink once per payload piece. Returns 0, or -EPROTO on a malformed header. */
struct docker_stream_demux {
        unsigned char header[8];
        size_t header_have;
        size_t payload_left;
        int stream; /* 0 stdin, 1 stdout, 2 stderr */
};
typedef int (*docker_stream_sink)(void *user, int stream, const char *data, size_t len);
void docker_stream_demux_init(struct docker_stream_demux *demux);
int docker_stream_demux_feed(struct docker_stream_demux *demux, const char *data, size_t len,
                             docker_stream_sink sink, void *user);

#endif
