/*
 * rest.c: the data API's entry for /rest/v1/<table> (reads here; POST,
 * PATCH, PUT and DELETE go to rest_write.c), and the negotiation every
 * /rest/v1 handler shares (rest.h).
 *
 * Runs on a worker with a pooled connection. It negotiates (profile,
 * media type, Prefer), picks the token kiln.authenticate gets, and then
 * moves the request along the pure stages (rest_parse -> plan -> sql) and
 * through one pipelined transaction (tx_run); a request for the plan media
 * type hands the same statement to rest_plan_run instead. It never decides row
 * visibility (the database does, as the authenticated role) and never
 * writes SQL (sql.c does). The per-request arena lives for this call only.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "plan.h"
#include "rest.h"
#include "rest_parse.h"
#include "rest_plan.h"
#include "rest_prefer.h"
#include "route.h"
#include "schema_cache.h"
#include "server.h"
#include "sql.h"
#include "tx.h"

/* Is name one of the comma-separated schemas in list? */
static bool schema_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *s = list;
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > s && t[-1] == ' ')
            t--;
        if ((size_t)(t - s) == n && n && strncmp(s, name, n) == 0)
            return true;
        s = e;
    }
    return false;
}

/* The first schema of the list into out. */
static void first_schema(const char *list, char *out, size_t len)
{
    while (*list == ' ' || *list == ',')
        list++;
    size_t n = 0;
    while (list[n] && list[n] != ',' && list[n] != ' ' && n + 1 < len)
        n++;
    memcpy(out, list, n);
    out[n] = '\0';
}

bool rest_negotiate_schema(const KilnRequest *req, const char *header, char *schema, size_t len,
                           KilnError *err)
{
    const char *profile = request_header(req, header);
    if (profile && *profile) {
        if (!schema_listed(req->cfg->db_schemas, profile) || strlen(profile) >= len) {
            kiln_error_rest(err, 406, "PGRST106", "Invalid schema: %.63s", profile);
            kiln_error_hint(err, "Only the following schemas are exposed: %.200s",
                            req->cfg->db_schemas);
            return false;
        }
        snprintf(schema, len, "%s", profile);
    } else {
        first_schema(req->cfg->db_schemas, schema, len);
    }
    return true;
}

/* Is the media-type parameter list [s, e) (after the first ';') holding
 * nulls=stripped? */
static bool params_strip_nulls(const char *s, const char *e)
{
    while (s < e) {
        while (s < e && (*s == ' ' || *s == ';'))
            s++;
        const char *p = s;
        while (p < e && *p != ';')
            p++;
        size_t n = (size_t)(p - s);
        while (n && s[n - 1] == ' ')
            n--;
        if (n == 14 && strncasecmp(s, "nulls=stripped", 14) == 0)
            return true;
        s = p;
    }
    return false;
}

bool rest_negotiate_output(const char *accept, bool csv_ok, KilnMedia *out, bool *strip_nulls,
                           KilnError *err)
{
    *out = KILN_MEDIA_JSON;
    *strip_nulls = false;
    if (!accept || !*accept)
        return true;
    bool picked = false;
    const char *s = accept;
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',' && *e != ';')
            e++;
        size_t n = (size_t)(e - s);
        while (n && s[n - 1] == ' ')
            n--;
        const char *pe = e;
        while (*pe && *pe != ',')
            pe++;
        bool strip = *e == ';' && params_strip_nulls(e + 1, pe);
#define IS(lit) (n == sizeof(lit) - 1 && strncasecmp(s, lit, n) == 0)
        if (IS("application/vnd.pgrst.object+json") || IS("application/vnd.pgrst.object")) {
            *out = KILN_MEDIA_OBJECT;
            *strip_nulls = strip;
            return true;
        }
        if (!picked && csv_ok && IS("text/csv")) {
            *out = KILN_MEDIA_CSV;
            picked = true;
        } else if (!picked && csv_ok && IS("application/geo+json")) {
            *out = KILN_MEDIA_GEOJSON;
            picked = true;
        } else if (!picked && (IS("application/json") || IS("*/*") || IS("application/*"))) {
            picked = true;
        } else if (!picked && IS("application/vnd.pgrst.array+json")) {
            *strip_nulls = strip;
            picked = true;
        }
#undef IS
        s = pe;
    }
    if (picked)
        return true;
    kiln_error_rest(err, 406, "PGRST107", "None of these media types are available: %.200s",
                    accept);
    return false;
}

bool rest_negotiate_media(const char *accept, KilnMedia *out, KilnError *err)
{
    bool strip;
    return rest_negotiate_output(accept, false, out, &strip, err);
}

