/*
 * auth_plan.h: the plan step of the /auth/v1 handler, shared by auth_api.c
 * (the endpoint table, core and email flows) and the feature files that
 * add endpoints to it (auth_mfa.c: factors, admin factors, the pkce grant).
 *
 * A plan function turns the request and its parsed body into one SQL
 * statement and its $n parameters, or refuses the request with GoTrue's
 * error. Plans are pure: no I/O, no database, no globals. Never include
 * this header outside the auth_* files.
 */
#ifndef KILN_AUTH_PLAN_H
#define KILN_AUTH_PLAN_H

#include <jansson.h>
#include <stdbool.h>

#include "request.h"

#define AUTH_MAX_PARAMS 6
#define AUTH_MAX_OWNED  4

/* What a plan step produces: the statement, its parameters and how a
 * success is answered. Parameters point into the request, the parsed body
 * or `owned` (freed by the handler after the call). */
typedef struct AuthPlan {
    const char *sql;
    const char *params[AUTH_MAX_PARAMS];
    int nparams;
    int success_status;  /* 200, or 204 for logout */
    bool list;           /* admin list: X-Total-Count and Link headers */
    long page, per_page; /* for the Link header */
    bool token_endpoint; /* errors in the OAuth shape when unversioned */
    bool redirect;       /* GET /verify: 303 to the body's "location" */
    int min_ms;          /* answer no sooner than this after the request began
                          * (0: at once): see AUTH_MAIL_MIN_MS in auth_api.c */
    char *owned[AUTH_MAX_OWNED];
    int nowned;
} AuthPlan;

typedef struct AuthCtx {
    KilnRequest *req;
    json_t *body;         /* parsed request body (object) or NULL */
    const char *settings; /* the settings jsonb for the flows */
    const char *rest;     /* the path after /auth/v1/ */
} AuthCtx;

/* A request refused before the database: status, code, message. */
typedef struct AuthRefusal {
    int status;
    const char *code;
    char message[160];
} AuthRefusal;

typedef bool (*AuthPlanFn)(AuthCtx *c, AuthPlan *p, AuthRefusal *r);

/* Helpers of auth_api.c for plan functions. */

/* Fills r and returns false (for `return auth_refuse(...)`). */
bool auth_refuse(AuthRefusal *r, int status, const char *code, const char *message);
/* A string field of the body: *out NULL when absent or null; any other
 * type is refused (400 bad_json). *out points into body. */
bool auth_body_string(json_t *body, const char *key, const char **out, AuthRefusal *r);
/* The body as compact JSON text, owned by p. */
const char *auth_whole_body(json_t *body, AuthPlan *p);
/* Keeps s (malloc'd) until the plan is freed; returns s. Aborts when s is
 * NULL (out of memory) or the plan holds AUTH_MAX_OWNED strings already. */
char *auth_plan_own(AuthPlan *p, char *s);
/* Sets the statement and its n parameters (pointers copied, not the text). */
void auth_plan_set(AuthPlan *p, const char *sql, int n, const char *const *params);
/* A canonical uuid (8-4-4-4-12 hex digits)? */
bool auth_is_uuid(const char *s);

#endif
