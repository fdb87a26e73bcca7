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
 * base64url.c: unpadded base64url (RFC 4648 section 5), a pure leaf.
 *
 * kiln_base64url_encoded_len: number of characters (without a terminator)
 * that encoding len bytes produces.
 *
 * kiln_base64url_encode: writes the encoding of src[0..len) to dst, which
 * must hold kiln_base64url_encoded_len(len) + 1 bytes, and terminates it.
 * Returns the number of characters written (excluding the terminator). The
 * caller owns both buffers; no allocation, no errors.
 */
extern size_t kiln_base64url_encoded_len(size_t len);
extern size_t kiln_base64url_encode(const uint8 *src, size_t len, char *dst);

/*
 * kiln_base64url_decode: strict decoding of unpadded base64url: src[0..len)
 * must hold only the url-safe alphabet (no '=', no whitespace), must not
 * have length 1 mod 4, and the unused low bits of the last character must
 * be zero (one encoding per byte string). Writes at most len * 3 / 4 bytes
 * to dst (caller-owned) and sets *outlen. Returns false, with dst
 * contents unspecified, when the input is not canonical base64url.
 */
extern bool kiln_base64url_decode(const char *src, size_t len, uint8 *dst, size_t *outlen);

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

/* Value of one hexadecimal digit (either case), or -1. A pure leaf. */
static inline int kiln_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif /* KILN_H */
