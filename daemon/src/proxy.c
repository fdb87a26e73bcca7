/*
 * proxy.c: the trusted_proxies list and the X-Forwarded-For walk (the
 * rules are in proxy.h).
 *
 * Pure and allocation-free: entries are parsed from the caller's text on
 * every call (lists are a handful of CIDRs; a walk looks at as many entries
 * as there are proxies), with inet_pton doing the address syntax. Never
 * logs; never writes outside the caller's buffer.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An address: family 4 or 6, bytes in network order. */
typedef struct Addr {
    int family;
    unsigned char b[16];
} Addr;

/* Longest entry text looked at (an IPv6 address with a prefix is <= 50). */
#define ENTRY_MAX 64

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Copies s[0..n) without surrounding spaces and tabs into out (NUL
 * terminated); false when it does not fit or is empty. */
static bool trimmed(const char *s, size_t n, char out[ENTRY_MAX])
{
    while (n && is_ows(*s))
        s++, n--;
    while (n && is_ows(s[n - 1]))
        n--;
    if (n == 0 || n >= ENTRY_MAX)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

/* Parses a bare address (no spaces, ports or brackets); an IPv4-mapped
 * IPv6 address becomes its IPv4 address. */
static bool addr_parse(const char *s, Addr *a)
{
    memset(a, 0, sizeof *a);
    if (inet_pton(AF_INET, s, a->b) == 1) {
        a->family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, s, a->b) != 1)
        return false;
    a->family = 6;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a->b, mapped, sizeof mapped) == 0) {
        memmove(a->b, a->b + 12, 4);
        memset(a->b + 4, 0, 12);
        a->family = 4;
    }
    return true;
}

/* Parses one list entry "addr[/bits]" (already trimmed) into a and bits. */
static bool cidr_parse(const char *entry, Addr *a, int *bits)
{
    char host[ENTRY_MAX];
    const char *slash = strchr(entry, '/');
    size_t hl = slash ? (size_t)(slash - entry) : strlen(entry);
    if (hl == 0 || hl >= sizeof host)
        return false;
    memcpy(host, entry, hl);
    host[hl] = '\0';
    bool mapped_text = strchr(host, ':') != NULL;
    if (!addr_parse(host, a))
        return false;
    int max = a->family == 4 ? 32 : 128;
    if (!slash) {
        *bits = max;
        return true;
    }
    const char *d = slash + 1;
    if (!*d || strlen(d) > 3)
        return false;
    int n = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9')
            return false;
        n = n * 10 + (*d - '0');
    }
    /* ::ffff:10.0.0.0/104 is 10.0.0.0/8. */
    if (a->family == 4 && mapped_text) {
        if (n < 96 || n > 128)
            return false;
        n -= 96;
    }
    if (n > max)
        return false;
    *bits = n;
    return true;
}

static bool addr_in(const Addr *ip, const Addr *net, int bits)
{
    if (ip->family != net->family)
        return false;
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(ip->b, net->b, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (ip->b[whole] & mask) == (net->b[whole] & mask);
}

/* Calls back with each comma-separated element of list (untrimmed): the
 * walk stops when fn returns false. Returns false when it was stopped. */
typedef bool (*EntryFn)(const char *s, size_t n, void *arg);

static bool each_entry(const char *list, EntryFn fn, void *arg)
{
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (!fn(p, n, arg))
            return false;
        if (!comma)
            return true;
        p = comma + 1;
    }
}

typedef struct ValidArg {
    KilnError *err;
} ValidArg;

static bool valid_entry(const char *s, size_t n, void *arg)
{
    ValidArg *v = arg;
    char e[ENTRY_MAX];
    Addr a;
    int bits;
    if (!trimmed(s, n, e)) {
        if (n >= ENTRY_MAX)
            kiln_error_set(v->err, 0, "config",
                           "an entry of %.40s... is too long to be an address; give CIDRs like "
                           "10.0.0.0/8 or 2001:db8::/32, comma-separated", s);
        else
            kiln_error_set(v->err, 0, "config",
                           "the list has an empty entry; give CIDRs like 10.0.0.0/8 or "
                           "2001:db8::/32, comma-separated");
        return false;
    }
    if (!cidr_parse(e, &a, &bits)) {
        char shown[ENTRY_MAX];
        size_t i = 0;
        for (; e[i]; i++)
            shown[i] = (unsigned char)e[i] < 0x20 || e[i] == 0x7f ? '?' : e[i];
        shown[i] = '\0';
        kiln_error_set(v->err, 0, "config",
                       "'%s' is not an IP address or CIDR; write 10.0.0.0/8, 192.0.2.7, "
                       "2001:db8::/32 or ::1", shown);
        return false;
    }
    return true;
}

bool proxy_list_valid(const char *list, KilnError *err)
{
    if (!list || !*list)
        return true;
    ValidArg v = {err};
    return each_entry(list, valid_entry, &v);
}

typedef struct MatchArg {
    const Addr *ip;
    bool found;
} MatchArg;

static bool match_entry(const char *s, size_t n, void *arg)
{
    MatchArg *m = arg;
    char e[ENTRY_MAX];
    Addr net;
    int bits;
    if (trimmed(s, n, e) && cidr_parse(e, &net, &bits) && addr_in(m->ip, &net, bits)) {
        m->found = true;
        return false;
    }
    return true;
}

static bool addr_trusted(const char *list, const Addr *ip)
{
    if (!list || !*list)
        return false;
    MatchArg m = {ip, false};
    each_entry(list, match_entry, &m);
    return m.found;
}

bool proxy_trusted(const char *list, const char *ip)
{
    Addr a;
    return ip && addr_parse(ip, &a) && addr_trusted(list, &a);
}

static void addr_text(const Addr *a, char *out, size_t len)
{
    out[0] = '\0';
    if (len < KILN_PROXY_IP_MAX ||
        !inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->b, out, (socklen_t)len))
        out[0] = '\0';
}

KilnProxyVerdict proxy_client_ip(const char *list, const char *peer, const char *xff, char *out,
                                 size_t len)
{
    Addr p;
    if (len)
        out[0] = '\0';
    if (!peer || !addr_parse(peer, &p))
        return KILN_PROXY_PEER;
    addr_text(&p, out, len);
    if (!xff || !addr_trusted(list, &p))
        return KILN_PROXY_PEER;
    /* Walk from the right: end is one past the current entry. */
    size_t end = strlen(xff);
    Addr client;
    for (;;) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        char e[ENTRY_MAX];
        Addr a;
        if (!trimmed(xff + start, end - start, e) || !addr_parse(e, &a)) {
            addr_text(&p, out, len);
            return KILN_PROXY_MALFORMED;
        }
        client = a;
        if (!addr_trusted(list, &a) || start == 0)
            break;
        end = start - 1; /* before the comma */
    }
    addr_text(&client, out, len);
    return KILN_PROXY_FORWARDED;
}
