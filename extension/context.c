/*
 * context.c: the request context, as far as it exists yet.
 *
 * Defines the GUC kiln.request_id, which the daemon sets transaction-locally
 * (set_config('kiln.request_id', id, true)) for every request, and
 * kiln.request_id(), which reads it. This is a placeholder for the verified
 * request context of a later issue: it carries no identity, role or tenant
 * and must never be trusted for authorisation, only for correlation (logs,
 * audit rows).
 */
#include "postgres.h"

#include "kiln.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

/* Longest accepted request id, in bytes. */
#define KILN_REQUEST_ID_MAX_LEN 128

/* Current value of kiln.request_id; owned by the GUC machinery. */
static char *kiln_request_id = NULL;

/*
 * check hook for kiln.request_id: accepts NULL, the empty string (both mean
 * unset), or up to KILN_REQUEST_ID_MAX_LEN printable ASCII characters, so
 * that the id can go into log lines and audit rows unescaped.
 */
static bool kiln_check_request_id(char **newval, void **extra, GucSource source)
{
    const char *s = *newval;
    size_t len;
    size_t i;

    if (s == NULL)
        return true;

    len = strlen(s);
    if (len > KILN_REQUEST_ID_MAX_LEN) {
        GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
        GUC_check_errdetail("A request id is at most %d bytes long.", KILN_REQUEST_ID_MAX_LEN);
        return false;
    }

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x21 || c > 0x7E) {
            GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
            GUC_check_errdetail(
                "A request id holds only printable ASCII characters other than space.");
            return false;
        }
    }
    return true;
}

void kiln_context_init(void)
{
    DefineCustomStringVariable(
        "kiln.request_id", "Identifier of the request the current transaction serves.",
        "Set transaction-locally by the kiln daemon; empty means unset.", &kiln_request_id, NULL,
        PGC_USERSET, GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE, kiln_check_request_id, NULL, NULL);
}

/*
 * kiln.request_id() returns text: the current kiln.request_id, or NULL when
 * it is unset or empty. Returns a palloc'd text in the caller's context.
 */
PG_FUNCTION_INFO_V1(kiln_get_request_id);

Datum kiln_get_request_id(PG_FUNCTION_ARGS)
{
    if (kiln_request_id == NULL || kiln_request_id[0] == '\0')
        PG_RETURN_NULL();

    PG_RETURN_TEXT_P(cstring_to_text(kiln_request_id));
}
