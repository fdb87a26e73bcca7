/*
 * stmt_cache.c: the per-connection prepared-statement LRU (see
 * stmt_cache.h). Entries live in one array; a doubly linked list through
 * array indexes keeps recency order, and lookups scan a 64-bit hash of the
 * SQL text before comparing the text (capacity is small: hundreds). Never
 * does I/O or logs; never includes daemon headers.
 */
#include "stmt_cache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Entry {
    char *sql; /* NULL: slot free */
    uint64_t hash;
    char name[KILN_STMT_NAME_MAX];
    int prev, next; /* recency list; -1 ends it */
} Entry;

struct KilnStmtCache {
    Entry *entries;
    int capacity, count;
    int head, tail; /* most / least recently used; -1 when empty */
    unsigned long gen;
    unsigned long long next_id;
    bool drop_all; /* pending list overflowed */
    int npending;
    char pending[KILN_STMT_PENDING_MAX][KILN_STMT_NAME_MAX];
};

static uint64_t hash_sql(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

KilnStmtCache *stmt_cache_create(int capacity)
{
    KilnStmtCache *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->capacity = capacity < 2 ? 2 : capacity;
    c->entries = calloc((size_t)c->capacity, sizeof *c->entries);
    if (!c->entries)
        abort();
    c->head = c->tail = -1;
    return c;
}

static void forget_all(KilnStmtCache *c)
{
    for (int i = 0; i < c->capacity; i++) {
        free(c->entries[i].sql);
        c->entries[i].sql = NULL;
    }
    c->count = 0;
    c->head = c->tail = -1;
    c->npending = 0;
    c->drop_all = false;
}

void stmt_cache_free(KilnStmtCache *c)
{
    if (!c)
        return;
    forget_all(c);
    free(c->entries);
    free(c);
}

static void unlink_entry(KilnStmtCache *c, int i)
{
    Entry *e = &c->entries[i];
    if (e->prev >= 0)
        c->entries[e->prev].next = e->next;
    else
        c->head = e->next;
    if (e->next >= 0)
        c->entries[e->next].prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = -1;
}

static void push_front(KilnStmtCache *c, int i)
{
    Entry *e = &c->entries[i];
    e->prev = -1;
    e->next = c->head;
    if (c->head >= 0)
        c->entries[c->head].prev = i;
    c->head = i;
    if (c->tail < 0)
        c->tail = i;
}

static void add_pending(KilnStmtCache *c, const char *name)
{
    if (c->npending == KILN_STMT_PENDING_MAX) {
        c->drop_all = true;
        return;
    }
    memcpy(c->pending[c->npending++], name, KILN_STMT_NAME_MAX);
}

/* Removes entry i; its name goes to the pending list when on_server. */
static void remove_entry(KilnStmtCache *c, int i, bool on_server)
{
    Entry *e = &c->entries[i];
    unlink_entry(c, i);
    if (on_server)
        add_pending(c, e->name);
    free(e->sql);
    e->sql = NULL;
    c->count--;
}

static int find(const KilnStmtCache *c, const char *sql, uint64_t h)
{
    for (int i = 0; i < c->capacity; i++) {
        const Entry *e = &c->entries[i];
        if (e->sql && e->hash == h && strcmp(e->sql, sql) == 0)
            return i;
    }
    return -1;
}

bool stmt_cache_begin(KilnStmtCache *c, unsigned long gen)
{
    bool all = c->drop_all;
    if (gen != c->gen) {
        /* Entries or pending names mean the server holds statements
         * planned for another schema generation. */
        all = all || c->count > 0 || c->npending > 0;
        c->gen = gen;
    }
    if (all)
        forget_all(c);
    return all;
}

int stmt_cache_take_pending(KilnStmtCache *c, char (*names)[KILN_STMT_NAME_MAX], int max)
{
    int n = c->npending < max ? c->npending : max;
    for (int i = 0; i < n; i++)
        memcpy(names[i], c->pending[i], KILN_STMT_NAME_MAX);
    /* Whatever did not fit stays pending for the next request. */
    memmove(c->pending, c->pending + n, (size_t)(c->npending - n) * KILN_STMT_NAME_MAX);
    c->npending -= n;
    return n;
}

bool stmt_cache_lookup(KilnStmtCache *c, const char *sql, char name[KILN_STMT_NAME_MAX])
{
    uint64_t h = hash_sql(sql);
    int i = find(c, sql, h);
    if (i >= 0) {
        unlink_entry(c, i);
        push_front(c, i);
        memcpy(name, c->entries[i].name, KILN_STMT_NAME_MAX);
        return true;
    }
    if (c->count == c->capacity)
        remove_entry(c, c->tail, true);
    for (i = 0; c->entries[i].sql; i++)
        ;
    Entry *e = &c->entries[i];
    e->sql = strdup(sql);
    if (!e->sql)
        abort();
    e->hash = h;
    snprintf(e->name, sizeof e->name, "kiln_%llu", ++c->next_id);
    push_front(c, i);
    c->count++;
    memcpy(name, e->name, KILN_STMT_NAME_MAX);
    return false;
}

void stmt_cache_drop(KilnStmtCache *c, const char *sql, bool on_server)
{
    int i = find(c, sql, hash_sql(sql));
    if (i >= 0)
        remove_entry(c, i, on_server);
}

void stmt_cache_clear(KilnStmtCache *c)
{
    forget_all(c);
    c->gen = 0;
}

int stmt_cache_count(const KilnStmtCache *c)
{
    return c->count;
}
