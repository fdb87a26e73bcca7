/*
 * buf.h: a growable byte buffer, the daemon's one string builder.
 *
 * Leaf code: includes no daemon header, never logs. Allocation failure
 * aborts (the daemon cannot serve without memory; client-driven sizes are
 * bounded before they reach a buffer). A KilnBuf is not thread-safe; each
 * has one owner.
 */
#ifndef KILN_BUF_H
#define KILN_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct KilnBuf {
    char *data; /* NUL-terminated once anything was appended; owned */
    size_t len;
    size_t cap;
} KilnBuf;

#define KILN_BUF_INIT {NULL, 0, 0}

void buf_append(KilnBuf *b, const void *data, size_t len);
void buf_puts(KilnBuf *b, const char *s);
void buf_putc(KilnBuf *b, char c);
void buf_printf(KilnBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(KilnBuf *b, const char *fmt, va_list ap);

/* Appends s as a JSON string literal, quotes included. Control characters,
 * quotes, backslashes and invalid UTF-8 bytes are escaped (invalid bytes as
 * \u00XX of the byte), so the result is always valid JSON. s NULL -> null. */
void buf_put_json_string(KilnBuf *b, const char *s);

/* Returns the contents (never NULL: "" when empty). Still owned by b. */
const char *buf_str(KilnBuf *b);

/* Hands the data to the caller (who frees it) and resets b. */
char *buf_take(KilnBuf *b);

void buf_reset(KilnBuf *b);
void buf_free(KilnBuf *b);

#endif
