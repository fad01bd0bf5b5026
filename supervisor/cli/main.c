/* slipway: parse global options and dispatch a verb. Logic lives in the modules. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "slipway/agent.h"

#ifndef SLIPWAY_VERSION
#define SLIPWAY_VERSION "0.1.0"
#endif

struct verb {
        const char *name;
        int (*run)(const struct cli_context *ctx, int argc, char **argv);
        const char *summary;
};

static const struct verb verbs[] = {
        { "run", cmd_run, "start an agent and print how to reach it" },
        { "create", cmd_create, "ask the running daemon for agents of a template" },
        { "ps", cmd_ps, "list agents" },
        { "rm", cmd_rm, "destroy agents: container, volumes and data root" },
        { "shell", cmd_shell, "open an audited debug shell in an agent" },
        { "logs", cmd_logs, "show an agent's own logs: slipway-init, dockerd, sshd" },
        { "inspect", cmd_inspect, "show everything known of one agent" },
        { "cache", cmd_cache, "build and list layer cache generations" },
        { "serve", cmd_serve, "supervise agents: one-shot Jenkins agents on demand, or on request" },
        { "doctor", cmd_doctor, "check host prerequisites, with a fix for each failure" },
};

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: slipway [OPTIONS] COMMAND [ARGS...]\n\n"
                "Isolated Docker-in-Docker build agents with a warm layer cache.\n\n"
                "Options:\n"
                "  -H, --docker-host URL  Docker daemon socket (unix://PATH; default $DOCKER_HOST\n"
                "                         or %s)\n"
                "  -s, --state-dir DIR    where agents' data roots and keys live (default\n"
                "                         $SLIPWAY_STATE_DIR or %s)\n"
                "  -h, --help             show this help\n"
                "  -V, --version          show the version\n\n"
                "Commands:\n",
                DOCKER_DEFAULT_HOST, AGENT_DEFAULT_STATE_DIR);
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                fprintf(out, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
        fprintf(out, "\nRun 'slipway COMMAND --help' for a command's options.\n");
}

int cli_fail(const struct sw_error *err)
{
        fprintf(stderr, "slipway: %s\n", err->message[0] ? err->message : "failed");
        return CLI_EXIT_FAILURE;
}

int cli_usage_error(const char *verb, const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "slipway %s: ", verb);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see 'slipway %s --help')\n", verb);
        return CLI_EXIT_USAGE;
}

int cli_require_root(const char *verb)
{
        if (geteuid() == 0)
                return 0;
        fprintf(stderr, "slipway %s: must run as root (agents need host directories and the "
                        "Docker socket)\n", verb);
        return CLI_EXIT_FAILURE;
}

int cli_open_daemon(const struct cli_context *ctx, struct control_client **client)
{
        struct sw_error err = { 0 };
        *client = NULL;
        int r = control_client_open(ctx->state_dir, client, &err);
        return r < 0 ? cli_fail(&err) : 0;
}

int cli_daemon_wait_gone(struct control_client *client, const char *id, int timeout_s)
{
        char path[256];
        snprintf(path, sizeof(path), "/v1/agents/%s", id);
        int failed = 0; /* requests failed in a row: a dead daemon ends the wait */
        for (int i = 0; i < timeout_s * 10; i++) {
                struct sw_error err = { 0 };
                long status = 0;
                json_t *reply = NULL;
                int r = control_client_request(client, "GET", path, NULL, &status, &reply, &err);
                json_decref(reply);
                if (r < 0 && ++failed >= 20)
                        return cli_fail(&err);
                if (r >= 0)
                        failed = 0;
                if (r >= 0 && status == 404)
                        return 0;
                usleep(100 * 1000);
        }
        fprintf(stderr, "slipway: agent %s still there after %d s (see the daemon's log)\n", id,
                timeout_s);
        return CLI_EXIT_FAILURE;
}

int cli_open_docker(const struct cli_context *ctx, struct docker_client **docker)
{
        struct sw_error err = { 0 };
        if (docker_open(docker, ctx->docker_host, &err) < 0)
                return cli_fail(&err);
        return 0;
}

int cli_open_docker_as_root(const struct cli_context *ctx, const char *verb,
                            struct docker_client **docker)
{
        int r = cli_require_root(verb);
        return r ? r : cli_open_docker(ctx, docker);
}

int main(int argc, char **argv)
{
        struct cli_context ctx = {
                .docker_host = NULL,
                .state_dir = getenv("SLIPWAY_STATE_DIR"),
        };
        static const struct option options[] = {
                { "docker-host", required_argument, NULL, 'H' },
                { "state-dir", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { NULL, 0, NULL, 0 },
        };
        int c;
        /* "+": stop at the verb so each verb parses its own options. */
        while ((c = getopt_long(argc, argv, "+H:s:hV", options, NULL)) != -1) {
                switch (c) {
                case 'H':
                        ctx.docker_host = optarg;
                        break;
                case 's':
                        ctx.state_dir = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("slipway %s\n", SLIPWAY_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return CLI_EXIT_USAGE;
                }
        }
        if (!ctx.state_dir || !*ctx.state_dir)
                ctx.state_dir = AGENT_DEFAULT_STATE_DIR;
        if (ctx.state_dir[0] != '/') {
                fprintf(stderr, "slipway: --state-dir must be an absolute path, not \"%s\"\n",
                        ctx.state_dir);
                return CLI_EXIT_USAGE;
        }
        if (optind >= argc) {
                usage(stderr);
                return CLI_EXIT_USAGE;
        }
        const char *name = argv[optind];
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
                if (strcmp(verbs[i].name, name) == 0) {
                        /* The verb sees its name as argv[0] and parses the rest itself. */
                        char **verb_argv = argv + optind;
                        int verb_argc = argc - optind;
                        optind = 0; /* full getopt reset for the verb's own parse */
                        return verbs[i].run(&ctx, verb_argc, verb_argv);
                }
        }
        fprintf(stderr, "slipway: unknown command \"%s\" (see 'slipway --help')\n", name);
        return CLI_EXIT_USAGE;
}
