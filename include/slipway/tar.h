/* A minimal in-memory ustar writer: just enough to hand small files (SSH keys) into a
 * container through the Docker archive API before it starts, so secrets never sit in a bind
 * mount or the environment. */
#ifndef SLIPWAY_TAR_H
#define SLIPWAY_TAR_H

#include <stddef.h>
#include <sys/types.h>

struct tar_writer {
        char *data;
        size_t len;
        size_t capacity;
};

/* Paths are relative ("etc/ssh/key"), at most 99 bytes. Return 0 or -errno. */
int tar_add_directory(struct tar_writer *tar, const char *path, mode_t mode, uid_t uid, gid_t gid);
int tar_add_file(struct tar_writer *tar, const char *path, mode_t mode, uid_t uid, gid_t gid,
                 const void *content, size_t content_len);
/* Append the end-of-archive marker. */
int tar_finish(struct tar_writer *tar);
/* Wipes the buffer (it may hold private keys) and frees it. */
void tar_writer_release(struct tar_writer *tar);

#endif
