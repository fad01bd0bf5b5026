/* slipway-init: PID 1 of agent containers. Static, libc only. */
#ifndef SLIPWAY_INIT_H
#define SLIPWAY_INIT_H

#include <stdbool.h>
#include <sys/types.h>

#include "slipway/error.h"

#define INIT_RUN_DIR "/run/slipway"
#define INIT_READY_FILE INIT_RUN_DIR "/ready"
#define INIT_FAILED_FILE INIT_RUN_DIR "/failed"
#define INIT_DOCKER_SOCKET "/run/docker.sock"
#define INIT_DATA_ROOT "/var/lib/docker"
#define INIT_AGENT_USER "jenkins"

void init_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Processes (init_process.c). */
int init_signals_setup(sigset_t *blocked, int *signal_fd, struct sw_error *err);
/* fork+exec argv with default signal state; returns the pid. */
pid_t init_spawn(const char *const *argv, const sigset_t *blocked, struct sw_error *err);
/* Run argv to completion (reaping only it); returns its exit status or negative error. */
int init_run(const char *const *argv, const sigset_t *blocked, struct sw_error *err);
/* Exit-status convention for a wait status: code, or 128+signal. */
int init_exit_status(int wait_status);

/* cgroups (init_cgroups.c). */
int init_cgroups_prepare(struct sw_error *err);

/* SSH (init_ssh.c). */
int init_ssh_host_key(const sigset_t *blocked, struct sw_error *err);
int init_ssh_authorized_keys(struct sw_error *err);

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
/* Wait until something accepts TCP connections on 127.0.0.1:port. */
int init_wait_tcp(pid_t service, int port, int timeout_s, struct sw_error *err);

#endif
