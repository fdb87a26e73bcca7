/* Unit tests of plan.c and sql.c: golden SQL and parameter lists for reads
 * over a fixed schema cache; injection attempts in every position become
 * parameters, quoted identifiers or a 4xx, never SQL text. */
#include <stdlib.h>

#include "buf.h"
#include "plan.h"
#include "rest_parse.h"
#include "sql.h"
#include "unit.h"

/* authors(id pk, name, data jsonb, fts tsvector), books(id pk, title,
 * author_id -> authors, editor_id -> authors, tags text[]),
 * profiles(author_id pk -> authors) */
static const char schema_json[] =
    "{\"tables\":["
    "{\"oid\":1,\"schema\":\"public\",\"name\":\"authors\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"name\",\"type\":\"text\",\"num\":2,\"pk\":false},"
    "{\"name\":\"data\",\"type\":\"jsonb\",\"num\":3,\"pk\":false},"
    "{\"name\":\"fts\",\"type\":\"tsvector\",\"num\":4,\"pk\":false}]},"
    "{\"oid\":2,\"schema\":\"public\",\"name\":\"books\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"title\",\"type\":\"text\",\"num\":2,\"pk\":false},"
    "{\"name\":\"author_id\",\"type\":\"integer\",\"num\":3,\"pk\":false},"
    "{\"name\":\"editor_id\",\"type\":\"integer\",\"num\":5,\"pk\":false},"
    "{\"name\":\"tags\",\"type\":\"text[]\",\"num\":6,\"pk\":false}]},"
    "{\"oid\":3,\"schema\":\"public\",\"name\":\"profiles\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"author_id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"bio\",\"type\":\"text\",\"num\":2,\"pk\":false}]},"
    "{\"oid\":4,\"schema\":\"public\",\"name\":\"labels\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"label\",\"type\":\"text\",\"num\":2,\"pk\":false}]},"
    "{\"oid\":5,\"schema\":\"public\",\"name\":\"book_labels\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"book_id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"label_id\",\"type\":\"integer\",\"num\":2,\"pk\":true}]}],"
    "\"fks\":["
    "{\"name\":\"books_author_id_fkey\",\"from\":2,\"to\":1,\"cols\":[3],\"refs\":[1]},"
    "{\"name\":\"books_editor_id_fkey\",\"from\":2,\"to\":1,\"cols\":[5],\"refs\":[1]},"
    "{\"name\":\"profiles_author_id_fkey\",\"from\":3,\"to\":1,\"cols\":[1],\"refs\":[1]},"
    "{\"name\":\"bl_book\",\"from\":5,\"to\":2,\"cols\":[1],\"refs\":[1]},"
    "{\"name\":\"bl_label\",\"from\":5,\"to\":4,\"cols\":[2],\"refs\":[1]},"
    "{\"name\":\"elsewhere\",\"from\":2,\"to\":99,\"cols\":[3],\"refs\":[1]}]}";

typedef struct Out {
    KilnArena *a;
    KilnSql sql;
    KilnError err;
    bool ok;
    char params[1024];
} Out;

static KilnSchemaCache *cache(void)
{
    KilnError err = {0};
    return schema_cache_from_json(schema_json, &err);
}

/* The body's shape for gen, and aggregates (reset after each call). */
static bool shape_csv, shape_strip, with_aggs;

static void gen(Out *o, const KilnSchemaCache *sc, const char *table, const char *qs, bool count)
{
    memset(o, 0, sizeof *o);
    o->a = arena_create();
    KilnRestQuery *q;
    KilnPlan *p;
    KilnPlanOptions opt = {.schema = "public", .max_rows = 1000, .count_exact = count,
                           .aggregates = with_aggs};
    with_aggs = false;
    o->ok = rest_parse_query(o->a, qs, &kiln_rest_default_limits, &q, &o->err) &&
            plan_read(o->a, sc, table, q, &opt, &p, &o->err);
    if (!o->ok) {
        if (getenv("KILN_UNIT_VERBOSE"))
            printf("#   %s: %d %s %s %s\n", qs, o->err.status, o->err.code, o->err.message,
                   o->err.details);
        return;
    }
    p->csv = shape_csv;
    p->strip_nulls = shape_strip;
    shape_csv = shape_strip = false;
    sql_read(o->a, p, &o->sql);
    size_t off = 0;
    for (int i = 0; i < o->sql.nparams; i++) {
        int n = snprintf(o->params + off, sizeof o->params - off, "%s%s", i ? "|" : "",
                         o->sql.params[i]);
        if (n > 0 && (size_t)n < sizeof o->params - off)
            off += (size_t)n;
    }
}

