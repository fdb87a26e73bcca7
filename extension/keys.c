/*
 * keys.c: the per-backend cache of JWT keys (kiln.jwt_keys), lookups of
 * opaque API keys (kiln.api_keys) and revoked sessions
 * (kiln.revoked_sessions), and cache invalidation.
 *
 * Keys are read with SPI as the owner of schema kiln (app roles cannot read
 * the tables), decrypted with the master key, and kept under
 * CacheMemoryContext until a relcache invalidation of one of the three
 * tables; kiln._invalidate_token_caches(), a statement trigger on them,
 * sends that invalidation to every backend whenever a row changes, so a
 * rotation, retirement or revocation takes effect everywhere at commit. The
 * token cache is flushed with the keys. Also defines the settings
 * kiln.jwt_issuers and kiln.jwt_audiences. This file never returns secret
 * material to SQL and never keeps a decrypted key outside the cache.
 */
#include "postgres.h"

#include "identity.h"

#include <openssl/err.h>
#include <sodium.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

char *kiln_jwt_issuers = NULL;
char *kiln_jwt_audiences = NULL;

/* The key cache: valid when kiln_keys_ctx != NULL. */
static MemoryContext kiln_keys_ctx = NULL;
static KilnJwtKey *kiln_keys = NULL;
static int kiln_nkeys = 0;

/* Relations whose invalidation flushes the caches (InvalidOid until known). */
static Oid kiln_rel_jwt_keys = InvalidOid;
static Oid kiln_rel_api_keys = InvalidOid;
static Oid kiln_rel_revoked = InvalidOid;

void kiln_keys_flush(void)
{
    int i;

    if (kiln_keys_ctx != NULL) {
        for (i = 0; i < kiln_nkeys; i++) {
            if (kiln_keys[i].secret != NULL)
                sodium_memzero(kiln_keys[i].secret, kiln_keys[i].secret_len);
            if (kiln_keys[i].pkey != NULL)
                EVP_PKEY_free(kiln_keys[i].pkey);
            /* Freeing a digest context cleanses its state (the padded key). */
            EVP_MD_CTX_free(kiln_keys[i].hmac_inner);
            EVP_MD_CTX_free(kiln_keys[i].hmac_outer);
            EVP_PKEY_CTX_free(kiln_keys[i].sign_ctx);
        }
        MemoryContextDelete(kiln_keys_ctx);
        kiln_keys_ctx = NULL;
    }
    kiln_keys = NULL;
    kiln_nkeys = 0;
    kiln_token_cache_flush();
}

/* Set while the key cache is being filled; an invalidation then only marks it stale. */
static bool kiln_keys_loading = false;
static bool kiln_keys_stale = false;

static void kiln_relcache_callback(Datum arg, Oid relid)
{
    if (relid == InvalidOid || relid == kiln_rel_jwt_keys || relid == kiln_rel_api_keys ||
        relid == kiln_rel_revoked) {
        if (kiln_keys_loading) {
            kiln_keys_stale = true;
            kiln_token_cache_flush();
        } else
            kiln_keys_flush();
    }
}

/* Verified tokens depend on the allowlists: drop them when one changes. */
static void kiln_assign_allowlist(const char *newval, void *extra)
{
    kiln_token_cache_flush();
}

void kiln_keys_init(void)
{
    DefineCustomStringVariable("kiln.jwt_issuers", "Accepted iss values of access tokens (comma-separated).",
                               "Used for keys whose row has no issuers list; tokens must carry iss.",
                               &kiln_jwt_issuers, "kiln", PGC_SIGHUP, GUC_LIST_INPUT, NULL,
                               kiln_assign_allowlist, NULL);
    DefineCustomStringVariable("kiln.jwt_audiences", "Accepted aud values of access tokens (comma-separated).",
                               "Used for keys whose row has no audiences list.", &kiln_jwt_audiences,
                               "authenticated", PGC_SIGHUP, GUC_LIST_INPUT, NULL, kiln_assign_allowlist, NULL);
    CacheRegisterRelcacheCallback(kiln_relcache_callback, (Datum)0);
}

void kiln_as_owner(void (*fn)(void *), void *arg)
{
    Oid nsp = get_namespace_oid("kiln", true);
    HeapTuple tup;
    Oid owner;
    Oid save_userid;
    int save_sec;

    if (!OidIsValid(nsp))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("extension kiln is not installed in this database")));
    tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
    if (!HeapTupleIsValid(tup))
        elog(ERROR, "cache lookup failed for namespace %u", nsp);
    owner = ((Form_pg_namespace)GETSTRUCT(tup))->nspowner;
    ReleaseSysCache(tup);

    GetUserIdAndSecContext(&save_userid, &save_sec);
    SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
    PG_TRY();
    {
        fn(arg);
    }
    PG_FINALLY();
    {
        SetUserIdAndSecContext(save_userid, save_sec);
    }
    PG_END_TRY();
}

