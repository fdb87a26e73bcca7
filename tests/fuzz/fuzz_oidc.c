/*
 * fuzz_oidc.c: libFuzzer harness for the parts of oidc.c and auth_oauth.c
 * that read untrusted text: ID tokens (from apps and providers), JWKS
 * documents (from providers) and redirect_to URLs (from browsers).
 *
 * The input is NUL-separated: JWKS text, token, nonce, redirect URL. Every
 * input must come back with a verdict, never a crash or undefined
 * behaviour; no token verifies (the fuzzer holds no private key, so a
 * verified token would be a forgery), and an allowed redirect always
 * starts with the site URL or the allowlist's fixed prefix.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_oauth.h"
#include "oidc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *part[4] = {"", "", "", ""};
    size_t i = 0;
    for (int p = 0; p < 4 && i <= size; p++) {
        part[p] = copy + i;
        i += strlen(copy + i) + 1;
    }

    json_t *jwks = json_loads(part[0], 0, NULL);
    OidcExpect x = {.issuer = "https://id.example.com",
                    .client_id = "client-1",
                    .nonce = *part[2] ? part[2] : NULL,
                    .now = 1700000000,
                    .skew_s = 60};
    json_t *claims = NULL;
    bool unknown = false;
    KilnError err = {0};
    if (oidc_verify_id_token(part[1], jwks, &x, &claims, &unknown, &err))
        abort();
    if (claims)
        abort();
    json_decref(jwks);

    size_t n;
    unsigned char *d = oidc_b64url_decode(part[1], strlen(part[1]), &n);
    if (d && n > strlen(part[1]))
        abort();
    free(d);

    const char *site = "https://app.example.com";
    const char *list = "https://other.example.com/auth/*, http://localhost:3000";
    if (oauth_redirect_allowed(site, list, part[3]) && strncmp(part[3], site, strlen(site)) != 0 &&
        strncmp(part[3], "https://other.example.com/auth/", 31) != 0 &&
        strncmp(part[3], "http://localhost:3000", 21) != 0)
        abort();
    free(copy);
    return 0;
}
