/*
 * config.c: the configuration table, its sources and validation.
 *
 * Never logs and never exits; errors come back as one-line KilnError
 * messages "<problem>; <fix>" naming the key and where its value came from.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cors.h"
#include "log.h"
#include "proxy.h"

typedef enum { CFG_STR, CFG_INT, CFG_BOOL } CfgType;

/* Custom checks beyond type and bounds. */
typedef enum {
    CHECK_NONE, CHECK_IP, CHECK_LOG_LEVEL, CHECK_ORIGINS, CHECK_SMS_PROVIDER, CHECK_CIDRS
} CfgCheck;

/*
 * The table. Columns:
 *   name        key in files and flags; env var is KILN_<NAME upper-cased>
 *   type        CFG_STR / CFG_INT / CFG_BOOL
 *   offset      field in KilnConfig
 *   def         default as text (NULL: empty / unset)
 *   min, max    bounds for CFG_INT
 *   reload      takes effect on SIGHUP (else needs a restart)
 *   secret      masked in `kiln config` and never logged
 *   serve_req   required by `kiln serve`
 *   check       extra validation
 *   help        one line for --help and docs/config.md
 */
typedef struct CfgKey {
    const char *name;
    CfgType type;
    size_t offset;
    const char *def;
    long min, max;
    bool reload;
    bool secret;
    bool serve_req;
    CfgCheck check;
    const char *help;
} CfgKey;

#define F(field) offsetof(KilnConfig, field)

