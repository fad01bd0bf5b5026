/* The slipway command line: global options and one small file per verb. */
#ifndef SLIPWAY_CLI_H
#define SLIPWAY_CLI_H

#include "slipway/control_client.h"
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

/* The daemon of ctx->state_dir, if one runs: 0 with *client set, or with NULL (none: go
 * direct); CLI_EXIT_FAILURE after printing why when its socket cannot be used. */
int cli_open_daemon(const struct cli_context *ctx, struct control_client **client);
/* Poll the daemon until agent id is gone (404), up to timeout_s; 0 or CLI_EXIT_FAILURE. */
int cli_daemon_wait_gone(struct control_client *client, const char *id, int timeout_s);

int cmd_create(const struct cli_context *ctx, int argc, char **argv);
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
