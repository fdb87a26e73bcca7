/*
 * rest_prefer.h: the Prefer request header of the data API (RFC 7240 as
 * PostgREST reads it, supabase-wire §2.7) and the Preference-Applied
 * header that echoes what a handler applied.
 *
 * Pure: no I/O, no globals but constant tables. The first occurrence of
 * each preference wins; whitespace around ',' is ignored; anything not
 * recognised is kept as invalid (a 400 PGRST122 only under
 * handling=strict, which the caller checks with rest_prefer_check).
 */
#ifndef KILN_REST_PREFER_H
#define KILN_REST_PREFER_H

#include <stdbool.h>

#include "buf.h"
#include "error.h"

typedef enum {
    KILN_RET_NONE,
    KILN_RET_MINIMAL,
    KILN_RET_HEADERS,
    KILN_RET_REPRESENTATION
} KilnPreferReturn;
typedef enum {
    KILN_COUNT_NONE,
    KILN_COUNT_EXACT,
    KILN_COUNT_PLANNED,
    KILN_COUNT_ESTIMATED
} KilnPreferCount;
typedef enum { KILN_RES_NONE, KILN_RES_MERGE, KILN_RES_IGNORE } KilnPreferResolution;
typedef enum { KILN_MISSING_NONE, KILN_MISSING_DEFAULT, KILN_MISSING_NULL } KilnPreferMissing;
typedef enum { KILN_HANDLING_NONE, KILN_HANDLING_STRICT, KILN_HANDLING_LENIENT } KilnPreferHandling;
typedef enum { KILN_TX_NONE, KILN_TX_COMMIT, KILN_TX_ROLLBACK } KilnPreferTx;
typedef enum { KILN_PARAMS_NONE, KILN_PARAMS_SINGLE } KilnPreferParams;

#define KILN_PREFER_MAX_INVALID 8

typedef struct KilnPrefer {
    KilnPreferReturn ret;
    KilnPreferCount count;
    KilnPreferResolution resolution;
    KilnPreferMissing missing;
    KilnPreferHandling handling;
    KilnPreferTx tx;        /* KILN_TX_NONE unless tx overrides are allowed */
    KilnPreferParams params; /* params=single-object (RPC POST) */
    long long max_affected; /* -1: not given (or not a whole number) */
    /* unrecognised preferences, as written (trimmed, cut to 63 bytes);
     * ninvalid may exceed KILN_PREFER_MAX_INVALID (the rest are counted) */
    char invalid[KILN_PREFER_MAX_INVALID][64];
    int ninvalid;
} KilnPrefer;

/* Parses the header value (NULL or "" for none) into out. tx=commit and
 * tx=rollback are recognised either way but only recorded in out->tx when
 * allow_tx (PostgREST's db-tx-end=*-allow-override). Never fails. */
void rest_prefer_parse(const char *header, bool allow_tx, KilnPrefer *out);

/* handling=strict with unrecognised preferences: false with 400 PGRST122,
 * details "Invalid preferences: a, b". */
bool rest_prefer_check(const KilnPrefer *p, KilnError *err);

/* Which preferences a handler applied, for Preference-Applied. */
typedef struct KilnPreferApplied {
    bool resolution, missing, ret, count, params, tx, handling, max_affected;
} KilnPreferApplied;

/* Appends the Preference-Applied value: the applied preferences that were
 * given, in PostgREST's order (resolution, missing, return, count, params,
 * tx, handling, max-affected), joined by ", ". Appends nothing when none. */
void rest_prefer_applied(const KilnPrefer *p, const KilnPreferApplied *which, KilnBuf *out);

#endif
