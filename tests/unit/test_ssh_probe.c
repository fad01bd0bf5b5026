/* ssh_banner_probe: an SSH banner, a refused port, a silent listener and a stranger are told
 * apart, each with the address in the message. Real sockets on 127.0.0.1. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "slipway/ssh_probe.h"

/* A listening socket on 127.0.0.1 and its port. */
static int listen_local(int *port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 8), 0);
        socklen_t len = sizeof(sa);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        *port = ntohs(sa.sin_port);
        return fd;
}

struct server {
        int fd;
        const char *greeting; /* NULL: accept and say nothing */
};

static void *serve_one(void *arg)
{
        struct server *server = arg;
        int client = accept(server->fd, NULL, NULL);
        if (client >= 0) {
                if (server->greeting)
                        (void) !write(client, server->greeting, strlen(server->greeting));
                sleep(2);
                close(client);
        }
        return NULL;
}

static int probe_against(const char *greeting, int timeout_ms, struct sw_error *err)
{
        int port;
        struct server server = { .fd = listen_local(&port), .greeting = greeting };
        pthread_t thread;
        assert_int_equal(pthread_create(&thread, NULL, serve_one, &server), 0);
        int r = ssh_banner_probe("127.0.0.1", port, timeout_ms, err);
        shutdown(server.fd, SHUT_RDWR);
        pthread_join(thread, NULL);
        close(server.fd);
        return r;
}

static void test_banner(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        assert_int_equal(probe_against("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", 2000, &err), 0);
}

static void test_refused(void **state)
{
        (void) state;
        int port;
        close(listen_local(&port)); /* a port nothing listens on any more */
        struct sw_error err = { 0 };
        assert_int_equal(ssh_banner_probe("0.0.0.0", port, 300, &err), -ECONNREFUSED);
        char where[64];
        snprintf(where, sizeof(where), "ssh 127.0.0.1 port %d: connection refused", port);
        assert_non_null(strstr(err.message, where));
}

static void test_silent(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        assert_int_equal(probe_against(NULL, 500, &err), -ETIMEDOUT);
        assert_non_null(strstr(err.message, "no answer in 500 ms"));
}

static void test_stranger(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        assert_int_equal(probe_against("HTTP/1.1 400 Bad Request\r\n\033[2J", 1000, &err), -EPROTO);
        assert_non_null(strstr(err.message, "not as an SSH server (\"HTTP/1.1 400 Bad Request\")"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_banner),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_silent),
                cmocka_unit_test(test_stranger),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
