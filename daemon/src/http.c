/*
 * http.c: the HTTP layer on libmicrohttpd, and the only file that includes
 * microhttpd.h.
 *
 * Event loops: MHD's internal epoll threads (threads = cores by default)
 * read requests and write responses and never block. A request whose route
 * needs the database is suspended and handed to a worker (work.c), which
 * checks out a pooled connection, runs the handler and resumes it.
 * Every response carries a request id and the security headers, and the
 * CORS headers cors.c decides; OPTIONS on a known path is answered here (a
 * CORS preflight, or Allow). Every request ends with one access-log line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cors.h"
#include "log.h"
#include "proxy.h"
#include "route.h"
#include "server.h"

typedef enum { ST_READING, ST_WAITING, ST_READY } CtxState;

typedef struct HttpCtx {
    KilnRequest req;
    KilnResponse res;
    KilnJob job;
    CtxState state;
    const KilnRoute *route;
    struct MHD_Connection *conn;
    bool body_too_large;
    bool started;  /* on_request has set the request up */
    char *raw_uri; /* the request target as sent (path and query), owned */
    size_t sent_bytes;
    bool preflight; /* answered as a CORS preflight: its headers are set */
} HttpCtx;

typedef struct HttpState {
    struct MHD_Daemon *mhd;
    int listen_fd;
} HttpState;

const char *request_header(const KilnRequest *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->http, MHD_HEADER_KIND, name);
}

const char *request_query(const KilnRequest *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->http,
                                       MHD_GET_ARGUMENT_KIND, name);
}

bool request_client_ip(const KilnRequest *req, char *out, size_t len)
{
    snprintf(out, len, "%s", req->client_ip);
    return out[0] != '\0' && strlen(req->client_ip) < len;
}

/* The TCP peer's address as text into out (len >= INET6_ADDRSTRLEN); ""
 * when it is not an IP address (a UNIX socket). */
static void peer_address(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    const void *a = sa->sa_family == AF_INET    ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                    : sa->sa_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                                                : NULL;
    if (!a || !inet_ntop(sa->sa_family, a, out, (socklen_t)len))
        out[0] = '\0';
}

/* Appends one X-Forwarded-For header's value to the list in cls (a
 * KilnBuf), comma-separated: several headers are one list, in order. */
static enum MHD_Result collect_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    KilnBuf *b = cls;
    if (key && value && strcasecmp(key, "X-Forwarded-For") == 0) {
        if (b->len)
            buf_puts(b, ", ");
        buf_puts(b, value);
    }
    return MHD_YES;
}

/* Sets req->client_ip: the peer, or behind a trusted proxy the client
 * X-Forwarded-For names (proxy.h). A header that cannot be read is
 * ignored, and said once at debug. */
static void resolve_client_ip(KilnRequest *req, struct MHD_Connection *conn)
{
    char peer[INET6_ADDRSTRLEN];
    peer_address(conn, peer, sizeof peer);
    const char *trusted = req->cfg->trusted_proxies;
    if (!trusted || !*trusted || !proxy_trusted(trusted, peer)) {
        proxy_client_ip(NULL, peer, NULL, req->client_ip, sizeof req->client_ip);
        return;
    }
    KilnBuf xff = KILN_BUF_INIT;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_xff, &xff);
    KilnProxyVerdict v = proxy_client_ip(trusted, peer, xff.len ? buf_str(&xff) : NULL,
                                         req->client_ip, sizeof req->client_ip);
    if (v == KILN_PROXY_MALFORMED && log_enabled(KILN_LOG_DEBUG)) {
        KilnBuf f = KILN_BUF_INIT;
        buf_puts(&f, "\"request_id\":");
        buf_put_json_string(&f, req->request_id);
        buf_puts(&f, ",\"peer\":");
        buf_put_json_string(&f, peer);
        /* The right end is what the walk read: at most its last 200 bytes. */
        bool cut = xff.len > 200;
        buf_puts(&f, cut ? ",\"x_forwarded_for_tail\":" : ",\"x_forwarded_for\":");
        buf_put_json_string(&f, buf_str(&xff) + (cut ? xff.len - 200 : 0));
        log_write(KILN_LOG_DEBUG, "malformed X-Forwarded-For from a trusted proxy ignored; the "
                                  "peer counts as the client", buf_str(&f));
        buf_free(&f);
    }
    buf_free(&xff);
}

