/* Demand: see include/slipway/demand.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/cleanup.h"
#include "slipway/demand.h"
#include "slipway/label_expr.h"

#define DESCRIPTION_PREFIX "slipway:"

char *demand_node_description(const char *host, const char *template_name, const char *agent_id,
                              long long created_ms)
{
        char *text;
        if (asprintf(&text, DESCRIPTION_PREFIX " host=%s template=%s agent=%s created=%lld", host,
                     template_name, agent_id, created_ms) < 0)
                return NULL;
        return text;
}

bool demand_node_parse(const char *description, char *host, size_t host_size, long long *created_ms)
{
        if (!description || strncmp(description, DESCRIPTION_PREFIX, strlen(DESCRIPTION_PREFIX)) != 0)
                return false;
        bool have_host = false, have_created = false;
        const char *p = description + strlen(DESCRIPTION_PREFIX);
        while (*p) {
                while (*p == ' ')
                        p++;
                size_t len = strcspn(p, " ");
                if (len > 5 && strncmp(p, "host=", 5) == 0 && len - 5 < host_size) {
                        memcpy(host, p + 5, len - 5);
                        host[len - 5] = '\0';
                        have_host = true;
                } else if (len > 8 && strncmp(p, "created=", 8) == 0) {
                        char *end;
                        *created_ms = strtoll(p + 8, &end, 10);
                        have_created = end == p + len;
                }
                p += len;
        }
        return have_host && have_created;
}

/* The text between the first pair of quotes Jenkins puts around a label: ‘…’ in English
 * (U+2018/U+2019); plain ASCII quotes, «…» and „…“ for other locales. Except: with no agent
 * at all, Queue.BuildableItem.getCauseOfBlockage ignores the label and gives the built-in
 * node's refusal, Node.LabelMissing "‘Built-In Node’ doesn’t have label ‘dind’" (causes
 * joined by "; "); a cause quoting twice names the node first, the label second. */
static char *quoted_label(const char *why)
{
        static const struct {
                const char *open, *close;
        } quotes[] = {
                { "\xe2\x80\x98", "\xe2\x80\x99" }, /* ‘ ’ */
                { "\xe2\x80\x9e", "\xe2\x80\x9c" }, /* „ “ */
                { "\xc2\xab", "\xc2\xbb" },         /* « » */
                { "'", "'" },
                { "\"", "\"" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(quotes); i++) {
                const char *first = NULL, *first_end = NULL;
                for (const char *cause = why; cause;) {
                        const char *cause_end = strstr(cause, "; ");
                        if (!cause_end)
                                cause_end = cause + strlen(cause);
                        const char *last = NULL, *last_end = NULL, *p = cause;
                        int pairs = 0;
                        for (;;) {
                                const char *open = strstr(p, quotes[i].open);
                                if (!open || open >= cause_end)
                                        break;
                                open += strlen(quotes[i].open);
                                const char *close = strstr(open, quotes[i].close);
                                if (!close || close > cause_end)
                                        break;
                                if (close > open) {
                                        pairs++;
                                        last = open;
                                        last_end = close;
                                        if (!first) {
                                                first = open;
                                                first_end = close;
                                        }
                                }
                                p = close + strlen(quotes[i].close);
                        }
                        if (pairs >= 2)
                                return strndup(last, (size_t) (last_end - last));
                        cause = *cause_end ? cause_end + 2 : NULL;
                }
                if (first)
                        return strndup(first, (size_t) (first_end - first));
        }
        return NULL;
}

char *demand_item_label(const struct jenkins_queue_item *item)
{
        if (item->label && item->label[0])
                return strdup(item->label);
        return item->why ? quoted_label(item->why) : NULL;
}

struct supply {
        const struct jenkins_computer *computer;
        long long created_ms;
        bool claimed;
};

struct item_ref {
        const struct jenkins_queue_item *item;
        struct label_expr *expr;
};

static int compare_supply(const void *a, const void *b)
{
        const struct supply *x = a, *y = b;
        if (x->created_ms != y->created_ms)
                return x->created_ms < y->created_ms ? -1 : 1;
        return strcmp(x->computer->name, y->computer->name);
}

static int compare_items(const void *a, const void *b)
{
        const struct item_ref *x = a, *y = b;
        if (x->item->in_queue_since != y->item->in_queue_since)
                return x->item->in_queue_since < y->item->in_queue_since ? -1 : 1;
        return x->item->id < y->item->id ? -1 : x->item->id > y->item->id;
}

/* The slipway nodes of every host that can still take a build: not marked offline by their
 * owner (which it does once the build started) and no busy executor. */
static size_t collect_supply(const struct jenkins_computers *computers, struct supply *out)
{
        size_t n = 0;
        for (size_t i = 0; i < computers->count; i++) {
                const struct jenkins_computer *c = &computers->items[i];
                char host[256];
                long long created;
                if (!demand_node_parse(c->description, host, sizeof(host), &created))
                        continue;
                if (c->temporarily_offline || c->busy_executors > 0)
                        continue;
                out[n++] = (struct supply){ .computer = c, .created_ms = created };
        }
        qsort(out, n, sizeof(*out), compare_supply);
        return n;
}

/* When exactly one node carries a label, Jenkins names the node instead of the label in
 * `why` ("Waiting for next available executor on ‘host-1a2b…’", Queue.BuildableItem's
 * BecauseNodeIsBusy). For a slipway node the item can then run wherever that node's labels
 * are: rewrite the text into their conjunction (without the node's own name). */
static char *label_of_named_node(const struct jenkins_computers *computers, const char *text)
{
        const struct jenkins_computer *c = jenkins_computers_find(computers, text);
        char host[256];
        long long created;
        if (!c || !demand_node_parse(c->description, host, sizeof(host), &created))
                return NULL;
        size_t len = 1;
        for (char **l = c->labels; *l; l++)
                len += strlen(*l) + 4;
        char *expr = malloc(len);
        if (!expr)
                return NULL;
        expr[0] = '\0';
        for (char **l = c->labels; *l; l++) {
                if (strcmp(*l, c->name) == 0)
                        continue;
                if (expr[0])
                        strcat(expr, "&&");
                /* Quoted: a label atom may hold characters the expression syntax uses. */
                strcat(expr, "\"");
                strcat(expr, *l);
                strcat(expr, "\"");
        }
        if (!expr[0]) {
                free(expr);
                return NULL;
        }
        return expr;
}

static size_t collect_items(const struct jenkins_queue *queue,
                            const struct jenkins_computers *computers, struct item_ref *out)
{
        size_t n = 0;
        for (size_t i = 0; i < queue->count; i++) {
                const struct jenkins_queue_item *item = &queue->items[i];
                if (!item->buildable)
                        continue;
                _cleanup_free_ char *label = demand_item_label(item);
                if (!label)
                        continue;
                char *node_labels = label_of_named_node(computers, label);
                if (node_labels) {
                        free(label);
                        label = node_labels;
                }
                struct sw_error ignored;
                struct label_expr *expr = NULL;
                if (label_expr_parse(label, &expr, &ignored) < 0)
                        continue;
                out[n++] = (struct item_ref){ .item = item, .expr = expr };
        }
        qsort(out, n, sizeof(*out), compare_items);
        return n;
}

static void release_items(struct item_ref *items, size_t n)
{
        for (size_t i = 0; i < n; i++)
                label_expr_free(items[i].expr);
        free(items);
}

/* Oldest item first takes the earliest-created pending node whose labels it accepts. Returns
 * whether item found one. */
static bool claim(const struct item_ref *item, struct supply *supply, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (supply[i].claimed)
                        continue;
                if (label_expr_match(item->expr, (const char *const *) supply[i].computer->labels)) {
                        supply[i].claimed = true;
                        return true;
                }
        }
        return false;
}

