/* slipway serve's crash-safe record of each agent: <state dir>/served/<id>.json.
 *
 * Before every step of an agent's life the daemon writes the step it is about to take
 * (intended) and the last one it completed (reached), atomically: a temporary file, fsync,
 * rename, fsync of the directory. After a kill -9 at any point the next start therefore knows
 * which agents exist and how far each got, and together with Docker (containers by label) and
 * Jenkins (nodes) what to adopt and what to remove. A write that fails (a full disk) means
 * the step is not taken. The record goes once the agent is destroyed. */
#ifndef SLIPWAY_SERVE_STATE_H
#define SLIPWAY_SERVE_STATE_H

#include <stdbool.h>

#include <jansson.h>

#include "slipway/error.h"

#define SERVE_STATE_DIR "served"
#define SERVE_STATE_MAX_BYTES 4096

/* The steps, in order. A record's intended step may or may not have happened. */
#define SERVE_STEP_PREPARE "prepare"   /* agent directory and SSH keys */
#define SERVE_STEP_REGISTER "register" /* Jenkins node */
#define SERVE_STEP_SEED "seed"         /* data root from a cache generation */
#define SERVE_STEP_CREATE "create"     /* container */
#define SERVE_STEP_START "start"
#define SERVE_STEP_READY "ready"       /* waiting for the init's ready file */
#define SERVE_STEP_SERVE "serve"       /* running, in Jenkins' hands */
#define SERVE_STEP_RETIRE "retire"     /* node deletion */
#define SERVE_STEP_DESTROY "destroy"   /* container and data root removal */

struct serve_state_record {
        const char *id;
        const char *node;
        const char *template_name;
        const char *intended;
        const char *reached;       /* NULL: nothing yet */
        const char *container_id;  /* NULL until known */
};

/* <state dir>/served/<id>.json; caller frees. */
char *serve_state_path(const char *state_dir, const char *id);

/* Write the record (creating <state dir>/served). The error names the file. */
int serve_state_write(const char *state_dir, const struct serve_state_record *record,
                      struct sw_error *err);

/* Remove the record; one already gone is success. */
int serve_state_remove(const char *state_dir, const char *id, struct sw_error *err);

/* Every record as a JSON object keyed by agent id, each {id, node, template, intended,
 * reached, container, updated_ms}. A missing directory gives an empty object. A record that
 * is unreadable or malformed is an error naming it, so that nothing is silently forgotten;
 * leftover temporary files of an interrupted write are removed; files not named <id>.json are
 * not ours and ignored. */
int serve_state_load(const char *state_dir, json_t **out, struct sw_error *err);

/* TEST ONLY fault injection: when $SLIPWAY_CRASH_AT equals step, the daemon dies by SIGKILL
 * right after that step's record was written (from a worker, in_worker: the worker kills its
 * parent, the daemon, and then itself, as systemd's kill of the whole unit would), so that
 * the crash-at-every-step tests hit each step deterministically. Unset in production. */
void serve_state_crash_point(const char *step, bool in_worker);

#endif
