/* An agent's own logs: see include/slipway/agent_logs.h. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slipway/agent_logs.h"
#include "slipway/cleanup.h"
#include "slipway/log_escape.h"
#include "slipway/tar.h"

static const struct {
        const char *name;
        const char *file; /* in AGENT_LOG_DIR; NULL: the container log */
        const char *where;
} sources[AGENT_LOG_SOURCES] = {
        [AGENT_LOG_INIT] = { "init", NULL, "container log" },
        [AGENT_LOG_CONTAINERD] = { "containerd", "containerd.log", AGENT_LOG_DIR "/containerd.log" },
        [AGENT_LOG_DOCKERD] = { "dockerd", "dockerd.log", AGENT_LOG_DIR "/dockerd.log" },
        [AGENT_LOG_SSHD] = { "sshd", "sshd.log", AGENT_LOG_DIR "/sshd.log" },
};

const char *agent_log_source_name(enum agent_log_source source)
{
        return source < AGENT_LOG_SOURCES ? sources[source].name : "?";
}

const char *agent_log_source_where(enum agent_log_source source)
{
        return source < AGENT_LOG_SOURCES ? sources[source].where : "?";
}

const char *agent_logs_tail(const char *text, size_t len, int lines)
{
        if (lines < 0)
                return text;
        size_t end = len;
        if (end > 0 && text[end - 1] == '\n')
                end--; /* the final newline ends the last line, it does not start one */
        int seen = 0;
        for (size_t i = end; i > 0; i--) {
                if (text[i - 1] == '\n' && ++seen == lines)
                        return text + i;
        }
        return lines == 0 ? text + len : text;
}

/* A copy of text for the operator's terminal; NULL when out of memory. By length, not
 * strlen: a NUL a build wrote into a log must not hide the lines after it. */
static char *escape_for_terminal(const char *text, size_t len)
{
        if (len > (SIZE_MAX - 1) / 4)
                return NULL;
        char *shown = malloc(LOG_ESCAPE_SIZE(len));
        if (shown)
                log_escape_terminal(text, len, shown, LOG_ESCAPE_SIZE(len));
        return shown;
}

/* One log as found in the archive: its rotated half and its current half. */
struct log_halves {
        const char *older, *current;
        size_t older_len, current_len;
};

struct archive_logs {
        struct log_halves halves[AGENT_LOG_SOURCES];
};

static int collect_log(void *user, const char *name, const char *content, size_t len)
{
        struct archive_logs *logs = user;
        /* Docker names entries after the directory asked for: "slipway/dockerd.log". */
        const char *base = strrchr(name, '/');
        base = base ? base + 1 : name;
        for (int s = 0; s < AGENT_LOG_SOURCES; s++) {
                const char *file = sources[s].file;
                if (!file)
                        continue;
                size_t file_len = strlen(file);
                if (strcmp(base, file) == 0) {
                        logs->halves[s].current = content;
                        logs->halves[s].current_len = len;
                } else if (strncmp(base, file, file_len) == 0 && strcmp(base + file_len, ".1") == 0) {
                        logs->halves[s].older = content;
                        logs->halves[s].older_len = len;
                }
        }
        return 0;
}

/* The rotated half then the current one (a line may straddle them), cut to the tail. */
static char *join_tail(const struct log_halves *halves, int tail)
{
        size_t len = halves->older_len + halves->current_len;
        _cleanup_free_ char *joined = malloc(len + 1);
        if (!joined)
                return NULL;
        if (halves->older_len)
                memcpy(joined, halves->older, halves->older_len);
        if (halves->current_len)
                memcpy(joined + halves->older_len, halves->current, halves->current_len);
        joined[len] = '\0';
        const char *start = agent_logs_tail(joined, len, tail);
        return escape_for_terminal(start, len - (size_t) (start - joined));
}

