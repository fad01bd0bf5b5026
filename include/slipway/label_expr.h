/* Jenkins label expressions (hudson.model.labels): atoms combined with !, &&, ||, ->, <->
 * and parentheses; atoms may be double-quoted. slipway evaluates them against a template's
 * label atoms to decide which queued builds a template can serve.
 *
 * Precedence, loosest first, as Jenkins' LabelExpression grammar: <->, ->, ||, &&, !. */
#ifndef SLIPWAY_LABEL_EXPR_H
#define SLIPWAY_LABEL_EXPR_H

#include <stdbool.h>

#include "slipway/error.h"

#define LABEL_EXPR_MAX 1024 /* characters of an expression we parse */

struct label_expr;

/* Parse text; err says where and why it is not an expression. */
int label_expr_parse(const char *text, struct label_expr **out, struct sw_error *err);
/* Whether a node with these atoms (NULL-terminated) satisfies the expression. */
bool label_expr_match(const struct label_expr *expr, const char *const *atoms);
void label_expr_free(struct label_expr *expr);

/* Parse and match in one step; false when text does not parse. */
bool label_expr_text_matches(const char *text, const char *const *atoms);

#endif
