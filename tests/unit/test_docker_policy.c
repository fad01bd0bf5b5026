/* The inner Docker policy: the allow-list of endpoints, build query rules, and the container,
 * exec, update, network and volume bodies, including what Go's JSON decoder would read
 * differently (case folding, duplicate keys, the legacy top-level HostConfig), empty bodies
 * and bind sources that are symlinks out of the workspace. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "slipway/docker_policy.h"

/* A fake file system: these paths are symlinks; everything else resolves to itself. */
static int fake_resolve(const char *path, char *out, size_t size, void *data)
{
        (void) data;
        static const struct {
                const char *link, *target;
        } links[] = {
                { "/home/jenkins/agent/ws/rootlink", "/" },
                { "/home/jenkins/agent/ws/etclink", "/etc" },
                { "/home/jenkins/agent/ws/inside", "/home/jenkins/agent/ws/real" },
        };
        for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
                size_t n = strlen(links[i].link);
                if (strncmp(path, links[i].link, n) == 0 && (path[n] == '\0' || path[n] == '/')) {
                        snprintf(out, size, "%s%s", strcmp(links[i].target, "/") == 0 && path[n] ? "" : links[i].target,
                                 path + n);
                        return 0;
                }
        }
        if (strcmp(path, "/home/jenkins/agent/ws/broken") == 0)
                return -EACCES;
        snprintf(out, size, "%s", path);
        return 0;
}

static const char *const roots[] = { "/home/jenkins", "/tmp", NULL };
static const char *const sockets[] = { "/run/docker.sock", "/var/run/docker.sock", NULL };
static const struct docker_policy policy = {
        .bind_roots = roots, .proxy_sockets = sockets, .resolve = fake_resolve,
};

/* method path?query must route (allowed), and its body be judged as expected. */
static int judge(const char *method, const char *path, const char *query, const char *body, struct sw_error *err)
{
        struct docker_policy_route route;
        sw_error_clear(err);
        if (docker_policy_route(method, path, query, &route, err) < 0)
                return -1;
        if (!body)
                return 0;
        return docker_policy_check_body(&policy, &route, body, strlen(body), err);
}

#define ALLOW(method, path, query, body)                                                                 \
        do {                                                                                             \
                struct sw_error e_ = { 0 };                                                              \
                if (judge(method, path, query, body, &e_) < 0)                                           \
                        fail_msg("%s %s?%s %s: denied: %s", method, path, query, body ? body : "", e_.message); \
        } while (0)

#define DENY(method, path, query, body, text)                                                            \
        do {                                                                                             \
                struct sw_error e_ = { 0 };                                                              \
                if (judge(method, path, query, body, &e_) == 0)                                          \
                        fail_msg("%s %s?%s %s: allowed", method, path, query, body ? body : "");         \
                if (!strstr(e_.message, text))                                                           \
                        fail_msg("%s %s: \"%s\" lacks \"%s\"", method, path, e_.message, text);          \
        } while (0)

#define CREATE_OK(body) ALLOW("POST", "/v1.45/containers/create", "name=x", body)
#define CREATE_DENIED(body, text) DENY("POST", "/v1.45/containers/create", "name=x", body, text)

