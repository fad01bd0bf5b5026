/* Cache generations: see include/slipway/cache.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slipway/agent.h"
#include "slipway/agent_spec.h"
#include "slipway/cache.h"
#include "slipway/btrfs.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"
#include "slipway/tree_digest.h"

#define IMPORT_DIR_IN_SEEDER "/run/slipway-import"
#define SEEDER_READY_TIMEOUT 120
#define SAVE_TIMEOUT_S 3600
#define EXEC_OUTPUT_MAX (1u << 20)

struct build {
        struct docker_client *docker;
        const struct cache_build_options *options;
        char id[CACHE_GENERATION_ID_MAX];
        char *cache_dir;     /* <state>/cache */
        char *dir;           /* <state>/cache/building/<id> */
        char *container_id;
        int step, steps; /* for progress */
};

static void progress(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(struct build *b, const char *fmt, ...)
{
        if (!b->options->progress)
                return;
        char line[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (b->step < b->steps)
                b->step++;
        b->options->progress(b->options->progress_user, b->step, b->steps, line);
}

static bool generation_id_valid(const char *id)
{
        size_t len = strlen(id);
        return len > 0 && len < CACHE_GENERATION_ID_MAX && id[0] != '.' &&
               strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == len;
}

static int check_sources(struct build *b, struct sw_error *err)
{
        const struct cache_build_options *o = b->options;
        size_t count = 0;
        for (size_t i = 0; o->images && o->images[i]; i++, count++) {
                _cleanup_json_ json_t *info = NULL;
                int r = docker_image_inspect(b->docker, o->images[i], &info, err);
                if (r == -ENOENT)
                        return sw_error_set(err, ENOENT, "cache build: image %s not found on %s",
                                            o->images[i], docker_host(b->docker));
                if (r < 0)
                        return sw_error_prefix(err, "cache build");
        }
        for (size_t i = 0; o->tar_files && o->tar_files[i]; i++, count++) {
                struct stat st;
                if (o->tar_files[i][0] != '/')
                        return sw_error_set(err, EINVAL, "cache build: give %s as an absolute path",
                                            o->tar_files[i]);
                if (stat(o->tar_files[i], &st) < 0)
                        return sw_error_errno(err, errno, "cache build: %s", o->tar_files[i]);
                if (!S_ISREG(st.st_mode))
                        return sw_error_set(err, EINVAL, "cache build: %s is not a file", o->tar_files[i]);
        }
        if (count == 0)
                return sw_error_set(err, EINVAL, "cache build: no images given (--image or --tar)");
        return 0;
}

static int build_prepare(struct build *b, struct sw_error *err)
{
        char stamp[32], suffix[5];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
        int r = random_hex(suffix, 2);
        if (r < 0)
                return sw_error_errno(err, -r, "generation id");
        snprintf(b->id, sizeof(b->id), "%s-%s", stamp, suffix);
        if (asprintf(&b->cache_dir, "%s/cache", b->options->state_dir) < 0)
                return sw_error_set(err, ENOMEM, "cache build");
        _cleanup_free_ char *building = NULL, *dir = NULL, *data_root = NULL, *import = NULL;
        if (asprintf(&building, "%s/building", b->cache_dir) < 0 ||
            asprintf(&dir, "%s/%s", building, b->id) < 0 ||
            asprintf(&data_root, "%s/data-root", dir) < 0 || asprintf(&import, "%s/import", dir) < 0)
                return sw_error_set(err, ENOMEM, "cache build");
        r = fs_mkdir_p(building, 0700);
        if (r < 0)
                return sw_error_errno(err, -r, "create %s", building);
        if (mkdir(dir, 0700) < 0)
                return sw_error_errno(err, errno, "create %s", dir);
        b->dir = TAKE_PTR(dir);
        /* On btrfs the data root is a subvolume, so agents can be seeded by snapshot and the
         * published generation frozen read-only by the file system itself. */
        bool on_btrfs = false;
        r = btrfs_on(b->dir, &on_btrfs);
        if (r < 0)
                return sw_error_errno(err, -r, "%s", b->dir);
        r = on_btrfs ? btrfs_subvolume_create(data_root) : (mkdir(data_root, 0710) < 0 ? -errno : 0);
        if (r < 0)
                return sw_error_errno(err, -r, "create %s", data_root);
        if (mkdir(import, 0700) < 0)
                return sw_error_errno(err, errno, "create %s", import);
        bool overlay;
        r = fs_is_overlay(data_root, &overlay);
        if (r < 0)
                return sw_error_errno(err, -r, "%s", data_root);
        if (overlay)
                return sw_error_set(err, EINVAL, "cache build: %s is on overlayfs, where overlay2 cannot "
                                    "work: use a state directory on another file system", data_root);
        return 0;
}

static int save_outer_images(struct build *b, struct sw_error *err)
{
        if (!b->options->images || !b->options->images[0])
                return 0;
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/import/images.tar", b->dir) < 0)
                return sw_error_set(err, ENOMEM, "cache build");
        progress(b, "saving images from %s", docker_host(b->docker));
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return sw_error_errno(err, errno, "create %s", path);
        int r = docker_image_save(b->docker, b->options->images, fd, SAVE_TIMEOUT_S, err);
        if (r < 0)
                return sw_error_prefix(err, "cache build");
        if (fsync(fd) < 0)
                return sw_error_errno(err, errno, "write %s", path);
        return 0;
}

static int start_seeder(struct build *b, struct sw_error *err)
{
        const struct cache_build_options *o = b->options;
        _cleanup_strv_ char **cap_drop = NULL;
        int r = agent_cap_drop(b->docker, &cap_drop, err);
        if (r < 0)
                return r;
        size_t tars = 0;
        while (o->tar_files && o->tar_files[tars])
                tars++;
        _cleanup_strv_ char **binds = calloc(tars + 2, sizeof(char *));
        _cleanup_free_ char *data_root = NULL;
        if (!binds || asprintf(&data_root, "%s/data-root", b->dir) < 0 ||
            asprintf(&binds[0], "%s/import:%s:ro", b->dir, IMPORT_DIR_IN_SEEDER) < 0)
                return sw_error_set(err, ENOMEM, "cache build");
        for (size_t i = 0; i < tars; i++)
                if (asprintf(&binds[i + 1], "%s:%s-files/%zu.tar:ro", o->tar_files[i],
                             IMPORT_DIR_IN_SEEDER, i) < 0)
                        return sw_error_set(err, ENOMEM, "cache build");
        static const char *const sleep_forever[] = { "/bin/sleep", "infinity", NULL };
        struct agent_spec spec = {
                .id = b->id,
                .image = o->agent_image ? o->agent_image : AGENT_DEFAULT_IMAGE,
                .state_dir = o->state_dir,
                .data_root = data_root,
                .bind_address = AGENT_DEFAULT_BIND_ADDRESS,
                .cap_drop = (const char *const *) cap_drop,
                .cache_builder = true,
                .command = sleep_forever,
                .extra_binds = (const char *const *) binds,
        };
        _cleanup_json_ json_t *body = agent_spec_container_body(&spec, err);
        if (!body)
                return -1;
        char name[64];
        snprintf(name, sizeof(name), "slipway-cache-%s", b->id);
        progress(b, "starting the seeder (%s)", spec.image);
        r = docker_container_create(b->docker, name, body, &b->container_id, err);
        if (r == -ENOENT)
                return sw_error_set(err, ENOENT, "cache build: agent image %s not found: build it with "
                                    "'make image'", spec.image);
        if (r >= 0)
                r = docker_container_start(b->docker, b->container_id, err);
        if (r >= 0) {
                char what[80];
                snprintf(what, sizeof(what), "cache seeder %s", b->id);
                r = agent_wait_ready(b->docker, what, b->container_id, SEEDER_READY_TIMEOUT, err);
        }
        return r;
}

static int seeder_exec(struct build *b, const char *const *argv, char **output, struct sw_error *err)
{
        struct docker_exec_options exec = { .argv = argv, .user = "root" };
        int exit_code = -1;
        _cleanup_free_ char *out = NULL;
        int r = docker_exec_run(b->docker, b->container_id, &exec, EXEC_OUTPUT_MAX, &out, &exit_code, err);
        if (r < 0)
                return r;
        if (exit_code != 0) {
                size_t len = strlen(out);
                while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
                        out[--len] = '\0';
                for (char *p = out; *p; p++)
                        if (*p == '\n')
                                *p = ' ';
                return sw_error_set(err, EIO, "cache build: %s %s failed (exit %d): %.300s", argv[0],
                                    argv[1], exit_code, out);
        }
        if (output)
                *output = TAKE_PTR(out);
        return 0;
}

static int load_images(struct build *b, struct sw_error *err)
{
        const struct cache_build_options *o = b->options;
        if (o->images && o->images[0]) {
                static const char *const load[] = { "/usr/bin/docker", "load", "-q", "-i",
                                                    IMPORT_DIR_IN_SEEDER "/images.tar", NULL };
                progress(b, "loading images saved from the outer daemon");
                int r = seeder_exec(b, load, NULL, err);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; o->tar_files && o->tar_files[i]; i++) {
                char path[128];
                snprintf(path, sizeof(path), "%s-files/%zu.tar", IMPORT_DIR_IN_SEEDER, i);
                const char *const load[] = { "/usr/bin/docker", "load", "-q", "-i", path, NULL };
                progress(b, "loading %s", o->tar_files[i]);
                int r = seeder_exec(b, load, NULL, err);
                if (r < 0)
                        return sw_error_prefix(err, "%s", o->tar_files[i]);
        }
        return 0;
}

/* The images the seeder's daemon holds, from `docker image ls` (one JSON object a line). */
static int list_images(struct build *b, json_t *images, struct sw_error *err)
{
        static const char *const ls[] = { "/usr/bin/docker", "image", "ls", "--no-trunc",
                                          "--format", "{{json .}}", NULL };
        _cleanup_free_ char *out = NULL;
        int r = seeder_exec(b, ls, &out, err);
        if (r < 0)
                return r;
        char *save = NULL;
        for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                json_error_t jerr;
                _cleanup_json_ json_t *image = json_loads(line, 0, &jerr);
                if (!json_is_object(image))
                        return sw_error_set(err, EPROTO, "cache build: unexpected docker image ls output");
                json_array_append_new(images,
                                      json_pack("{s:O?, s:O?, s:O?, s:O?}", "id", json_object_get(image, "ID"),
                                                "repository", json_object_get(image, "Repository"), "tag",
                                                json_object_get(image, "Tag"), "size",
                                                json_object_get(image, "Size")));
        }
        return 0;
}

static int stop_seeder(struct build *b, struct sw_error *err)
{
        progress(b, "stopping the seeder");
        int r = docker_container_stop(b->docker, b->container_id, AGENT_STOP_TIMEOUT, err);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *info = NULL;
        r = docker_container_inspect(b->docker, b->container_id, &info, err);
        if (r < 0)
                return r;
        json_int_t code = json_integer_value(json_object_get(json_object_get(info, "State"), "ExitCode"));
        /* A dockerd killed mid-write could leave a torn data root: only a clean stop counts. */
        if (code != 0)
                return sw_error_set(err, EIO, "cache build: the seeder did not stop cleanly (exit %lld)",
                                    (long long) code);
        r = docker_container_remove(b->docker, b->container_id, true, true, err);
        if (r < 0)
                return r;
        free(b->container_id);
        b->container_id = NULL;
        return 0;
}

static unsigned long long tree_bytes;
static int add_bytes(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        (void) path;
        (void) ftw;
        if (type == FTW_F)
                tree_bytes += (unsigned long long) st->st_size;
        return 0;
}

static int write_manifest(struct build *b, json_t *images, struct sw_error *err)
{
        _cleanup_free_ char *overlay = NULL, *manifest_path = NULL;
        if (asprintf(&overlay, "%s/data-root/overlay2", b->dir) < 0 ||
            asprintf(&manifest_path, "%s/manifest.json", b->dir) < 0)
                return sw_error_set(err, ENOMEM, "cache build");
        _cleanup_closedir_ DIR *d = opendir(overlay);
        if (!d)
                return sw_error_errno(err, errno, "cache build: %s", overlay);
        int layers = 0;
        struct dirent *entry;
        while ((entry = readdir(d)))
                if (entry->d_name[0] != '.' && strcmp(entry->d_name, "l") != 0)
                        layers++;
        tree_bytes = 0;
        if (nftw(overlay, add_bytes, 32, FTW_PHYS) < 0)
                return sw_error_errno(err, errno, "cache build: measure %s", overlay);

        /* The digest proves later that nothing changed the generation (cache verify). */
        char digest[TREE_DIGEST_MAX];
        _cleanup_free_ char *data_root = NULL;
        if (asprintf(&data_root, "%s/data-root", b->dir) < 0)
                return sw_error_set(err, ENOMEM, "cache build");
        progress(b, "computing the generation's digest");
        int r = tree_digest(data_root, digest, err);
        if (r < 0)
                return r;

        char created[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
        const struct cache_build_options *o = b->options;
        json_t *sources_images = json_array(), *sources_tars = json_array();
        for (size_t i = 0; o->images && o->images[i]; i++)
                json_array_append_new(sources_images, json_string(o->images[i]));
        for (size_t i = 0; o->tar_files && o->tar_files[i]; i++)
                json_array_append_new(sources_tars, json_string(o->tar_files[i]));
        _cleanup_json_ json_t *manifest = json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:O, s:i, s:I, s:{s:o, s:o}}", "id", b->id, "created", created,
                "digest", digest,
                "storage_driver", "overlay2", "agent_image", o->agent_image ? o->agent_image : AGENT_DEFAULT_IMAGE,
                "images", images, "layers", layers, "bytes", (json_int_t) tree_bytes, "sources",
                "images", sources_images, "tar_files", sources_tars);
        _cleanup_free_ char *text = manifest ? json_dumps(manifest, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        if (!text)
                return sw_error_set(err, ENOMEM, "cache build: manifest");
        r = fs_write_atomic(manifest_path, text, strlen(text), 0644);
        if (r < 0)
                return sw_error_errno(err, -r, "write %s", manifest_path);
        progress(b, "%d layers, %.1f MB", layers, (double) tree_bytes / 1e6);
        return 0;
}

/* generations/<id> appears complete or not at all, then `current` flips to it. */
static int publish(struct build *b, struct sw_error *err)
{
        _cleanup_free_ char *import = NULL, *generations = NULL, *final = NULL, *tmp_link = NULL,
                            *current = NULL, *target = NULL;
        if (asprintf(&import, "%s/import", b->dir) < 0 ||
            asprintf(&generations, "%s/generations", b->cache_dir) < 0 ||
            asprintf(&final, "%s/%s", generations, b->id) < 0 ||
            asprintf(&tmp_link, "%s/.current.%d", b->cache_dir, (int) getpid()) < 0 ||
            asprintf(&current, "%s/current", b->cache_dir) < 0 ||
            asprintf(&target, "generations/%s", b->id) < 0)
                return sw_error_set(err, ENOMEM, "cache build");
        int r = fs_remove_tree(import);
        if (r < 0)
                return sw_error_errno(err, -r, "remove %s", import);
        r = fs_mkdir_p(generations, 0755);
        if (r < 0)
                return sw_error_errno(err, -r, "create %s", generations);
        if (rename(b->dir, final) < 0)
                return sw_error_errno(err, errno, "publish %s", final);
        free(b->dir);
        b->dir = NULL; /* from here on a failure leaves a complete, non-current generation */
        _cleanup_free_ char *data_root = NULL;
        if (asprintf(&data_root, "%s/data-root", final) < 0)
                return sw_error_set(err, ENOMEM, "cache build");
        _cleanup_close_ int root_fd = open(data_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd >= 0 && btrfs_is_subvolume_fd(root_fd)) {
                r = btrfs_subvolume_set_readonly(data_root);
                if (r < 0)
                        return sw_error_errno(err, -r, "freeze %s read-only", data_root);
        }
        unlink(tmp_link);
        if (symlink(target, tmp_link) < 0 || rename(tmp_link, current) < 0) {
                int saved = errno;
                unlink(tmp_link);
                return sw_error_errno(err, saved, "make %s current", b->id);
        }
        _cleanup_close_ int dfd = open(b->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void) fsync(dfd);
        return 0;
}

/* A stop signal pending (see agent_stop_requested): give up, and let the rollback run. */
static int check_cancelled(struct build *b, struct sw_error *err)
{
        return agent_stop_requested() ? sw_error_set(err, ECANCELED, "cache build %s interrupted", b->id) : 0;
}

int cache_build(struct docker_client *docker, const struct cache_build_options *options,
                char **generation_out, struct sw_error *err)
{
        struct build b = { .docker = docker, .options = options };
        /* save (with --image), start, one load per source, stop, digest, result */
        size_t sources = 0;
        while (options->tar_files && options->tar_files[sources])
                sources++;
        bool outer = options->images && options->images[0];
        b.steps = (int) sources + (outer ? 2 : 0) + 4;
        _cleanup_json_ json_t *images = json_array();
        /* building/<id> has no seeder to pin it before start_seeder and after stop_seeder, and
         * generations/<id> is not yet current between publish's rename and its symlink flip:
         * keep gc out for the whole build. */
        _cleanup_close_ int lock_fd = -1;
        int r = images ? check_sources(&b, err) : sw_error_set(err, ENOMEM, "cache build");
        if (r >= 0)
                r = cache_lock(options->state_dir, false, &lock_fd, err);
        if (r >= 0)
                r = build_prepare(&b, err);
        if (r >= 0)
                r = save_outer_images(&b, err);
        if (r >= 0 && (r = check_cancelled(&b, err)) >= 0)
                r = start_seeder(&b, err);
        if (r >= 0 && (r = check_cancelled(&b, err)) >= 0)
                r = load_images(&b, err);
        if (r >= 0 && (r = check_cancelled(&b, err)) >= 0)
                r = list_images(&b, images, err);
        if (r >= 0)
                r = stop_seeder(&b, err);
        if (r >= 0 && (r = check_cancelled(&b, err)) >= 0)
                r = write_manifest(&b, images, err);
        if (r >= 0)
                r = publish(&b, err);
        if (r < 0) {
                /* A half-built generation never survives. */
                struct sw_error ignored;
                if (b.container_id)
                        (void) agent_destroy(docker, b.container_id, NULL, &ignored);
                if (b.dir)
                        (void) fs_remove_tree(b.dir);
        } else {
                *generation_out = strdup(b.id);
        }
        free(b.container_id);
        free(b.dir);
        free(b.cache_dir);
        return r;
}

int cache_lock(const char *state_dir, bool exclusive, int *fd_out, struct sw_error *err)
{
        _cleanup_free_ char *dir = NULL, *path = NULL;
        if (asprintf(&dir, "%s/cache", state_dir) < 0 || asprintf(&path, "%s/lock", dir) < 0)
                return sw_error_set(err, ENOMEM, "cache lock");
        int r = fs_mkdir_p(dir, 0755);
        if (r < 0)
                return sw_error_errno(err, -r, "cache lock: create %s", dir);
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return sw_error_errno(err, errno, "cache lock: open %s", path);
        while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0)
                if (errno != EINTR)
                        return sw_error_errno(err, errno, "cache lock: lock %s %s", path,
                                              exclusive ? "exclusive" : "shared");
        *fd_out = TAKE_FD(fd);
        return 0;
}

