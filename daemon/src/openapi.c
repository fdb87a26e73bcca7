/*
 * openapi.c: GET/HEAD /rest/v1/ answers with the OpenAPI 2.0 description
 * of the negotiated schema (Accept-Profile), built from the schema cache.
 *
 * What it describes follows PostgREST's default (openapi-mode
 * follow-privileges): the tables and views on which the caller holds
 * SELECT (on any column) and the functions it may EXECUTE, asked of the
 * database in one read-only transaction as the caller kiln.authenticate
 * verifies; nothing else of the schema is named. The document is built by
 * openapi_build, which is pure; the handler does the negotiation and the
 * transaction. It never writes SQL (sql_rpc.c holds the statement).
 */
#include "openapi.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "rest.h"
#include "route.h"
#include "server.h"
#include "sql.h"
#include "tx.h"

/* ---- the document (pure) ----------------------------------------------- */

/* The JSON type of a PostgreSQL type, as PostgREST maps it: NULL for json
 * and jsonb (any JSON value). Type modifiers ("(20)") are ignored. */
static const char *swagger_type(const char *pgtype)
{
    static const struct {
        const char *pg, *json;
    } map[] = {
        {"character varying", "string"}, {"character", "string"}, {"text", "string"},
        {"boolean", "boolean"},          {"smallint", "integer"}, {"integer", "integer"},
        {"bigint", "integer"},           {"numeric", "number"},   {"real", "number"},
        {"double precision", "number"},  {"json", NULL},          {"jsonb", NULL},
    };
    size_t n = strlen(pgtype);
    if (n > 2 && strcmp(pgtype + n - 2, "[]") == 0)
        return "array";
    size_t base = strcspn(pgtype, "(");
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i].pg) == base && strncmp(pgtype, map[i].pg, base) == 0)
            return map[i].json;
    return "string";
}

/* {"type": ..., "format": pgtype} (and array items) for a column or argument. */
static json_t *type_schema(const char *pgtype)
{
    json_t *o = json_object();
    const char *t = swagger_type(pgtype);
    if (t)
        json_object_set_new(o, "type", json_string(t));
    json_object_set_new(o, "format", json_string(pgtype));
    if (t && strcmp(t, "array") == 0) {
        size_t n = strlen(pgtype);
        char *elem = strndup(pgtype, n - 2);
        if (!elem)
            abort();
        json_t *items = json_object();
        const char *et = swagger_type(elem);
        json_object_set_new(items, "type", json_string(et ? et : "string"));
        json_object_set_new(o, "items", items);
        free(elem);
    }
    return o;
}

/* {"$ref": "#/<section>/<a>[.<b>[.<c>]]"} */
static json_t *ref(const char *section, const char *a, const char *b, const char *c)
{
    KilnBuf s = KILN_BUF_INIT;
    buf_printf(&s, "#/%s/%s", section, a);
    if (b)
        buf_printf(&s, ".%s", b);
    if (c)
        buf_printf(&s, ".%s", c);
    json_t *o = json_pack("{s:s}", "$ref", buf_str(&s));
    buf_free(&s);
    return o;
}

static json_t *string_array(const char *const *items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(items[i]));
    return a;
}

/*
 * The shared parameters PostgREST defines under #/parameters. Columns: key,
 * name, where it goes, description, allowed values (NULL: any string).
 */
static const char *const counts[] = {"count=none", "count=exact", "count=planned",
                                     "count=estimated", NULL};
static const char *const returns[] = {"return=representation", "return=minimal", "return=none",
                                      NULL};
static const struct {
    const char *key, *name, *in, *description;
    const char *const *values;
} shared_params[] = {
    {"select", "select", "query", "Filtering Columns", NULL},
    {"order", "order", "query", "Ordering", NULL},
    {"range", "Range", "header", "Limiting and Pagination", NULL},
    {"rangeUnit", "Range-Unit", "header", "Limiting and Pagination", NULL},
    {"offset", "offset", "query", "Limiting and Pagination", NULL},
    {"limit", "limit", "query", "Limiting and Pagination", NULL},
    {"preferCount", "Prefer", "header", "Preference", counts},
    {"preferReturn", "Prefer", "header", "Preference", returns},
};

