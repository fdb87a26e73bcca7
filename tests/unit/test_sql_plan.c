/* Unit tests of sql_plan.c and rest_plan.c: golden SQL and parameter lists
 * for Prefer: count=planned / count=estimated and for the statement that
 * answers the plan media type (every request value, and the explained
 * statement's own text, a parameter), and the Accept header that asks for a
 * plan (format, options, for=, refusals). */
#include <stdlib.h>

#include "buf.h"
#include "plan.h"
#include "rest_parse.h"
#include "rest_plan.h"
#include "sql.h"
#include "unit.h"

/* items(id pk, label, owner_id -> owners), owners(id pk, name) */
static const char schema_json[] =
    "{\"tables\":["
    "{\"oid\":1,\"schema\":\"public\",\"name\":\"items\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"label\",\"type\":\"text\",\"num\":2,\"pk\":false},"
    "{\"name\":\"owner_id\",\"type\":\"integer\",\"num\":3,\"pk\":false}]},"
    "{\"oid\":2,\"schema\":\"public\",\"name\":\"owners\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"name\",\"type\":\"text\",\"num\":2,\"pk\":false}]}],"
    "\"fks\":[{\"name\":\"items_owner_id_fkey\",\"from\":1,\"to\":2,\"cols\":[3],\"refs\":[1]}]}";

typedef struct Out {
    KilnArena *a;
    KilnSql sql;
    bool ok;
    char params[1024];
} Out;

static void join_params(const KilnSql *q, char *out, size_t len)
{
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < q->nparams; i++) {
        int n = snprintf(out + off, len - off, "%s%s", i ? "|" : "",
                         q->params[i] ? q->params[i] : "(null)");
        if (n > 0 && (size_t)n < len - off)
            off += (size_t)n;
    }
}

/* The read statement of table?qs with the count options given. */
static void gen(Out *o, const char *table, const char *qs, bool planned, long long estimated)
{
    memset(o, 0, sizeof *o);
    o->a = arena_create();
    KilnError err = {0};
    KilnSchemaCache *sc = schema_cache_from_json(schema_json, &err);
    KilnRestQuery *q;
    KilnPlan *p;
    KilnPlanOptions opt = {.schema = "public", .max_rows = 1000, .count_exact = true,
                           .count_planned = planned, .count_estimated_max = estimated};
    o->ok = sc && rest_parse_query(o->a, qs, &kiln_rest_default_limits, &q, &err) &&
            plan_read(o->a, sc, table, q, &opt, &p, &err);
    if (o->ok) {
        sql_read(o->a, p, &o->sql);
        join_params(&o->sql, o->params, sizeof o->params);
    }
    schema_cache_release(sc);
}

static void done(Out *o)
{
    sql_free(&o->sql);
    arena_free(o->a);
}

#define HEAD(id)                                                                                   \
    "SELECT coalesce(pg_catalog.json_agg(j" #id "), '[]')::text AS body, pg_catalog.count(*) AS "  \
    "page_rows, "

UNIT_TEST(count_planned_is_plan_rows_of_the_count_query)
{
    Out o;
    gen(&o, "items", "select=id&label=eq.x&id=gt.3", true, 0);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "kiln.plan_rows($1, ARRAY[$2::text, $3::text]::text[]) AS total FROM "
                         "(SELECT k0.\"id\" AS \"id\" FROM \"public\".\"items\" AS k0 WHERE "
                         "k0.\"label\" = $4 AND k0.\"id\" > $5 LIMIT 1000) AS j0");
    CHECK_STR_EQ(o.params, "SELECT 1 FROM \"public\".\"items\" AS k0 WHERE k0.\"label\" = $1 "
                           "AND k0.\"id\" > $2|x|3|x|3");
    done(&o);
}

UNIT_TEST(count_planned_without_filters_has_no_values)
{
    Out o;
    gen(&o, "owners", "select=name", true, 0);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "kiln.plan_rows($1, ARRAY[]::text[]) AS total FROM (SELECT k0.\"name\" "
                         "AS \"name\" FROM \"public\".\"owners\" AS k0 LIMIT 1000) AS j0");
    CHECK_STR_EQ(o.params, "SELECT 1 FROM \"public\".\"owners\" AS k0");
    done(&o);
}

