/* slipway-init: PID 1 of agent containers. Static: libc, plus libseccomp and libcap (the
 * confined service). */
#ifndef SLIPWAY_INIT_H
#define SLIPWAY_INIT_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "slipway/error.h"
#include "slipway/userns.h"

#define INIT_RUN_DIR "/run/slipway"
#define INIT_READY_FILE INIT_RUN_DIR "/ready"
#define INIT_FAILED_FILE INIT_RUN_DIR "/failed"
/* dockerd's socket, in a directory the namespace's root owns (it cannot write /run itself),
 * and where the docker CLI looks for it: a symlink. */
#define INIT_DOCKERD_DIR "/run/docker"
#define INIT_DOCKERD_SOCKET INIT_DOCKERD_DIR "/docker.sock"
#define INIT_DOCKER_SOCKET "/run/docker.sock"
/* Where build files land on the agent: remounted nosuid,nodev (init_workspace.c). */
#define INIT_BIND_ROOTS { "/home/jenkins", "/tmp", NULL }
#define INIT_DATA_ROOT "/var/lib/docker"
#define INIT_AGENT_USER "jenkins"
/* The daemons' logs, read by `slipway logs` (supervisor/agent_logs.c has the same names). */
#define INIT_LOG_DIR "/var/log/slipway"
#define INIT_CONTAINERD_LOG INIT_LOG_DIR "/containerd.log"
#define INIT_DOCKERD_LOG INIT_LOG_DIR "/dockerd.log"
#define INIT_SSHD_LOG INIT_LOG_DIR "/sshd.log"
#define INIT_LOG_MAX_BYTES (1 << 20) /* then rotated to .log.1: at most 2 MiB per log */

void init_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The user namespace (init_userns.c). */
enum init_ns { INIT_NS_USER, INIT_NS_MNT, INIT_NS_NET, INIT_NS_CGROUP, INIT_NS_IPC, INIT_NS_UTS, INIT_NS_PID, INIT_NS_COUNT };
struct init_userns {
        bool enabled;
        uid_t base; /* host id of the namespace's root */
        uid_t size;
        int ns_fd[INIT_NS_COUNT]; /* kept open by PID 1 (close-on-exec) */
        pid_t init_pid;           /* PID 1 of the inner PID namespace (its reaper), as seen here */
};
extern struct init_userns init_inner;
/* The delegated cgroup in each hierarchy, and the daemons' leaf below it. */
#define INIT_CGROUP_INNER "inner"
#define INIT_CGROUP_DAEMONS INIT_CGROUP_INNER "/daemons"
/* Which of PID 1's descriptors hold the namespaces, for `slipway-init --enter`. */
#define INIT_NS_FILE INIT_RUN_DIR "/namespaces"
/* A template agent's own pick of a range, kept across restarts of its container. */
#define INIT_USERNS_FILE INIT_RUN_DIR "/userns"
#define INIT_ENTER_FLAG "--enter"
/* The inner network (init_inner_net.c, init_dns.c). */
#define INIT_NET_HOST_IF "slipway0"
#define INIT_NET_AGENT_ADDRESS "169.254.213.1"
#define INIT_NET_INNER_ADDRESS "169.254.213.2"
#define INIT_RESOLV_CONF INIT_RUN_DIR "/resolv.conf"
struct init_inner_net {
        int ssh_port; /* DNATed from the agent to the inner sshd */
        const sigset_t *blocked;
};
/* USERNS_ENV (slipway/userns.h): the supervisor's allocation, off for a cache builder, or
 * unset (a template agent: a random range of its own). */
int init_userns_plan(struct sw_error *err);
/* Create the namespaces and connect them (see init_userns.c). */
int init_userns_setup(const struct init_inner_net *net, struct sw_error *err);
/* In a child between fork and exec: join the namespaces as their root. Returns -errno. The
 * PID namespace applies to the caller's children only: fork once more (init_spawn_output). */
