/*
 * crypto_jwt.c: JSON Web Tokens (compact JWS) for HS256, ES256 and EdDSA.
 *
 * Verifies tokens against the keys of kiln.jwt_keys (keys.c) with a fixed
 * algorithm per key: alg "none", any other algorithm, a key of another
 * algorithm (key confusion), and the jku/x5u/jwk/x5c/crit headers are
 * refused; base64url must be canonical (no padding, no whitespace); the
 * signature is checked before any claim; exp is required; nbf and iat are
 * honoured with 30 s skew; iss and aud are checked against allowlists; role
 * must be an app role. Also signs tokens (kiln.sign_jwt), generates key
 * material (kiln._jwt_key_material) and backs kiln.verify_jwt and the
 * benchmark aid kiln.bench_verify. It never fetches keys from a token,
 * never accepts a token it cannot verify, and never logs tokens.
 */
#include "postgres.h"

#include "identity.h"

#include <math.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "access/htup_details.h"
#include "common/jsonapi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* Longest token accepted, in bytes. */
#define KILN_JWT_MAX_LEN 8192

/* Allowlists used when a key row has none (keys.c defines the settings). */
extern char *kiln_jwt_issuers;
extern char *kiln_jwt_audiences;

static const char *const kiln_alg_names[] = {"HS256", "ES256", "EdDSA"};

/* The app roles a token may name; tenant_service comes only from tenant keys. */
static const char *const kiln_token_roles[] = {"anon", "authenticated", "service_role"};

const char *kiln_role_static(const char *role)
{
    static const char *const all[] = {"anon", "authenticated", "service_role", "tenant_service"};
    int i;

    for (i = 0; i < lengthof(all); i++)
        if (strcmp(role, all[i]) == 0)
            return all[i];
    return NULL;
}

static void kiln_jwt_invalid(const char *detail) pg_attribute_noreturn();

static void kiln_jwt_invalid(const char *detail)
{
    ereport(ERROR, (errcode(KILN_ERRCODE_INVALID_TOKEN), errmsg("invalid token"), errdetail("%s", detail)));
}

/* Decodes one segment; KL001 when it is not canonical base64url. palloc'd, NUL-terminated. */
static uint8 *kiln_jwt_segment(const char *s, size_t len, size_t *outlen)
{
    uint8 *buf = palloc(len * 3 / 4 + 2);

    if (len == 0 || !kiln_base64url_decode(s, len, buf, outlen))
        kiln_jwt_invalid("A token segment is not canonical unpadded base64url.");
    buf[*outlen] = '\0';
    return buf;
}

/* Parses JSON text into a Jsonb object; KL001 (never another error) when it is not one. */
static Jsonb *kiln_jwt_json(uint8 *buf, size_t len, const char *what)
{
    JsonLexContext *lex;
    Jsonb *jb;

    if (memchr(buf, '\0', len) != NULL || !pg_verify_mbstr(PG_UTF8, (const char *)buf, (int)len, true))
        kiln_jwt_invalid(psprintf("The token %s is not valid UTF-8 text.", what));
    /*
     * Escapes need the slower de-escaping lexer, which also catches what
     * jsonb_in would reject (\u0000, escapes the database encoding lacks).
     */
    lex = makeJsonLexContextCstringLen((char *)buf, (int)len, GetDatabaseEncoding(),
                                       memchr(buf, '\\', len) != NULL);
    if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
        kiln_jwt_invalid(psprintf("The token %s is not valid JSON.", what));
    jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum((char *)buf)));
    if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
        kiln_jwt_invalid(psprintf("The token %s is not a JSON object.", what));
    return jb;
}

static JsonbValue *kiln_jsonb_get(Jsonb *jb, const char *key)
{
    JsonbValue k;

    k.type = jbvString;
    k.val.string.val = (char *)key;
    k.val.string.len = (int)strlen(key);
    return findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
}

/* A string member as a palloc'd C string; NULL when absent; KL001 when not a string. */
static char *kiln_jsonb_string(Jsonb *jb, const char *key)
{
    JsonbValue *v = kiln_jsonb_get(jb, key);

    if (v == NULL || v->type == jbvNull)
        return NULL;
    if (v->type != jbvString)
        kiln_jwt_invalid(psprintf("Member \"%s\" is not a string.", key));
    return pnstrdup(v->val.string.val, v->val.string.len);
}

