/*
 * jwt_parse.c: the stages of JWT verification that need no key, clock
 * source or catalog: splitting a compact JWS, checking its header, and
 * checking its claims against a policy the caller fills in (the time and
 * the allowlists of the key that verified the signature).
 *
 * A pure leaf (jwt_parse.h): no PostgreSQL headers, no allocation, no
 * errors raised, no global state; every refusal comes back as a one-
 * sentence detail that crypto_jwt.c puts into its KL001/KL002 error. The
 * order of the checks is part of the contract: the first failing check
 * names the error a client sees. It never verifies a signature (crypto_jwt.c
 * does, between the header and the claims) and never looks at a key.
 */
#include "jwt_parse.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const kiln_jwt_alg_names[3] = {"HS256", "ES256", "EdDSA"};

/* The app roles a token may name; tenant_service comes only from tenant keys. */
static const char *const kiln_token_roles[] = {"anon", "authenticated", "service_role"};

#define KILN_LENGTHOF(a) (sizeof(a) / sizeof((a)[0]))

const char *kiln_role_static(const char *role)
{
    static const char *const all[] = {"anon", "authenticated", "service_role", "tenant_service"};
    size_t i;

    for (i = 0; i < KILN_LENGTHOF(all); i++)
        if (strcmp(role, all[i]) == 0)
            return all[i];
    return NULL;
}

const char *kiln_jwt_split(const char *token, size_t len, KilnJwtParts *out)
{
    const char *dot1;
    const char *dot2;

    if (len > KILN_JWT_MAX_LEN)
        return "The token is longer than 8192 bytes.";
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (dot1 + 1 - token)) : NULL;
    if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL)
        return "A token has exactly three dot-separated parts.";
    out->header = token;
    out->header_len = dot1 - token;
    out->payload = dot1 + 1;
    out->payload_len = dot2 - (dot1 + 1);
    out->signature = dot2 + 1;
    out->signature_len = len - (dot2 + 1 - token);
    out->signed_len = dot2 - token;
    return NULL;
}

bool kiln_jwt_segment_decode(const char *s, size_t len, uint8_t *dst, size_t *outlen)
{
    if (len == 0 || !kiln_base64url_decode(s, len, dst, outlen))
        return false;
    dst[*outlen] = '\0';
    return true;
}

/* ASCII case-insensitive equality of a NUL-free string with a lower-case literal. */
static bool kiln_ascii_ieq(const char *s, size_t len, const char *lower)
{
    size_t i;

    if (strlen(lower) != len)
        return false;
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lower[i])
            return false;
    }
    return true;
}

/* Header members the check reads, in the order of kiln_header_names. */
enum { HDR_JKU, HDR_X5U, HDR_JWK, HDR_X5C, HDR_CRIT, HDR_ALG, HDR_TYP, HDR_KID, HDR_COUNT };
static const char *const kiln_header_names[HDR_COUNT] = {"jku", "x5u", "jwk", "x5c", "crit", "alg", "typ", "kid"};
static const char *const kiln_header_refusals[HDR_CRIT + 1] = {
    "Header \"jku\" is not accepted: keys come only from the server.",
    "Header \"x5u\" is not accepted: keys come only from the server.",
    "Header \"jwk\" is not accepted: keys come only from the server.",
    "Header \"x5c\" is not accepted: keys come only from the server.",
    "Header \"crit\" is not accepted: keys come only from the server.",
};

