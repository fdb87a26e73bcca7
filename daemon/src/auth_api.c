/*
 * auth_api.c: the GoTrue-compatible API under /auth/v1 (supabase-wire §3),
 * as auth-js calls it: signup, token (password, refresh_token), logout,
 * user (GET, PUT), settings, health, .well-known/jwks.json, the admin
 * users API, and the email flows: otp, magiclink, recover, resend, verify
 * (POST, and GET with a 303), invite, admin/generate_link (the phone
 * branches of signup, token, otp, resend and verify are planned by
 * auth_phone.c); the MFA endpoints and the pkce grant are planned by
 * auth_mfa.c, the account endpoints (reauthenticate, PUT user,
 * user/identities) by auth_user.c (rows of the same endpoint table).
 *
 * Every flow is one SQL function of the kiln_auth extension
 * (sql/kiln_auth/40-flows.sql); this file only turns HTTP into a call and
 * the call's answer into HTTP. The path of a request:
 *
 *   endpoint table -> key check (apikey / bearer) -> strict JSON body
 *   (jansson) -> plan: statement and $n parameters (pure) -> one pipelined
 *   transaction: begin; kiln.authenticate(token, meta); flow; commit
 *   (tx_run) -> response: the flow's JSON body, or its error rendered in
 *   the format the client asked for (X-Supabase-Api-Version).
 *
 * Sign-in with external providers (/authorize, /callback and the id_token
 * grant) talks to the provider between transactions and lives in
 * auth_oauth.c; auth_serve hands those requests over first.
 *
 * It never decides who a caller is (kiln.authenticate does, in the
 * database), never writes SQL (sql_auth.c does), never logs request
 * bodies, and never sends database text to a client: flows answer with
 * GoTrue's error codes and messages, and anything else is a generic 500.
 * Handlers run on a worker with a pooled connection; everything allocated
 * here is freed before the handler returns.
 */
#include "auth_api.h"
#include "auth_mfa.h"
#include "auth_oauth.h"
#include "auth_phone.h"
#include "auth_plan.h"
#include "auth_user.h"

#include <jansson.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rest.h"
#include "route.h"
#include "schema_cache.h"
#include "server.h"
#include "sql_auth.h"
#include "tx.h"

#define AUTH_PREFIX "/auth/v1/"

/* Which credential a request authenticates with (supabase-wire §1.3). */
typedef enum {
    KEY_OPEN,   /* none: runs as anon (jwks) */
    KEY_APIKEY, /* the apikey header or ?apikey=, required */
    KEY_BEARER, /* the user's (or service role's) bearer token, else the apikey */
} KeyKind;

static bool refuse(AuthRefusal *r, int status, const char *code, const char *message)
{
    r->status = status;
    r->code = code;
    snprintf(r->message, sizeof r->message, "%s", message);
    return false;
}

/* ---- the settings the flows take ----------------------------------------- */

void auth_settings_json(const KilnConfig *cfg, KilnBuf *out)
{
    buf_printf(out,
               "{\"signup_enabled\":%s,\"anonymous_enabled\":%s,\"autoconfirm\":%s,"
               "\"password_min_length\":%d,\"access_token_ttl_s\":%d,"
               "\"refresh_reuse_interval_s\":%d,\"session_timebox_s\":%d,"
               "\"session_inactivity_timeout_s\":%d,\"rate_limit_sign_in\":%d,"
               "\"rate_limit_refresh\":%d}",
               cfg->auth_signup_enabled ? "true" : "false",
               cfg->auth_anonymous_enabled ? "true" : "false",
               cfg->auth_autoconfirm ? "true" : "false", cfg->auth_password_min_length,
               cfg->auth_access_token_ttl_s, cfg->auth_refresh_reuse_interval_s,
               cfg->auth_session_timebox_s, cfg->auth_session_inactivity_timeout_s,
               cfg->auth_rate_limit_sign_in, cfg->auth_rate_limit_refresh);
    /* The email flows' settings (41-mail.sql), in the same object. */
    out->len--; /* reopen the object */
    buf_puts(out, ",\"site_url\":");
    buf_put_json_string(out, cfg->auth_site_url ? cfg->auth_site_url : "");
    buf_puts(out, ",\"redirect_urls\":");
    buf_put_json_string(out, cfg->auth_redirect_urls ? cfg->auth_redirect_urls : "");
    buf_puts(out, ",\"external_url\":");
    if (cfg->auth_external_url && *cfg->auth_external_url) {
        buf_put_json_string(out, cfg->auth_external_url);
    } else {
        const char *host = cfg->listen_address ? cfg->listen_address : "127.0.0.1";
        bool v6 = strchr(host, ':') != NULL;
        buf_printf(out, "\"http://%s%s%s:%d\"", v6 ? "[" : "", host, v6 ? "]" : "", cfg->port);
    }
    buf_printf(out, ",\"otp_ttl_s\":%d,\"rate_limit_email\":%d,\"rate_limit_verify\":%d",
               cfg->auth_otp_ttl_s, cfg->auth_rate_limit_email, cfg->auth_rate_limit_verify);
    /* The account flows' settings (45-account.sql). */
    buf_printf(out, ",\"secure_password_change\":%s,\"reauthentication_window_s\":%d",
               cfg->auth_secure_password_change ? "true" : "false",
               cfg->auth_reauthentication_window_s);
    /* The limits' own settings (44-limits.sql). */
    buf_printf(out,
               ",\"rate_limit_mfa\":%d,\"email_min_interval_s\":%d,\"backoff_failures\":%d,"
               "\"backoff_account_failures\":%d,\"backoff_max_s\":%d",
               cfg->auth_rate_limit_mfa, cfg->auth_email_min_interval_s, cfg->auth_backoff_failures,
               cfg->auth_backoff_account_failures, cfg->auth_backoff_max_s);
    /* The phone flows' settings (46-phone.sql). */
    auth_phone_settings_fields(cfg, out);
    buf_putc(out, '}');
}

