/*
 * access_principals.c: the caller's principals, for row ACL policies.
 *
 * kiln.principals() returns the ACL principals of the verified request
 * context (kiln_context_current()) as a sorted text[]:
 *
 *   any                        always
 *   guests | users             without | with a user
 *   role:<role>                the context's role
 *   user:<uid>                 the context's user
 *   team:<tid>, team:<tid>/<r> each auth.team_members row of the user, each role
 *   tenant:<tid>               the context's tenant
 *   tenant:<tid>/<r>           the user's kiln.tenant_members role in that tenant
 *
 * kiln.acl_principals(action) returns the same list with '<action>:' in
 * front of each entry, which is what a row's acl column holds, so a policy is
 * `acl && kiln.acl_principals('read')`, a GIN-indexable overlap.
 *
 * Both compute once per transaction (memberships read with SPI, as the owner
 * of auth.team_members, on first use) and then return a copy of the cached
 * array; the cache lives in TopTransactionContext and is dropped at commit
 * or abort, or when the context's identity changes. The functions never
 * trust a setting an app role can change (only the verified context) and
 * never run in a parallel worker (PARALLEL RESTRICTED: the context lives in
 * the leader's memory).
 */
#include "postgres.h"

#include "kiln.h"
#include "access.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

/* Row actions an ACL entry can grant; kiln.acl_principals(action) takes one. */
static const char *const acl_actions[] = {"read", "update", "delete"};
#define ACL_NACTIONS (sizeof(acl_actions) / sizeof(acl_actions[0]))

/*
 * The per-transaction cache. Arrays live in TopTransactionContext; valid is
 * cleared by the transaction callback, so they are never read after their
 * memory is gone. The identity fields say whose principals these are.
 */
typedef struct PrincipalCache {
    bool valid;
    LocalTransactionId lxid;
    bool present;
    char role[NAMEDATALEN];
    bool has_user;
    pg_uuid_t user_id;
    bool has_tenant;
    pg_uuid_t tenant_id;
    ArrayType *all;
    ArrayType *by_action[ACL_NACTIONS];
} PrincipalCache;

static PrincipalCache cache;

static void principals_xact_callback(XactEvent event, void *arg)
{
    switch (event) {
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE:
        cache.valid = false;
        cache.all = NULL;
        memset(cache.by_action, 0, sizeof(cache.by_action));
        break;
    default:
        break;
    }
}

void kiln_access_init(void)
{
    RegisterXactCallback(principals_xact_callback, NULL);
    kiln_access_guard_init();
}

/* True when the cache was built for this transaction and this identity. */
static bool cache_matches(const KilnContext *ctx)
{
    const char *role = ctx->role != NULL ? ctx->role : "";

    if (!cache.valid || cache.lxid != MyProc->lxid)
        return false;
    if (cache.present != ctx->present || strcmp(cache.role, role) != 0)
        return false;
    if (cache.has_user != ctx->has_user ||
        (ctx->has_user && memcmp(&cache.user_id, &ctx->user_id, sizeof(pg_uuid_t)) != 0))
        return false;
    if (cache.has_tenant != ctx->has_tenant ||
        (ctx->has_tenant && memcmp(&cache.tenant_id, &ctx->tenant_id, sizeof(pg_uuid_t)) != 0))
        return false;
    return true;
}

static char *uuid_text(const pg_uuid_t *u)
{
    return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum((pg_uuid_t *)u)));
}

static int cmp_cstring(const ListCell *a, const ListCell *b)
{
    return strcmp((const char *)lfirst(a), (const char *)lfirst(b));
}

/*
 * Appends team:<tid>, team:<tid>/<role> and tenant:<tid>/<role> of the user
 * to *out (palloc'd strings in the caller's context). Runs the lookup with
 * SPI as the owner of auth.team_members (app roles cannot read other
 * members' rows), in a restricted security context, and restores the caller
 * on return (on error, transaction abort restores it).
 */