const char *kiln_jwt_header_check(const uint8_t *json, size_t len, bool utf8, char *kidbuf, KilnJwtHeader *out)
{
    const char *text = (const char *)json;
    KilnJsonSpan h[HDR_COUNT];
    KilnJsonType type;
    size_t n;
    size_t i;

    if (!kiln_utf8_valid(json, len))
        return "The token header is not valid UTF-8 text.";
    if (kiln_json_value_check(text, len, utf8, &type) != NULL)
        return "The token header is not valid JSON.";
    if (type != KILN_JV_OBJECT)
        return "The token header is not a JSON object.";
    if (kiln_json_top_members(text, len, utf8, kiln_header_names, HDR_COUNT, h) != NULL)
        return "The token header names a member twice.";
    for (i = 0; i <= HDR_CRIT; i++)
        if (h[i].type != KILN_JV_NONE)
            return kiln_header_refusals[i];

    /* alg: a string of the allowlist (the string unescaped into kidbuf for the comparison). */
    if (h[HDR_ALG].type == KILN_JV_NONE || h[HDR_ALG].type == KILN_JV_NULL)
        return "The token header names no algorithm.";
    if (h[HDR_ALG].type != KILN_JV_STRING)
        return "Member \"alg\" is not a string.";
    kiln_json_unescape(&h[HDR_ALG], kidbuf);
    for (i = 0; i < KILN_LENGTHOF(kiln_jwt_alg_names); i++)
        if (strcmp(kidbuf, kiln_jwt_alg_names[i]) == 0)
            break;
    if (i == KILN_LENGTHOF(kiln_jwt_alg_names))
        return "The token's algorithm is not allowed.";
    out->alg = (KilnJwtAlg)i;

    if (h[HDR_TYP].type != KILN_JV_NONE && h[HDR_TYP].type != KILN_JV_NULL) {
        if (h[HDR_TYP].type != KILN_JV_STRING)
            return "Member \"typ\" is not a string.";
        n = kiln_json_unescape(&h[HDR_TYP], kidbuf);
        if (!kiln_ascii_ieq(kidbuf, n, "jwt") && !kiln_ascii_ieq(kidbuf, n, "at+jwt"))
            return "The token type is not JWT.";
    }

    out->kid = NULL;
    out->kid_len = 0;
    if (h[HDR_KID].type != KILN_JV_NONE && h[HDR_KID].type != KILN_JV_NULL) {
        if (h[HDR_KID].type != KILN_JV_STRING)
            return "Member \"kid\" is not a string.";
        out->kid_len = kiln_json_unescape(&h[HDR_KID], kidbuf);
        out->kid = kidbuf;
    }
    return NULL;
}

/* Claims the check reads, in the order of kiln_claim_names. */
enum {
    CLAIM_EXP,
    CLAIM_NBF,
    CLAIM_IAT,
    CLAIM_ISS,
    CLAIM_AUD,
    CLAIM_ROLE,
    CLAIM_SUB,
    CLAIM_SESSION,
    CLAIM_TENANT,
    CLAIM_AAL,
    CLAIM_EMAIL,
    CLAIM_COUNT
};
static const char *const kiln_claim_names[CLAIM_COUNT] = {
    "exp", "nbf", "iat", "iss", "aud", "role", "sub", "session_id", "tenant_id", "aal", "email"};

/* A refusal with its detail; always returns KILN_JWT_INVALID. */
static KilnJwtStatus kiln_refuse(char *detail, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static KilnJwtStatus kiln_refuse(char *detail, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, KILN_JWT_DETAIL_LEN, fmt, ap);
    va_end(ap);
    return KILN_JWT_INVALID;
}

/*
 * A string claim, unescaped into scratch: 1 when present, 0 when absent or
 * null, -1 (detail written) when it is not a string.
 */
static int kiln_claim_string(const KilnJsonSpan *v, const char *name, char *scratch, size_t *len, char *detail)
{
    if (v->type == KILN_JV_NONE || v->type == KILN_JV_NULL)
        return 0;
    if (v->type != KILN_JV_STRING) {
        kiln_refuse(detail, "Claim \"%s\" is not a string.", name);
        return -1;
    }
    *len = kiln_json_unescape(v, scratch);
    return 1;
}

/* A numeric claim: 1 when present, 0 when absent, -1 (detail written) when not a finite number. */
static int kiln_claim_number(const KilnJsonSpan *v, const char *name, double *out, char *detail)
{
    char buf[64];
    char *end;

    if (v->type == KILN_JV_NONE)
        return 0;
    if (v->type != KILN_JV_NUMBER) {
        kiln_refuse(detail, "Claim \"%s\" is not a number.", name);
        return -1;
    }
    if (v->len >= sizeof(buf)) {
        kiln_refuse(detail, "Claim \"%s\" is not a usable number.", name);
        return -1;
    }
    memcpy(buf, v->start, v->len);
    buf[v->len] = '\0';
    *out = strtod(buf, &end);
    if (*end != '\0' || !isfinite(*out)) {
        kiln_refuse(detail, "Claim \"%s\" is not a finite number.", name);
        return -1;
    }
    return 1;
}

