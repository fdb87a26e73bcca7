/*
 * plan_write.h: a checked write plan for POST/PATCH/PUT/DELETE on
 * /rest/v1/<table>: the target table and columns resolved against one
 * schema-cache snapshot, the conflict target of an upsert, the filters of
 * an update or delete, and the read plan (select=) that shapes the
 * returned representation.
 *
 * Pure: no I/O, no globals. Everything lives in the caller's arena and
 * points into the parse tree, the body and the snapshot, which must
 * outlive the plan. Errors follow PostgREST: 400 PGRST102 invalid body,
 * 400 PGRST204 unknown column, 404 PGRST205 unknown table, 405 PGRST105 /
 * 400 PGRST114 / 400 PGRST115 for PUT's rules.
 */
#ifndef KILN_PLAN_WRITE_H
#define KILN_PLAN_WRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "plan.h"
#include "rest_prefer.h"

typedef enum {
    KILN_WRITE_INSERT,
    KILN_WRITE_UPDATE,
    KILN_WRITE_DELETE,
    KILN_WRITE_PUT
} KilnWriteKind;

/* What a request body holds (plan_write_body). */
typedef struct KilnWriteBody {
    const char *json;    /* the text bound as $1: an array for inserts (a single
                          * object is wrapped in [ ]), the object for updates */
    int nrows;           /* objects in the body */
    const char **keys;   /* the distinct keys of the first object, in order */
    const char **values; /* per key: its value as filter text (a string's
                          * contents, a number or true/false as written),
                          * NULL for null, objects and arrays */
    int nkeys;
} KilnWriteBody;

/* Checks a body without building a document (a validating scan; Postgres
 * parses it once more when it expands $1): valid JSON, an object or (for
 * inserts) an array of objects, at most 512 levels deep; with same_keys
 * every object must have the first one's keys (PostgREST without
 * columns=). 400 PGRST102 "Empty or invalid json" / "All object keys must
 * match" otherwise. Everything lives in the arena. */
bool plan_write_body(KilnArena *a, const char *text, size_t len, KilnWriteKind kind, bool same_keys,
                     KilnWriteBody *out, KilnError *err);

typedef struct KilnWriteOptions {
    const char *schema; /* the negotiated schema */
    KilnWriteKind kind;
    const KilnPrefer *prefer;
    const char *const *columns; /* columns=, NULL: the body's keys */
    int ncolumns;
    const char *const *on_conflict; /* on_conflict=, NULL: the primary key */
    int non_conflict;
    const KilnWriteBody *body; /* INSERT, UPDATE, PUT */
    bool single;               /* Accept: object; other than one row is PGRST116 */
} KilnWriteOptions;

typedef struct KilnWritePlan {
    KilnWriteKind kind;
    const KilnTable *table;
    /* INSERT, UPDATE, PUT: the target columns, in the order requested */
    const KilnColumn **cols;
    int ncols;
    bool missing_default;            /* INSERT: a listed key missing from an object
                                      * takes the column default (else NULL) */
    KilnPreferResolution resolution; /* INSERT, PUT: ON CONFLICT DO UPDATE / NOTHING */
    const KilnColumn **conflict;     /* ... on these columns */
    int nconflict;
    /* UPDATE, DELETE: the filters of the root (node ids of read) */
    KilnLogic **conds;
    int nconds;
    /* UPDATE, DELETE with limit/offset: only the rows the filters, the
     * root's order (read->root->orders) and this range pick */
    bool limited;
    long long limit;        /* -1: none */
    long long offset;
    KilnPlan *read;         /* select= over the written rows; root filters and
                             * range removed */
    bool body;              /* return=representation: build the JSON body */
    bool count;             /* total column: the number of rows written */
    bool location;          /* 4th column: primary key of a single inserted row */
    bool inserted;          /* 4th column: how many rows were inserted (not updated) */
    long long max_affected; /* -1 none; else more rows fail with PGRST124 */
    bool single;            /* other than one row fails with PGRST116 */
} KilnWritePlan;

/* Plans a write of schema.table with query q against snapshot sc. */
bool plan_write(KilnArena *a, const KilnSchemaCache *sc, const char *table, const KilnRestQuery *q,
                const KilnWriteOptions *opt, KilnWritePlan **out, KilnError *err);

#endif