static json_t *common_parameters(void)
{
    json_t *p = json_object();
    for (size_t i = 0; i < sizeof shared_params / sizeof shared_params[0]; i++) {
        json_t *o = json_pack("{s:s,s:s,s:b,s:s,s:s}", "name", shared_params[i].name, "description",
                              shared_params[i].description, "required", 0, "in",
                              shared_params[i].in, "type", "string");
        const char *const *v = shared_params[i].values;
        if (v) {
            size_t n = 0;
            while (v[n])
                n++;
            json_object_set_new(o, "enum", string_array(v, n));
        }
        json_object_set_new(p, shared_params[i].key, o);
    }
    return p;
}

static void add_table(json_t *paths, json_t *defs, json_t *params, const KilnTable *t,
                      unsigned write_methods)
{
    json_t *props = json_object();
    for (int c = 0; c < t->ncols; c++) {
        const KilnColumn *col = &t->cols[c];
        json_t *s = type_schema(col->type);
        if (col->pk)
            json_object_set_new(s, "description",
                                json_string("Note:\nThis is a Primary Key.<pk/>"));
        json_object_set_new(props, col->name, s);
        KilnBuf key = KILN_BUF_INIT;
        buf_printf(&key, "rowFilter.%s.%s", t->name, col->name);
        json_object_set_new(params, buf_str(&key),
                            json_pack("{s:s,s:b,s:s,s:s,s:s}", "name", col->name, "required", 0,
                                      "in", "query", "type", "string", "format", col->type));
        buf_free(&key);
    }
    json_object_set_new(defs, t->name,
                        json_pack("{s:s,s:o}", "type", "object", "properties", props));
    KilnBuf body = KILN_BUF_INIT;
    buf_printf(&body, "body.%s", t->name);
    json_object_set_new(params, buf_str(&body),
                        json_pack("{s:s,s:s,s:b,s:s,s:o}", "name", t->name, "description", t->name,
                                  "required", 0, "in", "body", "schema",
                                  ref("definitions", t->name, NULL, NULL)));

    json_t *filters = json_array();
    for (int c = 0; c < t->ncols; c++)
        json_array_append_new(filters, ref("parameters", "rowFilter", t->name, t->cols[c].name));
    json_t *item = json_object();
    json_t *get_params = json_deep_copy(filters);
    static const char *const shared[] = {"select", "order", "range",      "rangeUnit",
                                         "offset", "limit", "preferCount"};
    for (size_t i = 0; i < sizeof shared / sizeof shared[0]; i++)
        json_array_append_new(get_params, ref("parameters", shared[i], NULL, NULL));
    json_object_set_new(item, "get",
                        json_pack("{s:[s],s:o,s:{s:{s:s,s:{s:s,s:o}},s:{s:s}}}", "tags", t->name,
                                  "parameters", get_params, "responses", "200", "description", "OK",
                                  "schema", "type", "array", "items",
                                  ref("definitions", t->name, NULL, NULL), "206", "description",
                                  "Partial Content"));
    if (!t->is_view && (write_methods & KILN_POST))
        json_object_set_new(item, "post",
                            json_pack("{s:[s],s:[o,o,o],s:{s:{s:s}}}", "tags", t->name,
                                      "parameters", ref("parameters", "body", t->name, NULL),
                                      ref("parameters", "select", NULL, NULL),
                                      ref("parameters", "preferReturn", NULL, NULL), "responses",
                                      "201", "description", "Created"));
    if (!t->is_view && (write_methods & KILN_PATCH)) {
        json_t *pp = json_deep_copy(filters);
        json_array_append_new(pp, ref("parameters", "body", t->name, NULL));
        json_array_append_new(pp, ref("parameters", "preferReturn", NULL, NULL));
        json_object_set_new(item, "patch",
                            json_pack("{s:[s],s:o,s:{s:{s:s}}}", "tags", t->name, "parameters", pp,
                                      "responses", "204", "description", "No Content"));
    }
    if (!t->is_view && (write_methods & KILN_DELETE)) {
        json_t *dp = json_deep_copy(filters);
        json_array_append_new(dp, ref("parameters", "preferReturn", NULL, NULL));
        json_object_set_new(item, "delete",
                            json_pack("{s:[s],s:o,s:{s:{s:s}}}", "tags", t->name, "parameters", dp,
                                      "responses", "204", "description", "No Content"));
    }
    json_decref(filters);
    KilnBuf path = KILN_BUF_INIT;
    buf_printf(&path, "/%s", t->name);
    json_object_set_new(paths, buf_str(&path), item);
    buf_free(&path);
    buf_free(&body);
}

