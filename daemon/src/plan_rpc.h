/*
 * plan_rpc.h: a checked call plan for /rest/v1/rpc/<fn>: the function
 * chosen among its overloads by the names of the arguments given
 * (PostgREST's rules), each argument's value as text for a bind parameter,
 * and the read plan (select, filters, order, range) over its result.
 *
 * Pure: no I/O, no globals. The plan lives in the caller's arena and points
 * into the request's strings and the schema-cache snapshot, which must
 * outlive it. Errors follow PostgREST: 404 PGRST202 no such function (the
 * hint never names another function), 300 PGRST203 ambiguous overloads,
 * 400 PGRST102 invalid body, 400 PGRST100 bad query string, and the read
 * planner's errors for select/filters/order on the result.
 */
#ifndef KILN_PLAN_RPC_H
#define KILN_PLAN_RPC_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "error.h"
#include "plan.h"
#include "schema_cache.h"

/* What the request body is (POST), by its Content-Type. */
typedef enum {
    KILN_BODY_JSON,   /* application/json (or none): named arguments, or the
                       * whole body for a single unnamed json/jsonb parameter */
    KILN_BODY_FORM,   /* application/x-www-form-urlencoded: named arguments */
    KILN_BODY_TEXT,   /* text/plain: a single unnamed text parameter */
    KILN_BODY_XML,    /* text/xml: a single unnamed xml parameter */
    KILN_BODY_BINARY, /* application/octet-stream: a single unnamed bytea parameter */
} KilnBodyType;

typedef struct KilnRpcRequest {
    const char *schema; /* the negotiated schema */
    const char *name;   /* the function name from the path, decoded */
    bool post;          /* POST: arguments from the body; GET/HEAD: from
                         * the query string */
    const char *query;  /* raw query string (may be NULL) */
    const char *body;   /* POST body (may hold NULs for binary) */
    size_t body_len;
    KilnBodyType body_type;
    long long max_rows; /* caps a set result; 0 = no cap */
    bool count_exact;   /* Prefer: count=... */
    bool aggregates;    /* db_aggregates_enabled: count() and col.agg() on the result */
    bool single_object; /* Prefer: params=single-object (POST, PostgREST
                         * <= 12): the function with one json/jsonb
                         * parameter, named or not, gets the whole body */
} KilnRpcRequest;

/* One argument of the call: the function's own argument (name and type from
 * the schema cache) and its value as text (NULL: SQL NULL). */
typedef struct KilnRpcArg {
    const KilnFuncArg *arg;
    const char *value;
} KilnRpcArg;

typedef struct KilnRpcPlan {
    const KilnFunction *fn;
    KilnRpcArg *args; /* named arguments given, in declared order */
    int nargs;
    bool positional;    /* the single unnamed parameter: args[0] holds
                         * the whole body, passed by position */
    KilnPlan *read;     /* over the result; NULL for void */
    bool write;         /* read-write transaction: POST of a VOLATILE
                         * function; everything else runs READ ONLY */
    bool single;        /* one object asked of a write: other than one row
                         * fails the statement (its writes roll back) */
    const char *apikey; /* ?apikey= (decoded), NULL when absent */
} KilnRpcPlan;

/* Plans the call r against snapshot sc. On success *out is arena-owned. */
bool plan_rpc(KilnArena *a, const KilnSchemaCache *sc, const KilnRpcRequest *r, KilnRpcPlan **out,
              KilnError *err);

/* The members of a JSON object body (exposed for tests and the fuzz
 * harness): names[i] decoded, raw[i] the member's value as raw JSON text,
 * in body order (duplicates kept). An empty body is {}. Returns false with
 * 400 PGRST102 unless body[0..len) is one JSON object. Arena-owned. */
bool plan_rpc_json_members(KilnArena *a, const char *body, size_t len, const char ***names,
                           const char ***raw, int *n, KilnError *err);

/* The text a JSON value (raw, as plan_rpc_json_members returns it) gives
 * an argument of the given type (format_type text): json/jsonb get the JSON
 * itself, arrays a PostgreSQL array literal, strings their contents,
 * numbers and booleans their literal; JSON null gives NULL. */
const char *plan_rpc_json_value(KilnArena *a, const char *raw, const char *type);

#endif
