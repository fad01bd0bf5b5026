/* slipway shell: an audited debug shell (or one command) in an agent. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "slipway/agent.h"
#include "slipway/audit.h"
#include "slipway/cleanup.h"
#include "slipway/shell.h"

static void shell_usage(FILE *out)
{
        fprintf(out, "Usage: slipway shell AGENT [--root] [-T] [-- COMMAND [ARG...]]\n\n"
                     "Open a shell (default /bin/bash) as %s in the agent through the Docker exec\n"
                     "API. Every opening and closing is written to STATE_DIR/%s: who, when, the\n"
                     "agent, the command and its exit status. Exits with the command's status.\n\n"
                     "Options:\n"
                     "  -r, --root     run as root instead of %s\n"
                     "  -T, --no-tty   never allocate a terminal (default: one when stdin is a tty)\n"
                     "  -h, --help     show this help\n",
                AGENT_USER, AUDIT_LOG_NAME, AGENT_USER);
}

int cmd_shell(const struct cli_context *ctx, int argc, char **argv)
{
        static const struct option options[] = {
                { "root", no_argument, NULL, 'r' },
                { "no-tty", no_argument, NULL, 'T' },
                { "help", no_argument, NULL, 'h' },
                { NULL, 0, NULL, 0 },
        };
        bool root = false, tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
        int c;
        /* "+": options end at the agent; everything after "--" is the command. */
        while ((c = getopt_long(argc, argv, "+rTh", options, NULL)) != -1) {
                switch (c) {
                case 'r':
                        root = true;
                        break;
                case 'T':
                        tty = false;
                        break;
                case 'h':
                        shell_usage(stdout);
                        return 0;
                default:
                        return cli_usage_error("shell", "bad option");
                }
        }
        if (optind >= argc)
                return cli_usage_error("shell", "which agent?");
        const char *ref = argv[optind++];
        /* Options may also follow the agent, up to "--". */
        while (optind < argc && strcmp(argv[optind], "--") != 0) {
                if (strcmp(argv[optind], "--root") == 0 || strcmp(argv[optind], "-r") == 0)
                        root = true;
                else if (strcmp(argv[optind], "--no-tty") == 0 || strcmp(argv[optind], "-T") == 0)
                        tty = false;
                else
                        return cli_usage_error("shell", "unexpected argument \"%s\" (put the command after --)", argv[optind]);
                optind++;
        }
        static const char *const default_command[] = { "/bin/bash", NULL };
        const char *const *command = default_command;
        if (optind < argc) {
                optind++; /* "--" */
                if (optind >= argc)
                        return cli_usage_error("shell", "empty command after --");
                command = (const char *const *) argv + optind;
        }

        struct docker_client *docker = NULL;
        int r = cli_open_docker_as_root(ctx, "shell", &docker);
        if (r)
                return r;

        struct sw_error err = { 0 };
        _cleanup_free_ char *agent_id = NULL, *container_id = NULL;
        if (agent_find(docker, ctx->state_dir, ref, &agent_id, &container_id, &err) < 0 ||
            (!container_id && sw_error_set(&err, ENOENT, "agent %s has no container", ref) < 0)) {
                docker_close(docker);
                return cli_fail(&err);
        }

        json_t *argv_json = json_array();
        for (size_t i = 0; command[i]; i++)
                json_array_append_new(argv_json, json_string(command[i]));
        _cleanup_json_ json_t *fields = json_pack("{s:s, s:s, s:o, s:b, s:b, s:I}", "agent", agent_id,
                                                  "container", container_id, "command", argv_json,
                                                  "root", root, "tty", tty, "pid", (json_int_t) getpid());
        /* No audit record, no shell. */
        if (!fields || audit_append(ctx->state_dir, "shell-open", fields, &err) < 0) {
                docker_close(docker);
                return cli_fail(&err);
        }

        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        struct shell_options shell = { .argv = command, .user = root ? "root" : AGENT_USER, .tty = tty };
        int exit_code = -1;
        r = shell_run(docker, container_id, &shell, &exit_code, &err);
        clock_gettime(CLOCK_MONOTONIC, &end);
        docker_close(docker);

        double seconds = (double) (end.tv_sec - start.tv_sec) + (double) (end.tv_nsec - start.tv_nsec) / 1e9;
        json_object_set_new(fields, "exit", json_integer(exit_code));
        json_object_set_new(fields, "seconds", json_real(seconds));
        if (r < 0)
                json_object_set_new(fields, "error", json_string(err.message));
        struct sw_error audit_err = { 0 };
        if (audit_append(ctx->state_dir, "shell-close", fields, &audit_err) < 0)
                cli_fail(&audit_err);
        if (r < 0)
                return cli_fail(&err);
        return exit_code < 0 ? CLI_EXIT_FAILURE : exit_code;
}
