/*
 * health.c: /health (liveness), /health/ready (readiness: one SELECT 1 on a
 * pooled connection) and the test-only /debug/sleep.
 */
#include <stdio.h>
#include <stdlib.h>

#include "route.h"
#include "tx.h"

bool health_live(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
                 KilnError *err)
{
    (void)req, (void)conn, (void)conn_broken, (void)err;
    response_json(res, 200, "{\"status\":\"ok\"}");
    return true;
}

bool health_ready(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
                  KilnError *err)
{
    (void)req;
    if (!tx_exec_scalar(conn, "SELECT 1", 0, NULL, NULL, conn_broken, err)) {
        kiln_error_set(err, 503, "db_unavailable", "database unreachable");
        return false;
    }
    response_json(res, 200, "{\"status\":\"ready\"}");
    return true;
}

bool debug_sleep(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
                 KilnError *err)
{
    const char *ms_text = request_query(req, "ms");
    char *end = NULL;
    long ms = ms_text ? strtol(ms_text, &end, 10) : -1;
    if (!ms_text || *end != '\0' || ms < 0 || ms > 60000)
        return kiln_error_set(err, 400, "bad_request", "ms must be a whole number from 0 to 60000");
    char secs[32];
    snprintf(secs, sizeof secs, "%ld.%03ld", ms / 1000, ms % 1000);
    const char *params[] = {secs};
    if (!tx_exec_scalar(conn, "SELECT pg_catalog.pg_sleep($1::float8)", 1, params, NULL,
                        conn_broken, err))
        return false;
    char body[64];
    snprintf(body, sizeof body, "{\"slept_ms\":%ld}", ms);
    response_json(res, 200, body);
    return true;
}
