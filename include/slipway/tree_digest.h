/* A content digest of a whole directory tree: every entry's relative path, type, mode, owner,
 * size, link target or device number, xattrs and file contents, visited in sorted order so
 * the digest only changes when the tree does. Used to prove a cache generation unchanged. */
#ifndef SLIPWAY_TREE_DIGEST_H
#define SLIPWAY_TREE_DIGEST_H

#include "slipway/error.h"

#define TREE_DIGEST_MAX 72 /* "sha256:" + 64 hex + NUL */

/* out: "sha256:<hex>". */
int tree_digest(const char *root, char out[TREE_DIGEST_MAX], struct sw_error *err);

#endif
