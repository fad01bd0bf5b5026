/* Demand: which label a queued item waits for, the slipway node description, how many agents
 * each template starts from a Jenkins queue and computer list, and which of this host's new
 * nodes no queued item claims. Fixtures are built by hand, except one realistic pair of
 * /queue and /computer bodies decoded by the real parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "slipway/cleanup.h"
#include "slipway/demand.h"
#include "slipway/jenkins.h"

#define LQ "\xe2\x80\x98" /* ‘ */
#define RQ "\xe2\x80\x99" /* ’ */

/* Labels as /computer/api/json lists them (the node's own name included). */
#define LABELS(...) ((char *[]){ __VA_ARGS__, NULL })
#define ATOMS(...) ((const char *const[]){ __VA_ARGS__, NULL })

#define MAX_FIXTURE 32

struct fixture {
        struct jenkins_queue_item items[MAX_FIXTURE];
        struct jenkins_computer computers[MAX_FIXTURE];
        struct jenkins_queue queue;
        struct jenkins_computers nodes;
        long long clock; /* inQueueSince of the next item */
};

static int fixture_setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        f->queue.items = f->items;
        f->nodes.items = f->computers;
        f->clock = 1727180000000LL;
        *state = f;
        return 0;
}

static int fixture_teardown(void **state)
{
        struct fixture *f = *state;
        for (size_t i = 0; i < f->nodes.count; i++)
                free(f->computers[i].description); /* from demand_node_description or strdup */
        free(f);
        return 0;
}

/* A buildable item, newer than every one before it. label: task.labelExpression; why: the
 * queue's explanation (either may be NULL). */
static struct jenkins_queue_item *add_item(struct fixture *f, char *label, char *why)
{
        assert_true(f->queue.count < MAX_FIXTURE);
        struct jenkins_queue_item *item = &f->items[f->queue.count];
        f->clock += 1000;
        *item = (struct jenkins_queue_item){
                .id = 100 + (long long) f->queue.count,
                .buildable = true,
                .in_queue_since = f->clock,
                .why = why,
                .task_name = "job",
                .label = label,
        };
        f->queue.count++;
        return item;
}

/* A Pipeline node('label') item: no exported label, only the why text. */
static struct jenkins_queue_item *add_pipeline_item(struct fixture *f, const char *label)
{
        static char whys[MAX_FIXTURE][128];
        char *why = whys[f->queue.count];
        snprintf(why, sizeof(whys[0]), "Waiting for next available executor on " LQ "%s" RQ, label);
        return add_item(f, NULL, why);
}

static struct jenkins_computer *add_computer(struct fixture *f, char *name, const char *description,
                                             char **labels)
{
        assert_true(f->nodes.count < MAX_FIXTURE);
        struct jenkins_computer *c = &f->computers[f->nodes.count++];
        *c = (struct jenkins_computer){
                .name = name,
                .description = description ? strdup(description) : NULL,
                .labels = labels,
                .offline = false,
                .idle = true,
                .num_executors = 1,
        };
        return c;
}

/* A slipway node registered by host, still launching (offline, not temporarily offline, no
 * busy executor): it will take the next build its labels accept. */
static struct jenkins_computer *add_pending_node(struct fixture *f, char *name, const char *host,
                                                 long long created_ms, char **labels)
{
        struct jenkins_computer *c = add_computer(f, name, NULL, labels);
        c->description = demand_node_description(host, "dind", "0123456789ab", created_ms);
        assert_non_null(c->description);
        c->offline = true;
        return c;
}

struct plan {
        int launch[4];
        struct demand_result result;
};

static struct plan plan(const struct fixture *f, const struct demand_template *templates,
                        size_t count, int host_capacity, int host_active)
{
        struct plan p;
        assert_true(count <= ARRAY_SIZE(p.launch));
        memset(&p, 0x55, sizeof(p)); /* every output must be written */
        demand_plan(&f->queue, &f->nodes, templates, count, host_capacity, host_active, p.launch,
                    &p.result);
        int sum = 0;
        for (size_t t = 0; t < count; t++)
                sum += p.launch[t];
        assert_int_equal(sum, p.result.launch_total);
        return p;
}

static const struct demand_template dind_template = {
        .name = "dind",
        .labels = ATOMS("dind", "docker"),
        .max_instances = 3,
};

/* ---- demand_item_label ---- */

