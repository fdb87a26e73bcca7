/*
 * sql.h: the one place SQL text is written and identifiers are quoted.
 *
 * Pure: no I/O, no globals but constant text. From a plan it builds one
 * SELECT whose single row holds (body text, page_rows bigint, total bigint
 * or NULL): the JSON body is built by Postgres (json_agg, row_to_json);
 * every value from the request is a $n text parameter whose type the server
 * infers from the column it meets (PostgREST's unknown-literal semantics).
 * Identifiers come only from the schema-cache snapshot, quoted here.
 */
#ifndef KILN_SQL_H
#define KILN_SQL_H

#include "arena.h"
#include "buf.h"
#include "plan.h"
#include "plan_write.h"

typedef struct KilnSql {
    KilnBuf text;          /* owned; free with sql_free */
    const char **params;   /* arena-owned values for $1..$nparams */
    int nparams;
    int cap;
} KilnSql;

/* Builds the read statement for plan into out (zeroed by the caller): one
 * row (body, page_rows, total), or with plan->row_set one row per result
 * row, each a JSON object (body). */
void sql_read(KilnArena *a, const KilnPlan *plan, KilnSql *out);

/* ---- RPC (sql_rpc.c) ---- */

struct KilnRpcPlan;

/* Builds the statement of a function call (plan_rpc.h) into out (zeroed
 * by the caller): one row (body, page_rows, total) like sql_read; the body
 * is a JSON array for a set result, the value itself otherwise, and null
 * for void. */
void sql_rpc(KilnArena *a, const struct KilnRpcPlan *plan, KilnSql *out);

/* Which of the OpenAPI candidates the caller may use: $1 text[] schemas and
 * $2 text[] names of tables/views (SELECT on any column), $3 oid[] of
 * functions (EXECUTE). One row (body {"tables":[i..],"functions":[i..]}
 * with 1-based positions, page_rows 0, total NULL). */
const char *sql_openapi_visible(void);

/* ---- plan output (sql_plan.c) ----
 * The statement answering the plan media type: one row (body = the
 * EXPLAIN output of stmt with its parameters bound, by kiln.explain;
 * page_rows 0; total NULL). json: FORMAT JSON, else TEXT; options (each
 * one of analyze, verbose, settings, buffers, wal) are passed on. stmt is
 * not changed (its text is NUL-terminated). */
void sql_explain(KilnArena *a, KilnSql *stmt, bool json, const char *const *options,
                 int noptions, KilnSql *out);

/* Frees out->text (the params live in the arena). */
void sql_free(KilnSql *out);

/* Appends name as a quoted identifier ("a""b"). */
void sql_quote_ident(KilnBuf *b, const char *name);

/* ---- writes (sql_write.c) ----
 * The write statement for plan: one data-modifying CTE (INSERT ... SELECT
 * from the body expanded by json_populate_recordset, UPDATE ... FROM
 * json_populate_record, DELETE), then one row (body text, page_rows =
 * rows written, total = the same or NULL, extra = JSON
 * {"inserted":n,"location":[pk as text...]} or NULL). body_json is bound
 * as $1, the only place the body's values go. A max-affected or single-row
 * violation fails the statement (so nothing is written) with SQLSTATE
 * 22P02 and a message holding "kiln:PGRST124:<n>" / "kiln:PGRST116:<n>";
 * sql_write_violation reads it back. */
void sql_write(KilnArena *a, const KilnWritePlan *plan, const char *body_json, KilnSql *out);

/* When message is the failure of such a check: its PGRST code (static
 * text) and the row count into *rows; else NULL. */
const char *sql_write_violation(const char *message, long long *rows);

/* Fixed statements of the request transaction and the schema cache. */
const char *sql_begin_read(void);   /* BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY */
const char *sql_begin_write(void);  /* BEGIN ISOLATION LEVEL READ COMMITTED */
/* SELECT kiln.authenticate($1, $2, $3, $4): token, request id, client ip,
 * read-only (the form without JSON meta) */
const char *sql_authenticate(void);
const char *sql_commit(void);
const char *sql_rollback(void);
const char *sql_deallocate_all(void); /* DEALLOCATE ALL (allowed in a transaction) */
/* Appends DEALLOCATE "name" for a prepared statement of ours. */
void sql_deallocate(KilnBuf *b, const char *name);
const char *sql_listen_schema(void); /* LISTEN kiln */
/* The catalog query: $1 = text[] of exposed schemas; one row, one JSON
 * column {"tables":[...],"fks":[...]} (see schema_cache_from_json). */
const char *sql_schema_query(void);

#endif
