/*
 * log.c: JSON log lines on stderr. Never formats user secrets; callers
 * choose the fields.
 */
#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_threshold = KILN_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

bool log_level_parse(const char *s, KilnLogLevel *out)
{
    for (int i = 0; i <= KILN_LOG_DEBUG; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (KilnLogLevel)i;
            return true;
        }
    }
    return false;
}

void log_set_level(KilnLogLevel level)
{
    atomic_store(&log_threshold, (int)level);
}

bool log_enabled(KilnLogLevel level)
{
    return (int)level <= atomic_load(&log_threshold);
}

void log_write(KilnLogLevel level, const char *msg, const char *fields)
{
    if (!log_enabled(level))
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    KilnBuf b = KILN_BUF_INIT;
    buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, level_names[level]);
    buf_put_json_string(&b, msg);
    if (fields && *fields) {
        buf_putc(&b, ',');
        buf_puts(&b, fields);
    }
    buf_puts(&b, "}\n");
    const char *p = buf_str(&b);
    size_t left = b.len;
    while (left > 0) {
        ssize_t w = write(STDERR_FILENO, p, left);
        if (w <= 0)
            break;
        p += w;
        left -= (size_t)w;
    }
    buf_free(&b);
}

void log_kv(KilnLogLevel level, const char *msg, const char *key, const char *value)
{
    if (!log_enabled(level))
        return;
    KilnBuf f = KILN_BUF_INIT;
    buf_put_json_string(&f, key);
    buf_putc(&f, ':');
    buf_put_json_string(&f, value);
    log_write(level, msg, buf_str(&f));
    buf_free(&f);
}