/* GET /settings: which sign-in methods this server offers, in GoTrue's
 * shape. */
static void settings_body(const KilnConfig *cfg, KilnBuf *out)
{
    buf_printf(out,
               "{\"external\":{\"anonymous_users\":%s,\"email\":true,\"phone\":%s,"
               "\"apple\":false,\"azure\":false,\"bitbucket\":false,\"discord\":false,"
               "\"facebook\":false,\"figma\":false,\"github\":false,\"gitlab\":false,"
               "\"google\":false,\"keycloak\":false,\"kakao\":false,\"linkedin_oidc\":false,"
               "\"notion\":false,\"slack_oidc\":false,\"spotify\":false,\"twitch\":false,"
               "\"twitter\":false,\"workos\":false,\"zoom\":false},"
               "\"disable_signup\":%s,\"mailer_autoconfirm\":%s,\"phone_autoconfirm\":%s,"
               "\"sms_provider\":\"%s\",\"saml_enabled\":false,"
               "\"password_min_length\":%d}",
               cfg->auth_anonymous_enabled ? "true" : "false",
               auth_phone_enabled(cfg) ? "true" : "false",
               cfg->auth_signup_enabled ? "false" : "true", cfg->auth_autoconfirm ? "true" : "false",
               cfg->auth_phone_autoconfirm ? "true" : "false",
               auth_phone_enabled(cfg) ? cfg->sms_provider : "",
               cfg->auth_password_min_length);
    /* The configured OAuth / OIDC providers count as enabled. */
    json_t *o = json_loadb(out->data, out->len, 0, NULL);
    json_t *external = json_object_get(o, "external");
    if (json_is_object(external)) {
        oauth_mark_providers(cfg->auth_providers, external);
        char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text) {
            buf_reset(out);
            buf_puts(out, text);
            free(text);
        }
    }
    json_decref(o);
}

/* ---- errors ------------------------------------------------------------- */

/* Does the request ask for the versioned error format (a date of
 * 2024-01-01 or later in X-Supabase-Api-Version)? */
