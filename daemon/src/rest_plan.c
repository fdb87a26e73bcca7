/*
 * rest_plan.c: the plan media type of the data API
 * (Accept: application/vnd.pgrst.plan[+text|+json]; for="..."; options=...),
 * as postgrest-js's .explain() sends it, enabled by db_plan_enabled
 * (PostgREST's db-plan-enabled; off by default: 406 PGRST107).
 *
 * A handler negotiates the explained statement with the for= media type,
 * builds its statement as usual, and hands it here instead of running it.
 * The plan is never built from a second, different query: kiln.explain
 * gets the very statement text and parameter values the request would have
 * run, inside the same kind of transaction (kiln.authenticate first, so the
 * caller's role, context and row security shape the plan), and that
 * transaction always ends with ROLLBACK. It never writes SQL (sql_plan.c
 * does) and never decides what the caller may see.
 */
#include "rest_plan.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "rest.h"

/* Options in PostgREST's order (also the order EXPLAIN gets them). */
static const struct {
    const char *name;
    unsigned bit;
} plan_options[] = {
    {"analyze", KILN_EXPLAIN_ANALYZE}, {"verbose", KILN_EXPLAIN_VERBOSE},
    {"settings", KILN_EXPLAIN_SETTINGS}, {"buffers", KILN_EXPLAIN_BUFFERS},
    {"wal", KILN_EXPLAIN_WAL},
};

#define NOPTIONS (int)(sizeof plan_options / sizeof plan_options[0])

/* End of the part of s that starts at s and ends at the first stop
 * character outside double quotes (or at the end). */
static const char *part_end(const char *s, char stop1, char stop2)
{
    bool quoted = false;
    for (; *s; s++) {
        if (*s == '"')
            quoted = !quoted;
        else if (!quoted && (*s == stop1 || *s == stop2))
            break;
    }
    return s;
}

/* [s, e) without surrounding spaces. */
static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

static bool is_plan_type(const char *s, size_t n, bool *json)
{
#define IS(lit) (n == sizeof(lit) - 1 && strncasecmp(s, lit, n) == 0)
    *json = IS("application/vnd.pgrst.plan+json");
    return *json || IS("application/vnd.pgrst.plan") || IS("application/vnd.pgrst.plan+text");
#undef IS
}

/* A for= value may only hold what media types and their parameters do
 * (it is echoed in the Content-Type). */
static bool for_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$&^_.+-/*;= ", c) != NULL;
}

/* Reads the parameters [s, e) of a plan media type into ex. */
static bool read_params(const char *s, const char *e, KilnExplain *ex, KilnError *err)
{
    while (s < e) {
        const char *pe = part_end(s, ';', '\0');
        if (pe > e)
            pe = e;
        const char *ps = s, *pt = pe;
        trim(&ps, &pt);
        size_t n = (size_t)(pt - ps);
        if (n >= 4 && strncasecmp(ps, "for=", 4) == 0) {
            const char *v = ps + 4, *ve = pt;
            if (ve - v >= 2 && *v == '"' && ve[-1] == '"') {
                v++;
                ve--;
            }
            trim(&v, &ve);
            size_t len = (size_t)(ve - v);
            for (const char *c = v; c < ve; c++)
                if (!for_char_ok(*c))
                    len = KILN_EXPLAIN_FOR_MAX;
            if (len >= KILN_EXPLAIN_FOR_MAX)
                return kiln_error_rest(err, 406, "PGRST107",
                                       "None of these media types are available: %.*s",
                                       (int)(len < 200 ? len : 200), v);
            if (len > 0)
                snprintf(ex->for_type, sizeof ex->for_type, "%.*s", (int)len, v);
        } else if (n >= 8 && strncasecmp(ps, "options=", 8) == 0) {
            const char *o = ps + 8;
            while (o < pt) {
                const char *oe = o;
                while (oe < pt && *oe != '|')
                    oe++;
                for (int i = 0; i < NOPTIONS; i++)
                    if ((size_t)(oe - o) == strlen(plan_options[i].name) &&
                        strncasecmp(o, plan_options[i].name, (size_t)(oe - o)) == 0)
                        ex->options |= plan_options[i].bit;
                o = oe < pt ? oe + 1 : oe;
            }
        }
        s = pe < e ? pe + 1 : e;
    }
    return true;
}

bool rest_plan_accept(const char *accept, bool enabled, KilnExplain *ex, KilnError *err)
{
    memset(ex, 0, sizeof *ex);
    snprintf(ex->for_type, sizeof ex->for_type, "application/json");
    const char *s = accept ? accept : "";
    while (*s) {
        const char *e = part_end(s, ',', '\0');
        const char *te = part_end(s, ';', ',');
        const char *ts = s, *tt = te;
        trim(&ts, &tt);
        bool json;
        if (is_plan_type(ts, (size_t)(tt - ts), &json)) {
            if (!enabled)
                return kiln_error_rest(err, 406, "PGRST107",
                                       "None of these media types are available: %.200s",
                                       accept);
            ex->on = true;
            ex->json = json;
            return *te == ';' ? read_params(te + 1, e, ex, err) : true;
        }
        s = *e ? e + 1 : e;
    }
    return true;
}

int rest_plan_option_names(const KilnExplain *ex, const char *names[5])
{
    int n = 0;
    for (int i = 0; i < NOPTIONS; i++)
        if (ex->options & plan_options[i].bit)
            names[n++] = plan_options[i].name;
    return n;
}

void rest_plan_content_type(const KilnExplain *ex, KilnBuf *out)
{
    buf_printf(out, "application/vnd.pgrst.plan+%s; for=\"%s\"", ex->json ? "json" : "text",
               ex->for_type);
    const char *names[5];
    int n = rest_plan_option_names(ex, names);
    for (int i = 0; i < n; i++)
        buf_printf(out, "%s%s", i ? "|" : "; options=", names[i]);
    buf_puts(out, "; charset=utf-8");
}

bool rest_plan_run(KilnRequest *req, KilnConn *conn, bool *broken, KilnResponse *res,
                   KilnError *err, KilnArena *arena, const KilnExplain *ex, KilnSql *stmt,
                   bool write, const char *token, unsigned long generation, const char *schema)
{
    const char *names[5];
    int n = rest_plan_option_names(ex, names);
    KilnSql sql = {0};
    sql_explain(arena, stmt, ex->json, names, n, &sql);
    bool analyze = (ex->options & KILN_EXPLAIN_ANALYZE) != 0;
    KilnTxResult out;
    bool ok = rest_tx(req, conn, write && analyze, true, token, buf_str(&sql.text), sql.nparams,
                      sql.params, generation, &out, broken, err);
    sql_free(&sql);
    if (!ok) {
        rest_map_violation(err);
        rest_auth_error_headers(res, err);
        return false;
    }
    buf_free(&out.extra);
    response_set_header(res, "Content-Profile", schema);
    KilnBuf ct = KILN_BUF_INIT;
    rest_plan_content_type(ex, &ct);
    response_set_header(res, "Content-Type", buf_str(&ct));
    buf_free(&ct);
    res->status = 200;
    buf_free(&res->body);
    res->body = out.body;
    return true;
}
