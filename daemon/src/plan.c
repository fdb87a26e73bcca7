/*
 * plan.c: resolves a parsed read against the schema cache.
 *
 * Pure: no I/O, no globals; arena memory only. It never writes SQL: it
 * decides which table, column and foreign key every name means, or answers
 * with the error PostgREST gives for it. Hints in errors name only what the
 * request itself named (never other tables the caller may not see).
 */
#include "plan.h"

#include "buf.h"

#include <stdio.h>
#include <string.h>

typedef struct Ctx {
    KilnArena *a;
    const KilnSchemaCache *sc;
    const char *schema;
    int next_id;
    bool aggregates; /* db_aggregates_enabled */
    KilnError *err;
} Ctx;

static bool aggregates_off(Ctx *c)
{
    kiln_error_rest(c->err, 400, "PGRST123", "Use of aggregate functions is not allowed");
    return false;
}

static bool unknown_column(Ctx *c, const KilnTable *t, const char *name)
{
    kiln_error_rest(c->err, 400, "42703", "column %s.%s does not exist", t->name, name);
    return false;
}

static bool check_field(Ctx *c, const KilnTable *t, const KilnField *f, const KilnColumn **col)
{
    int i = schema_cache_column(t, f->name);
    if (i < 0)
        return unknown_column(c, t, f->name);
    if (col)
        *col = &t->cols[i];
    return true;
}

static void add_field(Ctx *c, KilnPlanNode *n, KilnPlanField f)
{
    /* Fields are few; grow by copying (arena memory is never freed early). */
    KilnPlanField *nf = arena_alloc(c->a, (size_t)(n->nfields + 1) * sizeof *nf);
    if (n->nfields)
        memcpy(nf, n->fields, (size_t)n->nfields * sizeof *nf);
    nf[n->nfields++] = f;
    n->fields = nf;
}

/* Does the foreign key match the hint (its name, or one of its columns on
 * the side that holds the key)? */
static bool fk_matches_hint(const KilnSchemaCache *sc, const KilnFk *fk, const char *hint)
{
    if (!hint)
        return true;
    if (strcmp(fk->name, hint) == 0)
        return true;
    const KilnTable *from = &sc->tables[fk->from_table];
    for (int i = 0; i < fk->ncols; i++)
        if (strcmp(from->cols[fk->from_cols[i]].name, hint) == 0)
            return true;
    return false;
}

typedef struct Cand {
    const KilnFk *fk;       /* direct key, or the junction's key to the target */
    bool on_parent;
    const KilnFk *via;      /* many-to-many: the junction's key to the parent */
} Cand;

/* Are all of the key's columns in its table's primary key? */
static bool fk_in_pk(const KilnSchemaCache *sc, const KilnFk *fk)
{
    const KilnTable *t = &sc->tables[fk->from_table];
    for (int i = 0; i < fk->ncols; i++)
        if (!t->cols[fk->from_cols[i]].pk)
            return false;
    return true;
}

/* The index of t in the snapshot's tables, -1 when t is not one of them
 * (a function's result columns). */
static int table_index(const KilnSchemaCache *sc, const KilnTable *t)
{
    for (int i = 0; i < sc->ntables; i++)
        if (&sc->tables[i] == t)
            return i;
    return -1;
}

/* A computed relationship (PostgREST's): a function of the embed's name in
 * the request's schema taking one argument of the parent's row type and
 * returning rows of a cached table; SETOF is to-many, else to-one. */
static bool resolve_computed(Ctx *c, KilnPlanNode *parent, const KilnSelect *it,
                             KilnPlanNode *child)
{
    int pi = table_index(c->sc, parent->table);
    const KilnFunction *fs[8];
    int n = schema_cache_functions(c->sc, c->schema, it->rel, fs, 8);
    if (pi < 0)
        return false;
    for (int i = 0; i < n && i < 8; i++) {
        const KilnFunction *f = fs[i];
        if (f->nargs != 1 || f->args[0].rel_table != pi || f->ret_table < 0 ||
            f->ret_kind != KILN_RET_COMPOSITE)
            continue;
        child->computed = f;
        child->table = &c->sc->tables[f->ret_table];
        child->to_one = !f->ret_set;
        return true;
    }
    return false;
}

