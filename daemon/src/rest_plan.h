/*
 * rest_plan.h: plan output of the data API (PostgREST's
 * application/vnd.pgrst.plan media type, supabase-wire §2.8): the Accept
 * header that asks for it, and running the EXPLAIN of a handler's
 * statement in the request's own transaction (rest_plan.c).
 *
 * Reading the header is pure; rest_plan_run does the one round trip.
 */
#ifndef KILN_REST_PLAN_H
#define KILN_REST_PLAN_H

#include <stdbool.h>

#include "arena.h"
#include "buf.h"
#include "error.h"
#include "pool.h"
#include "request.h"
#include "sql.h"

/* EXPLAIN options of the media type's options= parameter (bits). */
enum {
    KILN_EXPLAIN_ANALYZE = 1 << 0,
    KILN_EXPLAIN_VERBOSE = 1 << 1,
    KILN_EXPLAIN_SETTINGS = 1 << 2,
    KILN_EXPLAIN_BUFFERS = 1 << 3,
    KILN_EXPLAIN_WAL = 1 << 4,
};

#define KILN_EXPLAIN_FOR_MAX 128

typedef struct KilnExplain {
    bool on;                /* the Accept header asked for a plan */
    bool json;              /* +json: FORMAT JSON; else (+text, bare) TEXT */
    unsigned options;       /* KILN_EXPLAIN_* */
    char for_type[KILN_EXPLAIN_FOR_MAX]; /* the for= media type (quotes
                                          * removed), "application/json"
                                          * when absent: what the explained
                                          * statement would answer */
} KilnExplain;

/* Reads accept (NULL: none): ex->on when any of its media types is
 * application/vnd.pgrst.plan, +text or +json (parameters for="..." and
 * options=a|b; unknown options are ignored, as PostgREST does). 406
 * PGRST107 when one is asked for but !enabled (db_plan_enabled), or when
 * the for= value is longer than KILN_EXPLAIN_FOR_MAX - 1 or holds a
 * character no media type has. */
bool rest_plan_accept(const char *accept, bool enabled, KilnExplain *ex, KilnError *err);

/* The option names of ex in PostgREST's order (analyze, verbose, settings,
 * buffers, wal) into names (static strings, room for 5); returns how
 * many. */
int rest_plan_option_names(const KilnExplain *ex, const char *names[5]);

/* Appends the response's Content-Type: application/vnd.pgrst.plan+text|json;
 * for="<for_type>"[; options=a|b]; charset=utf-8. */
void rest_plan_content_type(const KilnExplain *ex, KilnBuf *out);

/* Answers the plan of stmt (a handler's statement, not changed) instead of
 * running it: kiln.explain in one transaction as the caller (token),
 * always ended by ROLLBACK, read-only unless write and the analyze option
 * (an analysed write runs, then rolls back twice over: kiln.explain's
 * subtransaction and the transaction's ROLLBACK). On success res holds
 * status 200, the plan as body, Content-Type and Content-Profile (schema).
 * On failure err (and WWW-Authenticate on a 401). */
bool rest_plan_run(KilnRequest *req, KilnConn *conn, bool *broken, KilnResponse *res,
                   KilnError *err, KilnArena *arena, const KilnExplain *ex, KilnSql *stmt,
                   bool write, const char *token, unsigned long generation, const char *schema);

#endif