/* A request id: 16 random bytes in hex. The bytes come from a per-thread
 * buffer refilled by getrandom 16 ids at a time (one system call per 16
 * requests instead of one each). */
static void make_request_id(char out[33])
{
    static __thread unsigned char pool[16 * 16]; /* <= 256: never a short read */
    static __thread size_t used = sizeof pool;
    if (used == sizeof pool) {
        if (getrandom(pool, sizeof pool, 0) != (ssize_t)sizeof pool)
            abort();
        used = 0;
    }
    const unsigned char *raw = pool + used;
    used += 16;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
}

/* The request's CORS inputs (header values owned by libmicrohttpd). */
static KilnCorsInput cors_input(const HttpCtx *ctx, const char *allow)
{
    KilnCorsInput in = {
        .allowlist = ctx->req.cfg->cors_allowed_origins,
        .origin = request_header(&ctx->req, "Origin"),
        .request_method = request_header(&ctx->req, "Access-Control-Request-Method"),
        .request_headers = request_header(&ctx->req, "Access-Control-Request-Headers"),
        .allow_methods = allow,
    };
    return in;
}

/* OPTIONS on a path that exists (allow: its methods): a CORS preflight gets
 * 204 with the CORS headers, or 403 when the origin is not allowed; a plain
 * OPTIONS gets 204 with Allow. */
static void answer_options(HttpCtx *ctx, const char *allow)
{
    KilnCorsInput in = cors_input(ctx, allow);
    KilnResponse *res = &ctx->res;
    if (!cors_is_preflight(ctx->req.method, in.origin, in.request_method)) {
        char methods[160];
        res->status = 204;
        response_set_header(res, "Allow",
                            cors_methods_with_options(allow, methods, sizeof methods));
        return;
    }
    KilnCorsOutput out;
    cors_preflight(&in, &out);
    ctx->preflight = true;
    if (out.verdict == KILN_CORS_ALLOWED) {
        res->status = 204;
    } else {
        KilnError err;
        kiln_error_set(&err, 403, "cors_origin_not_allowed",
                       "cross-origin requests from %.100s are not allowed; add the origin to "
                       "cors_allowed_origins", in.origin);
        response_error(res, &err);
    }
    for (int i = 0; i < out.nheaders; i++)
        response_set_header(res, out.headers[i].name, out.headers[i].value);
}

