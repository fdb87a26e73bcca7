/*
 * base64url.c: unpadded base64url encoding (RFC 4648 section 5).
 *
 * A pure leaf used for random tokens now and for JWT segments later: it
 * works on caller-owned buffers and never allocates, logs or raises errors.
 * It never pads with '=' and never inserts line breaks.
 */
#include "postgres.h"

#include "kiln.h"

static const char kiln_base64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t kiln_base64url_encoded_len(size_t len)
{
    /* 4 characters per full 3-byte group, plus 2 or 3 for a partial one. */
    return (len / 3) * 4 + ((len % 3) ? (len % 3) + 1 : 0);
}

size_t kiln_base64url_encode(const uint8 *src, size_t len, char *dst)
{
    size_t i = 0;
    char *out = dst;

    for (; i + 3 <= len; i += 3) {
        uint32 group = ((uint32)src[i] << 16) | ((uint32)src[i + 1] << 8) | (uint32)src[i + 2];

        *out++ = kiln_base64url_alphabet[(group >> 18) & 0x3F];
        *out++ = kiln_base64url_alphabet[(group >> 12) & 0x3F];
        *out++ = kiln_base64url_alphabet[(group >> 6) & 0x3F];
        *out++ = kiln_base64url_alphabet[group & 0x3F];
    }

    if (len - i == 1) {
        uint32 group = (uint32)src[i] << 16;

        *out++ = kiln_base64url_alphabet[(group >> 18) & 0x3F];
        *out++ = kiln_base64url_alphabet[(group >> 12) & 0x3F];
    } else if (len - i == 2) {
        uint32 group = ((uint32)src[i] << 16) | ((uint32)src[i + 1] << 8);

        *out++ = kiln_base64url_alphabet[(group >> 18) & 0x3F];
        *out++ = kiln_base64url_alphabet[(group >> 12) & 0x3F];
        *out++ = kiln_base64url_alphabet[(group >> 6) & 0x3F];
    }

    *out = '\0';
    return (size_t)(out - dst);
}

/* Value of a base64url character, or -1. */
static inline int kiln_base64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

bool kiln_base64url_decode(const char *src, size_t len, uint8 *dst, size_t *outlen)
{
    size_t i;
    size_t n = 0;
    uint32 acc = 0;
    int bits = 0;

    if (len % 4 == 1)
        return false;

    for (i = 0; i < len; i++) {
        int v = kiln_base64url_value((unsigned char)src[i]);

        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (uint8)((acc >> bits) & 0xFF);
        }
    }
    /* Leftover bits (2 or 4) must be zero: one encoding per byte string. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return false;

    *outlen = n;
    return true;
}