static void test_routes(void **state)
{
        (void) state;
        ALLOW("GET", "/_ping", "", NULL);
        ALLOW("HEAD", "/_ping", "", NULL);
        ALLOW("GET", "/v1.45/version", "", NULL);
        ALLOW("GET", "/v1.24/info", "", NULL);
        ALLOW("GET", "/containers/json", "all=1", NULL);
        ALLOW("GET", "/containers/abc/json", "", NULL);
        ALLOW("POST", "/containers/abc/attach", "stream=1&stdin=1", NULL);
        ALLOW("PUT", "/containers/abc/archive", "path=%2Ftmp", NULL);
        ALLOW("HEAD", "/containers/abc/archive", "path=%2Ftmp", NULL);
        ALLOW("DELETE", "/containers/abc", "force=1", NULL);
        ALLOW("POST", "/images/registry.local:5000/team/app:1/push", "tag=1", NULL);
        ALLOW("GET", "/images/library/busybox/json", "", NULL);
        ALLOW("DELETE", "/images/sha256:0123abc", "", NULL);
        ALLOW("POST", "/images/create", "fromImage=busybox&tag=latest", NULL);
        ALLOW("POST", "/images/create", "fromSrc=-&repo=tiny", NULL);
        ALLOW("POST", "/exec/abc/start", "", NULL);
        ALLOW("GET", "/distribution/busybox/json", "", NULL);
        ALLOW("POST", "/networks/n1/connect", "", NULL);
        ALLOW("GET", "/volumes/v1", "", NULL);

        DENY("GET", "/plugins", "", NULL, "slipway policy: GET /plugins is not an allowed");
        DENY("POST", "/plugins/pull", "", NULL, "not an allowed");
        DENY("POST", "/swarm/init", "", NULL, "not an allowed");
        DENY("GET", "/services", "", NULL, "not an allowed");
        DENY("GET", "/secrets", "", NULL, "not an allowed");
        DENY("GET", "/configs", "", NULL, "not an allowed");
        DENY("GET", "/nodes", "", NULL, "not an allowed");
        DENY("POST", "/session", "", NULL, "BuildKit is not available");
        DENY("POST", "/grpc", "", NULL, "BuildKit is not available");
        DENY("POST", "/v1.45/session", "", NULL, "BuildKit");
        DENY("GET", "/containers/abc/attach/ws", "", NULL, "not an allowed");
        DENY("PATCH", "/containers/abc", "", NULL, "not an allowed");
        DENY("GET", "/nonexistent", "", NULL, "not an allowed");
        DENY("POST", "/images/create", "fromSrc=http://x/y.tar", NULL, "URL");
        DENY("POST", "/images/create", "fromSrc=-&fromSrc=http://x", NULL, "more than once");
        /* Paths dockerd's router would read differently. */
        DENY("GET", "/containers/a%2Fb/json", "", NULL, "unexpected character '%'");
        DENY("GET", "/containers//json", "", NULL, "empty or dot segments");
        DENY("GET", "/containers/../plugins", "", NULL, "dot segments");
        DENY("GET", "/containers/json/", "", NULL, "ending in '/'");
        DENY("GET", "/v1.23/containers/json", "", NULL, "API version 1.23 is not accepted");
        DENY("GET", "/v2.0/containers/json", "", NULL, "not accepted");
}

static void test_build_query(void **state)
{
        (void) state;
        ALLOW("POST", "/v1.45/build", "t=a&t=b&dockerfile=Dockerfile&rm=1&networkmode=default&buildargs=%7B%7D", NULL);
        ALLOW("POST", "/build", "networkmode=bridge&version=1&isolation=default&cgroupparent=", NULL);
        DENY("POST", "/build", "networkmode=host", NULL, "--network=host");
        DENY("POST", "/build", "networkmode=HOST", NULL, "--network=HOST");
        DENY("POST", "/build", "network%6dode=host", NULL, "--network=host"); /* escaped key */
        DENY("POST", "/build", "networkmode=container:abc", NULL, "--network");
        DENY("POST", "/build", "networkmode=default&networkmode=host", NULL, "more than once");
        DENY("POST", "/build", "version=2", NULL, "BuildKit");
        DENY("POST", "/build", "cgroupparent=/", NULL, "--cgroup-parent");
        DENY("POST", "/build", "isolation=hyperv", NULL, "--isolation");
        DENY("POST", "/build", "remote=https://x/y.git", NULL, "remote build context");
        DENY("POST", "/build", "session=abc", NULL, "BuildKit sessions");
        DENY("POST", "/build", "outputs=%5B%7B%22Type%22%3A%22local%22%7D%5D", NULL, "BuildKit");
        DENY("POST", "/build", "frobnicate=1", NULL, "'frobnicate' is not known");
        DENY("POST", "/build", "t=x;networkmode=host", NULL, "';'");
        DENY("POST", "/build", "t=%zz", NULL, "bad escape");
}

