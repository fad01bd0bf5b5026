/* Debug shells: run a command in an agent through the exec API with the caller's terminal
 * attached (raw mode and window size follow the local terminal), or plain pipes when stdin
 * is not a terminal. Auditing is the caller's job (see audit.h). */
#ifndef SLIPWAY_SHELL_H
#define SLIPWAY_SHELL_H

#include <stdbool.h>

#include "slipway/docker.h"
#include "slipway/error.h"

/* slipway-init in the agent image; `--enter USER -- CMD` joins the agent's namespaces. */
#define SHELL_INIT_PATH "/usr/sbin/slipway-init"

struct shell_options {
        const char *const *argv; /* NULL-terminated */
        const char *user;        /* "jenkins", or "root" for --root */
        bool tty;                /* allocate a TTY (the caller's stdin must be a terminal) */
};

/* Runs until the command ends; *exit_code is its exit status. */
int shell_run(struct docker_client *docker, const char *container_id,
              const struct shell_options *options, int *exit_code, struct sw_error *err);

#endif
