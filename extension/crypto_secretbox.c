/*
 * crypto_secretbox.c: encryption at rest with a master key kept outside the
 * database; kiln.encrypt(bytea) and kiln.decrypt(bytea).
 *
 * The master key is 32 bytes read from the file named by kiln.master_key_file
 * (PGC_SIGHUP, visible to superusers only): either 32 raw bytes or 64 hex
 * digits with an optional trailing newline. The file must not be readable
 * by group or others. The key is loaded on first use and held in a locked,
 * static buffer; changing the setting wipes it. Sealed values are
 *   0x01 || nonce (24 bytes) || XSalsa20-Poly1305 box (16-byte tag + data).
 * This file never writes the key anywhere, never logs it, and never returns
 * partially decrypted data.
 */
#include "postgres.h"

#include "kiln.h"

#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmgr.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#define KILN_SEALED_VERSION 0x01
#define KILN_SEALED_OVERHEAD (1 + crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)

/* Setting kiln.master_key_file; owned by the GUC machinery. */
static char *kiln_master_key_file = NULL;

/* The loaded key; valid when kiln_master_key_loaded. */
static unsigned char kiln_master_key[crypto_secretbox_KEYBYTES];
static bool kiln_master_key_loaded = false;

/* Forget the key whenever the setting changes (assign hooks never fail). */
static void kiln_assign_master_key_file(const char *newval, void *extra)
{
    sodium_memzero(kiln_master_key, sizeof(kiln_master_key));
    kiln_master_key_loaded = false;
}

void kiln_secretbox_init(void)
{
    if (sodium_init() < 0)
        elog(ERROR, "libsodium could not be initialised");

    DefineCustomStringVariable(
        "kiln.master_key_file", "File holding the 32-byte master key for encryption at rest.",
        "32 raw bytes or 64 hex digits; the file must not be readable by group or others. "
        "The key never enters the database.",
        &kiln_master_key_file, NULL, PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL,
        kiln_assign_master_key_file, NULL);
    (void)sodium_mlock(kiln_master_key, sizeof(kiln_master_key));
}

/*
 * Loads the master key if needed; raises 55000 when unset, 58P01/58030 when
 * the file cannot be read, F0000 when it has the wrong size, format or
 * permissions. Returns the static key buffer.
 */
static const unsigned char *kiln_master_key_get(void)
{
    unsigned char buf[130];
    struct stat st;
    int fd;
    ssize_t n;
    bool ok = false;

    if (kiln_master_key_loaded)
        return kiln_master_key;

    if (kiln_master_key_file == NULL || kiln_master_key_file[0] == '\0')
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("no master key is configured"),
                        errdetail("Setting kiln.master_key_file is empty."),
                        errhint("Write 32 random bytes to a file readable only by the server "
                                "(head -c 32 /dev/urandom > FILE; chmod 600 FILE), set "
                                "kiln.master_key_file = 'FILE' in postgresql.conf and reload.")));

    fd = OpenTransientFile(kiln_master_key_file, O_RDONLY | PG_BINARY);
    if (fd < 0)
        ereport(ERROR, (errcode_for_file_access(),
                        errmsg("could not open the master key file named by kiln.master_key_file: %m"),
                        errhint("The file must exist and be readable by the server's OS user.")));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        CloseTransientFile(fd);
        ereport(ERROR, (errcode(ERRCODE_CONFIG_FILE_ERROR),
                        errmsg("master key file must be a regular file not accessible by group or others"),
                        errhint("Run chmod 600 on the file named by kiln.master_key_file.")));
    }
    n = read(fd, buf, sizeof(buf));
    CloseTransientFile(fd);

    if (n == crypto_secretbox_KEYBYTES) {
        memcpy(kiln_master_key, buf, crypto_secretbox_KEYBYTES);
        ok = true;
    } else if (n == 64 || (n == 65 && buf[64] == '\n')) {
        int i;

        ok = true;
        for (i = 0; i < 32; i++) {
            int hi = kiln_hex_digit(buf[2 * i]);
            int lo = kiln_hex_digit(buf[2 * i + 1]);

            if (hi < 0 || lo < 0) {
                ok = false;
                break;
            }
            kiln_master_key[i] = (unsigned char)((hi << 4) | lo);
        }
    }
    sodium_memzero(buf, sizeof(buf));

    if (!ok) {
        sodium_memzero(kiln_master_key, sizeof(kiln_master_key));
        ereport(ERROR, (errcode(ERRCODE_CONFIG_FILE_ERROR),
                        errmsg("master key file has the wrong size or format"),
                        errdetail("The file must hold exactly 32 raw bytes or 64 hex digits."),
                        errhint("Create it with: head -c 32 /dev/urandom > FILE")));
    }
    kiln_master_key_loaded = true;
    return kiln_master_key;
}

