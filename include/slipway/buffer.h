/* A growing, NUL-terminated byte buffer with a hard limit: what comes from the wire (HTTP
 * bodies, worker reports, control requests) is refused past the limit, never truncated. */
#ifndef SLIPWAY_BUFFER_H
#define SLIPWAY_BUFFER_H

#include <stddef.h>

struct sw_buffer {
        char *data; /* NUL-terminated once anything was appended; NULL before */
        size_t len;
        size_t capacity;
};

/* Append n bytes. -EFBIG (nothing appended) when len would pass max; -ENOMEM. */
int sw_buffer_append(struct sw_buffer *buffer, const void *data, size_t n, size_t max);
void sw_buffer_release(struct sw_buffer *buffer);

#endif
