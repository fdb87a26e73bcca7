/*
 * rest_write.c: the data API's write handler: POST (insert, upsert), PATCH
 * (update), PUT (single-row upsert) and DELETE on /rest/v1/<table>, as
 * postgrest-js emits them (supabase-wire §2.1, §2.6, §2.7).
 *
 * Runs on a worker with a pooled connection, called from rest.c with the
 * request's arena and schema snapshot. It negotiates (Content-Profile,
 * Accept, Content-Type, Prefer), checks the body's shape, and moves the
 * request along the pure stages (rest_parse -> plan_write -> sql_write)
 * and through one read-write transaction (tx_run): the whole write is one
 * statement, so a bulk insert is all or nothing. It never decides row
 * visibility and never writes SQL; the body reaches the database as one
 * bind parameter.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "plan_write.h"
#include "rest.h"
#include "rest_parse.h"
#include "rest_plan.h"
#include "rest_prefer.h"
#include "schema_cache.h"
#include "sql.h"
#include "tx.h"

/* The most names columns= and on_conflict= may list (Postgres' column limit). */
#define MAX_COLUMN_NAMES 1600

static bool write_kind(const char *method, KilnWriteKind *kind)
{
    if (strcmp(method, "POST") == 0)
        *kind = KILN_WRITE_INSERT;
    else if (strcmp(method, "PATCH") == 0)
        *kind = KILN_WRITE_UPDATE;
    else if (strcmp(method, "PUT") == 0)
        *kind = KILN_WRITE_PUT;
    else if (strcmp(method, "DELETE") == 0)
        *kind = KILN_WRITE_DELETE;
    else
        return false;
    return true;
}

/* Request bodies are JSON: no Content-Type, or application/json with any
 * parameters; anything else is 415. */
static bool check_content_type(const char *ct, KilnError *err)
{
    if (!ct || !*ct)
        return true;
    size_t n = strcspn(ct, ";");
    while (n && ct[n - 1] == ' ')
        n--;
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    kiln_error_rest(err, 415, "PGRST107", "Content-Type not acceptable: %.100s", ct);
    kiln_error_hint(err, "Send the body as application/json.");
    return false;
}

/* Appends s percent-encoded for a query string. */
static void url_encode(KilnBuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '_' || *c == '.' || *c == '~') {
            buf_putc(b, (char)*c);
        } else {
            buf_putc(b, '%');
            buf_putc(b, hex[*c >> 4]);
            buf_putc(b, hex[*c & 15]);
        }
    }
}

/* What the statement's 4th column reported. */
typedef struct Extra {
    long long inserted; /* -1: not reported */
    bool location;
} Extra;

/* Reads extra ({"inserted":n,"location":[...]}) and sets Location:
 * /<table>?<pk>=eq.<value>&... for a single written row. */
static void apply_extra(const KilnWritePlan *plan, const KilnBuf *extra, long long rows,
                        KilnResponse *res, Extra *out)
{
    out->inserted = -1;
    out->location = false;
    if (!extra->len)
        return;
    json_t *root = json_loadb(extra->data, extra->len, 0, NULL);
    if (!root)
        return;
    json_t *ins = json_object_get(root, "inserted");
    if (json_is_integer(ins))
        out->inserted = (long long)json_integer_value(ins);
    json_t *loc = json_object_get(root, "location");
    if (plan->location && rows == 1 && json_is_array(loc)) {
        KilnBuf b = KILN_BUF_INIT;
        buf_putc(&b, '/');
        url_encode(&b, plan->table->name);
        size_t k = 0;
        for (int i = 0; i < plan->table->ncols; i++) {
            if (!plan->table->cols[i].pk)
                continue;
            const char *v = json_string_value(json_array_get(loc, k++));
            buf_putc(&b, k == 1 ? '?' : '&');
            url_encode(&b, plan->table->cols[i].name);
            buf_puts(&b, "=eq.");
            url_encode(&b, v ? v : "");
        }
        response_set_header(res, "Location", buf_str(&b));
        out->location = true;
        buf_free(&b);
    }
    json_decref(root);
}

/* The Preference-Applied header of a write, as PostgREST sends it per
 * kind of write. */
static void set_applied(const KilnWritePlan *plan, const KilnPrefer *pf, KilnResponse *res)
{
    KilnPreferApplied w = {.ret = true, .count = true, .tx = true, .handling = true};
    switch (plan->kind) {
    case KILN_WRITE_INSERT:
        w.resolution = plan->resolution != KILN_RES_NONE;
        w.missing = true;
        break;
    case KILN_WRITE_UPDATE:
        w.missing = true;
        w.max_affected = true;
        break;
    case KILN_WRITE_DELETE:
        w.max_affected = true;
        break;
    case KILN_WRITE_PUT:
        break;
    }
    KilnBuf b = KILN_BUF_INIT;
    rest_prefer_applied(pf, &w, &b);
    if (b.len)
        response_set_header(res, "Preference-Applied", buf_str(&b));
    buf_free(&b);
}

