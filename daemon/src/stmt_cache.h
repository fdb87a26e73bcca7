/*
 * stmt_cache.h: which statements a connection has prepared, by SQL text.
 *
 * A bounded LRU map from exact SQL text to a statement name ("kiln_<n>",
 * unique for the life of the cache) plus the bookkeeping needed to keep the
 * server's prepared statements in step with it: names evicted or dropped
 * wait in a pending list until the caller sends DEALLOCATE for them, and a
 * schema generation change asks the caller for DEALLOCATE ALL. Pure: no
 * I/O, no libpq, no logging, no globals. Not thread-safe: one cache belongs
 * to one pooled connection and is only touched by the thread that has the
 * connection checked out.
 */
#ifndef KILN_STMT_CACHE_H
#define KILN_STMT_CACHE_H

#include <stdbool.h>

#define KILN_STMT_NAME_MAX    24 /* "kiln_" + a 64-bit counter + NUL */
#define KILN_STMT_PENDING_MAX 8

typedef struct KilnStmtCache KilnStmtCache;

/* Creates an empty cache of at most capacity (>= 2) entries. Aborts on
 * out of memory. The caller owns it; free with stmt_cache_free (NULL is a
 * no-op). */
KilnStmtCache *stmt_cache_create(int capacity);
void stmt_cache_free(KilnStmtCache *c);

/* Starts a request that was planned against schema generation gen. When
 * gen differs from the cache's and the server may hold statements of an
 * older generation (or too many names were pending), every entry is
 * forgotten and true is returned: the caller must send DEALLOCATE ALL
 * before anything else. Pending names are then discarded too. */
bool stmt_cache_begin(KilnStmtCache *c, unsigned long gen);

/* Copies up to max pending names (evicted or dropped statements the server
 * still holds) into names and empties the list; returns how many. The
 * caller sends DEALLOCATE for each before its prepares. */
int stmt_cache_take_pending(KilnStmtCache *c, char (*names)[KILN_STMT_NAME_MAX], int max);

/* Looks sql up. On a hit, copies its name, marks it most recently used and
 * returns true. On a miss, enters sql (copied) under a fresh name (copied
 * out) as most recently used, evicting the least recently used entry into
 * the pending list when full, and returns false: the caller prepares it and
 * must call stmt_cache_drop(c, sql, false) if the prepare did not succeed. */
bool stmt_cache_lookup(KilnStmtCache *c, const char *sql, char name[KILN_STMT_NAME_MAX]);

/* Forgets sql (no-op when absent). on_server: the server holds the
 * statement, so its name goes to the pending list for DEALLOCATE. */
void stmt_cache_drop(KilnStmtCache *c, const char *sql, bool on_server);

/* Forgets everything, pending names included, and the generation: the
 * connection was replaced and the server holds nothing. */
void stmt_cache_clear(KilnStmtCache *c);

/* Number of entries (tests and metrics). */
int stmt_cache_count(const KilnStmtCache *c);

#endif