static void expect_item_label(char *label, char *why, const char *expected)
{
        struct jenkins_queue_item item = { .id = 1, .buildable = true, .label = label, .why = why };
        _cleanup_free_ char *got = demand_item_label(&item);
        if (!expected) {
                if (got)
                        fail_msg("label \"%s\" why \"%s\": got \"%s\", expected none", label ? label : "(null)",
                                 why ? why : "(null)", got);
                return;
        }
        if (!got || strcmp(got, expected) != 0)
                fail_msg("label \"%s\" why \"%s\": got \"%s\", expected \"%s\"", label ? label : "(null)",
                         why ? why : "(null)", got ? got : "(null)", expected);
}

static void test_item_label(void **state)
{
        (void) state;
        /* The task's own label expression wins. */
        expect_item_label("linux && docker", "There are no nodes with the label " LQ "linux&&docker" RQ,
                          "linux && docker");
        expect_item_label("dind", NULL, "dind");
        /* Else the one Jenkins quotes in why (Pipeline node('dind') items export none). */
        expect_item_label(NULL, "Waiting for next available executor on " LQ "dind" RQ, "dind");
        expect_item_label("", "Waiting for next available executor on " LQ "dind" RQ, "dind");
        expect_item_label(NULL, "There are no nodes with the label " LQ "dind&&linux" RQ, "dind&&linux");
        expect_item_label(NULL, "All nodes of label " LQ "dind" RQ " are offline", "dind");
        expect_item_label(NULL, "There are no nodes with the label " LQ "docker-linux && !windows" RQ,
                          "docker-linux && !windows");
        expect_item_label(NULL, "Waiting for next available executor on " LQ "\"my label\"" RQ, "\"my label\"");
        /* With no agent at all Jenkins ignores the label and explains with the built-in node's
         * refusal, Node.LabelMissing "‘{0}’ doesn’t have label ‘{1}’" (joined by "; " when
         * several causes): the label is the second quote, not the node name. */
        expect_item_label(NULL, LQ "Built-In Node" RQ " doesn" RQ "t have label " LQ "dind" RQ, "dind");
        expect_item_label(NULL, LQ "Jenkins" RQ " doesn" RQ "t have label " LQ "dind&&linux" RQ, "dind&&linux");
        expect_item_label(NULL, LQ "static-1" RQ " is reserved for jobs with matching label expression; "
                                LQ "Built-In Node" RQ " doesn" RQ "t have label " LQ "dind" RQ, "dind");
        /* Other locales' quotes. */
        expect_item_label(NULL, "Warte auf den n\xc3\xa4" "chsten freien Build-Prozessor auf \xe2\x80\x9e" "dind\xe2\x80\x9c",
                          "dind");
        expect_item_label(NULL, "En attente du prochain ex\xc3\xa9" "cuteur disponible sur \xc2\xab" "dind\xc2\xbb", "dind");
        /* No label at all. */
        expect_item_label(NULL, NULL, NULL);
        expect_item_label(NULL, "", NULL);
        expect_item_label(NULL, "In the quiet period. Expires in 4.9 sec", NULL);
        expect_item_label(NULL, "Build #12 is already in progress (ETA: 3 min 2 sec)", NULL);
        expect_item_label(NULL, "Waiting for next available executor on " LQ RQ, NULL);
        expect_item_label(NULL, "Waiting for next available executor on " LQ "dind", NULL); /* cut short */
}

/* ---- demand_node_description / demand_node_parse ---- */

static void test_node_description_roundtrip(void **state)
{
        (void) state;
        _cleanup_free_ char *description =
                demand_node_description("build-3.example.com", "dind", "0123456789ab", 1727180000123LL);
        assert_non_null(description);
        assert_string_equal(description,
                            "slipway: host=build-3.example.com template=dind agent=0123456789ab created=1727180000123");
        char host[64] = "unchanged";
        long long created = 0;
        assert_true(demand_node_parse(description, host, sizeof(host), &created));
        assert_string_equal(host, "build-3.example.com");
        assert_int_equal(created, 1727180000123LL);

        /* The fields may come in any order; unknown ones are ignored. */
        assert_true(demand_node_parse("slipway: created=5 future=x host=h2", host, sizeof(host), &created));
        assert_string_equal(host, "h2");
        assert_int_equal(created, 5);

        /* A host that does not fit the buffer is not silently cut. */
        char small[8];
        assert_false(demand_node_parse(description, small, sizeof(small), &created));
        char exact[sizeof("build-3.example.com")];
        assert_true(demand_node_parse(description, exact, sizeof(exact), &created));
        assert_string_equal(exact, "build-3.example.com");
}

