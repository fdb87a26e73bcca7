/*
 * config.h: the daemon's configuration, one static table of keys.
 *
 * Sources, lowest to highest precedence: the table's defaults, values the
 * caller supplies as a base layer (`kiln dev` computes its database URL and
 * secrets there), the config file (`key = value` lines), KILN_<KEY>
 * environment variables, then command-line flags (--key value, --key=value,
 * dashes and underscores interchangeable).
 *
 * A loaded KilnConfig is an immutable snapshot. The server holds the current
 * one behind config_current()/config_release(); SIGHUP builds a new snapshot
 * and swaps it in only if it is valid, so a bad reload keeps the old one.
 * This module never logs and never exits: it returns reasons in KilnError.
 */
#ifndef KILN_CONFIG_H
#define KILN_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "error.h"

typedef struct KilnConfig {
    /* listener */
    char *listen_address;
    int port;
    int threads;
    int max_connections;
    int connection_timeout_s;
    int max_body_bytes;
    int shutdown_timeout_s;
    /* database */
    char *db_url;
    int db_pool_size;
    int db_pool_timeout_ms;
    int db_connect_timeout_s;
    /* data API */
    char *db_schemas;     /* comma-separated exposed schemas; the first is the default */
    int db_max_rows;      /* caps the rows of one read; 0 = no cap */
    bool anon_without_key; /* no apikey and no bearer token: run as anon (else 401) */
    bool db_tx_allow_override; /* Prefer: tx=rollback|commit is honoured (else ignored) */
    bool db_aggregates_enabled; /* select may use count() and col.agg() */
    bool db_plan_enabled; /* Accept: application/vnd.pgrst.plan is answered (else 406) */
    /* HTTP */
    char *cors_allowed_origins; /* browser origins allowed cross-origin (cors.h syntax); "" none */
    char *trusted_proxies;      /* CIDRs whose X-Forwarded-For is read (proxy.h); "" none */
    /* auth (/auth/v1) */
    bool auth_signup_enabled;
    bool auth_anonymous_enabled;
    bool auth_autoconfirm;
    int auth_password_min_length;
    int auth_access_token_ttl_s;
    int auth_refresh_reuse_interval_s;
    int auth_session_timebox_s;
    int auth_session_inactivity_timeout_s;
    int auth_rate_limit_sign_in;
    int auth_rate_limit_refresh;
    char *auth_site_url;          /* default redirect target of sign-in flows; "" none */
    char *auth_redirect_urls;     /* more allowed redirect targets, comma-separated */
    char *auth_external_url;      /* public base URL of this API (OAuth callback); "" derived */
    char *auth_providers;         /* path of the OAuth/OIDC providers file; "" none */
    int auth_otp_ttl_s;
    int auth_rate_limit_email;
    int auth_rate_limit_verify;
    bool auth_secure_password_change; /* PUT /user password needs a reauthentication nonce */
    int auth_reauthentication_window_s;
    int auth_rate_limit_mfa;           /* factors challenge + verify per 5 min per IP */
    int auth_email_min_interval_s;     /* per address between mail-sending requests */
    int auth_backoff_failures;         /* per (account, IP) failures before backoff */
    int auth_backoff_account_failures; /* per account (all IPs) failures per hour */
    int auth_backoff_max_s;            /* longest backoff */
    char *smtp_url;
    char *smtp_user;
    char *smtp_password;
    char *smtp_from;
    char *mail_templates_dir;
    int mail_max_attempts;
    /* phone sign-in and SMS (docs/auth.md, Phone) */
    bool auth_phone_signup_enabled;
    bool auth_phone_autoconfirm;
    int auth_rate_limit_sms;
    int auth_sms_min_interval_s;       /* per number between texts */
    char *sms_provider; /* "" (phone off), outbox, twilio or webhook */
    char *sms_url;
    char *sms_twilio_account_sid;
    char *sms_twilio_auth_token;
    char *sms_from;
    char *sms_webhook_secret;
    char *sms_template;
    int sms_max_attempts;
    /* logging and diagnostics */
    char *log_level;
    bool access_log;
    bool debug_endpoints;

    /* bookkeeping, not keys */
    char *config_file; /* file the snapshot was read from, or NULL */
    char *warnings;    /* retired keys that were set and are ignored: one line
                        * each ("<key> (<where>) is no longer read; <what
                        * to do>"), '\n'-separated; NULL when none */
    int refcount;      /* owned by config.c */
} KilnConfig;

/* An ordered list of key=value pairs: a base layer or the flags layer. */
typedef struct KilnConfigLayer {
    int count;
    int cap;
    char **keys;
    char **values;
    char *config_file; /* --config FILE, only meaningful in the flags layer */
} KilnConfigLayer;

/* Adds key=value to layer (copies both). Returns false with err on an
 * unknown key (with a "did you mean" when close). A retired key is kept and
 * becomes a warning of the loaded snapshot, not an error. */
bool config_layer_set(KilnConfigLayer *layer, const char *key, const char *value, KilnError *err);

/* Parses argv[0..argc) as flags into layer. Every --key VALUE / --key=VALUE
 * must name a table key or --config; anything else is an error. Arguments
 * not starting with "--" are errors too: commands parse their own flags
 * first and pass the rest here. */
bool config_layer_parse_args(KilnConfigLayer *layer, int argc, char **argv, KilnError *err);

void config_layer_free(KilnConfigLayer *layer);

/* Builds a snapshot from defaults, base (may be NULL), the file named by
 * flags->config_file or KILN_CONFIG (if any), the environment, and flags
 * (may be NULL). Validates every value (type, bounds, required keys when
 * `for_serve`). Retired keys set anywhere are ignored and listed in
 * (*out)->warnings for the caller to log. On success *out owns a snapshot
 * with refcount 1. */
bool config_load(const KilnConfigLayer *base, const KilnConfigLayer *flags, bool for_serve,
                 KilnConfig **out, KilnError *err);

/* Drops one reference; frees at zero. NULL is a no-op. Thread-safe. */
void config_release(KilnConfig *cfg);

/* Installs cfg as the current snapshot (takes the caller's reference) and
 * releases the previous one. Thread-safe. */
void config_install(KilnConfig *cfg);

/* Returns the current snapshot with one more reference; the caller releases
 * it. Thread-safe; NULL before the first config_install. */
KilnConfig *config_current(void);

/* Names of keys whose values differ between a and b and that need a restart
 * to take effect, comma-separated into buf; returns false when none. */
bool config_restart_keys(const KilnConfig *a, const KilnConfig *b, char *buf, size_t len);

/* Writes the effective values as `key = value` lines, secrets masked,
 * after a `# warning: ...` comment per ignored retired key. */
void config_print(const KilnConfig *cfg, FILE *out);

/* Writes the documentation of every key (for --help and docs/config.md). */
void config_print_help(FILE *out, bool markdown);

#endif