/* Queue items matched to pending nodes: what demand_plan and demand_unclaimed both start from.
 * claimed[i] says whether item i took a pending node. */
struct matching {
        struct supply *supply;
        size_t n_supply;
        struct item_ref *items;
        size_t n_items;
        bool *claimed;
};

static void matching_release(struct matching *m)
{
        free(m->supply);
        release_items(m->items, m->n_items);
        free(m->claimed);
}

static int matching_build(const struct jenkins_queue *queue,
                          const struct jenkins_computers *computers, struct matching *m)
{
        *m = (struct matching){ 0 };
        m->supply = calloc(computers->count + 1, sizeof(*m->supply));
        m->items = calloc(queue->count + 1, sizeof(*m->items));
        m->claimed = calloc(queue->count + 1, sizeof(*m->claimed));
        if (!m->supply || !m->items || !m->claimed) {
                matching_release(m);
                return -ENOMEM;
        }
        m->n_supply = collect_supply(computers, m->supply);
        m->n_items = collect_items(queue, computers, m->items);
        for (size_t i = 0; i < m->n_items; i++)
                m->claimed[i] = claim(&m->items[i], m->supply, m->n_supply);
        return 0;
}

void demand_plan(const struct jenkins_queue *queue, const struct jenkins_computers *computers,
                 const struct demand_template *templates, size_t template_count,
                 int host_capacity, int host_active, int *launch, struct demand_result *result)
{
        memset(result, 0, sizeof(*result));
        for (size_t t = 0; t < template_count; t++)
                launch[t] = 0;
        struct matching m;
        if (matching_build(queue, computers, &m) < 0)
                return; /* no memory: start nothing this round */
        int room = host_capacity - host_active;
        for (size_t i = 0; i < m.n_items; i++) {
                if (m.claimed[i]) {
                        result->served++;
                        continue;
                }
                bool placed = false, ours = false;
                for (size_t t = 0; t < template_count && !placed; t++) {
                        if (!label_expr_match(m.items[i].expr, templates[t].labels))
                                continue;
                        ours = true;
                        if (room > 0 && templates[t].active + launch[t] < templates[t].max_instances) {
                                launch[t]++;
                                room--;
                                result->launch_total++;
                                placed = true;
                        }
                }
                if (ours && !placed)
                        result->unserved++;
        }
        matching_release(&m);
}

void demand_unclaimed(const struct jenkins_queue *queue, const struct jenkins_computers *computers,
                      const char *const *names, size_t count, bool *unclaimed)
{
        for (size_t k = 0; k < count; k++)
                unclaimed[k] = false;
        struct matching m;
        if (matching_build(queue, computers, &m) < 0)
                return; /* keep them: the idle timeout removes a surplus node anyway */
        for (size_t k = 0; k < count; k++)
                for (size_t i = 0; i < m.n_supply; i++)
                        if (!m.supply[i].claimed && strcmp(m.supply[i].computer->name, names[k]) == 0)
                                unclaimed[k] = true;
        matching_release(&m);
}
