/*
 * plan.h: a checked read plan: every name of the parsed query resolved
 * against one schema-cache snapshot, embeds resolved through foreign keys,
 * filters, order and ranges attached to the node they apply to.
 *
 * Pure: no I/O, no globals. The plan lives in the caller's arena and points
 * into the parse tree and the snapshot, both of which must outlive it.
 * Errors follow PostgREST: 404 PGRST205 unknown table, 400 42703 unknown
 * column, 400 PGRST200 no relationship, 300 PGRST201 ambiguous embed,
 * 400 PGRST108 filter on a resource that is not embedded, 400 PGRST123
 * aggregates while they are disabled.
 */
#ifndef KILN_PLAN_H
#define KILN_PLAN_H

#include <stdbool.h>

#include "arena.h"
#include "error.h"
#include "rest_parse.h"
#include "schema_cache.h"

typedef struct KilnPlanNode KilnPlanNode;

typedef enum { KILN_PF_COLUMN, KILN_PF_EMBED, KILN_PF_SPREAD, KILN_PF_COUNT } KilnPlanFieldKind;

typedef struct KilnPlanField {
    KilnPlanFieldKind kind;
    const char *out_name;      /* the JSON key (COLUMN, EMBED, COUNT) */
    const KilnColumn *col;     /* COLUMN */
    const KilnJsonStep *path;  /* COLUMN: JSON path, NULL for none */
    const char *cast;          /* COLUMN, COUNT: validated type name or NULL */
    KilnPlanNode *embed;       /* EMBED, SPREAD */
    KilnAgg agg;               /* COLUMN: col.sum() etc., KILN_AGG_NONE when none */
    const char *agg_cast;      /* COLUMN with agg: the result's validated type or NULL */
} KilnPlanField;

/* A relation read at one level: the root table or an embed. */
struct KilnPlanNode {
    const KilnTable *table;
    int id;                    /* unique per plan: SQL aliases k<id>, j<id> */
    const char *name;          /* embed: alias or relation name */
    const char *rel;           /* embed: relation name as written */
    KilnPlanNode *parent;      /* NULL for the root */
    /* how this embed joins its parent (parent == NULL: unused) */
    const KilnFk *fk;
    bool fk_on_parent;         /* many-to-one: the parent holds the key columns */
    bool to_one;               /* object (or null) rather than array */
    /* many-to-many: the junction table, its key to the parent and its key
     * to this node's table (fk is NULL then); all NULL otherwise */
    const KilnTable *junction;
    const KilnFk *junction_to_parent;
    const KilnFk *junction_to_child;
    /* a computed relationship: rows of computed(parent row) (fk NULL) */
    const KilnFunction *computed;
    bool inner;                /* !inner: filters the parent */
    bool spread;
    bool grouped;              /* has count() or col.agg(): GROUP BY its plain columns */
    KilnPlanField *fields;
    int nfields;
    KilnLogic **conds;         /* ANDed */
    int nconds;
    KilnOrderTerm **orders;    /* in order */
    int norders;
    long long limit;           /* -1: none */
    long long offset;
    bool rpc_source;           /* the root of an RPC plan: reads the function
                                * call's result rather than `table` */
};

typedef struct KilnPlan {
    KilnPlanNode *root;
    const char *schema;
    bool count_exact;          /* Prefer: count=...: a total is computed, exactly
                                * unless one of the two below says otherwise */
    bool count_planned;        /* count=planned: the planner's estimate */
    long long count_estimated_max; /* count=estimated: exact up to this many rows
                                * (db_max_rows), the estimate beyond; 0: off */
    /* the body's shape, set by the handler after planning (default JSON) */
    bool csv;                  /* text/csv rows (the handler adds the header row) */
    bool strip_nulls;          /* nulls=stripped: null-valued keys dropped */
    const char *geojson_schema; /* application/geo+json: PostGIS's schema */
    bool row_set;              /* the statement returns the rows themselves,
                                * one JSON object each, rather than one
                                * aggregated body (see plan_at_most_one_row) */
} KilnPlan;

typedef struct KilnPlanOptions {
    const char *schema;        /* the negotiated schema */
    long long max_rows;        /* caps the root limit; 0 = no cap */
    bool count_exact;
    bool count_planned;        /* see KilnPlan */
    long long count_estimated_max;
    bool aggregates;           /* db_aggregates_enabled: count() and col.agg() allowed */
} KilnPlanOptions;

/* Plans a read of schema.table with query q against snapshot sc. */
bool plan_read(KilnArena *a, const KilnSchemaCache *sc, const char *table, const KilnRestQuery *q,
               const KilnPlanOptions *opt, KilnPlan **out, KilnError *err);

/* Plans a read of the relation t (a table of sc, or the result columns of
 * a function, which need not be in sc: embeds then find no relationship). */
bool plan_read_table(KilnArena *a, const KilnSchemaCache *sc, const KilnTable *t,
                     const KilnRestQuery *q, const KilnPlanOptions *opt, KilnPlan **out,
                     KilnError *err);

/* Whether the root of a read plan can yield at most one row: its limit is
 * 0 or 1, or an ANDed top-level `col=eq.value` filter covers every column
 * of the table's primary key (embeds and spreads keep one row per root
 * row). Such a read needs no aggregate around its rows: aggregating costs
 * the database more to start than the one row costs to send. */
bool plan_at_most_one_row(const KilnPlanNode *root);

/* The primary-key half of plan_at_most_one_row: every key column has an
 * ANDed top-level eq filter. A LIMIT on such a read changes nothing (unless
 * it is 0) but keeps Postgres from flattening the statement's subquery. */
bool plan_unique_by_key(const KilnPlanNode *root);

#endif
