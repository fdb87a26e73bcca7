/*
 * plan_write.c: resolves a write (insert, upsert, update, delete, PUT)
 * against the schema cache, and checks its JSON body.
 *
 * Pure: no I/O, no globals; arena memory only. The body is checked by a
 * validating scan that builds no document (Postgres expands it); it never
 * writes SQL (sql_write.c does) and reads a value only for a check: the
 * body itself reaches the database as one bind parameter.
 */
#include "plan_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool invalid_body(KilnError *err, const char *message)
{
    return kiln_error_rest(err, 400, "PGRST102", "%s", message);
}

/* ---- a validating JSON scan (RFC 8259) ----------------------------------
 * No document is built: bulk bodies are large and Postgres expands them
 * itself. Only the keys (and scalar values) of the objects at the top are
 * kept, as the checks need them. */

#define MAX_DEPTH 512

typedef struct Scan {
    KilnArena *a;
    const char *s;
    size_t n, i;
    int depth;
} Scan;

static void skip_ws(Scan *sc)
{
    while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' || sc->s[sc->i] == '\n' ||
                             sc->s[sc->i] == '\r'))
        sc->i++;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static void put_utf8(KilnBuf *b, unsigned cp)
{
    if (cp < 0x80) {
        buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        buf_putc(b, (char)(0xC0 | (cp >> 6)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        buf_putc(b, (char)(0xE0 | (cp >> 12)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        buf_putc(b, (char)(0xF0 | (cp >> 18)));
        buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
        buf_putc(b, (char)(0x80 | (cp & 0x3F)));
    }
}

/* A string at sc->i ('"'). With out, its unescaped contents go to the arena
 * (a \u0000 makes that fail: no name or filter text holds NUL). */
static bool scan_string(Scan *sc, const char **out)
{
    sc->i++;
    size_t start = sc->i;
    bool plain = true;
    while (sc->i < sc->n && sc->s[sc->i] != '"') {
        unsigned char c = (unsigned char)sc->s[sc->i];
        if (c < 0x20)
            return false;
        if (c == '\\') {
            plain = false;
            if (sc->i + 1 >= sc->n)
                return false;
            char e = sc->s[sc->i + 1];
            if (e == 'u') {
                if (sc->i + 6 > sc->n || hex4(sc->s + sc->i + 2) < 0)
                    return false;
                sc->i += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || !e)
                return false;
            sc->i += 2;
            continue;
        }
        sc->i++;
    }
    if (sc->i >= sc->n)
        return false;
    size_t end = sc->i++;
    if (!out)
        return true;
    if (plain) {
        *out = arena_strndup(sc->a, sc->s + start, end - start);
        return true;
    }
    KilnBuf b = KILN_BUF_INIT;
    bool ok = true;
    for (size_t k = start; k < end && ok; k++) {
        char c = sc->s[k];
        if (c != '\\') {
            buf_putc(&b, c);
            continue;
        }
        char e = sc->s[++k];
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *m = strchr(from, e);
        if (e != 'u') {
            buf_putc(&b, to[m - from]);
            continue;
        }
        unsigned cp = (unsigned)hex4(sc->s + k + 1);
        k += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && k + 2 < end && sc->s[k + 1] == '\\' &&
            sc->s[k + 2] == 'u') {
            int lo = hex4(sc->s + k + 3);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned)lo - 0xDC00);
                k += 6;
            }
        }
        if (cp == 0)
            ok = false;
        else
            put_utf8(&b, cp);
    }
    if (ok)
        *out = arena_strndup(sc->a, b.data ? b.data : "", b.len);
    buf_free(&b);
    return ok;
}

static bool scan_number(Scan *sc)
{
    size_t i = sc->i;
    const char *s = sc->s;
#define DIGIT(k) ((k) < sc->n && s[k] >= '0' && s[k] <= '9')
    if (i < sc->n && s[i] == '-')
        i++;
    if (!DIGIT(i))
        return false;
    if (s[i] == '0')
        i++;
    else
        while (DIGIT(i))
            i++;
    if (i < sc->n && s[i] == '.') {
        i++;
        if (!DIGIT(i))
            return false;
        while (DIGIT(i))
            i++;
    }
    if (i < sc->n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < sc->n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (!DIGIT(i))
            return false;
        while (DIGIT(i))
            i++;
    }
#undef DIGIT
    sc->i = i;
    return true;
}

static bool scan_literal(Scan *sc, const char *lit)
{
    size_t l = strlen(lit);
    if (sc->n - sc->i < l || memcmp(sc->s + sc->i, lit, l) != 0)
        return false;
    sc->i += l;
    return true;
}

static bool scan_value(Scan *sc);

