/* jenkins_computers_parse: the body of GET /computer/api/json. On success, everything the header
 * promises of the result is checked, and the names go through jenkins_node_name_valid (what
 * slipway checks before a node name goes into a URL path). */
#include "fuzz.h"
#include "slipway/jenkins.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct jenkins_computers computers;
        struct sw_error err = { 0 };
        int r = jenkins_computers_parse((const char *) data, size, &computers, &err);
        if (r < 0) {
                FUZZ_CHECK(computers.items == NULL && computers.count == 0);
                FUZZ_CHECK(err.code > 0 && strlen(err.message) > 0);
                return 0;
        }
        FUZZ_CHECK(r == 0 && computers.count <= JENKINS_MAX_ITEMS);
        for (size_t i = 0; i < computers.count; i++) {
                const struct jenkins_computer *c = &computers.items[i];
                FUZZ_CHECK(c->name && strlen(c->name) <= JENKINS_STRING_MAX);
                FUZZ_CHECK(!c->description || strlen(c->description) <= JENKINS_TEXT_MAX);
                FUZZ_CHECK(c->labels);
                size_t labels = 0;
                for (char **l = c->labels; *l; l++)
                        FUZZ_CHECK(++labels <= JENKINS_MAX_LABELS && strlen(*l) <= JENKINS_STRING_MAX);
                FUZZ_CHECK(c->num_executors >= 0 && c->num_executors <= JENKINS_MAX_ITEMS);
                FUZZ_CHECK(c->busy_executors >= 0 && c->busy_executors <= JENKINS_MAX_ITEMS);
                struct sw_error name_err;
                if (!jenkins_node_name_valid(c->name, &name_err))
                        FUZZ_CHECK(name_err.code == EINVAL && strlen(name_err.message) > 0);
                FUZZ_CHECK(jenkins_computers_find(&computers, c->name) != NULL);
        }
        jenkins_computers_release(&computers);
        FUZZ_CHECK(computers.items == NULL && computers.count == 0);
        jenkins_computers_release(&computers); /* twice is harmless */
        return 0;
}
