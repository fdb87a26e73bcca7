/*
 * json_claims.c: a strict, single-pass JSON scanner for token headers and
 * payloads, and the UTF-8 check in front of it.
 *
 * Checks that a text is exactly one JSON object (RFC 8259: no trailing
 * commas, no leading zeros, no control characters in strings, valid
 * escapes, paired surrogates, no \u0000, nesting at most 64 deep) and
 * reports where the requested top-level members are, without building a
 * jsonb: verification needs a handful of claims, and PostgreSQL's JSON
 * parser costs several microseconds per token. It accepts nothing that
 * jsonb_in rejects, so the verified text can be turned into jsonb later
 * without error. A pure leaf (jwt_parse.h): no PostgreSQL headers, never
 * allocates, never raises errors (returns a reason); fuzzed by
 * tests/fuzz/fuzz_jwt_parse.c.
 */
#include "jwt_parse.h"

#include <string.h>

#define KILN_JSON_MAX_DEPTH 64

typedef struct KilnJsonScanner {
    const char *p;
    const char *end;
    const char *error;
    bool utf8; /* the database encoding is UTF-8 */
} KilnJsonScanner;

const char KILN_JSON_DUPLICATE[] = "a duplicate claim";

static bool kiln_json_value(KilnJsonScanner *s, int depth, KilnJsonSpan *out);

static inline void kiln_json_ws(KilnJsonScanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool kiln_json_fail(KilnJsonScanner *s, const char *why)
{
    if (s->error == NULL)
        s->error = why;
    return false;
}

static int kiln_json_hex4(const char *p)
{
    int v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        char c = p[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* A string starting at the opening quote; out covers the inside. */
static bool kiln_json_string_scan(KilnJsonScanner *s, KilnJsonSpan *out)
{
    const char *start = ++s->p;
    bool escaped = false;

    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;

        if (c == '"') {
            out->type = KILN_JV_STRING;
            out->start = start;
            out->len = s->p - start;
            out->escaped = escaped;
            s->p++;
            return true;
        }
        if (c < 0x20)
            return kiln_json_fail(s, "a control character in a string");
        if (c != '\\') {
            s->p++;
            continue;
        }
        escaped = true;
        if (s->p + 1 >= s->end)
            return kiln_json_fail(s, "an unterminated escape");
        switch (s->p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            s->p += 2;
            break;
        case 'u': {
            int cp;

            if (s->end - s->p < 6 || (cp = kiln_json_hex4(s->p + 2)) < 0)
                return kiln_json_fail(s, "a bad \\u escape");
            s->p += 6;
            if (cp == 0)
                return kiln_json_fail(s, "\\u0000");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return kiln_json_fail(s, "a lone low surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo;

                if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
                    (lo = kiln_json_hex4(s->p + 2)) < 0xDC00 || lo > 0xDFFF)
                    return kiln_json_fail(s, "a lone high surrogate");
                s->p += 6;
                cp = 0x10000;
            }
            if (cp > 0x7F && !s->utf8)
                return kiln_json_fail(s, "a \\u escape the database encoding cannot hold");
            break;
        }
        default:
            return kiln_json_fail(s, "a bad escape");
        }
    }
    return kiln_json_fail(s, "an unterminated string");
}

static bool kiln_json_number(KilnJsonScanner *s, KilnJsonSpan *out)
{
    const char *start = s->p;

#define KILN_DIGIT(p) ((p) < s->end && *(p) >= '0' && *(p) <= '9')
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (!KILN_DIGIT(s->p))
        return kiln_json_fail(s, "a bad number");
    if (*s->p == '0')
        s->p++;
    else
        while (KILN_DIGIT(s->p))
            s->p++;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!KILN_DIGIT(s->p))
            return kiln_json_fail(s, "a bad number");
        while (KILN_DIGIT(s->p))
            s->p++;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!KILN_DIGIT(s->p))
            return kiln_json_fail(s, "a bad number");
        while (KILN_DIGIT(s->p))
            s->p++;
    }