static const CfgKey cfg_keys[] = {
    {"listen_address", CFG_STR, F(listen_address), "127.0.0.1", 0, 0, false, false, false,
     CHECK_IP, "IP address the HTTP listener binds (IPv4 or IPv6 literal)"},
    {"port", CFG_INT, F(port), "8000", 1, 65535, false, false, false, CHECK_NONE,
     "TCP port of the HTTP listener"},
    {"threads", CFG_INT, F(threads), "0", 0, 256, false, false, false, CHECK_NONE,
     "HTTP worker threads (epoll, one event loop each); 0 = one per core"},
    {"max_connections", CFG_INT, F(max_connections), "1024", 1, 100000, false, false, false,
     CHECK_NONE, "maximum simultaneous client connections"},
    {"connection_timeout_s", CFG_INT, F(connection_timeout_s), "30", 1, 3600, false, false, false,
     CHECK_NONE, "idle client connections are closed after this many seconds"},
    {"max_body_bytes", CFG_INT, F(max_body_bytes), "10485760", 0, 1073741824, true, false, false,
     CHECK_NONE, "largest request body accepted (413 beyond)"},
    {"shutdown_timeout_s", CFG_INT, F(shutdown_timeout_s), "30", 0, 3600, true, false, false,
     CHECK_NONE, "on SIGTERM, how long in-flight requests may take to finish"},
    {"db_url", CFG_STR, F(db_url), NULL, 0, 0, false, true, true, CHECK_NONE,
     "PostgreSQL connection string (libpq URI or key=value); may hold a password"},
    {"db_pool_size", CFG_INT, F(db_pool_size), "10", 1, 1000, false, false, false, CHECK_NONE,
     "database connections in the pool"},
    {"db_pool_timeout_ms", CFG_INT, F(db_pool_timeout_ms), "5000", 1, 600000, true, false, false,
     CHECK_NONE, "how long a request waits for a free pooled connection (503 after)"},
    {"db_connect_timeout_s", CFG_INT, F(db_connect_timeout_s), "5", 1, 300, true, false, false,
     CHECK_NONE, "timeout for opening one database connection"},
    {"db_schemas", CFG_STR, F(db_schemas), "public", 0, 0, false, false, false, CHECK_NONE,
     "schemas the data API exposes, comma-separated; the first is the default profile"},
    {"db_max_rows", CFG_INT, F(db_max_rows), "1000", 0, 1000000, true, false, false, CHECK_NONE,
     "most rows one data API read returns (0 = no cap)"},
    {"anon_without_key", CFG_BOOL, F(anon_without_key), "false", 0, 0, true, false, false,
     CHECK_NONE, "data API requests with neither apikey nor bearer token run as anon (else 401)"},
    {"db_tx_allow_override", CFG_BOOL, F(db_tx_allow_override), "false", 0, 0, true, false,
     false, CHECK_NONE,
     "honour Prefer: tx=rollback on data API writes (PostgREST db-tx-end=commit-allow-override)"},
    {"db_aggregates_enabled", CFG_BOOL, F(db_aggregates_enabled), "false", 0, 0, true, false,
     false, CHECK_NONE,
     "data API select may use count() and col.sum()/avg()/min()/max()/count() "
     "(PostgREST db-aggregates-enabled; else 400 PGRST123)"},
    {"db_plan_enabled", CFG_BOOL, F(db_plan_enabled), "false", 0, 0, true, false, false,
     CHECK_NONE,
     "data API answers Accept: application/vnd.pgrst.plan (EXPLAIN as the caller; PostgREST "
     "db-plan-enabled; else 406 PGRST107)"},
    {"cors_allowed_origins", CFG_STR, F(cors_allowed_origins), NULL, 0, 0, true, false, false,
     CHECK_ORIGINS, "browser origins allowed to call the API, comma-separated: "
     "https://app.example.com, http://localhost:* (any port) or * alone; empty: none"},
    {"trusted_proxies", CFG_STR, F(trusted_proxies), NULL, 0, 0, true, false, false, CHECK_CIDRS,
     "reverse proxies whose X-Forwarded-For names the client (for rate limits and audit), "
     "comma-separated CIDRs: 10.0.0.0/8, 2001:db8::/32, 127.0.0.1; empty: the TCP peer is the "
     "client and X-Forwarded-For is ignored"},
    {"auth_signup_enabled", CFG_BOOL, F(auth_signup_enabled), "true", 0, 0, true, false, false,
     CHECK_NONE, "auth: POST /auth/v1/signup creates accounts (false: 422 signup_disabled)"},
    {"auth_anonymous_enabled", CFG_BOOL, F(auth_anonymous_enabled), "false", 0, 0, true, false,
     false, CHECK_NONE, "auth: anonymous sign-in (signInAnonymously) is allowed"},
    {"auth_autoconfirm", CFG_BOOL, F(auth_autoconfirm), "false", 0, 0, true, false, false,
     CHECK_NONE, "auth: new email addresses count as confirmed; sign-up answers with a session"},
    {"auth_password_min_length", CFG_INT, F(auth_password_min_length), "8", 8, 1024, true, false,
     false, CHECK_NONE, "auth: shortest password accepted (never below 8)"},
    {"auth_access_token_ttl_s", CFG_INT, F(auth_access_token_ttl_s), "3600", 30, 86400, true,
     false, false, CHECK_NONE, "auth: lifetime of an access token in seconds"},
    {"auth_refresh_reuse_interval_s", CFG_INT, F(auth_refresh_reuse_interval_s), "10", 0, 300,
     true, false, false, CHECK_NONE,
     "auth: a rotated refresh token presented again within this many seconds gets the same successor"},
    {"auth_session_timebox_s", CFG_INT, F(auth_session_timebox_s), "2592000", 0, 315360000, true,
     false, false, CHECK_NONE,
     "auth: a session ends this many seconds after sign-in, refreshed or not (0 = never)"},
    {"auth_session_inactivity_timeout_s", CFG_INT, F(auth_session_inactivity_timeout_s), "604800",
     0, 315360000, true, false, false, CHECK_NONE,
     "auth: a session not refreshed for this many seconds ends (0 = never)"},
    {"auth_rate_limit_sign_in", CFG_INT, F(auth_rate_limit_sign_in), "30", 0, 1000000, true, false,
     false, CHECK_NONE,
     "auth: sign-ups and sign-ins (password, anonymous, pkce, id_token, OAuth) per 5 minutes per "
     "client IP (429 beyond; 0 = no limit)"},
    {"auth_rate_limit_refresh", CFG_INT, F(auth_rate_limit_refresh), "150", 0, 1000000, true,
     false, false, CHECK_NONE,
     "auth: token refreshes per 5 minutes per client IP (429 beyond; 0 = no limit)"},
    {"auth_site_url", CFG_STR, F(auth_site_url), "http://localhost:3000", 0, 0, true, false,
     false, CHECK_NONE,
     "auth: the app's URL: where sign-in and mail links return by default (and any path below it "
     "is an allowed redirect_to)"},
    {"auth_redirect_urls", CFG_STR, F(auth_redirect_urls), NULL, 0, 0, true, false, false,
     CHECK_NONE, "auth: other allowed redirect_to targets, comma-separated; an entry ending in /** "
     "allows any path below it (https://app.example.com/auth/**)"},
    {"auth_external_url", CFG_STR, F(auth_external_url), NULL, 0, 0, true, false, false,
     CHECK_NONE, "auth: this API's public URL, e.g. https://api.example.com, for mail links and "
     "the OAuth callback <url>/auth/v1/callback (default: http://listen_address:port)"},
    {"auth_providers", CFG_STR, F(auth_providers), NULL, 0, 0, true, false, false, CHECK_NONE,
     "auth: path of the JSON file of OAuth/OIDC sign-in providers (docs/auth.md); holds client "
     "secrets, never printed"},
    {"auth_otp_ttl_s", CFG_INT, F(auth_otp_ttl_s), "600", 10, 600, true, false, false, CHECK_NONE,
     "auth: lifetime of a mailed code or link in seconds (at most 10 minutes)"},
    {"auth_rate_limit_email", CFG_INT, F(auth_rate_limit_email), "10", 0, 1000000, true, false,
     false, CHECK_NONE,
     "auth: requests that send mail (otp, magiclink, recover, resend) per 5 minutes per client IP "
     "(429 beyond; 0 = no limit)"},
    {"auth_rate_limit_verify", CFG_INT, F(auth_rate_limit_verify), "30", 0, 1000000, true, false,
     false, CHECK_NONE, "auth: verifications of codes and links per 5 minutes per client IP "
     "(429 beyond; 0 = no limit)"},
    {"auth_secure_password_change", CFG_BOOL, F(auth_secure_password_change), "false", 0, 0, true,
     false, false, CHECK_NONE,
     "auth: a password change (PUT /user) needs a nonce from GET /reauthenticate or the current "
     "password unless the session is younger than auth_reauthentication_window_s"},
    {"auth_reauthentication_window_s", CFG_INT, F(auth_reauthentication_window_s), "300", 0, 86400,
     true, false, false, CHECK_NONE,
     "auth: with auth_secure_password_change, sessions younger than this (seconds) change the "
     "password without reauthenticating (0 = always ask)"},
    {"auth_rate_limit_mfa", CFG_INT, F(auth_rate_limit_mfa), "30", 0, 1000000, true, false, false,
     CHECK_NONE, "auth: MFA challenges and verifications (factors) per 5 minutes per client IP "
     "(429 beyond; 0 = no limit)"},
    {"auth_email_min_interval_s", CFG_INT, F(auth_email_min_interval_s), "60", 0, 86400, true,
     false, false, CHECK_NONE,
     "auth: seconds between two mail-sending requests for one address (otp, recover, resend, "
     "sign-up awaiting confirmation; 429 over_email_send_rate_limit sooner; 0 = no limit)"},
    {"auth_backoff_failures", CFG_INT, F(auth_backoff_failures), "5", 0, 1000, true, false, false,
     CHECK_NONE, "auth: failed sign-ins (password, email code) on one account from one client IP "
     "before that IP must wait, 1 s doubling per further failure (0 = no backoff)"},
    {"auth_backoff_account_failures", CFG_INT, F(auth_backoff_account_failures), "50", 0, 100000,
     true, false, false, CHECK_NONE,
     "auth: failures on one account from all IPs in an hour beyond which every failing IP waits "
     "after its first failure; IPs without failures are never held back (0 = off)"},
    {"auth_backoff_max_s", CFG_INT, F(auth_backoff_max_s), "900", 1, 86400, true, false, false,
     CHECK_NONE, "auth: longest per-account backoff in seconds"},
    {"smtp_url", CFG_STR, F(smtp_url), NULL, 0, 0, true, false, false, CHECK_NONE,
     "mail: SMTP server, smtp://host:port (STARTTLS when offered; required with smtp_user) or "
     "smtps://host:port; empty: mail stays in the outbox (kiln mail)"},
    {"smtp_user", CFG_STR, F(smtp_user), NULL, 0, 0, true, false, false, CHECK_NONE,
     "mail: SMTP user name (empty: no authentication)"},
    {"smtp_password", CFG_STR, F(smtp_password), NULL, 0, 0, true, true, false, CHECK_NONE,
     "mail: SMTP password"},
    {"smtp_from", CFG_STR, F(smtp_from), "Kiln <noreply@localhost>", 0, 0, true, false, false,
     CHECK_NONE, "mail: the From of every message, `Name <address>` or an address"},
    {"mail_templates_dir", CFG_STR, F(mail_templates_dir), NULL, 0, 0, true, false, false,
     CHECK_NONE, "mail: directory of templates (confirmation.html, magiclink.html, recovery.html, "
     "email_change.html, invite.html) replacing the built-in ones"},
    {"mail_max_attempts", CFG_INT, F(mail_max_attempts), "8", 1, 100, true, false, false,
     CHECK_NONE, "mail: delivery attempts before a message is marked failed (backoff 2^n s)"},
    {"auth_phone_signup_enabled", CFG_BOOL, F(auth_phone_signup_enabled), "true", 0, 0, true,
     false, false, CHECK_NONE,
     "auth: phone sign-ups (signUp and signInWithOtp with a phone) create accounts when phone "
     "sign-in is on (sms_provider)"},
    {"auth_phone_autoconfirm", CFG_BOOL, F(auth_phone_autoconfirm), "false", 0, 0, true, false,
     false, CHECK_NONE,
     "auth: new phone numbers count as confirmed without a texted code; sign-up answers with a "
     "session"},
    {"auth_rate_limit_sms", CFG_INT, F(auth_rate_limit_sms), "10", 0, 1000000, true, false, false,
     CHECK_NONE, "auth: requests that send a text (phone signup, otp, resend, phone change) per 5 "
     "minutes per client IP (429 beyond; 0 = no limit)"},
    {"auth_sms_min_interval_s", CFG_INT, F(auth_sms_min_interval_s), "60", 0, 86400, true, false,
     false, CHECK_NONE,
     "auth: seconds between two texts to one number (phone signup, otp, resend, phone change; "
     "429 over_sms_send_rate_limit sooner; 0 = no limit)"},
    {"sms_provider", CFG_STR, F(sms_provider), NULL, 0, 0, true, false, false, CHECK_SMS_PROVIDER,
     "sms: twilio (form POST), webhook (JSON POST) or outbox (nothing sent: kiln sms shows the "
     "codes; the kiln dev default); empty: phone sign-in is off"},
    {"sms_url", CFG_STR, F(sms_url), NULL, 0, 0, true, false, false, CHECK_NONE,
     "sms: the endpoint messages are posted to (webhook: required; twilio: default "
     "https://api.twilio.com/2010-04-01/Accounts/<sid>/Messages.json)"},
    {"sms_twilio_account_sid", CFG_STR, F(sms_twilio_account_sid), NULL, 0, 0, true, false, false,
     CHECK_NONE, "sms: Twilio account SID (HTTP Basic user)"},
    {"sms_twilio_auth_token", CFG_STR, F(sms_twilio_auth_token), NULL, 0, 0, true, true, false,
     CHECK_NONE, "sms: Twilio auth token (HTTP Basic password)"},
    {"sms_from", CFG_STR, F(sms_from), NULL, 0, 0, true, false, false, CHECK_NONE,
     "sms: Twilio sender: a number (+15550100000) or a messaging service SID (MG...)"},
    {"sms_webhook_secret", CFG_STR, F(sms_webhook_secret), NULL, 0, 0, true, true, false,
     CHECK_NONE, "sms: shared secret the webhook receives as Authorization: Bearer <secret>"},
    {"sms_template", CFG_STR, F(sms_template), "Your code is {{ .Code }}", 0, 0, true, false,
     false, CHECK_NONE, "sms: the text of every message; {{ .Code }} is the 6-digit code"},
    {"sms_max_attempts", CFG_INT, F(sms_max_attempts), "8", 1, 100, true, false, false,
     CHECK_NONE, "sms: delivery attempts before a message is marked failed (backoff 2^n s)"},
    {"log_level", CFG_STR, F(log_level), "info", 0, 0, true, false, false, CHECK_LOG_LEVEL,
     "error, warn, info or debug"},
    {"access_log", CFG_BOOL, F(access_log), "true", 0, 0, true, false, false, CHECK_NONE,
     "one JSON line per request with its stage timings"},
    {"debug_endpoints", CFG_BOOL, F(debug_endpoints), "false", 0, 0, true, false, false,
     CHECK_NONE, "serve /debug/* test endpoints (never in production)"},
};

