/* docker_stream_demux_feed: Docker's multiplexed stdout/stderr stream (container logs, exec
 * output), which arrives in whatever pieces the socket gives. The first two bytes of the input
 * seed the chunk sizes (1 to 64 bytes, some to 4 KiB); the rest is the stream. It is fed in those
 * chunks and again in one piece: both must give the same bytes on each stream and the same
 * verdict, and every payload piece must be non-empty, on stream 0-2, and inside what was fed. */
#include "fuzz.h"
#include "slipway/docker.h"

struct capture {
        char *bytes[3];
        size_t len[3];
        const char *fed;      /* the chunk being fed */
        size_t fed_len;
};

static int sink(void *user, int stream, const char *data, size_t len)
{
        struct capture *c = user;
        FUZZ_CHECK(stream >= 0 && stream <= 2);
        FUZZ_CHECK(len > 0);
        FUZZ_CHECK(data >= c->fed && data + len <= c->fed + c->fed_len);
        char *grown = realloc(c->bytes[stream], c->len[stream] + len);
        if (!grown)
                abort();
        memcpy(grown + c->len[stream], data, len);
        c->bytes[stream] = grown;
        c->len[stream] += len;
        return 0;
}

/* Feed one chunk from its own exactly-sized heap copy, so ASan sees a read past its end. */
static int feed(struct docker_stream_demux *demux, struct capture *c, const uint8_t *data, size_t len)
{
        char *chunk = malloc(len ? len : 1);
        if (!chunk)
                abort();
        memcpy(chunk, data, len);
        c->fed = chunk;
        c->fed_len = len;
        int r = docker_stream_demux_feed(demux, chunk, len, sink, c);
        free(chunk);
        return r;
}

static void release(struct capture *c)
{
        for (int i = 0; i < 3; i++)
                free(c->bytes[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        uint32_t state = ((uint32_t) data[0] << 8 | data[1]) * 2654435761u + 1;
        data += 2;
        size -= 2;

        struct docker_stream_demux demux;
        struct capture chunked = { 0 };
        docker_stream_demux_init(&demux);
        int r_chunked = 0;
        for (size_t pos = 0; pos < size && r_chunked == 0;) {
                state ^= state << 13, state ^= state >> 17, state ^= state << 5; /* xorshift32 */
                size_t len = (state & 0x100) ? 1 + (state >> 20) % 4096 : 1 + (state >> 24) % 64;
                if (len > size - pos)
                        len = size - pos;
                r_chunked = feed(&demux, &chunked, data + pos, len);
                pos += len;
        }

        struct capture whole = { 0 };
        docker_stream_demux_init(&demux);
        int r_whole = feed(&demux, &whole, data, size);

        FUZZ_CHECK(r_chunked == 0 || r_chunked == -EPROTO);
        FUZZ_CHECK(r_chunked == r_whole);
        for (int i = 0; i < 3; i++) {
                FUZZ_CHECK(chunked.len[i] == whole.len[i]);
                FUZZ_CHECK(chunked.len[i] == 0 || memcmp(chunked.bytes[i], whole.bytes[i], whole.len[i]) == 0);
        }
        release(&chunked);
        release(&whole);
        return 0;
}