/* Parses a canonical uuid (8-4-4-4-12 hex, any case) without raising. */
static bool kiln_parse_uuid(const char *s, pg_uuid_t *out)
{
    int i;
    int j = 0;

    if (strlen(s) != 36)
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
        out->data[j++] = (unsigned char)((hi << 4) | lo);
        i++;
    }
    return j == UUID_LEN;
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

static bool kiln_key_allows(int n, char **items, const char *guc_list, const char *s, size_t len)
{
    int i;

    if (n < 0)
        return kiln_list_contains(guc_list, s, len);
    for (i = 0; i < n; i++)
        if (strlen(items[i]) == len && memcmp(items[i], s, len) == 0)
            return true;
    return false;
}

/* SHA-256, fetched once per backend (an implicit fetch per call costs microseconds). */
static EVP_MD *kiln_sha256 = NULL;

const EVP_MD *kiln_sha256_md(void)
{
    if (kiln_sha256 == NULL)
        kiln_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    return kiln_sha256;
}

bool kiln_hmac_prepare(KilnJwtKey *key)
{
    uint8 k[64];
    uint8 pad[64];
    unsigned int klen = 0;
    int i;
    bool ok;

    if (kiln_sha256_md() == NULL)
        return false;
    memset(k, 0, sizeof(k));
    if (key->secret_len > sizeof(k)) {
        if (!EVP_Digest(key->secret, key->secret_len, k, &klen, kiln_sha256, NULL))
            return false;
    } else
        memcpy(k, key->secret, key->secret_len);

    key->hmac_inner = EVP_MD_CTX_new();
    key->hmac_outer = EVP_MD_CTX_new();
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    ok = key->hmac_inner != NULL && key->hmac_outer != NULL &&
         EVP_DigestInit_ex(key->hmac_inner, kiln_sha256, NULL) && EVP_DigestUpdate(key->hmac_inner, pad, 64);
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex(key->hmac_outer, kiln_sha256, NULL) && EVP_DigestUpdate(key->hmac_outer, pad, 64);
    sodium_memzero(k, sizeof(k));
    sodium_memzero(pad, sizeof(pad));
    ERR_clear_error();
    return ok;
}

bool kiln_hmac_sha256(const KilnJwtKey *key, const uint8 *msg, size_t len, uint8 out[32])
{
    static EVP_MD_CTX *ctx = NULL;
    uint8 inner[32];
    unsigned int n = 0;
    bool ok;

    if (key->hmac_inner == NULL || key->hmac_outer == NULL)
        return false;
    if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL)
        return false;
    ok = EVP_MD_CTX_copy_ex(ctx, key->hmac_inner) && EVP_DigestUpdate(ctx, msg, len) &&
         EVP_DigestFinal_ex(ctx, inner, &n) && n == 32 && EVP_MD_CTX_copy_ex(ctx, key->hmac_outer) &&
         EVP_DigestUpdate(ctx, inner, 32) && EVP_DigestFinal_ex(ctx, out, &n) && n == 32;
    sodium_memzero(inner, sizeof(inner));
    ERR_clear_error();
    return ok;
}

/* ES256: raw R||S (64 bytes) to DER for OpenSSL; palloc'd. */
static uint8 *kiln_es256_raw_to_der(const uint8 *raw, int *derlen)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL);
    BIGNUM *s = BN_bin2bn(raw + 32, 32, NULL);
    unsigned char *der = NULL;
    uint8 *out = NULL;
    int len;

    if (sig == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(sig, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return NULL;
    }
    len = i2d_ECDSA_SIG(sig, &der);
    if (len > 0) {
        out = palloc(len);
        memcpy(out, der, len);
        *derlen = len;
    }
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    return out;
}

