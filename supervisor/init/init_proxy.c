/* The inner Docker policy proxy: the `jenkins` user's only way to the agent's dockerd.
 *
 * dockerd listens on a root-only socket (INIT_DOCKERD_SOCKET, in a 0700 directory); this
 * proxy listens on /run/docker.sock (0660 root:docker), so the stock docker CLI and
 * DOCKER_HOST defaults work unchanged. Every request is parsed (http_request.c) and judged
 * (docker_policy.c) before a byte of it reaches dockerd; a denial is a Docker-style JSON error
 * with status 403, which the CLI prints as "Error response from daemon: slipway policy: ...".
 *
 * Deliberately simple: one process per connection (forked from the proxy, which was forked
 * from slipway-init and is restarted by it), blocking I/O, one request per connection. The
 * request goes upstream with "Connection: close" and its body re-framed (Content-Length for a
 * judged JSON body; a streamed body de-chunked and chunked again), so dockerd reads exactly
 * the bytes the policy read. The response is relayed as is until dockerd closes. Only attach
 * and exec start (hijacked connections) relay both ways. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "slipway/cleanup.h"
#include "slipway/docker_policy.h"
#include "slipway/http_request.h"

#define HEAD_TIMEOUT_MS (120 * 1000) /* a client that sends no complete head in 2 min */
#define IO_CHUNK (64 * 1024)

static const char *const bind_roots[] = INIT_BIND_ROOTS;
static const char *const proxy_sockets[] = { "/run/docker.sock", "/var/run/docker.sock", NULL };

static void proxy_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void proxy_log(const char *fmt, ...)
{
        char line[1024]; /* init_log's own bound */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        init_log("docker proxy: %s", line);
}

static int write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;
        while (len) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static const char *status_text(int status)
{
        switch (status) {
        case 400: return "Bad Request";
        case 403: return "Forbidden";
        case 413: return "Payload Too Large";
        case 414: return "URI Too Long";
        case 431: return "Request Header Fields Too Large";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        default: return "Error";
        }
}

/* Answer with dockerd's error format, then drain what the client still sends (briefly), so it
 * reads the answer instead of a connection reset. */
static void respond_error(int client, int status, const char *message)
{
        /* Every answer of ours says whose it is (the policy's already do). */
        char text_message[SW_ERROR_MAX + 32];
        snprintf(text_message, sizeof(text_message), "%s%s",
                 strncmp(message, "slipway ", 8) == 0 ? "" : "slipway proxy: ", message);
        json_t *body = json_pack("{s:s}", "message", text_message);
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        const char *payload = text ? text : "{\"message\":\"slipway proxy: error\"}";
        char head[256];
        int len = snprintf(head, sizeof(head),
                           "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                           "Connection: close\r\n\r\n",
                           status, status_text(status), strlen(payload) + 1);
        if (write_all(client, head, (size_t) len) == 0 && write_all(client, payload, strlen(payload)) == 0)
                write_all(client, "\n", 1);
        free(text);
        shutdown(client, SHUT_WR);
        char sink[IO_CHUNK];
        size_t drained = 0;
        struct pollfd pfd = { .fd = client, .events = POLLIN };
        while (drained < 256u * 1024 * 1024 && poll(&pfd, 1, 2000) > 0) {
                ssize_t n = read(client, sink, sizeof(sink));
                if (n <= 0)
                        break;
                drained += (size_t) n;
        }
}

static int connect_dockerd(void)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr = { .sun_family = AF_UNIX, .sun_path = INIT_DOCKERD_SOCKET };
        if (fd >= 0 && connect(fd, (struct sockaddr *) &addr, sizeof(addr)) == 0)
                return fd;
        if (fd >= 0)
                close(fd);
        return -1;
}

static const struct docker_policy policy = {
        .bind_roots = bind_roots,
        .proxy_sockets = proxy_sockets,
        .resolve = docker_policy_resolve_path,
};

/* Read from fd into buf until the head is complete. Returns the head length, 0 on EOF before
 * any byte, or -status (with err set). *have: bytes in buf. */
