/* The agent's own dockerd: started on the dedicated data root with overlay2 pinned (newer
 * daemons default to the containerd image store on an empty root, which seeded layers are
 * not), then probed with GET /_ping over its socket until it answers. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init.h"
#include "slipway/cleanup.h"

#define OVERLAYFS_SUPER_MAGIC 0x794c7630
#define MAX_DOCKERD_ARGS 64

int init_data_root_check(struct sw_error *err)
{
        struct statfs sfs;
        if (statfs(INIT_DATA_ROOT, &sfs) < 0)
                return sw_error_errno(err, errno, "data root %s", INIT_DATA_ROOT);
        if (sfs.f_type == OVERLAYFS_SUPER_MAGIC)
                return sw_error_set(err, EINVAL,
                                    "data root %s is on overlayfs, where overlay2 cannot work: mount "
                                    "a host directory or a volume there", INIT_DATA_ROOT);
        return 0;
}

#define CONTAINERD_DIR "/run/docker/containerd"
#define CONTAINERD_SOCKET CONTAINERD_DIR "/containerd.sock"
#define CONTAINERD_CONFIG INIT_RUN_DIR "/containerd.toml"

/* The configuration dockerd gives the containerd it manages itself. */
static const char containerd_config[] =
        "version = 2\n"
        "root = \"" INIT_DATA_ROOT "/containerd/daemon\"\n"
        "state = \"" CONTAINERD_DIR "/daemon\"\n"
        "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
        "[grpc]\n"
        "  address = \"" CONTAINERD_SOCKET "\"\n"
        "[debug]\n"
        "  address = \"" CONTAINERD_DIR "/containerd-debug.sock\"\n";

static bool socket_accepts(const char *path)
{
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
        return fd >= 0 && connect(fd, (struct sockaddr *) &addr, sizeof(addr)) == 0;
}

static double now(void);
static bool exited(pid_t pid, int *status);

pid_t init_containerd_start(const sigset_t *blocked, int timeout_s, struct sw_error *err)
{
        if (mkdir("/run/docker", 0711) < 0 && errno != EEXIST)
                return sw_error_errno(err, errno, "mkdir /run/docker");
        if (mkdir(CONTAINERD_DIR, 0711) < 0 && errno != EEXIST)
                return sw_error_errno(err, errno, "mkdir %s", CONTAINERD_DIR);
        _cleanup_close_ int fd = open(CONTAINERD_CONFIG, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, containerd_config, sizeof(containerd_config) - 1) != sizeof(containerd_config) - 1)
                return sw_error_errno(err, errno, "write %s", CONTAINERD_CONFIG);
        unlink(CONTAINERD_SOCKET);
        static const char *const argv[] = { "/usr/bin/containerd", "--config", CONTAINERD_CONFIG, NULL };
        pid_t pid = init_spawn_logged(argv, blocked, INIT_CONTAINERD_LOG, false, err);
        if (pid < 0)
                return pid;
        /* dockerd dials containerd with a 1 s back-off: when containerd is not listening yet it
         * loses a whole second. Started here and awaited, it never has to retry. */
        double deadline = now() + timeout_s;
        int status;
        while (!socket_accepts(CONTAINERD_SOCKET)) {
                if (exited(pid, &status))
                        return sw_error_set(err, EIO, "containerd exited during start-up with status %d",
                                            init_exit_status(status));
                if (now() > deadline) {
                        kill(pid, SIGKILL);
                        return sw_error_set(err, ETIMEDOUT, "containerd did not listen on %s within %d s",
                                            CONTAINERD_SOCKET, timeout_s);
                }
                struct timespec t = { 0, 5 * 1000 * 1000 };
                nanosleep(&t, NULL);
        }
        return pid;
}

bool init_docker_policy_trusted(void)
{
        const char *policy = getenv("SLIPWAY_DOCKER_POLICY");
        return policy && strcmp(policy, "trusted") == 0;
}

const char *init_dockerd_socket(void)
{
        return init_docker_policy_trusted() ? INIT_DOCKER_SOCKET : INIT_DOCKERD_SOCKET;
}

