/*
 * tx.h: running statements on a checked-out connection.
 *
 * One request, one round trip: callers pass a whole statement (later, a
 * pipeline of begin; authenticate; statement; commit). Values always travel
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

#endif
