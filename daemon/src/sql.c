/*
 * sql.c: SQL text for the data API. The only file that writes SQL and the
 * only place identifiers are quoted.
 *
 * Pure: no I/O, no globals but constant text. Names reaching the text come
 * from the schema-cache snapshot (never from the request); casts are type
 * names restricted by the parser to letters, digits, '_', ' ' and "[]";
 * limits and offsets are integers the parser produced; every other request
 * value is a $n parameter.
 */
#include "sql.h"
#include "sql_internal.h"

#include <string.h>

void sql_quote_ident(KilnBuf *b, const char *name)
{
    buf_putc(b, '"');
    for (const char *s = name; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

void sql_free(KilnSql *out)
{
    buf_free(&out->text);
}

/* Adds a parameter (sql_param also writes its $n). */
void sql_param_reserve(KilnArena *a, KilnSql *q, const char *value)
{
    if (q->nparams == q->cap) {
        int cap = q->cap ? q->cap * 2 : 8;
        const char **np = arena_alloc(a, (size_t)cap * sizeof *np);
        if (q->nparams)
            memcpy(np, q->params, (size_t)q->nparams * sizeof *np);
        q->params = np;
        q->cap = cap;
    }
    q->params[q->nparams++] = value;
}

void sql_param(KilnArena *a, KilnSql *q, const char *value)
{
    sql_param_reserve(a, q, value);
    buf_printf(&q->text, "$%d", q->nparams);
}

void sql_table_ref(KilnBuf *b, const KilnTable *t)
{
    sql_quote_ident(b, t->schema);
    buf_putc(b, '.');
    sql_quote_ident(b, t->name);
}

static void col_ref(KilnBuf *b, const KilnPlanNode *n, const KilnColumn *col)
{
    buf_printf(b, "k%d.", n->id);
    sql_quote_ident(b, col->name);
}

/* column [->$n ...] */
static void field_expr(KilnArena *a, KilnSql *q, const KilnPlanNode *n, const KilnColumn *col,
                       const KilnJsonStep *path)
{
    col_ref(&q->text, n, col);
    for (const KilnJsonStep *s = path; s; s = s->next) {
        buf_puts(&q->text, s->as_text ? "->>" : "->");
        sql_param(a, q, s->key);
        buf_puts(&q->text, s->index ? "::integer" : "::text");
    }
}

/* The join condition of an embed with its parent. */
static void join_cond(KilnBuf *b, const KilnPlanNode *child)
{
    const KilnFk *fk = child->fk;
    const KilnPlanNode *parent = child->parent;
    if (child->junction) {
        /* m<id> is the junction, joined to k<id> in from_sql. */
        const KilnFk *jp = child->junction_to_parent;
        for (int i = 0; i < jp->ncols; i++) {
            if (i)
                buf_puts(b, " AND ");
            buf_printf(b, "m%d.", child->id);
            sql_quote_ident(b, child->junction->cols[jp->from_cols[i]].name);
            buf_puts(b, " = ");
            col_ref(b, parent, &parent->table->cols[jp->to_cols[i]]);
        }
        return;
    }
    for (int i = 0; i < fk->ncols; i++) {
        if (i)
            buf_puts(b, " AND ");
        /* from side holds the key; to side is referenced */
        const KilnColumn *from_col, *to_col;
        const KilnPlanNode *from_node, *to_node;
        if (child->fk_on_parent) {
            from_node = parent, to_node = child;
        } else {
            from_node = child, to_node = parent;
        }
        from_col = &from_node->table->cols[fk->from_cols[i]];
        to_col = &to_node->table->cols[fk->to_cols[i]];
        col_ref(b, from_node, from_col);
        buf_puts(b, " = ");
        col_ref(b, to_node, to_col);
    }
}

static const char *const op_sql[] = {
    [KILN_OP_EQ] = "=",      [KILN_OP_NEQ] = "<>",  [KILN_OP_GT] = ">",   [KILN_OP_GTE] = ">=",
    [KILN_OP_LT] = "<",      [KILN_OP_LTE] = "<=",  [KILN_OP_LIKE] = "LIKE",
    [KILN_OP_ILIKE] = "ILIKE", [KILN_OP_MATCH] = "~", [KILN_OP_IMATCH] = "~*",
    [KILN_OP_ISDISTINCT] = "IS DISTINCT FROM", [KILN_OP_CS] = "@>", [KILN_OP_CD] = "<@",
    [KILN_OP_OV] = "&&",     [KILN_OP_SL] = "<<",   [KILN_OP_SR] = ">>",  [KILN_OP_NXR] = "&<",
    [KILN_OP_NXL] = "&>",    [KILN_OP_ADJ] = "-|-",
};

static const char *const fts_fn[] = {
    [KILN_OP_FTS] = "to_tsquery", [KILN_OP_PLFTS] = "plainto_tsquery",
    [KILN_OP_PHFTS] = "phraseto_tsquery", [KILN_OP_WFTS] = "websearch_to_tsquery",
};

/* '*' becomes '%' in like patterns. */
static const char *like_pattern(KilnArena *a, const char *v)
{
    char *p = arena_strdup(a, v);
    for (char *s = p; *s; s++)
        if (*s == '*')
            *s = '%';
    return p;
}

/* A PostgreSQL array literal of the items, each double-quoted. */
static const char *array_literal(KilnArena *a, const char **items, int n)
{
    KilnBuf b = KILN_BUF_INIT;
    buf_putc(&b, '{');
    for (int i = 0; i < n; i++) {
        if (i)
            buf_putc(&b, ',');
        buf_putc(&b, '"');
        for (const char *s = items[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                buf_putc(&b, '\\');
            buf_putc(&b, *s);
        }
        buf_putc(&b, '"');
    }
    buf_putc(&b, '}');
    const char *out = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return out;
}

static void exists_sql(KilnArena *a, KilnSql *q, const KilnPlanNode *child);

static void filter_sql(KilnArena *a, KilnSql *q, const KilnPlanNode *n, const KilnFilter *f)
{
    KilnBuf *b = &q->text;
    if (f->embed) {
        /* rel=is.null: no such related row; rel=not.is.null: one exists. */
        if (f->negate)
            buf_puts(b, "NOT (");
        if (f->is == KILN_IS_NULL)
            buf_puts(b, "NOT ");
        exists_sql(a, q, f->embed);
        if (f->negate)
            buf_putc(b, ')');
        return;
    }
    int ci = schema_cache_column(n->table, f->field.name);
    const KilnColumn *col = &n->table->cols[ci];
    if (f->negate)
        buf_puts(b, "NOT (");
    switch (f->op) {
    case KILN_OP_IS:
        field_expr(a, q, n, col, f->field.path);
        static const char *const is_sql[] = {
            [KILN_IS_NULL] = " IS NULL", [KILN_IS_NOT_NULL] = " IS NOT NULL",
            [KILN_IS_TRUE] = " IS TRUE", [KILN_IS_FALSE] = " IS FALSE",
            [KILN_IS_UNKNOWN] = " IS UNKNOWN"};
        buf_puts(b, is_sql[f->is]);
        break;
    case KILN_OP_IN:
        field_expr(a, q, n, col, f->field.path);
        buf_puts(b, " = ANY (");
        sql_param(a, q, array_literal(a, f->list, f->nlist));
        buf_putc(b, ')');
        break;
    case KILN_OP_FTS:
    case KILN_OP_PLFTS:
    case KILN_OP_PHFTS:
    case KILN_OP_WFTS: {
        bool is_tsvector = !f->field.path && strcmp(col->type, "tsvector") == 0;
        if (!is_tsvector) {
            buf_puts(b, "pg_catalog.to_tsvector(");
            if (f->fts_config) {
                sql_param(a, q, f->fts_config);
                buf_puts(b, "::regconfig, ");
            }
        }
        field_expr(a, q, n, col, f->field.path);
        if (!is_tsvector)
            buf_putc(b, ')');
        buf_printf(b, " @@ pg_catalog.%s(", fts_fn[f->op]);
        if (f->fts_config) {
            sql_param(a, q, f->fts_config);
            buf_puts(b, "::regconfig, ");
        }
        sql_param(a, q, f->value);
        buf_putc(b, ')');
        break;
    }
    default: {
        bool like = f->op == KILN_OP_LIKE || f->op == KILN_OP_ILIKE;
        const char *v = like ? like_pattern(a, f->value) : f->value;
        field_expr(a, q, n, col, f->field.path);
        buf_printf(b, " %s ", op_sql[f->op]);
        if (f->quant != KILN_QUANT_NONE) {
            buf_puts(b, f->quant == KILN_QUANT_ANY ? "ANY (" : "ALL (");
            sql_param(a, q, v);
            buf_putc(b, ')');
        } else {
            sql_param(a, q, v);
        }
        break;
    }
    }
    if (f->negate)
        buf_putc(b, ')');
}

void sql_logic(KilnArena *a, KilnSql *q, const KilnPlanNode *n, const KilnLogic *l)
{
    if (l->is_leaf) {
        filter_sql(a, q, n, &l->filter);
        return;
    }
    if (l->negate)
        buf_puts(&q->text, "NOT ");
    buf_putc(&q->text, '(');
    bool first = true;
    for (const KilnLogic *c = l->children; c; c = c->next) {
        if (!first)
            buf_puts(&q->text, l->is_or ? " OR " : " AND ");
        first = false;
        sql_logic(a, q, n, c);
    }
    buf_putc(&q->text, ')');
}

/* WHERE clause of a node: join with the parent, its filters, and EXISTS
 * for !inner children. Writes nothing when there is nothing to write. */
static void where_sql(KilnArena *a, KilnSql *q, const KilnPlanNode *n)
{
    bool any = false;
    if (n->parent && !n->computed) {
        buf_puts(&q->text, " WHERE ");
        join_cond(&q->text, n);
        any = true;
    }
    for (int i = 0; i < n->nconds; i++) {
        buf_puts(&q->text, any ? " AND " : " WHERE ");
        any = true;
        sql_logic(a, q, n, n->conds[i]);
    }
    for (int i = 0; i < n->nfields; i++) {
        const KilnPlanNode *e = n->fields[i].embed;
        if (!e || !e->inner)
            continue;
        buf_puts(&q->text, any ? " AND " : " WHERE ");
        any = true;
        exists_sql(a, q, e);
    }
}

/* table AS k<id>, and for many-to-many the junction m<id> joined to it. */
static void from_sql(KilnBuf *b, const KilnPlanNode *n)
{
    if (n->rpc_source) {
        buf_puts(b, SQL_RPC_SOURCE);
    } else if (n->computed) {
        /* a computed relationship: the function of the parent's row, cast
         * to its table's type (a no-op for the table itself; the rows of a
         * CTE, written rows or a function's result, have that shape) */
        sql_quote_ident(b, n->computed->schema);
        buf_putc(b, '.');
        sql_quote_ident(b, n->computed->name);
        buf_printf(b, "(k%d::", n->parent->id);
        sql_table_ref(b, n->parent->table);
        buf_putc(b, ')');
    } else {
        sql_table_ref(b, n->table);
    }
    buf_printf(b, " AS k%d", n->id);
    if (!n->junction)
        return;
    const KilnFk *jc = n->junction_to_child;
    buf_puts(b, " JOIN ");
    sql_table_ref(b, n->junction);
    buf_printf(b, " AS m%d ON ", n->id);
    for (int i = 0; i < jc->ncols; i++) {
        if (i)
            buf_puts(b, " AND ");
        buf_printf(b, "m%d.", n->id);
        sql_quote_ident(b, n->junction->cols[jc->from_cols[i]].name);
        buf_puts(b, " = ");
        col_ref(b, n, &n->table->cols[jc->to_cols[i]]);
    }
}

static void exists_sql(KilnArena *a, KilnSql *q, const KilnPlanNode *child)
{
    buf_puts(&q->text, "EXISTS (SELECT 1 FROM ");
    from_sql(&q->text, child);
    where_sql(a, q, child);
    buf_putc(&q->text, ')');
}

static void node_select(KilnArena *a, KilnSql *q, const KilnPlanNode *n);
static void node_select_src(KilnArena *a, KilnSql *q, const KilnPlanNode *n, const char *src);

/* The output columns of a spread embed (its nested spreads' columns were
 * lifted into it), read from its lateral alias j<id>. */
static void spread_columns(KilnBuf *b, const KilnPlanNode *e, int id, bool *first)
{
    for (int k = 0; k < e->nfields; k++) {
        if (e->fields[k].kind == KILN_PF_SPREAD) {
            spread_columns(b, e->fields[k].embed, id, first);
            continue;
        }
        if (!*first)
            buf_puts(b, ", ");
        *first = false;
        buf_printf(b, "j%d.", id);
        sql_quote_ident(b, e->fields[k].out_name);
        buf_puts(b, " AS ");
        sql_quote_ident(b, e->fields[k].out_name);
    }
}

/* The output columns of a to-many spread: each column of its rows (read
 * as s<id>) aggregated into a JSON array, [] when there are none. */
static void spread_agg_columns(KilnBuf *b, const KilnPlanNode *e, int id, bool *first)
{
    for (int k = 0; k < e->nfields; k++) {
        if (e->fields[k].kind == KILN_PF_SPREAD) {
            spread_agg_columns(b, e->fields[k].embed, id, first);
            continue;
        }
        if (!*first)
            buf_puts(b, ", ");
        *first = false;
        buf_printf(b, "coalesce(pg_catalog.json_agg(s%d.", id);
        sql_quote_ident(b, e->fields[k].out_name);
        buf_puts(b, "), '[]') AS ");
        sql_quote_ident(b, e->fields[k].out_name);
    }
}

static void select_list(KilnArena *a, KilnSql *q, const KilnPlanNode *n, bool *first)
{
    KilnBuf *b = &q->text;
    for (int i = 0; i < n->nfields; i++) {
        const KilnPlanField *f = &n->fields[i];
        if (f->kind == KILN_PF_SPREAD) {
            /* The spread's columns come from its lateral join (see node_select). */
            spread_columns(b, f->embed, f->embed->id, first);
            continue;
        }
        if (!*first)
            buf_puts(b, ", ");
        *first = false;
        if (f->kind == KILN_PF_COLUMN) {
            static const char *const agg_fn[] = {
                [KILN_AGG_SUM] = "sum", [KILN_AGG_AVG] = "avg", [KILN_AGG_MAX] = "max",
                [KILN_AGG_MIN] = "min", [KILN_AGG_COUNT] = "count"};
            if (f->agg)
                buf_printf(b, "pg_catalog.%s(", agg_fn[f->agg]);
            field_expr(a, q, n, f->col, f->path);
            if (f->cast) {
                buf_puts(b, "::");
                buf_puts(b, f->cast);
            }
            if (f->agg) {
                buf_putc(b, ')');
                if (f->agg_cast) {
                    buf_puts(b, "::");
                    buf_puts(b, f->agg_cast);
                }
            }
        } else if (f->kind == KILN_PF_COUNT) {
            buf_puts(b, "pg_catalog.count(*)");
            if (f->cast) {
                buf_puts(b, "::");
                buf_puts(b, f->cast);
            }
        } else if (f->kind == KILN_PF_EMBED) {
            const KilnPlanNode *e = f->embed;
            if (e->to_one)
                buf_printf(b, "(SELECT pg_catalog.row_to_json(j%d) FROM (", e->id);
            else
                buf_printf(b, "(SELECT coalesce(pg_catalog.json_agg(j%d), '[]') FROM (",
                           e->id);
            node_select(a, q, e);
            buf_printf(b, ") AS j%d)", e->id);
        }
        buf_puts(b, " AS ");
        sql_quote_ident(b, f->out_name);
    }
}

void sql_put_order(KilnArena *a, KilnSql *q, const KilnPlanNode *n)
{
    KilnBuf *b = &q->text;
    for (int i = 0; i < n->norders; i++) {
        const KilnOrderTerm *t = n->orders[i];
        buf_puts(b, i ? ", " : " ORDER BY ");
        if (t->embed) {
            /* related order: the to-one embed's column, as a scalar subquery */
            const KilnPlanNode *e = t->embed;
            int ei = schema_cache_column(e->table, t->field.name);
            buf_puts(b, "(SELECT ");
            field_expr(a, q, e, &e->table->cols[ei], t->field.path);
            buf_puts(b, " FROM ");
            from_sql(b, e);
            where_sql(a, q, e);
            buf_putc(b, ')');
        } else {
            int ci = schema_cache_column(n->table, t->field.name);
            field_expr(a, q, n, &n->table->cols[ci], t->field.path);
        }
        buf_puts(b, t->desc ? " DESC" : " ASC");
        if (t->nulls == KILN_NULLS_FIRST)
            buf_puts(b, " NULLS FIRST");
        else if (t->nulls == KILN_NULLS_LAST)
            buf_puts(b, " NULLS LAST");
    }
}

/* How many select-list entries a spread lifts into its parent. */
static int spread_width(const KilnPlanNode *e)
{
    int w = 0;
    for (int k = 0; k < e->nfields; k++)
        w += e->fields[k].kind == KILN_PF_SPREAD ? spread_width(e->fields[k].embed) : 1;
    return w;
}

/* The parent's columns an embed's join condition reads: grouping by them
 * lets the embed's subquery stand next to aggregates. */
static void group_join_cols(KilnBuf *b, const KilnPlanNode *child, bool *any)
{
    const KilnPlanNode *parent = child->parent;
    if (child->computed) {
        /* the function reads the parent's whole row */
        buf_printf(b, "%sk%d", *any ? ", " : " GROUP BY ", parent->id);
        *any = true;
        return;
    }
    const KilnFk *fk = child->junction ? child->junction_to_parent : child->fk;
    for (int i = 0; i < fk->ncols; i++) {
        int ci = child->junction || !child->fk_on_parent ? fk->to_cols[i] : fk->from_cols[i];
        buf_puts(b, *any ? ", " : " GROUP BY ");
        *any = true;
        col_ref(b, parent, &parent->table->cols[ci]);
    }
}

/* GROUP BY of a node with aggregates (nothing else: one group): its plain
 * columns and lifted spread columns by select-list position, and for each
 * embed the parent columns its join reads. */
static void group_by(const KilnPlanNode *n, KilnBuf *b)
{
    if (!n->grouped)
        return;
    bool any = false;
    int pos = 0;
    for (int i = 0; i < n->nfields; i++) {
        const KilnPlanField *f = &n->fields[i];
        if (f->kind == KILN_PF_SPREAD) {
            for (int k = spread_width(f->embed); k > 0; k--) {
                buf_printf(b, "%s%d", any ? ", " : " GROUP BY ", ++pos);
                any = true;
            }
            continue;
        }
        pos++;
        if (f->kind == KILN_PF_COLUMN && !f->agg) {
            buf_printf(b, "%s%d", any ? ", " : " GROUP BY ", pos);
            any = true;
        } else if (f->kind == KILN_PF_EMBED) {
            group_join_cols(b, f->embed, &any);
        }
    }
}

/* SELECT <fields> FROM table AS k<id> [lateral spreads] WHERE ... ORDER BY
 * ... LIMIT ... OFFSET ... */
static void node_select(KilnArena *a, KilnSql *q, const KilnPlanNode *n)
{
    node_select_src(a, q, n, NULL);
}

void sql_node_select_from(KilnArena *a, KilnSql *q, const KilnPlanNode *n, const char *src)
{
    node_select_src(a, q, n, src);
}

/* node_select, reading n's rows from src (a CTE name written by sql.c)
 * instead of its table when src is not NULL. */
static void node_select_src(KilnArena *a, KilnSql *q, const KilnPlanNode *n, const char *src)
{
    KilnBuf *b = &q->text;
    buf_puts(b, "SELECT ");
    bool first = true;
    select_list(a, q, n, &first);
    buf_puts(b, " FROM ");
    if (src)
        buf_printf(b, "%s AS k%d", src, n->id);
    else
        from_sql(b, n);
    for (int i = 0; i < n->nfields; i++) {
        const KilnPlanNode *e = n->fields[i].embed;
        if (!e || !e->spread)
            continue;
        buf_puts(b, " LEFT JOIN LATERAL (");
        if (e->to_one) {
            node_select(a, q, e);
        } else {
            bool agg_first = true;
            buf_puts(b, "SELECT ");
            spread_agg_columns(b, e, e->id, &agg_first);
            buf_puts(b, " FROM (");
            node_select(a, q, e);
            buf_printf(b, ") AS s%d", e->id);
        }
        buf_printf(b, ") AS j%d ON true", e->id);
    }
    where_sql(a, q, n);
    group_by(n, b);
    sql_put_order(a, q, n);
    if (n->limit >= 0)
        buf_printf(b, " LIMIT %lld", n->limit);
    if (n->offset > 0)
        buf_printf(b, " OFFSET %lld", n->offset);
}

void sql_put_body(KilnBuf *b, const KilnPlan *plan, int id, const char *scalar, bool set)
{
    if (plan->geojson_schema) {
        /* a FeatureCollection of the rows (PostGIS picks the geometry column) */
        buf_puts(b, "pg_catalog.json_build_object('type', 'FeatureCollection', 'features', "
                    "coalesce(pg_catalog.json_agg(");
        sql_quote_ident(b, plan->geojson_schema);
        buf_printf(b, ".st_asgeojson(j%d)::json), '[]'))::text", id);
        return;
    }
    if (plan->csv) {
        /* a record's text without its parentheses is a CSV line */
        buf_printf(b, "coalesce(pg_catalog.string_agg(pg_catalog.substr(j%d::text, 2, "
                      "pg_catalog.length(j%d::text) - 2), pg_catalog.chr(10)), '')",
                   id, id);
        return;
    }
    buf_puts(b, set ? "coalesce(" : "coalesce((");
    if (plan->strip_nulls)
        buf_puts(b, "pg_catalog.json_strip_nulls(");
    buf_printf(b, "pg_catalog.json_agg(j%d", id);
    if (scalar) {
        buf_putc(b, '.');
        sql_quote_ident(b, scalar);
    }
    buf_putc(b, ')');
    if (!set)
        buf_puts(b, " -> 0");
    if (plan->strip_nulls)
        buf_putc(b, ')');
    buf_puts(b, set ? ", '[]')::text" : ")::text, 'null')");
}

void sql_read(KilnArena *a, const KilnPlan *plan, KilnSql *out)
{
    const KilnPlanNode *root = plan->root;
    KilnBuf *b = &out->text;
    if (plan->row_set) {
        /* One JSON object per row; tx_run puts them in an array. */
        buf_puts(b, plan->strip_nulls ? "SELECT pg_catalog.json_strip_nulls(pg_catalog.row_to_json("
                                      : "SELECT (pg_catalog.row_to_json(");
        buf_printf(b, "j%d))::text AS body FROM (", root->id);
        node_select(a, out, root);
        buf_printf(b, ") AS j%d", root->id);
        return;
    }
    buf_puts(b, "SELECT ");
    sql_put_body(b, plan, root->id, NULL, true);
    buf_puts(b, " AS body, pg_catalog.count(*) AS page_rows, ");
    if (plan->count_planned || plan->count_estimated_max > 0) {
        sql_put_count_estimate(a, out, plan);
    } else if (plan->count_exact) {
        buf_puts(b, "(SELECT pg_catalog.count(*) FROM ");
        sql_table_ref(b, root->table);
        buf_printf(b, " AS k%d", root->id);
        where_sql(a, out, root);
        buf_puts(b, ")");
    } else {
        buf_puts(b, "NULL::bigint");
    }
    buf_puts(b, " AS total FROM (");
    node_select(a, out, root);
    buf_printf(b, ") AS j%d", root->id);
}

/* ---- fixed statements ---------------------------------------------------- */

const char *sql_begin_read(void)
{
    return "BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY";
}

const char *sql_authenticate(void)
{
    return "SELECT kiln.authenticate($1, $2, $3, $4)";
}

const char *sql_deallocate_all(void)
{
    return "DEALLOCATE ALL";
}

void sql_deallocate(KilnBuf *b, const char *name)
{
    buf_puts(b, "DEALLOCATE ");
    sql_quote_ident(b, name);
}

const char *sql_begin_write(void)
{
    return "BEGIN ISOLATION LEVEL READ COMMITTED";
}

const char *sql_commit(void)
{
    return "COMMIT";
}

const char *sql_rollback(void)
{
    return "ROLLBACK";
}

const char *sql_listen_schema(void)
{
    return "LISTEN kiln";
}

/*
 * The "functions" part of the catalog query (schema_cache.c reads it): the
 * plain functions (prokind f) of the exposed schemas, never of pg_catalog,
 * information_schema or kiln, nor those of the kiln extensions, whose input
 * arguments are not pseudo-types and whose result is void, a real type, or
 * record with OUT/TABLE columns. For each: input and output arguments with
 * their modes, how many trailing inputs have defaults, the result type
 * (typtype, and the relation behind a composite), the composite's columns,
 * volatility and the comment.
 */
#define SQL_SCHEMA_FUNCTIONS \
    "'functions', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(" \
    "'oid', p.oid::int8, 'schema', n.nspname, 'name', p.proname, " \
    "'volatility', p.provolatile, 'set', p.proretset, " \
    "'rettype', pg_catalog.format_type(p.prorettype, NULL), 'typtype', t.typtype, " \
    "'retrel', t.typrelid::int8, 'ndefaults', p.pronargdefaults, " \
    "'description', coalesce(pg_catalog.obj_description(p.oid, 'pg_proc'), ''), " \
    "'args', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(" \
    "'name', coalesce(g.n, ''), 'type', pg_catalog.format_type(g.t, NULL), " \
    "'mode', coalesce(g.m, 'i'), 'rel', (SELECT y.typrelid::int8 FROM pg_catalog.pg_type y " \
    "WHERE y.oid OPERATOR(pg_catalog.=) g.t)) ORDER BY g.i), '[]') " \
    "FROM ROWS FROM (pg_catalog.unnest(coalesce(p.proallargtypes, " \
    "p.proargtypes::pg_catalog.oid[])), pg_catalog.unnest(p.proargnames), " \
    "pg_catalog.unnest(p.proargmodes)) WITH ORDINALITY AS g(t, n, m, i)), " \
    "'columns', (SELECT pg_catalog.json_agg(pg_catalog.json_build_object(" \
    "'name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod)) " \
    "ORDER BY a.attnum) FROM pg_catalog.pg_attribute a " \
    "WHERE t.typrelid OPERATOR(pg_catalog.<>) 0 AND a.attrelid OPERATOR(pg_catalog.=) t.typrelid " \
    "AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped)) " \
    "ORDER BY n.nspname, p.proname, p.oid), '[]') " \
    "FROM pg_catalog.pg_proc p " \
    "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace " \
    "JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) p.prorettype " \
    "WHERE n.nspname OPERATOR(pg_catalog.=) ANY ($1::text[]) " \
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'kiln') " \
    "AND p.prokind OPERATOR(pg_catalog.=) 'f' " \
    "AND (t.typtype OPERATOR(pg_catalog.<>) 'p' OR t.typname IN ('void', 'record')) " \
    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) x " \
    "JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) x " \
    "WHERE y.typtype OPERATOR(pg_catalog.=) 'p') " \
    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d " \
    "JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid " \
    "WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass " \
    "AND d.objid OPERATOR(pg_catalog.=) p.oid AND d.deptype OPERATOR(pg_catalog.=) 'e' " \
    "AND e.extname OPERATOR(pg_catalog.~~) 'kiln%')), "