#undef KILN_DIGIT
    /* A number runs into nothing but a delimiter ("01" stops after "0"). */
    if (s->p < s->end && (*s->p == '\0' || !strchr(" \t\n\r,]}", *s->p)))
        return kiln_json_fail(s, "a bad number");
    out->type = KILN_JV_NUMBER;
    out->start = start;
    out->len = s->p - start;
    out->escaped = false;
    return true;
}

static bool kiln_json_literal(KilnJsonScanner *s, const char *word, KilnJsonType type, KilnJsonSpan *out)
{
    size_t n = strlen(word);

    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return kiln_json_fail(s, "an unknown literal");
    out->type = type;
    out->start = s->p;
    out->len = n;
    out->escaped = false;
    s->p += n;
    if (s->p < s->end && (*s->p == '\0' || !strchr(" \t\n\r,]}", *s->p)))
        return kiln_json_fail(s, "an unknown literal");
    return true;
}

/* An array or object starting at its bracket; members are only checked. */
static bool kiln_json_container(KilnJsonScanner *s, int depth, KilnJsonSpan *out)
{
    const char *start = s->p;
    bool object = *s->p == '{';
    char close = object ? '}' : ']';
    bool first = true;

    if (depth >= KILN_JSON_MAX_DEPTH)
        return kiln_json_fail(s, "nesting deeper than 64");
    s->p++;
    for (;;) {
        KilnJsonSpan v;

        kiln_json_ws(s);
        if (s->p >= s->end)
            return kiln_json_fail(s, "an unterminated container");
        if (*s->p == close && first) {
            s->p++;
            break;
        }
        if (object) {
            if (*s->p != '"' || !kiln_json_string_scan(s, &v))
                return kiln_json_fail(s, "a bad member name");
            kiln_json_ws(s);
            if (s->p >= s->end || *s->p != ':')
                return kiln_json_fail(s, "a missing colon");
            s->p++;
        }
        if (!kiln_json_value(s, depth + 1, &v))
            return false;
        first = false;
        kiln_json_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            kiln_json_ws(s);
            if (s->p < s->end && *s->p == close)
                return kiln_json_fail(s, "a trailing comma");
            continue;
        }
        if (s->p < s->end && *s->p == close) {
            s->p++;
            break;
        }
        return kiln_json_fail(s, "a missing comma");
    }
    out->type = object ? KILN_JV_OBJECT : KILN_JV_ARRAY;
    out->start = start;
    out->len = s->p - start;
    out->escaped = false;
    return true;
}

static bool kiln_json_value(KilnJsonScanner *s, int depth, KilnJsonSpan *out)
{
    kiln_json_ws(s);
    if (s->p >= s->end)
        return kiln_json_fail(s, "a missing value");
    switch (*s->p) {
    case '"':
        return kiln_json_string_scan(s, out);
    case '{':
    case '[':
        return kiln_json_container(s, depth, out);
    case 't':
        return kiln_json_literal(s, "true", KILN_JV_TRUE, out);
    case 'f':
        return kiln_json_literal(s, "false", KILN_JV_FALSE, out);
    case 'n':
        return kiln_json_literal(s, "null", KILN_JV_NULL, out);
    default:
        return kiln_json_number(s, out);
    }
}

/* Writes code point cp (at most U+10FFFF, not a surrogate) as UTF-8; returns the byte count. */
static size_t kiln_utf8_put(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t kiln_json_unescape(const KilnJsonSpan *v, char *dst)
{
    char *o = dst;
    const char *p = v->start;
    const char *end = v->start + v->len;

    if (!v->escaped) {
        memcpy(dst, v->start, v->len);
        dst[v->len] = '\0';
        return v->len;
    }
    /* Escapes were validated by the scan: a \u escape (6 bytes) makes at most 3, a pair (12) 4. */
    while (p < end) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        switch (p[1]) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            uint32_t cp = (uint32_t)kiln_json_hex4(p + 2);

            if (cp >= 0xD800 && cp <= 0xDBFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)kiln_json_hex4(p + 8) - 0xDC00);
                p += 6;
            }
            o += kiln_utf8_put(cp, o);
            p += 6;
            continue;
        }
        default:
            *o++ = p[1];
            break;
        }
        p += 2;
    }
    *o = '\0';
    return (size_t)(o - dst);
}

