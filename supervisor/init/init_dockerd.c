/* The agent's own dockerd: started on the dedicated data root with overlay2 pinned (newer
 * daemons default to the containerd image store on an empty root, which seeded layers are
 * not), then probed with GET /_ping over its socket until it answers. */
#include <errno.h>
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

pid_t init_dockerd_start(const sigset_t *blocked, struct sw_error *err)
{
        static char extra[1024];
        const char *argv[MAX_DOCKERD_ARGS + 1] = {
                "/usr/sbin/dockerd", "--data-root", INIT_DATA_ROOT, "--storage-driver", "overlay2",
                "-H", "unix://" INIT_DOCKER_SOCKET, "--group", "docker",
        };
        size_t argc = 9;
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
        unlink(INIT_DOCKER_SOCKET); /* a stale socket from before a restart */
        return init_spawn(argv, blocked, err);
}

static bool ping_docker(void)
{
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr = { .sun_family = AF_UNIX, .sun_path = INIT_DOCKER_SOCKET };
        if (fd < 0 || connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
                return false;
        static const char request[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
        if (write(fd, request, sizeof(request) - 1) != (ssize_t) sizeof(request) - 1)
                return false;
        char reply[64] = "";
        ssize_t n = read(fd, reply, sizeof(reply) - 1);
        return n > 12 && strncmp(reply, "HTTP/1.", 7) == 0 && strncmp(reply + 9, "200", 3) == 0;
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
                if (exited(dockerd, &status))
                        return sw_error_set(err, EIO, "dockerd exited during start-up with status %d",
                                            init_exit_status(status));
                if (now() > deadline)
                        return sw_error_set(err, ETIMEDOUT, "dockerd did not answer on %s within %d s",
                                            INIT_DOCKER_SOCKET, timeout_s);
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
