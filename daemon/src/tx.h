/*
 * tx.h: running statements on a checked-out connection.
 *
 * One request, one round trip: callers pass the request's statement and
 * tx_run sends it after kiln.authenticate in one pipeline. Values always travel
 * as bind parameters. Errors come back as KilnError with the HTTP status the
 * SQLSTATE maps to; the database's text never reaches a client for 5xx.
 */
#ifndef KILN_TX_H
#define KILN_TX_H

#include <stdbool.h>

#include "buf.h"
#include "error.h"
#include "pool.h"

/* Runs sql with text parameters and appends the first column of the first
 * row (if any) to out (may be NULL). Returns false with err on failure;
 * *broken is set when the connection must not be reused. */
bool tx_exec_scalar(KilnConn *conn, const char *sql, int nparams, const char *const *params,
                    KilnBuf *out, bool *broken, KilnError *err);

/* Waits up to timeout_ms for a NOTIFY on a LISTENing connection. Returns 1
 * with the payload copied (truncated to len), 0 on timeout, -1 when the
 * connection is broken. */
int tx_wait_notify(KilnConn *conn, int timeout_ms, char *payload, size_t len);

/* A request's transaction, sent as one pipeline. All SQL text comes from
 * sql.c: tx adds kiln.authenticate itself, and BEGIN ... ROLLBACK only for
 * rollback (otherwise the pipeline's implicit transaction commits at its
 * sync). */
typedef struct KilnTx {
    bool write;        /* read-write transaction (default: read-only, set by
                        * kiln.authenticate's read_only argument) */
    bool rollback;     /* end with ROLLBACK even on success (Prefer: tx=rollback) */
    const char *token; /* NULL: anon */
    /* what kiln.authenticate records (NULL: none); tx makes the
     * transaction read-only unless write */
    const char *request_id;
    const char *client_ip;
    const char *sql;   /* the statement: one row (body, page_rows, total[, extra]) */
    bool row_set;      /* sql returns one JSON object per row instead: the
                        * body becomes their array, page_rows their count */
    int nparams;
    const char *const *params;
    unsigned long generation; /* of the schema snapshot sql was planned
                               * from: a change drops the connection's
                               * prepared statements */
} KilnTx;

typedef struct KilnTxResult {
    KilnBuf body;        /* caller-owned buffer, appended to */
    long long page_rows;
    long long total;     /* -1: not counted */
    KilnBuf extra;       /* caller-owned: the optional 4th column (e.g. the
                          * primary key of an inserted row), appended to */
    char role[32];       /* what kiln.authenticate returned */
} KilnTxResult;

/* Runs authenticate; statement; sync in one round trip: one implicit
 * transaction, committed by the sync, rolled back by it when anything
 * failed (a commit-time failure, e.g. a deferred constraint, is reported
 * like a statement's). With rollback: BEGIN; authenticate; statement;
 * ROLLBACK (plus a ROLLBACK round trip when a statement failed). The
 * connection is idle, outside any transaction, afterwards unless *broken.
 * authenticate and the
 * statement run as prepared statements cached on conn (prepared in the
 * same pipeline on a miss); a cached statement that fails because the
 * schema changed under it (SQLSTATE 0A000 "cached plan must not change
 * result type", or 42883 / 42804 when a column's type changed) is dropped
 * and the whole transaction retried once. Returns false with err
 * mapped through the SQLSTATE table; *broken when the connection must not
 * be reused. */
bool tx_run(KilnConn *conn, const KilnTx *in, KilnTxResult *out, bool *broken,
             KilnError *err);

#endif
