/* Unit tests of plan_rpc.c, sql_rpc.c and openapi_build: overload choice,
 * golden SQL and parameter lists for function calls over a fixed schema
 * cache; injection attempts in the function name, argument names and values
 * become a 404 or parameters, never SQL text. */
#include <jansson.h>
#include <stdlib.h>

#include "buf.h"
#include "openapi.h"
#include "plan_rpc.h"
#include "sql.h"
#include "unit.h"

/* items(id pk, name, cat_id -> cats), cats(id pk, name); functions:
 * add(a int, b int) int; hello(name text default) text; items_over(min
 * numeric) setof items; summary() table(item text, cost numeric); nums(n
 * int) setof int; note(msg text) void volatile; echo(jsonb) jsonb (unnamed);
 * raw(text) text (unnamed); bytes(bytea) int (unnamed); sum_all(variadic
 * nums int[]) int; amb(a int) / amb(a text); over(a int) / over(b text);
 * we"ird(x text) text; tagged(doc jsonb, tags text[]) jsonb. */
static const char schema_json[] =
    "{\"tables\":["
    "{\"oid\":1,\"schema\":\"public\",\"name\":\"items\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"name\",\"type\":\"text\",\"num\":2,\"pk\":false},"
    "{\"name\":\"cat_id\",\"type\":\"integer\",\"num\":3,\"pk\":false}]},"
    "{\"oid\":2,\"schema\":\"public\",\"name\":\"cats\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"name\",\"type\":\"character varying(20)\",\"num\":2,\"pk\":false}]}],"
    "\"fks\":[{\"name\":\"items_cat_id_fkey\",\"from\":1,\"to\":2,\"cols\":[3],\"refs\":[1]}],"
    "\"functions\":["
#define FN(name, vol, set, rettype, typtype, retrel, ndef, args, cols)                             \
    "{\"oid\":7,\"schema\":\"public\",\"name\":\"" name "\",\"volatility\":\"" vol      \
    "\",\"set\":" set ",\"rettype\":\"" rettype "\",\"typtype\":\"" typtype "\",\"retrel\":"      \
    #retrel ",\"ndefaults\":" #ndef ",\"description\":\"\",\"args\":[" args "],\"columns\":" cols "}"
#define ARG(name, type, mode) "{\"name\":\"" name "\",\"type\":\"" type "\",\"mode\":\"" mode "\"}"
    FN("add", "i", "false", "integer", "b", 0, 0,
       ARG("a", "integer", "i") "," ARG("b", "integer", "i"), "null") ","
    FN("hello", "s", "false", "text", "b", 0, 1, ARG("name", "text", "i"), "null") ","
    FN("items_over", "s", "true", "items", "c", 1, 0, ARG("min", "numeric", "i"),
       "[{\"name\":\"id\",\"type\":\"integer\"},{\"name\":\"name\",\"type\":\"text\"},"
       "{\"name\":\"cat_id\",\"type\":\"integer\"}]") ","
    FN("summary", "s", "true", "record", "p", 0, 0,
       ARG("item", "text", "t") "," ARG("cost", "numeric", "t"), "null") ","
    FN("nums", "i", "true", "integer", "b", 0, 0, ARG("n", "integer", "i"), "null") ","
    FN("note", "v", "false", "void", "p", 0, 0, ARG("msg", "text", "i"), "null") ","
    FN("echo", "i", "false", "jsonb", "b", 0, 0, ARG("", "jsonb", "i"), "null") ","
    FN("raw", "i", "false", "text", "b", 0, 0, ARG("", "text", "i"), "null") ","
    FN("bytes", "i", "false", "integer", "b", 0, 0, ARG("", "bytea", "i"), "null") ","
    FN("sum_all", "i", "false", "integer", "b", 0, 0, ARG("nums", "integer[]", "v"), "null") ","
    FN("amb", "i", "false", "integer", "b", 0, 0, ARG("a", "integer", "i"), "null") ","
    FN("amb", "i", "false", "text", "b", 0, 0, ARG("a", "text", "i"), "null") ","
    FN("over", "i", "false", "text", "b", 0, 0, ARG("a", "integer", "i"), "null") ","
    FN("over", "i", "false", "text", "b", 0, 0, ARG("b", "text", "i"), "null") ","
    FN("we\\\"ird", "i", "false", "text", "b", 0, 0, ARG("x\\\"y", "text", "i"), "null") ","
    FN("tagged", "v", "false", "jsonb", "b", 0, 0,
       ARG("doc", "jsonb", "i") "," ARG("tags", "text[]", "i"), "null") ","
    FN("bare", "i", "true", "record", "p", 0, 0, "", "null") ","
    FN("one_doc", "i", "false", "jsonb", "b", 0, 0, ARG("doc", "jsonb", "i"), "null") ","
    FN("siblings", "s", "true", "items", "c", 1, 0,
       "{\"name\":\"\",\"type\":\"items\",\"mode\":\"i\",\"rel\":1}",
       "[{\"name\":\"id\",\"type\":\"integer\"},{\"name\":\"name\",\"type\":\"text\"},"
       "{\"name\":\"cat_id\",\"type\":\"integer\"}]")
    "]}";