bool rest_geojson_check(const KilnSchemaCache *sc, KilnPlan *plan, KilnError *err)
{
    if (!sc->postgis_schema) {
        kiln_error_rest(err, 406, "PGRST107",
                        "None of these media types are available: application/geo+json");
        kiln_error_hint(err, "GeoJSON needs the PostGIS extension in the database.");
        return false;
    }
    plan->geojson_schema = sc->postgis_schema;
    return true;
}

/* Appends s as one CSV field (RFC 4180: quoted when it holds a comma, a
 * quote or a line break). */
static void csv_field(KilnBuf *b, const char *s)
{
    if (!s[strcspn(s, ",\"\r\n")]) {
        buf_puts(b, s);
        return;
    }
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

/* The output names of node n in order, spreads flattened into it. */
static void csv_names(KilnBuf *b, const KilnPlanNode *n, bool *first)
{
    for (int i = 0; i < n->nfields; i++) {
        const KilnPlanField *f = &n->fields[i];
        if (f->kind == KILN_PF_SPREAD) {
            csv_names(b, f->embed, first);
            continue;
        }
        if (!*first)
            buf_putc(b, ',');
        *first = false;
        csv_field(b, f->out_name);
    }
}

void rest_csv_body(const KilnPlanNode *root, KilnBuf *rows, KilnBuf *out)
{
    bool first = true;
    csv_names(out, root, &first);
    buf_putc(out, '\n');
    buf_append(out, rows->data ? rows->data : "", rows->len);
}

/*
 * The token kiln.authenticate verifies (supabase-wire §1.3):
 * Authorization: Bearer <JWT> wins; `Bearer sb_...` is an API key, not a
 * JWT, so the apikey (header or ?apikey=) is used instead, else that key.
 * Neither: anon when anon_without_key, else 401.
 */
void rest_auth_error_headers(KilnResponse *res, const KilnError *err)
{
    if (err->status == 401)
        response_set_header(res, "WWW-Authenticate",
                            strcmp(err->code, "PGRST303") == 0
                                ? "Bearer error=\"invalid_token\", error_description=\"JWT expired\""
                                : "Bearer error=\"invalid_token\"");
}

bool rest_caller_token(const KilnRequest *req, const char *query_apikey, KilnResponse *res,
                       const char **token, KilnError *err)
{
    if (rest_pick_token(req, query_apikey, token, err))
        return true;
    response_set_header(res, "WWW-Authenticate", "Bearer");
    return false;
}

KilnSchemaCache *rest_snapshot(const KilnRequest *req, KilnError *err)
{
    KilnServer *srv = req->server;
    KilnSchemaCache *sc = srv && srv->schema ? schema_holder_current(srv->schema) : NULL;
    if (!sc)
        kiln_error_rest(err, 503, "PGRST002",
                        "Could not query the database for the schema cache. Retrying.");
    return sc;
}

/* rest_tx with in's statement and flags: adds what kiln.authenticate records
 * (request id, client ip). */
static bool rest_tx_run(KilnRequest *req, KilnConn *conn, KilnTx *in, KilnTxResult *out,
                        bool *broken, KilnError *err)
{
    char ip[64];
    in->request_id = req->request_id;
    in->client_ip = request_client_ip(req, ip, sizeof ip) ? ip : NULL;
    *out = (KilnTxResult){.body = KILN_BUF_INIT, .extra = KILN_BUF_INIT};
    bool ok = tx_run(conn, in, out, broken, err);
    if (!ok) {
        /* A commit-time failure can follow a statement that answered (an
         * auth flow's tokens): wipe what arrived before dropping it. */
        if (out->body.data)
            explicit_bzero(out->body.data, out->body.len);
        buf_free(&out->body);
        buf_free(&out->extra);
    }
    return ok;
}

bool rest_tx(KilnRequest *req, KilnConn *conn, bool write, bool rollback, const char *token,
             const char *sql, int nparams, const char *const *params, unsigned long generation,
             KilnTxResult *out, bool *broken, KilnError *err)
{
    KilnTx in = {.write = write, .rollback = rollback, .token = token, .sql = sql,
                 .nparams = nparams, .params = params, .generation = generation};
    return rest_tx_run(req, conn, &in, out, broken, err);
}

bool rest_tx_rows(KilnRequest *req, KilnConn *conn, const char *token, const char *sql,
                  int nparams, const char *const *params, unsigned long generation,
                  KilnTxResult *out, bool *broken, KilnError *err)
{
    KilnTx in = {.row_set = true, .token = token, .sql = sql, .nparams = nparams,
                 .params = params, .generation = generation};
    return rest_tx_run(req, conn, &in, out, broken, err);
}

void rest_map_violation(KilnError *err)
{
    long long rows = 0;
    const char *code =
        strcmp(err->code, "22P02") == 0 ? sql_write_violation(err->message, &rows) : NULL;
    if (!code)
        return;
    if (strcmp(code, "PGRST124") == 0) {
        kiln_error_rest(err, 400, "PGRST124",
                        "Query result exceeds max-affected preference constraint");
        kiln_error_details(err, "The query affects %lld rows", rows);
    } else {
        kiln_error_rest(err, 406, "PGRST116", "Cannot coerce the result to a single JSON object");
        kiln_error_details(err, "The result contains %lld rows", rows);
    }
}

bool rest_pick_token(const KilnRequest *req, const char *query_apikey, const char **token,
                     KilnError *err)
{
    const char *auth = request_header(req, "Authorization");
    const char *apikey = request_header(req, "apikey");
    if (!apikey || !*apikey)
        apikey = query_apikey;
    const char *bearer = NULL;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        bearer = auth + 7;
        while (*bearer == ' ')
            bearer++;
        if (!*bearer)
            bearer = NULL;
    }
    if (bearer && strncmp(bearer, "sb_", 3) != 0)
        *token = bearer;
    else if (apikey && *apikey)
        *token = apikey;
    else if (bearer)
        *token = bearer;
    else if (req->cfg->anon_without_key)
        *token = NULL;
    else {
        kiln_error_rest(err, 401, "PGRST302", "No API key found in request");
        kiln_error_hint(err, "No `apikey` request header or url param was found.");
        return false;
    }
    return true;
}

