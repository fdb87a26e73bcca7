/*
 * auth_mfa.h: the MFA endpoints and the pkce grant of /auth/v1
 * (auth_mfa.c): plan functions for auth_api.c's endpoint table.
 */
#ifndef KILN_AUTH_MFA_H
#define KILN_AUTH_MFA_H

#include "auth_plan.h"

/* POST factors, POST factors/<id>/challenge, POST factors/<id>/verify,
 * DELETE factors/<id>. False with r filled when the request is refused
 * (404 for other paths below factors/). */
bool auth_mfa_plan_factors(AuthCtx *c, AuthPlan *p, AuthRefusal *r);

/* GET admin/users/<uid>/factors, DELETE admin/users/<uid>/factors/<fid>. */
bool auth_mfa_plan_admin_factors(AuthCtx *c, AuthPlan *p, AuthRefusal *r);

/* POST signup with code_challenge and code_challenge_method: false with r
 * filled when the pair is incomplete or of the wrong type; *planned false
 * (and nothing planned) when the request carries neither. */
bool auth_mfa_plan_signup_pkce(AuthCtx *c, AuthPlan *p, const char *email, const char *password,
                               const char *data, bool *planned, AuthRefusal *r);

/* POST token?grant_type=pkce {auth_code, code_verifier}. */
bool auth_mfa_plan_pkce(AuthCtx *c, AuthPlan *p, AuthRefusal *r);

#endif
