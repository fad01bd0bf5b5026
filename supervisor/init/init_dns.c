/* DNS for the inner network namespace.
 *
 * The agent's /etc/resolv.conf usually names Docker's embedded resolver, 127.0.0.11, which
 * answers only inside the agent's own network namespace (Docker's NAT rules there send it to a
 * random port). Processes in the inner namespace cannot reach it, so the agent relays: this
 * process listens on INIT_NET_AGENT_ADDRESS:53 (UDP and TCP), the only address the INPUT filter
 * leaves open to the inner side, and forwards each query to the agent's first IPv4 nameserver.
 * The inner /etc/resolv.conf (INIT_RESOLV_CONF, bound over it inside) names the relay and keeps
 * the agent's search and options lines.
 *
 * The relay copies bytes and parses nothing. Once bound it keeps no capability and runs under
 * the sessions' seccomp filter with no_new_privs (init_confine.c). One forked child per UDP query or TCP connection, each bounded in time. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "slipway/cleanup.h"

#define DNS_PORT 53
#define DNS_TIMEOUT_MS 5000
#define DNS_TCP_IDLE_MS 30000
#define DNS_MAX_CHILDREN 64

static struct in_addr upstream;
static bool have_upstream;

int init_dns_prepare(struct sw_error *err)
{
        _cleanup_fclose_ FILE *in = fopen("/etc/resolv.conf", "re");
        char text[4096];
        int len = snprintf(text, sizeof(text), "# slipway: the agent's DNS relay\nnameserver %s\n",
                           INIT_NET_AGENT_ADDRESS);
        char line[512];
        while (in && fgets(line, sizeof(line), in)) {
                char word[16], value[64];
                if (sscanf(line, "%15s %63s", word, value) != 2)
                        continue;
                if (strcmp(word, "nameserver") == 0) {
                        if (!have_upstream && inet_pton(AF_INET, value, &upstream) == 1)
                                have_upstream = true;
                } else if ((strcmp(word, "search") == 0 || strcmp(word, "options") == 0 ||
                            strcmp(word, "domain") == 0) &&
                           len + strlen(line) + 1 < sizeof(text)) {
                        len += snprintf(text + len, sizeof(text) - (size_t) len, "%s%s", line,
                                        line[strlen(line) - 1] == '\n' ? "" : "\n");
                }
        }
        if (!have_upstream)
                init_log("dns: no IPv4 nameserver in /etc/resolv.conf: the inner namespace resolves nothing");
        _cleanup_close_ int fd = open(INIT_RESOLV_CONF, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0 || write(fd, text, (size_t) len) != len)
                return sw_error_errno(err, errno, "write %s", INIT_RESOLV_CONF);
        return 0;
}

static int upstream_socket(int type)
{
        int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(DNS_PORT), .sin_addr = upstream };
        if (fd >= 0 && connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static __attribute__((noreturn)) void relay_udp_query(int listen_fd, const char *query, size_t len,
                                                        const struct sockaddr_in *client)
{
        _cleanup_close_ int fd = upstream_socket(SOCK_DGRAM);
        if (fd < 0 || send(fd, query, len, 0) < 0)
                _exit(1);
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (poll(&pfd, 1, DNS_TIMEOUT_MS) <= 0)
                _exit(1);
        char answer[65536];
        ssize_t n = recv(fd, answer, sizeof(answer), 0);
        if (n > 0)
                (void) sendto(listen_fd, answer, (size_t) n, 0, (const struct sockaddr *) client, sizeof(*client));
        _exit(0);
}

static __attribute__((noreturn)) void relay_tcp_connection(int client)
{
        _cleanup_close_ int fd = upstream_socket(SOCK_STREAM);
        if (fd < 0)
                _exit(1);
        /* A client that stops reading must not hold a relay child for ever. */
        struct timeval limit = { .tv_sec = DNS_TIMEOUT_MS / 1000 };
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
        struct pollfd pfd[2] = { { .fd = client, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
        char buf[16384];
        while (poll(pfd, 2, DNS_TCP_IDLE_MS) > 0) {
                for (int i = 0; i < 2; i++) {
                        if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        ssize_t n = read(pfd[i].fd, buf, sizeof(buf));
                        if (n <= 0 || write(pfd[1 - i].fd, buf, (size_t) n) != n)
                                _exit(0);
                }
        }
        _exit(0);
}

static int bound_socket(int type, struct sw_error *err)
{
        int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return sw_error_errno(err, errno, "dns: socket");
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(DNS_PORT) };
        inet_pton(AF_INET, INIT_NET_AGENT_ADDRESS, &addr.sin_addr);
        if (bind(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 ||
            (type == SOCK_STREAM && listen(fd, 64) < 0)) {
                int saved = errno;
                close(fd);
                return sw_error_errno(err, saved, "dns: bind %s:%d", INIT_NET_AGENT_ADDRESS, DNS_PORT);
        }
        return fd;
}

/* Not host root either: nobody, with no group, once the sockets are bound. */
#define RELAY_ID 65534

static __attribute__((noreturn)) void relay(int udp, int tcp)
{
        for (int i = 0; i < INIT_NS_COUNT; i++)
                if (init_inner.ns_fd[i] >= 0)
                        close(init_inner.ns_fd[i]);
        struct sw_error err = { 0 };
        if (init_confine_helper(&err) < 0) {
                init_log("dns: %s", err.message);
                _exit(1);
        }
        if (setgroups(0, NULL) < 0 || setresgid(RELAY_ID, RELAY_ID, RELAY_ID) < 0 ||
            setresuid(RELAY_ID, RELAY_ID, RELAY_ID) < 0) {
                init_log("dns: cannot become nobody: %s", strerror(errno));
                _exit(1);
        }
        /* At most DNS_MAX_CHILDREN queries in flight: a flood from a build drops queries, it
         * does not fill the agent's process table. */
        int live = 0;
        struct pollfd pfd[2] = { { .fd = udp, .events = POLLIN }, { .fd = tcp, .events = POLLIN } };
        for (;;) {
                while (live > 0 && waitpid(-1, NULL, WNOHANG) > 0)
                        live--;
                if (poll(pfd, 2, 1000) < 0) {
                        if (errno == EINTR)
                                continue;
                        _exit(1);
                }
                bool room = have_upstream && live < DNS_MAX_CHILDREN;
                if (pfd[0].revents & POLLIN) {
                        char query[4096];
                        struct sockaddr_in client;
                        socklen_t len = sizeof(client);
                        ssize_t n = recvfrom(udp, query, sizeof(query), 0, (struct sockaddr *) &client, &len);
                        pid_t child = n > 0 && room ? fork() : -1;
                        if (child == 0)
                                relay_udp_query(udp, query, (size_t) n, &client);
                        live += child > 0;
                }
                if (pfd[1].revents & POLLIN) {
                        int client = accept4(tcp, NULL, NULL, SOCK_CLOEXEC);
                        pid_t child = client >= 0 && room ? fork() : -1;
                        if (child == 0)
                                relay_tcp_connection(client);
                        live += child > 0;
                        if (client >= 0)
                                close(client);
                }
        }
}

pid_t init_dns_start(const sigset_t *blocked, struct sw_error *err)
{
        int udp = bound_socket(SOCK_DGRAM, err);
        if (udp < 0)
                return udp;
        int tcp = bound_socket(SOCK_STREAM, err);
        if (tcp < 0) {
                close(udp);
                return tcp;
        }
        pid_t pid = fork();
        if (pid < 0) {
                int saved = errno;
                close(udp);
                close(tcp);
                return sw_error_errno(err, saved, "dns: fork");
        }
        if (pid == 0) {
                sigprocmask(SIG_UNBLOCK, blocked, NULL);
                relay(udp, tcp);
        }
        close(udp);
        close(tcp);
        return pid;
}
