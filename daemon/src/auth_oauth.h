/*
 * auth_oauth.h: sign-in with external OAuth 2.0 / OpenID Connect providers
 * under /auth/v1 (auth_oauth.c): GET /authorize, GET /callback,
 * GET /user/identities/authorize (linkIdentity) and
 * POST /token?grant_type=id_token.
 */
#ifndef KILN_AUTH_OAUTH_H
#define KILN_AUTH_OAUTH_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "error.h"
#include "pool.h"
#include "request.h"

/* True when rest (the path after /auth/v1/) and the request are one of the
 * endpoints above; auth_serve then hands the request to auth_oauth_serve. */
bool auth_oauth_wants(const KilnRequest *req, const char *rest);

/* Serves the request (auth_oauth_wants was true). Runs on a worker with a
 * pooled connection, which it keeps while it talks to the provider (10 s
 * timeout per call). Always fills res; returns true. */
bool auth_oauth_serve(KilnRequest *req, const char *rest, KilnConn *conn, bool *conn_broken,
                      KilnResponse *res);

/* Sets external.<name> to true for every provider of the providers file at
 * path (GET /settings); nothing when path is NULL, empty or unreadable. */
void oauth_mark_providers(const char *path, json_t *external);

/* Is url an allowed redirect target? It must be an absolute http(s) URL
 * without user info, whitespace, backslashes or control characters, and
 * either start with site (followed by nothing, '/', '?' or '#'), or match an
 * entry of list (comma-separated): exactly or the same way as site, or, for
 * an entry ending in '*', start with what precedes the '*'. site and list
 * may be NULL or "". Pure. */
bool oauth_redirect_allowed(const char *site, const char *list, const char *url);

/* Appends to out the redirect target with a session in the fragment, as
 * GoTrue's implicit flow does: url (its fragment dropped) + "#access_token=
 * ...&expires_at=...&expires_in=...&provider_token=...&refresh_token=...&
 * token_type=bearer". session is the flow's session object; provider_token
 * may be NULL. Pure. */
void oauth_fragment_url(KilnBuf *out, const char *url, const char *session_json,
                        const char *provider_token);

/* Appends the redirect target of the PKCE flow: url (its fragment
 * dropped) with code=<code> added to its query. Pure. */
void oauth_code_url(KilnBuf *out, const char *url, const char *code);

/* Appends url (fragment dropped) with error, error_code and
 * error_description in the query and the fragment. Pure. */
void oauth_error_url(KilnBuf *out, const char *url, const char *error, const char *code,
                     const char *description);

#endif
