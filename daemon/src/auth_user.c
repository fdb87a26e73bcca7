/*
 * auth_user.c: the account endpoints of the signed-in user under /auth/v1
 * (supabase-wire §3.2): reauthenticate (a nonce by mail), PUT user behind
 * the reauthentication check (auth_secure_password_change), unlinking an
 * identity, and the PKCE ends of the mail flows (otp, resend, recover), where the
 * mail's link answers ?code= for grant_type=pkce instead of a session.
 *
 * Every endpoint is one flow of sql/kiln_auth/45-account.sql; this file
 * only plans the call (pure: no I/O, no globals) for auth_api.c's endpoint
 * table, which runs it. It never decides who a caller is (the flows read
 * the verified context) and never looks at a nonce or password: those go
 * to the flow as they came.
 */
#include "auth_user.h"

#include <string.h>

#include "sql_auth.h"

bool auth_user_plan_reauthenticate(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    (void)r;
    const char *params[] = {c->settings};
    auth_plan_set(p, sql_auth_reauthenticate(), 1, params);
    return true;
}

bool auth_user_pkce_pair(json_t *body, const char **challenge, const char **method, AuthRefusal *r)
{
    if (!auth_body_string(body, "code_challenge", challenge, r) ||
        !auth_body_string(body, "code_challenge_method", method, r))
        return false;
    if (!*challenge != !*method)
        return auth_refuse(r, 400, "validation_failed",
                           "PKCE flow requires code_challenge_method and code_challenge");
    return true;
}

bool auth_user_plan_update(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *ignored, *challenge, *method;
    if (!auth_body_string(c->body, "password", &ignored, r) ||
        !auth_body_string(c->body, "email", &ignored, r) ||
        !auth_body_string(c->body, "phone", &ignored, r) ||
        !auth_body_string(c->body, "nonce", &ignored, r) ||
        !auth_body_string(c->body, "current_password", &ignored, r) ||
        !auth_user_pkce_pair(c->body, &challenge, &method, r))
        return false;
    json_t *data = json_object_get(c->body, "data");
    if (data && !json_is_null(data) && !json_is_object(data))
        return auth_refuse(r, 400, "bad_json", "data must be a JSON object");
    const char *params[] = {auth_whole_body(c->body, p), c->settings};
    auth_plan_set(p, sql_auth_update_account(), 2, params);
    return true;
}

bool auth_user_plan_unlink(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *id = c->rest + strlen("user/identities/");
    if (!auth_is_uuid(id))
        return auth_refuse(r, 404, "identity_not_found", "Identity doesn't exist");
    const char *params[] = {id};
    auth_plan_set(p, sql_auth_unlink_identity(), 1, params);
    return true;
}

bool auth_user_plan_otp_pkce(AuthCtx *c, AuthPlan *p, const char *const params[4], bool *planned,
                             AuthRefusal *r)
{
    const char *challenge, *method;
    *planned = false;
    if (!auth_user_pkce_pair(c->body, &challenge, &method, r))
        return false;
    if (!challenge)
        return true;
    const char *all[] = {params[0], params[1], params[2], params[3], challenge, method};
    auth_plan_set(p, sql_auth_send_otp_pkce(), 6, all);
    *planned = true;
    return true;
}

bool auth_user_plan_recover_pkce(AuthCtx *c, AuthPlan *p, const char *const params[2],
                                 bool *planned, AuthRefusal *r)
{
    const char *challenge, *method;
    *planned = false;
    if (!auth_user_pkce_pair(c->body, &challenge, &method, r))
        return false;
    if (!challenge)
        return true;
    const char *all[] = {params[0], params[1], challenge, method};
    auth_plan_set(p, sql_auth_recover_pkce(), 4, all);
    *planned = true;
    return true;
}

bool auth_user_plan_resend_pkce(AuthCtx *c, AuthPlan *p, const char *const params[3], bool *planned,
                                AuthRefusal *r)
{
    const char *challenge, *method;
    *planned = false;
    if (!auth_user_pkce_pair(c->body, &challenge, &method, r))
        return false;
    if (!challenge)
        return true;
    const char *all[] = {params[0], params[1], params[2], challenge, method};
    auth_plan_set(p, sql_auth_resend_pkce(), 5, all);
    *planned = true;
    return true;
}
