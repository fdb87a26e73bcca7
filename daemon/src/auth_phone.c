/*
 * auth_phone.c: the phone branches of the /auth/v1 endpoints
 * (auth_phone.h): sign-up, the password grant, otp, resend and verify
 * with a phone number instead of an email address.
 *
 * Each plan refuses what the database need not see (phone sign-in off:
 * 422 phone_provider_disabled, 400 on the token endpoint; a number that is
 * not E.164: 400 validation_failed; a channel other than sms or whatsapp)
 * and otherwise plans one call of a flow of sql/kiln_auth/46-phone.sql
 * with the number in its stored form (sms_e164_normalize, the rule the
 * flows apply again). PUT /user {phone} needs no branch: auth.update_user
 * starts the phone change.
 *
 * Rate limits: the flows take from the per-ip "sms" bucket
 * (auth._sms_rate_refusal, setting rate_limit_sms) before they queue a
 * text, and the password grant and sign-up from the "sign_in" bucket; a
 * per-number limit belongs there too (one place, in the database, shared
 * by every daemon).
 *
 * Pure: no I/O, no globals; never logs a number or a code.
 */
#include "auth_phone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sms.h"
#include "sql_auth.h"

bool auth_phone_enabled(const KilnConfig *cfg)
{
    return cfg->sms_provider && *cfg->sms_provider;
}

void auth_phone_settings_fields(const KilnConfig *cfg, KilnBuf *out)
{
    buf_printf(out,
               ",\"phone_enabled\":%s,\"phone_signup_enabled\":%s,\"phone_autoconfirm\":%s,"
               "\"rate_limit_sms\":%d,\"sms_min_interval_s\":%d",
               auth_phone_enabled(cfg) ? "true" : "false",
               cfg->auth_phone_signup_enabled ? "true" : "false",
               cfg->auth_phone_autoconfirm ? "true" : "false", cfg->auth_rate_limit_sms,
               cfg->auth_sms_min_interval_s);
}

/* Phone sign-in on, and the number in its stored form (owned by p) in
 * *tel. */
static bool phone_arg(AuthCtx *c, AuthPlan *p, const char *phone, int disabled_status,
                      const char **tel, AuthRefusal *r)
{
    char digits[SMS_E164_MAX];
    if (!auth_phone_enabled(c->req->cfg))
        return auth_refuse(r, disabled_status, "phone_provider_disabled",
                           "Phone logins are disabled");
    if (!sms_e164_normalize(phone, digits, sizeof digits))
        return auth_refuse(r, 400, "validation_failed",
                           "Invalid phone number format (E.164 required)");
    *tel = auth_plan_own(p, strdup(digits));
    return true;
}

/* The settings with the request's channel (sms unless the body says
 * whatsapp), owned by p. */
static bool with_channel(AuthCtx *c, AuthPlan *p, const char **settings, AuthRefusal *r)
{
    const char *channel;
    if (!auth_body_string(c->body, "channel", &channel, r))
        return false;
    if (channel && strcmp(channel, "sms") != 0 && strcmp(channel, "whatsapp") != 0)
        return auth_refuse(r, 400, "validation_failed", "Invalid channel: use sms or whatsapp");
    KilnBuf b = KILN_BUF_INIT;
    buf_puts(&b, c->settings);
    b.len--; /* reopen the object */
    buf_printf(&b, ",\"channel\":\"%s\"}", channel ? channel : "sms");
    *settings = auth_plan_own(p, buf_take(&b));
    return true;
}

bool auth_phone_plan_signup(AuthCtx *c, AuthPlan *p, const char *phone, const char *password,
                            const char *data, AuthRefusal *r)
{
    const char *tel, *settings;
    if (!phone_arg(c, p, phone, 422, &tel, r))
        return false;
    if (!password)
        return auth_refuse(r, 422, "weak_password", "Signup requires a valid password");
    if (!with_channel(c, p, &settings, r))
        return false;
    const char *params[] = {tel, password, data, settings};
    auth_plan_set(p, sql_auth_sign_up_phone(), 4, params);
    return true;
}

bool auth_phone_plan_password(AuthCtx *c, AuthPlan *p, const char *phone, const char *password,
                              AuthRefusal *r)
{
    const char *tel;
    if (!phone_arg(c, p, phone, 400, &tel, r))
        return false;
    const char *params[] = {tel, password, c->settings};
    auth_plan_set(p, sql_auth_sign_in_phone_password(), 3, params);
    return true;
}

bool auth_phone_plan_otp(AuthCtx *c, AuthPlan *p, const char *phone, bool create_user,
                         const char *data, AuthRefusal *r)
{
    const char *tel, *settings;
    if (!phone_arg(c, p, phone, 422, &tel, r) || !with_channel(c, p, &settings, r))
        return false;
    const char *params[] = {tel, create_user ? "true" : "false", data, settings};
    auth_plan_set(p, sql_auth_send_sms_otp(), 4, params);
    return true;
}

bool auth_phone_plan_resend(AuthCtx *c, AuthPlan *p, const char *type, const char *phone,
                            AuthRefusal *r)
{
    const char *tel;
    if (!phone_arg(c, p, phone, 422, &tel, r))
        return false;
    const char *params[] = {type, tel, c->settings};
    auth_plan_set(p, sql_auth_resend_phone(), 3, params);
    return true;
}

bool auth_phone_plan_verify(AuthCtx *c, AuthPlan *p, const char *type, const char *token,
                            const char *phone, AuthRefusal *r)
{
    const char *tel;
    if (!phone_arg(c, p, phone, 422, &tel, r))
        return false;
    const char *params[] = {type, token, tel, c->settings};
    auth_plan_set(p, sql_auth_verify_phone(), 4, params);
    return true;
}
