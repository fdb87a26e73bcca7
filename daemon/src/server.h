/*
 * server.h: the running server's shared parts. Created and destroyed by
 * serve.c; read by http.c and the workers. Fields are set before the
 * listener starts and never change afterwards, except the atomics.
 */
#ifndef KILN_SERVER_H
#define KILN_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "error.h"
#include "pool.h"
#include "schema_cache.h"
#include "work.h"

typedef struct KilnServer {
    KilnPool *pool;
    KilnWork *work;
    KilnSchemaHolder *schema; /* the data API's schema cache */
    void *http;            /* http.c's state */
    atomic_int inflight;   /* requests begun and not yet completed */
    atomic_bool stopping;  /* set on SIGTERM: responses carry Connection: close */
} KilnServer;

/* http.c: binds listen_address:port and starts the event loops. On failure
 * returns false with a one-line reason and fix in err. */
bool http_start(KilnServer *srv, const KilnConfig *cfg, KilnError *err);

/* Stops accepting: the listening socket is closed, so new connections are
 * refused; accepted connections go on being served. */
void http_quiesce(KilnServer *srv);

/* Closes every connection and stops the event loops. */
void http_stop(KilnServer *srv);

#endif
