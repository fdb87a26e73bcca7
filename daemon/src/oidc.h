/*
 * oidc.h: OpenID Connect for sign-in with external providers (oidc.c):
 * ID token verification (pure), discovery and JWKS fetched over libcurl and
 * cached, and the two HTTP calls of the code flow (token exchange, user
 * info).
 *
 * Leaf code: never includes daemon headers beyond buf.h and error.h, never
 * logs; failures come back as a KilnError whose message is safe to show
 * (it names the check that failed, never a token or a secret).
 */
#ifndef KILN_OIDC_H
#define KILN_OIDC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

/* What an ID token must show besides a good signature. */
typedef struct OidcExpect {
    const char *issuer;    /* iss must equal it */
    const char *client_id; /* aud must be it or contain it; with several
                            * audiences azp must be it */
    const char *nonce;     /* the nonce passed (the flow's, or the grant's): the
                            * token's must equal it or its lower-case hex
                            * SHA-256. NULL: a token carrying a nonce is
                            * refused unless nonce_optional */
    bool nonce_optional;
    long long now; /* unix seconds */
    int skew_s;    /* leeway for exp, nbf and iat */
} OidcExpect;

/* Verifies an RS256 or ES256 compact JWS token against jwks (a JWKS object
 * {"keys":[...]}) and the claims expect names. Other algorithms (none, HS*) are refused; the
 * key is the one whose kid matches (or, without a kid, the only key that
 * fits the algorithm). Returns true with *claims (new reference, caller
 * decrefs) the verified payload; false with err 400 "bad_id_token". Pure;
 * any thread. *unknown_kid is set when no key matched (the caller may
 * refresh the JWKS once). */
bool oidc_verify_id_token(const char *token, json_t *jwks, const OidcExpect *expect,
                          json_t **claims, bool *unknown_kid, KilnError *err);

/* Strict base64url (no padding, no whitespace) decoding into a new malloc'd
 * buffer (NUL-terminated for convenience); NULL on bad input. Pure. */
unsigned char *oidc_b64url_decode(const char *s, size_t len, size_t *outlen);

/* Appends s percent-encoded for a URL query or form value
 * (application/x-www-form-urlencoded, unreserved characters kept). Pure. */
void oidc_url_encode(KilnBuf *out, const char *s);

/* The endpoints of an issuer, from its discovery document. */
typedef struct OidcEndpoints {
    char issuer[512];
    char authorization_endpoint[512];
    char token_endpoint[512];
    char userinfo_endpoint[512];
    char jwks_uri[512];
} OidcEndpoints;

/* GET <issuer>/.well-known/openid-configuration, cached for an hour per
 * issuer; the document's issuer must equal the configured one. Thread-safe
 * (one mutex around the cache; the fetch runs outside it). */
bool oidc_discover(const char *issuer, OidcEndpoints *out, KilnError *err);

/* The JWKS at uri (new reference, caller decrefs), cached 10 minutes;
 * refresh forces a fetch unless the last one was under 30 s ago.
 * Thread-safe. */
bool oidc_jwks(const char *uri, bool refresh, json_t **out, KilnError *err);

/* POST form (already encoded) to url; the answer must be a JSON object
 * (new reference in *out). A non-2xx answer is an error 502
 * "provider_error" with the provider's error code in the message. No
 * redirects followed; 10 s timeout. */
bool oidc_http_post_form(const char *url, const char *form, json_t **out, KilnError *err);

/* GET url with Authorization: Bearer bearer (NULL: none) and
 * Accept: application/json; a JSON object in *out. As above. */
bool oidc_http_get_json(const char *url, const char *bearer, json_t **out, KilnError *err);

/* Drops every cached document (tests; on reload). */
void oidc_cache_clear(void);

#endif
