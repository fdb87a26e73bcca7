/*
 * crypto_totp.c: time-based one-time passwords (RFC 6238, HMAC-SHA-1, 30 s
 * steps, as GoTrue and authenticator apps use them).
 *
 * kiln.totp_generate_secret() makes a 20-byte secret in base32 (RFC 4648,
 * no padding); kiln.totp_code(secret, at, digits) computes a code;
 * kiln.totp_verify(secret, code, window) checks a code against the steps
 * around now in constant time. This file never stores secrets or codes and
 * never decides about replay (the caller records the step it accepted).
 */
#include "postgres.h"

#include "kiln.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define KILN_TOTP_STEP 30
#define KILN_TOTP_SECRET_BYTES 20
#define KILN_TOTP_MAX_SECRET_BYTES 128

static const char kiln_base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* Decodes base32 (case-insensitive, '=' padding and spaces ignored); 22023 on bad input. */
static size_t kiln_base32_decode(const char *s, uint8 *out, size_t outcap)
{
    uint32 acc = 0;
    int bits = 0;
    size_t n = 0;

    for (; *s; s++) {
        int v;
        char c = *s;

        if (c == '=' || c == ' ')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= '2' && c <= '7')
            v = c - '2' + 26;
        else
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("TOTP secret is not base32")));
        acc = (acc << 5) | (uint32)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (n >= outcap)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("TOTP secret is longer than %d bytes", KILN_TOTP_MAX_SECRET_BYTES)));
            out[n++] = (uint8)((acc >> bits) & 0xFF);
        }
    }
    if (n == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("TOTP secret is empty")));
    return n;
}

/* HOTP (RFC 4226) value for counter, reduced to digits. */
static uint32 kiln_hotp(const uint8 *key, size_t keylen, uint64 counter, int digits)
{
    uint8 msg[8];
    uint8 mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    uint32 bin;
    uint32 mod = 1;
    int i;
    int off;

    for (i = 7; i >= 0; i--) {
        msg[i] = (uint8)(counter & 0xFF);
        counter >>= 8;
    }
    if (HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof(msg), mac, &maclen) == NULL || maclen != 20)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("HMAC-SHA-1 failed")));
    off = mac[19] & 0x0F;
    bin = ((uint32)(mac[off] & 0x7F) << 24) | ((uint32)mac[off + 1] << 16) |
          ((uint32)mac[off + 2] << 8) | (uint32)mac[off + 3];
    sodium_memzero(mac, sizeof(mac));
    for (i = 0; i < digits; i++)
        mod *= 10;
    return bin % mod;
}

static int64 kiln_timestamptz_unix(TimestampTz ts)
{
    /* TimestampTz counts microseconds since 2000-01-01. */
    int64 usec = ts + (int64)(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

    return usec >= 0 ? usec / USECS_PER_SEC : -((-usec + USECS_PER_SEC - 1) / USECS_PER_SEC);
}

static void kiln_check_digits(int digits)
{
    if (digits < 6 || digits > 8)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("TOTP codes have 6 to 8 digits")));
}

/*
 * kiln.totp_generate_secret() returns text: 20 random bytes (160 bits) in
 * base32 without padding (32 characters).
 */
PG_FUNCTION_INFO_V1(kiln_totp_generate_secret);

Datum kiln_totp_generate_secret(PG_FUNCTION_ARGS)
{
    uint8 raw[KILN_TOTP_SECRET_BYTES];
    char out[KILN_TOTP_SECRET_BYTES * 8 / 5 + 1];
    uint32 acc = 0;
    int bits = 0;
    int n = 0;
    int i;

    randombytes_buf(raw, sizeof(raw));
    for (i = 0; i < KILN_TOTP_SECRET_BYTES; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[n++] = kiln_base32_alphabet[(acc >> bits) & 0x1F];
        }
    }
    out[n] = '\0';
    sodium_memzero(raw, sizeof(raw));
    PG_RETURN_TEXT_P(cstring_to_text(out));
}

/*
 * kiln.totp_code(secret text, at timestamptz default now(), digits int
 * default 6) returns text: the code for the 30 s step holding `at`, zero
 * padded. STRICT. 22023 for a secret that is not base32 or digits outside
 * 6..8.
 */
PG_FUNCTION_INFO_V1(kiln_totp_code);

Datum kiln_totp_code(PG_FUNCTION_ARGS)
{
    char *secret = text_to_cstring(PG_GETARG_TEXT_PP(0));
    TimestampTz at = PG_GETARG_TIMESTAMPTZ(1);
    int digits = PG_GETARG_INT32(2);
    uint8 key[KILN_TOTP_MAX_SECRET_BYTES];
    size_t keylen;
    int64 t;
    uint32 code;

    kiln_check_digits(digits);
    keylen = kiln_base32_decode(secret, key, sizeof(key));
    sodium_memzero(secret, strlen(secret));
    t = kiln_timestamptz_unix(at);
    if (t < 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("TOTP time is before 1970")));
    code = kiln_hotp(key, keylen, (uint64)(t / KILN_TOTP_STEP), digits);
    sodium_memzero(key, sizeof(key));
    PG_RETURN_TEXT_P(cstring_to_text(psprintf("%0*u", digits, code)));
}

/*
 * kiln.totp_verify(secret text, code text, window int default 1) returns
 * boolean: whether `code` (6 digits) matches one of the steps now-window ..
 * now+window. Every step is computed and compared in constant time. STRICT.
 * window outside 0..10: 22023. A code that is not 6 digits: false.
 */
PG_FUNCTION_INFO_V1(kiln_totp_verify);

Datum kiln_totp_verify(PG_FUNCTION_ARGS)
{
    char *secret = text_to_cstring(PG_GETARG_TEXT_PP(0));
    text *code_t = PG_GETARG_TEXT_PP(1);
    int window = PG_GETARG_INT32(2);
    uint8 key[KILN_TOTP_MAX_SECRET_BYTES];
    size_t keylen;
    char given[7];
    int64 step;
    int i;
    int matched = 0;

    if (window < 0 || window > 10)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("TOTP window must be between 0 and 10 steps")));
    keylen = kiln_base32_decode(secret, key, sizeof(key));
    sodium_memzero(secret, strlen(secret));

    if (VARSIZE_ANY_EXHDR(code_t) != 6) {
        sodium_memzero(key, sizeof(key));
        PG_RETURN_BOOL(false);
    }
    memcpy(given, VARDATA_ANY(code_t), 6);
    given[6] = '\0';

    step = kiln_timestamptz_unix(GetCurrentTimestamp()) / KILN_TOTP_STEP;
    for (i = -window; i <= window; i++) {
        char expect[7];

        if (step + i < 0)
            continue;
        snprintf(expect, sizeof(expect), "%06u", kiln_hotp(key, keylen, (uint64)(step + i), 6));
        matched |= sodium_memcmp(expect, given, 6) == 0;
        sodium_memzero(expect, sizeof(expect));
    }
    sodium_memzero(key, sizeof(key));
    PG_RETURN_BOOL(matched != 0);
}
