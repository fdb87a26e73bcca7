/*
 * token.c: random tokens, kiln.random_token(nbytes).
 *
 * Draws nbytes from pg_strong_random (the OS CSPRNG or OpenSSL, as the
 * server was built) and returns them base64url-encoded without padding. It
 * never uses random()/drandom, never returns a token built from a partial
 * read, and wipes the raw bytes before returning.
 */
#include "postgres.h"

#include "kiln.h"

#include "fmgr.h"
#include "port.h"
#include "utils/builtins.h"

/* Bounds on nbytes; documented in docs/sql.md. */
#define KILN_TOKEN_MIN_BYTES 1
#define KILN_TOKEN_MAX_BYTES 1024

/*
 * kiln.random_token(nbytes int default 32) returns text.
 * Raises 22023 (invalid_parameter_value) when nbytes is out of bounds and
 * 58000 (system_error) when the random source fails. Returns a palloc'd
 * text in the caller's memory context. STRICT at the SQL level.
 */
PG_FUNCTION_INFO_V1(kiln_generate_token);

Datum kiln_generate_token(PG_FUNCTION_ARGS)
{
    int32 nbytes = PG_GETARG_INT32(0);
    uint8 raw[KILN_TOKEN_MAX_BYTES];
    char *encoded;
    size_t encoded_len;
    text *result;

    if (nbytes < KILN_TOKEN_MIN_BYTES || nbytes > KILN_TOKEN_MAX_BYTES)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("random token length must be between %d and %d bytes",
                               KILN_TOKEN_MIN_BYTES, KILN_TOKEN_MAX_BYTES),
                        errdetail("The requested length was %d bytes.", nbytes)));

    if (!pg_strong_random(raw, (size_t)nbytes)) {
        explicit_bzero(raw, sizeof(raw));
        ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR), errmsg("could not generate random bytes")));
    }

    encoded = palloc(kiln_base64url_encoded_len((size_t)nbytes) + 1);
    encoded_len = kiln_base64url_encode(raw, (size_t)nbytes, encoded);
    explicit_bzero(raw, sizeof(raw));

    result = cstring_to_text_with_len(encoded, (int)encoded_len);
    explicit_bzero(encoded, encoded_len);
    pfree(encoded);

    PG_RETURN_TEXT_P(result);
}
