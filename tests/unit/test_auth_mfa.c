/* Unit tests of auth_mfa.c's plans (pure): which flow each MFA path and
 * method becomes, its parameters, and the refusals made before the
 * database (bad ids, unknown paths, wrong field types, half a PKCE pair). */
#include <jansson.h>

#include "auth_mfa.h"
#include "sql_auth.h"
#include "unit.h"

/* Plans rest (the path after /auth/v1/) for method with body (JSON text). */
static bool plan(const char *method, const char *rest, const char *body, AuthPlan *p,
                 AuthRefusal *r)
{
    static KilnRequest req;
    req = (KilnRequest){.method = method, .path = rest};
    json_t *j = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
    AuthCtx c = {.req = &req, .body = j, .settings = "{}", .rest = rest};
    *p = (AuthPlan){.success_status = 200};
    *r = (AuthRefusal){0};
    bool ok = strncmp(rest, "admin/", 6) == 0 ? auth_mfa_plan_admin_factors(&c, p, r)
                                              : auth_mfa_plan_factors(&c, p, r);
    /* parameters that point into the body are checked before it goes */
    if (ok && p->sql == sql_auth_mfa_verify())
        ok = strcmp(p->params[2], "123456") == 0 || strcmp(p->params[2], "") == 0;
    json_decref(j);
    return ok;
}

static void release(AuthPlan *p)
{
    for (int i = 0; i < p->nowned; i++)
        free(p->owned[i]);
}

#define FID "0b0c2a4e-6f31-4a4b-9a55-2d3c0e9f1a77"
#define UID "5e000000-0000-0000-0000-000000000005"

UNIT_TEST(factor_paths)
{
    AuthPlan p;
    AuthRefusal r;
    CHECK(plan("POST", "factors", "{\"factor_type\":\"totp\",\"friendly_name\":\"a\"}", &p, &r));
    CHECK(p.sql == sql_auth_mfa_enroll() && p.nparams == 2);
    CHECK_STR_EQ(p.params[0], "{\"factor_type\":\"totp\",\"friendly_name\":\"a\"}");
    release(&p);
    CHECK(plan("POST", "factors/" FID "/challenge", "{\"factorId\":\"x\"}", &p, &r));
    CHECK(p.sql == sql_auth_mfa_challenge());
    CHECK_STR_EQ(p.params[0], FID);
    release(&p);
    CHECK(plan("POST", "factors/" FID "/verify",
               "{\"challenge_id\":\"" UID "\",\"code\":\"123456\"}", &p, &r));
    CHECK(p.sql == sql_auth_mfa_verify() && p.nparams == 4);
    release(&p);
    CHECK(plan("DELETE", "factors/" FID, "{}", &p, &r));
    CHECK(p.sql == sql_auth_mfa_unenroll());
    CHECK_STR_EQ(p.params[0], FID);
    release(&p);
}

UNIT_TEST(factor_refusals)
{
    AuthPlan p;
    AuthRefusal r;
    CHECK(!plan("POST", "factors", "{}", &p, &r));
    CHECK(r.status == 400 && strcmp(r.code, "validation_failed") == 0);
    CHECK(!plan("POST", "factors", "{\"factor_type\":\"phone\"}", &p, &r));
    CHECK(r.status == 422);
    CHECK(!plan("POST", "factors", "{\"factor_type\":1}", &p, &r));
    CHECK(r.status == 400 && strcmp(r.code, "bad_json") == 0);
    CHECK(!plan("POST", "factors/nope/challenge", "{}", &p, &r));
    CHECK(r.status == 404 && strcmp(r.code, "mfa_factor_not_found") == 0);
    release(&p);
    CHECK(!plan("POST", "factors/" FID "/verify", "{\"challenge_id\":\"x\"}", &p, &r));
    CHECK(r.status == 400);
    release(&p);
    CHECK(!plan("POST", "factors/" FID "/other", "{}", &p, &r));
    CHECK(r.status == 404);
    release(&p);
    CHECK(!plan("POST", "factors/" FID "/verify/more", "{}", &p, &r));
    CHECK(r.status == 404);
    CHECK(!plan("POST", "factors//verify", "{}", &p, &r));
    CHECK(r.status == 404);
    CHECK(!plan("DELETE", "factors/" FID "/challenge", "{}", &p, &r));
    CHECK(r.status == 404);
    release(&p);
}

UNIT_TEST(admin_factor_paths)
{
    AuthPlan p;
    AuthRefusal r;
    CHECK(plan("GET", "admin/users/" UID "/factors", "{}", &p, &r));
    CHECK(p.sql == sql_auth_admin_list_factors());
    CHECK_STR_EQ(p.params[0], UID);
    release(&p);
    CHECK(plan("DELETE", "admin/users/" UID "/factors/" FID, "{}", &p, &r));
    CHECK(p.sql == sql_auth_admin_delete_factor());
    CHECK_STR_EQ(p.params[0], UID);
    CHECK_STR_EQ(p.params[1], FID);
    release(&p);
    CHECK(!plan("DELETE", "admin/users/" UID "/factors/nope", "{}", &p, &r));
    CHECK(r.status == 404 && strcmp(r.code, "mfa_factor_not_found") == 0);
    release(&p);
    CHECK(!plan("GET", "admin/users/nope/factors", "{}", &p, &r));
    CHECK(r.status == 404 && strcmp(r.code, "user_not_found") == 0);
    release(&p);
    CHECK(!plan("GET", "admin/users/" UID "/identities", "{}", &p, &r));
    CHECK(r.status == 404);
    release(&p);
}

UNIT_TEST(pkce_plans)
{
    static KilnRequest req = {.method = "POST", .path = "signup"};
    json_t *half = json_loads("{\"code_challenge\":\"abc\"}", 0, NULL);
    json_t *none = json_loads("{\"code_challenge\":null,\"code_challenge_method\":null}", 0, NULL);
    json_t *both =
        json_loads("{\"code_challenge\":\"abc\",\"code_challenge_method\":\"s256\"}", 0, NULL);
    AuthCtx c = {.req = &req, .settings = "{}", .rest = "signup"};
    AuthPlan p = {0};
    AuthRefusal r = {0};
    bool planned = true;
    c.body = none;
    CHECK(auth_mfa_plan_signup_pkce(&c, &p, "a@b.c", "pw", NULL, &planned, &r) && !planned);
    c.body = half;
    CHECK(!auth_mfa_plan_signup_pkce(&c, &p, "a@b.c", "pw", NULL, &planned, &r));
    CHECK(r.status == 400);
    c.body = both;
    CHECK(auth_mfa_plan_signup_pkce(&c, &p, "a@b.c", "pw", NULL, &planned, &r) && planned);
    CHECK(p.sql == sql_auth_sign_up_pkce() && p.nparams == 6);
    CHECK_STR_EQ(p.params[4], "abc");
    CHECK_STR_EQ(p.params[5], "s256");
    c.body = json_loads("{\"auth_code\":\"code\",\"code_verifier\":\"v\"}", 0, NULL);
    CHECK(auth_mfa_plan_pkce(&c, &p, &r));
    CHECK(p.sql == sql_auth_token_pkce());
    CHECK_STR_EQ(p.params[0], "code");
    json_decref(c.body);
    c.body = json_loads("{\"auth_code\":5}", 0, NULL);
    CHECK(!auth_mfa_plan_pkce(&c, &p, &r));
    CHECK(strcmp(r.code, "bad_json") == 0);
    json_decref(c.body);
    json_decref(half);
    json_decref(none);
    json_decref(both);
}

UNIT_MAIN()