/* Parses a canonical uuid (8-4-4-4-12 hex, any case). */
static bool kiln_parse_uuid(const char *s, size_t len, uint8_t out[16])
{
    size_t i;
    int j = 0;

    if (len != 36)
        return false;
    for (i = 0; i < 36; i++) {
        int hi;
        int lo;

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            continue;
        }
        hi = kiln_hex_digit(s[i]);
        lo = i + 1 < 36 ? kiln_hex_digit(s[i + 1]) : -1;
        if (hi < 0 || lo < 0)
            return false;
        out[j++] = (uint8_t)((hi << 4) | lo);
        i++;
    }
    return j == 16;
}

/* A uuid claim: true when fine (present or not, *has says which); false with the detail written. */
static bool kiln_claim_uuid(const KilnJsonSpan *v, const char *name, char *scratch, bool *has, uint8_t out[16],
                            char *detail)
{
    size_t len = 0;
    int r = kiln_claim_string(v, name, scratch, &len, detail);

    *has = false;
    if (r <= 0)
        return r == 0;
    if (!kiln_parse_uuid(scratch, len, out)) {
        kiln_refuse(detail, "Claim \"%s\" is not a uuid.", name);
        return false;
    }
    *has = true;
    return true;
}

/* Whether s (length len) is an element of the comma-separated list (spaces around items ignored). */
static bool kiln_list_contains(const char *list, const char *s, size_t len)
{
    const char *p = list;

    if (list == NULL)
        return false;
    while (*p) {
        const char *start;
        const char *end;

        while (*p == ' ' || *p == ',')
            p++;
        start = p;
        while (*p && *p != ',')
            p++;
        end = p;
        while (end > start && end[-1] == ' ')
            end--;
        if (end > start && (size_t)(end - start) == len && memcmp(start, s, len) == 0)
            return true;
    }
    return false;
}

/* Whether the key's list (or, when n < 0, the setting's list) holds s. */
static bool kiln_allows(int n, char **items, const char *setting, const char *s, size_t len)
{
    int i;

    if (n < 0)
        return kiln_list_contains(setting, s, len);
    for (i = 0; i < n; i++)
        if (strlen(items[i]) == len && memcmp(items[i], s, len) == 0)
            return true;
    return false;
}

/* A string claim (or null) that must be a string when present; copies the span. */
static bool kiln_claim_span(const KilnJsonSpan *v, const char *name, KilnJsonSpan *out, char *detail)
{
    out->type = KILN_JV_NONE;
    if (v->type == KILN_JV_NONE || v->type == KILN_JV_NULL)
        return true;
    if (v->type != KILN_JV_STRING) {
        kiln_refuse(detail, "Claim \"%s\" is not a string.", name);
        return false;
    }
    *out = *v;
    return true;
}

/* The aud check: when present, one entry must be allowed; only non-user tokens may omit it. */
static KilnJwtStatus kiln_check_aud(const KilnJsonSpan *aud, const KilnJwtPolicy *p, const char *role,
                                    char *scratch, char *detail)
{
    size_t len;

    if (aud->type == KILN_JV_NONE || aud->type == KILN_JV_NULL) {
        if (strcmp(role, "authenticated") == 0)
            return kiln_refuse(detail, "%s", "The token has no aud claim.");
        return KILN_JWT_OK;
    }
    if (aud->type == KILN_JV_STRING) {
        len = kiln_json_unescape(aud, scratch);
        if (!kiln_allows(p->n_audiences, p->audiences, p->audiences_setting, scratch, len))
            return kiln_refuse(detail, "%s", "The token's audience is not accepted.");
        return KILN_JWT_OK;
    }
    if (aud->type == KILN_JV_ARRAY) {
        bool ok = false;
        size_t pos = 0;
        KilnJsonSpan e;

        while (!ok && kiln_json_array_next(aud, &pos, &e)) {
            if (e.type != KILN_JV_STRING)
                return kiln_refuse(detail, "%s", "The token's aud claim holds a non-string.");
            len = kiln_json_unescape(&e, scratch);
            ok = kiln_allows(p->n_audiences, p->audiences, p->audiences_setting, scratch, len);
        }
        if (!ok)
            return kiln_refuse(detail, "%s", "The token's audience is not accepted.");
        return KILN_JWT_OK;
    }
    return kiln_refuse(detail, "%s", "The token's aud claim is neither a string nor an array.");
}

