/* One error convention for all of slipway (after crun's libcrun_error_t).
 *
 * Low-level helpers return -errno. Module APIs return a negative value and fill a
 * struct sw_error whose message carries context ("create container x: No such image: y").
 * Library code never prints and never exits: main decides how to report. */
#ifndef SLIPWAY_ERROR_H
#define SLIPWAY_ERROR_H

#include <stddef.h>

#define SW_ERROR_MAX 1024

struct sw_error {
        int code;               /* errno-style code (positive), 0 when no error */
        char message[SW_ERROR_MAX];
};

/* Set err (if not NULL) and return -code (or -1 when code is 0). */
int sw_error_set(struct sw_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Like sw_error_set, with ": strerror(code)" appended. */
int sw_error_errno(struct sw_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Prepend context to an existing message: "context: old message". Returns -err->code or -1. */
int sw_error_prefix(struct sw_error *err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

void sw_error_clear(struct sw_error *err);

/* For parsers that explain a refusal in a caller's buffer: write the reason (bounded) and
 * return -EINVAL. */
int sw_reason_set(char *reason, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
