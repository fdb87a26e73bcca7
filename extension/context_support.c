/*
 * context_support.c: the planner support function of the context readers
 * (kiln.tenant_id(), auth.uid(), auth.role(), auth.jwt(), auth.email(),
 * kiln.session_id(), kiln.principals(), kiln.acl_principals('<const>')).
 *
 * A reader called bare in a policy (`tenant_id = kiln.tenant_id()`) is
 * STABLE, so a sequential scan calls it once per row: the per-row trap that
 * Supabase documents and asks every app to avoid by writing
 * `(SELECT auth.uid())`. This support function does that rewrite for them:
 * when the planner simplifies such a call, it returns the equivalent
 * uncorrelated scalar subquery `(SELECT <the call>)`, which the planner turns
 * into an initplan evaluated once per execution. Plans stay correct when
 * cached: the initplan runs at every execution, reading the context of the
 * transaction that executes it.
 *
 * It never rewrites when there is no query being planned (expression
 * planning outside a query, e.g. column defaults evaluated by COPY), in a
 * query without FROM (PL/pgSQL assignments keep their fast path; the
 * subquery made here is one, so the rewrite cannot recurse), or when an
 * argument is not a constant. It never changes what a call returns.
 */
#include "postgres.h"

#include "kiln.h"

#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"

/* True when the query reads no relation: its range table is empty or holds
 * only the RTE_RESULT the planner puts in place of an empty FROM. */
static bool reads_no_relation(const Query *parse)
{
    ListCell *lc;

    foreach (lc, parse->rtable) {
        if (lfirst_node(RangeTblEntry, lc)->rtekind != RTE_RESULT)
            return false;
    }
    return true;
}

PG_FUNCTION_INFO_V1(kiln_context_support);

/*
 * kiln.context_support(internal) returns internal: for SupportRequestSimplify
 * on a context reader, an EXPR SubLink wrapping the call, or NULL (no
 * change) for any other request or when the rewrite does not apply.
 */
Datum kiln_context_support(PG_FUNCTION_ARGS)
{
    Node *rawreq = (Node *)PG_GETARG_POINTER(0);
    SupportRequestSimplify *req;
    PlannerInfo *root;
    FuncExpr *call;
    ListCell *lc;
    Query *sub;
    SubLink *link;

    if (!IsA(rawreq, SupportRequestSimplify))
        PG_RETURN_POINTER(NULL);
    req = (SupportRequestSimplify *)rawreq;
    root = req->root;
    call = req->fcall;
    /* Only in a query that reads a relation: that is where a call can run
     * once per row. A query without FROM (PL/pgSQL's `x := auth.uid()`, or
     * the subquery made here) is left alone, so PL/pgSQL keeps its fast
     * path for simple expressions and the rewrite cannot recurse. */
    if (root == NULL || root->parse == NULL || reads_no_relation(root->parse))
        PG_RETURN_POINTER(NULL);
    if (call->funcretset)
        PG_RETURN_POINTER(NULL);
    foreach (lc, call->args) {
        if (!IsA(lfirst(lc), Const))
            PG_RETURN_POINTER(NULL);
    }

    sub = makeNode(Query);
    sub->commandType = CMD_SELECT;
    sub->querySource = QSRC_ORIGINAL;
    sub->canSetTag = true;
    sub->jointree = makeFromExpr(NIL, NULL);
    sub->targetList = list_make1(makeTargetEntry((Expr *)copyObject(call), 1, "value", false));

    link = makeNode(SubLink);
    link->subLinkType = EXPR_SUBLINK;
    link->subLinkId = 0;
    link->testexpr = NULL;
    link->operName = NIL;
    link->subselect = (Node *)sub;
    link->location = call->location;

    /* The planner converts sublinks only in queries flagged as having them. */
    root->parse->hasSubLinks = true;
    PG_RETURN_POINTER(link);
}