/*
 * The foreign keys, and the same keys seen through views (PostgREST's view
 * relationships): a view column that is a plain column of a table (the
 * rule's target entry names its origin, resorigtbl/resorigcol, in
 * pg_rewrite.ev_action; the last entry of a number is the top-level
 * one, after the range table; same type required) stands for that column,
 * so a view exposing every column of one end of a key gets the key too,
 * from or to the view, or between two views. A view over a view is not
 * followed.
 */
#define EQ " OPERATOR(pg_catalog.=) "
#define SQL_SCHEMA_FKS                                                                            \
    "WITH kiln_fk AS (SELECT x.conname, x.conrelid, x.confrelid, x.conkey, x.confkey "           \
    "FROM pg_catalog.pg_constraint x WHERE x.contype" EQ "'f'), "                                \
    "kiln_vcol AS (SELECT DISTINCT ON (v.oid, m.x[1]) v.oid AS vrel, m.x[1]::int2 AS vcol, "     \
    "m.x[2]::pg_catalog.oid AS tbl, m.x[3]::int2 AS tcol FROM pg_catalog.pg_class v "            \
    "JOIN pg_catalog.pg_namespace vn ON vn.oid" EQ "v.relnamespace "                             \
    "JOIN pg_catalog.pg_rewrite r ON r.ev_class" EQ "v.oid AND r.rulename" EQ "'_RETURN' "       \
    "CROSS JOIN LATERAL pg_catalog.regexp_matches(r.ev_action::text, "                           \
    "':resno (\\d+) :resname \\S+ :ressortgroupref \\d+ :resorigtbl (\\d+) "                 \
    ":resorigcol (\\d+)', 'g') WITH ORDINALITY AS m(x, i) "                                     \
    "WHERE v.relkind IN ('v', 'm') AND vn.nspname" EQ "ANY ($1::text[]) "                        \
    "AND m.x[2] OPERATOR(pg_catalog.<>) '0' ORDER BY v.oid, m.x[1], m.i DESC), "                 \
    "kiln_vmap AS (SELECT c.vrel, c.tbl, c.tcol, pg_catalog.min(c.vcol) AS vcol "               \
    "FROM kiln_vcol c JOIN pg_catalog.pg_attribute va ON va.attrelid" EQ "c.vrel "               \
    "AND va.attnum" EQ "c.vcol JOIN pg_catalog.pg_attribute ta ON ta.attrelid" EQ "c.tbl "       \
    "AND ta.attnum" EQ "c.tcol WHERE va.atttypid" EQ "ta.atttypid GROUP BY 1, 2, 3), "           \
    "kiln_end AS (SELECT DISTINCT e.rel, e.cols FROM kiln_fk f CROSS JOIN LATERAL "              \
    "(VALUES (f.conrelid, f.conkey), (f.confrelid, f.confkey)) AS e(rel, cols)), "               \
    "kiln_alt AS (SELECT e.rel, e.cols, e.rel AS arel, e.cols AS acols FROM kiln_end e "         \
    "UNION ALL SELECT e.rel, e.cols, v.vrel, (SELECT pg_catalog.array_agg(mm.vcol ORDER BY k.o) " \
    "FROM pg_catalog.unnest(e.cols) WITH ORDINALITY AS k(c, o) JOIN kiln_vmap mm "               \
    "ON mm.vrel" EQ "v.vrel AND mm.tbl" EQ "e.rel AND mm.tcol" EQ "k.c) "                        \
    "FROM kiln_end e JOIN (SELECT DISTINCT vrel, tbl FROM kiln_vmap) AS v ON v.tbl" EQ "e.rel) " \
    "SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object("                          \
    "'name', f.conname, 'from', a.arel::int8, 'to', b.arel::int8, "                              \
    "'cols', a.acols, 'refs', b.acols) ORDER BY f.conname, a.arel, b.arel), '[]') "              \
    "FROM kiln_fk f JOIN kiln_alt a ON a.rel" EQ "f.conrelid AND a.cols" EQ "f.conkey "           \
    "JOIN kiln_alt b ON b.rel" EQ "f.confrelid AND b.cols" EQ "f.confkey "                       \
    "WHERE pg_catalog.cardinality(a.acols)" EQ "pg_catalog.cardinality(f.conkey) "                \
    "AND pg_catalog.cardinality(b.acols)" EQ "pg_catalog.cardinality(f.confkey)"

