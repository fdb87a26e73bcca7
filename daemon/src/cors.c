/*
 * cors.c: CORS decisions (see cors.h for the allowlist syntax). Pure: it
 * reads its inputs and fills its output; it never allocates, logs or looks
 * at the configuration itself. An origin is compared entry by entry on the
 * allowlist text, so checking one costs a scan of a short string and only
 * requests that carry an Origin header pay it.
 */
#include "cors.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* How long a browser may cache a preflight's answer, in seconds (Chromium
 * caps it at 7200, Firefox at 86400). */
#define CORS_MAX_AGE "7200"

/* Response headers a browser script may read besides the safelisted ones:
 * what postgrest-js, auth-js and storage-js read (wire reference §1.4) and
 * the daemon's own request id and retry hints. */
static const char expose_headers[] =
    "Content-Range, Content-Location, Content-Profile, Location, Preference-Applied, "
    "Range-Unit, X-Total-Count, Link, X-Request-Id, X-Supabase-Api-Version, Proxy-Status, "
    "Content-Disposition, ETag, Retry-After, WWW-Authenticate";

/* Longest Access-Control-Request-Headers value reflected. */
#define CORS_MAX_REQUEST_HEADERS 2048

/* An origin (or an allowlist entry) split into spans of the text. */
typedef struct OriginParts {
    const char *scheme, *host, *port;
    size_t scheme_len, host_len, port_len; /* port_len 0: no port */
} OriginParts;

static bool is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
}

static bool is_ipv6_char(char c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
           c == '.';
}

/* Splits s[0..len) as scheme://host[:port]; wild allows the port "*".
 * False when it is anything else (a path, userinfo, another scheme). */
static bool origin_parse(const char *s, size_t len, bool wild, OriginParts *o)
{
    memset(o, 0, sizeof *o);
    const char *end = s + len;
    if (len > 7 && strncasecmp(s, "http://", 7) == 0)
        o->scheme_len = 4;
    else if (len > 8 && strncasecmp(s, "https://", 8) == 0)
        o->scheme_len = 5;
    else
        return false;
    o->scheme = s;
    const char *p = s + o->scheme_len + 3;
    o->host = p;
    if (*p == '[') {
        for (p++; p < end && is_ipv6_char(*p); p++)
            ;
        if (p >= end || *p != ']' || p == o->host + 1)
            return false;
        p++;
    } else {
        for (; p < end && is_host_char(*p); p++)
            ;
        if (p == o->host)
            return false;
    }
    o->host_len = (size_t)(p - o->host);
    if (p == end)
        return true;
    if (*p != ':' || p + 1 == end)
        return false;
    o->port = ++p;
    o->port_len = (size_t)(end - p);
    if (wild && o->port_len == 1 && *p == '*')
        return true;
    if (o->port_len > 5)
        return false;
    unsigned n = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        n = n * 10 + (unsigned)(*p - '0');
    }
    return n >= 1 && n <= 65535;
}

/* Calls the entries of a comma-separated list one by one, trimmed:
 * next_entry(&cursor, &entry, &len) until it returns false. */
