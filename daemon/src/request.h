/*
 * request.h: the request and response a handler sees.
 *
 * A KilnRequest is created by http.c when a request's headers are complete
 * and freed in the completion callback; handlers may keep nothing of it.
 * Header and argument lookups go through http.c (the only file that knows
 * libmicrohttpd) and return pointers valid until the request ends.
 * A KilnResponse is filled by exactly one handler (or error_respond) and
 * handed to http.c, which sends it and frees its parts.
 */
#ifndef KILN_REQUEST_H
#define KILN_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "error.h"

struct KilnServer;

typedef struct KilnHeader {
    char *name; /* owned */
    char *value; /* owned */
} KilnHeader;

typedef struct KilnResponse {
    int status;
    const char *content_type; /* static string; default application/json (a
                               * Content-Type in headers takes its place) */
    KilnBuf body;
    KilnHeader headers[16];
    int nheaders;
} KilnResponse;

/* Stage timings in microseconds, filled as the request moves along. */
typedef struct KilnTimings {
    int64_t start_us;    /* first handler call (headers read) */
    int64_t dispatch_us; /* body read, handler about to run */
    int64_t pool_us;     /* waiting for a worker and a connection */
    int64_t db_us;       /* time in the database */
    int64_t done_us;     /* response queued */
} KilnTimings;

typedef struct KilnRequest {
    char request_id[33];
    const char *method; /* owned by the HTTP layer */
    const char *path;   /* owned by the HTTP layer; without the query string */
    const char *query;  /* owned by the HTTP layer: the raw query string after
                         * '?', not decoded; NULL when the target has none */
    KilnBuf body;
    KilnConfig *cfg;    /* snapshot for this request (one reference) */
    struct KilnServer *server;
    KilnTimings t;
    void *http;         /* the HTTP layer's connection; opaque */
    char client_ip[46]; /* the client's address (proxy.h: the peer, or from
                         * X-Forwarded-For behind trusted_proxies); "" unknown */
} KilnRequest;

/* Lookups (http.c). Return NULL when absent. Safe from worker threads while
 * the request is suspended. */
const char *request_header(const KilnRequest *req, const char *name);
const char *request_query(const KilnRequest *req, const char *name);
/* The client's IP address as text into out; false (out "") when unknown.
 * Behind a trusted proxy (config trusted_proxies) it is the address
 * X-Forwarded-For names (proxy.h), else the TCP peer's. */
bool request_client_ip(const KilnRequest *req, char *out, size_t len);

/* Monotonic clock in microseconds. */
int64_t kiln_now_us(void);

/* Response building (response.c). */
void response_set_header(KilnResponse *res, const char *name, const char *value);
/* A JSON body; status and text as given. */
void response_json(KilnResponse *res, int status, const char *json);
/* Renders err as {"code":..,"message":..}; 5xx keep only generic text. */
void response_error(KilnResponse *res, const KilnError *err);
void response_free(KilnResponse *res);

#endif
