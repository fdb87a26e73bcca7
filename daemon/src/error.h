/*
 * error.h: the daemon's one error type.
 *
 * A function that can fail returns bool (false = failed) and fills a
 * caller-owned KilnError. Only error.c turns a KilnError into an HTTP
 * response; leaf code fills reasons and never logs.
 */
#ifndef KILN_ERROR_H
#define KILN_ERROR_H

#include <stdbool.h>

typedef struct KilnError {
    int status;        /* HTTP status to answer with, 0 when not HTTP-bound */
    char code[32];     /* machine-readable code, e.g. "not_found" */
    char message[512]; /* one line for humans: the problem, then the fix */
} KilnError;

/* Fill err (may be NULL) and return false, so callers can write
 * `return kiln_error_set(err, 400, "bad_request", "...%s", x);`. */
bool kiln_error_set(KilnError *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