static void test_node_parse_rejects_other_descriptions(void **state)
{
        (void) state;
        static const char *const others[] = {
                "",
                "the Jenkins controller's built-in node",
                "slipway agent 7",
                "slipway",
                "slipway:",
                "Slipway: host=a created=1",
                " slipway: host=a created=1",
                "not slipway: host=a created=1",
                "slipway: host=a",                 /* no created */
                "slipway: created=1",              /* no host */
                "slipway: host= created=1",        /* empty host */
                "slipway: host=a created=",        /* empty created */
                "slipway: host=a created=12x",     /* not a number */
                "slipway: host=a created=1.5",
                "slipway: hostname=a created=1",
                "slipway: host=a createdms=1",
        };
        for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
                char host[64];
                long long created;
                if (demand_node_parse(others[i], host, sizeof(host), &created))
                        fail_msg("\"%s\" parsed as a slipway node", others[i]);
        }
        char host[64];
        long long created;
        assert_false(demand_node_parse(NULL, host, sizeof(host), &created));
}

/* ---- demand_plan ---- */

static void test_plan_launches_within_max_and_capacity(void **state)
{
        struct fixture *f = *state;
        for (int i = 0; i < 6; i++)
                add_pipeline_item(f, "dind");
        struct plan p = plan(f, &dind_template, 1, 3, 0);
        assert_int_equal(p.launch[0], 3);
        assert_int_equal(p.result.launch_total, 3);
        assert_int_equal(p.result.unserved, 3);
        assert_int_equal(p.result.served, 0);

        /* Host capacity below max_instances. */
        p = plan(f, &dind_template, 1, 2, 0);
        assert_int_equal(p.launch[0], 2);
        assert_int_equal(p.result.unserved, 4);

        /* Room for everything: one agent per item, no more. */
        struct demand_template roomy = dind_template;
        roomy.max_instances = 10;
        p = plan(f, &roomy, 1, 10, 0);
        assert_int_equal(p.launch[0], 6);
        assert_int_equal(p.result.unserved, 0);

        /* Nothing queued, nothing started. */
        f->queue.count = 0;
        p = plan(f, &roomy, 1, 10, 0);
        assert_int_equal(p.launch[0], 0);
        assert_int_equal(p.result.unserved, 0);
        assert_int_equal(p.result.served, 0);

        /* No templates at all. */
        add_pipeline_item(f, "dind");
        p = plan(f, NULL, 0, 10, 0);
        assert_int_equal(p.result.launch_total, 0);
        assert_int_equal(p.result.unserved, 0);
}

static void test_plan_counts_active_agents(void **state)
{
        struct fixture *f = *state;
        for (int i = 0; i < 6; i++)
                add_pipeline_item(f, "dind");
        struct demand_template t = dind_template;
        t.max_instances = 10;

        /* host_active: agents of any template on this host use its capacity. */
        struct plan p = plan(f, &t, 1, 4, 3);
        assert_int_equal(p.launch[0], 1);
        assert_int_equal(p.result.unserved, 5);
        p = plan(f, &t, 1, 4, 4);
        assert_int_equal(p.launch[0], 0);
        assert_int_equal(p.result.unserved, 6);
        p = plan(f, &t, 1, 4, 9); /* over capacity (lowered in the config) */
        assert_int_equal(p.launch[0], 0);

        /* active: the template's own agents count against its max_instances. */
        t.max_instances = 3;
        t.active = 2;
        p = plan(f, &t, 1, 10, 2);
        assert_int_equal(p.launch[0], 1);
        t.active = 3;
        p = plan(f, &t, 1, 10, 3);
        assert_int_equal(p.launch[0], 0);
        assert_int_equal(p.result.unserved, 6);
}

