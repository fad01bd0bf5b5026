/* The Jenkins client's pure functions: node names, the doCreateItem `json` field, error texts
 * from responses, and the decoders of /computer and /queue. They all read untrusted bytes (or
 * build what Jenkins will read) and are fuzzed: every length is bounded, every type checked. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "slipway/cleanup.h"
#include "slipway/jenkins.h"

#define ERROR_TEXT_MAX 200   /* bytes of Jenkins' words in a message */
#define HOST_KEY_B64_MAX 8192 /* an RSA-16384 key is ~2.8 KiB of base64 */

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid (overlong forms,
 * surrogates and code points past U+10FFFF are invalid); *cp gets the code point. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
        if (n == 0)
                return 0;
        unsigned char c = s[0];
        if (c < 0x80) {
                *cp = c;
                return 1;
        }
        size_t len;
        uint32_t min, v;
        if ((c & 0xe0) == 0xc0) {
                len = 2, min = 0x80, v = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
                len = 3, min = 0x800, v = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
                len = 4, min = 0x10000, v = c & 0x07;
        } else {
                return 0;
        }
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                v = (v << 6) | (s[i] & 0x3f);
        }
        if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
                return 0;
        *cp = v;
        return len;
}

/* Java's Character.isISOControl. */
static bool iso_control(uint32_t cp)
{
        return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* The longest prefix of s (len bytes, valid UTF-8) that fits in max bytes without splitting a
 * character. */
static size_t utf8_prefix(const char *s, size_t len, size_t max)
{
        if (len <= max)
                return len;
        size_t cut = max;
        while (cut > 0 && ((unsigned char) s[cut] & 0xc0) == 0x80)
                cut--;
        return cut;
}

/* ---- node names ---- */

/* A printable rendering of a refused name for messages: control bytes and invalid UTF-8 as
 * '?', bounded. */
static void printable_name(const char *name, char *out, size_t size)
{
        size_t o = 0, n = strlen(name);
        for (size_t i = 0; i < n && o + 5 < size;) {
                uint32_t cp;
                size_t l = utf8_decode((const unsigned char *) name + i, n - i, &cp);
                if (l == 0 || iso_control(cp)) {
                        out[o++] = '?';
                        i += l ? l : 1;
                        continue;
                }
                memcpy(out + o, name + i, l);
                o += l;
                i += l;
        }
        out[o] = '\0';
}

bool jenkins_node_name_valid(const char *name, struct sw_error *err)
{
        if (!name || !*name) {
                sw_error_set(err, EINVAL, "invalid node name: empty");
                return false;
        }
        char shown[96];
        printable_name(name, shown, sizeof(shown));
        size_t len = strlen(name);
        if (len > JENKINS_NODE_NAME_MAX) {
                sw_error_set(err, EINVAL, "invalid node name \"%s...\": longer than %d bytes", shown,
                             JENKINS_NODE_NAME_MAX);
                return false;
        }
        for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t l = utf8_decode((const unsigned char *) name + i, len - i, &cp);
                if (l == 0) {
                        sw_error_set(err, EINVAL, "invalid node name \"%s\": not valid UTF-8", shown);
                        return false;
                }
                if (iso_control(cp)) {
                        sw_error_set(err, EINVAL, "invalid node name \"%s\": control character U+%04X",
                                     shown, (unsigned) cp);
                        return false;
                }
                if (cp < 0x80 && strchr("?*/\\%!@#$^&|<>[]:;", (int) cp)) {
                        sw_error_set(err, EINVAL, "invalid node name \"%s\": '%c' is an unsafe character",
                                     shown, (char) cp);
                        return false;
                }
                i += l;
        }
        /* Jenkins trims the name (String.trim: everything <= ' ', and controls are refused
         * above), then refuses "." and ".." and a trailing dot (SECURITY-2424). */
        if (name[0] == ' ' || name[len - 1] == ' ') {
                sw_error_set(err, EINVAL, "invalid node name \"%s\": leading or trailing space", shown);
                return false;
        }
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
                sw_error_set(err, EINVAL, "invalid node name \"%s\": not allowed", shown);
                return false;
        }
        if (name[len - 1] == '.') {
                sw_error_set(err, EINVAL, "invalid node name \"%s\": ends with a dot", shown);
                return false;
        }
        return true;
}

