/* A minimal in-memory ustar writer: just enough to hand small files (SSH keys) into a
 * container through the Docker archive API before it starts, so secrets never sit in a bind
 * mount or the environment. And a reader for what that API returns (the agent's logs). */
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

/* Reading what the Docker archive API returns (GET .../archive): call file once per regular
 * file with its name as in the archive ("slipway/dockerd.log") and its content. Of PAX and
 * GNU metadata entries only long names are used; directories, links and devices are
 * skipped. Every header is
 * checked (checksum, octal fields, sizes within the buffer): -EPROTO for a malformed archive;
 * a non-zero return of file stops the walk and is returned. */
#define TAR_NAME_MAX 1024 /* a longer name (PAX or GNU) makes the archive malformed */
typedef int (*tar_file_fn)(void *user, const char *name, const char *content, size_t len);
int tar_read_files(const void *tar, size_t tar_len, tar_file_fn file, void *user);

#endif