bool auth_api_versioned(const char *header)
{
    if (!header)
        return false;
    int y, m, d;
    char rest;
    if (sscanf(header, "%4d-%2d-%2d%c", &y, &m, &d, &rest) != 3)
        return false;
    return y * 10000 + m * 100 + d >= 20240101 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

/* Errors the token endpoint answers in the OAuth shape when unversioned. */
static bool oauth_code(const char *code)
{
    static const char *const codes[] = {"invalid_credentials", "refresh_token_not_found",
                                        "refresh_token_already_used", "session_expired"};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

void auth_render_error(KilnResponse *res, int status, const char *code, const char *message,
                       const char *weak_reasons, bool versioned, bool token_endpoint)
{
    KilnBuf *b = &res->body;
    buf_reset(b);
    res->status = status;
    res->content_type = "application/json";
    if (versioned) {
        buf_puts(b, "{\"code\":");
        buf_put_json_string(b, code);
        buf_puts(b, ",\"message\":");
        buf_put_json_string(b, message);
        response_set_header(res, "X-Supabase-Api-Version", "2024-01-01");
    } else if (token_endpoint && oauth_code(code)) {
        buf_puts(b, "{\"error\":\"invalid_grant\",\"error_description\":");
        buf_put_json_string(b, message);
        buf_puts(b, ",\"error_code\":");
        buf_put_json_string(b, code);
    } else {
        buf_printf(b, "{\"code\":%d,\"error_code\":", status);
        buf_put_json_string(b, code);
        buf_puts(b, ",\"msg\":");
        buf_put_json_string(b, message);
    }
    if (weak_reasons)
        buf_printf(b, ",\"weak_password\":{\"reasons\":%s}", weak_reasons);
    buf_putc(b, '}');
    response_set_header(res, "x-sb-error-code", code);
}

/* Renders a flow's error object {"status","code","message"[,"weak_password"]
 * [,"retry_after"]} (retry_after becomes Retry-After). Anything unexpected
 * is a generic 500. */
static void render_flow_error(KilnResponse *res, const char *json, int status, bool versioned,
                              bool token_endpoint)
{
    json_error_t jerr;
    json_t *e = json_loads(json, 0, &jerr);
    const char *code = e ? json_string_value(json_object_get(e, "code")) : NULL;
    const char *msg = e ? json_string_value(json_object_get(e, "message")) : NULL;
    if (!code || !msg || status < 400 || status > 599) {
        auth_render_error(res, 500, "unexpected_failure",
                          "Unexpected failure, please check server logs for more information",
                          NULL, versioned, token_endpoint);
        json_decref(e);
        return;
    }
    char *reasons = NULL;
    json_t *wp = json_object_get(json_object_get(e, "weak_password"), "reasons");
    if (json_is_array(wp))
        reasons = json_dumps(wp, JSON_COMPACT);
    auth_render_error(res, status, code, msg, reasons, versioned, token_endpoint);
    free(reasons);
    json_t *retry = json_object_get(e, "retry_after");
    if (json_is_integer(retry) && json_integer_value(retry) > 0) {
        char v[24];
        snprintf(v, sizeof v, "%lld", (long long)json_integer_value(retry));
        response_set_header(res, "Retry-After", v);
    }
    json_decref(e);
}

/* A failed transaction (tx_run's err) as GoTrue would answer: token
 * failures per credential kind, the database's own trouble generically. */
static void render_tx_error(KilnResponse *res, const KilnError *err, KeyKind key, bool versioned)
{
    if (err->status == 401 && key == KEY_BEARER && strcmp(err->code, "PGRST301") == 0 &&
        strstr(err->message, "revoked"))
        auth_render_error(res, 403, "session_not_found",
                          "Session from session_id claim in JWT does not exist", NULL, versioned,
                          false);
    else if (err->status == 401 && key == KEY_BEARER)
        auth_render_error(res, 403, "bad_jwt",
                          strcmp(err->code, "PGRST303") == 0
                              ? "invalid JWT: unable to parse or verify signature, token is expired"
                              : "invalid JWT: unable to parse or verify signature",
                          NULL, versioned, false);
    else if (err->status == 401)
        auth_render_error(res, 401, "invalid_api_key", "Invalid API key", NULL, versioned, false);
    else if (err->status == 503)
        auth_render_error(res, 503, "unexpected_failure", "the database is unavailable", NULL,
                          versioned, false);
    else
        auth_render_error(res, 500, "unexpected_failure",
                          "Unexpected failure, please check server logs for more information",
                          NULL, versioned, false);
}

/* ---- request pieces ------------------------------------------------------ */

/* The request body as a JSON object: strict (one value, no duplicate keys,
 * no NUL in strings); an empty body is an empty object. */
static bool parse_body(const KilnRequest *req, json_t **out, AuthRefusal *r)
{
    *out = NULL;
    const KilnBuf *b = &req->body;
    size_t i = 0;
    while (i < b->len && (b->data[i] == ' ' || b->data[i] == '\n' || b->data[i] == '\r' ||
                          b->data[i] == '\t'))
        i++;
    if (i == b->len) {
        *out = json_object();
        return true;
    }
    json_error_t jerr;
    json_t *j = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return refuse(r, 400, "bad_json", "Could not parse request body as JSON");
    if (!json_is_object(j)) {
        json_decref(j);
        return refuse(r, 400, "bad_json", "Request body must be a JSON object");
    }
    *out = j;
    return true;
}

/* A string field of the body: *out NULL when absent or null; any other
 * type is refused. */
static bool body_string(json_t *body, const char *key, const char **out, AuthRefusal *r)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v)) {
        char m[96];
        snprintf(m, sizeof m, "%s must be a string", key);
        return refuse(r, 400, "bad_json", m);
    }
    *out = json_string_value(v);
    return true;
}

/* Keeps s (malloc'd; NULL means out of memory) until plan_free. */
static char *plan_own(AuthPlan *p, char *s)
{
    if (!s || p->nowned == AUTH_MAX_OWNED)
        abort(); /* out of memory, or a plan holding more than it declares */
    p->owned[p->nowned++] = s;
    return s;
}

/* An object field re-serialised as JSON text (owned by p), NULL when
 * absent or null; any other type is refused. With p NULL the field is only
 * checked (*out is then NULL). */
static bool body_object(json_t *body, const char *key, AuthPlan *p, const char **out,
                        AuthRefusal *r)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_object(v)) {
        char m[96];
        snprintf(m, sizeof m, "%s must be a JSON object", key);
        return refuse(r, 400, "bad_json", m);
    }
    if (p)
        *out = plan_own(p, json_dumps(v, JSON_COMPACT));
    return true;
}

static const char *whole_body(json_t *body, AuthPlan *p)
{
    return plan_own(p, json_dumps(body, JSON_COMPACT));
}

static void plan_free(AuthPlan *p)
{
    for (int i = 0; i < p->nowned; i++)
        free(p->owned[i]);
    p->nowned = 0;
}