int init_userns_enter(void);
/* The host id of an id inside (identity without a namespace). */
uid_t init_userns_outside(uid_t inside);
/* slipway-init --enter USER -- COMMAND... Returns an exit status only when it fails. */
int init_enter_exec(char **argv);
int init_inner_net_setup(const struct init_inner_net *net, pid_t helper, struct sw_error *err);
/* Write INIT_RESOLV_CONF from /etc/resolv.conf; start the relay the inner side uses. */
int init_dns_prepare(struct sw_error *err);
pid_t init_dns_start(const sigset_t *blocked, struct sw_error *err);
/* Directories under /run the inner daemons write (they cannot create them in /run). */
int init_inner_dirs(struct sw_error *err);

/* Accounts of the image (init_account.c). */
#define INIT_ACCOUNT_GROUPS_MAX 32
struct init_account {
        uid_t uid;
        gid_t gid;
        char home[256];
        gid_t groups[INIT_ACCOUNT_GROUPS_MAX];
        size_t group_count;
};
int init_account_lookup(const char *name, struct init_account *account, struct sw_error *err);
/* The agent user's home, made the namespace's on first start. */
int init_home_prepare(struct sw_error *err);

/* Processes (init_process.c). */
int init_signals_setup(sigset_t *blocked, int *signal_fd, struct sw_error *err);
/* fork+exec argv with default signal state; returns the pid. */
pid_t init_spawn(const char *const *argv, const sigset_t *blocked, struct sw_error *err);
/* The same with stdout and stderr on output_fd (-1: inherited), in the user namespace when
 * inner. */
pid_t init_spawn_output(const char *const *argv, const sigset_t *blocked, int output_fd, bool inner,
                        struct sw_error *err);
/* Run argv to completion (reaping only it); returns its exit status or negative error. */
int init_run(const char *const *argv, const sigset_t *blocked, struct sw_error *err);
/* The same with more: input on its stdin, its stdout into output (bounded, NUL-terminated),
 * in the user namespace's network namespace, killed (SIGALRM) after timeout_s. */
struct init_command {
        const char *const *argv;
        const char *input;  /* NULL: none */
        char *output;       /* NULL: stdout inherited */
        size_t output_size;
        bool inner_net;
        int timeout_s;      /* 0: none */
};
int init_run_command(const struct init_command *command, const sigset_t *blocked, struct sw_error *err);
/* Logs (init_logs.c): init_spawn with stdout and stderr appended to log_path by a logger
 * process that rotates it; timestamps prefixes each line with the UTC time. */
pid_t init_spawn_logged(const char *const *argv, const sigset_t *blocked, const char *log_path,
                        bool timestamps, bool inner, struct sw_error *err);
/* The last `lines` lines of a log on one line, joined by " / " (bounded); "" when none. */
void init_log_tail(const char *path, int lines, char *out, size_t size);
/* Exit-status convention for a wait status: code, or 128+signal. */
int init_exit_status(int wait_status);

/* cgroups (init_cgroups.c). */
int init_cgroups_prepare(struct sw_error *err);
/* The hierarchies it mounted (v1: one per set of controllers; v2: /sys/fs/cgroup alone). */
#define INIT_CGROUP_HIERARCHIES_MAX 32
struct init_cgroup_hierarchy {
        char path[PATH_MAX];
        char options[256]; /* the controllers, name=...: what names the hierarchy */
};
size_t init_cgroups_hierarchies(const struct init_cgroup_hierarchy **list, bool *v2);
/* Thaw every cgroup v1 freezer cgroup of the agent: the user namespace can freeze its own
 * processes, and on cgroup v1 a frozen process does not die of SIGKILL, so stopping the agent
 * thaws first (up to INIT_CGROUP_THAW_DEPTH levels down). */
#define INIT_CGROUP_THAW_DEPTH 64
void init_cgroups_thaw(void);
/* Mount fresh hierarchies (those of list, or cgroup2) on /sys/fs/cgroup; inside the user
 * namespace, rooted at its cgroup. */
int init_cgroups_mount(const struct init_cgroup_hierarchy *list, size_t count, struct sw_error *err);
/* /proc/sys writable for dockerd even without systempaths=unconfined (init_proc.c). */
int init_proc_sys_writable(struct sw_error *err);

