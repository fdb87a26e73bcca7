/* Unit tests of rest_prefer.c, plan_write.c and sql_write.c: golden SQL and
 * parameter lists for inserts, upserts, updates, deletes and PUT over a
 * fixed schema cache. The body is always the one parameter $1; injection
 * attempts in column names, on_conflict=, columns=, filter values and JSON
 * keys become parameters, quoted identifiers or a 4xx, never SQL text. */
#include <stdlib.h>

#include "buf.h"
#include "plan_write.h"
#include "rest_parse.h"
#include "rest_prefer.h"
#include "sql.h"
#include "unit.h"

/* owners(id pk, name), items(id pk default nextval, name, qty default 7,
 * owner_id -> owners, gen generated), "we""ird"("a b" pk, "x""y"),
 * nokey(x, y), v (a view over items) */
static const char schema_json[] =
    "{\"tables\":["
    "{\"oid\":1,\"schema\":\"public\",\"name\":\"owners\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":true,\"default\":null},"
    "{\"name\":\"name\",\"type\":\"text\",\"num\":2,\"pk\":false}]},"
    "{\"oid\":2,\"schema\":\"public\",\"name\":\"items\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":true,"
    "\"default\":\"nextval('items_id_seq'::regclass)\"},"
    "{\"name\":\"name\",\"type\":\"text\",\"num\":2,\"pk\":false},"
    "{\"name\":\"qty\",\"type\":\"integer\",\"num\":3,\"pk\":false,\"default\":\"7\"},"
    "{\"name\":\"owner_id\",\"type\":\"integer\",\"num\":4,\"pk\":false},"
    "{\"name\":\"gen\",\"type\":\"integer\",\"num\":5,\"pk\":false,\"generated\":true}]},"
    "{\"oid\":3,\"schema\":\"public\",\"name\":\"we\\\"ird\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"a b\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"x\\\"y\",\"type\":\"text\",\"num\":2,\"pk\":false}]},"
    "{\"oid\":4,\"schema\":\"public\",\"name\":\"nokey\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"x\",\"type\":\"integer\",\"num\":1,\"pk\":false},"
    "{\"name\":\"y\",\"type\":\"text\",\"num\":2,\"pk\":false}]},"
    "{\"oid\":5,\"schema\":\"public\",\"name\":\"v\",\"kind\":\"v\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":false},"
    "{\"name\":\"name\",\"type\":\"text\",\"num\":2,\"pk\":false}]}],"
    "\"fks\":["
    "{\"name\":\"items_owner_id_fkey\",\"from\":2,\"to\":1,\"cols\":[4],\"refs\":[1]}]}";

typedef struct Out {
    KilnArena *a;
    KilnSql sql;
    KilnError err;
    KilnWritePlan *plan;
    bool ok;
    char params[2048];
} Out;

static KilnSchemaCache *cache(void)
{
    KilnError err = {0};
    return schema_cache_from_json(schema_json, &err);
}