static void plan_set(AuthPlan *p, const char *sql, int n, const char *const *params)
{
    p->sql = sql;
    p->nparams = n;
    for (int i = 0; i < n; i++)
        p->params[i] = params[i];
}

/* A canonical uuid (8-4-4-4-12 hex digits). */
static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
            return false;
    }
    return true;
}

/* The exported forms of the helpers above (auth_plan.h), for the plan
 * functions of the feature files. */
bool auth_refuse(AuthRefusal *r, int status, const char *code, const char *message)
{
    return refuse(r, status, code, message);
}

bool auth_body_string(json_t *body, const char *key, const char **out, AuthRefusal *r)
{
    return body_string(body, key, out, r);
}

const char *auth_whole_body(json_t *body, AuthPlan *p)
{
    return whole_body(body, p);
}

char *auth_plan_own(AuthPlan *p, char *s)
{
    return plan_own(p, s);
}

void auth_plan_set(AuthPlan *p, const char *sql, int n, const char *const *params)
{
    plan_set(p, sql, n, params);
}

bool auth_is_uuid(const char *s)
{
    return is_uuid(s);
}

/* A query parameter as a whole number in [lo, hi]; empty or absent gives
 * def (auth-js sends `page=&per_page=` when not given). */
static bool query_long(const KilnRequest *req, const char *name, long def, long lo, long hi,
                       long *out, AuthRefusal *r)
{
    const char *v = request_query(req, name);
    *out = def;
    if (!v || !*v)
        return true;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi) {
        char m[96];
        snprintf(m, sizeof m, "%s must be a whole number from %ld to %ld", name, lo, hi);
        return refuse(r, 400, "validation_failed", m);
    }
    *out = n;
    return true;
}

/* ---- plans: one per endpoint (pure over the request and body) ----------- */

/* A sign-up with confirmations on answers no sooner than this many
 * milliseconds after the request began: a new address costs more in the
 * database (the user, its identity, the mail) and wakes the mail sender,
 * a registered one gets a look-alike answer (auth._mail_decoy does the
 * rest of the work). Both hash the password first (argon2id, 15-50 ms on
 * a loaded 2-core machine); the floor sits above that. */
#define AUTH_SIGNUP_MIN_MS 60

static bool plan_signup(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *email, *password, *phone, *data;
    if (!body_string(c->body, "email", &email, r) || !body_string(c->body, "password", &password, r) ||
        !body_string(c->body, "phone", &phone, r) || !body_object(c->body, "data", p, &data, r))
        return false;
    if (phone && *phone && !email)
        return auth_phone_plan_signup(c, p, phone, password, data, r); /* auth_phone.c */
    if (!email && !password) {
        const char *params[] = {data, c->settings};
        plan_set(p, sql_auth_sign_in_anonymously(), 2, params);
        return true;
    }
    if (!password)
        return refuse(r, 422, "weak_password", "Signup requires a valid password");
    /* With confirmations on, a registered address gets a look-alike of a
     * new user: the answer waits as the mail flows do (AUTH_SIGNUP_MIN_MS). */
    if (!c->req->cfg->auth_autoconfirm)
        p->min_ms = AUTH_SIGNUP_MIN_MS;
    bool pkce;
    if (!auth_mfa_plan_signup_pkce(c, p, email, password, data, &pkce, r))
        return false;
    if (pkce)
        return true;
    const char *params[] = {email, password, data, c->settings};
    plan_set(p, sql_auth_sign_up(), 4, params);
    return true;
}

static bool plan_token(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *grant = request_query(c->req, "grant_type");
    p->token_endpoint = true;
    if (grant && strcmp(grant, "password") == 0) {
        const char *email, *password, *phone;
        if (!body_string(c->body, "email", &email, r) ||
            !body_string(c->body, "password", &password, r) ||
            !body_string(c->body, "phone", &phone, r))
            return false;
        if (!email && phone)
            return auth_phone_plan_password(c, p, phone, password, r);
        const char *params[] = {email, password, c->settings};
        plan_set(p, sql_auth_sign_in_password(), 3, params);
        return true;
    }
    if (grant && strcmp(grant, "refresh_token") == 0) {
        const char *token;
        if (!body_string(c->body, "refresh_token", &token, r))
            return false;
        const char *params[] = {token, c->settings};
        plan_set(p, sql_auth_refresh(), 2, params);
        return true;
    }
    if (grant && strcmp(grant, "pkce") == 0)
        return auth_mfa_plan_pkce(c, p, r);
    return refuse(r, 400, "validation_failed",
                  "unsupported_grant_type: use grant_type=password, refresh_token, pkce or id_token");
}

static bool plan_logout(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    (void)r;
    const char *scope = request_query(c->req, "scope");
    const char *params[] = {scope && *scope ? scope : "global"};
    plan_set(p, sql_auth_sign_out(), 1, params);
    p->success_status = 204;
    return true;
}

static bool plan_user_get(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    (void)c, (void)r;
    plan_set(p, sql_auth_get_user(), 0, NULL);
    return true;
}

