/*
 * fuzz_jwt_parse.c: libFuzzer harness for the extension's parsers of token
 * text (extension/jwt_parse.h): base64url, UTF-8, the strict JSON scanner
 * and the JWT stages that run before and after the signature check.
 *
 * Built standalone from extension/base64url.c, json_claims.c and
 * jwt_parse.c (no PostgreSQL): the signature is not checked here, so every
 * input reaches the claims stage that a key holder's token would. The
 * input's first byte picks what the rest is:
 *   0  a whole compact token (split, header, signature and payload decoded,
 *      header and claims checked)
 *   1  a decoded payload (claims checked directly, and the scanner's entry
 *      points compared with each other)
 *   2  a decoded header
 *   3  bytes to base64url-encode and decode again
 * and its bit 2 whether the policy trusts tenant claims, bit 3 whether the
 * database encoding is UTF-8. Besides crashes and sanitizer reports, it
 * aborts when a stated property fails: the UTF-8 check agrees with a
 * reference written differently, decoding is canonical (re-encoding gives
 * the input back), unescaped strings are valid UTF-8 without NUL and
 * never longer than their span, accepted claims and headers hold what the
 * contract says, and the scanner's entry points agree on what is an object.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                        \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            fprintf(stderr, "property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);                  \
            abort();                                                                                       \
        }                                                                                                  \
    } while (0)

/*
 * A second UTF-8 check, written differently (decode each code point, then
 * judge it): kiln_utf8_valid must agree with it on every input.
 */
