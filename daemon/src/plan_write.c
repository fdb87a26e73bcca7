/*
 * plan_write.c: resolves a write (insert, upsert, update, delete, PUT)
 * against the schema cache, and checks its JSON body.
 *
 * Pure: no I/O, no globals; arena memory only, plus the jansson document
 * of a body (freed by plan_write_body_free). It never writes SQL (sql_write.c
 * does) and never reads a value into anything but a check: the body itself
 * reaches the database as one bind parameter.
 */
#include "plan_write.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool invalid_body(KilnError *err, const char *message)
{
    return kiln_error_rest(err, 400, "PGRST102", "%s", message);
}

/* Do objects a and b have exactly the same keys? */
static bool same_keys(json_t *a, json_t *b)
{
    if (json_object_size(a) != json_object_size(b))
        return false;
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v) {
        if (!json_object_get(b, k))
            return false;
    }
    return true;
}

bool plan_write_body(KilnArena *a, const char *text, size_t len, KilnWriteKind kind,
                     bool same, KilnWriteBody *out, KilnError *err)
{
    memset(out, 0, sizeof *out);
    if (kind == KILN_WRITE_DELETE)
        return true;
    json_error_t jerr;
    json_t *root = len ? json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr)
                       : NULL;
    out->root = root;
    if (!root)
        return invalid_body(err, "Empty or invalid json");
    json_t *first = NULL;
    if (json_is_object(root)) {
        first = root;
        out->nrows = 1;
        if (kind == KILN_WRITE_INSERT || kind == KILN_WRITE_PUT) {
            /* One row is bound as a one-element array. */
            char *w = arena_alloc(a, len + 3);
            w[0] = '[';
            memcpy(w + 1, text, len);
            w[len + 1] = ']';
            w[len + 2] = '\0';
            out->json = w;
        } else {
            out->json = arena_strndup(a, text, len);
        }
    } else if (json_is_array(root)) {
        size_t n = json_array_size(root);
        if (kind == KILN_WRITE_UPDATE)
            return invalid_body(err, "Empty or invalid json");
        if (kind == KILN_WRITE_PUT && n != 1)
            return invalid_body(err, "Empty or invalid json");
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_array_get(root, i);
            if (!json_is_object(o))
                return invalid_body(err, "All object keys must match");
            if (i == 0)
                first = o;
            else if (same && !same_keys(first, o))
                return invalid_body(err, "All object keys must match");
        }
        out->nrows = (int)n;
        out->json = arena_strndup(a, text, len);
    } else {
        return invalid_body(err, "Empty or invalid json");
    }
    if (first) {
        out->first = first;
        out->nkeys = (int)json_object_size(first);
        out->keys = arena_alloc(a, (size_t)(out->nkeys ? out->nkeys : 1) * sizeof *out->keys);
        int i = 0;
        const char *k;
        json_t *v;
        json_object_foreach(first, k, v) {
            out->keys[i++] = arena_strdup(a, k);
        }
    }
    return true;
}

void plan_write_body_free(KilnWriteBody *b)
{
    if (b && b->root) {
        json_decref(b->root);
        b->root = NULL;
        b->first = NULL;
    }
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

/* The JSON value v as the text a filter value would carry, or NULL. */
static const char *json_as_text(KilnArena *a, json_t *v)
{
    char num[64];
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        return arena_strdup(a, num);
    }
    if (json_is_real(v)) {
        snprintf(num, sizeof num, "%.17g", json_real_value(v));
        return arena_strdup(a, num);
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL;
}

/*
 * PUT (PostgREST's single-row upsert): the root filters are exactly one
 * `eq` per primary-key column (405 PGRST105), no limit or offset (400
 * PGRST114), and the body's key values equal the filters' (400 PGRST115).
 */
static bool check_put(KilnArena *a, const KilnTable *t, KilnLogic **conds, int nconds,
                      const KilnPlanNode *root, const KilnWriteBody *body, KilnError *err)
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
        json_t *v = body->first ? json_object_get(body->first, f->field.name) : NULL;
        const char *s = v ? json_as_text(a, v) : NULL;
        if (!s || strcmp(s, f->value) != 0)
            return kiln_error_rest(err, 400, "PGRST115",
                                   "Payload values do not match URL in primary key column(s)");
    }
    return true;
}

bool plan_write(KilnArena *a, const KilnSchemaCache *sc, const char *table,
                const KilnRestQuery *q, const KilnWriteOptions *opt, KilnWritePlan **out,
                KilnError *err)
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
        if (!check_put(a, t, p->conds, p->nconds, root, opt->body, err))
            return false;
        p->conds = NULL;
        p->nconds = 0;
    } else if (root->limit >= 0 || root->offset > 0) {
        return kiln_error_rest(err, 400, "PGRST127",
                               "limit and offset on a write are not implemented");
    }

    /* Target columns: columns= or the body's keys. */
    if (opt->kind != KILN_WRITE_DELETE) {
        const char *const *names = opt->columns ? opt->columns
                                                : (const char *const *)opt->body->keys;
        int n = opt->columns ? opt->ncolumns : opt->body->nkeys;
        if (!resolve_columns(a, t, names, n, &p->cols, &p->ncols, err))
            return false;
        p->missing_default = opt->kind == KILN_WRITE_INSERT && opt->columns &&
                             pf->missing == KILN_MISSING_DEFAULT;
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
