/*
 * tx.c: executing statements on pooled connections and mapping database
 * failures to KilnError. The full SQLSTATE -> HTTP table arrives with the
 * data API; here connection-level failures map to 503 and everything else
 * to a generic 500 whose text never carries the database's message.
 */
#include "tx.h"

#include <libpq-fe.h>
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