static int read_log_files(struct docker_client *docker, const char *container_id,
                          unsigned wanted, int tail, struct agent_logs *logs, struct sw_error *err)
{
        _cleanup_free_ char *tar = NULL;
        size_t tar_len = 0;
        int r = docker_archive_get(docker, container_id, AGENT_LOG_DIR, &tar, &tar_len, err);
        if (r == -ENOENT)
                return 0; /* an agent image from before these logs: none of them */
        if (r < 0)
                return sw_error_prefix(err, "read %s in container %.12s", AGENT_LOG_DIR, container_id);
        struct archive_logs found = { 0 };
        r = tar_read_files(tar, tar_len, collect_log, &found);
        if (r < 0)
                return sw_error_set(err, -r, "read %s in container %.12s: malformed archive",
                                    AGENT_LOG_DIR, container_id);
        for (int s = 0; s < AGENT_LOG_SOURCES; s++) {
                const struct log_halves *halves = &found.halves[s];
                if (!(wanted & (1u << s)) || (!halves->current && !halves->older))
                        continue;
                logs->text[s] = join_tail(halves, tail);
                if (!logs->text[s])
                        return sw_error_set(err, ENOMEM, "read logs");
        }
        return 0;
}

int agent_logs_read(struct docker_client *docker, const char *container_id, unsigned wanted,
                    int tail, struct agent_logs *logs, struct sw_error *err)
{
        memset(logs, 0, sizeof(*logs));
        if (wanted & (1u << AGENT_LOG_INIT)) {
                _cleanup_free_ char *text = NULL;
                int r = docker_container_logs(docker, container_id, tail, &text, err);
                if (r < 0)
                        return sw_error_prefix(err, "container log of %.12s", container_id);
                logs->text[AGENT_LOG_INIT] = escape_for_terminal(text, strlen(text));
                if (!logs->text[AGENT_LOG_INIT])
                        return sw_error_set(err, ENOMEM, "read logs");
        }
        if (wanted & ~(1u << AGENT_LOG_INIT)) {
                int r = read_log_files(docker, container_id, wanted, tail, logs, err);
                if (r < 0) {
                        agent_logs_release(logs);
                        return r;
                }
        }
        return 0;
}

void agent_logs_release(struct agent_logs *logs)
{
        for (int s = 0; s < AGENT_LOG_SOURCES; s++) {
                free(logs->text[s]);
                logs->text[s] = NULL;
        }
}

/* ---- following ------------------------------------------------------------------------- */

void agent_log_lines_init(struct agent_log_lines *lines, enum agent_log_source source,
                          agent_log_line_fn line, void *user)
{
        lines->source = source;
        lines->line = line;
        lines->user = user;
        lines->partial_len = 0;
}

/* Hand out what partial holds: a whole line, or (line_ends false) a piece of a long one. */
static int lines_flush(struct agent_log_lines *lines, bool line_ends)
{
        /* A piece keeps a character cut at its end for the next one: escaped apart, its halves
         * would show as \xNN, not as the character. */
        size_t kept = line_ends ? 0 : log_escape_incomplete(lines->partial, lines->partial_len);
        size_t len = lines->partial_len - kept;
        log_escape_terminal(lines->partial, len, lines->shown, sizeof(lines->shown));
        int r = lines->line(lines->user, lines->source, lines->shown, strlen(lines->shown));
        memmove(lines->partial, lines->partial + len, kept);
        lines->partial_len = kept;
        return r;
}

int agent_log_lines_feed(struct agent_log_lines *lines, const char *data, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                int r = 0;
                if (data[i] == '\n') {
                        r = lines_flush(lines, true);
                } else {
                        lines->partial[lines->partial_len++] = data[i];
                        if (lines->partial_len == sizeof(lines->partial))
                                r = lines_flush(lines, false);
                }
                if (r != 0)
                        return r;
        }
        return 0;
}

int agent_log_lines_end(struct agent_log_lines *lines)
{
        return lines->partial_len ? lines_flush(lines, true) : 0;
}

struct follow_stream {
        int fd;
        struct docker_stream_demux demux;
        struct agent_log_lines lines;
        int stopped; /* what the line function returned, when not 0 */
};

static int follow_sink(void *user, int which, const char *data, size_t len)
{
        struct follow_stream *stream = user;
        /* tail's own remarks ("file truncated", "has been replaced") are not the log. */
        if (stream->lines.source != AGENT_LOG_INIT && which == 2)
                return 0;
        if (!stream->stopped)
                stream->stopped = agent_log_lines_feed(&stream->lines, data, len);
        return 0;
}

