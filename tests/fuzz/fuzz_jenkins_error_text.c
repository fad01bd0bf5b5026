/* jenkins_error_text: Jenkins' words from an error response (X-Error header, HTML error page,
 * JSON or plain text). The input's first byte picks the output buffer size (1-256 bytes) and
 * whether an X-Error header comes first: then the header is the text up to the first newline
 * (headers never hold one) and the body is the rest. The result must be what the header
 * promises: within the buffer and 200 bytes, valid UTF-8, no control characters, single spaces,
 * trimmed. */
#include "fuzz.h"
#include "slipway/jenkins.h"

#define ERROR_TEXT_MAX 200

static void check_text(const char *out, size_t size)
{
        size_t len = strlen(out);
        FUZZ_CHECK(len < size && len <= ERROR_TEXT_MAX);
        FUZZ_CHECK(fuzz_utf8_valid(out));
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) out[i];
                FUZZ_CHECK(c >= 0x20 && c != 0x7f);
                /* C1 controls (U+0080-U+009F: 0xC2 0x80-0x9F) are controls too. */
                FUZZ_CHECK(!(c == 0xc2 && i + 1 < len && (unsigned char) out[i + 1] <= 0x9f));
                FUZZ_CHECK(!(c == ' ' && out[i + 1] == ' '));
        }
        FUZZ_CHECK(len == 0 || (out[0] != ' ' && out[len - 1] != ' '));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        size_t out_size = (size_t) (data[0] & 0x7f) + 1;
        if (out_size == 128)
                out_size = 256; /* the size callers use */
        bool with_header = data[0] & 0x80;
        data++;
        size--;

        char *x_error = NULL;
        if (with_header) {
                const uint8_t *newline = memchr(data, '\n', size);
                size_t header_len = newline ? (size_t) (newline - data) : size;
                x_error = fuzz_string(data, header_len);
                data += newline ? header_len + 1 : header_len;
                size -= newline ? header_len + 1 : header_len;
        }
        /* Exactly size bytes of body (libFuzzer's own buffer), NULL when empty. */
        const char *body = size ? (const char *) data : NULL;

        char *out = malloc(out_size);
        if (!out)
                abort();
        jenkins_error_text(x_error, body, size, out, out_size);
        check_text(out, out_size);
        free(out);
        free(x_error);
        return 0;
}
