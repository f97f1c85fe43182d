/* edge/forwarded.h — the client's IP address behind reverse proxies: X-Forwarded-For or
 * RFC 7239 Forwarded, believed only as far as the hops are proxies we trust
 * (--trusted-proxies), so that a client cannot pick the address its rate limits and
 * logs are keyed on.
 *
 * Owns: IP addresses as values (parse, format, compare), CIDR lists, and the walk over
 * the forwarding headers. Must not: allocate outside edge_cidrs_parse, do I/O or log. */
#ifndef WSIO_EDGE_FORWARDED_H
#define WSIO_EDGE_FORWARDED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http/parser.h"

/* An IPv4 or IPv6 address. IPv4-mapped IPv6 (::ffff:a.b.c.d, what a dual-stack socket
 * reports for an IPv4 peer) is always stored as IPv4, so one client has one key. */
typedef struct {
  uint8_t family; /* 4 or 6; 0: none */
  uint8_t a[16];  /* IPv4 in a[0..4), the rest zero */
} edge_ip;

#define EDGE_IP_STRLEN 46 /* INET6_ADDRSTRLEN */

/* Parses a bare address (no port, no brackets, no spaces): dotted-quad IPv4 or IPv6.
 * Returns 1 and fills *out, or 0. */
int edge_ip_parse(const char *s, size_t n, edge_ip *out);
/* From a socket address (AF_INET or AF_INET6). Returns 1, or 0 for another family. */
int edge_ip_from_sockaddr(const struct sockaddr *sa, edge_ip *out);
/* Writes the address as text with a NUL ("" for family 0); returns its length. */
size_t edge_ip_format(const edge_ip *ip, char out[EDGE_IP_STRLEN]);
/* 1 when both are the same address. */
int edge_ip_equal(const edge_ip *a, const edge_ip *b);

typedef struct edge_cidrs edge_cidrs;

/* Parses a comma-separated list of addresses and CIDR blocks ("10.0.0.0/8, 127.0.0.1,
 * ::1, fd00::/8"); spaces around entries are ignored. An IPv4 block matches IPv4
 * addresses only and an IPv6 block IPv6 only (an IPv4-mapped peer counts as IPv4).
 * Host bits set below the prefix are refused ("10.0.0.1/8": a typo for /32?). Returns
 * 0 and the list in *out (the caller's, edge_cidrs_free; an empty string gives an empty
 * list that trusts nothing), WSIO_EINVAL with a static reason in *why (when not NULL),
 * or WSIO_ENOMEM. */
int edge_cidrs_parse(const char *list, size_t len, edge_cidrs **out, const char **why);
void edge_cidrs_free(edge_cidrs *c);
/* 1 when ip is in one of the blocks; 0 otherwise and for a NULL list. */
int edge_cidrs_contains(const edge_cidrs *c, const edge_ip *ip);

/* Which header the trusted proxies write. Only one is read: a proxy that appends to
 * X-Forwarded-For passes a client's own Forwarded header through untouched (and the
 * other way round), so reading both would let the client choose. */
typedef enum { EDGE_FWD_XFF = 0, EDGE_FWD_FORWARDED = 1 } edge_fwd_header;

typedef enum {
  EDGE_IP_FROM_PEER = 0,   /* the socket's peer (not trusted, or no usable header) */
  EDGE_IP_FROM_HEADER = 1, /* an address a trusted proxy wrote */
} edge_ip_source;

/* At most this many hops are examined, the right-most ones (a longer chain is a
 * loop or an attack; its left part could only be client-written anyway). */
#define EDGE_FWD_MAX_HOPS 32

/* The client address for a request that arrived from peer. When peer is not in
 * trusted, it is the peer. Otherwise the hops in the chosen header (every line of it,
 * in order, left to right) are walked from the right: each trusted hop's left neighbour
 * is believed, and the first address not in trusted is the client. When every hop is
 * trusted, the left-most one is the client. A hop that is not an address ("unknown",
 * an obfuscated "_id", garbage) stops the walk: the client is then the last address
 * believed (which is a trusted proxy's). Accepted hop forms: XFF "1.2.3.4",
 * "1.2.3.4:567", "2001:db8::1", "[2001:db8::1]:567"; Forwarded for= with a token or
 * quoted-string value of the same forms (RFC 7239 6). Writes *out; returns where it
 * came from. */
edge_ip_source edge_client_ip(const edge_cidrs *trusted, const edge_ip *peer, const http_request *req,
                              edge_fwd_header which, edge_ip *out);

/* The same over header values given directly (values[i][0..lens[i]) are the lines of
 * the header, in order): what edge_client_ip does after finding the lines. */
edge_ip_source edge_client_ip_values(const edge_cidrs *trusted, const edge_ip *peer, const char *const *values,
                                     const size_t *lens, size_t n, edge_fwd_header which, edge_ip *out);

#endif