/* tail -F the file (and its rotations) until our connection, the exec's stdin, closes. */
static int follow_file(struct docker_client *docker, const char *container_id,
                       enum agent_log_source source, int tail, int *fd_out, struct sw_error *err)
{
        char lines[16], path[128];
        snprintf(lines, sizeof(lines), tail < 0 ? "+1" : "%d", tail);
        snprintf(path, sizeof(path), "%s/%s", AGENT_LOG_DIR, sources[source].file);
        /* Docker does not end an exec when its client goes away, but it closes the exec's
         * stdin: cat sees the end and takes tail with it. */
        const char *const argv[] = { "/bin/sh", "-c",
                                     "tail -n \"$1\" -F \"$2\" & t=$!; cat >/dev/null; kill $t",
                                     "slipway-logs", lines, path, NULL };
        struct docker_exec_options exec = { .argv = argv, .user = "root", .attach_stdin = true };
        _cleanup_free_ char *exec_id = NULL;
        int r = docker_exec_create(docker, container_id, &exec, &exec_id, err);
        if (r < 0)
                return r;
        return docker_exec_attach(docker, exec_id, false, fd_out, err);
}

static bool container_running(struct docker_client *docker, const char *container_id,
                              struct sw_error *err, int *r)
{
        _cleanup_json_ json_t *info = NULL;
        *r = docker_container_inspect(docker, container_id, &info, err);
        return *r == 0 && json_is_true(json_object_get(json_object_get(info, "State"), "Running"));
}

int agent_logs_follow(struct docker_client *docker, const char *container_id, unsigned wanted,
                      int tail, agent_log_line_fn line, void *user, struct sw_error *err)
{
        int r;
        if (!container_running(docker, container_id, err, &r))
                return r < 0 ? r : sw_error_set(err, ESRCH, "container %.12s is not running", container_id);
        _cleanup_free_ struct follow_stream *streams = calloc(AGENT_LOG_SOURCES, sizeof(*streams));
        if (!streams)
                return sw_error_set(err, ENOMEM, "follow logs");
        struct pollfd pfds[AGENT_LOG_SOURCES];
        size_t count = 0;
        for (int s = 0; s < AGENT_LOG_SOURCES && r >= 0; s++) {
                if (!(wanted & (1u << s)))
                        continue;
                struct follow_stream *stream = &streams[count];
                stream->fd = -1;
                agent_log_lines_init(&stream->lines, (enum agent_log_source) s, line, user);
                docker_stream_demux_init(&stream->demux);
                r = s == AGENT_LOG_INIT ? docker_container_logs_follow(docker, container_id, tail, &stream->fd, err)
                                        : follow_file(docker, container_id, (enum agent_log_source) s, tail,
                                                      &stream->fd, err);
                if (r >= 0)
                        pfds[count++] = (struct pollfd){ .fd = stream->fd, .events = POLLIN };
        }
        size_t open_streams = count;
        int stopped = 0;
        while (r >= 0 && open_streams > 0 && !stopped) {
                if (poll(pfds, count, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = sw_error_errno(err, errno, "follow logs: poll");
                        break;
                }
                for (size_t i = 0; i < count && !stopped; i++) {
                        if (pfds[i].fd < 0 || !(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        struct follow_stream *stream = &streams[i];
                        char buf[16384];
                        ssize_t n = read(pfds[i].fd, buf, sizeof(buf));
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n > 0 &&
                            docker_stream_demux_feed(&stream->demux, buf, (size_t) n, follow_sink, stream) < 0) {
                                r = sw_error_set(err, EPROTO, "follow %s log: malformed stream",
                                                 sources[stream->lines.source].name);
                                break;
                        }
                        if (n <= 0) {
                                if (!stream->stopped)
                                        stream->stopped = agent_log_lines_end(&stream->lines);
                                pfds[i].fd = -1; /* poll skips it; closed below */
                                open_streams--;
                        }
                        stopped = stream->stopped;
                }
        }
        for (size_t i = 0; i < count; i++)
                if (streams[i].fd >= 0)
                        close(streams[i].fd);
        if (r < 0)
                return r;
        return stopped;
}
