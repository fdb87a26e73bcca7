/*
 * sql_rpc.c: the statement of an RPC call, part of the SQL-writing module
 * (sql.h): the function call reads as a CTE (pgrst_source) that the read
 * plan's root node selects from, so select, filters, order, range and
 * count apply to a set result exactly as to a table.
 *
 * Pure: no I/O, no globals. The function's and its arguments' names come
 * from the schema-cache snapshot and are quoted here; the casts are the
 * declared argument types as the catalog's format_type() wrote them (never
 * request text); every value is a $n parameter. Arguments are passed in
 * named notation (`"a" => $1::integer`), or by position for the single
 * unnamed parameter that takes the whole body.
 */
#include <string.h>

#include "plan_rpc.h"
#include "sql.h"
#include "sql_internal.h"

/* "schema"."fn"("a" => $1::type, VARIADIC "v" => $2::type[], ...) */
static void call_sql(KilnArena *a, KilnSql *q, const KilnRpcPlan *plan)
{
    KilnBuf *b = &q->text;
    sql_quote_ident(b, plan->fn->schema);
    buf_putc(b, '.');
    sql_quote_ident(b, plan->fn->name);
    buf_putc(b, '(');
    for (int i = 0; i < plan->nargs; i++) {
        const KilnRpcArg *ra = &plan->args[i];
        if (i)
            buf_puts(b, ", ");
        if (!plan->positional) {
            if (ra->arg->variadic)
                buf_puts(b, "VARIADIC ");
            sql_quote_ident(b, ra->arg->name);
            buf_puts(b, " => ");
        }
        sql_param(a, q, ra->value);
        buf_puts(b, "::");
        buf_puts(b, ra->arg->type);
    }
    buf_putc(b, ')');
}

void sql_rpc(KilnArena *a, const KilnRpcPlan *plan, KilnSql *out)
{
    KilnBuf *b = &out->text;
    const KilnFunction *f = plan->fn;
    if (!plan->read) {
        /* void: one row once the call ran; the body is JSON null */
        buf_puts(b, "SELECT 'null'::text AS body, pg_catalog.count(*) AS page_rows, "
                    "NULL::bigint AS total FROM ");
        call_sql(a, out, plan);
        buf_puts(b, " AS pgrst_call");
        return;
    }
    const KilnPlanNode *root = plan->read->root;
    bool scalar = f->ret_kind == KILN_RET_SCALAR;
    buf_puts(b, "WITH " SQL_RPC_SOURCE " AS (SELECT * FROM ");
    call_sql(a, out, plan);
    buf_puts(b, " AS pgrst_call");
    if (scalar) {
        buf_putc(b, '(');
        sql_quote_ident(b, f->name);
        buf_putc(b, ')');
    }
    buf_puts(b, ") SELECT ");
    /* the body: an array for a set, the one value (or null) otherwise */
    sql_put_body(b, plan->read, root->id, scalar ? f->name : NULL, f->ret_set);
    buf_puts(b, " AS body, ");
    if (plan->single) /* read back by sql_write_violation */
        buf_puts(b, "CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.<>) 1 THEN ('kiln:PGRST116:' "
                    "OPERATOR(pg_catalog.||) pg_catalog.count(*)::text)::int8 "
                    "ELSE pg_catalog.count(*) END");
    else
        buf_puts(b, "pg_catalog.count(*)");
    buf_puts(b, " AS page_rows, ");
    if (plan->read->count_exact) {
        buf_printf(b, "(SELECT pg_catalog.count(*) FROM " SQL_RPC_SOURCE " AS k%d", root->id);
        sql_put_where(a, out, root);
        buf_putc(b, ')');
    } else {
        buf_puts(b, "NULL::bigint");
    }
    buf_puts(b, " AS total FROM (");
    sql_put_node_select(a, out, root);
    buf_printf(b, ") AS j%d", root->id);
}

const char *sql_openapi_visible(void)
{
    return "SELECT pg_catalog.json_build_object("
           "'tables', (SELECT coalesce(pg_catalog.json_agg(x.i), '[]') "
           "FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[])) "
           "WITH ORDINALITY AS x(s, n, i) "
           "WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns "
           "ON ns.oid OPERATOR(pg_catalog.=) c.relnamespace "
           "WHERE ns.nspname OPERATOR(pg_catalog.=) x.s AND c.relname OPERATOR(pg_catalog.=) x.n "
           "AND pg_catalog.has_any_column_privilege(c.oid, 'SELECT'))), "
           "'functions', (SELECT coalesce(pg_catalog.json_agg(x.i), '[]') "
           "FROM pg_catalog.unnest($3::pg_catalog.oid[]) WITH ORDINALITY AS x(o, i) "
           "WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) "
           "x.o "
           "AND pg_catalog.has_function_privilege(p.oid, 'EXECUTE'))))::text AS body, "
           "0::int8 AS page_rows, NULL::int8 AS total";
}
