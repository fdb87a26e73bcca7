/* Unit tests of stmt_cache.c: hits and misses by exact SQL text, LRU
 * eviction into the pending DEALLOCATE list, drops, schema generation
 * invalidation, and a replaced connection. */
#include <stdio.h>

#include "stmt_cache.h"
#include "unit.h"

typedef char Name[KILN_STMT_NAME_MAX];

UNIT_TEST(miss_then_hit_by_exact_text)
{
    KilnStmtCache *c = stmt_cache_create(4);
    Name a, b, a2;
    CHECK(!stmt_cache_begin(c, 1));
    CHECK(!stmt_cache_lookup(c, "SELECT $1", a));
    CHECK(!stmt_cache_lookup(c, "SELECT  $1", b)); /* different text, different entry */
    CHECK(strcmp(a, b) != 0);
    CHECK(stmt_cache_lookup(c, "SELECT $1", a2));
    CHECK_STR_EQ(a2, a);
    CHECK(stmt_cache_count(c) == 2);
    Name p[KILN_STMT_PENDING_MAX];
    CHECK(stmt_cache_take_pending(c, p, KILN_STMT_PENDING_MAX) == 0);
    stmt_cache_free(c);
    stmt_cache_free(NULL);
}

UNIT_TEST(lru_evicts_least_recent_into_pending)
{
    KilnStmtCache *c = stmt_cache_create(3);
    Name n1, n2, n3, n4, x;
    stmt_cache_begin(c, 1);
    stmt_cache_lookup(c, "q1", n1);
    stmt_cache_lookup(c, "q2", n2);
    stmt_cache_lookup(c, "q3", n3);
    CHECK(stmt_cache_lookup(c, "q1", x)); /* q2 is now least recent */
    CHECK(!stmt_cache_lookup(c, "q4", n4));
    CHECK(stmt_cache_count(c) == 3);
    Name p[KILN_STMT_PENDING_MAX];
    CHECK(stmt_cache_take_pending(c, p, KILN_STMT_PENDING_MAX) == 1);
    CHECK_STR_EQ(p[0], n2);
    CHECK(stmt_cache_take_pending(c, p, KILN_STMT_PENDING_MAX) == 0);
    CHECK(stmt_cache_lookup(c, "q1", x));
    CHECK(stmt_cache_lookup(c, "q3", x));
    CHECK(stmt_cache_lookup(c, "q4", x));
    CHECK(!stmt_cache_lookup(c, "q2", x)); /* evicted: a miss, a new name */
    CHECK(strcmp(x, n2) != 0);
    stmt_cache_free(c);
}

UNIT_TEST(drop_after_failed_prepare_or_stale_plan)
{
    KilnStmtCache *c = stmt_cache_create(4);
    Name a, b, x;
    stmt_cache_begin(c, 1);
    stmt_cache_lookup(c, "a", a);
    stmt_cache_lookup(c, "b", b);
    stmt_cache_drop(c, "a", false); /* prepare failed: nothing on the server */
    stmt_cache_drop(c, "b", true);  /* stale plan: DEALLOCATE it */
    stmt_cache_drop(c, "absent", true);
    CHECK(stmt_cache_count(c) == 0);
    Name p[KILN_STMT_PENDING_MAX];
    CHECK(stmt_cache_take_pending(c, p, KILN_STMT_PENDING_MAX) == 1);
    CHECK_STR_EQ(p[0], b);
    CHECK(!stmt_cache_lookup(c, "b", x));
    stmt_cache_free(c);
}

UNIT_TEST(generation_change_drops_everything)
{
    KilnStmtCache *c = stmt_cache_create(4);
    Name a, x;
    CHECK(!stmt_cache_begin(c, 1)); /* empty: nothing to drop */
    stmt_cache_lookup(c, "a", a);
    CHECK(!stmt_cache_begin(c, 1));
    CHECK(stmt_cache_lookup(c, "a", x));
    CHECK(stmt_cache_begin(c, 2)); /* DEALLOCATE ALL */
    CHECK(stmt_cache_count(c) == 0);
    CHECK(!stmt_cache_begin(c, 2));
    CHECK(!stmt_cache_lookup(c, "a", x));
    CHECK(strcmp(x, a) != 0);
    /* An older snapshot still in flight counts as a change too. */
    CHECK(stmt_cache_begin(c, 1));
    stmt_cache_free(c);
}

UNIT_TEST(pending_overflow_asks_for_deallocate_all)
{
    KilnStmtCache *c = stmt_cache_create(2);
    Name x;
    char sql[16];
    stmt_cache_begin(c, 1);
    for (int i = 0; i < KILN_STMT_PENDING_MAX + 3; i++) {
        snprintf(sql, sizeof sql, "q%d", i);
        stmt_cache_lookup(c, sql, x);
    }
    CHECK(stmt_cache_begin(c, 1));
    Name p[KILN_STMT_PENDING_MAX];
    CHECK(stmt_cache_take_pending(c, p, KILN_STMT_PENDING_MAX) == 0);
    CHECK(stmt_cache_count(c) == 0);
    stmt_cache_free(c);
}

UNIT_TEST(clear_after_reconnect_needs_no_deallocate)
{
    KilnStmtCache *c = stmt_cache_create(4);
    Name x;
    stmt_cache_begin(c, 3);
    stmt_cache_lookup(c, "a", x);
    stmt_cache_drop(c, "a", true);
    stmt_cache_lookup(c, "b", x);
    stmt_cache_clear(c);
    CHECK(stmt_cache_count(c) == 0);
    CHECK(!stmt_cache_begin(c, 3));
    Name p[KILN_STMT_PENDING_MAX];
    CHECK(stmt_cache_take_pending(c, p, KILN_STMT_PENDING_MAX) == 0);
    CHECK(!stmt_cache_lookup(c, "b", x));
    stmt_cache_free(c);
}

UNIT_MAIN()