static Oid kiln_rel(const char *name)
{
    Oid nsp = get_namespace_oid("kiln", true);

    return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/*
 * Learns the relations whose invalidation flushes the caches; called before
 * anything read from them is cached. Returns whether kiln.jwt_keys exists.
 */
static bool kiln_track_relids(void)
{
    kiln_rel_jwt_keys = kiln_rel("jwt_keys");
    kiln_rel_api_keys = kiln_rel("api_keys");
    kiln_rel_revoked = kiln_rel("revoked_sessions");
    return OidIsValid(kiln_rel_jwt_keys);
}

/* A text[] column as a C array in the key context; -1 when NULL. */
static int kiln_text_array(HeapTuple tup, TupleDesc desc, int col, char ***out)
{
    bool isnull;
    Datum d = SPI_getbinval(tup, desc, col, &isnull);
    Datum *elems;
    bool *nulls;
    int n;
    int i;
    int k = 0;

    if (isnull)
        return -1;
    deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
    *out = MemoryContextAlloc(kiln_keys_ctx, sizeof(char *) * (n + 1));
    for (i = 0; i < n; i++)
        if (!nulls[i])
            (*out)[k++] = MemoryContextStrdup(kiln_keys_ctx, TextDatumGetCString(elems[i]));
    return k;
}

static void kiln_keys_load_spi(void *arg)
{
    int rc;
    uint64 i;

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    rc = SPI_execute("SELECT kid, alg, secret, signing, verify, trusted_tenant_claims, issuers, audiences"
                     "  FROM kiln.jwt_keys WHERE verify OR signing ORDER BY created_at DESC, kid",
                     true, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading kiln.jwt_keys failed: %d", rc);

    kiln_keys = MemoryContextAllocZero(kiln_keys_ctx, sizeof(KilnJwtKey) * (SPI_processed + 1));
    for (i = 0; i < SPI_processed; i++) {
        HeapTuple tup = SPI_tuptable->vals[i];
        TupleDesc desc = SPI_tuptable->tupdesc;
        KilnJwtKey *k = &kiln_keys[kiln_nkeys];
        bool isnull;
        char *alg = SPI_getvalue(tup, desc, 2);
        bytea *sealed = DatumGetByteaPP(SPI_getbinval(tup, desc, 3, &isnull));
        uint8 *plain;
        size_t plainlen;

        k->kid = MemoryContextStrdup(kiln_keys_ctx, SPI_getvalue(tup, desc, 1));
        if (strcmp(alg, "HS256") == 0)
            k->alg = KILN_ALG_HS256;
        else if (strcmp(alg, "ES256") == 0)
            k->alg = KILN_ALG_ES256;
        else if (strcmp(alg, "EdDSA") == 0)
            k->alg = KILN_ALG_EDDSA;
        else
            continue;
        k->signing = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
        k->verify = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
        k->trusted_tenant = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
        k->n_issuers = kiln_text_array(tup, desc, 7, &k->issuers);
        k->n_audiences = kiln_text_array(tup, desc, 8, &k->audiences);

        plain = kiln_secretbox_open((const uint8 *)VARDATA_ANY(sealed), VARSIZE_ANY_EXHDR(sealed), &plainlen);
        k->secret = MemoryContextAlloc(kiln_keys_ctx, plainlen);
        memcpy(k->secret, plain, plainlen);
        k->secret_len = plainlen;
        sodium_memzero(plain, plainlen);
        pfree(plain);
        kiln_nkeys++;
        if (k->alg == KILN_ALG_HS256 && !kiln_hmac_prepare(k))
            elog(ERROR, "could not prepare HMAC-SHA-256 for key \"%s\"", k->kid);
        if (k->alg == KILN_ALG_ES256) {
            const unsigned char *p = k->secret;

            k->pkey = d2i_AutoPrivateKey(NULL, &p, (long)k->secret_len);
            ERR_clear_error();
            if (k->pkey == NULL)
                ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                                errmsg("JWT key \"%s\" holds no valid P-256 private key", k->kid)));
        }
    }
    SPI_finish();
}

const KilnJwtKey *kiln_keys_get(int *n)
{
    volatile int attempt;

    /* An invalidation that arrives while loading makes the result stale: load again. */
    for (attempt = 0; kiln_keys_ctx == NULL && attempt < 5; attempt++) {
        if (!kiln_track_relids()) {
            *n = 0;
            return NULL;
        }
        kiln_keys_ctx = AllocSetContextCreate(CacheMemoryContext, "kiln jwt keys", ALLOCSET_SMALL_SIZES);
        kiln_keys_loading = true;
        kiln_keys_stale = false;
        PG_TRY();
        {
            kiln_as_owner(kiln_keys_load_spi, NULL);
        }
        PG_CATCH();
        {
            kiln_keys_loading = false;
            kiln_keys_flush();
            PG_RE_THROW();
        }
        PG_END_TRY();
        kiln_keys_loading = false;
        if (kiln_keys_stale && attempt < 4)
            kiln_keys_flush();
    }
    *n = kiln_nkeys;
    return kiln_keys;
}

