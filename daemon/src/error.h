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
    /* Data API errors ({code,message,details,hint} bodies, as PostgREST
     * writes them): rest is set, details and hint are "" for null. */
    bool rest;
    bool details_json; /* details holds a JSON value, not text */
    char details[512];
    char hint[256];
} KilnError;

/* Fill err (may be NULL) and return false, so callers can write
 * `return kiln_error_set(err, 400, "bad_request", "...%s", x);`. */
bool kiln_error_set(KilnError *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like kiln_error_set, and marks err as a data API error whose body has
 * all four keys {code,message,details,hint}. */
bool kiln_error_rest(KilnError *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Set the details / hint of err (after kiln_error_set or kiln_error_rest). */
void kiln_error_details(KilnError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kiln_error_hint(KilnError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* HTTP status for a SQLSTATE (the table in error.c). */
int kiln_sqlstate_http(const char *state);

/* Fills err from a database error as the data API reports it: status from
 * the SQLSTATE table (42501 is 401 when the request runs as anon), body
 * {code: SQLSTATE, message, details, hint} with the database's text for
 * 4xx only; KL0xx token errors become 401 PGRST301/PGRST303 with a generic
 * message; KLTxx tenant refusals are 403 with the database's text. Any
 * argument but err may be NULL. Returns false. */
bool kiln_error_from_db(KilnError *err, const char *state, const char *message,
                        const char *detail, const char *hint, bool anon);

#endif