static void add_function(json_t *paths, const KilnFunction *f)
{
    KilnBuf tag = KILN_BUF_INIT, path = KILN_BUF_INIT;
    buf_printf(&tag, "(rpc) %s", f->name);
    buf_printf(&path, "/rpc/%s", f->name);
    json_t *props = json_object(), *required = json_array(), *query = json_array();
    for (int i = 0; i < f->nargs; i++) {
        const KilnFuncArg *a = &f->args[i];
        if (!a->name[0])
            continue;
        json_object_set_new(props, a->name, type_schema(a->type));
        if (!a->has_default)
            json_array_append_new(required, json_string(a->name));
        json_t *q = type_schema(a->type);
        if (!json_object_get(q, "type"))
            json_object_set_new(q, "type", json_string("string"));
        json_object_set_new(q, "name", json_string(a->name));
        json_object_set_new(q, "in", json_string("query"));
        json_object_set_new(q, "required", json_boolean(!a->has_default));
        if (json_object_get(q, "items"))
            json_object_set_new(q, "collectionFormat", json_string("multi"));
        json_array_append_new(query, q);
    }
    json_t *args = json_pack("{s:s,s:o}", "type", "object", "properties", props);
    if (json_array_size(required))
        json_object_set(args, "required", required);
    json_decref(required);
    json_t *item = json_object();
    json_t *post = json_pack("{s:[s],s:[{s:s,s:s,s:b,s:o}],s:{s:{s:s}}}", "tags", buf_str(&tag),
                             "parameters", "in", "body", "name", "args", "required", 1, "schema",
                             args, "responses", "200", "description", "OK");
    if (f->description[0]) {
        json_object_set_new(post, "summary", json_string(f->description));
    }
    /* A VOLATILE function is described by POST only: by GET it runs read-only. */
    if (f->volatility != 'v') {
        json_t *get = json_pack("{s:[s],s:o,s:{s:{s:s}}}", "tags", buf_str(&tag), "parameters",
                                query, "responses", "200", "description", "OK");
        if (f->description[0])
            json_object_set_new(get, "summary", json_string(f->description));
        json_object_set_new(item, "get", get);
    } else {
        json_decref(query);
    }
    json_object_set_new(item, "post", post);
    json_object_set_new(paths, buf_str(&path), item);
    buf_free(&tag);
    buf_free(&path);
}

