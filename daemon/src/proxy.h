/*
 * proxy.h: who the client is behind trusted reverse proxies: the
 * trusted_proxies list (CIDRs) and the X-Forwarded-For walk.
 *
 * Pure: no I/O, no globals, no allocation; never includes daemon headers
 * but error.h. The HTTP layer passes the TCP peer's address and the header
 * text in and logs what comes out.
 *
 * trusted_proxies is comma-separated; each entry is an IPv4 or IPv6
 * address, optionally with a prefix length (10.0.0.0/8, 2001:db8::/32,
 * 127.0.0.1 = /32, ::1 = /128). IPv4-mapped IPv6 addresses
 * (::ffff:10.1.2.3) count as the IPv4 address they carry, on both sides.
 *
 * The rule (the "right-most untrusted address"): X-Forwarded-For is read
 * only when the peer is a trusted proxy. Then its entries are walked from
 * the right (the one the nearest proxy appended) to the left, skipping
 * entries that are themselves trusted proxies; the first untrusted one is
 * the client. When every entry is trusted, the left-most is. Entries left
 * of the client were written by the client and are never parsed, so junk
 * there changes nothing. An entry that has to be read and is not a bare
 * IP address (ports, brackets, "unknown", obfuscated identifiers, empty
 * entries) makes the header malformed: the peer is then the client.
 */
#ifndef KILN_PROXY_H
#define KILN_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Longest text of an address this module writes (INET6_ADDRSTRLEN). */
#define KILN_PROXY_IP_MAX 46

typedef enum {
    KILN_PROXY_PEER,      /* the peer is the client: not trusted, or no header */
    KILN_PROXY_FORWARDED, /* the client came from X-Forwarded-For */
    KILN_PROXY_MALFORMED, /* trusted peer, unreadable header: the peer is the client */
} KilnProxyVerdict;

/* Checks a trusted_proxies list's syntax. Returns false with a one-line
 * reason and fix in err (status 0) naming the bad entry but not the key.
 * NULL or "" (no trusted proxy) is valid. */
bool proxy_list_valid(const char *list, KilnError *err);

/* True when ip (an address as text) is inside one of list's entries. An
 * invalid list or address matches nothing. */
bool proxy_trusted(const char *list, const char *ip);

/* The client address of a request whose TCP peer is `peer` (text, as
 * inet_ntop writes it) and whose X-Forwarded-For header is xff (NULL when
 * absent; several headers joined with ", " in the order received).
 * Writes the client's address in canonical text (inet_ntop of the parsed
 * address; IPv4-mapped IPv6 as IPv4) into out (len >= KILN_PROXY_IP_MAX,
 * else out is ""). When the peer is not an address, out is "" and the
 * verdict KILN_PROXY_PEER. list as for proxy_list_valid (NULL: none). */
KilnProxyVerdict proxy_client_ip(const char *list, const char *peer, const char *xff, char *out,
                                 size_t len);

#endif