/* Runs the pure write pipeline as rest_write.c does. */
static void gen(Out *o, const KilnSchemaCache *sc, KilnWriteKind kind, const char *table,
                const char *qs, const char *prefer, const char *body, bool single)
{
    memset(o, 0, sizeof *o);
    o->a = arena_create();
    KilnPrefer pf;
    rest_prefer_parse(prefer, true, &pf);
    KilnRestQuery *q;
    KilnWriteOptions opt = {.schema = "public", .kind = kind, .prefer = &pf, .single = single};
    KilnWriteBody wb = {0};
    o->ok = rest_prefer_check(&pf, &o->err) &&
            rest_parse_query(o->a, qs, &kiln_rest_default_limits, &q, &o->err);
    const char **names;
    int n;
    if (o->ok && q->columns) {
        o->ok = rest_parse_columns(o->a, "columns", q->columns, 1600, &names, &n, &o->err);
        opt.columns = names;
        opt.ncolumns = n;
    }
    if (o->ok && q->on_conflict) {
        o->ok = rest_parse_columns(o->a, "on_conflict", q->on_conflict, 1600, &names, &n, &o->err);
        opt.on_conflict = names;
        opt.non_conflict = n;
    }
    if (o->ok)
        o->ok = plan_write_body(o->a, body ? body : "", body ? strlen(body) : 0, kind,
                                opt.columns == NULL, &wb, &o->err);
    opt.body = &wb;
    if (o->ok)
        o->ok = plan_write(o->a, sc, table, q, &opt, &o->plan, &o->err);
    if (!o->ok) {
        if (getenv("KILN_UNIT_VERBOSE"))
            printf("#   %s: %d %s %s %s\n", qs, o->err.status, o->err.code, o->err.message,
                   o->err.details);
        return;
    }
    sql_write(o->a, o->plan, wb.json, &o->sql);
    size_t off = 0;
    for (int i = 0; i < o->sql.nparams; i++) {
        int k = snprintf(o->params + off, sizeof o->params - off, "%s%s", i ? "|" : "",
                         o->sql.params[i] ? o->sql.params[i] : "(null)");
        if (k > 0 && (size_t)k < sizeof o->params - off)
            off += (size_t)k;
    }
    if (getenv("KILN_UNIT_VERBOSE"))
        printf("#   SQL %s\n#   PARAMS %s\n", buf_str(&o->sql.text), o->params);
}

static void done(Out *o)
{
    sql_free(&o->sql);
    arena_free(o->a);
}

#define TAIL   " FROM (SELECT pg_catalog.count(*) AS n FROM kiln_written) AS kiln_n"
#define NOBODY "''::text AS body, kiln_n.n AS page_rows, NULL::bigint AS total"