/* An object or array at sc->i, members scanned by scan_value. */
static bool scan_container(Scan *sc)
{
    char close = sc->s[sc->i] == '{' ? '}' : ']';
    if (++sc->depth > MAX_DEPTH)
        return false;
    sc->i++;
    skip_ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == close) {
        sc->i++;
        sc->depth--;
        return true;
    }
    for (;;) {
        skip_ws(sc);
        if (close == '}') {
            if (sc->i >= sc->n || sc->s[sc->i] != '"' || !scan_string(sc, NULL))
                return false;
            skip_ws(sc);
            if (sc->i >= sc->n || sc->s[sc->i++] != ':')
                return false;
            skip_ws(sc);
        }
        if (!scan_value(sc))
            return false;
        skip_ws(sc);
        if (sc->i >= sc->n)
            return false;
        char c = sc->s[sc->i++];
        if (c == close)
            break;
        if (c != ',')
            return false;
    }
    sc->depth--;
    return true;
}

static bool scan_value(Scan *sc)
{
    if (sc->i >= sc->n)
        return false;
    switch (sc->s[sc->i]) {
    case '{':
    case '[':
        return scan_container(sc);
    case '"':
        return scan_string(sc, NULL);
    case 't':
        return scan_literal(sc, "true");
    case 'f':
        return scan_literal(sc, "false");
    case 'n':
        return scan_literal(sc, "null");
    default:
        return scan_number(sc);
    }
}

/* One object of the body, at sc->i ('{'). With keys, its distinct keys
 * (and with values, their scalar values as text) are collected. */
typedef struct Row {
    const char **keys;
    const char **values;
    int n, cap;
} Row;

static void row_add(KilnArena *a, Row *r, const char *key, const char *value)
{
    for (int k = 0; k < r->n; k++)
        if (strcmp(r->keys[k], key) == 0) {
            r->values[k] = value; /* the last of duplicate keys wins, as in Postgres */
            return;
        }
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 8;
        const char **nk = arena_alloc(a, (size_t)cap * sizeof *nk);
        const char **nv = arena_alloc(a, (size_t)cap * sizeof *nv);
        if (r->n) {
            memcpy(nk, r->keys, (size_t)r->n * sizeof *nk);
            memcpy(nv, r->values, (size_t)r->n * sizeof *nv);
        }
        r->keys = nk;
        r->values = nv;
        r->cap = cap;
    }
    r->keys[r->n] = key;
    r->values[r->n++] = value;
}

static bool scan_row(Scan *sc, Row *row, bool values)
{
    if (sc->i >= sc->n || sc->s[sc->i] != '{')
        return false;
    if (!row)
        return scan_container(sc);
    sc->depth++;
    sc->i++;
    skip_ws(sc);
    if (sc->i < sc->n && sc->s[sc->i] == '}') {
        sc->i++;
        sc->depth--;
        return true;
    }
    for (;;) {
        const char *key, *val = NULL;
        skip_ws(sc);
        if (sc->i >= sc->n || sc->s[sc->i] != '"' || !scan_string(sc, &key))
            return false;
        skip_ws(sc);
        if (sc->i >= sc->n || sc->s[sc->i++] != ':')
            return false;
        skip_ws(sc);
        size_t vstart = sc->i;
        if (values && sc->i < sc->n && sc->s[sc->i] == '"') {
            if (!scan_string(sc, &val))
                return false;
        } else {
            if (!scan_value(sc))
                return false;
            char c = sc->s[vstart];
            if (values && c != '{' && c != '[' && c != 'n')
                val = arena_strndup(sc->a, sc->s + vstart, sc->i - vstart);
        }
        row_add(sc->a, row, key, val);
        skip_ws(sc);
        if (sc->i >= sc->n)
            return false;
        char c = sc->s[sc->i++];
        if (c == '}')
            break;
        if (c != ',')
            return false;
    }
    sc->depth--;
    return true;
}