static void test_container_create(void **state)
{
        (void) state;
        CREATE_OK("{\"Image\":\"busybox\",\"HostConfig\":{\"Binds\":[\"/home/jenkins/agent/ws:/ws:rw,z\","
                  "\"/tmp/x:/x\",\"named:/data\",\"/anon\"],\"NetworkMode\":\"default\","
                  "\"CapAdd\":[\"CAP_CHOWN\",\"net_raw\",\"Kill\"],\"Privileged\":false,\"MaskedPaths\":null,"
                  "\"ReadonlyPaths\":null,\"SecurityOpt\":[\"no-new-privileges\",\"label=disable\"],"
                  "\"Runtime\":\"runc\",\"Mounts\":[{\"Type\":\"tmpfs\",\"Target\":\"/t\"},"
                  "{\"Type\":\"volume\",\"Source\":\"v1\",\"Target\":\"/v\",\"VolumeOptions\":{\"NoCopy\":true}}],"
                  "\"PidsLimit\":100,\"Memory\":1000000}}");
        CREATE_OK("{\"Image\":\"busybox\",\"HostConfig\":{\"Binds\":[\"/var/run/docker.sock:/var/run/docker.sock\","
                  "\"/run/docker.sock:/s\"]}}");
        CREATE_OK("{\"Image\":\"busybox\",\"HostConfig\":{\"Binds\":[\"/home/jenkins/agent/ws/inside:/x\"]}}");
        /* Not yet there: dockerd creates it under the workspace. */
        CREATE_OK("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/home/jenkins/new/dir\",\"Target\":\"/x\"}]}}");

        CREATE_DENIED("{\"HostConfig\":{\"Privileged\":true}}", "privileged containers are not allowed");
        CREATE_DENIED("{\"HostConfig\":{\"Privileged\":1}}", "privileged");
        CREATE_DENIED("{\"HostConfig\":{\"CapAdd\":[\"SYS_ADMIN\"]}}", "--cap-add SYS_ADMIN");
        CREATE_DENIED("{\"HostConfig\":{\"CapAdd\":[\"cap_sys_admin\"]}}", "--cap-add cap_sys_admin");
        CREATE_DENIED("{\"HostConfig\":{\"CapAdd\":[\"ALL\"]}}", "--cap-add ALL");
        CREATE_DENIED("{\"HostConfig\":{\"CapAdd\":\"SYS_ADMIN\"}}", "CapAdd must be a list");
        CREATE_DENIED("{\"HostConfig\":{\"Capabilities\":[\"CAP_SYS_ADMIN\"]}}", "Capabilities");
        CREATE_DENIED("{\"HostConfig\":{\"Devices\":[{\"PathOnHost\":\"/dev/sda\"}]}}", "devices");
        CREATE_DENIED("{\"HostConfig\":{\"DeviceCgroupRules\":[\"a *:* rwm\"]}}", "device cgroup rules");
        CREATE_DENIED("{\"HostConfig\":{\"DeviceRequests\":[{\"Count\":-1}]}}", "device requests");
        CREATE_DENIED("{\"HostConfig\":{\"Binds\":[\"/:/host\"]}}", "bind mount of / is outside");
        CREATE_DENIED("{\"HostConfig\":{\"Binds\":[\"/etc:/e:ro\"]}}", "outside the build workspace");
        CREATE_DENIED("{\"HostConfig\":{\"Binds\":[\"/home/jenkins/../../etc:/e\"]}}", "'..'");
        CREATE_DENIED("{\"HostConfig\":{\"Binds\":[\"/home/jenkinsX:/e\"]}}", "outside");
        CREATE_DENIED("{\"HostConfig\":{\"Binds\":[\"/home/jenkins/agent/ws/rootlink:/h\"]}}",
                      "bind mount of /home/jenkins/agent/ws/rootlink (which is /) is outside");
        CREATE_DENIED("{\"HostConfig\":{\"Binds\":[\"/home/jenkins/agent/ws/etclink/x:/h\"]}}", "(which is /etc/x)");
        CREATE_DENIED("{\"HostConfig\":{\"Binds\":[\"/home/jenkins/agent/ws/broken:/h\"]}}", "cannot be resolved");
        CREATE_DENIED("{\"HostConfig\":{\"Binds\":[\"/run/docker.sock/x:/h\"]}}", "outside");
        CREATE_DENIED("{\"HostConfig\":{\"Binds\":[\"/run/slipway/dockerd/docker.sock:/s\"]}}", "outside");
        CREATE_DENIED("{\"HostConfig\":{\"Binds\":[\"bad name!:/x\"]}}", "neither a path nor a volume name");
        CREATE_DENIED("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/\",\"Target\":\"/h\"}]}}",
                      "bind mount of / is outside");
        CREATE_DENIED("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"//home/jenkins/agent/ws/rootlink//\","
                      "\"Target\":\"/h\"}]}}",
                      "(which is /)");
        CREATE_DENIED("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"BIND\",\"Source\":\"/\",\"Target\":\"/h\"}]}}",
                      "mount type 'BIND' is not allowed");
        CREATE_DENIED("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"v\",\"Target\":\"/h\","
                      "\"VolumeOptions\":{\"DriverConfig\":{\"Name\":\"local\",\"Options\":{\"type\":\"none\","
                      "\"o\":\"bind\",\"device\":\"/\"}}}}]}}",
                      "volume driver options");
        CREATE_DENIED("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"npipe\",\"Source\":\"x\",\"Target\":\"/h\"}]}}",
                      "mount type 'npipe'");
        CREATE_DENIED("{\"HostConfig\":{\"Mounts\":[{\"Type\":\"tmpfs\",\"Target\":\"/h\",\"Extra\":1}]}}",
                      "Mounts field 'Extra'");
        CREATE_DENIED("{\"HostConfig\":{\"VolumeDriver\":\"x\"}}", "--volume-driver");
        CREATE_DENIED("{\"HostConfig\":{\"NetworkMode\":\"host\"}}", "--network=host");
        CREATE_DENIED("{\"HostConfig\":{\"PidMode\":\"host\"}}", "--pid=host");
        CREATE_DENIED("{\"HostConfig\":{\"IpcMode\":\"host\"}}", "--ipc=host");
        CREATE_DENIED("{\"HostConfig\":{\"UTSMode\":\"host\"}}", "--uts=host");
        CREATE_DENIED("{\"HostConfig\":{\"UsernsMode\":\"host\"}}", "--userns=host");
        CREATE_DENIED("{\"HostConfig\":{\"CgroupnsMode\":\"host\"}}", "--cgroupns=host");
        CREATE_DENIED("{\"HostConfig\":{\"Cgroup\":\"container:x\"}}", "Cgroup");
        CREATE_DENIED("{\"HostConfig\":{\"CgroupParent\":\"/\"}}", "--cgroup-parent");
        CREATE_DENIED("{\"HostConfig\":{\"Runtime\":\"io.containerd.runsc.v1\"}}", "--runtime");
        CREATE_DENIED("{\"HostConfig\":{\"SecurityOpt\":[\"seccomp=unconfined\"]}}", "seccomp=unconfined");
        CREATE_DENIED("{\"HostConfig\":{\"SecurityOpt\":[\"seccomp={}\"]}}", "seccomp={}");
        CREATE_DENIED("{\"HostConfig\":{\"SecurityOpt\":[\"apparmor=unconfined\"]}}", "apparmor");
        CREATE_DENIED("{\"HostConfig\":{\"SecurityOpt\":[\"systempaths=unconfined\"]}}", "systempaths");
        CREATE_DENIED("{\"HostConfig\":{\"Sysctls\":{\"kernel.shmmax\":\"1\"}}}", "--sysctl");
        CREATE_DENIED("{\"HostConfig\":{\"MaskedPaths\":[]}}", "masked paths");
        CREATE_DENIED("{\"HostConfig\":{\"ReadonlyPaths\":[]}}", "read-only paths");
        CREATE_DENIED("{\"HostConfig\":{\"Isolation\":\"hyperv\"}}", "--isolation");
        CREATE_DENIED("{\"HostConfig\":{\"Annotations\":{\"a\":\"b\"}}}", "annotations");
        CREATE_DENIED("{\"HostConfig\":{\"Frobnicate\":1}}", "HostConfig field 'Frobnicate' is not known");
        CREATE_DENIED("{\"HostConfig\":[]}", "HostConfig must be an object");
        CREATE_DENIED("[]", "must be a JSON object");
}

