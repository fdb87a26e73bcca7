/*
 * plan_rpc.c: plans a call of /rest/v1/rpc/<fn>: which overload, which
 * argument values, and the read plan over its result.
 *
 * Pure: no I/O, no globals; arena memory only. It never writes SQL (sql_rpc.c
 * does): function and argument names in the plan are the schema cache's,
 * values are text that becomes bind parameters. Arguments come from the
 * query string for GET/HEAD (PostgREST's rule: a key without a dot whose
 * value is not an `op.value` filter is an argument; every other key is
 * select, order, range or a filter on the result), from a JSON object or a
 * form body for POST, or are the whole body for a function with a single
 * unnamed json/jsonb, text, xml or bytea parameter.
 */
#include "plan_rpc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "rest_parse.h"

/* The most overloads of one name considered; more is a 300 like ambiguity. */
#define MAX_OVERLOADS 32

/* A named argument as the request gave it (before the overload is known). */
typedef struct Given {
    const char *name;
    const char *text; /* GET/form: the value; NULL for JSON */
    const char *raw;  /* JSON: the member's raw JSON text */
    struct Given *next;
} Given;

/* ---- JSON bodies ---------------------------------------------------------- */

static size_t skip_json_ws(const char *s, size_t i)
{
    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
        i++;
    return i;
}

/* The end of the JSON value starting at s[i]. s is valid JSON (checked by
 * jansson first) and NUL-terminated; a NUL stops the scan in any case. */
static size_t json_value_end(const char *s, size_t i)
{
    if (s[i] == '"') {
        i++;
        while (s[i] && s[i] != '"') {
            if (s[i] == '\\' && s[i + 1])
                i++;
            i++;
        }
        return s[i] ? i + 1 : i;
    }
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        do {
            char c = s[i];
            if (c == '"') {
                i = json_value_end(s, i);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']')
                depth--;
            i++;
        } while (s[i] && depth > 0);
        return i;
    }
    while (s[i] && !strchr(",}] \t\r\n", s[i]))
        i++;
    return i;
}

/* A JSON string literal's contents (raw[0] == '"'), decoded by jansson. */
static const char *json_string_text(KilnArena *a, const char *raw, size_t len)
{
    json_error_t jerr;
    json_t *v = json_loadb(raw, len, JSON_DECODE_ANY, &jerr);
    const char *s = json_is_string(v) ? arena_strdup(a, json_string_value(v)) : NULL;
    json_decref(v);
    return s;
}