static bool plan_settings(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    (void)r;
    KilnBuf b = KILN_BUF_INIT;
    settings_body(c->req->cfg, &b);
    const char *params[] = {plan_own(p, buf_take(&b))};
    plan_set(p, sql_auth_echo(), 1, params);
    return true;
}

static bool plan_health(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    (void)c, (void)r;
    const char *params[] = {"{\"version\":\"" KILN_VERSION "\",\"name\":\"GoTrue\","
                            "\"description\":\"Kiln auth: the GoTrue API, flows in PostgreSQL\"}"};
    plan_set(p, sql_auth_echo(), 1, params);
    return true;
}

static bool plan_jwks(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    (void)c, (void)r;
    plan_set(p, sql_auth_jwks(), 0, NULL);
    return true;
}

static bool plan_admin_list(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    if (!query_long(c->req, "page", 1, 1, 1000000000L, &p->page, r) ||
        !query_long(c->req, "per_page", 50, 1, 1000, &p->per_page, r))
        return false;
    char *pg = plan_own(p, malloc(24)), *pp = plan_own(p, malloc(24));
    snprintf(pg, 24, "%ld", p->page);
    snprintf(pp, 24, "%ld", p->per_page);
    const char *params[] = {pg, pp};
    plan_set(p, sql_auth_admin_list(), 2, params);
    p->list = true;
    return true;
}

static bool plan_admin_create(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *ignored;
    if (!body_string(c->body, "email", &ignored, r) ||
        !body_string(c->body, "password", &ignored, r) ||
        !body_string(c->body, "phone", &ignored, r) ||
        !body_object(c->body, "user_metadata", NULL, &ignored, r) ||
        !body_object(c->body, "app_metadata", NULL, &ignored, r))
        return false;
    const char *params[] = {whole_body(c->body, p), c->settings};
    plan_set(p, sql_auth_admin_create(), 2, params);
    return true;
}

/* /admin/users/<id>: GET, PUT, DELETE. */
static bool plan_admin_user(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *id = c->rest + strlen("admin/users/");
    if (!is_uuid(id))
        return refuse(r, 404, "user_not_found", "User not found");
    const char *m = c->req->method;
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
        const char *params[] = {id};
        plan_set(p, sql_auth_admin_get(), 1, params);
    } else if (strcmp(m, "PUT") == 0) {
        const char *ignored;
        if (!body_string(c->body, "email", &ignored, r) ||
            !body_string(c->body, "password", &ignored, r) ||
            !body_string(c->body, "ban_duration", &ignored, r) ||
            !body_object(c->body, "user_metadata", NULL, &ignored, r) ||
            !body_object(c->body, "app_metadata", NULL, &ignored, r))
            return false;
        const char *params[] = {id, whole_body(c->body, p), c->settings};
        plan_set(p, sql_auth_admin_update(), 3, params);
    } else {
        json_t *soft = json_object_get(c->body, "should_soft_delete");
        if (soft && !json_is_boolean(soft) && !json_is_null(soft))
            return refuse(r, 400, "bad_json", "should_soft_delete must be a boolean");
        const char *params[] = {id, json_is_true(soft) ? "true" : "false"};
        plan_set(p, sql_auth_admin_delete(), 2, params);
    }
    return true;
}

/* ---- email flows (41-mail.sql) ------------------------------------------- */

/*
 * The mail flows (otp, magiclink, recover, resend) answer no sooner than
 * this many milliseconds after the request began. They answer {} whether
 * or not the address has an account, and the flows do equivalent work in
 * the database either way (auth._mail_decoy), but a queued mail also wakes
 * the mail sender right after the commit, which takes CPU while the answer
 * is on its way: 1-2 ms of difference here, measured by auth_limits.test.mjs.
 * A floor well above the flows' own time (2-8 ms on a loaded machine) hides
 * it. These requests are few (rate-limited per client and per address), so
 * holding a worker this long costs little.
 */
#define AUTH_MAIL_MIN_MS 25

/* A boolean field of the body: *out def when absent or null; any other
 * type is refused. */
static bool body_bool(json_t *body, const char *key, bool def, bool *out, AuthRefusal *r)
{
    json_t *v = json_object_get(body, key);
    *out = def;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        char m[96];
        snprintf(m, sizeof m, "%s must be a boolean", key);
        return refuse(r, 400, "bad_json", m);
    }
    *out = json_is_true(v);
    return true;
}

/* POST /otp and /magiclink {email, create_user, data}: {} whether or not
 * the address has an account. */
static bool plan_otp(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *email, *phone, *data;
    bool create = true;
    if (!body_string(c->body, "email", &email, r) || !body_string(c->body, "phone", &phone, r) ||
        !body_object(c->body, "data", p, &data, r) ||
        !body_bool(c->body, "create_user", true, &create, r))
        return false;
    if (!email && phone)
        return auth_phone_plan_otp(c, p, phone, create, data, r);
    if (!email)
        return refuse(r, 400, "validation_failed", "An email address is required");
    const char *params[] = {email, create ? "true" : "false", data, c->settings};
    bool pkce;
    if (!auth_user_plan_otp_pkce(c, p, params, &pkce, r))
        return false;
    if (!pkce)
        plan_set(p, sql_auth_send_otp(), 4, params);
    p->min_ms = AUTH_MAIL_MIN_MS;
    return true;
}

