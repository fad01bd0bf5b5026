/* Demand: demand_node_parse (a node description from /computer), demand_item_label (the label
 * a queue item waits for: task.labelExpression, else quoted in `why`), and, with them, the
 * planning slipway serve does with such texts (demand_plan, demand_unclaimed).
 *
 * Input: NUL-separated fields, each a string as the Jenkins decoders would hand it over:
 *   0 why   1 task.labelExpression   2 node description   3 node labels (space-separated)
 *   4 node name   5 knobs: bytes that set the node's state, a twin node, queue order and the
 *   host's load (see knob())
 * The node is offered to the queue next to the built-in node; a second item waits on the node
 * by name ("Waiting for next available executor on ‘NAME’"), which is how Jenkins words it
 * when one node carries the label. */
#include "fuzz.h"
#include "slipway/demand.h"
#include "slipway/label_expr.h"

#define MAX_LABELS 16
#define FIELDS 6

/* Byte i of the knobs field, 0 when absent. */
static unsigned knob(const char *knobs, size_t i)
{
        return knobs && strlen(knobs) > i ? (unsigned char) knobs[i] : 0;
}

static size_t split_labels(char *text, char **labels)
{
        size_t n = 0;
        for (char *save = NULL, *atom = text ? strtok_r(text, " ", &save) : NULL;
             atom && n < MAX_LABELS; atom = strtok_r(NULL, " ", &save))
                labels[n++] = atom;
        labels[n] = NULL;
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = fuzz_string(data, size);
        char *f[FIELDS];
        fuzz_fields(text, size, f, FIELDS);
        const char *why = f[0], *label_expression = f[1] && f[1][0] ? f[1] : NULL;
        const char *description = f[2], *knobs = f[5];
        unsigned flags = knob(knobs, 0);

        /* The description, into a roomy buffer and into a tight one. */
        char host[256];
        long long created = 0;
        if (demand_node_parse(description, host, sizeof(host), &created))
                FUZZ_CHECK(strlen(host) > 0 && strlen(host) < sizeof(host));
        char tiny[4];
        if (demand_node_parse(description, tiny, sizeof(tiny), &created))
                FUZZ_CHECK(strlen(tiny) > 0 && strlen(tiny) < sizeof(tiny));

        struct jenkins_queue_item items[2] = {
                { .id = 1 + (flags & 0x20 ? 2 : 0), .buildable = !(flags & 0x04), .why = (char *) why,
                  .in_queue_since = 1000 + (flags & 0x10 ? 1000 : 0), .label = (char *) label_expression },
        };
        char *label = demand_item_label(&items[0]);
        if (label) {
                FUZZ_CHECK(strlen(label) > 0);
                if (label_expression)
                        FUZZ_CHECK(strcmp(label, label_expression) == 0);
                else
                        FUZZ_CHECK(why && strstr(why, label));
        }

        /* The node as /computer shows it, next to the built-in node. */
        char *labels[MAX_LABELS + 1];
        split_labels(f[3], labels);
        const char *name = f[4] && f[4][0] ? f[4] : label ? label : "node";
        char *builtin_labels[] = { "built-in", NULL };
        /* A twin: another slipway node with the same labels, created when knob 2 says. */
        char *twin_description = NULL;
        if (asprintf(&twin_description, "slipway: host=twin template=t agent=a created=%u",
                     knob(knobs, 2)) < 0)
                abort();
        struct jenkins_computer nodes[3] = {
                { .name = "Built-In Node", .labels = builtin_labels, .idle = true, .num_executors = 2 },
                { .name = (char *) name, .description = (char *) description, .labels = labels,
                  .idle = true, .num_executors = 1, .temporarily_offline = flags & 0x01,
                  .busy_executors = flags & 0x02 ? 1 : 0 },
                { .name = "twin", .description = twin_description, .labels = labels, .idle = true,
                  .num_executors = 1 },
        };
        struct jenkins_computers computers = { .items = nodes, .count = flags & 0x08 ? 3 : 2 };
        char *waiting_on = NULL;
        if (asprintf(&waiting_on, "Waiting for next available executor on \xe2\x80\x98%s\xe2\x80\x99",
                     name) < 0)
                abort();
        items[1] = (struct jenkins_queue_item){ .id = 2, .buildable = true, .in_queue_since = 2000,
                                                .why = waiting_on };
        struct jenkins_queue queue = { .items = items, .count = 2 };

        const char *const docker[] = { "docker", "linux", NULL };
        /* Knob 1: agents already running, of each template (0-3) and on the host (0-4). */
        unsigned load = knob(knobs, 1);
        struct demand_template templates[2] = {
                { .name = "docker", .labels = docker, .max_instances = 3, .active = (int) (load & 3) },
                { .name = "fuzz", .labels = (const char *const *) labels, .max_instances = 2,
                  .active = (int) ((load >> 2) & 3) },
        };
        int host_active = (int) ((load >> 4) % 5);
        int launch[2];
        struct demand_result result;
        demand_plan(&queue, &computers, templates, 2, 4, host_active, launch, &result);
        FUZZ_CHECK(launch[0] >= 0 && launch[1] >= 0 && launch[0] + launch[1] == result.launch_total);
        FUZZ_CHECK(result.launch_total <= (host_active < 4 ? 4 - host_active : 0));
        for (int t = 0; t < 2; t++)
                FUZZ_CHECK(launch[t] == 0 || templates[t].active + launch[t] <= templates[t].max_instances);
        FUZZ_CHECK(result.launch_total + result.served + result.unserved <= 2);

        const char *const names[] = { name };
        bool unclaimed[1];
        demand_unclaimed(&queue, &computers, names, 1, unclaimed);

        free(twin_description);
        free(waiting_on);
        free(label);
        free(text);
        return 0;
}