static bool resolve_embed(Ctx *c, KilnPlanNode *parent, const KilnSelect *it, KilnPlanNode *child)
{
    if (resolve_computed(c, parent, it, child))
        return true;
    int pi = table_index(c->sc, parent->table);
    int ti = -1;
    const KilnTable *target = schema_cache_table(c->sc, c->schema, it->rel, &ti);
    if (!target || pi < 0) {
        kiln_error_rest(c->err, 400, "PGRST200",
                        "Could not find a relationship between '%s' and '%s' in the schema cache",
                        parent->table->name, it->rel);
        kiln_error_details(c->err, "Searched for a foreign key relationship between '%s' and '%s' "
                           "in the schema '%s', but no matches were found.",
                           parent->table->name, it->rel, c->schema);
        return false;
    }
    Cand cands[8];
    int n = 0, total = 0;
    for (int i = 0; i < c->sc->nfks; i++) {
        const KilnFk *fk = &c->sc->fks[i];
        if (!fk_matches_hint(c->sc, fk, it->hint))
            continue;
        if (fk->from_table == pi && fk->to_table == ti) {
            if (n < 8)
                cands[n++] = (Cand){fk, true, NULL};
            total++;
        }
        if (fk->from_table == ti && fk->to_table == pi) {
            if (n < 8)
                cands[n++] = (Cand){fk, false, NULL};
            total++;
        }
    }
    /* Many-to-many through a junction table J: keys J -> parent and J ->
     * target whose columns are all in J's primary key. The hint may name
     * J or either key. */
    for (int i = 0; i < c->sc->nfks; i++) {
        const KilnFk *to_parent = &c->sc->fks[i];
        int j = to_parent->from_table;
        if (to_parent->to_table != pi || j == pi || j == ti || !fk_in_pk(c->sc, to_parent))
            continue;
        for (int k = 0; k < c->sc->nfks; k++) {
            const KilnFk *to_target = &c->sc->fks[k];
            if (k == i || to_target->from_table != j || to_target->to_table != ti ||
                !fk_in_pk(c->sc, to_target))
                continue;
            if (it->hint && strcmp(it->hint, c->sc->tables[j].name) != 0 &&
                strcmp(it->hint, to_parent->name) != 0 && strcmp(it->hint, to_target->name) != 0)
                continue;
            if (n < 8)
                cands[n++] = (Cand){to_target, false, to_parent};
            total++;
        }
    }
    if (total == 0) {
        kiln_error_rest(c->err, 400, "PGRST200",
                        "Could not find a relationship between '%s' and '%s' in the schema cache",
                        parent->table->name, it->rel);
        kiln_error_details(c->err, "Searched for a foreign key relationship between '%s' and '%s'%s%s%s "
                           "in the schema '%s', but no matches were found.",
                           parent->table->name, it->rel, it->hint ? " using the hint '" : "",
                           it->hint ? it->hint : "", it->hint ? "'" : "", c->schema);
        return false;
    }
    if (total > 1) {
        kiln_error_rest(c->err, 300, "PGRST201",
                        "Could not embed because more than one relationship was found for '%s' "
                        "and '%s'", parent->table->name, it->rel);
        KilnBuf details = KILN_BUF_INIT, hint = KILN_BUF_INIT;
        buf_putc(&details, '[');
        for (int i = 0; i < n; i++) {
            const KilnFk *fk = cands[i].fk;
            char emb[300];
            snprintf(emb, sizeof emb, "%s with %s", parent->table->name, it->rel);
            buf_puts(&details, i ? ",{\"cardinality\":" : "{\"cardinality\":");
            buf_put_json_string(&details, cands[i].via ? "many-to-many"
                                          : cands[i].on_parent ? "many-to-one" : "one-to-many");
            buf_puts(&details, ",\"embedding\":");
            buf_put_json_string(&details, emb);
            buf_puts(&details, ",\"relationship\":");
            if (cands[i].via) {
                char rel[300];
                snprintf(rel, sizeof rel, "%s using %s and %s",
                         c->sc->tables[fk->from_table].name, cands[i].via->name, fk->name);
                buf_put_json_string(&details, rel);
            } else {
                buf_put_json_string(&details, fk->name);
            }
            buf_putc(&details, '}');
            buf_printf(&hint, "%s'%s!%s'", i ? ", " : "", it->rel,
                       cands[i].via ? c->sc->tables[fk->from_table].name : fk->name);
        }
        buf_putc(&details, ']');
        /* Only whole JSON fits: a details value cut short would not parse. */
        if (details.len < sizeof c->err->details) {
            kiln_error_details(c->err, "%s", buf_str(&details));
            c->err->details_json = true;
        }
        kiln_error_hint(c->err, "Try changing '%s' to one of the following: %s. Find the desired "
                        "relationship in the 'details' key.", it->rel, buf_str(&hint));
        buf_free(&details);
        buf_free(&hint);
        return false;
    }
    child->table = target;
    if (cands[0].via) {
        child->junction = &c->sc->tables[cands[0].fk->from_table];
        child->junction_to_parent = cands[0].via;
        child->junction_to_child = cands[0].fk;
        child->to_one = false;
        return true;
    }
    child->fk = cands[0].fk;
    child->fk_on_parent = cands[0].on_parent;
    /* Many-to-one is to-one; one-to-many is to-one only when the key
     * columns of the child form its primary key (one-to-one). */
    child->to_one = cands[0].on_parent;
    if (!child->to_one) {
        const KilnFk *fk = cands[0].fk;
        int npk = 0;
        for (int i = 0; i < target->ncols; i++)
            npk += target->cols[i].pk;
        bool all_pk = npk == fk->ncols;
        for (int i = 0; i < fk->ncols && all_pk; i++)
            all_pk = target->cols[fk->from_cols[i]].pk;
        child->to_one = all_pk;
    }
    return true;
}

