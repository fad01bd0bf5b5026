/* slipway rm: destroy agents, leaving no container, volume or directory behind. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "slipway/agent.h"
#include "slipway/cleanup.h"

#define RM_WAIT_S 300 /* a retiring agent's node delete is retried while Jenkins is down */

static void rm_usage(FILE *out)
{
        fprintf(out, "Usage: slipway rm AGENT... | --all\n\n"
                     "Stop and remove agents (by id, name or container id): the container, its\n"
                     "volumes, its data root and its keys. When 'slipway serve' runs on the state\n"
                     "directory, it removes its own agents (node deleted first) and this waits\n"
                     "until they are gone.\n\n"
                     "Options:\n"
                     "  -a, --all    remove every agent of the state directory\n"
                     "  -h, --help   show this help\n");
}

/* Agents the daemon does not know (404) are removed directly, as without a daemon. */
static int rm_direct(const struct cli_context *ctx, const char *ref)
{
        struct docker_client *docker = NULL;
        int r = cli_open_docker_as_root(ctx, "rm", &docker);
        if (r)
                return r;
        struct sw_error err = { 0 };
        r = agent_remove(docker, ctx->state_dir, ref, &err);
        docker_close(docker);
        if (r < 0)
                return cli_fail(&err);
        printf("%s\n", ref);
        return 0;
}

static int rm_through_daemon(const struct cli_context *ctx, struct control_client *daemon,
                             bool all, int count, char **refs)
{
        struct sw_error err = { 0 };
        long status = 0;
        _cleanup_json_ json_t *listed = NULL;
        if (all) {
                if (control_client_request(daemon, "GET", "/v1/agents", NULL, &status, &listed,
                                           &err) < 0 || status != 200)
                        return cli_fail(&err);
                count = (int) json_array_size(listed);
        }
        int result = 0, removed = 0;
        for (int i = 0; i < count; i++) {
                const char *ref = all ? json_string_value(json_object_get(json_array_get(listed, (size_t) i), "id"))
                                      : refs[i];
                char path[256];
                _cleanup_json_ json_t *reply = NULL;
                snprintf(path, sizeof(path), "/v1/agents/%s", ref ? ref : "");
                if (control_client_request(daemon, "DELETE", path, NULL, &status, &reply, &err) < 0) {
                        result = cli_fail(&err);
                        continue;
                }
                if (status == 404 && !all) {
                        int r = rm_direct(ctx, ref);
                        result = r ? r : result;
                        continue;
                }
                const char *id = json_string_value(json_object_get(reply, "id"));
                if (status != 202 || !id) {
                        result = cli_fail(&err);
                        continue;
                }
                if (cli_daemon_wait_gone(daemon, id, RM_WAIT_S) != 0) {
                        result = CLI_EXIT_FAILURE;
                        continue;
                }
                removed++;
                if (!all)
                        printf("%s\n", ref);
        }
        if (all)
                fprintf(stderr, "slipway: removed %d agent%s\n", removed, removed == 1 ? "" : "s");
        return result;
}

int cmd_rm(const struct cli_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "all", no_argument, NULL, 'a' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        bool all = false;
        int c;
        while ((c = getopt_long(argc, argv, "ah", options, NULL)) != -1) {
                switch (c) {
                case 'a':
                        all = true;
                        break;
                case 'h':
                        rm_usage(stdout);
                        return 0;
                default:
                        return cli_usage_error("rm", "bad option");
                }
        }
        if (all == (optind < argc))
                return cli_usage_error("rm", "give agent ids or --all (not both)");

        struct control_client *daemon = NULL;
        int r = cli_open_daemon(ctx, &daemon);
        if (r)
                return r;
        if (daemon) {
                int status = rm_through_daemon(ctx, daemon, all, argc - optind, argv + optind);
                control_client_close(daemon);
                return status;
        }
        struct docker_client *docker = NULL;
        r = cli_open_docker_as_root(ctx, "rm", &docker);
        if (r)
                return r;

        int status = 0;
        struct sw_error err = { 0 };
        if (all) {
                int removed = 0;
                if (agent_remove_all(docker, ctx->state_dir, &removed, &err) < 0)
                        status = cli_fail(&err);
                fprintf(stderr, "slipway: removed %d agent%s\n", removed, removed == 1 ? "" : "s");
        } else {
                for (int i = optind; i < argc; i++) {
                        if (agent_remove(docker, ctx->state_dir, argv[i], &err) < 0)
                                status = cli_fail(&err);
                        else
                                printf("%s\n", argv[i]);
                }
        }
        docker_close(docker);
        return status;
}
