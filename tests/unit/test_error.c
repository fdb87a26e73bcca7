/* Unit tests of error.c: the SQLSTATE -> HTTP table and how database errors
 * become data API errors (Kiln's KL class included). */
#include "error.h"
#include "unit.h"

UNIT_TEST(sqlstate_table)
{
    CHECK(kiln_sqlstate_http("23505") == 409);
    CHECK(kiln_sqlstate_http("23503") == 409);
    CHECK(kiln_sqlstate_http("23502") == 400); /* not listed: 400 */
    CHECK(kiln_sqlstate_http("42P01") == 404);
    CHECK(kiln_sqlstate_http("42501") == 403);
    CHECK(kiln_sqlstate_http("25006") == 405);
    CHECK(kiln_sqlstate_http("25001") == 500);
    CHECK(kiln_sqlstate_http("08006") == 503);
    CHECK(kiln_sqlstate_http("53400") == 500); /* longer prefix beats 53 */
    CHECK(kiln_sqlstate_http("53300") == 503);
    CHECK(kiln_sqlstate_http("57014") == 503);
    CHECK(kiln_sqlstate_http("XX000") == 500);
    /* Kiln's class: token failures 401, tenant refusals 403. */
    CHECK(kiln_sqlstate_http("KL001") == 401);
    CHECK(kiln_sqlstate_http("KL002") == 401);
    CHECK(kiln_sqlstate_http("KL003") == 401);
    CHECK(kiln_sqlstate_http("KLT01") == 403);
}

UNIT_TEST(tenant_mismatch_is_403_with_the_database_text)
{
    KilnError err = {0};
    CHECK(!kiln_error_from_db(&err, "KLT01", "tenant_id does not match the request's tenant",
                              "A row of \"orders\" may only be written for the tenant of the "
                              "request.",
                              NULL, false));
    CHECK(err.status == 403);
    CHECK(err.rest);
    CHECK_STR_EQ(err.code, "KLT01");
    CHECK_STR_EQ(err.message, "tenant_id does not match the request's tenant");
    CHECK(strstr(err.details, "orders") != NULL);
    /* Not a token failure, whoever runs the request. */
    CHECK(!kiln_error_from_db(&err, "KLT01", "tenant_id does not match the request's tenant", NULL,
                              NULL, true));
    CHECK(err.status == 403);
    CHECK_STR_EQ(err.code, "KLT01");
}

UNIT_TEST(token_failures_are_401_with_a_generic_body)
{
    KilnError err = {0};
    kiln_error_from_db(&err, "KL001", "token signature is invalid", "kid abc unknown", NULL, true);
    CHECK(err.status == 401);
    CHECK_STR_EQ(err.code, "PGRST301");
    CHECK(strstr(err.message, "signature") == NULL);
    CHECK(err.details[0] == '\0');
    kiln_error_from_db(&err, "KL002", "token expired", NULL, NULL, false);
    CHECK(err.status == 401);
    CHECK_STR_EQ(err.code, "PGRST303");
    CHECK_STR_EQ(err.message, "JWT expired");
    kiln_error_from_db(&err, "KL003", "session revoked", NULL, NULL, false);
    CHECK(err.status == 401);
    CHECK_STR_EQ(err.code, "PGRST301");
    CHECK(strstr(err.message, "revoked") != NULL);
}

UNIT_TEST(permission_and_special_cases)
{
    KilnError err = {0};
    kiln_error_from_db(&err, "42501", "permission denied for table t", NULL, NULL, true);
    CHECK(err.status == 401); /* anon: logging in may help */
    kiln_error_from_db(&err, "42501", "permission denied for table t", NULL, NULL, false);
    CHECK(err.status == 403);
    CHECK_STR_EQ(err.code, "42501");
    kiln_error_from_db(&err, "PT418", "teapot", NULL, NULL, false);
    CHECK(err.status == 418);
    kiln_error_from_db(&err, "21000", "UPDATE requires a WHERE clause", NULL, NULL, false);
    CHECK(err.status == 400);
    kiln_error_from_db(&err, "21000", "more than one row returned by a subquery", NULL, NULL,
                       false);
    CHECK(err.status == 500);
    /* 5xx never carry the database's text. */
    kiln_error_from_db(&err, "XX000", "could not open file \"/var/lib/x\"", "stack", "hint", false);
    CHECK(err.status == 500);
    CHECK(strstr(err.message, "/var/lib") == NULL);
    CHECK(err.details[0] == '\0' && err.hint[0] == '\0');
    kiln_error_from_db(&err, NULL, NULL, NULL, NULL, false); /* no SQLSTATE at all */
    CHECK(err.status == 500);
}

UNIT_MAIN()
