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
 * benchmark aid kiln.bench_verify. The parsing of token text (split,
 * header, claims) is the pure stage in jwt_parse.c; this file adds the key
 * cache, the signature check, the clock, palloc and ereport around it. It
 * never fetches keys from a token, never accepts a token it cannot verify,
 * and never logs tokens.
 */
#include "postgres.h"

#include "identity.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "access/htup_details.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* Allowlists used when a key row has none (keys.c defines the settings). */
extern char *kiln_jwt_issuers;
extern char *kiln_jwt_audiences;

static void kiln_jwt_invalid(const char *detail) pg_attribute_noreturn();

static void kiln_jwt_invalid(const char *detail)
{
    ereport(ERROR, (errcode(KILN_ERRCODE_INVALID_TOKEN), errmsg("invalid token"), errdetail("%s", detail)));
}

/* Decodes one segment; KL001 when it is not canonical base64url. palloc'd, NUL-terminated. */
static uint8 *kiln_jwt_segment(const char *s, size_t len, size_t *outlen)
{
    uint8 *buf = palloc(len * 3 / 4 + 2);

    if (!kiln_jwt_segment_decode(s, len, buf, outlen))
        kiln_jwt_invalid("A token segment is not canonical unpadded base64url.");
    return buf;
}

/* A string span as a palloc'd, unescaped C string; NULL for a span of type NONE. */
static char *kiln_json_pstrdup(const KilnJsonSpan *v)
{
    char *out;

    if (v->type == KILN_JV_NONE)
        return NULL;
    out = palloc(v->len + 1);
    kiln_json_unescape(v, out);
    return out;
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
    uint8 *hbuf;
    size_t hlen;
    char *kidbuf;
    KilnJwtHeader h;
    const char *why;
    int i;

    for (i = 0; i < KILN_HEADER_CACHE; i++) {
        KilnHeaderSeen *c = &kiln_headers_seen[i];

        if (c->len == seglen && seglen > 0 && memcmp(c->seg, seg, seglen) == 0) {
            *alg = c->alg;
            *kid = c->has_kid ? pstrdup(c->kid) : NULL;
            return;
        }
    }

    hbuf = kiln_jwt_segment(seg, seglen, &hlen);
    kidbuf = palloc(hlen + 1);
    why = kiln_jwt_header_check(hbuf, hlen, GetDatabaseEncoding() == PG_UTF8, kidbuf, &h);
    if (why != NULL)
        kiln_jwt_invalid(why);
    *alg = h.alg;
    *kid = h.kid != NULL ? kidbuf : NULL;

    if (seglen < KILN_HEADER_MAX && (*kid == NULL || h.kid_len < KILN_HEADER_MAX)) {
        KilnHeaderSeen *c = &kiln_headers_seen[kiln_headers_next];

        kiln_headers_next = (kiln_headers_next + 1) % KILN_HEADER_CACHE;
        memcpy(c->seg, seg, seglen);
        c->len = seglen;
        c->alg = *alg;
        c->has_kid = *kid != NULL;
        if (*kid != NULL)
            strlcpy(c->kid, *kid, sizeof(c->kid));
    }
}

