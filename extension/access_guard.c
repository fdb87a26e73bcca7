/*
 * access_guard.c: the setting behind the exposure guard.
 *
 * Defines kiln.exposed_schemas (superuser-only: narrowing it would switch the
 * guard off) and kiln.exposed_schemas(), which returns it as a name[] for the
 * event trigger and the exposure report (sql/kiln_access/30-guard.sql,
 * 40-report.sql). Calling the function also loads the library, so the
 * setting exists by the time anything reads it. It never alters a table
 * itself: the event trigger does, in SQL.
 */
#include "postgres.h"

#include "kiln.h"
#include "access.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
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
