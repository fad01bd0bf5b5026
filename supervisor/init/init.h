/* slipway-init: PID 1 of agent containers. Static: libc, plus libseccomp and libcap (the
 * confined service) and jansson (the Docker policy proxy). */
#ifndef SLIPWAY_INIT_H
#define SLIPWAY_INIT_H

#include <stdbool.h>
#include <sys/types.h>

#include "slipway/error.h"

#define INIT_RUN_DIR "/run/slipway"
#define INIT_READY_FILE INIT_RUN_DIR "/ready"
#define INIT_FAILED_FILE INIT_RUN_DIR "/failed"
/* What the docker CLI talks to: the policy proxy (or, with docker-policy trusted, dockerd). */
#define INIT_DOCKER_SOCKET "/run/docker.sock"
/* dockerd's own socket behind the proxy: root only (a 0700 directory). */
#define INIT_DOCKERD_DIR INIT_RUN_DIR "/dockerd"
#define INIT_DOCKERD_SOCKET INIT_DOCKERD_DIR "/docker.sock"
/* Where bind-mount sources must lie (init_workspace.c remounts them nosuid,nodev). */
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

/* Processes (init_process.c). */
int init_signals_setup(sigset_t *blocked, int *signal_fd, struct sw_error *err);
/* fork+exec argv with default signal state; returns the pid. */
pid_t init_spawn(const char *const *argv, const sigset_t *blocked, struct sw_error *err);
/* The same with stdout and stderr on output_fd (-1: inherited). */
pid_t init_spawn_output(const char *const *argv, const sigset_t *blocked, int output_fd,
                        struct sw_error *err);
/* Run argv to completion (reaping only it); returns its exit status or negative error. */
int init_run(const char *const *argv, const sigset_t *blocked, struct sw_error *err);
/* Logs (init_logs.c): init_spawn with stdout and stderr appended to log_path by a logger
 * process that rotates it; timestamps prefixes each line with the UTC time. */
pid_t init_spawn_logged(const char *const *argv, const sigset_t *blocked, const char *log_path,
                        bool timestamps, struct sw_error *err);
/* The last `lines` lines of a log on one line, joined by " / " (bounded); "" when none. */
void init_log_tail(const char *path, int lines, char *out, size_t size);
/* Exit-status convention for a wait status: code, or 128+signal. */
int init_exit_status(int wait_status);

/* cgroups (init_cgroups.c). */
int init_cgroups_prepare(struct sw_error *err);
/* /proc/sys writable for dockerd even without systempaths=unconfined (init_proc.c). */
int init_proc_sys_writable(struct sw_error *err);

/* Confinement of the service and its sessions (init_confine.c): `slipway-init --confine-exec
 * PROGRAM ARGS...` shrinks the capability bounding set, sets no_new_privs, loads a seccomp
 * filter and executes PROGRAM; returns an exit status only when that fails. */
#define INIT_CONFINE_FLAG "--confine-exec"
int init_confine_exec(char **argv);
/* The same for the calling process (the Docker policy proxy), keeping CAP_DAC_OVERRIDE only. */
int init_confine_proxy(struct sw_error *err);

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
int init_ssh_authorized_keys(const struct init_service *service, struct sw_error *err);

/* Seeding (init_seed.c): with a cache generation mounted at SEED_MOUNT and an empty data
 * root, seed it (layer-link, the supervisor's own code); without one, start cold. */
int init_seed_data_root(struct sw_error *err);

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
/* The Docker policy proxy (init_proxy.c). SLIPWAY_DOCKER_POLICY=trusted in the environment
 * means none: dockerd listens on INIT_DOCKER_SOCKET for group docker itself. */
bool init_docker_policy_trusted(void);
/* Bind INIT_DOCKER_SOCKET (0660 root:docker); returns the listening fd. */
int init_proxy_listen(struct sw_error *err);
/* Fork the proxy serving listen_fd; returns its pid. */
pid_t init_proxy_start(int listen_fd, const sigset_t *blocked, struct sw_error *err);
/* Bind roots made nosuid,nodev: a nested container's root may write there (init_workspace.c). */
int init_workspace_harden(struct sw_error *err);
/* The socket init itself and the proxy talk to dockerd on. */
const char *init_dockerd_socket(void);

/* Wait until something accepts TCP connections on 127.0.0.1:port. */
int init_wait_tcp(pid_t service, int port, int timeout_s, struct sw_error *err);

#endif
