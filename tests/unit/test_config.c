/* slipway.conf parsing and validation. Needs root (a token file owned by another uid). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "slipway/agent.h"
#include "slipway/cleanup.h"
#include "slipway/config.h"

#define ED25519 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGjmU3Hq3Wq3Wq3Wq3Wq3Wq3Wq3Wq3Wq3Wq3Wq3Wq3W"

/* Line numbers below count from these. */
#define MIN_JENKINS                                                                                \
        "[jenkins]\n"                            /* 1 */                                           \
        "url = http://127.0.0.1:8080/\n"         /* 2 */                                           \
        "user = slipway\n"                       /* 3 */                                           \
        "token-file = @DIR@/token\n"             /* 4 */                                           \
        "credentials-id = slipway-agent-ssh\n"   /* 5 */                                           \
        "agent-public-key = @DIR@/agent.pub\n"   /* 6 */
#define MIN_TEMPLATE                                                                               \
        "[template dind]\n"                      /* 7 */                                           \
        "labels = dind docker\n"                 /* 8 */
#define MIN MIN_JENKINS MIN_TEMPLATE

static char dir[] = "/tmp/slipway-config-XXXXXX";
static char conf_path[128];

/* text with every @DIR@ replaced by the test directory and @CONF@ by the config's path. */
static char *expand(const char *text)
{
        size_t size = strlen(text) * 4 + 1;
        char *out = malloc(size);
        assert_non_null(out);
        size_t len = 0;
        for (const char *p = text; *p;) {
                const char *with = NULL;
                if (strncmp(p, "@DIR@", 5) == 0)
                        with = dir;
                else if (strncmp(p, "@CONF@", 6) == 0)
                        with = conf_path;
                if (with) {
                        size_t n = strlen(with);
                        assert_true(len + n < size);
                        memcpy(out + len, with, n);
                        len += n;
                        p += strncmp(p, "@DIR@", 5) == 0 ? 5 : 6;
                } else {
                        assert_true(len + 1 < size);
                        out[len++] = *p++;
                }
        }
        out[len] = '\0';
        return out;
}

static void write_file(const char *name, const char *content, mode_t mode)
{
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        unlink(path);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(path, mode), 0);
}

/* Write text (expanded) as the config file and load it. */
static int load(const char *text, struct config **config, struct sw_error *err)
{
        _cleanup_free_ char *expanded = expand(text);
        FILE *f = fopen(conf_path, "w");
        assert_non_null(f);
        fputs(expanded, f);
        assert_int_equal(fclose(f), 0);
        sw_error_clear(err);
        return config_load(conf_path, config, err);
}

/* Loading text fails, *out stays untouched, and the message starts with expected (expanded). */
static void expect_error(const char *text, const char *expected)
{
        struct config *config = (struct config *) 0x1;
        struct sw_error err = { 0 };
        int r = load(text, &config, &err);
        _cleanup_free_ char *want = expand(expected);
        if (r >= 0 || strncmp(err.message, want, strlen(want)) != 0)
                fail_msg("expected an error starting with\n  %s\ngot %d:\n  %s", want, r, err.message);
        assert_true(err.code > 0);
        assert_ptr_equal(config, (struct config *) 0x1);
}

static struct config *expect_ok(const char *text)
{
        struct config *config = NULL;
        struct sw_error err = { 0 };
        if (load(text, &config, &err) < 0)
                fail_msg("unexpected error: %s", err.message);
        assert_non_null(config);
        return config;
}

static int group_setup(void **state)
{
        (void) state;
        if (!mkdtemp(dir))
                return -1;
        snprintf(conf_path, sizeof(conf_path), "%s/slipway.conf", dir);
        write_file("token", "secret-token\n", 0600);
        write_file("password", "pass word\n", 0400);
        write_file("agent.pub", ED25519 " slipway@agents\n", 0644);
        return 0;
}

