/*
 * rest_parse.h: the query string of a /rest/v1/<table> read, parsed into a
 * tree: select list, filters and logic trees, order, limit and offset, each
 * scoped to the root or to an embedded resource by its dotted path.
 *
 * Pure: no I/O, no globals. Everything it returns lives in the caller's
 * arena. Identifiers are kept exactly as written (decoded); they are checked
 * against the schema cache by plan.c and quoted only by sql.c.
 * Errors: 400 PGRST100 (syntax), 414 for an over-long query string, 416
 * PGRST103 for a negative limit, each with a message naming the position.
 */
#ifndef KILN_REST_PARSE_H
#define KILN_REST_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "error.h"

/* Hard limits on client-driven sizes (400/414, never a crash). */
typedef struct KilnRestLimits {
    size_t max_query_bytes; /* raw query string; 414 beyond */
    int max_depth;          /* embed nesting and logic-tree nesting */
    int max_filters;        /* filter leaves in all, logic trees included */
    int max_select_items;   /* select items in all levels */
} KilnRestLimits;

extern const KilnRestLimits kiln_rest_default_limits;

/* One step of a JSON path: ->key, ->>key, ->0, ->>-1. */
typedef struct KilnJsonStep {
    const char *key;
    bool as_text; /* ->> */
    bool index;   /* key is an integer (array index) */
    struct KilnJsonStep *next;
} KilnJsonStep;

/* A column with an optional JSON path. */
typedef struct KilnField {
    const char *name;
    KilnJsonStep *path; /* NULL: the column itself */
} KilnField;

typedef enum {
    KILN_SEL_FIELD,  /* column [->path] [::cast] */
    KILN_SEL_STAR,   /* * */
    KILN_SEL_EMBED,  /* [alias:]rel[!hint][!inner|!left](forest) */
    KILN_SEL_SPREAD, /* ...rel(forest) */
    KILN_SEL_COUNT,  /* count() */
} KilnSelKind;

typedef enum { KILN_JOIN_DEFAULT, KILN_JOIN_LEFT, KILN_JOIN_INNER } KilnJoin;

/* An aggregate applied to a selected column: col.sum() etc. */
typedef enum {
    KILN_AGG_NONE, KILN_AGG_SUM, KILN_AGG_AVG, KILN_AGG_MAX, KILN_AGG_MIN, KILN_AGG_COUNT
} KilnAgg;

typedef struct KilnSelect {
    KilnSelKind kind;
    const char *alias; /* NULL when none */
    KilnField field;   /* FIELD */
    const char *cast;  /* FIELD, COUNT: type name, NULL when none */
    KilnAgg agg;       /* FIELD: col[::type].agg()[::type], KILN_AGG_NONE when none */
    const char *agg_cast; /* FIELD with agg: the result's type name, NULL when none */
    const char *rel;   /* EMBED, SPREAD: relation name */
    const char *hint;  /* EMBED, SPREAD: !fk hint, NULL when none */
    KilnJoin join;
    struct KilnSelect *children; /* EMBED, SPREAD */
    struct KilnSelect *next;
} KilnSelect;

typedef enum {
    KILN_OP_EQ, KILN_OP_NEQ, KILN_OP_GT, KILN_OP_GTE, KILN_OP_LT, KILN_OP_LTE,
    KILN_OP_LIKE, KILN_OP_ILIKE, KILN_OP_MATCH, KILN_OP_IMATCH,
    KILN_OP_IN, KILN_OP_IS, KILN_OP_ISDISTINCT,
    KILN_OP_CS, KILN_OP_CD, KILN_OP_OV,
    KILN_OP_SL, KILN_OP_SR, KILN_OP_NXR, KILN_OP_NXL, KILN_OP_ADJ,
    KILN_OP_FTS, KILN_OP_PLFTS, KILN_OP_PHFTS, KILN_OP_WFTS,
} KilnOp;

typedef enum { KILN_QUANT_NONE, KILN_QUANT_ANY, KILN_QUANT_ALL } KilnQuant;

typedef enum {
    KILN_IS_NULL, KILN_IS_NOT_NULL, KILN_IS_TRUE, KILN_IS_FALSE, KILN_IS_UNKNOWN
} KilnIsValue;

