/* Escaping text a build controls for logs and terminals: see include/slipway/log_escape.h. */
#include <stdbool.h>
#include <string.h>

#include "slipway/log_escape.h"

/* The length of the well-formed UTF-8 character at s (Unicode table 3-7: no overlong forms,
 * which some decoders would still turn into C1 controls, no surrogates, nothing past
 * U+10FFFF), or 0 when there is none; *incomplete tells that the len bytes there are the
 * beginning of one. */
static size_t utf8_character(const unsigned char *s, size_t len, bool *incomplete)
{
        *incomplete = false;
        size_t need;
        unsigned char low = 0x80, high = 0xbf; /* the second byte's range, the others' too */
        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                need = 2;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                need = 3;
                if (s[0] == 0xe0)
                        low = 0xa0;
                else if (s[0] == 0xed)
                        high = 0x9f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                need = 4;
                if (s[0] == 0xf0)
                        low = 0x90;
                else if (s[0] == 0xf4)
                        high = 0x8f;
        } else {
                return 0;
        }
        for (size_t i = 1; i < need; i++) {
                if (i == len) {
                        *incomplete = true;
                        return 0;
                }
                if (s[i] < (i == 1 ? low : 0x80) || s[i] > (i == 1 ? high : 0xbf))
                        return 0;
        }
        return need;
}

static size_t hex_escape(char *unit, const unsigned char *bytes, size_t count)
{
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < count; i++) {
                unit[4 * i] = '\\';
                unit[4 * i + 1] = 'x';
                unit[4 * i + 2] = digits[bytes[i] >> 4];
                unit[4 * i + 3] = digits[bytes[i] & 0xf];
        }
        return 4 * count;
}

static size_t escape(const char *in, size_t len, char *out, size_t size, bool keep_layout)
{
        if (size == 0)
                return 0;
        const unsigned char *s = (const unsigned char *) in;
        size_t done = 0, used = 0;
        while (done < len) {
                char unit[8];
                size_t unit_len, take;
                bool incomplete;
                size_t character = utf8_character(s + done, len - done, &incomplete);
                unsigned char c = s[done];
                if (character == 0) {
                        /* Not UTF-8, or cut short: byte by byte, as no decoder may read it. */
                        take = 1;
                        unit_len = hex_escape(unit, s + done, 1);
                } else if (character == 2 && c == 0xc2 && s[done + 1] <= 0x9f) {
                        take = 2;
                        unit_len = hex_escape(unit, s + done, 2);
                } else if (character > 1) {
                        take = character;
                        unit_len = character;
                        memcpy(unit, s + done, character);
                } else if ((c == '\n' || c == '\t') && keep_layout) {
                        take = unit_len = 1;
                        unit[0] = (char) c;
                } else if (c == '\n' || c == '\t' || (c == '\\' && !keep_layout)) {
                        take = 1;
                        unit_len = 2;
                        unit[0] = '\\';
                        unit[1] = c == '\n' ? 'n' : c == '\t' ? 't' : '\\';
                } else if (c < 0x20 || c == 0x7f) {
                        take = 1;
                        unit_len = hex_escape(unit, s + done, 1);
                } else {
                        take = unit_len = 1;
                        unit[0] = (char) c;
                }
                if (unit_len >= size - used)
                        break; /* and its NUL would not fit */
                memcpy(out + used, unit, unit_len);
                used += unit_len;
                done += take;
        }
        out[used] = '\0';
        return done;
}

size_t log_escape(const char *in, size_t len, char *out, size_t size)
{
        return escape(in, len, out, size, false);
}

size_t log_escape_terminal(const char *in, size_t len, char *out, size_t size)
{
        return escape(in, len, out, size, true);
}

size_t log_escape_incomplete(const char *in, size_t len)
{
        const unsigned char *s = (const unsigned char *) in;
        for (size_t kept = len < 3 ? len : 3; kept > 0; kept--) {
                bool incomplete;
                if (utf8_character(s + len - kept, kept, &incomplete) == 0 && incomplete)
                        return kept;
        }
        return 0;
}
