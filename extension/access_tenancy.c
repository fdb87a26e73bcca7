/*
 * access_tenancy.c: the row trigger that keeps tenant_id on the request's
 * tenant, for tables under kiln.enable_tenancy.
 *
 * kiln.tenant_row_guard() runs BEFORE INSERT OR UPDATE OF tenant_id FOR EACH
 * ROW. When the verified context has a tenant, a NULL tenant_id becomes that
 * tenant and any other value is refused with SQLSTATE KLT01, whoever the
 * caller is (app role, tenant_service, service_role acting as a tenant).
 * Without a tenant in the context it changes nothing: row security already
 * denies app roles every tenant row then, and migrations or service_role
 * without a tenant may write any tenant's rows. It never reads a setting an
 * app role can change and never looks at other rows.
 */
#include "postgres.h"

#include "kiln.h"
#include "access.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(kiln_tenant_row_guard);

Datum kiln_tenant_row_guard(PG_FUNCTION_ARGS)
{
    TriggerData *td = (TriggerData *)fcinfo->context;
    const KilnContext *ctx;
    TupleDesc desc;
    HeapTuple row;
    int attnum;
    bool isnull;
    Datum value;

    if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
        !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
        !(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("kiln.tenant_row_guard() must run BEFORE INSERT OR UPDATE FOR EACH ROW")));

    row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
    ctx = kiln_context_current();
    if (!ctx->has_tenant)
        return PointerGetDatum(row);

    desc = RelationGetDescr(td->tg_relation);
    attnum = SPI_fnumber(desc, "tenant_id");
    if (attnum <= 0 || TupleDescAttr(desc, attnum - 1)->atttypid != UUIDOID)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                        errmsg("table \"%s\" has no uuid column tenant_id",
                               RelationGetRelationName(td->tg_relation))));

    value = heap_getattr(row, attnum, desc, &isnull);
    if (isnull) {
        Datum v = UUIDPGetDatum((pg_uuid_t *)&ctx->tenant_id);
        bool n = false;
        int col = attnum;

        return PointerGetDatum(heap_modify_tuple_by_cols(row, desc, 1, &col, &v, &n));
    }
    if (memcmp(DatumGetUUIDP(value), &ctx->tenant_id, sizeof(pg_uuid_t)) != 0)
        ereport(ERROR, (errcode(ERRCODE_KILN_TENANT_MISMATCH),
                        errmsg("tenant_id does not match the request's tenant"),
                        errdetail("A row of \"%s\" may only be written for the tenant of the request.",
                                  RelationGetRelationName(td->tg_relation))));
    return PointerGetDatum(row);
}
