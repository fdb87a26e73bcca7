/* Unit tests of the pure parts of oidc.c (ID token verification,
 * base64url, URL encoding) and auth_oauth.c (the redirect allowlist and
 * the redirect URLs). Keys are generated per run with OpenSSL; tokens are
 * signed here and verified by oidc_verify_id_token. */
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <stdlib.h>

#include "auth_oauth.h"
#include "oidc.h"
#include "unit.h"

#define ISS "https://id.example.com"
#define AUD "client-1"

static void b64url(KilnBuf *out, const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        buf_putc(out, a[v >> 18]), buf_putc(out, a[(v >> 12) & 63]);
        buf_putc(out, a[(v >> 6) & 63]), buf_putc(out, a[v & 63]);
    }
    if (n - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        buf_putc(out, a[v >> 18]), buf_putc(out, a[(v >> 12) & 63]);
    } else if (n - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        buf_putc(out, a[v >> 18]), buf_putc(out, a[(v >> 12) & 63]),
            buf_putc(out, a[(v >> 6) & 63]);
    }
}

static char *b64url_str(const char *s)
{
    KilnBuf b = KILN_BUF_INIT;
    b64url(&b, (const unsigned char *)s, strlen(s));
    return buf_take(&b);
}

static char *bn_b64(const BIGNUM *bn, int width)
{
    unsigned char raw[512];
    int n = width ? BN_bn2binpad(bn, raw, width) : BN_bn2bin(bn, raw);
    KilnBuf b = KILN_BUF_INIT;
    b64url(&b, raw, (size_t)n);
    return buf_take(&b);
}

/* A key pair and its public JWK. */
typedef struct TestKey {
    EVP_PKEY *pkey;
    json_t *jwk;
    bool rsa;
} TestKey;

static TestKey key_new(bool rsa, const char *kid)
{
    TestKey k = {.rsa = rsa};
    k.pkey = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    k.jwk = json_object();
    json_object_set_new(k.jwk, "kid", json_string(kid));
    json_object_set_new(k.jwk, "use", json_string("sig"));
    if (rsa) {
        BIGNUM *n = NULL, *e = NULL;
        EVP_PKEY_get_bn_param(k.pkey, OSSL_PKEY_PARAM_RSA_N, &n);
        EVP_PKEY_get_bn_param(k.pkey, OSSL_PKEY_PARAM_RSA_E, &e);
        json_object_set_new(k.jwk, "kty", json_string("RSA"));
        char *ns = bn_b64(n, 0), *es = bn_b64(e, 0);
        json_object_set_new(k.jwk, "n", json_string(ns));
        json_object_set_new(k.jwk, "e", json_string(es));
        free(ns), free(es), BN_free(n), BN_free(e);
    } else {
        BIGNUM *x = NULL, *y = NULL;
        EVP_PKEY_get_bn_param(k.pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x);
        EVP_PKEY_get_bn_param(k.pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
        json_object_set_new(k.jwk, "kty", json_string("EC"));
        json_object_set_new(k.jwk, "crv", json_string("P-256"));
        char *xs = bn_b64(x, 32), *ys = bn_b64(y, 32);
        json_object_set_new(k.jwk, "x", json_string(xs));
        json_object_set_new(k.jwk, "y", json_string(ys));
        free(xs), free(ys), BN_free(x), BN_free(y);
    }
    return k;
}

static void key_free(TestKey *k)
{
    EVP_PKEY_free(k->pkey);
    json_decref(k->jwk);
}

/* header.payload.signature with k (ES256 signatures as raw r||s). */
static char *sign(const TestKey *k, const char *header, const char *payload)
{
    KilnBuf t = KILN_BUF_INIT;
    char *h = b64url_str(header), *p = b64url_str(payload);
    buf_printf(&t, "%s.%s", h, p);
    free(h), free(p);
    unsigned char sig[600];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k->pkey);
    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)t.data, t.len);
    EVP_MD_CTX_free(md);
    buf_putc(&t, '.');
    if (k->rsa) {
        b64url(&t, sig, siglen);
    } else {
        const unsigned char *q = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)siglen);
        unsigned char raw[64];
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32);
        ECDSA_SIG_free(es);
        b64url(&t, raw, 64);
    }
    return buf_take(&t);
}

