/*
 * rest_parse.c: the PostgREST query-string dialect (select, filters, logic
 * trees, order, limit, offset) as postgrest-js emits it, parsed into the
 * tree of rest_parse.h.
 *
 * Pure: no I/O, no globals but constant tables; never logs. All memory
 * comes from the caller's arena. It never writes SQL and never decides
 * whether a name exists: that is plan.c's job against the schema cache.
 * Every client-driven size is bounded (KilnRestLimits); malformed input is
 * a 400 PGRST100, never a crash.
 */
#include "rest_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const KilnRestLimits kiln_rest_default_limits = {
    .max_query_bytes = 16384,
    .max_depth = 16,
    .max_filters = 256,
    .max_select_items = 512,
};

/* Operators. Columns: wire name, op, takes an (any)/(all) modifier,
 * takes a full-text (config) modifier. */
static const struct {
    const char *name;
    KilnOp op;
    bool quant;
    bool fts;
} ops[] = {
    {"eq", KILN_OP_EQ, true, false},       {"neq", KILN_OP_NEQ, false, false},
    {"gt", KILN_OP_GT, true, false},       {"gte", KILN_OP_GTE, true, false},
    {"lt", KILN_OP_LT, true, false},       {"lte", KILN_OP_LTE, true, false},
    {"like", KILN_OP_LIKE, true, false},   {"ilike", KILN_OP_ILIKE, true, false},
    {"match", KILN_OP_MATCH, true, false}, {"imatch", KILN_OP_IMATCH, true, false},
    {"in", KILN_OP_IN, false, false},      {"is", KILN_OP_IS, false, false},
    {"isdistinct", KILN_OP_ISDISTINCT, false, false},
    {"cs", KILN_OP_CS, false, false},      {"cd", KILN_OP_CD, false, false},
    {"ov", KILN_OP_OV, false, false},      {"sl", KILN_OP_SL, false, false},
    {"sr", KILN_OP_SR, false, false},      {"nxr", KILN_OP_NXR, false, false},
    {"nxl", KILN_OP_NXL, false, false},    {"adj", KILN_OP_ADJ, false, false},
    {"fts", KILN_OP_FTS, false, true},     {"plfts", KILN_OP_PLFTS, false, true},
    {"phfts", KILN_OP_PHFTS, false, true}, {"wfts", KILN_OP_WFTS, false, true},
};

/* Parser state over one decoded string. */
typedef struct P {
    KilnArena *a;
    const char *what; /* "select", "order", "filter", ... for messages */
    const char *s;
    size_t i;
    const KilnRestLimits *lim;
    int items;
    KilnError *err;
} P;

/* The input as it may appear in a message: at most 120 bytes, control
 * characters as '?', so messages stay one line. */
static const char *shown(const char *text, char out[128])
{
    size_t i = 0;
    for (; text[i] && i < 120; i++)
        out[i] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? '?' : text[i];
    if (text[i])
        out[i++] = '.', out[i++] = '.', out[i++] = '.';
    out[i] = '\0';
    return out;
}

static bool fail_at(P *p, const char *expecting)
{
    char sv[128];
    kiln_error_rest(p->err, 400, "PGRST100",
                    "\"failed to parse %s parameter (%s)\" (line 1, column %zu)", p->what,
                    shown(p->s, sv), p->i + 1);
    char c = p->s[p->i];
    if (c)
        kiln_error_details(p->err, "unexpected \"%c\" expecting %s",
                           (unsigned char)c < 0x20 || c == 0x7f ? '?' : c, expecting);
    else
        kiln_error_details(p->err, "unexpected end of input expecting %s", expecting);
    return false;
}

static bool fail_msg(KilnError *err, const char *what, const char *text, const char *details)
{
    char sv[128];
    kiln_error_rest(err, 400, "PGRST100", "\"failed to parse %s parameter (%s)\"", what,
                    shown(text, sv));
    kiln_error_details(err, "%s", details);
    return false;
}

