/* Agent SSH keys: see include/slipway/sshkey.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/sshkey.h"
#include "slipway/tool.h"

int sshkey_generate(const char *path, const char *comment, struct sw_error *err)
{
        const char *const argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                                     "-f", path, NULL };
        const struct tool_run run = { .argv = argv, .netns_fd = -1, .package = "openssh-client" };
        if (tool_run(&run, err) < 0)
                return sw_error_prefix(err, "generate SSH key %s", path);
        return 0;
}

static bool key_type_known(const char *type, size_t len)
{
        static const char *const types[] = {
                "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
                "sk-ecdsa-sha2-nistp256@openssh.com",
        };
        for (size_t i = 0; i < ARRAY_SIZE(types); i++)
                if (strlen(types[i]) == len && memcmp(types[i], type, len) == 0)
                        return true;
        return false;
}

static bool base64_char(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/' || c == '=';
}

bool sshkey_public_valid(const char *text, struct sw_error *err)
{
        int keys = 0, line_no = 0;
        const char *line = text;
        while (*line) {
                line_no++;
                size_t line_len = strcspn(line, "\n");
                const char *p = line, *end = line + line_len;
                while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
                        p++;
                if (p < end && *p != '#') {
                        const char *type = p;
                        while (p < end && *p != ' ' && *p != '\t')
                                p++;
                        size_t type_len = (size_t) (p - type);
                        if (!key_type_known(type, type_len)) {
                                sw_error_set(err, EINVAL,
                                             "line %d: not an OpenSSH public key (unknown key type "
                                             "\"%.*s\"; options before the key are not accepted)",
                                             line_no, (int) (type_len > 40 ? 40 : type_len), type);
                                return false;
                        }
                        while (p < end && (*p == ' ' || *p == '\t'))
                                p++;
                        const char *blob = p;
                        while (p < end && base64_char(*p))
                                p++;
                        if (p - blob < 16 || (p < end && *p != ' ' && *p != '\t' && *p != '\r')) {
                                sw_error_set(err, EINVAL, "line %d: malformed key data", line_no);
                                return false;
                        }
                        for (const char *c = p; c < end; c++) {
                                if ((unsigned char) *c < 0x20 && *c != '\t' && *c != '\r') {
                                        sw_error_set(err, EINVAL, "line %d: control character", line_no);
                                        return false;
                                }
                        }
                        keys++;
                }
                line = *end ? end + 1 : end;
        }
        if (keys == 0) {
                sw_error_set(err, EINVAL, "no public key found");
                return false;
        }
        return true;
}

int sshkey_read_public(const char *path, char **out, struct sw_error *err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = fs_read_bounded(path, SSHKEY_MAX_PUBLIC, &text, &len);
        if (r == -EFBIG)
                return sw_error_set(err, EFBIG, "public key %s: larger than %d bytes", path,
                                    SSHKEY_MAX_PUBLIC);
        if (r < 0)
                return sw_error_errno(err, -r, "public key %s", path);
        if (strlen(text) != len) /* a NUL inside: not a text file */
                return sw_error_set(err, EINVAL, "public key %s: binary data", path);
        if (!sshkey_public_valid(text, err))
                return sw_error_prefix(err, "public key %s", path);
        *out = TAKE_PTR(text);
        return 0;
}

int sshkey_fingerprint(const char *public_key, char *out, size_t size)
{
        const char *p = public_key + strspn(public_key, " \t");
        p += strcspn(p, " \t"); /* the type */
        p += strspn(p, " \t");
        size_t blob_len = strcspn(p, " \t\r\n");
        /* An ed25519 key's blob is 51 bytes (68 in base64); RSA keys reach a few KiB. */
        if (blob_len == 0 || blob_len % 4 != 0 || blob_len > 16384 || size < SSHKEY_FINGERPRINT_MAX)
                return -EINVAL;
        for (size_t i = 0; i < blob_len; i++)
                if (!base64_char(p[i]) || (p[i] == '=' && i < blob_len - 2))
                        return -EINVAL;
        _cleanup_free_ unsigned char *blob = malloc(blob_len / 4 * 3 + 1);
        if (!blob)
                return -ENOMEM;
        int decoded = EVP_DecodeBlock(blob, (const unsigned char *) p, (int) blob_len);
        if (decoded < 0)
                return -EINVAL;
        /* EVP_DecodeBlock counts the padding as zero bytes. */
        decoded -= (p[blob_len - 1] == '=') + (p[blob_len - 2] == '=');
        unsigned char hash[EVP_MAX_MD_SIZE];
        unsigned hash_len = 0;
        if (EVP_Digest(blob, (size_t) decoded, hash, &hash_len, EVP_sha256(), NULL) != 1)
                return -EIO;
        unsigned char encoded[64];
        int encoded_len = EVP_EncodeBlock(encoded, hash, (int) hash_len);
        while (encoded_len > 0 && encoded[encoded_len - 1] == '=')
                encoded_len--;
        snprintf(out, size, "SHA256:%.*s", encoded_len, (const char *) encoded);
        return 0;
}
