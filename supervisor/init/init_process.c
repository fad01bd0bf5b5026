/* Spawning and reaping for slipway-init. Signals arrive through a signalfd read in the main
 * loop (catatonit, tini); children start with default dispositions and an empty mask. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "slipway/fsutil.h"
#include "slipway/log_escape.h"

void init_log(const char *fmt, ...)
{
        char message[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        /* Messages carry paths and names a build controls: escaped, a newline in them cannot
         * forge another "slipway-init:" line, nor an escape sequence reach the terminal of an
         * operator reading the log with `slipway logs`. The line is sized to hold any escape
         * of the message, so nothing is cut. */
        static const char prefix[] = "slipway-init: ";
        char line[sizeof(prefix) - 1 + LOG_ESCAPE_SIZE(sizeof(message)) + 1];
        memcpy(line, prefix, sizeof(prefix) - 1);
        log_escape(message, strlen(message), line + sizeof(prefix) - 1,
                   sizeof(line) - (sizeof(prefix) - 1) - 1);
        size_t len = strlen(line);
        line[len++] = '\n';
        /* One write(2): a pipe keeps a write of up to PIPE_BUF whole, so the children that
         * share this stderr cannot cut into the line. */
        ssize_t n = write(STDERR_FILENO, line, len);
        (void) n; /* stderr is where failures would be told */
}

