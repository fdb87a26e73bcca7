/*
 * rest_rpc.c: the data API's function calls, GET/HEAD/POST
 * /rest/v1/rpc/<fn> (supabase-wire §2.10).
 *
 * Runs on a worker with a pooled connection. It negotiates (profile: Accept-
 * Profile for GET/HEAD, Content-Profile for POST; media type; Prefer: count),
 * reads the body's Content-Type, then moves the request along the pure
 * stages (plan_rpc -> sql_rpc) and through one transaction (tx_run) as the
 * caller kiln.authenticate verifies: READ ONLY for GET and HEAD whatever the
 * function's volatility (a write there fails with 25006, a 405), and for
 * POST of a STABLE or IMMUTABLE function; read-write for POST of a VOLATILE
 * one. It never decides what the function may see (the database does) and
 * never writes SQL (sql_rpc.c does).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "plan_rpc.h"
#include "rest.h"
#include "rest_plan.h"
#include "rest_prefer.h"
#include "route.h"
#include "schema_cache.h"
#include "server.h"
#include "sql.h"
#include "tx.h"

#define RPC_PREFIX REST_PREFIX "rpc/"

/* The body's kind from Content-Type (none: JSON). 415 for anything else. */
static bool body_type(const char *ct, KilnBodyType *out, KilnError *err)
{
    static const struct {
        const char *mime;
        KilnBodyType type;
    } types[] = {
        {"application/json", KILN_BODY_JSON},
        {"application/x-www-form-urlencoded", KILN_BODY_FORM},
        {"text/plain", KILN_BODY_TEXT},
        {"text/xml", KILN_BODY_XML},
        {"application/octet-stream", KILN_BODY_BINARY},
    };
    *out = KILN_BODY_JSON;
    if (!ct || !*ct)
        return true;
    size_t n = strcspn(ct, ";");
    while (n && ct[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strlen(types[i].mime) == n && strncasecmp(ct, types[i].mime, n) == 0) {
            *out = types[i].type;
            return true;
        }
    }
    return kiln_error_rest(err, 415, "PGRST107", "Content-Type not acceptable: %.200s", ct);
}

/* Unwraps "[" object "]" into the object itself. */
static void unwrap_array(KilnBuf *b)
{
    if (b->len >= 2 && b->data[0] == '[' && b->data[b->len - 1] == ']') {
        memmove(b->data, b->data + 1, b->len - 2);
        b->len -= 2;
        b->data[b->len] = '\0';
    }
}

/* The answer from the statement's row: 204 for void (and return=minimal),
 * else the body with Content-Range, 206 for a partial page of a set, 416
 * past its end, 406 PGRST116 when one object was asked for and the result
 * is not one row. Takes out->body. */
static bool respond(KilnResponse *res, const KilnRpcPlan *plan, KilnTxResult *out, KilnMedia media,
                    bool minimal, KilnError *err)
{
    if (!plan->read) { /* void */
        buf_free(&out->body);
        res->status = 204;
        return true;
    }
    long long offset = plan->read->root->offset;
    rest_set_content_range(res, offset, out->page_rows, out->total);
    if (out->total >= 0 && offset > out->total) {
        buf_free(&out->body);
        kiln_error_rest(err, 416, "PGRST103", "Requested range not satisfiable");
        kiln_error_details(err, "An offset of %lld was requested, but there are only %lld rows.",
                           offset, out->total);
        return false;
    }
    if (media == KILN_MEDIA_OBJECT) {
        if (out->page_rows != 1) {
            buf_free(&out->body);
            kiln_error_rest(err, 406, "PGRST116",
                            "Cannot coerce the result to a single JSON object");
            kiln_error_details(err, "The result contains %lld rows", out->page_rows);
            return false;
        }
        if (plan->fn->ret_set)
            unwrap_array(&out->body);
        res->content_type = plan->read->strip_nulls
                                ? "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"
                                : "application/vnd.pgrst.object+json; charset=utf-8";
    } else if (media == KILN_MEDIA_CSV) {
        KilnBuf csv = KILN_BUF_INIT;
        rest_csv_body(plan->read->root, &out->body, &csv);
        buf_free(&out->body);
        out->body = csv;
        res->content_type = "text/csv; charset=utf-8";
    } else if (media == KILN_MEDIA_GEOJSON) {
        res->content_type = "application/geo+json; charset=utf-8";
    } else {
        res->content_type = plan->read->strip_nulls
                                ? "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
                                : "application/json; charset=utf-8";
    }
    buf_free(&res->body);
    if (minimal) {
        buf_free(&out->body);
        res->status = 204;
        return true;
    }
    res->status = plan->fn->ret_set && out->total >= 0 && out->page_rows < out->total ? 206 : 200;
    res->body = out->body;
    out->body = (KilnBuf)KILN_BUF_INIT;
    return true;
}

