/*
 * sql_auth.c: the SQL text of the /auth/v1 endpoints (sql_auth.h).
 *
 * Every statement is one call of a flow wrapped by FLOW(): the flow's jsonb
 * r becomes (body, status, total): r itself with status 200, or r->'error'
 * with its status. Values are always $n parameters.
 */
#include "sql_auth.h"

#define FLOW(call)                                                                         \
    "SELECT CASE WHEN r ? 'error' THEN (r -> 'error')::text ELSE r::text END, "            \
    "COALESCE((r -> 'error' ->> 'status')::int8, 200), NULL::int8 FROM " call \
    " AS f(r)"

const char *sql_auth_sign_up(void)
{
    return FLOW("auth.sign_up($1, $2, $3::jsonb, $4::jsonb)");
}

const char *sql_auth_sign_in_anonymously(void)
{
    return FLOW("auth.sign_in_anonymously($1::jsonb, $2::jsonb)");
}

const char *sql_auth_sign_in_password(void)
{
    return FLOW("auth.sign_in_password($1, $2, $3::jsonb)");
}

const char *sql_auth_refresh(void)
{
    return FLOW("auth.refresh_session($1, $2::jsonb)");
}

const char *sql_auth_sign_out(void)
{
    return FLOW("auth.sign_out($1)");
}

const char *sql_auth_get_user(void)
{
    return FLOW("auth.get_user()");
}

const char *sql_auth_update_user(void)
{
    return FLOW("auth.update_user($1::jsonb, $2::jsonb)");
}

const char *sql_auth_admin_list(void)
{
    /* total moves from the body to the third column (X-Total-Count). */
    return "SELECT CASE WHEN r ? 'error' THEN (r -> 'error')::text ELSE (r - 'total')::text END, "
           "COALESCE((r -> 'error' ->> 'status')::int8, 200), (r ->> 'total')::int8 "
           "FROM auth.admin_list_users($1::int4, $2::int4) AS f(r)";
}

const char *sql_auth_admin_create(void)
{
    return FLOW("auth.admin_create_user($1::jsonb, $2::jsonb)");
}

const char *sql_auth_admin_get(void)
{
    return FLOW("auth.admin_get_user($1::uuid)");
}

const char *sql_auth_admin_update(void)
{
    return FLOW("auth.admin_update_user($1::uuid, $2::jsonb, $3::jsonb)");
}

const char *sql_auth_admin_delete(void)
{
    return FLOW("auth.admin_delete_user($1::uuid, $2::bool)");
}

const char *sql_auth_jwks(void)
{
    return "SELECT kiln.jwks()::text, 200::int8, NULL::int8";
}

const char *sql_auth_echo(void)
{
    return "SELECT $1::text, 200::int8, NULL::int8";
}

/* ---- MFA and PKCE (auth_mfa.c; sql/kiln_auth/42-mfa.sql) ---------------- */

const char *sql_auth_mfa_enroll(void)
{
    return FLOW("auth.mfa_enroll($1::jsonb, $2::jsonb)");
}

const char *sql_auth_mfa_challenge(void)
{
    return FLOW("auth.mfa_challenge($1::uuid, $2::jsonb)");
}

const char *sql_auth_mfa_verify(void)
{
    return FLOW("auth.mfa_verify($1::uuid, $2::uuid, $3, $4::jsonb)");
}

const char *sql_auth_mfa_unenroll(void)
{
    return FLOW("auth.mfa_unenroll($1::uuid)");
}

const char *sql_auth_admin_list_factors(void)
{
    return FLOW("auth.admin_list_factors($1::uuid)");
}

const char *sql_auth_admin_delete_factor(void)
{
    return FLOW("auth.admin_delete_factor($1::uuid, $2::uuid)");
}

const char *sql_auth_sign_up_pkce(void)
{
    return FLOW("auth.sign_up_pkce($1, $2, $3::jsonb, $4::jsonb, $5, $6)");
}

const char *sql_auth_token_pkce(void)
{
    return FLOW("auth.token_pkce($1, $2, $3::jsonb)");
}

/* ---- OAuth / OIDC (auth_oauth.c; sql/kiln_auth/43-oauth.sql) ---------- */

const char *sql_auth_oauth_begin(void)
{
    return FLOW("auth.oauth_begin($1, $2, $3::jsonb)");
}

const char *sql_auth_oauth_consume(void)
{
    return FLOW("auth.oauth_consume($1)");
}

