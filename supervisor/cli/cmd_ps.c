/* slipway ps: list this state directory's agents. */
#include <getopt.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "slipway/agent.h"
#include "slipway/cleanup.h"

static void ps_usage(FILE *out)
{
        fprintf(out, "Usage: slipway ps [--json]\n\n"
                     "List agents of the state directory, including data roots left without a\n"
                     "container (state \"orphaned\"; 'slipway rm' removes them).\n"
                     "When 'slipway serve' runs on the state directory, it is asked instead: its\n"
                     "agents with the supervisor's states (launching, online, busy, retiring...).\n\n"
                     "Options:\n"
                     "      --json   print a JSON array\n"
                     "  -h, --help   show this help\n");
}

static const char *str_or(json_t *object, const char *key, const char *fallback)
{
        const char *value = json_string_value(json_object_get(object, key));
        return value ? value : fallback;
}

int cmd_ps(const struct cli_context *ctx, int argc, char **argv)
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
                        ps_usage(stdout);
                        return 0;
                default:
                        return cli_usage_error("ps", "bad option");
                }
        }
        if (optind < argc)
                return cli_usage_error("ps", "unexpected argument \"%s\"", argv[optind]);

        struct control_client *daemon = NULL;
        int r = cli_open_daemon(ctx, &daemon);
        if (r)
                return r;
        struct sw_error err = { 0 };
        _cleanup_json_ json_t *agents = NULL;
        if (daemon) {
                long status = 0;
                r = control_client_request(daemon, "GET", "/v1/agents", NULL, &status, &agents, &err);
                control_client_close(daemon);
                if (r < 0 || status != 200)
                        return cli_fail(&err);
        } else {
                struct docker_client *docker = NULL;
                r = cli_open_docker(ctx, &docker);
                if (r)
                        return r;
                r = agent_list(docker, ctx->state_dir, &agents, &err);
                docker_close(docker);
                if (r < 0)
                        return cli_fail(&err);
        }

        if (json) {
                json_dumpf(agents, stdout, JSON_INDENT(2));
                putchar('\n');
                return 0;
        }
        printf("%-12s  %-24s  %-9s  %-21s  %s\n", "AGENT", "NAME", "STATE", "SSH", "STATUS");
        json_t *agent;
        size_t i;
        json_array_foreach(agents, i, agent) {
                char ssh[64] = "-";
                json_int_t port = json_integer_value(json_object_get(agent, "ssh_port"));
                if (port > 0)
                        snprintf(ssh, sizeof(ssh), "%s:%lld", str_or(agent, "ssh_host", "?"),
                                 (long long) port);
                /* A served agent's status: its template, and why it goes. */
                char status[256];
                if (json_object_get(agent, "template"))
                        snprintf(status, sizeof(status), "template %s%s%s",
                                 str_or(agent, "template", "?"),
                                 json_is_string(json_object_get(agent, "retire_reason")) ? ": " : "",
                                 str_or(agent, "retire_reason", ""));
                else
                        snprintf(status, sizeof(status), "%s", str_or(agent, "status", ""));
                printf("%-12s  %-24s  %-9s  %-21s  %s\n", str_or(agent, "id", "?"),
                       str_or(agent, "name", "-"), str_or(agent, "state", "?"), ssh, status);
        }
        return 0;
}
