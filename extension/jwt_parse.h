/*
 * jwt_parse.h: the pure parsers of attacker-controlled token text.
 *
 * Everything a caller can put into a token before a key is involved goes
 * through these leaves: unpadded base64url (base64url.c), UTF-8 validation
 * and the strict JSON scanner (json_claims.c), and the stages of a compact
 * JWS that need no key, clock source or catalog (jwt_parse.c): splitting,
 * the header check and the claims check against a caller-given policy.
 *
 * This header includes no PostgreSQL header, and the files behind it
 * never allocate, log, raise errors or read global state: they work on
 * caller-owned buffers and return a reason. That is what lets
 * tests/fuzz/fuzz_jwt_parse.c build them standalone into a libFuzzer
 * binary; crypto_jwt.c wraps them with palloc, ereport and the key cache.
 */
#ifndef KILN_JWT_PARSE_H
#define KILN_JWT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest token accepted, in bytes. */
#define KILN_JWT_MAX_LEN 8192

/* Room for any detail text a stage writes (one sentence). */
#define KILN_JWT_DETAIL_LEN 160

/* Value of one hexadecimal digit (either case), or -1. */
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

/* ------------------------------------------------------------ base64url.c */

/*
 * Unpadded base64url (RFC 4648 section 5).
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
extern size_t kiln_base64url_encode(const uint8_t *src, size_t len, char *dst);

/*
 * kiln_base64url_decode: strict decoding of unpadded base64url: src[0..len)
 * must hold only the url-safe alphabet (no '=', no whitespace), must not
 * have length 1 mod 4, and the unused low bits of the last character must
 * be zero (one encoding per byte string). Writes at most len * 3 / 4 bytes
 * to dst (caller-owned) and sets *outlen. Returns false, with dst
 * contents unspecified, when the input is not canonical base64url.
 */
extern bool kiln_base64url_decode(const char *src, size_t len, uint8_t *dst, size_t *outlen);

/* ------------------------------------------------------------ json_claims.c */

/*
 * kiln_utf8_valid: whether s[0..len) is well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF) without a NUL
 * byte: exactly what PostgreSQL's UTF-8 verification accepts as text.
 */
extern bool kiln_utf8_valid(const uint8_t *s, size_t len);

typedef enum KilnJsonType {
    KILN_JV_NONE = 0,
    KILN_JV_STRING,
    KILN_JV_NUMBER,
    KILN_JV_TRUE,
    KILN_JV_FALSE,
    KILN_JV_NULL,
    KILN_JV_ARRAY,
    KILN_JV_OBJECT
} KilnJsonType;

/* A value inside the scanned text: strings without their quotes, others as lexed. */
typedef struct KilnJsonSpan {
    KilnJsonType type;
    const char *start;
    size_t len;
    bool escaped; /* a string holding escapes: decode with kiln_json_unescape */
} KilnJsonSpan;

/*
 * The scanner checks RFC 8259 strictly (no trailing commas, no leading
 * zeros, no control characters in strings, valid escapes, paired
 * surrogates, no \u0000, nesting at most 64 deep) and accepts nothing that
 * PostgreSQL's jsonb_in rejects. utf8: the database encoding is UTF-8;
 * otherwise a \u escape above U+007F is refused, as jsonb_in refuses it.
 * The text must be valid UTF-8 (kiln_utf8_valid). Reasons returned are
 * static phrases ("a trailing comma").
 *
 * kiln_json_value_check: whether json[0..len) is exactly one JSON value
 * (whitespace around it allowed). Returns NULL and sets *type, or a reason.
 */
extern const char *kiln_json_value_check(const char *json, size_t len, bool utf8, KilnJsonType *type);

/*
 * kiln_json_top_members: checks that json[0..len) is exactly one JSON
 * object and sets spans[i] to the top-level member named names[i] (type
 * KILN_JV_NONE when absent). Returns NULL, or a reason (also for a
 * duplicate of a named member: KILN_JSON_DUPLICATE). Spans point into json.
 */
extern const char *kiln_json_top_members(const char *json, size_t len, bool utf8, const char *const *names,
                                         int n, KilnJsonSpan *spans);
extern const char KILN_JSON_DUPLICATE[];

/*
 * kiln_json_unescape: writes the unescaped text of a string span, NUL-
 * terminated, to dst, which must hold v->len + 1 bytes (unescaping never
 * lengthens). Returns the length written. The output is valid UTF-8 when
 * the scanned text was, and holds no NUL.
 */
extern size_t kiln_json_unescape(const KilnJsonSpan *v, char *dst);

/* kiln_json_array_next: the next element of an array span; *pos starts at 0. */
extern bool kiln_json_array_next(const KilnJsonSpan *array, size_t *pos, KilnJsonSpan *elem);

