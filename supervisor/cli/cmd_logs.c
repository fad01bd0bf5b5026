/* slipway logs: an agent's own logs, slipway-init's and those of the daemons it runs. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "slipway/agent.h"
#include "slipway/agent_logs.h"
#include "slipway/cleanup.h"

static void logs_usage(FILE *out)
{
        fprintf(out,
                "Usage: slipway logs AGENT [OPTIONS]\n\n"
                "Show an agent's own logs (by id, name or container id): slipway-init's output\n"
                "(the container log) and the logs of the daemons it runs inside the agent, kept\n"
                "in %s and rotated at 1 MiB (containerd, dockerd, sshd). Each log is\n"
                "headed \"==> NAME (WHERE) <==\". A stopped agent's logs can be read too.\n\n"
                "Options:\n"
                "  -n, --tail N       only the last N lines of each log (default: all)\n"
                "  -f, --follow       then print new lines as they come, each prefixed with its\n"
                "                     log's name, until the agent stops (Ctrl-C to quit)\n"
                "      --init         slipway-init's output (the container log)\n"
                "      --containerd   the agent's containerd\n"
                "      --dockerd      the agent's dockerd\n"
                "      --sshd         the agent's sshd\n"
                "  -h, --help         show this help\n\n"
                "Without --init, --containerd, --dockerd or --sshd: all of them.\n",
                AGENT_LOG_DIR);
}

static int print_line(void *user, enum agent_log_source source, const char *line, size_t len)
{
        (void) user;
        printf("%-10s | %.*s\n", agent_log_source_name(source), (int) len, line);
        fflush(stdout);
        return ferror(stdout) ? -EPIPE : 0;
}

static void print_logs(const struct agent_logs *logs, unsigned sources)
{
        bool first = true;
        for (int s = 0; s < AGENT_LOG_SOURCES; s++) {
                if (!(sources & (1u << s)))
                        continue;
                printf("%s==> %s (%s) <==\n", first ? "" : "\n", agent_log_source_name((enum agent_log_source) s),
                       agent_log_source_where((enum agent_log_source) s));
                first = false;
                const char *text = logs->text[s];
                if (!text) {
                        printf("(no such log in this agent)\n");
                        continue;
                }
                fputs(text, stdout);
                if (*text && text[strlen(text) - 1] != '\n')
                        putchar('\n');
        }
}

int cmd_logs(const struct cli_context *ctx, int argc, char **argv)
{
        enum { OPT_INIT = 0x100, OPT_CONTAINERD, OPT_DOCKERD, OPT_SSHD };
        static const struct option options[] = {
                { "tail", required_argument, NULL, 'n' },
                { "follow", no_argument, NULL, 'f' },
                { "init", no_argument, NULL, OPT_INIT },
                { "containerd", no_argument, NULL, OPT_CONTAINERD },
                { "dockerd", no_argument, NULL, OPT_DOCKERD },
                { "sshd", no_argument, NULL, OPT_SSHD },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        unsigned sources = 0;
        int tail = -1;
        bool follow = false;
        int c;
        while ((c = getopt_long(argc, argv, "n:fh", options, NULL)) != -1) {
                switch (c) {
                case 'n': {
                        char *end;
                        long value = strtol(optarg, &end, 10);
                        if (!*optarg || *end || value < 0 || value > 1000000)
                                return cli_usage_error("logs", "--tail: expected 0-1000000 lines, not \"%s\"", optarg);
                        tail = (int) value;
                        break;
                }
                case 'f':
                        follow = true;
                        break;
                case OPT_INIT:
                        sources |= 1u << AGENT_LOG_INIT;
                        break;
                case OPT_CONTAINERD:
                        sources |= 1u << AGENT_LOG_CONTAINERD;
                        break;
                case OPT_DOCKERD:
                        sources |= 1u << AGENT_LOG_DOCKERD;
                        break;
                case OPT_SSHD:
                        sources |= 1u << AGENT_LOG_SSHD;
                        break;
                case 'h':
                        logs_usage(stdout);
                        return 0;
                default:
                        return cli_usage_error("logs", "bad option");
                }
        }
        if (optind >= argc)
                return cli_usage_error("logs", "which agent?");
        if (optind + 1 < argc)
                return cli_usage_error("logs", "unexpected argument \"%s\"", argv[optind + 1]);
        if (!sources)
                sources = (1u << AGENT_LOG_SOURCES) - 1;

        struct docker_client *docker = NULL;
        int r = cli_open_docker(ctx, &docker);
        if (r)
                return r;
        struct sw_error err = { 0 };
        _cleanup_free_ char *agent_id = NULL, *container_id = NULL;
        if (agent_find(docker, ctx->state_dir, argv[optind], &agent_id, &container_id, &err) < 0 ||
            (!container_id &&
             sw_error_set(&err, ENOENT, "agent %s has no container (orphaned): its logs went with it",
                          agent_id) < 0)) {
                docker_close(docker);
                return cli_fail(&err);
        }
        if (follow) {
                r = agent_logs_follow(docker, container_id, sources, tail, print_line, NULL, &err);
                if (r != -ESRCH) {
                        docker_close(docker);
                        return r == -EPIPE ? 0 : r < 0 ? cli_fail(&err) : 0;
                }
                fprintf(stderr, "slipway logs: agent %s is not running: showing its logs without "
                                "following\n", agent_id);
        }
        struct agent_logs logs;
        r = agent_logs_read(docker, container_id, sources, tail, &logs, &err);
        docker_close(docker);
        if (r < 0)
                return cli_fail(&err);
        print_logs(&logs, sources);
        agent_logs_release(&logs);
        return 0;
}