const char *sql_auth_sign_in_external(void)
{
    return FLOW("auth.sign_in_external($1, $2, $3::jsonb, $4::bool, $5::jsonb)");
}

const char *sql_auth_oauth_failed(void)
{
    return FLOW("auth.oauth_failed($1, $2, $3::jsonb)");
}

/* ---- email (41-mail.sql) -------------------------------------------------- */

const char *sql_auth_send_otp(void)
{
    return FLOW("auth.send_otp($1, $2::bool, $3::jsonb, $4::jsonb)");
}

const char *sql_auth_recover(void)
{
    return FLOW("auth.recover($1, $2::jsonb)");
}

const char *sql_auth_resend(void)
{
    return FLOW("auth.resend($1, $2, $3::jsonb)");
}

const char *sql_auth_verify(void)
{
    return FLOW("auth.verify($1, $2, $3, $4, $5::jsonb)");
}

const char *sql_auth_verify_link(void)
{
    return FLOW("auth.verify_link($1, $2, $3, $4::jsonb)");
}

const char *sql_auth_admin_invite(void)
{
    return FLOW("auth.admin_invite($1, $2::jsonb, $3::jsonb)");
}

const char *sql_auth_admin_generate_link(void)
{
    return FLOW("auth.admin_generate_link($1::jsonb, $2::jsonb)");
}

/* ---- the outbox (39-outbox.sql) ----------------------------------------- */

const char *sql_auth_outbox_listen(void)
{
    return "LISTEN kiln_outbox";
}

const char *sql_auth_outbox_claim(void)
{
    return "SELECT auth.outbox_claim($1, $2::int4, $3::int4)::text";
}

const char *sql_auth_outbox_done(void)
{
    return "SELECT auth.outbox_done($1, $2::int8, $3, $4, $5::int4)";
}

const char *sql_auth_outbox_list(void)
{
    return "SELECT auth.outbox_list($1, $2::int4, $3)::text";
}

const char *sql_auth_outbox_prune(void)
{
    return "SELECT auth.outbox_prune($1, 30)::text";
}

/* ---- account flows (sql/kiln_auth/45-account.sql) ---------------------- */

const char *sql_auth_reauthenticate(void)
{
    return FLOW("auth.reauthenticate($1::jsonb)");
}

const char *sql_auth_update_account(void)
{
    return FLOW("auth.update_account($1::jsonb, $2::jsonb)");
}

const char *sql_auth_send_otp_pkce(void)
{
    return FLOW("auth.send_otp_pkce($1, $2::bool, $3::jsonb, $4::jsonb, $5, $6)");
}

const char *sql_auth_recover_pkce(void)
{
    return FLOW("auth.recover_pkce($1, $2::jsonb, $3, $4)");
}

const char *sql_auth_resend_pkce(void)
{
    return FLOW("auth.resend_pkce($1, $2, $3::jsonb, $4, $5)");
}

const char *sql_auth_unlink_identity(void)
{
    return FLOW("auth.unlink_identity($1::uuid)");
}

const char *sql_auth_oauth_begin_pkce(void)
{
    return FLOW("auth.oauth_begin_pkce($1, $2, $3::jsonb, $4, $5)");
}

const char *sql_auth_oauth_begin_link(void)
{
    return FLOW("auth.oauth_begin_link($1, $2, $3::jsonb, $4, $5)");
}

const char *sql_auth_sign_in_external_pkce(void)
{
    return FLOW("auth.sign_in_external_pkce($1, $2, $3::jsonb, $4::bool, $5::jsonb, $6, $7)");
}

const char *sql_auth_link_identity(void)
{
    return FLOW("auth.link_identity($1::uuid, $2, $3, $4::jsonb, $5::bool, $6::jsonb, $7, $8)");
}

/* ---- phone (46-phone.sql) ------------------------------------------------- */

const char *sql_auth_sign_up_phone(void)
{
    return FLOW("auth.sign_up_phone($1, $2, $3::jsonb, $4::jsonb)");
}

const char *sql_auth_sign_in_phone_password(void)
{
    return FLOW("auth.sign_in_phone_password($1, $2, $3::jsonb)");
}

const char *sql_auth_send_sms_otp(void)
{
    return FLOW("auth.send_sms_otp($1, $2::bool, $3::jsonb, $4::jsonb)");
}

const char *sql_auth_resend_phone(void)
{
    return FLOW("auth.resend_phone($1, $2, $3::jsonb)");
}

const char *sql_auth_verify_phone(void)
{
    return FLOW("auth.verify_phone($1, $2, $3, $4::jsonb)");
}