/* Does row have exactly the keys of first? */
static bool same_key_set(const Row *first, const Row *row)
{
    if (first->n != row->n)
        return false;
    for (int k = 0; k < row->n; k++) {
        bool found = false;
        for (int j = 0; j < first->n && !found; j++)
            found = strcmp(first->keys[j], row->keys[k]) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* text wrapped as "[" text "]" in the arena. */
static const char *wrap_array(KilnArena *a, const char *text, size_t len)
{
    char *w = arena_alloc(a, len + 3);
    w[0] = '[';
    memcpy(w + 1, text, len);
    w[len + 1] = ']';
    w[len + 2] = '\0';
    return w;
}

bool plan_write_body(KilnArena *a, const char *text, size_t len, KilnWriteKind kind, bool same,
                     KilnWriteBody *out, KilnError *err)
{
    memset(out, 0, sizeof *out);
    if (kind == KILN_WRITE_DELETE)
        return true;
    Scan sc = {.a = a, .s = text, .n = len};
    Row first = {0};
    skip_ws(&sc);
    if (sc.i >= sc.n)
        return invalid_body(err, "Empty or invalid json");
    bool is_array = text[sc.i] == '[';
    if (is_array && kind == KILN_WRITE_UPDATE)
        return invalid_body(err, "Empty or invalid json");
    if (!is_array) {
        if (!scan_row(&sc, &first, kind == KILN_WRITE_PUT))
            return invalid_body(err, "Empty or invalid json");
        out->nrows = 1;
    } else {
        sc.i++;
        sc.depth = 1;
        skip_ws(&sc);
        bool empty = sc.i < sc.n && text[sc.i] == ']';
        if (empty)
            sc.i++;
        Row row = {0};
        while (!empty) {
            skip_ws(&sc);
            if (sc.i >= sc.n)
                return invalid_body(err, "Empty or invalid json");
            if (text[sc.i] != '{') {
                /* an element that is no object */
                if (!scan_value(&sc))
                    return invalid_body(err, "Empty or invalid json");
                return invalid_body(err, "All object keys must match");
            }
            bool collect = out->nrows == 0 || same;
            Row *r = out->nrows == 0 ? &first : collect ? &row : NULL;
            row.n = 0;
            if (!scan_row(&sc, r, out->nrows == 0 && kind == KILN_WRITE_PUT))
                return invalid_body(err, "Empty or invalid json");
            if (out->nrows > 0 && same && !same_key_set(&first, &row))
                return invalid_body(err, "All object keys must match");
            out->nrows++;
            skip_ws(&sc);
            if (sc.i >= sc.n)
                return invalid_body(err, "Empty or invalid json");
            char c = text[sc.i++];
            if (c == ']')
                break;
            if (c != ',')
                return invalid_body(err, "Empty or invalid json");
        }
        if (kind == KILN_WRITE_PUT && out->nrows != 1)
            return invalid_body(err, "Empty or invalid json");
    }
    skip_ws(&sc);
    if (sc.i != sc.n)
        return invalid_body(err, "Empty or invalid json");
    bool wrap = !is_array && (kind == KILN_WRITE_INSERT || kind == KILN_WRITE_PUT);
    out->json = wrap ? wrap_array(a, text, len) : arena_strndup(a, text, len);
    out->keys = first.keys;
    out->values = first.values;
    out->nkeys = first.n;
    return true;
}

static bool unknown_column(KilnError *err, const KilnTable *t, const char *name)
{
    return kiln_error_rest(err, 400, "PGRST204",
                           "Could not find the '%.100s' column of '%.100s' in the schema cache",
                           name, t->name);
}

/* Resolves names to columns of t (duplicates kept once). */
static bool resolve_columns(KilnArena *a, const KilnTable *t, const char *const *names, int n,
                            const KilnColumn ***out, int *nout, KilnError *err)
{
    const KilnColumn **cols = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *cols);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int ci = schema_cache_column(t, names[i]);
        if (ci < 0)
            return unknown_column(err, t, names[i]);
        bool dup = false;
        for (int j = 0; j < k && !dup; j++)
            dup = cols[j] == &t->cols[ci];
        if (!dup)
            cols[k++] = &t->cols[ci];
    }
    *out = cols;
    *nout = k;
    return true;
}

/*
 * PUT (PostgREST's single-row upsert): the root filters are exactly one
 * `eq` per primary-key column (405 PGRST105), no limit or offset (400
 * PGRST114), and the body's key values equal the filters' (400 PGRST115).
 */
static bool check_put(const KilnTable *t, KilnLogic **conds, int nconds, const KilnPlanNode *root,
                      const KilnWriteBody *body, KilnError *err)
{
    if (root->limit >= 0 || root->offset > 0)
        return kiln_error_rest(err, 400, "PGRST114",
                               "limit/offset querystring parameters are not allowed for PUT");
    int npk = 0;
    for (int i = 0; i < t->ncols; i++)
        npk += t->cols[i].pk;
    bool ok = npk > 0 && nconds == npk;
    for (int i = 0; ok && i < nconds; i++) {
        const KilnLogic *l = conds[i];
        const KilnFilter *f = &l->filter;
        int ci = l->is_leaf ? schema_cache_column(t, f->field.name) : -1;
        ok = l->is_leaf && !f->negate && f->op == KILN_OP_EQ && f->quant == KILN_QUANT_NONE &&
             !f->field.path && !f->embed && ci >= 0 && t->cols[ci].pk;
        for (int j = 0; ok && j < i; j++)
            ok = strcmp(conds[j]->filter.field.name, f->field.name) != 0;
    }
    if (!ok)
        return kiln_error_rest(err, 405, "PGRST105",
                               "Filters must include all and only primary key columns with 'eq' "
                               "operators");
    for (int i = 0; i < nconds; i++) {
        const KilnFilter *f = &conds[i]->filter;
        const char *s = NULL;
        for (int k = 0; k < body->nkeys && !s; k++)
            if (strcmp(body->keys[k], f->field.name) == 0)
                s = body->values[k];
        if (!s || strcmp(s, f->value) != 0)
            return kiln_error_rest(err, 400, "PGRST115",
                                   "Payload values do not match URL in primary key column(s)");
    }
    return true;
}