static bool plan_recover(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *email;
    if (!body_string(c->body, "email", &email, r))
        return false;
    if (!email)
        return refuse(r, 400, "validation_failed", "Password recovery requires an email");
    const char *params[] = {email, c->settings};
    bool pkce;
    if (!auth_user_plan_recover_pkce(c, p, params, &pkce, r))
        return false;
    if (!pkce)
        plan_set(p, sql_auth_recover(), 2, params);
    p->min_ms = AUTH_MAIL_MIN_MS;
    return true;
}

static bool plan_resend(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *type, *email, *phone;
    if (!body_string(c->body, "type", &type, r) || !body_string(c->body, "email", &email, r) ||
        !body_string(c->body, "phone", &phone, r))
        return false;
    if (!email && phone)
        return auth_phone_plan_resend(c, p, type, phone, r);
    if (!email)
        return refuse(r, 400, "validation_failed", "An email address is required");
    const char *params[] = {type, email, c->settings};
    bool pkce;
    if (!auth_user_plan_resend_pkce(c, p, params, &pkce, r))
        return false;
    if (!pkce)
        plan_set(p, sql_auth_resend(), 3, params);
    p->min_ms = AUTH_MAIL_MIN_MS;
    return true;
}

/* POST /verify {type, token, email | token_hash}: a session. GET /verify
 * ?token=&type=&redirect_to= (the link of a mail): 303 to the allowed
 * target with the session or the error in the fragment. */
static bool plan_verify(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    if (strcmp(c->req->method, "GET") == 0) {
        const char *params[] = {request_query(c->req, "type"), request_query(c->req, "token"),
                                request_query(c->req, "redirect_to"), c->settings};
        plan_set(p, sql_auth_verify_link(), 4, params);
        p->redirect = true;
        return true;
    }
    const char *type, *token, *token_hash, *email, *phone;
    if (!body_string(c->body, "type", &type, r) || !body_string(c->body, "token", &token, r) ||
        !body_string(c->body, "token_hash", &token_hash, r) ||
        !body_string(c->body, "email", &email, r) || !body_string(c->body, "phone", &phone, r))
        return false;
    if (!email && !token_hash && phone)
        return auth_phone_plan_verify(c, p, type, token, phone, r);
    const char *params[] = {type, token, token_hash, email, c->settings};
    plan_set(p, sql_auth_verify(), 5, params);
    return true;
}

static bool plan_invite(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *email, *data;
    if (!body_string(c->body, "email", &email, r) || !body_object(c->body, "data", p, &data, r))
        return false;
    const char *params[] = {email, data, c->settings};
    plan_set(p, sql_auth_admin_invite(), 3, params);
    return true;
}

static bool plan_generate_link(AuthCtx *c, AuthPlan *p, AuthRefusal *r)
{
    const char *ignored;
    if (!body_string(c->body, "type", &ignored, r) || !body_string(c->body, "email", &ignored, r) ||
        !body_string(c->body, "password", &ignored, r) ||
        !body_string(c->body, "new_email", &ignored, r) ||
        !body_object(c->body, "data", NULL, &ignored, r))
        return false;
    const char *params[] = {whole_body(c->body, p), c->settings};
    plan_set(p, sql_auth_admin_generate_link(), 2, params);
    return true;
}

/*
 * The endpoints, relative to /auth/v1/. Columns: path (a trailing '/'
 * matches one segment below it, a trailing '/' then '*' one or more), methods,
 * credential, whether the body is read, plan. The first row with the
 * method wins.
 */