/* What Go's encoding/json would read differently from a naive filter. */
static void test_go_json_decoding(void **state)
{
        (void) state;
        CREATE_DENIED("{\"HostConfig\":{\"privileged\":true}}", "privileged containers");
        CREATE_DENIED("{\"HostConfig\":{\"PRIVILEGED\":true}}", "privileged containers");
        CREATE_DENIED("{\"hostconfig\":{\"Privileged\":true}}", "privileged containers");
        CREATE_DENIED("{\"HostConfig\":{\"Privileged\":false,\"privileged\":true}}", "name the same field");
        CREATE_DENIED("{\"HostConfig\":{},\"hostConfig\":{\"Privileged\":true}}", "name the same field");
        CREATE_DENIED("{\"HostConfig\":{\"Privileged\":false,\"Privileged\":true}}", "not JSON");
        /* U+017F (long s) and U+212A (Kelvin) fold to s and k in Go. */
        CREATE_DENIED("{\"HostConfig\":{\"Bind\\u017f\":[\"/:/h\"]}}", "non-ASCII");
        CREATE_DENIED("{\"HostConfig\":{\"Binds\":[],\"Bind\xc5\xbf\":[\"/:/h\"]}}", "non-ASCII");
        CREATE_DENIED("{\"HostConfig\":{\"Networ\\u212aMode\":\"host\"}}", "non-ASCII");
        CREATE_DENIED("{\"Labels\":{\"\\u017f\":\"x\"}}", "non-ASCII");
        /* The legacy embedded HostConfig at the top level. */
        CREATE_DENIED("{\"Image\":\"x\",\"Privileged\":true}", "privileged containers");
        CREATE_DENIED("{\"Image\":\"x\",\"Binds\":[\"/:/h\"]}", "outside");
        CREATE_DENIED("{\"Image\":\"x\",\"capadd\":[\"SYS_ADMIN\"]}", "--cap-add");
        /* Escapes decode before the check. */
        CREATE_DENIED("{\"HostConfig\":{\"Privil\\u0065ged\":true}}", "privileged containers");
        /* Trailing data: Go would read the first value only; here nothing passes. */
        CREATE_DENIED("{} {\"HostConfig\":{\"Privileged\":true}}", "not JSON");
        CREATE_DENIED("{\"HostConfig\":{\"Privileged\":true}", "not JSON");
}