static void done(Out *o)
{
    sql_free(&o->sql);
    arena_free(o->a);
}

#define HEAD(id) "SELECT coalesce(pg_catalog.json_agg(j" #id "), '[]')::text AS body, pg_catalog.count(*) AS page_rows, "

UNIT_TEST(schema_cache_from_json_resolves_keys)
{
    KilnSchemaCache *sc = cache();
    CHECK(sc && sc->ntables == 5 && sc->nfks == 5); /* the key to oid 99 is dropped */
    int idx = -1;
    const KilnTable *t = schema_cache_table(sc, "public", "books", &idx);
    CHECK(t && idx == 1 && schema_cache_column(t, "editor_id") == 3);
    CHECK(sc->fks[1].from_cols[0] == 3 && sc->fks[1].to_cols[0] == 0);
    CHECK(schema_cache_table(sc, "other", "books", NULL) == NULL);
    KilnError err = {0};
    CHECK(schema_cache_from_json("{\"tables\":3}", &err) == NULL);
    CHECK(schema_cache_from_json("not json", &err) == NULL);
    schema_cache_release(sc);
}

UNIT_TEST(simple_read_with_filters)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, "authors", "select=id,name&id=gt.1&name=like.A*&order=name.desc.nullslast&limit=5&offset=2", false);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "NULL::bigint AS total FROM (SELECT k0.\"id\" AS \"id\", k0.\"name\" AS \"name\" "
                 "FROM \"public\".\"authors\" AS k0 WHERE k0.\"id\" > $1 AND k0.\"name\" LIKE $2 "
                 "ORDER BY k0.\"name\" DESC NULLS LAST LIMIT 5 OFFSET 2) AS j0");
    CHECK_STR_EQ(o.params, "1|A%");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(star_count_and_max_rows)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, "profiles", "author_id=in.(1,%222,3%22)", true);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "(SELECT pg_catalog.count(*) FROM \"public\".\"profiles\" AS k0 WHERE "
                 "k0.\"author_id\" = ANY ($1)) AS total FROM (SELECT k0.\"author_id\" AS "
                 "\"author_id\", k0.\"bio\" AS \"bio\" FROM \"public\".\"profiles\" AS k0 WHERE "
                 "k0.\"author_id\" = ANY ($2) LIMIT 1000) AS j0");
    CHECK_STR_EQ(o.params, "{\"1\",\"2,3\"}|{\"1\",\"2,3\"}");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(embeds_many_to_one_one_to_many_inner_spread)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, "books", "select=title,author:authors!books_author_id_fkey(name)", false);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "NULL::bigint AS total FROM (SELECT k0.\"title\" AS \"title\", (SELECT "
                 "pg_catalog.row_to_json(j1) FROM (SELECT k1.\"name\" AS \"name\" FROM "
                 "\"public\".\"authors\" AS k1 WHERE k0.\"author_id\" = k1.\"id\") AS j1) AS "
                 "\"author\" FROM \"public\".\"books\" AS k0 LIMIT 1000) AS j0");
    done(&o);

    gen(&o, sc, "authors",
        "select=name,books!author_id!inner(title)&books.title=eq.X&books.order=id&books.limit=3", false);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "NULL::bigint AS total FROM (SELECT k0.\"name\" AS \"name\", (SELECT "
                 "coalesce(pg_catalog.json_agg(j1), '[]') FROM (SELECT k1.\"title\" AS \"title\" "
                 "FROM \"public\".\"books\" AS k1 WHERE k1.\"author_id\" = k0.\"id\" AND "
                 "k1.\"title\" = $1 ORDER BY k1.\"id\" ASC LIMIT 3) AS j1) AS \"books\" FROM "
                 "\"public\".\"authors\" AS k0 WHERE EXISTS (SELECT 1 FROM \"public\".\"books\" AS "
                 "k1 WHERE k1.\"author_id\" = k0.\"id\" AND k1.\"title\" = $2) LIMIT 1000) AS j0");
    CHECK_STR_EQ(o.params, "X|X");
    done(&o);

    /* profiles.author_id is the key and the primary key: one-to-one. */
    gen(&o, sc, "authors", "select=id,...profiles(bio)", false);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "NULL::bigint AS total FROM (SELECT k0.\"id\" AS \"id\", j1.\"bio\" AS "
                 "\"bio\" FROM \"public\".\"authors\" AS k0 LEFT JOIN LATERAL (SELECT k1.\"bio\" "
                 "AS \"bio\" FROM \"public\".\"profiles\" AS k1 WHERE k1.\"author_id\" = "
                 "k0.\"id\") AS j1 ON true LIMIT 1000) AS j0");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(logic_trees_json_paths_fts_is)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, "authors",
        "select=id,city:data->addr->>city&or=(id.eq.1,and(name.ilike.*a*,data->n.not.is.null))"
        "&fts=fts(english).cat&name=not.wfts.dog&data->tags=cs.[1]",
        false);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "NULL::bigint AS total FROM (SELECT k0.\"id\" AS \"id\", "
                 "k0.\"data\"->$1::text->>$2::text AS \"city\" FROM \"public\".\"authors\" AS k0 "
                 "WHERE (k0.\"id\" = $3 OR (k0.\"name\" ILIKE $4 AND NOT (k0.\"data\"->$5::text "
                 "IS NULL))) AND k0.\"fts\" @@ pg_catalog.to_tsquery($6::regconfig, $7) AND NOT "
                 "(pg_catalog.to_tsvector(k0.\"name\") @@ pg_catalog.websearch_to_tsquery($8)) AND "
                 "k0.\"data\"->$9::text @> $10 LIMIT 1000) AS j0");
    CHECK_STR_EQ(o.params, "addr|city|1|%a%|n|english|cat|dog|tags|[1]");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(many_to_many_through_a_junction)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, "books", "select=title,labels(label)&labels.label=eq.x", false);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "NULL::bigint AS total FROM (SELECT k0.\"title\" AS \"title\", (SELECT "
                 "coalesce(pg_catalog.json_agg(j1), '[]') FROM (SELECT k1.\"label\" AS \"label\" "
                 "FROM \"public\".\"labels\" AS k1 JOIN \"public\".\"book_labels\" AS m1 ON "
                 "m1.\"label_id\" = k1.\"id\" WHERE m1.\"book_id\" = k0.\"id\" AND k1.\"label\" = "
                 "$1) AS j1) AS \"labels\" FROM \"public\".\"books\" AS k0 LIMIT 1000) AS j0");
    done(&o);
    gen(&o, sc, "labels", "select=id,books!inner(id)", false);
    CHECK(o.ok && strstr(buf_str(&o.sql.text), "WHERE EXISTS (SELECT 1 FROM \"public\".\"books\" AS k1 "
                                                 "JOIN \"public\".\"book_labels\" AS m1 ON m1.\"book_id\" "
                                                 "= k1.\"id\" WHERE m1.\"label_id\" = k0.\"id\")") != NULL);
    done(&o);
    gen(&o, sc, "books", "select=id,labels!book_labels(id)", false);
    CHECK(o.ok);
    done(&o);
    gen(&o, sc, "books", "select=id,labels!nope(id)", false);
    CHECK(!o.ok && o.err.status == 400);
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(related_order_through_to_one)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, "books", "select=id,author:authors!author_id(name)&order=author(name).desc.nullslast,id",
        false);
    CHECK(o.ok);
    CHECK(o.ok && strstr(buf_str(&o.sql.text),
                         " ORDER BY (SELECT k1.\"name\" FROM \"public\".\"authors\" AS k1 WHERE "
                         "k0.\"author_id\" = k1.\"id\") DESC NULLS LAST, k0.\"id\" ASC LIMIT 1000") != NULL);
    done(&o);
    gen(&o, sc, "authors", "select=id,books!author_id(id)&order=books(id)", false);
    CHECK(!o.ok && o.err.status == 400);
    CHECK_STR_EQ(o.err.code, "PGRST118");
    done(&o);
    gen(&o, sc, "books", "order=authors(name)", false);
    CHECK(!o.ok && o.err.status == 400);
    done(&o);
    gen(&o, sc, "books", "select=id,authors!author_id(id)&order=authors(nope)", false);
    CHECK(!o.ok && o.err.status == 400);
    CHECK_STR_EQ(o.err.code, "42703");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(embed_null_filters_parents)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, "authors", "select=id,profiles(bio)&profiles=not.is.null&profiles.bio=like.*x*", false);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "NULL::bigint AS total FROM (SELECT k0.\"id\" AS \"id\", (SELECT "
                 "pg_catalog.row_to_json(j1) FROM (SELECT k1.\"bio\" AS \"bio\" FROM "
                 "\"public\".\"profiles\" AS k1 WHERE k1.\"author_id\" = k0.\"id\" AND k1.\"bio\" "
                 "LIKE $1) AS j1) AS \"profiles\" FROM \"public\".\"authors\" AS k0 WHERE NOT "
                 "(NOT EXISTS (SELECT 1 FROM \"public\".\"profiles\" AS k1 WHERE k1.\"author_id\" = "
                 "k0.\"id\" AND k1.\"bio\" LIKE $2)) LIMIT 1000) AS j0");
    done(&o);
    gen(&o, sc, "authors", "select=id,profiles(bio)&or=(profiles.is.null,id.eq.1)", false);
    CHECK(o.ok);
    CHECK(o.ok && strstr(buf_str(&o.sql.text), "WHERE (NOT EXISTS (SELECT 1 FROM") != NULL);
    done(&o);
    gen(&o, sc, "authors", "select=id,profiles(bio)&profiles=eq.1", false);
    CHECK(!o.ok && o.err.status == 400);
    CHECK_STR_EQ(o.err.code, "PGRST120");
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(plan_errors)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, "nope", "", false);
    CHECK(!o.ok && o.err.status == 404);
    CHECK_STR_EQ(o.err.code, "PGRST205");
    done(&o);
    gen(&o, sc, "authors", "select=id,nope", false);
    CHECK(!o.ok && o.err.status == 400);
    CHECK_STR_EQ(o.err.code, "42703");
    done(&o);
    gen(&o, sc, "authors", "select=id,books(*)", false); /* two keys to authors */
    CHECK(!o.ok && o.err.status == 300);
    CHECK_STR_EQ(o.err.code, "PGRST201");
    CHECK(strstr(o.err.hint, "'books!books_author_id_fkey'") != NULL);
    done(&o);
    gen(&o, sc, "authors", "select=id,profiles!nope(*)", false);
    CHECK(!o.ok && o.err.status == 400);
    CHECK_STR_EQ(o.err.code, "PGRST200");
    done(&o);
    gen(&o, sc, "profiles", "select=*&books.id=eq.1", false);
    CHECK(!o.ok && o.err.status == 400);
    CHECK_STR_EQ(o.err.code, "PGRST108");
    done(&o);
    schema_cache_release(sc);
}

