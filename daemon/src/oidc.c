/*
 * oidc.c: OpenID Connect pieces for sign-in with external providers
 * (oidc.h): ID token verification, discovery and JWKS caches, and the HTTP
 * calls of the authorization-code flow.
 *
 * Why here and not in the extension: kiln.verify_jwt verifies Kiln's own
 * tokens against kiln.jwt_keys (HS256, ES256, EdDSA); provider tokens are
 * mostly RS256 and their keys live at the provider, fetched over HTTP,
 * which a database backend should not do. So the daemon verifies them with
 * OpenSSL, and the database only receives the verified (provider, subject)
 * and claims (sql/kiln_auth/43-oauth.sql).
 *
 * Verification order: header (alg RS256/ES256 only, no crit), key by kid,
 * signature, then claims (iss, aud/azp, exp, nbf/iat with skew, nonce).
 * It never fetches a key a token names (jku/x5u/jwk are ignored: keys come
 * only from the configured issuer's jwks_uri), never follows HTTP
 * redirects, never logs, and never puts a token or secret in an error.
 */
#include "oidc.h"

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OIDC_MAX_TOKEN          16384
#define OIDC_MAX_BODY           (1024 * 1024)
#define OIDC_TIMEOUT_S          10L
#define OIDC_DISCOVERY_TTL_S    3600
#define OIDC_JWKS_TTL_S         600
#define OIDC_JWKS_MIN_REFRESH_S 30
#define OIDC_CACHE_SLOTS        16

static bool bad(KilnError *err, const char *why)
{
    return kiln_error_set(err, 400, "bad_id_token", "ID token refused: %s", why);
}

/* ---- base64url and URL encoding (pure) ---------------------------------- */

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

unsigned char *oidc_b64url_decode(const char *s, size_t len, size_t *outlen)
{
    if (len % 4 == 1)
        return NULL;
    unsigned char *out = malloc(len * 3 / 4 + 2);
    if (!out)
        return NULL;
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    /* Canonical: the unused low bits are zero. */
    if (bits && (acc & ((1u << bits) - 1))) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    *outlen = n;
    return out;
}

void oidc_url_encode(KilnBuf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            buf_putc(out, (char)*p);
        } else {
            buf_putc(out, '%');
            buf_putc(out, hex[*p >> 4]);
            buf_putc(out, hex[*p & 15]);
        }
    }
}

/* ---- keys --------------------------------------------------------------- */

static BIGNUM *jwk_bn(json_t *jwk, const char *name)
{
    const char *v = json_string_value(json_object_get(jwk, name));
    size_t n;
    unsigned char *raw = v ? oidc_b64url_decode(v, strlen(v), &n) : NULL;
    BIGNUM *bn = raw && n ? BN_bin2bn(raw, (int)n, NULL) : NULL;
    free(raw);
    return bn;
}

/* An RSA public key from a JWK {kty:RSA,n,e}; NULL when malformed. */
static EVP_PKEY *jwk_rsa(json_t *jwk)
{
    BIGNUM *n = jwk_bn(jwk, "n"), *e = jwk_bn(jwk, "e");
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (n && e && bld && BN_num_bits(n) >= 2048 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) &&
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) && EVP_PKEY_fromdata_init(ctx) > 0)
        if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
            pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

/* A P-256 public key from a JWK {kty:EC,crv:P-256,x,y}; NULL when malformed. */
static EVP_PKEY *jwk_ec(json_t *jwk)
{
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    const char *xs = json_string_value(json_object_get(jwk, "x"));
    const char *ys = json_string_value(json_object_get(jwk, "y"));
    if (!crv || strcmp(crv, "P-256") != 0 || !xs || !ys)
        return NULL;
    size_t xn, yn;
    unsigned char *x = oidc_b64url_decode(xs, strlen(xs), &xn);
    unsigned char *y = oidc_b64url_decode(ys, strlen(ys), &yn);
    EVP_PKEY *pkey = NULL;
    if (x && y && xn == 32 && yn == 32) {
        unsigned char point[65];
        point[0] = 0x04;
        memcpy(point + 1, x, 32);
        memcpy(point + 33, y, 32);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
            OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point),
            OSSL_PARAM_construct_end()};
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
            pkey = NULL;
        EVP_PKEY_CTX_free(ctx);
    }
    free(x);
    free(y);
    return pkey;
}

