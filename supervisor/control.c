/* The control socket: see include/slipway/control.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "slipway/buffer.h"
#include "slipway/cleanup.h"
#include "slipway/control.h"
#include "slipway/fsutil.h"

struct control {
        struct MHD_Daemon *daemon;
        char *path;
        control_handler handler;
        void *user;
};

struct request {
        struct sw_buffer body;
        bool too_large;
};

static enum MHD_Result send_reply(struct MHD_Connection *connection, unsigned status,
                                  const char *content_type, char *body)
{
        if (!body && !(body = strdup("")))
                return MHD_NO;
        struct MHD_Response *response =
                MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
        if (!response) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                content_type ? content_type : "application/json");
        enum MHD_Result r = MHD_queue_response(connection, status, response);
        MHD_destroy_response(response);
        return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
        struct control *control = cls;
        (void) version;
        struct request *request = *state;
        if (!request) {
                request = calloc(1, sizeof(*request));
                if (!request)
                        return MHD_NO;
                *state = request;
                return MHD_YES;
        }
        if (*upload_size > 0) {
                /* Bounded: a request body is never trusted to be small. */
                int r = request->too_large ? -EFBIG
                                           : sw_buffer_append(&request->body, upload, *upload_size,
                                                              CONTROL_MAX_BODY);
                if (r == -ENOMEM)
                        return MHD_NO;
                request->too_large = r == -EFBIG;
                *upload_size = 0;
                return MHD_YES;
        }
        if (request->too_large)
                return send_reply(connection, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                                  strdup("{\"error\":\"request body too large\"}"));
        struct control_reply reply = { .status = 500 };
        struct control_request decoded = {
                .method = method,
                .path = url,
                .content_type = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                            MHD_HTTP_HEADER_CONTENT_TYPE),
                .body = request->body.data ? request->body.data : "",
                .body_len = request->body.len,
        };
        control->handler(control->user, &decoded, &reply);
        return send_reply(connection, reply.status, reply.content_type, reply.body);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **state,
                         enum MHD_RequestTerminationCode code)
{
        (void) cls;
        (void) connection;
        (void) code;
        struct request *request = *state;
        if (request) {
                sw_buffer_release(&request->body);
                free(request);
        }
        *state = NULL;
}

static int listen_unix(const char *path, struct sw_error *err)
{
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(addr.sun_path))
                return sw_error_set(err, ENAMETOOLONG, "control socket path %s is too long", path);
        strcpy(addr.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return sw_error_errno(err, errno, "control socket");
        /* A stale socket of a dead daemon: the state dir is ours alone. */
        if (unlink(path) < 0 && errno != ENOENT)
                return sw_error_errno(err, errno, "remove stale %s", path);
        /* Created with no access for others, then opened up to the slipway group only. */
        mode_t old = umask(0177);
        int r = bind(fd, (struct sockaddr *) &addr, sizeof(addr));
        umask(old);
        if (r < 0)
                return sw_error_errno(err, errno, "bind control socket %s", path);
        struct group group, *found = NULL;
        char buffer[4096];
        gid_t gid = 0;
        if (getgrnam_r("slipway", &group, buffer, sizeof(buffer), &found) == 0 && found)
                gid = found->gr_gid;
        if (chown(path, 0, gid) < 0 || chmod(path, 0660) < 0 || listen(fd, 16) < 0) {
                int saved = errno;
                unlink(path);
                return sw_error_errno(err, saved, "control socket %s", path);
        }
        /* The group must also get through the directory (the state dir, 0700 when serve made
         * it): search permission only, so it lists nothing and reaches only what its own
         * modes allow (agents' directories stay 0700). */
        if (gid != 0) {
                _cleanup_free_ char *dir = strdup(path);
                char *slash = dir ? strrchr(dir, '/') : NULL;
                struct stat st;
                if (slash && slash != dir) {
                        *slash = '\0';
                        if (stat(dir, &st) == 0 && (st.st_gid != gid || !(st.st_mode & S_IXGRP)) &&
                            (chown(dir, (uid_t) -1, gid) < 0 ||
                             chmod(dir, (st.st_mode & 07777 & ~(mode_t) 0070) | 0010) < 0)) {
                                int saved = errno;
                                unlink(path);
                                return sw_error_errno(err, saved, "let group slipway reach %s", path);
                        }
                }
        }
        return TAKE_FD(fd);
}