const char *kiln_json_value_check(const char *json, size_t len, bool utf8, KilnJsonType *type)
{
    KilnJsonScanner s = {json, json + len, NULL, utf8};
    KilnJsonSpan v;

    if (!kiln_json_value(&s, 0, &v))
        return s.error;
    kiln_json_ws(&s);
    if (s.p != s.end)
        return "text after the value";
    *type = v.type;
    return NULL;
}

/* Longest member name kiln_json_top_members is asked for. */
#define KILN_JSON_NAME_MAX 32

const char *kiln_json_top_members(const char *json, size_t len, bool utf8, const char *const *names, int n,
                                  KilnJsonSpan *spans)
{
    KilnJsonScanner s = {json, json + len, NULL, utf8};
    bool first = true;
    int i;

    for (i = 0; i < n; i++)
        spans[i].type = KILN_JV_NONE;
    kiln_json_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return "not a JSON object";
    s.p++;
    for (;;) {
        KilnJsonSpan name;
        KilnJsonSpan v;
        /* An escaped name decoding to at most KILN_JSON_NAME_MAX bytes is under 6 times as long. */
        char decoded[6 * KILN_JSON_NAME_MAX + 1];
        const char *nm;
        size_t nmlen;

        kiln_json_ws(&s);
        if (s.p < s.end && *s.p == '}' && first) {
            s.p++;
            break;
        }
        if (s.p >= s.end || *s.p != '"' || !kiln_json_string_scan(&s, &name))
            return s.error ? s.error : "a bad member name";
        kiln_json_ws(&s);
        if (s.p >= s.end || *s.p != ':')
            return "a missing colon";
        s.p++;
        if (!kiln_json_value(&s, 1, &v))
            return s.error;
        first = false;

        nm = name.start;
        nmlen = name.len;
        if (name.escaped) {
            if (name.len < sizeof(decoded)) {
                nmlen = kiln_json_unescape(&name, decoded);
                nm = decoded;
            } else
                nmlen = 0; /* longer than any name asked for: matches none */
        }
        for (i = 0; i < n; i++) {
            if (nmlen > 0 && names[i][0] == nm[0] && strncmp(names[i], nm, nmlen) == 0 &&
                names[i][nmlen] == '\0') {
                if (spans[i].type != KILN_JV_NONE)
                    return KILN_JSON_DUPLICATE;
                spans[i] = v;
                break;
            }
        }

        kiln_json_ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            kiln_json_ws(&s);
            if (s.p < s.end && *s.p == '}')
                return "a trailing comma";
            continue;
        }
        if (s.p < s.end && *s.p == '}') {
            s.p++;
            break;
        }
        return "a missing comma";
    }
    kiln_json_ws(&s);
    if (s.p != s.end)
        return "text after the object";
    return NULL;
}

bool kiln_json_array_next(const KilnJsonSpan *array, size_t *pos, KilnJsonSpan *elem)
{
    KilnJsonScanner s = {array->start + *pos, array->start + array->len, NULL, true};

    if (*pos == 0)
        s.p++; /* '[' */
    kiln_json_ws(&s);
    if (s.p >= s.end || *s.p == ']')
        return false;
    if (!kiln_json_value(&s, 1, elem))
        return false;
    kiln_json_ws(&s);
    if (s.p < s.end && *s.p == ',')
        s.p++;
    *pos = s.p - array->start;
    return true;
}

/* Whether 8 bytes are all ASCII and none is NUL (the common case of token text). */
static inline bool kiln_ascii8(const uint8_t *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
    return ((w | ((w - 0x0101010101010101ULL) & ~w)) & 0x8080808080808080ULL) == 0;
}

bool kiln_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint8_t lo = 0x80, hi = 0xBF; /* bounds of the second byte */
        size_t k;

        if (len - i >= 8 && kiln_ascii8(s + i)) {
            i += 8;
            continue;
        }
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            n = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else
            return false;
        if (len - i < n || s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (k = 2; k < n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return false;
        i += n;
    }
    return true;
}