UNIT_TEST(count_planned_keeps_inner_embed_conditions)
{
    Out o;
    gen(&o, "items", "select=id,owners!inner(name)&owners.name=eq.ann", true, 0);
    CHECK(o.ok);
    /* the count query carries the !inner EXISTS with its own $1 */
    CHECK(strstr(o.params, "SELECT 1 FROM \"public\".\"items\" AS k0 WHERE EXISTS (SELECT 1 FROM "
                           "\"public\".\"owners\" AS k1 WHERE ") == o.params);
    CHECK(strstr(o.params, "k1.\"name\" = $1)|ann|") != NULL);
    done(&o);
}

UNIT_TEST(count_estimated_is_exact_up_to_max_rows_then_the_estimate)
{
    Out o;
    gen(&o, "items", "select=id&label=eq.x", false, 50);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "(SELECT CASE WHEN kiln_c.n OPERATOR(pg_catalog.>) 50 THEN "
                         "pg_catalog.int8larger(kiln_c.n, kiln.plan_rows($1, ARRAY[$2::text]::"
                         "text[])) ELSE kiln_c.n END FROM (SELECT pg_catalog.count(*) AS n FROM "
                         "(SELECT 1 FROM \"public\".\"items\" AS k0 WHERE k0.\"label\" = $3 "
                         "LIMIT 51) AS kiln_l) AS kiln_c) AS total FROM (SELECT k0.\"id\" AS "
                         "\"id\" FROM \"public\".\"items\" AS k0 WHERE k0.\"label\" = $4 LIMIT "
                         "1000) AS j0");
    CHECK_STR_EQ(o.params,
                 "SELECT 1 FROM \"public\".\"items\" AS k0 WHERE k0.\"label\" = $1|x|x|x");
    done(&o);
}

UNIT_TEST(count_exact_is_unchanged)
{
    Out o;
    gen(&o, "items", "select=id&id=eq.1", false, 0);
    CHECK(o.ok);
    CHECK(strstr(buf_str(&o.sql.text), "(SELECT pg_catalog.count(*) FROM \"public\".\"items\" AS "
                                       "k0 WHERE k0.\"id\" = $1) AS total") != NULL);
    CHECK(strstr(buf_str(&o.sql.text), "plan_rows") == NULL);
    done(&o);
}

UNIT_TEST(injection_in_values_stays_in_parameters)
{
    Out o;
    gen(&o, "items", "select=id&label=eq.x'),(SELECT%20pg_sleep(9))--", true, 0);
    CHECK(o.ok);
    CHECK(strstr(buf_str(&o.sql.text), "pg_sleep") == NULL);
    CHECK(strstr(o.params, "|x'),(SELECT pg_sleep(9))--|") != NULL);
    done(&o);
}

UNIT_TEST(explain_statement_binds_text_values_format_and_options)
{
    Out o;
    gen(&o, "items", "select=id&label=eq.x", false, 0);
    CHECK(o.ok);
    KilnSql ex = {0};
    const char *opts[] = {"analyze", "verbose"};
    sql_explain(o.a, &o.sql, true, opts, 2, &ex);
    CHECK_STR_EQ(buf_str(&ex.text),
                 "SELECT kiln.explain($1, ARRAY[$2::text, $3::text]::text[], $4, ARRAY[$5::text, "
                 "$6::text]::text[]) AS body, 0::int8 AS page_rows, NULL::int8 AS total");
    char params[2048];
    join_params(&ex, params, sizeof params);
    char want[2048];
    snprintf(want, sizeof want, "%s|x|x|json|analyze|verbose", buf_str(&o.sql.text));
    CHECK_STR_EQ(params, want);
    sql_free(&ex);

    KilnSql none = {0}, empty = {0};
    sql_explain(o.a, &empty, false, NULL, 0, &none);
    CHECK_STR_EQ(buf_str(&none.text), "SELECT kiln.explain($1, ARRAY[]::text[], $2, ARRAY[]::"
                                      "text[]) AS body, 0::int8 AS page_rows, NULL::int8 AS total");
    join_params(&none, params, sizeof params);
    CHECK_STR_EQ(params, "|text");
    sql_free(&none);
    done(&o);
}

