/*
 * devkeys.h: the key material `kiln dev` generates: base64url text, random
 * tokens and HS256-signed JWTs (the legacy `anon` / `service_role` keys).
 *
 * A leaf module: no daemon headers except error.h, no I/O besides the
 * kernel's random source, never logs. Functions return false with a reason
 * in the caller's KilnError (status 0, code "devkeys"). Thread-safe.
 */
#ifndef KILN_DEVKEYS_H
#define KILN_DEVKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "error.h"

/* Lifetime of the legacy JWT keys: ten years of 365 days, in seconds. */
#define KILN_DEVKEYS_LEGACY_TTL_S (10L * 365 * 24 * 60 * 60)

/* Number of characters (without the NUL) that unpadded base64url needs for
 * n bytes. */
size_t devkeys_b64url_len(size_t n);

/* Encodes in[0..n) as unpadded base64url (RFC 4648 section 5) into out,
 * NUL-terminated. out has room for outlen bytes; returns false (out set to
 * "" when outlen > 0) when devkeys_b64url_len(n) + 1 > outlen. */
bool devkeys_b64url_encode(const void *in, size_t n, char *out, size_t outlen);

/* Fills out with exactly nchars random base64url characters (6 bits of
 * kernel randomness each) and a NUL; out must hold nchars + 1 bytes.
 * Returns false with err when the random source fails. */
bool devkeys_random_token(char *out, size_t nchars, KilnError *err);

/* Signs a JWT with HS256: base64url({"alg":"HS256","typ":"JWT"}) "."
 * base64url(payload_json) "." base64url(HMAC-SHA256(secret, first two)).
 * payload_json is used byte for byte (the caller makes it valid JSON).
 * On success *out is a malloc'd NUL-terminated token the caller frees;
 * on failure *out is NULL and err says why (empty secret, HMAC failure). */
bool devkeys_jwt_hs256(const char *payload_json, const char *secret, char **out, KilnError *err);

/* The legacy API key for `role` ("anon" or "service_role": lower-case
 * letters and '_' only): devkeys_jwt_hs256 of
 * {"iss":"kiln","role":ROLE,"iat":IAT,"exp":IAT+KILN_DEVKEYS_LEGACY_TTL_S}.
 * Same ownership as devkeys_jwt_hs256. */
bool devkeys_legacy_key(const char *role, const char *secret, time_t iat, char **out,
                        KilnError *err);

#endif
