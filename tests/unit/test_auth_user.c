/* Unit tests of auth_user.c's plans (pure): which flow each account
 * endpoint becomes, its parameters, the PKCE pair of a mail flow, and the
 * refusals made before the database (bad ids, wrong field types, half a
 * PKCE pair); oauth_code_url, the redirect of the PKCE flow; and
 * oauth_mark_providers, the providers /settings lists. */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "auth_oauth.h"
#include "auth_user.h"
#include "sql_auth.h"
#include "unit.h"

static void release(AuthPlan *p)
{
    for (int i = 0; i < p->nowned; i++)
        free(p->owned[i]);
    p->nowned = 0;
}

/* A context for rest (the path after /auth/v1/) with body (JSON text). */
static AuthCtx ctx(const char *method, const char *rest, const char *body)
{
    static KilnRequest req;
    req = (KilnRequest){.method = method, .path = rest};
    return (AuthCtx){.req = &req,
                     .body = json_loads(body, JSON_REJECT_DUPLICATES, NULL),
                     .settings = "{\"s\":1}",
                     .rest = rest};
}

#define IID "0b0c2a4e-6f31-4a4b-9a55-2d3c0e9f1a77"

UNIT_TEST(update_and_reauthenticate)
{
    AuthPlan p = {.success_status = 200};
    AuthRefusal r = {0};
    AuthCtx c = ctx("PUT", "user", "{\"password\":\"pw\",\"nonce\":\"123456\",\"data\":{\"a\":1}}");
    CHECK(auth_user_plan_update(&c, &p, &r));
    CHECK(p.sql == sql_auth_update_account() && p.nparams == 2);
    CHECK(strstr(p.params[0], "\"nonce\":\"123456\"") != NULL);
    CHECK_STR_EQ(p.params[1], "{\"s\":1}");
    release(&p);
    json_decref(c.body);
    /* wrong types and half a PKCE pair never reach the database */
    const char *bad[] = {"{\"nonce\":123456}", "{\"current_password\":true}", "{\"data\":[1]}",
                         "{\"email\":\"a@b.c\",\"code_challenge\":\"abc\"}",
                         "{\"code_challenge_method\":\"s256\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        c = ctx("PUT", "user", bad[i]);
        r = (AuthRefusal){0};
        CHECK(!auth_user_plan_update(&c, &p, &r));
        CHECK(r.status == 400);
        release(&p);
        json_decref(c.body);
    }
    c = ctx("GET", "reauthenticate", "{}");
    CHECK(auth_user_plan_reauthenticate(&c, &p, &r));
    CHECK(p.sql == sql_auth_reauthenticate() && p.nparams == 1);
    CHECK_STR_EQ(p.params[0], "{\"s\":1}");
    json_decref(c.body);
}

UNIT_TEST(unlink_paths)
{
    AuthPlan p = {0};
    AuthRefusal r = {0};
    AuthCtx c = ctx("DELETE", "user/identities/" IID, "{}");
    CHECK(auth_user_plan_unlink(&c, &p, &r));
    CHECK(p.sql == sql_auth_unlink_identity());
    CHECK_STR_EQ(p.params[0], IID);
    json_decref(c.body);
    c = ctx("DELETE", "user/identities/not-a-uuid", "{}");
    CHECK(!auth_user_plan_unlink(&c, &p, &r));
    CHECK(r.status == 404 && strcmp(r.code, "identity_not_found") == 0);
    json_decref(c.body);
}

UNIT_TEST(mail_pkce)
{
    AuthPlan p = {0};
    AuthRefusal r = {0};
    bool planned = true;
    const char *otp[] = {"a@b.c", "true", NULL, "{}"};
    const char *rec[] = {"a@b.c", "{}"};
    AuthCtx c = ctx("POST", "otp", "{\"email\":\"a@b.c\",\"code_challenge\":null}");
    CHECK(auth_user_plan_otp_pkce(&c, &p, otp, &planned, &r) && !planned && p.sql == NULL);
    json_decref(c.body);
    c = ctx("POST", "otp", "{\"code_challenge\":\"abc\",\"code_challenge_method\":\"s256\"}");
    CHECK(auth_user_plan_otp_pkce(&c, &p, otp, &planned, &r) && planned);
    CHECK(p.sql == sql_auth_send_otp_pkce() && p.nparams == 6);
    CHECK_STR_EQ(p.params[0], "a@b.c");
    CHECK(p.params[2] == NULL);
    CHECK_STR_EQ(p.params[4], "abc");
    CHECK_STR_EQ(p.params[5], "s256");
    const char *res[] = {"signup", "a@b.c", "{}"};
    CHECK(auth_user_plan_resend_pkce(&c, &p, res, &planned, &r) && planned);
    CHECK(p.sql == sql_auth_resend_pkce() && p.nparams == 5);
    CHECK_STR_EQ(p.params[0], "signup");
    CHECK_STR_EQ(p.params[4], "s256");
    CHECK(auth_user_plan_recover_pkce(&c, &p, rec, &planned, &r) && planned);
    CHECK(p.sql == sql_auth_recover_pkce() && p.nparams == 4);
    CHECK_STR_EQ(p.params[2], "abc");
    json_decref(c.body);
    c = ctx("POST", "recover", "{\"code_challenge\":\"abc\"}");
    CHECK(!auth_user_plan_recover_pkce(&c, &p, rec, &planned, &r));
    CHECK(r.status == 400 && strcmp(r.code, "validation_failed") == 0);
    json_decref(c.body);
    c = ctx("POST", "recover", "{\"code_challenge\":1,\"code_challenge_method\":\"s256\"}");
    CHECK(!auth_user_plan_recover_pkce(&c, &p, rec, &planned, &r));
    CHECK(strcmp(r.code, "bad_json") == 0);
    json_decref(c.body);
}

UNIT_TEST(code_url)
{
    KilnBuf b = KILN_BUF_INIT;
    oauth_code_url(&b, "http://app.test/done#old", "abc-_DEF");
    CHECK_STR_EQ(buf_str(&b), "http://app.test/done?code=abc-_DEF");
    buf_reset(&b);
    oauth_code_url(&b, "http://app.test/done?x=1", "a b");
    CHECK_STR_EQ(buf_str(&b), "http://app.test/done?x=1&code=a%20b");
    buf_free(&b);
}

UNIT_TEST(settings_providers)
{
    char path[] = "/tmp/kiln-providers-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *doc = "{\"corp\":{\"issuer\":\"https://idp.test\",\"client_id\":\"a\"},"
                      "\"github\":{\"client_id\":\"b\"},\"junk\":5}";
    CHECK(write(fd, doc, strlen(doc)) == (ssize_t)strlen(doc));
    close(fd);
    json_t *ext = json_pack("{s:b,s:b}", "email", 1, "github", 0);
    oauth_mark_providers(path, ext);
    CHECK(json_is_true(json_object_get(ext, "corp")));
    CHECK(json_is_true(json_object_get(ext, "github")));
    CHECK(json_is_true(json_object_get(ext, "email")));
    CHECK(json_object_get(ext, "junk") == NULL); /* not a provider object */
    json_decref(ext);
    /* no file, an unreadable one: nothing marked */
    ext = json_object();
    oauth_mark_providers(NULL, ext);
    oauth_mark_providers("/nonexistent/providers.json", ext);
    CHECK(json_object_size(ext) == 0);
    json_decref(ext);
    unlink(path);
}

UNIT_MAIN()
