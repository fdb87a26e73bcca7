/*
 * auth_api.h: the GoTrue-compatible API under /auth/v1 (auth_api.c).
 *
 * One route handler serves every /auth/v1 endpoint from its own table; the
 * helpers below are pure and exported for unit tests.
 */
#ifndef KILN_AUTH_API_H
#define KILN_AUTH_API_H

#include <stdbool.h>

#include "buf.h"
#include "config.h"
#include "pool.h"
#include "request.h"

/* The route handler for /auth/v1/ (route.c). Runs on a worker with a
 * pooled connection; always fills res (errors included, in GoTrue's
 * shapes) and returns true. */
bool auth_serve(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
                KilnError *err);

/* Appends the settings object the SQL flows take, from cfg's auth_* keys. */
void auth_settings_json(const KilnConfig *cfg, KilnBuf *out);

/* True when an X-Supabase-Api-Version value asks for the 2024-01-01 error
 * format (a YYYY-MM-DD date on or after it). NULL: false. */
bool auth_api_versioned(const char *header);

/* Fills res with an error in the format the request asked for:
 * versioned {"code","message"} (and the X-Supabase-Api-Version header);
 * unversioned, on the token endpoint for grant failures, the OAuth shape
 * {"error":"invalid_grant","error_description","error_code"}; otherwise
 * {"code":status,"error_code","msg"}. weak_reasons (JSON array text or
 * NULL) adds "weak_password":{"reasons":...}. Sets x-sb-error-code. */
void auth_render_error(KilnResponse *res, int status, const char *code, const char *message,
                       const char *weak_reasons, bool versioned, bool token_endpoint);

#endif
