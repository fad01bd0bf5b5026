/* The error convention: see include/slipway/error.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "slipway/error.h"

static int error_return(int code)
{
        return code > 0 ? -code : -1;
}

int sw_error_set(struct sw_error *err, int code, const char *fmt, ...)
{
        if (err) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(err->message, sizeof(err->message), fmt, ap);
                va_end(ap);
                err->code = code;
        }
        return error_return(code);
}

int sw_error_errno(struct sw_error *err, int code, const char *fmt, ...)
{
        if (err) {
                char head[SW_ERROR_MAX];
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(head, sizeof(head), fmt, ap);
                va_end(ap);
                snprintf(err->message, sizeof(err->message), "%s: %s", head, strerror(code));
                err->code = code;
        }
        return error_return(code);
}

int sw_error_prefix(struct sw_error *err, const char *fmt, ...)
{
        if (!err)
                return -1;
        char head[SW_ERROR_MAX], old[SW_ERROR_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(head, sizeof(head), fmt, ap);
        va_end(ap);
        memcpy(old, err->message, sizeof(old));
        snprintf(err->message, sizeof(err->message), "%s: %s", head, old);
        return error_return(err->code);
}

void sw_error_clear(struct sw_error *err)
{
        if (err) {
                err->code = 0;
                err->message[0] = '\0';
        }
}

int sw_reason_set(char *reason, size_t size, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}
