/* The Jenkins client against a fake Jenkins on 127.0.0.1: a thread that records each request
 * and answers with canned responses, so every byte on the wire is the real client's. The pure
 * functions (node JSON, names, error texts, the /computer and /queue decoders) are tested
 * directly. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "slipway/cleanup.h"
#include "slipway/jenkins.h"

#define MAX_CANNED 8

struct canned {
        const char *status;  /* "200 OK": body follows with a computed Content-Length */
        const char *headers; /* extra header lines, each ending in "\r\n" */
        const char *body;
        size_t huge;         /* or a 200 whose body is this many bytes */
        bool hang;           /* or no answer at all, until the client gives up */
};

static struct {
        int listen_fd;
        int port;
        pthread_t thread;
        struct canned canned[MAX_CANNED];
        int served;
        char requests[MAX_CANNED][32768]; /* request line, headers and body */
} fake;

/* An ed25519 public key blob (SSH wire format) and an RSA one. */
#define ED25519_B64 "AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
#define RSA_B64 "AAAAB3NzaC1yc2EAAAADAQABAAAABQDBAgME"
#define AUTH_TOKEN "Authorization: Basic c2xpcHdheToxMWFiY2RlZg==\r\n"       /* slipway:11abcdef */
#define AUTH_PASSWORD "Authorization: Basic c2xpcHdheTpzM2NyZXQgcGFzcw==\r\n" /* slipway:s3cret pass */

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

