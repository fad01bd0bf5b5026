/* The inner network: the user namespace's own network namespace, joined to the agent's by a
 * veth pair, routed and masqueraded by the agent.
 *
 *   agent netns (PID 1's)                        inner netns (the namespace's root owns it)
 *   eth0 (Docker's network "slipway")            eth0  INIT_NET_INNER_ADDRESS/30
 *   INIT_NET_HOST_IF  INIT_NET_AGENT_ADDRESS/30  <-> default route via the agent
 *
 * Everything that decides what leaves is on the agent's side, where the namespace's root has
 * no capability: the NAT, the DNAT of the published SSH port to the inner sshd, the INPUT
 * filter that leaves inner processes only the DNS relay (init_dns.c) of the agent, the
 * supervisor's egress allowlist (FORWARD to eth0), and IPv6, which is off on the agent's end
 * of the pair, so no IPv6 packet crosses it whatever the inner side does. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "slipway/cleanup.h"
#include "slipway/fsutil.h"

#define IP "/usr/sbin/ip"
#define IPTABLES_RESTORE "/usr/sbin/iptables-restore"

static int write_sysctl(const char *path, const char *value, struct sw_error *err)
{
        int r = fs_write_text(path, value);
        return r < 0 ? sw_error_errno(err, -r, "write %s", path) : 0;
}

/* Run a tool to completion, in the inner network namespace when inner, with input on stdin;
 * anything but a clean exit is an error naming the command. */
static int run_tool(const char *const *argv, bool inner, const char *input, const sigset_t *blocked,
                    struct sw_error *err)
{
        const struct init_command command = { .argv = argv, .input = input, .inner_net = inner };
        int status = init_run_command(&command, blocked, err);
        if (status <= 0)
                return status;
        char line[256] = "";
        for (size_t i = 0; argv[i]; i++) {
                size_t len = strlen(line);
                snprintf(line + len, sizeof(line) - len, "%s%s", i ? " " : "", argv[i]);
        }
        return sw_error_set(err, EIO, "%s%s: exit status %d", inner ? "(inner) " : "", line, status);
}

/* The agent's MTU on its one outer interface, so the pair adds no fragmentation. */
static void outer_mtu(char *out, size_t size)
{
        snprintf(out, size, "1500");
        _cleanup_fclose_ FILE *f = fopen("/sys/class/net/eth0/mtu", "re");
        char value[16];
        if (f && fgets(value, sizeof(value), f) && value[0] >= '1' && value[0] <= '9') {
                value[strcspn(value, "\n")] = '\0';
                snprintf(out, size, "%s", value);
        }
}

int init_inner_net_setup(const struct init_inner_net *net, pid_t helper, struct sw_error *err)
{
        char pid[16], mtu[16], port[8];
        snprintf(pid, sizeof(pid), "%d", (int) helper);
        snprintf(port, sizeof(port), "%d", net->ssh_port > 0 ? net->ssh_port : 22);
        outer_mtu(mtu, sizeof(mtu));
        const sigset_t *blocked = net->blocked;
        const char *const add[] = { IP, "link", "add", INIT_NET_HOST_IF, "mtu", mtu, "type", "veth", "peer",
                                    "name", "eth0", "mtu", mtu, "netns", pid, NULL };
        const char *const address[] = { IP, "addr", "add", INIT_NET_AGENT_ADDRESS "/30", "dev", INIT_NET_HOST_IF, NULL };
        const char *const up[] = { IP, "link", "set", INIT_NET_HOST_IF, "up", NULL };
        const char *const lo_up[] = { IP, "link", "set", "lo", "up", NULL };
        const char *const inner_address[] = { IP, "addr", "add", INIT_NET_INNER_ADDRESS "/30", "dev", "eth0", NULL };
        const char *const inner_up[] = { IP, "link", "set", "eth0", "up", NULL };
        const char *const inner_route[] = { IP, "route", "add", "default", "via", INIT_NET_AGENT_ADDRESS, NULL };
        int r;
        if ((r = run_tool(add, false, NULL, blocked, err)) < 0 ||
            /* Before the address: no IPv6 link-local address ever exists on the agent's end. */
            (r = write_sysctl("/proc/sys/net/ipv6/conf/" INIT_NET_HOST_IF "/disable_ipv6", "1", err)) < 0 ||
            (r = run_tool(address, false, NULL, blocked, err)) < 0 || (r = run_tool(up, false, NULL, blocked, err)) < 0 ||
            (r = run_tool(lo_up, true, NULL, blocked, err)) < 0 ||
            (r = run_tool(inner_address, true, NULL, blocked, err)) < 0 ||
            (r = run_tool(inner_up, true, NULL, blocked, err)) < 0 ||
            (r = run_tool(inner_route, true, NULL, blocked, err)) < 0)
                return sw_error_prefix(err, "inner network");
        /* Strict reverse-path filtering on the pair: what comes out of the namespace must have
         * its address (the raw rule below says the same, whatever the sysctl defaults). */
        if ((r = write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", err)) < 0 ||
            (r = write_sysctl("/proc/sys/net/ipv4/conf/" INIT_NET_HOST_IF "/rp_filter", "1", err)) < 0)
                return r;
        /* --noflush: Docker's own rules for its embedded DNS live in these tables too. */
        char rules[2048];
        snprintf(rules, sizeof(rules),
                 "*raw\n"
                 "-A PREROUTING -i " INIT_NET_HOST_IF " ! -s " INIT_NET_INNER_ADDRESS "/32 -j DROP\n"
                 "COMMIT\n"
                 "*nat\n"
                 "-A PREROUTING ! -i " INIT_NET_HOST_IF " -p tcp --dport %s -j DNAT --to-destination "
                 INIT_NET_INNER_ADDRESS ":%s\n"
                 "-A POSTROUTING -s " INIT_NET_INNER_ADDRESS "/32 ! -o " INIT_NET_HOST_IF " -j MASQUERADE\n"
                 /* What enters comes from the agent's end of the pair: the inner side routes
                  * its answers there whatever subnets its own dockerd gives its bridges (it
                  * does not see the agent's network, and may well pick the same). */
                 "-A POSTROUTING -o " INIT_NET_HOST_IF " -j MASQUERADE\n"
                 "COMMIT\n"
                 "*filter\n"
                 "-A INPUT -i " INIT_NET_HOST_IF " -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
                 "-A INPUT -i " INIT_NET_HOST_IF " -d " INIT_NET_AGENT_ADDRESS " -p udp --dport 53 -j ACCEPT\n"
                 "-A INPUT -i " INIT_NET_HOST_IF " -d " INIT_NET_AGENT_ADDRESS " -p tcp --dport 53 -j ACCEPT\n"
                 "-A INPUT -i " INIT_NET_HOST_IF " -j DROP\n"
                 "COMMIT\n",
                 port, port);
        const char *const restore[] = { IPTABLES_RESTORE, "--noflush", "--wait", NULL };
        if ((r = run_tool(restore, false, rules, blocked, err)) < 0)
                return sw_error_prefix(err, "inner network: NAT and filter rules");
        return 0;
}
