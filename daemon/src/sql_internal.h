/*
 * sql_internal.h: the helpers sql.c shares with sql_write.c, the other half
 * of the one SQL-writing module. Not for any other file: everything that
 * writes SQL text lives in sql*.c.
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

#endif
