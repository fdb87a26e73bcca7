/*
 * fuzz_proxy.c: libFuzzer harness for proxy.c, which reads X-Forwarded-For
 * (written by anyone) and the trusted_proxies list.
 *
 * The input is NUL-separated: list, peer, header. Every input must come
 * back with a verdict and an address that is NUL-terminated, fits, parses
 * again as an address and, unless the verdict is FORWARDED, is the peer's;
 * a FORWARDED client is an entry of the header and never comes from an
 * untrusted peer. Never a crash or undefined behaviour.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_address(const char *s)
{
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
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
    if (!proxy_list_valid(part[0], &err) && (!err.message[0] || strchr(err.message, '\n')))
        abort(); /* a refusal is one non-empty line */
    const char *peer = part[1] ? part[1] : "10.0.0.1";
    char out[KILN_PROXY_IP_MAX];
    memset(out, 'x', sizeof out);
    KilnProxyVerdict v = proxy_client_ip(part[0], peer, part[2], out, sizeof out);
    if (!memchr(out, '\0', sizeof out))
        abort();
    char canon_peer[KILN_PROXY_IP_MAX];
    proxy_client_ip(NULL, peer, NULL, canon_peer, sizeof canon_peer);
    if (out[0] && !is_address(out))
        abort();
    if (v != KILN_PROXY_FORWARDED && strcmp(out, canon_peer) != 0)
        abort();
    if (v == KILN_PROXY_FORWARDED && (!part[2] || !proxy_trusted(part[0], peer)))
        abort();
    (void)proxy_trusted(part[0], part[2]);
    free(copy);
    return 0;
}