/* One request per connection ("Connection: close"). */
static void *serve(void *arg)
{
        (void) arg;
        for (;;) {
                int fd = accept4(fake.listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        return NULL;
                int i = fake.served;
                const struct canned *c = i < MAX_CANNED ? &fake.canned[i] : NULL;
                if (c && (c->status || c->huge || c->hang) &&
                    read_request(fd, fake.requests[i], sizeof(fake.requests[i])) >= 0) {
                        fake.served++;
                        if (c->huge) {
                                send_huge(fd, c->huge);
                        } else if (c->hang) {
                                char byte;
                                while (read(fd, &byte, 1) > 0)
                                        ;
                        } else {
                                const char *body = c->body ? c->body : "";
                                dprintf(fd, "HTTP/1.1 %s\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n%s",
                                        c->status, c->headers ? c->headers : "", strlen(body), body);
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
        fake.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fake.listen_fd >= 0);
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t addr_len = sizeof(addr);
        assert_int_equal(bind(fake.listen_fd, (struct sockaddr *) &addr, sizeof(addr)), 0);
        assert_int_equal(getsockname(fake.listen_fd, (struct sockaddr *) &addr, &addr_len), 0);
        fake.port = ntohs(addr.sin_port);
        assert_int_equal(listen(fake.listen_fd, 8), 0);
        assert_int_equal(pthread_create(&fake.thread, NULL, serve, NULL), 0);
}

static void fake_stop(void)
{
        shutdown(fake.listen_fd, SHUT_RDWR);
        close(fake.listen_fd);
        pthread_join(fake.thread, NULL);
}

static const char *fake_url(const char *suffix)
{
        static char url[128];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fake.port, suffix);
        return url;
}

enum auth { AUTH_WITH_TOKEN, AUTH_WITH_PASSWORD };

static struct jenkins_client *fake_open(enum auth auth, const char *suffix)
{
        struct jenkins_options options = {
                .url = fake_url(suffix),
                .user = "slipway",
                .token = auth == AUTH_WITH_TOKEN ? "11abcdef" : NULL,
                .password = auth == AUTH_WITH_PASSWORD ? "s3cret pass" : NULL,
        };
        struct jenkins_client *client = NULL;
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_open(&client, &options, &err), 0);
        return client;
}

/* The message every status error starts with. */
static void assert_error(const struct sw_error *err, const char *after_url)
{
        char expected[SW_ERROR_MAX];
        snprintf(expected, sizeof(expected), "jenkins %s: %s", fake_url(""), after_url);
        assert_string_equal(err->message, expected);
}

/* The body of a recorded request. */
static const char *request_body(const char *request)
{
        const char *end = strstr(request, "\r\n\r\n");
        return end ? end + 4 : "";
}

static int hex(int c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The decoded value of one application/x-www-form-urlencoded field, or NULL. */
static char *form_field(const char *form, const char *name)
{
        size_t name_len = strlen(name);
        for (const char *p = form; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
                if (strncmp(p, name, name_len) != 0 || p[name_len] != '=')
                        continue;
                const char *v = p + name_len + 1;
                size_t len = strcspn(v, "&");
                char *out = malloc(len + 1), *o = out;
                for (size_t i = 0; i < len; i++) {
                        if (v[i] == '%' && i + 2 < len + 1 && hex(v[i + 1]) >= 0 && hex(v[i + 2]) >= 0) {
                                *o++ = (char) (hex(v[i + 1]) * 16 + hex(v[i + 2]));
                                i += 2;
                        } else {
                                *o++ = v[i] == '+' ? ' ' : v[i];
                        }
                }
                *o = '\0';
                return out;
        }
        return NULL;
}

static struct jenkins_node_spec test_spec(void)
{
        return (struct jenkins_node_spec) {
                .name = "slipway-1",
                .description = "slipway agent",
                .remote_fs = "/home/jenkins/agent",
                .labels = "docker linux",
                .host = "127.0.0.1",
                .port = 32768,
                .credentials_id = "slipway-ssh",
                .java_path = NULL,
                .jvm_options = "-Xmx256m",
                .launch_timeout_s = 60,
                .max_retries = 3,
                .retry_wait_s = 5,
                .host_key = "ssh-ed25519 " ED25519_B64 " root@agent\n",
        };
}

static const char expected_node_json[] =
        "{\"name\":\"slipway-1\",\"nodeDescription\":\"slipway agent\",\"numExecutors\":1,"
        "\"remoteFS\":\"/home/jenkins/agent\",\"labelString\":\"docker linux\",\"mode\":\"EXCLUSIVE\","
        "\"launcher\":{\"$class\":\"hudson.plugins.sshslaves.SSHLauncher\",\"host\":\"127.0.0.1\","
        "\"port\":32768,\"credentialsId\":\"slipway-ssh\",\"javaPath\":\"\",\"jvmOptions\":\"-Xmx256m\","
        "\"launchTimeoutSeconds\":60,\"maxNumRetries\":3,\"retryWaitTime\":5,"
        "\"sshHostKeyVerificationStrategy\":{\"$class\":"
        "\"hudson.plugins.sshslaves.verifiers.ManuallyProvidedKeyVerificationStrategy\","
        "\"key\":\"ssh-ed25519 " ED25519_B64 "\"}},"
        "\"retentionStrategy\":{\"$class\":\"hudson.slaves.RetentionStrategy$Always\"},"
        "\"nodeProperties\":{\"stapler-class-bag\":\"true\"}}";

/* ---- pure functions ---- */

static void test_node_json_exact_shape(void **state)
{
        (void) state;
        struct jenkins_node_spec spec = test_spec();
        struct sw_error err = { 0 };
        _cleanup_free_ char *json = jenkins_node_json(&spec, &err);
        assert_non_null(json);
        assert_string_equal(json, expected_node_json);

        /* Tabs, extra spaces and no comment: the key is still "TYPE BASE64". */
        spec.host_key = "  ssh-rsa\t  " RSA_B64;
        _cleanup_free_ char *rsa = jenkins_node_json(&spec, &err);
        assert_non_null(rsa);
        assert_non_null(strstr(rsa, "\"key\":\"ssh-rsa " RSA_B64 "\"}"));
}

static void test_node_json_refuses_bad_specs(void **state)
{
        (void) state;
        static const char *const bad_keys[] = {
                "ssh-ed25519",                              /* one field */
                "ssh-ed25519 " ED25519_B64 "!!",            /* not base64 */
                "ssh-ed25519 AAAA",                         /* too short */
                "ssh-ed25519 " ED25519_B64 "A",             /* not a multiple of 4 */
                "ssh-rsa " ED25519_B64,                     /* blob of another type */
                "ssh-ed25519\n" ED25519_B64,                /* a newline is no separator */
                "ssh-ed25519 " ED25519_B64 ";rm -rf",       /* junk glued to the blob */
                "",
        };
        struct sw_error err = { 0 };
        for (size_t i = 0; i < ARRAY_SIZE(bad_keys); i++) {
                struct jenkins_node_spec spec = test_spec();
                spec.host_key = bad_keys[i];
                assert_null(jenkins_node_json(&spec, &err));
                assert_int_equal(err.code, EINVAL);
                assert_non_null(strstr(err.message, "host key"));
        }
        struct jenkins_node_spec spec = test_spec();
        spec.host_key = NULL;
        assert_null(jenkins_node_json(&spec, &err));

        spec = test_spec();
        spec.port = 0;
        assert_null(jenkins_node_json(&spec, &err));
        assert_non_null(strstr(err.message, "out of range"));
        spec = test_spec();
        spec.max_retries = -1;
        assert_null(jenkins_node_json(&spec, &err));
        spec = test_spec();
        spec.host = NULL;
        assert_null(jenkins_node_json(&spec, &err));
        assert_string_equal(err.message, "node slipway-1: host: missing");
        spec = test_spec();
        spec.remote_fs = "";
        assert_null(jenkins_node_json(&spec, &err));
        spec = test_spec();
        spec.credentials_id = NULL;
        assert_null(jenkins_node_json(&spec, &err));
        spec = test_spec();
        spec.description = "two\nlines";
        assert_null(jenkins_node_json(&spec, &err));
        spec = test_spec();
        spec.labels = "bad\xff";
        assert_null(jenkins_node_json(&spec, &err));
        spec = test_spec();
        spec.name = "a/b";
        assert_null(jenkins_node_json(&spec, &err));
        assert_int_equal(err.code, EINVAL);
}

static void test_node_name_validation(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        static const char forbidden[] = "?*/\\%!@#$^&|<>[]:;";
        for (const char *c = forbidden; *c; c++) {
                char name[8];
                snprintf(name, sizeof(name), "a%cb", *c);
                err.code = 0;
                assert_false(jenkins_node_name_valid(name, &err));
                assert_int_equal(err.code, EINVAL);
                assert_non_null(strstr(err.message, "unsafe character"));
        }
        static const char *const bad[] = {
                "", ".", "..", "agent.", "x..", " agent", "agent ", "a\x01" "b", "a\tb", "a\x7f",
                "a\xc2\x85" "b" /* U+0085, a C1 control */, "a\xffz", "a\xc0\xaf" /* overlong '/' */,
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                err.code = 0;
                assert_false(jenkins_node_name_valid(bad[i], &err));
                assert_int_equal(err.code, EINVAL);
        }
        assert_false(jenkins_node_name_valid(NULL, &err));
        char long_name[JENKINS_NODE_NAME_MAX + 2];
        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        assert_false(jenkins_node_name_valid(long_name, &err));
        assert_non_null(strstr(err.message, "longer than 200"));
        long_name[JENKINS_NODE_NAME_MAX] = '\0';
        assert_true(jenkins_node_name_valid(long_name, &err));

        static const char *const good[] = {
                "slipway-1", "slipway 1", "agent_ü", "a.b", ".hidden", "build(7)", "x=y,z+w", "日本語", "a~b'c\"",
        };
        for (size_t i = 0; i < ARRAY_SIZE(good); i++)
                assert_true(jenkins_node_name_valid(good[i], NULL));
        /* Messages never carry the control characters themselves. */
        assert_false(jenkins_node_name_valid("evil\x1b[2J", &err));
        assert_null(strchr(err.message, '\x1b'));
}

static void test_error_text(void **state)
{
        (void) state;
        char out[256];
        static const char jenkins_page[] =
                "<!DOCTYPE html><html><head><title>Jenkins</title><script>var x = '<p>no</p>';</script></head>"
                "<body><header><a href=\"/\">Dashboard</a></header><div id=\"main-panel\"><h1>Error</h1>\n"
                "<p>Agent called &#8216;a &amp; b&#x2019;   already\n exists</p></div></body></html>";
        jenkins_error_text(NULL, jenkins_page, strlen(jenkins_page), out, sizeof(out));
        assert_string_equal(out, "Agent called \xe2\x80\x98" "a & b\xe2\x80\x99 already exists");

        /* The X-Error header wins. */
        jenkins_error_text("\xe2\x80\x98?\xe2\x80\x99 is an unsafe character", jenkins_page, strlen(jenkins_page), out,
                           sizeof(out));
        assert_string_equal(out, "\xe2\x80\x98?\xe2\x80\x99 is an unsafe character");

        static const char jetty_page[] =
                "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n"
                "<title>Error 403 No valid crumb was included in the request</title>\n</head>\n"
                "<body><h2>HTTP ERROR 403 No valid crumb was included in the request</h2>\n</body></html>";
        jenkins_error_text("", jetty_page, strlen(jetty_page), out, sizeof(out));
        assert_string_equal(out, "No valid crumb was included in the request");

        static const char login_page[] =
                "<html><head><meta http-equiv='refresh' content='1;url=/login?from=%2Fapi%2Fjson'/>"
                "<script>window.location.replace('/login?from=%2Fapi%2Fjson');</script></head>"
                "<body style='background-color:white; color:white;'>\n\nAuthentication required\n<!--\n"
                "You are authenticated as: anonymous\n-->\n\n</body></html>";
        jenkins_error_text(NULL, login_page, strlen(login_page), out, sizeof(out));
        assert_string_equal(out, "Authentication required");

        static const char oops[] = "<html><head><title>Jenkins</title></head><body><h1>Oops!</h1>"
                                   "<h2>A problem occurred while processing the request</h2></body></html>";
        jenkins_error_text(NULL, oops, strlen(oops), out, sizeof(out));
        assert_string_equal(out, "Oops!");

        /* Plain text and JSON; control characters and invalid UTF-8 never come through. */
        static const char plain[] = "  boom\x01\x1b[31m\xff\n\tdone ";
        jenkins_error_text(NULL, plain, strlen(plain), out, sizeof(out));
        assert_string_equal(out, "boom [31m? done");
        static const char json[] = "{\"message\":\"bad \\u0007thing\"}";
        jenkins_error_text(NULL, json, strlen(json), out, sizeof(out));
        assert_string_equal(out, "bad thing");

        /* Bounded to 200 bytes, cut on a character boundary. */
        char big[2000] = "<p>";
        for (int i = 0; i < 300; i++)
                strcat(big, "\xc3\xa9");
        jenkins_error_text(NULL, big, strlen(big), out, sizeof(out));
        assert_true(strlen(out) <= 200);
        assert_string_equal(out + strlen(out) - 5, "\xc3\xa9...");
        jenkins_error_text(NULL, "", 0, out, sizeof(out));
        assert_string_equal(out, "");
        char tiny[4];
        jenkins_error_text("a long message", NULL, 0, tiny, sizeof(tiny));
        assert_string_equal(tiny, "...");
        /* Unterminated constructs end the text, they do not overrun it. */
        static const char *const broken[] = { "<title>open", "<h1>x</h1><p", "<!-- never closed",
                                              "<script>while(1)", "&#", "&#x110000;<", "<", "<p>&#99999999;" };
        for (size_t i = 0; i < ARRAY_SIZE(broken); i++)
                jenkins_error_text(NULL, broken[i], strlen(broken[i]), out, sizeof(out));
}

static const char computers_json[] =
        "{\"_class\":\"hudson.model.ComputerSet\",\"computer\":["
        "{\"_class\":\"hudson.model.Hudson$MasterComputer\",\"assignedLabels\":[{\"name\":\"built-in\"}],"
        "\"description\":\"the Jenkins controller's built-in node\",\"displayName\":\"Built-In Node\","
        "\"executors\":[{\"_class\":\"hudson.model.Executor\",\"idle\":true},"
        "{\"_class\":\"hudson.model.Executor\",\"idle\":true}],"
        "\"idle\":true,\"numExecutors\":2,\"offline\":false,\"temporarilyOffline\":false},"
        "{\"_class\":\"hudson.slaves.SlaveComputer\",\"assignedLabels\":[{\"name\":\"docker\"},{\"name\":\"linux\"},"
        "{\"name\":\"slipway-7\"}],\"description\":\"slipway agent 7\",\"displayName\":\"slipway-7\","
        "\"executors\":[{\"_class\":\"hudson.model.Executor\",\"idle\":false}],\"idle\":false,\"numExecutors\":1,"
        "\"offline\":false,\"temporarilyOffline\":true},"
        "{\"_class\":\"hudson.slaves.SlaveComputer\",\"assignedLabels\":[{\"name\":\"win agent\"}],"
        "\"description\":null,\"displayName\":\"win agent\",\"executors\":[],\"idle\":true,\"numExecutors\":1,"
        "\"offline\":true,\"temporarilyOffline\":false}]}";

static void check_computers(const struct jenkins_computers *computers)
{
        assert_int_equal(computers->count, 3);
        const struct jenkins_computer *builtin = &computers->items[0];
        assert_string_equal(builtin->name, "Built-In Node");
        assert_string_equal(builtin->description, "the Jenkins controller's built-in node");
        assert_string_equal(builtin->labels[0], "built-in");
        assert_null(builtin->labels[1]);
        assert_int_equal(builtin->num_executors, 2);
        assert_int_equal(builtin->busy_executors, 0);
        assert_true(builtin->idle);

        const struct jenkins_computer *agent = jenkins_computers_find(computers, "slipway-7");
        assert_ptr_equal(agent, &computers->items[1]);
        assert_string_equal(agent->labels[0], "docker");
        assert_string_equal(agent->labels[1], "linux");
        assert_string_equal(agent->labels[2], "slipway-7");
        assert_null(agent->labels[3]);
        assert_false(agent->offline);
        assert_true(agent->temporarily_offline);
        assert_false(agent->idle);
        assert_int_equal(agent->num_executors, 1);
        assert_int_equal(agent->busy_executors, 1);

        const struct jenkins_computer *windows = jenkins_computers_find(computers, "win agent");
        assert_non_null(windows);
        assert_null(windows->description);
        assert_true(windows->offline);
        assert_int_equal(windows->busy_executors, 0);
        assert_null(jenkins_computers_find(computers, "slipway-8"));
}

static void test_computers_parse(void **state)
{
        (void) state;
        struct jenkins_computers computers;
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_computers_parse(computers_json, strlen(computers_json), &computers, &err), 0);
        check_computers(&computers);
        jenkins_computers_release(&computers);
        assert_null(computers.items);
        jenkins_computers_release(&computers); /* twice is harmless */

        /* Missing optional fields; long descriptions are cut on a character boundary. */
        char *long_description = malloc(8000);
        strcpy(long_description, "{\"computer\":[{\"displayName\":\"x\",\"description\":\"");
        for (int i = 0; i < 1500; i++)
                strcat(long_description, "\xe2\x80\x98");
        strcat(long_description, "\"}]}");
        assert_int_equal(jenkins_computers_parse(long_description, strlen(long_description), &computers, &err), 0);
        assert_int_equal(strlen(computers.items[0].description), 1023);
        assert_non_null(computers.items[0].labels);
        assert_null(computers.items[0].labels[0]);
        assert_int_equal(computers.items[0].num_executors, 0);
        assert_false(computers.items[0].offline);
        jenkins_computers_release(&computers);
        free(long_description);

        static const char empty[] = "{\"computer\":[]}";
        assert_int_equal(jenkins_computers_parse(empty, strlen(empty), &computers, &err), 0);
        assert_int_equal(computers.count, 0);
        jenkins_computers_release(&computers);
}

static void test_computers_parse_malformed(void **state)
{
        (void) state;
        static const struct {
                const char *body;
                const char *message;
        } cases[] = {
                { "", "malformed computer list: " },
                { "{\"computer\":[", "malformed computer list: " },
                { "[]", "not a JSON object" },
                { "{}", "\"computer\" is missing" },
                { "{\"computer\":{}}", "\"computer\" is not an array" },
                { "{\"computer\":[],\"computer\":[]}", "duplicate" },
                { "{\"computer\":[1]}", "computer[0]: not an object" },
                { "{\"computer\":[{}]}", "computer[0].displayName: missing" },
                { "{\"computer\":[{\"displayName\":\"a\"},{\"displayName\":5}]}", "computer[1].displayName: not a string" },
                { "{\"computer\":[{\"displayName\":\"a\",\"description\":[]}]}", "computer[0].description: not a string" },
                { "{\"computer\":[{\"displayName\":\"a\",\"numExecutors\":\"1\"}]}", "computer[0].numExecutors: not an integer" },
                { "{\"computer\":[{\"displayName\":\"a\",\"numExecutors\":1.0}]}", "computer[0].numExecutors: not an integer" },
                { "{\"computer\":[{\"displayName\":\"a\",\"numExecutors\":-1}]}", "computer[0].numExecutors: out of range" },
                { "{\"computer\":[{\"displayName\":\"a\",\"offline\":\"false\"}]}", "computer[0].offline: not a boolean" },
                { "{\"computer\":[{\"displayName\":\"a\",\"idle\":0}]}", "computer[0].idle: not a boolean" },
                { "{\"computer\":[{\"displayName\":\"a\",\"temporarilyOffline\":{}}]}", "computer[0].temporarilyOffline: not a boolean" },
                { "{\"computer\":[{\"displayName\":\"a\",\"assignedLabels\":{}}]}", "computer[0].assignedLabels: not an array" },
                { "{\"computer\":[{\"displayName\":\"a\",\"assignedLabels\":[\"x\"]}]}", "computer[0].assignedLabels[0]: not an object" },
                { "{\"computer\":[{\"displayName\":\"a\",\"assignedLabels\":[{\"name\":\"x\"},{\"name\":3}]}]}",
                  "computer[0].assignedLabels[1].name: not a string" },
                { "{\"computer\":[{\"displayName\":\"a\",\"executors\":[{\"idle\":\"no\"}]}]}", "computer[0].executors[0].idle: not a boolean" },
                { "{\"computer\":[{\"displayName\":\"a\",\"executors\":[null]}]}", "computer[0].executors[0]: not an object" },
                { "{\"computer\":[{\"displayName\":\"a\",\"executors\":true}]}", "computer[0].executors: not an array" },
                { "{\"computer\":[{\"displayName\":\"a\\u0000b\"}]}", "malformed computer list: " },
        };
        struct sw_error err = { 0 };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct jenkins_computers computers = { .count = 99 };
                err.message[0] = '\0';
                assert_int_equal(jenkins_computers_parse(cases[i].body, strlen(cases[i].body), &computers, &err), -EPROTO);
                if (!strstr(err.message, cases[i].message))
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.message, cases[i].message);
                assert_null(computers.items);
                assert_int_equal(computers.count, 0);
        }
        struct jenkins_computers computers;
        assert_int_equal(jenkins_computers_parse(NULL, 0, &computers, &err), -EPROTO);

        /* Bounds: entries, labels, name length. */
        size_t size = (JENKINS_MAX_ITEMS + 1) * 20 + 64;
        _cleanup_free_ char *many = malloc(size);
        strcpy(many, "{\"computer\":[");
        char *p = many + strlen(many);
        for (int i = 0; i <= JENKINS_MAX_ITEMS; i++)
                p += sprintf(p, "%s{\"displayName\":\"a\"}", i ? "," : "");
        strcpy(p, "]}");
        assert_int_equal(jenkins_computers_parse(many, strlen(many), &computers, &err), -EPROTO);
        assert_non_null(strstr(err.message, "more than 10000 entries"));

        strcpy(many, "{\"computer\":[{\"displayName\":\"a\",\"assignedLabels\":[");
        p = many + strlen(many);
        for (int i = 0; i <= JENKINS_MAX_LABELS; i++)
                p += sprintf(p, "%s{\"name\":\"l\"}", i ? "," : "");
        strcpy(p, "]}]}");
        assert_int_equal(jenkins_computers_parse(many, strlen(many), &computers, &err), -EPROTO);
        assert_non_null(strstr(err.message, "computer[0].assignedLabels: too many labels"));

        strcpy(many, "{\"computer\":[{\"displayName\":\"");
        p = many + strlen(many);
        memset(p, 'n', JENKINS_STRING_MAX + 1);
        strcpy(p + JENKINS_STRING_MAX + 1, "\"}]}");
        assert_int_equal(jenkins_computers_parse(many, strlen(many), &computers, &err), -EPROTO);
        assert_non_null(strstr(err.message, "computer[0].displayName: too long"));
}

