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