static void test_plan_shares_capacity_between_templates(void **state)
{
        struct fixture *f = *state;
        const struct demand_template templates[] = {
                { .name = "dind", .labels = ATOMS("dind", "docker", "linux"), .max_instances = 5 },
                { .name = "gpu", .labels = ATOMS("gpu", "cuda", "linux"), .max_instances = 5 },
        };
        /* Oldest first: three dind items, then three gpu items. */
        for (int i = 0; i < 3; i++)
                add_pipeline_item(f, "dind");
        for (int i = 0; i < 3; i++)
                add_item(f, "gpu && cuda", NULL);
        struct plan p = plan(f, templates, 2, 4, 0);
        assert_int_equal(p.launch[0], 3);
        assert_int_equal(p.launch[1], 1);
        assert_int_equal(p.result.launch_total, 4);
        assert_int_equal(p.result.unserved, 2);

        /* Enough room for both. */
        p = plan(f, templates, 2, 6, 0);
        assert_int_equal(p.launch[0], 3);
        assert_int_equal(p.launch[1], 3);
        assert_int_equal(p.result.unserved, 0);

        /* Capacity already used by the other template's agents. */
        struct demand_template busy[2] = { templates[0], templates[1] };
        busy[1].active = 5;
        p = plan(f, busy, 2, 6, 5);
        assert_int_equal(p.launch[0], 1);
        assert_int_equal(p.launch[1], 0);
        assert_int_equal(p.result.unserved, 5);
}

static void test_plan_serves_oldest_first(void **state)
{
        struct fixture *f = *state;
        const struct demand_template templates[] = {
                { .name = "dind", .labels = ATOMS("dind"), .max_instances = 5 },
                { .name = "gpu", .labels = ATOMS("gpu"), .max_instances = 5 },
        };
        /* The queue lists the dind item first, but the gpu one waited longer. */
        struct jenkins_queue_item *dind = add_item(f, "dind", NULL);
        struct jenkins_queue_item *gpu = add_item(f, "gpu", NULL);
        gpu->in_queue_since = dind->in_queue_since - 60000;
        struct plan p = plan(f, templates, 2, 1, 0);
        assert_int_equal(p.launch[0], 0);
        assert_int_equal(p.launch[1], 1);
        assert_int_equal(p.result.unserved, 1);

        /* Same age: the lower id first. */
        gpu->in_queue_since = dind->in_queue_since;
        gpu->id = dind->id + 1;
        p = plan(f, templates, 2, 1, 0);
        assert_int_equal(p.launch[0], 1);
        assert_int_equal(p.launch[1], 0);
        gpu->id = dind->id - 1;
        p = plan(f, templates, 2, 1, 0);
        assert_int_equal(p.launch[0], 0);
        assert_int_equal(p.launch[1], 1);
}

static void test_plan_first_template_with_room(void **state)
{
        struct fixture *f = *state;
        /* Both templates satisfy "docker": the first takes what it can, the second the rest. */
        const struct demand_template templates[] = {
                { .name = "small", .labels = ATOMS("docker", "linux"), .max_instances = 1 },
                { .name = "big", .labels = ATOMS("docker", "linux", "big"), .max_instances = 5 },
        };
        for (int i = 0; i < 3; i++)
                add_item(f, "docker", NULL);
        add_item(f, "docker && big", NULL);
        struct plan p = plan(f, templates, 2, 10, 0);
        assert_int_equal(p.launch[0], 1);
        assert_int_equal(p.launch[1], 3);
        assert_int_equal(p.result.unserved, 0);
}

static void test_plan_ignores_what_no_template_serves(void **state)
{
        struct fixture *f = *state;
        add_item(f, "windows", NULL);
        add_pipeline_item(f, "macos");
        add_item(f, NULL, NULL);                                /* no label: the built-in node's */
        add_item(f, NULL, "In the quiet period. Expires in 4.9 sec");
        add_item(f, "dind &&", NULL);                           /* not an expression */
        add_item(f, NULL, "Waiting for next available executor on " LQ "dind linux" RQ);
        struct jenkins_queue_item *waiting = add_item(f, "dind", NULL);
        waiting->buildable = false;                             /* quiet period, blocked... */
        struct jenkins_queue_item *blocked = add_pipeline_item(f, "dind");
        blocked->buildable = false;
        struct plan p = plan(f, &dind_template, 1, 10, 0);
        assert_int_equal(p.launch[0], 0);
        assert_int_equal(p.result.unserved, 0); /* none of them is ours */
        assert_int_equal(p.result.served, 0);

        add_pipeline_item(f, "dind");
        p = plan(f, &dind_template, 1, 10, 0);
        assert_int_equal(p.launch[0], 1);
        assert_int_equal(p.result.unserved, 0);
}

