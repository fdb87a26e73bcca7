/*
 * fuzz_cors.c: libFuzzer harness for cors.c, which reads untrusted header
 * values (Origin, Access-Control-Request-Method, -Request-Headers) and the
 * allowlist text.
 *
 * The input is NUL-separated: allowlist, origin, requested headers. Every
 * input must come back with a verdict and at most KILN_CORS_MAX_HEADERS
 * headers whose values are NUL-terminated and free of CR/LF (they go into
 * response headers), never a crash or undefined behaviour. An origin is
 * granted only when cors_origin_allowed finds it on the list.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const KilnCorsOutput *out)
{
    if (out->nheaders < 0 || out->nheaders > KILN_CORS_MAX_HEADERS)
        abort();
    for (int i = 0; i < out->nheaders; i++)
        if (!out->headers[i].name || !out->headers[i].value ||
            strpbrk(out->headers[i].value, "\r\n"))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *part[3] = {"", NULL, NULL};
    size_t i = 0;
    for (int p = 0; p < 3 && i <= size; p++) {
        part[p] = copy + i;
        i += strlen(copy + i) + 1;
    }
    KilnError err = {0};
    bool valid = cors_allowlist_valid(part[0], &err);
    if (!valid && (!err.message[0] || strchr(err.message, '\n')))
        abort(); /* a refusal is one non-empty line */
    KilnCorsInput in = {
        .allowlist = part[0],
        .origin = part[1],
        .request_method = "GET",
        .request_headers = part[2],
        .allow_methods = "GET, HEAD",
    };
    KilnCorsOutput out;
    cors_actual(&in, &out);
    check(&out);
    if (out.verdict == KILN_CORS_ALLOWED && !cors_origin_allowed(part[0], part[1]))
        abort();
    cors_preflight(&in, &out);
    check(&out);
    char methods[16];
    cors_methods_with_options(part[2] ? part[2] : "", methods, sizeof methods);
    free(copy);
    return 0;
}
