/* Demand: how many agents each template should start now, from what Jenkins shows.
 *
 * Every buildable queue item waits for a label expression: the task's own where Jenkins
 * exports it, else the one quoted in its `why` text (‘dind’; Pipeline node('dind') items
 * export no label at all). Items are served oldest first: first by a slipway node of ANY host
 * that can still take a build (visible in /computer/api/json, described by
 * demand_node_description), earliest created first; only what is left becomes new agents, in
 * the first template whose labels satisfy the expression and that has room on this host.
 * Several supervisors on one Jenkins therefore never start more agents than the queue needs;
 * two that decide at the same instant both register their node first, and the one created
 * later finds itself unclaimed (demand_unclaimed) and withdraws before starting a container.
 * Pure functions, unit-tested. */
#ifndef SLIPWAY_DEMAND_H
#define SLIPWAY_DEMAND_H

#include <stdbool.h>
#include <stddef.h>

#include "slipway/jenkins.h"

struct demand_template {
        const char *name;
        const char *const *labels; /* atoms, NULL-terminated */
        int max_instances;
        int active;                /* this host's agents of the template, in any state */
};

struct demand_result {
        int launch_total;
        int unserved;     /* buildable items no template could take now (capacity) */
        int served;       /* buildable items a pending slipway node will take */
};

/* "slipway: host=H template=T agent=ID created=MS" */
char *demand_node_description(const char *host, const char *template_name, const char *agent_id,
                              long long created_ms);
/* Parse that; false when it is not a slipway node. */
bool demand_node_parse(const char *description, char *host, size_t host_size, long long *created_ms);

/* The label expression item waits for (malloc'd), or NULL. */
char *demand_item_label(const struct jenkins_queue_item *item);

/* launch[i]: agents template i should start now, within host_capacity (all of this host's
 * agents, host_active) and each template's max_instances. */
void demand_plan(const struct jenkins_queue *queue, const struct jenkins_computers *computers,
                 const struct demand_template *templates, size_t template_count,
                 int host_capacity, int host_active, int *launch, struct demand_result *result);

/* Of names (nodes this host just registered), which no queued item claims once earlier
 * nodes of every host took theirs: unclaimed[i] is set for them. */
void demand_unclaimed(const struct jenkins_queue *queue, const struct jenkins_computers *computers,
                      const char *const *names, size_t count, bool *unclaimed);

#endif
