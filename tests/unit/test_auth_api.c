/* Unit tests of auth_api.c's pure parts: the API-version switch, both error
 * formats, the settings object the flows take, and the /auth/v1 route. */
#include "auth_api.h"
#include "route.h"
#include "unit.h"

UNIT_TEST(api_version_dates)
{
    CHECK(auth_api_versioned("2024-01-01"));
    CHECK(auth_api_versioned("2025-06-30"));
    CHECK(!auth_api_versioned("2023-12-31"));
    CHECK(!auth_api_versioned(NULL));
    CHECK(!auth_api_versioned(""));
    CHECK(!auth_api_versioned("2024-01-01x"));
    CHECK(!auth_api_versioned("2024-13-01"));
    CHECK(!auth_api_versioned("latest"));
}

static const char *header(const KilnResponse *res, const char *name)
{
    for (int i = 0; i < res->nheaders; i++)
        if (strcmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}

UNIT_TEST(versioned_error_body)
{
    KilnResponse res = {0};
    auth_render_error(&res, 400, "invalid_credentials", "Invalid login credentials", NULL, true, true);
    CHECK(res.status == 400);
    CHECK_STR_EQ(buf_str(&res.body), "{\"code\":\"invalid_credentials\",\"message\":\"Invalid login credentials\"}");
    CHECK_STR_EQ(header(&res, "X-Supabase-Api-Version"), "2024-01-01");
    CHECK_STR_EQ(header(&res, "x-sb-error-code"), "invalid_credentials");
    response_free(&res);
}

UNIT_TEST(legacy_error_bodies)
{
    KilnResponse res = {0};
    auth_render_error(&res, 422, "weak_password", "Password should be at least 8 characters.",
                      "[\"length\"]", false, false);
    CHECK_STR_EQ(buf_str(&res.body),
                 "{\"code\":422,\"error_code\":\"weak_password\",\"msg\":\"Password should be at "
                 "least 8 characters.\",\"weak_password\":{\"reasons\":[\"length\"]}}");
    CHECK(header(&res, "X-Supabase-Api-Version") == NULL);
    response_free(&res);

    /* Grant failures of /token take the OAuth shape; other /token errors do not. */
    KilnResponse g = {0};
    auth_render_error(&g, 400, "refresh_token_already_used", "Invalid Refresh Token: Already Used",
                      NULL, false, true);
    CHECK_STR_EQ(buf_str(&g.body), "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid "
                                   "Refresh Token: Already Used\",\"error_code\":\"refresh_token_already_used\"}");
    response_free(&g);
    KilnResponse v = {0};
    auth_render_error(&v, 400, "validation_failed", "x", NULL, false, true);
    CHECK_STR_EQ(buf_str(&v.body), "{\"code\":400,\"error_code\":\"validation_failed\",\"msg\":\"x\"}");
    response_free(&v);
}

UNIT_TEST(messages_are_json_escaped)
{
    KilnResponse res = {0};
    auth_render_error(&res, 400, "bad_json", "a \"quoted\"\nline", NULL, true, false);
    CHECK_STR_EQ(buf_str(&res.body), "{\"code\":\"bad_json\",\"message\":\"a \\\"quoted\\\"\\nline\"}");
    response_free(&res);
}

UNIT_TEST(settings_object)
{
    KilnConfig cfg = {.auth_signup_enabled = true, .auth_anonymous_enabled = false,
                      .auth_autoconfirm = true, .auth_password_min_length = 12,
                      .auth_access_token_ttl_s = 900, .auth_refresh_reuse_interval_s = 10,
                      .auth_session_timebox_s = 86400, .auth_session_inactivity_timeout_s = 0,
                      .auth_rate_limit_sign_in = 30, .auth_rate_limit_refresh = 0,
                      .auth_site_url = "https://app.test", .auth_redirect_urls = NULL,
                      .listen_address = "::1", .port = 8000, .auth_otp_ttl_s = 300, .auth_rate_limit_email = 5,
                      .auth_rate_limit_verify = 0, .auth_secure_password_change = true,
                      .auth_reauthentication_window_s = 60, .auth_rate_limit_mfa = 7,
                      .auth_email_min_interval_s = 60, .auth_backoff_failures = 5,
                      .auth_backoff_account_failures = 50, .auth_backoff_max_s = 900,
                      .sms_provider = "twilio", .auth_phone_signup_enabled = true,
                      .auth_rate_limit_sms = 7, .auth_sms_min_interval_s = 60};
    KilnBuf b = KILN_BUF_INIT;
    auth_settings_json(&cfg, &b);
    CHECK_STR_EQ(buf_str(&b), "{\"signup_enabled\":true,\"anonymous_enabled\":false,"
                              "\"autoconfirm\":true,\"password_min_length\":12,"
                              "\"access_token_ttl_s\":900,\"refresh_reuse_interval_s\":10,"
                              "\"session_timebox_s\":86400,\"session_inactivity_timeout_s\":0,"
                              "\"rate_limit_sign_in\":30,\"rate_limit_refresh\":0,"
                              "\"site_url\":\"https://app.test\",\"redirect_urls\":\"\","
                              "\"external_url\":\"http://[::1]:8000\",\"otp_ttl_s\":300,"
                              "\"rate_limit_email\":5,\"rate_limit_verify\":0,"
                              "\"secure_password_change\":true,\"reauthentication_window_s\":60,"
                              "\"rate_limit_mfa\":7,\"email_min_interval_s\":60,"
                              "\"backoff_failures\":5,\"backoff_account_failures\":50,"
                              "\"backoff_max_s\":900,"
                              "\"phone_enabled\":true,\"phone_signup_enabled\":true,"
                              "\"phone_autoconfirm\":false,\"rate_limit_sms\":7,"
                              "\"sms_min_interval_s\":60}");
    buf_free(&b);
    /* No sms_provider: phone sign-in is off. */
    cfg.sms_provider = NULL;
    auth_settings_json(&cfg, &b);
    CHECK(strstr(buf_str(&b), "\"phone_enabled\":false,") != NULL);
    buf_free(&b);
}

UNIT_TEST(auth_prefix_routes_to_auth_serve)
{
    KilnError err = {0};
    char allow[64];
    const KilnRoute *r = route_find("/auth/v1/token", "POST", false, allow, sizeof allow, &err);
    CHECK(r != NULL && r->handler == auth_serve && r->needs_db);
    r = route_find("/auth/v1/admin/users/x", "DELETE", false, allow, sizeof allow, &err);
    CHECK(r != NULL && r->handler == auth_serve);
    CHECK(route_find("/auth/v1/token", "PATCH", false, allow, sizeof allow, &err) == NULL);
    CHECK(err.status == 405);
}

UNIT_MAIN()