static void test_plan_cold_start(void **state)
{
        struct fixture *f = *state;
        /* No agent registered yet: Jenkins explains with the built-in node's refusal. */
        add_computer(f, "Built-In Node", "the Jenkins controller's built-in node", LABELS("built-in"));
        for (int i = 0; i < 2; i++)
                add_item(f, NULL, LQ "Built-In Node" RQ " doesn" RQ "t have label " LQ "dind" RQ);
        struct plan p = plan(f, &dind_template, 1, 3, 0);
        assert_int_equal(p.launch[0], 2);
        assert_int_equal(p.result.unserved, 0);
}

static void test_plan_label_expressions(void **state)
{
        struct fixture *f = *state;
        const struct demand_template templates[] = {
                { .name = "windows", .labels = ATOMS("dind", "windows"), .max_instances = 10 },
                { .name = "linux", .labels = ATOMS("dind", "docker", "linux"), .max_instances = 10 },
                { .name = "big linux", .labels = ATOMS("dind", "docker", "linux", "big mem"), .max_instances = 10 },
        };
        add_item(f, "dind && !windows", NULL);                                     /* linux */
        add_item(f, NULL, "There are no nodes with the label " LQ "dind&&!windows" RQ); /* linux */
        add_item(f, "windows", NULL);                                              /* windows */
        add_item(f, "linux && (docker || podman)", NULL);                          /* linux */
        add_item(f, "dind && \"big mem\"", NULL);                                  /* big linux */
        add_item(f, "linux && !docker", NULL);                                     /* none */
        add_item(f, "dind", NULL);                                                 /* windows: first */
        add_item(f, "windows <-> !docker", NULL);                                  /* windows */
        add_item(f, "docker -> big", NULL);                                        /* windows: vacuous */
        add_item(f, "docker && (docker -> \"big mem\")", NULL);                    /* big linux */
        struct plan p = plan(f, templates, 3, 100, 0);
        assert_int_equal(p.launch[0], 4);
        assert_int_equal(p.launch[1], 3);
        assert_int_equal(p.launch[2], 2);
        assert_int_equal(p.result.unserved, 0);
}

static void test_plan_pending_nodes_are_supply(void **state)
{
        struct fixture *f = *state;
        struct demand_template t = dind_template;
        t.max_instances = 10;
        for (int i = 0; i < 6; i++)
                add_pipeline_item(f, "dind");

        /* Pending slipway nodes of this host and of another one each take an item. */
        add_pending_node(f, "slipway-a-1", "host-a", 1000, LABELS("dind", "docker", "slipway-a-1"));
        add_pending_node(f, "slipway-b-1", "host-b", 2000, LABELS("dind", "docker", "slipway-b-1"));
        struct plan p = plan(f, &t, 1, 10, 1);
        assert_int_equal(p.result.served, 2);
        assert_int_equal(p.launch[0], 4);
        assert_int_equal(p.result.unserved, 0);
        /* The same with the limits of the brief: 6 items, 2 pending, room for 3. */
        p = plan(f, &dind_template, 1, 3, 0);
        assert_int_equal(p.result.served, 2);
        assert_int_equal(p.launch[0], 3);
        assert_int_equal(p.result.unserved, 1);

        /* An idle online one counts too: it has not taken the build yet. */
        struct jenkins_computer *online = add_pending_node(f, "slipway-b-2", "host-b", 3000,
                                                           LABELS("dind", "slipway-b-2"));
        online->offline = false;
        p = plan(f, &t, 1, 10, 0);
        assert_int_equal(p.result.served, 3);
        assert_int_equal(p.launch[0], 3);

        /* These are no supply: busy, temporarily offline (running its one build), of labels
         * no item accepts, and nodes slipway did not make (even idle ones with the label). */
        struct jenkins_computer *busy = add_pending_node(f, "slipway-b-3", "host-b", 500,
                                                         LABELS("dind", "slipway-b-3"));
        busy->offline = false;
        busy->idle = false;
        busy->busy_executors = 1;
        struct jenkins_computer *draining = add_pending_node(f, "slipway-a-2", "host-a", 600,
                                                             LABELS("dind", "slipway-a-2"));
        draining->offline = false;
        draining->temporarily_offline = true;
        add_pending_node(f, "slipway-c-1", "host-c", 700, LABELS("gpu", "slipway-c-1"));
        add_computer(f, "Built-In Node", "the Jenkins controller's built-in node", LABELS("built-in"));
        add_computer(f, "static-dind", NULL, LABELS("dind", "static-dind"));
        add_computer(f, "old-dind", "slipway agent 7", LABELS("dind", "old-dind"));
        add_computer(f, "fake", "slipway: host=x", LABELS("dind", "fake"));
        p = plan(f, &t, 1, 10, 0);
        assert_int_equal(p.result.served, 3);
        assert_int_equal(p.launch[0], 3);

        /* More supply than demand: nothing to start. */
        add_pending_node(f, "slipway-c-2", "host-c", 4000, LABELS("dind", "slipway-c-2"));
        add_pending_node(f, "slipway-c-3", "host-c", 4000, LABELS("dind", "slipway-c-3"));
        add_pending_node(f, "slipway-c-4", "host-c", 4000, LABELS("dind", "slipway-c-4"));
        add_pending_node(f, "slipway-c-5", "host-c", 4000, LABELS("dind", "slipway-c-5"));
        p = plan(f, &t, 1, 10, 0);
        assert_int_equal(p.result.served, 6);
        assert_int_equal(p.launch[0], 0);
        assert_int_equal(p.result.unserved, 0);
}

