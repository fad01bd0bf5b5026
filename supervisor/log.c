/* Daemon logging: see include/slipway/log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "slipway/log.h"

static enum log_level current_level = LOG_LEVEL_INFO;

void log_set_level(enum log_level level)
{
        current_level = level;
}

void log_message(enum log_level level, const char *fmt, ...)
{
        static const char *const names[] = { "error", "warning", "info", "debug" };
        if (level > current_level)
                return;
        struct timespec now;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        char line[2048];
        int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, now.tv_nsec / 1000000, names[level]);
        va_list ap;
        va_start(ap, fmt);
        if (n > 0 && (size_t) n < sizeof(line))
                vsnprintf(line + n, sizeof(line) - (size_t) n, fmt, ap);
        va_end(ap);
        /* One write per line, so lines of concurrent processes never interleave. */
        fprintf(stderr, "%s\n", line);
        fflush(stderr);
}