#define NKEYS (sizeof cfg_keys / sizeof cfg_keys[0])

/*
 * Retired keys: read by earlier versions, ignored now. Setting one (file,
 * environment, flag or base layer) is not an error but a warning on every
 * load, naming where it was set: ignoring them cannot widen access (tokens
 * and keys are accepted only when registered in the database, where
 * kiln.authenticate verifies them), while refusing to start would turn an
 * upgrade into an outage. Columns: name, what to do instead.
 */
static const struct {
    const char *name;
    const char *instead;
} retired_keys[] = {
    {"jwt_secret", "tokens are verified in the database; register an HS256 secret there with "
                   "kiln.set_legacy_jwt_secret(secret) and remove this setting"},
    {"publishable_key", "API keys are verified in the database; register the key there with "
                        "kiln.import_api_key(key) and remove this setting"},
    {"secret_key", "API keys are verified in the database; register the key there with "
                   "kiln.import_api_key(key) and remove this setting"},
};

#define NRETIRED (sizeof retired_keys / sizeof retired_keys[0])

/* ---- helpers ---------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        abort();
    return p;
}

/* A value as it may appear in a one-line error: control characters become
 * '?', and long values are cut to 60 bytes with "...". */
static const char *shown(const char *v, char *buf, size_t len)
{
    size_t i = 0, max = len - 4 < 60 ? len - 4 : 60;
    for (; v && v[i] && i < max; i++)
        buf[i] = (unsigned char)v[i] < 0x20 || v[i] == 0x7f ? '?' : v[i];
    if (v && v[i])
        buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
    buf[i] = '\0';
    return buf;
}

