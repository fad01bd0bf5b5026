/* The Docker client against a fake daemon on a unix socket: a thread that records each request
 * and answers with canned responses, so every byte on the wire is the real client's. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "slipway/cleanup.h"
#include "slipway/docker.h"

#define MAX_CANNED 8

struct canned {
        const char *status; /* "200 OK": body follows with a computed Content-Length */
        const char *body;
        const char *raw;    /* or the whole response, verbatim */
        size_t huge;        /* or a 200 whose body is this many bytes */
};

static struct {
        char path[108];
        int listen_fd;
        pthread_t thread;
        struct canned canned[MAX_CANNED];
        int served;
        char requests[MAX_CANNED][8192]; /* request line, headers and body */
} fake;

#define VERSION_141 { .status = "200 OK", .body = "{\"ApiVersion\":\"1.41\",\"Version\":\"20.10\"}" }

static ssize_t read_request(int fd, char *out, size_t size)
{
        size_t len = 0;
        while (len + 1 < size) {
                ssize_t n = read(fd, out + len, 1);
                if (n <= 0)
                        return -1;
                len++;
                out[len] = '\0';
                if (len >= 4 && memcmp(out + len - 4, "\r\n\r\n", 4) == 0)
                        break;
        }
        const char *cl = strcasestr(out, "Content-Length:");
        size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
        while (body > 0 && len + 1 < size) {
                ssize_t n = read(fd, out + len, body < size - len - 1 ? body : size - len - 1);
                if (n <= 0)
                        return -1;
                len += (size_t) n;
                body -= (size_t) n;
        }
        out[len] = '\0';
        return (ssize_t) len;
}

static void send_huge(int fd, size_t size)
{
        char head[128];
        int n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", size);
        if (write(fd, head, (size_t) n) < 0)
                return;
        char chunk[65536];
        memset(chunk, ' ', sizeof(chunk));
        for (size_t sent = 0; sent < size;) {
                size_t take = size - sent < sizeof(chunk) ? size - sent : sizeof(chunk);
                ssize_t w = write(fd, chunk, take);
                if (w <= 0)
                        return; /* the client gave up, as it should */
                sent += (size_t) w;
        }
}

/* One request per connection ("Connection: close"), so a kept-alive connection never blocks
 * the next one (exec attach opens its own). */
