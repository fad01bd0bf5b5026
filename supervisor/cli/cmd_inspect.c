/* slipway inspect: everything slipway knows of one agent. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "slipway/agent.h"
#include "slipway/cleanup.h"

static void inspect_usage(FILE *out)
{
        fprintf(out, "Usage: slipway inspect AGENT [--json]\n\n"
                     "Show one agent (by id, name or container id): container, state, image,\n"
                     "when it was created and started, how to reach it over SSH and its host key\n"
                     "fingerprint, the cache generation it was seeded from, its labels (the Jenkins\n"
                     "node and template of a served agent), its data root with its size on disk,\n"
                     "its resource limits and the host ids of its user namespace. When 'slipway\n"
                     "serve' runs on the state directory, it is asked instead, and adds the\n"
                     "agent's supervisor state (\"served\").\n\n"
                     "Options:\n"
                     "      --json   print a JSON object (the keys are listed in slipway(8))\n"
                     "  -h, --help   show this help\n");
}

static const char *str(json_t *object, const char *key)
{
        return json_string_value(json_object_get(object, key));
}

static void row(const char *label, const char *value)
{
        if (value && *value)
                printf("%-13s %s\n", label, value);
}

static void human_bytes(double bytes, char *out, size_t size)
{
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        size_t unit = 0;
        while (bytes >= 1024 && unit + 1 < ARRAY_SIZE(units)) {
                bytes /= 1024;
                unit++;
        }
        snprintf(out, size, unit ? "%.1f %s" : "%.0f %s", bytes, units[unit]);
}

static void print_human(json_t *agent)
{
        char line[1024];
        row("Agent", str(agent, "id"));
        row("Name", str(agent, "name"));
        row("Container", str(agent, "container"));
        const char *state = str(agent, "state");
        json_t *exit_code = json_object_get(agent, "exit_code");
        if (state && strcmp(state, "exited") == 0 && json_is_integer(exit_code))
                snprintf(line, sizeof(line), "%s (exit code %lld)", state,
                         (long long) json_integer_value(exit_code));
        else
                snprintf(line, sizeof(line), "%s%s%s%s", state ? state : "?",
                         str(agent, "status") ? " (" : "", str(agent, "status") ? str(agent, "status") : "",
                         str(agent, "status") ? ")" : "");
        row("State", line);
        if (str(agent, "image")) {
                snprintf(line, sizeof(line), "%s%s%.19s%s", str(agent, "image"),
                         str(agent, "image_id") ? " (" : "", str(agent, "image_id") ? str(agent, "image_id") : "",
                         str(agent, "image_id") ? ")" : "");
                row("Image", line);
        }
        row("Created", str(agent, "created_at"));
        if (state && strcmp(state, "created") != 0)
                row("Started", str(agent, "started_at"));
        if (state && strcmp(state, "exited") == 0)
                row("Finished", str(agent, "finished_at"));
        json_int_t port = json_integer_value(json_object_get(agent, "ssh_port"));
        if (port > 0) {
                snprintf(line, sizeof(line), "%s:%lld, user %s", str(agent, "ssh_host") ? str(agent, "ssh_host") : "?",
                         (long long) port, AGENT_USER);
                row("SSH", line);
        }
        row("SSH command", str(agent, "ssh_command"));
        row("Host key", str(agent, "host_key"));
        row("Fingerprint", str(agent, "host_key_fingerprint"));
        if (json_object_get(agent, "container"))
                row("Generation", str(agent, "generation") ? str(agent, "generation") : "none (cold)");
        json_t *served = json_object_get(agent, "served");
        if (served) {
                snprintf(line, sizeof(line), "%s%s%s", str(served, "state") ? str(served, "state") : "?",
                         str(served, "retire_reason") ? ": " : "",
                         str(served, "retire_reason") ? str(served, "retire_reason") : "");
                row("Served", line);
        }
        row("Node", str(agent, "node"));
        row("Template", str(agent, "template"));
        const char *key;
        json_t *value;
        const char *label = "Labels";
        json_object_foreach(json_object_get(agent, "labels"), key, value) {
                snprintf(line, sizeof(line), "%s=%s", key, json_string_value(value) ? json_string_value(value) : "");
                row(label, line);
                label = ""; /* one row per label, the heading on the first */
        }
        row("Directory", str(agent, "directory"));
        json_t *data_root = json_object_get(agent, "data_root");
        if (data_root) {
                char size[32] = "size unknown";
                json_t *bytes = json_object_get(data_root, "bytes");
                if (json_is_integer(bytes))
                        human_bytes((double) json_integer_value(bytes), size, sizeof(size));
                const char *error = str(data_root, "error");
                snprintf(line, sizeof(line), "%s (%s%s%s)", str(data_root, "path") ? str(data_root, "path") : "?",
                         size, error ? "; " : "", error ? error : "");
                row("Data root", line);
        }
        json_t *disk = json_object_get(agent, "disk");
        if (json_is_object(disk)) {
                char limit[32] = "?", used[32] = "?";
                if (json_is_integer(json_object_get(disk, "limit_bytes")))
                        human_bytes((double) json_integer_value(json_object_get(disk, "limit_bytes")),
                                    limit, sizeof(limit));
                if (json_is_integer(json_object_get(disk, "used_bytes")))
                        human_bytes((double) json_integer_value(json_object_get(disk, "used_bytes")),
                                    used, sizeof(used));
                snprintf(line, sizeof(line), "%s (%s of %s used%s)", str(disk, "path") ? str(disk, "path") : "?",
                         used, limit, json_is_true(json_object_get(disk, "mounted")) ? "" : "; not mounted");
                row("Disk limit", line);
        }
        json_t *limits = json_object_get(agent, "limits");
        if (limits) {
                char cpus[32] = "unlimited", memory[32] = "unlimited", pids[32] = "unlimited";
                if (json_is_number(json_object_get(limits, "cpus")))
                        snprintf(cpus, sizeof(cpus), "%g", json_number_value(json_object_get(limits, "cpus")));
                if (json_is_integer(json_object_get(limits, "memory_bytes")))
                        human_bytes((double) json_integer_value(json_object_get(limits, "memory_bytes")),
                                    memory, sizeof(memory));
                if (json_is_integer(json_object_get(limits, "pids_limit")))
                        snprintf(pids, sizeof(pids), "%lld",
                                 (long long) json_integer_value(json_object_get(limits, "pids_limit")));
                snprintf(line, sizeof(line), "cpus %s, memory %s, pids %s", cpus, memory, pids);
                row("Limits", line);
        }
        row("dockerd args", str(agent, "dockerd_args"));
        /* Root in the agent is the first of these host ids, and its builds own nothing else. */
        json_t *userns = json_object_get(agent, "userns");
        json_t *userns_base = json_object_get(userns, "base"), *userns_size = json_object_get(userns, "size");
        if (json_is_integer(userns_base) && json_is_integer(userns_size) && json_integer_value(userns_size) > 0) {
                snprintf(line, sizeof(line), "host ids %lld-%lld", (long long) json_integer_value(userns_base),
                         (long long) (json_integer_value(userns_base) + json_integer_value(userns_size) - 1));
                row("Userns", line);
        }
        json_t *bind;
        size_t i;
        label = "Mounts";
        json_array_foreach(json_object_get(agent, "binds"), i, bind) {
                row(label, json_string_value(bind));
                label = "";
        }
}