static void skip_ws(P *p)
{
    while (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')
        p->i++;
}

static bool at(P *p, const char *lit)
{
    return strncmp(p->s + p->i, lit, strlen(lit)) == 0;
}

/* ---- URL decoding ------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool rest_url_decode(KilnArena *a, const char *s, size_t len, char **out)
{
    char *d = arena_alloc(a, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 1 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            int h = hi * 16 + lo;
            c = (char)h;
            i += 2;
        }
        if (c == '\0')
            return false;
        d[o++] = c;
    }
    d[o] = '\0';
    *out = d;
    return true;
}

/* ---- names and JSON paths ---------------------------------------------- */

/* A character that ends an unquoted name in select, order and logic trees. */
static bool name_stop(const P *p, size_t i)
{
    char c = p->s[i];
    if (c == '\0' || c == ',' || c == '(' || c == ')' || c == ':' || c == '.' || c == '!' ||
        c == '"' || c == ' ' || c == '\t' || c == '\n' || c == '\r')
        return true;
    if (c == '-' && p->s[i + 1] == '>')
        return true;
    return false;
}

/* "..." with backslash escapes, at p->i; the result may be empty. */
static bool parse_quoted(P *p, const char **out)
{
    p->i++;
    size_t cap = strlen(p->s + p->i) + 1;
    char *d = arena_alloc(p->a, cap);
    size_t o = 0;
    for (;;) {
        char c = p->s[p->i];
        if (c == '\0')
            return fail_at(p, "closing quote");
        if (c == '\\' && p->s[p->i + 1]) {
            d[o++] = p->s[p->i + 1];
            p->i += 2;
            continue;
        }
        p->i++;
        if (c == '"')
            break;
        d[o++] = c;
    }
    d[o] = '\0';
    *out = d;
    return true;
}

/* name := "\"" chars (\\ escapes) "\"" | ident chars+ */
static bool parse_name(P *p, const char **out, const char *expecting)
{
    if (p->s[p->i] == '"') {
        size_t st = p->i;
        if (!parse_quoted(p, out))
            return false;
        if (!**out) {
            p->i = st;
            return fail_at(p, expecting);
        }
        return true;
    }
    size_t start = p->i;
    while (!name_stop(p, p->i))
        p->i++;
    if (p->i == start)
        return fail_at(p, expecting);
    *out = arena_strndup(p->a, p->s + start, p->i - start);
    return true;
}

static bool all_digits(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* field := name ("->" key | "->>" key)* */
static bool parse_field(P *p, KilnField *f)
{
    if (!parse_name(p, &f->name, "a column name"))
        return false;
    KilnJsonStep **tail = &f->path;
    while (at(p, "->")) {
        KilnJsonStep *st = arena_alloc(p->a, sizeof *st);
        p->i += 2;
        if (p->s[p->i] == '>') {
            st->as_text = true;
            p->i++;
        }
        bool quoted = p->s[p->i] == '"';
        size_t start = p->i;
        if (!quoted && p->s[p->i] == '-')
            p->i++; /* a negative array index */
        if (p->i != start) {
            size_t ds = p->i;
            while (isdigit((unsigned char)p->s[p->i]))
                p->i++;
            if (p->i == ds)
                return fail_at(p, "an array index");
            st->key = arena_strndup(p->a, p->s + start, p->i - start);
        } else if (!parse_name(p, &st->key, "a JSON key")) {
            return false;
        }
        st->index = !quoted && all_digits(st->key);
        *tail = st;
        tail = &st->next;
    }
    return true;
}

/* A type name for ::cast: letters, digits, '_', spaces, "[]". */
static bool parse_cast(P *p, const char **out)
{
    size_t start = p->i;
    while (isalnum((unsigned char)p->s[p->i]) || p->s[p->i] == '_' || p->s[p->i] == ' ' ||
           p->s[p->i] == '[' || p->s[p->i] == ']')
        p->i++;
    if (p->i == start || p->i - start > 128)
        return fail_at(p, "a type name");
    *out = arena_strndup(p->a, p->s + start, p->i - start);
    return true;
}

/* ---- select ------------------------------------------------------------ */

static bool parse_forest(P *p, int depth, KilnSelect **out);

static bool parse_embed_params(P *p, KilnSelect *it)
{
    int n = 0;
    while (p->s[p->i] == '!') {
        if (++n > 2)
            return fail_at(p, "\"(\"");
        p->i++;
        const char *word;
        if (!parse_name(p, &word, "a join type or a hint"))
            return false;
        if (strcmp(word, "inner") == 0)
            it->join = KILN_JOIN_INNER;
        else if (strcmp(word, "left") == 0)
            it->join = KILN_JOIN_LEFT;
        else if (!it->hint)
            it->hint = word;
        else
            return fail_at(p, "\"(\"");
    }
    return true;
}

static bool parse_children(P *p, int depth, KilnSelect *it)
{
    if (p->s[p->i] != '(')
        return fail_at(p, "\"(\"");
    p->i++;
    if (depth + 1 > p->lim->max_depth) {
        kiln_error_rest(p->err, 400, "PGRST100", "the select parameter nests embedded resources "
                        "deeper than %d levels", p->lim->max_depth);
        return false;
    }
    skip_ws(p);
    if (p->s[p->i] == ')') {
        p->i++; /* rel() selects no columns of the embed */
        return true;
    }
    if (!parse_forest(p, depth + 1, &it->children))
        return false;
    skip_ws(p);
    if (p->s[p->i] != ')')
        return fail_at(p, "\",\" or \")\"");
    p->i++;
    return true;
}

static bool parse_item(P *p, int depth, KilnSelect **out)
{
    KilnSelect *it = arena_alloc(p->a, sizeof *it);
    if (++p->items > p->lim->max_select_items) {
        kiln_error_rest(p->err, 400, "PGRST100", "the select parameter has more than %d items",
                        p->lim->max_select_items);
        return false;
    }
    skip_ws(p);
    if (at(p, "...")) {
        p->i += 3;
        it->kind = KILN_SEL_SPREAD;
        if (!parse_name(p, &it->rel, "a relation name") || !parse_embed_params(p, it) ||
            !parse_children(p, depth, it))
            return false;
        *out = it;
        return true;
    }
    if (p->s[p->i] == '*') {
        p->i++;
        it->kind = KILN_SEL_STAR;
        *out = it;
        return true;
    }
    size_t name_at = p->i;
    const char *first;
    if (!parse_name(p, &first, "a column name, \"*\" or \"...\""))
        return false;
    if (p->s[p->i] == ':' && p->s[p->i + 1] != ':') {
        p->i++;
        it->alias = first;
        name_at = p->i;
        if (at(p, "...")) /* alias:...rel is not a thing */
            return fail_at(p, "a column or relation name");
        if (!parse_name(p, &first, "a column or relation name"))
            return false;
    }
    if (strcmp(first, "count") == 0 && at(p, "()")) {
        p->i += 2;
        it->kind = KILN_SEL_COUNT;
        if (at(p, "::")) {
            p->i += 2;
            if (!parse_cast(p, &it->cast))
                return false;
        }
        *out = it;
        return true;
    }
    if (p->s[p->i] == '!' || p->s[p->i] == '(') {
        it->kind = KILN_SEL_EMBED;
        it->rel = first;
        if (!parse_embed_params(p, it) || !parse_children(p, depth, it))
            return false;
        *out = it;
        return true;
    }
    it->kind = KILN_SEL_FIELD;
    p->i = name_at; /* re-read the name as a field with its JSON path */
    if (!parse_field(p, &it->field))
        return false;
    if (at(p, "::")) {
        p->i += 2;
        if (!parse_cast(p, &it->cast))
            return false;
    }
    if (p->s[p->i] == '.') {
        /* col.agg(): the planner allows it only with db_aggregates_enabled */
        static const struct {
            const char *name;
            KilnAgg agg;
        } aggs[] = {{"sum()", KILN_AGG_SUM}, {"avg()", KILN_AGG_AVG}, {"max()", KILN_AGG_MAX},
                    {"min()", KILN_AGG_MIN}, {"count()", KILN_AGG_COUNT}};
        p->i++;
        for (size_t k = 0; k < sizeof aggs / sizeof aggs[0] && !it->agg; k++) {
            if (at(p, aggs[k].name)) {
                p->i += strlen(aggs[k].name);
                it->agg = aggs[k].agg;
            }
        }
        if (!it->agg)
            return fail_at(p, "an aggregate: sum(), avg(), max(), min() or count()");
        if (at(p, "::")) {
            p->i += 2;
            if (!parse_cast(p, &it->agg_cast))
                return false;
        }
    }
    *out = it;
    return true;
}

static bool parse_forest(P *p, int depth, KilnSelect **out)
{
    KilnSelect **tail = out;
    for (;;) {
        KilnSelect *it = NULL;
        if (!parse_item(p, depth, &it))
            return false;
        *tail = it;
        tail = &it->next;
        skip_ws(p);
        if (p->s[p->i] != ',')
            return true;
        p->i++;
    }
}

bool rest_parse_select(KilnArena *a, const char *text, const KilnRestLimits *lim,
                       KilnSelect **out, KilnError *err)
{
    P p = {.a = a, .what = "select", .s = text, .lim = lim, .err = err};
    *out = NULL;
    skip_ws(&p);
    if (!text[p.i])
        return true; /* select= : no columns */
    if (!parse_forest(&p, 0, out))
        return false;
    skip_ws(&p);
    if (text[p.i])
        return fail_at(&p, "\",\" or end of input");
    return true;
}

/* ---- filters ----------------------------------------------------------- */

/* Consumes "[not.]op[(modifier)]." at p->i into f. */
static bool parse_operator(P *p, KilnFilter *f)
{
    if (at(p, "not.")) {
        f->negate = true;
        p->i += 4;
    }
    size_t start = p->i;
    while (isalpha((unsigned char)p->s[p->i]))
        p->i++;
    size_t n = p->i - start;
    int found = -1;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (strlen(ops[k].name) == n && strncmp(ops[k].name, p->s + start, n) == 0)
            found = (int)k;
    if (found < 0) {
        p->i = start;
        return fail_at(p, "an operator (eq, neq, gt, gte, lt, lte, like, ilike, match, imatch, in, "
                          "is, isdistinct, cs, cd, ov, sl, sr, nxr, nxl, adj, fts, plfts, phfts, "
                          "wfts)");
    }
    f->op = ops[found].op;
    if (p->s[p->i] == '(') {
        p->i++;
        size_t ms = p->i;
        while (p->s[p->i] && p->s[p->i] != ')')
            p->i++;
        if (p->s[p->i] != ')')
            return fail_at(p, "\")\"");
        size_t ml = p->i - ms;
        p->i++;
        if (ops[found].quant && ml == 3 && strncmp(p->s + ms, "any", 3) == 0)
            f->quant = KILN_QUANT_ANY;
        else if (ops[found].quant && ml == 3 && strncmp(p->s + ms, "all", 3) == 0)
            f->quant = KILN_QUANT_ALL;
        else if (ops[found].fts && ml > 0 && ml <= 63)
            f->fts_config = arena_strndup(p->a, p->s + ms, ml);
        else {
            p->i = ms;
            return fail_at(p, ops[found].fts ? "a text search configuration" : "\"any\" or \"all\"");
        }
    }
    if (p->s[p->i] != '.')
        return fail_at(p, "\".\" and a value");
    p->i++;
    return true;
}

/* in-list: "(" [item ("," item)*] ")", items bare or "quoted" with \ escapes. */
static bool parse_in_list(P *p, const char *text, KilnFilter *f)
{
    P q = *p;
    q.s = text;
    q.i = 0;
    if (text[0] != '(')
        return fail_at(&q, "\"(\" starting the list");
    q.i = 1;
    size_t max = strlen(text) / 2 + 1;
    f->list = arena_alloc(q.a, max * sizeof *f->list);
    f->nlist = 0;
    if (text[q.i] == ')' && !text[q.i + 1])
        return true;
    for (;;) {
        const char *item;
        if (text[q.i] == '"') {
            if (!parse_quoted(&q, &item))
                return false;
        } else {
            size_t st = q.i;
            while (text[q.i] && text[q.i] != ',' && text[q.i] != ')')
                q.i++;
            item = arena_strndup(q.a, text + st, q.i - st);
        }
        if ((size_t)f->nlist >= max)
            return fail_at(&q, "\")\"");
        f->list[f->nlist++] = item;
        if (text[q.i] == ',') {
            q.i++;
            continue;
        }
        if (text[q.i] == ')' && !text[q.i + 1])
            return true;
        return fail_at(&q, "\",\" or \")\" ending the list");
    }
}

/* Fills the value part of f from text (decoded, unquoted). */
static bool finish_value(P *p, const char *text, KilnFilter *f)
{
    if (f->op == KILN_OP_IN)
        return parse_in_list(p, text, f);
    if (f->op == KILN_OP_IS) {
        static const struct {
            const char *w;
            KilnIsValue v;
        } words[] = {{"null", KILN_IS_NULL},   {"not_null", KILN_IS_NOT_NULL},
                     {"true", KILN_IS_TRUE},   {"false", KILN_IS_FALSE},
                     {"unknown", KILN_IS_UNKNOWN}};
        for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
            if (strcasecmp(words[k].w, text) == 0) {
                f->is = words[k].v;
                return true;
            }
        }
        return fail_msg(p->err, p->what, p->s,
                        "is takes null, not_null, true, false or unknown");
    }
    f->value = text;
    return true;
}

bool rest_parse_filter(KilnArena *a, const char *value, KilnFilter *out, KilnError *err)
{
    P p = {.a = a, .what = "filter", .s = value, .lim = &kiln_rest_default_limits, .err = err};
    if (!parse_operator(&p, out))
        return false;
    return finish_value(&p, arena_strdup(a, value + p.i), out);
}

/* ---- logic trees: (a.eq.1,or(b.gt.2,not.and(c.lt.3,d.is.null))) --------- */

static bool parse_group(P *p, int depth, int *nfilters, KilnLogic *g);

/* A value inside a tree: "quoted", {array}, (in-list), or text up to , or ). */
static bool tree_value(P *p, const char **out)
{
    if (p->s[p->i] == '"')
        return parse_quoted(p, out);
    size_t st = p->i;
    if (p->s[p->i] == '{' || p->s[p->i] == '(') {
        char open = p->s[p->i], close = open == '{' ? '}' : ')';
        bool inq = false;
        for (p->i++; p->s[p->i]; p->i++) {
            char c = p->s[p->i];
            if (c == '\\' && p->s[p->i + 1]) {
                p->i++;
                continue;
            }
            if (c == '"')
                inq = !inq;
            else if (!inq && c == close)
                break;
        }
        if (p->s[p->i] != close)
            return fail_at(p, open == '{' ? "\"}\"" : "\")\"");
        p->i++;
        *out = arena_strndup(p->a, p->s + st, p->i - st);
        return true;
    }
    while (p->s[p->i] && p->s[p->i] != ',' && p->s[p->i] != ')')
        p->i++;
    *out = arena_strndup(p->a, p->s + st, p->i - st);
    return true;
}

static bool parse_tree_item(P *p, int depth, int *nfilters, KilnLogic **out)
{
    KilnLogic *n = arena_alloc(p->a, sizeof *n);
    bool neg = false;
    size_t save = p->i;
    if (at(p, "not."))
        neg = true, p->i += 4;
    if (at(p, "and(") || at(p, "or(")) {
        n->is_or = p->s[p->i] == 'o';
        n->negate = neg;
        p->i += n->is_or ? 2 : 3;
        if (!parse_group(p, depth + 1, nfilters, n))
            return false;
        *out = n;
        return true;
    }
    p->i = save;
    n->is_leaf = true;
    if (++*nfilters > p->lim->max_filters) {
        kiln_error_rest(p->err, 400, "PGRST100", "more than %d filters in one request",
                        p->lim->max_filters);
        return false;
    }
    if (!parse_field(p, &n->filter.field))
        return false;
    if (p->s[p->i] != '.')
        return fail_at(p, "\".\" and an operator");
    p->i++;
    if (!parse_operator(p, &n->filter))
        return false;
    const char *v;
    if (!tree_value(p, &v) || !finish_value(p, v, &n->filter))
        return false;
    *out = n;
    return true;
}

static bool parse_group(P *p, int depth, int *nfilters, KilnLogic *g)
{
    if (depth > p->lim->max_depth) {
        kiln_error_rest(p->err, 400, "PGRST100", "logic trees nest deeper than %d levels",
                        p->lim->max_depth);
        return false;
    }
    if (p->s[p->i] != '(')
        return fail_at(p, "\"(\"");
    p->i++;
    KilnLogic **tail = &g->children;
    for (;;) {
        KilnLogic *c = NULL;
        if (!parse_tree_item(p, depth, nfilters, &c))
            return false;
        *tail = c;
        tail = &c->next;
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] == ')') {
            p->i++;
            return true;
        }
        return fail_at(p, "\",\" or \")\"");
    }
}