static int group_teardown(void **state)
{
        (void) state;
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_full_config(void **state)
{
        (void) state;
        struct config *config = expect_ok(
                "# every key\n"
                "[jenkins]\n"
                "url = https://jenkins.example.com:8443/ci/\n"
                "user = robot\n"
                "token-file = @DIR@/token\n"
                "credentials-id = slipway-agent-ssh\n"
                "agent-public-key = @DIR@/agent.pub\n"
                "agent-host = build-01.example.com\n"
                "node-prefix = Build01\n"
                "poll-interval-ms = 500\n"
                "timeout = 30\n"
                "\n"
                "[host] ; the machine\n"
                "capacity = 8 ; inline comment\n"
                "state-dir = /srv/slipway\n"
                "docker-host = unix:///run/docker.sock\n"
                "bind-address = 10.0.0.5\n"
                "launch-timeout = 300\n"
                "idle-timeout = 900\n"
                "drain-timeout = 0\n"
                "reconcile-interval = 15\n"
                "\n"
                "[template dind]\n"
                "labels = dind\t docker   linux\n"
                "image = registry.example.com:5000/team/agent:1.2\n"
                "cache = none\n"
                "seed-strategy = copy\n"
                "max-instances = 3\n"
                "remote-fs = /home/jenkins/work\n"
                "java-path = /opt/java/bin/java\n"
                "jvm-options = -Xmx1g -Dfile.encoding=UTF-8\n"
                "cpus = 1.5\n"
                "memory = 4G\n"
                "pids-limit = 4096\n"
                "docker-policy = trusted ; obsolete: accepted, ignored\n"
                "\n"
                "[template small]\n"
                "labels = small\n"
                "cache = 20240101T000000Z-ab12\n"
                "memory = 512m\n"
                "cpus = 0.25\n");
        _cleanup_free_ char *token_file = expand("@DIR@/token");
        _cleanup_free_ char *key_file = expand("@DIR@/agent.pub");
        const struct config_jenkins *j = &config->jenkins;
        assert_string_equal(config->path, conf_path);
        assert_string_equal(j->url, "https://jenkins.example.com:8443/ci/");
        assert_string_equal(j->user, "robot");
        assert_string_equal(j->token_file, token_file);
        assert_string_equal(j->token, "secret-token");
        assert_null(j->password_file);
        assert_null(j->password);
        assert_string_equal(j->credentials_id, "slipway-agent-ssh");
        assert_string_equal(j->agent_public_key_file, key_file);
        assert_string_equal(j->agent_public_key, ED25519 " slipway@agents\n");
        assert_string_equal(j->agent_host, "build-01.example.com");
        assert_string_equal(j->node_prefix, "Build01");
        assert_int_equal(j->poll_interval_ms, 500);
        assert_int_equal(j->timeout_s, 30);
        const struct config_host *h = &config->host;
        assert_int_equal(h->capacity, 8);
        assert_string_equal(h->state_dir, "/srv/slipway");
        assert_string_equal(h->docker_host, "unix:///run/docker.sock");
        assert_string_equal(h->bind_address, "10.0.0.5");
        assert_int_equal(h->launch_timeout_s, 300);
        assert_int_equal(h->idle_timeout_s, 900);
        assert_int_equal(h->drain_timeout_s, 0);
        assert_int_equal(h->reconcile_interval_s, 15);
        assert_int_equal(config->template_count, 2);
        const struct config_template *t = &config->templates[0];
        assert_string_equal(t->name, "dind");
        assert_string_equal(t->labels, "dind docker linux");
        assert_string_equal(t->image, "registry.example.com:5000/team/agent:1.2");
        assert_string_equal(t->cache, "none");
        assert_int_equal(t->seed_strategy, SEED_COPY);
        assert_int_equal(t->max_instances, 3);
        assert_string_equal(t->remote_fs, "/home/jenkins/work");
        assert_string_equal(t->java_path, "/opt/java/bin/java");
        assert_string_equal(t->jvm_options, "-Xmx1g -Dfile.encoding=UTF-8");
        assert_int_equal(t->nano_cpus, 1500000000LL);
        assert_int_equal(t->memory_bytes, 4LL << 30);
        assert_int_equal(t->pids_limit, 4096);
        assert_int_equal(t->line, 23);
        t = &config->templates[1];
        assert_string_equal(t->name, "small");
        assert_string_equal(t->labels, "small");
        assert_string_equal(t->cache, "20240101T000000Z-ab12");
        assert_string_equal(t->image, AGENT_DEFAULT_IMAGE);
        assert_int_equal(t->max_instances, 8); /* host capacity */
        assert_int_equal(t->memory_bytes, 512LL << 20);
        assert_int_equal(t->nano_cpus, 250000000LL);
        assert_int_equal(t->line, 37);
        config_free(config);
}

static void test_defaults(void **state)
{
        (void) state;
        struct config *config = expect_ok(MIN);
        const struct config_jenkins *j = &config->jenkins;
        assert_string_equal(j->token, "secret-token");
        assert_null(j->password);
        assert_string_equal(j->agent_host, AGENT_DEFAULT_BIND_ADDRESS);
        assert_int_equal(j->poll_interval_ms, 1000);
        assert_int_equal(j->timeout_s, 10);
        /* The short host name, made a valid node name part. */
        size_t len = strlen(j->node_prefix);
        assert_true(len >= 1 && len <= 40);
        assert_int_equal(strspn(j->node_prefix, "abcdefghijklmnopqrstuvwxyz0123456789_-"), len);
        char host[256] = "", want[41] = "";
        assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
        size_t n = 0;
        for (const char *p = host; *p && *p != '.' && n < 40; p++) {
                if (*p >= 'A' && *p <= 'Z')
                        want[n++] = (char) (*p - 'A' + 'a');
                else if (strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", *p))
                        want[n++] = *p;
                else
                        want[n++] = '-';
        }
        want[n] = '\0';
        assert_string_equal(j->node_prefix, n ? want : "slipway");
        const struct config_host *h = &config->host;
        assert_int_equal(h->capacity, 4);
        assert_string_equal(h->state_dir, AGENT_DEFAULT_STATE_DIR);
        assert_null(h->docker_host);
        assert_string_equal(h->bind_address, AGENT_DEFAULT_BIND_ADDRESS);
        assert_int_equal(h->launch_timeout_s, 180);
        assert_int_equal(h->idle_timeout_s, 600);
        assert_int_equal(h->drain_timeout_s, 3600);
        assert_int_equal(h->reconcile_interval_s, 60);
        assert_int_equal(h->userns_layout.base, USERNS_DEFAULT_BASE);
        assert_int_equal(h->userns_layout.size, 65536);
        assert_int_equal(h->userns_layout.count, 1024);
        assert_int_equal(config->template_count, 1);
        const struct config_template *t = &config->templates[0];
        assert_string_equal(t->labels, "dind docker");
        assert_string_equal(t->image, AGENT_DEFAULT_IMAGE);
        assert_string_equal(t->cache, "current");
        assert_int_equal(t->seed_strategy, SEED_LAYER_LINK);
        assert_int_equal(t->max_instances, 4);
        assert_string_equal(t->remote_fs, "/home/jenkins/agent");
        assert_string_equal(t->java_path, "/usr/bin/java");
        assert_string_equal(t->jvm_options, "");
        assert_int_equal(t->nano_cpus, 0);
        assert_int_equal(t->memory_bytes, 0);
        assert_int_equal(t->pids_limit, 0);
        assert_int_equal(t->line, 7);
        config_free(config);
}

static void test_max_instances_follows_capacity_set_later(void **state)
{
        (void) state;
        struct config *config = expect_ok(MIN "[host]\ncapacity = 2\n");
        assert_int_equal(config->templates[0].max_instances, 2);
        config_free(config);
}

static void test_password_file(void **state)
{
        (void) state;
        struct config *config = expect_ok("[jenkins]\n"
                                          "url = http://jenkins:8080\n"
                                          "user = slipway\n"
                                          "password-file = @DIR@/password\n"
                                          "credentials-id = x\n"
                                          "agent-public-key = @DIR@/agent.pub\n" MIN_TEMPLATE);
        assert_null(config->jenkins.token);
        assert_string_equal(config->jenkins.password, "pass word"); /* mode 0400 is fine too */
        config_free(config);
}

static void test_template_find(void **state)
{
        (void) state;
        struct config *config = expect_ok(MIN "[template b.2]\nlabels = b\n[template c_3]\nlabels = c\n");
        assert_int_equal(config->template_count, 3);
        assert_ptr_equal(config_template_find(config, "dind"), &config->templates[0]);
        assert_ptr_equal(config_template_find(config, "b.2"), &config->templates[1]);
        assert_ptr_equal(config_template_find(config, "c_3"), &config->templates[2]);
        assert_null(config_template_find(config, "DIND"));
        assert_null(config_template_find(config, "missing"));
        assert_null(config_template_find(config, NULL));
        assert_null(config_template_find(NULL, "dind"));
        config_free(config);
        config_free(NULL);
}

static void test_unknown_key(void **state)
{
        (void) state;
        expect_error(MIN "imgae = x\n", "@CONF@:9: [template dind] imgae: unknown key (expected one of: labels, image,");
        expect_error(MIN "[host]\nCapacity = 1\n", "@CONF@:10: [host] Capacity: unknown key");
        expect_error("[jenkins]\nurl = http://x\nusername = y\n", "@CONF@:3: [jenkins] username: unknown key");
        expect_error("url = http://x\n" MIN, "@CONF@:1: url: key before any section");
}

static void test_unknown_section(void **state)
{
        (void) state;
        expect_error(MIN "[hots]\ncapacity = 1\n",
                     "@CONF@:9: unknown section [hots] (expected [jenkins], [host] or [template NAME])");
        /* Even empty, and even when nothing follows it. */
        expect_error(MIN "[Jenkins]\n", "@CONF@:9: unknown section [Jenkins]");
        expect_error(MIN "[ host ]\n", "@CONF@:9: unknown section [ host ]");
}

static void test_duplicate_key(void **state)
{
        (void) state;
        expect_error(MIN "labels = other\n", "@CONF@:9: [template dind] labels: set twice (first on line 8)");
        expect_error(MIN_JENKINS "user = again\n" MIN_TEMPLATE,
                     "@CONF@:7: [jenkins] user: set twice (first on line 3)");
}

static void test_duplicate_section(void **state)
{
        (void) state;
        expect_error(MIN "[template dind]\nlabels = x\n",
                     "@CONF@:9: duplicate section [template dind] (first on line 7)");
        /* Empty sections count too: inih would not even tell. */
        expect_error(MIN "[template other]\n[template other]\n",
                     "@CONF@:10: duplicate section [template other] (first on line 9)");
        expect_error(MIN "[jenkins]\n", "@CONF@:9: duplicate section [jenkins] (first on line 1)");
        expect_error(MIN "[host]\n[host]\n", "@CONF@:10: duplicate section [host] (first on line 9)");
}

static void test_bad_number(void **state)
{
        (void) state;
        expect_error(MIN "max-instances = 3x\n",
                     "@CONF@:9: [template dind] max-instances: expected 1-1000, not \"3x\"");
        expect_error(MIN "max-instances = -1\n", "@CONF@:9: [template dind] max-instances: expected 1-1000, not \"-1\"");
        expect_error(MIN "max-instances = +3\n", "@CONF@:9: [template dind] max-instances: expected 1-1000");
        expect_error(MIN "max-instances = 3 4\n", "@CONF@:9: [template dind] max-instances: expected 1-1000");
        expect_error(MIN "max-instances = 0x10\n", "@CONF@:9: [template dind] max-instances: expected 1-1000");
        expect_error(MIN "max-instances =\n",
                     "@CONF@:9: [template dind] max-instances: empty value (leave the key out for the default)");
        expect_error(MIN_JENKINS "timeout = 1.5\n" MIN_TEMPLATE, "@CONF@:7: [jenkins] timeout: expected 1-300, not \"1.5\"");
}

static void test_out_of_range(void **state)
{
        (void) state;
        expect_error(MIN "[host]\ncapacity = 0\n", "@CONF@:10: [host] capacity: expected 1-1000, not \"0\"");
        expect_error(MIN "[host]\ncapacity = 1001\n", "@CONF@:10: [host] capacity: expected 1-1000, not \"1001\"");
        expect_error(MIN "[host]\ncapacity = 99999999999999999999999\n",
                     "@CONF@:10: [host] capacity: expected 1-1000, not \"99999999999999999999999\"");
        expect_error(MIN "[host]\nlaunch-timeout = 9\n", "@CONF@:10: [host] launch-timeout: expected 10-3600");
        expect_error(MIN "[host]\nidle-timeout = 86401\n", "@CONF@:10: [host] idle-timeout: expected 10-86400");
        expect_error(MIN "[host]\nreconcile-interval = 0\n",
                     "@CONF@:10: [host] reconcile-interval: expected 1-3600");
        expect_error(MIN_JENKINS "poll-interval-ms = 99\n" MIN_TEMPLATE,
                     "@CONF@:7: [jenkins] poll-interval-ms: expected 100-60000");
        expect_error(MIN "pids-limit = 4194305\n", "@CONF@:9: [template dind] pids-limit: expected 0-4194304");
        struct config *config = expect_ok(MIN "[host]\ncapacity = 1000\ndrain-timeout = 86400\n");
        assert_int_equal(config->host.capacity, 1000);
        assert_int_equal(config->host.drain_timeout_s, 86400);
        config_free(config);
}

/* docker-policy means nothing since agents run in a user namespace: configs that set it still
 * load, and a value that was never valid is still an error. */
static void test_docker_policy_obsolete(void **state)
{
        (void) state;
        struct config *config = expect_ok(MIN "docker-policy = standard\n");
        config_free(config);
        config = expect_ok(MIN "docker-policy = trusted\n");
        config_free(config);
        expect_error(MIN "docker-policy = root\n",
                     "@CONF@:9: [template dind] docker-policy: expected standard or trusted, not \"root\"");
}

static void test_userns_layout(void **state)
{
        (void) state;
        struct config *config = expect_ok(MIN "[host]\nuserns-base = 200000\nuserns-size = 131072\n"
                                              "userns-count = 8\ncapacity = 8\n");
        assert_int_equal(config->host.userns_layout.base, 200000);
        assert_int_equal(config->host.userns_layout.size, 131072);
        assert_int_equal(config->host.userns_layout.count, 8);
        config_free(config);
        /* Near the top: 0xFFFE0000 + 1 x 65536 ends at 0xFFFEFFFF, below the invalid id 2^32-1. */
        config = expect_ok(MIN "[host]\nuserns-base = 4294836224\nuserns-count = 1\ncapacity = 1\n");
        assert_int_equal(config->host.userns_layout.base, 4294836224u);
        assert_int_equal(config->host.userns_layout.size, USERNS_DEFAULT_SIZE);
        config_free(config);

        /* nogroup (65534) must map: no smaller range. */
        expect_error(MIN "[host]\nuserns-size = 65535\n",
                     "@CONF@:10: [host] userns-size: expected 65536-4294967295, not \"65535\"");
        expect_error(MIN "[host]\nuserns-size = 0\n", "@CONF@:10: [host] userns-size: expected 65536-");
        /* Host ids below 65536 are the host's own users. */
        expect_error(MIN "[host]\nuserns-base = 0\n", "@CONF@:10: [host] userns-base: expected 65536-4294967295");
        expect_error(MIN "[host]\nuserns-base = 4294967296\n", "@CONF@:10: [host] userns-base: expected 65536-4294967295");
        expect_error(MIN "[host]\nuserns-count = 0\n", "@CONF@:10: [host] userns-count: expected 1-4294967295");
        /* Each value fits, the ranges together do not: the error names the key set last. */
        expect_error(MIN "[host]\nuserns-base = 4294901760\n",
                     "@CONF@:10: [host] userns-base: user namespace ranges 4294901760 + 1024 x 65536 end at "
                     "4362010623, past the last usable id (2^32-2)");
        expect_error(MIN "[host]\nuserns-count = 65536\nuserns-size = 65536\n",
                     "@CONF@:11: [host] userns-size: user namespace ranges 1879048192 + 65536 x 65536");
        expect_error(MIN "[host]\nuserns-size = 4294967295\n",
                     "@CONF@:10: [host] userns-size: user namespace ranges 1879048192 + 1024 x 4294967295");
        /* One range per agent the host may run, whichever comes first in the file. */
        expect_error(MIN "[host]\nuserns-count = 3\ncapacity = 4\n",
                     "@CONF@:10: [host] userns-count: 3 user namespace ranges for a capacity of 4 agents");
        expect_error(MIN "[host]\nuserns-count = 2\n",
                     "@CONF@:10: [host] userns-count: 2 user namespace ranges for a capacity of 4 agents: "
                     "each agent needs one (raise userns-count to at least 4)");
        config = expect_ok(MIN "[host]\ncapacity = 2\nuserns-count = 2\n");
        assert_int_equal(config->host.userns_layout.count, 2);
        config_free(config);
}

static void test_memory(void **state)
{
        (void) state;
        expect_error(MIN "memory = 4X\n",
                     "@CONF@:9: [template dind] memory: expected a size like 512M or 4G (K, M, G, T: "
                     "powers of 1024), not \"4X\"");
        expect_error(MIN "memory = 4GB\n", "@CONF@:9: [template dind] memory: expected a size like");
        expect_error(MIN "memory = 1.5G\n", "@CONF@:9: [template dind] memory: expected a size like");
        expect_error(MIN "memory = G\n", "@CONF@:9: [template dind] memory: expected a size like");
        expect_error(MIN "memory = 9000000T\n", "@CONF@:9: [template dind] memory: \"9000000T\" is too large");
        expect_error(MIN "memory = 99999999999999999999\n", "@CONF@:9: [template dind] memory: \"99999999999999999999\" is too large");
        expect_error(MIN "memory = 1K\n", "@CONF@:9: [template dind] memory: \"1K\" is less than Docker's minimum of 6M");
        expect_error(MIN "memory = 0\n", "@CONF@:9: [template dind] memory: \"0\" is less than");
        static const struct {
                const char *value;
                long long bytes;
        } ok[] = {
                { "6M", 6LL << 20 }, { "6291456", 6291456 }, { "8192k", 8LL << 20 },
                { "2g", 2LL << 30 }, { "1T", 1LL << 40 }, { "8388607T", 8388607LL << 40 },
        };
        for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
                char text[512];
                snprintf(text, sizeof(text), MIN "memory = %s\n", ok[i].value);
                struct config *config = expect_ok(text);
                assert_int_equal(config->templates[0].memory_bytes, ok[i].bytes);
                config_free(config);
        }
}

static void test_disk_limit(void **state)
{
        (void) state;
        expect_error(MIN "disk-limit = 20GB\n",
                     "@CONF@:9: [template dind] disk-limit: expected a size like 512M or 4G (K, M, G, T: "
                     "powers of 1024), not \"20GB\"");
        expect_error(MIN "disk-limit = \n", "@CONF@:9: [template dind] disk-limit: empty value");
        expect_error(MIN "disk-limit = -1G\n", "@CONF@:9: [template dind] disk-limit: expected a size like");
        expect_error(MIN "disk-limit = 255M\n",
                     "@CONF@:9: [template dind] disk-limit: \"255M\" is less than the minimum of 256M");
        expect_error(MIN "disk-limit = 0\n", "@CONF@:9: [template dind] disk-limit: \"0\" is less than");
        expect_error(MIN "disk-limit = 16385G\n",
                     "@CONF@:9: [template dind] disk-limit: \"16385G\" is more than the maximum of 16T");
        expect_error(MIN "disk-limit = 99999999999999999999\n",
                     "@CONF@:9: [template dind] disk-limit: \"99999999999999999999\" is too large");
        /* Strategies that clone within one file system cannot seed into the agent's own. */
        expect_error(MIN "seed-strategy = reflink\ndisk-limit = 20G\n",
                     "@CONF@:10: [template dind] disk-limit: seed-strategy reflink cannot seed a data "
                     "root inside a disk limit");
        expect_error(MIN "disk-limit = 20G\nseed-strategy = btrfs-snapshot\n",
                     "@CONF@:9: [template dind] disk-limit: seed-strategy btrfs-snapshot cannot seed a "
                     "data root inside a disk limit: a snapshot stays in the generation's btrfs, outside "
                     "the agent's own file system (use layer-link, or copy) (seed-strategy is on line 10)");
        static const struct {
                const char *text;
                long long bytes;
        } ok[] = {
                { "disk-limit = 256M\n", 256LL << 20 },
                { "disk-limit = 20G\n", 20LL << 30 },
                { "disk-limit = 16T\n", 16LL << 40 },
                { "disk-limit = 268435456\n", 268435456 },
                { "seed-strategy = copy\ndisk-limit = 1g\n", 1LL << 30 },
                { "seed-strategy = layer-link\ndisk-limit = 1G\n", 1LL << 30 },
                { "", 0 }, /* no disk-limit: no disk */
        };
        for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
                char text[512];
                snprintf(text, sizeof(text), MIN "%s", ok[i].text);
                struct config *config = expect_ok(text);
                assert_int_equal(config->templates[0].disk_limit_bytes, ok[i].bytes);
                config_free(config);
        }
}

