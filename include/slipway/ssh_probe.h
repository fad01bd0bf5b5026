/* Is an agent reachable where its SSH client will connect? The agent's own readiness only
 * says that its sshd answers inside the container; between the two lie the published port,
 * the host's NAT rules (which another dockerd may have rewritten) and firewalls. */
#ifndef SLIPWAY_SSH_PROBE_H
#define SLIPWAY_SSH_PROBE_H

#include "slipway/error.h"

/* Connect to host:port and read an "SSH-" banner, retrying until timeout_ms has passed. 0 when
 * one answered; otherwise an error naming the address, what happened and its likely cause:
 * -ECONNREFUSED (nothing listens, or a REJECT rule), -ETIMEDOUT (packets dropped on the way),
 * -EPROTO (something else answers). A wildcard host (0.0.0.0, ::) is probed on loopback. */
int ssh_banner_probe(const char *host, int port, int timeout_ms, struct sw_error *err);

#endif