/* The HTTP status of a successful write (PostgREST's Response.hs rules). */
static int write_status(const KilnWritePlan *plan, const KilnPrefer *pf, const Extra *extra)
{
    bool repr = pf->ret == KILN_RET_REPRESENTATION;
    switch (plan->kind) {
    case KILN_WRITE_INSERT:
        return plan->resolution == KILN_RES_MERGE && extra->inserted == 0 ? 200 : 201;
    case KILN_WRITE_PUT:
        if (!repr)
            return 204;
        return extra->inserted > 0 ? 201 : 200;
    case KILN_WRITE_UPDATE:
    case KILN_WRITE_DELETE:
        return repr ? 200 : 204;
    }
    return 200;
}

bool rest_write_with(KilnRequest *req, KilnConn *conn, bool *broken, KilnResponse *res,
                     KilnError *err, KilnArena *arena, const KilnSchemaCache *sc)
{
    KilnWriteKind kind;
    if (!write_kind(req->method, &kind))
        return kiln_error_rest(err, 405, "PGRST117", "Unsupported HTTP method: %.16s", req->method);
    const char *table = req->path + strlen(REST_PREFIX);
    if (!*table || strchr(table, '/'))
        return kiln_error_rest(err, 404, "PGRST125", "Invalid path specified in request URL");
    char schema[64];
    if (!rest_negotiate_schema(req, "Content-Profile", schema, sizeof schema, err))
        return false;
    KilnExplain ex;
    const char *accept = request_header(req, "Accept");
    if (!rest_plan_accept(accept, req->cfg->db_plan_enabled, &ex, err))
        return false;
    KilnMedia media;
    if (!rest_negotiate_media(ex.on ? ex.for_type : accept, &media, err))
        return false;
    if (kind != KILN_WRITE_DELETE && !check_content_type(request_header(req, "Content-Type"), err))
        return false;
    KilnPrefer pf;
    rest_prefer_parse(request_header(req, "Prefer"), req->cfg->db_tx_allow_override, &pf);
    if (!rest_prefer_check(&pf, err))
        return false;

    KilnRestQuery *q;
    if (!rest_parse_query(arena, req->query, &kiln_rest_default_limits, &q, err))
        return false;
    const char *token;
    if (!rest_caller_token(req, q->apikey, res, &token, err))
        return false;
    KilnWriteOptions opt = {
        .schema = schema, .kind = kind, .prefer = &pf, .single = media == KILN_MEDIA_OBJECT};
    const char **names;
    int n;
    if (q->columns && kind != KILN_WRITE_DELETE) {
        if (!rest_parse_columns(arena, "columns", q->columns, MAX_COLUMN_NAMES, &names, &n, err))
            return false;
        opt.columns = names;
        opt.ncolumns = n;
    }
    if (q->on_conflict && kind == KILN_WRITE_INSERT) {
        if (!rest_parse_columns(arena, "on_conflict", q->on_conflict, MAX_COLUMN_NAMES, &names, &n,
                                err))
            return false;
        opt.on_conflict = names;
        opt.non_conflict = n;
    }
    KilnWriteBody body;
    bool ok = plan_write_body(arena, req->body.data ? req->body.data : "", req->body.len, kind,
                              opt.columns == NULL, &body, err);
    KilnWritePlan *plan = NULL;
    if (ok) {
        opt.body = &body;
        ok = plan_write(arena, sc, table, q, &opt, &plan, err);
    }
    if (!ok)
        return false;

    KilnSql sql = {0};
    sql_write(arena, plan, body.json, &sql);
    if (ex.on) {
        ok = rest_plan_run(req, conn, broken, res, err, arena, &ex, &sql, true, token,
                           sc->generation, schema);
        sql_free(&sql);
        return ok;
    }
    KilnTxResult out;
    ok = rest_tx(req, conn, true, pf.tx == KILN_TX_ROLLBACK, token, buf_str(&sql.text),
                 sql.nparams, sql.params, sc->generation, &out, broken, err);
    sql_free(&sql);
    if (!ok) {
        rest_map_violation(err);
        rest_auth_error_headers(res, err);
        return false;
    }

    Extra extra;
    apply_extra(plan, &out.extra, out.page_rows, res, &extra);
    buf_free(&out.extra);
    response_set_header(res, "Content-Profile", schema);
    set_applied(plan, &pf, res);
    if (kind == KILN_WRITE_UPDATE)
        rest_set_content_range(res, 0, out.page_rows, out.total);
    else if (kind != KILN_WRITE_PUT)
        rest_set_content_range(res, 0, 0, out.total);
    res->status = write_status(plan, &pf, &extra);
    buf_free(&res->body);
    if (pf.ret != KILN_RET_REPRESENTATION || res->status == 204) {
        buf_free(&out.body);
        return true;
    }
    if (media == KILN_MEDIA_OBJECT) {
        /* json_agg of one row: "[" object "]". */
        KilnBuf *b = &out.body;
        if (b->len >= 2 && b->data[0] == '[' && b->data[b->len - 1] == ']') {
            memmove(b->data, b->data + 1, b->len - 2);
            b->len -= 2;
            b->data[b->len] = '\0';
        }
        res->content_type = "application/vnd.pgrst.object+json; charset=utf-8";
    } else {
        res->content_type = "application/json; charset=utf-8";
    }
    res->body = out.body;
    return true;
}