static int listen_tcp(const char *address, struct sw_error *err)
{
        const char *colon = strrchr(address, ':');
        if (!colon)
                return sw_error_set(err, EINVAL, "metrics address %s: expected ADDRESS:PORT", address);
        char host[INET6_ADDRSTRLEN + 1];
        const char *start = address;
        size_t len = (size_t) (colon - address);
        if (len >= 2 && address[0] == '[' && address[len - 1] == ']') {
                start++;
                len -= 2;
        }
        if (len == 0 || len >= sizeof(host))
                return sw_error_set(err, EINVAL, "metrics address %s: expected ADDRESS:PORT", address);
        memcpy(host, start, len);
        host[len] = '\0';
        int port = atoi(colon + 1);
        struct sockaddr_storage storage = { 0 };
        socklen_t size;
        struct sockaddr_in *v4 = (struct sockaddr_in *) &storage;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &storage;
        if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
                v4->sin_family = AF_INET;
                v4->sin_port = htons((uint16_t) port);
                size = sizeof(*v4);
        } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
                v6->sin6_family = AF_INET6;
                v6->sin6_port = htons((uint16_t) port);
                size = sizeof(*v6);
        } else {
                return sw_error_set(err, EINVAL, "metrics address %s: not an IP address", address);
        }
        if (port < 1 || port > 65535)
                return sw_error_set(err, EINVAL, "metrics address %s: bad port", address);
        _cleanup_close_ int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return sw_error_errno(err, errno, "metrics socket");
        int one = 1;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &storage, size) < 0 || listen(fd, 16) < 0)
                return sw_error_errno(err, errno, "metrics address %s", address);
        return TAKE_FD(fd);
}

/* fd: a listening socket, handed over (closed on failure). unlink_path: the unix socket's
 * path to remove on close, or NULL. */
static int control_start(struct control **out, int fd, const char *what, const char *unlink_path,
                         control_handler handler, void *user, struct sw_error *err)
{
        struct control *control = calloc(1, sizeof(*control));
        if (!control || (unlink_path && !(control->path = strdup(unlink_path)))) {
                free(control);
                close(fd);
                if (unlink_path)
                        unlink(unlink_path);
                return sw_error_set(err, ENOMEM, "control socket");
        }
        control->handler = handler;
        control->user = user;
        /* No thread of its own: MHD_run from the caller's loop, through the epoll fd. */
        control->daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                           on_request, control, MHD_OPTION_LISTEN_SOCKET, fd,
                                           MHD_OPTION_NOTIFY_COMPLETED, on_completed, control,
                                           MHD_OPTION_CONNECTION_LIMIT, 64u,
                                           MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
        if (!control->daemon) {
                close(fd);
                if (unlink_path)
                        unlink(unlink_path);
                control_close(control);
                return sw_error_set(err, EIO, "%s: libmicrohttpd did not start", what);
        }
        *out = control;
        return 0;
}

int control_open(struct control **out, const char *socket_path, control_handler handler,
                 void *user, struct sw_error *err)
{
        int fd = listen_unix(socket_path, err);
        if (fd < 0)
                return fd;
        return control_start(out, fd, socket_path, socket_path, handler, user, err);
}

int control_open_tcp(struct control **out, const char *address, control_handler handler,
                     void *user, struct sw_error *err)
{
        int fd = listen_tcp(address, err);
        if (fd < 0)
                return fd;
        return control_start(out, fd, address, NULL, handler, user, err);
}

int control_fd(const struct control *control)
{
        const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(control->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        return info ? info->epoll_fd : -1;
}

void control_run(struct control *control)
{
        MHD_run(control->daemon);
}

void control_close(struct control *control)
{
        if (!control)
                return;
        if (control->daemon) {
                MHD_stop_daemon(control->daemon); /* closes the listening socket too */
                if (control->path)
                        unlink(control->path);
        }
        free(control->path);
        free(control);
}