/* ---- the doCreateItem json field ---- */

static const char base64_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decode up to `want` bytes of the start of a padded base64 text (enough to read the key's
 * algorithm name). Returns the bytes decoded. The text was already checked for its alphabet. */
static size_t base64_decode_prefix(const char *text, size_t len, unsigned char *out, size_t want)
{
        size_t o = 0;
        uint32_t acc = 0;
        int bits = 0;
        for (size_t i = 0; i < len && text[i] != '=' && o < want; i++) {
                acc = (acc << 6) | (uint32_t) (strchr(base64_alphabet, text[i]) - base64_alphabet);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (unsigned char) (acc >> bits);
                }
        }
        return o;
}

/* "TYPE BASE64 [comment]" -> "TYPE BASE64". ManuallyProvidedKeyVerificationStrategy splits on
 * single spaces with a StringTokenizer (tabs would not separate) and takes the first two
 * tokens; we also check that the blob starts with its own algorithm name (SSH wire format:
 * uint32 length, name), so a mismatch fails here and not at the first launch. */
static char *normalize_host_key(const char *key, struct sw_error *err)
{
        if (!key) {
                sw_error_set(err, EINVAL, "host key: missing");
                return NULL;
        }
        const char *p = key + strspn(key, " \t");
        size_t type_len = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.+-_");
        if (type_len == 0 || type_len > 64 || (p[type_len] != ' ' && p[type_len] != '\t')) {
                sw_error_set(err, EINVAL, "host key: expected \"TYPE BASE64\" (like \"ssh-ed25519 AAAA...\")");
                return NULL;
        }
        const char *b64 = p + type_len + strspn(p + type_len, " \t");
        size_t b64_len = strspn(b64, base64_alphabet);
        size_t pad = strspn(b64 + b64_len, "=");
        const char *after = b64 + b64_len + pad;
        if (b64_len < 16 || pad > 2 || (b64_len + pad) % 4 != 0 || b64_len + pad > HOST_KEY_B64_MAX ||
            (*after && *after != ' ' && *after != '\t' && *after != '\n' && *after != '\r')) {
                sw_error_set(err, EINVAL, "host key: the second field is not a base64 key blob");
                return NULL;
        }
        unsigned char head[4 + 64];
        size_t got = base64_decode_prefix(b64, b64_len, head, 4 + type_len);
        uint32_t name_len = (uint32_t) head[0] << 24 | (uint32_t) head[1] << 16 | (uint32_t) head[2] << 8 | head[3];
        if (got < 4 + type_len || name_len != type_len || memcmp(head + 4, p, type_len) != 0) {
                sw_error_set(err, EINVAL, "host key: the key blob is not a %.*s key", (int) type_len, p);
                return NULL;
        }
        char *out = NULL;
        if (asprintf(&out, "%.*s %.*s", (int) type_len, p, (int) (b64_len + pad), b64) < 0) {
                sw_error_set(err, ENOMEM, "host key");
                return NULL;
        }
        return out;
}

static bool text_ok(const char *s, bool required, size_t max)
{
        if (!s)
                return !required;
        size_t len = strlen(s);
        if (required && len == 0)
                return false;
        if (len > max)
                return false;
        for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t l = utf8_decode((const unsigned char *) s + i, len - i, &cp);
                if (l == 0 || (cp < 0x20 && cp != '\t'))
                        return false;
                i += l;
        }
        return true;
}