UNIT_TEST(insert_one_object_uses_its_keys)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, KILN_WRITE_INSERT, "items", "", NULL, "{\"name\":\"a\",\"qty\":2}", false);
    CHECK(o.ok);
    CHECK_STR_EQ(
        buf_str(&o.sql.text),
        "WITH kiln_written AS (INSERT INTO \"public\".\"items\" AS k0 (\"name\", \"qty\") "
        "SELECT kiln_row.\"name\", kiln_row.\"qty\" FROM pg_catalog.json_populate_recordset("
        "NULL::\"public\".\"items\", $1::json) AS kiln_row RETURNING 1) SELECT " NOBODY TAIL);
    CHECK_STR_EQ(o.params, "[{\"name\":\"a\",\"qty\":2}]");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(bulk_insert_with_columns_representation_embed_and_count)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, KILN_WRITE_INSERT, "items",
        "columns=%22name%22,%22owner_id%22&select=name,owners(name)",
        "return=representation, count=exact",
        "[{\"name\":\"a\"},{\"name\":\"b\",\"owner_id\":1,\"extra\":true}]", false);
    CHECK(o.ok);
    CHECK_STR_EQ(
        buf_str(&o.sql.text),
        "WITH kiln_written AS (INSERT INTO \"public\".\"items\" AS k0 (\"name\", \"owner_id\") "
        "SELECT kiln_row.\"name\", kiln_row.\"owner_id\" FROM pg_catalog.json_populate_recordset("
        "NULL::\"public\".\"items\", $1::json) AS kiln_row RETURNING k0.*) SELECT "
        "(SELECT coalesce(pg_catalog.json_agg(j0), '[]') FROM (SELECT k0.\"name\" AS \"name\", "
        "(SELECT pg_catalog.row_to_json(j1) FROM (SELECT k1.\"name\" AS \"name\" FROM "
        "\"public\".\"owners\" AS k1 WHERE k0.\"owner_id\" = k1.\"id\") AS j1) AS \"owners\" "
        "FROM kiln_written AS k0) AS j0)::text AS body, kiln_n.n AS page_rows, kiln_n.n AS "
        "total" TAIL);
    CHECK_STR_EQ(o.params, "[{\"name\":\"a\"},{\"name\":\"b\",\"owner_id\":1,\"extra\":true}]");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(missing_default_takes_catalog_defaults_and_names_keys_as_parameters)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, KILN_WRITE_INSERT, "items", "columns=id,qty,owner_id", "missing=default",
        "[{\"qty\":1}]", false);
    CHECK(o.ok);
    CHECK_STR_EQ(
        buf_str(&o.sql.text),
        "WITH kiln_written AS (INSERT INTO \"public\".\"items\" AS k0 (\"id\", \"qty\", "
        "\"owner_id\") "
        "SELECT CASE WHEN kiln_elem.e OPERATOR(pg_catalog.?) $2 THEN kiln_row.\"id\" "
        "ELSE (nextval('items_id_seq'::regclass)) END, "
        "CASE WHEN kiln_elem.e OPERATOR(pg_catalog.?) $3 THEN kiln_row.\"qty\" ELSE (7) END, "
        "CASE WHEN kiln_elem.e OPERATOR(pg_catalog.?) $4 THEN kiln_row.\"owner_id\" ELSE NULL END "
        "FROM pg_catalog.jsonb_array_elements($1::jsonb) AS kiln_elem(e) CROSS JOIN LATERAL "
        "pg_catalog.jsonb_populate_record(NULL::\"public\".\"items\", kiln_elem.e) AS kiln_row "
        "RETURNING 1) SELECT " NOBODY TAIL);
    CHECK_STR_EQ(o.params, "[{\"qty\":1}]|id|qty|owner_id");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(upsert_merge_ignore_and_on_conflict)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, KILN_WRITE_INSERT, "items", "", "resolution=merge-duplicates",
        "{\"id\":1,\"name\":\"a\"}", false);
    CHECK(o.ok);
    CHECK_STR_EQ(
        buf_str(&o.sql.text),
        "WITH kiln_written AS (INSERT INTO \"public\".\"items\" AS k0 (\"id\", \"name\") "
        "SELECT kiln_row.\"id\", kiln_row.\"name\" FROM pg_catalog.json_populate_recordset("
        "NULL::\"public\".\"items\", $1::json) AS kiln_row ON CONFLICT (\"id\") DO UPDATE SET "
        "\"id\" = EXCLUDED.\"id\", \"name\" = EXCLUDED.\"name\" RETURNING "
        "k0.xmax OPERATOR(pg_catalog.=) 0 AS kiln_inserted) SELECT " NOBODY
        ", pg_catalog.json_build_object('inserted', (SELECT pg_catalog.count(*) FROM "
        "kiln_written WHERE kiln_inserted))::text AS extra" TAIL);
    done(&o);
    gen(&o, sc, KILN_WRITE_INSERT, "items", "on_conflict=name,owner_id",
        "resolution=ignore-duplicates", "{\"name\":\"a\"}", false);
    CHECK(o.ok);
    CHECK(strstr(buf_str(&o.sql.text),
                 " ON CONFLICT (\"name\", \"owner_id\") DO NOTHING RETURNING 1)"));
    done(&o);
    /* No key and no on_conflict: a plain insert. */
    gen(&o, sc, KILN_WRITE_INSERT, "nokey", "", "resolution=merge-duplicates", "{\"x\":1}", false);
    CHECK(o.ok && o.plan->resolution == KILN_RES_NONE);
    CHECK(!strstr(buf_str(&o.sql.text), "ON CONFLICT"));
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(headers_only_insert_reports_the_primary_key)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, KILN_WRITE_INSERT, "we\"ird", "", "return=headers-only", "{\"a b\":1}", false);
    CHECK(o.ok && o.plan->location);
    CHECK_STR_EQ(
        buf_str(&o.sql.text),
        "WITH kiln_written AS (INSERT INTO \"public\".\"we\"\"ird\" AS k0 (\"a b\") "
        "SELECT kiln_row.\"a b\" FROM pg_catalog.json_populate_recordset("
        "NULL::\"public\".\"we\"\"ird\", $1::json) AS kiln_row RETURNING k0.*) SELECT " NOBODY
        ", pg_catalog.json_build_object('location', (SELECT pg_catalog.json_build_array("
        "kiln_pk.\"a b\"::text) FROM kiln_written AS kiln_pk LIMIT 1))::text AS extra" TAIL);
    done(&o);
    gen(&o, sc, KILN_WRITE_INSERT, "nokey", "", "return=headers-only", "{\"x\":1}", false);
    CHECK(o.ok && !o.plan->location);
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(update_with_filters_and_max_affected)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, KILN_WRITE_UPDATE, "items", "owner_id=eq.1&or=(qty.gt.3,name.is.null)",
        "handling=strict, max-affected=5", "{\"qty\":1}", false);
    CHECK(o.ok);
    CHECK_STR_EQ(
        buf_str(&o.sql.text),
        "WITH kiln_written AS (UPDATE \"public\".\"items\" AS k0 SET \"qty\" = kiln_row.\"qty\" "
        "FROM pg_catalog.json_populate_record(NULL::\"public\".\"items\", $1::json) AS kiln_row "
        "WHERE k0.\"owner_id\" = $2 AND (k0.\"qty\" > $3 OR k0.\"name\" IS NULL) RETURNING 1) "
        "SELECT ''::text AS body, CASE WHEN kiln_n.n OPERATOR(pg_catalog.>) $4::int8 THEN "
        "('kiln:PGRST124:' OPERATOR(pg_catalog.||) kiln_n.n::text)::int8 ELSE kiln_n.n END "
        "AS page_rows, NULL::bigint AS total" TAIL);
    CHECK_STR_EQ(o.params, "{\"qty\":1}|1|3|5");
    done(&o);
    /* max-affected without handling=strict is not enforced */
    gen(&o, sc, KILN_WRITE_UPDATE, "items", "id=eq.1", "max-affected=5", "{\"qty\":1}", false);
    CHECK(o.ok && o.plan->max_affected == -1);
    done(&o);
    /* An empty object changes nothing and binds no body. */
    gen(&o, sc, KILN_WRITE_UPDATE, "items", "id=eq.1", NULL, "{}", false);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 "WITH kiln_written AS (SELECT k0.* FROM \"public\".\"items\" AS k0 WHERE false) "
                 "SELECT " NOBODY TAIL);
    CHECK(o.sql.nparams == 0);
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(delete_with_filters_and_single_object_check)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, KILN_WRITE_DELETE, "items", "name=in.(a,\"b,c\")&select=id",
        "return=representation", NULL, true);
    CHECK(o.ok);
    CHECK_STR_EQ(
        buf_str(&o.sql.text),
        "WITH kiln_written AS (DELETE FROM \"public\".\"items\" AS k0 WHERE k0.\"name\" = ANY ($1) "
        "RETURNING k0.*) SELECT (SELECT coalesce(pg_catalog.json_agg(j0), '[]') FROM (SELECT "
        "k0.\"id\" AS \"id\" FROM kiln_written AS k0) AS j0)::text AS body, CASE WHEN kiln_n.n "
        "OPERATOR(pg_catalog.<>) 1 THEN ('kiln:PGRST116:' OPERATOR(pg_catalog.||) "
        "kiln_n.n::text)::int8 ELSE kiln_n.n END AS page_rows, NULL::bigint AS total" TAIL);
    CHECK_STR_EQ(o.params, "{\"a\",\"b,c\"}");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(put_rules)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, KILN_WRITE_PUT, "items", "id=eq.4", NULL, "{\"id\":4,\"name\":\"n\"}", false);
    CHECK(o.ok && o.plan->resolution == KILN_RES_MERGE && o.plan->inserted);
    CHECK(strstr(buf_str(&o.sql.text),
                 "ON CONFLICT (\"id\") DO UPDATE SET \"id\" = EXCLUDED.\"id\", "
                 "\"name\" = EXCLUDED.\"name\" RETURNING"));
    CHECK_STR_EQ(o.params, "[{\"id\":4,\"name\":\"n\"}]");
    done(&o);
    gen(&o, sc, KILN_WRITE_PUT, "items", "id=eq.4", NULL, "[{\"id\":4,\"name\":\"n\"}]", false);
    CHECK(o.ok);
    done(&o);
    gen(&o, sc, KILN_WRITE_PUT, "items", "id=eq.4", NULL, "{\"id\":5}", false);
    CHECK(!o.ok && o.err.status == 400 && strcmp(o.err.code, "PGRST115") == 0);
    done(&o);
    gen(&o, sc, KILN_WRITE_PUT, "items", "id=gt.4", NULL, "{\"id\":5}", false);
    CHECK(!o.ok && o.err.status == 405 && strcmp(o.err.code, "PGRST105") == 0);
    done(&o);
    gen(&o, sc, KILN_WRITE_PUT, "items", "id=eq.4&name=eq.x", NULL, "{\"id\":4}", false);
    CHECK(!o.ok && strcmp(o.err.code, "PGRST105") == 0);
    done(&o);
    gen(&o, sc, KILN_WRITE_PUT, "nokey", "x=eq.4", NULL, "{\"x\":4}", false);
    CHECK(!o.ok && strcmp(o.err.code, "PGRST105") == 0);
    done(&o);
    gen(&o, sc, KILN_WRITE_PUT, "items", "id=eq.4&limit=1", NULL, "{\"id\":4}", false);
    CHECK(!o.ok && strcmp(o.err.code, "PGRST114") == 0);
    done(&o);
    gen(&o, sc, KILN_WRITE_PUT, "items", "id=eq.4", NULL, "[{\"id\":4},{\"id\":4}]", false);
    CHECK(!o.ok && strcmp(o.err.code, "PGRST102") == 0);
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(bodies_are_checked)
{
    KilnSchemaCache *sc = cache();
    Out o;
    static const char *const bad[] = {"",
                                      " ",
                                      "{",
                                      "nul",
                                      "42",
                                      "\"s\"",
                                      "[1]",
                                      "[{}, 2]",
                                      "{\"a\":1,}",
                                      "{\"a\" 1}",
                                      "[{}",
                                      "[{},]",
                                      "{} {}",
                                      "{\"a\":01}",
                                      "{\"a\":1.}",
                                      "{\"a\":\"\\x\"}",
                                      "{\"a\":\"\\u12\"}",
                                      "{\"a\":\"tab\there\"}",
                                      "{\"\\u0000\":1}",
                                      "{\"a\":[1,2}",
                                      "{\"a\":tru}",
                                      "{\"a\":-}",
                                      "{\"a\":1e}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gen(&o, sc, KILN_WRITE_INSERT, "items", "", NULL, bad[i], false);
        CHECK(!o.ok && o.err.status == 400 && strcmp(o.err.code, "PGRST102") == 0);
        done(&o);
    }
    gen(&o, sc, KILN_WRITE_INSERT, "items", "", NULL, "[{\"name\":\"a\"},{\"qty\":1}]", false);
    CHECK(!o.ok && strcmp(o.err.message, "All object keys must match") == 0);
    done(&o);
    gen(&o, sc, KILN_WRITE_INSERT, "items", "", NULL, "[{\"name\":\"a\"},{\"name\":1,\"qty\":1}]",
        false);
    CHECK(!o.ok && strcmp(o.err.message, "All object keys must match") == 0);
    done(&o);
    /* same keys in another order, duplicates, escapes, nesting: fine */
    gen(&o, sc, KILN_WRITE_INSERT, "items", "", NULL,
        " [ {\"name\":\"a\",\"qty\":1} , "
        "{\"qty\":2,\"name\":\"\\u00e9\\ud83d\\ude00\\n\",\"qty\":3} ] ",
        false);
    CHECK(o.ok && o.plan->ncols == 2);
    done(&o);
    gen(&o, sc, KILN_WRITE_INSERT, "items", "", NULL,
        "{\"na\\u006de\":{\"x\":[1,{\"y\":[true,false,null,-0.5e+3]}]}}", false);
    CHECK(o.ok && o.plan->ncols == 1 && strcmp(o.plan->cols[0]->name, "name") == 0);
    done(&o);
    /* with columns= differing keys are fine */
    gen(&o, sc, KILN_WRITE_INSERT, "items", "columns=name,qty", NULL,
        "[{\"name\":\"a\"},{\"qty\":1}]", false);
    CHECK(o.ok);
    done(&o);
    /* nesting is bounded (512 levels), not the stack */
    static char deep[2100];
    strcpy(deep, "{\"name\":");
    for (int i = 0; i < 1000; i++)
        strcat(deep, "[");
    gen(&o, sc, KILN_WRITE_INSERT, "items", "", NULL, deep, false);
    CHECK(!o.ok && strcmp(o.err.code, "PGRST102") == 0);
    done(&o);
    gen(&o, sc, KILN_WRITE_UPDATE, "items", "id=eq.1", NULL, "[{\"qty\":1}]", false);
    CHECK(!o.ok && strcmp(o.err.code, "PGRST102") == 0);
    done(&o);
    /* empty rows insert defaults: no column list */
    gen(&o, sc, KILN_WRITE_INSERT, "items", "", NULL, "[{},{}]", false);
    CHECK(o.ok);
    CHECK(strstr(buf_str(&o.sql.text), "INSERT INTO \"public\".\"items\" AS k0 SELECT  FROM "
                                       "pg_catalog.json_populate_recordset("));
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(injection_attempts_are_names_or_errors)
{
    KilnSchemaCache *sc = cache();
    Out o;
    /* a JSON key that is not a column */
    gen(&o, sc, KILN_WRITE_INSERT, "items", "", NULL, "{\"name\\\" = 1; DROP TABLE owners; --\":1}",
        false);
    CHECK(!o.ok && o.err.status == 400 && strcmp(o.err.code, "PGRST204") == 0);
    done(&o);
    /* columns= and on_conflict= with SQL in them */
    gen(&o, sc, KILN_WRITE_INSERT, "items", "columns=name);DROP%20TABLE%20owners;--", NULL,
        "[{\"name\":1}]", false);
    CHECK(!o.ok && o.err.status == 400 && strcmp(o.err.code, "PGRST100") == 0);
    done(&o);
    gen(&o, sc, KILN_WRITE_INSERT, "items", "columns=%22name%5C%22%20text);--%22", NULL,
        "[{\"name\":1}]", false);
    CHECK(!o.ok && strcmp(o.err.code, "PGRST204") == 0);
    done(&o);
    gen(&o, sc, KILN_WRITE_INSERT, "items", "on_conflict=id)%20DO%20NOTHING;--",
        "resolution=merge-duplicates", "{\"id\":1}", false);
    CHECK(!o.ok && o.err.status == 400);
    done(&o);
    /* filter values and JSON keys in the body stay parameters */
    gen(&o, sc, KILN_WRITE_DELETE, "items", "name=eq.x';DROP%20TABLE%20owners;--", NULL, NULL,
        false);
    CHECK(o.ok);
    CHECK(!strstr(buf_str(&o.sql.text), "DROP"));
    CHECK_STR_EQ(o.params, "x';DROP TABLE owners;--");
    done(&o);
    gen(&o, sc, KILN_WRITE_INSERT, "we\"ird", "", "return=representation",
        "{\"x\\\"y\":\"'); DROP TABLE owners; --\"}", false);
    CHECK(o.ok);
    CHECK(strstr(buf_str(&o.sql.text), "(\"x\"\"y\") SELECT kiln_row.\"x\"\"y\" FROM"));
    CHECK(!strstr(buf_str(&o.sql.text), "DROP"));
    done(&o);
    schema_cache_release(sc);
}

/* limit/offset on PATCH and DELETE: the rows are picked by address in a
 * subquery with the filters, order and range; values stay parameters. */
UNIT_TEST(limited_update_and_delete)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, KILN_WRITE_UPDATE, "items",
        "name=like.x%27)%20OR%201=1--*&order=qty.desc.nullslast,id&limit=2&offset=1", NULL,
        "{\"qty\":1}", false);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 "WITH kiln_written AS (UPDATE \"public\".\"items\" AS k0 SET \"qty\" = "
                 "kiln_row.\"qty\" FROM pg_catalog.json_populate_record(NULL::\"public\".\"items\", "
                 "$1::json) AS kiln_row, (SELECT k0.tableoid, k0.ctid FROM \"public\".\"items\" AS k0 "
                 "WHERE k0.\"name\" LIKE $2 ORDER BY k0.\"qty\" DESC NULLS LAST, k0.\"id\" ASC "
                 "LIMIT 2 OFFSET 1) AS kiln_pick WHERE k0.tableoid OPERATOR(pg_catalog.=) "
                 "kiln_pick.tableoid AND k0.ctid OPERATOR(pg_catalog.=) kiln_pick.ctid RETURNING 1) "
                 "SELECT ''::text AS body, kiln_n.n AS page_rows, NULL::bigint AS total" TAIL);
    CHECK_STR_EQ(o.params, "{\"qty\":1}|x') OR 1=1--%");
    done(&o);
    gen(&o, sc, KILN_WRITE_DELETE, "items", "id=gt.3&limit=1&select=id", "return=representation",
        NULL, false);
    CHECK(o.ok);
    CHECK(strncmp(buf_str(&o.sql.text),
                  "WITH kiln_written AS (DELETE FROM \"public\".\"items\" AS k0 USING (SELECT "
                  "k0.tableoid, k0.ctid FROM \"public\".\"items\" AS k0 WHERE k0.\"id\" > $1 LIMIT "
                  "1) AS kiln_pick WHERE k0.tableoid OPERATOR(pg_catalog.=) kiln_pick.tableoid AND "
                  "k0.ctid OPERATOR(pg_catalog.=) kiln_pick.ctid RETURNING k0.*) SELECT (SELECT "
                  "coalesce(pg_catalog.json_agg(j0), '[]') FROM (SELECT k0.\"id\" AS \"id\" FROM "
                  "kiln_written AS k0) AS j0)::text AS body",
                  300) == 0);
    CHECK_STR_EQ(o.params, "3");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(write_errors_follow_postgrest)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, KILN_WRITE_INSERT, "nope", "", NULL, "{}", false);
    CHECK(!o.ok && o.err.status == 404 && strcmp(o.err.code, "PGRST205") == 0);
    done(&o);
    gen(&o, sc, KILN_WRITE_INSERT, "items", "columns=nope", NULL, "[{}]", false);
    CHECK(!o.ok && o.err.status == 400 && strcmp(o.err.code, "PGRST204") == 0);
    CHECK_STR_EQ(o.err.message, "Could not find the 'nope' column of 'items' in the schema cache");
    done(&o);
    gen(&o, sc, KILN_WRITE_INSERT, "items", "limit=2", NULL, "{\"qty\":1}", false);
    CHECK(!o.ok && strcmp(o.err.code, "PGRST127") == 0);
    done(&o);
    gen(&o, sc, KILN_WRITE_DELETE, "v", "limit=2", NULL, NULL, false);
    CHECK(!o.ok && strcmp(o.err.code, "PGRST127") == 0);
    done(&o);
    gen(&o, sc, KILN_WRITE_INSERT, "items", "", "handling=strict, frobnicate", "{}", false);
    CHECK(!o.ok && strcmp(o.err.code, "PGRST122") == 0);
    CHECK_STR_EQ(o.err.details, "Invalid preferences: frobnicate");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(violations_read_back_from_the_cast_failure)
{
    long long rows = 0;
    CHECK_STR_EQ(
        sql_write_violation("invalid input syntax for type bigint: \"kiln:PGRST124:12\"", &rows),
        "PGRST124");
    CHECK(rows == 12);
    CHECK_STR_EQ(
        sql_write_violation("invalid input syntax for type bigint: \"kiln:PGRST116:0\"", &rows),
        "PGRST116");
    CHECK(rows == 0);
    CHECK(sql_write_violation("invalid input syntax for type integer: \"many\"", &rows) == NULL);
    CHECK(sql_write_violation(NULL, &rows) == NULL);
}

