/*
 * sql_write.c: SQL text for the data API's writes; the other half of the
 * one SQL-writing module (sql.c; shared helpers in sql_internal.h).
 *
 * Pure: no I/O, no globals but constant text. Identifiers come only from
 * the plan (schema-cache names), quoted by sql_quote_ident; default
 * expressions are the catalog's own text (pg_get_expr) of those columns;
 * the request body is the single parameter $1, expanded by Postgres into
 * rows (json_populate_recordset), and every other request value (filter
 * values, JSON keys, max-affected) is a further $n parameter.
 *
 * Shape of every write:
 *   WITH kiln_written AS (<INSERT | UPDATE | DELETE> ... RETURNING k0.* | 1)
 *   SELECT <body>, <rows written>, <total>[, <extra>]
 *   FROM (SELECT count(*) AS n FROM kiln_written) AS kiln_n
 * The representation reads kiln_written with the read planner's SELECT,
 * embeds included.
 */
#include "sql_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITTEN "kiln_written"

static void col_list(KilnBuf *b, const KilnWritePlan *p, const char *prefix)
{
    for (int i = 0; i < p->ncols; i++) {
        if (i)
            buf_puts(b, ", ");
        if (prefix)
            buf_puts(b, prefix);
        sql_quote_ident(b, p->cols[i]->name);
    }
}

/* RETURNING what the rest of the statement reads: the whole rows for a
 * representation or a Location, whether each row was new for an upsert's
 * status, else a constant. Without row data the write needs no SELECT
 * privilege and no SELECT policy (an insert-only table takes
 * return=minimal writes, as in PostgREST). */
static void returning(KilnBuf *b, const KilnWritePlan *p, int root)
{
    bool rows = p->body || p->location;
    bool inserted = p->inserted && !p->table->is_view;
    if (rows)
        buf_printf(b, " RETURNING k%d.*", root);
    if (inserted)
        buf_printf(b, "%sk%d.xmax OPERATOR(pg_catalog.=) 0 AS kiln_inserted",
                   rows ? ", " : " RETURNING ", root);
    if (!rows && !inserted)
        buf_puts(b, " RETURNING 1");
}

/* INSERT INTO t AS k0 (cols) SELECT ... FROM <the body's rows> */
static void insert_sql(KilnArena *a, KilnSql *q, const KilnWritePlan *p, int root)
{
    KilnBuf *b = &q->text;
    buf_puts(b, "INSERT INTO ");
    sql_table_ref(b, p->table);
    buf_printf(b, " AS k%d ", root);
    if (p->ncols) {
        buf_putc(b, '(');
        col_list(b, p, NULL);
        buf_puts(b, ") ");
    }
    buf_puts(b, "SELECT ");
    if (!p->missing_default) {
        col_list(b, p, "kiln_row.");
        buf_puts(b, " FROM pg_catalog.json_populate_recordset(NULL::");
        sql_table_ref(b, p->table);
        buf_puts(b, ", ");
        buf_puts(b, "$1::json) AS kiln_row");
    } else {
        /* A key missing from an object takes the column default. */
        for (int i = 0; i < p->ncols; i++) {
            const KilnColumn *c = p->cols[i];
            buf_puts(b, i ? ", CASE WHEN kiln_elem.e OPERATOR(pg_catalog.?) "
                          : "CASE WHEN kiln_elem.e OPERATOR(pg_catalog.?) ");
            sql_param(a, q, c->name);
            buf_puts(b, " THEN kiln_row.");
            sql_quote_ident(b, c->name);
            buf_puts(b, " ELSE ");
            if (c->default_expr) {
                buf_putc(b, '(');
                buf_puts(b, c->default_expr);
                buf_putc(b, ')');
            } else {
                buf_puts(b, "NULL");
            }
            buf_puts(b, " END");
        }
        buf_puts(b, " FROM pg_catalog.jsonb_array_elements($1::jsonb) AS kiln_elem(e) "
                    "CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::");
        sql_table_ref(b, p->table);
        buf_puts(b, ", kiln_elem.e) AS kiln_row");
    }
    if (p->resolution != KILN_RES_NONE) {
        buf_puts(b, " ON CONFLICT (");
        for (int i = 0; i < p->nconflict; i++) {
            if (i)
                buf_puts(b, ", ");
            sql_quote_ident(b, p->conflict[i]->name);
        }
        if (p->resolution == KILN_RES_MERGE && p->ncols) {
            buf_puts(b, ") DO UPDATE SET ");
            for (int i = 0; i < p->ncols; i++) {
                if (i)
                    buf_puts(b, ", ");
                sql_quote_ident(b, p->cols[i]->name);
                buf_puts(b, " = EXCLUDED.");
                sql_quote_ident(b, p->cols[i]->name);
            }
        } else {
            buf_puts(b, ") DO NOTHING");
        }
    }
    returning(b, p, root);
}