static void test_plan_pending_node_serves_only_what_its_labels_accept(void **state)
{
        struct fixture *f = *state;
        const struct demand_template templates[] = {
                { .name = "dind", .labels = ATOMS("dind", "linux"), .max_instances = 10 },
                { .name = "gpu", .labels = ATOMS("gpu", "linux"), .max_instances = 10 },
        };
        add_item(f, "gpu", NULL);
        add_item(f, "dind && linux", NULL);
        add_item(f, "dind && !linux", NULL); /* no template either */
        add_pending_node(f, "slipway-b-1", "host-b", 1000, LABELS("dind", "linux", "slipway-b-1"));
        struct plan p = plan(f, templates, 2, 10, 0);
        assert_int_equal(p.result.served, 1);
        assert_int_equal(p.launch[0], 0); /* the pending dind node takes the dind item */
        assert_int_equal(p.launch[1], 1);
        /* Jenkins names the node, not the label, when one node carries the label: such an
         * item wants that node's labels (dind && linux), and the older dind item already took
         * the pending node, so it needs a new dind agent. */
        add_item(f, "slipway-b-1", NULL);
        p = plan(f, templates, 2, 10, 0);
        assert_int_equal(p.result.served, 1);
        assert_int_equal(p.launch[0], 1);
        assert_int_equal(p.launch[1], 1);
}

/* Six Pipeline node('dind') items and a computer list as Jenkins serves them: the controller,
 * a static agent, a busy slipway agent of this host and a launching one of another host. */
#define PLACEHOLDER(id, since)                                                                   \
        "{\"_class\":\"hudson.model.Queue$BuildableItem\",\"buildable\":true,\"id\":" #id ","     \
        "\"inQueueSince\":" #since ",\"stuck\":false,\"task\":{\"_class\":"                        \
        "\"org.jenkinsci.plugins.workflow.support.steps.ExecutorStepExecution$PlaceholderTask\","  \
        "\"name\":\"part of app \xc2\xbb main #" #id "\",\"url\":\"job/app/job/main/" #id "/\"},"   \
        "\"why\":\"Waiting for next available executor on " LQ "dind" RQ "\"}"

static const char queue_json[] =
        "{\"_class\":\"hudson.model.Queue\",\"items\":["
        PLACEHOLDER(17, 1727180006000) "," PLACEHOLDER(16, 1727180005000) ","
        PLACEHOLDER(15, 1727180004000) "," PLACEHOLDER(14, 1727180003000) ","
        PLACEHOLDER(13, 1727180002000) "," PLACEHOLDER(12, 1727180001000) ","
        "{\"_class\":\"hudson.model.Queue$WaitingItem\",\"buildable\":false,\"id\":18,"
        "\"inQueueSince\":1727180007000,\"stuck\":false,\"task\":{\"_class\":"
        "\"org.jenkinsci.plugins.workflow.job.WorkflowJob\",\"name\":\"deploy\",\"url\":\"job/deploy/\"},"
        "\"why\":\"In the quiet period. Expires in 4.9 sec\"},"
        "{\"_class\":\"hudson.model.Queue$BuildableItem\",\"buildable\":true,\"id\":19,"
        "\"inQueueSince\":1727180000000,\"stuck\":true,\"task\":{\"_class\":\"hudson.model.FreeStyleProject\","
        "\"name\":\"windows-build\",\"url\":\"job/windows-build/\",\"labelExpression\":\"windows\"},"
        "\"why\":\"There are no nodes with the label " LQ "windows" RQ "\"}]}";

