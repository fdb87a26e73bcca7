/*
 * fuzz_rest_parse.c: libFuzzer harness for the data API's query-string and
 * select parsers (rest_parse.c), and the planner and SQL generator behind
 * them over a small fixed schema cache.
 *
 * The input's first byte picks the entry: odd = a whole raw query string,
 * even = a decoded select value alone; odd with bit 3 set = a write: the
 * rest is "query\nprefer\nbody", bits 4-5 the method, run through
 * rest_prefer, rest_parse_columns, plan_write_body, plan_write and
 * sql_write. Every input must come back parsed or
 * as a 4xx KilnError with a one-line message, never a crash, a leak or
 * undefined behaviour; generated SQL must hold request text only inside
 * quoted identifiers (checked: no ';' outside "..." and '...').
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "plan_write.h"
#include "rest_prefer.h"
#include "rest_parse.h"
#include "sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char schema_json[] =
    "{\"tables\":["
    "{\"oid\":1,\"schema\":\"public\",\"name\":\"a\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"name\",\"type\":\"text\",\"num\":2,\"pk\":false},"
    "{\"name\":\"data\",\"type\":\"jsonb\",\"num\":3,\"pk\":false}]},"
    "{\"oid\":2,\"schema\":\"public\",\"name\":\"b\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"a_id\",\"type\":\"integer\",\"num\":2,\"pk\":false}]},"
    "{\"oid\":3,\"schema\":\"public\",\"name\":\"ab\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"a_id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"b_id\",\"type\":\"integer\",\"num\":2,\"pk\":true}]}],"
    "\"fks\":[{\"name\":\"b_a_id_fkey\",\"from\":2,\"to\":1,\"cols\":[2],\"refs\":[1]},"
    "{\"name\":\"ab_a\",\"from\":3,\"to\":1,\"cols\":[1],\"refs\":[1]},"
    "{\"name\":\"ab_b\",\"from\":3,\"to\":2,\"cols\":[2],\"refs\":[1]}]}";

static KilnSchemaCache *sc;

/* Aborts when sql has a ';' outside quoted identifiers and literals, or an
 * unterminated quote. */
static void check_sql(const char *sql)
{
    for (const char *c = sql; *c; c++) {
        if (*c == '"' || *c == '\'') {
            char q = *c;
            for (c++;; c++) {
                if (!*c)
                    abort();
                if (*c == q && c[1] == q)
                    c++;
                else if (*c == q)
                    break;
            }
        } else if (*c == ';') {
            abort();
        }
    }
}

static void check_error(const KilnError *err)
{
    if (err->status < 300 || err->status > 499 || strchr(err->message, '\n'))
        abort();
}

/* The write pipeline of rest_write.c over text = "query\nprefer\nbody". */
static void fuzz_write(KilnArena *a, char *text, unsigned kind_bits, const char *table)
{
    char *prefer = strchr(text, '\n');
    char *body = prefer ? strchr(prefer + 1, '\n') : NULL;
    if (prefer)
        *prefer++ = '\0';
    if (body)
        *body++ = '\0';
    KilnError err = {0};
    KilnPrefer pf;
    rest_prefer_parse(prefer, kind_bits & 1, &pf);
    KilnWriteKind kind = (KilnWriteKind)(kind_bits & 3);
    KilnWriteOptions opt = {.schema = "public", .kind = kind, .prefer = &pf, .single = kind_bits & 4};
    KilnRestQuery *q;
    KilnWriteBody wb = {0};
    bool ok = rest_prefer_check(&pf, &err) &&
              rest_parse_query(a, text, &kiln_rest_default_limits, &q, &err);
    const char **names;
    int n;
    if (ok && q->columns && (ok = rest_parse_columns(a, "columns", q->columns, 64, &names, &n, &err))) {
        opt.columns = names;
        opt.ncolumns = n;
    }
    if (ok && q->on_conflict &&
        (ok = rest_parse_columns(a, "on_conflict", q->on_conflict, 64, &names, &n, &err))) {
        opt.on_conflict = names;
        opt.non_conflict = n;
    }
    if (ok)
        ok = plan_write_body(a, body ? body : "", body ? strlen(body) : 0, kind, !opt.columns, &wb,
                             &err);
    opt.body = &wb;
    KilnWritePlan *p;
    if (ok)
        ok = plan_write(a, sc, table, q, &opt, &p, &err);
    if (!ok) {
        check_error(&err);
        return;
    }
    KilnSql s = {0};
    sql_write(a, p, wb.json, &s);
    check_sql(buf_str(&s.text));
    sql_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!sc) {
        KilnError err = {0};
        sc = schema_cache_from_json(schema_json, &err);
        if (!sc)
            abort();
    }
    char *text = malloc(size);
    if (!text)
        abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    KilnArena *a = arena_create();
    KilnError err = {0};
    if ((data[0] & 9) == 9) {
        fuzz_write(a, text, data[0] >> 4, (data[0] >> 2) & 1 ? "b" : "a");
    } else if (data[0] & 1) {
        KilnRestQuery *q;
        if (rest_parse_query(a, text, &kiln_rest_default_limits, &q, &err)) {
            const char *tables[] = {"a", "b"};
            KilnPlanOptions opt = {.schema = "public", .max_rows = 100, .count_exact = data[0] & 2};
            KilnPlan *p;
            if (plan_read(a, sc, tables[(data[0] >> 2) & 1], q, &opt, &p, &err)) {
                KilnSql s = {0};
                sql_read(a, p, &s);
                check_sql(buf_str(&s.text));
                sql_free(&s);
            } else {
                check_error(&err);
            }
        } else {
            check_error(&err);
        }
    } else {
        KilnSelect *sel;
        if (!rest_parse_select(a, text, &kiln_rest_default_limits, &sel, &err))
            check_error(&err);
    }
    arena_free(a);
    free(text);
    return 0;
}