/* Every position a request can write into: values, JSON keys, in-list
 * items, aliases, column names, casts, order, embed names, fts configs. */
UNIT_TEST(injection_attempts_never_reach_sql_text)
{
    KilnSchemaCache *sc = cache();
    static const char *evil = "x'); DROP TABLE authors; --";
    Out o;
    gen(&o, sc, "authors",
        "select=id,%22a%5C%22b%22:name,k:data->>%22x'%3B--%22&name=eq.x'%29%3B%20DROP%20TABLE%20"
        "authors%3B%20--&id=in.(%221)%3Bdrop%22)&or=(name.like.%22x'%3B--%22)"
        "&fts=fts(english'%3B--).x",
        false);
    CHECK(o.ok);
    const char *t = buf_str(&o.sql.text);
    CHECK(strstr(t, "DROP") == NULL && strstr(t, ";") == NULL && strstr(t, "--") == NULL);
    CHECK(strstr(t, "AS \"a\"\"b\"") != NULL); /* an alias is a quoted identifier */
    CHECK(strstr(o.params, evil) != NULL);
    done(&o);

    static const struct {
        const char *qs;
        int status;
    } refused[] = {
        {"select=id%22;drop table authors;--", 400},   /* unknown column */
        {"select=id::int;drop table x", 400},          /* bad cast */
        {"select=id::text)--", 400},
        {"order=id;drop table authors", 400},          /* unknown column */
        {"order=id.desc;drop", 400},
        {"id;drop table authors=eq.1", 400},
        {"select=*,authors;drop(*)", 400},             /* unknown relation */
        {"limit=1;drop", 400},
        {"id=eq.1&books;drop.id=eq.1", 400},           /* not embedded */
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        gen(&o, sc, "authors", refused[i].qs, false);
        CHECK(!o.ok && o.err.status == refused[i].status);
        if (o.ok)
            printf("#   accepted: %s -> %s\n", refused[i].qs, buf_str(&o.sql.text));
        done(&o);
    }
    gen(&o, sc, "authors;drop table authors", "", false);
    CHECK(!o.ok && o.err.status == 404);
    done(&o);
    schema_cache_release(sc);
}

