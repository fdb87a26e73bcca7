/*
 * sql_internal.h: what the files of the one SQL-writing module (sql.c,
 * sql_write.c, sql_rpc.c) share. Not for any other file: everything that
 * writes SQL text lives in sql*.c; everything else goes through sql.h.
 *
 * Pure, like sql.h: no I/O, no globals.
 */
#ifndef KILN_SQL_INTERNAL_H
#define KILN_SQL_INTERNAL_H

#include "sql.h"

/* Adds value as the next parameter (arena-owned pointer kept) and writes $n. */
void sql_param(KilnArena *a, KilnSql *q, const char *value);

/* Adds value as the next parameter without writing its $n (the caller
 * writes it where it belongs). */
void sql_param_reserve(KilnArena *a, KilnSql *q, const char *value);

/* "schema"."table" of a schema-cache table. */
void sql_table_ref(KilnBuf *b, const KilnTable *t);

/* A filter or logic tree of plan node n (columns as k<id>."col"). */
void sql_logic(KilnArena *a, KilnSql *q, const KilnPlanNode *n, const KilnLogic *l);

/* The SELECT of plan node n (fields, embeds, filters, order, range) reading
 * n's rows from src, a relation name sql.c wrote (e.g. a CTE), as k<id>. */
void sql_node_select_from(KilnArena *a, KilnSql *q, const KilnPlanNode *n, const char *src);

/* The name a function call's result is read under (a CTE of the RPC
 * statement); a plan node with rpc_source reads FROM it. */
#define SQL_RPC_SOURCE "pgrst_source"

/* SELECT <fields> FROM ... WHERE ... ORDER BY ... LIMIT ... of node n. */
void sql_put_node_select(KilnArena *a, KilnSql *q, const KilnPlanNode *n);

/* The WHERE clause of node n (nothing when it has no conditions). */
void sql_put_where(KilnArena *a, KilnSql *q, const KilnPlanNode *n);

/* The ORDER BY clause of node n (nothing when it has no order terms). */
void sql_put_order(KilnArena *a, KilnSql *q, const KilnPlanNode *n);

/* The body column of a read statement over rows j<id>: a JSON array
 * (set) or the first value or null (!set), of j<id>.scalar when scalar is
 * not NULL; json_strip_nulls around it for plan->strip_nulls; for
 * plan->csv the rows as CSV lines (record text without its parentheses,
 * joined by line breaks; the handler adds the header row). */
void sql_put_body(KilnBuf *b, const KilnPlan *plan, int id, const char *scalar, bool set);

/* The total of Prefer: count=planned (plan->count_planned: kiln.plan_rows
 * of the root's count query) or count=estimated (plan->count_estimated_max
 * N: the exact count of at most N + 1 rows, and when that exceeds N the
 * larger of it and the estimate) as one expression (sql_plan.c). */
void sql_put_count_estimate(KilnArena *a, KilnSql *q, const KilnPlan *plan);

#endif
