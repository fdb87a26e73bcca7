/*
 * log.h: structured logs, one JSON object per line on stderr.
 *
 * Every line has ts, level, msg; callers add fields as a pre-built JSON
 * fragment. Never log tokens, passwords, cookies or bodies (STYLE.md 11).
 * Thread-safe: each line is one write(2).
 */
#ifndef KILN_LOG_H
#define KILN_LOG_H

#include <stdbool.h>

#include "buf.h"

typedef enum { KILN_LOG_ERROR = 0, KILN_LOG_WARN, KILN_LOG_INFO, KILN_LOG_DEBUG } KilnLogLevel;

/* Parses "error" | "warn" | "info" | "debug". */
bool log_level_parse(const char *s, KilnLogLevel *out);

/* Sets the threshold (atomic; takes effect for every thread at once). */
void log_set_level(KilnLogLevel level);
bool log_enabled(KilnLogLevel level);

/* Writes {"ts":..,"level":..,"msg":msg[,fields]} where fields is a JSON
 * object body without braces (`"k":1,"s":"x"`) or NULL. */
void log_write(KilnLogLevel level, const char *msg, const char *fields);

/* Convenience: one string field. */
void log_kv(KilnLogLevel level, const char *msg, const char *key, const char *value);

#endif