/* The key of jwks for alg and kid (kid NULL: the only key that fits). */
static EVP_PKEY *jwks_key(json_t *jwks, bool rsa, const char *kid)
{
    json_t *keys = json_object_get(jwks, "keys"), *k, *found = NULL;
    size_t i;
    int fitting = 0;
    json_array_foreach(keys, i, k)
    {
        const char *kty = json_string_value(json_object_get(k, "kty"));
        const char *use = json_string_value(json_object_get(k, "use"));
        const char *kkid = json_string_value(json_object_get(k, "kid"));
        if (!kty || strcmp(kty, rsa ? "RSA" : "EC") != 0 || (use && strcmp(use, "sig") != 0))
            continue;
        if (kid ? kkid && strcmp(kid, kkid) == 0 : true) {
            found = k;
            fitting++;
        }
    }
    if (!found || (!kid && fitting != 1))
        return NULL;
    return rsa ? jwk_rsa(found) : jwk_ec(found);
}

/* Checks sig over msg with pkey: RS256 (PKCS#1 v1.5) or ES256 (raw r||s). */
static bool check_sig(EVP_PKEY *pkey, bool rsa, const char *msg, size_t msglen,
                      const unsigned char *sig, size_t siglen)
{
    unsigned char der[80];
    const unsigned char *s = sig;
    size_t slen = siglen;
    if (!rsa) {
        if (siglen != 64)
            return false;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
        if (!es || !r || !ss || !ECDSA_SIG_set0(es, r, ss)) {
            BN_free(r);
            BN_free(ss);
            ECDSA_SIG_free(es);
            return false;
        }
        unsigned char *p = der;
        int n = i2d_ECDSA_SIG(es, NULL);
        if (n <= 0 || n > (int)sizeof der) {
            ECDSA_SIG_free(es);
            return false;
        }
        n = i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);
        s = der;
        slen = (size_t)n;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
              EVP_DigestVerify(md, s, slen, (const unsigned char *)msg, msglen) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

/* ---- claims ------------------------------------------------------------- */

static bool claim_time(json_t *claims, const char *name, bool required, long long *out)
{
    json_t *v = json_object_get(claims, name);
    if (!v)
        return !required;
    if (!json_is_number(v))
        return false;
    *out = (long long)json_number_value(v);
    return true;
}

static bool aud_has(json_t *aud, const char *client_id)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), client_id) == 0;
    json_t *a;
    size_t i;
    json_array_foreach(aud, i, a) if (json_is_string(a) &&
                                      strcmp(json_string_value(a), client_id) == 0) return true;
    return false;
}

