/* The agent's own logs: dockerd, containerd and sshd each write into a pipe read by a small
 * logger process (a fork of slipway-init) that appends to INIT_LOG_DIR/<name>.log, rotating it
 * to <name>.log.1 at INIT_LOG_MAX_BYTES. So the container log keeps only slipway-init's own
 * lines, and no daemon can fill the agent's disk (or the host's json-file log) with chatter.
 * `slipway logs` reads these files through the Docker archive API, which also works on a
 * stopped agent.
 *
 * One logger per spawned process: it ends when every writer has closed the pipe (the process
 * and whatever inherited its stdout), so a restarted dockerd gets a fresh logger appending to
 * the same file. A logger keeps PID 1's signal mask (everything blocked): on SIGTERM, which
 * the init's shutdown sends to everything left once its services are gone, it writes what is
 * still in the pipe and exits, so a stop never waits for the SIGKILL sweep because of it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "slipway/cleanup.h"

#define LOG_POLL_MS 200

struct log_file {
        const char *path;
        int fd;
        off_t size;
        bool timestamps;  /* prefix each line with the UTC time (sshd -e has none of its own) */
        bool line_start;
};

static void log_file_open(struct log_file *log, int extra_flags)
{
        log->fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | extra_flags, 0640);
        struct stat st;
        log->size = log->fd >= 0 && fstat(log->fd, &st) == 0 ? st.st_size : 0;
}

/* Keep one older file: at most twice the limit per log, plus one write. */
static void log_file_rotate(struct log_file *log)
{
        char older[256];
        snprintf(older, sizeof(older), "%s.1", log->path);
        if (log->fd >= 0)
                close(log->fd);
        rename(log->path, older);
        log_file_open(log, O_TRUNC);
}

static void log_file_write(struct log_file *log, const char *data, size_t len)
{
        if (log->fd < 0)
                return; /* nowhere to write (a read-only image): drop, never block the daemon */
        while (len > 0) {
                if (log->timestamps && log->line_start) {
                        char stamp[32];
                        struct timespec ts;
                        struct tm tm;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        gmtime_r(&ts.tv_sec, &tm);
                        size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", &tm);
                        if (write(log->fd, stamp, n) > 0)
                                log->size += (off_t) n;
                        log->line_start = false;
                }
                const char *newline = log->timestamps ? memchr(data, '\n', len) : NULL;
                size_t chunk = newline ? (size_t) (newline - data) + 1 : len;
                ssize_t n = write(log->fd, data, chunk);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                log->size += n;
                if (newline && (size_t) n == chunk)
                        log->line_start = true;
                data += n;
                len -= (size_t) n;
        }
        if (log->size >= INIT_LOG_MAX_BYTES)
                log_file_rotate(log);
}

static bool terminate_pending(void)
{
        sigset_t pending;
        return sigpending(&pending) == 0 &&
               (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

static __attribute__((noreturn)) void log_writer(int in, const char *path, bool timestamps)
{
        struct log_file log = { .path = path, .timestamps = timestamps, .line_start = true };
        log_file_open(&log, 0);
        static char buf[65536];
        for (;;) {
                bool stopping = terminate_pending();
                if (stopping)
                        fcntl(in, F_SETFL, O_NONBLOCK); /* drain what is there, then go */
                struct pollfd pfd = { .fd = in, .events = POLLIN };
                if (!stopping && poll(&pfd, 1, LOG_POLL_MS) == 0)
                        continue;
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        _exit(0);
                log_file_write(&log, buf, (size_t) n);
        }
}

pid_t init_spawn_logged(const char *const *argv, const sigset_t *blocked, const char *log_path,
                        bool timestamps, bool inner, struct sw_error *err)
{
        if (mkdir(INIT_LOG_DIR, 0750) < 0 && errno != EEXIST)
                return sw_error_errno(err, errno, "mkdir %s", INIT_LOG_DIR);
        int pipe_fds[2];
        if (pipe2(pipe_fds, O_CLOEXEC) < 0)
                return sw_error_errno(err, errno, "pipe for %s", argv[0]);
        _cleanup_close_ int read_end = pipe_fds[0];
        _cleanup_close_ int write_end = pipe_fds[1];
        pid_t logger = fork();
        if (logger < 0)
                return sw_error_errno(err, errno, "fork a logger for %s", argv[0]);
        if (logger == 0) {
                close(write_end);
                log_writer(read_end, log_path, timestamps);
        }
        return init_spawn_output(argv, blocked, write_end, inner, err);
}

void init_log_tail(const char *path, int lines, char *out, size_t size)
{
        out[0] = '\0';
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return;
        char tail[1024];
        off_t from = st.st_size > (off_t) sizeof(tail) - 1 ? st.st_size - (off_t) sizeof(tail) + 1 : 0;
        ssize_t n = pread(fd, tail, sizeof(tail) - 1, from);
        if (n <= 0)
                return;
        tail[n] = '\0';
        while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r' || tail[n - 1] == ' '))
                tail[--n] = '\0';
        char *start = tail + n;
        for (int seen = 0; start > tail && seen < lines; start--)
                if (start[-1] == '\n' && ++seen == lines)
                        break;
        /* One line of text for an error message: the line breaks become " / ". */
        size_t len = 0;
        for (char *p = start; *p && len + 4 < size; p++) {
                if (*p == '\n') {
                        memcpy(out + len, " / ", 3);
                        len += 3;
                } else if (*p != '\r') {
                        out[len++] = *p;
                }
        }
        out[len] = '\0';
}
