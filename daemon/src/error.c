/*
 * error.c: filling KilnError. The HTTP rendering of errors lives in
 * response.c's error writer, which is the only place an error becomes a
 * status line and body.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool kiln_error_set(KilnError *err, int status, const char *code, const char *fmt, ...)
{
    if (!err)
        return false;
    err->status = status;
    snprintf(err->code, sizeof err->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return false;
}