static List *membership_principals(List *out, const KilnContext *ctx)
{
    static const char *const sql =
        "SELECT 'team:' OPERATOR(pg_catalog.||) m.team_id::pg_catalog.text"
        "  FROM auth.team_members m WHERE m.user_id OPERATOR(pg_catalog.=) $1"
        " UNION ALL "
        "SELECT 'team:' OPERATOR(pg_catalog.||) m.team_id::pg_catalog.text"
        "       OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) r.r"
        "  FROM auth.team_members m, pg_catalog.unnest(m.roles) AS r(r)"
        " WHERE m.user_id OPERATOR(pg_catalog.=) $1"
        " UNION ALL "
        "SELECT 'tenant:' OPERATOR(pg_catalog.||) t.tenant_id::pg_catalog.text"
        "       OPERATOR(pg_catalog.||) '/' OPERATOR(pg_catalog.||) t.role"
        "  FROM kiln.tenant_members t"
        " WHERE t.user_id OPERATOR(pg_catalog.=) $1"
        "   AND t.tenant_id OPERATOR(pg_catalog.=) $2";
    Oid argtypes[2] = {UUIDOID, UUIDOID};
    Datum values[2];
    char nulls[2] = {' ', ctx->has_tenant ? ' ' : 'n'};
    Oid relid;
    Oid owner;
    HeapTuple tup;
    Oid save_uid;
    int save_sec;
    MemoryContext caller = CurrentMemoryContext;
    uint64 i;
    int rc;

    relid = RangeVarGetRelid(makeRangeVar("auth", "team_members", -1), NoLock, false);
    tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tup))
        elog(ERROR, "cache lookup failed for relation %u", relid);
    owner = ((Form_pg_class)GETSTRUCT(tup))->relowner;
    ReleaseSysCache(tup);

    values[0] = UUIDPGetDatum((pg_uuid_t *)&ctx->user_id);
    values[1] = UUIDPGetDatum((pg_uuid_t *)&ctx->tenant_id);

    GetUserIdAndSecContext(&save_uid, &save_sec);
    SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
                                      SECURITY_RESTRICTED_OPERATION);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    rc = SPI_execute_with_args(sql, 2, argtypes, values, nulls, true, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "principal lookup failed: %s", SPI_result_code_string(rc));
    for (i = 0; i < SPI_processed; i++) {
        char *s = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

        if (s != NULL)
            out = lappend(out, MemoryContextStrdup(caller, s));
    }
    /* SPI_finish frees SPI memory; the list cells were allocated in caller. */
    SPI_finish();
    SetUserIdAndSecContext(save_uid, save_sec);
    return out;
}

/* Builds a text[] of prefix + each list element, in TopTransactionContext. */
static ArrayType *build_array(List *items, const char *prefix)
{
    int n = list_length(items);
    Datum *elems = palloc(sizeof(Datum) * (n > 0 ? n : 1));
    MemoryContext old;
    ArrayType *arr;
    ListCell *lc;
    int i = 0;

    foreach (lc, items) {
        const char *p = (const char *)lfirst(lc);

        elems[i++] = PointerGetDatum(prefix ? cstring_to_text(psprintf("%s:%s", prefix, p))
                                            : cstring_to_text(p));
    }
    old = MemoryContextSwitchTo(TopTransactionContext);
    arr = construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
    MemoryContextSwitchTo(old);
    return arr;
}

/* Fills the cache for ctx (or leaves it as it is when it already matches). */
static void principals_compute(const KilnContext *ctx)
{
    List *items = NIL;
    size_t a;

    if (cache_matches(ctx))
        return;

    cache.valid = false;
    items = lappend(items, pstrdup("any"));
    if (ctx->present && ctx->role != NULL)
        items = lappend(items, psprintf("role:%s", ctx->role));
    if (ctx->has_user) {
        items = lappend(items, pstrdup("users"));
        items = lappend(items, psprintf("user:%s", uuid_text(&ctx->user_id)));
        items = membership_principals(items, ctx);
    } else {
        items = lappend(items, pstrdup("guests"));
    }
    if (ctx->has_tenant)
        items = lappend(items, psprintf("tenant:%s", uuid_text(&ctx->tenant_id)));
    list_sort(items, cmp_cstring);

    cache.all = build_array(items, NULL);
    for (a = 0; a < ACL_NACTIONS; a++)
        cache.by_action[a] = build_array(items, acl_actions[a]);

    cache.present = ctx->present;
    strlcpy(cache.role, ctx->role != NULL ? ctx->role : "", NAMEDATALEN);
    cache.has_user = ctx->has_user;
    cache.user_id = ctx->user_id;
    cache.has_tenant = ctx->has_tenant;
    cache.tenant_id = ctx->tenant_id;
    cache.lxid = MyProc->lxid;
    cache.valid = true;
}

/*
 * kiln.principals() returns text[]: the caller's principals (see the top of
 * this file), sorted. Returns a palloc'd copy in the caller's context.
 */
PG_FUNCTION_INFO_V1(kiln_get_principals);

Datum kiln_get_principals(PG_FUNCTION_ARGS)
{
    principals_compute(kiln_context_current());
    PG_RETURN_DATUM(datumCopy(PointerGetDatum(cache.all), false, -1));
}

/*
 * kiln.acl_principals(action text) returns text[]: '<action>:<principal>'
 * for each principal. action is read, update or delete (else ERROR 22023).
 * Returns a palloc'd copy in the caller's context.
 */
PG_FUNCTION_INFO_V1(kiln_get_acl_principals);

Datum kiln_get_acl_principals(PG_FUNCTION_ARGS)
{
    text *action = PG_GETARG_TEXT_PP(0);
    char *s = text_to_cstring(action);
    size_t a;

    for (a = 0; a < ACL_NACTIONS; a++)
        if (strcmp(s, acl_actions[a]) == 0)
            break;
    if (a == ACL_NACTIONS)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("unknown row action \"%s\"", s),
                        errhint("Row actions are read, update and delete.")));

    principals_compute(kiln_context_current());
    PG_RETURN_DATUM(datumCopy(PointerGetDatum(cache.by_action[a]), false, -1));
}
