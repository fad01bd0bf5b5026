/* session_probe: run inside an agent's SSH session (as the build would), it tries each thing a
 * confined session must not be able to do and prints one line per attempt:
 *   <attempt> denied <errno name>    or    <attempt> ALLOWED
 * Exit status: the number of attempts that were allowed. Built static so that it runs in any
 * agent image; the test copies it in over SSH. It refuses to run as root: there its attempts
 * would succeed and, say, mount a tmpfs over /tmp. */
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int allowed;
static pid_t victim;

/* Each attempt runs in a child of its own, so that one that succeeds (say, entering a new user
 * namespace) cannot change the outcome of the next; its exit status carries the errno. */
static void attempt(const char *name, long (*try)(void))
{
        pid_t pid = fork();
        if (pid == 0) {
                errno = 0;
                long result = try();
                _exit(result >= 0 ? 0 : (errno > 0 && errno < 256 ? errno : 255));
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) {
                printf("%-28s ERROR (probe)\n", name);
                allowed++;
                return;
        }
        int code = WEXITSTATUS(status);
        if (code == 0) {
                printf("%-28s ALLOWED\n", name);
                allowed++;
        } else {
                printf("%-28s denied %s\n", name, strerrorname_np(code) ?: "?");
        }
        fflush(stdout);
}

static long try_unshare_user(void) { return unshare(CLONE_NEWUSER); }
static long try_clone_user(void)
{
        long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0)
                _exit(0);
        return pid < 0 ? -1 : waitpid((pid_t) pid, NULL, 0);
}
static long try_mount(void) { return mount("none", "/tmp", "tmpfs", 0, NULL); }
static long try_fsopen(void) { return syscall(SYS_fsopen, "tmpfs", 0); }
static long try_keyctl(void) { return syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL); }
static long try_add_key(void)
{
        return syscall(SYS_add_key, "user", "slipway", "x", 1, KEY_SPEC_PROCESS_KEYRING);
}
static long try_bpf(void) { return syscall(SYS_bpf, 0, NULL, 0); }
static long try_open_by_handle(void)
{
        struct {
                unsigned int bytes;
                int type;
                unsigned char handle[8];
        } handle = { .bytes = 8 };
        return syscall(SYS_open_by_handle_at, AT_FDCWD, &handle, O_RDONLY);
}
static long try_ptrace_attach(void) { return ptrace(PTRACE_ATTACH, victim, NULL, NULL); }
static long try_ptrace_seize(void) { return ptrace(PTRACE_SEIZE, victim, NULL, NULL); }
static long try_setns(void) { return syscall(SYS_setns, open("/proc/self/ns/mnt", O_RDONLY), 0); }
static long try_userfaultfd(void) { return syscall(SYS_userfaultfd, 0); }
static long try_perf_event_open(void) { return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0); }
static long try_io_uring(void) { return syscall(SYS_io_uring_setup, 1, NULL); }
static long try_kexec(void) { return syscall(SYS_kexec_load, 0, 0, NULL, 0); }
static long try_init_module(void) { return syscall(SYS_init_module, NULL, 0, ""); }

int main(int argc, char **argv)
{
        /* As root outside an agent, the attempts would succeed for real (mount over /tmp...). */
        if (getuid() == 0) {
                fprintf(stderr, "session_probe: run it as the build user inside an agent, never as root\n");
                return 100;
        }
        /* A process of the same user the session did not start: given by the test. */
        victim = argc > 1 ? (pid_t) atoi(argv[1]) : 1;
        attempt("unshare(CLONE_NEWUSER)", try_unshare_user);
        attempt("clone(CLONE_NEWUSER)", try_clone_user);
        attempt("mount tmpfs", try_mount);
        attempt("fsopen tmpfs", try_fsopen);
        attempt("keyctl join session", try_keyctl);
        attempt("add_key", try_add_key);
        attempt("bpf", try_bpf);
        attempt("open_by_handle_at", try_open_by_handle);
        attempt("ptrace attach", try_ptrace_attach);
        attempt("ptrace seize", try_ptrace_seize);
        attempt("setns", try_setns);
        attempt("userfaultfd", try_userfaultfd);
        attempt("perf_event_open", try_perf_event_open);
        attempt("io_uring_setup", try_io_uring);
        attempt("kexec_load", try_kexec);
        attempt("init_module", try_init_module);
        return allowed;
}
