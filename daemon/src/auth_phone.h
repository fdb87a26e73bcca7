/*
 * auth_phone.h: the phone branches of /auth/v1 (auth_phone.c): plan
 * functions auth_api.c calls when a request names a phone instead of an
 * email (signup, the password grant, otp, resend, verify). The flows are
 * sql/kiln_auth/46-phone.sql; the texts they queue are delivered by
 * auth_sms.c.
 */
#ifndef KILN_AUTH_PHONE_H
#define KILN_AUTH_PHONE_H

#include <stdbool.h>

#include "auth_plan.h"
#include "config.h"

/* Is phone sign-in offered: an sms_provider is configured (outbox counts:
 * `kiln dev`)? */
bool auth_phone_enabled(const KilnConfig *cfg);

/* The phone settings of the flows, appended to the settings object being
 * built in out (auth_settings_json): ,"phone_enabled":...,
 * "phone_signup_enabled":..., "phone_autoconfirm":..., "rate_limit_sms":...
 * (no braces). */
void auth_phone_settings_fields(const KilnConfig *cfg, KilnBuf *out);

/* POST signup {phone, password, data, channel}. data is the body's data as
 * JSON text (or NULL). */
bool auth_phone_plan_signup(AuthCtx *c, AuthPlan *p, const char *phone, const char *password,
                            const char *data, AuthRefusal *r);

/* POST token?grant_type=password {phone, password}. */
bool auth_phone_plan_password(AuthCtx *c, AuthPlan *p, const char *phone, const char *password,
                              AuthRefusal *r);

/* POST otp {phone, create_user, data, channel}. */
bool auth_phone_plan_otp(AuthCtx *c, AuthPlan *p, const char *phone, bool create_user,
                         const char *data, AuthRefusal *r);

/* POST resend {type: sms | phone_change, phone}. */
bool auth_phone_plan_resend(AuthCtx *c, AuthPlan *p, const char *type, const char *phone,
                            AuthRefusal *r);

/* POST verify {type: sms | phone_change, token, phone}. */
bool auth_phone_plan_verify(AuthCtx *c, AuthPlan *p, const char *type, const char *token,
                            const char *phone, AuthRefusal *r);

#endif
