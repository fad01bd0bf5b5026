/* An agent's own logs: slipway-init's output (the container log) and the logs it keeps for
 * the daemons it starts, INIT_LOG_DIR/{containerd,dockerd,sshd}.log inside the agent, each
 * rotated once to .log.1 (supervisor/init/init_logs.c). The files are read through the
 * Docker archive API, which works on a stopped agent too: that is when they matter most.
 * Builds write to these logs and an operator reads them on a terminal: all text handed out
 * here is escaped with log_escape_terminal (control bytes but '\n' and '\t' become \xNN), so
 * no escape sequence in a log acts on that terminal. */
#ifndef SLIPWAY_AGENT_LOGS_H
#define SLIPWAY_AGENT_LOGS_H

#include <stdbool.h>
#include <stddef.h>

#include "slipway/docker.h"
#include "slipway/error.h"
#include "slipway/log_escape.h"

#define AGENT_LOG_DIR "/var/log/slipway" /* INIT_LOG_DIR */

enum agent_log_source {
        AGENT_LOG_INIT,       /* the container log: slipway-init's own lines */
        AGENT_LOG_CONTAINERD,
        AGENT_LOG_DOCKERD,
        AGENT_LOG_SSHD,
        AGENT_LOG_SOURCES
};

/* "init", "containerd", "dockerd", "sshd". */
const char *agent_log_source_name(enum agent_log_source source);
/* Where a source lives, for messages: "container log" or "/var/log/slipway/dockerd.log". */
const char *agent_log_source_where(enum agent_log_source source);

struct agent_logs {
        /* The last lines of each source asked for; NULL when not asked for or when the agent
         * has no such log (an image older than these logs, or a service other than sshd). */
        char *text[AGENT_LOG_SOURCES];
};

/* Read the sources whose bit (1 << source) is set in sources; tail: the last that many lines
 * of each, or all when negative. */
int agent_logs_read(struct docker_client *docker, const char *container_id, unsigned sources,
                    int tail, struct agent_logs *logs, struct sw_error *err);
void agent_logs_release(struct agent_logs *logs);

/* Follow the sources of a running agent: the last `tail` lines of each (all when negative),
 * then every new line as it comes, until the agent stops or line returns non-zero (which is
 * then returned). Lines come escaped (see agent_log_lines) without their newline. -ESRCH when
 * the agent is not running (read its logs instead). The files are followed by `tail -F` run
 * through the exec API; it ends with our connection. */
#define AGENT_LOG_LINE_MAX 16384
typedef int (*agent_log_line_fn)(void *user, enum agent_log_source source, const char *line,
                                 size_t len);
int agent_logs_follow(struct docker_client *docker, const char *container_id, unsigned sources,
                      int tail, agent_log_line_fn line, void *user, struct sw_error *err);

/* A followed log, fed in pieces cut anywhere, handed to line one line at a time: escaped
 * (NUL-terminated, up to LOG_ESCAPE_SIZE(AGENT_LOG_LINE_MAX) bytes with it), each made of at
 * most AGENT_LOG_LINE_MAX bytes of the log (longer lines arrive in pieces, never cut inside a
 * character, so a C1 control split across pieces is still seen whole and escaped). */
struct agent_log_lines {
        enum agent_log_source source;
        agent_log_line_fn line;
        void *user;
        char partial[AGENT_LOG_LINE_MAX];
        size_t partial_len;
        char shown[LOG_ESCAPE_SIZE(AGENT_LOG_LINE_MAX)];
};
void agent_log_lines_init(struct agent_log_lines *lines, enum agent_log_source source,
                          agent_log_line_fn line, void *user);
/* 0, or the first non-zero value line returned: then the rest of data is dropped. */
int agent_log_lines_feed(struct agent_log_lines *lines, const char *data, size_t len);
/* The log ended: hands out its last line, which had no newline, if any. */
int agent_log_lines_end(struct agent_log_lines *lines);

/* The start of the last `lines` lines of text (len bytes; a final line without a newline
 * counts); text itself when it has no more, or lines is negative. */
const char *agent_logs_tail(const char *text, size_t len, int lines);

#endif