typedef struct Out {
    KilnArena *a;
    KilnSql sql;
    KilnError err;
    KilnRpcPlan *plan;
    bool ok;
    char params[1024];
} Out;

static KilnSchemaCache *cache(void)
{
    KilnError err = {0};
    KilnSchemaCache *sc = schema_cache_from_json(schema_json, &err);
    if (!sc)
        printf("#   schema: %s\n", err.message);
    return sc;
}

static void gen_req(Out *o, const KilnSchemaCache *sc, KilnRpcRequest *r)
{
    memset(o, 0, sizeof *o);
    o->a = arena_create();
    if (!r->schema)
        r->schema = "public";
    o->ok = plan_rpc(o->a, sc, r, &o->plan, &o->err);
    if (!o->ok) {
        if (getenv("KILN_UNIT_VERBOSE"))
            printf("#   %s: %d %s %s | %s\n", r->name, o->err.status, o->err.code, o->err.message,
                   o->err.details);
        return;
    }
    sql_rpc(o->a, o->plan, &o->sql);
    size_t off = 0;
    for (int i = 0; i < o->sql.nparams; i++) {
        const char *v = o->sql.params[i] ? o->sql.params[i] : "NULL";
        int n = snprintf(o->params + off, sizeof o->params - off, "%s%s", i ? "|" : "", v);
        if (n > 0 && (size_t)n < sizeof o->params - off)
            off += (size_t)n;
    }
}

static void get(Out *o, const KilnSchemaCache *sc, const char *fn, const char *qs, bool count)
{
    KilnRpcRequest r = {.name = fn, .query = qs, .max_rows = 1000, .count_exact = count};
    gen_req(o, sc, &r);
}

static void post(Out *o, const KilnSchemaCache *sc, const char *fn, const char *qs,
                 KilnBodyType type, const char *body, size_t len)
{
    KilnRpcRequest r = {.name = fn, .query = qs, .post = true, .body = body, .body_len = len,
                        .body_type = type, .max_rows = 1000};
    gen_req(o, sc, &r);
}

#define POST_JSON(o, sc, fn, qs, body) post(o, sc, fn, qs, KILN_BODY_JSON, body, strlen(body))

static void done(Out *o)
{
    sql_free(&o->sql);
    arena_free(o->a);
}

