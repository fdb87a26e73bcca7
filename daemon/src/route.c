/*
 * route.c: the route table and lookup. Pure: no I/O, no globals but the
 * constant table.
 */
#include "route.h"

#include "auth_api.h"

#include <stdio.h>
#include <string.h>

/*
 * Routes. Columns: path, methods, needs_db (runs on a worker thread with a
 * pooled connection), debug_only (hidden unless debug_endpoints), handler,
 * summary, prefix (path ends in '/' and matches everything below it).
 * Routes are tried in table order: a longer prefix and an exact path come
 * before the prefix that also covers them.
 */
static const KilnRoute routes[] = {
    {"/health", KILN_GET | KILN_HEAD, false, false, health_live,
     "liveness: the process is up", false},
    {"/health/ready", KILN_GET | KILN_HEAD, true, false, health_ready,
     "readiness: a pooled database connection answers", false},
    {"/debug/sleep", KILN_GET, true, true, debug_sleep,
     "holds a pooled connection for ?ms=N milliseconds (tests only)", false},
    {"/rest/v1/rpc/", KILN_GET | KILN_HEAD | KILN_POST | KILN_PUT | KILN_PATCH | KILN_DELETE,
     true, false, rest_rpc,
     "data API: function calls (GET/HEAD read-only, POST; other methods 405 PGRST101)", true},
    {"/rest/v1/", KILN_GET | KILN_HEAD, true, false, rest_openapi,
     "data API: the OpenAPI 2.0 description of the exposed schema", false},
    {"/rest/v1/", KILN_GET | KILN_HEAD | KILN_POST | KILN_PATCH | KILN_PUT | KILN_DELETE, true,
     false, rest_read, "data API (PostgREST dialect): reads and writes of tables and views", true},
    {"/auth/v1/", KILN_GET | KILN_HEAD | KILN_POST | KILN_PUT | KILN_DELETE, true, false,
     auth_serve, "auth API (GoTrue dialect): sign-up, sign-in, tokens, user, admin", true},
};

static const struct {
    const char *name;
    unsigned bit;
} methods[] = {
    {"GET", KILN_GET},     {"HEAD", KILN_HEAD},     {"POST", KILN_POST},
    {"PUT", KILN_PUT},     {"PATCH", KILN_PATCH},   {"DELETE", KILN_DELETE},
    {"OPTIONS", KILN_OPTIONS},
};

unsigned route_method_bit(const char *method)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].name, method) == 0)
            return methods[i].bit;
    return 0;
}

const KilnRoute *route_find(const char *path, const char *method, bool debug_endpoints,
                            char *allow, size_t allow_len, KilnError *err)
{
    unsigned bit = route_method_bit(method);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const KilnRoute *r = &routes[i];
        bool match = r->prefix ? strncmp(r->path, path, strlen(r->path)) == 0
                               : strcmp(r->path, path) == 0;
        if (!match || (r->debug_only && !debug_endpoints))
            continue;
        if (bit & r->methods)
            return r;
        size_t off = 0;
        allow[0] = '\0';
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
            if (!(r->methods & methods[m].bit))
                continue;
            int n = snprintf(allow + off, allow_len - off, "%s%s", off ? ", " : "",
                             methods[m].name);
            if (n < 0 || (size_t)n >= allow_len - off)
                break;
            off += (size_t)n;
        }
        kiln_error_set(err, 405, "method_not_allowed", "%s is not allowed on %s; use %s", method,
                       r->path, allow);
        return NULL;
    }
    kiln_error_set(err, 404, "not_found", "no such endpoint");
    return NULL;
}