/* A to-many spread: each of its columns aggregated into an array. */
UNIT_TEST(to_many_spread_aggregates_columns)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, "authors", "select=id,...books!author_id(t:title,id)&books.title=like.x%27*", false);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "NULL::bigint AS total FROM (SELECT k0.\"id\" AS \"id\", j1.\"t\" AS \"t\", "
                 "j1.\"id\" AS \"id\" FROM \"public\".\"authors\" AS k0 LEFT JOIN LATERAL (SELECT "
                 "coalesce(pg_catalog.json_agg(s1.\"t\"), '[]') AS \"t\", "
                 "coalesce(pg_catalog.json_agg(s1.\"id\"), '[]') AS \"id\" FROM (SELECT k1.\"title\" "
                 "AS \"t\", k1.\"id\" AS \"id\" FROM \"public\".\"books\" AS k1 WHERE k1.\"author_id\" "
                 "= k0.\"id\" AND k1.\"title\" LIKE $1) AS s1) AS j1 ON true LIMIT 1000) AS j0");
    CHECK_STR_EQ(o.params, "x'%");
    done(&o);
    schema_cache_release(sc);
}

/* count() and col.agg(): disabled by default (PGRST123); enabled, the
 * plain columns are grouped by position, embeds by the join columns. */
UNIT_TEST(aggregates_group_by_plain_columns)
{
    KilnSchemaCache *sc = cache();
    Out o;
    gen(&o, sc, "books", "select=author_id,count()", false);
    CHECK(!o.ok && o.err.status == 400);
    CHECK_STR_EQ(o.err.code, "PGRST123");
    done(&o);
    with_aggs = true;
    gen(&o, sc, "books", "select=a:author_id,n:id.count(),id::numeric.avg()::int,count(),"
                         "authors!books_author_id_fkey(name)&title=neq.x%27",
        false);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 HEAD(0) "NULL::bigint AS total FROM (SELECT k0.\"author_id\" AS \"a\", "
                 "pg_catalog.count(k0.\"id\") AS \"n\", pg_catalog.avg(k0.\"id\"::numeric)::int AS "
                 "\"avg\", pg_catalog.count(*) AS \"count\", (SELECT pg_catalog.row_to_json(j1) FROM "
                 "(SELECT k1.\"name\" AS \"name\" FROM \"public\".\"authors\" AS k1 WHERE "
                 "k0.\"author_id\" = k1.\"id\") AS j1) AS \"authors\" FROM \"public\".\"books\" AS k0 "
                 "WHERE k0.\"title\" <> $1 GROUP BY 1, k0.\"author_id\" LIMIT 1000) AS j0");
    CHECK_STR_EQ(o.params, "x'");
    done(&o);
    with_aggs = true;
    gen(&o, sc, "authors", "select=name,books!author_id(id.sum())", false);
    CHECK(o.ok && strstr(buf_str(&o.sql.text),
                         "(SELECT pg_catalog.sum(k1.\"id\") AS \"sum\" FROM \"public\".\"books\" AS k1 "
                         "WHERE k1.\"author_id\" = k0.\"id\") AS j1") != NULL);
    CHECK(!strstr(buf_str(&o.sql.text), "GROUP BY"));
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(csv_and_stripped_bodies)
{
    KilnSchemaCache *sc = cache();
    Out o;
    shape_csv = true;
    gen(&o, sc, "authors", "select=id,a:name&name=eq.x'),chr(10)--", false);
    CHECK(o.ok);
    CHECK_STR_EQ(buf_str(&o.sql.text),
                 "SELECT coalesce(pg_catalog.string_agg(pg_catalog.substr(j0::text, 2, "
                 "pg_catalog.length(j0::text) - 2), pg_catalog.chr(10)), '') AS body, "
                 "pg_catalog.count(*) AS page_rows, NULL::bigint AS total FROM (SELECT "
                 "k0.\"id\" AS \"id\", k0.\"name\" AS \"a\" FROM \"public\".\"authors\" AS k0 "
                 "WHERE k0.\"name\" = $1 LIMIT 1000) AS j0");
    CHECK_STR_EQ(o.params, "x'),chr(10)--");
    done(&o);
    /* application/geo+json: PostGIS's schema (from the catalog) is quoted */
    KilnArena *ga = arena_create();
    KilnRestQuery *gq;
    KilnPlan *gp;
    KilnPlanOptions gopt = {.schema = "public", .max_rows = 5};
    KilnError gerr = {0};
    CHECK(rest_parse_query(ga, "select=id", &kiln_rest_default_limits, &gq, &gerr) &&
          plan_read(ga, sc, "authors", gq, &gopt, &gp, &gerr));
    gp->geojson_schema = "ext\"s";
    KilnSql gs = {0};
    sql_read(ga, gp, &gs);
    CHECK_STR_EQ(buf_str(&gs.text),
                 "SELECT pg_catalog.json_build_object('type', 'FeatureCollection', 'features', "
                 "coalesce(pg_catalog.json_agg(\"ext\"\"s\".st_asgeojson(j0)::json), '[]'))::text "
                 "AS body, pg_catalog.count(*) AS page_rows, NULL::bigint AS total FROM (SELECT "
                 "k0.\"id\" AS \"id\" FROM \"public\".\"authors\" AS k0 LIMIT 5) AS j0");
    sql_free(&gs);
    arena_free(ga);
    shape_strip = true;
    gen(&o, sc, "books", "select=title,authors!books_author_id_fkey(name)", true);
    CHECK(o.ok);
    CHECK(strncmp(buf_str(&o.sql.text),
                  "SELECT coalesce(pg_catalog.json_strip_nulls(pg_catalog.json_agg(j0)), "
                  "'[]')::text AS body, pg_catalog.count(*) AS page_rows, (SELECT",
                  120) == 0);
    CHECK(o.sql.nparams == 0);
    done(&o);
    schema_cache_release(sc);
}