UNIT_TEST(cache_loads_functions)
{
    KilnSchemaCache *sc = cache();
    CHECK(sc != NULL);
    if (!sc)
        return;
    CHECK(sc->nfuncs == 18); /* bare (record without OUT columns) is dropped */
    const KilnFunction *f[4];
    CHECK(schema_cache_functions(sc, "public", "amb", f, 4) == 2);
    CHECK(schema_cache_functions(sc, "public", "bare", f, 4) == 0);
    CHECK(schema_cache_functions(sc, "public", "zzz", f, 4) == 0);
    CHECK(schema_cache_functions(sc, "other", "add", f, 4) == 0);
    CHECK(schema_cache_functions(sc, "public", "over", f, 1) == 2 && strcmp(f[0]->name, "over") == 0);
    for (int i = 1; i < sc->nfuncs; i++)
        CHECK(strcmp(sc->funcs[i - 1].name, sc->funcs[i].name) <= 0);
    CHECK(schema_cache_functions(sc, "public", "items_over", f, 4) == 1);
    CHECK(f[0]->ret_table == 0 && f[0]->ret_set && f[0]->ret_kind == KILN_RET_COMPOSITE);
    CHECK(schema_cache_function_result(sc, f[0]) == &sc->tables[0]);
    CHECK(schema_cache_functions(sc, "public", "summary", f, 4) == 1);
    CHECK(f[0]->nargs == 0 && f[0]->result.ncols == 2 && f[0]->ret_table == -1);
    CHECK(schema_cache_functions(sc, "public", "hello", f, 4) == 1);
    CHECK(f[0]->args[0].has_default);
    CHECK(schema_cache_functions(sc, "public", "note", f, 4) == 1);
    CHECK(f[0]->ret_kind == KILN_RET_VOID && schema_cache_function_result(sc, f[0]) == NULL);
    KilnError err = {0};
    CHECK(schema_cache_from_json("{\"tables\":[],\"fks\":[],\"functions\":[{\"name\":1}]}",
                                 &err) == NULL);
    schema_cache_release(sc);
}

UNIT_TEST(scalar_by_get_and_post)
{
    KilnSchemaCache *sc = cache();
    Out o;
    get(&o, sc, "add", "a=1&b=2", false);
    CHECK(o.ok && !o.plan->write);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 "WITH pgrst_source AS (SELECT * FROM \"public\".\"add\"(\"a\" => $1::integer, "
                 "\"b\" => $2::integer) AS pgrst_call(\"add\")) SELECT "
                 "coalesce((pg_catalog.json_agg(j0.\"add\") -> 0)::text, 'null') AS body, "
                 "pg_catalog.count(*) AS page_rows, NULL::bigint AS total FROM (SELECT k0.\"add\" "
                 "AS \"add\" FROM pgrst_source AS k0) AS j0");
    CHECK_STR_EQ(o.params, "1|2");
    done(&o);
    POST_JSON(&o, sc, "add", NULL, "{\"b\": 2.50, \"a\" : -1e3}");
    CHECK(o.ok && !o.plan->write); /* IMMUTABLE: read-only even by POST */
    CHECK_STR_EQ(o.params, "-1e3|2.50"); /* numbers as written, in declared order */
    done(&o);
    schema_cache_release(sc);
}

/* nulls=stripped and text/csv change only the body column. */
/* Aggregates on a set result, when enabled: grouped by the plain columns. */
UNIT_TEST(aggregates_on_a_set_result)
{
    KilnSchemaCache *sc = cache();
    Out o;
    KilnRpcRequest r = {.name = "items_over", .query = "min=1&select=cat_id,id.count()",
                        .max_rows = 1000};
    gen_req(&o, sc, &r);
    CHECK(!o.ok && strcmp(o.err.code, "PGRST123") == 0);
    done(&o);
    r.aggregates = true;
    gen_req(&o, sc, &r);
    CHECK(o.ok);
    CHECK(o.ok && strstr(buf_str(&o.sql.text),
                         "FROM (SELECT k0.\"cat_id\" AS \"cat_id\", pg_catalog.count(k0.\"id\") AS "
                         "\"count\" FROM pgrst_source AS k0 GROUP BY 1 LIMIT 1000) AS j0") != NULL);
    done(&o);
    schema_cache_release(sc);
}

/* A computed relationship: a function of the parent's row in FROM, no
 * join condition; a function of another row type is no relationship. */