char *jenkins_node_json(const struct jenkins_node_spec *spec, struct sw_error *err)
{
        if (!jenkins_node_name_valid(spec->name, err))
                return NULL;
        static const struct {
                size_t offset;
                const char *what;
                bool required;
        } texts[] = {
                { offsetof(struct jenkins_node_spec, description), "description", false },
                { offsetof(struct jenkins_node_spec, remote_fs), "remote FS", true },
                { offsetof(struct jenkins_node_spec, labels), "labels", false },
                { offsetof(struct jenkins_node_spec, host), "host", true },
                { offsetof(struct jenkins_node_spec, credentials_id), "credentials id", true },
                { offsetof(struct jenkins_node_spec, java_path), "java path", false },
                { offsetof(struct jenkins_node_spec, jvm_options), "JVM options", false },
        };
        for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
                const char *value = *(const char *const *) ((const char *) spec + texts[i].offset);
                if (!text_ok(value, texts[i].required, JENKINS_STRING_MAX)) {
                        sw_error_set(err, EINVAL, "node %s: %s: %s", spec->name, texts[i].what,
                                     value && *value ? "not printable UTF-8 or too long" : "missing");
                        return NULL;
                }
        }
        if (spec->port < 1 || spec->port > 65535 || spec->launch_timeout_s < 0 || spec->max_retries < 0 ||
            spec->retry_wait_s < 0) {
                sw_error_set(err, EINVAL,
                             "node %s: port %d, launch timeout %d s, retries %d, retry wait %d s: out of range",
                             spec->name, spec->port, spec->launch_timeout_s, spec->max_retries, spec->retry_wait_s);
                return NULL;
        }
        _cleanup_free_ char *key = normalize_host_key(spec->host_key, err);
        if (!key) {
                sw_error_prefix(err, "node %s", spec->name);
                return NULL;
        }
        /* Key order as the web form sends it (jansson keeps insertion order). "$class" picks the
         * Describable; "stapler-class-bag" is how an empty DescribableList comes from a form. */
        _cleanup_json_ json_t *json = json_pack(
                "{s:s, s:s, s:i, s:s, s:s, s:s,"
                " s:{s:s, s:s, s:i, s:s, s:s, s:s, s:i, s:i, s:i, s:{s:s, s:s}},"
                " s:{s:s}, s:{s:s}}",
                "name", spec->name,
                "nodeDescription", spec->description ? spec->description : "",
                "numExecutors", 1,
                "remoteFS", spec->remote_fs,
                "labelString", spec->labels ? spec->labels : "",
                "mode", "EXCLUSIVE",
                "launcher",
                "$class", "hudson.plugins.sshslaves.SSHLauncher",
                "host", spec->host,
                "port", spec->port,
                "credentialsId", spec->credentials_id,
                "javaPath", spec->java_path ? spec->java_path : "",
                "jvmOptions", spec->jvm_options ? spec->jvm_options : "",
                "launchTimeoutSeconds", spec->launch_timeout_s,
                "maxNumRetries", spec->max_retries,
                "retryWaitTime", spec->retry_wait_s,
                "sshHostKeyVerificationStrategy",
                "$class", "hudson.plugins.sshslaves.verifiers.ManuallyProvidedKeyVerificationStrategy",
                "key", key,
                "retentionStrategy", "$class", "hudson.slaves.RetentionStrategy$Always",
                "nodeProperties", "stapler-class-bag", "true");
        char *text = json ? json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (!text)
                sw_error_set(err, ENOMEM, "node %s: JSON", spec->name);
        return text;
}

char *jenkins_anchor_json(const char *name, const char *description, struct sw_error *err)
{
        if (!jenkins_node_name_valid(name, err))
                return NULL;
        if (!text_ok(description, false, JENKINS_STRING_MAX)) {
                sw_error_set(err, EINVAL, "node %s: description: not printable UTF-8 or too long", name);
                return NULL;
        }
        _cleanup_json_ json_t *json = json_pack(
                "{s:s, s:s, s:i, s:s, s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s}}",
                "name", name,
                "nodeDescription", description ? description : "",
                "numExecutors", 1,
                "remoteFS", "/nonexistent",
                "labelString", "",
                "mode", "EXCLUSIVE",
                "launcher", "$class", "hudson.slaves.JNLPLauncher",
                "retentionStrategy", "$class", "hudson.slaves.RetentionStrategy$Always",
                "nodeProperties", "stapler-class-bag", "true");
        char *text = json ? json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (!text)
                sw_error_set(err, ENOMEM, "node %s: JSON", name);
        return text;
}

/* ---- error texts ---- */

/* Text accumulated with whitespace and control bytes collapsed to single spaces. */
struct text_buf {
        char *data;
        size_t len, size;
};

