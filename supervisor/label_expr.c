/* Jenkins label expressions: see include/slipway/label_expr.h.
 *
 * A small recursive-descent parser over a token stream, building a tree in one array (no
 * per-node allocation). Grammar after Jenkins' LabelExpressionParser.g4:
 *   expr   := impl ("<->" impl)*
 *   impl   := or ("->" impl)?
 *   or     := and ("||" and)*
 *   and    := not ("&&" not)*
 *   not    := "!" not | "(" expr ")" | ATOM | "quoted atom" */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/cleanup.h"
#include "slipway/label_expr.h"

enum label_op { OP_ATOM, OP_NOT, OP_AND, OP_OR, OP_IMPLIES, OP_IFF };

struct label_node {
        enum label_op op;
        int left, right;  /* node indexes, -1 when unused */
        char *atom;       /* OP_ATOM only */
};

struct label_expr {
        struct label_node *nodes;
        int count, capacity;
        int root;
};

struct parser {
        const char *text;
        size_t pos;
        struct label_expr *expr;
        struct sw_error *err;
        int depth;
};

#define MAX_DEPTH 64 /* nesting: bounded so hostile input cannot exhaust the stack */

static int parse_expr(struct parser *p);

static void skip_space(struct parser *p)
{
        while (p->text[p->pos] == ' ' || p->text[p->pos] == '\t' || p->text[p->pos] == '\n' ||
               p->text[p->pos] == '\r')
                p->pos++;
}

static bool take(struct parser *p, const char *token)
{
        skip_space(p);
        size_t len = strlen(token);
        if (strncmp(p->text + p->pos, token, len) != 0)
                return false;
        p->pos += len;
        return true;
}

static int fail(struct parser *p, const char *what)
{
        return sw_error_set(p->err, EINVAL, "label expression \"%.80s\": %s at position %zu",
                            p->text, what, p->pos + 1);
}

static int add_node(struct parser *p, enum label_op op, int left, int right, char *atom)
{
        struct label_expr *e = p->expr;
        if (e->count == e->capacity) {
                int capacity = e->capacity ? e->capacity * 2 : 8;
                struct label_node *nodes = realloc(e->nodes, (size_t) capacity * sizeof(*nodes));
                if (!nodes) {
                        free(atom);
                        return sw_error_set(p->err, ENOMEM, "label expression");
                }
                e->nodes = nodes;
                e->capacity = capacity;
        }
        e->nodes[e->count] = (struct label_node){ .op = op, .left = left, .right = right, .atom = atom };
        return e->count++;
}

static bool atom_char(const char *s)
{
        switch (*s) {
        case '\0': case ' ': case '\t': case '\n': case '\r':
        case '&': case '|': case '!': case '(': case ')': case '"':
                return false;
        case '-':
                return s[1] != '>';
        case '<':
                return strncmp(s, "<->", 3) != 0;
        default:
                return true;
        }
}

static int parse_primary(struct parser *p)
{
        if (++p->depth > MAX_DEPTH)
                return fail(p, "nested too deeply");
        skip_space(p);
        int r;
        const char *s = p->text + p->pos;
        if (*s == '!') {
                p->pos++;
                r = parse_primary(p);
                if (r >= 0)
                        r = add_node(p, OP_NOT, r, -1, NULL);
        } else if (*s == '(') {
                p->pos++;
                r = parse_expr(p);
                if (r >= 0 && !take(p, ")"))
                        r = fail(p, "expected ')'");
        } else if (*s == '"') {
                /* Jenkins quotes atoms with special characters; \" and \\ escape. */
                size_t cap = strlen(s), len = 0;
                _cleanup_free_ char *atom = malloc(cap + 1);
                if (!atom)
                        return sw_error_set(p->err, ENOMEM, "label expression");
                p->pos++;
                for (;;) {
                        char c = p->text[p->pos];
                        if (c == '\0')
                                return fail(p, "unterminated quote");
                        p->pos++;
                        if (c == '"')
                                break;
                        if (c == '\\' && p->text[p->pos] != '\0')
                                c = p->text[p->pos++];
                        atom[len++] = c;
                }
                atom[len] = '\0';
                r = add_node(p, OP_ATOM, -1, -1, TAKE_PTR(atom));
        } else if (atom_char(s)) {
                size_t len = 0;
                while (atom_char(s + len))
                        len++;
                char *atom = strndup(s, len);
                if (!atom)
                        return sw_error_set(p->err, ENOMEM, "label expression");
                p->pos += len;
                r = add_node(p, OP_ATOM, -1, -1, atom);
        } else {
                r = fail(p, *s ? "expected a label" : "unexpected end");
        }
        p->depth--;
        return r;
}

