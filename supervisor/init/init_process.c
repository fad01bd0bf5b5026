/* Spawning and reaping for slipway-init. Signals arrive through a signalfd read in the main
 * loop (catatonit, tini); children start with default dispositions and an empty mask. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

void init_log(const char *fmt, ...)
{
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        dprintf(STDERR_FILENO, "slipway-init: %s\n", line);
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
        return init_spawn_output(argv, blocked, -1, err);
}

pid_t init_spawn_output(const char *const *argv, const sigset_t *blocked, int output_fd,
                        struct sw_error *err)
{
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
        pid_t pid = init_spawn(argv, blocked, err);
        if (pid < 0)
                return pid;
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return sw_error_errno(err, errno, "wait for %s", argv[0]);
        return init_exit_status(status);
}
