/*
 * arena.c: per-request arena: a chain of blocks, bump allocation, one free.
 * Never logs, never includes daemon headers.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct Block {
    struct Block *next;
    size_t used, cap;
    max_align_t data[]; /* cap bytes follow */
} Block;

struct KilnArena {
    Block *head;
    size_t total;
};

enum { BLOCK_MIN = 8192 };

KilnArena *arena_create(void)
{
    KilnArena *a = calloc(1, sizeof *a);
    if (!a)
        abort();
    return a;
}

void *arena_alloc(KilnArena *a, size_t size)
{
    const size_t align = sizeof(max_align_t);
    size = (size + align - 1) / align * align;
    if (size == 0)
        size = align;
    Block *b = a->head;
    if (!b || b->cap - b->used < size) {
        size_t cap = size > BLOCK_MIN ? size : BLOCK_MIN;
        if (cap > SIZE_MAX - sizeof(Block))
            abort();
        b = malloc(sizeof(Block) + cap);
        if (!b)
            abort();
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    a->total += size;
    memset(p, 0, size);
    return p;
}

char *arena_strndup(KilnArena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_strdup(KilnArena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

size_t arena_used(const KilnArena *a)
{
    return a->total;
}

void arena_free(KilnArena *a)
{
    if (!a)
        return;
    Block *b = a->head;
    while (b) {
        Block *n = b->next;
        free(b);
        b = n;
    }
    free(a);
}
