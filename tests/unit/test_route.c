/* Unit tests of route.c: lookup, 404, 405 with Allow, debug-only routes. */
#include "route.h"
#include "unit.h"

UNIT_TEST(finds_routes_by_path_and_method)
{
    KilnError err = {0};
    char allow[64];
    const KilnRoute *r = route_find("/health", "GET", false, allow, sizeof allow, &err);
    CHECK(r != NULL && r->handler == health_live && !r->needs_db);
    r = route_find("/health/ready", "HEAD", false, allow, sizeof allow, &err);
    CHECK(r != NULL && r->needs_db);
}

UNIT_TEST(unknown_path_is_404)
{
    KilnError err = {0};
    char allow[64];
    CHECK(route_find("/healthz", "GET", false, allow, sizeof allow, &err) == NULL);
    CHECK(err.status == 404);
    CHECK(route_find("/health/", "GET", false, allow, sizeof allow, &err) == NULL);
    CHECK(err.status == 404);
}

UNIT_TEST(wrong_method_is_405_with_allow)
{
    KilnError err = {0};
    char allow[64];
    CHECK(route_find("/health", "DELETE", false, allow, sizeof allow, &err) == NULL);
    CHECK(err.status == 405);
    CHECK_STR_EQ(allow, "GET, HEAD");
    CHECK(route_find("/health", "BREW", false, allow, sizeof allow, &err) == NULL);
    CHECK(err.status == 405);
}

UNIT_TEST(debug_routes_hidden_unless_enabled)
{
    KilnError err = {0};
    char allow[64];
    CHECK(route_find("/debug/sleep", "GET", false, allow, sizeof allow, &err) == NULL);
    CHECK(err.status == 404);
    CHECK(route_find("/debug/sleep", "GET", true, allow, sizeof allow, &err) != NULL);
}

UNIT_TEST(rest_rpc_and_openapi_before_tables)
{
    KilnError err = {0};
    char allow[64];
    const KilnRoute *r = route_find("/rest/v1/rpc/fn", "POST", false, allow, sizeof allow, &err);
    CHECK(r != NULL && r->handler == rest_rpc);
    r = route_find("/rest/v1/rpc/fn", "PATCH", false, allow, sizeof allow, &err);
    CHECK(r != NULL && r->handler == rest_rpc); /* answers 405 PGRST101 itself */
    r = route_find("/rest/v1/", "GET", false, allow, sizeof allow, &err);
    CHECK(r != NULL && r->handler == rest_openapi);
    r = route_find("/rest/v1/todos", "GET", false, allow, sizeof allow, &err);
    CHECK(r != NULL && r->handler == rest_read);
    r = route_find("/rest/v1/rpc", "GET", false, allow, sizeof allow, &err);
    CHECK(r != NULL && r->handler == rest_read); /* a table named rpc */
}

UNIT_MAIN()