void cache_unlock(int *fd)
{
        sw_closep(fd);
        *fd = -1;
}

int cache_generation_root(const char *state_dir, const char *generation, char **data_root,
                          struct sw_error *err)
{
        if (!generation_id_valid(generation))
                return sw_error_set(err, EINVAL, "invalid cache generation \"%.64s\"", generation);
        _cleanup_free_ char *path = NULL, *manifest = NULL;
        if (asprintf(&path, "%s/cache/generations/%s/data-root", state_dir, generation) < 0 ||
            asprintf(&manifest, "%s/cache/generations/%s/manifest.json", state_dir, generation) < 0)
                return sw_error_set(err, ENOMEM, "cache");
        /* No manifest, no generation: it was never completed. */
        if (access(manifest, F_OK) < 0 || access(path, F_OK) < 0)
                return sw_error_set(err, ENOENT, "no cache generation %s in %s/cache", generation, state_dir);
        *data_root = TAKE_PTR(path);
        return 0;
}

int cache_current(const char *state_dir, char **generation, char **data_root, struct sw_error *err)
{
        _cleanup_free_ char *link = NULL;
        if (asprintf(&link, "%s/cache/current", state_dir) < 0)
                return sw_error_set(err, ENOMEM, "cache");
        char target[256];
        ssize_t len = readlink(link, target, sizeof(target) - 1);
        if (len < 0)
                return errno == ENOENT ? sw_error_set(err, ENOENT, "no current cache generation in %s/cache",
                                                      state_dir)
                                       : sw_error_errno(err, errno, "read %s", link);
        target[len] = '\0';
        const char *id = strncmp(target, "generations/", 12) == 0 ? target + 12 : target;
        int r = cache_generation_root(state_dir, id, data_root, err);
        if (r < 0)
                return r;
        *generation = strdup(id);
        return *generation ? 0 : sw_error_set(err, ENOMEM, "cache");
}

