/* Shared by the libFuzzer harnesses in tests/fuzz/ (built by `make fuzz-build`, run by
 * `make fuzz`). Each harness feeds one parser of untrusted input the fuzzer's bytes exactly as
 * they come (libFuzzer hands over a heap copy of exactly size bytes, so ASan sees any read past
 * the end), and checks the promises the parser's header makes about its output. A broken promise
 * aborts, which libFuzzer reports as a crash with the input that caused it. */
#ifndef SLIPWAY_FUZZ_H
#define SLIPWAY_FUZZ_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise: say which, then abort so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                                         \
        do {                                                                                     \
                if (!(cond)) {                                                                   \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
                        abort();                                                                 \
                }                                                                                \
        } while (0)

/* The input as a C string (it ends at the first NUL byte, as it would coming from the wire
 * through a C API). Exactly size + 1 bytes on the heap, so an overread is still caught. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
        char *text = malloc(size + 1);
        if (!text)
                abort();
        if (size)
                memcpy(text, data, size);
        text[size] = '\0';
        return text;
}

/* Split text in place at NUL-separated fields: fields[i] points into text, missing ones are
 * NULL. For harnesses that need several independent strings from one input. */
static inline void fuzz_fields(char *text, size_t size, char **fields, size_t count)
{
        char *p = text, *end = text + size;
        for (size_t i = 0; i < count; i++) {
                if (p > end) {
                        fields[i] = NULL;
                        continue;
                }
                fields[i] = p;
                p += strlen(p) + 1;
        }
}

/* Whether s is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
static inline bool fuzz_utf8_valid(const char *s)
{
        const unsigned char *p = (const unsigned char *) s;
        while (*p) {
                unsigned char c = *p;
                size_t len;
                uint32_t min, v;
                if (c < 0x80) {
                        p++;
                        continue;
                } else if ((c & 0xe0) == 0xc0) {
                        len = 2, min = 0x80, v = c & 0x1f;
                } else if ((c & 0xf0) == 0xe0) {
                        len = 3, min = 0x800, v = c & 0x0f;
                } else if ((c & 0xf8) == 0xf0) {
                        len = 4, min = 0x10000, v = c & 0x07;
                } else {
                        return false;
                }
                for (size_t i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        v = (v << 6) | (p[i] & 0x3f);
                }
                if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                        return false;
                p += len;
        }
        return true;
}

#endif