static const char queue_json[] =
        "{\"_class\":\"hudson.model.Queue\",\"items\":["
        "{\"_class\":\"hudson.model.Queue$BuildableItem\",\"buildable\":true,\"id\":1042,"
        "\"inQueueSince\":1727180000123,\"stuck\":false,\"task\":{\"_class\":"
        "\"org.jenkinsci.plugins.workflow.support.steps.ExecutorStepExecution$PlaceholderTask\","
        "\"name\":\"part of app \xc2\xbb main #12\",\"url\":\"job/app/job/main/12/\"},"
        "\"why\":\"Waiting for next available executor on \xe2\x80\x98" "docker\xe2\x80\x99\"},"
        "{\"_class\":\"hudson.model.Queue$BuildableItem\",\"buildable\":true,\"id\":1043,"
        "\"inQueueSince\":1727180001000,\"stuck\":true,\"task\":{\"_class\":\"hudson.model.FreeStyleProject\","
        "\"name\":\"nightly\",\"url\":\"job/nightly/\",\"labelExpression\":\"linux && docker\"},"
        "\"why\":\"There are no nodes with the label \xe2\x80\x98linux&&docker\xe2\x80\x99\"},"
        "{\"_class\":\"hudson.model.Queue$WaitingItem\",\"buildable\":false,\"id\":1044,"
        "\"inQueueSince\":1727180002000,\"stuck\":false,\"task\":{\"_class\":"
        "\"org.jenkinsci.plugins.workflow.job.WorkflowJob\",\"name\":\"deploy\",\"url\":\"job/deploy/\"},"
        "\"why\":null}]}";

