/* Egress allowlist: see include/slipway/egress.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slipway/cleanup.h"
#include "slipway/egress.h"
#include "slipway/fsutil.h"
#include "slipway/tool.h"

#define EGRESS_CHAIN "SLIPWAY-EGRESS"
#define AGENT_INTERFACE "eth0" /* the agent's one interface on the outer Docker network */


/* "a.b.c.d[/len]:port" (len bytes of entry) into "a.b.c.d/len:port" appended to out. */
static int egress_entry(const char *entry, size_t len, char *out, size_t out_size, char *reason,
                        size_t size)
{
        char text[64];
        if (len == 0 || len >= sizeof(text))
                return sw_reason_set(reason, size, "expected ADDRESS[/BITS]:PORT, not \"%.*s\"",
                                  (int) len, entry);
        memcpy(text, entry, len);
        text[len] = '\0';
        char *colon = strrchr(text, ':');
        if (!colon)
                return sw_reason_set(reason, size, "\"%s\": no port (expected ADDRESS[/BITS]:PORT)", text);
        *colon = '\0';
        const char *port_text = colon + 1;
        long port = 0;
        bool port_ok = port_text[0] != '\0' && strlen(port_text) <= 5;
        for (const char *p = port_text; port_ok && *p; p++) {
                port_ok = *p >= '0' && *p <= '9';
                port = port * 10 + (*p - '0');
        }
        if (!port_ok || port < 1 || port > 65535)
                return sw_reason_set(reason, size, "\"%s:%s\": expected a port 1-65535", text, port_text);
        long bits = 32;
        char *slash = strchr(text, '/');
        if (slash) {
                *slash = '\0';
                char *end = NULL;
                bits = strtol(slash + 1, &end, 10);
                if (slash[1] < '0' || slash[1] > '9' || *end || bits < 0 || bits > 32)
                        return sw_reason_set(reason, size, "\"%s/%s\": expected a prefix length 0-32",
                                          text, slash + 1);
        }
        struct in_addr addr;
        if (inet_pton(AF_INET, text, &addr) != 1)
                return sw_reason_set(reason, size,
                                  "\"%s\" is not an IPv4 address (host names are not resolved: "
                                  "give the address)", text);
        /* The network address itself, so the rule reads as what it matches. */
        uint32_t mask = bits == 0 ? 0 : htonl(~0u << (32 - bits));
        addr.s_addr &= mask;
        char address[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &addr, address, sizeof(address));
        size_t used = strlen(out);
        int n = snprintf(out + used, out_size - used, "%s%s/%ld:%ld", used ? "," : "", address, bits, port);
        if (n < 0 || (size_t) n >= out_size - used)
                return -ENOMEM;
        return 0;
}

int egress_parse(const char *value, char **normalized, char *reason, size_t size)
{
        size_t out_size = EGRESS_MAX_ENTRIES * 32;
        _cleanup_free_ char *out = calloc(1, out_size);
        if (!out)
                return -ENOMEM;
        size_t count = 0;
        for (const char *p = value;;) {
                p += strspn(p, " \t");
                size_t len = strcspn(p, ",");
                size_t trimmed = len;
                while (trimmed > 0 && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
                        trimmed--;
                if (++count > EGRESS_MAX_ENTRIES)
                        return sw_reason_set(reason, size, "more than %d destinations", EGRESS_MAX_ENTRIES);
                int r = egress_entry(p, trimmed, out, out_size, reason, size);
                if (r < 0)
                        return r;
                if (p[len] == '\0')
                        break;
                p += len + 1;
        }
        *normalized = TAKE_PTR(out);
        return 0;
}

char *egress_rules(const char *normalized)
{
        size_t size = 1024 + strlen(normalized) * 16;
        char *rules = malloc(size);
        if (!rules)
                return NULL;
        /* --noflush keeps the inner dockerd's rules. DOCKER-USER is declared so that it exists
         * whether dockerd started yet or not (dockerd keeps an existing one and jumps to it
         * first from FORWARD); the jump is inserted first, ahead of its RETURN. FORWARD jumps
         * to the chain itself too: should the inner dockerd use another iptables backend than
         * this host's iptables-restore (legacy and nft keep separate tables), its DOCKER-USER
         * would not be this one, and its containers' traffic would go around the list. */
        int n = snprintf(rules, size,
                         "*filter\n"
                         ":" EGRESS_CHAIN " - [0:0]\n"
                         ":DOCKER-USER - [0:0]\n"
                         "-I OUTPUT 1 -o " AGENT_INTERFACE " -j " EGRESS_CHAIN "\n"
                         "-I FORWARD 1 -o " AGENT_INTERFACE " -j " EGRESS_CHAIN "\n"
                         "-I DOCKER-USER 1 -o " AGENT_INTERFACE " -j " EGRESS_CHAIN "\n"
                         "-A " EGRESS_CHAIN " -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN\n");
        for (const char *p = normalized; *p;) {
                size_t len = strcspn(p, ",");
                const char *colon = memchr(p, ':', len);
                if (!colon)
                        break;
                for (int proto = 0; proto < 2; proto++)
                        n += snprintf(rules + n, size - (size_t) n,
                                      "-A " EGRESS_CHAIN " -d %.*s -p %s --dport %.*s -j RETURN\n",
                                      (int) (colon - p), p, proto ? "udp" : "tcp",
                                      (int) (len - (size_t) (colon - p) - 1), colon + 1);
                p += len + (p[len] == ',');
        }
        n += snprintf(rules + n, size - (size_t) n,
                      "-A " EGRESS_CHAIN " -p tcp -j REJECT --reject-with tcp-reset\n"
                      "-A " EGRESS_CHAIN " -j REJECT --reject-with icmp-admin-prohibited\n"
                      "COMMIT\n");
        return rules;
}

int egress_apply(pid_t pid, const char *normalized, struct sw_error *err)
{
        _cleanup_free_ char *rules = egress_rules(normalized);
        char ns_path[64];
        snprintf(ns_path, sizeof(ns_path), "/proc/%d/ns/net", (int) pid);
        if (!rules)
                return sw_error_set(err, ENOMEM, "egress rules");
        _cleanup_close_ int ns = open(ns_path, O_RDONLY | O_CLOEXEC);
        if (ns < 0)
                return sw_error_errno(err, errno, "egress rules: open %s", ns_path);
        const char *const argv[] = { "iptables-restore", "--noflush", "--wait", NULL };
        const struct tool_run run = { .argv = argv, .input = rules, .netns_fd = ns, .package = "iptables" };
        if (tool_run(&run, err) < 0)
                return sw_error_prefix(err, "egress rules");
        return 0;
}