/* Checks sig over msg with key; constant-time for HS256. */
static bool kiln_jwt_check_sig(const KilnJwtKey *key, const char *msg, size_t msglen,
                               const uint8 *sig, size_t siglen)
{
    switch (key->alg) {
    case KILN_ALG_HS256: {
        uint8 mac[32];
        bool ok;

        if (siglen != sizeof(mac) || !kiln_hmac_sha256(key, (const uint8 *)msg, msglen, mac))
            return false;
        ok = CRYPTO_memcmp(mac, sig, sizeof(mac)) == 0;
        sodium_memzero(mac, sizeof(mac));
        return ok;
    }
    case KILN_ALG_EDDSA:
        if (siglen != crypto_sign_BYTES || key->secret_len != crypto_sign_SECRETKEYBYTES)
            return false;
        return crypto_sign_verify_detached(sig, (const unsigned char *)msg, msglen,
                                           key->secret + crypto_sign_SEEDBYTES) == 0;
    case KILN_ALG_ES256: {
        EVP_MD_CTX *ctx;
        uint8 *der;
        int derlen = 0;
        bool ok;

        if (siglen != 64 || key->pkey == NULL)
            return false;
        der = kiln_es256_raw_to_der(sig, &derlen);
        if (der == NULL)
            return false;
        ctx = EVP_MD_CTX_new();
        ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, kiln_sha256_md(), NULL, key->pkey) == 1 &&
             EVP_DigestVerify(ctx, der, derlen, (const unsigned char *)msg, msglen) == 1;
        EVP_MD_CTX_free(ctx);
        ERR_clear_error();
        pfree(der);
        return ok;
    }
    }
    return false;
}

