/*
 * auth_user.h: the account endpoints of the signed-in user under /auth/v1
 * (auth_user.c): GET reauthenticate, PUT user (behind the reauthentication
 * check), DELETE user/identities/<id>, and the PKCE variants of the mail
 * flows (otp, resend, recover). Plan functions for auth_api.c's endpoint table;
 * GET user/identities/authorize talks to a provider and is served by
 * auth_oauth.c.
 */
#ifndef KILN_AUTH_USER_H
#define KILN_AUTH_USER_H

#include "auth_plan.h"

/* GET reauthenticate: a nonce by mail for the bearer's user. */
bool auth_user_plan_reauthenticate(AuthCtx *c, AuthPlan *p, AuthRefusal *r);

/* PUT user {data, password, email, nonce, current_password,
 * code_challenge, code_challenge_method}. */
bool auth_user_plan_update(AuthCtx *c, AuthPlan *p, AuthRefusal *r);

/* DELETE user/identities/<identity id>. */
bool auth_user_plan_unlink(AuthCtx *c, AuthPlan *p, AuthRefusal *r);

/* The PKCE pair of a request body: both NULL when it carries neither (the
 * implicit flow); false with r filled when only one is there or one is not
 * a string. Pointers into the body. Pure. */
bool auth_user_pkce_pair(json_t *body, const char **challenge, const char **method, AuthRefusal *r);

/* POST otp / magiclink, resend and recover from a PKCE client: *planned
 * false (nothing planned) when the body carries no challenge. params are
 * the implicit call's (sql_auth_send_otp: 4, sql_auth_resend: 3,
 * sql_auth_recover: 2). */
bool auth_user_plan_otp_pkce(AuthCtx *c, AuthPlan *p, const char *const params[4], bool *planned,
                             AuthRefusal *r);
bool auth_user_plan_resend_pkce(AuthCtx *c, AuthPlan *p, const char *const params[3], bool *planned,
                                AuthRefusal *r);
bool auth_user_plan_recover_pkce(AuthCtx *c, AuthPlan *p, const char *const params[2],
                                 bool *planned, AuthRefusal *r);

#endif
