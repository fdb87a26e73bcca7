/*
 * arena.h: a per-request memory arena. Allocate freely while serving a
 * request; arena_free releases everything at once.
 *
 * Leaf code: includes no daemon header, never logs. Allocation failure
 * aborts (sizes reaching the arena are bounded by the request limits).
 * Not thread-safe: one owner at a time.
 */
#ifndef KILN_ARENA_H
#define KILN_ARENA_H

#include <stddef.h>

typedef struct KilnArena KilnArena;

/* A new, empty arena. Free it with arena_free. */
KilnArena *arena_create(void);

/* size bytes aligned for any type, zeroed; valid until arena_free. */
void *arena_alloc(KilnArena *a, size_t size);

/* A NUL-terminated copy of s[0..len) in the arena. */
char *arena_strndup(KilnArena *a, const char *s, size_t len);
char *arena_strdup(KilnArena *a, const char *s);

/* Bytes handed out so far (for limits and tests). */
size_t arena_used(const KilnArena *a);

/* Releases every allocation. NULL is a no-op. */
void arena_free(KilnArena *a);

#endif
