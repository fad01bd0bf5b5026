/* jenkins_queue_parse: the body of GET /queue/api/json. On success the result is checked and
 * each item goes the way slipway serve takes it: demand_item_label (the label the item waits
 * for, from task.labelExpression or quoted in `why`), then label_expr_parse. */
#include "fuzz.h"
#include "slipway/demand.h"
#include "slipway/jenkins.h"
#include "slipway/label_expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct jenkins_queue queue;
        struct sw_error err = { 0 };
        int r = jenkins_queue_parse((const char *) data, size, &queue, &err);
        if (r < 0) {
                FUZZ_CHECK(queue.items == NULL && queue.count == 0);
                FUZZ_CHECK(err.code > 0 && strlen(err.message) > 0);
                return 0;
        }
        FUZZ_CHECK(r == 0 && queue.count <= JENKINS_MAX_ITEMS);
        static const char *const atoms[] = { "docker", "linux", "dind", NULL };
        for (size_t i = 0; i < queue.count; i++) {
                const struct jenkins_queue_item *item = &queue.items[i];
                FUZZ_CHECK(item->id >= 0 && item->in_queue_since >= 0);
                FUZZ_CHECK(!item->why || strlen(item->why) <= JENKINS_TEXT_MAX);
                FUZZ_CHECK(!item->task_name || strlen(item->task_name) <= JENKINS_STRING_MAX);
                FUZZ_CHECK(!item->label || strlen(item->label) <= JENKINS_STRING_MAX);
                char *label = demand_item_label(item);
                if (!label)
                        continue;
                struct label_expr *expr = NULL;
                if (label_expr_parse(label, &expr, &err) == 0) {
                        (void) label_expr_match(expr, atoms);
                        label_expr_free(expr);
                }
                free(label);
        }
        jenkins_queue_release(&queue);
        FUZZ_CHECK(queue.items == NULL && queue.count == 0);
        return 0;
}