static json_t *jwks_of(const TestKey *a, const TestKey *b)
{
    json_t *keys = json_array();
    json_array_append(keys, a->jwk);
    if (b)
        json_array_append(keys, b->jwk);
    return json_pack("{s:o}", "keys", keys);
}

static char *payload(long long now, const char *extra)
{
    char *s = malloc(1024);
    snprintf(s, 1024,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD
             "\",\"sub\":\"u-1\",\"iat\":%lld,\"exp\":%lld%s}",
             now, now + 300, extra);
    return s;
}

static bool verify(const char *token, json_t *jwks, const char *nonce, const char **why)
{
    static KilnError err;
    OidcExpect x = {
        .issuer = ISS, .client_id = AUD, .nonce = nonce, .now = 1700000000, .skew_s = 60};
    json_t *claims = NULL;
    bool unknown = false;
    memset(&err, 0, sizeof err);
    bool ok = oidc_verify_id_token(token, jwks, &x, &claims, &unknown, &err);
    *why = err.message;
    if (ok && strcmp(json_string_value(json_object_get(claims, "sub")), "u-1") != 0)
        ok = false;
    json_decref(claims);
    return ok;
}

UNIT_TEST(b64url_strict)
{
    size_t n;
    unsigned char *d = oidc_b64url_decode("aGVsbG8", 7, &n);
    CHECK(d && n == 5 && memcmp(d, "hello", 5) == 0);
    free(d);
    CHECK(oidc_b64url_decode("aGVsbG8=", 8, &n) == NULL); /* padding */
    CHECK(oidc_b64url_decode("aGVs bG8", 8, &n) == NULL); /* whitespace */
    CHECK(oidc_b64url_decode("aGVsbG9", 7, &n) == NULL);  /* non-canonical tail bits */
    CHECK(oidc_b64url_decode("a", 1, &n) == NULL);        /* impossible length */
    CHECK(oidc_b64url_decode("a+/b", 4, &n) == NULL);     /* base64, not base64url */
    d = oidc_b64url_decode("", 0, &n);
    CHECK(d && n == 0);
    free(d);
}

UNIT_TEST(url_encode)
{
    KilnBuf b = KILN_BUF_INIT;
    oidc_url_encode(&b, "a b&c=d/é~_.-");
    CHECK_STR_EQ(buf_str(&b), "a%20b%26c%3Dd%2F%C3%A9~_.-");
    buf_free(&b);
}