uint8 *kiln_secretbox_seal(const uint8 *plain, size_t len, size_t *outlen)
{
    const unsigned char *key = kiln_master_key_get();
    uint8 *out;

    if (len > MaxAllocSize - KILN_SEALED_OVERHEAD)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("value too large to encrypt")));

    out = palloc(len + KILN_SEALED_OVERHEAD);
    out[0] = KILN_SEALED_VERSION;
    randombytes_buf(out + 1, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(out + 1 + crypto_secretbox_NONCEBYTES, plain, len, out + 1, key);
    *outlen = len + KILN_SEALED_OVERHEAD;
    return out;
}

uint8 *kiln_secretbox_open(const uint8 *sealed, size_t len, size_t *outlen)
{
    const unsigned char *key = kiln_master_key_get();
    uint8 *out;
    size_t plain_len;

    if (len < KILN_SEALED_OVERHEAD || sealed[0] != KILN_SEALED_VERSION)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("could not decrypt: not a value sealed by kiln.encrypt")));

    plain_len = len - KILN_SEALED_OVERHEAD;
    out = palloc(plain_len + 1);
    if (crypto_secretbox_open_easy(out, sealed + 1 + crypto_secretbox_NONCEBYTES,
                                   len - 1 - crypto_secretbox_NONCEBYTES, sealed + 1, key) != 0) {
        sodium_memzero(out, plain_len + 1);
        pfree(out);
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("could not decrypt: the data was altered or sealed with another key")));
    }
    *outlen = plain_len;
    return out;
}

/*
 * kiln.encrypt(plaintext bytea) returns bytea: the sealed value. STRICT.
 * Errors: see kiln_secretbox_seal. Result palloc'd in the caller's context.
 */
PG_FUNCTION_INFO_V1(kiln_encrypt_bytea);

Datum kiln_encrypt_bytea(PG_FUNCTION_ARGS)
{
    bytea *plain = PG_GETARG_BYTEA_PP(0);
    size_t outlen;
    uint8 *sealed = kiln_secretbox_seal((const uint8 *)VARDATA_ANY(plain),
                                        VARSIZE_ANY_EXHDR(plain), &outlen);
    bytea *result = palloc(VARHDRSZ + outlen);

    SET_VARSIZE(result, VARHDRSZ + outlen);
    memcpy(VARDATA(result), sealed, outlen);
    pfree(sealed);
    PG_RETURN_BYTEA_P(result);
}

/*
 * kiln.decrypt(sealed bytea) returns bytea: the plaintext. STRICT.
 * Errors: see kiln_secretbox_open. Result palloc'd in the caller's context.
 */
PG_FUNCTION_INFO_V1(kiln_decrypt_bytea);

Datum kiln_decrypt_bytea(PG_FUNCTION_ARGS)
{
    bytea *sealed = PG_GETARG_BYTEA_PP(0);
    size_t outlen;
    uint8 *plain = kiln_secretbox_open((const uint8 *)VARDATA_ANY(sealed),
                                       VARSIZE_ANY_EXHDR(sealed), &outlen);
    bytea *result = palloc(VARHDRSZ + outlen);

    SET_VARSIZE(result, VARHDRSZ + outlen);
    memcpy(VARDATA(result), plain, outlen);
    sodium_memzero(plain, outlen);
    pfree(plain);
    PG_RETURN_BYTEA_P(result);
}