/* "db-url" and "DB_URL" both normalise to "db_url". */
static void normalise_key(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in[i] && i + 1 < len; i++)
        out[i] = in[i] == '-' ? '_' : (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

static int key_index(const char *name)
{
    char norm[64];
    normalise_key(name, norm, sizeof norm);
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(cfg_keys[i].name, norm) == 0)
            return (int)i;
    return -1;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb];
}

static int retired_index(const char *name)
{
    char norm[64];
    normalise_key(name, norm, sizeof norm);
    for (size_t i = 0; i < NRETIRED; i++)
        if (strcmp(retired_keys[i].name, norm) == 0)
            return (int)i;
    return -1;
}

static bool unknown_key(const char *name, const char *where, KilnError *err)
{
    char sv[72];
    char norm[64];
    normalise_key(name, norm, sizeof norm);
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < NKEYS; i++) {
        size_t d = edit_distance(norm, cfg_keys[i].name);
        if (d < best_d) {
            best_d = d;
            best = cfg_keys[i].name;
        }
    }
    if (best)
        return kiln_error_set(err, 0, "config", "unknown key '%s' in %s; did you mean '%s'?",
                              shown(name, sv, sizeof sv), where, best);
    return kiln_error_set(err, 0, "config",
                          "unknown key '%s' in %s; see `kiln config --help` for the keys",
                          shown(name, sv, sizeof sv), where);
}