static void check_queue(const struct jenkins_queue *queue)
{
        assert_int_equal(queue->count, 3);
        const struct jenkins_queue_item *placeholder = &queue->items[0];
        assert_int_equal(placeholder->id, 1042);
        assert_true(placeholder->buildable);
        assert_false(placeholder->stuck);
        assert_int_equal(placeholder->in_queue_since, 1727180000123LL);
        assert_string_equal(placeholder->task_name, "part of app \xc2\xbb main #12");
        assert_null(placeholder->label); /* Pipeline node('x') items do not export it */
        assert_string_equal(placeholder->why, "Waiting for next available executor on \xe2\x80\x98" "docker\xe2\x80\x99");
        assert_true(queue->items[1].stuck);
        assert_string_equal(queue->items[1].label, "linux && docker");
        assert_false(queue->items[2].buildable);
        assert_null(queue->items[2].why);
        assert_string_equal(queue->items[2].task_name, "deploy");
}

static void test_queue_parse(void **state)
{
        (void) state;
        struct jenkins_queue queue;
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_queue_parse(queue_json, strlen(queue_json), &queue, &err), 0);
        check_queue(&queue);
        jenkins_queue_release(&queue);
        assert_null(queue.items);

        static const char minimal[] = "{\"items\":[{\"id\":1,\"task\":null}]}";
        assert_int_equal(jenkins_queue_parse(minimal, strlen(minimal), &queue, &err), 0);
        assert_int_equal(queue.count, 1);
        assert_null(queue.items[0].task_name);
        assert_null(queue.items[0].why);
        assert_int_equal(queue.items[0].in_queue_since, 0);
        jenkins_queue_release(&queue);
}

static void test_queue_parse_malformed(void **state)
{
        (void) state;
        static const struct {
                const char *body;
                const char *message;
        } cases[] = {
                { "nope", "malformed queue: " },
                { "{\"items\":null}", "\"items\" is not an array" },
                { "{\"items\":[{\"why\":\"x\"}]}", "items[0].id: missing" },
                { "{\"items\":[{\"id\":1},{\"id\":1.5}]}", "items[1].id: not an integer" },
                { "{\"items\":[{\"id\":-1}]}", "items[0].id: out of range" },
                { "{\"items\":[{\"id\":\"7\"}]}", "items[0].id: not an integer" },
                { "{\"items\":[{\"id\":99999999999999999999999}]}", "malformed queue: " },
                { "{\"items\":[{\"id\":1,\"why\":7}]}", "items[0].why: not a string" },
                { "{\"items\":[{\"id\":1,\"buildable\":1}]}", "items[0].buildable: not a boolean" },
                { "{\"items\":[{\"id\":1,\"stuck\":\"true\"}]}", "items[0].stuck: not a boolean" },
                { "{\"items\":[{\"id\":1,\"inQueueSince\":\"now\"}]}", "items[0].inQueueSince: not an integer" },
                { "{\"items\":[{\"id\":1,\"task\":\"x\"}]}", "items[0].task: not an object" },
                { "{\"items\":[{\"id\":1,\"task\":{\"name\":5}}]}", "items[0].task.name: not a string" },
                { "{\"items\":[{\"id\":1,\"task\":{\"name\":\"a\",\"labelExpression\":[]}}]}",
                  "items[0].task.labelExpression: not a string" },
        };
        struct sw_error err = { 0 };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct jenkins_queue queue = { .count = 99 };
                err.message[0] = '\0';
                assert_int_equal(jenkins_queue_parse(cases[i].body, strlen(cases[i].body), &queue, &err), -EPROTO);
                if (!strstr(err.message, cases[i].message))
                        fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.message, cases[i].message);
                assert_null(queue.items);
                assert_int_equal(queue.count, 0);
        }
}