UNIT_TEST(quote_ident_doubles_quotes)
{
    KilnBuf b = KILN_BUF_INIT;
    sql_quote_ident(&b, "we\"ird");
    CHECK_STR_EQ(buf_str(&b), "\"we\"\"ird\"");
    buf_free(&b);
}

UNIT_MAIN()

/* Plans qs on table and asks test of its root: 1 or 0, -1 when planning
 * failed. */
static int ask_root(const KilnSchemaCache *sc, const char *table, const char *qs,
                    bool (*test)(const KilnPlanNode *))
{
    KilnArena *a = arena_create();
    KilnRestQuery *q;
    KilnPlan *p;
    KilnError err = {0};
    KilnPlanOptions opt = {.schema = "public", .max_rows = 1000};
    int r = -1;
    if (rest_parse_query(a, qs, &kiln_rest_default_limits, &q, &err) &&
        plan_read(a, sc, table, q, &opt, &p, &err))
        r = test(p->root);
    arena_free(a);
    return r;
}

static int one_row(const KilnSchemaCache *sc, const char *table, const char *qs)
{
    return ask_root(sc, table, qs, plan_at_most_one_row);
}

static int by_key(const KilnSchemaCache *sc, const char *table, const char *qs)
{
    return ask_root(sc, table, qs, plan_unique_by_key);
}