void openapi_build(const KilnSchemaCache *sc, const char *schema, const bool *tables,
                   const bool *funcs, unsigned write_methods, KilnBuf *out)
{
    static const char *const media[] = {"application/json", "application/vnd.pgrst.object+json",
                                        "text/csv"};
    json_t *doc = json_object();
    json_object_set_new(doc, "swagger", json_string("2.0"));
    KilnBuf title = KILN_BUF_INIT;
    buf_printf(&title, "Kiln data API: schema %s", schema);
    json_object_set_new(doc, "info",
                        json_pack("{s:s,s:s,s:s}", "title", buf_str(&title), "description",
                                  "The PostgREST dialect served by kiln at /rest/v1", "version",
                                  KILN_VERSION));
    buf_free(&title);
    json_object_set_new(doc, "basePath", json_string("/rest/v1"));
    json_object_set_new(doc, "consumes", string_array(media, 2));
    json_object_set_new(doc, "produces", string_array(media, 3));
    json_t *paths = json_object(), *defs = json_object(), *params = common_parameters();
    static const char *const intro[] = {"application/openapi+json", "application/json"};
    json_object_set_new(paths, "/",
                        json_pack("{s:{s:[s],s:s,s:o,s:{s:{s:s}}}}", "get", "tags", "Introspection",
                                  "summary", "OpenAPI description (this document)", "produces",
                                  string_array(intro, 2), "responses", "200", "description", "OK"));
    for (int i = 0; i < sc->ntables; i++)
        if (strcmp(sc->tables[i].schema, schema) == 0 && (!tables || tables[i]))
            add_table(paths, defs, params, &sc->tables[i], write_methods);
    for (int i = 0; i < sc->nfuncs; i++)
        if (strcmp(sc->funcs[i].schema, schema) == 0 && (!funcs || funcs[i]))
            add_function(paths, &sc->funcs[i]);
    json_object_set_new(doc, "paths", paths);
    json_object_set_new(doc, "definitions", defs);
    json_object_set_new(doc, "parameters", params);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        abort();
    buf_puts(out, text);
    free(text);
    json_decref(doc);
}

/* ---- the handler ------------------------------------------------------- */

/* Appends s as one double-quoted element of a text[] literal. */
static void array_item(KilnBuf *b, const char *s)
{
    buf_puts(b, b->len > 1 ? ",\"" : "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_putc(b, '\\');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

/* Marks in flags[] the 1-based positions listed in the JSON array. */
static void mark(json_t *list, const int *index, int n, bool *flags)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        long long k = json_integer_value(v);
        if (k >= 1 && k <= n)
            flags[index[k - 1]] = true;
    }
}

/* Is the media type in Accept one this endpoint produces? */
static bool accepts_openapi(const char *accept)
{
    if (!accept || !*accept)
        return true;
    static const char *const ok[] = {"application/openapi+json", "application/json", "*/*",
                                     "application/*"};
    for (const char *s = accept; *s;) {
        while (*s == ' ' || *s == ',')
            s++;
        size_t n = strcspn(s, ",;");
        size_t t = n;
        while (t && s[t - 1] == ' ')
            t--;
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
            if (strlen(ok[i]) == t && strncasecmp(s, ok[i], t) == 0)
                return true;
        s += strcspn(s, ",");
    }
    return false;
}

/* Which POST/PATCH/DELETE the route table serves on a table path. */
static unsigned served_writes(void)
{
    static const char *const methods[] = {"POST", "PATCH", "DELETE"};
    unsigned mask = 0;
    for (size_t i = 0; i < 3; i++) {
        char allow[96];
        KilnError e = {0};
        const KilnRoute *r =
            route_find(REST_PREFIX "t", methods[i], false, allow, sizeof allow, &e);
        if (r)
            mask |= route_method_bit(methods[i]);
    }
    return mask;
}

/* The schema's tables and functions that may be described: the statement's
 * three parameters (text[] schemas, text[] names, oid[] oids) and, for the
 * answer's 1-based positions, their indexes in the snapshot. */
typedef struct Candidates {
    KilnBuf schemas, names, oids;
    int *tix, *fix;
    int nt, nf;
} Candidates;

