/* The CLI's side of the control socket: when `slipway serve` runs on a state directory, ps,
 * inspect, rm and create ask it (its view includes launching and retiring agents, and group
 * slipway suffices) instead of Docker. */
#ifndef SLIPWAY_CONTROL_CLIENT_H
#define SLIPWAY_CONTROL_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "slipway/error.h"

#define CONTROL_CLIENT_TIMEOUT_S 30
#define CONTROL_CLIENT_MAX_REPLY (8u << 20) /* bytes of a reply */

struct control_client;

/* 1 and *out set: a daemon listens on <state_dir>/control.sock. 0: none does (no socket, or a
 * stale one nobody accepts on): use Docker directly. Negative: it is there but cannot be used,
 * e.g. -EACCES, with err saying to run as root or as a member of group slipway. */
int control_client_open(const char *state_dir, struct control_client **out, struct sw_error *err);
void control_client_close(struct control_client *client);

/* One request; body_json NULL for none. *status is the HTTP status, *reply its JSON (or NULL
 * when the reply is not JSON). For a 4xx/5xx reply err holds the daemon's "error" text and
 * the return value is still 0: the caller decides (e.g. 404 may mean "not a served agent"). */
int control_client_request(struct control_client *client, const char *method, const char *path,
                           const char *body_json, long *status, json_t **reply,
                           struct sw_error *err);

#endif