int cache_list(const char *state_dir, json_t **out, struct sw_error *err)
{
        _cleanup_free_ char *dir = NULL, *current = NULL, *current_root = NULL;
        if (asprintf(&dir, "%s/cache/generations", state_dir) < 0)
                return sw_error_set(err, ENOMEM, "cache");
        struct sw_error ignored;
        (void) cache_current(state_dir, &current, &current_root, &ignored);
        _cleanup_json_ json_t *list = json_array();
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d && errno != ENOENT)
                return sw_error_errno(err, errno, "read %s", dir);
        struct dirent *entry;
        while (d && (entry = readdir(d))) {
                if (!generation_id_valid(entry->d_name))
                        continue;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s/manifest.json", dir, entry->d_name) < 0)
                        return sw_error_set(err, ENOMEM, "cache");
                json_error_t jerr;
                json_t *manifest = json_load_file(path, 0, &jerr);
                if (!json_is_object(manifest)) {
                        json_decref(manifest);
                        manifest = json_pack("{s:s, s:s}", "id", entry->d_name, "error",
                                             "manifest missing or unreadable");
                }
                json_object_set_new(manifest, "current",
                                    json_boolean(current && strcmp(current, entry->d_name) == 0));
                json_array_append_new(list, manifest);
        }
        *out = TAKE_PTR(list);
        return 0;
}