int cmd_inspect(const struct cli_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        bool json = false;
        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'h':
                        inspect_usage(stdout);
                        return 0;
                default:
                        return cli_usage_error("inspect", "bad option");
                }
        }
        if (optind >= argc)
                return cli_usage_error("inspect", "which agent?");
        if (optind + 1 < argc)
                return cli_usage_error("inspect", "unexpected argument \"%s\"", argv[optind + 1]);

        struct control_client *daemon = NULL;
        int r = cli_open_daemon(ctx, &daemon);
        if (r)
                return r;
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *agent = NULL;
        if (daemon) {
                char path[256];
                long status = 0;
                snprintf(path, sizeof(path), "/v1/agents/%s/inspect", argv[optind]);
                r = control_client_request(daemon, "GET", path, NULL, &status, &agent, &err);
                control_client_close(daemon);
                if (r < 0 || (status != 200 && status != 404))
                        return cli_fail(&err);
                /* 404: not one of the daemon's (e.g. made by slipway run): look directly. */
                if (status == 404) {
                        json_decref(agent);
                        agent = NULL;
                }
        }
        if (!agent) {
                struct docker_client *docker = NULL;
                r = cli_open_docker(ctx, &docker);
                if (r)
                        return r;
                r = agent_inspect(docker, ctx->state_dir, argv[optind], &agent, &err);
                docker_close(docker);
                if (r < 0)
                        return cli_fail(&err);
        }
        if (json) {
                json_dumpf(agent, stdout, JSON_INDENT(2));
                putchar('\n');
        } else {
                print_human(agent);
        }
        return 0;
}
