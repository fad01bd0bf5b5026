/* Strict HTTP/1.x request framing (see http_request.h). Stricter than Go's net/http on
 * purpose: whatever both accept must mean the same to both, so anything unusual (bare LF,
 * folded lines, duplicate framing headers, transfer codings other than chunked, both
 * Content-Length and Transfer-Encoding — request smuggling's raw material) is refused. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "slipway/http_request.h"

static bool is_token_char(unsigned char c)
{
        return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c);
}

/* Whether [s, s+len) equals word, ASCII case-insensitively. */
static bool span_equal(const char *s, size_t len, const char *word)
{
        return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* Hop-by-hop and framing headers: never forwarded, the proxy writes its own. */
static bool header_dropped(const char *name, size_t len)
{
        static const char *const dropped[] = { "host", "content-length", "transfer-encoding", "connection",
                                               "upgrade", "keep-alive", "te", "trailer", "expect" };
        for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
                if (span_equal(name, len, dropped[i]))
                        return true;
        return len >= 6 && strncasecmp(name, "proxy-", 6) == 0;
}

/* Whether the comma-separated list [v, v+len) holds token, case-insensitively. */
static bool list_has(const char *v, size_t len, const char *token)
{
        size_t i = 0;
        while (i < len) {
                while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
                        i++;
                size_t start = i;
                while (i < len && v[i] != ',')
                        i++;
                size_t end = i;
                while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
                        end--;
                if (span_equal(v + start, end - start, token))
                        return true;
        }
        return false;
}

static int parse_request_line(const char *line, size_t len, struct http_request *req, struct sw_error *err)
{
        const char *sp1 = memchr(line, ' ', len);
        if (!sp1 || sp1 == line || (size_t) (sp1 - line) >= sizeof(req->method))
                return sw_error_set(err, 400, "bad request line");
        for (const char *p = line; p < sp1; p++)
                if (*p < 'A' || *p > 'Z')
                        return sw_error_set(err, 400, "bad request method");
        memcpy(req->method, line, (size_t) (sp1 - line));
        req->method[sp1 - line] = '\0';
        const char *target = sp1 + 1;
        const char *sp2 = memchr(target, ' ', len - (size_t) (target - line));
        if (!sp2)
                return sw_error_set(err, 400, "bad request line");
        const char *version = sp2 + 1;
        size_t version_len = len - (size_t) (version - line);
        if (version_len != 8 || memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1'))
                return sw_error_set(err, 400, "unsupported HTTP version");
        req->minor_version = version[7] - '0';
        size_t target_len = (size_t) (sp2 - target);
        if (target_len == 0 || target[0] != '/')
                return sw_error_set(err, 400, "request target must be an absolute path");
        for (size_t i = 0; i < target_len; i++) {
                unsigned char c = (unsigned char) target[i];
                if (c <= 0x20 || c >= 0x7f || c == '#')
                        return sw_error_set(err, 400, "bad character in request target");
        }
        const char *q = memchr(target, '?', target_len);
        size_t path_len = q ? (size_t) (q - target) : target_len;
        size_t query_len = q ? target_len - path_len - 1 : 0;
        if (path_len >= sizeof(req->path) || query_len >= sizeof(req->query))
                return sw_error_set(err, 414, "request target too long");
        memcpy(req->path, target, path_len);
        req->path[path_len] = '\0';
        if (q)
                memcpy(req->query, q + 1, query_len);
        req->query[query_len] = '\0';
        return 0;
}

static int parse_content_length(const char *v, size_t len, int64_t *out, struct sw_error *err)
{
        if (len == 0 || len > 18)
                return sw_error_set(err, 400, "bad Content-Length");
        int64_t n = 0;
        for (size_t i = 0; i < len; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return sw_error_set(err, 400, "bad Content-Length");
                n = n * 10 + (v[i] - '0');
        }
        *out = n;
        return 0;
}

static int parse_header(const char *line, size_t len, struct http_request *req, bool *seen_length,
                        bool *seen_encoding, bool *seen_type, struct sw_error *err)
{
        if (line[0] == ' ' || line[0] == '\t')
                return sw_error_set(err, 400, "folded header lines are not accepted");
        const char *colon = memchr(line, ':', len);
        if (!colon || colon == line)
                return sw_error_set(err, 400, "bad header line");
        size_t name_len = (size_t) (colon - line);
        for (size_t i = 0; i < name_len; i++)
                if (!is_token_char((unsigned char) line[i]))
                        return sw_error_set(err, 400, "bad header name");
        const char *v = colon + 1;
        size_t vlen = len - name_len - 1;
        for (size_t i = 0; i < vlen; i++) {
                unsigned char c = (unsigned char) v[i];
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                        return sw_error_set(err, 400, "bad character in header value");
        }
        while (vlen && (*v == ' ' || *v == '\t'))
                v++, vlen--;
        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;

        if (span_equal(line, name_len, "content-length")) {
                if (*seen_length)
                        return sw_error_set(err, 400, "more than one Content-Length");
                *seen_length = true;
                return parse_content_length(v, vlen, &req->content_length, err);
        }
        if (span_equal(line, name_len, "transfer-encoding")) {
                if (*seen_encoding)
                        return sw_error_set(err, 400, "more than one Transfer-Encoding");
                *seen_encoding = true;
                if (!span_equal(v, vlen, "chunked"))
                        return sw_error_set(err, 501, "unsupported Transfer-Encoding (only chunked is accepted)");
                req->chunked = true;
                return 0;
        }
        if (span_equal(line, name_len, "upgrade")) {
                if (list_has(v, vlen, "tcp"))
                        req->upgrade_tcp = true;
                return 0;
        }
        if (span_equal(line, name_len, "content-type")) {
                /* Go's ParseForm reads a urlencoded body into the same values as the query:
                 * a second query the proxy would not see. */
                if (*seen_type)
                        return sw_error_set(err, 400, "more than one Content-Type");
                *seen_type = true;
                if (vlen >= sizeof(req->content_type))
                        return sw_error_set(err, 400, "Content-Type too long");
                memcpy(req->content_type, v, vlen);
                req->content_type[vlen] = '\0';
        }
        if (header_dropped(line, name_len))
                return 0;
        if (req->forward_len + name_len + vlen + 4 >= sizeof(req->forward))
                return sw_error_set(err, 431, "request headers too large");
        char *out = req->forward + req->forward_len;
        memcpy(out, line, name_len);
        out += name_len;
        memcpy(out, ": ", 2);
        out += 2;
        memcpy(out, v, vlen);
        out += vlen;
        memcpy(out, "\r\n", 2);
        req->forward_len += name_len + vlen + 4;
        req->forward[req->forward_len] = '\0';
        return 0;
}

int http_request_parse_head(const char *buf, size_t len, struct http_request *req, struct sw_error *err)
{
        size_t limit = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;
        const char *end = NULL;
        for (size_t i = 0; i + 3 < limit; i++)
                if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
                        end = buf + i;
                        break;
                }
        if (!end) {
                if (len >= HTTP_HEAD_MAX)
                        return sw_error_set(err, 431, "request head larger than %d bytes", HTTP_HEAD_MAX);
                /* A bare LF or CR, or a NUL, already seen is fatal whatever follows. */
                for (size_t i = 0; i < len; i++)
                        if (buf[i] == '\0' || (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')) ||
                            (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n'))
                                return sw_error_set(err, 400, "bad line ending in request head");
                return 0;
        }
        memset(req, 0, sizeof(*req));
        req->content_length = -1;
        bool seen_length = false, seen_encoding = false, seen_type = false;
        const char *p = buf;
        size_t headers = 0;
        bool first = true;
        while (p < end + 2) {
                const char *eol = NULL;
                for (const char *q = p; q < end + 2; q++) {
                        if (*q == '\0')
                                return sw_error_set(err, 400, "NUL byte in request head");
                        if (*q == '\r') {
                                if (q[1] != '\n')
                                        return sw_error_set(err, 400, "bad line ending in request head");
                                eol = q;
                                break;
                        }
                        if (*q == '\n')
                                return sw_error_set(err, 400, "bad line ending in request head");
                }
                if (!eol)
                        break;
                size_t line_len = (size_t) (eol - p);
                int r;
                if (first) {
                        r = parse_request_line(p, line_len, req, err);
                        first = false;
                } else {
                        if (++headers > HTTP_HEADERS_MAX)
                                return sw_error_set(err, 431, "more than %d request headers", HTTP_HEADERS_MAX);
                        r = parse_header(p, line_len, req, &seen_length, &seen_encoding, &seen_type, err);
                }
                if (r < 0)
                        return r;
                p = eol + 2;
        }
        if (first)
                return sw_error_set(err, 400, "empty request");
        if (req->chunked && seen_length)
                return sw_error_set(err, 400, "both Content-Length and Transfer-Encoding");
        if (req->chunked && req->minor_version == 0)
                return sw_error_set(err, 400, "chunked encoding in an HTTP/1.0 request");
        return (int) (end - buf) + 4;
}

enum { CHUNK_SIZE, CHUNK_EXT, CHUNK_SIZE_LF, CHUNK_DATA, CHUNK_DATA_CR, CHUNK_DATA_LF, CHUNK_TRAILER,
       CHUNK_TRAILER_LF, CHUNK_TRAILER_LINE };

#define CHUNK_LINE_MAX 4096

int http_chunked_decode(struct http_chunked *c, const char *in, size_t in_len, size_t *consumed,
                        char *out, size_t out_size, size_t *produced, struct sw_error *err)
{
        size_t i = 0, o = 0;
        while (i < in_len && !c->done) {
                unsigned char ch = (unsigned char) in[i];
                switch (c->state) {
                case CHUNK_SIZE:
                        if (isxdigit(ch)) {
                                if (c->line_len >= 15)
                                        return sw_error_set(err, 400, "chunk size too large");
                                c->remaining = c->remaining * 16 +
                                               (uint64_t) (isdigit(ch) ? ch - '0' : (tolower(ch) - 'a' + 10));
                                c->line_len++;
                        } else if (c->line_len > 0 && ch == ';') {
                                c->state = CHUNK_EXT;
                        } else if (c->line_len > 0 && ch == '\r') {
                                c->state = CHUNK_SIZE_LF;
                        } else {
                                return sw_error_set(err, 400, "bad chunk size line");
                        }
                        i++;
                        break;
                case CHUNK_EXT:
                        /* Extensions are ignored, as Go does; their line is bounded. */
                        if (ch == '\r')
                                c->state = CHUNK_SIZE_LF;
                        else if (ch == '\n' || ch == '\0' || ++c->line_len > CHUNK_LINE_MAX)
                                return sw_error_set(err, 400, "bad chunk extension");
                        i++;
                        break;
                case CHUNK_SIZE_LF:
                        if (ch != '\n')
                                return sw_error_set(err, 400, "bad chunk size line ending");
                        i++;
                        c->line_len = 0;
                        c->state = c->remaining ? CHUNK_DATA : CHUNK_TRAILER;
                        break;
                case CHUNK_DATA: {
                        if (o == out_size)
                                goto out;
                        size_t n = in_len - i;
                        if (n > c->remaining)
                                n = (size_t) c->remaining;
                        if (n > out_size - o)
                                n = out_size - o;
                        memcpy(out + o, in + i, n);
                        i += n;
                        o += n;
                        c->remaining -= n;
                        if (c->remaining == 0)
                                c->state = CHUNK_DATA_CR;
                        break;
                }
                case CHUNK_DATA_CR:
                        if (ch != '\r')
                                return sw_error_set(err, 400, "chunk data longer than its size");
                        i++;
                        c->state = CHUNK_DATA_LF;
                        break;
                case CHUNK_DATA_LF:
                        if (ch != '\n')
                                return sw_error_set(err, 400, "bad chunk ending");
                        i++;
                        c->state = CHUNK_SIZE;
                        c->line_len = 0;
                        break;
                case CHUNK_TRAILER:
                        /* After the last chunk: an empty line, or trailer lines (ignored). */
                        if (ch == '\r') {
                                c->state = CHUNK_TRAILER_LF;
                        } else if (ch == '\n' || ch == '\0') {
                                return sw_error_set(err, 400, "bad chunked trailer");
                        } else {
                                c->state = CHUNK_TRAILER_LINE;
                                c->line_len = 1;
                        }
                        i++;
                        break;
                case CHUNK_TRAILER_LINE:
                        if (ch == '\r') {
                                c->state = CHUNK_TRAILER_LF;
                                c->line_len = 1; /* a trailer line ends; not the final one */
                        } else if (ch == '\n' || ch == '\0' || ++c->line_len > CHUNK_LINE_MAX) {
                                return sw_error_set(err, 400, "bad chunked trailer");
                        }
                        i++;
                        break;
                case CHUNK_TRAILER_LF:
                        if (ch != '\n')
                                return sw_error_set(err, 400, "bad chunked trailer");
                        i++;
                        if (c->line_len == 0) {
                                c->done = true;
                        } else {
                                c->state = CHUNK_TRAILER;
                                c->line_len = 0;
                        }
                        break;
                default:
                        return sw_error_set(err, 400, "chunked decoder in a bad state");
                }
        }
out:
        *consumed = i;
        *produced = o;
        return c->done ? 1 : 0;
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

char *http_unescape(const char *src, size_t len, bool plus)
{
        char *out = malloc(len + 1);
        if (!out)
                return NULL;
        size_t o = 0;
        for (size_t i = 0; i < len; i++) {
                if (src[i] == '%') {
                        int hi = i + 1 < len ? hex_value(src[i + 1]) : -1;
                        int lo = i + 2 < len ? hex_value(src[i + 2]) : -1;
                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                                free(out);
                                errno = EINVAL;
                                return NULL;
                        }
                        out[o++] = (char) (hi * 16 + lo);
                        i += 2;
                } else if (plus && src[i] == '+') {
                        out[o++] = ' ';
                } else {
                        out[o++] = src[i];
                }
        }
        out[o] = '\0';
        return out;
}

void http_query_free(struct http_query *q)
{
        for (size_t i = 0; i < q->count; i++) {
                free(q->params[i].name);
                free(q->params[i].value);
        }
        free(q->params);
        q->params = NULL;
        q->count = 0;
}

int http_query_parse(const char *query, struct http_query *q, struct sw_error *err)
{
        q->params = NULL;
        q->count = 0;
        /* Go before 1.17 split on ';' too; later ones refuse the whole query. Neither is safe to
         * guess: refuse it here. */
        if (strchr(query, ';'))
                return sw_error_set(err, 400, "';' in the query string");
        size_t cap = 0;
        const char *p = query;
        while (*p) {
                const char *amp = strchr(p, '&');
                size_t len = amp ? (size_t) (amp - p) : strlen(p);
                if (len > 0) {
                        const char *eq = memchr(p, '=', len);
                        size_t name_len = eq ? (size_t) (eq - p) : len;
                        if (q->count == cap) {
                                cap = cap ? cap * 2 : 8;
                                if (cap > 4096) {
                                        http_query_free(q);
                                        return sw_error_set(err, 400, "too many query parameters");
                                }
                                struct http_query_param *grown = realloc(q->params, cap * sizeof(*grown));
                                if (!grown) {
                                        http_query_free(q);
                                        return sw_error_set(err, 500, "out of memory");
                                }
                                q->params = grown;
                        }
                        char *name = http_unescape(p, name_len, true);
                        char *value = eq ? http_unescape(eq + 1, len - name_len - 1, true) : strdup("");
                        if (!name || !value) {
                                free(name);
                                free(value);
                                http_query_free(q);
                                return sw_error_set(err, 400, "bad escape in the query string");
                        }
                        q->params[q->count].name = name;
                        q->params[q->count].value = value;
                        q->count++;
                }
                if (!amp)
                        break;
                p = amp + 1;
        }
        return 0;
}

size_t http_query_get(const struct http_query *q, const char *name, const char **value)
{
        size_t n = 0;
        if (value)
                *value = NULL;
        for (size_t i = 0; i < q->count; i++)
                if (strcmp(q->params[i].name, name) == 0) {
                        if (n == 0 && value)
                                *value = q->params[i].value;
                        n++;
                }
        return n;
}