void rest_set_content_range(KilnResponse *res, long long offset, long long page,
                              long long total)
{
    char cr[80], tot[24];
    if (total >= 0)
        snprintf(tot, sizeof tot, "%lld", total);
    else
        snprintf(tot, sizeof tot, "*");
    if (page > 0)
        snprintf(cr, sizeof cr, "%lld-%lld/%s", offset, offset + page - 1, tot);
    else
        snprintf(cr, sizeof cr, "*/%s", tot);
    response_set_header(res, "Content-Range", cr);
}

/* "<first>-[<last>]" (PostgREST's ^([0-9]+)-([0-9]*)$); false when the
 * value has another shape (the header is then ignored). *last = -1: open. */
static bool range_parse(const char *v, long long *first, long long *last)
{
    const char *s = v;
    long long a = 0, b = -1;
    if (!(*s >= '0' && *s <= '9'))
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (a > (LLONG_MAX - 9) / 10)
            return false;
        a = a * 10 + (*s - '0');
    }
    if (*s++ != '-')
        return false;
    if (*s) {
        b = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (b > (LLONG_MAX - 9) / 10)
                return false;
            b = b * 10 + (*s - '0');
        }
        if (*s)
            return false;
    }
    *first = a;
    *last = b;
    return true;
}

bool rest_apply_range(const KilnRequest *req, KilnPlanNode *root, KilnError *err)
{
    if (strcmp(req->method, "GET") != 0)
        return true;
    const char *v = request_header(req, "Range");
    long long first, last;
    if (!v || !range_parse(v, &first, &last))
        return true;
    if (last >= 0 && last < first) {
        kiln_error_rest(err, 416, "PGRST103", "Requested range not satisfiable");
        kiln_error_details(err, "The lower boundary must be lower than or equal to the upper "
                                "boundary in the Range header.");
        return false;
    }
    /* the query's window [offset, offset + limit - 1] meets [first, last] */
    bool open = root->limit < 0 || root->limit > LLONG_MAX - root->offset;
    long long hi = open ? 0 : root->offset + root->limit - 1;
    if (last >= 0 && (open || last < hi)) {
        hi = last;
        open = false;
    }
    long long lo = root->offset > first ? root->offset : first;
    root->offset = lo;
    root->limit = open ? -1 : hi >= lo ? hi - lo + 1 : 0;
    return true;
}