UNIT_TEST(explain_keeps_null_values)
{
    KilnArena *a = arena_create();
    KilnSql stmt = {0}, ex = {0};
    buf_puts(&stmt.text, "SELECT $1, $2");
    stmt.params = arena_alloc(a, 2 * sizeof *stmt.params);
    stmt.params[0] = NULL;
    stmt.params[1] = "v";
    stmt.nparams = stmt.cap = 2;
    sql_explain(a, &stmt, false, NULL, 0, &ex);
    CHECK(ex.nparams == 4 && ex.params[1] == NULL && strcmp(ex.params[2], "v") == 0);
    sql_free(&ex);
    sql_free(&stmt);
    arena_free(a);
}

static bool accept(const char *h, bool enabled, KilnExplain *ex, KilnError *err)
{
    memset(err, 0, sizeof *err);
    return rest_plan_accept(h, enabled, ex, err);
}

UNIT_TEST(accept_reads_what_postgrest_js_sends)
{
    KilnExplain ex;
    KilnError err;
    CHECK(accept("application/vnd.pgrst.plan+text; for=\"application/json\"; options=analyze|verbose;",
                 true, &ex, &err));
    CHECK(ex.on && !ex.json);
    CHECK(ex.options == (KILN_EXPLAIN_ANALYZE | KILN_EXPLAIN_VERBOSE));
    CHECK_STR_EQ(ex.for_type, "application/json");
    CHECK(accept("application/vnd.pgrst.plan+json; for=\"text/csv\"; options=;", true, &ex, &err));
    CHECK(ex.on && ex.json && ex.options == 0);
    CHECK_STR_EQ(ex.for_type, "text/csv");
    /* a quoted for= may hold ';' and ',' */
    CHECK(accept("application/vnd.pgrst.plan+json;for=\"application/vnd.pgrst.object+json;"
                 "nulls=stripped\";options=wal|buffers|settings",
                 true, &ex, &err));
    CHECK_STR_EQ(ex.for_type, "application/vnd.pgrst.object+json;nulls=stripped");
    CHECK(ex.options == (KILN_EXPLAIN_WAL | KILN_EXPLAIN_BUFFERS | KILN_EXPLAIN_SETTINGS));
    KilnBuf ct = KILN_BUF_INIT;
    rest_plan_content_type(&ex, &ct);
    CHECK_STR_EQ(buf_str(&ct), "application/vnd.pgrst.plan+json; for=\"application/vnd.pgrst."
                               "object+json;nulls=stripped\"; options=settings|buffers|wal; "
                               "charset=utf-8");
    buf_free(&ct);
}

UNIT_TEST(accept_defaults_and_other_types)
{
    KilnExplain ex;
    KilnError err;
    CHECK(accept("application/vnd.pgrst.plan", true, &ex, &err));
    CHECK(ex.on && !ex.json && ex.options == 0);
    CHECK_STR_EQ(ex.for_type, "application/json");
    CHECK(accept("text/csv, Application/Vnd.Pgrst.Plan+JSON ; options=ANALYZE|nope", true, &ex,
                 &err));
    CHECK(ex.on && ex.json && ex.options == KILN_EXPLAIN_ANALYZE);
    const char *names[5];
    CHECK(rest_plan_option_names(&ex, names) == 1 && strcmp(names[0], "analyze") == 0);
    CHECK(accept("application/json", true, &ex, &err) && !ex.on);
    CHECK(accept(NULL, false, &ex, &err) && !ex.on);
    CHECK(accept("application/vnd.pgrst.planx", true, &ex, &err) && !ex.on);
    /* disabled: no plan while others are served as before */
    CHECK(accept("application/json", false, &ex, &err) && !ex.on);
}

UNIT_TEST(accept_refusals_are_406)
{
    KilnExplain ex;
    KilnError err;
    CHECK(!accept("application/vnd.pgrst.plan+json", false, &ex, &err));
    CHECK(err.status == 406 && strcmp(err.code, "PGRST107") == 0);
    CHECK(!accept("application/vnd.pgrst.plan; for=\"text/html\r\nX-Evil: 1\"", true, &ex, &err));
    CHECK(err.status == 406);
    char long_for[300];
    memset(long_for, 'a', sizeof long_for);
    memcpy(long_for, "application/vnd.pgrst.plan; for=", 32);
    long_for[sizeof long_for - 1] = '\0';
    CHECK(!accept(long_for, true, &ex, &err));
    CHECK(err.status == 406);
}

UNIT_MAIN()