/* Unix time now, in seconds (wall clock). */
static double kiln_now_unix(void)
{
    TimestampTz now = GetCurrentTimestamp();

    return (double)(now + (int64)(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY) / 1e6;
}

/* Claims the verifier reads, in the order of kiln_claim_names. */
enum {
    KILN_CLAIM_EXP,
    KILN_CLAIM_NBF,
    KILN_CLAIM_IAT,
    KILN_CLAIM_ISS,
    KILN_CLAIM_AUD,
    KILN_CLAIM_ROLE,
    KILN_CLAIM_SUB,
    KILN_CLAIM_SESSION,
    KILN_CLAIM_TENANT,
    KILN_CLAIM_AAL,
    KILN_CLAIM_EMAIL,
    KILN_CLAIM_COUNT
};
static const char *const kiln_claim_names[KILN_CLAIM_COUNT] = {
    "exp", "nbf", "iat", "iss", "aud", "role", "sub", "session_id", "tenant_id", "aal", "email"};

/* A string claim as a palloc'd C string; NULL when absent or null; KL001 when not a string. */
static char *kiln_claim_string(const KilnJsonSpan *v, const char *name)
{
    if (v->type == KILN_JV_NONE || v->type == KILN_JV_NULL)
        return NULL;
    if (v->type != KILN_JV_STRING)
        kiln_jwt_invalid(psprintf("Claim \"%s\" is not a string.", name));
    return kiln_json_string(v);
}

/* A numeric claim; false when absent; KL001 when not a finite number. */
static bool kiln_claim_number(const KilnJsonSpan *v, const char *name, double *out)
{
    char buf[64];
    char *end;

    if (v->type == KILN_JV_NONE)
        return false;
    if (v->type != KILN_JV_NUMBER)
        kiln_jwt_invalid(psprintf("Claim \"%s\" is not a number.", name));
    if (v->len >= sizeof(buf))
        kiln_jwt_invalid(psprintf("Claim \"%s\" is not a usable number.", name));
    memcpy(buf, v->start, v->len);
    buf[v->len] = '\0';
    *out = strtod(buf, &end);
    if (*end != '\0' || !isfinite(*out))
        kiln_jwt_invalid(psprintf("Claim \"%s\" is not a finite number.", name));
    return true;
}

static void kiln_claim_uuid(const KilnJsonSpan *v, const char *name, bool *has, pg_uuid_t *out)
{
    char *s = kiln_claim_string(v, name);

    *has = false;
    if (s == NULL)
        return;
    if (!kiln_parse_uuid(s, out))
        kiln_jwt_invalid(psprintf("Claim \"%s\" is not a uuid.", name));
    *has = true;
}

/*
 * Recently seen headers and what they said: most tokens of a deployment
 * share a few headers, so this saves a JSON parse per verification. Only
 * headers that passed every check are remembered.
 */
#define KILN_HEADER_CACHE 8
#define KILN_HEADER_MAX 256
typedef struct KilnHeaderSeen {
    size_t len;
    char seg[KILN_HEADER_MAX];
    KilnJwtAlg alg;
    bool has_kid;
    char kid[KILN_HEADER_MAX];
} KilnHeaderSeen;
static KilnHeaderSeen kiln_headers_seen[KILN_HEADER_CACHE];
static int kiln_headers_next = 0;

/* Parses and checks the header segment; KL001 when it is refused. kid is NULL or palloc'd. */
static void kiln_jwt_header(const char *seg, size_t seglen, KilnJwtAlg *alg, char **kid)
{
    static const char *const refused[] = {"jku", "x5u", "jwk", "x5c", "crit"};
    uint8 *hbuf;
    size_t hlen;
    Jsonb *header;
    char *alg_name;
    char *typ;
    int i;

    for (i = 0; i < KILN_HEADER_CACHE; i++) {
        KilnHeaderSeen *h = &kiln_headers_seen[i];

        if (h->len == seglen && seglen > 0 && memcmp(h->seg, seg, seglen) == 0) {
            *alg = h->alg;
            *kid = h->has_kid ? pstrdup(h->kid) : NULL;
            return;
        }
    }

    hbuf = kiln_jwt_segment(seg, seglen, &hlen);
    header = kiln_jwt_json(hbuf, hlen, "header");
    for (i = 0; i < lengthof(refused); i++)
        if (kiln_jsonb_get(header, refused[i]) != NULL)
            kiln_jwt_invalid(psprintf("Header \"%s\" is not accepted: keys come only from the server.",
                                      refused[i]));
    alg_name = kiln_jsonb_string(header, "alg");
    if (alg_name == NULL)
        kiln_jwt_invalid("The token header names no algorithm.");
    for (i = 0; i < lengthof(kiln_alg_names); i++)
        if (strcmp(alg_name, kiln_alg_names[i]) == 0)
            break;
    if (i == lengthof(kiln_alg_names))
        kiln_jwt_invalid("The token's algorithm is not allowed.");
    *alg = (KilnJwtAlg)i;
    typ = kiln_jsonb_string(header, "typ");
    if (typ != NULL && pg_strcasecmp(typ, "JWT") != 0 && pg_strcasecmp(typ, "at+jwt") != 0)
        kiln_jwt_invalid("The token type is not JWT.");
    *kid = kiln_jsonb_string(header, "kid");

    if (seglen < KILN_HEADER_MAX && (*kid == NULL || strlen(*kid) < KILN_HEADER_MAX)) {
        KilnHeaderSeen *h = &kiln_headers_seen[kiln_headers_next];

        kiln_headers_next = (kiln_headers_next + 1) % KILN_HEADER_CACHE;
        memcpy(h->seg, seg, seglen);
        h->len = seglen;
        h->alg = *alg;
        h->has_kid = *kid != NULL;
        if (*kid != NULL)
            strlcpy(h->kid, *kid, sizeof(h->kid));
    }
}

void kiln_jwt_verify(const char *token, size_t len, KilnVerified *out)
{
    const char *dot1;
    const char *dot2;
    uint8 *pbuf;
    uint8 *sig;
    size_t plen;
    size_t siglen;
    KilnJsonSpan c[KILN_CLAIM_COUNT];
    const char *why;
    char *kid;
    char *iss;
    char *role;
    KilnJsonSpan *aud;
    KilnJwtAlg alg;
    const KilnJwtKey *keys;
    const KilnJwtKey *key = NULL;
    int nkeys;
    int i;
    double now;
    double exp;
    double t;

    memset(out, 0, sizeof(*out));
    if (len > KILN_JWT_MAX_LEN)
        kiln_jwt_invalid("The token is longer than 8192 bytes.");
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (dot1 + 1 - token)) : NULL;
    if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL)
        kiln_jwt_invalid("A token has exactly three dot-separated parts.");

    /* Header: the algorithm and key come from our allowlist, never from the token. */
    kiln_jwt_header(token, dot1 - token, &alg, &kid);

    /* Signature, over the first two parts as sent. */
    sig = kiln_jwt_segment(dot2 + 1, len - (dot2 + 1 - token), &siglen);
    keys = kiln_keys_get(&nkeys);
    if (kid != NULL) {
        for (i = 0; i < nkeys; i++)
            if (keys[i].verify && strcmp(keys[i].kid, kid) == 0)
                break;
        if (i == nkeys)
            kiln_jwt_invalid("The token's key id is unknown or retired.");
        if (keys[i].alg != alg)
            kiln_jwt_invalid("The token's algorithm does not match its key.");
        if (kiln_jwt_check_sig(&keys[i], token, dot2 - token, sig, siglen))
            key = &keys[i];
    } else {
        bool any = false;

        for (i = 0; i < nkeys && key == NULL; i++) {
            if (!keys[i].verify || keys[i].alg != alg)
                continue;
            any = true;
            if (kiln_jwt_check_sig(&keys[i], token, dot2 - token, sig, siglen))
                key = &keys[i];
        }
        if (!any)
            kiln_jwt_invalid("No verification key for the token's algorithm.");
    }
    if (key == NULL)
        kiln_jwt_invalid("The token's signature does not match.");

    /* Claims, now that they are known to come from a key holder. */
    pbuf = kiln_jwt_segment(dot1 + 1, dot2 - (dot1 + 1), &plen);
    if (memchr(pbuf, '\0', plen) != NULL || !pg_verify_mbstr(PG_UTF8, (const char *)pbuf, (int)plen, true))
        kiln_jwt_invalid("The token payload is not valid UTF-8 text.");
    why = kiln_json_top_members((const char *)pbuf, plen, kiln_claim_names, KILN_CLAIM_COUNT, c);
    if (why != NULL)
        kiln_jwt_invalid(psprintf("The token payload is not a valid JSON object (%s).", why));

    now = kiln_now_unix();
    if (!kiln_claim_number(&c[KILN_CLAIM_EXP], "exp", &exp))
        kiln_jwt_invalid("The token has no exp claim.");
    if (now > exp + KILN_JWT_SKEW_SECONDS)
        ereport(ERROR, (errcode(KILN_ERRCODE_EXPIRED_TOKEN), errmsg("token expired"),
                        errdetail("The token's exp lies more than %d seconds in the past.",
                                  KILN_JWT_SKEW_SECONDS)));
    if (kiln_claim_number(&c[KILN_CLAIM_NBF], "nbf", &t) && now + KILN_JWT_SKEW_SECONDS < t)
        kiln_jwt_invalid("The token is not valid yet (nbf).");
    if (kiln_claim_number(&c[KILN_CLAIM_IAT], "iat", &t) && now + KILN_JWT_SKEW_SECONDS < t)
        kiln_jwt_invalid("The token was issued in the future (iat).");

    iss = kiln_claim_string(&c[KILN_CLAIM_ISS], "iss");
    if (iss == NULL || !kiln_key_allows(key->n_issuers, key->issuers, kiln_jwt_issuers, iss, strlen(iss)))
        kiln_jwt_invalid("The token's issuer is not accepted.");

    role = kiln_claim_string(&c[KILN_CLAIM_ROLE], "role");
    for (i = 0; role != NULL && i < lengthof(kiln_token_roles); i++)
        if (strcmp(role, kiln_token_roles[i]) == 0)
            break;
    if (role == NULL || i == lengthof(kiln_token_roles))
        kiln_jwt_invalid("The token's role is not one of anon, authenticated, service_role.");
    out->role = kiln_token_roles[i];

    /* aud: when present, one entry must be allowed; only API-key tokens may omit it. */
    aud = &c[KILN_CLAIM_AUD];
    if (aud->type == KILN_JV_NONE || aud->type == KILN_JV_NULL) {
        if (strcmp(out->role, "authenticated") == 0)
            kiln_jwt_invalid("The token has no aud claim.");
    } else if (aud->type == KILN_JV_STRING) {
        char *a = kiln_json_string(aud);

        if (!kiln_key_allows(key->n_audiences, key->audiences, kiln_jwt_audiences, a, strlen(a)))
            kiln_jwt_invalid("The token's audience is not accepted.");
    } else if (aud->type == KILN_JV_ARRAY) {
        bool ok = false;
        size_t pos = 0;
        KilnJsonSpan e;

        while (!ok && kiln_json_array_next(aud, &pos, &e)) {
            char *a;

            if (e.type != KILN_JV_STRING)
                kiln_jwt_invalid("The token's aud claim holds a non-string.");
            a = kiln_json_string(&e);
            ok = kiln_key_allows(key->n_audiences, key->audiences, kiln_jwt_audiences, a, strlen(a));
        }
        if (!ok)
            kiln_jwt_invalid("The token's audience is not accepted.");
    } else
        kiln_jwt_invalid("The token's aud claim is neither a string nor an array.");

    kiln_claim_uuid(&c[KILN_CLAIM_SUB], "sub", &out->has_user, &out->user_id);
    kiln_claim_uuid(&c[KILN_CLAIM_SESSION], "session_id", &out->has_session, &out->session_id);
    if (key->trusted_tenant) {
        kiln_claim_uuid(&c[KILN_CLAIM_TENANT], "tenant_id", &out->has_tenant, &out->tenant_id);
        /* A tenant-scoped service token never bypasses tenant isolation. */
        if (out->has_tenant && strcmp(out->role, "service_role") == 0)
            out->role = kiln_role_static("tenant_service");
    }
    out->aal = kiln_claim_string(&c[KILN_CLAIM_AAL], "aal");
    out->email = kiln_claim_string(&c[KILN_CLAIM_EMAIL], "email");
    out->exp = exp;
    out->claims = NULL;
    out->claims_text = (char *)pbuf;
}

