/* The audit log of debug shells: one JSON object per line in <state dir>/audit.log (0600),
 * appended with a single write and fsynced, so concurrent writers never interleave and a
 * crash never loses a recorded opening. Fields: time (RFC 3339 UTC), event, user, uid, plus
 * the caller's fields (agent, container, command, root, exit, ...). */
#ifndef SLIPWAY_AUDIT_H
#define SLIPWAY_AUDIT_H

#include <jansson.h>

#include "slipway/error.h"

#define AUDIT_LOG_NAME "audit.log"
#define AUDIT_MAX_LINE 8192

/* Appends event (not stolen) with time/user/uid added. */
int audit_append(const char *state_dir, const char *event_name, json_t *fields,
                 struct sw_error *err);

#endif