static int read_head(int fd, char *buf, size_t size, size_t *have, struct http_request *req, struct sw_error *err)
{
        *have = 0;
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                if (poll(&pfd, 1, HEAD_TIMEOUT_MS) <= 0)
                        return -sw_error_set(err, 400, "no complete request head in time");
                ssize_t n = read(fd, buf + *have, size - *have);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return *have ? -sw_error_set(err, 400, "connection closed inside the request head") : 0;
                *have += (size_t) n;
                int r = http_request_parse_head(buf, *have, req, err);
                if (r != 0)
                        return r < 0 ? -err->code : r;
                if (*have == size)
                        return -sw_error_set(err, 431, "request head too large");
        }
}

/* Reading the client's body: first what already came with the head, then the socket. */
struct body_reader {
        int fd;
        const char *pending; /* undecoded bytes not consumed yet */
        size_t pending_len;
        char raw[IO_CHUNK];
        struct http_chunked chunked;
        bool is_chunked;
        int64_t left; /* Content-Length bytes left */
        bool done;
};

/* Up to size decoded body bytes into out. Returns the count, 0 at the end, or -status. */
static ssize_t body_read(struct body_reader *b, char *out, size_t size, struct sw_error *err)
{
        while (!b->done) {
                if (!b->is_chunked && b->left == 0) {
                        b->done = true;
                        break;
                }
                if (b->pending_len == 0) {
                        size_t want = sizeof(b->raw);
                        if (!b->is_chunked && (int64_t) want > b->left)
                                want = (size_t) b->left;
                        ssize_t n = read(b->fd, b->raw, want);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                return -sw_error_set(err, 400, "connection closed inside the request body");
                        b->pending = b->raw;
                        b->pending_len = (size_t) n;
                }
                size_t used, produced;
                if (b->is_chunked) {
                        int r = http_chunked_decode(&b->chunked, b->pending, b->pending_len, &used, out, size,
                                                    &produced, err);
                        if (r < 0)
                                return -err->code;
                        if (r == 1)
                                b->done = true;
                } else {
                        produced = b->pending_len;
                        if ((int64_t) produced > b->left)
                                produced = (size_t) b->left;
                        if (produced > size)
                                produced = size;
                        memcpy(out, b->pending, produced);
                        b->left -= (int64_t) produced;
                        used = produced;
                        if (b->left == 0)
                                b->done = true;
                }
                b->pending += used;
                b->pending_len -= used;
                if (produced)
                        return (ssize_t) produced;
                if (size == 0)
                        return -sw_error_set(err, 413, "request body too large");
        }
        return 0;
}

/* One HTTP request to dockerd on its own connection, for the start re-check. */
static int dockerd_get(const char *path, char **body, size_t *body_len)
{
        _cleanup_close_ int fd = connect_dockerd();
        if (fd < 0)
                return -1;
        char request[1024];
        int len = snprintf(request, sizeof(request), "GET %s HTTP/1.0\r\nHost: docker\r\n\r\n", path);
        if (len >= (int) sizeof(request) || write_all(fd, request, (size_t) len) < 0)
                return -1;
        size_t cap = 1 << 20, have = 0;
        char *buf = malloc(cap + 1);
        if (!buf)
                return -1;
        for (;;) {
                if (have == cap) {
                        free(buf);
                        return -1;
                }
                ssize_t n = read(fd, buf + have, cap - have);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                have += (size_t) n;
        }
        buf[have] = '\0';
        int status = 0;
        char *start = strstr(buf, "\r\n\r\n");
        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || !start) {
                free(buf);
                return -1;
        }
        start += 4;
        *body_len = have - (size_t) (start - buf);
        memmove(buf, start, *body_len + 1);
        *body = buf;
        return status;
}

/* Starting (and docker cp, which mounts them too) re-checks the binds: a workspace directory may
 * have become a symlink since create. */