static void *serve(void *arg)
{
        (void) arg;
        for (;;) {
                int fd = accept4(fake.listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        return NULL;
                int i = fake.served;
                const struct canned *c = &fake.canned[i];
                if (i < MAX_CANNED && (c->status || c->raw || c->huge) &&
                    read_request(fd, fake.requests[i], sizeof(fake.requests[i])) >= 0) {
                        fake.served++;
                        if (c->huge) {
                                send_huge(fd, c->huge);
                        } else if (c->raw) {
                                if (write(fd, c->raw, strlen(c->raw)) < 0)
                                        perror("fake docker: write");
                        } else {
                                dprintf(fd, "HTTP/1.1 %s\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                                        c->status, strlen(c->body), c->body);
                        }
                }
                close(fd);
        }
}

static void fake_start(const struct canned *canned, size_t count)
{
        memset(&fake, 0, sizeof(fake));
        for (size_t i = 0; i < count; i++)
                fake.canned[i] = canned[i];
        snprintf(fake.path, sizeof(fake.path), "/tmp/slipway-fake-docker-%d.sock", (int) getpid());
        unlink(fake.path);
        fake.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        strcpy(addr.sun_path, fake.path);
        assert_int_equal(bind(fake.listen_fd, (struct sockaddr *) &addr, sizeof(addr)), 0);
        assert_int_equal(listen(fake.listen_fd, 8), 0);
        assert_int_equal(pthread_create(&fake.thread, NULL, serve, NULL), 0);
}

static void fake_stop(void)
{
        shutdown(fake.listen_fd, SHUT_RDWR);
        close(fake.listen_fd);
        pthread_join(fake.thread, NULL);
        unlink(fake.path);
}

static struct docker_client *fake_open(struct sw_error *err)
{
        char host[160];
        snprintf(host, sizeof(host), "unix://%s", fake.path);
        struct docker_client *client = NULL;
        assert_int_equal(docker_open(&client, host, err), 0);
        return client;
}

static void test_negotiates_daemon_version(void **state)
{
        (void) state;
        struct canned c[] = { VERSION_141 };
        fake_start(c, 1);
        struct sw_error err = { 0 };
        struct docker_client *client = fake_open(&err);
        assert_string_equal(docker_api_version(client), "1.41");
        assert_true(docker_api_at_least(client, 1, 41));
        assert_false(docker_api_at_least(client, 1, 42));
        assert_non_null(strstr(fake.requests[0], "GET /version HTTP/1.1"));
        docker_close(client);
        fake_stop();
}

static void test_caps_newer_daemons_and_refuses_old_ones(void **state)
{
        (void) state;
        struct canned c[] = { { .status = "200 OK", .body = "{\"ApiVersion\":\"1.47\"}\n" } };
        fake_start(c, 1);
        struct sw_error err = { 0 };
        struct docker_client *client = fake_open(&err);
        assert_string_equal(docker_api_version(client), "1.45");
        docker_close(client);
        fake_stop();

        struct canned old[] = { { .status = "200 OK", .body = "{\"ApiVersion\":\"1.30\"}" } };
        fake_start(old, 1);
        char host[160];
        snprintf(host, sizeof(host), "unix://%s", fake.path);
        client = NULL;
        assert_true(docker_open(&client, host, &err) < 0);
        assert_null(client);
        assert_non_null(strstr(err.message, "too old"));
        fake_stop();
}

static void test_malformed_version(void **state)
{
        (void) state;
        struct canned c[] = { { .status = "200 OK", .body = "{\"ApiVersion" } };
        fake_start(c, 1);
        char host[160];
        snprintf(host, sizeof(host), "unix://%s", fake.path);
        struct docker_client *client = NULL;
        struct sw_error err = { 0 };
        assert_true(docker_open(&client, host, &err) < 0);
        assert_non_null(strstr(err.message, "malformed"));
        fake_stop();
}

static void test_create_sends_body_and_reads_id(void **state)
{
        (void) state;
        struct canned c[] = { VERSION_141, { .status = "201 Created", .body = "{\"Id\":\"abc123\",\"Warnings\":[]}" } };
        fake_start(c, 2);
        struct sw_error err = { 0 };
        struct docker_client *client = fake_open(&err);
        _cleanup_json_ json_t *body = json_pack("{s:s}", "Image", "slipway/agent:latest");
        _cleanup_free_ char *id = NULL;
        assert_int_equal(docker_container_create(client, "my agent", body, &id, &err), 0);
        assert_string_equal(id, "abc123");
        assert_non_null(strstr(fake.requests[1], "POST /v1.41/containers/create?name=my%20agent HTTP/1.1"));
        assert_non_null(strstr(fake.requests[1], "Content-Type: application/json"));
        assert_non_null(strstr(fake.requests[1], "{\"Image\":\"slipway/agent:latest\"}"));
        docker_close(client);
        fake_stop();
}

static void test_errors_carry_dockers_message(void **state)
{
        (void) state;
        struct canned c[] = { VERSION_141,
                              { .status = "404 Not Found", .body = "{\"message\":\"No such image: foo:1\"}\n" },
                              { .status = "500 Internal Server Error", .body = "boom\n<html>\x01</html>\n" } };
        fake_start(c, 3);
        struct sw_error err = { 0 };
        struct docker_client *client = fake_open(&err);
        _cleanup_json_ json_t *body = json_pack("{s:s}", "Image", "foo:1");
        char *id = NULL;
        assert_int_equal(docker_container_create(client, NULL, body, &id, &err), -ENOENT);
        assert_null(id);
        assert_non_null(strstr(err.message, fake.path));
        assert_non_null(strstr(err.message, "POST /containers/create: 404 No such image: foo:1"));
        json_t *info = NULL;
        assert_true(docker_container_inspect(client, "x", &info, &err) < 0);
        assert_null(info);
        assert_non_null(strstr(err.message, "GET /containers/x/json: 500 boom <html> </html>"));
        docker_close(client);
        fake_stop();
}

static void test_oversized_response_refused(void **state)
{
        (void) state;
        struct canned c[] = { VERSION_141, { .huge = DOCKER_MAX_RESPONSE + 4096 } };
        fake_start(c, 2);
        struct sw_error err = { 0 };
        struct docker_client *client = fake_open(&err);
        json_t *list = NULL;
        assert_int_equal(docker_container_list(client, "a", true, &list, &err), -EFBIG);
        assert_null(list);
        assert_non_null(strstr(err.message, "larger than"));
        docker_close(client);
        fake_stop();
}

static void test_wrong_json_types_refused(void **state)
{
        (void) state;
        struct canned c[] = { VERSION_141, { .status = "201 Created", .body = "{\"Id\":42}\n" },
                              { .status = "200 OK", .body = "{}" } };
        fake_start(c, 3);
        struct sw_error err = { 0 };
        struct docker_client *client = fake_open(&err);
        _cleanup_json_ json_t *body = json_object();
        char *id = NULL;
        assert_int_equal(docker_container_create(client, NULL, body, &id, &err), -EPROTO);
        assert_null(id);
        json_t *list = NULL;
        assert_int_equal(docker_container_list(client, "a", false, &list, &err), -EPROTO);
        assert_non_null(strstr(err.message, "malformed response"));
        docker_close(client);
        fake_stop();
}

static void test_label_filter_is_encoded(void **state)
{
        (void) state;
        struct canned c[] = { VERSION_141, { .status = "200 OK", .body = "[]" } };
        fake_start(c, 2);
        struct sw_error err = { 0 };
        struct docker_client *client = fake_open(&err);
        _cleanup_json_ json_t *list = NULL;
        assert_int_equal(docker_container_list(client, "io.slipway.state-dir=/var/lib/x y", true, &list, &err), 0);
        assert_int_equal(json_array_size(list), 0);
        assert_non_null(strstr(fake.requests[1],
                               "GET /v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22io.slipway."
                               "state-dir%3D%2Fvar%2Flib%2Fx%20y%22%5D%7D HTTP/1.1"));
        docker_close(client);
        fake_stop();
}

static void test_archive_stat(void **state)
{
        (void) state;
        struct canned c[] = { VERSION_141, { .status = "200 OK", .body = "" }, { .status = "404 Not Found", .body = "" } };
        fake_start(c, 3);
        struct sw_error err = { 0 };
        struct docker_client *client = fake_open(&err);
        assert_int_equal(docker_archive_stat(client, "c1", "/run/slipway/ready", &err), 0);
        assert_non_null(strstr(fake.requests[1], "HEAD /v1.41/containers/c1/archive?path=%2Frun%2Fslipway%2Fready"));
        assert_int_equal(docker_archive_stat(client, "c1", "/run/slipway/ready", &err), -ENOENT);
        docker_close(client);
        fake_stop();
}

static void test_exec_attach_loses_no_byte(void **state)
{
        (void) state;
        /* The head and the first stream bytes arrive in one write. */
        static const char upgraded[] = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                                       "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nhello from the agent";
        struct canned c[] = { VERSION_141, { .raw = upgraded } };
        fake_start(c, 2);
        struct sw_error err = { 0 };
        struct docker_client *client = fake_open(&err);
        int fd = -1;
        assert_int_equal(docker_exec_attach(client, "e1", true, &fd, &err), 0);
        char buf[64] = "";
        size_t len = 0;
        for (;;) {
                ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        assert_string_equal(buf, "hello from the agent");
        close(fd);
        assert_non_null(strstr(fake.requests[1], "POST /v1.41/exec/e1/start HTTP/1.1"));
        assert_non_null(strstr(fake.requests[1], "Upgrade: tcp"));
        assert_non_null(strstr(fake.requests[1], "{\"Detach\":false,\"Tty\":true}"));
        docker_close(client);
        fake_stop();
}

static void test_exec_attach_error(void **state)
{
        (void) state;
        struct canned c[] = { VERSION_141, { .status = "404 Not Found", .body = "{\"message\":\"No such exec instance\"}" } };
        fake_start(c, 2);
        struct sw_error err = { 0 };
        struct docker_client *client = fake_open(&err);
        int fd = -1;
        assert_int_equal(docker_exec_attach(client, "e1", false, &fd, &err), -ENOENT);
        assert_int_equal(fd, -1);
        assert_non_null(strstr(err.message, "No such exec instance"));
        docker_close(client);
        fake_stop();
}

static void test_unreachable_hosts(void **state)
{
        (void) state;
        struct docker_client *client = NULL;
        struct sw_error err = { 0 };
        assert_true(docker_open(&client, "unix:///nonexistent/slipway.sock", &err) < 0);
        assert_non_null(strstr(err.message, "unix:///nonexistent/slipway.sock: cannot connect: No such file"));
        assert_true(docker_open(&client, "tcp://127.0.0.1:2375", &err) < 0);
        assert_non_null(strstr(err.message, "unsupported docker host"));
        assert_true(docker_open(&client, "unix://relative.sock", &err) < 0);
        assert_null(client);
}

struct collected {
        char text[256];
        size_t len;
        int streams[8];
        int pieces;
};

static int collect(void *user, int stream, const char *data, size_t len)
{
        struct collected *c = user;
        memcpy(c->text + c->len, data, len);
        c->len += len;
        if (c->pieces < 8)
                c->streams[c->pieces++] = stream;
        return 0;
}

static void test_demux_any_chunking(void **state)
{
        (void) state;
        static const char stream[] = "\x01\0\0\0\0\0\0\x03out\x02\0\0\0\0\0\0\x03" "err\x01\0\0\0\0\0\0\0";
        size_t len = sizeof(stream) - 1;
        for (size_t chunk = 1; chunk <= len; chunk++) {
                struct docker_stream_demux demux;
                struct collected c = { 0 };
                docker_stream_demux_init(&demux);
                for (size_t off = 0; off < len; off += chunk)
                        assert_int_equal(docker_stream_demux_feed(&demux, stream + off,
                                                                  off + chunk > len ? len - off : chunk, collect, &c),
                                         0);
                c.text[c.len] = '\0';
                assert_string_equal(c.text, "outerr");
                assert_int_equal(c.streams[0], 1);
                assert_int_equal(c.streams[c.pieces - 1], 2);
        }
}

static void test_demux_rejects_malformed_headers(void **state)
{
        (void) state;
        struct docker_stream_demux demux;
        struct collected c = { 0 };
        docker_stream_demux_init(&demux);
        assert_int_equal(docker_stream_demux_feed(&demux, "\x07\0\0\0\0\0\0\x01x", 9, collect, &c), -EPROTO);
        docker_stream_demux_init(&demux);
        assert_int_equal(docker_stream_demux_feed(&demux, "\x01\x01\0\0\0\0\0\x01x", 9, collect, &c), -EPROTO);
        docker_stream_demux_init(&demux);
        assert_int_equal(docker_stream_demux_feed(&demux, "plain text", 10, collect, &c), -EPROTO);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_negotiates_daemon_version),
                cmocka_unit_test(test_caps_newer_daemons_and_refuses_old_ones),
                cmocka_unit_test(test_malformed_version),
                cmocka_unit_test(test_create_sends_body_and_reads_id),
                cmocka_unit_test(test_errors_carry_dockers_message),
                cmocka_unit_test(test_oversized_response_refused),
                cmocka_unit_test(test_wrong_json_types_refused),
                cmocka_unit_test(test_label_filter_is_encoded),
                cmocka_unit_test(test_archive_stat),
                cmocka_unit_test(test_exec_attach_loses_no_byte),
                cmocka_unit_test(test_exec_attach_error),
                cmocka_unit_test(test_unreachable_hosts),
                cmocka_unit_test(test_demux_any_chunking),
                cmocka_unit_test(test_demux_rejects_malformed_headers),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