UNIT_TEST(computed_relationship_embeds)
{
    KilnSchemaCache *sc = cache();
    KilnArena *a = arena_create();
    KilnError err = {0};
    KilnRestQuery *q;
    KilnPlan *p;
    KilnPlanOptions opt = {.schema = "public", .max_rows = 10};
    CHECK(rest_parse_query(a, "select=id,sib:siblings(name)&siblings.name=eq.x%27--",
                           &kiln_rest_default_limits, &q, &err));
    CHECK(plan_read(a, sc, "items", q, &opt, &p, &err));
    KilnSql sql = {0};
    sql_read(a, p, &sql);
    CHECK_STR_EQ(buf_str(&sql.text),
                 "SELECT coalesce(pg_catalog.json_agg(j0), '[]')::text AS body, "
                 "pg_catalog.count(*) AS page_rows, NULL::bigint AS total FROM (SELECT k0.\"id\" "
                 "AS \"id\", (SELECT coalesce(pg_catalog.json_agg(j1), '[]') FROM (SELECT "
                 "k1.\"name\" AS \"name\" FROM \"public\".\"siblings\"(k0::\"public\".\"items\") AS k1 WHERE k1.\"name\" = "
                 "$1) AS j1) AS \"sib\" FROM \"public\".\"items\" AS k0 LIMIT 10) AS j0");
    CHECK(sql.nparams == 1 && strcmp(sql.params[0], "x'--") == 0);
    sql_free(&sql);
    CHECK(rest_parse_query(a, "select=id,siblings(name)", &kiln_rest_default_limits, &q, &err));
    CHECK(!plan_read(a, sc, "cats", q, &opt, &p, &err));
    CHECK_STR_EQ(err.code, "PGRST200");
    arena_free(a);
    schema_cache_release(sc);
}