/* ---- layers ----------------------------------------------------------- */

bool config_layer_set(KilnConfigLayer *layer, const char *key, const char *value, KilnError *err)
{
    int idx = key_index(key);
    int retired = idx < 0 ? retired_index(key) : -1;
    if (idx < 0 && retired < 0)
        return unknown_key(key, "the built-in settings", err);
    if (layer->count == layer->cap) {
        int cap = layer->cap ? layer->cap * 2 : 8;
        char **k = realloc(layer->keys, (size_t)cap * sizeof *k);
        char **v = realloc(layer->values, (size_t)cap * sizeof *v);
        if (!k || !v)
            abort();
        layer->keys = k;
        layer->values = v;
        layer->cap = cap;
    }
    layer->keys[layer->count] =
        xstrdup(idx >= 0 ? cfg_keys[idx].name : retired_keys[retired].name);
    layer->values[layer->count] = xstrdup(value);
    layer->count++;
    return true;
}

bool config_layer_parse_args(KilnConfigLayer *layer, int argc, char **argv, KilnError *err)
{
    char sv[72];
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            return kiln_error_set(err, 0, "usage",
                                  "unexpected argument '%s'; flags look like --key value",
                                  shown(arg, sv, sizeof sv));
        char name[128];
        const char *eq = strchr(arg + 2, '=');
        size_t nlen = eq ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
        if (nlen >= sizeof name)
            return kiln_error_set(err, 0, "usage", "flag '%s' is too long; see kiln --help",
                                  shown(arg, sv, sizeof sv));
        memcpy(name, arg + 2, nlen);
        name[nlen] = '\0';
        char norm[128];
        normalise_key(name, norm, sizeof norm);

        const char *value;
        int idx = strcmp(norm, "config") == 0 ? -2 : key_index(norm);
        if (idx == -1 && retired_index(norm) >= 0) {
            /* A retired key: kept in the layer, a warning when loaded. */
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else
                return kiln_error_set(err, 0, "usage", "flag --%s needs a value",
                                      shown(name, sv, sizeof sv));
            if (!config_layer_set(layer, norm, value, err))
                return false;
            continue;
        }
        if (idx == -1) {
            char where[160];
            snprintf(where, sizeof where, "flag --%s", shown(name, sv, sizeof sv));
            return unknown_key(name, where, err);
        }
        if (eq) {
            value = eq + 1;
        } else if (idx >= 0 && cfg_keys[idx].type == CFG_BOOL &&
                   (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
            value = "true"; /* --access-log alone means true */
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return kiln_error_set(err, 0, "usage", "flag --%s needs a value; e.g. --%s VALUE",
                                  shown(name, sv, sizeof sv), cfg_keys[idx >= 0 ? idx : 0].name);
        }
        if (idx == -2) {
            free(layer->config_file);
            layer->config_file = xstrdup(value);
        } else if (!config_layer_set(layer, cfg_keys[idx].name, value, err)) {
            return false;
        }
    }
    return true;
}

void config_layer_free(KilnConfigLayer *layer)
{
    if (!layer)
        return;
    for (int i = 0; i < layer->count; i++) {
        free(layer->keys[i]);
        free(layer->values[i]);
    }
    free(layer->keys);
    free(layer->values);
    free(layer->config_file);
    memset(layer, 0, sizeof *layer);
}

