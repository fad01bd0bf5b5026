/* SSH set-up in the agent: the host key and user jenkins' authorized keys.
 *
 * The supervisor uploads the host key before start so it knows the public half in advance
 * (Jenkins gets that exact key: no trust on first use). Standalone (Docker plugin) agents get
 * a fresh key here. /etc/passwd is parsed by hand: a static binary must not use NSS. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init.h"
#include "slipway/cleanup.h"

#define HOST_KEY "/etc/ssh/ssh_host_ed25519_key"
#define AUTHORIZED_KEYS_FILE INIT_RUN_DIR "/authorized_keys"
#define MAX_KEYS 16384

int init_ssh_host_key(const sigset_t *blocked, struct sw_error *err)
{
        if (access(HOST_KEY, F_OK) == 0) {
                /* sshd refuses a host key others can read. */
                if (chown(HOST_KEY, 0, 0) < 0 || chmod(HOST_KEY, 0600) < 0)
                        return sw_error_errno(err, errno, "secure %s", HOST_KEY);
                init_log("using the host key provided");
                return 0;
        }
        static const char *const keygen[] = { "/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                                              "-f", HOST_KEY, NULL };
        int r = init_run(keygen, blocked, err);
        if (r < 0)
                return r;
        if (r != 0)
                return sw_error_set(err, EIO, "ssh-keygen for %s exited with %d", HOST_KEY, r);
        init_log("generated a host key");
        return 0;
}

struct account {
        uid_t uid;
        gid_t gid;
        char home[256];
};

static int find_account(const char *name, struct account *account)
{
        _cleanup_fclose_ FILE *f = fopen("/etc/passwd", "re");
        if (!f)
                return -errno;
        char line[1024];
        size_t name_len = strlen(name);
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, name, name_len) != 0 || line[name_len] != ':')
                        continue;
                /* name:password:uid:gid:gecos:home:shell */
                char *fields[7] = { 0 };
                char *save = NULL, *p = line;
                for (int i = 0; i < 7; i++) {
                        fields[i] = p;
                        p = strchr(p, ':');
                        if (!p)
                                break;
                        *p++ = '\0';
                }
                (void) save;
                if (!fields[5])
                        return -EINVAL;
                account->uid = (uid_t) strtoul(fields[2], NULL, 10);
                account->gid = (gid_t) strtoul(fields[3], NULL, 10);
                snprintf(account->home, sizeof(account->home), "%s", fields[5]);
                return 0;
        }
        return -ENOENT;
}

/* Each non-empty, non-comment line must be "TYPE BASE64 [comment]" with a known type. */
static bool keys_valid(const char *text)
{
        static const char *const prefixes[] = { "ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-", "sk-ssh-ed25519@openssh.com ",
                                                "sk-ecdsa-sha2-" };
        int keys = 0;
        const char *line = text;
        while (*line) {
                size_t len = strcspn(line, "\n");
                if (len > 0 && line[0] != '#') {
                        bool known = false;
                        for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
                                if (strncmp(line, prefixes[i], strlen(prefixes[i])) == 0)
                                        known = true;
                        if (!known)
                                return false;
                        for (size_t i = 0; i < len; i++)
                                if ((unsigned char) line[i] < 0x20 && line[i] != '\t' && line[i] != '\r')
                                        return false;
                        keys++;
                }
                line += len + (line[len] == '\n');
        }
        return keys > 0;
}

static int read_keys_file(char **out)
{
        _cleanup_close_ int fd = open(AUTHORIZED_KEYS_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        char *buf = calloc(1, MAX_KEYS + 1);
        if (!buf)
                return -ENOMEM;
        ssize_t n = read(fd, buf, MAX_KEYS);
        if (n < 0) {
                free(buf);
                return -errno;
        }
        *out = buf;
        return 0;
}

int init_ssh_authorized_keys(struct sw_error *err)
{
        /* The environment variables of the jenkins/ssh-agent image, then a file. */
        const char *source = "JENKINS_AGENT_SSH_PUBKEY";
        const char *value = getenv(source);
        if (!value || !*value) {
                source = "JENKINS_SLAVE_SSH_PUBKEY";
                value = getenv(source);
        }
        _cleanup_free_ char *from_file = NULL;
        if (!value || !*value) {
                source = AUTHORIZED_KEYS_FILE;
                int r = read_keys_file(&from_file);
                if (r == -ENOENT) {
                        init_log("no authorized key given (JENKINS_AGENT_SSH_PUBKEY, "
                                 "JENKINS_SLAVE_SSH_PUBKEY or %s)", AUTHORIZED_KEYS_FILE);
                        return 0;
                }
                if (r < 0)
                        return sw_error_errno(err, -r, "read %s", AUTHORIZED_KEYS_FILE);
                value = from_file;
        }
        if (!keys_valid(value))
                return sw_error_set(err, EINVAL, "%s does not hold OpenSSH public keys", source);

        struct account account;
        int r = find_account(INIT_AGENT_USER, &account);
        if (r < 0)
                return sw_error_errno(err, -r, "user %s in /etc/passwd", INIT_AGENT_USER);
        char dir[300], path[320], tmp[330];
        snprintf(dir, sizeof(dir), "%s/.ssh", account.home);
        snprintf(path, sizeof(path), "%s/authorized_keys", dir);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return sw_error_errno(err, errno, "mkdir %s", dir);
        if (chown(dir, account.uid, account.gid) < 0 || chmod(dir, 0700) < 0)
                return sw_error_errno(err, errno, "secure %s", dir);
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return sw_error_errno(err, errno, "create %s", tmp);
        size_t len = strlen(value);
        if (write(fd, value, len) != (ssize_t) len || (len && value[len - 1] != '\n' && write(fd, "\n", 1) != 1))
                return sw_error_errno(err, errno, "write %s", tmp);
        if (fchown(fd, account.uid, account.gid) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0)
                return sw_error_errno(err, errno, "install %s", path);
        /* Children (sshd and everything it starts) never see the key variables. */
        unsetenv("JENKINS_AGENT_SSH_PUBKEY");
        unsetenv("JENKINS_SLAVE_SSH_PUBKEY");
        init_log("authorized keys for %s from %s", INIT_AGENT_USER, source);
        return 0;
}
