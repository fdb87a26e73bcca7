/*
 * cors.h: cross-origin resource sharing, decided from the allowlist
 * (config key cors_allowed_origins) and the request's CORS headers.
 *
 * Pure: no I/O, no globals, no allocation. The HTTP layer passes the header
 * values in and adds the headers that come out; the output points into the
 * input strings, static text, or the output's own buffer, so it lives as
 * long as both. Never includes daemon headers but error.h.
 *
 * The allowlist is comma-separated; each entry is
 *   - an exact origin as browsers send it: scheme://host[:port] with scheme
 *     http or https (scheme and host compare case-insensitively), no path;
 *   - scheme://host:* : that host on any port (or none), for development;
 *   - "*" alone: any origin (answered with Access-Control-Allow-Origin: *).
 * "null" is refused (sandboxed documents and file: pages all send it).
 * Empty: CORS is off and responses carry no CORS headers.
 */
#ifndef KILN_CORS_H
#define KILN_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef enum {
    KILN_CORS_NONE,    /* no Origin, or CORS off: no CORS headers */
    KILN_CORS_ALLOWED, /* the origin is on the list */
    KILN_CORS_REFUSED, /* an Origin not on the list (a preflight: answer 403) */
} KilnCorsVerdict;

typedef struct KilnCorsInput {
    const char *allowlist;       /* cors_allowed_origins; NULL or "" = none */
    const char *origin;          /* Origin header; NULL when absent */
    const char *request_method;  /* preflight: Access-Control-Request-Method */
    const char *request_headers; /* preflight: Access-Control-Request-Headers or NULL */
    const char *allow_methods;   /* preflight: the path's methods, "GET, HEAD" */
} KilnCorsInput;

#define KILN_CORS_MAX_HEADERS 6

typedef struct KilnCorsOutput {
    KilnCorsVerdict verdict;
    int nheaders;
    struct {
        const char *name;
        const char *value;
    } headers[KILN_CORS_MAX_HEADERS];
    char methods[160]; /* holds Access-Control-Allow-Methods */
} KilnCorsOutput;

/* Checks an allowlist's syntax. Returns false with a one-line reason and
 * fix in err (status 0) naming the bad entry but not the key (the caller
 * says where the list came from). NULL or "" is valid. */
bool cors_allowlist_valid(const char *list, KilnError *err);

/* True when origin is allowed by list (false for NULL/"" either). */
bool cors_origin_allowed(const char *list, const char *origin);

/* True when an OPTIONS request is a CORS preflight (it has Origin and
 * Access-Control-Request-Method). */
bool cors_is_preflight(const char *method, const char *origin, const char *request_method);

/* The headers of an actual (non-preflight) response: for an allowed origin
 * Access-Control-Allow-Origin, Access-Control-Expose-Headers and Vary:
 * Origin; for a refused one only Vary: Origin. */
void cors_actual(const KilnCorsInput *in, KilnCorsOutput *out);

/* The headers of a preflight's answer. Allowed: Access-Control-Allow-Origin,
 * -Allow-Methods (allow_methods plus OPTIONS), -Allow-Headers (the requested
 * headers reflected when they are a valid list of header names), -Max-Age,
 * Vary. Refused (CORS off or origin not listed): only Vary; the caller
 * answers 403. Never -Allow-Credentials: the SDK sends tokens in headers,
 * not cookies. */
void cors_preflight(const KilnCorsInput *in, KilnCorsOutput *out);

/* Writes allow (e.g. "GET, HEAD") plus ", OPTIONS" unless it is there into
 * out (truncated to len). Returns out. */
const char *cors_methods_with_options(const char *allow, char *out, size_t len);

#endif