Jsonb *kiln_verified_claims(KilnVerified *v)
{
    if (v->claims == NULL)
        v->claims = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(v->claims_text)));
    return v->claims;
}

/* The signing key, or the key named kid (which must be able to sign). */
static const KilnJwtKey *kiln_jwt_signing_key(const char *kid)
{
    int n;
    int i;
    const KilnJwtKey *keys = kiln_keys_get(&n);

    for (i = 0; i < n; i++) {
        if (kid != NULL ? strcmp(keys[i].kid, kid) == 0 && keys[i].verify : keys[i].signing)
            return &keys[i];
    }
    if (kid != NULL)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("no usable JWT key with id \"%s\"", kid),
                        errdetail("The key does not exist or was retired.")));
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE), errmsg("no JWT signing key"),
                    errhint("Create one with SELECT kiln.rotate_signing_key();")));
    return NULL;
}

/* Signs header.payload with key; returns the palloc'd compact token. */
static char *kiln_jwt_sign(const char *claims_json, const KilnJwtKey *key)
{
    StringInfoData buf;
    char *header = psprintf("{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kiln_alg_names[key->alg], key->kid);
    uint8 sig[72];
    size_t siglen = 0;
    char *enc;

    initStringInfo(&buf);
    enc = palloc(kiln_base64url_encoded_len(strlen(header)) + 1);
    kiln_base64url_encode((const uint8 *)header, strlen(header), enc);
    appendStringInfo(&buf, "%s.", enc);
    enc = palloc(kiln_base64url_encoded_len(strlen(claims_json)) + 1);
    kiln_base64url_encode((const uint8 *)claims_json, strlen(claims_json), enc);
    appendStringInfoString(&buf, enc);

    switch (key->alg) {
    case KILN_ALG_HS256:
        if (!kiln_hmac_sha256(key, (const uint8 *)buf.data, buf.len, sig))
            elog(ERROR, "HMAC-SHA-256 failed");
        siglen = 32;
        break;
    case KILN_ALG_EDDSA:
        crypto_sign_detached(sig, NULL, (const unsigned char *)buf.data, buf.len, key->secret);
        siglen = crypto_sign_BYTES;
        break;
    case KILN_ALG_ES256: {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char der[80];
        size_t derlen = sizeof(der);
        const unsigned char *p = der;
        ECDSA_SIG *es = NULL;
        const BIGNUM *r;
        const BIGNUM *s;
        bool ok = ctx != NULL && key->pkey != NULL &&
                  EVP_DigestSignInit(ctx, NULL, kiln_sha256_md(), NULL, key->pkey) == 1 &&
                  EVP_DigestSign(ctx, der, &derlen, (const unsigned char *)buf.data, buf.len) == 1 &&
                  (es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) != NULL;

        if (ok) {
            ECDSA_SIG_get0(es, &r, &s);
            ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
        }
        ECDSA_SIG_free(es);
        EVP_MD_CTX_free(ctx);
        ERR_clear_error();
        if (!ok)
            elog(ERROR, "ES256 signing failed");
        siglen = 64;
        break;
    }
    }
    enc = palloc(kiln_base64url_encoded_len(siglen) + 1);
    kiln_base64url_encode(sig, siglen, enc);
    appendStringInfo(&buf, ".%s", enc);
    return buf.data;
}

/*
 * kiln.sign_jwt(claims jsonb, kid text default NULL) returns text: the
 * claims, exactly as given, signed with the active signing key (or the key
 * kid). Header {"alg","typ":"JWT","kid"}. 22023 when claims is not an
 * object; 55000 without a signing key; 42704 for an unknown or retired kid.
 */
PG_FUNCTION_INFO_V1(kiln_sign_jwt);

Datum kiln_sign_jwt(PG_FUNCTION_ARGS)
{
    Jsonb *claims;
    char *kid = NULL;
    const KilnJwtKey *key;

    if (PG_ARGISNULL(0))
        PG_RETURN_NULL();
    claims = PG_GETARG_JSONB_P(0);
    if (!JB_ROOT_IS_OBJECT(claims) || JB_ROOT_IS_SCALAR(claims))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("JWT claims must be a JSON object")));
    if (!PG_ARGISNULL(1))
        kid = text_to_cstring(PG_GETARG_TEXT_PP(1));
    key = kiln_jwt_signing_key(kid);
    PG_RETURN_TEXT_P(cstring_to_text(kiln_jwt_sign(JsonbToCString(NULL, &claims->root, VARSIZE(claims)), key)));
}