static void sha256_hex(const char *s, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, strlen(s), d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static bool check_claims(json_t *c, const OidcExpect *x, KilnError *err)
{
    const char *iss = json_string_value(json_object_get(c, "iss"));
    if (!iss || !x->issuer || strcmp(iss, x->issuer) != 0)
        return bad(err, "iss is not the provider's issuer");
    json_t *aud = json_object_get(c, "aud");
    if (!x->client_id || !aud_has(aud, x->client_id))
        return bad(err, "aud does not name this client");
    const char *azp = json_string_value(json_object_get(c, "azp"));
    if (json_is_array(aud) && json_array_size(aud) > 1 && (!azp || strcmp(azp, x->client_id) != 0))
        return bad(err, "azp does not name this client");
    long long exp = 0, nbf = 0, iat = 0;
    if (!claim_time(c, "exp", true, &exp) || !claim_time(c, "nbf", false, &nbf) ||
        !claim_time(c, "iat", false, &iat))
        return bad(err, "exp, nbf or iat is not a number");
    if (exp + x->skew_s < x->now)
        return bad(err, "the token has expired");
    if (nbf && nbf - x->skew_s > x->now)
        return bad(err, "the token is not valid yet");
    if (iat && iat - x->skew_s > x->now)
        return bad(err, "the token was issued in the future");
    const char *sub = json_string_value(json_object_get(c, "sub"));
    if (!sub || !*sub)
        return bad(err, "sub is missing");
    json_t *nv = json_object_get(c, "nonce");
    const char *nonce = json_string_value(nv);
    if (nv && !nonce)
        return bad(err, "nonce is not a string");
    if (x->nonce) {
        char hex[65];
        sha256_hex(x->nonce, hex);
        if (!nonce || (strcmp(nonce, x->nonce) != 0 && strcmp(nonce, hex) != 0))
            return bad(err, "nonce does not match");
    } else if (nonce && !x->nonce_optional) {
        return bad(err, "the token carries a nonce but none was passed");
    }
    return true;
}

bool oidc_verify_id_token(const char *token, json_t *jwks, const OidcExpect *expect,
                          json_t **claims, bool *unknown_kid, KilnError *err)
{
    *claims = NULL;
    *unknown_kid = false;
    size_t len = token ? strlen(token) : 0;
    if (len == 0 || len > OIDC_MAX_TOKEN)
        return bad(err, "not a JWT");
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || strchr(d2 + 1, '.'))
        return bad(err, "not a JWT");
    size_t hlen, plen, slen;
    unsigned char *h = oidc_b64url_decode(token, (size_t)(d1 - token), &hlen);
    unsigned char *p = oidc_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &plen);
    unsigned char *s = oidc_b64url_decode(d2 + 1, strlen(d2 + 1), &slen);
    json_t *hdr = h ? json_loadb((const char *)h, hlen, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *pay = p ? json_loadb((const char *)p, plen, JSON_REJECT_DUPLICATES, NULL) : NULL;
    bool ok = false;
    EVP_PKEY *pkey = NULL;
    if (!s || !json_is_object(hdr) || !json_is_object(pay)) {
        bad(err, "not a JWT");
        goto out;
    }
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    bool rsa = alg && strcmp(alg, "RS256") == 0;
    if (!alg || (!rsa && strcmp(alg, "ES256") != 0)) {
        bad(err, "the algorithm is not RS256 or ES256");
        goto out;
    }
    if (json_object_get(hdr, "crit")) {
        bad(err, "crit headers are not supported");
        goto out;
    }
    pkey = jwks_key(jwks, rsa, json_string_value(json_object_get(hdr, "kid")));
    if (!pkey) {
        *unknown_kid = true;
        bad(err, "no key of the provider matches the token");
        goto out;
    }
    if (!check_sig(pkey, rsa, token, (size_t)(d2 - token), s, slen)) {
        bad(err, "bad signature");
        goto out;
    }
    if (!check_claims(pay, expect, err))
        goto out;
    *claims = pay;
    pay = NULL;
    ok = true;
out:
    EVP_PKEY_free(pkey);
    json_decref(hdr);
    json_decref(pay);
    free(h);
    free(p);
    free(s);
    return ok;
}

/* ---- HTTP --------------------------------------------------------------- */

static size_t collect(char *data, size_t size, size_t n, void *user)
{
    KilnBuf *b = user;
    if (b->len + size * n > OIDC_MAX_BODY)
        return 0;
    buf_append(b, data, size * n);
    return size * n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One request: form NULL for GET. The answer must be a JSON object. */
static bool http_json(const char *url, const char *form, const char *bearer, json_t **out,
                      KilnError *err)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    CURL *c = curl_easy_init();
    if (!c)
        return kiln_error_set(err, 500, "unexpected_failure", "could not start an HTTP client");
    KilnBuf body = KILN_BUF_INIT;
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    char auth[4200];
    if (bearer) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, OIDC_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, OIDC_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kiln-auth");
    if (form) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    }
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    explicit_bzero(auth, sizeof auth);
    bool ok = false;
    if (rc != CURLE_OK) {
        kiln_error_set(err, 502, "provider_error",
                       "the identity provider could not be reached (%s)", curl_easy_strerror(rc));
    } else {
        json_t *j = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
        if (status < 200 || status > 299) {
            const char *e = json_string_value(json_object_get(j, "error"));
            kiln_error_set(err, 502, "provider_error", "the identity provider answered %ld%s%s",
                           status, e ? ": " : "", e ? e : "");
            json_decref(j);
        } else if (!json_is_object(j)) {
            kiln_error_set(err, 502, "provider_error",
                           "the identity provider's answer is not a JSON object");
            json_decref(j);
        } else {
            *out = j;
            ok = true;
        }
    }
    buf_free(&body);
    return ok;
}

bool oidc_http_post_form(const char *url, const char *form, json_t **out, KilnError *err)
{
    return http_json(url, form, NULL, out, err);
}

bool oidc_http_get_json(const char *url, const char *bearer, json_t **out, KilnError *err)
{
    return http_json(url, NULL, bearer, out, err);
}

/* ---- caches ------------------------------------------------------------- */

/* A small cache of fetched documents keyed by URL: discovery documents and
 * JWKS. Slots are reused least-recently-fetched first. */