UNIT_TEST(scalar_stripped_and_csv_bodies)
{
    KilnSchemaCache *sc = cache();
    Out o;
    KilnRpcRequest r = {.name = "add", .query = "a=1&b=2", .max_rows = 1000};
    memset(&o, 0, sizeof o);
    o.a = arena_create();
    r.schema = "public";
    CHECK(plan_rpc(o.a, sc, &r, &o.plan, &o.err));
    o.plan->read->strip_nulls = true;
    sql_rpc(o.a, o.plan, &o.sql);
    CHECK(strstr(buf_str(&o.sql.text),
                 ") SELECT coalesce((pg_catalog.json_strip_nulls(pg_catalog.json_agg(j0.\"add\") -> "
                 "0))::text, 'null') AS body, ") != NULL);
    sql_free(&o.sql);
    o.sql = (KilnSql){0};
    o.plan->read->strip_nulls = false;
    o.plan->read->csv = true;
    sql_rpc(o.a, o.plan, &o.sql);
    CHECK(strstr(buf_str(&o.sql.text),
                 ") SELECT coalesce(pg_catalog.string_agg(pg_catalog.substr(j0::text, 2, "
                 "pg_catalog.length(j0::text) - 2), pg_catalog.chr(10)), '') AS body, ") != NULL);
    CHECK(o.sql.nparams == 2);
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(set_result_with_filters_order_range_and_count)
{
    KilnSchemaCache *sc = cache();
    Out o;
    get(&o, sc, "items_over", "min=5&select=id,cats(name)&cat_id=eq.1&order=id.desc&limit=2",
        true);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 "WITH pgrst_source AS (SELECT * FROM \"public\".\"items_over\"(\"min\" => "
                 "$1::numeric) AS pgrst_call) SELECT coalesce(pg_catalog.json_agg(j0), '[]')::text "
                 "AS body, pg_catalog.count(*) AS page_rows, (SELECT pg_catalog.count(*) FROM "
                 "pgrst_source AS k0 WHERE k0.\"cat_id\" = $2) AS total FROM (SELECT k0.\"id\" AS "
                 "\"id\", (SELECT pg_catalog.row_to_json(j1) FROM (SELECT k1.\"name\" AS \"name\" "
                 "FROM \"public\".\"cats\" AS k1 WHERE k0.\"cat_id\" = k1.\"id\") AS j1) AS "
                 "\"cats\" FROM pgrst_source AS k0 WHERE k0.\"cat_id\" = $3 ORDER BY k0.\"id\" "
                 "DESC LIMIT 2) AS j0");
    CHECK_STR_EQ(o.params, "5|1|1");
    done(&o);
    /* TABLE(...) columns are checked like a table's */
    get(&o, sc, "summary", "cost=gt.3&select=item", false);
    CHECK(o.ok);
    CHECK_STR_EQ(o.params, "3");
    done(&o);
    get(&o, sc, "summary", "nope=gt.3", false);
    CHECK(!o.ok && o.err.status == 400 && strcmp(o.err.code, "42703") == 0);
    done(&o);
    /* a TABLE result has no relationships to embed */
    get(&o, sc, "summary", "select=item,cats(name)", false);
    CHECK(!o.ok && o.err.status == 400 && strcmp(o.err.code, "PGRST200") == 0);
    done(&o);
    /* SETOF scalar: filtered through the function's own name */
    get(&o, sc, "nums", "n=5&nums=gt.2", false);
    CHECK(o.ok);
    CHECK(strstr(buf_str(&o.sql.text), "coalesce(pg_catalog.json_agg(j0.\"nums\"), '[]')::text") != NULL);
    CHECK(strstr(buf_str(&o.sql.text), "WHERE k0.\"nums\" > $2 LIMIT 1000") != NULL);
    CHECK_STR_EQ(o.params, "5|2");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(void_defaults_and_volatility)
{
    KilnSchemaCache *sc = cache();
    Out o;
    POST_JSON(&o, sc, "note", NULL, "{\"msg\":\"hi\"}");
    CHECK(o.ok && o.plan->write && o.plan->read == NULL);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 "SELECT 'null'::text AS body, pg_catalog.count(*) AS page_rows, NULL::bigint AS "
                 "total FROM \"public\".\"note\"(\"msg\" => $1::text) AS pgrst_call");
    done(&o);
    get(&o, sc, "note", "msg=hi", false);
    CHECK(o.ok && !o.plan->write); /* GET is read-only whatever the volatility */
    done(&o);
    get(&o, sc, "hello", NULL, false);
    CHECK(o.ok && o.plan->nargs == 0);
    CHECK(strstr(buf_str(&o.sql.text), "\"public\".\"hello\"() AS pgrst_call(\"hello\")") != NULL);
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(overloads_and_not_found)
{
    KilnSchemaCache *sc = cache();
    Out o;
    get(&o, sc, "over", "b=x", false);
    CHECK(o.ok && strcmp(o.plan->fn->args[0].type, "text") == 0);
    done(&o);
    POST_JSON(&o, sc, "amb", NULL, "{\"a\":1}");
    CHECK(!o.ok && o.err.status == 300 && strcmp(o.err.code, "PGRST203") == 0);
    CHECK_STR_EQ(o.err.message, "Could not choose the best candidate function between: "
                                "public.amb(a => integer), public.amb(a => text)");
    done(&o);
    POST_JSON(&o, sc, "add", NULL, "{\"b\":1,\"c\":2,\"a\":3}");
    CHECK(!o.ok && o.err.status == 404 && strcmp(o.err.code, "PGRST202") == 0);
    CHECK_STR_EQ(o.err.message, "Could not find the function public.add(a, b, c) in the schema cache");
    CHECK_STR_EQ(o.err.details, "Searched for the function public.add with parameters a, b, c or "
                                "with a single unnamed json/jsonb parameter, but no matches were "
                                "found in the schema cache.");
    CHECK_STR_EQ(o.err.hint, "");
    done(&o);
    get(&o, sc, "add", NULL, false);
    CHECK_STR_EQ(o.err.message, "Could not find the function public.add without parameters in the schema cache");
    CHECK_STR_EQ(o.err.details, "Searched for the function public.add without parameters, but no "
                                "matches were found in the schema cache.");
    done(&o);
    post(&o, sc, "add", NULL, KILN_BODY_TEXT, "x", 1);
    CHECK_STR_EQ(o.err.message, "Could not find the function public.add in the schema cache");
    CHECK_STR_EQ(o.err.details, "Searched for the function public.add with a single unnamed text "
                                "parameter, but no matches were found in the schema cache.");
    done(&o);
    get(&o, sc, "add", "a=1&b=2", false);
    KilnRpcRequest r = {.name = "add", .query = "a=1&b=2", .schema = "private"};
    done(&o);
    gen_req(&o, sc, &r);
    CHECK(!o.ok && o.err.status == 404); /* another schema's functions are not this one's */
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(injection_attempts_are_names_that_match_nothing_or_parameters)
{
    KilnSchemaCache *sc = cache();
    Out o;
    get(&o, sc, "add\"(); DROP TABLE items; --", "a=1&b=2", false);
    CHECK(!o.ok && o.err.status == 404);
    done(&o);
    get(&o, sc, "add", "a=1&b%22%3D%3E1)%3B--=2", false);
    CHECK(!o.ok && o.err.status == 404);
    done(&o);
    POST_JSON(&o, sc, "add", NULL, "{\"a\":\"1); DROP TABLE items; --\",\"b\":\"$1\"}");
    CHECK(o.ok);
    CHECK_STR_EQ(o.params, "1); DROP TABLE items; --|$1");
    CHECK(strstr(buf_str(&o.sql.text), "DROP") == NULL);
    done(&o);
    /* names from the cache are quoted: a function and argument with quotes */
    POST_JSON(&o, sc, "we\"ird", NULL, "{\"x\\\"y\":\"v\"}");
    CHECK(o.ok);
    CHECK(strstr(buf_str(&o.sql.text), "\"public\".\"we\"\"ird\"(\"x\"\"y\" => $1::text)") != NULL);
    CHECK_STR_EQ(o.params, "v");
    done(&o);
    /* filter values stay parameters, filter names are checked */
    get(&o, sc, "items_over", "min=1&name=eq.x'%3B--", false);
    CHECK(o.ok);
    CHECK_STR_EQ(o.params, "1|x';--");
    done(&o);
    get(&o, sc, "items_over", "min=1&na%22me=eq.1", false);
    CHECK(!o.ok && o.err.status == 400);
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(json_values_arrays_variadic_and_bodies)
{
    KilnSchemaCache *sc = cache();
    Out o;
    POST_JSON(&o, sc, "tagged", NULL,
              "{\"doc\": {\"k\": [1, \"two\"]}, \"tags\": [\"a\", \"b,c\", \"q\\\"t\", null, 5]}");
    CHECK(o.ok && o.plan->write);
    CHECK_STR_EQ(o.params, "{\"k\": [1, \"two\"]}|{\"a\",\"b,c\",\"q\\\"t\",NULL,5}");
    done(&o);
    POST_JSON(&o, sc, "tagged", NULL, "{\"doc\": null, \"tags\": \"{x,y}\"}");
    CHECK(o.ok);
    CHECK_STR_EQ(o.params, "NULL|{x,y}");
    done(&o);
    POST_JSON(&o, sc, "sum_all", NULL, "{\"nums\":[1,[2,3]]}");
    CHECK(o.ok);
    CHECK(strstr(buf_str(&o.sql.text), "(VARIADIC \"nums\" => $1::integer[])") != NULL);
    CHECK_STR_EQ(o.params, "{1,{2,3}}");
    done(&o);
    get(&o, sc, "sum_all", "nums=1&nums=2&nums=x%22y", false);
    CHECK(o.ok);
    CHECK_STR_EQ(o.params, "{\"1\",\"2\",\"x\\\"y\"}");
    done(&o);
    get(&o, sc, "sum_all", "nums={4,5}", false);
    CHECK_STR_EQ(o.params, "{4,5}");
    done(&o);
    /* the single unnamed parameter takes the whole body, by position */
    POST_JSON(&o, sc, "echo", NULL, "[1, {\"a\": 2}]");
    CHECK(o.ok && o.plan->positional);
    CHECK(strstr(buf_str(&o.sql.text), "\"public\".\"echo\"($1::jsonb)") != NULL);
    CHECK_STR_EQ(o.params, "[1, {\"a\": 2}]");
    done(&o);
    POST_JSON(&o, sc, "echo", NULL, "{\"any\": 1}");
    CHECK(o.ok && o.plan->positional);
    done(&o);
    post(&o, sc, "raw", NULL, KILN_BODY_TEXT, "it's \"raw\"", 10);
    CHECK(o.ok);
    CHECK_STR_EQ(o.params, "it's \"raw\"");
    done(&o);
    post(&o, sc, "bytes", NULL, KILN_BODY_BINARY, "\0\x01\xff", 3);
    CHECK(o.ok);
    CHECK_STR_EQ(o.params, "\\x0001ff");
    done(&o);
    post(&o, sc, "raw", NULL, KILN_BODY_TEXT, "a\0b", 3);
    CHECK(!o.ok && o.err.status == 400);
    done(&o);
    post(&o, sc, "add", NULL, KILN_BODY_FORM, "a=1&b=%32", 9);
    CHECK(o.ok);
    CHECK_STR_EQ(o.params, "1|2");
    done(&o);
    /* bad JSON */
    POST_JSON(&o, sc, "add", NULL, "{\"a\":1");
    CHECK(!o.ok && o.err.status == 400 && strcmp(o.err.code, "PGRST102") == 0);
    done(&o);
    POST_JSON(&o, sc, "add", NULL, "[1,2]");
    CHECK(!o.ok && o.err.status == 400 && strcmp(o.err.code, "PGRST102") == 0);
    done(&o);
    POST_JSON(&o, sc, "add", NULL, "{\"a\":1,\"a\":5,\"a\":7,\"a\":9,\"b\":2}");
    CHECK(o.ok);
    CHECK_STR_EQ(o.params, "9|2"); /* the last duplicate wins */
    done(&o);
    /* Prefer: params=single-object: the one json parameter, named or not */
    KilnRpcRequest so = {.name = "one_doc", .post = true, .body = "{\"x\": 1}", .body_len = 8,
                         .single_object = true};
    gen_req(&o, sc, &so);
    CHECK(o.ok && o.plan->positional);
    CHECK(strstr(buf_str(&o.sql.text), "\"public\".\"one_doc\"($1::jsonb)") != NULL);
    CHECK_STR_EQ(o.params, "{\"x\": 1}");
    done(&o);
    so.name = "add";
    gen_req(&o, sc, &so);
    CHECK(!o.ok && o.err.status == 404);
    CHECK_STR_EQ(o.err.details, "Searched for the function public.add with a single json/jsonb "
                                "parameter, but no matches were found in the schema cache.");
    done(&o);
    POST_JSON(&o, sc, "hello", NULL, "  ");
    CHECK(o.ok && o.plan->nargs == 0); /* an empty body is {} */
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(get_keys_split_into_arguments_and_filters)
{
    KilnSchemaCache *sc = cache();
    Out o;
    /* not.x.y, in.(..), is.null, fts(cfg).q and embed paths are filters */
    get(&o, sc, "items_over",
        "min=2&name=not.eq.x&id=in.(1,2)&cat_id=is.null&select=id,cats(name)&cats.name=eq.t"
        "&order=id&apikey=k",
        false);
    CHECK(o.ok);
    CHECK(o.plan->nargs == 1);
    CHECK_STR_EQ(o.plan->apikey, "k");
    CHECK_STR_EQ(o.params, "2|t|x|{\"1\",\"2\"}");
    done(&o);
    /* a value that is not op.value names an argument (here: unknown) */
    get(&o, sc, "items_over", "min=2&name=x", false);
    CHECK(!o.ok && o.err.status == 404);
    CHECK_STR_EQ(o.err.message, "Could not find the function public.items_over(min, name) in the schema cache");
    done(&o);
    get(&o, sc, "items_over", "min=2&limit=-1", false);
    CHECK(!o.ok && o.err.status == 416);
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(json_members_scanner)
{
    KilnArena *a = arena_create();
    KilnError err = {0};
    const char **names, **raw;
    int n;
    const char *body = " { \"a\\u0041\" : [1, \"]\", {\"x\": \"}\"}] , \"b\":\"s\\\"t\", \"c\": -0.5e+2 } ";
    CHECK(plan_rpc_json_members(a, body, strlen(body), &names, &raw, &n, &err));
    CHECK(n == 3);
    if (n == 3) {
        CHECK_STR_EQ(names[0], "aA");
        CHECK_STR_EQ(raw[0], "[1, \"]\", {\"x\": \"}\"}]");
        CHECK_STR_EQ(names[1], "b");
        CHECK_STR_EQ(plan_rpc_json_value(a, raw[1], "text"), "s\"t");
        CHECK_STR_EQ(raw[2], "-0.5e+2");
        CHECK_STR_EQ(plan_rpc_json_value(a, raw[0], "text[]"), "{1,\"]\",\"{\\\"x\\\": \\\"}\\\"}\"}");
        CHECK_STR_EQ(plan_rpc_json_value(a, raw[0], "jsonb"), raw[0]);
    }
    CHECK(plan_rpc_json_value(a, "null", "text") == NULL);
    CHECK(!plan_rpc_json_members(a, "{\"a\":\0}", 7, &names, &raw, &n, &err));
    CHECK(!plan_rpc_json_members(a, "\"str\"", 5, &names, &raw, &n, &err));
    arena_free(a);
}

UNIT_TEST(openapi_document)
{
    KilnSchemaCache *sc = cache();
    KilnBuf b = KILN_BUF_INIT;
    /* One flag per table and function of the snapshot, as openapi.c reads them. */
    bool *tables = calloc((size_t)sc->ntables, sizeof *tables);
    bool *funcs = calloc((size_t)sc->nfuncs, sizeof *funcs);
    CHECK(tables && funcs && sc->ntables >= 2);
    tables[0] = true;
    for (int i = 0; i < sc->nfuncs; i++)
        funcs[i] = strcmp(sc->funcs[i].name, "add") == 0 || strcmp(sc->funcs[i].name, "note") == 0;
    openapi_build(sc, "public", tables, funcs, 0, &b);
    free(tables);
    free(funcs);
    json_error_t jerr;
    json_t *doc = json_loads(buf_str(&b), 0, &jerr);
    CHECK(doc != NULL);
    json_t *paths = json_object_get(doc, "paths");
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "swagger")), "2.0");
    CHECK(json_object_get(paths, "/items") != NULL);
    CHECK(json_object_get(paths, "/cats") == NULL);
    CHECK(json_object_get(json_object_get(paths, "/items"), "post") == NULL); /* reads only */
    CHECK(json_object_get(json_object_get(paths, "/rpc/add"), "get") != NULL);
    CHECK(json_object_get(json_object_get(paths, "/rpc/note"), "get") == NULL);
    CHECK(json_object_get(paths, "/rpc/amb") == NULL);
    json_t *id = json_object_get(json_object_get(json_object_get(json_object_get(doc,
                                 "definitions"), "items"), "properties"), "id");
    CHECK_STR_EQ(json_string_value(json_object_get(id, "type")), "integer");
    CHECK_STR_EQ(json_string_value(json_object_get(id, "format")), "integer");
    json_decref(doc);
    buf_reset(&b);
    openapi_build(sc, "public", NULL, NULL, 1u << 2, &b);
    doc = json_loads(buf_str(&b), 0, &jerr);
    paths = json_object_get(doc, "paths");
    CHECK(json_object_get(json_object_get(paths, "/items"), "post") != NULL);
    json_t *name = json_object_get(json_object_get(json_object_get(json_object_get(doc,
                                   "definitions"), "cats"), "properties"), "name");
    CHECK_STR_EQ(json_string_value(json_object_get(name, "type")), "string");
    json_decref(doc);
    buf_free(&b);
    schema_cache_release(sc);
}

UNIT_MAIN()
