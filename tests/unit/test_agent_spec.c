/* The container create request of an agent, and input validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "slipway/agent.h"
#include "slipway/agent_spec.h"
#include "slipway/build_gate.h"
#include "slipway/cleanup.h"

static const char *const no_caps[] = { NULL };

static struct agent_spec base_spec(void)
{
        static const char *const drop[] = { "CAP_SYS_RESOURCE", NULL };
        struct agent_spec spec = {
                .id = "0123456789ab",
                .image = "slipway/agent:latest",
                .state_dir = "/var/lib/slipway",
                .data_root = "/var/lib/slipway/agents/0123456789ab/data-root",
                .bind_address = "127.0.0.1",
                .labels = NULL,
                .cap_drop = drop,
        };
        return spec;
}

static void test_body_has_capabilities_not_privileged(void **state)
{
        (void) state;
        struct agent_spec spec = base_spec();
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *body = agent_spec_container_body(&spec, &err);
        assert_non_null(body);
        json_t *host = json_object_get(body, "HostConfig");
        assert_null(json_object_get(host, "Privileged"));
        assert_string_equal(json_string_value(json_array_get(json_object_get(host, "CapAdd"), 0)), "ALL");
        json_t *drop = json_object_get(host, "CapDrop");
        assert_int_equal(json_array_size(drop), 1);
        assert_string_equal(json_string_value(json_array_get(drop, 0)), "CAP_SYS_RESOURCE");
        /* The API form of systempaths=unconfined: empty arrays, not absent. */
        assert_true(json_is_array(json_object_get(host, "MaskedPaths")));
        assert_int_equal(json_array_size(json_object_get(host, "MaskedPaths")), 0);
        assert_true(json_is_array(json_object_get(host, "ReadonlyPaths")));
        assert_int_equal(json_array_size(json_object_get(host, "ReadonlyPaths")), 0);
        assert_string_equal(json_string_value(json_object_get(host, "CgroupnsMode")), "private");
        json_t *secopt = json_object_get(host, "SecurityOpt");
        assert_string_equal(json_string_value(json_array_get(secopt, 0)), "seccomp=unconfined");
        assert_string_equal(json_string_value(json_array_get(secopt, 1)), "apparmor=unconfined");
}

static void test_body_binds_data_root_and_publishes_ssh_on_bind_address(void **state)
{
        (void) state;
        struct agent_spec spec = base_spec();
        spec.bind_address = "127.0.0.2";
        spec.cap_drop = no_caps;
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *body = agent_spec_container_body(&spec, &err);
        assert_non_null(body);
        json_t *host = json_object_get(body, "HostConfig");
        assert_string_equal(json_string_value(json_array_get(json_object_get(host, "Binds"), 0)),
                            "/var/lib/slipway/agents/0123456789ab/data-root:/var/lib/docker");
        json_t *binding = json_array_get(json_object_get(json_object_get(host, "PortBindings"), "22/tcp"), 0);
        assert_string_equal(json_string_value(json_object_get(binding, "HostIp")), "127.0.0.2");
        assert_string_equal(json_string_value(json_object_get(binding, "HostPort")), "");
        assert_non_null(json_object_get(json_object_get(body, "ExposedPorts"), "22/tcp"));
        assert_int_equal(json_array_size(json_object_get(host, "CapDrop")), 0);
        assert_string_equal(json_string_value(json_object_get(body, "Image")), "slipway/agent:latest");
        /* Nothing secret travels in the environment: only the user namespace (none here). */
        assert_int_equal(json_array_size(json_object_get(body, "Env")), 1);
        assert_string_equal(json_string_value(json_array_get(json_object_get(body, "Env"), 0)),
                            "SLIPWAY_USERNS=off");
        /* No network given: Docker's default. */
        assert_null(json_object_get(host, "NetworkMode"));
}

static void test_body_joins_the_agent_network(void **state)
{
        (void) state;
        struct agent_spec spec = base_spec();
        spec.network = AGENT_NETWORK;
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *body = agent_spec_container_body(&spec, &err);
        assert_non_null(body);
        assert_string_equal(json_string_value(json_object_get(json_object_get(body, "HostConfig"), "NetworkMode")),
                            "slipway");
}

static void test_body_labels(void **state)
{
        (void) state;
        static const char *const labels[] = { "team=infra", "empty=", NULL };
        struct agent_spec spec = base_spec();
        spec.labels = labels;
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *body = agent_spec_container_body(&spec, &err);
        assert_non_null(body);
        json_t *l = json_object_get(body, "Labels");
        assert_string_equal(json_string_value(json_object_get(l, AGENT_LABEL_ID)), "0123456789ab");
        assert_string_equal(json_string_value(json_object_get(l, AGENT_LABEL_STATE_DIR)), "/var/lib/slipway");
        assert_string_equal(json_string_value(json_object_get(l, "team")), "infra");
        assert_string_equal(json_string_value(json_object_get(l, "empty")), "");
}