static void where_conds(KilnArena *a, KilnSql *q, const KilnWritePlan *p)
{
    for (int i = 0; i < p->nconds; i++) {
        buf_puts(&q->text, i ? " AND " : " WHERE ");
        sql_logic(a, q, p->read->root, p->conds[i]);
    }
}

/* A limited write's rows: (SELECT k<root>.tableoid, k<root>.ctid FROM
 * table WHERE <filters> ORDER BY ... LIMIT n OFFSET m) AS kiln_pick; the
 * row address pairs with tableoid, as ctid alone repeats across the
 * partitions of a partitioned table. */
static void pick_sql(KilnArena *a, KilnSql *q, const KilnWritePlan *p, int root)
{
    KilnBuf *b = &q->text;
    buf_printf(b, "(SELECT k%d.tableoid, k%d.ctid FROM ", root, root);
    sql_table_ref(b, p->table);
    buf_printf(b, " AS k%d", root);
    where_conds(a, q, p);
    sql_put_order(a, q, p->read->root);
    if (p->limit >= 0)
        buf_printf(b, " LIMIT %lld", p->limit);
    if (p->offset > 0)
        buf_printf(b, " OFFSET %lld", p->offset);
    buf_puts(b, ") AS kiln_pick");
}

/* The target rows: the filters, or for a limited write the picked rows. */
static void target_rows(KilnArena *a, KilnSql *q, const KilnWritePlan *p, int root, bool joined)
{
    if (!p->limited) {
        where_conds(a, q, p);
        return;
    }
    buf_puts(&q->text, joined ? ", " : " USING ");
    pick_sql(a, q, p, root);
    buf_printf(&q->text, " WHERE k%d.tableoid OPERATOR(pg_catalog.=) kiln_pick.tableoid AND "
                         "k%d.ctid OPERATOR(pg_catalog.=) kiln_pick.ctid",
               root, root);
}

static void update_sql(KilnArena *a, KilnSql *q, const KilnWritePlan *p, int root)
{
    KilnBuf *b = &q->text;
    if (!p->ncols) {
        /* Nothing to set: no row changes. */
        buf_printf(b, "SELECT k%d.* FROM ", root);
        sql_table_ref(b, p->table);
        buf_printf(b, " AS k%d WHERE false", root);
        return;
    }
    buf_puts(b, "UPDATE ");
    sql_table_ref(b, p->table);
    buf_printf(b, " AS k%d SET ", root);
    for (int i = 0; i < p->ncols; i++) {
        if (i)
            buf_puts(b, ", ");
        sql_quote_ident(b, p->cols[i]->name);
        buf_puts(b, " = kiln_row.");
        sql_quote_ident(b, p->cols[i]->name);
    }
    buf_puts(b, " FROM pg_catalog.json_populate_record(NULL::");
    sql_table_ref(b, p->table);
    buf_puts(b, ", $1::json) AS kiln_row");
    target_rows(a, q, p, root, true);
    returning(b, p, root);
}

static void delete_sql(KilnArena *a, KilnSql *q, const KilnWritePlan *p, int root)
{
    KilnBuf *b = &q->text;
    buf_puts(b, "DELETE FROM ");
    sql_table_ref(b, p->table);
    buf_printf(b, " AS k%d", root);
    target_rows(a, q, p, root, false);
    returning(b, p, root);
}

/* CASE WHEN <bad> THEN ('kiln:<code>:' || n)::int8 ELSE n END: a failed
 * cast aborts the statement, and with it the transaction. */
