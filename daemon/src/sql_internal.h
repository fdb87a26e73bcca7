/*
 * sql_internal.h: what the files of the SQL-writing module (sql.c,
 * sql_rpc.c) share. Not for any other file: everything outside the module
 * goes through sql.h.
 */
#ifndef KILN_SQL_INTERNAL_H
#define KILN_SQL_INTERNAL_H

#include "sql.h"

/* The name a function call's result is read under (a CTE of the RPC
 * statement); a plan node with rpc_source reads FROM it. */
#define SQL_RPC_SOURCE "pgrst_source"

/* Adds value as the next parameter and writes $n. */
void sql_put_param(KilnArena *a, KilnSql *q, const char *value);

/* SELECT <fields> FROM ... WHERE ... ORDER BY ... LIMIT ... of node n. */
void sql_put_node_select(KilnArena *a, KilnSql *q, const KilnPlanNode *n);

/* The WHERE clause of node n (nothing when it has no conditions). */
void sql_put_where(KilnArena *a, KilnSql *q, const KilnPlanNode *n);

#endif
