/*
 * error.c: filling KilnError. The HTTP rendering of errors lives in
 * response.c's error writer, which is the only place an error becomes a
 * status line and body.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Fills err; messages are kept to one line (they may echo request text). */
static void error_vset(KilnError *err, int status, const char *code, bool rest, const char *fmt,
                       va_list ap)
{
    err->status = status;
    snprintf(err->code, sizeof err->code, "%s", code ? code : "");
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    for (char *c = err->message; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    err->rest = rest;
    err->details_json = false;
    err->details[0] = '\0';
    err->hint[0] = '\0';
}

bool kiln_error_set(KilnError *err, int status, const char *code, const char *fmt, ...)
{
    if (!err)
        return false;
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, status, code, false, fmt, ap);
    va_end(ap);
    return false;
}

bool kiln_error_rest(KilnError *err, int status, const char *code, const char *fmt, ...)
{
    if (!err)
        return false;
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, status, code, true, fmt, ap);
    va_end(ap);
    return false;
}

void kiln_error_details(KilnError *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->details, sizeof err->details, fmt, ap);
    va_end(ap);
}

void kiln_error_hint(KilnError *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->hint, sizeof err->hint, fmt, ap);
    va_end(ap);
}

/*
 * SQLSTATE -> HTTP status for database errors surfacing through the data
 * API, as PostgREST maps them, plus Kiln's own class KL (docs/sql.md,
 * "Errors"): KL0xx are token failures (401, generic body), KLTxx tenant
 * refusals (403: the caller is known, the row is not theirs to write).
 * Columns: SQLSTATE or prefix (the longest match wins), status. Special
 * cases (42501 for anon, 21000 and 22023 by message, PTxyz) are handled in
 * kiln_error_from_db below. Anything not listed: 400.
 */
static const struct {
    const char *state;
    int status;
} sqlstate_http[] = {
    {"08", 503},    {"09", 500},    {"0L", 403},    {"0P", 403},    {"23503", 409},
    {"23505", 409}, {"25006", 405}, {"25", 500},    {"28", 403},    {"2D", 500},
    {"38", 500},    {"39", 500},    {"3B", 500},    {"40", 500},    {"53400", 500},
    {"53", 503},    {"54", 500},    {"55", 500},    {"57P01", 503}, {"57014", 503},
    {"57", 500},    {"58", 500},    {"F0", 500},    {"HV", 500},    {"P0001", 400},
    {"P0", 500},    {"XX", 500},    {"42883", 404}, {"42P01", 404}, {"42P17", 500},
    {"42501", 403}, {"KL0", 401},   {"KLT", 403},
};

int kiln_sqlstate_http(const char *state)
{
    int best = 400;
    size_t best_len = 0;
    for (size_t i = 0; i < sizeof sqlstate_http / sizeof sqlstate_http[0]; i++) {
        size_t l = strlen(sqlstate_http[i].state);
        if (l > best_len && strncmp(state, sqlstate_http[i].state, l) == 0) {
            best = sqlstate_http[i].status;
            best_len = l;
        }
    }
    return best;
}

bool kiln_error_from_db(KilnError *err, const char *state, const char *message,
                        const char *detail, const char *hint, bool anon)
{
    if (!state || strlen(state) != 5)
        state = "XX000";
    int status = kiln_sqlstate_http(state);
    if (strcmp(state, "42501") == 0 && anon)
        status = 401;
    if (strcmp(state, "22023") == 0 && message && strstr(message, "role") &&
        strstr(message, "does not exist"))
        status = 401;
    if (strcmp(state, "21000") == 0)
        status = message && strstr(message, "requires a WHERE clause") ? 400 : 500;
    if (state[0] == 'P' && state[1] == 'T' && state[2] >= '1' && state[2] <= '5' &&
        state[3] >= '0' && state[3] <= '9' && state[4] >= '0' && state[4] <= '9')
        status = (state[2] - '0') * 100 + (state[3] - '0') * 10 + (state[4] - '0');
    /* Token failures: a generic body; the database's detail is for logs. */
    if (strncmp(state, "KL0", 3) == 0) {
        if (strcmp(state, "KL002") == 0)
            kiln_error_rest(err, 401, "PGRST303", "JWT expired");
        else if (strcmp(state, "KL003") == 0)
            kiln_error_rest(err, 401, "PGRST301", "The token or API key has been revoked");
        else
            kiln_error_rest(err, 401, "PGRST301", "Invalid JWT or API key");
        return false;
    }
    if (status >= 500) {
        /* 5xx never carry the database's text. */
        kiln_error_rest(err, status, state, "%s",
                        status == 503 ? "the database is unavailable" : "internal server error");
        return false;
    }
    kiln_error_rest(err, status, state, "%s", message ? message : "");
    if (detail)
        kiln_error_details(err, "%s", detail);
    if (hint)
        kiln_error_hint(err, "%s", hint);
    return false;
}