static void test_empty_and_null_bodies_are_judged(void **state)
{
        (void) state;
        /* Judged as an empty config (which is harmless), never skipped. */
        CREATE_OK("");
        CREATE_OK("   \r\n");
        CREATE_OK("null");
        CREATE_OK("{}");
        CREATE_OK("{\"HostConfig\":null}");
        struct docker_policy_route route;
        struct sw_error err = { 0 };
        assert_int_equal(docker_policy_route("POST", "/containers/create", "", &route, &err), 0);
        assert_int_equal(route.body, DOCKER_POLICY_BODY_JSON);
        assert_int_equal(docker_policy_check_body(&policy, &route, NULL, 0, &err), 0);
}

static void test_oversized_body(void **state)
{
        (void) state;
        size_t len = 4 * 1024 * 1024 + 2;
        char *body = malloc(len + 1);
        assert_non_null(body);
        memset(body, ' ', len);
        body[0] = '{';
        body[len - 1] = '}';
        body[len] = '\0';
        struct docker_policy_route route;
        struct sw_error err = { 0 };
        assert_int_equal(docker_policy_route("POST", "/containers/create", "", &route, &err), 0);
        assert_true(docker_policy_check_body(&policy, &route, body, len, &err) < 0);
        assert_int_equal(err.code, 413);
        free(body);
}

