/*
 * fuzz_rpc.c: libFuzzer harness for function calls (plan_rpc.c: the GET
 * argument/filter split, JSON and form bodies, overload choice) and the
 * statement sql_rpc.c writes for them, over a small fixed schema cache.
 *
 * Byte 0 picks the method and body type (GET query string, POST JSON, POST
 * form, POST text), byte 1 the function and the count=exact and
 * params=single-object preferences; the rest is the query string (GET)
 * or the body (POST). Every input must come back planned or as a 3xx/4xx
 * KilnError with a one-line message, never a crash, a leak or undefined
 * behaviour; the SQL must hold request text only inside quoted identifiers
 * and literals (no ';' outside them), and values only as parameters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan_rpc.h"
#include "sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char schema_json[] =
    "{\"tables\":["
    "{\"oid\":1,\"schema\":\"public\",\"name\":\"a\",\"kind\":\"r\",\"columns\":["
    "{\"name\":\"id\",\"type\":\"integer\",\"num\":1,\"pk\":true},"
    "{\"name\":\"name\",\"type\":\"text\",\"num\":2,\"pk\":false}]}],"
    "\"fks\":[],\"functions\":["
    "{\"oid\":10,\"schema\":\"public\",\"name\":\"f\",\"volatility\":\"v\",\"set\":true,"
    "\"rettype\":\"a\",\"typtype\":\"c\",\"retrel\":1,\"ndefaults\":1,\"description\":\"\","
    "\"args\":[{\"name\":\"x\",\"type\":\"integer\",\"mode\":\"i\"},"
    "{\"name\":\"t\",\"type\":\"text[]\",\"mode\":\"i\"}],\"columns\":null},"
    "{\"oid\":11,\"schema\":\"public\",\"name\":\"f\",\"volatility\":\"s\",\"set\":false,"
    "\"rettype\":\"jsonb\",\"typtype\":\"b\",\"retrel\":0,\"ndefaults\":0,\"description\":\"\","
    "\"args\":[{\"name\":\"\",\"type\":\"jsonb\",\"mode\":\"i\"}],\"columns\":null},"
    "{\"oid\":12,\"schema\":\"public\",\"name\":\"g\",\"volatility\":\"i\",\"set\":true,"
    "\"rettype\":\"integer\",\"typtype\":\"b\",\"retrel\":0,\"ndefaults\":0,\"description\":\"\","
    "\"args\":[{\"name\":\"v\",\"type\":\"integer[]\",\"mode\":\"v\"}],\"columns\":null},"
    "{\"oid\":13,\"schema\":\"public\",\"name\":\"h\",\"volatility\":\"v\",\"set\":false,"
    "\"rettype\":\"void\",\"typtype\":\"p\",\"retrel\":0,\"ndefaults\":0,\"description\":\"\","
    "\"args\":[{\"name\":\"\",\"type\":\"text\",\"mode\":\"i\"}],\"columns\":null},"
    "{\"oid\":14,\"schema\":\"public\",\"name\":\"r\",\"volatility\":\"s\",\"set\":true,"
    "\"rettype\":\"record\",\"typtype\":\"p\",\"retrel\":0,\"ndefaults\":0,\"description\":\"\","
    "\"args\":[{\"name\":\"o\",\"type\":\"text\",\"mode\":\"t\"}],\"columns\":null}]}";

static KilnSchemaCache *sc;

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"f", "g", "h", "r", "nope"};
    static const KilnBodyType types[] = {KILN_BODY_JSON, KILN_BODY_FORM, KILN_BODY_TEXT};
    if (size < 2)
        return 0;
    if (!sc) {
        KilnError err = {0};
        sc = schema_cache_from_json(schema_json, &err);
        if (!sc)
            abort();
    }
    size_t n = size - 2;
    char *text = malloc(n + 1);
    if (!text)
        abort();
    memcpy(text, data + 2, n);
    text[n] = '\0';
    KilnRpcRequest r = {.schema = "public",
                        .name = names[data[1] % 5],
                        .max_rows = 100,
                        .count_exact = data[1] & 8};
    if (data[0] % 4 == 0) {
        if (strlen(text) != n) { /* a query string has no NULs */
            free(text);
            return 0;
        }
        r.query = text;
    } else {
        r.post = true;
        r.body = text;
        r.body_len = n;
        r.body_type = types[data[0] % 4 - 1];
        r.single_object = data[1] & 16;
    }
    KilnArena *a = arena_create();
    KilnError err = {0};
    KilnRpcPlan *plan;
    if (plan_rpc(a, sc, &r, &plan, &err)) {
        KilnSql sql = {0};
        sql_rpc(a, plan, &sql);
        check_sql(buf_str(&sql.text));
        sql_free(&sql);
    } else if (err.status < 300 || err.status > 499 || strchr(err.message, '\n')) {
        abort();
    }
    const char **nm, **raw;
    int count;
    if (plan_rpc_json_members(a, text, n, &nm, &raw, &count, &err))
        for (int i = 0; i < count; i++)
            (void)plan_rpc_json_value(a, raw[i], i % 2 ? "text[]" : "integer");
    arena_free(a);
    free(text);
    return 0;
}
