/*
 * schema_cache.h: what the data API may name: tables and views of the
 * exposed schemas with their columns (type, primary key) and the foreign
 * keys between them.
 *
 * The callable functions of the exposed schemas (arguments, result shape,
 * volatility) come from the same query, under its "functions" key.
 *
 * A KilnSchemaCache is an immutable snapshot built from one catalog query
 * (sql_schema_query() in sql.c, run through tx.c) and shared by reference
 * count; a reload builds a new snapshot and swaps it in atomically, so a
 * request keeps the snapshot it started with. Lookups are pure and
 * thread-safe on a snapshot.
 *
 * The holder (KilnSchemaHolder) owns the current snapshot and a watcher
 * thread with its own connection outside the pool: it LISTENs on channel
 * `kiln` and reloads on the payload 'reload schema', and retries the load
 * every second while none has succeeded.
 */
#ifndef KILN_SCHEMA_CACHE_H
#define KILN_SCHEMA_CACHE_H

#include <stdbool.h>

#include "error.h"

typedef struct KilnColumn {
    char *name;
    char *type;   /* format_type(): "integer", "text", "timestamp with time zone" */
    int attnum;
    bool pk;
    /* Write facts: the default expression as the catalog prints it
     * (pg_get_expr; an identity column's nextval), NULL when none; whether
     * the column is GENERATED ALWAYS (identity or stored) and so takes no
     * value on insert. */
    char *default_expr;
    bool generated;
} KilnColumn;

typedef struct KilnTable {
    char *schema;
    char *name;
    bool is_view;
    KilnColumn *cols;
    int ncols;
} KilnTable;

/* A foreign key: from_table(from_cols) references to_table(to_cols); the
 * column arrays hold indexes into each table's cols. */
typedef struct KilnFk {
    char *name;
    int from_table, to_table;
    int ncols;
    int *from_cols;
    int *to_cols;
} KilnFk;

/* An input argument of a callable function (modes IN, INOUT, VARIADIC). */
typedef struct KilnFuncArg {
    char *name;       /* "" when the argument has no name */
    char *type;       /* format_type() of the declared type; the array type
                       * for VARIADIC */
    bool has_default; /* may be omitted */
    bool variadic;
    int rel_table;    /* the cached table whose row type the argument is, or -1
                       * (a function of one such argument returning a table's
                       * rows is a computed relationship) */
} KilnFuncArg;

typedef enum { KILN_RET_VOID, KILN_RET_SCALAR, KILN_RET_COMPOSITE } KilnRetKind;

/* A function of an exposed schema that /rest/v1/rpc/<name> may call. */
typedef struct KilnFunction {
    char *schema;
    char *name;
    long long oid;
    KilnFuncArg *args;  /* input arguments in declared order */
    int nargs;
    KilnRetKind ret_kind;
    char *ret_type;     /* format_type() of the return type ("record" for
                         * OUT/TABLE columns) */
    bool ret_set;       /* SETOF / TABLE */
    char volatility;    /* 'i', 's' or 'v' */
    char *description;  /* COMMENT ON FUNCTION, "" when none */
    /* The result read as a relation: ret_table is the cached table whose
     * row type the function returns (embeds then follow its foreign keys),
     * -1 otherwise; result holds the result's columns (the table's, the
     * composite type's, the OUT/TABLE columns, or one column named after
     * the function for a scalar). Unused for void. */
    int ret_table;
    KilnTable result;
} KilnFunction;

typedef struct KilnSchemaCache {
    KilnTable *tables;
    int ntables;
    KilnFk *fks;
    int nfks;
    KilnFunction *funcs; /* sorted by schema, name, oid */
    int nfuncs;
    char *postgis_schema; /* where PostGIS's ST_AsGeoJSON(record) lives, NULL
                           * without PostGIS (application/geo+json is 406) */
    int refcount; /* owned by schema_cache.c */
    unsigned long generation; /* 1, 2, ... in the order the holder swapped
                               * snapshots in (0: not from a holder); SQL
                               * planned from a snapshot is valid for its
                               * generation (prepared-statement caches) */
} KilnSchemaCache;

/* Builds a snapshot from the JSON the catalog query returns. Returns NULL
 * with err on malformed input. refcount starts at 1. */
KilnSchemaCache *schema_cache_from_json(const char *json, KilnError *err);

/* Table `schema.name`, or NULL. */
const KilnTable *schema_cache_table(const KilnSchemaCache *sc, const char *schema,
                                    const char *name, int *index);

/* The overloads of schema.name: fills out[0..max) and returns how many
 * there are (possibly more than max; 0 when none). */
int schema_cache_functions(const KilnSchemaCache *sc, const char *schema, const char *name,
                           const KilnFunction **out, int max);

/* The table a function's result reads as: the cached table of its row
 * type, else its own result columns. NULL for void functions. */
const KilnTable *schema_cache_function_result(const KilnSchemaCache *sc, const KilnFunction *f);

/* Column index of name in t, or -1. */
int schema_cache_column(const KilnTable *t, const char *name);

/* Reference counting (thread-safe). release(NULL) is a no-op. */
void schema_cache_retain(KilnSchemaCache *sc);
void schema_cache_release(KilnSchemaCache *sc);

typedef struct KilnSchemaHolder KilnSchemaHolder;

/* Creates the holder, loads once synchronously (a failure is logged and
 * retried by the watcher), and starts the watcher thread. conninfo and
 * schemas (comma-separated) are copied. */
KilnSchemaHolder *schema_holder_start(const char *conninfo, const char *schemas,
                                      int connect_timeout_s);

/* The current snapshot with one reference (release it), or NULL while no
 * load has succeeded yet. Thread-safe. */
KilnSchemaCache *schema_holder_current(KilnSchemaHolder *h);

/* Loads the catalog now on the watcher's connection and swaps the snapshot
 * in. Returns false with err when it failed (the old snapshot stays).
 * Thread-safe. */
bool schema_holder_reload(KilnSchemaHolder *h, KilnError *err);

/* Stops the watcher and frees everything. NULL is a no-op. */
void schema_holder_free(KilnSchemaHolder *h);

#endif
