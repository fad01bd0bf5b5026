/* Minimal ustar writer: see include/slipway/tar.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slipway/tar.h"

#define TAR_BLOCK 512

static int tar_reserve(struct tar_writer *tar, size_t more)
{
        if (tar->len + more <= tar->capacity)
                return 0;
        size_t capacity = tar->capacity ? tar->capacity : 8 * TAR_BLOCK;
        while (capacity < tar->len + more)
                capacity *= 2;
        char *data = calloc(1, capacity);
        if (!data)
                return -ENOMEM;
        if (tar->data) {
                memcpy(data, tar->data, tar->len);
                explicit_bzero(tar->data, tar->capacity);
                free(tar->data);
        }
        tar->data = data;
        tar->capacity = capacity;
        return 0;
}

static int tar_add_entry(struct tar_writer *tar, const char *path, char type, mode_t mode,
                         uid_t uid, gid_t gid, const void *content, size_t content_len)
{
        size_t path_len = strlen(path);
        if (path_len == 0 || path_len > 99)
                return -ENAMETOOLONG;
        size_t padded = (content_len + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
        int r = tar_reserve(tar, TAR_BLOCK + padded);
        if (r < 0)
                return r;

        unsigned char *header = (unsigned char *) tar->data + tar->len;
        memset(header, 0, TAR_BLOCK);
        memcpy(header, path, path_len);
        snprintf((char *) header + 100, 8, "%07o", (unsigned) (mode & 07777));
        snprintf((char *) header + 108, 8, "%07o", (unsigned) uid);
        snprintf((char *) header + 116, 8, "%07o", (unsigned) gid);
        snprintf((char *) header + 124, 12, "%011llo", (unsigned long long) content_len);
        snprintf((char *) header + 136, 12, "%011llo", (unsigned long long) time(NULL));
        header[156] = (unsigned char) type;
        memcpy(header + 257, "ustar", 6); /* magic "ustar\0" */
        memcpy(header + 263, "00", 2);    /* version */
        /* The checksum is computed with its own field read as spaces. */
        memset(header + 148, ' ', 8);
        unsigned sum = 0;
        for (int i = 0; i < TAR_BLOCK; i++)
                sum += header[i];
        snprintf((char *) header + 148, 8, "%06o", sum);
        header[155] = ' ';

        tar->len += TAR_BLOCK;
        if (content_len) {
                memcpy(tar->data + tar->len, content, content_len);
                memset(tar->data + tar->len + content_len, 0, padded - content_len);
        }
        tar->len += padded;
        return 0;
}

int tar_add_directory(struct tar_writer *tar, const char *path, mode_t mode, uid_t uid, gid_t gid)
{
        /* Directory names end in '/', as GNU tar and Docker write them. */
        char name[100];
        size_t len = strlen(path);
        if (len == 0 || len + (path[len - 1] != '/') > 99)
                return -ENAMETOOLONG;
        snprintf(name, sizeof(name), "%s%s", path, path[len - 1] == '/' ? "" : "/");
        return tar_add_entry(tar, name, '5', mode, uid, gid, NULL, 0);
}

int tar_add_file(struct tar_writer *tar, const char *path, mode_t mode, uid_t uid, gid_t gid,
                 const void *content, size_t content_len)
{
        return tar_add_entry(tar, path, '0', mode, uid, gid, content, content_len);
}

int tar_finish(struct tar_writer *tar)
{
        int r = tar_reserve(tar, 2 * TAR_BLOCK);
        if (r < 0)
                return r;
        memset(tar->data + tar->len, 0, 2 * TAR_BLOCK);
        tar->len += 2 * TAR_BLOCK;
        return 0;
}

void tar_writer_release(struct tar_writer *tar)
{
        if (tar->data) {
                explicit_bzero(tar->data, tar->capacity);
                free(tar->data);
        }
        tar->data = NULL;
        tar->len = tar->capacity = 0;
}
