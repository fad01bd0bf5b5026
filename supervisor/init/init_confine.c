/* Confinement of the service (sshd) and of every session it starts: a build is untrusted code.
 *
 * The agent container keeps most capabilities because its inner dockerd needs them. The
 * service must not inherit them: slipway-init re-executes itself as
 * `slipway-init --confine-exec SERVICE ARGS...`, which shrinks its capability bounding set to
 * what sshd needs, clears the inheritable and ambient sets, sets no_new_privs (so no setuid
 * binary in the image can raise a session again) and loads a seccomp filter, then executes
 * the service. All of it is inherited by sshd's sessions and everything they start, and none
 * of it can be undone from inside.
 *
 * The filter denies what reaches past the agent's namespaces or builds a way out of them:
 * mounting (old and new mount API), pivot_root, kexec, kernel modules, bpf, the kernel
 * keyring, open_by_handle_at, joining or creating user namespaces (unshare/clone with
 * CLONE_NEWUSER; clone3 answers ENOSYS so that libc falls back to clone, whose flags a filter
 * can read), attaching ptrace or reading the memory of processes the caller did not start
 * (PTRACE_TRACEME, how debuggers start a program, stays allowed; pidfd_getfd and
 * process_madvise too; /proc/PID/mem of the same user is not a system call a filter can
 * tell apart), userfaultfd, perf events,
 * io_uring, swap, reboot, syslog, acct and quotactl. Everything else is allowed: the inner
 * dockerd is not under this filter and gives containers Docker's own. */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <unistd.h>

#include "init.h"

/* What sshd needs: switching to the user (SETUID, SETGID), its privilege-separation chroot,
 * chown of the session's pty, reading root-only keys, port 22, and audit records. */
static const cap_value_t session_caps[] = {
        CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER,           CAP_FSETID,     CAP_KILL,
        CAP_SETGID, CAP_SETUID,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_AUDIT_WRITE,
};

static const char *const denied_syscalls[] = {
        "mount",         "umount",         "umount2",      "pivot_root",   "fsopen",
        "fsconfig",      "fsmount",        "fspick",       "move_mount",   "open_tree",
        "mount_setattr", "kexec_load",     "kexec_file_load", "init_module", "finit_module",
        "delete_module", "bpf",            "keyctl",       "add_key",      "request_key",
        "open_by_handle_at", "setns",      "userfaultfd",  "perf_event_open", "process_vm_readv",
        "process_vm_writev", "pidfd_getfd", "process_madvise", "io_uring_setup", "io_uring_enter",
        "io_uring_register", "swapon",
        "swapoff",       "reboot",         "syslog",       "acct",         "quotactl",
};

struct cap_set {
        const cap_value_t *caps;
        size_t count;
};

static bool cap_kept(const struct cap_set *keep, cap_value_t cap)
{
        for (size_t i = 0; i < keep->count; i++)
                if (keep->caps[i] == cap)
                        return true;
        return false;
}

static int confine_capabilities(const struct cap_set *keep, struct sw_error *err)
{
        int last = (int) cap_max_bits() - 1;
        for (int cap = 0; cap <= last; cap++) {
                if (cap_kept(keep, (cap_value_t) cap))
                        continue;
                if (cap_drop_bound((cap_value_t) cap) < 0 && errno != EINVAL)
                        return sw_error_errno(err, errno, "drop capability %d from the bounding set", cap);
        }
        /* Permitted and effective: the session set at most; inheritable: nothing, or an exec of
         * a root program would get it back through inheritable | bounding. */
        cap_t caps = cap_get_proc();
        if (!caps)
                return sw_error_errno(err, errno, "read capabilities");
        int r = cap_clear_flag(caps, CAP_INHERITABLE);
        for (int cap = 0; r == 0 && cap <= last; cap++) {
                if (cap_kept(keep, (cap_value_t) cap))
                        continue;
                cap_value_t value = (cap_value_t) cap;
                r = cap_set_flag(caps, CAP_PERMITTED, 1, &value, CAP_CLEAR);
                if (r == 0)
                        r = cap_set_flag(caps, CAP_EFFECTIVE, 1, &value, CAP_CLEAR);
        }
        if (r == 0)
                r = cap_set_proc(caps);
        int saved = errno;
        cap_free(caps);
        if (r < 0)
                return sw_error_errno(err, saved, "set the session's capabilities");
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return sw_error_errno(err, errno, "clear ambient capabilities");
        return 0;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned count,
                    const struct scmp_arg_cmp *args, struct sw_error *err)
{
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR)
                return 0; /* unknown to this libseccomp: nothing to deny by number */
        int r = seccomp_rule_add_array(ctx, action, nr, count, args);
        if (r < 0)
                return sw_error_errno(err, -r, "seccomp rule for %s", name);
        return 0;
}