static const char computers_json[] =
        "{\"_class\":\"hudson.model.ComputerSet\",\"computer\":["
        "{\"_class\":\"hudson.model.Hudson$MasterComputer\",\"assignedLabels\":[{\"name\":\"built-in\"}],"
        "\"description\":\"the Jenkins controller's built-in node\",\"displayName\":\"Built-In Node\","
        "\"executors\":[{\"idle\":true},{\"idle\":true}],\"idle\":true,\"numExecutors\":2,"
        "\"offline\":false,\"temporarilyOffline\":false},"
        "{\"_class\":\"hudson.slaves.SlaveComputer\",\"assignedLabels\":[{\"name\":\"dind\"},{\"name\":\"static-1\"}],"
        "\"description\":\"hand-made agent\",\"displayName\":\"static-1\",\"executors\":[{\"idle\":true}],"
        "\"idle\":true,\"numExecutors\":1,\"offline\":true,\"temporarilyOffline\":false},"
        "{\"_class\":\"hudson.slaves.SlaveComputer\",\"assignedLabels\":[{\"name\":\"dind\"},{\"name\":\"docker\"},"
        "{\"name\":\"slipway-build-1-0a1b2c\"}],"
        "\"description\":\"slipway: host=build-1 template=dind agent=0a1b2c3d4e5f created=1727179990000\","
        "\"displayName\":\"slipway-build-1-0a1b2c\",\"executors\":[{\"idle\":false}],\"idle\":false,"
        "\"numExecutors\":1,\"offline\":false,\"temporarilyOffline\":true},"
        "{\"_class\":\"hudson.slaves.SlaveComputer\",\"assignedLabels\":[{\"name\":\"dind\"},{\"name\":\"docker\"},"
        "{\"name\":\"slipway-build-2-6f7e8d\"}],"
        "\"description\":\"slipway: host=build-2 template=dind agent=6f7e8d9c0b1a created=1727180006500\","
        "\"displayName\":\"slipway-build-2-6f7e8d\",\"executors\":[{\"idle\":true}],\"idle\":true,"
        "\"numExecutors\":1,\"offline\":true,\"temporarilyOffline\":false}]}";

static void test_plan_from_jenkins_json(void **state)
{
        (void) state;
        struct jenkins_queue queue;
        struct jenkins_computers computers;
        struct sw_error err = { 0 };
        assert_int_equal(jenkins_queue_parse(queue_json, strlen(queue_json), &queue, &err), 0);
        assert_int_equal(jenkins_computers_parse(computers_json, strlen(computers_json), &computers, &err), 0);
        assert_int_equal(queue.count, 8);
        assert_int_equal(computers.count, 4);
        _cleanup_free_ char *label = demand_item_label(&queue.items[0]);
        assert_string_equal(label, "dind");

        /* build-1: one busy agent; capacity 3, max 3. build-2's launching node takes the
         * oldest item; of the five left, two fit. */
        struct demand_template t = dind_template;
        t.active = 1;
        int launch[1];
        struct demand_result result;
        demand_plan(&queue, &computers, &t, 1, 3, 1, launch, &result);
        assert_int_equal(launch[0], 2);
        assert_int_equal(result.launch_total, 2);
        assert_int_equal(result.served, 1);
        assert_int_equal(result.unserved, 3);

        /* build-2's view: its own node is pending and takes the oldest item too. */
        demand_plan(&queue, &computers, &dind_template, 1, 3, 1, launch, &result);
        assert_int_equal(launch[0], 2); /* capacity 3 minus its one agent */
        assert_int_equal(result.served, 1);

        /* The node build-2 just registered is claimed (it is the only pending one). */
        const char *const names[] = { "slipway-build-2-6f7e8d" };
        bool unclaimed[1] = { true };
        demand_unclaimed(&queue, &computers, names, 1, unclaimed);
        assert_false(unclaimed[0]);

        jenkins_queue_release(&queue);
        jenkins_computers_release(&computers);
}

/* ---- demand_unclaimed ---- */

