/*
 * explain.c: kiln.explain and kiln.plan_rows, the plan and the planner's row
 * estimate of one parameterised statement, as the calling role.
 *
 * The data API's statements carry their values as $n bind parameters whose
 * types the server infers from the columns they meet. An EXPLAIN cannot be
 * written as a SQL-level prepared statement, and pasting values into SQL
 * text is what Kiln never does; these functions take the statement text and
 * its values (text[]) apart instead, parse the statement with variable
 * parameters (the types inferred exactly as the extended protocol's Parse
 * infers them), convert each value with its type's input function, and plan
 * it with those values bound (a custom plan, as PostgREST's EXPLAIN of a
 * bound statement gets).
 *
 * Both are SECURITY INVOKER: the statement is analysed, rewritten (row
 * security included) and planned for the current role, so a plan can never
 * show more than the caller may run. Only one SELECT, INSERT, UPDATE or
 * DELETE is accepted (no SELECT INTO, no second statement); kiln.explain
 * composes "EXPLAIN (<fixed options>) " in front of that one statement, the
 * options coming from a fixed list, never from the caller's text.
 *
 * kiln.explain runs inside an internal subtransaction that is always rolled
 * back, so EXPLAIN ANALYZE of a write executes it and leaves nothing
 * behind, whatever the surrounding transaction does next. It never logs and
 * never keeps state between calls.
 */
#include "postgres.h"

#include <math.h>

#include "kiln.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/params.h"
#include "nodes/parsenodes.h"
#include "parser/parse_param.h"
#include "parser/parser.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/resowner.h"

/* The statement's parameter types, filled in by the parser (variable
 * parameters: a $n's type is deduced from where it appears). */
typedef struct ExplainParams {
    Oid *types;
    int ntypes;
} ExplainParams;

/* The EXPLAIN options kiln.explain accepts besides FORMAT, as PostgREST's
 * plan media type names them. */
static const char *const explain_options[] = {"analyze", "verbose", "settings", "buffers", "wal"};

/*
 * The parse tree of query, which must be exactly one SELECT, INSERT, UPDATE
 * or DELETE (a SELECT without INTO); 22023 otherwise.
 */
static RawStmt *check_statement(const char *query)
{
    List *raw = raw_parser(query, RAW_PARSE_DEFAULT);
    Node *stmt;

    if (list_length(raw) != 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("query must hold exactly one statement"),
                        errdetail("It holds %d.", list_length(raw))));
    stmt = linitial_node(RawStmt, raw)->stmt;
    if ((IsA(stmt, SelectStmt) && ((SelectStmt *)stmt)->intoClause == NULL) ||
        IsA(stmt, InsertStmt) || IsA(stmt, UpdateStmt) || IsA(stmt, DeleteStmt))
        return linitial_node(RawStmt, raw);
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("only a SELECT, INSERT, UPDATE or DELETE can be explained")));
    pg_unreachable();
}

/* The values of params (a one-dimensional text[]) as C strings, NULL for
 * SQL NULL; *n their number. */
static char **param_values(ArrayType *params, int *n)
{
    Datum *elems;
    bool *nulls;
    char **out;

    if (ARR_NDIM(params) > 1)
        ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                        errmsg("params must be a one-dimensional array")));
    deconstruct_array(params, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
    out = palloc0(sizeof(char *) * (*n + 1));
    for (int i = 0; i < *n; i++)
        out[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
    return out;
}

/*
 * The bound parameters of a statement whose parameter types the parser
 * deduced (p): each value through its type's input function. Raises 42P18
 * for a parameter whose type could not be deduced (or that the statement
 * never uses) and 22023 when the statement uses another number of
 * parameters than values were given, as Bind does.
 */
static ParamListInfo bind_params(const ExplainParams *p, char **values, int nvalues)
{
    ParamListInfo pl;

    if (p->ntypes != nvalues)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg_plural("query uses %d parameter but %d values were given",
                                      "query uses %d parameters but %d values were given",
                                      p->ntypes, p->ntypes, nvalues)));
    if (nvalues == 0)
        return NULL;
    pl = makeParamList(nvalues);
    for (int i = 0; i < nvalues; i++) {
        Oid type = p->types[i];
        Oid input, ioparam;
        ParamExternData *x = &pl->params[i];

        if (type == InvalidOid || type == UNKNOWNOID)
            ereport(ERROR, (errcode(ERRCODE_INDETERMINATE_DATATYPE),
                            errmsg("could not determine data type of parameter $%d", i + 1)));
        getTypeInputInfo(type, &input, &ioparam);
        x->ptype = type;
        x->pflags = PARAM_FLAG_CONST;
        x->isnull = values[i] == NULL;
        x->value = OidInputFunctionCall(input, values[i], ioparam, -1);
    }
    return pl;
}

/* SPI's parser hook: variable parameters whose deduced types land in arg
 * (an ExplainParams). */
static void explain_parser_setup(struct ParseState *pstate, void *arg)
{
    ExplainParams *p = arg;

    setup_parse_variable_parameters(pstate, &p->types, &p->ntypes);
}

/* "EXPLAIN (FORMAT f[, OPTION]...) query" into sql, the options checked
 * against the fixed list (22023 for anything else). */
