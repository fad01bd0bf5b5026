/* File system helpers: tree removal never follows symlinks; bounded reads refuse, not truncate. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "slipway/cleanup.h"
#include "slipway/fsutil.h"

/* A temporary directory (into dir) holding keep/precious, a file no removal may touch; its
 * path into keep. */
static void make_keeper(char *dir, char *keep, size_t size)
{
        char path[512];
        assert_non_null(mkdtemp(dir));
        snprintf(keep, size, "%s/keep", dir);
        assert_int_equal(fs_mkdir_p(keep, 0755), 0);
        snprintf(path, sizeof(path), "%s/precious", keep);
        assert_int_equal(fs_write_atomic(path, "x", 1, 0444), 0);
}

static void assert_kept(const char *keep)
{
        char path[512];
        snprintf(path, sizeof(path), "%s/precious", keep);
        assert_int_equal(access(path, F_OK), 0);
}

static void test_remove_tree_keeps_symlink_targets(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-fs-XXXXXX";
        char path[512], target[512];
        make_keeper(dir, target, sizeof(target));
        snprintf(path, sizeof(path), "%s/tree/a/b", dir);
        assert_int_equal(fs_mkdir_p(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/tree/a/b/diff", dir);
        assert_int_equal(symlink(target, path), 0); /* like a seeded layer's diff link */

        snprintf(path, sizeof(path), "%s/tree", dir);
        assert_int_equal(fs_remove_tree(path), 0);
        assert_int_equal(access(path, F_OK), -1);
        assert_kept(target);
        snprintf(path, sizeof(path), "%s/missing", dir);
        assert_int_equal(fs_remove_tree(path), 0);
        assert_int_equal(fs_remove_tree(dir), 0);
}

/* Deeper than anything the fd budget, a path or a recursion could cover. */
#define DEEP_LEVELS 20000

static int count_open_fds(void)
{
        _cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
        assert_non_null(d);
        int n = 0;
        struct dirent *entry;
        while ((entry = readdir(d)))
                n += entry->d_name[0] != '.';
        return n;
}

static void test_remove_tree_deep_with_few_fds(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-fs-XXXXXX";
        char path[512], target[512];
        make_keeper(dir, target, sizeof(target));

        /* Built by fd, as a nested container would: the full path is far past PATH_MAX. Every
         * hundredth level also has a sibling directory (found again when the level is read a
         * second time after being closed for the fd budget), a file and a symlink out. */
        snprintf(path, sizeof(path), "%s/tree", dir);
        assert_int_equal(mkdir(path, 0700), 0);
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        for (int level = 0; level < DEEP_LEVELS; level++) {
                if (level % 100 == 0) {
                        assert_int_equal(mkdirat(fd, "sibling", 0700), 0);
                        int file = openat(fd, "sibling/file", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                        assert_true(file >= 0);
                        close(file);
                        assert_int_equal(symlinkat(target, fd, "outside"), 0);
                }
                assert_int_equal(mkdirat(fd, "d", 0700), 0);
                int next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                assert_true(next >= 0);
                close(fd);
                fd = next;
        }
        assert_int_equal(symlinkat(target, fd, "outside"), 0);
        close(fd);

        /* One fd per level ran out of these at a depth of about 64 (EMFILE). */
        struct rlimit saved, low;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
        low = (struct rlimit){ .rlim_cur = 64, .rlim_max = saved.rlim_max };
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
        int fds_before = count_open_fds();
        snprintf(path, sizeof(path), "%s/tree", dir);
        int r = fs_remove_tree(path);
        int fds_after = count_open_fds();
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);

        assert_int_equal(r, 0);
        assert_int_equal(fds_after, fds_before);
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(errno, ENOENT);
        assert_kept(target);
        assert_int_equal(fs_remove_tree(dir), 0);
}

static int write_proc_file(const char *path, const char *text)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return fs_write_all(fd, text, strlen(text));
}

/* In a private mount namespace, bind mount keep onto a directory deep in tree (same device,
 * so only the mount-root attribute tells) and try to remove tree. Exit status 0 if that was
 * refused with EBUSY and keep is untouched. */
static int remove_tree_over_bind_mount(const char *keep, const char *mount_point, const char *tree)
{
        if (geteuid() != 0) {
                /* Without root, a user namespace (our uid as its root) gives the mount one. */
                char uid_map[64], gid_map[64];
                snprintf(uid_map, sizeof(uid_map), "0 %u 1\n", (unsigned) geteuid());
                snprintf(gid_map, sizeof(gid_map), "0 %u 1\n", (unsigned) getegid());
                if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                        return 10;
                if (write_proc_file("/proc/self/uid_map", uid_map) < 0 ||
                    write_proc_file("/proc/self/setgroups", "deny") < 0 ||
                    write_proc_file("/proc/self/gid_map", gid_map) < 0)
                        return 11;
        } else if (unshare(CLONE_NEWNS) < 0) {
                return 10;
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return 12;
        if (mount(keep, mount_point, NULL, MS_BIND, NULL) < 0)
                return 13;
        if (fs_remove_tree(tree) != -EBUSY)
                return 14;
        char precious[512];
        snprintf(precious, sizeof(precious), "%s/precious", keep);
        if (access(precious, F_OK) < 0)
                return 15;
        return 0;
}

static void test_remove_tree_refuses_mounts(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-fs-XXXXXX";
        char keep[512], path[512], tree[512];
        make_keeper(dir, keep, sizeof(keep));
        snprintf(tree, sizeof(tree), "%s/tree", dir);
        /* Deeper than the fd budget, so the walk has closed and re-opened levels above it. */
        int n = snprintf(path, sizeof(path), "%s", tree);
        for (int level = 0; level < 40; level++)
                n += snprintf(path + n, sizeof(path) - (size_t) n, "/d");
        snprintf(path + n, sizeof(path) - (size_t) n, "/mnt");
        assert_int_equal(fs_mkdir_p(path, 0700), 0);

        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(remove_tree_over_bind_mount(keep, path, tree));
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);

        /* The mount went with its namespace: now the same tree goes whole. */
        assert_int_equal(fs_remove_tree(tree), 0);
        assert_int_equal(access(tree, F_OK), -1);
        assert_kept(keep);
        assert_int_equal(fs_remove_tree(dir), 0);
}

/* Owners moved into a range: ids below it shifted, others kept, symlinks not followed,
 * setuid kept, a file with a second link left alone when asked; fs_write_text writes only
 * what exists, and never through a symlink. */
static void test_shift_owners_and_write_text(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-fs-XXXXXX", keep[512], path[512];
        make_keeper(dir, keep, sizeof(keep)); /* keep/precious: root's, outside "tree" */
        snprintf(path, sizeof(path), "%s/tree/sub", dir);
        assert_int_equal(fs_mkdir_p(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/tree/sub/suid", dir);
        assert_int_equal(fs_write_atomic(path, "x", 1, 04755), 0);
        assert_int_equal(chown(path, 1000, 1000), 0);
        assert_int_equal(chmod(path, 04755), 0);
        snprintf(path, sizeof(path), "%s/tree/high", dir);
        assert_int_equal(fs_write_atomic(path, "x", 1, 0644), 0);
        assert_int_equal(chown(path, 70000, 70000), 0);
        char linked[512], target[512];
        snprintf(linked, sizeof(linked), "%s/tree/link", dir);
        snprintf(target, sizeof(target), "%s/precious", keep);
        assert_int_equal(symlink(target, linked), 0);
        snprintf(linked, sizeof(linked), "%s/tree/hard", dir);
        assert_int_equal(link(target, linked), 0);

        snprintf(path, sizeof(path), "%s/tree", dir);
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fs_shift_owners(fd, 100000, 65536, FS_SHIFT_SKIP_LINKED, 8), 0);
        assert_int_equal(fs_shift_owners(fd, 100000, 65536, FS_SHIFT_SKIP_LINKED, 0), -ELOOP); /* "sub" is a level */
        close(fd);
        struct stat st;
        snprintf(path, sizeof(path), "%s/tree/sub/suid", dir);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_uid, 101000);
        assert_int_equal(st.st_gid, 101000);
        assert_true(st.st_mode & S_ISUID);
        snprintf(path, sizeof(path), "%s/tree/sub", dir);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_uid, 100000);
        snprintf(path, sizeof(path), "%s/tree/high", dir);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_uid, 70000);
        snprintf(path, sizeof(path), "%s/tree/link", dir);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_uid, 100000); /* the link itself */
        assert_int_equal(stat(target, &st), 0);
        assert_int_equal(st.st_uid, 0); /* neither through the symlink nor the hard link */
        snprintf(path, sizeof(path), "%s/tree", dir);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_uid, 0); /* the top is the caller's */

        assert_int_equal(fs_write_text(target, "y"), 0);
        snprintf(path, sizeof(path), "%s/tree/link", dir);
        assert_int_equal(fs_write_text(path, "z"), -ELOOP);
        snprintf(path, sizeof(path), "%s/tree/missing", dir);
        assert_int_equal(fs_write_text(path, "z"), -ENOENT);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(fs_read_bounded(target, 16, &text, NULL), 0);
        assert_string_equal(text, "y");
        assert_int_equal(fs_remove_tree(dir), 0);
}

