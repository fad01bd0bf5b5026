/* Debug shell sessions over the exec API: see include/slipway/shell.h.
 *
 * One poll loop moves bytes between our stdin/stdout/stderr and the hijacked exec socket and
 * reads SIGWINCH from a signalfd (signals are handled in the loop, never in handlers). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/shell.h"

static int sink_to_fd(void *user, int stream, const char *data, size_t len)
{
        (void) user;
        return fs_write_all(stream == 2 ? STDERR_FILENO : STDOUT_FILENO, data, len);
}

static void shell_resize(struct docker_client *docker, const char *exec_id)
{
        struct winsize ws;
        struct sw_error ignored;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
                (void) docker_exec_resize(docker, exec_id, ws.ws_row, ws.ws_col, &ignored);
}

/* The exec's exit code becomes final a moment after its stream closes. */
static int shell_exit_code(struct docker_client *docker, const char *exec_id, int *exit_code,
                           struct sw_error *err)
{
        for (int attempt = 0; attempt < 100; attempt++) {
                bool running = true;
                int r = docker_exec_inspect(docker, exec_id, &running, exit_code, err);
                if (r < 0)
                        return r;
                if (!running)
                        return 0;
                struct timespec pause = { 0, 20 * 1000 * 1000 };
                nanosleep(&pause, NULL);
        }
        return sw_error_set(err, ETIMEDOUT, "exec %s still running after its stream closed", exec_id);
}

static int shell_pump(int sock, bool tty, int signal_fd, struct docker_client *docker,
                      const char *exec_id, struct sw_error *err)
{
        struct docker_stream_demux demux;
        docker_stream_demux_init(&demux);
        bool stdin_open = true;
        char buf[16384];
        for (;;) {
                struct pollfd fds[3] = {
                        { .fd = sock, .events = POLLIN },
                        { .fd = signal_fd, .events = POLLIN },
                        { .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
                };
                if (poll(fds, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return sw_error_errno(err, errno, "shell: poll");
                }
                if (fds[1].revents & POLLIN) {
                        struct signalfd_siginfo info;
                        if (read(signal_fd, &info, sizeof(info)) == sizeof(info) &&
                            info.ssi_signo == SIGWINCH)
                                shell_resize(docker, exec_id);
                }
                if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
                        if (n < 0 && errno != EINTR && errno != EAGAIN)
                                return sw_error_errno(err, errno, "shell: read stdin");
                        if (n == 0) {
                                /* Our EOF becomes the command's EOF; its output keeps coming. */
                                stdin_open = false;
                                shutdown(sock, SHUT_WR);
                        } else if (n > 0 && fs_write_all(sock, buf, (size_t) n) < 0) {
                                stdin_open = false;
                        }
                }
                if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n = read(sock, buf, sizeof(buf));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0 && errno != ECONNRESET)
                                return sw_error_errno(err, errno, "shell: read from agent");
                        if (n <= 0)
                                return 0;
                        int r = tty ? fs_write_all(STDOUT_FILENO, buf, (size_t) n)
                                    : docker_stream_demux_feed(&demux, buf, (size_t) n, sink_to_fd, NULL);
                        if (r < 0)
                                return sw_error_errno(err, -r, "shell: output stream");
                }
        }
}

int shell_run(struct docker_client *docker, const char *container_id,
              const struct shell_options *options, int *exit_code, struct sw_error *err)
{
        const char *term = getenv("TERM");
        _cleanup_free_ char *term_env = NULL;
        if (options->tty && term && asprintf(&term_env, "TERM=%s", term) < 0)
                return sw_error_set(err, ENOMEM, "shell");
        const char *env[] = { term_env, NULL };
        /* The agent's build side runs in a user namespace: the shell goes there, through
         * slipway-init (as root of the agent, which alone can join it), so an operator sees
         * what the build sees, as jenkins or as the namespace's root, never as the host's. */
        size_t argc = 0;
        while (options->argv[argc])
                argc++;
        _cleanup_free_ const char **argv = calloc(argc + 5, sizeof(*argv));
        if (!argv)
                return sw_error_set(err, ENOMEM, "shell");
        argv[0] = SHELL_INIT_PATH;
        argv[1] = "--enter";
        argv[2] = options->user;
        argv[3] = "--";
        memcpy(argv + 4, options->argv, argc * sizeof(*argv));
        struct docker_exec_options exec = {
                .argv = argv,
                .env = term_env ? env : NULL,
                .user = "root",
                .tty = options->tty,
                .attach_stdin = true,
        };
        _cleanup_free_ char *exec_id = NULL;
        int r = docker_exec_create(docker, container_id, &exec, &exec_id, err);
        if (r < 0)
                return r;

        sigset_t mask, old_mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGWINCH);
        sigprocmask(SIG_BLOCK, &mask, &old_mask);
        _cleanup_close_ int signal_fd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (signal_fd < 0) {
                r = sw_error_errno(err, errno, "shell: signalfd");
                sigprocmask(SIG_SETMASK, &old_mask, NULL);
                return r;
        }

        _cleanup_close_ int sock = -1;
        r = docker_exec_attach(docker, exec_id, options->tty, &sock, err);
        if (r >= 0) {
                struct termios saved;
                bool raw = options->tty && tcgetattr(STDIN_FILENO, &saved) == 0;
                if (raw) {
                        struct termios t = saved;
                        cfmakeraw(&t);
                        tcsetattr(STDIN_FILENO, TCSANOW, &t);
                        shell_resize(docker, exec_id);
                }
                r = shell_pump(sock, options->tty, signal_fd, docker, exec_id, err);
                if (raw)
                        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        }
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        if (r < 0)
                return r;
        return shell_exit_code(docker, exec_id, exit_code, err);
}