static bool build_node(Ctx *c, KilnPlanNode *n, const KilnSelect *items, bool star_default);

static const char *last_key(const KilnField *f)
{
    const char *name = f->name;
    for (const KilnJsonStep *s = f->path; s; s = s->next)
        name = s->key;
    return name;
}

static bool build_node(Ctx *c, KilnPlanNode *n, const KilnSelect *items, bool star_default)
{
    n->id = c->next_id++;
    n->limit = -1;
    if (!items && star_default) {
        for (int i = 0; i < n->table->ncols; i++)
            add_field(c, n, (KilnPlanField){.kind = KILN_PF_COLUMN,
                                            .out_name = n->table->cols[i].name,
                                            .col = &n->table->cols[i]});
        return true;
    }
    for (const KilnSelect *it = items; it; it = it->next) {
        switch (it->kind) {
        case KILN_SEL_STAR:
            for (int i = 0; i < n->table->ncols; i++)
                add_field(c, n, (KilnPlanField){.kind = KILN_PF_COLUMN,
                                                .out_name = n->table->cols[i].name,
                                                .col = &n->table->cols[i]});
            break;
        case KILN_SEL_FIELD: {
            static const char *const agg_names[] = {
                [KILN_AGG_SUM] = "sum", [KILN_AGG_AVG] = "avg", [KILN_AGG_MAX] = "max",
                [KILN_AGG_MIN] = "min", [KILN_AGG_COUNT] = "count"};
            KilnPlanField f = {.kind = KILN_PF_COLUMN, .path = it->field.path, .cast = it->cast,
                               .agg = it->agg, .agg_cast = it->agg_cast};
            if (it->agg && !c->aggregates)
                return aggregates_off(c);
            if (!check_field(c, n->table, &it->field, &f.col))
                return false;
            f.out_name = it->alias ? it->alias
                         : it->agg ? agg_names[it->agg]
                                   : last_key(&it->field);
            n->grouped = n->grouped || it->agg;
            add_field(c, n, f);
            break;
        }
        case KILN_SEL_COUNT:
            if (!c->aggregates)
                return aggregates_off(c);
            add_field(c, n, (KilnPlanField){.kind = KILN_PF_COUNT,
                                            .out_name = it->alias ? it->alias : "count",
                                            .cast = it->cast});
            n->grouped = true;
            break;
        case KILN_SEL_EMBED:
        case KILN_SEL_SPREAD: {
            KilnPlanNode *child = arena_alloc(c->a, sizeof *child);
            child->parent = n;
            child->rel = it->rel;
            child->name = it->alias ? it->alias : it->rel;
            child->inner = it->join == KILN_JOIN_INNER;
            child->spread = it->kind == KILN_SEL_SPREAD;
            if (!resolve_embed(c, n, it, child))
                return false;
            if (!build_node(c, child, it->children, false))
                return false;
            add_field(c, n, (KilnPlanField){.kind = child->spread ? KILN_PF_SPREAD : KILN_PF_EMBED,
                                            .out_name = child->name,
                                            .embed = child});
            break;
        }
        }
    }
    return true;
}