/* ------------------------------------------------------------ jwt_parse.c */

/* Algorithms of the fixed allowlist; a key has exactly one. */
typedef enum KilnJwtAlg { KILN_ALG_HS256, KILN_ALG_ES256, KILN_ALG_EDDSA } KilnJwtAlg;

/* Names of the algorithms, indexed by KilnJwtAlg, as a JWS header writes them. */
extern const char *const kiln_jwt_alg_names[3];

/* kiln_role_static: the static name of an allowed app role, or NULL. */
extern const char *kiln_role_static(const char *role);

/* The three base64url parts of a compact JWS, pointing into the token. */
typedef struct KilnJwtParts {
    const char *header;
    size_t header_len;
    const char *payload;
    size_t payload_len;
    const char *signature;
    size_t signature_len;
    size_t signed_len; /* header "." payload: what the signature covers */
} KilnJwtParts;

/*
 * kiln_jwt_split: checks the length (at most KILN_JWT_MAX_LEN) and that the
 * token has exactly three dot-separated parts. Returns NULL, or the detail
 * of the refusal (static).
 */
extern const char *kiln_jwt_split(const char *token, size_t len, KilnJwtParts *out);

/*
 * kiln_jwt_segment_decode: decodes one part into dst (room for
 * len * 3 / 4 + 1 bytes) and NUL-terminates it. False when the part is
 * empty or not canonical unpadded base64url.
 */
extern bool kiln_jwt_segment_decode(const char *s, size_t len, uint8_t *dst, size_t *outlen);

/* What a header that passed kiln_jwt_header_check says. */
typedef struct KilnJwtHeader {
    KilnJwtAlg alg;
    const char *kid; /* NULL, or the unescaped key id in the caller's buffer */
    size_t kid_len;
} KilnJwtHeader;

/*
 * kiln_jwt_header_check: the decoded header json[0..len): valid UTF-8, one
 * JSON object naming no member twice, none of jku/x5u/jwk/x5c/crit, alg a
 * string of the allowlist, typ absent or JWT / at+jwt (any case), kid
 * absent, null or a string. kidbuf (len + 1 bytes) receives the key id.
 * Returns NULL and fills *out, or the detail of the refusal (static).
 */
extern const char *kiln_jwt_header_check(const uint8_t *json, size_t len, bool utf8, char *kidbuf,
                                         KilnJwtHeader *out);

/*
 * What a verifier accepts, for kiln_jwt_claims_check: the time, and the
 * allowlists of the key that verified the signature. A key list with n < 0
 * defers to the comma-separated setting (NULL: nothing is accepted).
 */
typedef struct KilnJwtPolicy {
    double now;          /* unix seconds */
    int skew;            /* seconds of tolerance for exp, nbf and iat */
    bool utf8;           /* the database encoding is UTF-8 */
    int n_issuers;
    char **issuers;
    const char *issuers_setting;
    int n_audiences;
    char **audiences;
    const char *audiences_setting;
    bool trusted_tenant; /* honour tenant_id (tokens of server-generated keys) */
} KilnJwtPolicy;

/* The claims a verifier uses; spans point into the payload text. */
typedef struct KilnJwtClaims {
    const char *role; /* static: kiln_role_static */
    double exp;
    bool has_user;
    uint8_t user_id[16];
    bool has_session;
    uint8_t session_id[16];
    bool has_tenant;
    uint8_t tenant_id[16];
    KilnJsonSpan aal;   /* a string, or KILN_JV_NONE when absent or null */
    KilnJsonSpan email; /* likewise */
} KilnJwtClaims;

typedef enum KilnJwtStatus { KILN_JWT_OK, KILN_JWT_INVALID, KILN_JWT_EXPIRED } KilnJwtStatus;

/*
 * kiln_jwt_claims_check: the decoded payload json[0..len) of a token whose
 * signature was verified: valid UTF-8, one strict JSON object; exp
 * required, and exp, nbf and iat honoured with the policy's skew; iss and
 * aud against the allowlists (aud may be absent only for roles other than
 * authenticated); role one of anon, authenticated, service_role (a
 * service_role token naming a tenant of a trusted key becomes
 * tenant_service); sub, session_id and tenant_id uuids; aal and email
 * strings. Checks run in that order; the first failure is reported.
 * scratch must hold len + 1 bytes. Returns KILN_JWT_OK and fills *out, or
 * another status with the detail (one sentence) written to detail
 * (KILN_JWT_DETAIL_LEN bytes).
 */
extern KilnJwtStatus kiln_jwt_claims_check(const uint8_t *json, size_t len, const KilnJwtPolicy *policy,
                                           char *scratch, KilnJwtClaims *out, char *detail);

#endif /* KILN_JWT_PARSE_H */
