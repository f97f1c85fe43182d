/* edge/origin.c — the Origin allow-list; see origin.h.
 *
 * Owns: the parsed list (one allocation). Must not: allocate while matching, do I/O or
 * log. */
#include "edge/origin.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wsio.h"

#define MAX_SCHEME 32
#define MAX_HOST 255 /* RFC 1035 2.3.4 */

typedef struct {
  char scheme[MAX_SCHEME + 1]; /* lower case */
  char host[MAX_HOST + 1];     /* lower case; for a wildcard, the suffix with its dot: ".example.com" */
  size_t scheme_len, host_len;
  int port; /* -1: none written */
  int wildcard;
} origin_entry;

struct edge_origins {
  size_t n;
  int any;
  origin_entry e[];
};

/* One origin split into its parts, pointing into the text it came from. */
typedef struct {
  const char *scheme, *host;
  size_t scheme_len, host_len;
  int port;
} origin_parts;

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int ieq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
  return 1;
}

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* A registered name of dot-separated non-empty labels of letters, digits, '-' and '_',
 * or an IPv6 literal in brackets. */
static int host_valid(const char *h, size_t n) {
  if (n == 0 || n > MAX_HOST) return 0;
  if (h[0] == '[') {
    if (n < 3 || h[n - 1] != ']') return 0;
    for (size_t i = 1; i + 1 < n; i++) {
      int c = (unsigned char)h[i];
      if (!(is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f') || c == ':' || c == '.')) return 0;
    }
    return 1;
  }
  size_t label = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)h[i];
    if (c == '.') {
      if (label == 0) return 0;
      label = 0;
    } else if (is_alpha(c) || is_digit(c) || c == '-' || c == '_') {
      label++;
    } else {
      return 0;
    }
  }
  return label > 0;
}

/* scheme "://" host [":" port] and nothing else (RFC 6454 6.2's serialization). */
static int split_origin(const char *s, size_t n, origin_parts *p) {
  size_t i = 0;
  if (n == 0 || !is_alpha((unsigned char)s[0])) return 0;
  while (i < n && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) || s[i] == '+' ||
                   s[i] == '-' || s[i] == '.'))
    i++;
  if (i > MAX_SCHEME || n - i < 3 || memcmp(s + i, "://", 3) != 0) return 0;
  p->scheme = s;
  p->scheme_len = i;
  i += 3;
  size_t hs = i;
  if (i < n && s[i] == '[') {
    const char *rb = memchr(s + i, ']', n - i);
    if (!rb) return 0;
    i = (size_t)(rb - s) + 1;
  } else {
    while (i < n && s[i] != ':') i++;
  }
  p->host = s + hs;
  p->host_len = i - hs;
  p->port = -1;
  if (i == n) return 1;
  if (s[i] != ':' || i + 1 == n || n - i - 1 > 5) return 0;
  long port = 0;
  for (size_t k = i + 1; k < n; k++) {
    if (!is_digit((unsigned char)s[k])) return 0;
    port = port * 10 + (s[k] - '0');
  }
  if (port < 1 || port > 65535) return 0;
  p->port = (int)port;
  return 1;
}

static int parse_entry(const char *s, size_t n, origin_entry *e, const char **why) {
  origin_parts p;
  if (!split_origin(s, n, &p)) {
    *why = memmem(s, n, "://", 3) ? "allowed origin must be scheme://host[:port] (no path, no trailing '/')"
                                  : "allowed origin needs a scheme (https://*.example.com)";
    return WSIO_EINVAL;
  }
  memset(e, 0, sizeof *e);
  const char *h = p.host;
  size_t hl = p.host_len;
  if (hl >= 2 && h[0] == '*' && h[1] == '.') {
    e->wildcard = 1;
    h++; /* keep the dot: the suffix must start at a label boundary */
    hl--;
    if (!host_valid(h + 1, hl - 1)) {
      *why = "allowed origin has a bad host after '*.'";
      return WSIO_EINVAL;
    }
  } else if (!host_valid(h, hl)) {
    *why = memchr(h, '*', hl) ? "'*' is allowed only as the first label (https://*.example.com)"
                              : "allowed origin has a bad host";
    return WSIO_EINVAL;
  }
  for (size_t i = 0; i < p.scheme_len; i++) e->scheme[i] = (char)lower((unsigned char)p.scheme[i]);
  for (size_t i = 0; i < hl; i++) e->host[i] = (char)lower((unsigned char)h[i]);
  e->scheme_len = p.scheme_len;
  e->host_len = hl;
  e->port = p.port;
  return 0;
}

static int is_ws(char c) { return c == ' ' || c == '\t'; }

int edge_origins_parse(const char *list, size_t len, edge_origins **out, const char **why) {
  const char *dummy;
  if (!why) why = &dummy;
  *why = NULL;
  if (!out || (!list && len)) return WSIO_EINVAL;
  *out = NULL;
  size_t cap = 1;
  for (size_t i = 0; i < len; i++) cap += list[i] == ',';
  edge_origins *o = calloc(1, sizeof *o + cap * sizeof o->e[0]);
  if (!o) return WSIO_ENOMEM;
  size_t i = 0;
  while (i <= len) {
    const char *comma = i < len ? memchr(list + i, ',', len - i) : NULL;
    size_t end = comma ? (size_t)(comma - list) : len, s = i, e = end;
    while (s < e && is_ws(list[s])) s++;
    while (e > s && is_ws(list[e - 1])) e--;
    if (e - s == 1 && list[s] == '*') {
      o->any = 1;
      o->n++; /* counted, nothing to match against */
    } else if (e > s) {
      origin_entry *ent = &o->e[o->n];
      if (parse_entry(list + s, e - s, ent, why) < 0) {
        free(o);
        return WSIO_EINVAL;
      }
      o->n++;
    }
    i = end + 1;
  }
  if (o->n == 0) {
    *why = "no allowed origins listed";
    free(o);
    return WSIO_EINVAL;
  }
  *out = o;
  return 0;
}

void edge_origins_free(edge_origins *o) { free(o); }
int edge_origins_any(const edge_origins *o) { return o && o->any; }
size_t edge_origins_count(const edge_origins *o) { return o ? o->n : 0; }

static int entry_matches(const origin_entry *e, const origin_parts *p) {
  if (e->host_len == 0) return 0; /* the "*" slot */
  if (e->scheme_len != p->scheme_len || !ieq(e->scheme, p->scheme, p->scheme_len)) return 0;
  if (e->port != p->port) return 0;
  if (!e->wildcard) return e->host_len == p->host_len && ieq(e->host, p->host, p->host_len);
  /* ".example.com" must be a proper suffix: at least one label in front of it, and
   * host_valid already refused empty labels ("a..example.com", ".example.com"). */
  if (p->host_len <= e->host_len) return 0;
  return ieq(e->host, p->host + p->host_len - e->host_len, e->host_len);
}

int edge_origin_allowed(const edge_origins *o, const char *origin, size_t len) {
  if (!o) return 0;
  if (o->any) return 1;
  origin_parts p;
  if (!origin || !split_origin(origin, len, &p) || !host_valid(p.host, p.host_len)) return 0;
  for (size_t i = 0; i < o->n; i++)
    if (entry_matches(&o->e[i], &p)) return 1;
  return 0;
}
