/* SSH set-up in the agent: the service sshd, the host key and user jenkins' authorized keys.
 *
 * The supervisor uploads the host key before start so it knows the public half in advance
 * (Jenkins gets that exact key: no trust on first use). Standalone (Docker plugin) agents get
 * a fresh key here. /etc/passwd is parsed by hand: a static binary must not use NSS.
 *
 * The Jenkins Docker plugin's SSH connector sets the container command to its own sshd
 * invocation ("Inject SSH key": `/usr/sbin/sshd -D -p 22 -o
 * AuthorizedKeysCommand=/root/authorized_key -o AuthorizedKeysCommandUser=root`, the script
 * uploaded through the archive API before start; otherwise `/usr/sbin/sshd -D -p 22`).
 * That sshd still reads our sshd_config (public keys only, user jenkins only, silent); its
 * -o options win over it, and -D and -e are kept so that it stays the foreground service and
 * logs to the container's stderr. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init.h"
#include "slipway/cleanup.h"

#define HOST_KEY "/etc/ssh/ssh_host_ed25519_key"
#define AUTHORIZED_KEYS_FILE INIT_RUN_DIR "/authorized_keys"
#define MAX_KEYS 16384
#define SSHD_DEFAULT_PORT 22

static bool is_sshd(const char *path)
{
        const char *base = strrchr(path, '/');
        return strcmp(base ? base + 1 : path, "sshd") == 0;
}

/* The value of an sshd -o option "Keyword=value" or "Keyword value" (keywords are
 * case-insensitive), or NULL. */
static const char *sshd_option_value(const char *option, const char *keyword)
{
        size_t len = strlen(keyword);
        if (strncasecmp(option, keyword, len) != 0 || (option[len] != '=' && option[len] != ' ' &&
                                                       option[len] != '\t'))
                return NULL;
        const char *value = option + len;
        value += strspn(value, "= \t");
        return *value ? value : NULL;
}

static bool keys_valid(const char *text);

int init_service_plan(char **command, struct init_service *service, struct sw_error *err)
{
        memset(service, 0, sizeof(*service));
        if (command && command[0] && strcmp(command[0], "--") == 0)
                command++;
        size_t given = 0;
        while (command && command[given])
                given++;
        if (given + 3 > INIT_SERVICE_ARGS_MAX)
                return sw_error_set(err, E2BIG, "command %s: more than %d arguments", command[0],
                                    INIT_SERVICE_ARGS_MAX - 3);
        /* No command: our sshd. A public key as the first argument is the jenkins/ssh-agent
         * image's convention (the Docker plugin's "Inject SSH key as container argument"): our
         * sshd with that key, any further arguments going to sshd. */
        const char *program = INIT_SSHD;
        char **args = command ? command + 1 : NULL;
        size_t nargs = given ? given - 1 : 0;
        if (given && command[0][0] != '/' && keys_valid(command[0]))
                service->key_argument = command[0];
        else if (given)
                program = command[0];
        if (program[0] != '/')
                return sw_error_set(err, EINVAL, "command %.64s: give an absolute path", program);
        size_t argc = 0;
        service->argv[argc++] = program;
        if (!is_sshd(program)) {
                for (size_t i = 0; i < nargs; i++)
                        service->argv[argc++] = args[i];
                return 0;
        }
        /* Without -D sshd daemonizes: its parent's exit would look like the service ending. */
        bool foreground = false, to_stderr = false;
        for (size_t i = 0; i < nargs; i++) {
                foreground = foreground || strcmp(args[i], "-D") == 0;
                to_stderr = to_stderr || strcmp(args[i], "-e") == 0;
        }
        if (!foreground)
                service->argv[argc++] = "-D";
        if (!to_stderr)
                service->argv[argc++] = "-e";
        service->probe_port = SSHD_DEFAULT_PORT;
        bool port_given = false;
        for (size_t i = 0; i < nargs; i++) {
                const char *arg = args[i];
                service->argv[argc++] = arg;
                const char *value = NULL;
                if (strncmp(arg, "-p", 2) == 0 || strncmp(arg, "-o", 2) == 0) {
                        value = arg[2] ? arg + 2 : args[i + 1];
                        if (!arg[2] && value)
                                service->argv[argc++] = args[++i];
                }
                if (!value)
                        continue;
                if (arg[1] == 'p' && !port_given) {
                        char *end;
                        long port = strtol(value, &end, 10);
                        if (*end || port <= 0 || port > 65535)
                                return sw_error_set(err, EINVAL, "sshd command: bad port \"%.16s\"", value);
                        service->probe_port = (int) port;
                        port_given = true;
                } else if (arg[1] == 'o' && sshd_option_value(value, "AuthorizedKeysCommand")) {
                        service->keys_command = sshd_option_value(value, "AuthorizedKeysCommand");
                }
        }
        return 0;
}

