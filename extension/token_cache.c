/*
 * token_cache.c: per-backend cache of verified tokens, so that a repeated
 * token costs a hash and a lookup instead of a signature check and SQL.
 *
 * Keyed by SHA-256 of a random per-backend block and the token (the cache
 * never holds tokens). Holds at most kiln.token_cache_size entries;
 * when full it is emptied. An entry is used only while its exp (+30 s skew)
 * has not passed. The whole cache is dropped whenever kiln.jwt_keys,
 * kiln.api_keys or kiln.revoked_sessions change (keys.c), or the issuer or
 * audience allowlist changes. Memory lives in a context under
 * CacheMemoryContext. This file never verifies anything itself.
 */
#include "postgres.h"

#include "identity.h"

#include <math.h>
#include <sodium.h>

#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

typedef struct KilnTokenEntry {
    uint8 key[32];
    KilnVerified v; /* strings and claims in kiln_token_ctx */
} KilnTokenEntry;

static int kiln_token_cache_size = 1024;
static MemoryContext kiln_token_ctx = NULL;
static HTAB *kiln_token_htab = NULL;
/* The SHA-256 state after the random block, copied for every hash. */
static EVP_MD_CTX *kiln_token_hash_base = NULL;
static EVP_MD_CTX *kiln_token_hash_ctx = NULL;

void kiln_token_cache_flush(void)
{
    if (kiln_token_ctx != NULL)
        MemoryContextDelete(kiln_token_ctx);
    kiln_token_ctx = NULL;
    kiln_token_htab = NULL;
}

static void kiln_assign_cache_size(int newval, void *extra)
{
    kiln_token_cache_flush();
}

void kiln_token_cache_init(void)
{
    DefineCustomIntVariable("kiln.token_cache_size", "Verified tokens cached per backend.",
                            "0 disables the cache. When full, the cache is emptied.",
                            &kiln_token_cache_size, 1024, 0, 1000000, PGC_SUSET, 0, NULL,
                            kiln_assign_cache_size, NULL);
}

void kiln_token_hash(const char *token, size_t len, uint8 out[32])
{
    unsigned int n = 0;

    if (kiln_token_hash_base == NULL) {
        unsigned char block[64];
        const EVP_MD *md = kiln_sha256_md();

        randombytes_buf(block, sizeof(block));
        kiln_token_hash_base = EVP_MD_CTX_new();
        kiln_token_hash_ctx = EVP_MD_CTX_new();
        if (md == NULL || kiln_token_hash_base == NULL || kiln_token_hash_ctx == NULL ||
            !EVP_DigestInit_ex(kiln_token_hash_base, md, NULL) ||
            !EVP_DigestUpdate(kiln_token_hash_base, block, sizeof(block))) {
            EVP_MD_CTX_free(kiln_token_hash_base);
            kiln_token_hash_base = NULL;
            elog(ERROR, "SHA-256 is not available");
        }
        sodium_memzero(block, sizeof(block));
    }
    if (!EVP_MD_CTX_copy_ex(kiln_token_hash_ctx, kiln_token_hash_base) ||
        !EVP_DigestUpdate(kiln_token_hash_ctx, token, len) || !EVP_DigestFinal_ex(kiln_token_hash_ctx, out, &n) ||
        n != 32)
        elog(ERROR, "SHA-256 failed");
}

static double kiln_token_now(void)
{
    return (double)(GetCurrentTimestamp() + (int64)(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY) / 1e6;
}

bool kiln_token_cache_get(const uint8 key[32], KilnVerified *out)
{
    KilnTokenEntry *e;

    if (kiln_token_htab == NULL)
        return false;
    e = hash_search(kiln_token_htab, key, HASH_FIND, NULL);
    if (e == NULL)
        return false;
    if (!isinf(e->v.exp) && kiln_token_now() > e->v.exp + KILN_JWT_SKEW_SECONDS)
        return false; /* stays until the next flush; never used again */
    *out = e->v;
    return true;
}

static char *kiln_cache_strdup(const char *s)
{
    return s ? MemoryContextStrdup(kiln_token_ctx, s) : NULL;
}

void kiln_token_cache_put(const uint8 key[32], const KilnVerified *v)
{
    KilnTokenEntry *e;
    bool found;

    if (kiln_token_cache_size <= 0)
        return;
    if (kiln_token_htab != NULL && hash_get_num_entries(kiln_token_htab) >= kiln_token_cache_size)
        kiln_token_cache_flush();
    if (kiln_token_htab == NULL) {
        HASHCTL ctl;

        kiln_token_ctx = AllocSetContextCreate(CacheMemoryContext, "kiln token cache", ALLOCSET_DEFAULT_SIZES);
        memset(&ctl, 0, sizeof(ctl));
        ctl.keysize = 32;
        ctl.entrysize = sizeof(KilnTokenEntry);
        ctl.hcxt = kiln_token_ctx;
        kiln_token_htab = hash_create("kiln token cache", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    }
    e = hash_search(kiln_token_htab, key, HASH_ENTER, &found);
    e->v = *v;
    e->v.aal = kiln_cache_strdup(v->aal);
    e->v.email = kiln_cache_strdup(v->email);
    e->v.claims_text = kiln_cache_strdup(v->claims_text);
    e->v.claims = MemoryContextAlloc(kiln_token_ctx, VARSIZE(v->claims));
    memcpy(e->v.claims, v->claims, VARSIZE(v->claims));
}
