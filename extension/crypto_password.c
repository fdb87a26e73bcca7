/*
 * crypto_password.c: password hashing and verification.
 *
 * kiln.hash_password makes argon2id hashes (libsodium) with the parameters
 * of kiln.argon2_iterations and kiln.argon2_memory_kib, never below ASVS 5.0
 * Appendix C (t=2, m=19 MiB, p=1). kiln.verify_password verifies argon2id
 * and argon2i hashes (libsodium) and imported bcrypt $2a$/$2b$ hashes
 * (libcrypt), comparing in constant time; kiln.password_needs_rehash says
 * when a stored hash should be replaced at the next sign-in. This file
 * never logs or keeps a password and wipes its copies.
 */
#include "postgres.h"

#include "kiln.h"

#include <crypt.h>
#include <sodium.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

/* ASVS 5.0 Appendix C minimums (t=2, m=19 MiB); the settings cannot go below. */
#define KILN_ARGON2_MIN_ITERATIONS 2
#define KILN_ARGON2_MIN_MEMORY_KIB 19456
#define KILN_ARGON2_MAX_MEMORY_KIB (4 * 1024 * 1024)

/* Longest password accepted, in bytes (hashing cost is bounded by it). */
#define KILN_PASSWORD_MAX_BYTES 4096
/* bcrypt uses only the first 72 bytes; longer passwords never verify. */
#define KILN_BCRYPT_MAX_BYTES 72

static int kiln_argon2_iterations = KILN_ARGON2_MIN_ITERATIONS;
static int kiln_argon2_memory_kib = KILN_ARGON2_MIN_MEMORY_KIB;

void kiln_password_init(void)
{
    DefineCustomIntVariable("kiln.argon2_iterations", "argon2id passes (t) for new password hashes.",
                            "At least 2 (ASVS 5.0 Appendix C with m >= 19 MiB).",
                            &kiln_argon2_iterations, KILN_ARGON2_MIN_ITERATIONS,
                            KILN_ARGON2_MIN_ITERATIONS, 64, PGC_SUSET, 0, NULL, NULL, NULL);
    DefineCustomIntVariable("kiln.argon2_memory_kib", "argon2id memory (m) for new password hashes.",
                            "At least 19456 KiB (19 MiB, ASVS 5.0 Appendix C with t >= 2).",
                            &kiln_argon2_memory_kib, KILN_ARGON2_MIN_MEMORY_KIB,
                            KILN_ARGON2_MIN_MEMORY_KIB, KILN_ARGON2_MAX_MEMORY_KIB, PGC_SUSET,
                            GUC_UNIT_KB, NULL, NULL, NULL);
}

/* A NUL-terminated palloc'd copy of a text, for libraries that want C strings. */
static char *kiln_text_secret_cstring(text *t, size_t *len)
{
    *len = VARSIZE_ANY_EXHDR(t);
    return text_to_cstring(t);
}

static void kiln_wipe_free(char *s, size_t len)
{
    sodium_memzero(s, len);
    pfree(s);
}

/*
 * kiln.hash_password(password text) returns text: an argon2id PHC string
 * '$argon2id$v=19$m=M,t=T,p=1$salt$hash' with a fresh 16-byte salt. STRICT.
 * 22023 for an empty password, one longer than 4096 bytes or one holding
 * NUL; 53200 when the memory cannot be allocated.
 */
PG_FUNCTION_INFO_V1(kiln_hash_password);

Datum kiln_hash_password(PG_FUNCTION_ARGS)
{
    size_t len;
    char *pw = kiln_text_secret_cstring(PG_GETARG_TEXT_PP(0), &len);
    char out[crypto_pwhash_STRBYTES];
    int rc;

    if (len == 0 || len > KILN_PASSWORD_MAX_BYTES) {
        kiln_wipe_free(pw, len);
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("password length must be between 1 and %d bytes", KILN_PASSWORD_MAX_BYTES)));
    }

    rc = crypto_pwhash_str_alg(out, pw, len, (unsigned long long)kiln_argon2_iterations,
                               (size_t)kiln_argon2_memory_kib * 1024, crypto_pwhash_ALG_ARGON2ID13);
    kiln_wipe_free(pw, len);
    if (rc != 0)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not hash the password"),
                        errdetail("argon2id needs %d KiB of memory.", kiln_argon2_memory_kib)));

    PG_RETURN_TEXT_P(cstring_to_text(out));
}

