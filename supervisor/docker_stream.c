/* Docker's multiplexed stream: see docker_stream_demux in include/slipway/docker.h. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "slipway/docker.h"

void docker_stream_demux_init(struct docker_stream_demux *demux)
{
        memset(demux, 0, sizeof(*demux));
}

int docker_stream_demux_feed(struct docker_stream_demux *demux, const char *data, size_t len,
                             docker_stream_sink sink, void *user)
{
        while (len > 0) {
                if (demux->payload_left == 0) {
                        size_t take = sizeof(demux->header) - demux->header_have;
                        if (take > len)
                                take = len;
                        memcpy(demux->header + demux->header_have, data, take);
                        demux->header_have += take;
                        data += take;
                        len -= take;
                        if (demux->header_have < sizeof(demux->header))
                                return 0;
                        const unsigned char *h = demux->header;
                        if (h[0] > 2 || h[1] || h[2] || h[3])
                                return -EPROTO;
                        demux->stream = h[0];
                        demux->payload_left = (size_t) h[4] << 24 | (size_t) h[5] << 16 |
                                              (size_t) h[6] << 8 | (size_t) h[7];
                        demux->header_have = 0;
                        continue;
                }
                size_t take = demux->payload_left < len ? demux->payload_left : len;
                int r = sink(user, demux->stream, data, take);
                if (r < 0)
                        return r;
                demux->payload_left -= take;
                data += take;
                len -= take;
        }
        return 0;
}