static void test_egress_allow(void **state)
{
        (void) state;
        expect_error(MIN "egress-allow = example.com:443\n",
                     "@CONF@:9: [template dind] egress-allow: \"example.com\" is not an IPv4 address");
        expect_error(MIN "egress-allow = 10.0.0.1\n", "@CONF@:9: [template dind] egress-allow: \"10.0.0.1\": no port");
        struct config *config = expect_ok(MIN "egress-allow = 10.0.0.1:443, 10.2.3.4/16:80\n");
        assert_string_equal(config->templates[0].egress_allow, "10.0.0.1/32:443,10.2.0.0/16:80");
        config_free(config);
        config = expect_ok(MIN);
        assert_null(config->templates[0].egress_allow);
        config_free(config);
}

static void test_cpus(void **state)
{
        (void) state;
        static const char *const bad[] = { "0", "0.0", "0.001", "1025", "1024.5", "1.", ".5", "1.2.3",
                                           "1e3", "-1", "1,5", "1.0000000001", "100000000" };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char text[512], want[256];
                snprintf(text, sizeof(text), MIN "cpus = %s\n", bad[i]);
                snprintf(want, sizeof(want),
                         "@CONF@:9: [template dind] cpus: expected a number of CPUs from 0.01 to 1024 "
                         "(e.g. 1.5), not \"%s\"", bad[i]);
                expect_error(text, want);
        }
        static const struct {
                const char *value;
                long long nano;
        } ok[] = {
                { "1", 1000000000LL }, { "0.01", 10000000LL }, { "1024", 1024000000000LL },
                { "2.123456789", 2123456789LL }, { "0.5", 500000000LL }, { "16.000", 16000000000LL },
        };
        for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
                char text[512];
                snprintf(text, sizeof(text), MIN "cpus = %s\n", ok[i].value);
                struct config *config = expect_ok(text);
                assert_int_equal(config->templates[0].nano_cpus, ok[i].nano);
                config_free(config);
        }
}

