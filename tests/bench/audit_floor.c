/*
 * audit_floor.c: two reference triggers for tests/bench/audit.sh, built
 * into a module of their own (never installed with Kiln). They bound from
 * below what any audit trigger of kiln_audit's design costs, so that the
 * bench can show how much of kiln_audit's cost is its own work:
 *
 *   bench_floor_empty()  an AFTER ROW trigger that does nothing: what
 *                        PostgreSQL's trigger machinery costs per change
 *                        (queueing the event, fetching the old and new
 *                        rows again, calling the function).
 *   bench_floor_row(log) the same, plus one constant row of kiln.audit_log's
 *                        shape inserted into the table named by the trigger
 *                        argument: the least a trigger that keeps a log row
 *                        per change can do. Like kiln's writer it keeps the
 *                        log open and its last page pinned for the rest of
 *                        the transaction; unlike it, it reads no value,
 *                        builds no jsonb, hashes nothing.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/hio.h"
#include "access/table.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_MODULE_MAGIC;

#define FLOOR_NCOLS 20 /* kiln.audit_log's columns, in its order */

static Oid floor_relid = InvalidOid;       /* the log, looked up once */
static Relation floor_rel = NULL;          /* open for the current transaction */
static BulkInsertState floor_bistate = NULL;
static bool floor_callback_registered = false;
static Datum floor_values[FLOOR_NCOLS];
static bool floor_nulls[FLOOR_NCOLS];
static bool floor_values_ready = false;

/* Closes the log before commit (the resource owner would complain otherwise); forgets it on abort. */
static void floor_xact_callback(XactEvent event, void *arg)
{
    ResourceOwner owner = CurrentResourceOwner;

    if (floor_rel == NULL)
        return;
    if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE) {
        CurrentResourceOwner = TopTransactionResourceOwner;
        ReleaseBulkInsertStatePin(floor_bistate);
        pfree(floor_bistate);
        table_close(floor_rel, NoLock);
        CurrentResourceOwner = owner;
    }
    if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE ||
        event == XACT_EVENT_ABORT) {
        floor_rel = NULL;
        floor_bistate = NULL;
    }
}

/* Values of the size kiln_audit writes for a one-column UPDATE of a pgbench table. */
static void floor_values_init(void)
{
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    pg_uuid_t *chain = palloc(sizeof(pg_uuid_t));
    bytea *hash = palloc(VARHDRSZ + 32);

    memset(chain->data, 0x5a, UUID_LEN);
    SET_VARSIZE(hash, VARHDRSZ + 32);
    memset(VARDATA(hash), 0xa5, 32);
    memset(floor_nulls, true, sizeof(floor_nulls));
    floor_values[0] = UUIDPGetDatum(chain);
    floor_values[4] = CStringGetTextDatum("postgres");
    floor_values[11] = CStringGetTextDatum("public");
    floor_values[12] = CStringGetTextDatum("pgbench_accounts");
    floor_values[13] = CStringGetTextDatum("UPDATE");
    floor_values[14] = Int32GetDatum(1);
    floor_values[15] = DirectFunctionCall1(jsonb_in, CStringGetDatum("{\"aid\": 123456}"));
    floor_values[16] = DirectFunctionCall1(jsonb_in, CStringGetDatum("{\"abalance\": -1234}"));
    floor_values[17] = DirectFunctionCall1(jsonb_in, CStringGetDatum("{\"abalance\": 4321}"));
    floor_values[18] = PointerGetDatum(hash);
    floor_values[19] = PointerGetDatum(hash);
    for (int i = 0; i < FLOOR_NCOLS; i++)
        if (i != 5 && (i < 6 || i > 10))
            floor_nulls[i] = false; /* actor columns stay null, as without a verified context */
    MemoryContextSwitchTo(old);
    floor_values_ready = true;
}

static void floor_check(FunctionCallInfo fcinfo)
{
    if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(((TriggerData *)fcinfo->context)->tg_event))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("must be fired as an AFTER trigger")));
}

PG_FUNCTION_INFO_V1(bench_floor_empty);

Datum bench_floor_empty(PG_FUNCTION_ARGS)
{
    floor_check(fcinfo);
    return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(bench_floor_row);

Datum bench_floor_row(PG_FUNCTION_ARGS)
{
    TriggerData *td = (TriggerData *)fcinfo->context;
    HeapTuple tup;

    floor_check(fcinfo);
    if (td->tg_trigger->tgnargs != 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("bench_floor_row() takes the log table's name as its argument")));
    if (!floor_values_ready)
        floor_values_init();
    if (!floor_callback_registered) {
        RegisterXactCallback(floor_xact_callback, NULL);
        floor_callback_registered = true;
    }
    if (floor_rel == NULL) {
        ResourceOwner owner = CurrentResourceOwner;
        MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
        if (!OidIsValid(floor_relid))
            floor_relid = DatumGetObjectId(DirectFunctionCall1(
                regclassin, CStringGetDatum(td->tg_trigger->tgargs[0])));
        CurrentResourceOwner = TopTransactionResourceOwner;
        floor_rel = table_open(floor_relid, RowExclusiveLock);
        /* No buffer ring, as kiln's writer: log pages stay in shared buffers. */
        floor_bistate = palloc0(sizeof(BulkInsertStateData));
        floor_bistate->current_buf = InvalidBuffer;
        CurrentResourceOwner = owner;
        MemoryContextSwitchTo(old);
    }
    floor_values[1] = Int64GetDatum(1);
    floor_values[2] = TimestampTzGetDatum(GetCurrentStatementStartTimestamp());
    floor_values[3] = Int64GetDatum(1);
    tup = heap_form_tuple(RelationGetDescr(floor_rel), floor_values, floor_nulls);
    {
        ResourceOwner owner = CurrentResourceOwner;

        CurrentResourceOwner = TopTransactionResourceOwner; /* the pinned page outlives the statement */
        heap_insert(floor_rel, tup, GetCurrentCommandId(true), 0, floor_bistate);
        CurrentResourceOwner = owner;
    }
    heap_freetuple(tup);
    return PointerGetDatum(NULL);
}
