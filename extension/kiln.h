/*
 * kiln.h: declarations shared by the C sources of the kiln library.
 *
 * The library backs every extension of the suite (kiln, kiln_auth,
 * kiln_access, kiln_audit, kiln_platform). This header declares each
 * module's init function, called once from _PG_init, and the small leaf
 * helpers modules share. It never declares SQL-callable functions (each
 * module keeps PG_FUNCTION_INFO_V1 next to its definition) and never
 * defines data.
 */
#ifndef KILN_H
#define KILN_H

/* Include after postgres.h, like every backend header. */
#include "utils/jsonb.h"
#include "utils/uuid.h"

/*
 * Library version, passed in by extension/Makefile from the top-level
 * VERSION file; the Makefile refuses to build when a control file's
 * default_version disagrees.
 */
#ifndef KILN_VERSION
#error "KILN_VERSION must be defined by the build (see extension/Makefile)"
#endif

/* Prefix reserved for the suite's GUCs: every setting is named kiln.*. */
#define KILN_GUC_PREFIX "kiln"

/*
 * Module init functions, each called once per backend from _PG_init, before
 * the prefix is reserved: they define the module's GUCs and register its
 * callbacks.
 */
extern void kiln_context_init(void);     /* context.c */
extern void kiln_password_init(void);    /* crypto_password.c */
extern void kiln_secretbox_init(void);   /* crypto_secretbox.c */
extern void kiln_keys_init(void);        /* keys.c */
extern void kiln_token_cache_init(void); /* token_cache.c */

/*
 * SQLSTATEs of Kiln's own class KL (documented in docs/sql.md, "Errors").
 * Token failures never surface as anything else, so the daemon maps the
 * class to 401 without looking at messages.
 */
#define KILN_ERRCODE_INVALID_TOKEN MAKE_SQLSTATE('K', 'L', '0', '0', '1')
#define KILN_ERRCODE_EXPIRED_TOKEN MAKE_SQLSTATE('K', 'L', '0', '0', '2')
#define KILN_ERRCODE_REVOKED_TOKEN MAKE_SQLSTATE('K', 'L', '0', '0', '3')

/* Clock skew allowed on exp, nbf and iat, in seconds (fixed by design). */
#define KILN_JWT_SKEW_SECONDS 30

/*
 * The verified request context (context.c). Set only by kiln.authenticate
 * (and kiln.act_as_tenant), wiped at the end of the top-level transaction
 * (and when the subtransaction that set it aborts).
 */
typedef struct KilnContext {
    bool present;           /* kiln.authenticate succeeded in this transaction */
    const char *role;       /* "anon" | "authenticated" | "service_role" |
                             * "tenant_service"; NULL if !present (static string) */
    bool has_user;
    pg_uuid_t user_id;      /* claim sub */
    bool has_tenant;
    pg_uuid_t tenant_id;    /* claim tenant_id (server-signed), tenant key, or act-as */
    bool has_session;
    pg_uuid_t session_id;   /* claim session_id */
    const char *request_id; /* from meta, may be NULL */
    const char *client_ip;  /* from meta, may be NULL */
    const char *aal;        /* claim aal, may be NULL */
    Jsonb *claims;          /* verified claims, NULL if !present (TopTransactionContext) */
} KilnContext;

/*
 * kiln_context_current: the verified context of the current transaction.
 * Never NULL; all-false/NULL when there is none. Valid until the end of the
 * current top-level transaction (strings and claims live in
 * TopTransactionContext; the caller must not modify or free them). O(1), no
 * catalog access, never raises an error.
 */
extern const KilnContext *kiln_context_current(void);

/*
 * kiln_request_id_setting: the current value of the setting
 * kiln.request_id (what GetConfigOption would return, without its lookup
 * by name); NULL or empty when unset. Never trusted; correlation only.
 */
extern const char *kiln_request_id_setting(void);

/*
 * access_principals.c: kiln_access's per-transaction principal cache and
 * the setting kiln.exposed_schemas. Called once per backend from _PG_init,
 * before the prefix is reserved.
 */
extern void kiln_access_init(void);

/*
 * audit.c: registers the audit module's cache invalidation and transaction
 * callbacks. Called once per backend from _PG_init.
 */
extern void kiln_audit_init(void);

/*
 * base64url.c, json_claims.c, jwt_parse.c: the pure parsers of token text
 * (base64url, UTF-8, strict JSON, JWT stages) and kiln_hex_digit. They
 * include no PostgreSQL header, so that tests/fuzz builds them standalone.
 */
#include "jwt_parse.h"

/*
 * crypto_secretbox.c: authenticated encryption (XSalsa20-Poly1305) with the
 * master key read from kiln.master_key_file; the key never enters the
 * database.
 *
 * kiln_secretbox_seal: returns a palloc'd version || nonce || box of
 * plain[0..len), length in *outlen. kiln_secretbox_open: the inverse; the
 * result is palloc'd (the caller wipes it when it is secret). Both raise
 * 55000/58P01/F0000 when the master key is missing or unusable; open
 * raises 22000 when the data was altered or sealed with another key.
 */
extern uint8 *kiln_secretbox_seal(const uint8 *plain, size_t len, size_t *outlen);
extern uint8 *kiln_secretbox_open(const uint8 *sealed, size_t len, size_t *outlen);

#endif /* KILN_H */
