/*
 * tx.c: executing statements on pooled connections and mapping database
 * failures to KilnError (through the SQLSTATE -> HTTP table in error.c).
 * Connection-level failures map to 503; 5xx never carry the database's
 * message. tx_run sends a whole request transaction in one round trip
 * (libpq pipeline mode): kiln.authenticate and the generated statement,
 * then a sync. The two are the implicit transaction of the extended
 * protocol (no BEGIN, no COMMIT: the sync commits, or rolls back after a
 * failure); a read passes read_only to kiln.authenticate, which makes the
 * transaction read-only before the statement runs. Only Prefer:
 * tx=rollback is wrapped in BEGIN ... ROLLBACK. Both statements run as
 * named prepared statements cached per pooled connection (pool_conn_stmts,
 * keyed by exact SQL text): a miss is prepared inside the same pipeline,
 * so a request stays one round trip. Never logs.
 */
#include "tx.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sql.h"

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

/* What each result of a request pipeline answers, in order. */
typedef enum { R_DEALLOC, R_SYNC, R_BEGIN, R_PREPARE, R_EXEC, R_END } ResultKind;

typedef struct Expect {
    ResultKind kind;
    int stage; /* R_PREPARE, R_EXEC: 0 authenticate, 1 the statement */
} Expect;

/* A parameterised statement of the pipeline, run as a cached prepared
 * statement. */
typedef struct Prepared {
    const char *sql;
    int nparams;
    const char *const *params;
    char name[KILN_STMT_NAME_MAX];
    bool hit; /* prepared by an earlier request */
} Prepared;

/* 1 DEALLOCATE ALL or up to KILN_STMT_PENDING_MAX DEALLOCATEs and a sync,
 * then BEGIN, 2 x (prepare, execute), ROLLBACK, sync. */
#define TX_MAX_RESULTS (KILN_STMT_PENDING_MAX + 9)

/* Only Prefer: tx=rollback needs an explicit transaction block. Otherwise
 * the request is the implicit transaction of the extended protocol:
 * everything up to the sync, committed by the sync when nothing failed and
 * rolled back by it when something did (so a failure costs no extra round
 * trip). A read stays read-only through kiln.authenticate's read_only. */
static bool tx_explicit(const KilnTx *in)
{
    return in->rollback;
}

/* Queues the whole request transaction. Statements the cache says this
 * connection has not prepared are prepared in the same pipeline, right
 * before their first execution; DEALLOCATEs the cache asks for run first,
 * in their own implicit transaction (ended by a sync) so they never touch
 * the request's transaction. Returns false when libpq could not queue
 * (the connection is then unusable). */
static bool send_tx(PGconn *pg, KilnStmtCache *cache, const KilnTx *in, Prepared st[2],
                    Expect *ex, int *nex)
{
    int n = 0;
    if (!PQenterPipelineMode(pg))
        return false;
    bool all = stmt_cache_begin(cache, in->generation);
    char pending[KILN_STMT_PENDING_MAX][KILN_STMT_NAME_MAX];
    int npending = stmt_cache_take_pending(cache, pending, KILN_STMT_PENDING_MAX);
    if (all && !PQsendQueryParams(pg, sql_deallocate_all(), 0, NULL, NULL, NULL, NULL, 0))
        return false;
    if (all)
        ex[n++] = (Expect){R_DEALLOC, 0};
    for (int i = 0; i < npending; i++) {
        KilnBuf b = KILN_BUF_INIT;
        sql_deallocate(&b, pending[i]);
        bool sent = PQsendQueryParams(pg, buf_str(&b), 0, NULL, NULL, NULL, NULL, 0);
        buf_free(&b);
        if (!sent)
            return false;
        ex[n++] = (Expect){R_DEALLOC, 0};
    }
    if (n > 0) {
        if (!PQpipelineSync(pg))
            return false;
        ex[n++] = (Expect){R_SYNC, 0};
    }
    bool explicit = tx_explicit(in);
    if (explicit) {
        if (!PQsendQueryParams(pg, in->write ? sql_begin_write() : sql_begin_read(), 0, NULL,
                               NULL, NULL, NULL, 0))
            return false;
        ex[n++] = (Expect){R_BEGIN, 0};
    }
    for (int s = 0; s < 2; s++) {
        st[s].hit = stmt_cache_lookup(cache, st[s].sql, st[s].name);
        if (!st[s].hit) {
            if (!PQsendPrepare(pg, st[s].name, st[s].sql, st[s].nparams, NULL))
                return false;
            ex[n++] = (Expect){R_PREPARE, s};
        }
        if (!PQsendQueryPrepared(pg, st[s].name, st[s].nparams, st[s].params, NULL, NULL, 0))
            return false;
        ex[n++] = (Expect){R_EXEC, s};
    }
    if (explicit) {
        if (!PQsendQueryParams(pg, sql_rollback(), 0, NULL, NULL, NULL, NULL, 0))
            return false;
        ex[n++] = (Expect){R_END, 0};
    }
    if (!PQpipelineSync(pg))
        return false;
    ex[n++] = (Expect){R_SYNC, 0};
    *nex = n;
    return true;
}

