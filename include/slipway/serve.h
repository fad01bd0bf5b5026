/* slipway serve: demand-driven, one-shot Jenkins SSH agents on this host.
 *
 * One loop over a signalfd and the report pipes of worker processes, ticking every
 * poll-interval-ms. Each tick reads Jenkins' computers and queue, moves every agent along
 *
 *   launching (worker: seed, create, start, ready) -> ready (node registered, SSH launcher
 *   connecting) -> online -> busy (one build: marked offline so nothing else lands on it)
 *   -> idle again -> retiring (node deleted) -> destroying (worker: container, data root)
 *
 * and starts agents for queued work within the host's and each template's capacity. A node is
 * registered in Jenkins BEFORE its container starts, with the agent's own host key and port
 * (known in advance): other supervisors see it at once and do not start agents for the same
 * build, and a node this host finds unclaimed right after registering is withdrawn again.
 * Agents that never come online (launch-timeout) or never get a build (idle-timeout) are
 * retired; a template whose launches keep failing backs off exponentially (at most 5 min).
 * Jenkins being down or failing only pauses the loop's Jenkins part, with back-off.
 *
 * Each step of an agent is recorded before it is taken (serve_state.h). At start it
 * reconciles: running agents whose record and node still exist are adopted (a build running
 * on one finishes), everything else of this host (records, containers, data roots, mounts,
 * nodes) is removed; every reconcile-interval it checks again, and retires agents whose
 * container died (the outer dockerd restarted). See serve_reconcile.c.
 * SIGTERM/SIGINT drain: no new agents, unused ones retired, running builds may finish until
 * drain-timeout; a second signal retires everything at once. SIGHUP reloads slipway.conf. */
#ifndef SLIPWAY_SERVE_H
#define SLIPWAY_SERVE_H

#include "slipway/config.h"
#include "slipway/error.h"

/* config was read from config_path; SIGHUP reads that file again and switches to it when it
 * is valid (a bad one is logged and the running configuration kept). */
int serve_run(const struct config *config, const char *config_path, struct sw_error *err);

#endif