/* ---- loading ---------------------------------------------------------- */

typedef struct Pending {
    char *value[NKEYS];     /* owned */
    char where[NKEYS][192]; /* human description of the source */
    KilnBuf warnings;       /* retired keys met, one line each */
} Pending;

/* Notes that retired key r was set at `where` (its value is not kept). */
static void pending_retired(Pending *p, int r, const char *where)
{
    if (p->warnings.len)
        buf_putc(&p->warnings, '\n');
    buf_printf(&p->warnings, "%s (%s) is no longer read and is ignored; %s",
               retired_keys[r].name, where, retired_keys[r].instead);
}

static void pending_set(Pending *p, int idx, const char *value, const char *where)
{
    free(p->value[idx]);
    p->value[idx] = value ? xstrdup(value) : NULL;
    snprintf(p->where[idx], sizeof p->where[idx], "%s", where);
}

static void apply_layer(Pending *p, const KilnConfigLayer *layer, const char *what)
{
    if (!layer)
        return;
    for (int i = 0; i < layer->count; i++) {
        char where[192];
        int idx = key_index(layer->keys[i]);
        const char *name = idx >= 0 ? cfg_keys[idx].name : layer->keys[i];
        if (strcmp(what, "flag") == 0)
            snprintf(where, sizeof where, "flag --%s", name);
        else
            snprintf(where, sizeof where, "%s", what);
        if (idx >= 0)
            pending_set(p, idx, layer->values[i], where);
        else if (retired_index(name) >= 0) /* layers hold only known or retired keys */
            pending_retired(p, retired_index(name), where);
    }
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static bool apply_file(Pending *p, const char *path, KilnError *err)
{
    char name[72];
    shown(path, name, sizeof name); /* the path as errors show it */
    FILE *f = fopen(path, "r");
    if (!f)
        return kiln_error_set(err, 0, "config", "cannot read config file %s: %s; check the path",
                              name, strerror(errno));
    char line[8192];
    int lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        size_t l = strlen(line);
        if (l == sizeof line - 1 && line[l - 1] != '\n') {
            ok = kiln_error_set(err, 0, "config", "line %d of %s is too long; keep lines under %zu "
                                "bytes", lineno, name, sizeof line - 2);
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            ok = kiln_error_set(err, 0, "config", "%s:%d is not `key = value`; fix or remove it",
                                name, lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && ((value[0] == '"' && value[vl - 1] == '"') ||
                        (value[0] == '\'' && value[vl - 1] == '\''))) {
            value[vl - 1] = '\0';
            value++;
        }
        char where[192];
        snprintf(where, sizeof where, "%s:%d", name, lineno);
        int idx = key_index(key);
        if (idx < 0 && !strchr(key, '-') && retired_index(key) >= 0) {
            pending_retired(p, retired_index(key), where);
            continue;
        }
        if (idx < 0 || strchr(key, '-')) {
            ok = unknown_key(key, where, err);
            break;
        }
        pending_set(p, idx, value, where);
    }
    fclose(f);
    return ok;
}

/* KILN_<NAME in upper case>: the environment variable of a key. */
static void env_name(const char *key, char *env, size_t len)
{
    size_t j = (size_t)snprintf(env, len, "KILN_");
    for (const char *c = key; *c && j + 1 < len; c++)
        env[j++] = (char)toupper((unsigned char)*c);
    env[j] = '\0';
}

static void apply_env(Pending *p)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char env[96];
        env_name(cfg_keys[i].name, env, sizeof env);
        const char *v = getenv(env);
        if (v) {
            char where[192];
            snprintf(where, sizeof where, "environment variable %s", env);
            pending_set(p, (int)i, v, where);
        }
    }
    for (size_t i = 0; i < NRETIRED; i++) {
        char env[96];
        env_name(retired_keys[i].name, env, sizeof env);
        if (getenv(env)) {
            char where[192];
            snprintf(where, sizeof where, "environment variable %s", env);
            pending_retired(p, (int)i, where);
        }
    }
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "on", "yes", "1"};
    static const char *const no[] = {"false", "off", "no", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool convert(KilnConfig *cfg, const Pending *p, bool for_serve, KilnError *err)
{
    char sv[72];
    for (size_t i = 0; i < NKEYS; i++) {
        const CfgKey *k = &cfg_keys[i];
        const char *v = p->value[i];
        const char *where = p->where[i];
        void *field = (char *)cfg + k->offset;
        switch (k->type) {
        case CFG_STR:
            *(char **)field = xstrdup(v);
            break;
        case CFG_INT: {
            char *end = NULL;
            errno = 0;
            long n = v && *v ? strtol(v, &end, 10) : 0;
            if (!v || !*v || errno || *end != '\0')
                return kiln_error_set(err, 0, "config",
                                      "%s (%s) must be a whole number from %ld to %ld; got '%s'",
                                      k->name, where, k->min, k->max, shown(v, sv, sizeof sv));
            if (n < k->min || n > k->max)
                return kiln_error_set(err, 0, "config",
                                      "%s = %ld (%s) is out of range; use a value from %ld to %ld",
                                      k->name, n, where, k->min, k->max);
            *(int *)field = (int)n;
            break;
        }
        case CFG_BOOL:
            if (!v || !parse_bool(v, (bool *)field))
                return kiln_error_set(err, 0, "config",
                                      "%s (%s) must be true or false; got '%s'", k->name, where,
                                      shown(v, sv, sizeof sv));
            break;
        }
        const char *s = k->type == CFG_STR ? *(char **)field : NULL;
        if (k->serve_req && for_serve && (!s || !*s)) {
            char env[96];
            env_name(k->name, env, sizeof env);
            return kiln_error_set(err, 0, "config",
                                  "%s is not set; set it in the config file, as %s, or with "
                                  "--%s (or use `kiln dev`, which sets one up)",
                                  k->name, env, k->name);
        }
        switch (k->check) {
        case CHECK_NONE:
            break;
        case CHECK_IP: {
            unsigned char tmp[16];
            if (inet_pton(AF_INET, s, tmp) != 1 && inet_pton(AF_INET6, s, tmp) != 1)
                return kiln_error_set(err, 0, "config",
                                      "%s = '%s' (%s) is not an IP address; use e.g. 127.0.0.1 or "
                                      "::1",
                                      k->name, shown(s, sv, sizeof sv), where);
            break;
        }
        case CHECK_ORIGINS: {
            KilnError why = {0};
            if (!cors_allowlist_valid(s, &why))
                return kiln_error_set(err, 0, "config", "cors_allowed_origins (%s): %s", where,
                                      why.message);
            break;
        }
        case CHECK_SMS_PROVIDER:
            if (*s && strcmp(s, "outbox") != 0 && strcmp(s, "twilio") != 0 &&
                strcmp(s, "webhook") != 0)
                return kiln_error_set(err, 0, "config",
                                      "%s = '%s' (%s) is not an SMS provider; use twilio, "
                                      "webhook, outbox or leave it empty",
                                      k->name, shown(s, sv, sizeof sv), where);
            break;
        case CHECK_CIDRS: {
            KilnError why = {0};
            if (!proxy_list_valid(s, &why))
                return kiln_error_set(err, 0, "config", "%s (%s): %s", k->name, where,
                                      why.message);
            break;
        }
        case CHECK_LOG_LEVEL: {
            KilnLogLevel lvl;
            if (!log_level_parse(s, &lvl))
                return kiln_error_set(err, 0, "config",
                                      "%s = '%s' (%s) is not a log level; use error, warn, info "
                                      "or debug",
                                      k->name, shown(s, sv, sizeof sv), where);
            break;
        }
        }
    }
    return true;
}

static void config_free(KilnConfig *cfg)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (cfg_keys[i].type != CFG_STR)
            continue;
        char **field = (char **)((char *)cfg + cfg_keys[i].offset);
        if (*field && cfg_keys[i].secret)
            memset(*field, 0, strlen(*field));
        free(*field);
    }
    free(cfg->config_file);
    free(cfg->warnings);
    free(cfg);
}