/*
 * kiln.verify_jwt(token text) returns jsonb: the verified claims. STRICT.
 * KL001 invalid, KL002 expired, KL003 session revoked.
 */
PG_FUNCTION_INFO_V1(kiln_verify_jwt);

Datum kiln_verify_jwt(PG_FUNCTION_ARGS)
{
    text *t = PG_GETARG_TEXT_PP(0);
    KilnVerified v;

    kiln_jwt_verify(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), &v);
    if (v.has_session && kiln_session_revoked(&v.session_id))
        ereport(ERROR, (errcode(KILN_ERRCODE_REVOKED_TOKEN), errmsg("token revoked"),
                        errdetail("The token's session was revoked.")));
    PG_RETURN_JSONB_P(kiln_verified_claims(&v));
}

static char *kiln_b64(const uint8 *p, size_t len)
{
    char *s = palloc(kiln_base64url_encoded_len(len) + 1);

    kiln_base64url_encode(p, len, s);
    return s;
}

/*
 * kiln._jwt_key_material(alg text) returns (secret bytea, public_jwk jsonb):
 * a new key of alg, the private part sealed with the master key, the public
 * JWK without kid (NULL for HS256). 22023 for another alg. Internal: used by
 * the key functions of sql/kiln/20-keys.sql.
 */