static void test_read_bounded(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-fs-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char path[512];
        snprintf(path, sizeof(path), "%s/f", dir);
        assert_int_equal(fs_write_atomic(path, "hello", 5, 0600), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        assert_int_equal(fs_read_bounded(path, 5, &text, &len), 0);
        assert_string_equal(text, "hello");
        assert_int_equal(len, 5);
        char *too_big = NULL;
        assert_int_equal(fs_read_bounded(path, 4, &too_big, &len), -EFBIG);
        assert_null(too_big);
        assert_int_equal(fs_read_bounded("/nonexistent", 4, &too_big, &len), -ENOENT);
        assert_int_equal(fs_remove_tree(dir), 0);
}

static void count_event(const struct inotify_event *event, void *user)
{
        if (event->len && strcmp(event->name, "notice") == 0)
                ++*(int *) user;
}

/* A notice is seen whole (one rename, no temporary left), and a drain reads what is queued
 * but no more than it is allowed to. */
static void test_notice_and_inotify_drain(void **state)
{
        (void) state;
        char dir[] = "/tmp/slipway-fs-XXXXXX";
        assert_non_null(mkdtemp(dir));
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        assert_true(dfd >= 0 && in >= 0);
        assert_true(inotify_add_watch(in, dir, IN_MOVED_TO | IN_CLOSE_WRITE) >= 0);
        assert_int_equal(fs_write_notice_at(dfd, "notice", "offline\n"), 0);
        int seen = 0;
        fs_inotify_drain(in, 8, count_event, &seen);
        assert_int_equal(seen, 1); /* the rename; the temporary's close has another name */
        char path[512];
        snprintf(path, sizeof(path), "%s/notice", dir);
        _cleanup_free_ char *text = NULL;
        assert_int_equal(fs_read_bounded(path, 64, &text, NULL), 0);
        assert_string_equal(text, "offline\n");
        snprintf(path, sizeof(path), "%s/.notice.tmp", dir);
        assert_int_equal(access(path, F_OK), -1);
        /* 200 notices queue 400 events (the temporary's close, the rename); one read of the
         * drain's buffer takes part of them, and the rest stays for the next call. */
        for (int i = 0; i < 200; i++)
                assert_int_equal(fs_write_notice_at(dfd, "notice", "x"), 0);
        seen = 0;
        fs_inotify_drain(in, 1, count_event, &seen);
        assert_in_range(seen, 1, 199);
        fs_inotify_drain(in, 1000, count_event, &seen);
        assert_int_equal(seen, 200);
        assert_int_equal(fs_write_notice_at(-1, "notice", "x"), -EBADF);
        assert_int_equal(fs_remove_tree(dir), 0);
}

static void test_random_hex(void **state)
{
        (void) state;
        char a[13], b[13];
        assert_int_equal(random_hex(a, 6), 0);
        assert_int_equal(random_hex(b, 6), 0);
        assert_int_equal(strlen(a), 12);
        assert_int_equal(strspn(a, "0123456789abcdef"), 12);
        assert_string_not_equal(a, b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_remove_tree_keeps_symlink_targets),
                cmocka_unit_test(test_remove_tree_deep_with_few_fds),
                cmocka_unit_test(test_remove_tree_refuses_mounts),
                cmocka_unit_test(test_shift_owners_and_write_text),
                cmocka_unit_test(test_read_bounded),
                cmocka_unit_test(test_random_hex),
                cmocka_unit_test(test_notice_and_inotify_drain),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