/* ---- over the wire ---- */

static void test_create_node(void **state)
{
        (void) state;
        struct canned c[] = { { .status = "302 Found", .headers = "Location: http://127.0.0.1/computer/\r\n" } };
        fake_start(c, 1);
        struct jenkins_client *client = fake_open(AUTH_WITH_TOKEN, "");
        struct jenkins_node_spec spec = test_spec();
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_node_create(client, &spec, &err), 0);
        assert_int_equal(fake.served, 1);
        const char *request = fake.requests[0];
        assert_non_null(strstr(request, "POST /computer/doCreateItem HTTP/1.1\r\n"));
        assert_non_null(strstr(request, AUTH_TOKEN));
        assert_non_null(strstr(request, "Content-Type: application/x-www-form-urlencoded\r\n"));
        assert_non_null(strstr(request, "Accept-Language: en\r\n"));
        assert_null(strstr(request, "Crumb"));
        assert_null(strstr(request, "Expect:"));

        const char *body = request_body(request);
        assert_int_equal(strncmp(body, "name=slipway-1&type=hudson.slaves.DumbSlave&json=", 49), 0);
        _cleanup_free_ char *name = form_field(body, "name");
        _cleanup_free_ char *type = form_field(body, "type");
        _cleanup_free_ char *json_text = form_field(body, "json");
        assert_string_equal(name, "slipway-1");
        assert_string_equal(type, "hudson.slaves.DumbSlave");
        assert_string_equal(json_text, expected_node_json);
        /* And as a value, against the spec written out independently. */
        json_error_t jerr;
        _cleanup_json_ json_t *sent = json_loads(json_text, 0, &jerr);
        _cleanup_json_ json_t *want = json_pack(
                "{s:s,s:s,s:i,s:s,s:s,s:s,s:{s:s,s:s,s:i,s:s,s:s,s:s,s:i,s:i,s:i,s:{s:s,s:s}},s:{s:s},s:{s:s}}",
                "name", "slipway-1", "nodeDescription", "slipway agent", "numExecutors", 1, "remoteFS",
                "/home/jenkins/agent", "labelString", "docker linux", "mode", "EXCLUSIVE", "launcher", "$class",
                "hudson.plugins.sshslaves.SSHLauncher", "host", "127.0.0.1", "port", 32768, "credentialsId",
                "slipway-ssh", "javaPath", "", "jvmOptions", "-Xmx256m", "launchTimeoutSeconds", 60, "maxNumRetries",
                3, "retryWaitTime", 5, "sshHostKeyVerificationStrategy", "$class",
                "hudson.plugins.sshslaves.verifiers.ManuallyProvidedKeyVerificationStrategy", "key",
                "ssh-ed25519 " ED25519_B64, "retentionStrategy", "$class", "hudson.slaves.RetentionStrategy$Always",
                "nodeProperties", "stapler-class-bag", "true");
        assert_non_null(sent);
        assert_true(json_equal(sent, want));
        jenkins_close(client);
        fake_stop();
}

static const char duplicate_page[] =
        "<!DOCTYPE html><html class=\"\"><head data-rooturl=\"\"><title>Jenkins</title>"
        "<script src=\"/static/1/scripts/prototype.js\" type=\"text/javascript\"></script></head>"
        "<body id=\"jenkins\"><a href=\"#skip2content\" class=\"skiplink\">Skip to content</a>"
        "<header id=\"page-header\"><a href=\"/\">Jenkins</a></header><div id=\"side-panel\"></div>"
        "<div id=\"main-panel\"><a id=\"skip2content\"></a><h1>Error</h1><p>Agent called "
        "\xe2\x80\x98slipway-1\xe2\x80\x99 already exists</p></div></body></html>";

static void test_create_errors(void **state)
{
        (void) state;
        struct canned c[] = {
                { .status = "400 Bad Request", .headers = "X-Error: Agent called ?slipway-1? already exists\r\n",
                  .body = duplicate_page },
                { .status = "400 Bad Request", .body = duplicate_page },
                { .status = "400 Bad Request", .headers = "X-Error: \xe2\x80\x98?\xe2\x80\x99 is an unsafe character\r\n",
                  .body = "<html><body><h1>Error</h1><p>whatever</p></body></html>" },
                { .status = "401 Unauthorized",
                  .body = "<html><head><meta http-equiv='refresh' content='1;url=/login?from=%2Fcomputer%2FdoCreateItem'/>"
                          "</head><body style='background-color:white; color:white;'>\nAuthentication required\n</body></html>" },
                { .status = "500 Server Error",
                  .body = "<html><head><title>Jenkins</title></head><body><h1>Oops!</h1>"
                          "<p>A problem occurred while processing the request.</p></body></html>" },
                { .status = "302 Found", .headers = "Location: http://127.0.0.1/login?from=%2Fcomputer%2FdoCreateItem\r\n" },
        };
        fake_start(c, ARRAY_SIZE(c));
        struct jenkins_client *client = fake_open(AUTH_WITH_TOKEN, "/");
        struct jenkins_node_spec spec = test_spec();
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_node_create(client, &spec, &err), -EEXIST);
        assert_error(&err, "POST /computer/doCreateItem: 400 Agent called ?slipway-1? already exists");
        assert_int_equal(err.code, EEXIST);
        assert_int_equal(jenkins_node_create(client, &spec, &err), -EEXIST);
        assert_error(&err, "POST /computer/doCreateItem: 400 Agent called \xe2\x80\x98slipway-1\xe2\x80\x99 already exists");
        assert_int_equal(jenkins_node_create(client, &spec, &err), -EINVAL);
        assert_error(&err, "POST /computer/doCreateItem: 400 \xe2\x80\x98?\xe2\x80\x99 is an unsafe character");
        assert_int_equal(jenkins_node_create(client, &spec, &err), -EACCES);
        assert_error(&err, "POST /computer/doCreateItem: 401 Authentication required (check user and API token)");
        assert_int_equal(jenkins_node_create(client, &spec, &err), -EIO);
        assert_error(&err, "POST /computer/doCreateItem: 500 A problem occurred while processing the request.");
        assert_int_equal(jenkins_node_create(client, &spec, &err), -EACCES);
        assert_non_null(strstr(err.message, "302 redirected to http://127.0.0.1/login?from="));
        assert_int_equal(fake.served, 6);

        /* Refused before any request. */
        spec.name = "bad/name";
        assert_int_equal(jenkins_node_create(client, &spec, NULL), -EINVAL);
        assert_int_equal(jenkins_node_create(client, &spec, &err), -EINVAL);
        assert_int_equal(fake.served, 6);
        jenkins_close(client);
        fake_stop();
}