const char *sql_schema_query(void)
{
    return "SELECT pg_catalog.json_build_object("
           "'tables', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object("
           "'oid', c.oid::int8, 'schema', n.nspname, 'name', c.relname, 'kind', c.relkind, "
           "'columns', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object("
           "'name', a.attname, 'type', pg_catalog.format_type(a.atttypid, a.atttypmod), "
           "'num', a.attnum, 'pk', EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x "
           "WHERE x.conrelid OPERATOR(pg_catalog.=) c.oid AND x.contype OPERATOR(pg_catalog.=) 'p' "
           "AND a.attnum OPERATOR(pg_catalog.=) ANY (x.conkey)), "
           "'default', CASE WHEN a.attidentity OPERATOR(pg_catalog.<>) '' THEN pg_catalog.format("
           "'pg_catalog.nextval(%L::regclass)', pg_catalog.pg_get_serial_sequence("
           "pg_catalog.format('%I.%I', n.nspname, c.relname), a.attname)) "
           "WHEN a.attgenerated OPERATOR(pg_catalog.=) '' THEN (SELECT "
           "pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d "
           "WHERE d.adrelid OPERATOR(pg_catalog.=) c.oid AND d.adnum OPERATOR(pg_catalog.=) a.attnum) END, "
           "'generated', a.attidentity OPERATOR(pg_catalog.=) 'a' OR a.attgenerated OPERATOR(pg_catalog.<>) '') "
           "ORDER BY a.attnum), '[]') "
           "FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid "
           "AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped)) "
           "ORDER BY n.nspname, c.relname), '[]') "
           "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
           "ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
           "WHERE n.nspname OPERATOR(pg_catalog.=) ANY ($1::text[]) "
           "AND c.relkind IN ('r', 'v', 'm', 'f', 'p')), "
           SQL_SCHEMA_FUNCTIONS
           "'postgis', (SELECT n.nspname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n "
           "ON n.oid OPERATOR(pg_catalog.=) p.pronamespace WHERE p.proname OPERATOR(pg_catalog.=) "
           "'st_asgeojson' AND p.pronargs OPERATOR(pg_catalog.>=) 1 AND p.proargtypes[0] "
           "OPERATOR(pg_catalog.=) 'pg_catalog.record'::pg_catalog.regtype "
           "ORDER BY n.nspname LIMIT 1), "
           "'fks', (" SQL_SCHEMA_FKS "))::text";
}

/* ---- shared with sql_rpc.c (sql_internal.h) ------------------------------ */

void sql_put_node_select(KilnArena *a, KilnSql *q, const KilnPlanNode *n)
{
    node_select(a, q, n);
}

void sql_put_where(KilnArena *a, KilnSql *q, const KilnPlanNode *n)
{
    where_sql(a, q, n);
}