static bool read_with(KilnRequest *req, KilnConn *conn, bool *broken, KilnResponse *res,
                      KilnError *err, KilnArena *arena, const KilnSchemaCache *sc)
{
    const char *table = req->path + strlen(REST_PREFIX);
    if (!*table || strchr(table, '/')) {
        kiln_error_rest(err, 404, "PGRST125", "Invalid path specified in request URL");
        return false;
    }
    char schema[64];
    if (!rest_negotiate_schema(req, "Accept-Profile", schema, sizeof schema, err))
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

    KilnRestQuery *q;
    if (!rest_parse_query(arena, req->query, &kiln_rest_default_limits, &q, err))
        return false;
    const char *token;
    if (!rest_caller_token(req, q->apikey, res, &token, err))
        return false;
    KilnPlanOptions opt = {.schema = schema, .max_rows = req->cfg->db_max_rows,
                           .count_exact = count,
                           .count_planned = pf.count == KILN_COUNT_PLANNED,
                           .count_estimated_max = pf.count == KILN_COUNT_ESTIMATED
                                                      ? req->cfg->db_max_rows
                                                      : 0,
                           .aggregates = req->cfg->db_aggregates_enabled};
    KilnPlan *plan;
    if (!plan_read(arena, sc, table, q, &opt, &plan, err) ||
        !rest_apply_range(req, plan->root, err))
        return false;
    plan->csv = media == KILN_MEDIA_CSV;
    plan->strip_nulls = strip_nulls;
    if (media == KILN_MEDIA_GEOJSON && !rest_geojson_check(sc, plan, err))
        return false;
    plan->row_set = !count && (media == KILN_MEDIA_JSON || media == KILN_MEDIA_OBJECT) &&
                    plan_at_most_one_row(plan->root);
    if (plan->row_set && plan->root->offset == 0 && plan->root->limit != 0 &&
        plan_unique_by_key(plan->root))
        plan->root->limit = -1; /* one row at most anyway: no Limit node */
    KilnSql sql = {0};
    sql_read(arena, plan, &sql);
    if (ex.on) {
        bool ok = rest_plan_run(req, conn, broken, res, err, arena, &ex, &sql, false, token,
                                sc->generation, schema);
        sql_free(&sql);
        return ok;
    }

    KilnTxResult out;
    bool ok = plan->row_set
                  ? rest_tx_rows(req, conn, token, buf_str(&sql.text), sql.nparams, sql.params,
                                 sc->generation, &out, broken, err)
                  : rest_tx(req, conn, false, false, token, buf_str(&sql.text), sql.nparams,
                            sql.params, sc->generation, &out, broken, err);
    sql_free(&sql);
    if (!ok) {
        rest_auth_error_headers(res, err);
        return false;
    }
    buf_free(&out.extra);

    long long offset = plan->root->offset;
    response_set_header(res, "Content-Profile", schema);
    KilnBuf applied = KILN_BUF_INIT;
    rest_prefer_applied(&pf, &(KilnPreferApplied){.count = true, .handling = true}, &applied);
    if (applied.len)
        response_set_header(res, "Preference-Applied", buf_str(&applied));
    buf_free(&applied);
    rest_set_content_range(res, offset, out.page_rows, out.total);
    if (out.total >= 0 && offset > out.total) {
        buf_free(&out.body);
        kiln_error_rest(err, 416, "PGRST103", "Requested range not satisfiable");
        kiln_error_details(err, "An offset of %lld was requested, but there are only %lld rows.",
                           offset, out.total);
        return false;
    }
    if (media == KILN_MEDIA_OBJECT) {
        if (out.page_rows != 1) {
            buf_free(&out.body);
            kiln_error_rest(err, 406, "PGRST116",
                            "Cannot coerce the result to a single JSON object");
            kiln_error_details(err, "The result contains %lld rows", out.page_rows);
            return false;
        }
        /* json_agg of one row: "[" object "]". */
        KilnBuf *b = &out.body;
        if (b->len >= 2 && b->data[0] == '[' && b->data[b->len - 1] == ']') {
            memmove(b->data, b->data + 1, b->len - 2);
            b->len -= 2;
            b->data[b->len] = '\0';
        }
        res->content_type = strip_nulls
                                ? "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"
                                : "application/vnd.pgrst.object+json; charset=utf-8";
    } else if (media == KILN_MEDIA_CSV) {
        KilnBuf csv = KILN_BUF_INIT;
        rest_csv_body(plan->root, &out.body, &csv);
        buf_free(&out.body);
        out.body = csv;
        res->content_type = "text/csv; charset=utf-8";
    } else if (media == KILN_MEDIA_GEOJSON) {
        res->content_type = "application/geo+json; charset=utf-8";
    } else {
        res->content_type = strip_nulls
                                ? "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
                                : "application/json; charset=utf-8";
    }
    res->status = out.total >= 0 && out.page_rows < out.total ? 206 : 200;
    buf_free(&res->body);
    res->body = out.body;
    return true;
}

bool rest_read(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
               KilnError *err)
{
    KilnSchemaCache *sc = rest_snapshot(req, err);
    if (!sc)
        return false;
    KilnArena *arena = arena_create();
    bool read = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool ok = read ? read_with(req, conn, conn_broken, res, err, arena, sc)
                   : rest_write_with(req, conn, conn_broken, res, err, arena, sc);
    arena_free(arena);
    schema_cache_release(sc);
    return ok;
}