int cache_verify(const char *state_dir, const char *generation, char **generation_out,
                 char **digest_out, struct sw_error *err)
{
        _cleanup_free_ char *id = NULL, *data_root = NULL, *manifest_path = NULL;
        int r = generation ? cache_generation_root(state_dir, generation, &data_root, err)
                           : cache_current(state_dir, &id, &data_root, err);
        if (r < 0)
                return r;
        if (!id && !(id = strdup(generation)))
                return sw_error_set(err, ENOMEM, "cache verify");
        if (asprintf(&manifest_path, "%s/cache/generations/%s/manifest.json", state_dir, id) < 0)
                return sw_error_set(err, ENOMEM, "cache verify");
        json_error_t jerr;
        _cleanup_json_ json_t *manifest = json_load_file(manifest_path, 0, &jerr);
        const char *recorded = json_string_value(json_object_get(manifest, "digest"));
        if (!recorded)
                return sw_error_set(err, EINVAL, "cache verify: %s: no digest (%s)", manifest_path,
                                    manifest ? "field missing" : jerr.text);
        char digest[TREE_DIGEST_MAX];
        r = tree_digest(data_root, digest, err);
        if (r < 0)
                return r;
        if (generation_out)
                *generation_out = strdup(id);
        if (digest_out)
                *digest_out = strdup(digest);
        if (strcmp(recorded, digest) != 0)
                return sw_error_set(err, EUCLEAN, "cache generation %s CHANGED: manifest says %s, the tree is now %s",
                                    id, recorded, digest);
        return 0;
}