typedef struct CacheSlot {
    char url[512];
    json_t *doc;
    time_t fetched;
} CacheSlot;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static CacheSlot cache[OIDC_CACHE_SLOTS];

/* The cached document for url if younger than ttl (new reference);
 * *age the seconds since its fetch (-1: none). */
static json_t *cache_get(const char *url, int ttl, long *age)
{
    json_t *doc = NULL;
    *age = -1;
    time_t now = time(NULL);
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < OIDC_CACHE_SLOTS; i++)
        if (cache[i].doc && strcmp(cache[i].url, url) == 0) {
            *age = (long)(now - cache[i].fetched);
            if (*age < ttl)
                doc = json_incref(cache[i].doc);
            break;
        }
    pthread_mutex_unlock(&cache_lock);
    return doc;
}

static void cache_put(const char *url, json_t *doc)
{
    if (strlen(url) >= sizeof cache[0].url)
        return;
    pthread_mutex_lock(&cache_lock);
    int slot = 0;
    for (int i = 0; i < OIDC_CACHE_SLOTS; i++) {
        if (cache[i].doc && strcmp(cache[i].url, url) == 0) {
            slot = i;
            break;
        }
        if (!cache[i].doc || cache[i].fetched < cache[slot].fetched)
            slot = i;
    }
    json_decref(cache[slot].doc);
    snprintf(cache[slot].url, sizeof cache[slot].url, "%s", url);
    cache[slot].doc = json_incref(doc);
    cache[slot].fetched = time(NULL);
    pthread_mutex_unlock(&cache_lock);
}

void oidc_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < OIDC_CACHE_SLOTS; i++) {
        json_decref(cache[i].doc);
        cache[i].doc = NULL;
    }
    pthread_mutex_unlock(&cache_lock);
}

static bool copy_field(json_t *doc, const char *name, char *out, size_t len, bool required,
                       KilnError *err)
{
    const char *v = json_string_value(json_object_get(doc, name));
    out[0] = '\0';
    if (!v && !required)
        return true;
    if (!v || !*v || strlen(v) >= len ||
        (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0))
        return kiln_error_set(err, 502, "provider_error",
                              "the provider's discovery document has no usable %s", name);
    snprintf(out, len, "%s", v);
    return true;
}

bool oidc_discover(const char *issuer, OidcEndpoints *out, KilnError *err)
{
    char url[600];
    size_t n = strlen(issuer);
    if (n == 0 || n > 400)
        return kiln_error_set(err, 500, "unexpected_failure",
                              "the provider's issuer is not usable");
    snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration",
             (int)(issuer[n - 1] == '/' ? n - 1 : n), issuer);
    long age;
    json_t *doc = cache_get(url, OIDC_DISCOVERY_TTL_S, &age);
    if (!doc) {
        if (!oidc_http_get_json(url, NULL, &doc, err))
            return false;
        cache_put(url, doc);
    }
    bool ok = copy_field(doc, "issuer", out->issuer, sizeof out->issuer, true, err) &&
              copy_field(doc, "authorization_endpoint", out->authorization_endpoint,
                         sizeof out->authorization_endpoint, true, err) &&
              copy_field(doc, "token_endpoint", out->token_endpoint, sizeof out->token_endpoint,
                         true, err) &&
              copy_field(doc, "userinfo_endpoint", out->userinfo_endpoint,
                         sizeof out->userinfo_endpoint, false, err) &&
              copy_field(doc, "jwks_uri", out->jwks_uri, sizeof out->jwks_uri, true, err);
    json_decref(doc);
    if (ok && strcmp(out->issuer, issuer) != 0)
        ok = kiln_error_set(err, 502, "provider_error",
                            "the provider's discovery document names another issuer");
    return ok;
}

bool oidc_jwks(const char *uri, bool refresh, json_t **out, KilnError *err)
{
    long age;
    json_t *doc = cache_get(uri, OIDC_JWKS_TTL_S, &age);
    if (doc && refresh && age >= OIDC_JWKS_MIN_REFRESH_S) {
        json_decref(doc);
        doc = NULL;
    }
    if (!doc) {
        if (!oidc_http_get_json(uri, NULL, &doc, err))
            return false;
        if (!json_is_array(json_object_get(doc, "keys"))) {
            json_decref(doc);
            return kiln_error_set(err, 502, "provider_error", "the provider's JWKS has no keys");
        }
        cache_put(uri, doc);
    }
    *out = doc;
    return true;
}