pid_t init_dockerd_start(const sigset_t *blocked, struct sw_error *err)
{
        static char extra[1024], host[128];
        bool trusted = init_docker_policy_trusted();
        /* Behind the policy proxy, dockerd's socket is root's alone: its directory is 0700
         * and its group root (dockerd's default group is "docker", which jenkins is in). */
        if (!trusted) {
                if (mkdir(INIT_DOCKERD_DIR, 0700) < 0 && errno != EEXIST)
                        return sw_error_errno(err, errno, "mkdir %s", INIT_DOCKERD_DIR);
                if (chown(INIT_DOCKERD_DIR, 0, 0) < 0 || chmod(INIT_DOCKERD_DIR, 0700) < 0)
                        return sw_error_errno(err, errno, "chmod %s", INIT_DOCKERD_DIR);
        }
        snprintf(host, sizeof(host), "unix://%s", init_dockerd_socket());
        const char *argv[MAX_DOCKERD_ARGS + 1] = {
                "/usr/sbin/dockerd", "--data-root", INIT_DATA_ROOT, "--storage-driver", "overlay2",
                "-H", host, "--group", trusted ? "docker" : "root", "--containerd", CONTAINERD_SOCKET,
        };
        size_t argc = 11;
        /* Extra words for dockerd (e.g. a registry mirror), split on spaces. */
        const char *words = getenv("SLIPWAY_DOCKERD_ARGS");
        if (words) {
                snprintf(extra, sizeof(extra), "%s", words);
                char *save = NULL;
                for (char *w = strtok_r(extra, " \t", &save); w && argc < MAX_DOCKERD_ARGS;
                     w = strtok_r(NULL, " \t", &save))
                        argv[argc++] = w;
        }
        argv[argc] = NULL;
        unlink(init_dockerd_socket()); /* a stale socket from before a restart */
        return init_spawn_logged(argv, blocked, INIT_DOCKERD_LOG, false, err);
}

/* One HTTP/1.0 request to the inner daemon (the connection ends the response). Returns the
 * status, or -1; the response (head and body, bounded by size) lands in reply. */
static int docker_http(const char *method, const char *path, char *reply, size_t size)
{
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", init_dockerd_socket());
        if (fd < 0 || connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
                return -1;
        char request[256];
        int len = snprintf(request, sizeof(request), "%s %s HTTP/1.0\r\nHost: docker\r\n\r\n", method, path);
        if (len <= 0 || write(fd, request, (size_t) len) != len)
                return -1;
        size_t have = 0;
        while (have + 1 < size) {
                ssize_t n = read(fd, reply + have, size - 1 - have);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                have += (size_t) n;
        }
        reply[have] = '\0';
        int status;
        return sscanf(reply, "HTTP/1.%*d %d", &status) == 1 ? status : -1;
}

static bool ping_docker(void)
{
        char reply[256];
        return docker_http("GET", "/_ping", reply, sizeof(reply)) == 200;
}

void init_dockerd_kill_containers(void)
{
        static char reply[1 << 20];
        if (docker_http("GET", "/containers/json", reply, sizeof(reply)) != 200)
                return;
        /* Container ids are 64 hex digits after "Id":" in Docker's own JSON; inside string
         * values the quotes would be escaped, so nothing else matches. */
        int killed = 0;
        for (char *p = strstr(reply, "\"Id\":\""); p; p = strstr(p + 1, "\"Id\":\"")) {
                char *id = p + 6;
                if (strspn(id, "0123456789abcdef") != 64 || id[64] != '"')
                        continue;
                char path[128], ignored[512];
                snprintf(path, sizeof(path), "/containers/%.64s/kill", id);
                if (docker_http("POST", path, ignored, sizeof(ignored)) == 204)
                        killed++;
        }
        if (killed)
                init_log("killed %d running build container%s", killed, killed == 1 ? "" : "s");
}

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void pause_briefly(void)
{
        struct timespec t = { 0, 50 * 1000 * 1000 };
        nanosleep(&t, NULL);
}

/* Whether pid has exited (reaps it, keeping its status). */
static bool exited(pid_t pid, int *status)
{
        return waitpid(pid, status, WNOHANG) == pid;
}

int init_dockerd_wait(pid_t dockerd, int timeout_s, struct sw_error *err)
{
        double deadline = now() + timeout_s;
        int status;
        while (!ping_docker()) {
                if (exited(dockerd, &status)) {
                        /* Its reason is in its own log now: give the gist in the error. The
                         * pause lets the logger write what dockerd said last. */
                        char last[512];
                        struct timespec t = { 0, 200 * 1000 * 1000 };
                        nanosleep(&t, NULL);
                        init_log_tail(INIT_DOCKERD_LOG, 2, last, sizeof(last));
                        return sw_error_set(err, EIO, "dockerd exited during start-up with status %d%s%s",
                                            init_exit_status(status), last[0] ? ": " : "", last);
                }
                if (now() > deadline)
                        return sw_error_set(err, ETIMEDOUT, "dockerd did not answer on %s within %d s",
                                            init_dockerd_socket(), timeout_s);
                pause_briefly();
        }
        return 0;
}

int init_wait_tcp(pid_t service, int port, int timeout_s, struct sw_error *err)
{
        double deadline = now() + timeout_s;
        int status;
        for (;;) {
                _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                if (fd >= 0 && connect(fd, (struct sockaddr *) &addr, sizeof(addr)) == 0)
                        return 0;
                if (exited(service, &status))
                        return sw_error_set(err, EIO, "sshd exited during start-up with status %d",
                                            init_exit_status(status));
                if (now() > deadline)
                        return sw_error_set(err, ETIMEDOUT, "nothing listens on port %d after %d s", port,
                                            timeout_s);
                pause_briefly();
        }
}
