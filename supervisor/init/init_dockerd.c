/* The agent's own dockerd: started on the dedicated data root with overlay2 pinned (newer
 * daemons default to the containerd image store on an empty root, which seeded layers are
 * not), then probed with GET /_ping over its socket until it answers. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/time.h>
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
#define CONTAINERD_CONFIG INIT_DOCKERD_DIR "/containerd.toml" /* where the namespace sees it too */

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

/* mkdir owned by the namespace's root, who cannot create anything in /run itself. */
static int inner_dir(const char *path, mode_t mode, struct sw_error *err)
{
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return sw_error_errno(err, errno, "mkdir %s", path);
        uid_t root = init_userns_outside(0);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fchown(fd, root, root) < 0 || fchmod(fd, mode) < 0)
                return sw_error_errno(err, errno, "give %s to the user namespace", path);
        return 0;
}

int init_inner_dirs(struct sw_error *err)
{
        int r;
        /* dockerd's exec root and socket, and containerd's state: shared with the namespace's
         * own /run (init_userns.c), where PID 1 still reaches them. */
        if ((r = inner_dir(INIT_DOCKERD_DIR, 0711, err)) < 0 || (r = inner_dir(CONTAINERD_DIR, 0711, err)) < 0)
                return r;
        /* Without a namespace (a cache builder), sshd's directory is in this /run. */
        if (!init_inner.enabled && mkdir("/run/sshd", 0755) < 0 && errno != EEXIST)
                return sw_error_errno(err, errno, "mkdir /run/sshd");
        /* The same symlink as inside, for whoever runs docker in the agent from outside (an
         * operator's `docker exec AGENT docker ps`: root of the agent reaches the socket). */
        if (unlink(INIT_DOCKER_SOCKET) < 0 && errno != ENOENT)
                return sw_error_errno(err, errno, "remove %s", INIT_DOCKER_SOCKET);
        if (symlink("docker/docker.sock", INIT_DOCKER_SOCKET) < 0)
                return sw_error_errno(err, errno, "symlink %s", INIT_DOCKER_SOCKET);
        return 0;
}

int init_data_root_own(struct sw_error *err)
{
        uid_t root = init_userns_outside(0);
        _cleanup_close_ int fd = open(INIT_DATA_ROOT, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return sw_error_errno(err, errno, "data root %s", INIT_DATA_ROOT);
        if (st.st_uid != root && fchown(fd, root, root) < 0)
                return sw_error_errno(err, errno, "give the data root %s to the user namespace", INIT_DATA_ROOT);
        return 0;
}

pid_t init_containerd_start(const sigset_t *blocked, int timeout_s, struct sw_error *err)
{
        /* In a directory the namespace's root owns: whatever it left there (a symlink, on a
         * restart of the container) is replaced, never followed. */
        if (unlink(CONTAINERD_CONFIG) < 0 && errno != ENOENT)
                return sw_error_errno(err, errno, "remove %s", CONTAINERD_CONFIG);
        _cleanup_close_ int fd = open(CONTAINERD_CONFIG, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, containerd_config, sizeof(containerd_config) - 1) != sizeof(containerd_config) - 1)
                return sw_error_errno(err, errno, "write %s", CONTAINERD_CONFIG);
        unlink(CONTAINERD_SOCKET);
        static const char *const argv[] = { "/usr/bin/containerd", "--config", CONTAINERD_CONFIG, NULL };
        pid_t pid = init_spawn_logged(argv, blocked, INIT_CONTAINERD_LOG, false, true, err);
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

/* The agent's own IPv4 networks (its routes other than the default one), host byte order. */
struct agent_route {
        uint32_t network, mask;
};

static size_t agent_routes(struct agent_route *routes, size_t max)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/net/route", "re");
        char line[512];
        size_t count = 0;
        while (f && fgets(line, sizeof(line), f) && count < max) {
                char iface[32];
                unsigned destination, mask;
                if (sscanf(line, "%31s %x %*x %*x %*d %*d %*d %x", iface, &destination, &mask) != 3 || mask == 0)
                        continue;
                routes[count].network = ntohl(destination);
                routes[count].mask = ntohl(mask);
                count++;
        }
        return count;
}