PG_FUNCTION_INFO_V1(kiln_jwt_key_material);

Datum kiln_jwt_key_material(PG_FUNCTION_ARGS)
{
    char *alg = text_to_cstring(PG_GETARG_TEXT_PP(0));
    TupleDesc tupdesc;
    Datum values[2];
    bool nulls[2] = {false, false};
    uint8 *priv = NULL;
    size_t privlen = 0;
    char *jwk = NULL;
    uint8 *sealed;
    size_t sealedlen;
    bytea *b;

    if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "return type must be a row type");

    if (strcmp(alg, "HS256") == 0) {
        privlen = 32;
        priv = palloc(privlen);
        randombytes_buf(priv, privlen);
    } else if (strcmp(alg, "EdDSA") == 0) {
        uint8 pk[crypto_sign_PUBLICKEYBYTES];

        privlen = crypto_sign_SECRETKEYBYTES;
        priv = palloc(privlen);
        crypto_sign_keypair(pk, priv);
        jwk = psprintf("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"alg\":\"EdDSA\",\"use\":\"sig\"}",
                       kiln_b64(pk, sizeof(pk)));
    } else if (strcmp(alg, "ES256") == 0) {
        EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        unsigned char *der = NULL;
        unsigned char pub[65];
        size_t publen = 0;
        int len;

        if (pkey == NULL)
            elog(ERROR, "EC key generation failed");
        len = i2d_PrivateKey(pkey, &der);
        if (len <= 0 || !EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub),
                                                         &publen) ||
            publen != 65 || pub[0] != 0x04) {
            OPENSSL_clear_free(der, len > 0 ? len : 0);
            EVP_PKEY_free(pkey);
            elog(ERROR, "EC key export failed");
        }
        privlen = len;
        priv = palloc(privlen);
        memcpy(priv, der, privlen);
        OPENSSL_clear_free(der, len);
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        jwk = psprintf("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"alg\":\"ES256\",\"use\":\"sig\"}",
                       kiln_b64(pub + 1, 32), kiln_b64(pub + 33, 32));
    } else
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("unsupported JWT algorithm \"%s\"", alg),
                        errhint("Use HS256, ES256 or EdDSA.")));

    sealed = kiln_secretbox_seal(priv, privlen, &sealedlen);
    sodium_memzero(priv, privlen);
    b = palloc(VARHDRSZ + sealedlen);
    SET_VARSIZE(b, VARHDRSZ + sealedlen);
    memcpy(VARDATA(b), sealed, sealedlen);
    values[0] = PointerGetDatum(b);
    if (jwk != NULL)
        values[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(jwk));
    else
        nulls[1] = true;
    tupdesc = BlessTupleDesc(tupdesc);
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * kiln.bench_verify(token text, n int, cached boolean default false)
 * returns float8: mean nanoseconds per verification of token over n runs
 * (cached: the hash and token-cache lookup kiln.authenticate does on a hit;
 * otherwise the full signature and claims check with warm keys).
 * A benchmark aid, superuser only; not part of the API.
 */