bool config_load(const KilnConfigLayer *base, const KilnConfigLayer *flags, bool for_serve,
                 KilnConfig **out, KilnError *err)
{
    Pending p;
    memset(&p, 0, sizeof p);
    for (size_t i = 0; i < NKEYS; i++)
        pending_set(&p, (int)i, cfg_keys[i].def, "the default");
    apply_layer(&p, base, "the built-in settings");

    const char *file = flags && flags->config_file ? flags->config_file : getenv("KILN_CONFIG");
    bool ok = true;
    if (file && *file)
        ok = apply_file(&p, file, err);
    if (ok) {
        apply_env(&p);
        apply_layer(&p, flags, "flag");
    }
    KilnConfig *cfg = NULL;
    if (ok) {
        cfg = calloc(1, sizeof *cfg);
        if (!cfg)
            abort();
        cfg->refcount = 1;
        cfg->config_file = file && *file ? xstrdup(file) : NULL;
        cfg->warnings = p.warnings.len ? xstrdup(buf_str(&p.warnings)) : NULL;
        ok = convert(cfg, &p, for_serve, err);
    }
    buf_free(&p.warnings);
    for (size_t i = 0; i < NKEYS; i++) {
        if (p.value[i] && cfg_keys[i].secret)
            memset(p.value[i], 0, strlen(p.value[i]));
        free(p.value[i]);
    }
    if (!ok) {
        if (cfg)
            config_free(cfg);
        return false;
    }
    *out = cfg;
    return true;
}