static void test_node_names_in_paths(void **state)
{
        (void) state;
        struct canned c[] = { { .status = "302 Found" }, { .status = "302 Found" },
                              { .status = "404 Not Found", .body = "<html><head><title>Jenkins</title></head>"
                                                                   "<body><h2>Not Found</h2></body></html>" } };
        fake_start(c, ARRAY_SIZE(c));
        struct jenkins_client *client = fake_open(AUTH_WITH_TOKEN, "");
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_node_delete(client, "slipway \xc3\xbc 1", &err), 0);
        assert_non_null(strstr(fake.requests[0], "POST /computer/slipway%20%C3%BC%201/doDelete HTTP/1.1\r\n"));
        assert_non_null(strstr(fake.requests[0], "Content-Length: 0\r\n"));
        assert_int_equal(jenkins_node_set_offline(client, "slipway-2", "build #7 started & done", &err), 0);
        assert_non_null(strstr(fake.requests[1], "POST /computer/slipway-2/changeOfflineCause?offlineMessage="
                                                 "build%20%237%20started%20%26%20done HTTP/1.1\r\n"));
        assert_int_equal(jenkins_node_delete(client, "gone", &err), -ENOENT);
        assert_error(&err, "POST /computer/gone/doDelete: 404 Not Found");
        /* Names that could escape the path never reach the wire. */
        assert_int_equal(jenkins_node_delete(client, "..", &err), -EINVAL);
        assert_int_equal(jenkins_node_delete(client, "a/../../x", &err), -EINVAL);
        assert_int_equal(jenkins_node_set_offline(client, "a?b", "x", &err), -EINVAL);
        assert_int_equal(fake.served, 3);
        jenkins_close(client);
        fake_stop();
}

static void test_password_crumb_and_session(void **state)
{
        (void) state;
        static const char jetty_403[] =
                "<html>\n<head>\n<title>Error 403 No valid crumb was included in the request</title>\n</head>\n"
                "<body><h2>HTTP ERROR 403 No valid crumb was included in the request</h2></body></html>";
        struct canned c[] = {
                { .status = "200 OK", .headers = "Set-Cookie: JSESSIONID.4f2a=node01abc; Path=/; HttpOnly\r\n",
                  .body = "{\"_class\":\"hudson.security.csrf.DefaultCrumbIssuer\",\"crumb\":\"c0ffee1\","
                          "\"crumbRequestField\":\"Jenkins-Crumb\"}" },
                { .status = "302 Found" },
                { .status = "403 Forbidden", .body = jetty_403 }, /* the session expired */
                { .status = "200 OK", .headers = "Set-Cookie: JSESSIONID.4f2a=node02def; Path=/; HttpOnly\r\n",
                  .body = "{\"crumb\":\"c0ffee2\",\"crumbRequestField\":\"Jenkins-Crumb\"}" },
                { .status = "302 Found" },
                { .status = "302 Found" },
        };
        fake_start(c, ARRAY_SIZE(c));
        struct jenkins_client *client = fake_open(AUTH_WITH_PASSWORD, "");
        struct jenkins_node_spec spec = test_spec();
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_node_create(client, &spec, &err), 0);
        assert_int_equal(jenkins_node_delete(client, "slipway-1", &err), 0);
        assert_int_equal(jenkins_node_set_offline(client, "slipway-1", NULL, &err), 0);
        assert_int_equal(fake.served, 6);

        assert_non_null(strstr(fake.requests[0], "GET /crumbIssuer/api/json HTTP/1.1\r\n"));
        assert_non_null(strstr(fake.requests[0], AUTH_PASSWORD));
        assert_null(strstr(fake.requests[0], "Cookie:"));
        assert_non_null(strstr(fake.requests[1], "POST /computer/doCreateItem HTTP/1.1\r\n"));
        assert_non_null(strstr(fake.requests[1], "Jenkins-Crumb: c0ffee1\r\n"));
        assert_non_null(strstr(fake.requests[1], "Cookie: JSESSIONID.4f2a=node01abc\r\n"));
        assert_non_null(strstr(fake.requests[1], AUTH_PASSWORD));
        assert_non_null(strstr(fake.requests[2], "POST /computer/slipway-1/doDelete HTTP/1.1\r\n"));
        assert_non_null(strstr(fake.requests[2], "Jenkins-Crumb: c0ffee1\r\n"));
        assert_non_null(strstr(fake.requests[3], "GET /crumbIssuer/api/json HTTP/1.1\r\n"));
        assert_non_null(strstr(fake.requests[4], "POST /computer/slipway-1/doDelete HTTP/1.1\r\n"));
        assert_non_null(strstr(fake.requests[4], "Jenkins-Crumb: c0ffee2\r\n"));
        assert_non_null(strstr(fake.requests[4], "Cookie: JSESSIONID.4f2a=node02def\r\n"));
        assert_non_null(strstr(fake.requests[5], "POST /computer/slipway-1/changeOfflineCause?offlineMessage= HTTP/1.1\r\n"));
        assert_non_null(strstr(fake.requests[5], "Jenkins-Crumb: c0ffee2\r\n"));
        jenkins_close(client);
        fake_stop();
}

static void test_password_retries_once(void **state)
{
        (void) state;
        static const char crumb[] = "{\"crumb\":\"abc\",\"crumbRequestField\":\"Jenkins-Crumb\"}";
        struct canned c[] = {
                { .status = "200 OK", .body = crumb },
                { .status = "403 Forbidden", .headers = "X-Error: slipway is missing the Agent/Create permission\r\n" },
                { .status = "200 OK", .body = crumb },
                { .status = "403 Forbidden", .headers = "X-Error: slipway is missing the Agent/Create permission\r\n" },
                { .status = "200 OK", .body = crumb },
        };
        fake_start(c, ARRAY_SIZE(c));
        struct jenkins_client *client = fake_open(AUTH_WITH_PASSWORD, "");
        struct jenkins_node_spec spec = test_spec();
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_node_create(client, &spec, &err), -EACCES);
        assert_int_equal(fake.served, 4);
        assert_error(&err, "POST /computer/doCreateItem: 403 slipway is missing the Agent/Create permission "
                           "(refused with a fresh crumb too: the user may lack the permission)");
        jenkins_close(client);
        fake_stop();
}

static void test_crumbs_when_needed_only(void **state)
{
        (void) state;
        struct canned c[] = {
                /* Token: a 403 is final, and no crumb is asked for. */
                { .status = "403 Forbidden", .body = "<html><head><title>Error 403 No valid crumb was included in the "
                                                     "request</title></head></html>" },
                /* Password, no crumb issuer: POSTs go without. */
                { .status = "404 Not Found" },
                { .status = "302 Found" },
                /* Password, a crumb issuer that answers nonsense. */
                { .status = "200 OK", .body = "{\"crumb\":\"a b\",\"crumbRequestField\":\"Jenkins-Crumb\"}" },
        };
        fake_start(c, ARRAY_SIZE(c));
        struct jenkins_client *client = fake_open(AUTH_WITH_TOKEN, "");
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_node_delete(client, "slipway-1", &err), -EACCES);
        assert_int_equal(fake.served, 1);
        assert_error(&err, "POST /computer/slipway-1/doDelete: 403 No valid crumb was included in the request "
                           "(the user may lack the permission; a crumb should not be needed with an API token)");
        jenkins_close(client);

        client = fake_open(AUTH_WITH_PASSWORD, "");
        assert_int_equal(jenkins_node_delete(client, "slipway-1", &err), 0);
        assert_int_equal(fake.served, 3);
        assert_non_null(strstr(fake.requests[1], "GET /crumbIssuer/api/json HTTP/1.1\r\n"));
        assert_null(strstr(fake.requests[2], "Crumb"));
        jenkins_close(client);

        client = fake_open(AUTH_WITH_PASSWORD, "");
        assert_int_equal(jenkins_node_delete(client, "slipway-1", &err), -EPROTO);
        assert_error(&err, "GET /crumbIssuer/api/json: no valid crumbRequestField and crumb in the response");
        assert_int_equal(fake.served, 4);
        jenkins_close(client);
        fake_stop();
}

