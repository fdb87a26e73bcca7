/*
 * sql_plan.c: the SQL of planner estimates and plan output: the total of
 * Prefer: count=planned and count=estimated, and the statement that
 * answers the plan media type (application/vnd.pgrst.plan).
 *
 * Both go through the kiln extension's helpers (sql/kiln/50-explain.sql):
 * kiln.plan_rows(query, params) and kiln.explain(query, params, format,
 * options) take a statement written here or by sql.c with its $n values as
 * a text array, bind them (never pasting a value into SQL text) and plan
 * it as the caller, row security included. The statement text itself is a
 * parameter too, so the outer statement's text depends only on the
 * request's shape.
 *
 * Pure, like the rest of sql*.c: no I/O, no globals but constant text.
 */
#include "sql.h"
#include "sql_internal.h"

#include <string.h>

/* Appends "ARRAY[$a::text, ...]::text[]": each of from's parameters as a
 * text parameter of q (NULL stays NULL). */
static void put_text_array(KilnArena *a, KilnSql *q, const KilnSql *from)
{
    buf_puts(&q->text, "ARRAY[");
    for (int i = 0; i < from->nparams; i++) {
        if (i)
            buf_puts(&q->text, ", ");
        sql_param(a, q, from->params[i]);
        buf_puts(&q->text, "::text");
    }
    buf_puts(&q->text, "]::text[]");
}

/* kiln.plan_rows of "SELECT 1 FROM <root's table> WHERE <root's filters>"
 * (PostgREST's count query), its values as q's parameters. */
static void put_plan_rows(KilnArena *a, KilnSql *q, const KilnPlan *plan)
{
    const KilnPlanNode *root = plan->root;
    KilnSql count = {0};
    buf_puts(&count.text, "SELECT 1 FROM ");
    sql_table_ref(&count.text, root->table);
    buf_printf(&count.text, " AS k%d", root->id);
    sql_put_where(a, &count, root);

    buf_puts(&q->text, "kiln.plan_rows(");
    sql_param(a, q, arena_strdup(a, buf_str(&count.text)));
    buf_puts(&q->text, ", ");
    put_text_array(a, q, &count);
    buf_putc(&q->text, ')');
    sql_free(&count);
}

void sql_put_count_estimate(KilnArena *a, KilnSql *q, const KilnPlan *plan)
{
    const KilnPlanNode *root = plan->root;
    KilnBuf *b = &q->text;
    if (plan->count_planned) {
        put_plan_rows(a, q, plan);
        return;
    }
    /* estimated: exact up to max rows (counting at most max + 1), the
     * larger of that and the estimate beyond (PostgREST's rule) */
    long long max = plan->count_estimated_max;
    buf_puts(b, "(SELECT CASE WHEN kiln_c.n OPERATOR(pg_catalog.>) ");
    buf_printf(b, "%lld THEN pg_catalog.int8larger(kiln_c.n, ", max);
    put_plan_rows(a, q, plan);
    buf_puts(b, ") ELSE kiln_c.n END FROM (SELECT pg_catalog.count(*) AS n FROM (SELECT 1 FROM ");
    sql_table_ref(b, root->table);
    buf_printf(b, " AS k%d", root->id);
    sql_put_where(a, q, root);
    buf_printf(b, " LIMIT %lld) AS kiln_l) AS kiln_c)", max + 1);
}

void sql_explain(KilnArena *a, KilnSql *stmt, bool json, const char *const *options,
                 int noptions, KilnSql *out)
{
    KilnBuf *b = &out->text;
    buf_puts(b, "SELECT kiln.explain(");
    sql_param(a, out, arena_strdup(a, buf_str(&stmt->text)));
    buf_puts(b, ", ");
    put_text_array(a, out, stmt);
    buf_puts(b, ", ");
    sql_param(a, out, json ? "json" : "text");
    buf_puts(b, ", ARRAY[");
    for (int i = 0; i < noptions; i++) {
        if (i)
            buf_puts(b, ", ");
        sql_param(a, out, options[i]);
        buf_puts(b, "::text");
    }
    buf_puts(b, "]::text[]) AS body, 0::int8 AS page_rows, NULL::int8 AS total");
}
