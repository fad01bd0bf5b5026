/* SSH keys for agents: every agent gets its own ed25519 host key, generated on the host so its
 * public half is known before the agent starts (Jenkins is told the exact key: no trust on
 * first use), and, for manual agents without --pubkey, a client key. */
#ifndef SLIPWAY_SSHKEY_H
#define SLIPWAY_SSHKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "slipway/error.h"

#define SSHKEY_MAX_PUBLIC 16384 /* bytes of an authorized_keys file we accept */

/* Run ssh-keygen to write an unencrypted ed25519 key pair at path and path.pub. */
int sshkey_generate(const char *path, const char *comment, struct sw_error *err);

/* Whether text (one or more lines; blank and '#' lines allowed) holds only OpenSSH public keys
 * "TYPE BASE64 [comment]" and at least one. On failure err says which line and why. */
bool sshkey_public_valid(const char *text, struct sw_error *err);

/* Read and validate a public key file (bounded). *out is the file's text. */
int sshkey_read_public(const char *path, char **out, struct sw_error *err);

/* The SHA-256 fingerprint of the first key of public_key ("TYPE BASE64 [comment]") as
 * ssh-keygen -l prints it: "SHA256:" and unpadded base64. out needs 51 bytes
 * (SSHKEY_FINGERPRINT_MAX). Returns 0, or -EINVAL when the key data is not base64. */
#define SSHKEY_FINGERPRINT_MAX 51
int sshkey_fingerprint(const char *public_key, char *out, size_t size);

#endif