static void test_exec_update_network_volume(void **state)
{
        (void) state;
        ALLOW("POST", "/containers/abc/exec", "",
              "{\"AttachStdout\":true,\"Cmd\":[\"ls\"],\"User\":\"root\",\"Privileged\":false,\"Env\":null}");
        DENY("POST", "/containers/abc/exec", "", "{\"Cmd\":[\"ls\"],\"Privileged\":true}", "exec --privileged");
        DENY("POST", "/containers/abc/exec", "", "{\"Cmd\":[\"ls\"],\"privileged\":true}", "exec --privileged");
        DENY("POST", "/containers/abc/exec", "", "{\"Cmd\":[\"ls\"],\"Caps\":1}", "exec field 'Caps'");
        ALLOW("POST", "/containers/abc/update", "", "{\"Memory\":1000000,\"RestartPolicy\":{\"Name\":\"no\"}}");
        DENY("POST", "/containers/abc/update", "", "{\"CgroupParent\":\"/\"}", "--cgroup-parent");
        DENY("POST", "/containers/abc/update", "", "{\"Devices\":[{}]}", "devices");
        DENY("POST", "/containers/abc/update", "", "{\"Privileged\":true}", "'Privileged' is not known");

        ALLOW("POST", "/networks/create", "", "{\"Name\":\"n1\",\"Driver\":\"bridge\",\"Options\":{},\"IPAM\":"
              "{\"Driver\":\"default\",\"Config\":[{\"Subnet\":\"10.9.0.0/24\"}]},\"Labels\":{}}");
        ALLOW("POST", "/networks/create", "", "{\"Name\":\"n1\"}");
        ALLOW("POST", "/networks/n1/connect", "", "{\"Container\":\"c\",\"EndpointConfig\":{\"Aliases\":[\"a\"]}}");
        DENY("POST", "/networks/n1/connect", "", "{\"Container\":\"c\",\"EndpointConfig\":{\"DriverOpts\":"
             "{\"com.docker.network.endpoint.sysctls\":\"x\"}}}", "endpoint driver options");
        CREATE_OK("{\"NetworkingConfig\":{\"EndpointsConfig\":{\"n1\":{\"Aliases\":[\"x\"]}}}}");
        CREATE_DENIED("{\"NetworkingConfig\":{\"EndpointsConfig\":{\"n1\":{\"DriverOpts\":{\"a\":\"b\"}}}}}",
                      "endpoint driver options");
        DENY("POST", "/networks/create", "", "{\"Name\":\"n\",\"Driver\":\"macvlan\"}", "driver 'macvlan'");
        DENY("POST", "/networks/create", "", "{\"Name\":\"n\",\"Options\":{\"com.docker.network.bridge.name\":"
             "\"eth0\"}}", "driver options");
        DENY("POST", "/networks/create", "", "{\"Name\":\"n\",\"Ingress\":true}", "ingress");
        DENY("POST", "/networks/create", "", "{\"Name\":\"n\",\"IPAM\":{\"Driver\":\"x\"}}", "IPAM driver");

        ALLOW("POST", "/volumes/create", "", "{\"Name\":\"v1\",\"Driver\":\"local\",\"DriverOpts\":{},\"Labels\":{}}");
        ALLOW("POST", "/volumes/create", "", "");
        DENY("POST", "/volumes/create", "", "{\"Name\":\"v\",\"DriverOpts\":{\"type\":\"none\",\"o\":\"bind\","
             "\"device\":\"/\"}}", "volume driver options");
        DENY("POST", "/volumes/create", "", "{\"Name\":\"v\",\"Driver\":\"sshfs\"}", "volume driver 'sshfs'");
        DENY("POST", "/volumes/create", "", "{\"Name\":\"v\",\"driveropts\":{\"o\":\"bind\"}}", "volume driver options");
}