/* ---- order ------------------------------------------------------------- */

static bool parse_order(P *p, KilnOrderTerm **out)
{
    KilnOrderTerm **tail = out;
    for (;;) {
        KilnOrderTerm *t = arena_alloc(p->a, sizeof *t);
        skip_ws(p);
        if (!parse_field(p, &t->field))
            return false;
        if (p->s[p->i] == '(') { /* related order: rel(col) */
            if (t->field.path)
                return fail_at(p, "\".\" or \",\"");
            t->rel = t->field.name;
            memset(&t->field, 0, sizeof t->field);
            p->i++;
            if (!parse_field(p, &t->field))
                return false;
            if (p->s[p->i] != ')')
                return fail_at(p, "\")\"");
            p->i++;
        }
        while (p->s[p->i] == '.') {
            p->i++;
            if (at(p, "asc") && (name_stop(p, p->i + 3)))
                t->desc = false, p->i += 3;
            else if (at(p, "desc") && name_stop(p, p->i + 4))
                t->desc = true, p->i += 4;
            else if (at(p, "nullsfirst") && name_stop(p, p->i + 10))
                t->nulls = KILN_NULLS_FIRST, p->i += 10;
            else if (at(p, "nullslast") && name_stop(p, p->i + 9))
                t->nulls = KILN_NULLS_LAST, p->i += 9;
            else
                return fail_at(p, "asc, desc, nullsfirst or nullslast");
        }
        *tail = t;
        tail = &t->next;
        skip_ws(p);
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (!p->s[p->i])
            return true;
        return fail_at(p, "\",\", \".\" or end of input");
    }
}

