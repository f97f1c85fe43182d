/* edge/origin.h — the Origin allow-list (--allowed-origins) that refuses cross-site
 * WebSocket hijacking: a page on another site opening a WebSocket (or an Engine.IO
 * poll) to us with the user's cookies.
 *
 * Owns: parsing the comma-separated option into a list and matching an Origin header
 * value (RFC 6454 7) against it. Must not: decide what a missing Origin means (the
 * caller's policy, see docs/security.md), do I/O or log. */
#ifndef WSIO_EDGE_ORIGIN_H
#define WSIO_EDGE_ORIGIN_H

#include <stddef.h>

typedef struct edge_origins edge_origins;

/* Parses list[0..len), entries separated by commas with optional spaces/tabs:
 *  - "*": any origin, "null" included;
 *  - "scheme://host" or "scheme://host:port": that origin only. Scheme and port must
 *    match as written: no default port is inferred ("https://a.com" does not match
 *    "https://a.com:443"; browsers never send a default port, RFC 6454 6.2).
 *  - a wildcard, "scheme://" then "*.example.com[:port]": any host with one or more
 *    labels in front of example.com ("a.example.com", "a.b.example.com"), never
 *    example.com itself (list both to allow both).
 * Scheme and host compare case-insensitively. An entry without a scheme, with a path
 * (a trailing "/" too), a '*' elsewhere, an empty label or a port outside 1-65535 is
 * refused: *why gets a static reason (when why is not NULL). Returns 0 and the list in
 * *out (the caller's, edge_origins_free), WSIO_EINVAL (bad entry, nothing listed) or
 * WSIO_ENOMEM. */
int edge_origins_parse(const char *list, size_t len, edge_origins **out, const char **why);

void edge_origins_free(edge_origins *o);

/* 1 when origin[0..len) (an Origin header value) is allowed, else 0. A value that is
 * not a serialized origin (a path, userinfo, spaces, an empty host) matches only "*".
 * NULL o allows nothing. */
int edge_origin_allowed(const edge_origins *o, const char *origin, size_t len);

/* 1 when the list holds "*" (the server warns when it listens on a public address). */
int edge_origins_any(const edge_origins *o);

/* The number of entries. */
size_t edge_origins_count(const edge_origins *o);

#endif