static void test_body_refuses_slipway_labels(void **state)
{
        (void) state;
        static const char *const labels[] = { "io.slipway.agent=forged", NULL };
        struct agent_spec spec = base_spec();
        spec.labels = labels;
        struct sw_error err = { 0 };
        json_t *body = agent_spec_container_body(&spec, &err);
        assert_null(body);
        assert_non_null(strstr(err.message, "io.slipway."));
}

static void test_label_validation(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        assert_true(agent_spec_label_valid("a=b", &err));
        assert_false(agent_spec_label_valid("novalue", &err));
        assert_non_null(strstr(err.message, "key=value"));
        assert_false(agent_spec_label_valid("=v", &err));
        assert_false(agent_spec_label_valid("k=a\nb", &err));
}

static void test_name_validation(void **state)
{
        (void) state;
        struct sw_error err = { 0 };
        assert_true(agent_spec_name_valid("build-42.x_y", &err));
        assert_false(agent_spec_name_valid("", &err));
        assert_false(agent_spec_name_valid("-lead", &err));
        assert_false(agent_spec_name_valid("has space", &err));
        assert_false(agent_spec_name_valid("a/b", &err));
        assert_false(agent_spec_name_valid("x123456789012345678901234567890123456789012345678901234567890123", &err));
        assert_non_null(strstr(err.message, "invalid agent name"));
}

static void test_seeded_agent_mounts_generation_read_only(void **state)
{
        (void) state;
        struct agent_spec spec = base_spec();
        spec.generation = "20261124T000000Z-abcd";
        spec.generation_root = "/var/lib/slipway/cache/generations/20261124T000000Z-abcd/data-root";
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *body = agent_spec_container_body(&spec, &err);
        assert_non_null(body);
        json_t *binds = json_object_get(json_object_get(body, "HostConfig"), "Binds");
        assert_int_equal(json_array_size(binds), 2);
        assert_string_equal(json_string_value(json_array_get(binds, 1)),
                            "/var/lib/slipway/cache/generations/20261124T000000Z-abcd/data-root:"
                            "/var/lib/slipway-seed:ro");
        assert_string_equal(json_string_value(json_object_get(json_object_get(body, "Labels"),
                                                              AGENT_LABEL_GENERATION)),
                            "20261124T000000Z-abcd");
}

static void test_cache_builder_has_no_port_and_its_own_label(void **state)
{
        (void) state;
        static const char *const command[] = { "/bin/sleep", "infinity", NULL };
        static const char *const binds[] = { "/x/import:/run/slipway-import:ro", NULL };
        struct agent_spec spec = base_spec();
        spec.cache_builder = true;
        spec.command = command;
        spec.extra_binds = binds;
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *body = agent_spec_container_body(&spec, &err);
        assert_non_null(body);
        json_t *host = json_object_get(body, "HostConfig");
        assert_null(json_object_get(host, "PortBindings"));
        assert_null(json_object_get(body, "ExposedPorts"));
        json_t *labels = json_object_get(body, "Labels");
        assert_null(json_object_get(labels, AGENT_LABEL_ID)); /* never listed as an agent */
        assert_non_null(json_object_get(labels, AGENT_LABEL_CACHE_BUILD));
        assert_string_equal(json_string_value(json_array_get(json_object_get(body, "Cmd"), 0)), "/bin/sleep");
        assert_string_equal(json_string_value(json_array_get(json_object_get(host, "Binds"), 1)),
                            "/x/import:/run/slipway-import:ro");
}

/* A served agent's build gate: its directory bound where slipway-init looks, and the remote-fs
 * whose workspace it watches. Agents of `slipway run` have none. */
static void test_served_agent_gets_its_build_gate(void **state)
{
        (void) state;
        struct agent_spec spec = base_spec();
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *plain = agent_spec_container_body(&spec, &err);
        assert_int_equal(json_array_size(json_object_get(json_object_get(plain, "HostConfig"), "Binds")), 1);
        spec.gate_dir = "/var/lib/slipway/agents/0123456789ab/gate";
        spec.workspace = "/home/jenkins/agent";
        _cleanup_json_ json_t *body = agent_spec_container_body(&spec, &err);
        assert_non_null(body);
        json_t *binds = json_object_get(json_object_get(body, "HostConfig"), "Binds");
        assert_string_equal(json_string_value(json_array_get(binds, 1)),
                            "/var/lib/slipway/agents/0123456789ab/gate:" BUILD_GATE_IN_CONTAINER);
        json_t *env = json_object_get(body, "Env");
        bool found = false;
        for (size_t i = 0; i < json_array_size(env); i++)
                found |= strcmp(json_string_value(json_array_get(env, i)),
                                BUILD_GATE_ENV "=/home/jenkins/agent") == 0;
        assert_true(found);
}