UNIT_TEST(at_most_one_row_by_primary_key_or_limit)
{
    KilnSchemaCache *sc = cache();
    CHECK(one_row(sc, "authors", "id=eq.1") == 1);
    CHECK(one_row(sc, "authors", "select=id,profiles(bio)&id=eq.1&name=like.A*") == 1);
    CHECK(one_row(sc, "authors", "limit=1") == 1);
    CHECK(one_row(sc, "authors", "limit=0") == 1);
    CHECK(one_row(sc, "authors", "") == 0);
    CHECK(one_row(sc, "authors", "id=gte.1") == 0);
    CHECK(one_row(sc, "authors", "id=not.eq.1") == 0);
    CHECK(one_row(sc, "authors", "id=eq(any).{1,2}") == 0);
    CHECK(one_row(sc, "authors", "or=(id.eq.1,id.eq.2)") == 0);
    CHECK(one_row(sc, "authors", "data->>id=eq.1") == 0);
    CHECK(one_row(sc, "authors", "name=eq.A") == 0);
    CHECK(one_row(sc, "authors", "select=id,profiles(bio)&profiles.bio=eq.x") == 0);
    /* a composite key needs every column */
    CHECK(one_row(sc, "book_labels", "book_id=eq.1") == 0);
    CHECK(one_row(sc, "book_labels", "book_id=eq.1&label_id=eq.2") == 1);
    CHECK(by_key(sc, "authors", "id=eq.1&limit=5") == 1);
    CHECK(by_key(sc, "authors", "limit=1") == 0);
    CHECK(by_key(sc, "book_labels", "label_id=eq.2&book_id=eq.1") == 1);
    schema_cache_release(sc);
}

