/* Unit tests of proxy.c: trusted_proxies syntax and matching, and the
 * X-Forwarded-For walk (right-most untrusted address). */
#include "proxy.h"
#include "unit.h"

/* The client proxy_client_ip picks, with its verdict in *v. */
static const char *client(const char *list, const char *peer, const char *xff,
                          KilnProxyVerdict *v)
{
    static char out[KILN_PROXY_IP_MAX];
    *v = proxy_client_ip(list, peer, xff, out, sizeof out);
    return out;
}

UNIT_TEST(list_syntax)
{
    KilnError err = {0};
    CHECK(proxy_list_valid(NULL, &err));
    CHECK(proxy_list_valid("", &err));
    CHECK(proxy_list_valid("10.0.0.0/8", &err));
    CHECK(proxy_list_valid("127.0.0.1, ::1, 192.168.0.0/16,2001:db8::/32", &err));
    CHECK(proxy_list_valid("0.0.0.0/0, ::/0", &err));
    CHECK(proxy_list_valid("::ffff:10.0.0.0/104", &err));
    CHECK(proxy_list_valid("10.1.2.3/8", &err)); /* host bits are masked */

    const char *bad[] = {
        "10.0.0.0/33",        /* prefix too long for IPv4 */
        "2001:db8::/129",     /* too long for IPv6 */
        "10.0.0.0/",          /* empty prefix */
        "10.0.0.0/-1",        /* not a number */
        "10.0.0.0/8x",        /* trailing junk */
        "10.0.0",             /* not an address */
        "example.com",        /* host names are not resolved */
        "[::1]",              /* brackets */
        "10.0.0.1:8080",      /* port */
        "10.0.0.0/8,,::1",    /* empty entry */
        "10.0.0.0/8,",        /* trailing comma */
        "::ffff:10.0.0.0/64", /* a mapped address with a prefix into the zeros */
        "/8",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.message[0] = '\0';
        CHECK(!proxy_list_valid(bad[i], &err));
        CHECK(err.message[0] != '\0' && !strchr(err.message, '\n'));
    }
    CHECK(!proxy_list_valid("10.0.0.0/8, proxy.local", &err));
    CHECK(strstr(err.message, "'proxy.local'") != NULL);
    CHECK(!proxy_list_valid("10.0.0.1\x01", &err));
    CHECK(strstr(err.message, "'10.0.0.1?'") != NULL); /* control characters not echoed */
}

UNIT_TEST(matching)
{
    const char *list = "10.0.0.0/8, 192.0.2.7, 2001:db8::/32, ::1";
    CHECK(proxy_trusted(list, "10.200.3.4"));
    CHECK(proxy_trusted(list, "192.0.2.7"));
    CHECK(!proxy_trusted(list, "192.0.2.8"));
    CHECK(!proxy_trusted(list, "11.0.0.1"));
    CHECK(proxy_trusted(list, "2001:db8:1::5"));
    CHECK(proxy_trusted(list, "2001:DB8::1")); /* any case */
    CHECK(!proxy_trusted(list, "2001:db9::1"));
    CHECK(proxy_trusted(list, "::1"));
    CHECK(!proxy_trusted(list, "::2"));
    CHECK(proxy_trusted(list, "::ffff:10.9.9.9")); /* mapped counts as IPv4 */
    CHECK(!proxy_trusted(list, "not an ip"));
    CHECK(!proxy_trusted(list, NULL));
    CHECK(!proxy_trusted(NULL, "10.0.0.1"));
    CHECK(!proxy_trusted("", "10.0.0.1"));
    CHECK(proxy_trusted("0.0.0.0/0", "203.0.113.1"));
    CHECK(!proxy_trusted("0.0.0.0/0", "2001:db8::1")); /* families never mix */
    CHECK(proxy_trusted("172.16.0.0/12", "172.31.255.255"));
    CHECK(!proxy_trusted("172.16.0.0/12", "172.32.0.0"));
    CHECK(proxy_trusted("::ffff:10.0.0.0/104", "10.1.1.1"));
    CHECK(proxy_trusted("10.1.2.3/8", "10.200.0.1"));
}

