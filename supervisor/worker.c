/* Workers in child processes: see include/slipway/worker.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/worker.h"

static void child_report(int fd, worker_job job, void *arg)
{
        struct sw_error err = { 0 };
        json_t *report = NULL;
        int r = job(arg, &report, &err);
        if (r < 0) {
                json_decref(report);
                report = json_pack("{s:b, s:s}", "ok", 0, "error",
                                   err.message[0] ? err.message : "failed");
        } else if (!report) {
                report = json_object();
        }
        if (report && r >= 0)
                json_object_set_new(report, "ok", json_true());
        char *text = report ? json_dumps(report, JSON_COMPACT) : NULL;
        if (text)
                (void) fs_write_all(fd, text, strlen(text));
        _exit(text ? 0 : 1);
}

int worker_start(struct worker *worker, worker_job job, void *arg, struct sw_error *err)
{
        memset(worker, 0, sizeof(*worker));
        worker->fd = -1;
        int pipes[2];
        if (pipe2(pipes, O_CLOEXEC) < 0)
                return sw_error_errno(err, errno, "worker pipe");
        pid_t pid = fork();
        if (pid < 0) {
                int saved = errno;
                close(pipes[0]);
                close(pipes[1]);
                return sw_error_errno(err, saved, "fork a worker");
        }
        if (pid == 0) {
                close(pipes[0]);
                /* A worker must not outlive a daemon killed with -9 half-way: its rollback
                 * would then race the next daemon's reconciliation. SIGTERM makes it roll back
                 * (it stays blocked, so agent_stop_requested sees it pending). */
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                child_report(pipes[1], job, arg);
        }
        close(pipes[1]);
        int flags = fcntl(pipes[0], F_GETFL);
        fcntl(pipes[0], F_SETFL, flags | O_NONBLOCK);
        worker->pid = pid;
        worker->fd = pipes[0];
        return 0;
}

bool worker_read(struct worker *worker)
{
        while (worker->fd >= 0 && !worker->eof) {
                char buffer[4096];
                ssize_t n = read(worker->fd, buffer, sizeof(buffer));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return false;
                if (n <= 0) {
                        worker->eof = true;
                        break;
                }
                /* Bounded: past the limit the report is refused (it then fails to parse). */
                if (sw_buffer_append(&worker->report, buffer, (size_t) n, WORKER_MAX_REPORT) < 0)
                        worker->refused = true;
        }
        if (worker->eof && worker->fd >= 0) {
                close(worker->fd);
                worker->fd = -1;
        }
        return worker->eof;
}

json_t *worker_result(const struct worker *worker)
{
        json_error_t jerr;
        json_t *report = worker->report.data && !worker->refused
                                 ? json_loadb(worker->report.data, worker->report.len, 0, &jerr)
                                 : NULL;
        if (json_is_object(report))
                return report;
        json_decref(report);
        char reason[128];
        if (worker->reaped && WIFSIGNALED(worker->status))
                snprintf(reason, sizeof(reason), "worker %d killed by signal %d", (int) worker->pid,
                         WTERMSIG(worker->status));
        else if (worker->reaped && WIFEXITED(worker->status))
                snprintf(reason, sizeof(reason), "worker %d exited with %d and no report",
                         (int) worker->pid, WEXITSTATUS(worker->status));
        else
                snprintf(reason, sizeof(reason), "worker %d: no report", (int) worker->pid);
        return json_pack("{s:b, s:s}", "ok", 0, "error", reason);
}

void worker_release(struct worker *worker)
{
        if (worker->fd >= 0)
                close(worker->fd);
        sw_buffer_release(&worker->report);
        memset(worker, 0, sizeof(*worker));
        worker->fd = -1;
}
