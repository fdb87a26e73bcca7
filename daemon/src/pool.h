/*
 * pool.h: a fixed-size pool of libpq connections.
 *
 * Connections open lazily on checkout and are checked before reuse: one whose
 * server went away (terminated backend, restart) is replaced, and one returned
 * in any state but idle-and-OK (open transaction, failed transaction, broken
 * socket) is closed, never handed out again. Pooled connections carry no
 * session state: everything a request sets is transaction-local, with one
 * deliberate exception (as in PostgREST, and PgBouncer since 1.21):
 * prepared statements. Each pooled connection owns a KilnStmtCache naming
 * the statements it has prepared (by exact SQL text, LRU-bounded at
 * KILN_POOL_STMT_CACHE entries); the cache is emptied whenever the
 * connection is replaced, and tx.c drops the server's statements when the
 * schema cache generation changes. Prepared statements carry no identity:
 * the role and request context are still set per transaction.
 * Thread-safe. pool.c and tx.c are the only files that include libpq-fe.h.
 */
#ifndef KILN_POOL_H
#define KILN_POOL_H

#include <stdbool.h>

#include "error.h"
#include "stmt_cache.h"

/* Prepared statements cached per pooled connection. */
#define KILN_POOL_STMT_CACHE 256

typedef struct KilnPool KilnPool;
typedef struct KilnConn KilnConn; /* a checked-out connection */

/* Creates a pool of `size` connections to conninfo (a libpq URI or
 * key=value string; a connect_timeout is added). Opens one connection
 * to check the database is reachable; on failure returns NULL with err
 * ("database unreachable: <libpq reason>; ..."). The pool copies conninfo. */
KilnPool *pool_create(const char *conninfo, int size, int connect_timeout_s, KilnError *err);

/* Waits up to timeout_ms for a free connection, connecting it if needed.
 * Returns NULL with err 503 "pool_timeout" or 503 "db_unavailable". */
KilnConn *pool_checkout(KilnPool *pool, int timeout_ms, KilnError *err);

/* Returns a connection. If it is not idle and healthy, or `broken` is set,
 * it is closed and its slot reconnects on the next checkout. */
void pool_checkin(KilnPool *pool, KilnConn *conn, bool broken);

/* Sends a cancel request to every checked-out connection (shutdown). */
void pool_cancel_all(KilnPool *pool);

/* Number of connections currently open (for metrics and tests). */
int pool_open_count(KilnPool *pool);

/* The libpq handle of a checked-out connection, for tx.c only. */
struct pg_conn *pool_conn_pg(KilnConn *conn);

/* The prepared-statement cache of a checked-out connection, for tx.c only:
 * owned by the connection, emptied by the pool when the connection is
 * replaced; only the thread holding the connection may touch it. */
KilnStmtCache *pool_conn_stmts(KilnConn *conn);

/* A connection outside any pool (the schema watcher's LISTEN connection),
 * with its own application_name. Returns NULL with err 503
 * "db_unavailable". Close it with pool_conn_close (NULL is a no-op); never
 * check it in. Pooled connections are named "kiln". */
KilnConn *pool_conn_open(const char *conninfo, const char *app_name, int connect_timeout_s,
                         KilnError *err);
void pool_conn_close(KilnConn *conn);

/* Closes every connection; all must be checked in. NULL is a no-op. */
void pool_free(KilnPool *pool);

#endif
