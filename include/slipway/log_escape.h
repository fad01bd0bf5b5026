/* Escaping text a build controls (paths, names, daemons' output) before it reaches a log or
 * an operator's terminal: a newline in it must not forge a log line, an escape sequence must
 * not act on the terminal. libc only: slipway-init links it too.
 *
 * Escaped: bytes below 0x20, 0x7f, C1 controls encoded in UTF-8 (U+0080..U+009F, 0xc2 0x80..
 * 0x9f: some terminals honour them) and every byte that is not part of well-formed UTF-8
 * (a lone 0x9b is CSI to a terminal in an 8-bit mode). Printable ASCII and well-formed UTF-8
 * otherwise ("é", "✓") are left alone. An escaped byte becomes \xNN, lower-case hex. */
#ifndef SLIPWAY_LOG_ESCAPE_H
#define SLIPWAY_LOG_ESCAPE_H

#include <stddef.h>

/* An out size that always holds the escape of len bytes (\xNN is 4 bytes per byte) and its
 * NUL; callers make sure it does not overflow. */
#define LOG_ESCAPE_SIZE(len) (4 * (len) + 1)

/* For one log line: also '\n' and '\t' (as \n and \t) and backslash (as \\), so an escape in
 * the log reads back unambiguously. Writes at most size bytes to out, always NUL-terminated
 * when size > 0, never cutting an escape or a character in two. Returns how many bytes of in
 * were escaped: len, or fewer when out was too small. out holds no NUL before its end (a NUL
 * in in is escaped), so its length is strlen(out). */
size_t log_escape(const char *in, size_t len, char *out, size_t size);

/* For text shown on a terminal, several lines of it: the same, but '\n' and '\t' are kept
 * and backslash is left alone (daemons' logs hold JSON and paths full of them). */
size_t log_escape_terminal(const char *in, size_t len, char *out, size_t size);

/* How many of the last bytes of in (0 to 3) begin a well-formed UTF-8 character that is not
 * complete yet: a stream cut at an arbitrary byte keeps them for the next piece rather than
 * escape a character's halves. */
size_t log_escape_incomplete(const char *in, size_t len);

#endif