static void test_missing_required(void **state)
{
        (void) state;
        expect_error("[jenkins]\n"
                     "url = http://127.0.0.1:8080/\n"
                     "token-file = @DIR@/token\n"
                     "credentials-id = x\n"
                     "agent-public-key = @DIR@/agent.pub\n" MIN_TEMPLATE,
                     "@CONF@:1: [jenkins] user: required");
        expect_error("[jenkins]\n"
                     "user = x\n"
                     "token-file = @DIR@/token\n"
                     "credentials-id = x\n"
                     "agent-public-key = @DIR@/agent.pub\n" MIN_TEMPLATE,
                     "@CONF@:1: [jenkins] url: required");
        expect_error("[jenkins]\n"
                     "url = http://127.0.0.1:8080/\n"
                     "user = x\n"
                     "token-file = @DIR@/token\n"
                     "agent-public-key = @DIR@/agent.pub\n" MIN_TEMPLATE,
                     "@CONF@:1: [jenkins] credentials-id: required");
        expect_error("[jenkins]\n"
                     "url = http://127.0.0.1:8080/\n"
                     "user = x\n"
                     "token-file = @DIR@/token\n"
                     "credentials-id = x\n" MIN_TEMPLATE,
                     "@CONF@:1: [jenkins] agent-public-key: required");
        /* Without [jenkins]: standalone, and each template names who may log in. */
        expect_error("[host]\ncapacity = 2\n" MIN_TEMPLATE,
                     "@CONF@:3: [template dind] authorized-keys: required without a [jenkins] section");
        expect_error("[jenkins]\n"
                     "url = http://127.0.0.1:8080/\n"
                     "user = x\n"
                     "credentials-id = x\n"
                     "agent-public-key = @DIR@/agent.pub\n" MIN_TEMPLATE,
                     "@CONF@:1: [jenkins] token-file: required (or password-file)");
        expect_error(MIN "[template bare]\nimage = x\n", "@CONF@:9: [template bare] labels: required");
        expect_error(MIN "[template empty]\n", "@CONF@:9: [template empty] labels: required");
}