static bool call_with(KilnRequest *req, KilnConn *conn, bool *broken, KilnResponse *res,
                      KilnError *err, KilnArena *arena, const KilnSchemaCache *sc)
{
    bool post = strcmp(req->method, "POST") == 0;
    if (!post && strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
        return kiln_error_rest(err, 405, "PGRST101", "Cannot use the %s method on RPC",
                               req->method);
    const char *name = req->path + strlen(RPC_PREFIX);
    if (!*name || strchr(name, '/'))
        return kiln_error_rest(err, 404, "PGRST125", "Invalid path specified in request URL");
    char schema[64];
    if (!rest_negotiate_schema(req, post ? "Content-Profile" : "Accept-Profile", schema,
                               sizeof schema, err))
        return false;
    KilnExplain ex;
    const char *accept = request_header(req, "Accept");
    if (!rest_plan_accept(accept, req->cfg->db_plan_enabled, &ex, err))
        return false;
    KilnMedia media;
    bool strip_nulls;
    if (!rest_negotiate_output(ex.on ? ex.for_type : accept, true, &media, &strip_nulls, err))
        return false;
    KilnPrefer pf;
    rest_prefer_parse(request_header(req, "Prefer"), false, &pf);
    if (!rest_prefer_check(&pf, err))
        return false;
    bool count = pf.count != KILN_COUNT_NONE;
    /* postgrest-js sends return=minimal for a head call with object
     * arguments (a POST): answer it like a HEAD, without a body. */
    bool minimal = post && pf.ret == KILN_RET_MINIMAL;
    KilnRpcRequest r = {
        .schema = schema,
        .name = name,
        .post = post,
        .query = req->query,
        .body = req->body.data,
        .body_len = req->body.len,
        .max_rows = req->cfg->db_max_rows,
        .count_exact = count,
        .aggregates = req->cfg->db_aggregates_enabled,
        .single_object = post && pf.params == KILN_PARAMS_SINGLE,
    };
    if (post && !body_type(request_header(req, "Content-Type"), &r.body_type, err))
        return false;
    KilnRpcPlan *plan;
    if (!plan_rpc(arena, sc, &r, &plan, err) ||
        (plan->read && plan->fn->ret_set && !rest_apply_range(req, plan->read->root, err)))
        return false;
    const char *token;
    if (!rest_caller_token(req, plan->apikey, res, &token, err))
        return false;
    if (plan->read) {
        plan->read->csv = media == KILN_MEDIA_CSV;
        plan->read->strip_nulls = strip_nulls;
        if (media == KILN_MEDIA_GEOJSON && !rest_geojson_check(sc, plan->read, err))
            return false;
    } else if (media == KILN_MEDIA_GEOJSON) {
        return kiln_error_rest(err, 406, "PGRST107",
                               "None of these media types are available: application/geo+json");
    }
    /* .single() on a writing call: decided inside the statement, so a
     * result of other than one row leaves nothing written. */
    plan->single = plan->write && plan->read && media == KILN_MEDIA_OBJECT;
    KilnSql sql = {0};
    sql_rpc(arena, plan, &sql);
    if (ex.on) {
        bool ok = rest_plan_run(req, conn, broken, res, err, arena, &ex, &sql, plan->write,
                                token, sc->generation, schema);
        sql_free(&sql);
        return ok;
    }

    KilnTxResult out;
    bool ok = rest_tx(req, conn, plan->write, false, token, buf_str(&sql.text), sql.nparams,
                      sql.params, sc->generation, &out, broken, err);
    sql_free(&sql);
    if (!ok) {
        rest_map_violation(err);
        rest_auth_error_headers(res, err);
        return false;
    }
    buf_free(&out.extra);

    response_set_header(res, "Content-Profile", schema);
    KilnPreferApplied which = {.ret = minimal, .count = count, .params = r.single_object};
    KilnBuf applied = KILN_BUF_INIT;
    rest_prefer_applied(&pf, &which, &applied);
    if (applied.len)
        response_set_header(res, "Preference-Applied", buf_str(&applied));
    buf_free(&applied);
    return respond(res, plan, &out, media, minimal, err);
}

bool rest_rpc(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
              KilnError *err)
{
    KilnSchemaCache *sc = rest_snapshot(req, err);
    if (!sc)
        return false;
    KilnArena *arena = arena_create();
    bool ok = call_with(req, conn, conn_broken, res, err, arena, sc);
    arena_free(arena);
    schema_cache_release(sc);
    return ok;
}