static void candidates(const KilnSchemaCache *sc, const char *schema, Candidates *c)
{
    memset(c, 0, sizeof *c);
    c->tix = calloc((size_t)sc->ntables + 1, sizeof *c->tix);
    c->fix = calloc((size_t)sc->nfuncs + 1, sizeof *c->fix);
    if (!c->tix || !c->fix)
        abort();
    buf_putc(&c->schemas, '{');
    buf_putc(&c->names, '{');
    buf_putc(&c->oids, '{');
    for (int i = 0; i < sc->ntables; i++) {
        if (strcmp(sc->tables[i].schema, schema) != 0)
            continue;
        array_item(&c->schemas, sc->tables[i].schema);
        array_item(&c->names, sc->tables[i].name);
        c->tix[c->nt++] = i;
    }
    for (int i = 0; i < sc->nfuncs; i++) {
        if (strcmp(sc->funcs[i].schema, schema) != 0)
            continue;
        buf_printf(&c->oids, "%s%lld", c->nf ? "," : "", sc->funcs[i].oid);
        c->fix[c->nf++] = i;
    }
    buf_putc(&c->schemas, '}');
    buf_putc(&c->names, '}');
    buf_putc(&c->oids, '}');
}

static void candidates_free(Candidates *c)
{
    buf_free(&c->schemas);
    buf_free(&c->names);
    buf_free(&c->oids);
    free(c->tix);
    free(c->fix);
}

/* Runs the visibility statement as the caller and renders the document. */
static bool describe_visible(KilnRequest *req, KilnConn *conn, bool *broken, KilnResponse *res,
                             KilnError *err, const KilnSchemaCache *sc, const char *schema,
                             const char *token)
{
    Candidates c;
    candidates(sc, schema, &c);
    const char *params[] = {buf_str(&c.schemas), buf_str(&c.names), buf_str(&c.oids)};
    KilnTxResult out;
    bool ok = rest_tx(req, conn, false, false, token, sql_openapi_visible(), 3, params,
                      sc->generation, &out, broken, err);
    if (ok) {
        bool *tvis = calloc((size_t)sc->ntables + 1, sizeof *tvis);
        bool *fvis = calloc((size_t)sc->nfuncs + 1, sizeof *fvis);
        if (!tvis || !fvis)
            abort();
        json_error_t jerr;
        json_t *vis = json_loads(buf_str(&out.body), 0, &jerr);
        mark(json_object_get(vis, "tables"), c.tix, c.nt, tvis);
        mark(json_object_get(vis, "functions"), c.fix, c.nf, fvis);
        json_decref(vis);
        response_set_header(res, "Content-Profile", schema);
        res->status = 200;
        res->content_type = "application/openapi+json; charset=utf-8";
        buf_free(&res->body);
        openapi_build(sc, schema, tvis, fvis, served_writes(), &res->body);
        free(tvis);
        free(fvis);
        buf_free(&out.body);
        buf_free(&out.extra);
    } else {
        rest_auth_error_headers(res, err);
    }
    candidates_free(&c);
    return ok;
}

static bool describe_with(KilnRequest *req, KilnConn *conn, bool *broken, KilnResponse *res,
                          KilnError *err, const KilnSchemaCache *sc)
{
    char schema[64];
    if (!rest_negotiate_schema(req, "Accept-Profile", schema, sizeof schema, err))
        return false;
    const char *accept = request_header(req, "Accept");
    if (!accepts_openapi(accept))
        return kiln_error_rest(err, 406, "PGRST107",
                               "None of these media types are available: %.200s", accept);
    const char *token;
    if (!rest_caller_token(req, request_query(req, "apikey"), res, &token, err))
        return false;
    return describe_visible(req, conn, broken, res, err, sc, schema, token);
}

bool rest_openapi(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
                  KilnError *err)
{
    KilnSchemaCache *sc = rest_snapshot(req, err);
    if (!sc)
        return false;
    bool ok = describe_with(req, conn, conn_broken, res, err, sc);
    schema_cache_release(sc);
    return ok;
}
