/*
 * access_context_shim.c: INTERIM stand-in for the verified request context,
 * until the identity branch (context.c, kiln.authenticate) is merged.
 *
 * Defines kiln_context_current() as a weak symbol that reads the UNVERIFIED
 * transaction-local setting request.jwt.claims (claims role, sub, tenant_id),
 * so that the access modules and their tests run before the real context
 * exists; the strong definition in context.c replaces it at link time. Also
 * backs the interim kiln.tenant_id(). It never verifies anything and must
 * not ship: it is deleted when the identity branch is merged.
 */
#include "postgres.h"

#include "kiln.h"
#include "access_context_shim.h"

#include "fmgr.h"
#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "storage/proc.h"
#include "utils/memutils.h"

static KilnContext shim_ctx;
static char *shim_claims_text = NULL;    /* TopTransactionContext copy */
static LocalTransactionId shim_lxid = InvalidLocalTransactionId;

/* Copies claim key as a C string into TopTransactionContext, or NULL. */
static char *shim_claim(Jsonb *jb, const char *key)
{
    JsonbValue v;

    if (!getKeyJsonValueFromContainer(&jb->root, key, strlen(key), &v) || v.type != jbvString)
        return NULL;
    return MemoryContextStrdup(TopTransactionContext,
                               pnstrdup(v.val.string.val, v.val.string.len));
}

static bool shim_uuid(Jsonb *jb, const char *key, pg_uuid_t *out)
{
    char *s = shim_claim(jb, key);
    Datum d;

    if (s == NULL)
        return false;
    d = DirectFunctionCall1(uuid_in, CStringGetDatum(s));
    memcpy(out, DatumGetUUIDP(d), sizeof(pg_uuid_t));
    return true;
}

__attribute__((weak)) const KilnContext *kiln_context_current(void)
{
    const char *claims = GetConfigOption("request.jwt.claims", true, false);
    MemoryContext old;
    Jsonb *jb;

    if (!IsTransactionState())
        claims = NULL;
    if (shim_lxid == MyProc->lxid && claims != NULL && shim_claims_text != NULL &&
        strcmp(claims, shim_claims_text) == 0)
        return &shim_ctx;

    memset(&shim_ctx, 0, sizeof(shim_ctx));
    shim_claims_text = NULL;
    shim_lxid = InvalidLocalTransactionId;
    if (claims == NULL || claims[0] == '\0')
        return &shim_ctx;

    old = MemoryContextSwitchTo(TopTransactionContext);
    jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims)));
    shim_ctx.present = true;
    shim_ctx.role = shim_claim(jb, "role");
    shim_ctx.has_user = shim_uuid(jb, "sub", &shim_ctx.user_id);
    shim_ctx.has_tenant = shim_uuid(jb, "tenant_id", &shim_ctx.tenant_id);
    shim_ctx.claims = jb;
    shim_claims_text = pstrdup(claims);
    MemoryContextSwitchTo(old);
    shim_lxid = MyProc->lxid;
    return &shim_ctx;
}

/*
 * Interim kiln.tenant_id() returns uuid: the context's tenant, NULL when
 * there is none.
 */
PG_FUNCTION_INFO_V1(kiln_access_shim_tenant_id);

Datum kiln_access_shim_tenant_id(PG_FUNCTION_ARGS)
{
    const KilnContext *ctx = kiln_context_current();
    pg_uuid_t *u;

    if (!ctx->has_tenant)
        PG_RETURN_NULL();
    u = palloc(sizeof(pg_uuid_t));
    memcpy(u, &ctx->tenant_id, sizeof(pg_uuid_t));
    PG_RETURN_UUID_P(u);
}