/* SQLSTATEs with which a statement prepared by an earlier request fails
 * when the schema changed under it: 0A000 "cached plan must not change
 * result type"; 42883 / 42804 when a column's type changed and the
 * parameter types inferred at prepare time no longer fit (an unprepared
 * statement would infer new ones). */
static bool stale_state(const char *state)
{
    static const char *const states[] = {"0A000", "42883", "42804"};
    for (size_t i = 0; state && i < sizeof states / sizeof *states; i++)
        if (strcmp(state, states[i]) == 0)
            return true;
    return false;
}

/* Reads what a sync answers: PGRES_PIPELINE_SYNC, preceded by an error
 * when the implicit transaction failed to commit (a deferred constraint, a
 * serialization failure), which goes to err unless one is there already.
 * Returns false when the connection is broken. */
static bool read_sync(PGconn *pg, bool *ok, bool anon, KilnError *err)
{
    for (int i = 0; i < 4; i++) {
        PGresult *r = PQgetResult(pg);
        if (!r)
            return false;
        ExecStatusType rs = PQresultStatus(r);
        if (rs == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            return true;
        }
        if (rs != PGRES_FATAL_ERROR) {
            PQclear(r);
            return false;
        }
        if (*ok)
            db_error(r, anon, err);
        *ok = false;
        PQclear(r);
        /* The error's result is followed by a NULL, then the sync. */
        r = PQgetResult(pg);
        if (r) {
            PQclear(r);
            return false;
        }
    }
    return false;
}

/* A row-set statement's rows (one JSON object each) as the body: their
 * array, as json_agg would have written it, and their count. */
static void row_set_body(const PGresult *r, KilnTxResult *out)
{
    int n = PQntuples(r);
    buf_putc(&out->body, '[');
    for (int row = 0; row < n; row++) {
        if (row)
            buf_putc(&out->body, ',');
        if (PQgetisnull(r, row, 0))
            buf_puts(&out->body, "null");
        else
            buf_append(&out->body, PQgetvalue(r, row, 0), (size_t)PQgetlength(r, row, 0));
    }
    buf_putc(&out->body, ']');
    out->page_rows = n;
}

/* One attempt at tx_run. *stale is set when a cached statement failed
 * because the schema changed under it (stale_state): its entry is dropped
 * and the caller may try once more. */