/* The node a dotted path names (embeds by alias or relation name). */
static KilnPlanNode *child_named(KilnPlanNode *n, const char *name);

static KilnPlanNode *find_node(KilnPlanNode *root, const KilnPath *path, int *failed_at)
{
    KilnPlanNode *n = root;
    for (int i = 0; i < path->n; i++) {
        KilnPlanNode *next = child_named(n, path->names[i]);
        if (!next) {
            *failed_at = i;
            return NULL;
        }
        n = next;
    }
    return n;
}

static bool not_embedded(Ctx *c, const KilnPath *path, int at)
{
    kiln_error_rest(c->err, 400, "PGRST108", "'%s' is not an embedded resource in this request",
                    path->names[at]);
    kiln_error_hint(c->err, "Verify that '%s' is included in the 'select' query parameter.",
                    path->names[at]);
    return false;
}

/* The embed of n named `name` (alias or relation), or NULL. */
static KilnPlanNode *child_named(KilnPlanNode *n, const char *name)
{
    for (int f = 0; f < n->nfields; f++) {
        KilnPlanNode *e = n->fields[f].embed;
        if (e && (strcmp(e->name, name) == 0 || strcmp(e->rel, name) == 0))
            return e;
    }
    return NULL;
}

/* Checks every leaf of l against node n. A leaf naming an embed instead of
 * a column (`books=not.is.null`) filters the parents by the embed's
 * existence; only is.null / not.is.null are allowed there (PGRST120). The
 * planner records the embed in the leaf (the parse tree is this request's
 * arena memory). */
static bool check_logic(Ctx *c, KilnPlanNode *n, KilnLogic *l)
{
    if (l->is_leaf) {
        KilnFilter *f = &l->filter;
        KilnPlanNode *e;
        if (!f->field.path && schema_cache_column(n->table, f->field.name) < 0 &&
            (e = child_named(n, f->field.name)) != NULL) {
            if (f->op != KILN_OP_IS || (f->is != KILN_IS_NULL && f->is != KILN_IS_NOT_NULL)) {
                kiln_error_rest(c->err, 400, "PGRST120", "Bad operator on the '%s' embedded "
                                "resource", f->field.name);
                kiln_error_details(c->err, "Only is null or not is null filters are allowed on "
                                   "embedded resources");
                return false;
            }
            f->embed = e;
            return true;
        }
        return check_field(c, n->table, &f->field, NULL);
    }
    for (KilnLogic *ch = l->children; ch; ch = ch->next)
        if (!check_logic(c, n, ch))
            return false;
    return true;
}

bool plan_read(KilnArena *a, const KilnSchemaCache *sc, const char *table, const KilnRestQuery *q,
               const KilnPlanOptions *opt, KilnPlan **out, KilnError *err)
{
    const KilnTable *t = schema_cache_table(sc, opt->schema, table, NULL);
    if (!t) {
        kiln_error_rest(err, 404, "PGRST205",
                        "Could not find the table '%s.%s' in the schema cache", opt->schema, table);
        return false;
    }
    return plan_read_table(a, sc, t, q, opt, out, err);
}