static void text_put(struct text_buf *t, unsigned char c)
{
        if (t->len + 1 >= t->size)
                return;
        if (c <= ' ' || c == 0x7f) {
                if (t->len == 0 || t->data[t->len - 1] == ' ')
                        return;
                c = ' ';
        }
        t->data[t->len++] = (char) c;
        t->data[t->len] = '\0';
}

static void text_put_utf8(struct text_buf *t, uint32_t cp)
{
        if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                cp = '?';
        if (cp < 0x80) {
                text_put(t, (unsigned char) cp);
        } else if (cp < 0x800) {
                text_put(t, (unsigned char) (0xc0 | cp >> 6));
                text_put(t, (unsigned char) (0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
                text_put(t, (unsigned char) (0xe0 | cp >> 12));
                text_put(t, (unsigned char) (0x80 | ((cp >> 6) & 0x3f)));
                text_put(t, (unsigned char) (0x80 | (cp & 0x3f)));
        } else {
                text_put(t, (unsigned char) (0xf0 | cp >> 18));
                text_put(t, (unsigned char) (0x80 | ((cp >> 12) & 0x3f)));
                text_put(t, (unsigned char) (0x80 | ((cp >> 6) & 0x3f)));
                text_put(t, (unsigned char) (0x80 | (cp & 0x3f)));
        }
}

static int lower(int c)
{
        return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Offset of needle (lowercase ASCII) in s[from, len), case-insensitively; len if absent. */
static size_t find_ci(const char *s, size_t len, size_t from, const char *needle)
{
        size_t n = strlen(needle);
        for (size_t i = from; i + n <= len; i++) {
                size_t j = 0;
                while (j < n && lower((unsigned char) s[i + j]) == needle[j])
                        j++;
                if (j == n)
                        return i;
        }
        return len;
}

/* Offset of the start tag "<name" (followed by '>', '/' or whitespace) at or after from. */
static size_t find_tag(const char *s, size_t len, size_t from, const char *name)
{
        char open[16];
        snprintf(open, sizeof(open), "<%s", name);
        for (size_t at = find_ci(s, len, from, open); at < len; at = find_ci(s, len, at + 1, open)) {
                size_t next = at + strlen(open);
                if (next < len && (s[next] == '>' || s[next] == '/' || (unsigned char) s[next] <= ' '))
                        return at;
        }
        return len;
}

/* Decode one character reference at s (which starts with '&'); returns the bytes consumed,
 * 0 if it is not one. */
static size_t html_entity(const char *s, size_t len, uint32_t *cp)
{
        static const struct {
                const char *name;
                uint32_t cp;
        } named[] = { { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' },
                      { "apos;", '\'' }, { "nbsp;", ' ' } };
        for (size_t i = 0; i < ARRAY_SIZE(named); i++) {
                size_t n = strlen(named[i].name);
                if (len > n && memcmp(s + 1, named[i].name, n) == 0) {
                        *cp = named[i].cp;
                        return n + 1;
                }
        }
        if (len < 4 || s[1] != '#')
                return 0;
        bool hex = s[2] == 'x' || s[2] == 'X';
        size_t i = hex ? 3 : 2;
        uint32_t v = 0;
        size_t digits = 0;
        for (; i < len && digits < 8; i++, digits++) {
                int c = lower((unsigned char) s[i]);
                int d = c >= '0' && c <= '9' ? c - '0' : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                if (d < 0)
                        break;
                v = v * (hex ? 16 : 10) + (uint32_t) d;
        }
        if (digits == 0 || i >= len || s[i] != ';')
                return 0;
        *cp = v;
        return i + 1;
}

/* Whether the start tag "<name" (followed by '>', '/' or whitespace) is at s[i]. */
static bool tag_at(const char *s, size_t len, size_t i, const char *name)
{
        size_t n = strlen(name);
        if (len - i < n + 2 || s[i] != '<')
                return false;
        for (size_t j = 0; j < n; j++)
                if (lower((unsigned char) s[i + 1 + j]) != name[j])
                        return false;
        unsigned char next = (unsigned char) s[i + 1 + n];
        return next == '>' || next == '/' || next <= ' ';
}

/* The text of s[from, to): tags dropped (script and style with their content), comments
 * dropped, character references decoded. Linear in to - from. */
static void html_text(const char *s, size_t from, size_t to, struct text_buf *t)
{
        size_t i = from;
        while (i < to && t->len + 1 < t->size) {
                if (s[i] == '<') {
                        if (to - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
                                size_t end = find_ci(s, to, i + 4, "-->");
                                i = end < to ? end + 3 : to;
                                continue;
                        }
                        if (tag_at(s, to, i, "script"))
                                i = find_ci(s, to, i, "</script");
                        else if (tag_at(s, to, i, "style"))
                                i = find_ci(s, to, i, "</style");
                        const char *gt = i < to ? memchr(s + i, '>', to - i) : NULL;
                        i = gt ? (size_t) (gt - s) + 1 : to;
                        text_put(t, ' ');
                        continue;
                }
                uint32_t cp;
                size_t n;
                if (s[i] == '&' && (n = html_entity(s + i, to - i, &cp)) > 0) {
                        text_put_utf8(t, cp);
                        i += n;
                        continue;
                }
                text_put(t, (unsigned char) s[i]);
                i++;
        }
}

/* The text of the first element <name>...</name> at or after from; false if none or empty. */
static bool element_text(const char *s, size_t len, size_t from, const char *name, struct text_buf *t)
{
        size_t open = find_tag(s, len, from, name);
        if (open >= len)
                return false;
        const char *gt = memchr(s + open, '>', len - open);
        if (!gt)
                return false;
        char close[16];
        snprintf(close, sizeof(close), "</%s", name);
        size_t start = (size_t) (gt - s) + 1;
        t->len = 0;
        t->data[0] = '\0';
        html_text(s, start, find_ci(s, len, start, close), t);
        return t->len > 0 && !(t->len == 1 && t->data[0] == ' ');
}

/* Final form for a message: valid UTF-8 (else '?'), no controls, single spaces, trimmed,
 * bounded to ERROR_TEXT_MAX bytes at a character boundary. */
static void clean_text(const char *in, size_t len, char *out, size_t size)
{
        size_t max = size - 1 < ERROR_TEXT_MAX ? size - 1 : ERROR_TEXT_MAX;
        size_t o = 0;
        for (size_t i = 0; i < len;) {
                uint32_t cp;
                size_t l = utf8_decode((const unsigned char *) in + i, len - i, &cp);
                const char *piece = in + i;
                if (l == 0) {
                        piece = "?";
                        l = 1;
                        cp = '?';
                } else if (iso_control(cp) || cp == ' ') {
                        piece = " ";
                }
                size_t plen = piece == in + i ? l : 1;
                i += l;
                if (*piece == ' ' && (o == 0 || out[o - 1] == ' '))
                        continue;
                if (o + plen > max) {
                        /* Mark the cut when there is room for it. */
                        size_t room = max >= 3 ? max - 3 : 0;
                        if (o > room)
                                o = utf8_prefix(out, o, room);
                        while (o > 0 && out[o - 1] == ' ')
                                o--;
                        if (max >= 3) {
                                memcpy(out + o, "...", 3);
                                o += 3;
                        }
                        break;
                }
                memcpy(out + o, piece, plen);
                o += plen;
        }
        while (o > 0 && out[o - 1] == ' ')
                o--;
        out[o] = '\0';
}

void jenkins_error_text(const char *x_error, const char *body, size_t len, char *out, size_t size)
{
        if (size == 0)
                return;
        out[0] = '\0';
        if (x_error && *x_error) {
                clean_text(x_error, strlen(x_error), out, size);
                if (out[0])
                        return;
        }
        if (!body || len == 0)
                return;
        char buf[2048];
        struct text_buf t = { .data = buf, .size = sizeof(buf) };
        buf[0] = '\0';
        size_t start = 0;
        while (start < len && (body[start] == ' ' || body[start] == '\t' || body[start] == '\r' ||
                               body[start] == '\n'))
                start++;
        if (start >= len)
                return;
        if (body[start] != '<') {
                /* Plain text, or JSON with a "message". */
                if (body[start] == '{') {
                        json_error_t jerr;
                        _cleanup_json_ json_t *json = json_loadb(body, len, 0, &jerr);
                        json_t *message = json_object_get(json, "message");
                        if (json_is_string(message)) {
                                clean_text(json_string_value(message), json_string_length(message), out, size);
                                return;
                        }
                }
                clean_text(body, len < 4096 ? len : 4096, out, size);
                return;
        }
        bool found = false;
        if (element_text(body, len, 0, "title", &t)) {
                found = find_ci(buf, t.len, 0, "jenkins") >= t.len;
                /* Jetty's "Error 403 No valid crumb...": the status is in the message already. */
                char *p = buf + strspn(buf, " ");
                if (found && strncmp(p, "Error ", 6) == 0 && strspn(p + 6, "0123456789") == 3) {
                        memmove(buf, p + 9, strlen(p + 9) + 1);
                        t.len = strlen(buf);
                        found = strspn(buf, " ") < t.len;
                }
        }
        if (!found) {
                /* Jenkins' error.jelly: <h1>Error</h1><p>message</p> (or <pre>). */
                size_t h1 = find_tag(body, len, 0, "h1");
                if (h1 < len) {
                        size_t after = find_ci(body, len, h1, "</h1");
                        size_t p = find_tag(body, len, after, "p"), pre = find_tag(body, len, after, "pre");
                        found = element_text(body, len, after, p <= pre ? "p" : "pre", &t);
                }
        }
        if (!found)
                found = element_text(body, len, 0, "h1", &t) || element_text(body, len, 0, "h2", &t);
        if (!found) {
                size_t head = find_tag(body, len, 0, "head");
                size_t from = head < len ? find_ci(body, len, head, "</head") : 0;
                t.len = 0;
                buf[0] = '\0';
                html_text(body, from < len ? from : 0, len, &t);
        }
        clean_text(buf, t.len, out, size);
}

/* ---- /computer and /queue ---- */

struct parse_ctx {
        const char *what;  /* "computer list" */
        const char *array; /* "computer" */
        size_t index;
        struct sw_error *err;
};

static int parse_fail(struct parse_ctx *ctx, const char *field, const char *problem)
{
        return sw_error_set(ctx->err, EPROTO, "malformed %s: %s[%zu].%s: %s", ctx->what, ctx->array,
                            ctx->index, field, problem);
}

/* A string field: missing or null gives NULL. Free text is truncated to JENKINS_TEXT_MAX;
 * names longer than JENKINS_STRING_MAX are refused. */
static int get_string(struct parse_ctx *ctx, json_t *object, const char *key, const char *field,
                      bool free_text, char **out)
{
        *out = NULL;
        json_t *value = json_object_get(object, key);
        if (!value || json_is_null(value))
                return 0;
        if (!json_is_string(value))
                return parse_fail(ctx, field, "not a string");
        const char *s = json_string_value(value);
        size_t len = json_string_length(value);
        if (free_text)
                len = utf8_prefix(s, len, JENKINS_TEXT_MAX);
        else if (len > JENKINS_STRING_MAX)
                return parse_fail(ctx, field, "too long");
        *out = strndup(s, len);
        return *out ? 0 : sw_error_set(ctx->err, ENOMEM, "%s", ctx->what);
}

static int get_bool(struct parse_ctx *ctx, json_t *object, const char *key, bool *out)
{
        json_t *value = json_object_get(object, key);
        *out = false;
        if (!value || json_is_null(value))
                return 0;
        if (!json_is_boolean(value))
                return parse_fail(ctx, key, "not a boolean");
        *out = json_is_true(value);
        return 0;
}

static int get_integer(struct parse_ctx *ctx, json_t *object, const char *key, bool required,
                       long long min, long long max, long long *out)
{
        json_t *value = json_object_get(object, key);
        *out = 0;
        if (!value || json_is_null(value))
                return required ? parse_fail(ctx, key, "missing") : 0;
        if (!json_is_integer(value))
                return parse_fail(ctx, key, "not an integer");
        long long v = json_integer_value(value);
        if (v < min || v > max)
                return parse_fail(ctx, key, "out of range");
        *out = v;
        return 0;
}

/* The top-level object and its array member. */
static int load_array(const char *body, size_t len, const char *what, const char *key, json_t **root,
                      json_t **array, struct sw_error *err)
{
        json_error_t jerr;
        *root = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
        if (!*root)
                return sw_error_set(err, EPROTO, "malformed %s: %s", what, body ? jerr.text : "no body");
        if (!json_is_object(*root))
                return sw_error_set(err, EPROTO, "malformed %s: not a JSON object", what);
        *array = json_object_get(*root, key);
        if (!json_is_array(*array))
                return sw_error_set(err, EPROTO, "malformed %s: \"%s\" is %s", what, key,
                                    *array ? "not an array" : "missing");
        if (json_array_size(*array) > JENKINS_MAX_ITEMS)
                return sw_error_set(err, EPROTO, "malformed %s: more than %d entries in \"%s\"", what,
                                    JENKINS_MAX_ITEMS, key);
        return 0;
}

static void computer_release(struct jenkins_computer *c)
{
        free(c->name);
        free(c->description);
        if (c->labels)
                for (char **l = c->labels; *l; l++)
                        free(*l);
        free(c->labels);
        memset(c, 0, sizeof(*c));
}

static int parse_computer(struct parse_ctx *ctx, json_t *item, struct jenkins_computer *c)
{
        if (!json_is_object(item))
                return sw_error_set(ctx->err, EPROTO, "malformed %s: %s[%zu]: not an object", ctx->what,
                                    ctx->array, ctx->index);
        int r;
        long long executors;
        if ((r = get_string(ctx, item, "displayName", "displayName", false, &c->name)) < 0 ||
            (r = get_string(ctx, item, "description", "description", true, &c->description)) < 0 ||
            (r = get_bool(ctx, item, "offline", &c->offline)) < 0 ||
            (r = get_bool(ctx, item, "temporarilyOffline", &c->temporarily_offline)) < 0 ||
            (r = get_bool(ctx, item, "idle", &c->idle)) < 0 ||
            (r = get_integer(ctx, item, "numExecutors", false, 0, JENKINS_MAX_ITEMS, &executors)) < 0)
                return r;
        if (!c->name)
                return parse_fail(ctx, "displayName", "missing");
        c->num_executors = (int) executors;

        json_t *labels = json_object_get(item, "assignedLabels");
        size_t nlabels = json_is_array(labels) ? json_array_size(labels) : 0;
        if (labels && !json_is_null(labels) && !json_is_array(labels))
                return parse_fail(ctx, "assignedLabels", "not an array");
        if (nlabels > JENKINS_MAX_LABELS)
                return parse_fail(ctx, "assignedLabels", "too many labels");
        c->labels = calloc(nlabels + 1, sizeof(*c->labels));
        if (!c->labels)
                return sw_error_set(ctx->err, ENOMEM, "%s", ctx->what);
        size_t kept = 0;
        for (size_t i = 0; i < nlabels; i++) {
                json_t *label = json_array_get(labels, i);
                char field[48];
                snprintf(field, sizeof(field), "assignedLabels[%zu]", i);
                if (!json_is_object(label))
                        return parse_fail(ctx, field, "not an object");
                snprintf(field, sizeof(field), "assignedLabels[%zu].name", i);
                if ((r = get_string(ctx, label, "name", field, false, &c->labels[kept])) < 0)
                        return r;
                if (c->labels[kept])
                        kept++;
        }

        json_t *list = json_object_get(item, "executors");
        if (list && !json_is_null(list) && !json_is_array(list))
                return parse_fail(ctx, "executors", "not an array");
        if (json_array_size(list) > JENKINS_MAX_ITEMS)
                return parse_fail(ctx, "executors", "too many executors");
        for (size_t i = 0; i < json_array_size(list); i++) {
                json_t *executor = json_array_get(list, i);
                char field[48];
                snprintf(field, sizeof(field), "executors[%zu]", i);
                if (!json_is_object(executor))
                        return parse_fail(ctx, field, "not an object");
                json_t *idle = json_object_get(executor, "idle");
                snprintf(field, sizeof(field), "executors[%zu].idle", i);
                if (idle && !json_is_null(idle) && !json_is_boolean(idle))
                        return parse_fail(ctx, field, "not a boolean");
                if (json_is_false(idle))
                        c->busy_executors++;
        }
        return 0;
}

int jenkins_computers_parse(const char *body, size_t len, struct jenkins_computers *out,
                            struct sw_error *err)
{
        memset(out, 0, sizeof(*out));
        _cleanup_json_ json_t *root = NULL;
        json_t *array = NULL;
        int r = load_array(body, len, "computer list", "computer", &root, &array, err);
        if (r < 0)
                return r;
        struct jenkins_computers result = { .items = calloc(json_array_size(array) + 1, sizeof(*result.items)) };
        if (!result.items)
                return sw_error_set(err, ENOMEM, "computer list");
        struct parse_ctx ctx = { .what = "computer list", .array = "computer", .err = err };
        for (size_t i = 0; i < json_array_size(array); i++) {
                ctx.index = i;
                r = parse_computer(&ctx, json_array_get(array, i), &result.items[i]);
                result.count = i + 1; /* released with the rest, even half-filled */
                if (r < 0) {
                        jenkins_computers_release(&result);
                        return r;
                }
        }
        *out = result;
        return 0;
}

void jenkins_computers_release(struct jenkins_computers *computers)
{
        if (!computers)
                return;
        for (size_t i = 0; i < computers->count; i++)
                computer_release(&computers->items[i]);
        free(computers->items);
        computers->items = NULL;
        computers->count = 0;
}

const struct jenkins_computer *jenkins_computers_find(const struct jenkins_computers *computers,
                                                      const char *name)
{
        for (size_t i = 0; i < computers->count; i++)
                if (computers->items[i].name && strcmp(computers->items[i].name, name) == 0)
                        return &computers->items[i];
        return NULL;
}

static void queue_item_release(struct jenkins_queue_item *item)
{
        free(item->why);
        free(item->task_name);
        free(item->label);
        memset(item, 0, sizeof(*item));
}

static int parse_queue_item(struct parse_ctx *ctx, json_t *object, struct jenkins_queue_item *item)
{
        if (!json_is_object(object))
                return sw_error_set(ctx->err, EPROTO, "malformed %s: %s[%zu]: not an object", ctx->what,
                                    ctx->array, ctx->index);
        int r;
        if ((r = get_integer(ctx, object, "id", true, 0, INT64_MAX, &item->id)) < 0 ||
            (r = get_string(ctx, object, "why", "why", true, &item->why)) < 0 ||
            (r = get_bool(ctx, object, "buildable", &item->buildable)) < 0 ||
            (r = get_bool(ctx, object, "stuck", &item->stuck)) < 0 ||
            (r = get_integer(ctx, object, "inQueueSince", false, 0, INT64_MAX, &item->in_queue_since)) < 0)
                return r;
        json_t *task = json_object_get(object, "task");
        if (!task || json_is_null(task))
                return 0;
        if (!json_is_object(task))
                return parse_fail(ctx, "task", "not an object");
        if ((r = get_string(ctx, task, "name", "task.name", false, &item->task_name)) < 0 ||
            (r = get_string(ctx, task, "labelExpression", "task.labelExpression", false, &item->label)) < 0)
                return r;
        return 0;
}

int jenkins_queue_parse(const char *body, size_t len, struct jenkins_queue *out,
                        struct sw_error *err)
{
        memset(out, 0, sizeof(*out));
        _cleanup_json_ json_t *root = NULL;
        json_t *array = NULL;
        int r = load_array(body, len, "queue", "items", &root, &array, err);
        if (r < 0)
                return r;
        struct jenkins_queue result = { .items = calloc(json_array_size(array) + 1, sizeof(*result.items)) };
        if (!result.items)
                return sw_error_set(err, ENOMEM, "queue");
        struct parse_ctx ctx = { .what = "queue", .array = "items", .err = err };
        for (size_t i = 0; i < json_array_size(array); i++) {
                ctx.index = i;
                r = parse_queue_item(&ctx, json_array_get(array, i), &result.items[i]);
                result.count = i + 1;
                if (r < 0) {
                        jenkins_queue_release(&result);
                        return r;
                }
        }
        *out = result;
        return 0;
}

void jenkins_queue_release(struct jenkins_queue *queue)
{
        if (!queue)
                return;
        for (size_t i = 0; i < queue->count; i++)
                queue_item_release(&queue->items[i]);
        free(queue->items);
        queue->items = NULL;
        queue->count = 0;
}
