/*
 * devkeys.c: base64url, random tokens and HS256 JWTs for `kiln dev`.
 *
 * Randomness comes from getrandom(2) (the kernel CSPRNG), HMAC-SHA256 from
 * OpenSSL. This file never logs, never touches files and never includes
 * daemon headers other than error.h. Intermediate secret material is wiped.
 */
#include "devkeys.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t devkeys_b64url_len(size_t n)
{
    return (n / 3) * 4 + (n % 3 ? n % 3 + 1 : 0);
}

bool devkeys_b64url_encode(const void *in, size_t n, char *out, size_t outlen)
{
    const unsigned char *p = in;
    size_t need = devkeys_b64url_len(n);
    if (outlen == 0)
        return false;
    if (need + 1 > outlen) {
        out[0] = '\0';
        return false;
    }
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return true;
}

/* Fills buf with n bytes from the kernel CSPRNG, retrying short reads. */
static bool fill_random(unsigned char *buf, size_t n, KilnError *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return kiln_error_set(err, 0, "devkeys",
                                  "cannot read random bytes from the kernel: %s; "
                                  "check that getrandom(2) is available",
                                  strerror(errno));
        }
        got += (size_t)r;
    }
    return true;
}

bool devkeys_random_token(char *out, size_t nchars, KilnError *err)
{
    /* One random byte per character, 6 bits of it used: no modulo bias. */
    unsigned char buf[256];
    size_t done = 0;
    while (done < nchars) {
        size_t chunk = nchars - done < sizeof buf ? nchars - done : sizeof buf;
        if (!fill_random(buf, chunk, err)) {
            OPENSSL_cleanse(buf, sizeof buf);
            out[0] = '\0';
            return false;
        }
        for (size_t i = 0; i < chunk; i++)
            out[done + i] = b64url_alphabet[buf[i] & 63];
        done += chunk;
    }
    OPENSSL_cleanse(buf, sizeof buf);
    out[nchars] = '\0';
    return true;
}

bool devkeys_jwt_hs256(const char *payload_json, const char *secret, char **out, KilnError *err)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    *out = NULL;
    if (!secret || !secret[0])
        return kiln_error_set(err, 0, "devkeys", "the JWT secret is empty; generate one first");
    size_t hlen = devkeys_b64url_len(sizeof header - 1);
    size_t plen = devkeys_b64url_len(strlen(payload_json));
    size_t slen = devkeys_b64url_len(32);
    size_t total = hlen + 1 + plen + 1 + slen + 1;
    char *tok = malloc(total);
    if (!tok)
        return kiln_error_set(err, 0, "devkeys", "out of memory signing a JWT; free some memory");

    devkeys_b64url_encode(header, sizeof header - 1, tok, total);
    tok[hlen] = '.';
    devkeys_b64url_encode(payload_json, strlen(payload_json), tok + hlen + 1, total - hlen - 1);
    size_t signed_len = hlen + 1 + plen;

    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)tok, signed_len,
              mac, &maclen) ||
        maclen != 32) {
        free(tok);
        return kiln_error_set(err, 0, "devkeys",
                              "HMAC-SHA256 failed in OpenSSL; check the OpenSSL installation");
    }
    tok[signed_len] = '.';
    devkeys_b64url_encode(mac, maclen, tok + signed_len + 1, total - signed_len - 1);
    OPENSSL_cleanse(mac, sizeof mac);
    *out = tok;
    return true;
}

bool devkeys_legacy_key(const char *role, const char *secret, time_t iat, char **out,
                        KilnError *err)
{
    *out = NULL;
    if (!role || !role[0] || strlen(role) > 64 ||
        strspn(role, "abcdefghijklmnopqrstuvwxyz_") != strlen(role))
        return kiln_error_set(err, 0, "devkeys",
                              "role name '%.64s' is not allowed in a key; use anon or service_role",
                              role ? role : "");
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"iss\":\"kiln\",\"role\":\"%s\",\"iat\":%lld,\"exp\":%lld}", role, (long long)iat,
             (long long)iat + KILN_DEVKEYS_LEGACY_TTL_S);
    return devkeys_jwt_hs256(payload, secret, out, err);
}