/* API key lookup: arguments and results passed through kiln_as_owner. */
typedef struct KilnApiKeyQuery {
    uint8 hash[crypto_hash_sha256_BYTES];
    bool found;
    bool revoked;
    char role[32];
    bool has_tenant;
    pg_uuid_t tenant;
} KilnApiKeyQuery;

static void kiln_api_key_spi(void *arg)
{
    KilnApiKeyQuery *q = arg;
    bytea *h = palloc(VARHDRSZ + sizeof(q->hash));
    Oid argtypes[1] = {BYTEAOID};
    Datum values[1];
    int rc;

    SET_VARSIZE(h, VARHDRSZ + sizeof(q->hash));
    memcpy(VARDATA(h), q->hash, sizeof(q->hash));
    values[0] = PointerGetDatum(h);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    rc = SPI_execute_with_args("SELECT role, tenant_id, revoked_at IS NOT NULL FROM kiln.api_keys"
                               " WHERE key_hash OPERATOR(pg_catalog.=) $1",
                               1, argtypes, values, NULL, true, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading kiln.api_keys failed: %d", rc);
    if (SPI_processed == 1) {
        HeapTuple tup = SPI_tuptable->vals[0];
        TupleDesc desc = SPI_tuptable->tupdesc;
        bool isnull;
        Datum t;

        q->found = true;
        strlcpy(q->role, SPI_getvalue(tup, desc, 1), sizeof(q->role));
        t = SPI_getbinval(tup, desc, 2, &isnull);
        q->has_tenant = !isnull;
        if (!isnull)
            memcpy(&q->tenant, DatumGetUUIDP(t), sizeof(pg_uuid_t));
        q->revoked = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
    }
    SPI_finish();
}

bool kiln_api_key_lookup(const char *token, size_t len, KilnVerified *out)
{
    KilnApiKeyQuery q;
    StringInfoData claims;

    memset(&q, 0, sizeof(q));
    memset(out, 0, sizeof(*out));
    kiln_track_relids();
    if (!OidIsValid(kiln_rel_api_keys))
        return false;
    crypto_hash_sha256(q.hash, (const unsigned char *)token, len);
    kiln_as_owner(kiln_api_key_spi, &q);
    if (!q.found)
        return false;
    if (q.revoked)
        ereport(ERROR, (errcode(KILN_ERRCODE_REVOKED_TOKEN), errmsg("token revoked"),
                        errdetail("The API key was revoked.")));
    out->role = kiln_role_static(q.role);
    if (out->role == NULL)
        ereport(ERROR, (errcode(KILN_ERRCODE_INVALID_TOKEN), errmsg("invalid token"),
                        errdetail("The API key maps to no app role.")));
    out->has_tenant = q.has_tenant;
    out->tenant_id = q.tenant;
    out->exp = get_float8_infinity();
    initStringInfo(&claims);
    appendStringInfo(&claims, "{\"role\": \"%s\"", out->role);
    if (q.has_tenant)
        appendStringInfo(&claims, ", \"tenant_id\": \"%s\"",
                         DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&q.tenant))));
    appendStringInfoString(&claims, "}");
    out->claims_text = claims.data;
    out->claims = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims.data)));
    return true;
}

typedef struct KilnSessionQuery {
    pg_uuid_t sid;
    bool revoked;
} KilnSessionQuery;

static void kiln_session_spi(void *arg)
{
    KilnSessionQuery *q = arg;
    Oid argtypes[1] = {UUIDOID};
    Datum values[1] = {UUIDPGetDatum(&q->sid)};
    int rc;

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    rc = SPI_execute_with_args("SELECT 1 FROM kiln.revoked_sessions WHERE session_id OPERATOR(pg_catalog.=) $1",
                               1, argtypes, values, NULL, true, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading kiln.revoked_sessions failed: %d", rc);
    q->revoked = SPI_processed > 0;
    SPI_finish();
}

bool kiln_session_revoked(const pg_uuid_t *session_id)
{
    KilnSessionQuery q;

    kiln_track_relids();
    if (!OidIsValid(kiln_rel_revoked))
        return false;
    q.sid = *session_id;
    q.revoked = false;
    kiln_as_owner(kiln_session_spi, &q);
    return q.revoked;
}

/*
 * kiln._invalidate_token_caches(): statement trigger on kiln.jwt_keys,
 * kiln.api_keys and kiln.revoked_sessions. Queues a relcache invalidation
 * of the table, which every backend (this one included) processes at
 * commit by dropping its key and token caches.
 */
PG_FUNCTION_INFO_V1(kiln_invalidate_token_caches);

Datum kiln_invalidate_token_caches(PG_FUNCTION_ARGS)
{
    TriggerData *td = (TriggerData *)fcinfo->context;

    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("kiln._invalidate_token_caches() must be called as a trigger")));
    CacheInvalidateRelcacheByRelid(RelationGetRelid(td->tg_relation));
    return PointerGetDatum(NULL);
}
