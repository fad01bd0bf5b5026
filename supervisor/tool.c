/* External tools: see include/slipway/tool.h. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slipway/fsutil.h"
#include "slipway/tool.h"

#define TOOL_MESSAGE_MAX 512

static __attribute__((noreturn)) void tool_exec(const struct tool_run *run, int input, int output)
{
        if (input >= 0)
                dup2(input, STDIN_FILENO);
        dup2(output, STDOUT_FILENO);
        dup2(output, STDERR_FILENO);
        if (run->netns_fd >= 0 && setns(run->netns_fd, CLONE_NEWNET) < 0) {
                dprintf(STDERR_FILENO, "enter the network namespace: %s", strerror(errno));
                _exit(126);
        }
        const char *name = run->argv[0];
        char *const *argv = (char *const *) run->argv;
        execvp(name, argv);
        int saved = errno;
        if (!strchr(name, '/')) {
                static const char *const dirs[] = { "/usr/sbin", "/sbin" };
                for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                        char path[256];
                        snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
                        execv(path, argv);
                }
        }
        dprintf(STDERR_FILENO, "cannot run %s: %s%s%s%s", name, strerror(saved),
                run->package ? " (install " : "", run->package ? run->package : "", run->package ? ")" : "");
        _exit(127);
}

/* Its output, bounded; the rest is read and dropped, or a full pipe would block the tool. */
static void read_output(int fd, char *message, size_t size)
{
        size_t len = 0;
        for (;;) {
                char drain[256];
                bool full = len == size - 1;
                ssize_t n = full ? read(fd, drain, sizeof(drain)) : read(fd, message + len, size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                if (!full)
                        len += (size_t) n;
        }
        message[len] = '\0';
        for (char *p = message; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        while (len > 0 && message[len - 1] == ' ')
                message[--len] = '\0';
}

int tool_run(const struct tool_run *run, struct sw_error *err)
{
        const char *name = run->argv[0];
        int out[2], in[2] = { -1, -1 };
        if (pipe2(out, O_CLOEXEC) < 0)
                return sw_error_errno(err, errno, "run %s", name);
        if (run->input && pipe2(in, O_CLOEXEC) < 0) {
                int saved = errno;
                close(out[0]);
                close(out[1]);
                return sw_error_errno(err, saved, "run %s", name);
        }
        int null = run->input ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC);
        pid_t pid = fork();
        if (pid == 0)
                tool_exec(run, run->input ? in[0] : null, out[1]);
        int saved = errno;
        close(out[1]);
        if (null >= 0)
                close(null);
        if (in[0] >= 0)
                close(in[0]);
        int r = 0;
        if (pid > 0 && run->input) {
                /* A tool that exits without reading must not kill us with SIGPIPE. */
                struct sigaction ignore = { .sa_handler = SIG_IGN }, old;
                sigaction(SIGPIPE, &ignore, &old);
                r = fs_write_all(in[1], run->input, strlen(run->input));
                sigaction(SIGPIPE, &old, NULL);
        }
        if (in[1] >= 0)
                close(in[1]);
        if (pid < 0) {
                close(out[0]);
                return sw_error_errno(err, saved, "run %s: fork", name);
        }
        char message[TOOL_MESSAGE_MAX];
        read_output(out[0], message, sizeof(message));
        close(out[0]);
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return sw_error_errno(err, errno, "run %s: wait", name);
        if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return sw_error_set(err, EIO, "%s failed: %s", name, message[0] ? message : "no output");
        return 0;
}