/* ---- the current snapshot -------------------------------------------- */

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static KilnConfig *current;

void config_release(KilnConfig *cfg)
{
    if (!cfg)
        return;
    int left = __atomic_sub_fetch(&cfg->refcount, 1, __ATOMIC_ACQ_REL);
    if (left == 0)
        config_free(cfg);
}

void config_install(KilnConfig *cfg)
{
    pthread_mutex_lock(&current_lock);
    KilnConfig *old = current;
    current = cfg;
    pthread_mutex_unlock(&current_lock);
    config_release(old);
}

KilnConfig *config_current(void)
{
    pthread_mutex_lock(&current_lock);
    KilnConfig *cfg = current;
    if (cfg)
        __atomic_add_fetch(&cfg->refcount, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&current_lock);
    return cfg;
}

/* ---- printing --------------------------------------------------------- */

static void value_text(const KilnConfig *cfg, const CfgKey *k, char *out, size_t len)
{
    const void *field = (const char *)cfg + k->offset;
    switch (k->type) {
    case CFG_STR:
        snprintf(out, len, "%s", *(char *const *)field ? *(char *const *)field : "");
        break;
    case CFG_INT:
        snprintf(out, len, "%d", *(const int *)field);
        break;
    case CFG_BOOL:
        snprintf(out, len, "%s", *(const bool *)field ? "true" : "false");
        break;
    }
}

bool config_restart_keys(const KilnConfig *a, const KilnConfig *b, char *buf, size_t len)
{
    KilnBuf names = KILN_BUF_INIT;
    for (size_t i = 0; i < NKEYS; i++) {
        if (cfg_keys[i].reload)
            continue;
        char va[1024], vb[1024];
        value_text(a, &cfg_keys[i], va, sizeof va);
        value_text(b, &cfg_keys[i], vb, sizeof vb);
        if (strcmp(va, vb) != 0) {
            if (names.len)
                buf_puts(&names, ", ");
            buf_puts(&names, cfg_keys[i].name);
        }
        memset(va, 0, sizeof va);
        memset(vb, 0, sizeof vb);
    }
    bool any = names.len > 0;
    snprintf(buf, len, "%s", buf_str(&names));
    buf_free(&names);
    return any;
}

void config_print(const KilnConfig *cfg, FILE *out)
{
    if (cfg->config_file)
        fprintf(out, "# effective configuration (file: %s)\n", cfg->config_file);
    else
        fprintf(out, "# effective configuration (no config file)\n");
    for (const char *w = cfg->warnings; w && *w;) {
        size_t n = strcspn(w, "\n");
        fprintf(out, "# warning: %.*s\n", (int)n, w);
        w += n + (w[n] == '\n');
    }
    for (size_t i = 0; i < NKEYS; i++) {
        char v[1024];
        value_text(cfg, &cfg_keys[i], v, sizeof v);
        if (cfg_keys[i].secret && v[0])
            snprintf(v, sizeof v, "********");
        fprintf(out, "%s = %s\n", cfg_keys[i].name, v);
        memset(v, 0, sizeof v);
    }
}

void config_print_help(FILE *out, bool markdown)
{
    if (markdown) {
        fprintf(out, "| key | env | default | range | on SIGHUP | description |\n");
        fprintf(out, "|---|---|---|---|---|---|\n");
    }
    for (size_t i = 0; i < NKEYS; i++) {
        const CfgKey *k = &cfg_keys[i];
        char env[96];
        env_name(k->name, env, sizeof env);
        char range[64] = "";
        if (k->type == CFG_INT)
            snprintf(range, sizeof range, "%ld..%ld", k->min, k->max);
        else if (k->type == CFG_BOOL)
            snprintf(range, sizeof range, "true/false");
        const char *def = k->def ? k->def : (k->serve_req ? "(required)" : "(unset)");
        if (markdown) {
            fprintf(out, "| `%s` | `%s` | %s | %s | %s | %s%s |\n", k->name, env, def, range,
                    k->reload ? "applied" : "restart", k->help, k->secret ? " (secret)" : "");
        } else {
            fprintf(out, "  %-22s %s%s\n", k->name, k->help, k->secret ? " (secret)" : "");
            fprintf(out, "  %-22s default %s%s%s; env %s; %s\n", "", def, range[0] ? ", " : "",
                    range, env, k->reload ? "reloaded on SIGHUP" : "needs a restart");
        }
    }
}