bool plan_rpc_json_members(KilnArena *a, const char *body, size_t len, const char ***names,
                           const char ***raw, int *n, KilnError *err)
{
    *n = 0;
    size_t start = 0;
    while (start < len && strchr(" \t\r\n", body[start]))
        start++;
    if (start == len) {
        *names = *raw = NULL;
        return true; /* an empty body is {} */
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    bool is_obj = json_is_object(root);
    json_decref(root);
    if (!is_obj)
        return kiln_error_rest(err, 400, "PGRST102", "Empty or invalid json");
    /* Valid JSON without NULs (jansson refuses them): scan the members, at
     * most one more than the commas (duplicate keys included). */
    const char *s = arena_strndup(a, body, len);
    size_t max = 1;
    for (size_t k = 0; k < len; k++)
        max += s[k] == ',';
    const char **nm = arena_alloc(a, max * sizeof *nm), **rv = arena_alloc(a, max * sizeof *rv);
    size_t i = skip_json_ws(s, 0) + 1; /* past '{' */
    while (true) {
        i = skip_json_ws(s, i);
        if (s[i] == '}' || !s[i])
            break;
        if (s[i] == ',') {
            i = skip_json_ws(s, i + 1);
        }
        size_t ke = json_value_end(s, i);
        const char *key = json_string_text(a, s + i, ke - i);
        i = skip_json_ws(s, ke);
        if (s[i] == ':')
            i = skip_json_ws(s, i + 1);
        size_t ve = json_value_end(s, i);
        if (!key || (size_t)*n >= max)
            return kiln_error_rest(err, 400, "PGRST102", "Empty or invalid json");
        nm[*n] = key;
        rv[*n] = arena_strndup(a, s + i, ve - i);
        (*n)++;
        i = ve;
    }
    *names = nm;
    *raw = rv;
    return true;
}

static bool type_is_json(const char *type)
{
    return strcmp(type, "json") == 0 || strcmp(type, "jsonb") == 0;
}

static bool type_is_array(const char *type)
{
    size_t n = strlen(type);
    return n > 2 && strcmp(type + n - 2, "[]") == 0;
}

/* Appends s as one double-quoted element of an array literal. */
static void array_quoted(KilnBuf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_putc(b, '\\');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

/* The JSON array at s[*i] as a PostgreSQL array literal; nested arrays
 * become nested braces, null NULL, objects their JSON text. */
static void json_to_pg_array(KilnArena *a, KilnBuf *b, const char *s, size_t *i, int depth)
{
    buf_putc(b, '{');
    size_t p = skip_json_ws(s, *i + 1);
    bool first = true;
    while (s[p] && s[p] != ']') {
        if (s[p] == ',')
            p = skip_json_ws(s, p + 1);
        if (!first)
            buf_putc(b, ',');
        first = false;
        size_t e = json_value_end(s, p);
        if (s[p] == '[' && depth < 16) {
            json_to_pg_array(a, b, s, &p, depth + 1);
            e = p;
        } else if (s[p] == '"') {
            const char *t = json_string_text(a, s + p, e - p);
            array_quoted(b, t ? t : "");
        } else if (e - p == 4 && strncmp(s + p, "null", 4) == 0) {
            buf_puts(b, "NULL");
        } else if (s[p] == '{' || s[p] == '[') {
            array_quoted(b, arena_strndup(a, s + p, e - p));
        } else {
            buf_append(b, s + p, e - p);
        }
        p = skip_json_ws(s, e);
    }
    buf_putc(b, '}');
    *i = s[p] ? p + 1 : p;
}

const char *plan_rpc_json_value(KilnArena *a, const char *raw, const char *type)
{
    if (strcmp(raw, "null") == 0)
        return NULL;
    if (type_is_json(type))
        return raw;
    if (raw[0] == '"') {
        const char *t = json_string_text(a, raw, strlen(raw));
        return t ? t : "";
    }
    if (raw[0] == '[' && type_is_array(type)) {
        KilnBuf b = KILN_BUF_INIT;
        size_t i = 0;
        json_to_pg_array(a, &b, raw, &i, 0);
        const char *out = arena_strdup(a, buf_str(&b));
        buf_free(&b);
        return out;
    }
    return raw;
}

/* ---- the query string ------------------------------------------------------ */

static bool is_operator(const char *s, size_t n)
{
    static const char *const ops[] = {
        "eq",     "neq", "gt",  "gte",        "lt",    "lte",   "like", "ilike", "match",
        "imatch", "in",  "is",  "isdistinct", "cs",    "cd",    "ov",   "sl",    "sr",
        "nxr",    "nxl", "adj", "fts",        "plfts", "phfts", "wfts"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strlen(ops[i]) == n && strncmp(ops[i], s, n) == 0)
            return true;
    return false;
}

/* Does a query value read as a filter (`op.value`, `not.op.value`,
 * `op(modifier).value`, `is...`, `in...`)? */
static bool has_operator(const char *v)
{
    size_t n = strcspn(v, ".(");
    if (n == 3 && strncmp(v, "not", 3) == 0 && v[3] == '.') {
        const char *rest = v + 4;
        return strchr(rest, '.') != NULL;
    }
    return is_operator(v, n);
}

static bool last_segment_is(const char *key, const char *const *names, size_t count)
{
    const char *last = strrchr(key, '.');
    last = last ? last + 1 : key;
    for (size_t i = 0; i < count; i++)
        if (strcmp(last, names[i]) == 0)
            return true;
    return false;
}

/* Splits a raw query string into the function's arguments (decoded, in
 * order) and the rest (raw, for rest_parse_query). With all_args (a form
 * body) every key is an argument. */
static bool split_query(KilnArena *a, const char *query, bool all_args, Given **args,
                        const char **rest, KilnError *err)
{
    static const char *const reserved_last[] = {"order", "limit", "offset", "and", "or"};
    *args = NULL;
    *rest = NULL;
    if (!query || !*query)
        return true;
    size_t qlen = strlen(query);
    if (qlen > kiln_rest_default_limits.max_query_bytes) {
        return kiln_error_rest(err, 414, "PGRST100", "the query string is longer than %zu bytes",
                               kiln_rest_default_limits.max_query_bytes);
    }
    KilnBuf r = KILN_BUF_INIT;
    Given **tail = args;
    size_t pos = 0;
    while (pos < qlen) {
        size_t end = pos;
        while (end < qlen && query[end] != '&')
            end++;
        size_t eq = pos;
        while (eq < end && query[eq] != '=')
            eq++;
        char *key, *val;
        if (end == pos || eq == end) { /* empty, or a key without a value */
            pos = end + 1;
            continue;
        }
        if (!rest_url_decode(a, query + pos, eq - pos, &key) ||
            !rest_url_decode(a, query + eq + 1, end - eq - 1, &val)) {
            buf_free(&r);
            return kiln_error_rest(err, 400, "PGRST100",
                                   "the query string has a malformed percent-escape");
        }
        bool arg =
            *key && (all_args || (strcmp(key, "select") != 0 && strcmp(key, "apikey") != 0 &&
                                  strcmp(key, "columns") != 0 && strcmp(key, "on_conflict") != 0 &&
                                  !strchr(key, '.') && !last_segment_is(key, reserved_last, 5) &&
                                  !has_operator(val)));
        if (arg) {
            Given *g = arena_alloc(a, sizeof *g);
            g->name = key;
            g->text = val;
            *tail = g;
            tail = &g->next;
        } else if (!all_args) {
            if (r.len)
                buf_putc(&r, '&');
            buf_append(&r, query + pos, end - pos);
        }
        pos = end + 1;
    }
    *rest = arena_strdup(a, buf_str(&r));
    buf_free(&r);
    return true;
}

/* ---- overloads ------------------------------------------------------------- */

static bool given_has(const Given *g, const char *name)
{
    for (; g; g = g->next)
        if (strcmp(g->name, name) == 0)
            return true;
    return false;
}

/* PostgREST's match: every required argument given, every other key an
 * optional argument. */
static bool matches(const KilnFunction *f, const Given *given, const KilnRpcRequest *r)
{
    if (f->nargs == 0)
        return !given &&
               !(r->post && r->body_type != KILN_BODY_JSON && r->body_type != KILN_BODY_FORM);
    for (int i = 0; i < f->nargs; i++)
        if (!f->args[i].has_default && !given_has(given, f->args[i].name))
            return false;
    for (const Given *g = given; g; g = g->next) {
        bool known = false;
        for (int i = 0; i < f->nargs && !known; i++)
            known = strcmp(f->args[i].name, g->name) == 0;
        if (!known)
            return false;
    }
    return true;
}

/* A function with a single unnamed parameter that takes the whole POST
 * body of this content type. */
static bool takes_body(const KilnFunction *f, const KilnRpcRequest *r)
{
    if (r->single_object)
        return r->body_type == KILN_BODY_JSON && f->nargs == 1 && type_is_json(f->args[0].type);
    if (!r->post || f->nargs != 1 || f->args[0].name[0])
        return false;
    const char *t = f->args[0].type;
    switch (r->body_type) {
    case KILN_BODY_JSON:
        return type_is_json(t);
    case KILN_BODY_TEXT:
        return strcmp(t, "text") == 0;
    case KILN_BODY_XML:
        return strcmp(t, "xml") == 0;
    case KILN_BODY_BINARY:
        return strcmp(t, "bytea") == 0;
    case KILN_BODY_FORM:
        return false;
    }
    return false;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* 404 PGRST202 in PostgREST's words. The hint stays null: it would name
 * another function, which the caller may not be allowed to see. */
static bool not_found(KilnArena *a, const KilnRpcRequest *r, const Given *given, KilnError *err)
{
    int n = 0;
    for (const Given *g = given; g; g = g->next)
        n++;
    const char **keys = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *keys);
    n = 0;
    for (const Given *g = given; g; g = g->next) {
        bool dup = false;
        for (int k = 0; k < n && !dup; k++)
            dup = strcmp(keys[k], g->name) == 0;
        if (!dup)
            keys[n++] = g->name;
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_str);
    KilnBuf list = KILN_BUF_INIT;
    for (int k = 0; k < n; k++)
        buf_printf(&list, "%s%s", k ? ", " : "", keys[k]);
    bool raw_body = r->post && r->body_type != KILN_BODY_JSON && r->body_type != KILN_BODY_FORM;
    if (raw_body)
        kiln_error_rest(err, 404, "PGRST202",
                        "Could not find the function %s.%s in the schema cache", r->schema,
                        r->name);
    else if (n)
        kiln_error_rest(err, 404, "PGRST202",
                        "Could not find the function %s.%s(%s) in the schema cache", r->schema,
                        r->name, buf_str(&list));
    else
        kiln_error_rest(err, 404, "PGRST202",
                        "Could not find the function %s.%s without parameters in the schema cache",
                        r->schema, r->name);
    char with[400];
    if (n)
        snprintf(with, sizeof with, " with parameter%s %s", n > 1 ? "s" : "", buf_str(&list));
    else
        snprintf(with, sizeof with, " without parameters");
    static const char *const single[] = {
        [KILN_BODY_TEXT] = " with a single unnamed text parameter",
        [KILN_BODY_XML] = " with a single unnamed xml parameter",
        [KILN_BODY_BINARY] = " with a single unnamed bytea parameter",
    };
    if (r->single_object)
        kiln_error_details(err,
                           "Searched for the function %s.%s with a single json/jsonb "
                           "parameter, but no matches were found in the schema cache.",
                           r->schema, r->name);
    else if (raw_body)
        kiln_error_details(err,
                           "Searched for the function %s.%s%s, but no matches were found in "
                           "the schema cache.",
                           r->schema, r->name, single[r->body_type]);
    else
        kiln_error_details(err,
                           "Searched for the function %s.%s%s%s, but no matches were found "
                           "in the schema cache.",
                           r->schema, r->name, with,
                           r->post && r->body_type == KILN_BODY_JSON
                               ? " or with a single unnamed json/jsonb parameter"
                               : "");
    buf_free(&list);
    return false;
}

/* 300 PGRST203, listing the candidates as name(arg => type, ...). */
static bool ambiguous(const KilnFunction *const *c, int n, KilnError *err)
{
    KilnBuf b = KILN_BUF_INIT;
    for (int i = 0; i < n && i < MAX_OVERLOADS; i++) {
        buf_printf(&b, "%s%s.%s(", i ? ", " : "", c[i]->schema, c[i]->name);
        for (int k = 0; k < c[i]->nargs; k++)
            buf_printf(&b, "%s%s => %s", k ? ", " : "", c[i]->args[k].name, c[i]->args[k].type);
        buf_putc(&b, ')');
    }
    kiln_error_rest(err, 300, "PGRST203",
                    "Could not choose the best candidate function between: %s", buf_str(&b));
    kiln_error_hint(err, "Try renaming the parameters or the function itself in the database so "
                         "function overloading can be resolved");
    buf_free(&b);
    return false;
}

/* ---- values ---------------------------------------------------------------- */

/* The whole body for the single unnamed parameter. */
static bool body_value(KilnArena *a, const KilnRpcRequest *r, const char **out, KilnError *err)
{
    if (r->body_type == KILN_BODY_BINARY) {
        static const char hex[] = "0123456789abcdef";
        char *h = arena_alloc(a, r->body_len * 2 + 3);
        h[0] = '\\';
        h[1] = 'x';
        for (size_t i = 0; i < r->body_len; i++) {
            h[2 + 2 * i] = hex[(unsigned char)r->body[i] >> 4];
            h[3 + 2 * i] = hex[(unsigned char)r->body[i] & 15];
        }
        *out = h;
        return true;
    }
    if (memchr(r->body ? r->body : "", '\0', r->body_len))
        return kiln_error_rest(err, 400, "PGRST102", "the request body holds a NUL byte");
    if (r->body_type == KILN_BODY_JSON) {
        size_t i = 0;
        while (i < r->body_len && strchr(" \t\r\n", r->body[i]))
            i++;
        if (i == r->body_len) {
            *out = "{}";
            return true;
        }
        json_error_t jerr;
        json_t *v = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, &jerr);
        json_decref(v);
        if (!v)
            return kiln_error_rest(err, 400, "PGRST102", "Empty or invalid json");
    }
    *out = arena_strndup(a, r->body ? r->body : "", r->body_len);
    return true;
}

/* The text of a GET/form argument: repeated keys of a VARIADIC argument
 * form an array (?v=1&v=2); otherwise the last occurrence wins. */
static const char *text_value(KilnArena *a, const KilnFuncArg *arg, const Given *given)
{
    int n = 0;
    const char *last = NULL;
    for (const Given *g = given; g; g = g->next)
        if (strcmp(g->name, arg->name) == 0) {
            n++;
            last = g->text;
        }
    if (!arg->variadic || (n == 1 && last[0] == '{'))
        return last;
    KilnBuf b = KILN_BUF_INIT;
    buf_putc(&b, '{');
    bool first = true;
    for (const Given *g = given; g; g = g->next) {
        if (strcmp(g->name, arg->name) != 0)
            continue;
        if (!first)
            buf_putc(&b, ',');
        first = false;
        array_quoted(&b, g->text);
    }
    buf_putc(&b, '}');
    const char *out = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return out;
}

static const char *json_arg_value(KilnArena *a, const KilnFuncArg *arg, const Given *given)
{
    const char *raw = NULL;
    for (const Given *g = given; g; g = g->next)
        if (strcmp(g->name, arg->name) == 0)
            raw = g->raw; /* the last duplicate wins, as in jansson */
    return plan_rpc_json_value(a, raw, arg->type);
}

/* ---- the plan -------------------------------------------------------------- */

/* The named arguments the request gives: the query string's (query_args)
 * for GET/HEAD, the body's for POST. A JSON body that is not an object sets
 * *not_object and err: only a function taking the whole body may match. */
static bool collect_given(KilnArena *a, const KilnRpcRequest *r, Given *query_args, Given **given,
                          bool *not_object, KilnError *err)
{
    *given = NULL;
    *not_object = false;
    if (!r->post) {
        *given = query_args;
        return true;
    }
    const char *body = r->body ? r->body : "";
    if (r->body_type == KILN_BODY_FORM) {
        char *form = arena_strndup(a, body, r->body_len);
        if (strlen(form) != r->body_len)
            return kiln_error_rest(err, 400, "PGRST102", "the request body holds a NUL byte");
        const char *unused;
        return split_query(a, form, true, given, &unused, err);
    }
    if (r->body_type != KILN_BODY_JSON)
        return true; /* a raw body names no arguments */
    const char **names, **raws;
    int n;
    if (!plan_rpc_json_members(a, body, r->body_len, &names, &raws, &n, err)) {
        *not_object = true;
        return true;
    }
    Given **tail = given;
    for (int i = 0; i < n; i++) {
        Given *g = arena_alloc(a, sizeof *g);
        g->name = names[i];
        g->raw = raws[i];
        *tail = g;
        tail = &g->next;
    }
    return true;
}

/* Picks the overload as PostgREST's findProc does: the one function whose
 * arguments match the names given, else the one taking the whole body
 * (*whole_body); several: 300, none: 404 (or the body's own error). */
static bool choose(KilnArena *a, const KilnSchemaCache *sc, const KilnRpcRequest *r,
                   const Given *given, bool not_object, const KilnFunction **out, bool *whole_body,
                   KilnError *err)
{
    const KilnFunction *cands[MAX_OVERLOADS], *match[MAX_OVERLOADS], *fallback[MAX_OVERLOADS];
    int total = schema_cache_functions(sc, r->schema, r->name, cands, MAX_OVERLOADS);
    if (total > MAX_OVERLOADS)
        total = MAX_OVERLOADS;
    int nm = 0, nf = 0;
    for (int i = 0; i < total; i++) {
        if (!not_object && !r->single_object && matches(cands[i], given, r))
            match[nm++] = cands[i];
        else if (takes_body(cands[i], r))
            fallback[nf++] = cands[i];
    }
    if (nm > 1)
        return ambiguous(match, nm, err);
    if (nm == 1) {
        *out = match[0];
        *whole_body = false;
        return true;
    }
    if (nf > 1)
        return ambiguous(fallback, nf, err);
    if (nf == 1) {
        *out = fallback[0];
        *whole_body = true;
        return true;
    }
    if (not_object)
        return false; /* err holds the body's error */
    return not_found(a, r, given, err);
}

/* The values of the call: the whole body, or each argument given in
 * declared order (omitted ones take their defaults). */
static bool bind_args(KilnArena *a, const KilnRpcRequest *r, const Given *given, KilnRpcPlan *p,
                      KilnError *err)
{
    const KilnFunction *f = p->fn;
    p->args = arena_alloc(a, (size_t)(f->nargs ? f->nargs : 1) * sizeof *p->args);
    if (p->positional) {
        p->nargs = 1;
        p->args[0].arg = &f->args[0];
        return body_value(a, r, &p->args[0].value, err);
    }
    bool json = r->post && r->body_type == KILN_BODY_JSON;
    for (int i = 0; i < f->nargs; i++) {
        const KilnFuncArg *arg = &f->args[i];
        if (!given_has(given, arg->name))
            continue;
        KilnRpcArg *ra = &p->args[p->nargs++];
        ra->arg = arg;
        ra->value = json ? json_arg_value(a, arg, given) : text_value(a, arg, given);
    }
    return true;
}

bool plan_rpc(KilnArena *a, const KilnSchemaCache *sc, const KilnRpcRequest *r, KilnRpcPlan **out,
              KilnError *err)
{
    KilnRpcPlan *p = arena_alloc(a, sizeof *p);
    Given *query_args, *given;
    const char *rest;
    bool not_object;
    if (!split_query(a, r->query, false, &query_args, &rest, err) ||
        !collect_given(a, r, query_args, &given, &not_object, err) ||
        !choose(a, sc, r, given, not_object, &p->fn, &p->positional, err) ||
        !bind_args(a, r, given, p, err))
        return false;
    p->write = r->post && p->fn->volatility == 'v';

    /* The rest of the query string reads the result like a table. */
    KilnRestQuery *q;
    if (!rest_parse_query(a, rest, &kiln_rest_default_limits, &q, err))
        return false;
    p->apikey = q->apikey;
    const KilnTable *t = schema_cache_function_result(sc, p->fn);
    if (t) {
        if (p->fn->ret_kind == KILN_RET_SCALAR)
            q->select = NULL; /* a scalar result is its one column */
        KilnPlanOptions opt = {.schema = r->schema,
                               .max_rows = p->fn->ret_set ? r->max_rows : 0,
                               .count_exact = r->count_exact,
                               .aggregates = r->aggregates};
        if (!plan_read_table(a, sc, t, q, &opt, &p->read, err))
            return false;
        p->read->root->rpc_source = true;
    }
    *out = p;
    return true;
}
