/*
 * identity.h: interfaces between the identity modules of the kiln library
 * (crypto_jwt.c, keys.c, token_cache.c, context.c).
 *
 * Private to those files: other modules use kiln_context_current() from
 * kiln.h. Declares the key, the verified-token result and the functions
 * that produce them; defines no data.
 */
#ifndef KILN_IDENTITY_H
#define KILN_IDENTITY_H

#include "kiln.h"

#include <openssl/evp.h>

/*
 * A key row of kiln.jwt_keys as the key cache holds it (keys.c). All memory
 * belongs to the key cache's context under CacheMemoryContext, except pkey,
 * which OpenSSL allocated and the cache frees; secrets are wiped on flush.
 * Pointers are valid until the next invalidation of kiln.jwt_keys: callers
 * never keep them across a statement.
 */
typedef struct KilnJwtKey {
    char *kid;
    KilnJwtAlg alg;
    uint8 *secret;       /* HS256: HMAC secret; ES256: private key DER; EdDSA: 64-byte sk */
    size_t secret_len;
    EVP_PKEY *pkey;      /* ES256 only */
    EVP_MD_CTX *hmac_inner; /* HS256 only: SHA-256 states after the padded key */
    EVP_MD_CTX *hmac_outer;
    EVP_PKEY_CTX *sign_ctx; /* ES256 only: signing context, made on first signature */
    bool signing;
    bool verify;
    bool trusted_tenant; /* honour the tenant_id claim of tokens it signed */
    int n_issuers;       /* -1: use kiln.jwt_issuers */
    char **issuers;
    int n_audiences;     /* -1: use kiln.jwt_audiences */
    char **audiences;
} KilnJwtKey;

/*
 * Result of verifying a token (JWT or opaque API key). Strings and claims
 * live in whichever context the producer says; role is a static string.
 */
typedef struct KilnVerified {
    const char *role;
    bool has_user;
    pg_uuid_t user_id;
    bool has_tenant;
    pg_uuid_t tenant_id;
    bool has_session;
    pg_uuid_t session_id;
    char *aal;          /* may be NULL */
    char *email;        /* may be NULL */
    double exp;         /* unix seconds; +infinity for API keys */
    Jsonb *claims;      /* NULL until kiln_verified_claims builds it */
    char *claims_text;  /* claims as JSON text (checked strictly), never NULL */
} KilnVerified;

/* kiln_verified_claims: v->claims, built from v->claims_text on first use (current context). */
extern Jsonb *kiln_verified_claims(KilnVerified *v);

/* KilnJwtAlg, the JSON scanner and the token parse stages: jwt_parse.h (through kiln.h). */

/* crypto_jwt.c */

/*
 * kiln_jwt_verify: verifies a compact JWS and its claims against the key
 * cache: signature first, then exp (required), nbf, iat with 30 s skew,
 * iss and aud against the allowlists, role against the app roles. Fills
 * *out with palloc'd data in the current context. Raises KL001 (invalid)
 * or KL002 (expired); never checks revocation (callers do).
 */
extern void kiln_jwt_verify(const char *token, size_t len, KilnVerified *out);

/*
 * kiln_hmac_sha256: HMAC-SHA-256 of msg with an HS256 key's precomputed
 * states (OpenSSL, hardware SHA where the CPU has it). Returns false when
 * OpenSSL fails.
 */
extern bool kiln_hmac_sha256(const KilnJwtKey *key, const uint8 *msg, size_t len, uint8 out[32]);
/*
 * kiln_jwt_sign_active: claims_json (a JSON object's text, signed exactly as
 * given, as kiln.sign_jwt does) signed with the active signing key; the
 * palloc'd compact token. 55000 without a signing key. (auth_refresh.c)
 */
extern char *kiln_jwt_sign_active(const char *claims_json);
/* kiln_sha256_md: OpenSSL's SHA-256, fetched once per backend; NULL if unavailable. */
extern const EVP_MD *kiln_sha256_md(void);
/* kiln_hmac_prepare: fills key->hmac_inner/outer from key->secret (keys.c calls it at load). */
extern bool kiln_hmac_prepare(KilnJwtKey *key);


/* keys.c */

/* The cached keys (loaded on first use; 55000 when keys exist but no master key). */
extern const KilnJwtKey *kiln_keys_get(int *n);
/* Drops the key cache (wiping secrets) and the token cache. Never fails. */
extern void kiln_keys_flush(void);
/*
 * kiln_api_key_lookup: looks up an opaque key (sb_publishable_/sb_secret_)
 * by its SHA-256. Returns false when unknown; raises KL003 when revoked.
 * Fills *out (palloc'd in the current context).
 */
extern bool kiln_api_key_lookup(const char *token, size_t len, KilnVerified *out);
/* kiln_session_revoked: whether kiln.revoked_sessions holds the session. */
extern bool kiln_session_revoked(const pg_uuid_t *session_id);
/* Runs fn(arg) as the owner of schema kiln's tables (SPI inside is the caller's). */
extern void kiln_as_owner(void (*fn)(void *), void *arg);

/* token_cache.c */

/*
 * SHA-256 of a per-backend random 64-byte block followed by the token: the
 * cache key (the cache never holds tokens). Hardware SHA where available.
 */
extern void kiln_token_hash(const char *token, size_t len, uint8 out[32]);
/*
 * kiln_token_cache_get: on a hit whose exp (+30 s skew) has not passed,
 * fills *out with pointers into the cache (valid until the next cache
 * flush: copy before running anything that may invalidate) and returns
 * true.
 */
extern bool kiln_token_cache_get(const uint8 key[32], KilnVerified *out);
/* kiln_token_cache_put: copies *v into the cache (no-op when disabled). */
extern void kiln_token_cache_put(const uint8 key[32], const KilnVerified *v);
/* kiln_token_cache_flush: drops every entry. Never fails. */
extern void kiln_token_cache_flush(void);

#endif /* KILN_IDENTITY_H */
