/* config_parse: slipway.conf text.
 *
 * config_parse reads the files the config names (the token or password file, the agent's public
 * key, templates' authorized keys) once everything else is valid. The fuzzer must not read real
 * files: on a build host a lucky path could be a real secret, and opening a device node can have
 * side effects. So the value of every token-file, password-file, agent-public-key and
 * authorized-keys line is replaced, before parsing, by a path that cannot exist; the keys
 * themselves stay, so parsing, validation and defaults run in full and the run ends where the
 * file would be read (ENOENT). A successful parse therefore means a path slipped through (every
 * valid file reads one: the Jenkins key, or standalone, each template's keys): that aborts.
 * Nothing is ever written. */
#include <ctype.h>

#include "fuzz.h"
#include "slipway/config.h"

#define NO_SUCH_FILE "/nonexistent/slipway-fuzz"

static const char *const file_keys[] = { "token-file", "password-file", "agent-public-key",
                                         "authorized-keys" };

/* Whether the line (n bytes, no newline) is "KEY = value" or "KEY: value" for one of file_keys,
 * as inih reads it: the key is what precedes the first '=' or ':', whitespace trimmed (inih
 * skips a UTF-8 BOM on the first line). *value_at gets the offset just past the delimiter. */
static bool file_key_line(const char *line, size_t n, bool first, size_t *value_at)
{
        size_t start = 0;
        if (first && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
                start = 3;
        while (start < n && isspace((unsigned char) line[start]))
                start++;
        size_t delimiter = start;
        while (delimiter < n && line[delimiter] != '=' && line[delimiter] != ':')
                delimiter++;
        if (delimiter == n)
                return false;
        size_t key_end = delimiter;
        while (key_end > start && isspace((unsigned char) line[key_end - 1]))
                key_end--;
        for (size_t i = 0; i < sizeof(file_keys) / sizeof(file_keys[0]); i++) {
                size_t len = strlen(file_keys[i]);
                if (key_end - start == len && memcmp(line + start, file_keys[i], len) == 0) {
                        *value_at = delimiter + 1;
                        return true;
                }
        }
        return false;
}

/* The text with the file keys' values replaced; *out_len its length. */
static char *neutralize(const uint8_t *data, size_t size, size_t *out_len)
{
        /* Each line grows by at most the replacement. */
        size_t lines = 1;
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n';
        char *out = malloc(size + lines * (sizeof(NO_SUCH_FILE) + 1) + 1);
        if (!out)
                abort();
        const char *text = (const char *) data;
        size_t o = 0, pos = 0;
        bool first = true;
        while (pos < size) {
                const char *newline = memchr(text + pos, '\n', size - pos);
                size_t n = newline ? (size_t) (newline - (text + pos)) : size - pos;
                size_t value_at;
                if (file_key_line(text + pos, n, first, &value_at)) {
                        memcpy(out + o, text + pos, value_at);
                        o += value_at;
                        memcpy(out + o, " " NO_SUCH_FILE, sizeof(NO_SUCH_FILE));
                        o += sizeof(NO_SUCH_FILE);
                } else {
                        memcpy(out + o, text + pos, n);
                        o += n;
                }
                pos += n;
                if (newline) {
                        out[o++] = '\n';
                        pos++;
                }
                first = false;
        }
        out[o] = '\0';
        *out_len = o;
        return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        size_t len = size;
        /* A NUL byte is refused before anything else: no need (and no way) to rewrite lines. */
        char *text = memchr(data, '\0', size) ? fuzz_string(data, size) : neutralize(data, size, &len);
        /* Exactly len bytes, not NUL-terminated: config_parse must stay within them. */
        char *exact = malloc(len ? len : 1);
        if (!exact)
                abort();
        memcpy(exact, text, len);
        free(text);

        struct config *config = NULL;
        struct sw_error err = { 0 };
        int r = config_parse("fuzz.conf", exact, len, &config, &err);
        if (getenv("FUZZ_VERBOSE")) /* how far an input gets: run the binary on a file */
                fprintf(stderr, "%s\n", err.message);
        FUZZ_CHECK(r < 0); /* else a secret or key file was read: see above */
        FUZZ_CHECK(config == NULL);
        FUZZ_CHECK(err.code > 0 && err.code == -r);
        FUZZ_CHECK(strlen(err.message) > 0 && strlen(err.message) < SW_ERROR_MAX);
        FUZZ_CHECK(strncmp(err.message, "fuzz.conf", 9) == 0);
        free(exact);
        return 0;
}
