/* label_expr_parse and label_expr_match: Jenkins label expressions (from a queue item's
 * task.labelExpression or its `why` text). The input is the expression up to the first NUL;
 * what follows are the node's label atoms, separated by NULs. A parsed expression is matched
 * against those atoms, against none, and must agree with label_expr_text_matches. */
#include "fuzz.h"
#include "slipway/label_expr.h"

#define MAX_ATOMS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = fuzz_string(data, size);
        char *fields[1 + MAX_ATOMS];
        fuzz_fields(text, size, fields, 1 + MAX_ATOMS);
        const char *atoms[MAX_ATOMS + 1];
        size_t n = 0;
        for (size_t i = 1; i <= MAX_ATOMS && fields[i]; i++)
                atoms[n++] = fields[i];
        atoms[n] = NULL;

        struct label_expr *expr = NULL;
        struct sw_error err = { 0 };
        int r = label_expr_parse(fields[0], &expr, &err);
        if (r < 0) {
                FUZZ_CHECK(expr == NULL);
                FUZZ_CHECK(err.code > 0 && strlen(err.message) > 0);
                FUZZ_CHECK(!label_expr_text_matches(fields[0], atoms));
        } else {
                FUZZ_CHECK(expr != NULL);
                bool match = label_expr_match(expr, atoms);
                FUZZ_CHECK(match == label_expr_text_matches(fields[0], atoms));
                static const char *const none[] = { NULL };
                (void) label_expr_match(expr, none);
                (void) label_expr_match(expr, NULL);
                label_expr_free(expr);
        }
        free(text);
        return 0;
}