static void test_start_recheck_from_inspect(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        const char *ok = "{\"Id\":\"x\",\"HostConfig\":{\"Binds\":[\"/home/jenkins/agent/ws:/ws\"],\"Mounts\":null}}";
        assert_int_equal(docker_policy_check_inspect(&policy, ok, strlen(ok), &err), 0);
        /* The workspace directory became a symlink to / after create. */
        const char *swapped = "{\"HostConfig\":{\"Binds\":[\"/home/jenkins/agent/ws/rootlink:/ws\"]}}";
        assert_true(docker_policy_check_inspect(&policy, swapped, strlen(swapped), &err) < 0);
        assert_non_null(strstr(err.message, "(which is /)"));
        const char *mount = "{\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/home/jenkins/agent/ws/etclink\"}]}}";
        assert_true(docker_policy_check_inspect(&policy, mount, strlen(mount), &err) < 0);
        assert_true(docker_policy_check_inspect(&policy, "nope", 4, &err) < 0);
        assert_int_equal(err.code, 502);
        /* Mount points inherited through VolumesFrom are in no HostConfig of this container,
         * only in its effective Mounts. */
        const char *inherited = "{\"HostConfig\":{\"Binds\":null,\"VolumesFrom\":[\"a\"]},\"Mounts\":["
                                "{\"Type\":\"volume\",\"Source\":\"/var/lib/docker/volumes/v/_data\"},"
                                "{\"Type\":\"bind\",\"Source\":\"/home/jenkins/agent/ws/rootlink\"}]}";
        assert_true(docker_policy_check_inspect(&policy, inherited, strlen(inherited), &err) < 0);
        assert_non_null(strstr(err.message, "(which is /)"));
        const char *fine = "{\"HostConfig\":{},\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/home/jenkins/agent/ws\"},"
                           "{\"Type\":\"volume\",\"Source\":\"/var/lib/docker/volumes/v/_data\"}]}";
        assert_int_equal(docker_policy_check_inspect(&policy, fine, strlen(fine), &err), 0);
}

/* docker cp mounts the binds too; restart policies restart past the proxy; a name too long to
 * check is not routed at all. */
static void test_cp_restart_and_long_names(void **state)
{
        (void) state;
        struct docker_policy_route route;
        struct sw_error err = { 0 };
        static const char *const archive_methods[] = { "GET", "HEAD", "PUT" };
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(docker_policy_route(archive_methods[i], "/v1.45/containers/c1/archive", "path=/m",
                                                     &route, &err), 0);
                assert_int_equal(route.kind, DOCKER_POLICY_CONTAINER_START);
                assert_string_equal(route.container, "c1");
        }
        CREATE_OK("{\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"no\"}}}");
        CREATE_OK("{\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"\",\"MaximumRetryCount\":0}}}");
        CREATE_DENIED("{\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"always\"}}}", "--restart always");
        CREATE_DENIED("{\"HostConfig\":{\"restartpolicy\":{\"name\":\"unless-stopped\"}}}", "--restart unless-stopped");
        DENY("POST", "/containers/abc/update", "", "{\"RestartPolicy\":{\"Name\":\"on-failure\"}}",
             "--restart on-failure");
        char path[600];
        memset(path, 0, sizeof(path));
        strcpy(path, "/containers/");
        memset(path + strlen(path), 'a', 300);
        strcat(path, "/start");
        assert_true(docker_policy_route("POST", path, "", &route, &err) < 0);
}

