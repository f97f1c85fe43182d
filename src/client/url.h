/* client/url.h — the authority part of a client URL, one copy for ws_client.c and
 * sio_client.c.
 *
 * Owns: splitting "host[:port]" (IPv6 literals in brackets) after the scheme. Must not:
 * allocate, or judge lengths (each caller has its own bounds). */
#ifndef WSIO_CLIENT_URL_H
#define WSIO_CLIENT_URL_H

#include <stddef.h>

typedef struct {
  const char *end;  /* first byte after the authority: '/', '?', '#' or the NUL */
  const char *host; /* without the brackets of an IPv6 literal */
  size_t host_len;
  const char *colon; /* the ':' before the port, NULL when there is none */
} client_authority;

/* s: the URL just after "scheme://". Returns 0, or WSIO_EURL (no authority, or an
 * unclosed '['). The authority itself is s .. a->end (the Host header's value). */
int client_url_authority(const char *s, client_authority *a);

#endif