static bool tx_run_once(KilnConn *conn, const KilnTx *in, KilnTxResult *out, bool *broken,
                         bool *stale, KilnError *err)
{
    PGconn *pg = pool_conn_pg(conn);
    KilnStmtCache *cache = pool_conn_stmts(conn);
    out->total = -1;
    out->page_rows = 0;
    out->role[0] = '\0';
    const char *auth_params[] = {in->token, in->request_id, in->client_ip,
                                 in->write ? "false" : "true"};
    Prepared st[2] = {{.sql = sql_authenticate(), .nparams = 4, .params = auth_params},
                      {.sql = in->sql, .nparams = in->nparams, .params = in->params}};
    Expect ex[TX_MAX_RESULTS];
    int nex = 0;
    bool sent = send_tx(pg, cache, in, st, ex, &nex);
    if (!sent) {
        *broken = true;
        return kiln_error_set(err, 503, "db_unavailable", "the database connection was lost");
    }
    bool ok = true, anon = true;
    for (int i = 0; i < nex && !*broken; i++) {
        if (ex[i].kind == R_SYNC) {
            if (!read_sync(pg, &ok, anon, err))
                *broken = true;
            continue;
        }
        PGresult *r = next_result(pg);
        if (!r) {
            *broken = true;
            break;
        }
        ExecStatusType rs = PQresultStatus(r);
        const Prepared *p =
            ex[i].kind == R_PREPARE || ex[i].kind == R_EXEC ? &st[ex[i].stage] : NULL;
        if (rs == PGRES_PIPELINE_ABORTED) {
            /* An earlier statement failed: this one never ran. */
            if (ex[i].kind == R_PREPARE)
                stmt_cache_drop(cache, p->sql, false);
            PQclear(r);
            continue;
        }
        if (rs != PGRES_TUPLES_OK && rs != PGRES_COMMAND_OK) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            if (ex[i].kind == R_DEALLOC)
                *broken = true; /* the cache and the server disagree */
            else if (ex[i].kind == R_PREPARE)
                stmt_cache_drop(cache, p->sql, false);
            else if (ex[i].kind == R_EXEC && p->hit && stale_state(state)) {
                stmt_cache_drop(cache, p->sql, true);
                *stale = true;
            }
            if (ok && PQstatus(pg) == CONNECTION_OK)
                db_error(r, anon, err);
            else if (PQstatus(pg) != CONNECTION_OK)
                *broken = true;
            ok = false;
            PQclear(r);
            continue;
        }
        if (ex[i].kind == R_EXEC && ex[i].stage == 0 && PQntuples(r) == 1 &&
            !PQgetisnull(r, 0, 0)) {
            snprintf(out->role, sizeof out->role, "%s", PQgetvalue(r, 0, 0));
            anon = strcmp(out->role, "anon") == 0;
        } else if (ex[i].kind == R_EXEC && ex[i].stage == 1 && in->row_set &&
                   PQnfields(r) == 1) {
            row_set_body(r, out);
        } else if (ex[i].kind == R_EXEC && ex[i].stage == 1 && PQntuples(r) == 1 &&
                   PQnfields(r) >= 3) {
            buf_append(&out->body, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
            out->page_rows = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
            if (!PQgetisnull(r, 0, 2))
                out->total = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
            if (PQnfields(r) >= 4 && !PQgetisnull(r, 0, 3))
                buf_append(&out->extra, PQgetvalue(r, 0, 3), (size_t)PQgetlength(r, 0, 3));
        }
        PQclear(r);
    }
    if (!*broken && !PQexitPipelineMode(pg))
        *broken = true;
    if (!*broken && PQtransactionStatus(pg) != PQTRANS_IDLE) {
        /* Only an explicit block (tx=rollback) whose statement failed is
         * left open (aborted): one more round trip, on that path only. */
        PGresult *r = PQexec(pg, sql_rollback());
        if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
            *broken = true;
        PQclear(r);
    }
    if (*broken) {
        /* Whatever failed first, a lost connection is what the client
         * hears about (503); a database error's text never mixes in. */
        ok = false;
        kiln_error_set(err, 503, "db_unavailable", "the database connection was lost");
    }
    return ok;
}

bool tx_run(KilnConn *conn, const KilnTx *in, KilnTxResult *out, bool *broken,
             KilnError *err)
{
    bool stale = false;
    bool ok = tx_run_once(conn, in, out, broken, &stale, err);
    if (!ok && stale && !*broken) {
        /* The stale entry was dropped: prepare afresh, once. */
        stale = false;
        ok = tx_run_once(conn, in, out, broken, &stale, err);
    }
    return ok;
}
