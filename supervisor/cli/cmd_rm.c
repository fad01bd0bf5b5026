/* slipway rm: destroy agents, leaving no container, volume or directory behind. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "slipway/agent.h"

static void rm_usage(FILE *out)
{
        fprintf(out, "Usage: slipway rm AGENT... | --all\n\n"
                     "Stop and remove agents (by id, name or container id): the container, its\n"
                     "volumes, its data root and its keys.\n\n"
                     "Options:\n"
                     "  -a, --all    remove every agent of the state directory\n"
                     "  -h, --help   show this help\n");
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

        struct docker_client *docker = NULL;
        int r = cli_open_docker_as_root(ctx, "rm", &docker);
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