UNIT_TEST(row_set_read_returns_rows_not_an_aggregate)
{
    KilnSchemaCache *sc = cache();
    KilnArena *a = arena_create();
    KilnRestQuery *q;
    KilnPlan *p;
    KilnError err = {0};
    KilnPlanOptions opt = {.schema = "public", .max_rows = 1000};
    CHECK(rest_parse_query(a, "select=id,name&id=eq.7", &kiln_rest_default_limits, &q, &err) &&
          plan_read(a, sc, "authors", q, &opt, &p, &err));
    p->row_set = true;
    KilnSql sql = {0};
    sql_read(a, p, &sql);
    CHECK_STR_EQ(buf_str(&sql.text),
                 "SELECT (pg_catalog.row_to_json(j0))::text AS body FROM (SELECT k0.\"id\" AS \"id\", "
                 "k0.\"name\" AS \"name\" FROM \"public\".\"authors\" AS k0 WHERE k0.\"id\" = $1 "
                 "LIMIT 1000) AS j0");
    CHECK(sql.nparams == 1 && strcmp(sql.params[0], "7") == 0);
    sql_free(&sql);
    p->strip_nulls = true;
    sql_read(a, p, &sql);
    static const char strip[] =
        "SELECT pg_catalog.json_strip_nulls(pg_catalog.row_to_json(j0))::text AS body FROM (";
    CHECK(strncmp(buf_str(&sql.text), strip, sizeof strip - 1) == 0);
    sql_free(&sql);
    arena_free(a);
    schema_cache_release(sc);
}
