/*
 * kiln.c: entry point of the kiln shared library.
 *
 * Declares the module magic, runs each module's init from _PG_init and then
 * reserves the "kiln" GUC prefix, and exposes kiln.version(). It never holds
 * feature logic: every feature lives in its own file with its own init.
 */
#include "postgres.h"

#include "kiln.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);

/*
 * _PG_init: called once per backend when the library is loaded. Modules
 * define their GUCs first; reserving the prefix afterwards removes any
 * placeholder kiln.* setting made before the load (with a warning) and
 * rejects unknown kiln.* names from then on.
 */
void _PG_init(void)
{
    kiln_secretbox_init();
    kiln_password_init();
    kiln_keys_init();
    kiln_token_cache_init();
    kiln_context_init();

    MarkGUCPrefixReserved(KILN_GUC_PREFIX);
}

/*
 * kiln.version() returns text: the version the library was built as.
 * Returns a palloc'd text in the caller's memory context.
 */
PG_FUNCTION_INFO_V1(kiln_get_version);

Datum kiln_get_version(PG_FUNCTION_ARGS)
{
    PG_RETURN_TEXT_P(cstring_to_text(KILN_VERSION));
}