static bool overlaps_any(uint32_t network, uint32_t mask, const struct agent_route *routes, size_t count)
{
        for (size_t i = 0; i < count; i++) {
                uint32_t common = mask & routes[i].mask;
                if ((network & common) == (routes[i].network & common))
                        return true;
        }
        return false;
}

/* The inner dockerd does not see the agent's network (it has a network namespace of its
 * own), and left to itself gives its bridges Docker's default pools, 172.17.0.0/16 first:
 * where the agent's own network often is. A bridge there would take the build's traffic to
 * the agent's network (its gateway, the registry, Jenkins) for itself. So it gets Docker's
 * default pools minus every one that overlaps a network of the agent, unless the operator
 * chose pools (--dockerd-arg --default-address-pool or --bip). */
static size_t address_pools(const char **argv, size_t argc, size_t max)
{
        static char pools[16][64];
        struct agent_route routes[64];
        size_t count = agent_routes(routes, 64), used = 0;
        for (unsigned n = 17; n <= 31 && argc + 2 <= max && used < 15; n++) {
                uint32_t network = (172u << 24) | (n << 16);
                if (overlaps_any(network, 0xffff0000u, routes, count))
                        continue;
                snprintf(pools[used], sizeof(pools[used]), "base=172.%u.0.0/16,size=16", n);
                argv[argc++] = "--default-address-pool";
                argv[argc++] = pools[used++];
        }
        if (argc + 2 <= max && !overlaps_any(192u << 24 | 168u << 16, 0xffff0000u, routes, count)) {
                argv[argc++] = "--default-address-pool";
                argv[argc++] = "base=192.168.0.0/16,size=20";
        }
        return argc;
}

pid_t init_dockerd_start(const sigset_t *blocked, struct sw_error *err)
{
        static char extra[1024];
        /* Group docker (jenkins): the daemon is the build's, contained by the user namespace. */
        const char *argv[MAX_DOCKERD_ARGS + 1] = {
                "/usr/sbin/dockerd", "--data-root", INIT_DATA_ROOT, "--storage-driver", "overlay2",
                "-H", "unix://" INIT_DOCKERD_SOCKET, "--group", "docker", "--containerd", CONTAINERD_SOCKET,
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
        if (init_inner.enabled && (!words || (!strstr(words, "--default-address-pool") && !strstr(words, "--bip"))))
                argc = address_pools(argv, argc, MAX_DOCKERD_ARGS);
        argv[argc] = NULL;
        unlink(INIT_DOCKERD_SOCKET); /* a stale socket from before a restart */
        return init_spawn_logged(argv, blocked, INIT_DOCKERD_LOG, false, true, err);
}

/* One HTTP/1.0 request to the inner daemon (the connection ends the response). Returns the
 * status, or -1; the response (head and body, bounded by size) lands in reply. */
static int docker_http(const char *method, const char *path, char *reply, size_t size)
{
        /* The socket is in a directory the namespace's root owns: talk only to a socket there
         * (never through a symlink it left), and never wait on it for long. */
        struct stat st;
        if (lstat(INIT_DOCKERD_SOCKET, &st) < 0 || !S_ISSOCK(st.st_mode))
                return -1;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval limit = { .tv_sec = 5 };
        if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit)) < 0 ||
                        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit)) < 0))
                return -1;
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", INIT_DOCKERD_SOCKET);
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
                                            INIT_DOCKERD_SOCKET, timeout_s);
                pause_briefly();
        }
        return 0;
}

int init_wait_tcp(pid_t service, const char *address, int port, int timeout_s, struct sw_error *err)
{
        double deadline = now() + timeout_s;
        int status;
        for (;;) {
                _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
                inet_pton(AF_INET, address, &addr.sin_addr);
                if (fd >= 0 && connect(fd, (struct sockaddr *) &addr, sizeof(addr)) == 0)
                        return 0;
                if (exited(service, &status))
                        return sw_error_set(err, EIO, "sshd exited during start-up with status %d",
                                            init_exit_status(status));
                if (now() > deadline)
                        return sw_error_set(err, ETIMEDOUT, "nothing listens on %s:%d after %d s", address,
                                            port, timeout_s);
                pause_briefly();
        }
}