/* One filter: field [not.]op[(quant)|(config)].value */
typedef struct KilnFilter {
    KilnField field;
    bool negate;
    KilnOp op;
    KilnQuant quant;
    const char *fts_config; /* NULL when none */
    const char *value;      /* the raw value text (not for IN / IS) */
    const char **list;      /* IN: the items, unquoted */
    int nlist;
    KilnIsValue is;         /* IS */
    /* Set by plan.c, not the parser: for `rel=is.null` / `rel=not.is.null`
     * the embedded resource (a KilnPlanNode) whose existence filters the
     * parent rows; NULL for a column filter. */
    const void *embed;
} KilnFilter;

/* A logic tree node: a filter leaf, or and/or over children. */
typedef struct KilnLogic {
    bool is_leaf;
    KilnFilter filter;     /* leaf */
    bool negate;           /* group: not.and / not.or */
    bool is_or;            /* group */
    struct KilnLogic *children;
    struct KilnLogic *next;
} KilnLogic;

/* A dotted embed path: names[0..n) from the root; n == 0 is the root. */
typedef struct KilnPath {
    const char **names;
    int n;
} KilnPath;

typedef struct KilnCond {
    KilnPath path;
    KilnLogic *tree; /* a leaf (key=op.value) or a group (or=/and=) */
    struct KilnCond *next;
} KilnCond;

typedef enum { KILN_NULLS_DEFAULT, KILN_NULLS_FIRST, KILN_NULLS_LAST } KilnNulls;

typedef struct KilnOrderTerm {
    const char *rel;  /* related order rel(col): NULL for a plain column */
    KilnField field;
    bool desc;
    KilnNulls nulls;
    const void *embed; /* set by plan.c for rel(col): the to-one embed */
    struct KilnOrderTerm *next;
} KilnOrderTerm;

typedef struct KilnOrder {
    KilnPath path;
    KilnOrderTerm *terms;
    struct KilnOrder *next;
} KilnOrder;

typedef struct KilnRange {
    KilnPath path;
    long long limit;  /* -1 when not given */
    long long offset; /* 0 when not given */
    struct KilnRange *next;
} KilnRange;

typedef struct KilnRestQuery {
    KilnSelect *select;   /* NULL: select=* */
    KilnCond *conds;      /* in query-string order */
    KilnOrder *orders;
    KilnRange *ranges;
    const char *apikey;   /* ?apikey= (decoded), NULL when absent */
    int nfilters;
    /* Write-only keys, decoded but not parsed (reads ignore them; the write
     * handler parses them with rest_parse_columns): NULL when absent. */
    const char *columns;     /* columns= */
    const char *on_conflict; /* on_conflict= */
} KilnRestQuery;

/* Decodes a URL component: %XX and '+' as space. Returns false on a bad
 * escape or an embedded NUL. out gets an arena string. */
bool rest_url_decode(KilnArena *a, const char *s, size_t len, char **out);

/* Parses the raw query string (what follows '?', not decoded; may be NULL or
 * empty) of a read. On success *out is an arena-owned tree. */
bool rest_parse_query(KilnArena *a, const char *query, const KilnRestLimits *lim,
                      KilnRestQuery **out, KilnError *err);

/* Parses a select value (decoded) alone, e.g. "id,name,rel(*)". */
bool rest_parse_select(KilnArena *a, const char *text, const KilnRestLimits *lim,
                       KilnSelect **out, KilnError *err);

/* Parses a comma-separated list of column names (decoded), as columns=
 * and on_conflict= carry them: `a,b` or `"a","b"` (backslash escapes in
 * quotes), whitespace around commas allowed, at most max names. On success
 * *names is an arena array of *n (>= 1) names. 400 PGRST100 otherwise,
 * with what ("columns", "on_conflict") in the message. */
bool rest_parse_columns(KilnArena *a, const char *what, const char *text, int max,
                        const char ***names, int *n, KilnError *err);

/* Parses one filter value (decoded), e.g. "not.in.(1,2)", for field. */
bool rest_parse_filter(KilnArena *a, const char *value, KilnFilter *out, KilnError *err);

#endif
