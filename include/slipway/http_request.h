/* HTTP/1.x request framing for the inner Docker policy proxy (slipway-init): the request line,
 * the headers and the body's framing (Content-Length or chunked), parsed strictly. Pure: no
 * I/O, so it is unit-tested and fuzzed. Anything it cannot parse with certainty is an error
 * whose code is the HTTP status to answer (400, 413, 501): the proxy fails closed, since a
 * request the proxy reads one way and dockerd another is how authorization is bypassed. */
#ifndef SLIPWAY_HTTP_REQUEST_H
#define SLIPWAY_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slipway/error.h"

#define HTTP_HEAD_MAX (64 * 1024)       /* request line + headers */
#define HTTP_HEADERS_MAX 100
#define HTTP_JSON_BODY_MAX (4 * 1024 * 1024) /* a JSON body the policy reads whole */

struct http_request {
        char method[16];
        char path[4096];  /* the target up to '?', as sent (not decoded) */
        char query[8192]; /* after '?', as sent; "" when none */
        int minor_version; /* HTTP/1.<minor> */
        bool chunked;      /* Transfer-Encoding: chunked */
        int64_t content_length; /* -1 when no Content-Length (and not chunked: no body) */
        bool upgrade_tcp;  /* Upgrade: tcp (docker attach / exec start) */
        char content_type[256]; /* "" when none */
        /* Every end-to-end header line ("Name: value\r\n"), in order, for the upstream request;
         * framing and hop-by-hop headers (Host, Content-Length, Transfer-Encoding, Connection,
         * Upgrade, Keep-Alive, TE, Trailer, Proxy-*) are left out: the proxy writes its own. */
        char forward[HTTP_HEAD_MAX];
        size_t forward_len;
};

/* Parse the head at the start of buf (len bytes). Returns the head's length (through the empty
 * line) when complete, 0 when more bytes are needed (and len < HTTP_HEAD_MAX), or a negative
 * value with err->code the HTTP status to answer. */
int http_request_parse_head(const char *buf, size_t len, struct http_request *req, struct sw_error *err);

/* A chunked body decoder, fed any split of the bytes. */
struct http_chunked {
        int state;
        uint64_t remaining; /* bytes left in the current chunk */
        unsigned line_len;  /* bytes of the current size or trailer line, bounded */
        bool done;
};

/* Decode up to in_len bytes of chunked framing into out (out_size bytes). Sets *consumed and
 * *produced. Returns 1 when the final chunk and trailers have been read (bytes after it are
 * not consumed), 0 when more input is needed, negative (err->code 400) on bad framing. */
int http_chunked_decode(struct http_chunked *c, const char *in, size_t in_len, size_t *consumed,
                        char *out, size_t out_size, size_t *produced, struct sw_error *err);

/* Query strings as Go's url.ParseQuery reads them ('&'-separated, percent-decoded, '+' is a
 * space). A ';' anywhere or a bad escape is an error (err->code 400). */
struct http_query_param {
        char *name;
        char *value;
};
struct http_query {
        struct http_query_param *params;
        size_t count;
};
int http_query_parse(const char *query, struct http_query *q, struct sw_error *err);
void http_query_free(struct http_query *q);
/* How many times name occurs; *value gets the first one's value (or NULL). */
size_t http_query_get(const struct http_query *q, const char *name, const char **value);

/* Percent-decode src (and '+' as a space when plus is true) into a new string. NULL (errno
 * EINVAL) on a bad escape or an escaped NUL. */
char *http_unescape(const char *src, size_t len, bool plus);

#endif