UNIT_TEST(prefer_parse_first_wins_and_applied_order)
{
    KilnPrefer p;
    rest_prefer_parse("count=exact,  return=representation ,return=minimal, tx=rollback, "
                      "resolution=ignore-duplicates, missing=default, handling=strict, "
                      "max-affected=10, params=single-object, foo",
                      true, &p);
    CHECK(p.ret == KILN_RET_REPRESENTATION && p.count == KILN_COUNT_EXACT);
    CHECK(p.tx == KILN_TX_ROLLBACK && p.resolution == KILN_RES_IGNORE);
    CHECK(p.missing == KILN_MISSING_DEFAULT && p.handling == KILN_HANDLING_STRICT);
    CHECK(p.max_affected == 10 && p.ninvalid == 1 && p.params == KILN_PARAMS_SINGLE);
    CHECK_STR_EQ(p.invalid[0], "foo");
    KilnBuf b = KILN_BUF_INIT;
    KilnPreferApplied all = {true, true, true, true, true, true, true, true};
    rest_prefer_applied(&p, &all, &b);
    CHECK_STR_EQ(buf_str(&b), "resolution=ignore-duplicates, missing=default, "
                              "return=representation, count=exact, params=single-object, "
                              "tx=rollback, handling=strict, max-affected=10");
    buf_free(&b);
    /* tx is recognised but not applied when overrides are off */
    rest_prefer_parse("tx=rollback", false, &p);
    CHECK(p.tx == KILN_TX_NONE && p.ninvalid == 0);
    rest_prefer_parse(NULL, false, &p);
    CHECK(p.max_affected == -1 && p.ninvalid == 0 && p.ret == KILN_RET_NONE);
    rest_prefer_parse("max-affected=x1, max-affected=99999999999999999999", false, &p);
    CHECK(p.max_affected == -1 && p.ninvalid == 0);
    KilnError err;
    rest_prefer_parse("handling=strict, a, b, c, d, e, f, g, h, i", false, &p);
    CHECK(!rest_prefer_check(&p, &err));
    CHECK_STR_EQ(err.details, "Invalid preferences: a, b, c, d, e, f, g, h, ...");
}

UNIT_TEST(columns_lists_parse)
{
    KilnArena *a = arena_create();
    const char **names;
    int n;
    KilnError err;
    CHECK(rest_parse_columns(a, "columns", "\"a\", \"b\\\"c\" ,d", 10, &names, &n, &err));
    CHECK(n == 3);
    CHECK_STR_EQ(names[1], "b\"c");
    CHECK_STR_EQ(names[2], "d");
    CHECK(!rest_parse_columns(a, "columns", "", 10, &names, &n, &err));
    CHECK(!rest_parse_columns(a, "columns", "a,", 10, &names, &n, &err));
    CHECK(!rest_parse_columns(a, "columns", "a b", 10, &names, &n, &err));
    CHECK(!rest_parse_columns(a, "columns", "\"\"", 10, &names, &n, &err));
    CHECK(!rest_parse_columns(a, "columns", "a,b,c", 2, &names, &n, &err));
    CHECK(strcmp(err.code, "PGRST100") == 0);
    arena_free(a);
}

UNIT_MAIN()