UNIT_TEST(verify_rs256_and_es256)
{
    TestKey r = key_new(true, "r1"), e = key_new(false, "e1");
    json_t *jwks = jwks_of(&r, &e);
    char *p = payload(1700000000, ",\"nonce\":\"n-1\"");
    const char *why;
    char *t1 = sign(&r, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", p);
    char *t2 = sign(&e, "{\"alg\":\"ES256\",\"kid\":\"e1\"}", p);
    CHECK(verify(t1, jwks, "n-1", &why));
    CHECK(verify(t2, jwks, "n-1", &why));
    /* The hex SHA-256 of the nonce passed is accepted too (signInWithIdToken
     * with a hashed nonce in the token). */
    unsigned char d[32];
    char hex[65], extra[128];
    SHA256((const unsigned char *)"raw", 3, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    snprintf(extra, sizeof extra, ",\"nonce\":\"%s\"", hex);
    char *ph = payload(1700000000, extra);
    char *t3 = sign(&r, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", ph);
    CHECK(verify(t3, jwks, "raw", &why));
    free(t1), free(t2), free(t3), free(p), free(ph);
    json_decref(jwks);
    key_free(&r), key_free(&e);
}

UNIT_TEST(verify_refusals)
{
    TestKey r = key_new(true, "r1"), other = key_new(true, "r1");
    json_t *jwks = jwks_of(&r, NULL);
    const char *why;
    char *p = payload(1700000000, ",\"nonce\":\"n-1\"");
    char *good = sign(&r, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", p);
    CHECK(verify(good, jwks, "n-1", &why));

    /* Wrong nonce, missing nonce, a nonce where none was passed. */
    CHECK(!verify(good, jwks, "n-2", &why) && strstr(why, "nonce"));
    CHECK(!verify(good, jwks, NULL, &why) && strstr(why, "nonce"));
    char *pn = payload(1700000000, "");
    char *nononce = sign(&r, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", pn);
    CHECK(!verify(nononce, jwks, "n-1", &why));
    CHECK(verify(nononce, jwks, NULL, &why));

    /* Another key with the same kid: bad signature. */
    char *forged = sign(&other, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", p);
    CHECK(!verify(forged, jwks, "n-1", &why) && strstr(why, "signature"));
    /* Tampered payload. */
    char *tampered = strdup(good);
    char *dot = strchr(tampered, '.') + 1;
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    CHECK(!verify(tampered, jwks, "n-1", &why));
    /* alg none, HS256, unknown kid, crit. */
    char *none = sign(&r, "{\"alg\":\"none\"}", p);
    CHECK(!verify(none, jwks, "n-1", &why) && strstr(why, "algorithm"));
    char *hs = sign(&r, "{\"alg\":\"HS256\",\"kid\":\"r1\"}", p);
    CHECK(!verify(hs, jwks, "n-1", &why));
    char *kid = sign(&r, "{\"alg\":\"RS256\",\"kid\":\"zz\"}", p);
    CHECK(!verify(kid, jwks, "n-1", &why) && strstr(why, "no key"));
    char *crit = sign(&r, "{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[\"x\"]}", p);
    CHECK(!verify(crit, jwks, "n-1", &why));
    /* An ES256 header on an RSA key. */
    char *confused = sign(&r, "{\"alg\":\"ES256\",\"kid\":\"r1\"}", p);
    CHECK(!verify(confused, jwks, "n-1", &why));

    /* Claims: iss, aud, exp, nbf, iat, sub. */
    struct {
        const char *payload;
        const char *why;
    } claims[] = {
        {"{\"iss\":\"https://evil\",\"aud\":\"" AUD "\",\"sub\":\"u-1\",\"exp\":1700000300}",
         "iss"},
        {"{\"iss\":\"" ISS "\",\"aud\":\"other\",\"sub\":\"u-1\",\"exp\":1700000300}", "aud"},
        {"{\"iss\":\"" ISS "\",\"aud\":[\"other\",\"" AUD "\"],\"sub\":\"u-1\",\"exp\":1700000300}",
         "azp"},
        {"{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u-1\",\"exp\":1699999900}", "expired"},
        {"{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"u-1\"}", "exp"},
        {"{\"iss\":\"" ISS "\",\"aud\":\"" AUD
         "\",\"sub\":\"u-1\",\"exp\":1700000300,\"nbf\":1700000100}",
         "not valid yet"},
        {"{\"iss\":\"" ISS "\",\"aud\":\"" AUD
         "\",\"sub\":\"u-1\",\"exp\":1700000300,\"iat\":1700000100}",
         "future"},
        {"{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1700000300}", "sub"},
    };
    for (size_t i = 0; i < sizeof claims / sizeof *claims; i++) {
        char *t = sign(&r, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims[i].payload);
        bool ok = verify(t, jwks, NULL, &why);
        CHECK(!ok && strstr(why, claims[i].why));
        if (ok || !strstr(why, claims[i].why))
            printf("#   case %zu: %s\n", i, why);
        free(t);
    }
    /* A multi-audience token whose azp is this client is fine; skew holds. */
    char *multi = sign(&r, "{\"alg\":\"RS256\",\"kid\":\"r1\"}",
                       "{\"iss\":\"" ISS "\",\"aud\":[\"other\",\"" AUD "\"],\"azp\":\"" AUD
                       "\",\"sub\":\"u-1\",\"exp\":1699999950}");
    CHECK(verify(multi, jwks, NULL, &why));

    /* Not JWTs. */
    CHECK(!verify("", jwks, NULL, &why));
    CHECK(!verify("a.b", jwks, NULL, &why));
    CHECK(!verify("a.b.c.d", jwks, NULL, &why));
    CHECK(!verify("@@@.@@@.@@@", jwks, NULL, &why));

    free(good), free(p), free(pn), free(nononce), free(forged), free(tampered), free(none);
    free(hs), free(kid), free(crit), free(confused), free(multi);
    json_decref(jwks);
    key_free(&r), key_free(&other);
}

UNIT_TEST(redirect_allowlist)
{
    const char *site = "http://localhost:3000";
    const char *list = "https://app.example.com/auth/**, https://b.example.com";
    CHECK(oauth_redirect_allowed(site, list, "http://localhost:3000"));
    CHECK(oauth_redirect_allowed(site, list, "http://localhost:3000/"));
    CHECK(oauth_redirect_allowed(site, list, "http://localhost:3000/a/b?c=d#e"));
    CHECK(oauth_redirect_allowed(site, list, "http://localhost:3000?x=1"));
    CHECK(oauth_redirect_allowed(site, list, "https://app.example.com/auth/callback?x=1"));
    CHECK(oauth_redirect_allowed(site, list, "https://b.example.com"));
    CHECK(oauth_redirect_allowed(site, list, "https://b.example.com/"));
    CHECK(oauth_redirect_allowed(site, list, "https://app.example.com/auth/a/b"));
    CHECK(oauth_redirect_allowed("http://localhost:3000/", NULL, "http://localhost:3000/x"));

    const char *bad[] = {
        "http://localhost:30000",          /* another port */
        "http://localhost:3000.evil.com/", /* a longer host */
        "http://localhost:3000@evil.com/", /* user info */
        "http://user@localhost:3000/",     /* user info */
        "https://localhost:3000/",         /* another scheme */
        "https://app.example.com/other",   /* outside the wildcard */
        "https://b.example.com.evil.com",  /* a longer host */
        "https://b.example.com/anything",  /* below a plain entry: exact only */
        "https://app.example.com/authx",   /* beside the subtree */
        "javascript:alert(1)",             /* not http(s) */
        "//evil.com",                      /* scheme-relative */
        "/relative",                       /* relative */
        "http://localhost:3000/\\evil",    /* backslash */
        "http://localhost:3000/ x",        /* whitespace */
        "http://localhost:3000/\nx",       /* control character */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(!oauth_redirect_allowed(site, list, bad[i]));
        if (oauth_redirect_allowed(site, list, bad[i]))
            printf("#   allowed: %s\n", bad[i]);
    }
    CHECK(!oauth_redirect_allowed(NULL, NULL, "http://localhost:3000"));
    CHECK(!oauth_redirect_allowed("", "", "http://localhost:3000"));
    CHECK(!oauth_redirect_allowed(site, list, NULL));
}

UNIT_TEST(redirect_urls)
{
    KilnBuf b = KILN_BUF_INIT;
    oauth_fragment_url(&b, "http://app.test/done?x=1#old",
                       "{\"access_token\":\"a.b.c\",\"expires_at\":1700003600,\"expires_in\":3600,"
                       "\"refresh_token\":\"r-1\",\"token_type\":\"bearer\"}",
                       "p t");
    CHECK_STR_EQ(buf_str(&b), "http://app.test/done?x=1#access_token=a.b.c&expires_at=1700003600"
                              "&expires_in=3600&provider_token=p%20t&refresh_token=r-1"
                              "&token_type=bearer");
    buf_reset(&b);
    oauth_error_url(&b, "http://app.test/done#x", "invalid_request", "bad_id_token",
                    "nonce & more");
    CHECK_STR_EQ(buf_str(&b), "http://app.test/done?error=invalid_request&error_code=bad_id_token"
                              "&error_description=nonce%20%26%20more#error=invalid_request"
                              "&error_code=bad_id_token&error_description=nonce%20%26%20more");
    buf_reset(&b);
    oauth_error_url(&b, "http://app.test/done?x=1", "e", "c", "d");
    CHECK_STR_EQ(buf_str(&b), "http://app.test/done?x=1&error=e&error_code=c&error_description=d"
                              "#error=e&error_code=c&error_description=d");
    buf_free(&b);
}

UNIT_MAIN()