bool plan_write(KilnArena *a, const KilnSchemaCache *sc, const char *table, const KilnRestQuery *q,
                const KilnWriteOptions *opt, KilnWritePlan **out, KilnError *err)
{
    const KilnPrefer *pf = opt->prefer;
    KilnWritePlan *p = arena_alloc(a, sizeof *p);
    p->kind = opt->kind;
    p->max_affected = -1;
    const KilnTable *t = schema_cache_table(sc, opt->schema, table, NULL);
    if (!t) {
        kiln_error_rest(err, 404, "PGRST205",
                        "Could not find the table '%s.%s' in the schema cache", opt->schema, table);
        return false;
    }
    p->table = t;

    /* The returned representation: select= over the written rows. */
    KilnPlanOptions ro = {.schema = opt->schema, .max_rows = 0, .count_exact = false};
    if (!plan_read(a, sc, table, q, &ro, &p->read, err))
        return false;
    KilnPlanNode *root = p->read->root;
    p->conds = root->conds;
    p->nconds = root->nconds;
    root->conds = NULL;
    root->nconds = 0;
    if (opt->kind == KILN_WRITE_INSERT) {
        p->conds = NULL; /* filters do not apply to an insert */
        p->nconds = 0;
    }
    if (opt->kind == KILN_WRITE_PUT) {
        if (!check_put(t, p->conds, p->nconds, root, opt->body, err))
            return false;
        p->conds = NULL;
        p->nconds = 0;
    } else if (root->limit >= 0 || root->offset > 0) {
        /* PATCH/DELETE with limit/offset: the rows the filters, order and
         * range pick on the table (a view has no row address to pick by) */
        if (opt->kind == KILN_WRITE_INSERT)
            return kiln_error_rest(err, 400, "PGRST127",
                                   "limit and offset on an insert are not implemented");
        if (t->is_view)
            return kiln_error_rest(err, 400, "PGRST127",
                                   "limit and offset on a write of a view are not implemented");
        p->limited = true;
        p->limit = root->limit;
        p->offset = root->offset;
        root->limit = -1;
        root->offset = 0;
    }

    /* Target columns: columns= or the body's keys. */
    if (opt->kind != KILN_WRITE_DELETE) {
        const char *const *names =
            opt->columns ? opt->columns : (const char *const *)opt->body->keys;
        int n = opt->columns ? opt->ncolumns : opt->body->nkeys;
        if (!resolve_columns(a, t, names, n, &p->cols, &p->ncols, err))
            return false;
        p->missing_default =
            opt->kind == KILN_WRITE_INSERT && opt->columns && pf->missing == KILN_MISSING_DEFAULT;
    }

    /* Upsert: ON CONFLICT on on_conflict= or the primary key. */
    if (opt->kind == KILN_WRITE_INSERT || opt->kind == KILN_WRITE_PUT) {
        KilnPreferResolution res = opt->kind == KILN_WRITE_PUT ? KILN_RES_MERGE : pf->resolution;
        if (opt->on_conflict && opt->kind == KILN_WRITE_INSERT) {
            if (!resolve_columns(a, t, opt->on_conflict, opt->non_conflict, &p->conflict,
                                 &p->nconflict, err))
                return false;
        } else {
            p->conflict = arena_alloc(a, (size_t)(t->ncols ? t->ncols : 1) * sizeof *p->conflict);
            for (int i = 0; i < t->ncols; i++)
                if (t->cols[i].pk)
                    p->conflict[p->nconflict++] = &t->cols[i];
        }
        p->resolution = p->nconflict ? res : KILN_RES_NONE;
        p->inserted = p->resolution == KILN_RES_MERGE;
        p->location = opt->kind == KILN_WRITE_INSERT && pf->ret == KILN_RET_HEADERS;
        if (p->location) {
            bool has_pk = false;
            for (int i = 0; i < t->ncols; i++)
                has_pk = has_pk || t->cols[i].pk;
            p->location = has_pk;
        }
    }

    p->body = pf->ret == KILN_RET_REPRESENTATION;
    p->count = pf->count != KILN_COUNT_NONE;
    p->single = opt->single;
    if (pf->handling == KILN_HANDLING_STRICT && pf->max_affected >= 0 &&
        (opt->kind == KILN_WRITE_UPDATE || opt->kind == KILN_WRITE_DELETE))
        p->max_affected = pf->max_affected;
    *out = p;
    return true;
}
