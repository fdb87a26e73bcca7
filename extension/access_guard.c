/*
 * access_guard.c: the setting behind the exposure guard, and the part of the
 * guard that needs the parse tree.
 *
 * Defines kiln.exposed_schemas (superuser-only: narrowing it would switch the
 * guard off) and kiln.exposed_schemas(), which returns it as a name[] for the
 * event trigger and the exposure report (sql/kiln_access/30-guard.sql,
 * 40-report.sql). Calling the function also loads the library, so the
 * setting exists by the time anything reads it. kiln.exposure_guard_moves()
 * is the event trigger for ALTER TABLE ... SET SCHEMA into an exposed schema
 * (only the parse tree tells a move from other ALTER TABLEs); the SQL event
 * trigger handles everything else. Neither ever disables or drops anything.
 */
#include "postgres.h"

#include "kiln.h"
#include "access.h"

#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "utils/lsyscache.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/varlena.h"

/* Comma-separated schema names; owned by the GUC machinery. */
static char *exposed_schemas = NULL;

static bool check_exposed_schemas(char **newval, void **extra, GucSource source)
{
    char *copy;
    List *names;
    bool ok;

    if (*newval == NULL)
        return true;
    copy = pstrdup(*newval);
    ok = SplitIdentifierString(copy, ',', &names);
    list_free(names);
    pfree(copy);
    if (!ok) {
        GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
        GUC_check_errdetail("kiln.exposed_schemas is a comma-separated list of schema names.");
    }
    return ok;
}

void kiln_access_guard_init(void)
{
    DefineCustomStringVariable(
        "kiln.exposed_schemas",
        "Schemas whose new tables get row security enabled and forced, with no policy.",
        "Comma-separated schema names; the exposure report covers the same schemas.",
        &exposed_schemas, "public", PGC_SUSET, GUC_LIST_INPUT, check_exposed_schemas, NULL,
        NULL);
}

/*
 * kiln.exposed_schemas() returns name[]: the schemas named by
 * kiln.exposed_schemas, in order (empty array when empty). Returns a
 * palloc'd array in the caller's context.
 */
PG_FUNCTION_INFO_V1(kiln_get_exposed_schemas);

Datum kiln_get_exposed_schemas(PG_FUNCTION_ARGS)
{
    char *copy = pstrdup(exposed_schemas != NULL ? exposed_schemas : "");
    List *names;
    Datum *elems;
    ListCell *lc;
    int i = 0;

    if (!SplitIdentifierString(copy, ',', &names))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid kiln.exposed_schemas")));
    elems = palloc(sizeof(Datum) * (list_length(names) + 1));
    foreach (lc, names)
        elems[i++] = DirectFunctionCall1(namein, CStringGetDatum((char *)lfirst(lc)));
    PG_RETURN_ARRAYTYPE_P(construct_array(elems, i, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
}

/* True when schema is one of kiln.exposed_schemas. */
static bool schema_is_exposed(const char *schema)
{
    char *copy = pstrdup(exposed_schemas != NULL ? exposed_schemas : "");
    List *names;
    ListCell *lc;

    if (!SplitIdentifierString(copy, ',', &names))
        return false;
    foreach (lc, names)
        if (strcmp((const char *)lfirst(lc), schema) == 0)
            return true;
    return false;
}

/*
 * kiln.exposure_guard_moves(): event trigger (ddl_command_end, ALTER TABLE).
 * When the command moved a table or partitioned table that no extension
 * owns into an exposed schema, enables and forces row security on it, as if
 * it had been created there. Any other command: nothing.
 */
PG_FUNCTION_INFO_V1(kiln_exposure_guard_moves);

Datum kiln_exposure_guard_moves(PG_FUNCTION_ARGS)
{
    EventTriggerData *trigdata;
    AlterObjectSchemaStmt *stmt;
    Oid nsp;
    Oid relid;
    char kind;
    int rc;

    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("kiln.exposure_guard_moves() must run as an event trigger")));
    trigdata = (EventTriggerData *)fcinfo->context;
    if (!IsA(trigdata->parsetree, AlterObjectSchemaStmt))
        PG_RETURN_VOID();
    stmt = (AlterObjectSchemaStmt *)trigdata->parsetree;
    if (stmt->objectType != OBJECT_TABLE || stmt->relation == NULL ||
        !schema_is_exposed(stmt->newschema))
        PG_RETURN_VOID();

    nsp = get_namespace_oid(stmt->newschema, true);
    relid = OidIsValid(nsp) ? get_relname_relid(stmt->relation->relname, nsp) : InvalidOid;
    if (!OidIsValid(relid))
        PG_RETURN_VOID(); /* IF EXISTS on a missing table */
    kind = get_rel_relkind(relid);
    if ((kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE) ||
        OidIsValid(getExtensionOfObject(RelationRelationId, relid)))
        PG_RETURN_VOID();

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    rc = SPI_execute(psprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY",
                              quote_qualified_identifier(stmt->newschema, stmt->relation->relname)),
                     false, 0);
    if (rc != SPI_OK_UTILITY)
        elog(ERROR, "enabling row security failed: %s", SPI_result_code_string(rc));
    SPI_finish();
    PG_RETURN_VOID();
}
