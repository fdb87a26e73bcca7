/*
 * route.h: the route table: which handler serves which path and methods.
 */
#ifndef KILN_ROUTE_H
#define KILN_ROUTE_H

#include <stdbool.h>

#include "pool.h"
#include "request.h"

enum {
    KILN_GET = 1 << 0,
    KILN_HEAD = 1 << 1,
    KILN_POST = 1 << 2,
    KILN_PUT = 1 << 3,
    KILN_PATCH = 1 << 4,
    KILN_DELETE = 1 << 5,
    KILN_OPTIONS = 1 << 6,
};

/* A handler fills res (or returns false with err, which the caller renders).
 * conn is a checked-out database connection for routes with needs_db, NULL
 * otherwise; a handler that finds it broken sets *conn_broken. Handlers of
 * needs_db routes run on worker threads. */
typedef bool (*KilnHandler)(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
                            KilnError *err);

typedef struct KilnRoute {
    const char *path;   /* exact path, or a prefix when `prefix` */
    unsigned methods;   /* KILN_* mask */
    bool needs_db;      /* run on a worker with a pooled connection */
    bool debug_only;    /* only when debug_endpoints = true */
    KilnHandler handler;
    const char *summary; /* for docs */
    bool prefix;        /* path is a prefix ending in '/': matches it and below */
} KilnRoute;

/* Method name -> KILN_* bit, 0 when unknown. */
unsigned route_method_bit(const char *method);

/* Finds the route for path and method. Returns NULL with err 404 (no such
 * path) or 405 (path exists, method not allowed; *allow then lists the
 * allowed methods, e.g. "GET, HEAD"). */
const KilnRoute *route_find(const char *path, const char *method, bool debug_endpoints,
                            char *allow, size_t allow_len, KilnError *err);

/* Handlers (health.c). */
bool health_live(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
                 KilnError *err);
bool health_ready(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
                  KilnError *err);
/* The data API (rest.c). */
bool rest_read(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
               KilnError *err);
/* Function calls (rest_rpc.c) and the OpenAPI description (openapi.c). */
bool rest_rpc(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
              KilnError *err);
bool rest_openapi(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
                  KilnError *err);
bool debug_sleep(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
                 KilnError *err);

#endif