int init_signals_setup(sigset_t *blocked, int *signal_fd, struct sw_error *err)
{
        sigemptyset(blocked);
        static const int signals[] = { SIGCHLD, SIGTERM, SIGINT,  SIGHUP,
                                       SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
        for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
                sigaddset(blocked, signals[i]);
        if (sigprocmask(SIG_BLOCK, blocked, NULL) < 0)
                return sw_error_errno(err, errno, "block signals");
        *signal_fd = signalfd(-1, blocked, SFD_CLOEXEC | SFD_NONBLOCK);
        if (*signal_fd < 0)
                return sw_error_errno(err, errno, "signalfd");
        return 0;
}

pid_t init_spawn(const char *const *argv, const sigset_t *blocked, struct sw_error *err)
{
        return init_spawn_output(argv, blocked, -1, false, err);
}

#define SPAWN_REPORT_TIMEOUT_MS 10000

/* In the user namespace: fork, join, fork again (a PID namespace takes only the children of
 * who joins it) and report the grandchild's pid; the intermediate exits at once, so the
 * grandchild is reparented to PID 1, which reaps and supervises it like any other child. */
static pid_t spawn_inner(const char *const *argv, const sigset_t *blocked, int output_fd, struct sw_error *err)
{
        int report[2];
        if (pipe2(report, O_CLOEXEC) < 0)
                return sw_error_errno(err, errno, "pipe for %s", argv[0]);
        pid_t middle = fork();
        if (middle < 0) {
                int saved = errno;
                close(report[0]);
                close(report[1]);
                return sw_error_errno(err, saved, "fork for %s", argv[0]);
        }
        if (middle == 0) {
                close(report[0]);
                sigprocmask(SIG_UNBLOCK, blocked, NULL);
                if (output_fd >= 0 &&
                    (dup2(output_fd, STDOUT_FILENO) < 0 || dup2(output_fd, STDERR_FILENO) < 0))
                        _exit(127);
                int r = init_userns_enter();
                if (r < 0) {
                        init_log("cannot enter the user namespace for %s: %s", argv[0], strerror(-r));
                        _exit(126);
                }
                pid_t pid = fork();
                if (pid == 0) {
                        setsid();
                        execv(argv[0], (char *const *) argv);
                        init_log("cannot execute %s: %s", argv[0], strerror(errno));
                        _exit(127);
                }
                (void) !write(report[1], &pid, sizeof(pid));
                _exit(pid < 0 ? 126 : 0);
        }
        close(report[1]);
        pid_t pid = -1;
        ssize_t n = -1;
        /* Bounded: the namespace's root could freeze the intermediate (cgroup v1 freezer)
         * once it is the namespace's; PID 1 must never wait on it for ever. */
        struct pollfd pfd = { .fd = report[0], .events = POLLIN };
        if (poll(&pfd, 1, SPAWN_REPORT_TIMEOUT_MS) > 0) {
                do
                        n = read(report[0], &pid, sizeof(pid));
                while (n < 0 && errno == EINTR);
        } else {
                kill(middle, SIGKILL);
                init_cgroups_thaw();
        }
        close(report[0]);
        int status;
        while (waitpid(middle, &status, 0) < 0 && errno == EINTR)
                ;
        if (n != sizeof(pid) || pid <= 0)
                return sw_error_set(err, EIO, "start %s in the user namespace: exit status %d", argv[0],
                                    init_exit_status(status));
        return pid;
}

pid_t init_spawn_output(const char *const *argv, const sigset_t *blocked, int output_fd, bool inner,
                        struct sw_error *err)
{
        if (inner && init_inner.enabled)
                return spawn_inner(argv, blocked, output_fd, err);
        pid_t pid = fork();
        if (pid < 0)
                return sw_error_errno(err, errno, "fork for %s", argv[0]);
        if (pid == 0) {
                /* Children must not inherit PID 1's blocked signals. */
                sigprocmask(SIG_UNBLOCK, blocked, NULL);
                setsid();
                if (output_fd >= 0 &&
                    (dup2(output_fd, STDOUT_FILENO) < 0 || dup2(output_fd, STDERR_FILENO) < 0))
                        _exit(127);
                execv(argv[0], (char *const *) argv);
                init_log("cannot execute %s: %s", argv[0], strerror(errno));
                _exit(127);
        }
        return pid;
}

int init_exit_status(int wait_status)
{
        if (WIFEXITED(wait_status))
                return WEXITSTATUS(wait_status);
        if (WIFSIGNALED(wait_status))
                return 128 + WTERMSIG(wait_status);
        return 1;
}

int init_run(const char *const *argv, const sigset_t *blocked, struct sw_error *err)
{
        const struct init_command command = { .argv = argv };
        return init_run_command(&command, blocked, err);
}

int init_run_command(const struct init_command *c, const sigset_t *blocked, struct sw_error *err)
{
        int in[2] = { -1, -1 }, out[2] = { -1, -1 };
        if ((c->input && pipe2(in, O_CLOEXEC) < 0) || (c->output && pipe2(out, O_CLOEXEC) < 0)) {
                int saved = errno;
                if (in[0] >= 0) {
                        close(in[0]);
                        close(in[1]);
                }
                return sw_error_errno(err, saved, "pipe for %s", c->argv[0]);
        }
        pid_t pid = fork();
        if (pid == 0) {
                sigprocmask(SIG_UNBLOCK, blocked, NULL);
                if (c->inner_net && setns(init_inner.ns_fd[INIT_NS_NET], CLONE_NEWNET) < 0)
                        _exit(126);
                if ((c->input && dup2(in[0], STDIN_FILENO) < 0) || (c->output && dup2(out[1], STDOUT_FILENO) < 0))
                        _exit(126);
                if (c->timeout_s > 0)
                        alarm((unsigned) c->timeout_s);
                execv(c->argv[0], (char *const *) c->argv);
                init_log("cannot execute %s: %s", c->argv[0], strerror(errno));
                _exit(127);
        }
        int saved = errno;
        if (c->input)
                close(in[0]); /* the child's ends */
        if (c->output)
                close(out[1]);
        if (pid < 0) {
                if (c->input)
                        close(in[1]);
                if (c->output)
                        close(out[0]);
                return sw_error_errno(err, saved, "fork for %s", c->argv[0]);
        }
        /* One direction at a time: the tools here either read their input or print, never a
         * stream of both, so neither side can fill a pipe the other is not reading. */
        if (c->input) {
                (void) fs_write_all(in[1], c->input, strlen(c->input));
                close(in[1]);
        }
        if (c->output) {
                size_t have = 0;
                ssize_t n;
                while (have + 1 < c->output_size &&
                       ((n = read(out[0], c->output + have, c->output_size - 1 - have)) > 0 || (n < 0 && errno == EINTR)))
                        if (n > 0)
                                have += (size_t) n;
                c->output[have] = '\0';
                close(out[0]);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return sw_error_errno(err, errno, "wait for %s", c->argv[0]);
        return init_exit_status(status);
}