static int check_start(const struct docker_policy_route *route, const char *path, struct sw_error *err)
{
        char inspect[600];
        /* The same API version prefix as the request. */
        const char *prefix_end = strstr(path, "/containers/");
        snprintf(inspect, sizeof(inspect), "%.*s/containers/%s/json", prefix_end ? (int) (prefix_end - path) : 0,
                 path, route->container);
        char *body = NULL;
        size_t len = 0;
        int status = dockerd_get(inspect, &body, &len);
        if (status < 0)
                return sw_error_set(err, 502, "slipway proxy: cannot inspect container %s before using its mounts",
                                   route->container);
        int r;
        if (status == 200)
                r = docker_policy_check_inspect(&policy, body, len, err);
        else /* fail closed: nothing is known of its mounts */
                r = sw_error_set(err, status == 404 ? 404 : 403,
                                 "slipway policy: container %s: inspect answered %d, so its mounts cannot be checked",
                                 route->container, status);
        free(body);
        return r;
}

/* dockerd's response head on a hijack route, passed to the client as read: *taken when dockerd
 * took the connection over (101, or 200 with one of Docker's stream content types). */
static int forward_response_head(int client, int upstream, bool *taken)
{
        char head[16384];
        size_t len = 0;
        *taken = false;
        while (len < sizeof(head) - 1) {
                ssize_t n = read(upstream, head + len, sizeof(head) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
                head[len] = '\0';
                if (strstr(head, "\r\n\r\n"))
                        break;
        }
        head[len] = '\0';
        if (len == 0 || write_all(client, head, len) < 0)
                return -1;
        char *end = strstr(head, "\r\n\r\n");
        if (!end)
                return 0; /* no complete head: not taken over */
        *end = '\0';
        int status = 0;
        if (sscanf(head, "HTTP/1.%*1[01] %3d", &status) != 1)
                return 0;
        if (status == 101) {
                *taken = true;
        } else if (status == 200) {
                for (char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n"))
                        if (strncasecmp(line + 2, "Content-Type: application/vnd.docker.", 38) == 0)
                                *taken = true;
        }
        return 0;
}

/* Copy both ways until dockerd closes (hijacked streams), or until dockerd closes the response
 * (then the client's further bytes, if any, are ignored; its hang-up ends the relay). */
static void relay(int client, int upstream, bool both_ways)
{
        char buf[IO_CHUNK];
        bool client_open = true;
        for (;;) {
                /* A closed client is left out (fd -1): poll reports POLLHUP whatever the events. */
                struct pollfd pfd[2] = { { .fd = upstream, .events = POLLIN },
                                         { .fd = client_open ? client : -1, .events = POLLIN } };
                if (poll(pfd, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return;
                }
                if (pfd[0].revents) {
                        ssize_t n = read(upstream, buf, sizeof(buf));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0 || write_all(client, buf, (size_t) n) < 0)
                                return;
                }
                if (client_open && pfd[1].revents) {
                        ssize_t n = read(client, buf, sizeof(buf));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                client_open = false;
                                if (!both_ways)
                                        return; /* the client went away: stop following */
                                shutdown(upstream, SHUT_WR);
                        } else if (both_ways && write_all(upstream, buf, (size_t) n) < 0) {
                                return;
                        }
                }
        }
}

static void serve_connection(int client)
{
        static char head[HTTP_HEAD_MAX + IO_CHUNK];
        static struct http_request req;
        struct sw_error err = { 0 };
        size_t have = 0;
        int head_len = read_head(client, head, sizeof(head), &have, &req, &err);
        if (head_len == 0)
                return;
        if (head_len < 0) {
                proxy_log("bad request: %s", err.message);
                respond_error(client, err.code, err.message);
                return;
        }
        struct docker_policy_route route;
        if (docker_policy_route(req.method, req.path, req.query, &route, &err) < 0 ||
            docker_policy_check_content_type(req.content_type, &err) < 0) {
                proxy_log("denied %s %s: %s", req.method, req.path, err.message);
                respond_error(client, err.code, err.message);
                return;
        }
        static struct body_reader body;
        body = (struct body_reader){ .fd = client, .pending = head + head_len,
                                     .pending_len = have - (size_t) head_len, .is_chunked = req.chunked,
                                     .left = req.content_length > 0 ? req.content_length : 0 };
        body.done = !req.chunked && req.content_length <= 0;

        /* A body the policy judges (or that must be empty) is read whole, bounded. */
        _cleanup_free_ char *json = NULL;
        size_t json_len = 0;
        if (route.body != DOCKER_POLICY_BODY_STREAM) {
                if (req.content_length > HTTP_JSON_BODY_MAX) {
                        respond_error(client, 413, "slipway proxy: request body too large");
                        return;
                }
                json = malloc(HTTP_JSON_BODY_MAX + 1);
                if (!json)
                        return;
                for (;;) {
                        ssize_t n = body_read(&body, json + json_len, HTTP_JSON_BODY_MAX + 1 - json_len, &err);
                        if (n < 0) {
                                respond_error(client, err.code, err.message);
                                return;
                        }
                        if (n == 0)
                                break;
                        json_len += (size_t) n;
                        if (json_len > HTTP_JSON_BODY_MAX) {
                                respond_error(client, 413, "slipway proxy: request body too large");
                                return;
                        }
                }
                int r = 0;
                if (route.body == DOCKER_POLICY_BODY_NONE) {
                        for (size_t i = 0; i < json_len && r == 0; i++)
                                if (!strchr(" \t\r\n", json[i]))
                                        r = sw_error_set(&err, 403, "slipway policy: %s %s takes no request body",
                                                         req.method, req.path);
                } else {
                        r = docker_policy_check_body(&policy, &route, json, json_len, &err);
                }
                if (r < 0) {
                        proxy_log("denied %s %s: %s", req.method, req.path, err.message);
                        respond_error(client, err.code, err.message);
                        return;
                }
        }
        if (route.kind == DOCKER_POLICY_CONTAINER_START && check_start(&route, req.path, &err) < 0) {
                proxy_log("denied %s %s: %s", req.method, req.path, err.message);
                respond_error(client, err.code, err.message);
                return;
        }

        _cleanup_close_ int upstream = connect_dockerd();
        if (upstream < 0) {
                respond_error(client, 502, "slipway proxy: the agent's dockerd is not answering");
                return;
        }
        bool hijack = route.kind == DOCKER_POLICY_HIJACK;
        bool streamed = route.body == DOCKER_POLICY_BODY_STREAM && (req.chunked || req.content_length > 0);
        char framing[128];
        if (streamed && req.chunked)
                snprintf(framing, sizeof(framing), "Transfer-Encoding: chunked\r\n");
        else
                snprintf(framing, sizeof(framing), "Content-Length: %lld\r\n",
                         streamed ? (long long) req.content_length : (long long) json_len);
        static char upstream_head[HTTP_HEAD_MAX + 16384];
        int len = snprintf(upstream_head, sizeof(upstream_head), "%s %s%s%s HTTP/1.1\r\nHost: docker\r\n%s%s%s\r\n",
                           req.method, req.path, req.query[0] ? "?" : "", req.query,
                           /* "close" even when upgrading: a hijack route that answers without
                            * taking the connection over (exec start of an unknown id, or
                            * detached) must not go on reading requests from it. */
                           hijack && req.upgrade_tcp ? "Connection: Upgrade, close\r\nUpgrade: tcp\r\n"
                                                     : "Connection: close\r\n",
                           req.forward, framing);
        if (len >= (int) sizeof(upstream_head) || write_all(upstream, upstream_head, (size_t) len) < 0)
                return;
        if (!streamed) {
                if (json_len && write_all(upstream, json, json_len) < 0)
                        return;
        } else {
                char buf[IO_CHUNK];
                for (;;) {
                        ssize_t n = body_read(&body, buf, sizeof(buf), &err);
                        if (n < 0) {
                                /* dockerd has the head already: cutting the stream makes it fail
                                 * the request; the client hears why. */
                                proxy_log("bad body for %s %s: %s", req.method, req.path, err.message);
                                respond_error(client, err.code, err.message);
                                return;
                        }
                        if (req.chunked) {
                                char size_line[32];
                                int sl = snprintf(size_line, sizeof(size_line), "%zx\r\n", (size_t) n);
                                if (write_all(upstream, size_line, (size_t) sl) < 0 ||
                                    (n && write_all(upstream, buf, (size_t) n) < 0) || write_all(upstream, "\r\n", 2) < 0)
                                        return;
                        } else if (n && write_all(upstream, buf, (size_t) n) < 0) {
                                return;
                        }
                        if (n == 0)
                                break;
                }
        }
        /* Bytes the client sent after its request are stdin of a hijacked stream, but only once
         * dockerd has taken the connection over: before that they could be a second request,
         * which dockerd would read unjudged. */
        bool taken = false;
        if (hijack && forward_response_head(client, upstream, &taken) < 0)
                return;
        if (taken && body.done && body.pending_len && write_all(upstream, body.pending, body.pending_len) < 0)
                return;
        relay(client, upstream, taken);
}

static __attribute__((noreturn)) void serve(int listen_fd)
{
        /* Connection handlers are reaped by the kernel. */
        struct sigaction ignore = { .sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT };
        sigaction(SIGCHLD, &ignore, NULL);
        signal(SIGPIPE, SIG_IGN);
        for (;;) {
                int client = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (client < 0) {
                        if (errno != EINTR && errno != ECONNABORTED) {
                                proxy_log("accept: %s", strerror(errno));
                                struct timespec t = { 0, 100 * 1000 * 1000 };
                                nanosleep(&t, NULL);
                        }
                        continue;
                }
                pid_t pid = fork();
                if (pid == 0) {
                        close(listen_fd);
                        serve_connection(client);
                        shutdown(client, SHUT_RDWR);
                        _exit(0);
                }
                /* Without a handler the connection is closed unanswered: answering here could
                 * block the accept loop on a client that does not read. */
                if (pid < 0)
                        proxy_log("fork: %s", strerror(errno));
                close(client);
        }
}

/* The gid of group name in /etc/group (parsed by hand: a static binary must not use NSS). */
static int group_id(const char *name, gid_t *gid)
{
        _cleanup_fclose_ FILE *f = fopen("/etc/group", "re");
        if (!f)
                return -errno;
        char line[4096];
        size_t name_len = strlen(name);
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, name, name_len) != 0 || line[name_len] != ':')
                        continue;
                char *p = strchr(line + name_len + 1, ':');
                if (!p)
                        continue;
                char *end;
                unsigned long id = strtoul(p + 1, &end, 10);
                if (end == p + 1 || *end != ':')
                        continue;
                *gid = (gid_t) id;
                return 0;
        }
        return -ENOENT;
}

