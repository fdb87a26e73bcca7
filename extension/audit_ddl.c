/*
 * audit_ddl.c: keeps capture triggers from being switched off silently.
 *
 * kiln.audit_detach(t) is the one way to remove kiln.audit_capture()
 * triggers (kiln.enable_audit and kiln.disable_audit use it): it checks
 * ownership, drops them while a backend flag says so, and logs
 * AUDIT_DISABLE. The event trigger
 * function kiln.audit_ddl_guard() then refuses, with 42501:
 *   - on sql_drop: dropping a capture trigger any other way, unless its table
 *     (or kiln.audit_capture() itself, as DROP EXTENSION does) goes in the
 *     same command; a dropped audited table is logged (AUDIT_DISABLE,
 *     {"reason": "table dropped"});
 *   - on ddl_command_end of ALTER TABLE / ALTER TRIGGER: leaving a capture
 *     trigger disabled (or enabled for replica only), or renamed away from
 *     kiln_audit_*, or a guard trigger of kiln.audit_log / kiln.audit_seals
 *     other than ENABLE ALWAYS;
 *   - on sql_drop: dropping a guard trigger of those tables.
 * A superuser can still disable event triggers; docs/sql.md says so. This
 * file writes log rows only through audit.c's note functions.
 */
#include "postgres.h"

#include "kiln.h"
#include "audit.h"

#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"

/* True while kiln.audit_detach() drops capture triggers. */
static bool audit_detaching = false;

/* Oid of kiln.audit_capture(), InvalidOid when it does not exist. */
static Oid audit_capture_oid(void)
{
    List *names = list_make2(makeString("kiln"), makeString("audit_capture"));

    return LookupFuncName(names, 0, NULL, true);
}

/*
 * kiln.audit_detach(t regclass) returns int4: drops every trigger of t that
 * runs kiln.audit_capture() and returns how many; when there were any,
 * writes an AUDIT_DISABLE row. The caller must own t (42501).
 */
PG_FUNCTION_INFO_V1(kiln_audit_detach);

Datum kiln_audit_detach(PG_FUNCTION_ARGS)
{
    Oid relid = PG_GETARG_OID(0);
    Oid fn = audit_capture_oid();
    char *relname = get_rel_name(relid);
    char *qualified;
    Datum args[2];
    Oid types[2] = {OIDOID, OIDOID};
    List *names = NIL;
    ListCell *lc;
    uint64 i;
    int n = 0;

    if (relname == NULL)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("relation with OID %u does not exist", relid)));
    if (!pg_class_ownercheck(relid, GetUserId()))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("must be owner of table %s", relname)));
    qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), relname);

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "audit detach: SPI_connect failed");
    args[0] = ObjectIdGetDatum(relid);
    args[1] = ObjectIdGetDatum(fn);
    if (SPI_execute_with_args("SELECT tgname::text FROM pg_catalog.pg_trigger "
                              "WHERE tgrelid = $1 AND tgfoid = $2 AND NOT tgisinternal "
                              "AND tgparentid = 0 ORDER BY 1",
                              2, types, args, NULL, true, 0) != SPI_OK_SELECT)
        elog(ERROR, "audit detach: trigger lookup failed");
    for (i = 0; i < SPI_processed; i++)
        names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));

    audit_detaching = true;
    PG_TRY();
    {
        foreach (lc, names) {
            char *sql = psprintf("DROP TRIGGER %s ON %s", quote_identifier(lfirst(lc)), qualified);

            if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
                elog(ERROR, "audit detach: %s failed", sql);
            n++;
        }
    }
    PG_FINALLY();
    {
        audit_detaching = false;
    }
    PG_END_TRY();
    SPI_finish();
    if (n > 0)
        audit_note_detached(relid);
    PG_RETURN_INT32(n);
}

/* Text element i (1-based) of a text[] datum, or NULL. */
static char *text_array_elem(Datum arr, int i)
{
    ArrayType *a = DatumGetArrayTypeP(arr);
    Datum *elems;
    bool *nulls;
    int n;

    deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
    if (i < 1 || i > n || nulls[i - 1])
        return NULL;
    return TextDatumGetCString(elems[i - 1]);
}

