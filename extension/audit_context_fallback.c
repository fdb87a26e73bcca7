/*
 * audit_context_fallback.c: TEMPORARY stand-in for kiln_context_current()
 * until the identity branch (context.c) is merged; always the empty
 * context. Deleted at that merge.
 */
#include "postgres.h"

#include "kiln.h"
#include "audit.h"

const KilnContext *kiln_context_current(void)
{
    static const KilnContext empty;

    return &empty;
}
