/* The slipway command line: global options and one small file per verb. */
#ifndef SLIPWAY_CLI_H
#define SLIPWAY_CLI_H

#include "slipway/docker.h"
#include "slipway/error.h"

#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2

struct cli_context {
        const char *docker_host; /* --docker-host, else $DOCKER_HOST, else the default */
        const char *state_dir;   /* --state-dir, else $SLIPWAY_STATE_DIR, else the default */
};

/* Print "slipway: message" on stderr; returns CLI_EXIT_FAILURE. */
int cli_fail(const struct sw_error *err);
int cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Refuse to go on when not root: agents need host directories and the Docker socket. */
int cli_require_root(const char *verb);
int cli_open_docker(const struct cli_context *ctx, struct docker_client **docker);
/* Both: what every verb that changes agents or the cache starts with. */
int cli_open_docker_as_root(const struct cli_context *ctx, const char *verb,
                            struct docker_client **docker);

int cmd_run(const struct cli_context *ctx, int argc, char **argv);
int cmd_ps(const struct cli_context *ctx, int argc, char **argv);
int cmd_rm(const struct cli_context *ctx, int argc, char **argv);
int cmd_shell(const struct cli_context *ctx, int argc, char **argv);
int cmd_logs(const struct cli_context *ctx, int argc, char **argv);
int cmd_inspect(const struct cli_context *ctx, int argc, char **argv);
int cmd_cache(const struct cli_context *ctx, int argc, char **argv);
int cmd_serve(const struct cli_context *ctx, int argc, char **argv);
int cmd_doctor(const struct cli_context *ctx, int argc, char **argv);

#endif
