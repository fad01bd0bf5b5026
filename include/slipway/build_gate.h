/* One build per agent, held by the agent itself: the contract between slipway serve and
 * slipway-init.
 *
 * Jenkins gives an idle online node the next queued build the moment the previous one ends
 * (Pipeline: the next node block), faster than any poll. A served agent therefore does not
 * let its build run a single program until its node is offline in Jenkins:
 *
 *   1. slipway-init watches <remote-fs>/workspace (inotify). Jenkins creates the build's
 *      workspace there before it runs anything; the first entry means "the build started"
 *      and is written to BUILD_GATE_STARTED in the gate directory.
 *   2. From then on every exec in the agent's user namespace waits (fanotify permission
 *      events on the agent's file systems) until BUILD_GATE_OFFLINE appears.
 *   3. serve sees BUILD_GATE_STARTED (inotify on the same directory, on the host) within
 *      milliseconds, marks the node offline first, retrying while Jenkins fails, and then
 *      writes BUILD_GATE_OFFLINE. Jenkins never assigns an offline node a build, so nothing
 *      can follow the one that started; and if Jenkins cannot be told, the build waits
 *      instead of a second one running.
 *
 * A later entry in the workspace directory that is not the build's own (<name>@tmp,
 * <name>@script, <name>@libs...) is a second build all the same: slipway-init writes
 * BUILD_GATE_SECOND and serve counts it (slipway_agents_reused_total) and logs it as an
 * error.
 *
 * The gate directory is <agent dir>/gate on the host (mode 0700, host root), bound into the
 * container at BUILD_GATE_IN_CONTAINER: the user namespace has no id that may enter it. Files
 * are written whole under a temporary name and renamed. */
#ifndef SLIPWAY_BUILD_GATE_H
#define SLIPWAY_BUILD_GATE_H

#define BUILD_GATE_DIR_NAME "gate"          /* below the agent's directory on the host */
#define BUILD_GATE_IN_CONTAINER "/run/slipway-gate"
/* Set (to the remote-fs) only for agents slipway serve launches: the gate is on. */
#define BUILD_GATE_ENV "SLIPWAY_BUILD_GATE_REMOTE_FS"
#define BUILD_GATE_STARTED "build-started" /* by slipway-init: the workspace entry's name */
#define BUILD_GATE_OFFLINE "offline"       /* by serve: the node takes no more builds */
#define BUILD_GATE_SECOND "second-build"   /* by slipway-init: the second entry's name */

#endif