static void test_token_and_password(void **state)
{
        (void) state;
        expect_error(MIN_JENKINS "password-file = @DIR@/password\n" MIN_TEMPLATE,
                     "@CONF@:7: [jenkins] password-file: token-file is set too (line 4): give one of them");
}

static void test_no_templates(void **state)
{
        (void) state;
        expect_error(MIN_JENKINS, "@CONF@: no [template NAME] section: at least one is required");
        expect_error(MIN_JENKINS "[host]\n", "@CONF@: no [template NAME] section");
}

static void test_bad_template_name(void **state)
{
        (void) state;
        expect_error(MIN "[template bad/name]\nlabels = x\n",
                     "@CONF@:9: [template bad/name]: bad template name \"bad/name\": use 1-32 characters "
                     "of a-z A-Z 0-9 _ . -");
        expect_error(MIN "[template 0123456789abcdef0123456789abcdefX]\n",
                     "@CONF@:9: [template 0123456789abcdef0123456789abcdefX]: bad template name");
        expect_error(MIN "[template a b]\n", "@CONF@:9: [template a b]: bad template name \"a b\"");
        expect_error(MIN "[template]\n", "@CONF@:9: [template] needs a name: [template NAME]");
        expect_error(MIN "[template ]\n", "@CONF@:9: [template] needs a name");
        expect_error(MIN "[templatex]\n", "@CONF@:9: unknown section [templatex]");
        struct config *config = expect_ok(MIN "[template 0123456789abcdef0123456789abcdef]\nlabels = x\n");
        assert_non_null(config_template_find(config, "0123456789abcdef0123456789abcdef"));
        config_free(config);
}

static void test_too_many_templates(void **state)
{
        (void) state;
        _cleanup_free_ char *text = malloc(64 * 1024);
        assert_non_null(text);
        size_t len = (size_t) snprintf(text, 64 * 1024, "%s", MIN_JENKINS);
        for (int i = 0; i <= CONFIG_MAX_TEMPLATES; i++)
                len += (size_t) snprintf(text + len, 64 * 1024 - len, "[template t%d]\nlabels = x\n", i);
        /* Line 6 + 2 per template: the 65th starts at line 6 + 64 * 2 + 1. */
        expect_error(text, "@CONF@:135: too many templates (at most 64)");
        text[len - strlen("[template t64]\nlabels = x\n")] = '\0';
        struct config *config = expect_ok(text);
        assert_int_equal(config->template_count, 64);
        config_free(config);
}

static void test_syntax(void **state)
{
        (void) state;
        expect_error(MIN "garbage\n",
                     "@CONF@:9: syntax error (expected \"key = value\", \"[section]\" or a comment)");
        /* The first error wins, whoever finds it. */
        expect_error(MIN "garbage\nimgae = x\n", "@CONF@:9: syntax error");
        expect_error(MIN "imgae = x\ngarbage\n", "@CONF@:9: [template dind] imgae: unknown key");
        expect_error(MIN "= value\n", "@CONF@:9: [template dind] syntax error: no key before '='");
        expect_error(MIN "[host\n", "@CONF@:9: syntax error: no ']' after '['");
        expect_error(MIN "[host] capacity = 3\n", "@CONF@:9: syntax error: text after ']'");
        /* inih would take these as continuations of "labels". */
        expect_error(MIN "  image = x\n", "@CONF@:9: indented line");
        expect_error(MIN "\t[host]\n", "@CONF@:9: indented line");
        /* Indented comments and blank lines are fine. */
        struct config *config = expect_ok(MIN "  # comment\n   \n\t; another\n");
        config_free(config);
        expect_error(MIN "jvm-options = -Da=\x01\n", "@CONF@:9: control character 0x01");
}

static void test_long_line(void **state)
{
        (void) state;
        char text[1024], want[128];
        char value[300];
        memset(value, 'x', sizeof(value) - 1);
        value[sizeof(value) - 1] = '\0';
        snprintf(text, sizeof(text), MIN "jvm-options = %s\nimage = x\n", value);
        /* inih would cut it in two and shift every line number after it. */
        snprintf(want, sizeof(want), "@CONF@:9: line too long (at most ");
        expect_error(text, want);
        /* 197 characters pass (Debian's inih: 200 with '\r', '\n' and NUL). */
        snprintf(text, sizeof(text), MIN "jvm-options = %.*s\r\n", 197 - 14, value);
        struct config *config = expect_ok(text);
        assert_int_equal(strlen(config->templates[0].jvm_options), 197 - 14);
        config_free(config);
}

static void test_bom_and_crlf(void **state)
{
        (void) state;
        struct config *config = expect_ok("\xEF\xBB\xBF[jenkins]\r\n"
                                          "url = http://127.0.0.1:8080/\r\n"
                                          "user = slipway\r\n"
                                          "token-file = @DIR@/token\r\n"
                                          "credentials-id = x\r\n"
                                          "agent-public-key = @DIR@/agent.pub\r\n"
                                          "[template dind]\r\n"
                                          "labels = a b\r\n"
                                          "max-instances = 2");
        assert_string_equal(config->jenkins.user, "slipway");
        assert_string_equal(config->templates[0].labels, "a b");
        assert_int_equal(config->templates[0].max_instances, 2);
        config_free(config);
}

static void test_secret_mode_refused(void **state)
{
        (void) state;
        write_file("token-0644", "secret\n", 0644);
        expect_error("[jenkins]\n"
                     "url = http://127.0.0.1:8080/\n"
                     "user = slipway\n"
                     "token-file = @DIR@/token-0644\n"
                     "credentials-id = x\n"
                     "agent-public-key = @DIR@/agent.pub\n" MIN_TEMPLATE,
                     "@CONF@:4: [jenkins] token-file: @DIR@/token-0644 has mode 0644: group and others "
                     "must have no access (chmod 600 @DIR@/token-0644)");
        write_file("token-0640", "secret\n", 0640);
        expect_error("[jenkins]\n"
                     "url = http://127.0.0.1:8080/\n"
                     "user = slipway\n"
                     "password-file = @DIR@/token-0640\n"
                     "credentials-id = x\n"
                     "agent-public-key = @DIR@/agent.pub\n" MIN_TEMPLATE,
                     "@CONF@:4: [jenkins] password-file: @DIR@/token-0640 has mode 0640");
}