static void test_url_prefix(void **state)
{
        (void) state;
        struct canned ok = { .status = "200 OK", .headers = "X-Jenkins: 2.462.3\r\n", .body = "{\"nodeName\":\"\"}" };
        struct canned c[] = { ok, ok, ok, ok };
        fake_start(c, ARRAY_SIZE(c));
        static const char *const suffixes[] = { "/jenkins/", "/jenkins", "/", "" };
        static const char *const lines[] = { "GET /jenkins/api/json?tree=nodeName HTTP/1.1\r\n",
                                             "GET /jenkins/api/json?tree=nodeName HTTP/1.1\r\n",
                                             "GET /api/json?tree=nodeName HTTP/1.1\r\n",
                                             "GET /api/json?tree=nodeName HTTP/1.1\r\n" };
        for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
                struct jenkins_client *client = fake_open(AUTH_WITH_TOKEN, suffixes[i]);
                char want[128];
                snprintf(want, sizeof(want), "http://127.0.0.1:%d%s", fake.port, i < 2 ? "/jenkins" : "");
                assert_string_equal(jenkins_url(client), want);
                struct sw_error err = { 0 };
                assert_int_equal(jenkins_ping(client, &err), 0);
                assert_non_null(strstr(fake.requests[i], lines[i]));
                jenkins_close(client);
        }
        fake_stop();
}

static void test_computers_and_queue_over_the_wire(void **state)
{
        (void) state;
        struct canned c[] = { { .status = "200 OK", .body = computers_json },
                              { .status = "200 OK", .body = queue_json },
                              { .status = "200 OK", .body = "{\"computer\":[{\"displayName\":7}]}" } };
        fake_start(c, ARRAY_SIZE(c));
        struct jenkins_client *client = fake_open(AUTH_WITH_TOKEN, "/ci");
        struct sw_error err = { 0 };
        struct jenkins_computers computers;
        assert_int_equal(jenkins_computers_get(client, &computers, &err), 0);
        check_computers(&computers);
        jenkins_computers_release(&computers);
        assert_non_null(strstr(fake.requests[0],
                               "GET /ci/computer/api/json?tree=computer%5BdisplayName,description,offline,"
                               "temporarilyOffline,idle,numExecutors,assignedLabels%5Bname%5D,executors%5Bidle%5D%5D "
                               "HTTP/1.1\r\n"));
        struct jenkins_queue queue;
        assert_int_equal(jenkins_queue_get(client, &queue, &err), 0);
        check_queue(&queue);
        jenkins_queue_release(&queue);
        assert_non_null(strstr(fake.requests[1], "GET /ci/queue/api/json?tree=items%5Bid,why,buildable,stuck,"
                                                 "inQueueSince,task%5Bname,url,labelExpression%5D%5D HTTP/1.1\r\n"));
        assert_int_equal(jenkins_computers_get(client, &computers, &err), -EPROTO);
        char want[256];
        snprintf(want, sizeof(want), "jenkins %s: GET /computer/api/json: malformed computer list: "
                 "computer[0].displayName: not a string", fake_url("/ci"));
        assert_string_equal(err.message, want);
        assert_null(computers.items);
        jenkins_close(client);
        fake_stop();
}

static void test_unexpected_answers(void **state)
{
        (void) state;
        struct canned c[] = {
                { .status = "200 OK", .body = "<html><body>Welcome to nginx!</body></html>" },
                { .status = "301 Moved Permanently", .headers = "Location: https://ci.example/api/json?tree=nodeName\r\n" },
                { .huge = JENKINS_MAX_RESPONSE + 4096 },
                { .status = "503 Service Unavailable", .body = "<html><head><title>Jenkins</title></head><body>"
                                                               "<h1>Please wait while Jenkins is getting ready to work"
                                                               "</h1></body></html>" },
        };
        fake_start(c, ARRAY_SIZE(c));
        struct jenkins_client *client = fake_open(AUTH_WITH_TOKEN, "");
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_ping(client, &err), -EPROTO);
        assert_error(&err, "GET /api/json: not a Jenkins API response (check the URL)");
        assert_int_equal(jenkins_ping(client, &err), -EIO);
        assert_error(&err, "GET /api/json: 301 redirected to https://ci.example/api/json?tree=nodeName (check the URL)");
        struct jenkins_computers computers;
        assert_int_equal(jenkins_computers_get(client, &computers, &err), -EFBIG);
        assert_error(&err, "GET /computer/api/json: response larger than 8388608 bytes refused");
        assert_null(computers.items);
        struct jenkins_queue queue;
        assert_int_equal(jenkins_queue_get(client, &queue, &err), -EIO);
        assert_error(&err, "GET /queue/api/json: 503 Please wait while Jenkins is getting ready to work");
        jenkins_close(client);
        fake_stop();
}

static void test_transport_failures(void **state)
{
        (void) state;
        /* A port nobody listens on: bound, then closed. */
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t addr_len = sizeof(addr);
        assert_int_equal(bind(fd, (struct sockaddr *) &addr, sizeof(addr)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &addr, &addr_len), 0);
        close(fd);
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(addr.sin_port));
        struct jenkins_options options = { .url = url, .user = "slipway", .token = "t" };
        struct jenkins_client *client = NULL;
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_open(&client, &options, &err), 0);
        assert_int_equal(jenkins_ping(client, &err), -ECONNREFUSED);
        char want[256];
        snprintf(want, sizeof(want), "jenkins %s: GET /api/json: cannot connect: connection refused (is Jenkins up?)", url);
        assert_string_equal(err.message, want);
        jenkins_close(client);

        struct canned c[] = { { .hang = true } };
        fake_start(c, 1);
        options.url = fake_url("");
        options.timeout_s = 1;
        assert_int_equal(jenkins_open(&client, &options, &err), 0);
        assert_int_equal(jenkins_node_delete(client, "slipway-1", &err), -ETIMEDOUT);
        assert_error(&err, "POST /computer/slipway-1/doDelete: timed out after 1 s");
        jenkins_close(client);
        fake_stop();
}

/* Drive a poll to its end as serve's loop does: wait (here on no other fd), then step. */
static int poll_to_end(struct jenkins_poll *poll, struct jenkins_computers *computers,
                       struct jenkins_queue *queue, struct sw_error *err)
{
        for (int rounds = 0; rounds < 10000; rounds++) {
                assert_true(jenkins_poll_wait(poll, NULL, 0, 100, err) >= 0);
                int r = jenkins_poll_step(poll, computers, queue, err);
                if (r != 0)
                        return r;
        }
        fail_msg("the poll never finished");
        return -1;
}

