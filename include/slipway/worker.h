/* Workers: a blocking job (start an agent and wait until it is ready, or stop and remove one)
 * run in a child process, so the daemon's loop never blocks on Docker. The child reports one
 * JSON object through a pipe and exits; the parent reads it when the pipe polls readable and
 * reaps the child from its signalfd. A child that dies without reporting is a failure the
 * parent cleans up after (by the agent's labels and directory). */
#ifndef SLIPWAY_WORKER_H
#define SLIPWAY_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "slipway/buffer.h"
#include "slipway/error.h"

#define WORKER_MAX_REPORT 65536

struct worker {
        pid_t pid;       /* 0: none */
        int fd;          /* read end of the report pipe, -1 when closed */
        struct sw_buffer report;
        bool refused;    /* the report passed WORKER_MAX_REPORT */
        bool eof;
        int status;      /* waitpid status once reaped */
        bool reaped;
};

/* In the child: do the job, return 0 and set *report (a JSON object), or fill err. */
typedef int (*worker_job)(void *arg, json_t **report, struct sw_error *err);

int worker_start(struct worker *worker, worker_job job, void *arg, struct sw_error *err);
/* Read what is there (non-blocking). Returns true once the report is complete (EOF). */
bool worker_read(struct worker *worker);
/* The report once the worker has exited: {"ok":true,...} or {"ok":false,"error":"..."}.
 * A child that died without one gives ok false and how it died. Caller owns the result. */
json_t *worker_result(const struct worker *worker);
void worker_release(struct worker *worker);

#endif
