/*
 * pool.c: the libpq connection pool. Slots move between "free" and "busy"
 * only in pool_checkout/pool_checkin, under one mutex; connecting happens
 * outside the lock. Never logs; reasons go back in KilnError.
 */
#include "pool.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct KilnConn {
    PGconn *pg;           /* NULL until connected */
    KilnStmtCache *stmts; /* owned; statements prepared on pg */
    bool busy;
    int index;
};

struct KilnPool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    char *conninfo;
    char connect_timeout[16];
    const char *app_name; /* NULL: "kiln" */
    int size;
    KilnConn *slots;
};

static PGconn *pool_connect(KilnPool *pool, KilnError *err)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {pool->conninfo, pool->connect_timeout,
                          pool->app_name ? pool->app_name : "kiln", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg) {
        kiln_error_set(err, 503, "db_unavailable", "database unreachable: out of memory");
        return NULL;
    }
    if (PQstatus(pg) != CONNECTION_OK) {
        char reason[400];
        snprintf(reason, sizeof reason, "%s", PQerrorMessage(pg));
        /* libpq messages may span lines; keep the first one. */
        char *nl = strchr(reason, '\n');
        if (nl)
            *nl = '\0';
        kiln_error_set(err, 503, "db_unavailable", "database unreachable: %s", reason);
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

KilnPool *pool_create(const char *conninfo, int size, int connect_timeout_s, KilnError *err)
{
    KilnPool *pool = calloc(1, sizeof *pool);
    if (!pool)
        abort();
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->freed, NULL);
    pool->conninfo = strdup(conninfo);
    if (!pool->conninfo)
        abort();
    snprintf(pool->connect_timeout, sizeof pool->connect_timeout, "%d", connect_timeout_s);
    pool->size = size;
    pool->slots = calloc((size_t)size, sizeof *pool->slots);
    if (!pool->slots)
        abort();
    for (int i = 0; i < size; i++) {
        pool->slots[i].index = i;
        pool->slots[i].stmts = stmt_cache_create(KILN_POOL_STMT_CACHE);
    }
    pool->slots[0].pg = pool_connect(pool, err);
    if (!pool->slots[0].pg) {
        pool_free(pool);
        return NULL;
    }
    return pool;
}

/* True when the connection must not be handed out: it is bad, or its socket
 * is readable while no statement runs. Pooled connections LISTEN to nothing
 * and run nothing between requests, so anything arriving while idle is the
 * server going away (a FATAL "terminating connection" message, then EOF,
 * after pg_terminate_backend, a restart or an idle timeout). Checking costs
 * one poll(2) with a zero timeout. */
static bool conn_went_away(PGconn *pg)
{
    if (PQstatus(pg) != CONNECTION_OK)
        return true;
    struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
    if (p.fd < 0)
        return true;
    return poll(&p, 1, 0) != 0;
}

KilnConn *pool_checkout(KilnPool *pool, int timeout_ms, KilnError *err)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&pool->lock);
    KilnConn *conn = NULL;
    for (;;) {
        /* Prefer a slot that is already connected. */
        for (int i = 0; i < pool->size && !conn; i++)
            if (!pool->slots[i].busy && pool->slots[i].pg)
                conn = &pool->slots[i];
        for (int i = 0; i < pool->size && !conn; i++)
            if (!pool->slots[i].busy)
                conn = &pool->slots[i];
        if (conn)
            break;
        int rc = pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline);
        if (rc == ETIMEDOUT) {
            pthread_mutex_unlock(&pool->lock);
            kiln_error_set(err, 503, "pool_timeout",
                           "no database connection became free within %d ms", timeout_ms);
            return NULL;
        }
    }
    conn->busy = true;
    pthread_mutex_unlock(&pool->lock);

    if (conn->pg && conn_went_away(conn->pg)) {
        PQfinish(conn->pg);
        conn->pg = NULL;
        stmt_cache_clear(conn->stmts);
    }
    if (!conn->pg) {
        conn->pg = pool_connect(pool, err);
        if (!conn->pg) {
            pool_checkin(pool, conn, true);
            return NULL;
        }
    }
    return conn;
}

void pool_checkin(KilnPool *pool, KilnConn *conn, bool broken)
{
    if (!conn)
        return;
    if (conn->pg && (broken || PQstatus(conn->pg) != CONNECTION_OK ||
                     PQtransactionStatus(conn->pg) != PQTRANS_IDLE)) {
        PQfinish(conn->pg);
        conn->pg = NULL;
        stmt_cache_clear(conn->stmts);
    }
    pthread_mutex_lock(&pool->lock);
    conn->busy = false;
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->lock);
}

void pool_cancel_all(KilnPool *pool)
{
    pthread_mutex_lock(&pool->lock);
    for (int i = 0; i < pool->size; i++) {
        KilnConn *c = &pool->slots[i];
        if (!c->busy || !c->pg)
            continue;
        PGcancel *cancel = PQgetCancel(c->pg);
        if (cancel) {
            char buf[256];
            PQcancel(cancel, buf, sizeof buf);
            PQfreeCancel(cancel);
        }
    }
    pthread_mutex_unlock(&pool->lock);
}

int pool_open_count(KilnPool *pool)
{
    int n = 0;
    pthread_mutex_lock(&pool->lock);
    for (int i = 0; i < pool->size; i++)
        n += pool->slots[i].pg != NULL;
    pthread_mutex_unlock(&pool->lock);
    return n;
}

void pool_free(KilnPool *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->size; i++) {
        if (pool->slots[i].pg)
            PQfinish(pool->slots[i].pg);
        stmt_cache_free(pool->slots[i].stmts);
    }
    free(pool->slots);
    free(pool->conninfo);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->freed);
    free(pool);
}

KilnConn *pool_conn_open(const char *conninfo, const char *app_name, int connect_timeout_s,
                         KilnError *err)
{
    KilnPool tmp = {.conninfo = (char *)conninfo, .app_name = app_name};
    snprintf(tmp.connect_timeout, sizeof tmp.connect_timeout, "%d", connect_timeout_s);
    PGconn *pg = pool_connect(&tmp, err);
    if (!pg)
        return NULL;
    KilnConn *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->pg = pg;
    c->stmts = stmt_cache_create(KILN_POOL_STMT_CACHE);
    c->busy = true;
    c->index = -1;
    return c;
}

void pool_conn_close(KilnConn *conn)
{
    if (!conn)
        return;
    if (conn->pg)
        PQfinish(conn->pg);
    stmt_cache_free(conn->stmts);
    free(conn);
}

PGconn *pool_conn_pg(KilnConn *conn)
{
    return conn->pg;
}

KilnStmtCache *pool_conn_stmts(KilnConn *conn)
{
    return conn->stmts;
}
