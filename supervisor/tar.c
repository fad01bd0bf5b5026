/* Minimal ustar writer: see include/slipway/tar.h. */
#include <errno.h>
#include <stdbool.h>
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

/* ---- reading --------------------------------------------------------------------------- */

/* A numeric field: optional leading spaces, octal digits, then only NULs or spaces. Base-256
 * (the high bit set, for values past 8 GiB) is refused: nothing we read is that large. */
static int tar_octal(const unsigned char *field, size_t size, unsigned long long *out)
{
        size_t i = 0, digits = 0;
        unsigned long long value = 0;
        while (i < size && field[i] == ' ')
                i++;
        for (; i < size && field[i] >= '0' && field[i] <= '7'; i++, digits++) {
                if (value > (~0ULL >> 3))
                        return -EPROTO;
                value = value * 8 + (unsigned) (field[i] - '0');
        }
        for (; i < size; i++)
                if (field[i] != ' ' && field[i] != '\0')
                        return -EPROTO;
        if (digits == 0)
                return -EPROTO;
        *out = value;
        return 0;
}

static bool tar_block_zero(const unsigned char *block)
{
        for (int i = 0; i < TAR_BLOCK; i++)
                if (block[i])
                        return false;
        return true;
}

static bool tar_checksum_ok(const unsigned char *header)
{
        unsigned long long stored;
        if (tar_octal(header + 148, 8, &stored) < 0)
                return false;
        unsigned long long sum = 0;
        for (int i = 0; i < TAR_BLOCK; i++)
                sum += i >= 148 && i < 156 ? ' ' : header[i];
        return sum == stored;
}

/* The "path" record of a PAX extended header ("LEN path=VALUE\n" records), if any. */
static int tar_pax_path(const char *records, size_t len, char *path, size_t size)
{
        size_t pos = 0;
        while (pos < len) {
                size_t record_len = 0, digits = 0;
                while (pos + digits < len && records[pos + digits] >= '0' && records[pos + digits] <= '9' &&
                       digits < 8)
                        record_len = record_len * 10 + (size_t) (records[pos + digits++] - '0');
                if (digits == 0 || record_len <= digits + 1 || record_len > len - pos ||
                    records[pos + digits] != ' ' || records[pos + record_len - 1] != '\n')
                        return -EPROTO;
                const char *key = records + pos + digits + 1;
                size_t rest = record_len - digits - 2; /* "key=value" without the newline */
                if (rest > 5 && memcmp(key, "path=", 5) == 0) {
                        if (rest - 5 >= size)
                                return -EPROTO; /* longer than any name we look for */
                        memcpy(path, key + 5, rest - 5);
                        path[rest - 5] = '\0';
                }
                pos += record_len;
        }
        return 0;
}

int tar_read_files(const void *tar, size_t tar_len, tar_file_fn file, void *user)
{
        const unsigned char *data = tar;
        size_t pos = 0;
        /* A long name from a PAX 'x' or GNU 'L' entry, for the entry that follows it. */
        char long_name[TAR_NAME_MAX] = "";
        while (tar_len - pos >= TAR_BLOCK) {
                const unsigned char *header = data + pos;
                if (tar_block_zero(header))
                        return 0; /* the end-of-archive marker */
                unsigned long long size;
                if (!tar_checksum_ok(header) || tar_octal(header + 124, 12, &size) < 0)
                        return -EPROTO;
                pos += TAR_BLOCK;
                if (size > tar_len - pos)
                        return -EPROTO;
                char type = (char) header[156];
                const char *content = (const char *) data + pos;
                if (type == 'x' || type == 'L') {
                        int r = type == 'x' ? tar_pax_path(content, (size_t) size, long_name, sizeof(long_name))
                                            : (size < sizeof(long_name) ? 0 : -EPROTO);
                        if (r < 0)
                                return r;
                        if (type == 'L')
                                snprintf(long_name, sizeof(long_name), "%.*s", (int) size, content);
                } else if (type == '0' || type == '\0' || type == '7') {
                        /* ustar splits long names into prefix (345, 155 bytes) and name (0, 100
                         * bytes); neither need be NUL-terminated. */
                        char name[257];
                        size_t name_len = strnlen((const char *) header, 100);
                        size_t prefix_len = memcmp(header + 257, "ustar", 5) == 0
                                                    ? strnlen((const char *) header + 345, 155)
                                                    : 0;
                        snprintf(name, sizeof(name), "%.*s%s%.*s", (int) prefix_len,
                                 (const char *) header + 345, prefix_len ? "/" : "", (int) name_len,
                                 (const char *) header);
                        int r = file(user, long_name[0] ? long_name : name, content, (size_t) size);
                        if (r != 0)
                                return r;
                        long_name[0] = '\0';
                } else {
                        long_name[0] = '\0'; /* a directory or link took it */
                }
                size_t padded = ((size_t) size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
                pos += padded < tar_len - pos ? padded : tar_len - pos;
        }
        /* No end marker: complete entries only, nothing left over. */
        return pos == tar_len ? 0 : -EPROTO;
}
