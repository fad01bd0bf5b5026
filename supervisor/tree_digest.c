/* Directory tree digests: see include/slipway/tree_digest.h. SHA-256 from OpenSSL's libcrypto. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "slipway/cleanup.h"
#include "slipway/tree_digest.h"

struct walker {
        EVP_MD_CTX *md;
        struct sw_error *err;
        char path[4096]; /* relative path of the entry being visited */
};

static void feed(struct walker *w, const void *data, size_t len)
{
        EVP_DigestUpdate(w->md, data, len);
}

static void feed_string(struct walker *w, const char *text)
{
        feed(w, text, strlen(text) + 1); /* with its NUL: fields never run together */
}

static int feed_xattrs(struct walker *w, int fd)
{
        char names[4096];
        ssize_t len = flistxattr(fd, names, sizeof(names));
        if (len < 0)
                return errno == ENOTSUP ? 0 : -errno;
        /* Names come in kernel order; sort them for a stable digest. */
        const char *sorted[256];
        size_t n = 0;
        for (char *name = names; name < names + len && n < 256; name += strlen(name) + 1)
                sorted[n++] = name;
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
                        const char *t = sorted[j];
                        sorted[j] = sorted[j - 1];
                        sorted[j - 1] = t;
                }
        for (size_t i = 0; i < n; i++) {
                char value[4096];
                ssize_t vlen = fgetxattr(fd, sorted[i], value, sizeof(value));
                if (vlen < 0)
                        return -errno;
                feed_string(w, sorted[i]);
                feed(w, value, (size_t) vlen);
        }
        return 0;
}

static int feed_file(struct walker *w, int dir_fd, const char *name)
{
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        char buf[65536];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                feed(w, buf, (size_t) n);
        }
        return feed_xattrs(w, fd);
}

static int skip_dots(const struct dirent *entry)
{
        return strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0;
}

static int walk(struct walker *w, int dir_fd)
{
        struct dirent **entries = NULL;
        int n = scandirat(dir_fd, ".", &entries, skip_dots, alphasort);
        if (n < 0)
                return sw_error_errno(w->err, errno, "digest: read %s", w->path[0] ? w->path : ".");
        int r = 0;
        size_t base = strlen(w->path);
        for (int i = 0; i < n; i++) {
                const char *name = entries[i]->d_name;
                if (r < 0)
                        continue; /* still free the rest */
                snprintf(w->path + base, sizeof(w->path) - base, "%s%s", base ? "/" : "", name);
                struct stat st;
                if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = sw_error_errno(w->err, errno, "digest: stat %s", w->path);
                        continue;
                }
                char head[160];
                snprintf(head, sizeof(head), "%o %u %u %lld", (unsigned) st.st_mode, (unsigned) st.st_uid,
                         (unsigned) st.st_gid, S_ISDIR(st.st_mode) ? 0LL : (long long) st.st_size);
                feed_string(w, w->path);
                feed_string(w, head);
                if (S_ISLNK(st.st_mode)) {
                        char target[4096];
                        ssize_t len = readlinkat(dir_fd, name, target, sizeof(target) - 1);
                        if (len < 0) {
                                r = sw_error_errno(w->err, errno, "digest: readlink %s", w->path);
                                continue;
                        }
                        target[len] = '\0';
                        feed_string(w, target);
                } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
                        char dev[32];
                        snprintf(dev, sizeof(dev), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
                        feed_string(w, dev);
                } else if (S_ISREG(st.st_mode)) {
                        int e = feed_file(w, dir_fd, name);
                        if (e < 0)
                                r = sw_error_errno(w->err, -e, "digest: read %s", w->path);
                } else if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                        int e = sub < 0 ? -errno : feed_xattrs(w, sub);
                        if (e < 0)
                                r = sw_error_errno(w->err, -e, "digest: open %s", w->path);
                        else
                                r = walk(w, sub);
                }
                w->path[base] = '\0';
        }
        for (int i = 0; i < n; i++)
                free(entries[i]);
        free(entries);
        return r;
}

int tree_digest(const char *root, char out[TREE_DIGEST_MAX], struct sw_error *err)
{
        _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return sw_error_errno(err, errno, "digest: %s", root);
        struct walker w = { .md = EVP_MD_CTX_new(), .err = err };
        if (!w.md || EVP_DigestInit_ex(w.md, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(w.md);
                return sw_error_set(err, ENOMEM, "digest: sha256");
        }
        int r = walk(&w, fd);
        unsigned char hash[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        EVP_DigestFinal_ex(w.md, hash, &len);
        EVP_MD_CTX_free(w.md);
        if (r < 0)
                return r;
        strcpy(out, "sha256:");
        for (unsigned i = 0; i < len && i < 32; i++)
                snprintf(out + 7 + 2 * i, 3, "%02x", hash[i]);
        return 0;
}