/* ---- column lists (columns=, on_conflict=) --------------------------------- */

bool rest_parse_columns(KilnArena *a, const char *what, const char *text, int max,
                        const char ***names, int *n, KilnError *err)
{
    P p = {.a = a, .what = what, .s = text, .err = err};
    const char **list = arena_alloc(a, (size_t)(max > 0 ? max : 1) * sizeof *list);
    int count = 0;
    for (;;) {
        skip_ws(&p);
        if (count == max)
            return fail_msg(err, what, text, "too many column names");
        if (!parse_name(&p, &list[count], "a column name"))
            return false;
        count++;
        skip_ws(&p);
        if (!p.s[p.i])
            break;
        if (p.s[p.i] != ',')
            return fail_at(&p, "\",\" or end of input");
        p.i++;
    }
    *names = list;
    *n = count;
    return true;
}

/* ---- the query string ---------------------------------------------------- */

/* Splits a decoded key into an embed path and its last segment, at the
 * dots before any "->". */
static void split_key(KilnArena *a, const char *key, KilnPath *path, const char **last)
{
    const char *arrow = strstr(key, "->");
    size_t limit = arrow ? (size_t)(arrow - key) : strlen(key);
    int ndots = 0;
    for (size_t i = 0; i < limit; i++)
        ndots += key[i] == '.';
    path->names = ndots ? arena_alloc(a, (size_t)ndots * sizeof *path->names) : NULL;
    path->n = 0;
    size_t st = 0;
    for (size_t i = 0; i < limit; i++) {
        if (key[i] == '.') {
            path->names[path->n++] = arena_strndup(a, key + st, i - st);
            st = i + 1;
        }
    }
    *last = key + st;
}