static void checked_rows(KilnArena *a, KilnSql *q, const KilnWritePlan *p)
{
    KilnBuf *b = &q->text;
    if (p->max_affected < 0 && !p->single) {
        buf_puts(b, "kiln_n.n");
        return;
    }
    buf_puts(b, "CASE");
    if (p->max_affected >= 0) {
        char num[24];
        snprintf(num, sizeof num, "%lld", p->max_affected);
        buf_puts(b, " WHEN kiln_n.n OPERATOR(pg_catalog.>) ");
        sql_param(a, q, arena_strdup(a, num));
        buf_puts(b, "::int8 THEN ('kiln:PGRST124:' OPERATOR(pg_catalog.||) kiln_n.n::text)::int8");
    }
    if (p->single)
        buf_puts(b, " WHEN kiln_n.n OPERATOR(pg_catalog.<>) 1 THEN ('kiln:PGRST116:' "
                    "OPERATOR(pg_catalog.||) kiln_n.n::text)::int8");
    buf_puts(b, " ELSE kiln_n.n END");
}

void sql_write(KilnArena *a, const KilnWritePlan *p, const char *body_json, KilnSql *out)
{
    KilnBuf *b = &out->text;
    const KilnPlanNode *root = p->read->root;
    /* $1 is the body, when the statement reads one. */
    if (p->kind == KILN_WRITE_INSERT || p->kind == KILN_WRITE_PUT ||
        (p->kind == KILN_WRITE_UPDATE && p->ncols))
        sql_param_reserve(a, out, body_json);
    buf_puts(b, "WITH " WRITTEN " AS (");
    switch (p->kind) {
    case KILN_WRITE_INSERT:
    case KILN_WRITE_PUT:
        insert_sql(a, out, p, root->id);
        break;
    case KILN_WRITE_UPDATE:
        update_sql(a, out, p, root->id);
        break;
    case KILN_WRITE_DELETE:
        delete_sql(a, out, p, root->id);
        break;
    }
    buf_puts(b, ") SELECT ");
    if (p->body) {
        buf_printf(b, "(SELECT coalesce(pg_catalog.json_agg(j%d), '[]') FROM (", root->id);
        sql_node_select_from(a, out, root, WRITTEN);
        buf_printf(b, ") AS j%d)::text", root->id);
    } else {
        buf_puts(b, "''::text");
    }
    buf_puts(b, " AS body, ");
    checked_rows(a, out, p);
    buf_puts(b, p->count ? " AS page_rows, kiln_n.n AS total"
                         : " AS page_rows, NULL::bigint AS total");
    if (p->location || p->inserted) {
        buf_puts(b, ", pg_catalog.json_build_object(");
        if (p->inserted) {
            if (p->table->is_view)
                buf_puts(b, "'inserted', kiln_n.n");
            else
                buf_puts(b, "'inserted', (SELECT pg_catalog.count(*) FROM " WRITTEN
                            " WHERE kiln_inserted)");
        }
        if (p->location) {
            buf_puts(b, p->inserted ? ", 'location', " : "'location', ");
            buf_puts(b, "(SELECT pg_catalog.json_build_array(");
            bool first = true;
            for (int i = 0; i < p->table->ncols; i++) {
                if (!p->table->cols[i].pk)
                    continue;
                if (!first)
                    buf_puts(b, ", ");
                first = false;
                buf_puts(b, "kiln_pk.");
                sql_quote_ident(b, p->table->cols[i].name);
                buf_puts(b, "::text");
            }
            buf_puts(b, ") FROM " WRITTEN " AS kiln_pk LIMIT 1)");
        }
        buf_puts(b, ")::text AS extra");
    }
    buf_puts(b, " FROM (SELECT pg_catalog.count(*) AS n FROM " WRITTEN ") AS kiln_n");
}

const char *sql_write_violation(const char *message, long long *rows)
{
    static const char *const codes[] = {"PGRST124", "PGRST116"};
    for (size_t i = 0; message && i < sizeof codes / sizeof codes[0]; i++) {
        char marker[24];
        snprintf(marker, sizeof marker, "\"kiln:%s:", codes[i]);
        const char *m = strstr(message, marker);
        if (m) {
            *rows = strtoll(m + strlen(marker), NULL, 10);
            return codes[i];
        }
    }
    return NULL;
}
