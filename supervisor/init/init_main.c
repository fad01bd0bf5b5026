/* slipway-init: PID 1 of an agent container.
 *
 * Prepares the container for a nested dockerd (writable cgroups, a data root that is not
 * overlayfs), installs SSH keys, seeds an empty data root from a cache generation mounted
 * at /var/lib/slipway-seed (when there is one), starts dockerd and waits until it answers,
 * starts the service (sshd by default; the container's command when one is given, an sshd
 * command such as the Jenkins Docker plugin's kept in the foreground), then writes
 * /run/slipway/ready. As PID 1 it reaps every zombie, forwards signals to the service, and on
 * SIGTERM stops the service and dockerd inside the stop timeout before killing whatever is
 * left (catatonit, tini). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "slipway/cleanup.h"

#define DEFAULT_STOP_TIMEOUT_S 8 /* below docker stop's default 10 s */
#define DEFAULT_DOCKERD_TIMEOUT_S 60

/* An inner dockerd that exits is started again (an operator may restart it on purpose), but
 * at most this often: a daemon that keeps dying leaves the agent useless, so it stops. */
#define DOCKERD_RESTARTS_MAX 5
#define DOCKERD_RESTART_WINDOW_S 60

struct init_state {
        sigset_t blocked;
        int signal_fd;
        pid_t containerd;
        pid_t dockerd;
        pid_t service;
        pid_t dns;        /* the inner namespace's DNS relay, 0 when none */
        double restarts[DOCKERD_RESTARTS_MAX];
        int restart_count;
};

static int env_seconds(const char *name, int fallback)
{
        const char *value = getenv(name);
        char *end;
        long seconds = value ? strtol(value, &end, 10) : 0;
        if (!value || *end || seconds <= 0 || seconds > 3600)
                return fallback;
        return (int) seconds;
}

static void write_marker(const char *path, const char *text)
{
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, strlen(text)) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0)
                init_log("cannot write %s: %s", path, strerror(errno));
}

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Reap every exited child; note when ours end. Returns false once no child is left. */
static bool reap(struct init_state *s, int *service_status, bool *dockerd_died,
                 bool *containerd_died, bool *dns_died)
{
        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);
                if (pid < 0)
                        return errno != ECHILD;
                if (pid == 0)
                        return true;
                if (pid == s->service) {
                        s->service = 0;
                        if (service_status)
                                *service_status = init_exit_status(status);
                } else if (pid == s->dockerd) {
                        s->dockerd = 0;
                        if (dockerd_died)
                                *dockerd_died = true;
                } else if (pid == s->dns) {
                        s->dns = 0;
                        if (dns_died)
                                *dns_died = true;
                } else if (pid == s->containerd ||
                           (init_inner.init_pid > 0 && pid == init_inner.init_pid)) {
                        /* containerd, or the inner PID namespace's reaper: without it the
                         * kernel has already killed everything in the namespace. */
                        if (pid == s->containerd)
                                s->containerd = 0;
                        else
                                init_inner.init_pid = 0;
                        if (containerd_died)
                                *containerd_died = true;
                }
        }
}

/* Wait for SIGCHLD (or timeout) on the signalfd, draining it. */
static void wait_signal(struct init_state *s, int timeout_ms)
{
        struct pollfd pfd = { .fd = s->signal_fd, .events = POLLIN };
        if (poll(&pfd, 1, timeout_ms) > 0) {
                struct signalfd_siginfo info;
                while (read(s->signal_fd, &info, sizeof(info)) == sizeof(info))
                        ;
        }
}

/* Stop everything inside the stop timeout, then exit with code. */
static __attribute__((noreturn)) void shutdown_and_exit(struct init_state *s, int code)
{
        int timeout = env_seconds("SLIPWAY_STOP_TIMEOUT", DEFAULT_STOP_TIMEOUT_S);
        double deadline = now() + timeout;
        init_build_gate_close();
        if (s->service > 0)
                kill(s->service, SIGTERM);
        if (s->dns > 0)
                kill(s->dns, SIGTERM);
        /* Nothing of the agent may stay frozen through its stop (init_cgroups_thaw). */
        init_cgroups_thaw();
        if (s->dockerd > 0) {
                init_dockerd_kill_containers();
                kill(s->dockerd, SIGTERM); /* unmounts its layers, stops containerd */
        }
        /* sshd's sessions and other orphans: asked politely once ours are gone. */
        bool asked_all = false;
        while (now() < deadline && reap(s, NULL, NULL, NULL, NULL)) {
                if (!asked_all && s->service == 0 && s->dockerd == 0) {
                        init_cgroups_thaw();
                        kill(-1, SIGTERM);
                        asked_all = true;
                }
                int left_ms = (int) ((deadline - now()) * 1000);
                wait_signal(s, left_ms > 100 ? 100 : (left_ms > 0 ? left_ms : 0));
        }
        if (reap(s, NULL, NULL, NULL, NULL)) {
                init_log("stop timeout (%d s) reached: killing what is left", timeout);
                kill(-1, SIGKILL);
                init_cgroups_thaw(); /* refrozen meanwhile: killed once thawed */
                while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
                        ;
        }
        init_log("stopped (exit %d)", code);
        exit(code);
}

