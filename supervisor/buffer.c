/* Bounded byte buffers: see include/slipway/buffer.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/buffer.h"

int sw_buffer_append(struct sw_buffer *buffer, const void *data, size_t n, size_t max)
{
        if (n > max || buffer->len > max - n)
                return -EFBIG;
        if (buffer->len + n + 1 > buffer->capacity) {
                size_t capacity = buffer->capacity ? buffer->capacity : 4096;
                while (capacity < buffer->len + n + 1)
                        capacity *= 2;
                char *grown = realloc(buffer->data, capacity);
                if (!grown)
                        return -ENOMEM;
                buffer->data = grown;
                buffer->capacity = capacity;
        }
        memcpy(buffer->data + buffer->len, data, n);
        buffer->len += n;
        buffer->data[buffer->len] = '\0';
        return 0;
}

void sw_buffer_release(struct sw_buffer *buffer)
{
        free(buffer->data);
        *buffer = (struct sw_buffer){ 0 };
}