bool plan_read_table(KilnArena *a, const KilnSchemaCache *sc, const KilnTable *t,
                     const KilnRestQuery *q, const KilnPlanOptions *opt, KilnPlan **out,
                     KilnError *err)
{
    Ctx c = {.a = a, .sc = sc, .schema = opt->schema, .aggregates = opt->aggregates, .err = err};
    KilnPlan *p = arena_alloc(a, sizeof *p);
    p->schema = opt->schema;
    p->count_exact = opt->count_exact;
    p->count_planned = opt->count_exact && opt->count_planned;
    p->count_estimated_max = opt->count_exact ? opt->count_estimated_max : 0;
    p->root = arena_alloc(a, sizeof *p->root);
    p->root->table = t;
    if (!build_node(&c, p->root, q->select, true))
        return false;
    if (!q->select && q->select == NULL) {
        /* select absent: all columns (build_node did it). */
    }

    for (const KilnCond *k = q->conds; k; k = k->next) {
        int at = 0;
        KilnPlanNode *n = find_node(p->root, &k->path, &at);
        if (!n)
            return not_embedded(&c, &k->path, at);
        if (!check_logic(&c, n, k->tree))
            return false;
        KilnLogic **nc = arena_alloc(a, (size_t)(n->nconds + 1) * sizeof *nc);
        if (n->nconds)
            memcpy(nc, n->conds, (size_t)n->nconds * sizeof *nc);
        nc[n->nconds++] = k->tree;
        n->conds = nc;
    }
    for (const KilnOrder *o = q->orders; o; o = o->next) {
        int at = 0;
        KilnPlanNode *n = find_node(p->root, &o->path, &at);
        if (!n)
            return not_embedded(&c, &o->path, at);
        for (const KilnOrderTerm *term = o->terms; term; term = term->next) {
            if (term->rel) {
                /* order=rel(col): only through a to-one embed of this level. */
                KilnPlanNode *e = child_named(n, term->rel);
                if (!e || !e->to_one) {
                    kiln_error_rest(err, 400, "PGRST118", "A related order on '%s' is not possible",
                                    term->rel);
                    kiln_error_details(err, e ? "'%s' and '%s' do not form a many-to-one or "
                                                "one-to-one relationship"
                                              : "'%s' has no embedded resource '%s' in this request",
                                       n->table->name, term->rel);
                    return false;
                }
                if (!check_field(&c, e->table, &term->field, NULL))
                    return false;
                ((KilnOrderTerm *)term)->embed = e;
            } else if (!check_field(&c, n->table, &term->field, NULL)) {
                return false;
            }
            KilnOrderTerm **no = arena_alloc(a, (size_t)(n->norders + 1) * sizeof *no);
            if (n->norders)
                memcpy(no, n->orders, (size_t)n->norders * sizeof *no);
            no[n->norders++] = (KilnOrderTerm *)term;
            n->orders = no;
        }
    }
    for (const KilnRange *r = q->ranges; r; r = r->next) {
        int at = 0;
        KilnPlanNode *n = find_node(p->root, &r->path, &at);
        if (!n)
            return not_embedded(&c, &r->path, at);
        n->limit = r->limit;
        n->offset = r->offset;
    }
    if (opt->max_rows > 0 && (p->root->limit < 0 || p->root->limit > opt->max_rows))
        p->root->limit = opt->max_rows;
    *out = p;
    return true;
}

/* Is there an ANDed top-level plain `name=eq.value` filter in n's conds? */
static bool has_pk_eq(const KilnPlanNode *n, const char *name)
{
    for (int i = 0; i < n->nconds; i++) {
        const KilnLogic *l = n->conds[i];
        if (!l->is_leaf)
            continue;
        const KilnFilter *f = &l->filter;
        if (f->op == KILN_OP_EQ && !f->negate && f->quant == KILN_QUANT_NONE &&
            !f->field.path && !f->embed && strcmp(f->field.name, name) == 0)
            return true;
    }
    return false;
}

bool plan_at_most_one_row(const KilnPlanNode *root)
{
    return (root->limit >= 0 && root->limit <= 1) || plan_unique_by_key(root);
}

bool plan_unique_by_key(const KilnPlanNode *root)
{
    if (root->rpc_source || !root->table || root->table->is_view)
        return false;
    int npk = 0;
    for (int i = 0; i < root->table->ncols; i++) {
        const KilnColumn *c = &root->table->cols[i];
        if (!c->pk)
            continue;
        npk++;
        if (!has_pk_eq(root, c->name))
            return false;
    }
    return npk > 0;
}