static __attribute__((noreturn)) void fail(struct init_state *s, const struct sw_error *err)
{
        char line[SW_ERROR_MAX + 2];
        snprintf(line, sizeof(line), "%s\n", err->message);
        write_marker(INIT_FAILED_FILE, line);
        init_log("fatal: %s", err->message);
        shutdown_and_exit(s, 1);
}

static int start_service(struct init_state *s, const struct init_service *service, struct sw_error *err)
{
        /* sshd's lines go to its own log (slipway logs --sshd, with a time on each: sshd -e
         * gives none); another command's output stays in the container log. */
        /* The service runs confined, through ourselves (init_confine.c): it and every session
         * it starts lose the capabilities and system calls only the inner dockerd needs. */
        char self[4096];
        ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (len <= 0)
                return sw_error_errno(err, len < 0 ? errno : ENOENT, "find slipway-init's own path");
        self[len] = '\0';
        const char *argv[INIT_SERVICE_ARGS_MAX + 3] = { self, INIT_CONFINE_FLAG };
        for (size_t i = 0; service->argv[i]; i++)
                argv[i + 2] = service->argv[i];
        if (strcmp(service->argv[0], INIT_SSHD) == 0)
                s->service = init_spawn_logged(argv, &s->blocked, INIT_SSHD_LOG, true, true, err);
        else
                s->service = init_spawn_output(argv, &s->blocked, -1, true, err);
        if (s->service < 0)
                return s->service;
        init_log("started %s, confined (pid %d)", service->argv[0], (int) s->service);
        return 0;
}

static void restart_dockerd(struct init_state *s)
{
        double t = now();
        int recent = 0;
        for (int i = 0; i < s->restart_count && i < DOCKERD_RESTARTS_MAX; i++)
                if (t - s->restarts[i] < DOCKERD_RESTART_WINDOW_S)
                        recent++;
        if (recent >= DOCKERD_RESTARTS_MAX) {
                init_log("dockerd exited %d times within %d s: giving up", recent, DOCKERD_RESTART_WINDOW_S);
                shutdown_and_exit(s, 1);
        }
        s->restarts[s->restart_count++ % DOCKERD_RESTARTS_MAX] = t;
        struct sw_error err = { 0 };
        pid_t pid = init_dockerd_start(&s->blocked, &err);
        if (pid < 0) {
                init_log("restart dockerd: %s", err.message);
                shutdown_and_exit(s, 1);
        }
        s->dockerd = pid;
        init_log("dockerd exited: restarted (pid %d)", (int) pid);
}

/* The DNS relay is restarted like dockerd, with its own budget. */
static void restart_dns(struct init_state *s)
{
        static double restarts[DOCKERD_RESTARTS_MAX];
        static int count;
        double t = now();
        int recent = 0;
        for (int i = 0; i < count && i < DOCKERD_RESTARTS_MAX; i++)
                if (t - restarts[i] < DOCKERD_RESTART_WINDOW_S)
                        recent++;
        if (recent >= DOCKERD_RESTARTS_MAX) {
                init_log("dns relay exited %d times within %d s: giving up", recent, DOCKERD_RESTART_WINDOW_S);
                shutdown_and_exit(s, 1);
        }
        restarts[count++ % DOCKERD_RESTARTS_MAX] = t;
        struct sw_error err = { 0 };
        pid_t pid = init_dns_start(&s->blocked, &err);
        if (pid < 0) {
                init_log("restart the dns relay: %s", err.message);
                shutdown_and_exit(s, 1);
        }
        s->dns = pid;
        init_log("dns relay exited: restarted (dns relay: pid %d)", (int) pid);
}

static __attribute__((noreturn)) void main_loop(struct init_state *s)
{
        for (;;) {
                struct pollfd pfds[3] = { { .fd = s->signal_fd, .events = POLLIN } };
                size_t count = 1 + init_build_gate_pollfds(pfds + 1);
                if (poll(pfds, count, -1) < 0 && errno != EINTR)
                        init_log("poll: %s", strerror(errno));
                init_build_gate_handle();
                struct signalfd_siginfo info;
                int stop_code = -1;
                while (read(s->signal_fd, &info, sizeof(info)) == sizeof(info)) {
                        switch (info.ssi_signo) {
                        case SIGCHLD:
                                break;
                        case SIGTERM:
                        case SIGINT:
                        case SIGQUIT:
                                init_log("signal %d: stopping", (int) info.ssi_signo);
                                stop_code = 0;
                                break;
                        default:
                                if (s->service > 0)
                                        kill(s->service, (int) info.ssi_signo);
                                break;
                        }
                }
                int service_status = -1;
                bool dockerd_died = false, containerd_died = false, dns_died = false;
                reap(s, &service_status, &dockerd_died, &containerd_died, &dns_died);
                if (stop_code >= 0)
                        shutdown_and_exit(s, stop_code);
                if (service_status >= 0) {
                        init_log("service exited with status %d", service_status);
                        shutdown_and_exit(s, service_status);
                }
                if (containerd_died) {
                        init_log("containerd (or the user namespace's reaper) exited unexpectedly");
                        shutdown_and_exit(s, 1);
                }
                if (dockerd_died)
                        restart_dockerd(s);
                if (dns_died)
                        restart_dns(s);
        }
}

