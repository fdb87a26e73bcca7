/*
 * auth_mfa.c: the multi-factor endpoints of /auth/v1 and the pkce grant,
 * as plan functions of auth_api.c's endpoint table (supabase-wire §3.2,
 * §3.5):
 *
 *   POST   factors                         auth.mfa_enroll
 *   POST   factors/<id>/challenge          auth.mfa_challenge
 *   POST   factors/<id>/verify             auth.mfa_verify
 *   DELETE factors/<id>                    auth.mfa_unenroll
 *   GET    admin/users/<uid>/factors       auth.admin_list_factors
 *   DELETE admin/users/<uid>/factors/<fid> auth.admin_delete_factor
 *   POST   token?grant_type=pkce           auth.token_pkce
 *   POST   signup {..., code_challenge}    auth.sign_up_pkce
 *
 * Pure: each function reads the path and the parsed body and produces the
 * statement (sql_auth.c) and its parameters, or GoTrue's refusal. It never
 * touches the database, never checks codes or verifiers (the flows in
 * sql/kiln_auth/42-mfa.sql do) and never logs request bodies.
 */
#include "auth_mfa.h"

#include <stdlib.h>
#include <string.h>

#include "sql_auth.h"

/* Splits path (after a prefix) into up to two '/'-separated segments,
 * copied into storage owned by p. Returns the number of segments, or -1
 * when there are more than two or one is empty. */
static int split_segments(const char *path, AuthPlan *p, const char **a, const char **b)
{
    const char *slash = strchr(path, '/');
    *a = *b = NULL;
    if (!*path || slash == path)
        return -1;
    if (!slash) {
        *a = path;
        return 1;
    }
    if (!slash[1] || strchr(slash + 1, '/'))
        return -1;
    *a = auth_plan_own(p, strndup(path, (size_t)(slash - path)));
    *b = slash + 1;
    return 2;
}

static bool factor_not_found(AuthRefusal *r)
{
    return auth_refuse(r, 404, "mfa_factor_not_found", "Factor not found");
}

static bool plan_enroll(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *ftype, *name, *issuer, *phone;
    if (!auth_body_string(c->body, "factor_type", &ftype, r) ||
        !auth_body_string(c->body, "friendly_name", &name, r) ||
        !auth_body_string(c->body, "issuer", &issuer, r) ||
        !auth_body_string(c->body, "phone", &phone, r))
        return false;
    if (!ftype)
        return auth_refuse(r, 400, "validation_failed", "factor_type is required");
    if (strcmp(ftype, "phone") == 0)
        return auth_refuse(r, 422, "mfa_phone_enroll_not_enabled",
                           "MFA enroll is disabled for Phone");
    if (strcmp(ftype, "webauthn") == 0)
        return auth_refuse(r, 422, "mfa_webauthn_enroll_not_enabled",
                           "MFA enroll is disabled for WebAuthn");
    const char *params[] = {auth_whole_body(c->body, p), c->settings};
    auth_plan_set(p, sql_auth_mfa_enroll(), 2, params);
    return true;
}

static bool plan_verify(AuthCtx *c, AuthPlan *p, const char *factor, AuthRefusal *r)
{
    const char *challenge, *code;
    if (!auth_body_string(c->body, "challenge_id", &challenge, r) ||
        !auth_body_string(c->body, "code", &code, r))
        return false;
    if (!challenge || !auth_is_uuid(challenge))
        return auth_refuse(r, 400, "validation_failed", "challenge_id must be a UUID");
    const char *params[] = {factor, challenge, code ? code : "", c->settings};
    auth_plan_set(p, sql_auth_mfa_verify(), 4, params);
    return true;
}

bool auth_mfa_plan_factors(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *method = c->req->method;
    if (strcmp(c->rest, "factors") == 0)
        return plan_enroll(c, p, r);
    const char *id, *action;
    int n = split_segments(c->rest + strlen("factors/"), p, &id, &action);
    if (n < 0)
        return auth_refuse(r, 404, "not_found", "Not found");
    if (!auth_is_uuid(id))
        return factor_not_found(r);
    if (n == 1 && strcmp(method, "DELETE") == 0) {
        const char *params[] = {id};
        auth_plan_set(p, sql_auth_mfa_unenroll(), 1, params);
        return true;
    }
    if (n == 2 && strcmp(method, "POST") == 0 && strcmp(action, "challenge") == 0) {
        const char *params[] = {id, c->settings};
        auth_plan_set(p, sql_auth_mfa_challenge(), 2, params);
        return true;
    }
    if (n == 2 && strcmp(method, "POST") == 0 && strcmp(action, "verify") == 0)
        return plan_verify(c, p, id, r);
    return auth_refuse(r, 404, "not_found", "Not found");
}

bool auth_mfa_plan_admin_factors(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *method = c->req->method;
    const char *path = c->rest + strlen("admin/users/");
    const char *slash = strchr(path, '/');
    if (!slash || slash == path)
        return auth_refuse(r, 404, "not_found", "Not found");
    const char *uid = auth_plan_own(p, strndup(path, (size_t)(slash - path)));
    const char *rest = slash + 1;
    if (!auth_is_uuid(uid))
        return auth_refuse(r, 404, "user_not_found", "User not found");
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (get && strcmp(rest, "factors") == 0) {
        const char *params[] = {uid};
        auth_plan_set(p, sql_auth_admin_list_factors(), 1, params);
        return true;
    }
    if (strcmp(method, "DELETE") == 0 && strncmp(rest, "factors/", 8) == 0 &&
        !strchr(rest + 8, '/')) {
        if (!auth_is_uuid(rest + 8))
            return factor_not_found(r);
        const char *params[] = {uid, rest + 8};
        auth_plan_set(p, sql_auth_admin_delete_factor(), 2, params);
        return true;
    }
    return auth_refuse(r, 404, "not_found", "Not found");
}

bool auth_mfa_plan_pkce(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *code, *verifier;
    if (!auth_body_string(c->body, "auth_code", &code, r) ||
        !auth_body_string(c->body, "code_verifier", &verifier, r))
        return false;
    const char *params[] = {code ? code : "", verifier ? verifier : "", c->settings};
    auth_plan_set(p, sql_auth_token_pkce(), 3, params);
    return true;
}

bool auth_mfa_plan_signup_pkce(AuthCtx *c, AuthPlan *p, const char *email, const char *password,
                               const char *data, bool *planned, AuthRefusal *r)
{
    const char *challenge, *method;
    *planned = false;
    if (!auth_body_string(c->body, "code_challenge", &challenge, r) ||
        !auth_body_string(c->body, "code_challenge_method", &method, r))
        return false;
    if (!challenge && !method)
        return true;
    if (!challenge || !method)
        return auth_refuse(r, 400, "validation_failed",
                           "PKCE flow requires code_challenge_method and code_challenge");
    const char *params[] = {email, password, data, c->settings, challenge, method};
    auth_plan_set(p, sql_auth_sign_up_pkce(), 6, params);
    *planned = true;
    return true;
}