/* bcrypt: recompute with the stored setting and compare in constant time. */
static bool kiln_verify_bcrypt(const char *pw, size_t pwlen, const char *hash)
{
    struct crypt_data *data;
    char *computed;
    size_t hlen = strlen(hash);
    bool ok = false;

    if (pwlen > KILN_BCRYPT_MAX_BYTES || hlen != 60)
        return false;

    data = palloc0(sizeof(struct crypt_data));
    computed = crypt_rn(pw, hash, data, sizeof(struct crypt_data));
    if (computed != NULL && strlen(computed) == hlen)
        ok = sodium_memcmp(computed, hash, hlen) == 0;
    sodium_memzero(data, sizeof(struct crypt_data));
    pfree(data);
    return ok;
}

/*
 * A hash of the current parameters, computed once per backend, verified
 * against when there is no stored hash so that a missing user costs as
 * much as a present one.
 */
static char kiln_dummy_hash[crypto_pwhash_STRBYTES];

static void kiln_dummy_verify(const char *pw, size_t len)
{
    if (kiln_dummy_hash[0] == '\0' ||
        crypto_pwhash_str_needs_rehash(kiln_dummy_hash, (unsigned long long)kiln_argon2_iterations,
                                       (size_t)kiln_argon2_memory_kib * 1024) != 0) {
        if (crypto_pwhash_str_alg(kiln_dummy_hash, "kiln-dummy-password", 19,
                                  (unsigned long long)kiln_argon2_iterations,
                                  (size_t)kiln_argon2_memory_kib * 1024,
                                  crypto_pwhash_ALG_ARGON2ID13) != 0) {
            kiln_dummy_hash[0] = '\0';
            return;
        }
    }
    if (crypto_pwhash_str_verify(kiln_dummy_hash, pw, len) == 0)
        return; /* the dummy password itself; the caller still answers false */
}

/*
 * kiln.verify_password(password text, hash text) returns boolean. Not
 * STRICT: a NULL hash (no such user, no password set) costs one argon2id
 * verification at the current parameters and returns false, so callers
 * need no branch that would show in timing. A NULL password, or a hash in
 * no supported format, returns false. bcrypt hashes never verify a password
 * longer than 72 bytes (bcrypt would ignore the rest).
 */
PG_FUNCTION_INFO_V1(kiln_verify_password);

Datum kiln_verify_password(PG_FUNCTION_ARGS)
{
    size_t len;
    char *pw;
    char *hash;
    bool ok = false;

    if (PG_ARGISNULL(0))
        PG_RETURN_BOOL(false);
    pw = kiln_text_secret_cstring(PG_GETARG_TEXT_PP(0), &len);

    if (len > KILN_PASSWORD_MAX_BYTES || memchr(pw, '\0', len) != NULL) {
        kiln_wipe_free(pw, len);
        PG_RETURN_BOOL(false);
    }
    if (PG_ARGISNULL(1)) {
        kiln_dummy_verify(pw, len);
        kiln_wipe_free(pw, len);
        PG_RETURN_BOOL(false);
    }

    hash = text_to_cstring(PG_GETARG_TEXT_PP(1));
    if (strncmp(hash, "$argon2id$", 10) == 0 || strncmp(hash, "$argon2i$", 9) == 0)
        ok = crypto_pwhash_str_verify(hash, pw, len) == 0;
    else if (strncmp(hash, "$2a$", 4) == 0 || strncmp(hash, "$2b$", 4) == 0)
        ok = kiln_verify_bcrypt(pw, len, hash);
    else
        ok = false;

    kiln_wipe_free(pw, len);
    pfree(hash);
    PG_RETURN_BOOL(ok);
}

/*
 * kiln.password_needs_rehash(hash text) returns boolean: true unless the
 * hash is argon2id with exactly the current parameters (so bcrypt, argon2i
 * and weaker or stronger argon2id hashes are replaced at the next sign-in).
 * STRICT.
 */
PG_FUNCTION_INFO_V1(kiln_password_needs_rehash);

Datum kiln_password_needs_rehash(PG_FUNCTION_ARGS)
{
    char *hash = text_to_cstring(PG_GETARG_TEXT_PP(0));
    bool needs;

    if (strncmp(hash, "$argon2id$", 10) != 0)
        needs = true;
    else
        needs = crypto_pwhash_str_needs_rehash(hash, (unsigned long long)kiln_argon2_iterations,
                                               (size_t)kiln_argon2_memory_kib * 1024) != 0;
    pfree(hash);
    PG_RETURN_BOOL(needs);
}
