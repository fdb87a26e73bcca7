/*
 * base64url.c: unpadded base64url encoding (RFC 4648 section 5).
 *
 * A pure leaf (jwt_parse.h: no PostgreSQL headers) used for random tokens
 * and JWT segments: it works on caller-owned buffers and never allocates,
 * logs or raises errors. It never pads with '=' and never inserts line
 * breaks. Decoding takes attacker-controlled text; tests/fuzz covers it.
 */
#include "jwt_parse.h"

#include <string.h>

static const char kiln_base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t kiln_base64url_encoded_len(size_t len)
{
    /* 4 characters per full 3-byte group, plus 2 or 3 for a partial one. */
    return (len / 3) * 4 + ((len % 3) ? (len % 3) + 1 : 0);
}

size_t kiln_base64url_encode(const uint8_t *src, size_t len, char *dst)
{
    size_t i = 0;
    char *out = dst;

    for (; i + 3 <= len; i += 3) {
        uint32_t group = ((uint32_t)src[i] << 16) | ((uint32_t)src[i + 1] << 8) | (uint32_t)src[i + 2];

        *out++ = kiln_base64url_alphabet[(group >> 18) & 0x3F];
        *out++ = kiln_base64url_alphabet[(group >> 12) & 0x3F];
        *out++ = kiln_base64url_alphabet[(group >> 6) & 0x3F];
        *out++ = kiln_base64url_alphabet[group & 0x3F];
    }

    if (len - i == 1) {
        uint32_t group = (uint32_t)src[i] << 16;

        *out++ = kiln_base64url_alphabet[(group >> 18) & 0x3F];
        *out++ = kiln_base64url_alphabet[(group >> 12) & 0x3F];
    } else if (len - i == 2) {
        uint32_t group = ((uint32_t)src[i] << 16) | ((uint32_t)src[i + 1] << 8);

        *out++ = kiln_base64url_alphabet[(group >> 18) & 0x3F];
        *out++ = kiln_base64url_alphabet[(group >> 12) & 0x3F];
        *out++ = kiln_base64url_alphabet[(group >> 6) & 0x3F];
    }

    *out = '\0';
    return (size_t)(out - dst);
}

/* Value of each byte as a base64url character, or -1 (built on first use). */
static int8_t kiln_base64url_values[256];
static bool kiln_base64url_values_ready = false;

static void kiln_base64url_build_values(void)
{
    int i;

    memset(kiln_base64url_values, -1, sizeof(kiln_base64url_values));
    for (i = 0; i < 64; i++)
        kiln_base64url_values[(unsigned char)kiln_base64url_alphabet[i]] = (int8_t)i;
    kiln_base64url_values_ready = true;
}

bool kiln_base64url_decode(const char *src, size_t len, uint8_t *dst, size_t *outlen)
{
    size_t i;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (len % 4 == 1)
        return false;
    if (!kiln_base64url_values_ready)
        kiln_base64url_build_values();

    /* Whole groups of four characters make three bytes. */
    for (i = 0; i + 4 <= len; i += 4) {
        int a = kiln_base64url_values[(unsigned char)src[i]];
        int b = kiln_base64url_values[(unsigned char)src[i + 1]];
        int c = kiln_base64url_values[(unsigned char)src[i + 2]];
        int d = kiln_base64url_values[(unsigned char)src[i + 3]];
        uint32_t g;

        if ((a | b | c | d) < 0)
            return false;
        g = ((uint32_t)a << 18) | ((uint32_t)b << 12) | ((uint32_t)c << 6) | (uint32_t)d;
        dst[n++] = (uint8_t)(g >> 16);
        dst[n++] = (uint8_t)(g >> 8);
        dst[n++] = (uint8_t)g;
    }
    for (; i < len; i++) {
        int v = kiln_base64url_values[(unsigned char)src[i]];

        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (uint8_t)((acc >> bits) & 0xFF);
        }
    }
    /* Leftover bits (2 or 4) must be zero: one encoding per byte string. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return false;

    *outlen = n;
    return true;
}