static const struct {
    const char *path;
    unsigned methods;
    KeyKind key;
    bool body;
    AuthPlanFn plan;
} endpoints[] = {
    {"signup", KILN_POST, KEY_APIKEY, true, plan_signup},
    {"token", KILN_POST, KEY_APIKEY, true, plan_token},
    {"logout", KILN_POST, KEY_BEARER, false, plan_logout},
    {"user", KILN_GET | KILN_HEAD, KEY_BEARER, false, plan_user_get},
    {"user", KILN_PUT, KEY_BEARER, true, auth_user_plan_update}, /* auth_user.c */
    {"settings", KILN_GET | KILN_HEAD, KEY_APIKEY, false, plan_settings},
    {"health", KILN_GET | KILN_HEAD, KEY_APIKEY, false, plan_health},
    {".well-known/jwks.json", KILN_GET | KILN_HEAD, KEY_OPEN, false, plan_jwks},
    {"admin/users", KILN_GET | KILN_HEAD, KEY_BEARER, false, plan_admin_list},
    {"admin/users", KILN_POST, KEY_BEARER, true, plan_admin_create},
    {"admin/users/", KILN_GET | KILN_HEAD | KILN_PUT | KILN_DELETE, KEY_BEARER, true,
     plan_admin_user},
    /* auth_mfa.c */
    {"factors", KILN_POST, KEY_BEARER, true, auth_mfa_plan_factors},
    {"factors/*", KILN_POST | KILN_DELETE, KEY_BEARER, true, auth_mfa_plan_factors},
    {"admin/users/*", KILN_GET | KILN_HEAD | KILN_DELETE, KEY_BEARER, true,
     auth_mfa_plan_admin_factors},
    {"otp", KILN_POST, KEY_APIKEY, true, plan_otp},
    {"magiclink", KILN_POST, KEY_APIKEY, true, plan_otp},
    {"recover", KILN_POST, KEY_APIKEY, true, plan_recover},
    {"resend", KILN_POST, KEY_APIKEY, true, plan_resend},
    {"verify", KILN_POST, KEY_APIKEY, true, plan_verify},
    /* the link in a mail, opened by a browser: no apikey (as the gateway's
     * open auth routes); GET only, so a HEAD from a link checker does not
     * use the token up */
    {"verify", KILN_GET, KEY_OPEN, false, plan_verify},
    {"invite", KILN_POST, KEY_BEARER, true, plan_invite},
    {"admin/generate_link", KILN_POST, KEY_BEARER, true, plan_generate_link},
    /* auth_user.c (GET user/identities/authorize: auth_oauth.c) */
    {"reauthenticate", KILN_GET, KEY_BEARER, false, auth_user_plan_reauthenticate},
    {"user/identities/", KILN_DELETE, KEY_BEARER, false, auth_user_plan_unlink},
};

#define NENDPOINTS (sizeof endpoints / sizeof endpoints[0])

/* Finds the endpoint for rest and method: its index, or -1 with r 404, or
 * 405 with *allowed the methods the path takes (KILN_* mask). */
static int endpoint_find(const char *rest, const char *method, unsigned *allowed, AuthRefusal *r)
{
    unsigned bit = route_method_bit(method);
    *allowed = 0;
    for (size_t i = 0; i < NENDPOINTS; i++) {
        const char *p = endpoints[i].path;
        size_t n = strlen(p);
        bool deep = n >= 2 && p[n - 1] == '*' && p[n - 2] == '/';
        bool match = deep             ? strncmp(rest, p, n - 1) == 0 && rest[n - 1]
                     : p[n - 1] == '/' ? strncmp(rest, p, n) == 0 && rest[n] && !strchr(rest + n, '/')
                                       : strcmp(rest, p) == 0;
        if (!match)
            continue;
        *allowed |= endpoints[i].methods;
        if (endpoints[i].methods & bit)
            return (int)i;
    }
    if (*allowed)
        refuse(r, 405, "method_not_allowed", "Method not allowed");
    else
        refuse(r, 404, "not_found", "Not found");
    return -1;
}

/* The Allow header for a KILN_* mask, e.g. "GET, HEAD, PUT". */
static void allow_header(KilnResponse *res, unsigned mask)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{KILN_GET, "GET"}, {KILN_HEAD, "HEAD"}, {KILN_POST, "POST"},
                 {KILN_PUT, "PUT"}, {KILN_DELETE, "DELETE"}};
    char v[64] = "";
    size_t off = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (mask & names[i].bit)
            off += (size_t)snprintf(v + off, sizeof v - off, "%s%s", off ? ", " : "", names[i].name);
    response_set_header(res, "Allow", v);
}

/* The token kiln.authenticate gets. Every endpoint but KEY_OPEN needs an
 * apikey (header or ?apikey=; 401 without, as the gateway in front of
 * GoTrue answers); KEY_APIKEY authenticates it, KEY_BEARER a bearer JWT
 * when there is one (rest_pick_token), the apikey otherwise. */
static bool pick_token(const KilnRequest *req, KeyKind key, const char **token, AuthRefusal *r)
{
    *token = NULL;
    const char *apikey = request_header(req, "apikey");
    if (!apikey || !*apikey)
        apikey = request_query(req, "apikey");
    if (key == KEY_OPEN)
        return true;
    if (!apikey || !*apikey)
        return refuse(r, 401, "no_api_key", "No API key found in request");
    if (key == KEY_APIKEY) {
        *token = apikey;
        return true;
    }
    KilnError err;
    if (!rest_pick_token(req, apikey, token, &err) || !*token)
        return refuse(r, 401, "no_authorization", "This endpoint requires a valid Bearer token");
    return true;
}

/* Link for the admin list: page first (auth-js reads the digit after the
 * first '='). */
static void list_headers(KilnResponse *res, const AuthPlan *p, long long total)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", total < 0 ? 0 : total);
    response_set_header(res, "X-Total-Count", v);
    long last = total > 0 ? (long)((total + p->per_page - 1) / p->per_page) : 1;
    char link[256];
    int n = 0;
    if (p->page < last)
        n = snprintf(link, sizeof link, "</auth/v1/admin/users?page=%ld&per_page=%ld>; rel=\"next\", ",
                     p->page + 1, p->per_page);
    snprintf(link + n, sizeof link - (size_t)n,
             "</auth/v1/admin/users?page=%ld&per_page=%ld>; rel=\"last\"", last, p->per_page);
    response_set_header(res, "Link", link);
}

