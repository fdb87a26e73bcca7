/*
 * sql_auth.h: the SQL text of the /auth/v1 endpoints.
 *
 * Pure: constant text only. Each statement calls one flow of
 * sql/kiln_auth/40-flows.sql with $n text parameters and returns the one
 * row tx_run expects: (body text, status int8, total int8 or NULL). The
 * flows answer jsonb, either the response body or {"error": {...}}; the
 * statement turns that into the body (the response, or the error object)
 * and the HTTP status (200, or the error's). It never builds SQL from
 * request text.
 */
#ifndef KILN_SQL_AUTH_H
#define KILN_SQL_AUTH_H

/* $1 email, $2 password, $3 data (jsonb text or NULL), $4 settings. */
const char *sql_auth_sign_up(void);
/* $1 data (jsonb text or NULL), $2 settings. */
const char *sql_auth_sign_in_anonymously(void);
/* $1 email, $2 password, $3 settings. */
const char *sql_auth_sign_in_password(void);
/* $1 refresh token, $2 settings. */
const char *sql_auth_refresh(void);
/* $1 scope (global, local, others). */
const char *sql_auth_sign_out(void);
const char *sql_auth_get_user(void);
/* $1 attributes (jsonb text), $2 settings. */
const char *sql_auth_update_user(void);
/* $1 page, $2 per_page (int text or NULL); total is the user count. */
const char *sql_auth_admin_list(void);
/* $1 attributes (jsonb text), $2 settings. */
const char *sql_auth_admin_create(void);
/* $1 user id (uuid text). */
const char *sql_auth_admin_get(void);
/* $1 user id, $2 attributes (jsonb text), $3 settings. */
const char *sql_auth_admin_update(void);
/* $1 user id, $2 soft ("true"/"false"). */
const char *sql_auth_admin_delete(void);
/* The public keys: kiln.jwks(). */
const char *sql_auth_jwks(void);
/* $1 a body the daemon built (settings, health): echoed, status 200. */
const char *sql_auth_echo(void);
/* OAuth (43-oauth.sql). $1 provider, $2 redirect_to, $3 settings. */
const char *sql_auth_oauth_begin(void);
/* $1 state. */
const char *sql_auth_oauth_consume(void);
/* $1 provider, $2 subject, $3 identity data (jsonb text), $4 email verified
 * ("true"/"false"), $5 settings. */
const char *sql_auth_sign_in_external(void);
/* $1 provider, $2 reason (an error code): the audit row of a refusal. */
const char *sql_auth_oauth_failed(void);

/* MFA and PKCE (sql/kiln_auth/42-mfa.sql). */
/* $1 params {factor_type, friendly_name, issuer} (jsonb text), $2 settings. */
const char *sql_auth_mfa_enroll(void);
/* $1 factor id, $2 settings. */
const char *sql_auth_mfa_challenge(void);
/* $1 factor id, $2 challenge id, $3 code, $4 settings. */
const char *sql_auth_mfa_verify(void);
/* $1 factor id. */
const char *sql_auth_mfa_unenroll(void);
/* $1 user id. */
const char *sql_auth_admin_list_factors(void);
/* $1 user id, $2 factor id. */
const char *sql_auth_admin_delete_factor(void);
/* sql_auth_sign_up's parameters, then $5 code challenge, $6 its method. */
const char *sql_auth_sign_up_pkce(void);
/* $1 auth code, $2 code verifier, $3 settings. */
const char *sql_auth_token_pkce(void);


/* Email flows (sql/kiln_auth/41-mail.sql). */
/* $1 email, $2 create_user ("true"/"false"), $3 data (jsonb text or NULL), $4 settings. */
const char *sql_auth_send_otp(void);
/* $1 email, $2 settings. */
const char *sql_auth_recover(void);
/* $1 type, $2 email, $3 settings. */
const char *sql_auth_resend(void);
/* $1 type, $2 token, $3 token_hash, $4 email, $5 settings. */
const char *sql_auth_verify(void);
/* $1 type, $2 token (the link's), $3 redirect_to, $4 settings: {"location"}. */
const char *sql_auth_verify_link(void);
/* $1 email, $2 data (jsonb text or NULL), $3 settings. */
const char *sql_auth_admin_invite(void);
/* $1 attributes (jsonb text), $2 settings. */
const char *sql_auth_admin_generate_link(void);

/* The outbox (39-outbox.sql), for the senders (outbox.c), each on its own
 * connection, and `kiln mail` / `kiln sms`; $1 is always the channel
 * (email, sms); one row, one column. LISTEN for new rows (the payload
 * names the channel); claim ($2 max rows, $3 lease seconds: a JSON array);
 * done ($2 id, $3 outcome sent|kept|retry, $4 error or NULL, $5 max
 * attempts: the new status); list ($2 limit, $3 recipient or NULL: a JSON
 * array); prune (finished messages older than 30 days: the count). */
const char *sql_auth_outbox_listen(void);
const char *sql_auth_outbox_claim(void);
const char *sql_auth_outbox_done(void);
const char *sql_auth_outbox_list(void);
const char *sql_auth_outbox_prune(void);

/* Account flows (sql/kiln_auth/45-account.sql). */
/* $1 settings. */
const char *sql_auth_reauthenticate(void);
/* $1 attributes (jsonb text: data, password, email, nonce, current_password,
 * code_challenge, code_challenge_method), $2 settings. */
const char *sql_auth_update_account(void);
/* sql_auth_send_otp's parameters, then $5 code challenge, $6 its method. */
const char *sql_auth_send_otp_pkce(void);
/* sql_auth_recover's parameters, then $3 code challenge, $4 its method. */
const char *sql_auth_recover_pkce(void);
/* sql_auth_resend's parameters, then $4 code challenge, $5 its method. */
const char *sql_auth_resend_pkce(void);
/* $1 identity id (uuid text). */
const char *sql_auth_unlink_identity(void);
/* sql_auth_oauth_begin's parameters, then $4 code challenge, $5 its method
 * (both NULL for the implicit flow in the link variant). */
const char *sql_auth_oauth_begin_pkce(void);
const char *sql_auth_oauth_begin_link(void);
/* sql_auth_sign_in_external's parameters, then $6 code challenge, $7 its
 * method: {"code"}. */
const char *sql_auth_sign_in_external_pkce(void);
/* $1 user id, then sql_auth_sign_in_external's parameters, then $7 code
 * challenge, $8 its method (NULL for a session). */
const char *sql_auth_link_identity(void);

/* Phone (46-phone.sql). $1 phone, $2 password, $3 data, $4 settings. */
const char *sql_auth_sign_up_phone(void);
/* $1 phone, $2 password, $3 settings. */
const char *sql_auth_sign_in_phone_password(void);
/* $1 phone, $2 create_user ("true"/"false"), $3 data, $4 settings. */
const char *sql_auth_send_sms_otp(void);
/* $1 type (sms, phone_change), $2 phone, $3 settings. */
const char *sql_auth_resend_phone(void);
/* $1 type (sms, phone_change), $2 code, $3 phone, $4 settings. */
const char *sql_auth_verify_phone(void);

#endif
