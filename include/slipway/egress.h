/* Per-template egress allowlist: only listed destinations (and replies to connections already
 * made, in either direction) are reachable from the agent, for its own processes and for the
 * containers its dockerd runs.
 *
 * "egress-allow = 10.0.0.5:443, 192.168.7.0/24:5000": IPv4 addresses or networks with a port,
 * TCP and UDP. Names are not accepted: resolving them would need DNS, itself a way out, and
 * the rules would hold whatever address the name had at start-up.
 *
 * The supervisor writes the rules into the agent's network namespace right after its
 * container starts, before it is ready (no build can connect before that): a chain
 * SLIPWAY-EGRESS, jumped to from OUTPUT (the agent's own traffic) and from DOCKER-USER (what
 * the inner dockerd forwards for its containers, checked before Docker's own rules) for
 * packets leaving through the agent's eth0. Traffic between the agent and its own containers
 * and on its loopback is not affected. */
#ifndef SLIPWAY_EGRESS_H
#define SLIPWAY_EGRESS_H

#include <stddef.h>
#include <sys/types.h>

#include "slipway/error.h"

#define EGRESS_MAX_ENTRIES 64

/* Parse a comma-separated list into its normalized form ("a.b.c.d/len:port,..."). Returns 0,
 * -EINVAL with a reason, or -ENOMEM. */
int egress_parse(const char *value, char **normalized, char *reason, size_t size);

/* The iptables-restore input that installs a normalized list (for tests and egress_apply). */
char *egress_rules(const char *normalized);

/* Install a normalized list in the network namespace of process pid (the agent's init). */
int egress_apply(pid_t pid, const char *normalized, struct sw_error *err);

#endif