static void test_unclaimed_later_node_withdraws(void **state)
{
        struct fixture *f = *state;
        /* Hosts a and b both saw one dind item and both registered a node for it. */
        add_pipeline_item(f, "dind");
        add_pending_node(f, "slipway-b-1", "host-b", 2000, LABELS("dind", "docker", "slipway-b-1"));
        add_pending_node(f, "slipway-a-1", "host-a", 1000, LABELS("dind", "docker", "slipway-a-1"));

        const char *const of_a[] = { "slipway-a-1" };
        const char *const of_b[] = { "slipway-b-1" };
        bool unclaimed[2] = { true, true };
        demand_unclaimed(&f->queue, &f->nodes, of_a, 1, unclaimed);
        assert_false(unclaimed[0]); /* the earlier one keeps the item */
        demand_unclaimed(&f->queue, &f->nodes, of_b, 1, unclaimed);
        assert_true(unclaimed[0]);  /* the later one withdraws */

        /* Two items: both are claimed. */
        add_pipeline_item(f, "dind");
        demand_unclaimed(&f->queue, &f->nodes, of_a, 1, unclaimed);
        assert_false(unclaimed[0]);
        demand_unclaimed(&f->queue, &f->nodes, of_b, 1, unclaimed);
        assert_false(unclaimed[0]);
}

static void test_unclaimed_ties_broken_by_name(void **state)
{
        struct fixture *f = *state;
        add_pipeline_item(f, "dind");
        add_pending_node(f, "slipway-b-1", "host-b", 5000, LABELS("dind", "slipway-b-1"));
        add_pending_node(f, "slipway-a-1", "host-a", 5000, LABELS("dind", "slipway-a-1"));
        const char *const both[] = { "slipway-b-1", "slipway-a-1" };
        bool unclaimed[2];
        demand_unclaimed(&f->queue, &f->nodes, both, 2, unclaimed);
        assert_true(unclaimed[0]);
        assert_false(unclaimed[1]);
}

static void test_unclaimed_several_of_one_host(void **state)
{
        struct fixture *f = *state;
        add_pipeline_item(f, "dind");
        add_pipeline_item(f, "gpu");
        /* An older pending node of another host already covers the dind item. */
        add_pending_node(f, "slipway-c-1", "host-c", 100, LABELS("dind", "slipway-c-1"));
        add_pending_node(f, "slipway-a-1", "host-a", 1000, LABELS("dind", "slipway-a-1"));
        add_pending_node(f, "slipway-a-2", "host-a", 1001, LABELS("gpu", "slipway-a-2"));
        add_pending_node(f, "slipway-a-3", "host-a", 1002, LABELS("gpu", "slipway-a-3"));
        /* A node not (yet) listed by Jenkins is kept: nothing says it is surplus. */
        const char *const mine[] = { "slipway-a-1", "slipway-a-2", "slipway-a-3", "slipway-a-4" };
        bool unclaimed[4];
        memset(unclaimed, 0x01, sizeof(unclaimed));
        demand_unclaimed(&f->queue, &f->nodes, mine, 4, unclaimed);
        assert_true(unclaimed[0]);
        assert_false(unclaimed[1]);
        assert_true(unclaimed[2]);
        assert_false(unclaimed[3]);

        /* Empty queue: every pending node is unclaimed. */
        f->queue.count = 0;
        demand_unclaimed(&f->queue, &f->nodes, mine, 4, unclaimed);
        assert_true(unclaimed[0]);
        assert_true(unclaimed[1]);
        assert_true(unclaimed[2]);
        assert_false(unclaimed[3]);
}

#define FIXTURE_TEST(test) cmocka_unit_test_setup_teardown(test, fixture_setup, fixture_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_item_label),
                cmocka_unit_test(test_node_description_roundtrip),
                cmocka_unit_test(test_node_parse_rejects_other_descriptions),
                FIXTURE_TEST(test_plan_launches_within_max_and_capacity),
                FIXTURE_TEST(test_plan_counts_active_agents),
                FIXTURE_TEST(test_plan_shares_capacity_between_templates),
                FIXTURE_TEST(test_plan_serves_oldest_first),
                FIXTURE_TEST(test_plan_first_template_with_room),
                FIXTURE_TEST(test_plan_ignores_what_no_template_serves),
                FIXTURE_TEST(test_plan_cold_start),
                FIXTURE_TEST(test_plan_label_expressions),
                FIXTURE_TEST(test_plan_pending_nodes_are_supply),
                FIXTURE_TEST(test_plan_pending_node_serves_only_what_its_labels_accept),
                cmocka_unit_test(test_plan_from_jenkins_json),
                FIXTURE_TEST(test_unclaimed_later_node_withdraws),
                FIXTURE_TEST(test_unclaimed_ties_broken_by_name),
                FIXTURE_TEST(test_unclaimed_several_of_one_host),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