static unsigned long schema_generation(KilnServer *srv)
{
    KilnSchemaCache *sc = srv && srv->schema ? schema_holder_current(srv->schema) : NULL;
    unsigned long gen = sc ? sc->generation : 0;
    schema_cache_release(sc);
    return gen;
}

/* GET /verify: 303 See Other to the flow's {"location"} (an allowed
 * target, checked in the database), or a generic 500. */
static void redirect_response(KilnResponse *res, const char *body)
{
    json_t *o = json_loads(body, 0, NULL);
    const char *loc = json_string_value(json_object_get(o, "location"));
    if (!loc || strpbrk(loc, "\r\n")) {
        auth_render_error(res, 500, "unexpected_failure",
                          "Unexpected failure, please check server logs for more information",
                          NULL, true, false);
    } else {
        res->status = 303;
        res->content_type = "text/plain";
        buf_reset(&res->body);
        response_set_header(res, "Location", loc);
        response_set_header(res, "Cache-Control", "no-store");
        response_set_header(res, "Referrer-Policy", "no-referrer");
    }
    json_decref(o);
}

/* Sleeps until ms milliseconds after the request began (at once when that
 * has passed). */
static void wait_until_elapsed(const KilnRequest *req, int ms)
{
    int64_t left = req->t.start_us + (int64_t)ms * 1000 - kiln_now_us();
    if (left <= 0)
        return;
    struct timespec ts = {.tv_sec = left / 1000000, .tv_nsec = (long)(left % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Runs a plan in one transaction and fills res with the flow's answer. */
static void run_plan(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
                     const AuthPlan *p, KeyKind key, const char *token, bool versioned)
{
    KilnTxResult out;
    KilnError txerr = {0};
    if (!rest_tx(req, conn, true, false, token, p->sql, p->nparams, p->params,
                 schema_generation(req->server), &out, conn_broken, &txerr)) {
        render_tx_error(res, &txerr, key, versioned);
        return;
    }
    if (out.page_rows != 200) {
        render_flow_error(res, buf_str(&out.body), (int)out.page_rows, versioned,
                          p->token_endpoint);
    } else if (p->redirect) {
        redirect_response(res, buf_str(&out.body));
    } else {
        res->status = p->success_status;
        res->content_type = "application/json";
        buf_free(&res->body);
        if (p->success_status != 204) {
            res->body = out.body;
            out.body = (KilnBuf)KILN_BUF_INIT;
        }
        if (p->list)
            list_headers(res, p, out.total);
    }
    buf_free(&out.body);
    buf_free(&out.extra);
}

bool auth_serve(KilnRequest *req, KilnConn *conn, bool *conn_broken, KilnResponse *res,
                KilnError *err)
{
    (void)err; /* every outcome, refusals included, is rendered here */
    bool versioned = auth_api_versioned(request_header(req, "X-Supabase-Api-Version"));
    AuthRefusal r = {0};
    AuthCtx c = {.req = req, .rest = req->path + strlen(AUTH_PREFIX)};
    if (auth_oauth_wants(req, c.rest))
        return auth_oauth_serve(req, c.rest, conn, conn_broken, res);
    AuthPlan p = {.success_status = 200};
    KilnBuf settings = KILN_BUF_INIT;
    const char *token = NULL;
    unsigned allowed;
    int ep = endpoint_find(c.rest, req->method, &allowed, &r);
    bool ok = ep >= 0 && pick_token(req, endpoints[ep].key, &token, &r);
    if (ok && endpoints[ep].body && strcmp(req->method, "GET") != 0 &&
        strcmp(req->method, "HEAD") != 0)
        ok = parse_body(req, &c.body, &r);
    else if (ok)
        c.body = json_object();
    if (ok) {
        auth_settings_json(req->cfg, &settings);
        /* The client's emailRedirectTo / redirectTo (checked by the flow
         * against site URL and allowlist). */
        const char *redirect_to = request_query(req, "redirect_to");
        if (redirect_to && *redirect_to) {
            settings.len--; /* reopen the object */
            buf_puts(&settings, ",\"redirect_to\":");
            buf_put_json_string(&settings, redirect_to);
            buf_putc(&settings, '}');
        }
        c.settings = buf_str(&settings);
        ok = endpoints[ep].plan(&c, &p, &r);
    }
    if (ok) {
        run_plan(req, conn, conn_broken, res, &p, endpoints[ep].key, token, versioned);
        if (p.min_ms > 0)
            wait_until_elapsed(req, p.min_ms);
    } else {
        auth_render_error(res, r.status, r.code, r.message, NULL, versioned,
                          ep >= 0 && endpoints[ep].plan == plan_token);
        if (r.status == 405)
            allow_header(res, allowed);
    }
    json_decref(c.body);
    plan_free(&p);
    buf_free(&settings);
    return true;
}
