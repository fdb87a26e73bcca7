/*
 * rest_prefer.c: parsing Prefer and writing Preference-Applied
 * (rest_prefer.h).
 *
 * Pure: no I/O, no globals but the constant table below; never logs.
 */
#include "rest_prefer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Recognised preferences. Columns: the exact token, the field it sets
 * (an offset into KilnPrefer, all int-sized enums), the value. A token
 * sets its field only when the field is still unset (first one wins).
 */
typedef enum { F_RET, F_COUNT, F_RES, F_MISSING, F_HANDLING, F_TX, F_PARAMS } Field;

static const struct {
    const char *token;
    Field field;
    int value;
} prefs[] = {
    {"return=representation", F_RET, KILN_RET_REPRESENTATION},
    {"return=minimal", F_RET, KILN_RET_MINIMAL},
    {"return=headers-only", F_RET, KILN_RET_HEADERS},
    {"count=exact", F_COUNT, KILN_COUNT_EXACT},
    {"count=planned", F_COUNT, KILN_COUNT_PLANNED},
    {"count=estimated", F_COUNT, KILN_COUNT_ESTIMATED},
    {"resolution=merge-duplicates", F_RES, KILN_RES_MERGE},
    {"resolution=ignore-duplicates", F_RES, KILN_RES_IGNORE},
    {"missing=default", F_MISSING, KILN_MISSING_DEFAULT},
    {"missing=null", F_MISSING, KILN_MISSING_NULL},
    {"handling=strict", F_HANDLING, KILN_HANDLING_STRICT},
    {"handling=lenient", F_HANDLING, KILN_HANDLING_LENIENT},
    {"tx=commit", F_TX, KILN_TX_COMMIT},
    {"tx=rollback", F_TX, KILN_TX_ROLLBACK},
    /* RPC POST: the body is the function's one json/jsonb argument */
    {"params=single-object", F_PARAMS, KILN_PARAMS_SINGLE},
};

static int *field_of(KilnPrefer *p, Field f)
{
    switch (f) {
    case F_RET:
        return (int *)&p->ret;
    case F_COUNT:
        return (int *)&p->count;
    case F_RES:
        return (int *)&p->resolution;
    case F_MISSING:
        return (int *)&p->missing;
    case F_HANDLING:
        return (int *)&p->handling;
    case F_TX:
        return (int *)&p->tx;
    case F_PARAMS:
        return (int *)&p->params;
    }
    return NULL;
}

/* "max-affected=<whole number>" */
static bool max_affected(const char *s, size_t n, long long *out)
{
    static const char key[] = "max-affected=";
    size_t k = sizeof key - 1;
    if (n <= k || strncmp(s, key, k) != 0)
        return false;
    if (n - k > 18)
        return true; /* recognised, not a usable number */
    char num[20];
    memcpy(num, s + k, n - k);
    num[n - k] = '\0';
    for (const char *c = num; *c; c++)
        if (!isdigit((unsigned char)*c))
            return true;
    if (*out < 0)
        *out = strtoll(num, NULL, 10);
    return true;
}

static void add_invalid(KilnPrefer *p, const char *s, size_t n)
{
    if (p->ninvalid < KILN_PREFER_MAX_INVALID) {
        size_t m = n < 63 ? n : 63;
        char *d = p->invalid[p->ninvalid];
        for (size_t i = 0; i < m; i++)
            d[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
        d[m] = '\0';
    }
    p->ninvalid++;
}

void rest_prefer_parse(const char *header, bool allow_tx, KilnPrefer *out)
{
    memset(out, 0, sizeof *out);
    out->max_affected = -1;
    const char *s = header ? header : "";
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n) {
            bool known = max_affected(s, n, &out->max_affected);
            for (size_t i = 0; !known && i < sizeof prefs / sizeof prefs[0]; i++) {
                if (strlen(prefs[i].token) != n || strncmp(prefs[i].token, s, n) != 0)
                    continue;
                known = true;
                int *f = field_of(out, prefs[i].field);
                if (prefs[i].field == F_TX && !allow_tx)
                    f = NULL;
                if (f && *f == 0)
                    *f = prefs[i].value;
            }
            if (!known)
                add_invalid(out, s, n);
        }
        s = e;
    }
}

bool rest_prefer_check(const KilnPrefer *p, KilnError *err)
{
    if (p->handling != KILN_HANDLING_STRICT || p->ninvalid == 0)
        return true;
    kiln_error_rest(err, 400, "PGRST122", "Invalid preferences given with handling=strict");
    KilnBuf b = KILN_BUF_INIT;
    buf_puts(&b, "Invalid preferences: ");
    int shown = p->ninvalid < KILN_PREFER_MAX_INVALID ? p->ninvalid : KILN_PREFER_MAX_INVALID;
    for (int i = 0; i < shown; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", p->invalid[i]);
    if (p->ninvalid > shown)
        buf_puts(&b, ", ...");
    kiln_error_details(err, "%s", buf_str(&b));
    buf_free(&b);
    return false;
}

void rest_prefer_applied(const KilnPrefer *p, const KilnPreferApplied *w, KilnBuf *out)
{
    static const char *const ret[] = {NULL, "return=minimal", "return=headers-only",
                                      "return=representation"};
    static const char *const count[] = {NULL, "count=exact", "count=planned", "count=estimated"};
    static const char *const res[] = {NULL, "resolution=merge-duplicates",
                                      "resolution=ignore-duplicates"};
    static const char *const missing[] = {NULL, "missing=default", "missing=null"};
    static const char *const handling[] = {NULL, "handling=strict", "handling=lenient"};
    static const char *const tx[] = {NULL, "tx=commit", "tx=rollback"};
    const char *vals[] = {
        w->resolution ? res[p->resolution] : NULL,
        w->missing ? missing[p->missing] : NULL,
        w->ret ? ret[p->ret] : NULL,
        w->count ? count[p->count] : NULL,
        w->params && p->params == KILN_PARAMS_SINGLE ? "params=single-object" : NULL,
        w->tx ? tx[p->tx] : NULL,
        w->handling ? handling[p->handling] : NULL,
    };
    size_t start = out->len;
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        if (vals[i])
            buf_printf(out, "%s%s", out->len > start ? ", " : "", vals[i]);
    if (w->max_affected && p->handling == KILN_HANDLING_STRICT && p->max_affected >= 0)
        buf_printf(out, "%smax-affected=%lld", out->len > start ? ", " : "", p->max_affected);
}