static bool string_listed(json_t *list, const char *value)
{
        json_t *item;
        size_t i;
        json_array_foreach(list, i, item)
                if (json_is_string(item) && strcmp(json_string_value(item), value) == 0)
                        return true;
        return false;
}

/* Generations pinned by agents, and builds still running, from container labels. */
static int cache_in_use(struct docker_client *docker, const char *state_dir, json_t *pinned,
                        json_t *building, struct sw_error *err)
{
        _cleanup_free_ char *filter = NULL;
        if (asprintf(&filter, "%s=%s", AGENT_LABEL_STATE_DIR, state_dir) < 0)
                return sw_error_set(err, ENOMEM, "cache gc");
        _cleanup_json_ json_t *containers = NULL;
        int r = docker_container_list(docker, filter, true, &containers, err);
        if (r < 0)
                return r;
        json_t *container;
        size_t i;
        json_array_foreach(containers, i, container) {
                json_t *labels = json_object_get(container, "Labels");
                json_t *gen = json_object_get(labels, AGENT_LABEL_GENERATION);
                json_t *build = json_object_get(labels, AGENT_LABEL_CACHE_BUILD);
                if (json_is_string(gen))
                        json_array_append(pinned, gen);
                if (json_is_string(build))
                        json_array_append(building, build);
        }
        return 0;
}