static int confine_syscalls(struct sw_error *err)
{
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return sw_error_set(err, ENOMEM, "seccomp_init");
        int r = 0;
#if defined(__x86_64__)
        /* The same rules for 32-bit and x32 system calls, or int 0x80 would go around them. */
        static const uint32_t other_arches[] = { SCMP_ARCH_X86, SCMP_ARCH_X32 };
        for (size_t i = 0; r == 0 && i < sizeof(other_arches) / sizeof(other_arches[0]); i++) {
                r = seccomp_arch_add(ctx, other_arches[i]);
                if (r == -EEXIST)
                        r = 0;
        }
        if (r < 0) {
                seccomp_release(ctx);
                return sw_error_errno(err, -r, "seccomp: add 32-bit architectures");
        }
#endif
        const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
        for (size_t i = 0; r == 0 && i < sizeof(denied_syscalls) / sizeof(denied_syscalls[0]); i++)
                r = add_rule(ctx, deny, denied_syscalls[i], 0, NULL, err);
        const struct scmp_arg_cmp new_user_ns = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER);
        const struct scmp_arg_cmp attach = SCMP_A0(SCMP_CMP_EQ, PTRACE_ATTACH);
        const struct scmp_arg_cmp seize = SCMP_A0(SCMP_CMP_EQ, PTRACE_SEIZE);
        if (r == 0)
                r = add_rule(ctx, deny, "unshare", 1, &new_user_ns, err);
        if (r == 0)
                r = add_rule(ctx, deny, "clone", 1, &new_user_ns, err);
        if (r == 0)
                r = add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err);
        if (r == 0)
                r = add_rule(ctx, deny, "ptrace", 1, &attach, err);
        if (r == 0)
                r = add_rule(ctx, deny, "ptrace", 1, &seize, err);
        if (r == 0) {
                /* Also sets no_new_privs (SCMP_FLTATR_CTL_NNP defaults to on). */
                int loaded = seccomp_load(ctx);
                if (loaded < 0)
                        r = sw_error_errno(err, -loaded, "load the session's seccomp filter");
        }
        seccomp_release(ctx);
        return r;
}

static int confine(const struct cap_set *keep, struct sw_error *err)
{
        if (confine_capabilities(keep, err) < 0)
                return -1;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return sw_error_errno(err, errno, "set no_new_privs");
        return confine_syscalls(err);
}

int init_confine_helper(struct sw_error *err)
{
        /* Only what it takes to become nobody next (init_dns.c): that uid change clears the
         * rest, and no_new_privs keeps it cleared. */
        static const cap_value_t become_nobody[] = { CAP_SETUID, CAP_SETGID };
        const struct cap_set keep = { become_nobody, 2 };
        return confine(&keep, err);
}

int init_confine_exec(char **argv)
{
        struct sw_error err = { 0 };
        if (!argv[0] || argv[0][0] != '/') {
                init_log("%s: give the absolute path of a program", INIT_CONFINE_FLAG);
                return 127;
        }
        const struct cap_set keep = { session_caps, sizeof(session_caps) / sizeof(session_caps[0]) };
        if (confine(&keep, &err) < 0) {
                /* Never run the service unconfined. */
                init_log("cannot confine %s: %s", argv[0], err.message);
                return 126;
        }
        execv(argv[0], argv);
        init_log("cannot execute %s: %s", argv[0], strerror(errno));
        return 127;
}