static void test_secret_owner_refused(void **state)
{
        (void) state;
        /* Needs root, like the rest of the suite: fail loudly rather than skip. */
        assert_int_equal(geteuid(), 0);
        write_file("token-nobody", "secret\n", 0600);
        _cleanup_free_ char *path = expand("@DIR@/token-nobody");
        assert_int_equal(chown(path, 65534, 65534), 0);
        expect_error("[jenkins]\n"
                     "url = http://127.0.0.1:8080/\n"
                     "user = slipway\n"
                     "token-file = @DIR@/token-nobody\n"
                     "credentials-id = x\n"
                     "agent-public-key = @DIR@/agent.pub\n" MIN_TEMPLATE,
                     "@CONF@:4: [jenkins] token-file: @DIR@/token-nobody belongs to uid 65534, not to "
                     "uid 0 that runs slipway (chown 0 @DIR@/token-nobody)");
}

static void test_secret_symlink_refused(void **state)
{
        (void) state;
        _cleanup_free_ char *target = expand("@DIR@/token");
        _cleanup_free_ char *link = expand("@DIR@/token-link");
        unlink(link);
        assert_int_equal(symlink(target, link), 0);
        expect_error("[jenkins]\n"
                     "url = http://127.0.0.1:8080/\n"
                     "user = slipway\n"
                     "token-file = @DIR@/token-link\n"
                     "credentials-id = x\n"
                     "agent-public-key = @DIR@/agent.pub\n" MIN_TEMPLATE,
                     "@CONF@:4: [jenkins] token-file: @DIR@/token-link is a symbolic link: name the file itself");
}

static void test_secret_content(void **state)
{
        (void) state;
        static const char base[] = "[jenkins]\n"
                                   "url = http://127.0.0.1:8080/\n"
                                   "user = slipway\n"
                                   "token-file = @DIR@/%s\n"
                                   "credentials-id = x\n"
                                   "agent-public-key = @DIR@/agent.pub\n" MIN_TEMPLATE;
        char text[1024];
        write_file("token-empty", "", 0600);
        snprintf(text, sizeof(text), base, "token-empty");
        expect_error(text, "@CONF@:4: [jenkins] token-file: @DIR@/token-empty is empty");
        write_file("token-newline", "\n", 0600);
        snprintf(text, sizeof(text), base, "token-newline");
        expect_error(text, "@CONF@:4: [jenkins] token-file: @DIR@/token-newline is empty");
        write_file("token-two-lines", "abc\ndef\n", 0600);
        snprintf(text, sizeof(text), base, "token-two-lines");
        expect_error(text, "@CONF@:4: [jenkins] token-file: @DIR@/token-two-lines: control character at byte 4");
        write_file("token-crlf", "abc\r\n", 0600);
        snprintf(text, sizeof(text), base, "token-crlf");
        expect_error(text, "@CONF@:4: [jenkins] token-file: @DIR@/token-crlf: control character at byte 4");
        /* Exactly the limit passes; one byte more does not. */
        char big[CONFIG_MAX_SECRET + 2];
        memset(big, 'a', sizeof(big));
        big[CONFIG_MAX_SECRET] = '\n';
        big[CONFIG_MAX_SECRET + 1] = '\0';
        write_file("token-max", big, 0600);
        snprintf(text, sizeof(text), base, "token-max");
        struct config *config = expect_ok(text);
        assert_int_equal(strlen(config->jenkins.token), CONFIG_MAX_SECRET);
        config_free(config);
        big[CONFIG_MAX_SECRET] = 'a';
        write_file("token-big", big, 0600);
        snprintf(text, sizeof(text), base, "token-big");
        expect_error(text, "@CONF@:4: [jenkins] token-file: @DIR@/token-big: longer than 4096 bytes");
        _cleanup_free_ char *huge = malloc(1 << 20);
        assert_non_null(huge);
        memset(huge, 'a', (1 << 20) - 1);
        huge[(1 << 20) - 1] = '\0';
        write_file("token-huge", huge, 0600);
        snprintf(text, sizeof(text), base, "token-huge");
        expect_error(text, "@CONF@:4: [jenkins] token-file: @DIR@/token-huge: longer than 4096 bytes");
        /* Without a final newline, kept whole. */
        write_file("token-bare", " spaced token ", 0600);
        snprintf(text, sizeof(text), base, "token-bare");
        config = expect_ok(text);
        assert_string_equal(config->jenkins.token, " spaced token ");
        config_free(config);
        snprintf(text, sizeof(text), base, "missing");
        expect_error(text, "@CONF@:4: [jenkins] token-file: @DIR@/missing: No such file or directory");
        /* A directory, and a FIFO (which must not hang the open). */
        snprintf(text, sizeof(text), base, "");
        expect_error(text, "@CONF@:4: [jenkins] token-file: @DIR@/ is not a regular file");
        _cleanup_free_ char *fifo = expand("@DIR@/token-fifo");
        unlink(fifo);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        snprintf(text, sizeof(text), base, "token-fifo");
        expect_error(text, "@CONF@:4: [jenkins] token-file: @DIR@/token-fifo is not a regular file");
}