int main(int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], INIT_CONFINE_FLAG) == 0 && getpid() != 1)
                return init_confine_exec(argv + 2);
        if (argc > 1 && strcmp(argv[1], INIT_ENTER_FLAG) == 0 && getpid() != 1)
                return init_enter_exec(argv + 2);
        struct init_state s = { .signal_fd = -1 };
        struct sw_error err = { 0 };
        /* Orphans of builds are re-parented to us even when we are not PID 1. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                init_log("cannot become a subreaper: %s", strerror(errno));
        if (getpid() != 1)
                init_log("not PID 1: zombies of other parents may linger");
        if (init_signals_setup(&s.blocked, &s.signal_fd, &err) < 0)
                fail(&s, &err);
        double started = now();
        if (mkdir(INIT_RUN_DIR, 0755) < 0 && errno != EEXIST) {
                sw_error_errno(&err, errno, "mkdir %s", INIT_RUN_DIR);
                fail(&s, &err);
        }
        /* Markers from before a container restart mean nothing now (the namespaces file would
         * name descriptors of the PID 1 that is gone). */
        unlink(INIT_READY_FILE);
        unlink(INIT_FAILED_FILE);
        unlink(INIT_NS_FILE);

        struct init_service service;
        if (init_service_plan(argv + 1, &service, &err) < 0 || init_userns_plan(&err) < 0 ||
            init_cgroups_prepare(&err) < 0 || init_proc_sys_writable(&err) < 0 ||
            init_data_root_check(&err) < 0 || init_ssh_host_key(&s.blocked, &err) < 0 ||
            init_home_prepare(&err) < 0 || init_ssh_authorized_keys(&service, &err) < 0 ||
            init_seed_data_root(&err) < 0 || init_data_root_own(&err) < 0 ||
            init_workspace_harden(&err) < 0 || init_inner_dirs(&err) < 0)
                fail(&s, &err);
        if (getenv("SLIPWAY_DOCKER_POLICY"))
                init_log("SLIPWAY_DOCKER_POLICY is obsolete and ignored: builds are contained by a user namespace");
        /* The probe and, inside the namespace, the DNAT of the published port go to sshd's port. */
        const char *service_address = "127.0.0.1";
        if (init_inner.enabled) {
                struct init_inner_net net = { .ssh_port = service.probe_port ? service.probe_port : 22,
                                              .blocked = &s.blocked };
                if (init_dns_prepare(&err) < 0 || init_userns_setup(&net, &err) < 0)
                        fail(&s, &err);
                s.dns = init_dns_start(&s.blocked, &err);
                if (s.dns < 0) {
                        s.dns = 0;
                        fail(&s, &err);
                }
                init_log("dns relay: pid %d on %s:53", (int) s.dns, INIT_NET_AGENT_ADDRESS);
                service_address = INIT_NET_INNER_ADDRESS;
        }
        int timeout = env_seconds("SLIPWAY_DOCKERD_TIMEOUT", DEFAULT_DOCKERD_TIMEOUT_S);
        s.containerd = init_containerd_start(&s.blocked, timeout, &err);
        if (s.containerd < 0) {
                s.containerd = 0;
                fail(&s, &err);
        }
        s.dockerd = init_dockerd_start(&s.blocked, &err);
        if (s.dockerd < 0) {
                s.dockerd = 0;
                fail(&s, &err);
        }
        if (init_dockerd_wait(s.dockerd, timeout, &err) < 0) {
                fail(&s, &err);
        }
        init_log("dockerd ready after %.2f s", now() - started);
        if (init_build_gate_setup(&err) < 0 || start_service(&s, &service, &err) < 0)
                fail(&s, &err);
        if (service.probe_port &&
            init_wait_tcp(s.service, service_address, service.probe_port, timeout, &err) < 0)
                fail(&s, &err);
        if (init_build_gate_arm(&err) < 0)
                fail(&s, &err);
        write_marker(INIT_READY_FILE, "ready\n");
        init_log("ready after %.2f s", now() - started);
        main_loop(&s);
}
