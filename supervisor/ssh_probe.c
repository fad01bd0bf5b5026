/* SSH banner probe: see include/slipway/ssh_probe.h. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "slipway/cleanup.h"
#include "slipway/ssh_probe.h"

#define ATTEMPT_MS 1000
#define RETRY_PAUSE_MS 100

static long long now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One attempt: 0 with a banner, or -errno (-EPROTO: an answer that is not SSH's). */
static int probe_once(const struct addrinfo *ai, int timeout_ms, char *banner, size_t size)
{
        _cleanup_close_ int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        long long deadline = now_ms() + timeout_ms;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
                return -errno;
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        int r = poll(&pfd, 1, timeout_ms);
        if (r == 0)
                return -ETIMEDOUT;
        if (r < 0)
                return -errno;
        int so_error = 0;
        socklen_t len = sizeof(so_error);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
                return -errno;
        if (so_error)
                return -so_error;
        size_t got = 0;
        while (got < size - 1) {
                long long left = deadline - now_ms();
                pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
                if (left <= 0 || (r = poll(&pfd, 1, (int) left)) == 0)
                        return got ? -EPROTO : -ETIMEDOUT;
                if (r < 0)
                        return -errno;
                ssize_t n = read(fd, banner + got, size - 1 - got);
                if (n < 0 && errno == EAGAIN)
                        continue;
                if (n <= 0) /* closed before a whole line: not an sshd that accepts us */
                        return n < 0 ? -errno : -ECONNRESET;
                got += (size_t) n;
                banner[got] = '\0';
                if (strchr(banner, '\n'))
                        break;
        }
        banner[got] = '\0';
        return strncmp(banner, "SSH-", 4) == 0 ? 0 : -EPROTO;
}

int ssh_banner_probe(const char *host, int port, int timeout_ms, struct sw_error *err)
{
        if (strcmp(host, "0.0.0.0") == 0)
                host = "127.0.0.1";
        else if (strcmp(host, "::") == 0)
                host = "::1";
        char service[16];
        snprintf(service, sizeof(service), "%d", port);
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
        struct addrinfo *list = NULL;
        int gai = getaddrinfo(host, service, &hints, &list);
        if (gai != 0)
                return sw_error_set(err, EHOSTUNREACH, "ssh %s port %d: cannot resolve %s: %s", host,
                                    port, host, gai_strerror(gai));
        long long deadline = now_ms() + timeout_ms;
        char banner[256] = "";
        int r;
        for (;;) {
                r = -EHOSTUNREACH;
                for (const struct addrinfo *ai = list; ai && r < 0; ai = ai->ai_next) {
                        long long left = deadline - now_ms();
                        r = probe_once(ai, (int) (left < ATTEMPT_MS ? (left > 0 ? left : 1) : ATTEMPT_MS),
                                       banner, sizeof(banner));
                }
                /* A stranger's answer is final; a refusal or silence may be a moment early. */
                if (r == 0 || r == -EPROTO || now_ms() + RETRY_PAUSE_MS >= deadline)
                        break;
                struct timespec pause = { 0, RETRY_PAUSE_MS * 1000000L };
                nanosleep(&pause, NULL);
        }
        freeaddrinfo(list);
        switch (r) {
        case 0:
                return 0;
        case -ECONNREFUSED:
                return sw_error_set(err, ECONNREFUSED,
                                    "ssh %s port %d: connection refused: nothing listens there, or a "
                                    "firewall REJECTs it (is the port published on this address?)",
                                    host, port);
        case -ETIMEDOUT:
                return sw_error_set(err, ETIMEDOUT,
                                    "ssh %s port %d: no answer in %d ms: packets are dropped on the "
                                    "way (the host's nat rules for Docker's published ports, which "
                                    "another dockerd started in the host's network namespace may "
                                    "have rewritten; a firewall DROP rule; or an address that is not "
                                    "this host's)", host, port, timeout_ms);
        case -EPROTO:
                banner[strcspn(banner, "\r\n")] = '\0';
                for (char *p = banner; *p; p++)
                        if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e)
                                *p = '?';
                return sw_error_set(err, EPROTO,
                                    "ssh %s port %d: answers, but not as an SSH server (\"%.60s\"): "
                                    "another service or proxy holds that address", host, port, banner);
        default:
                return sw_error_errno(err, -r, "ssh %s port %d", host, port);
        }
}