static bool utf8_reference(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint32_t cp;
        size_t n, k;

        if (s[i] < 0x80) {
            if (s[i] == 0)
                return false;
            i++;
            continue;
        }
        if ((s[i] & 0xE0) == 0xC0)
            n = 2, cp = s[i] & 0x1F;
        else if ((s[i] & 0xF0) == 0xE0)
            n = 3, cp = s[i] & 0x0F;
        else if ((s[i] & 0xF8) == 0xF0)
            n = 4, cp = s[i] & 0x07;
        else
            return false;
        if (len - i < n)
            return false;
        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

/* An exact-size copy, so that the sanitizer sees any read past the end. */
static uint8_t *copy_of(const void *p, size_t len)
{
    uint8_t *c = malloc(len ? len : 1);

    if (c == NULL)
        abort();
    if (len)
        memcpy(c, p, len);
    return c;
}

/* Decodes a segment the way crypto_jwt.c does, checking canonicity; NULL when refused. */
static uint8_t *decode(const char *s, size_t len, size_t *outlen)
{
    uint8_t *in = copy_of(s, len);
    uint8_t *out = malloc(len * 3 / 4 + 2);

    if (out == NULL)
        abort();
    if (!kiln_jwt_segment_decode((const char *)in, len, out, outlen)) {
        free(in);
        free(out);
        return NULL;
    }
    CHECK(*outlen <= len * 3 / 4);
    CHECK(out[*outlen] == '\0');
    {
        char *again = malloc(kiln_base64url_encoded_len(*outlen) + 1);

        if (again == NULL)
            abort();
        CHECK(kiln_base64url_encode(out, *outlen, again) == len);
        CHECK(memcmp(again, in, len) == 0);
        free(again);
    }
    free(in);
    return out;
}

/* An unescaped string span: valid UTF-8, no NUL, not longer than the span. */
static void check_string(const KilnJsonSpan *v)
{
    char *buf;
    size_t n;

    if (v->type == KILN_JV_NONE)
        return;
    CHECK(v->type == KILN_JV_STRING);
    buf = malloc(v->len + 1);
    if (buf == NULL)
        abort();
    n = kiln_json_unescape(v, buf);
    CHECK(n <= v->len);
    CHECK(buf[n] == '\0');
    CHECK(strlen(buf) == n);
    CHECK(kiln_utf8_valid((const uint8_t *)buf, n));
    free(buf);
}

static void header(const uint8_t *json, size_t len, bool utf8)
{
    uint8_t *text = copy_of(json, len);
    char *kidbuf = malloc(len + 1);
    KilnJwtHeader h;

    if (kidbuf == NULL)
        abort();
    if (kiln_jwt_header_check(text, len, utf8, kidbuf, &h) == NULL) {
        CHECK(h.alg == KILN_ALG_HS256 || h.alg == KILN_ALG_ES256 || h.alg == KILN_ALG_EDDSA);
        CHECK(kiln_utf8_valid(text, len));
        if (h.kid != NULL) {
            CHECK(h.kid == kidbuf);
            CHECK(strlen(h.kid) == h.kid_len && h.kid_len <= len);
            CHECK(kiln_utf8_valid((const uint8_t *)h.kid, h.kid_len));
        }
    }
    free(kidbuf);
    free(text);
}

static void claims(const uint8_t *json, size_t len, bool utf8, bool trusted)
{
    static char *key_audiences[] = {"authenticated", "kiln"};
    KilnJwtPolicy p = {
        .now = 1700000000.0,
        .skew = 30,
        .utf8 = utf8,
        .n_issuers = -1,
        .issuers = NULL,
        .issuers_setting = " kiln, https://kiln.test/auth/v1 ,,supabase",
        .n_audiences = 2,
        .audiences = key_audiences,
        .audiences_setting = NULL,
        .trusted_tenant = trusted,
    };
    uint8_t *text = copy_of(json, len);
    char *scratch = malloc(len + 1);
    char detail[KILN_JWT_DETAIL_LEN];
    KilnJwtClaims c;
    KilnJwtStatus st;

    if (scratch == NULL)
        abort();
    memset(detail, 'x', sizeof(detail));
    st = kiln_jwt_claims_check(text, len, &p, scratch, &c, detail);
    CHECK(memchr(detail, '\0', sizeof(detail)) != NULL);
    if (st == KILN_JWT_OK) {
        CHECK(detail[0] == '\0');
        CHECK(c.role != NULL && kiln_role_static(c.role) == c.role);
        CHECK(strcmp(c.role, "tenant_service") != 0 || (trusted && c.has_tenant));
        CHECK(!(c.has_tenant && !trusted));
        CHECK(c.exp + p.skew >= p.now);
        check_string(&c.aal);
        check_string(&c.email);
    } else {
        CHECK(st == KILN_JWT_INVALID || st == KILN_JWT_EXPIRED);
        CHECK(detail[0] != '\0' && strchr(detail, '\n') == NULL);
    }
    free(scratch);
    free(text);
}

/* The scanner's two entry points agree on whether a text is one JSON object. */
static void scanner(const uint8_t *json, size_t len, bool utf8)
{
    uint8_t *text = copy_of(json, len);
    KilnJsonType type = KILN_JV_NONE;
    const char *v;
    const char *o;

    if (!kiln_utf8_valid(text, len)) {
        free(text);
        return;
    }
    v = kiln_json_value_check((const char *)text, len, utf8, &type);
    o = kiln_json_top_members((const char *)text, len, utf8, NULL, 0, NULL);
    CHECK((v == NULL && type == KILN_JV_OBJECT) == (o == NULL));
    if (v == NULL && type == KILN_JV_OBJECT) {
        /* Named members: found once, strings unescape cleanly. */
        static const char *const names[] = {"a", "x", "kid", "email"};
        KilnJsonSpan m[4];
        int i;

        if (kiln_json_top_members((const char *)text, len, utf8, names, 4, m) == NULL)
            for (i = 0; i < 4; i++)
                if (m[i].type == KILN_JV_STRING)
                    check_string(&m[i]);
    } else if (v == NULL && type == KILN_JV_ARRAY) {
        /* Elements: each a value inside the array, strings unescape cleanly. */
        KilnJsonSpan arr = {KILN_JV_ARRAY, (const char *)text, len, false};
        KilnJsonSpan e;
        size_t pos = 0;

        while (arr.len > 0 && arr.start[0] != '[')
            arr.start++, arr.len--;
        while (kiln_json_array_next(&arr, &pos, &e)) {
            CHECK(e.start >= arr.start && e.start + e.len <= arr.start + arr.len);
            CHECK(pos <= arr.len);
            if (e.type == KILN_JV_STRING)
                check_string(&e);
        }
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool trusted;
    bool utf8;

    if (size < 1)
        return 0;
    trusted = (data[0] & 4) != 0;
    utf8 = (data[0] & 8) == 0;
    {
        uint8_t *text = copy_of(data + 1, size - 1);

        CHECK(kiln_utf8_valid(text, size - 1) == utf8_reference(text, size - 1));
        free(text);
    }
    switch (data[0] & 3) {
    case 0: {
        KilnJwtParts parts;
        uint8_t *h, *s, *p;
        size_t hl, sl, pl;

        if (kiln_jwt_split((const char *)data + 1, size - 1, &parts) != NULL)
            return 0;
        CHECK(parts.header_len + parts.payload_len + parts.signature_len + 2 == size - 1);
        CHECK(parts.signed_len == parts.header_len + 1 + parts.payload_len);
        if ((h = decode(parts.header, parts.header_len, &hl)) != NULL) {
            header(h, hl, utf8);
            free(h);
        }
        if ((s = decode(parts.signature, parts.signature_len, &sl)) != NULL)
            free(s);
        if ((p = decode(parts.payload, parts.payload_len, &pl)) != NULL) {
            claims(p, pl, utf8, trusted);
            free(p);
        }
        break;
    }
    case 1:
        claims(data + 1, size - 1, utf8, trusted);
        scanner(data + 1, size - 1, utf8);
        break;
    case 2:
        header(data + 1, size - 1, utf8);
        scanner(data + 1, size - 1, utf8);
        break;
    default: {
        char *enc = malloc(kiln_base64url_encoded_len(size - 1) + 1);
        uint8_t *dec;
        size_t n = 0;

        if (enc == NULL)
            abort();
        CHECK(kiln_base64url_encode(data + 1, size - 1, enc) == kiln_base64url_encoded_len(size - 1));
        dec = malloc(size);
        if (dec == NULL)
            abort();
        CHECK(kiln_base64url_decode(enc, strlen(enc), dec, &n));
        CHECK(n == size - 1 && memcmp(dec, data + 1, n) == 0);
        free(dec);
        free(enc);
        break;
    }
    }
    return 0;
}