static void guard_drops(void)
{
    List *tables = NIL; /* "schema.table" of dropped tables */
    bool capture_dropped = false;
    uint64 i;
    SPITupleTable *tt;
    uint64 n;

    if (SPI_execute("SELECT object_type, object_identity, address_names "
                    "FROM pg_catalog.pg_event_trigger_dropped_objects() "
                    "WHERE object_type IN ('table', 'trigger', 'function')",
                    true, 0) != SPI_OK_SELECT)
        elog(ERROR, "audit guard: dropped objects lookup failed");
    tt = SPI_tuptable;
    n = SPI_processed;
    for (i = 0; i < n; i++) {
        char *type = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
        char *ident = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
        bool isnull;
        Datum names = SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull);

        if (strcmp(type, "function") == 0 && strcmp(ident, "kiln.audit_capture()") == 0)
            capture_dropped = true;
        else if (strcmp(type, "table") == 0 && !isnull)
            tables = lappend(tables, psprintf("%s.%s", text_array_elem(names, 1),
                                              text_array_elem(names, 2)));
    }
    if (capture_dropped || audit_detaching)
        return;

    for (i = 0; i < n; i++) {
        char *type = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
        bool isnull;
        Datum names = SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull);
        char *schema, *table, *trigger, *qualified;
        ListCell *lc;
        bool table_dropped = false;

        if (strcmp(type, "trigger") != 0 || isnull)
            continue;
        schema = text_array_elem(names, 1);
        table = text_array_elem(names, 2);
        trigger = text_array_elem(names, 3);
        if (schema == NULL || table == NULL || trigger == NULL)
            continue;
        if (strcmp(schema, "kiln") == 0 &&
            (strcmp(table, "audit_log") == 0 || strcmp(table, "audit_seals") == 0)) {
            ereport(ERROR,
                    (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                     errmsg("trigger \"%s\" keeps kiln.%s append-only and cannot be dropped",
                            trigger, table)));
        }
        if (strncmp(trigger, "kiln_audit_", strlen("kiln_audit_")) != 0)
            continue;
        qualified = psprintf("%s.%s", schema, table);
        foreach (lc, tables)
            if (strcmp(lfirst(lc), qualified) == 0)
                table_dropped = true;
        if (!table_dropped)
            ereport(ERROR,
                    (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                     errmsg("audit trigger \"%s\" on %s can only be removed with kiln.disable_audit()",
                            trigger, qualified),
                     errhint("Run SELECT kiln.disable_audit('%s'); it is logged.", qualified)));
        /* One note per dropped table: for its kiln_audit_truncate trigger, which every mode has. */
        if (strcmp(trigger, "kiln_audit_truncate") == 0 && OidIsValid(audit_log_relid()))
            audit_note_dropped(schema, table);
    }
}

static void guard_alters(void)
{
    Oid fn = audit_capture_oid();
    Oid guard = LookupFuncName(list_make2(makeString("kiln"), makeString("audit_guard")), 0,
                               NULL, true);
    Datum args[2];
    Oid types[2] = {OIDOID, OIDOID};

    if (!OidIsValid(fn))
        return;
    args[0] = ObjectIdGetDatum(fn);
    args[1] = ObjectIdGetDatum(guard);
    /* Capture triggers: enabled (origin or always), named kiln_audit_*; the log's guards: always. */
    if (SPI_execute_with_args("SELECT tgname::text, tgrelid::pg_catalog.regclass::text, tgfoid = $2 "
                              "FROM pg_catalog.pg_trigger WHERE NOT tgisinternal AND "
                              "((tgfoid = $1 AND (tgenabled NOT IN ('O', 'A') "
                              "                   OR tgname NOT LIKE 'kiln\\_audit\\_%')) "
                              " OR (tgfoid = $2 AND tgenabled <> 'A')) "
                              "LIMIT 1",
                              2, types, args, NULL, false, 0) != SPI_OK_SELECT)
        elog(ERROR, "audit guard: trigger lookup failed");
    if (SPI_processed > 0) {
        char *name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        char *rel = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
        char *is_guard = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

        if (strcmp(is_guard, "t") == 0)
            ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                            errmsg("trigger \"%s\" keeps %s append-only and must stay ENABLE ALWAYS",
                                   name, rel)));
        ereport(ERROR,
                (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                 errmsg("audit trigger \"%s\" on %s must stay enabled and keep its name", name, rel),
                 errhint("Use kiln.disable_audit(table) to stop auditing a table; it is logged.")));
    }
}

/*
 * kiln.audit_ddl_guard() returns event_trigger: on sql_drop and on
 * ddl_command_end of ALTER TABLE / ALTER TRIGGER, refuses (42501) what
 * would switch capture off without kiln.disable_audit() (see the top of
 * this file). Raises 39P01 when not called as an event trigger.
 */
PG_FUNCTION_INFO_V1(kiln_audit_ddl_guard);

Datum kiln_audit_ddl_guard(PG_FUNCTION_ARGS)
{
    EventTriggerData *ev;

    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("kiln.audit_ddl_guard() must be fired as an event trigger")));
    ev = (EventTriggerData *)fcinfo->context;
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "audit guard: SPI_connect failed");
    if (strcmp(ev->event, "sql_drop") == 0)
        guard_drops();
    else
        guard_alters();
    SPI_finish();
    PG_RETURN_NULL();
}