static void test_public_key(void **state)
{
        (void) state;
        write_file("not-a-key.pub", "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0600);
        expect_error("[jenkins]\n"
                     "url = http://127.0.0.1:8080/\n"
                     "user = slipway\n"
                     "token-file = @DIR@/token\n"
                     "credentials-id = x\n"
                     "agent-public-key = @DIR@/not-a-key.pub\n" MIN_TEMPLATE,
                     "@CONF@:6: [jenkins] agent-public-key: public key @DIR@/not-a-key.pub: line 1: not an "
                     "OpenSSH public key");
        expect_error("[jenkins]\n"
                     "url = http://127.0.0.1:8080/\n"
                     "user = slipway\n"
                     "token-file = @DIR@/token\n"
                     "credentials-id = x\n"
                     "agent-public-key = agent.pub\n" MIN_TEMPLATE,
                     "@CONF@:6: [jenkins] agent-public-key: expected an absolute path, not \"agent.pub\"");
}

static void test_bad_url(void **state)
{
        (void) state;
        static const struct {
                const char *url, *reason;
        } bad[] = {
                { "ftp://jenkins/", "expected http://HOST[:PORT][/PATH] or https://..., not \"ftp://jenkins/\"" },
                { "jenkins:8080", "expected http://HOST[:PORT][/PATH]" },
                { "HTTP://jenkins/", "expected http://HOST[:PORT][/PATH]" },
                { "http://", "no host in \"http://\"" },
                { "http:///path", "no host in" },
                { "http://:8080/", "no host in" },
                { "http://user:pw@jenkins/", "no credentials in the URL" },
                { "http://jenkins:0/", "bad port in" },
                { "http://jenkins:65536/", "bad port in" },
                { "http://jenkins:80x/", "bad port in" },
                { "http://jenkins:/", "bad port in" },
                { "http://jen$kins/", "bad host in" },
                { "http://[::1/", "bad IPv6 address in" },
                { "http://[zz::1]/", "bad IPv6 address in" },
                { "http://[::1]x/", "bad host in" },
                { "http://jenkins/?a=b", "\"http://jenkins/?a=b\" has a query or fragment: give Jenkins' root URL" },
                { "http://jenkins/#x", "\"http://jenkins/#x\" has a query or fragment" },
                { "http://jen kins/", "spaces in" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char text[1024], want[256];
                snprintf(text, sizeof(text),
                         "[jenkins]\nurl = %s\nuser = u\ntoken-file = @DIR@/token\ncredentials-id = x\n"
                         "agent-public-key = @DIR@/agent.pub\n" MIN_TEMPLATE, bad[i].url);
                snprintf(want, sizeof(want), "@CONF@:2: [jenkins] url: %s", bad[i].reason);
                expect_error(text, want);
        }
        static const char *const ok[] = { "http://jenkins", "https://ci.example.com:8443/jenkins/",
                                          "http://[::1]:8080/", "http://10.0.0.1:80",
                                          "http://jenkins_1:8080" };
        for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
                char text[1024];
                snprintf(text, sizeof(text),
                         "[jenkins]\nurl = %s\nuser = u\ntoken-file = @DIR@/token\ncredentials-id = x\n"
                         "agent-public-key = @DIR@/agent.pub\n" MIN_TEMPLATE, ok[i]);
                struct config *config = expect_ok(text);
                assert_string_equal(config->jenkins.url, ok[i]);
                config_free(config);
        }
}

static void test_bad_labels(void **state)
{
        (void) state;
        expect_error(MIN_JENKINS "[template dind]\nlabels = dind a/b\n",
                     "@CONF@:8: [template dind] labels: label \"a/b\": '/' is not allowed in a Jenkins label");
        static const char *const bad[] = { "a?b", "a*b", "a\\b", "a%b", "a!b", "a@b", "a#b", "a$b",
                                           "a^b", "a&b", "a|b", "a<b", "a>b", "a[b", "a]b", "a:b",
                                           "a;b", "a=b", "a(b", "a)b", "a\"b", "a'b", "..", "." };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char text[1024], want[256];
                snprintf(text, sizeof(text), MIN_JENKINS "[template dind]\nlabels = ok %s\n", bad[i]);
                snprintf(want, sizeof(want), "@CONF@:8: [template dind] labels: label \"%s\"", bad[i]);
                expect_error(text, want);
        }
        expect_error(MIN_JENKINS "[template dind]\nlabels =   \n", "@CONF@:8: [template dind] labels: empty value");
        struct config *config = expect_ok(MIN_JENKINS "[template dind]\nlabels = linux-x86_64 docker.25 ünïcode\n");
        assert_string_equal(config->templates[0].labels, "linux-x86_64 docker.25 ünïcode");
        config_free(config);
}

static void test_addresses(void **state)
{
        (void) state;
        expect_error(MIN "[host]\nbind-address = 0.0.0.0\n",
                     "@CONF@:1: [jenkins] agent-host: required when [host] bind-address is 0.0.0.0");
        expect_error(MIN "[host]\nbind-address = localhost\n",
                     "@CONF@:10: [host] bind-address: expected an IPv4 or IPv6 address, not \"localhost\"");
        expect_error(MIN "[host]\nbind-address = 10.0.0.256\n", "@CONF@:10: [host] bind-address: expected an IPv4");
        expect_error(MIN_JENKINS "agent-host = 0.0.0.0\n" MIN_TEMPLATE,
                     "@CONF@:7: [jenkins] agent-host: 0.0.0.0 is no address to connect to");
        expect_error(MIN_JENKINS "agent-host = ::\n" MIN_TEMPLATE, "@CONF@:7: [jenkins] agent-host: :: is no address");
        expect_error(MIN_JENKINS "agent-host = 300.1.1.1\n" MIN_TEMPLATE,
                     "@CONF@:7: [jenkins] agent-host: expected an IPv4 or IPv6 address or a host name, not \"300.1.1.1\"");
        expect_error(MIN_JENKINS "agent-host = host_name\n" MIN_TEMPLATE, "@CONF@:7: [jenkins] agent-host: expected");
        expect_error(MIN_JENKINS "agent-host = -host\n" MIN_TEMPLATE, "@CONF@:7: [jenkins] agent-host: expected");
        struct config *config = expect_ok(MIN_JENKINS "agent-host = jenkins-agents.internal\n" MIN_TEMPLATE
                                          "[host]\nbind-address = ::\n");
        assert_string_equal(config->jenkins.agent_host, "jenkins-agents.internal");
        assert_string_equal(config->host.bind_address, "::");
        config_free(config);
        config = expect_ok(MIN "[host]\nbind-address = ::1\n");
        assert_string_equal(config->jenkins.agent_host, "::1"); /* the default follows bind-address */
        config_free(config);
}

static void test_standalone(void **state)
{
        (void) state;
        struct config *config = expect_ok("[host]\ncapacity = 2\n" MIN_TEMPLATE
                                          "authorized-keys = @DIR@/agent.pub\n");
        assert_true(config_standalone(config));
        assert_null(config->jenkins.url);
        assert_string_equal(config->templates[0].authorized_keys, ED25519 " slipway@agents\n");
        config_free(config);
        expect_error("[host]\n" MIN_TEMPLATE "authorized-keys = @DIR@/token\n",
                     "@CONF@:4: [template dind] authorized-keys: public key @DIR@/token");
        expect_error("[host]\n" MIN_TEMPLATE "authorized-keys = @DIR@/missing.pub\n",
                     "@CONF@:4: [template dind] authorized-keys");
        /* With Jenkins, its key is authorized as well as the template's own. */
        config = expect_ok(MIN "authorized-keys = @DIR@/agent.pub\n");
        assert_false(config_standalone(config));
        assert_string_equal(config->templates[0].authorized_keys,
                            ED25519 " slipway@agents\n" ED25519 " slipway@agents\n");
        config_free(config);
        config = expect_ok(MIN);
        assert_string_equal(config->templates[0].authorized_keys, ED25519 " slipway@agents\n");
        config_free(config);
}

static void test_metrics_address(void **state)
{
        (void) state;
        struct config *config = expect_ok(MIN "[host]\nmetrics-address = 127.0.0.1:9469\n");
        assert_string_equal(config->host.metrics_address, "127.0.0.1:9469");
        config_free(config);
        config = expect_ok(MIN "[host]\nmetrics-address = [::1]:9469\n");
        assert_string_equal(config->host.metrics_address, "[::1]:9469");
        config_free(config);
        config = expect_ok(MIN);
        assert_null(config->host.metrics_address);
        config_free(config);
        expect_error(MIN "[host]\nmetrics-address = 127.0.0.1\n",
                     "@CONF@:10: [host] metrics-address: expected ADDRESS:PORT");
        expect_error(MIN "[host]\nmetrics-address = localhost:9469\n",
                     "@CONF@:10: [host] metrics-address: expected an IPv4 or [IPv6] address before "
                     "the port, not \"localhost\"");
        expect_error(MIN "[host]\nmetrics-address = 127.0.0.1:70000\n",
                     "@CONF@:10: [host] metrics-address: port: expected 1-65535");
        expect_error(MIN "[host]\nmetrics-address = ::1:9469\n",
                     "@CONF@:10: [host] metrics-address: an IPv6 address goes in brackets");
        expect_error(MIN "[host]\nmetrics-address = :9469\n",
                     "@CONF@:10: [host] metrics-address: expected ADDRESS:PORT");
}