void kiln_jwt_verify(const char *token, size_t len, KilnVerified *out)
{
    KilnJwtParts parts;
    KilnJwtPolicy policy;
    KilnJwtClaims claims;
    char detail[KILN_JWT_DETAIL_LEN];
    uint8 *pbuf;
    uint8 *sig;
    size_t plen;
    size_t siglen;
    const char *why;
    char *kid;
    KilnJwtAlg alg;
    const KilnJwtKey *keys;
    const KilnJwtKey *key = NULL;
    int nkeys;
    int i;

    memset(out, 0, sizeof(*out));
    why = kiln_jwt_split(token, len, &parts);
    if (why != NULL)
        kiln_jwt_invalid(why);

    /* Header: the algorithm and key come from our allowlist, never from the token. */
    kiln_jwt_header(parts.header, parts.header_len, &alg, &kid);

    /* Signature, over the first two parts as sent. */
    sig = kiln_jwt_segment(parts.signature, parts.signature_len, &siglen);
    keys = kiln_keys_get(&nkeys);
    if (kid != NULL) {
        for (i = 0; i < nkeys; i++)
            if (keys[i].verify && strcmp(keys[i].kid, kid) == 0)
                break;
        if (i == nkeys)
            kiln_jwt_invalid("The token's key id is unknown or retired.");
        if (keys[i].alg != alg)
            kiln_jwt_invalid("The token's algorithm does not match its key.");
        if (kiln_jwt_check_sig(&keys[i], token, parts.signed_len, sig, siglen))
            key = &keys[i];
    } else {
        bool any = false;

        for (i = 0; i < nkeys && key == NULL; i++) {
            if (!keys[i].verify || keys[i].alg != alg)
                continue;
            any = true;
            if (kiln_jwt_check_sig(&keys[i], token, parts.signed_len, sig, siglen))
                key = &keys[i];
        }
        if (!any)
            kiln_jwt_invalid("No verification key for the token's algorithm.");
    }
    if (key == NULL)
        kiln_jwt_invalid("The token's signature does not match.");

    /* Claims, now that they are known to come from a key holder. */
    pbuf = kiln_jwt_segment(parts.payload, parts.payload_len, &plen);
    policy.now = kiln_now_unix();
    policy.skew = KILN_JWT_SKEW_SECONDS;
    policy.utf8 = GetDatabaseEncoding() == PG_UTF8;
    policy.n_issuers = key->n_issuers;
    policy.issuers = key->issuers;
    policy.issuers_setting = kiln_jwt_issuers;
    policy.n_audiences = key->n_audiences;
    policy.audiences = key->audiences;
    policy.audiences_setting = kiln_jwt_audiences;
    policy.trusted_tenant = key->trusted_tenant;
    switch (kiln_jwt_claims_check(pbuf, plen, &policy, palloc(plen + 1), &claims, detail)) {
    case KILN_JWT_OK:
        break;
    case KILN_JWT_EXPIRED:
        ereport(ERROR, (errcode(KILN_ERRCODE_EXPIRED_TOKEN), errmsg("token expired"), errdetail("%s", detail)));
        break;
    case KILN_JWT_INVALID:
        kiln_jwt_invalid(detail);
    }

    out->role = claims.role;
    out->has_user = claims.has_user;
    memcpy(out->user_id.data, claims.user_id, UUID_LEN);
    out->has_session = claims.has_session;
    memcpy(out->session_id.data, claims.session_id, UUID_LEN);
    out->has_tenant = claims.has_tenant;
    memcpy(out->tenant_id.data, claims.tenant_id, UUID_LEN);
    out->aal = kiln_json_pstrdup(&claims.aal);
    out->email = kiln_json_pstrdup(&claims.email);
    out->exp = claims.exp;
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
    char *header = psprintf("{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kiln_jwt_alg_names[key->alg], key->kid);
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
        /* The key's signing context is set up once (it is most of the cost
         * of a signature when made per call) and freed with the key cache. */
        EVP_PKEY_CTX **pctx = &((KilnJwtKey *)key)->sign_ctx;
        uint8 digest[32];
        unsigned int dlen = 0;
        unsigned char der[80];
        size_t derlen = sizeof(der);
        const unsigned char *p = der;
        ECDSA_SIG *es = NULL;
        const BIGNUM *r;
        const BIGNUM *s;
        bool ok;

        if (*pctx == NULL && key->pkey != NULL) {
            *pctx = EVP_PKEY_CTX_new(key->pkey, NULL);
            if (*pctx != NULL && EVP_PKEY_sign_init(*pctx) != 1) {
                EVP_PKEY_CTX_free(*pctx);
                *pctx = NULL;
            }
        }
        ok = *pctx != NULL && kiln_sha256_md() != NULL &&
             EVP_Digest(buf.data, buf.len, digest, &dlen, kiln_sha256_md(), NULL) && dlen == 32 &&
             EVP_PKEY_sign(*pctx, der, &derlen, digest, 32) == 1 &&
             (es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) != NULL;
        if (ok) {
            ECDSA_SIG_get0(es, &r, &s);
            ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
        }
        ECDSA_SIG_free(es);
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

char *kiln_jwt_sign_active(const char *claims_json)
{
    return kiln_jwt_sign(claims_json, kiln_jwt_signing_key(NULL));
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
