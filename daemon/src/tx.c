/*
 * tx.c: executing statements on pooled connections and mapping database
 * failures to KilnError (through the SQLSTATE -> HTTP table in error.c).
 * Connection-level failures map to 503; 5xx never carry the database's
 * message. tx_read sends a whole request transaction in one round trip
 * (libpq pipeline mode). Statements are not prepared yet: caching prepared
 * statements per connection is the next step for the fast path.
 */
#include "tx.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool tx_exec_scalar(KilnConn *conn, const char *sql, int nparams, const char *const *params,
                    KilnBuf *out, bool *broken, KilnError *err)
{
    PGconn *pg = pool_conn_pg(conn);
    PGresult *res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    bool ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
    if (ok) {
        if (out && PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
            buf_append(out, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
    } else if (PQstatus(pg) != CONNECTION_OK) {
        *broken = true;
        kiln_error_set(err, 503, "db_unavailable", "the database connection was lost");
    } else {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        if (state && strcmp(state, "57014") == 0)
            kiln_error_set(err, 503, "canceled", "the statement was canceled");
        else
            kiln_error_set(err, 500, "internal", "the database reported an error");
    }
    PQclear(res);
    return ok;
}

int tx_wait_notify(KilnConn *conn, int timeout_ms, char *payload, size_t len)
{
    PGconn *pg = pool_conn_pg(conn);
    payload[0] = '\0';
    for (;;) {
        if (!PQconsumeInput(pg))
            return -1;
        PGnotify *n = PQnotifies(pg);
        if (n) {
            snprintf(payload, len, "%s", n->extra ? n->extra : "");
            PQfreemem(n);
            return 1;
        }
        if (timeout_ms <= 0)
            return 0;
        struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
        if (p.fd < 0)
            return -1;
        int r = poll(&p, 1, timeout_ms);
        if (r < 0)
            return errno == EINTR ? 0 : -1;
        timeout_ms = 0; /* one wait; then report what arrived */
        if (r == 0)
            return 0;
    }
}

/* Reads one pipelined statement's results: the first result, then the NULL
 * that ends it. Returns the first result (caller clears). */
static PGresult *next_result(PGconn *pg)
{
    PGresult *r = PQgetResult(pg);
    if (!r)
        return NULL;
    PGresult *extra;
    while ((extra = PQgetResult(pg)) != NULL)
        PQclear(extra);
    return r;
}

/* Fills err from a failed statement's result. */
static void db_error(PGresult *r, bool anon, KilnError *err)
{
    kiln_error_from_db(err, PQresultErrorField(r, PG_DIAG_SQLSTATE),
                       PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY),
                       PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL),
                       PQresultErrorField(r, PG_DIAG_MESSAGE_HINT), anon);
}

bool tx_read(KilnConn *conn, const KilnTxRead *in, KilnTxResult *out, bool *broken,
             KilnError *err)
{
    PGconn *pg = pool_conn_pg(conn);
    out->total = -1;
    out->page_rows = 0;
    out->role[0] = '\0';
    const char *auth_params[] = {in->token, in->meta};
    if (!PQenterPipelineMode(pg) ||
        !PQsendQueryParams(pg, in->begin_sql, 0, NULL, NULL, NULL, NULL, 0) ||
        !PQsendQueryParams(pg, in->auth_sql, 2, NULL, auth_params, NULL, NULL, 0) ||
        !PQsendQueryParams(pg, in->sql, in->nparams, NULL, in->params, NULL, NULL, 0) ||
        !PQsendQueryParams(pg, in->commit_sql, 0, NULL, NULL, NULL, NULL, 0) ||
        !PQpipelineSync(pg)) {
        *broken = true;
        return kiln_error_set(err, 503, "db_unavailable", "the database connection was lost");
    }
    bool ok = true, anon = true;
    for (int stage = 0; stage < 4; stage++) {
        PGresult *r = next_result(pg);
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (!r) {
            *broken = true;
            kiln_error_set(err, 503, "db_unavailable", "the database connection was lost");
            ok = false;
            break;
        }
        if (st == PGRES_PIPELINE_ABORTED) {
            PQclear(r);
            continue;
        }
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            if (ok) {
                if (PQstatus(pg) != CONNECTION_OK) {
                    *broken = true;
                    kiln_error_set(err, 503, "db_unavailable", "the database connection was lost");
                } else {
                    db_error(r, anon, err);
                }
            }
            ok = false;
            PQclear(r);
            continue;
        }
        if (stage == 1 && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
            snprintf(out->role, sizeof out->role, "%s", PQgetvalue(r, 0, 0));
            anon = strcmp(out->role, "anon") == 0;
        } else if (stage == 2 && PQntuples(r) == 1 && PQnfields(r) >= 3) {
            buf_append(&out->body, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
            out->page_rows = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
            if (!PQgetisnull(r, 0, 2))
                out->total = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        }
        PQclear(r);
    }
    if (!*broken) {
        /* The sync that ends the pipeline. */
        PGresult *r = PQgetResult(pg);
        if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC)
            *broken = true;
        PQclear(r);
        if (!*broken && !PQexitPipelineMode(pg))
            *broken = true;
    }
    if (!*broken && PQtransactionStatus(pg) != PQTRANS_IDLE) {
        /* A failed statement leaves the transaction aborted: one more round
         * trip, on the error path only. */
        PGresult *r = PQexec(pg, in->rollback_sql);
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
            *broken = true;
        PQclear(r);
    }
    if (*broken && ok) {
        ok = false;
        kiln_error_set(err, 503, "db_unavailable", "the database connection was lost");
    }
    return ok;
}