static int gc_dir(const char *dir, json_t *keep, const char *keep_also, const char *kind,
                  json_t *removed, struct sw_error *err)
{
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : sw_error_errno(err, errno, "read %s", dir);
        struct dirent *entry;
        while ((entry = readdir(d))) {
                const char *id = entry->d_name;
                if (!generation_id_valid(id) || string_listed(keep, id) ||
                    (keep_also && strcmp(keep_also, id) == 0))
                        continue;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", dir, id) < 0)
                        return sw_error_set(err, ENOMEM, "cache gc");
                int r = fs_remove_tree(path);
                if (r < 0)
                        return sw_error_errno(err, -r, "cache gc: remove %s", path);
                json_array_append_new(removed, json_pack("{s:s, s:s}", "id", id, "kind", kind));
        }
        return 0;
}

int cache_gc(struct docker_client *docker, const char *state_dir, json_t **removed_out,
             struct sw_error *err)
{
        _cleanup_json_ json_t *pinned = json_array(), *building = json_array(), *removed = json_array();
        /* Exclusive from listing the pins to the last removal: no agent is between choosing a
         * generation and creating the container that pins it, and no build is under way. */
        _cleanup_close_ int lock_fd = -1;
        int r = cache_lock(state_dir, true, &lock_fd, err);
        if (r < 0)
                return r;
        r = cache_in_use(docker, state_dir, pinned, building, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *current = NULL, *current_root = NULL, *generations = NULL, *builds = NULL;
        r = cache_current(state_dir, &current, &current_root, err);
        if (r < 0 && r != -ENOENT)
                return r;
        sw_error_clear(err);
        if (asprintf(&generations, "%s/cache/generations", state_dir) < 0 ||
            asprintf(&builds, "%s/cache/building", state_dir) < 0)
                return sw_error_set(err, ENOMEM, "cache gc");
        r = gc_dir(generations, pinned, current, "generation", removed, err);
        if (r >= 0)
                r = gc_dir(builds, building, NULL, "unfinished build", removed, err);
        if (r < 0)
                return r;
        *removed_out = TAKE_PTR(removed);
        return 0;
}