/* Confinement of the service and its sessions (init_confine.c): `slipway-init --confine-exec
 * PROGRAM ARGS...` shrinks the capability bounding set, sets no_new_privs, loads a seccomp
 * filter and executes PROGRAM; returns an exit status only when that fails. */
#define INIT_CONFINE_FLAG "--confine-exec"
int init_confine_exec(char **argv);
/* The same for the calling process (the DNS relay), keeping only CAP_SETUID and CAP_SETGID,
 * which it gives up by becoming nobody right after. */
int init_confine_helper(struct sw_error *err);

/* One build per served agent (init_build_gate.c, slipway/build_gate.h): set up (the workspace
 * watch) before the service starts when BUILD_GATE_ENV is set, armed (exec holding) when PID 1
 * enters its loop; its descriptors join PID 1's poll, and init_build_gate_handle answers them. */
struct pollfd;
int init_build_gate_setup(struct sw_error *err);
/* Start holding execs (fanotify): once PID 1 is in its loop to answer them. */
int init_build_gate_arm(struct sw_error *err);
size_t init_build_gate_pollfds(struct pollfd *fds); /* at most 2 */
void init_build_gate_handle(void);
/* Stopping: refuse what waits, and stop watching. */
void init_build_gate_close(void);
/* SSH (init_ssh.c). */
#define INIT_SERVICE_ARGS_MAX 64
#define INIT_SSHD "/usr/sbin/sshd"
struct init_service {
        const char *argv[INIT_SERVICE_ARGS_MAX + 1];
        int probe_port;           /* sshd's port, probed before the agent is ready; 0: none */
        const char *keys_command; /* the AuthorizedKeysCommand an sshd command sets, or NULL */
        const char *key_argument; /* a public key given as the command (jenkins/ssh-agent's way), or NULL */
};
/* What runs as the service: our sshd without a command, or when the command is a public key
 * (then the authorized key) and perhaps more sshd arguments; for an sshd command (the Jenkins
 * Docker plugin's) that sshd, kept in the foreground and logging to stderr; anything else as
 * given. Points into command. */
int init_service_plan(char **command, struct init_service *service, struct sw_error *err);
int init_ssh_host_key(const sigset_t *blocked, struct sw_error *err);
/* Install user jenkins' keys from the service's key argument, the environment or a file;
 * the service sshd's AuthorizedKeysCommand, if any, is only checked and reported. */
int init_ssh_authorized_keys(struct init_service *service, struct sw_error *err);

/* Seeding (init_seed.c): with a cache generation mounted at SEED_MOUNT and an empty data
 * root, seed it (layer-link, the supervisor's own code); without one, start cold. */
int init_seed_data_root(struct sw_error *err);
/* The data root's top directory, the namespace's root's. */
int init_data_root_own(struct sw_error *err);

/* dockerd (init_dockerd.c). */
int init_data_root_check(struct sw_error *err);
/* containerd for dockerd, listening before dockerd starts (see init_dockerd.c). */
pid_t init_containerd_start(const sigset_t *blocked, int timeout_s, struct sw_error *err);
pid_t init_dockerd_start(const sigset_t *blocked, struct sw_error *err);
/* Poll until dockerd answers /_ping, it dies, or timeout_s passes. */
int init_dockerd_wait(pid_t dockerd, int timeout_s, struct sw_error *err);
/* Kill the inner daemon's running containers. dockerd's own shutdown waits each container's
 * stop timeout (10 s by default, whatever --shutdown-timeout says), longer than the agent's
 * whole stop budget; an agent being stopped is being destroyed, and its builds with it. */
void init_dockerd_kill_containers(void);
/* Bind roots made nosuid,nodev: a nested container's root may write there (init_workspace.c). */
int init_workspace_harden(struct sw_error *err);

/* Wait until something accepts TCP connections on address:port. */
int init_wait_tcp(pid_t service, const char *address, int port, int timeout_s, struct sw_error *err);

#endif