static bool parse_count(const char *text, long long *out)
{
    if (!*text)
        return false;
    const char *s = text[0] == '-' ? text + 1 : text;
    if (!*s || strlen(s) > 18)
        return false;
    for (const char *c = s; *c; c++)
        if (!isdigit((unsigned char)*c))
            return false;
    *out = strtoll(text, NULL, 10);
    return true;
}

static KilnRange *range_for(KilnArena *a, KilnRestQuery *q, const KilnPath *path)
{
    for (KilnRange *r = q->ranges; r; r = r->next) {
        if (r->path.n != path->n)
            continue;
        bool same = true;
        for (int i = 0; i < path->n && same; i++)
            same = strcmp(r->path.names[i], path->names[i]) == 0;
        if (same)
            return r;
    }
    KilnRange *r = arena_alloc(a, sizeof *r);
    r->path = *path;
    r->limit = -1;
    KilnRange **tail = &q->ranges;
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
    return r;
}

static bool is_path_empty_segment(const KilnPath *path)
{
    for (int i = 0; i < path->n; i++)
        if (!path->names[i][0])
            return true;
    return false;
}

bool rest_parse_query(KilnArena *a, const char *query, const KilnRestLimits *lim,
                      KilnRestQuery **out, KilnError *err)
{
    KilnRestQuery *q = arena_alloc(a, sizeof *q);
    *out = q;
    if (!query || !*query)
        return true;
    size_t qlen = strlen(query);
    if (qlen > lim->max_query_bytes) {
        kiln_error_rest(err, 414, "PGRST100", "the query string is longer than %zu bytes",
                        lim->max_query_bytes);
        return false;
    }
    KilnCond **ctail = &q->conds;
    KilnOrder **otail = &q->orders;
    bool have_select = false;
    size_t pos = 0;
    while (pos <= qlen) {
        size_t end = pos;
        while (end < qlen && query[end] != '&')
            end++;
        if (end == pos) {
            pos = end + 1;
            continue;
        }
        size_t eq = pos;
        while (eq < end && query[eq] != '=')
            eq++;
        char *key, *val;
        if (!rest_url_decode(a, query + pos, eq - pos, &key) ||
            !rest_url_decode(a, eq < end ? query + eq + 1 : "", eq < end ? end - eq - 1 : 0, &val)) {
            kiln_error_rest(err, 400, "PGRST100", "the query string has a malformed percent-escape");
            return false;
        }
        pos = end + 1;

        if (strcmp(key, "select") == 0) {
            if (have_select)
                continue; /* the first occurrence wins */
            have_select = true;
            if (!rest_parse_select(a, val, lim, &q->select, err))
                return false;
            if (!q->select) { /* select= (empty) selects nothing */
                q->select = NULL;
            }
            continue;
        }
        if (strcmp(key, "apikey") == 0) {
            if (!q->apikey)
                q->apikey = val;
            continue;
        }
        if (strcmp(key, "columns") == 0 || strcmp(key, "on_conflict") == 0) {
            /* write-only keys, parsed by the write handler; first wins */
            const char **slot = key[0] == 'c' ? &q->columns : &q->on_conflict;
            if (!*slot)
                *slot = val;
            continue;
        }

        KilnPath path;
        const char *last;
        split_key(a, key, &path, &last);
        if (path.n > lim->max_depth) {
            char sv[128];
            kiln_error_rest(err, 400, "PGRST100", "the key '%.60s' nests deeper than %d levels",
                            shown(key, sv), lim->max_depth);
            return false;
        }
        if (is_path_empty_segment(&path) || !*last)
            return fail_msg(err, "filter", key, "a key has an empty segment");

        if (strcmp(last, "order") == 0) {
            KilnOrder *o = arena_alloc(a, sizeof *o);
            o->path = path;
            P p = {.a = a, .what = "order", .s = val, .lim = lim, .err = err};
            if (!parse_order(&p, &o->terms))
                return false;
            *otail = o;
            otail = &o->next;
            continue;
        }
        if (strcmp(last, "limit") == 0 || strcmp(last, "offset") == 0) {
            long long n;
            if (!parse_count(val, &n))
                return fail_msg(err, last, val, "expecting a whole number");
            KilnRange *r = range_for(a, q, &path);
            if (last[0] == 'l') {
                if (n < 0) {
                    kiln_error_rest(err, 416, "PGRST103", "Requested range not satisfiable");
                    kiln_error_details(err, "Limit should be greater than or equal to zero.");
                    return false;
                }
                r->limit = n;
            } else {
                if (n < 0)
                    return fail_msg(err, "offset", val, "expecting a whole number");
                r->offset = n;
            }
            continue;
        }
        bool logic_not = false;
        if ((strcmp(last, "or") == 0 || strcmp(last, "and") == 0) && path.n > 0 &&
            strcmp(path.names[path.n - 1], "not") == 0) {
            logic_not = true;
            path.n--;
        }
        if (strcmp(last, "or") == 0 || strcmp(last, "and") == 0) {
            KilnLogic *g = arena_alloc(a, sizeof *g);
            g->is_or = last[0] == 'o';
            g->negate = logic_not;
            P p = {.a = a, .what = "logic tree", .s = val, .lim = lim, .err = err};
            if (!parse_group(&p, 1, &q->nfilters, g))
                return false;
            if (val[p.i])
                return fail_at(&p, "end of input");
            KilnCond *c = arena_alloc(a, sizeof *c);
            c->path = path;
            c->tree = g;
            *ctail = c;
            ctail = &c->next;
            continue;
        }

        /* A filter: key = [embed.path.]field[->json], value = [not.]op.value */
        if (++q->nfilters > lim->max_filters) {
            kiln_error_rest(err, 400, "PGRST100", "more than %d filters in one request",
                            lim->max_filters);
            return false;
        }
        KilnLogic *leaf = arena_alloc(a, sizeof *leaf);
        leaf->is_leaf = true;
        P fp = {.a = a, .what = "filter", .s = last, .lim = lim, .err = err};
        if (!parse_field(&fp, &leaf->filter.field))
            return false;
        if (last[fp.i])
            return fail_at(&fp, "end of the column name");
        P vp = {.a = a, .what = "filter", .s = val, .lim = lim, .err = err};
        if (!parse_operator(&vp, &leaf->filter))
            return false;
        if (!finish_value(&vp, val + vp.i, &leaf->filter))
            return false;
        KilnCond *c = arena_alloc(a, sizeof *c);
        c->path = path;
        c->tree = leaf;
        *ctail = c;
        ctail = &c->next;
    }
    return true;
}