/* The real resolver, on a real tree: a symlink in the "workspace" to / is seen through. */
static void test_real_resolver_sees_through_symlinks(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-policy-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char ws[256], link[256], out[4096];
        snprintf(ws, sizeof(ws), "%s/ws", dir);
        assert_int_equal(mkdir(ws, 0755), 0);
        snprintf(link, sizeof(link), "%s/ws/rootlink", dir);
        assert_int_equal(symlink("/", link), 0);

        assert_int_equal(docker_policy_resolve_path(link, out, sizeof(out), NULL), 0);
        assert_string_equal(out, "/");
        char path[512];
        snprintf(path, sizeof(path), "%s/etc/not-there", link);
        assert_int_equal(docker_policy_resolve_path(path, out, sizeof(out), NULL), 0);
        assert_string_equal(out, "/etc/not-there");
        snprintf(path, sizeof(path), "%s/new/dir", ws);
        assert_int_equal(docker_policy_resolve_path(path, out, sizeof(out), NULL), 0);
        assert_string_equal(out, path);
        assert_true(docker_policy_resolve_path("relative", out, sizeof(out), NULL) < 0);

        const char *const real_roots[] = { dir, NULL };
        const struct docker_policy real = { .bind_roots = real_roots, .resolve = docker_policy_resolve_path };
        struct docker_policy_route route;
        struct sw_error err = { 0 };
        assert_int_equal(docker_policy_route("POST", "/containers/create", "", &route, &err), 0);
        char body[1024];
        snprintf(body, sizeof(body), "{\"HostConfig\":{\"Binds\":[\"%s:/ws\"]}}", ws);
        assert_int_equal(docker_policy_check_body(&real, &route, body, strlen(body), &err), 0);
        snprintf(body, sizeof(body), "{\"HostConfig\":{\"Binds\":[\"%s/etc:/h\"]}}", link);
        assert_true(docker_policy_check_body(&real, &route, body, strlen(body), &err) < 0);
        assert_non_null(strstr(err.message, "(which is /etc) is outside"));

        unlink(link);
        rmdir(ws);
        rmdir(dir);
}

static void test_content_type_and_caps(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        assert_int_equal(docker_policy_check_content_type("", &err), 0);
        assert_int_equal(docker_policy_check_content_type("application/json", &err), 0);
        assert_int_equal(docker_policy_check_content_type("application/x-tar", &err), 0);
        assert_true(docker_policy_check_content_type("application/x-www-form-urlencoded", &err) < 0);
        assert_true(docker_policy_check_content_type(" Multipart/Form-Data ; boundary=x", &err) < 0);
        assert_true(docker_policy_default_capability("CHOWN"));
        assert_true(docker_policy_default_capability("cap_net_bind_service"));
        assert_true(docker_policy_default_capability("Audit_Write"));
        assert_false(docker_policy_default_capability("SYS_ADMIN"));
        assert_false(docker_policy_default_capability("ALL"));
        assert_false(docker_policy_default_capability("CAP_"));
        assert_false(docker_policy_default_capability(""));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_routes),
                cmocka_unit_test(test_build_query),
                cmocka_unit_test(test_container_create),
                cmocka_unit_test(test_go_json_decoding),
                cmocka_unit_test(test_empty_and_null_bodies_are_judged),
                cmocka_unit_test(test_oversized_body),
                cmocka_unit_test(test_exec_update_network_volume),
                cmocka_unit_test(test_start_recheck_from_inspect),
                cmocka_unit_test(test_cp_restart_and_long_names),
                cmocka_unit_test(test_real_resolver_sees_through_symlinks),
                cmocka_unit_test(test_content_type_and_caps),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