int init_proxy_listen(struct sw_error *err)
{
        gid_t gid;
        int r = group_id("docker", &gid);
        if (r < 0)
                return sw_error_errno(err, -r, "group docker in /etc/group (the proxy socket's group)");
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return sw_error_errno(err, errno, "socket");
        struct sockaddr_un addr = { .sun_family = AF_UNIX, .sun_path = INIT_DOCKER_SOCKET };
        unlink(INIT_DOCKER_SOCKET);
        /* Created root-only, opened to the group once it is the right group. */
        mode_t old = umask(0177);
        r = bind(fd, (struct sockaddr *) &addr, sizeof(addr));
        umask(old);
        if (r < 0)
                return sw_error_errno(err, errno, "bind %s", INIT_DOCKER_SOCKET);
        if (chown(INIT_DOCKER_SOCKET, 0, gid) < 0 || chmod(INIT_DOCKER_SOCKET, 0660) < 0)
                return sw_error_errno(err, errno, "chown/chmod %s", INIT_DOCKER_SOCKET);
        if (listen(fd, 128) < 0)
                return sw_error_errno(err, errno, "listen on %s", INIT_DOCKER_SOCKET);
        return TAKE_FD(fd);
}

pid_t init_proxy_start(int listen_fd, const sigset_t *blocked, struct sw_error *err)
{
        pid_t pid = fork();
        if (pid < 0)
                return sw_error_errno(err, errno, "fork the docker proxy");
        if (pid == 0) {
                sigprocmask(SIG_UNBLOCK, blocked, NULL);
                setsid();
                /* It parses what builds send, as root: a bug here must not be root in the
                 * agent with every capability (init_confine.c). */
                struct sw_error confine_err = { 0 };
                if (init_confine_proxy(&confine_err) < 0) {
                        proxy_log("cannot confine the proxy: %s", confine_err.message);
                        _exit(1);
                }
                serve(listen_fd);
        }
        return pid;
}