static void test_other_values(void **state)
{
        (void) state;
        expect_error(MIN "seed-strategy = hardlink\n",
                     "@CONF@:9: [template dind] seed-strategy: expected layer-link, reflink, copy or "
                     "btrfs-snapshot, not \"hardlink\"");
        expect_error(MIN "cache = ../etc\n", "@CONF@:9: [template dind] cache: expected \"current\", \"none\" or a generation id");
        expect_error(MIN "cache = .hidden\n", "@CONF@:9: [template dind] cache: expected");
        expect_error(MIN "cache = 0123456789012345678901234567890123456789\n", "@CONF@:9: [template dind] cache: expected");
        expect_error(MIN "image = -v /:/host\n", "@CONF@:9: [template dind] image: expected an image reference");
        expect_error(MIN "image = a b\n", "@CONF@:9: [template dind] image: expected an image reference");
        expect_error(MIN "remote-fs = agent\n", "@CONF@:9: [template dind] remote-fs: expected an absolute path");
        expect_error(MIN "java-path = java\n", "@CONF@:9: [template dind] java-path: expected an absolute path");
        expect_error(MIN "[host]\nstate-dir = var/lib/slipway\n", "@CONF@:10: [host] state-dir: expected an absolute path");
        expect_error(MIN "[host]\ndocker-host = tcp://127.0.0.1:2375\n",
                     "@CONF@:10: [host] docker-host: expected unix:///PATH (a local socket), not \"tcp://127.0.0.1:2375\"");
        expect_error(MIN "[host]\ndocker-host = unix://relative.sock\n", "@CONF@:10: [host] docker-host: expected unix:///PATH");
        expect_error(MIN_JENKINS "node-prefix = a b\n" MIN_TEMPLATE,
                     "@CONF@:7: [jenkins] node-prefix: expected 1-40 characters of a-z A-Z 0-9 _ . -, not \"a b\"");
        expect_error(MIN_JENKINS "node-prefix = 0123456789012345678901234567890123456789x\n" MIN_TEMPLATE,
                     "@CONF@:7: [jenkins] node-prefix: expected 1-40");
        expect_error(MIN_JENKINS "node-prefix = build/01\n" MIN_TEMPLATE, "@CONF@:7: [jenkins] node-prefix: expected");
        expect_error("[jenkins]\nurl = http://j\nuser = a:b\n", "@CONF@:3: [jenkins] user: ':' cannot be part of a user name");
        expect_error("[jenkins]\ncredentials-id = a b\n", "@CONF@:2: [jenkins] credentials-id: spaces in \"a b\"");
        struct config *config = expect_ok(MIN "cache = 20240101T000000Z-ab12\nseed-strategy = btrfs-snapshot\n"
                                              "image = slipway/agent@sha256:0123abcd\njvm-options =\n");
        assert_string_equal(config->templates[0].cache, "20240101T000000Z-ab12");
        assert_int_equal(config->templates[0].seed_strategy, SEED_BTRFS_SNAPSHOT);
        assert_string_equal(config->templates[0].image, "slipway/agent@sha256:0123abcd");
        assert_string_equal(config->templates[0].jvm_options, "");
        config_free(config);
}

static void test_load_and_parse(void **state)
{
        (void) state;
        struct config *config = NULL;
        struct sw_error err = { 0 };
        assert_true(config_load("/nonexistent/slipway.conf", &config, &err) < 0);
        assert_string_equal(err.message, "/nonexistent/slipway.conf: No such file or directory");
        assert_null(config);
        /* config_parse reads len bytes, whatever follows them. */
        _cleanup_free_ char *text = expand(MIN "garbage that is not part of it");
        size_t len = strlen(text) - strlen("garbage that is not part of it");
        assert_int_equal(config_parse("inline.conf", text, len, &config, &err), 0);
        assert_string_equal(config->path, "inline.conf");
        config_free(config);
        config = NULL;
        assert_true(config_parse("inline.conf", text, strlen(text), &config, &err) < 0);
        assert_string_equal(err.message,
                            "inline.conf:9: syntax error (expected \"key = value\", \"[section]\" or a comment)");
        /* A NUL byte: not a text file. */
        _cleanup_free_ char *head = expand(MIN);
        char nul[1024];
        size_t nul_len = strlen(head);
        memcpy(nul, head, nul_len);
        memcpy(nul + nul_len, "image = a\0b\n", 12);
        nul_len += 12;
        assert_true(config_parse("nul.conf", nul, nul_len, &config, &err) < 0);
        assert_string_equal(err.message, "nul.conf:9: NUL byte: not a text file");
        assert_null(config);
        /* Bounded. */
        assert_true(config_parse("big.conf", text, CONFIG_MAX_FILE + 1, &config, &err) < 0);
        assert_non_null(strstr(err.message, "big.conf: larger than"));
        /* err may be NULL. */
        assert_true(config_parse("x.conf", "[nope]\n", 7, &config, NULL) < 0);
        assert_null(config);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_config),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_max_instances_follows_capacity_set_later),
                cmocka_unit_test(test_password_file),
                cmocka_unit_test(test_template_find),
                cmocka_unit_test(test_unknown_key),
                cmocka_unit_test(test_unknown_section),
                cmocka_unit_test(test_duplicate_key),
                cmocka_unit_test(test_duplicate_section),
                cmocka_unit_test(test_bad_number),
                cmocka_unit_test(test_out_of_range),
                cmocka_unit_test(test_docker_policy_obsolete),
                cmocka_unit_test(test_userns_layout),
                cmocka_unit_test(test_memory),
                cmocka_unit_test(test_disk_limit),
                cmocka_unit_test(test_egress_allow),
                cmocka_unit_test(test_cpus),
                cmocka_unit_test(test_missing_required),
                cmocka_unit_test(test_token_and_password),
                cmocka_unit_test(test_no_templates),
                cmocka_unit_test(test_bad_template_name),
                cmocka_unit_test(test_too_many_templates),
                cmocka_unit_test(test_syntax),
                cmocka_unit_test(test_long_line),
                cmocka_unit_test(test_bom_and_crlf),
                cmocka_unit_test(test_secret_mode_refused),
                cmocka_unit_test(test_secret_owner_refused),
                cmocka_unit_test(test_secret_symlink_refused),
                cmocka_unit_test(test_secret_content),
                cmocka_unit_test(test_public_key),
                cmocka_unit_test(test_bad_url),
                cmocka_unit_test(test_bad_labels),
                cmocka_unit_test(test_addresses),
                cmocka_unit_test(test_other_values),
                cmocka_unit_test(test_standalone),
                cmocka_unit_test(test_metrics_address),
                cmocka_unit_test(test_load_and_parse),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