PG_FUNCTION_INFO_V1(kiln_bench_verify);

Datum kiln_bench_verify(PG_FUNCTION_ARGS)
{
    text *t = PG_GETARG_TEXT_PP(0);
    int32 n = PG_GETARG_INT32(1);
    bool cached = PG_GETARG_BOOL(2);
    const char *tok = VARDATA_ANY(t);
    size_t len = VARSIZE_ANY_EXHDR(t);
    MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "kiln bench", ALLOCSET_DEFAULT_SIZES);
    MemoryContext old = MemoryContextSwitchTo(tmp);
    KilnVerified v;
    uint8 h[32];
    instr_time start;
    instr_time end;
    int32 i;

    if (n < 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("n must be positive")));
    kiln_jwt_verify(tok, len, &v);
    kiln_verified_claims(&v);
    kiln_token_hash(tok, len, h);
    kiln_token_cache_put(h, &v);
    MemoryContextReset(tmp);

    INSTR_TIME_SET_CURRENT(start);
    for (i = 0; i < n; i++) {
        if (cached) {
            kiln_token_hash(tok, len, h);
            if (!kiln_token_cache_get(h, &v))
                elog(ERROR, "token cache miss during benchmark");
        } else {
            kiln_jwt_verify(tok, len, &v);
            MemoryContextReset(tmp);
        }
        CHECK_FOR_INTERRUPTS();
    }
    INSTR_TIME_SET_CURRENT(end);
    INSTR_TIME_SUBTRACT(end, start);
    MemoryContextSwitchTo(old);
    MemoryContextDelete(tmp);
    PG_RETURN_FLOAT8(INSTR_TIME_GET_DOUBLE(end) * 1e9 / n);
}