int init_ssh_host_key(const sigset_t *blocked, struct sw_error *err)
{
        /* sshd refuses a host key others can read; it runs as the namespace's root. */
        uid_t root = init_userns_outside(0);
        _cleanup_close_ int given = open(HOST_KEY, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (given >= 0) {
                if (fchown(given, root, root) < 0 || fchmod(given, 0600) < 0)
                        return sw_error_errno(err, errno, "secure %s", HOST_KEY);
                init_log("using the host key provided");
                return 0;
        }
        if (errno != ENOENT)
                return sw_error_errno(err, errno, "open %s", HOST_KEY);
        static const char *const keygen[] = { "/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                                              "-f", HOST_KEY, NULL };
        int r = init_run(keygen, blocked, err);
        if (r < 0)
                return r;
        if (r != 0)
                return sw_error_set(err, EIO, "ssh-keygen for %s exited with %d", HOST_KEY, r);
        _cleanup_close_ int made = open(HOST_KEY, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (made < 0 || fchown(made, root, root) < 0)
                return sw_error_errno(err, errno, "secure %s", HOST_KEY);
        init_log("generated a host key");
        return 0;
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

/* The Docker plugin's AuthorizedKeysCommand script answers for exactly one user, the
 * template's "user" setting (default root), with `[ "$1" = "USER" ] && echo 'KEY'|| :`.
 * Our sshd lets only jenkins in: say so when the template names someone else. sshd itself
 * refuses a command that is not root's or that others may write ("Unsafe
 * AuthorizedKeysCommand"), but only at login time: say that here too. */
static void check_keys_command(const char *keys_command)
{
        char path[256];
        snprintf(path, sizeof(path), "%.*s", (int) strcspn(keys_command, " \t"), keys_command);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                init_log("sshd's AuthorizedKeysCommand %s: %s (was the key injected before start?)", path,
                         strerror(errno));
                return;
        }
        if (st.st_uid != 0 || (st.st_mode & 022) || !(st.st_mode & 0100))
                init_log("sshd's AuthorizedKeysCommand %s must be root's, executable and not writable by "
                         "others (it is uid %u, mode %04o): sshd will refuse it", path,
                         (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
        char script[MAX_KEYS + 1];
        ssize_t n = read(fd, script, MAX_KEYS);
        script[n > 0 ? n : 0] = '\0';
        static const char marker[] = "[ \"$1\" = \"";
        const char *user = strstr(script, marker);
        if (!user) {
                init_log("authorized keys for %s: from sshd's AuthorizedKeysCommand %s", INIT_AGENT_USER, path);
                return;
        }
        user += strlen(marker);
        int len = (int) strcspn(user, "\"\n");
        if (len == (int) strlen(INIT_AGENT_USER) && strncmp(user, INIT_AGENT_USER, (size_t) len) == 0)
                init_log("authorized keys for %s: from the Jenkins Docker plugin's %s", INIT_AGENT_USER, path);
        else
                init_log("%s answers for user \"%.*s\", but only %s may log in here: set the Docker "
                         "template's SSH user to %s", path, len > 64 ? 64 : len, user, INIT_AGENT_USER,
                         INIT_AGENT_USER);
}

/* ~jenkins/.ssh/authorized_keys, by descriptor from the home down: on a restart of the
 * container the home holds what the last build left, and a symlink there must lead nowhere.
 * Owned by jenkins as the user namespace sees it. */
static int install_authorized_keys(const char *keys, struct sw_error *err)
{
        struct init_account account;
        int r = init_account_lookup(INIT_AGENT_USER, &account, err);
        if (r < 0)
                return r;
        uid_t uid = init_userns_outside(account.uid);
        gid_t gid = init_userns_outside(account.gid);
        _cleanup_close_ int home = open(account.home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (home < 0)
                return sw_error_errno(err, errno, "open %s", account.home);
        struct stat st;
        if (fstatat(home, ".ssh", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode) &&
            unlinkat(home, ".ssh", 0) < 0)
                return sw_error_errno(err, errno, "remove %s/.ssh (not a directory)", account.home);
        if (mkdirat(home, ".ssh", 0700) < 0 && errno != EEXIST)
                return sw_error_errno(err, errno, "mkdir %s/.ssh", account.home);
        _cleanup_close_ int dir = openat(home, ".ssh", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir < 0 || fchown(dir, uid, gid) < 0 || fchmod(dir, 0700) < 0)
                return sw_error_errno(err, errno, "secure %s/.ssh", account.home);
        (void) unlinkat(dir, "authorized_keys.tmp", 0);
        _cleanup_close_ int fd = openat(dir, "authorized_keys.tmp",
                                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return sw_error_errno(err, errno, "create %s/.ssh/authorized_keys.tmp", account.home);
        size_t len = strlen(keys);
        if (write(fd, keys, len) != (ssize_t) len || (len && keys[len - 1] != '\n' && write(fd, "\n", 1) != 1))
                return sw_error_errno(err, errno, "write %s/.ssh/authorized_keys.tmp", account.home);
        if (fchown(fd, uid, gid) < 0 || fsync(fd) < 0 ||
            renameat(dir, "authorized_keys.tmp", dir, "authorized_keys") < 0)
                return sw_error_errno(err, errno, "install %s/.ssh/authorized_keys", account.home);
        return 0;
}

/* Run the keys command once, as sshd would for jenkins (the user as its argument), and keep
 * what it prints (bounded, within a few seconds). */
static int run_keys_command(const char *keys_command, char *out, size_t size, struct sw_error *err)
{
        char path[256];
        snprintf(path, sizeof(path), "%.*s", (int) strcspn(keys_command, " \t"), keys_command);
        const char *const argv[] = { path, INIT_AGENT_USER, NULL };
        sigset_t all; /* whatever PID 1 blocks, the command gets unblocked (its timeout too) */
        sigfillset(&all);
        const struct init_command command = { .argv = argv, .output = out, .output_size = size, .timeout_s = 10 };
        int status = init_run_command(&command, &all, err);
        if (status > 0)
                return sw_error_set(err, EIO, "sshd's AuthorizedKeysCommand %s exited with %d", path, status);
        return status;
}

/* Drop -o AuthorizedKeysCommand[User]=... from sshd's arguments. */
static void drop_keys_command(struct init_service *service)
{
        size_t out = 0;
        for (size_t i = 0; service->argv[i]; i++) {
                const char *arg = service->argv[i];
                bool joined = strncmp(arg, "-o", 2) == 0 && arg[2];
                const char *value = joined ? arg + 2 : (strcmp(arg, "-o") == 0 ? service->argv[i + 1] : NULL);
                if (value && strncasecmp(value, "AuthorizedKeysCommand", 21) == 0) {
                        if (!joined)
                                i++;
                        continue;
                }
                service->argv[out++] = arg;
        }
        service->argv[out] = NULL;
        service->keys_command = NULL;
}

int init_ssh_authorized_keys(struct init_service *service, struct sw_error *err)
{
        const char *keys_command = service->keys_command;
        if (keys_command)
                check_keys_command(keys_command);
        /* sshd in the user namespace refuses any AuthorizedKeysCommand: it wants every directory
         * up to / owned by root, and the agent's files are host root's, nobody's in there. The
         * command (the Jenkins Docker plugin's /root/authorized_key) runs here instead, once,
         * before anything of a build exists, and its keys are installed like the others. */
        if (keys_command && init_inner.enabled) {
                char keys[MAX_KEYS + 1];
                int r = run_keys_command(keys_command, keys, sizeof(keys), err);
                if (r < 0)
                        return r;
                if (!keys_valid(keys))
                        return sw_error_set(err, EINVAL, "sshd's AuthorizedKeysCommand %s printed no OpenSSH "
                                            "public key for %s", keys_command, INIT_AGENT_USER);
                drop_keys_command(service);
                r = install_authorized_keys(keys, err);
                if (r < 0)
                        return r;
                init_log("authorized keys for %s: from sshd's AuthorizedKeysCommand, run once", INIT_AGENT_USER);
                return 0;
        }
        /* As the jenkins/ssh-agent image: a key given as the command, the environment
         * variables, then a file. */
        const char *source = "the container's command (a public key)";
        const char *value = service->key_argument;
        if (!value) {
                source = "JENKINS_AGENT_SSH_PUBKEY";
                value = getenv(source);
        }
        if (!value || !*value) {
                source = "JENKINS_SLAVE_SSH_PUBKEY";
                value = getenv(source);
        }
        _cleanup_free_ char *from_file = NULL;
        if (!value || !*value) {
                source = AUTHORIZED_KEYS_FILE;
                int r = read_keys_file(&from_file);
                if (r == -ENOENT) {
                        if (!keys_command)
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

        int r = install_authorized_keys(value, err);
        if (r < 0)
                return r;
        /* Children (sshd and everything it starts) never see the key variables. */
        unsetenv("JENKINS_AGENT_SSH_PUBKEY");
        unsetenv("JENKINS_SLAVE_SSH_PUBKEY");
        init_log("authorized keys for %s from %s", INIT_AGENT_USER, source);
        return 0;
}