KilnJwtStatus kiln_jwt_claims_check(const uint8_t *json, size_t len, const KilnJwtPolicy *p, char *scratch,
                                    KilnJwtClaims *out, char *detail)
{
    KilnJsonSpan c[CLAIM_COUNT];
    const char *why;
    double t;
    size_t slen = 0;
    size_t i;
    int r;

    memset(out, 0, sizeof(*out));
    detail[0] = '\0';
    if (!kiln_utf8_valid(json, len))
        return kiln_refuse(detail, "%s", "The token payload is not valid UTF-8 text.");
    why = kiln_json_top_members((const char *)json, len, p->utf8, kiln_claim_names, CLAIM_COUNT, c);
    if (why != NULL)
        return kiln_refuse(detail, "The token payload is not a valid JSON object (%s).", why);

    /* Time: exp required; nbf and iat only when present. */
    r = kiln_claim_number(&c[CLAIM_EXP], "exp", &out->exp, detail);
    if (r < 0)
        return KILN_JWT_INVALID;
    if (r == 0)
        return kiln_refuse(detail, "%s", "The token has no exp claim.");
    if (p->now > out->exp + p->skew) {
        snprintf(detail, KILN_JWT_DETAIL_LEN, "The token's exp lies more than %d seconds in the past.", p->skew);
        return KILN_JWT_EXPIRED;
    }
    if ((r = kiln_claim_number(&c[CLAIM_NBF], "nbf", &t, detail)) < 0)
        return KILN_JWT_INVALID;
    if (r > 0 && p->now + p->skew < t)
        return kiln_refuse(detail, "%s", "The token is not valid yet (nbf).");
    if ((r = kiln_claim_number(&c[CLAIM_IAT], "iat", &t, detail)) < 0)
        return KILN_JWT_INVALID;
    if (r > 0 && p->now + p->skew < t)
        return kiln_refuse(detail, "%s", "The token was issued in the future (iat).");

    r = kiln_claim_string(&c[CLAIM_ISS], "iss", scratch, &slen, detail);
    if (r < 0)
        return KILN_JWT_INVALID;
    if (r == 0 || !kiln_allows(p->n_issuers, p->issuers, p->issuers_setting, scratch, slen))
        return kiln_refuse(detail, "%s", "The token's issuer is not accepted.");

    r = kiln_claim_string(&c[CLAIM_ROLE], "role", scratch, &slen, detail);
    if (r < 0)
        return KILN_JWT_INVALID;
    for (i = 0; r > 0 && i < KILN_LENGTHOF(kiln_token_roles); i++)
        if (strcmp(scratch, kiln_token_roles[i]) == 0)
            break;
    if (r == 0 || i == KILN_LENGTHOF(kiln_token_roles))
        return kiln_refuse(detail, "%s", "The token's role is not one of anon, authenticated, service_role.");
    out->role = kiln_token_roles[i];

    if (kiln_check_aud(&c[CLAIM_AUD], p, out->role, scratch, detail) != KILN_JWT_OK)
        return KILN_JWT_INVALID;

    if (!kiln_claim_uuid(&c[CLAIM_SUB], "sub", scratch, &out->has_user, out->user_id, detail) ||
        !kiln_claim_uuid(&c[CLAIM_SESSION], "session_id", scratch, &out->has_session, out->session_id, detail))
        return KILN_JWT_INVALID;
    if (p->trusted_tenant) {
        if (!kiln_claim_uuid(&c[CLAIM_TENANT], "tenant_id", scratch, &out->has_tenant, out->tenant_id, detail))
            return KILN_JWT_INVALID;
        /* A tenant-scoped service token never bypasses tenant isolation. */
        if (out->has_tenant && strcmp(out->role, "service_role") == 0)
            out->role = kiln_role_static("tenant_service");
    }
    if (!kiln_claim_span(&c[CLAIM_AAL], "aal", &out->aal, detail) ||
        !kiln_claim_span(&c[CLAIM_EMAIL], "email", &out->email, detail))
        return KILN_JWT_INVALID;
    return KILN_JWT_OK;
}