static bool next_entry(const char **cursor, const char **entry, size_t *len)
{
    const char *c = *cursor;
    if (!c)
        return false;
    const char *comma = strchr(c, ',');
    const char *e = comma ? comma : c + strlen(c);
    *cursor = comma ? comma + 1 : NULL;
    while (c < e && (*c == ' ' || *c == '\t'))
        c++;
    while (e > c && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *entry = c;
    *len = (size_t)(e - c);
    return true;
}

static bool list_empty(const char *list)
{
    if (!list)
        return true;
    for (; *list; list++)
        if (*list != ' ' && *list != '\t')
            return false;
    return true;
}

static bool list_is_any(const char *list)
{
    const char *cur = list, *e;
    size_t n;
    return !list_empty(list) && next_entry(&cur, &e, &n) && n == 1 && *e == '*';
}

bool cors_allowlist_valid(const char *list, KilnError *err)
{
    if (list_empty(list))
        return true;
    const char *cur = list, *e;
    size_t n;
    int count = 0;
    bool any = false;
    while (next_entry(&cur, &e, &n)) {
        count++;
        OriginParts o;
        if (n == 0)
            return kiln_error_set(err, 0, "config",
                                  "an entry is empty; separate origins with single commas");
        if (n == 1 && *e == '*') {
            any = true;
            continue;
        }
        if (n == 4 && strncasecmp(e, "null", 4) == 0)
            return kiln_error_set(err, 0, "config",
                                  "'null' is not allowed (every sandboxed page sends it); "
                                  "list the real origin");
        if (!origin_parse(e, n, true, &o))
            return kiln_error_set(err, 0, "config",
                                  "entry '%.*s' is not an origin; write "
                                  "scheme://host[:port] (http or https, no path or trailing "
                                  "slash), scheme://host:* for any port, or * alone",
                                  (int)(n > 80 ? 80 : n), e);
    }
    if (any && count > 1)
        return kiln_error_set(err, 0, "config",
                              "* is mixed with origins; use * alone (any origin) or list "
                              "the origins");
    return true;
}

static bool entry_matches(const OriginParts *pat, const OriginParts *o)
{
    if (pat->scheme_len != o->scheme_len || strncasecmp(pat->scheme, o->scheme, o->scheme_len))
        return false;
    if (pat->host_len != o->host_len || strncasecmp(pat->host, o->host, o->host_len))
        return false;
    if (pat->port_len == 1 && pat->port[0] == '*')
        return true;
    return pat->port_len == o->port_len &&
           (o->port_len == 0 || strncmp(pat->port, o->port, o->port_len) == 0);
}

bool cors_origin_allowed(const char *list, const char *origin)
{
    if (list_empty(list) || !origin || !*origin)
        return false;
    if (list_is_any(list))
        return true;
    OriginParts o;
    if (!origin_parse(origin, strlen(origin), false, &o))
        return false;
    const char *cur = list, *e;
    size_t n;
    while (next_entry(&cur, &e, &n)) {
        OriginParts pat;
        if (origin_parse(e, n, true, &pat) && entry_matches(&pat, &o))
            return true;
    }
    return false;
}

bool cors_is_preflight(const char *method, const char *origin, const char *request_method)
{
    return method && strcmp(method, "OPTIONS") == 0 && origin && request_method;
}

static void add(KilnCorsOutput *out, const char *name, const char *value)
{
    if (out->nheaders < KILN_CORS_MAX_HEADERS) {
        out->headers[out->nheaders].name = name;
        out->headers[out->nheaders].value = value;
        out->nheaders++;
    }
}

/* A header-name token character (RFC 9110 tchar). */
static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A comma-separated list of header names, as browsers send in
 * Access-Control-Request-Headers; anything else is never reflected. */
static bool header_list_valid(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > CORS_MAX_REQUEST_HEADERS)
        return false;
    const char *cur = s, *e;
    size_t n;
    while (next_entry(&cur, &e, &n)) {
        if (n == 0)
            return false;
        for (size_t i = 0; i < n; i++)
            if (!is_tchar(e[i]))
                return false;
    }
    return true;
}

/* Fills the verdict and Access-Control-Allow-Origin / Vary. */
static void decide(const KilnCorsInput *in, KilnCorsOutput *out, const char *vary)
{
    memset(out, 0, sizeof *out);
    if (list_empty(in->allowlist) || !in->origin) {
        out->verdict = in->origin ? KILN_CORS_REFUSED : KILN_CORS_NONE;
        return;
    }
    bool any = list_is_any(in->allowlist);
    if (!any)
        add(out, "Vary", vary);
    if (!cors_origin_allowed(in->allowlist, in->origin)) {
        out->verdict = KILN_CORS_REFUSED;
        return;
    }
    out->verdict = KILN_CORS_ALLOWED;
    add(out, "Access-Control-Allow-Origin", any ? "*" : in->origin);
}

void cors_actual(const KilnCorsInput *in, KilnCorsOutput *out)
{
    decide(in, out, "Origin");
    /* CORS off: an Origin is not "refused" on actual responses, it just
     * gets nothing (same-origin and non-browser clients send it too). */
    if (out->verdict == KILN_CORS_REFUSED && list_empty(in->allowlist))
        out->verdict = KILN_CORS_NONE;
    if (out->verdict == KILN_CORS_ALLOWED)
        add(out, "Access-Control-Expose-Headers", expose_headers);
}

const char *cors_methods_with_options(const char *allow, char *out, size_t len)
{
    allow = allow ? allow : "";
    bool has = false;
    const char *cur = allow, *e;
    size_t n;
    while (!has && *allow && next_entry(&cur, &e, &n))
        has = n == 7 && strncmp(e, "OPTIONS", 7) == 0;
    snprintf(out, len, "%s%s%s", allow, has ? "" : (*allow ? ", " : ""), has ? "" : "OPTIONS");
    return out;
}

void cors_preflight(const KilnCorsInput *in, KilnCorsOutput *out)
{
    decide(in, out, "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    if (out->verdict != KILN_CORS_ALLOWED)
        return;
    add(out, "Access-Control-Allow-Methods",
        cors_methods_with_options(in->allow_methods, out->methods, sizeof out->methods));
    if (in->request_headers && header_list_valid(in->request_headers))
        add(out, "Access-Control-Allow-Headers", in->request_headers);
    add(out, "Access-Control-Max-Age", CORS_MAX_AGE);
}
