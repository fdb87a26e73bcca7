/*
 * test_devkeys.c: unit tests of devkeys.c (base64url, random tokens,
 * HS256 JWTs). The JWT golden values were computed independently with
 * Node's crypto.createHmac("sha256", secret) over header.payload.
 */
#include <stdlib.h>
#include <string.h>

#include "devkeys.h"
#include "unit.h"

static bool all_b64url(const char *s)
{
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
           strlen(s);
}

UNIT_TEST(b64url_rfc4648_vectors)
{
    /* RFC 4648 section 10, without padding. */
    static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *want[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char out[16];
        CHECK(devkeys_b64url_encode(in[i], strlen(in[i]), out, sizeof out));
        CHECK_STR_EQ(out, want[i]);
        CHECK(devkeys_b64url_len(strlen(in[i])) == strlen(want[i]));
    }
}

UNIT_TEST(b64url_uses_url_alphabet)
{
    static const unsigned char fb[] = {0xfb, 0xff};
    char out[8];
    CHECK(devkeys_b64url_encode(fb, sizeof fb, out, sizeof out));
    CHECK_STR_EQ(out, "-_8");

    /* Every 6-bit value once, in order. */
    static const unsigned char all[] = {0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b, 0x30,
                                        0xd3, 0x8f, 0x41, 0x14, 0x93, 0x51, 0x55, 0x97, 0x61, 0x96,
                                        0x9b, 0x71, 0xd7, 0x9f, 0x82, 0x18, 0xa3, 0x92, 0x59, 0xa7,
                                        0xa2, 0x9a, 0xab, 0xb2, 0xdb, 0xaf, 0xc3, 0x1c, 0xb3, 0xd3,
                                        0x5d, 0xb7, 0xe3, 0x9e, 0xbb, 0xf3, 0xdf, 0xbf};
    char out2[80];
    CHECK(devkeys_b64url_encode(all, sizeof all, out2, sizeof out2));
    CHECK_STR_EQ(out2, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
}

UNIT_TEST(b64url_refuses_short_buffer)
{
    char out[4] = "xyz";
    /* "foo" needs 4 characters + NUL. */
    CHECK(!devkeys_b64url_encode("foo", 3, out, sizeof out));
    CHECK_STR_EQ(out, "");
    char exact[5];
    CHECK(devkeys_b64url_encode("foo", 3, exact, sizeof exact));
    CHECK_STR_EQ(exact, "Zm9v");
    CHECK(!devkeys_b64url_encode("foo", 3, exact, 0));
}

UNIT_TEST(random_token_length_alphabet_and_uniqueness)
{
    char a[65], b[65];
    KilnError err = {0};
    CHECK(devkeys_random_token(a, 64, &err));
    CHECK(devkeys_random_token(b, 64, &err));
    CHECK(strlen(a) == 64);
    CHECK(strlen(b) == 64);
    CHECK(all_b64url(a));
    CHECK(all_b64url(b));
    CHECK(strcmp(a, b) != 0);

    char empty[1] = "x";
    CHECK(devkeys_random_token(empty, 0, &err));
    CHECK_STR_EQ(empty, "");

    /* Longer than the internal chunk. */
    char *big = malloc(1001);
    CHECK(big != NULL);
    if (big) {
        CHECK(devkeys_random_token(big, 1000, &err));
        CHECK(strlen(big) == 1000);
        CHECK(all_b64url(big));
        free(big);
    }
}

UNIT_TEST(jwt_hs256_known_vector)
{
    /* The example token of RFC 7519 tooling (jwt.io), re-derived with Node. */
    char *tok = NULL;
    KilnError err = {0};
    CHECK(devkeys_jwt_hs256("{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}",
                            "your-256-bit-secret", &tok, &err));
    CHECK_STR_EQ(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                      "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
                      "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
    free(tok);
}

UNIT_TEST(jwt_hs256_refuses_empty_secret)
{
    char *tok = (char *)"sentinel";
    KilnError err = {0};
    CHECK(!devkeys_jwt_hs256("{}", "", &tok, &err));
    CHECK(tok == NULL);
    CHECK(err.message[0] != '\0');
}

UNIT_TEST(legacy_keys_golden)
{
    const char *secret = "0123456789abcdef0123456789abcdef-kiln-unit-test";
    char *anon = NULL, *service = NULL;
    KilnError err = {0};
    CHECK(devkeys_legacy_key("anon", secret, 1700000000, &anon, &err));
    CHECK(devkeys_legacy_key("service_role", secret, 1700000000, &service, &err));
    /* payload {"iss":"kiln","role":ROLE,"iat":1700000000,"exp":2015360000} */
    CHECK_STR_EQ(anon, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                       "eyJpc3MiOiJraWxuIiwicm9sZSI6ImFub24iLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MjAxNT"
                       "M2MDAwMH0.5fapP4d-wdWFsMpmDH6U48veSatSl_t_tr8cpfscuso");
    CHECK_STR_EQ(service,
                 "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
                 "eyJpc3MiOiJraWxuIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIj"
                 "oyMDE1MzYwMDAwfQ.PoUJPO_5VbnYoBvC2Z2uLSe0guFjcqX_EtbJOLkcCJI");
    free(anon);
    free(service);
}

UNIT_TEST(legacy_key_refuses_odd_role)
{
    char *tok = NULL;
    KilnError err = {0};
    CHECK(!devkeys_legacy_key("anon\",\"role\":\"service_role", "0123456789abcdef0123456789abcdef",
                              0, &tok, &err));
    CHECK(tok == NULL);
    CHECK(!devkeys_legacy_key("", "0123456789abcdef0123456789abcdef", 0, &tok, &err));
}

UNIT_MAIN()