/* Queues ctx->res on the connection with the headers every response has. */
static enum MHD_Result send_response(HttpCtx *ctx)
{
    KilnResponse *res = &ctx->res;
    size_t len = res->body.len;
    ctx->sent_bytes = len;
    char *body = buf_take(&res->body);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    /* A handler whose type is not a static string sets the header itself. */
    bool own_type = false;
    for (int i = 0; i < res->nheaders; i++)
        own_type = own_type || strcasecmp(res->headers[i].name, "Content-Type") == 0;
    if (!own_type)
        MHD_add_response_header(r, "Content-Type",
                                res->content_type ? res->content_type : "application/json");
    MHD_add_response_header(r, "X-Request-Id", ctx->req.request_id);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; frame-ancestors 'none'");
    for (int i = 0; i < res->nheaders; i++)
        MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
    const char *origins = ctx->req.cfg->cors_allowed_origins;
    if (origins && *origins && !ctx->preflight) {
        KilnCorsInput in = {.allowlist = origins, .origin = request_header(&ctx->req, "Origin")};
        KilnCorsOutput out;
        cors_actual(&in, &out);
        for (int i = 0; i < out.nheaders; i++)
            MHD_add_response_header(r, out.headers[i].name, out.headers[i].value);
    }
    if (atomic_load(&ctx->req.server->stopping))
        MHD_add_response_header(r, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(ctx->conn, (unsigned)res->status, r);
    MHD_destroy_response(r);
    ctx->req.t.done_us = kiln_now_us();
    return ret;
}

static void run_handler(HttpCtx *ctx, KilnConn *conn, bool *broken)
{
    KilnError err = {0};
    int64_t t0 = kiln_now_us();
    if (!ctx->route->handler(&ctx->req, conn, broken, &ctx->res, &err))
        response_error(&ctx->res, &err);
    if (conn)
        ctx->req.t.db_us += kiln_now_us() - t0;
}

/* Worker side: check out a connection, run the handler, resume. */
static void db_job(KilnJob *job, bool expired)
{
    HttpCtx *ctx = (HttpCtx *)((char *)job - offsetof(HttpCtx, job));
    KilnServer *srv = ctx->req.server;
    int64_t t0 = kiln_now_us();
    KilnError err = {0};
    if (expired) {
        kiln_error_set(&err, 503, "pool_timeout",
                       "no database connection became free within %d ms",
                       ctx->req.cfg->db_pool_timeout_ms);
        response_error(&ctx->res, &err);
    } else {
        int64_t left_ms = (job->deadline_us - t0) / 1000;
        KilnConn *conn = pool_checkout(srv->pool, left_ms > 0 ? (int)left_ms : 1, &err);
        ctx->req.t.pool_us = kiln_now_us() - ctx->req.t.dispatch_us;
        if (!conn) {
            /* The reason (libpq's text) goes to the log, never to the client. */
            KilnBuf f = KILN_BUF_INIT;
            buf_puts(&f, "\"request_id\":");
            buf_put_json_string(&f, ctx->req.request_id);
            buf_puts(&f, ",\"reason\":");
            buf_put_json_string(&f, err.message);
            log_write(KILN_LOG_WARN, "no database connection", buf_str(&f));
            buf_free(&f);
            if (strcmp(err.code, "db_unavailable") == 0)
                snprintf(err.message, sizeof err.message, "database unreachable");
            response_error(&ctx->res, &err);
        } else {
            bool broken = false;
            run_handler(ctx, conn, &broken);
            pool_checkin(srv->pool, conn, broken);
        }
    }
    if (expired)
        ctx->req.t.pool_us = kiln_now_us() - ctx->req.t.dispatch_us;
    ctx->state = ST_READY;
    MHD_resume_connection(ctx->conn);
}

/* Called by libmicrohttpd with the raw request target before anything else:
 * the only place the undecoded query string is available (the data API
 * parses it itself: repeated keys, '+' as space, its own quoting). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *connection)
{
    (void)cls, (void)connection;
    HttpCtx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        abort();
    ctx->raw_uri = strdup(uri ? uri : "");
    if (!ctx->raw_uri)
        abort();
    return ctx;
}

static HttpCtx *ctx_create(HttpCtx *ctx, KilnServer *srv, struct MHD_Connection *connection,
                           const char *url, const char *method)
{
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx)
            abort();
    }
    ctx->started = true;
    if (ctx->raw_uri) {
        char *q = strchr(ctx->raw_uri, '?');
        ctx->req.query = q ? q + 1 : NULL;
    }
    ctx->conn = connection;
    ctx->req.server = srv;
    ctx->req.http = connection;
    ctx->req.method = method;
    ctx->req.path = url;
    ctx->req.cfg = config_current();
    ctx->req.t.start_us = kiln_now_us();
    ctx->res.status = 500;
    make_request_id(ctx->req.request_id);
    resolve_client_ip(&ctx->req, connection);
    atomic_fetch_add(&srv->inflight, 1);
    return ctx;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    KilnServer *srv = cls;
    HttpCtx *ctx = *con_cls;

    if (!ctx || !ctx->started) {
        ctx = ctx_create(ctx, srv, connection, url, method);
        *con_cls = ctx;
        KilnError err = {0};
        char allow[128] = "";
        ctx->route = route_find(url, method, ctx->req.cfg->debug_endpoints, allow, sizeof allow,
                                &err);
        const char *cl = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)ctx->req.cfg->max_body_bytes)
            kiln_error_set(&err, 413, "payload_too_large",
                           "the request body exceeds %d bytes", ctx->req.cfg->max_body_bytes);
        if (!ctx->route && err.status == 405 && strcmp(method, "OPTIONS") == 0) {
            answer_options(ctx, allow);
            ctx->state = ST_READY;
            ctx->req.t.dispatch_us = kiln_now_us();
            return MHD_YES; /* sent on the next call, as below */
        }
        if (!ctx->route || err.status == 413) {
            response_error(&ctx->res, &err);
            if (allow[0] && err.status == 405)
                response_set_header(&ctx->res, "Allow", allow);
            ctx->state = ST_READY;
            ctx->req.t.dispatch_us = kiln_now_us();
            /* A body too large is refused before it is read (the connection
             * then closes). Other errors are answered on the next call:
             * libmicrohttpd closes the connection when a response is queued
             * on the first one, which would cost keep-alive clients a
             * reconnect per 404. */
            if (err.status == 413)
                return send_response(ctx);
        }
        return MHD_YES;
    }

    if (ctx->state == ST_READY) {
        /* Answered already (an error found from the headers, or resumed
         * after a worker finished): discard any body, then send. */
        if (*upload_data_size > 0) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        return send_response(ctx);
    }

    if (*upload_data_size > 0) {
        if (ctx->req.body.len + *upload_data_size > (size_t)ctx->req.cfg->max_body_bytes)
            ctx->body_too_large = true;
        else
            buf_append(&ctx->req.body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    ctx->req.t.dispatch_us = kiln_now_us();
    if (ctx->body_too_large) {
        KilnError err;
        kiln_error_set(&err, 413, "payload_too_large", "the request body exceeds %d bytes",
                       ctx->req.cfg->max_body_bytes);
        response_error(&ctx->res, &err);
        ctx->state = ST_READY;
        return send_response(ctx);
    }
    if (!ctx->route->needs_db) {
        bool broken = false;
        run_handler(ctx, NULL, &broken);
        ctx->state = ST_READY;
        return send_response(ctx);
    }
    ctx->state = ST_WAITING;
    ctx->job.fn = db_job;
    ctx->job.deadline_us = ctx->req.t.dispatch_us + (int64_t)ctx->req.cfg->db_pool_timeout_ms * 1000;
    MHD_suspend_connection(connection);
    work_submit(srv->work, &ctx->job);
    return MHD_YES;
}

static double ms(int64_t us)
{
    return (double)us / 1000.0;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)connection;
    KilnServer *srv = cls;
    HttpCtx *ctx = *con_cls;
    if (!ctx)
        return;
    *con_cls = NULL;
    if (!ctx->started) {
        free(ctx->raw_uri);
        free(ctx);
        return;
    }
    KilnRequest *req = &ctx->req;
    if (req->cfg->access_log) {
        int64_t end = kiln_now_us();
        int64_t done = req->t.done_us ? req->t.done_us : end;
        int64_t dispatch = req->t.dispatch_us ? req->t.dispatch_us : done;
        KilnBuf f = KILN_BUF_INIT;
        buf_puts(&f, "\"request_id\":");
        buf_put_json_string(&f, req->request_id);
        buf_puts(&f, ",\"method\":");
        buf_put_json_string(&f, req->method);
        buf_puts(&f, ",\"path\":");
        buf_put_json_string(&f, req->path);
        buf_printf(&f,
                   ",\"status\":%d,\"bytes\":%zu,\"duration_ms\":%.3f,\"stages\":{\"read_ms\":%.3f,"
                   "\"pool_ms\":%.3f,\"db_ms\":%.3f,\"respond_ms\":%.3f}",
                   ctx->res.status, ctx->sent_bytes,
                   ms(end - req->t.start_us), ms(dispatch - req->t.start_us), ms(req->t.pool_us),
                   ms(req->t.db_us), ms(end - done));
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
            buf_puts(&f, ",\"aborted\":true");
        log_write(KILN_LOG_INFO, "access", buf_str(&f));
        buf_free(&f);
    }
    config_release(req->cfg);
    buf_free(&req->body);
    response_free(&ctx->res);
    free(ctx->raw_uri);
    free(ctx);
    atomic_fetch_sub(&srv->inflight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    KilnBuf m = KILN_BUF_INIT;
    buf_vprintf(&m, fmt, ap);
    while (m.len && (m.data[m.len - 1] == '\n' || m.data[m.len - 1] == '\r'))
        m.data[--m.len] = '\0';
    log_kv(KILN_LOG_WARN, "http", "detail", buf_str(&m));
    buf_free(&m);
}

static int open_listener(const KilnConfig *cfg, bool *v6, KilnError *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t slen;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->listen_address, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)cfg->port);
        slen = sizeof *a4;
        *v6 = false;
    } else if (inet_pton(AF_INET6, cfg->listen_address, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)cfg->port);
        slen = sizeof *a6;
        *v6 = true;
    } else {
        kiln_error_set(err, 0, "config", "listen_address '%s' is not an IP address; use e.g. "
                       "127.0.0.1", cfg->listen_address);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        kiln_error_set(err, 0, "listen", "cannot create a socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (*v6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, slen) != 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            kiln_error_set(err, 0, "listen",
                           "port %d on %s is already in use; stop the other process or choose "
                           "another port with --port",
                           cfg->port, cfg->listen_address);
        else if (e == EACCES)
            kiln_error_set(err, 0, "listen",
                           "not allowed to bind port %d on %s; use a port above 1023 or run "
                           "with the needed privilege",
                           cfg->port, cfg->listen_address);
        else if (e == EADDRNOTAVAIL)
            kiln_error_set(err, 0, "listen",
                           "address %s is not on this machine; set listen_address to one of its "
                           "addresses",
                           cfg->listen_address);
        else
            kiln_error_set(err, 0, "listen", "cannot bind %s port %d: %s", cfg->listen_address,
                           cfg->port, strerror(e));
        return -1;
    }
    if (listen(fd, 1024) != 0) {
        kiln_error_set(err, 0, "listen", "cannot listen on port %d: %s", cfg->port,
                       strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

bool http_start(KilnServer *srv, const KilnConfig *cfg, KilnError *err)
{
    bool v6 = false;
    int fd = open_listener(cfg, &v6, err);
    if (fd < 0)
        return false;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : (unsigned)(cores > 0 ? cores : 1);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->connection_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        /* Per-connection memory: libmicrohttpd zeroes the whole of it
         * between keep-alive requests, so it costs CPU per request (64 KiB
         * was ~6% of the daemon's CPU on a one-row GET). 32 KiB (its
         * default) still holds a 16 KiB query string (the data API's 414
         * limit) with a few KiB of headers. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)32 * 1024, MHD_OPTION_END);
    if (!d) {
        close(fd);
        return kiln_error_set(err, 0, "listen",
                              "the HTTP server could not start on %s port %d; see the log above",
                              cfg->listen_address, cfg->port);
    }
    HttpState *st = calloc(1, sizeof *st);
    if (!st)
        abort();
    st->mhd = d;
    st->listen_fd = fd;
    srv->http = st;
    return true;
}

void http_quiesce(KilnServer *srv)
{
    HttpState *st = srv->http;
    if (!st || st->listen_fd < 0)
        return;
    MHD_socket s = MHD_quiesce_daemon(st->mhd);
    if (s != MHD_INVALID_SOCKET)
        close(s);
    st->listen_fd = -1;
}

void http_stop(KilnServer *srv)
{
    HttpState *st = srv->http;
    if (!st)
        return;
    /* Closes the listening socket too, unless quiesce already took it. */
    MHD_stop_daemon(st->mhd);
    free(st);
    srv->http = NULL;
}
