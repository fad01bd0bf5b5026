/* Logging for the daemon: one line per event on stderr (journald picks it up), with a UTC
 * time, a level and, where one is concerned, "agent=<id>" so an agent's whole life greps out.
 * Library modules never print; the daemon's own files (serve*) do, through this. */
#ifndef SLIPWAY_LOG_H
#define SLIPWAY_LOG_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level level);
void log_message(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_message(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_message(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_message(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_message(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