static int parse_and(struct parser *p)
{
        int left = parse_primary(p);
        while (left >= 0 && take(p, "&&")) {
                int right = parse_primary(p);
                left = right < 0 ? right : add_node(p, OP_AND, left, right, NULL);
        }
        return left;
}

static int parse_or(struct parser *p)
{
        int left = parse_and(p);
        while (left >= 0 && take(p, "||")) {
                int right = parse_and(p);
                left = right < 0 ? right : add_node(p, OP_OR, left, right, NULL);
        }
        return left;
}

static int parse_implies(struct parser *p)
{
        int left = parse_or(p);
        if (left >= 0 && take(p, "->")) {
                if (++p->depth > MAX_DEPTH)
                        return fail(p, "nested too deeply");
                int right = parse_implies(p);
                p->depth--;
                left = right < 0 ? right : add_node(p, OP_IMPLIES, left, right, NULL);
        }
        return left;
}

static int parse_expr(struct parser *p)
{
        int left = parse_implies(p);
        while (left >= 0 && take(p, "<->")) {
                int right = parse_implies(p);
                left = right < 0 ? right : add_node(p, OP_IFF, left, right, NULL);
        }
        return left;
}

void label_expr_free(struct label_expr *expr)
{
        if (!expr)
                return;
        for (int i = 0; i < expr->count; i++)
                free(expr->nodes[i].atom);
        free(expr->nodes);
        free(expr);
}

static void label_expr_freep(struct label_expr **expr)
{
        label_expr_free(*expr);
}

int label_expr_parse(const char *text, struct label_expr **out, struct sw_error *err)
{
        if (strlen(text) > LABEL_EXPR_MAX)
                return sw_error_set(err, EINVAL, "label expression longer than %d characters",
                                    LABEL_EXPR_MAX);
        _cleanup_(label_expr_freep) struct label_expr *expr = calloc(1, sizeof(*expr));
        if (!expr)
                return sw_error_set(err, ENOMEM, "label expression");
        struct parser p = { .text = text, .expr = expr, .err = err };
        int root = parse_expr(&p);
        if (root < 0)
                return root;
        skip_space(&p);
        if (text[p.pos] != '\0')
                return fail(&p, "unexpected text");
        expr->root = root;
        *out = TAKE_PTR(expr);
        return 0;
}

static bool has_atom(const char *const *atoms, const char *atom)
{
        for (size_t i = 0; atoms && atoms[i]; i++)
                if (strcmp(atoms[i], atom) == 0)
                        return true;
        return false;
}

/* Children always precede their parent in the array, so recursion depth is bounded by the
 * parser's own MAX_DEPTH and chain lengths; evaluate with an explicit pass instead. */
bool label_expr_match(const struct label_expr *expr, const char *const *atoms)
{
        bool values[expr->count > 0 ? expr->count : 1];
        for (int i = 0; i < expr->count; i++) {
                const struct label_node *n = &expr->nodes[i];
                switch (n->op) {
                case OP_ATOM:
                        values[i] = has_atom(atoms, n->atom);
                        break;
                case OP_NOT:
                        values[i] = !values[n->left];
                        break;
                case OP_AND:
                        values[i] = values[n->left] && values[n->right];
                        break;
                case OP_OR:
                        values[i] = values[n->left] || values[n->right];
                        break;
                case OP_IMPLIES:
                        values[i] = !values[n->left] || values[n->right];
                        break;
                case OP_IFF:
                        values[i] = values[n->left] == values[n->right];
                        break;
                }
        }
        return expr->count > 0 && values[expr->root];
}

bool label_expr_text_matches(const char *text, const char *const *atoms)
{
        struct label_expr *expr = NULL;
        struct sw_error ignored;
        if (label_expr_parse(text, &expr, &ignored) < 0)
                return false;
        bool match = label_expr_match(expr, atoms);
        label_expr_free(expr);
        return match;
}