UNIT_TEST(untrusted_peer_is_the_client)
{
    KilnProxyVerdict v;
    CHECK_STR_EQ(client(NULL, "203.0.113.5", "1.2.3.4", &v), "203.0.113.5");
    CHECK(v == KILN_PROXY_PEER);
    CHECK_STR_EQ(client("10.0.0.0/8", "203.0.113.5", "1.2.3.4", &v), "203.0.113.5");
    CHECK(v == KILN_PROXY_PEER);
    /* A trusted peer without the header. */
    CHECK_STR_EQ(client("10.0.0.0/8", "10.0.0.2", NULL, &v), "10.0.0.2");
    CHECK(v == KILN_PROXY_PEER);
    /* The peer's text comes back canonical. */
    CHECK_STR_EQ(client(NULL, "::ffff:127.0.0.1", NULL, &v), "127.0.0.1");
    CHECK_STR_EQ(client(NULL, "2001:DB8:0:0::1", NULL, &v), "2001:db8::1");
    CHECK_STR_EQ(client(NULL, "not-an-ip", NULL, &v), "");
    CHECK(v == KILN_PROXY_PEER);
}

UNIT_TEST(right_most_untrusted)
{
    KilnProxyVerdict v;
    const char *list = "10.0.0.0/8, 2001:db8::/32";
    CHECK_STR_EQ(client(list, "10.0.0.2", "198.51.100.9", &v), "198.51.100.9");
    CHECK(v == KILN_PROXY_FORWARDED);
    /* What the client wrote itself (left) is not believed. */
    CHECK_STR_EQ(client(list, "10.0.0.2", "1.1.1.1, 198.51.100.9", &v), "198.51.100.9");
    /* Proxies in a chain are skipped. */
    CHECK_STR_EQ(client(list, "10.0.0.2", "1.1.1.1, 198.51.100.9, 10.4.4.4,10.5.5.5", &v),
                 "198.51.100.9");
    CHECK(v == KILN_PROXY_FORWARDED);
    /* Every entry a proxy: the left-most. */
    CHECK_STR_EQ(client(list, "10.0.0.2", "10.1.1.1, 10.2.2.2", &v), "10.1.1.1");
    CHECK(v == KILN_PROXY_FORWARDED);
    /* IPv6, spaces and tabs, mapped addresses. */
    CHECK_STR_EQ(client(list, "2001:db8::1", " 2001:DB8::7 ,\t2001:0db8::2 ", &v), "2001:db8::7");
    CHECK(v == KILN_PROXY_FORWARDED);
    CHECK_STR_EQ(client(list, "10.0.0.2", "2001:db8:ffff::1, ::ffff:198.51.100.3", &v),
                 "198.51.100.3");
    /* Junk left of the client is never read. */
    CHECK_STR_EQ(client(list, "10.0.0.2", "<script>, unknown, ,198.51.100.9", &v),
                 "198.51.100.9");
    CHECK(v == KILN_PROXY_FORWARDED);
}

UNIT_TEST(malformed_falls_back_to_the_peer)
{
    KilnProxyVerdict v;
    const char *list = "10.0.0.0/8";
    const char *bad[] = {
        "",                         /* empty */
        " ",                        /* blank */
        "unknown",                  /* RFC 7239 style token */
        "198.51.100.9:443",         /* port */
        "[2001:db8::1]",            /* brackets */
        "198.51.100.9,",            /* empty right-most entry */
        "1.2.3.4, 10.0.0.9, bogus", /* the proxy's own entry */
        "1.2.3.4, junk, 10.0.0.9",  /* an entry the walk must read */
        "198.51.100.9\r\nX: y",
        "01234567890123456789012345678901234567890123456789012345678901234567890",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STR_EQ(client(list, "10.0.0.2", bad[i], &v), "10.0.0.2");
        CHECK(v == KILN_PROXY_MALFORMED);
    }
    char small[8];
    CHECK(proxy_client_ip(list, "10.0.0.2", "198.51.100.9", small, sizeof small) ==
          KILN_PROXY_FORWARDED);
    CHECK_STR_EQ(small, ""); /* a buffer too small gets nothing, never a cut address */
}

UNIT_MAIN()
