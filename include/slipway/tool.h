/* Running the external tools slipway relies on (ssh-keygen, mkfs.ext4, iptables-restore) to
 * completion, their output kept for the error message. */
#ifndef SLIPWAY_TOOL_H
#define SLIPWAY_TOOL_H

#include "slipway/error.h"

struct tool_run {
        /* argv[0] a name: looked up in PATH, then in /usr/sbin and /sbin (root's tools may be
         * outside a service's PATH). NULL-terminated. */
        const char *const *argv;
        const char *input;   /* small text written to its stdin; NULL: /dev/null */
        int netns_fd;        /* >= 0: it runs in that network namespace */
        const char *package; /* named when it cannot be run ("install <package>"), or NULL */
};

/* 0 when it exited 0. Otherwise -EIO with "<argv[0]> failed: <its output on one line>" (at most
 * 511 bytes of it) in err, or another negative errno (fork, pipe, wait). */
int tool_run(const struct tool_run *run, struct sw_error *err);

#endif