static void explain_text(StringInfo sql, const char *query, const char *format, ArrayType *options)
{
    Datum *elems;
    bool *nulls;
    int n;

    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("unknown explain format \"%s\"", format),
                        errhint("The formats are text and json.")));
    appendStringInfo(sql, "EXPLAIN (FORMAT %s", strcmp(format, "json") == 0 ? "JSON" : "TEXT");
    if (ARR_NDIM(options) > 1)
        ereport(ERROR, (errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
                        errmsg("options must be a one-dimensional array")));
    deconstruct_array(options, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
    for (int i = 0; i < n; i++) {
        const char *opt = nulls[i] ? "" : TextDatumGetCString(elems[i]);
        int k = 0;

        while (k < (int)lengthof(explain_options) && strcmp(opt, explain_options[k]) != 0)
            k++;
        if (k == (int)lengthof(explain_options))
            ereport(ERROR,
                    (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                     errmsg("unknown explain option \"%s\"", opt),
                     errhint("The options are analyze, verbose, settings, buffers and wal.")));
        appendStringInfo(sql, ", %s", explain_options[k]);
    }
    appendStringInfo(sql, ") %s", query);
}

/* Runs the EXPLAIN sql with values bound and appends its output to out,
 * lines joined by a line break (text format gives one row per line, json
 * one row). Runs under SPI; out lives in a context outside it. */
static void explain_run(const char *sql, char **values, int nvalues, StringInfo out)
{
    ExplainParams p = {NULL, 0};
    SPIPlanPtr plan;
    ParamListInfo pl;
    int rc;

    SPI_connect();
    plan = SPI_prepare_params(sql, explain_parser_setup, &p, 0);
    if (plan == NULL)
        elog(ERROR, "SPI_prepare_params failed: %s", SPI_result_code_string(SPI_result));
    /* can't happen after check_statement; checked anyway */
    if (list_length(SPI_plan_get_plan_sources(plan)) != 1 ||
        !IsA(linitial_node(CachedPlanSource, SPI_plan_get_plan_sources(plan))->raw_parse_tree->stmt,
             ExplainStmt))
        elog(ERROR, "an explain statement did not parse as one EXPLAIN");
    pl = bind_params(&p, values, nvalues);
    rc = SPI_execute_plan_with_paramlist(plan, pl, false, 0);
    if (rc < 0)
        elog(ERROR, "SPI_execute_plan_with_paramlist failed: %s", SPI_result_code_string(rc));
    for (uint64 i = 0; SPI_tuptable && i < SPI_processed; i++) {
        char *line = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

        if (i > 0)
            appendStringInfoChar(out, '\n');
        if (line)
            appendStringInfoString(out, line);
    }
    SPI_finish();
}

/*
 * kiln.explain(query text, params text[], format text, options text[])
 * returns text: the EXPLAIN output of query with params bound ($1 is
 * params[1]), in format 'text' (lines joined by line breaks) or 'json',
 * with options among analyze, verbose, settings, buffers, wal. Runs in a
 * subtransaction that is always rolled back (an analysed write leaves
 * nothing behind; an error still aborts the caller's transaction). The
 * result is palloc'd in the caller's context. Errors: 22023 (not one
 * explainable statement, unknown format or option, parameter count),
 * 42P18 (a parameter's type undeducible), and whatever planning or
 * executing the statement raises.
 */
PG_FUNCTION_INFO_V1(kiln_explain_query);

Datum kiln_explain_query(PG_FUNCTION_ARGS)
{
    char *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
    int nvalues;
    char **values = param_values(PG_GETARG_ARRAYTYPE_P(1), &nvalues);
    char *format = text_to_cstring(PG_GETARG_TEXT_PP(2));
    MemoryContext cxt = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    StringInfoData sql, out;

    (void)check_statement(query);
    initStringInfo(&sql);
    explain_text(&sql, query, format, PG_GETARG_ARRAYTYPE_P(3));
    initStringInfo(&out);

    BeginInternalSubTransaction(NULL);
    MemoryContextSwitchTo(cxt);
    PG_TRY();
    {
        explain_run(sql.data, values, nvalues, &out);
    }
    PG_CATCH();
    {
        ErrorData *edata;

        MemoryContextSwitchTo(cxt);
        edata = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(cxt);
        CurrentResourceOwner = owner;
        ReThrowError(edata);
    }
    PG_END_TRY();
    RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(cxt);
    CurrentResourceOwner = owner;

    PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/*
 * kiln.plan_rows(query text, params text[]) returns bigint: the planner's
 * estimate of the rows query returns with params bound (the top plan
 * node's row count, what EXPLAIN shows as "Plan Rows"), planned for the
 * current role with its row security. Nothing is executed. Errors as
 * kiln.explain's.
 */
PG_FUNCTION_INFO_V1(kiln_plan_rows);

Datum kiln_plan_rows(PG_FUNCTION_ARGS)
{
    char *query = text_to_cstring(PG_GETARG_TEXT_PP(0));
    int nvalues;
    char **values = param_values(PG_GETARG_ARRAYTYPE_P(1), &nvalues);
    ExplainParams p = {NULL, 0};
    RawStmt *raw = check_statement(query);
    List *queries;
    ParamListInfo pl;
    PlannedStmt *planned;

    queries = pg_analyze_and_rewrite_varparams(raw, query, &p.types, &p.ntypes, NULL);
    if (list_length(queries) != 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("query must plan as exactly one statement"),
                        errdetail("Rules rewrote it into %d.", list_length(queries))));
    pl = bind_params(&p, values, nvalues);
    planned = pg_plan_query(linitial_node(Query, queries), query, CURSOR_OPT_PARALLEL_OK, pl);
    PG_RETURN_INT64((int64)rint(planned->planTree->plan_rows));
}