static void test_poll_over_the_wire(void **state)
{
        (void) state;
        struct canned c[] = { { .status = "200 OK", .body = computers_json },
                              { .status = "200 OK", .body = queue_json },
                              { .status = "200 OK", .body = computers_json },
                              { .status = "500 Server Error", .body = "<h1>boom</h1>" } };
        fake_start(c, ARRAY_SIZE(c));
        struct jenkins_client *client = fake_open(AUTH_WITH_TOKEN, "/ci");
        struct jenkins_poll *poll = NULL;
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_poll_new(client, &poll, &err), 0);
        assert_false(jenkins_poll_running(poll));
        assert_int_equal(jenkins_poll_start(poll, &err), 0);
        assert_true(jenkins_poll_running(poll));
        assert_int_equal(jenkins_poll_start(poll, &err), -EBUSY);
        struct jenkins_computers computers;
        struct jenkins_queue queue;
        assert_int_equal(poll_to_end(poll, &computers, &queue, &err), 1);
        assert_false(jenkins_poll_running(poll));
        check_computers(&computers);
        check_queue(&queue);
        jenkins_computers_release(&computers);
        jenkins_queue_release(&queue);
        /* The same requests as the blocking calls, with the same credentials. */
        assert_non_null(strstr(fake.requests[0], "GET /ci/computer/api/json?tree=computer%5BdisplayName,"));
        assert_non_null(strstr(fake.requests[0], AUTH_TOKEN));
        assert_non_null(strstr(fake.requests[1], "GET /ci/queue/api/json?tree=items%5Bid,why,"));
        assert_non_null(strstr(fake.requests[1], "Accept-Language: en\r\n"));
        /* A failing second request fails the poll with Jenkins' status, and nothing leaks. */
        assert_int_equal(jenkins_poll_start(poll, &err), 0);
        assert_int_equal(poll_to_end(poll, &computers, &queue, &err), -EIO);
        char want[256];
        snprintf(want, sizeof(want), "jenkins %s: GET /queue/api/json: 500 boom", fake_url("/ci"));
        assert_string_equal(err.message, want);
        assert_false(jenkins_poll_running(poll));
        jenkins_poll_free(poll);
        jenkins_close(client);
        fake_stop();
}

/* While Jenkins does not answer, the caller's own descriptors are still served at once. */
static void test_poll_never_blocks_the_loop(void **state)
{
        (void) state;
        struct canned c[] = { { .hang = true } };
        fake_start(c, 1);
        struct jenkins_options options = { .url = fake_url(""), .user = "slipway", .token = "t",
                                           .timeout_s = 1 };
        struct jenkins_client *client = NULL;
        struct jenkins_poll *poll = NULL;
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_open(&client, &options, &err), 0);
        assert_int_equal(jenkins_poll_new(client, &poll, &err), 0);
        assert_int_equal(jenkins_poll_start(poll, &err), 0);
        int pipe_fds[2];
        assert_int_equal(pipe(pipe_fds), 0);
        assert_int_equal(write(pipe_fds[1], "x", 1), 1);
        struct pollfd fds[1] = { { .fd = pipe_fds[0], .events = POLLIN } };
        /* 5 s allowed, the pipe is ready now: the wait returns with it, long before then. */
        assert_int_equal(jenkins_poll_wait(poll, fds, 1, 5000, &err), 1);
        assert_true(fds[0].revents & POLLIN);
        struct jenkins_computers computers;
        struct jenkins_queue queue;
        assert_int_equal(jenkins_poll_step(poll, &computers, &queue, &err), 0);
        /* And the request itself still ends at the client's timeout. */
        assert_int_equal(poll_to_end(poll, &computers, &queue, &err), -ETIMEDOUT);
        assert_error(&err, "GET /computer/api/json: timed out after 1 s");
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        jenkins_poll_free(poll);
        jenkins_close(client);
        fake_stop();
}

static void test_open_refuses_bad_options(void **state)
{
        (void) state;
        static const char *const bad_urls[] = {
                "", "ftp://jenkins", "http://", "http:///x", "jenkins:8080", "http://user:pw@jenkins/",
                "http://jenkins/?x=1", "http://jenkins/#top", "http://jen kins/", "http://jenkins/\n",
        };
        struct jenkins_client *client = (struct jenkins_client *) 1;
        struct sw_error err = { 0 };
        for (size_t i = 0; i < ARRAY_SIZE(bad_urls); i++) {
                struct jenkins_options options = { .url = bad_urls[i], .user = "u", .token = "t" };
                assert_int_equal(jenkins_open(&client, &options, &err), -EINVAL);
                assert_null(client);
        }
        struct jenkins_options options = { .url = NULL };
        assert_int_equal(jenkins_open(&client, &options, &err), -EINVAL);
        options = (struct jenkins_options) { .url = "http://j", .user = "u", .token = "t", .password = "p" };
        assert_int_equal(jenkins_open(&client, &options, &err), -EINVAL);
        assert_non_null(strstr(err.message, "not both"));
        options = (struct jenkins_options) { .url = "http://j", .token = "t" };
        assert_int_equal(jenkins_open(&client, &options, &err), -EINVAL);
        options = (struct jenkins_options) { .url = "http://j", .user = "u" };
        assert_int_equal(jenkins_open(&client, &options, &err), -EINVAL);
        options = (struct jenkins_options) { .url = "http://j", .user = "a:b", .token = "t" };
        assert_int_equal(jenkins_open(&client, &options, &err), -EINVAL);
        options = (struct jenkins_options) { .url = "http://j", .user = "u", .token = "t", .timeout_s = -1 };
        assert_int_equal(jenkins_open(&client, &options, &err), -EINVAL);

        /* Anonymous is allowed (and uses crumbs); https too. */
        options = (struct jenkins_options) { .url = "https://jenkins.example:8443/ci//" };
        assert_int_equal(jenkins_open(&client, &options, &err), 0);
        assert_string_equal(jenkins_url(client), "https://jenkins.example:8443/ci");
        jenkins_close(client);
        jenkins_close(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_node_json_exact_shape),
                cmocka_unit_test(test_node_json_refuses_bad_specs),
                cmocka_unit_test(test_node_name_validation),
                cmocka_unit_test(test_error_text),
                cmocka_unit_test(test_computers_parse),
                cmocka_unit_test(test_computers_parse_malformed),
                cmocka_unit_test(test_queue_parse),
                cmocka_unit_test(test_queue_parse_malformed),
                cmocka_unit_test(test_create_node),
                cmocka_unit_test(test_create_errors),
                cmocka_unit_test(test_node_names_in_paths),
                cmocka_unit_test(test_password_crumb_and_session),
                cmocka_unit_test(test_password_retries_once),
                cmocka_unit_test(test_crumbs_when_needed_only),
                cmocka_unit_test(test_url_prefix),
                cmocka_unit_test(test_computers_and_queue_over_the_wire),
                cmocka_unit_test(test_unexpected_answers),
                cmocka_unit_test(test_transport_failures),
                cmocka_unit_test(test_open_refuses_bad_options),
                cmocka_unit_test(test_poll_over_the_wire),
                cmocka_unit_test(test_poll_never_blocks_the_loop),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
