/*
 * response.c: building responses and rendering errors. The one place a
 * KilnError becomes a status and a body. Never includes microhttpd.h.
 */
#include "request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t kiln_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void response_set_header(KilnResponse *res, const char *name, const char *value)
{
    for (int i = 0; i < res->nheaders; i++) {
        if (strcasecmp(res->headers[i].name, name) == 0) {
            free(res->headers[i].value);
            res->headers[i].value = strdup(value);
            if (!res->headers[i].value)
                abort();
            return;
        }
    }
    if (res->nheaders == (int)(sizeof res->headers / sizeof res->headers[0]))
        abort(); /* a programming error: handlers set a bounded set */
    KilnHeader *h = &res->headers[res->nheaders++];
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value)
        abort();
}

void response_json(KilnResponse *res, int status, const char *json)
{
    res->status = status;
    res->content_type = "application/json";
    buf_reset(&res->body);
    buf_puts(&res->body, json);
}

void response_error(KilnResponse *res, const KilnError *err)
{
    /* 300 is a data API answer too (ambiguous embed, PGRST201). */
    int status = (err->status >= 400 && err->status <= 599) || err->status == 300 ? err->status : 500;
    res->status = status;
    res->content_type = "application/json";
    buf_reset(&res->body);
    buf_puts(&res->body, "{\"code\":");
    buf_put_json_string(&res->body, err->code[0] ? err->code : "internal");
    buf_puts(&res->body, ",\"message\":");
    /* Messages are written by the daemon, never copied from the database,
     * but 500s still say nothing specific. */
    buf_put_json_string(&res->body, status == 500 ? "internal server error" : err->message);
    if (err->rest) {
        /* Data API errors: PostgREST's four keys, "" meaning null. */
        bool show = status < 500;
        buf_puts(&res->body, ",\"details\":");
        if (show && err->details[0] && err->details_json)
            buf_puts(&res->body, err->details);
        else if (show && err->details[0])
            buf_put_json_string(&res->body, err->details);
        else
            buf_puts(&res->body, "null");
        buf_puts(&res->body, ",\"hint\":");
        if (show && err->hint[0])
            buf_put_json_string(&res->body, err->hint);
        else
            buf_puts(&res->body, "null");
    }
    buf_putc(&res->body, '}');
    if (status == 503)
        response_set_header(res, "Retry-After", "1");
}

void response_free(KilnResponse *res)
{
    for (int i = 0; i < res->nheaders; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    res->nheaders = 0;
    buf_free(&res->body);
}