static void test_dockerd_args_travel_in_one_variable(void **state)
{
        (void) state;
        static const char *const args[] = { "--insecure-registry=10.0.0.1:5000", "--debug", NULL };
        struct agent_spec spec = base_spec();
        spec.dockerd_args = args;
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *body = agent_spec_container_body(&spec, &err);
        assert_non_null(body);
        assert_string_equal(json_string_value(json_array_get(json_object_get(body, "Env"), 0)),
                            "SLIPWAY_DOCKERD_ARGS=--insecure-registry=10.0.0.1:5000 --debug");
        /* The user namespace travels next to them, and as a label (slipway inspect reads it);
         * without one (a cache builder) the init is told so rather than left to guess. */
        spec.userns_base = 1879048192;
        spec.userns_size = 65536;
        _cleanup_json_ json_t *userns = agent_spec_container_body(&spec, &err);
        assert_non_null(userns);
        assert_string_equal(json_string_value(json_array_get(json_object_get(userns, "Env"), 1)),
                            "SLIPWAY_USERNS=1879048192:65536");
        assert_string_equal(json_string_value(json_object_get(json_object_get(userns, "Labels"),
                                                              AGENT_LABEL_USERNS)),
                            "1879048192:65536");
        spec.dockerd_args = NULL;
        _cleanup_json_ json_t *userns_only = agent_spec_container_body(&spec, &err);
        assert_int_equal(json_array_size(json_object_get(userns_only, "Env")), 1);
        spec.userns_size = 0;
        _cleanup_json_ json_t *none = agent_spec_container_body(&spec, &err);
        assert_string_equal(json_string_value(json_array_get(json_object_get(none, "Env"), 0)),
                            "SLIPWAY_USERNS=off");
        assert_null(json_object_get(json_object_get(none, "Labels"), AGENT_LABEL_USERNS));
        spec.dockerd_args = args;
        static const char *const bad[] = { "--label a b", NULL };
        spec.dockerd_args = bad;
        json_t *refused = agent_spec_container_body(&spec, &err);
        assert_null(refused);
        assert_non_null(strstr(err.message, "invalid dockerd argument"));
}

/* With a disk limit, everything a build can fill is bound from the agent's disk: the home
 * (with the default workspace inside it), /tmp, and a workspace elsewhere. */
static void test_disk_limited_agent_binds_home_tmp_and_workspace(void **state)
{
        (void) state;
        struct agent_spec spec = base_spec();
        spec.data_root = "/s/agents/0123456789ab/disk/data-root";
        spec.disk_root = "/s/agents/0123456789ab/disk";
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *body = agent_spec_container_body(&spec, &err);
        assert_non_null(body);
        json_t *binds = json_object_get(json_object_get(body, "HostConfig"), "Binds");
        assert_int_equal(json_array_size(binds), 3);
        assert_string_equal(json_string_value(json_array_get(binds, 0)),
                            "/s/agents/0123456789ab/disk/data-root:/var/lib/docker");
        assert_string_equal(json_string_value(json_array_get(binds, 1)),
                            "/s/agents/0123456789ab/disk/home:/home/jenkins");
        assert_string_equal(json_string_value(json_array_get(binds, 2)),
                            "/s/agents/0123456789ab/disk/tmp:/tmp");

        spec.workspace = "/home/jenkins/ws"; /* still in the home */
        _cleanup_json_ json_t *in_home = agent_spec_container_body(&spec, &err);
        assert_int_equal(json_array_size(json_object_get(json_object_get(in_home, "HostConfig"), "Binds")), 3);

        spec.workspace = "/home/jenkinsx"; /* a prefix of the name is not inside */
        _cleanup_json_ json_t *elsewhere = agent_spec_container_body(&spec, &err);
        binds = json_object_get(json_object_get(elsewhere, "HostConfig"), "Binds");
        assert_int_equal(json_array_size(binds), 4);
        assert_string_equal(json_string_value(json_array_get(binds, 3)),
                            "/s/agents/0123456789ab/disk/workspace:/home/jenkinsx");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_body_has_capabilities_not_privileged),
                cmocka_unit_test(test_body_binds_data_root_and_publishes_ssh_on_bind_address),
                cmocka_unit_test(test_body_joins_the_agent_network),
                cmocka_unit_test(test_body_labels),
                cmocka_unit_test(test_body_refuses_slipway_labels),
                cmocka_unit_test(test_label_validation),
                cmocka_unit_test(test_name_validation),
                cmocka_unit_test(test_seeded_agent_mounts_generation_read_only),
                cmocka_unit_test(test_cache_builder_has_no_port_and_its_own_label),
                cmocka_unit_test(test_dockerd_args_travel_in_one_variable),
                cmocka_unit_test(test_served_agent_gets_its_build_gate),
                cmocka_unit_test(test_disk_limited_agent_binds_home_tmp_and_workspace),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
