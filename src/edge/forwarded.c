/* edge/forwarded.c — client IP behind trusted proxies; see forwarded.h.
 *
 * Owns: address parsing and formatting, the CIDR list (one allocation), and the
 * right-to-left walk over X-Forwarded-For / Forwarded hops. Must not: allocate while
 * walking, do I/O or log. */
#include "edge/forwarded.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "wsio.h"

/* ---- addresses ------------------------------------------------------------------------ */

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void set_v6(edge_ip *out, const uint8_t a[16]) {
  memset(out, 0, sizeof *out);
  if (memcmp(a, v4_mapped, 12) == 0) {
    out->family = 4;
    memcpy(out->a, a + 12, 4);
  } else {
    out->family = 6;
    memcpy(out->a, a, 16);
  }
}

int edge_ip_parse(const char *s, size_t n, edge_ip *out) {
  char buf[EDGE_IP_STRLEN];
  /* inet_pton reads a C string: a NUL inside would hide what follows it. */
  if (!s || !out || n == 0 || n >= sizeof buf || memchr(s, '\0', n)) return 0;
  memcpy(buf, s, n);
  buf[n] = '\0';
  uint8_t a[16];
  /* inet_pton takes only the four-part dotted decimal for AF_INET (no "1.2.3", no
   * hex or octal), and no zone id for AF_INET6. */
  if (inet_pton(AF_INET, buf, a) == 1) {
    memset(out, 0, sizeof *out);
    out->family = 4;
    memcpy(out->a, a, 4);
    return 1;
  }
  if (inet_pton(AF_INET6, buf, a) == 1) {
    set_v6(out, a);
    return 1;
  }
  return 0;
}

int edge_ip_from_sockaddr(const struct sockaddr *sa, edge_ip *out) {
  if (!sa || !out) return 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    memset(out, 0, sizeof *out);
    out->family = 4;
    memcpy(out->a, &in->sin_addr, 4);
    return 1;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    set_v6(out, in6->sin6_addr.s6_addr);
    return 1;
  }
  return 0;
}

size_t edge_ip_format(const edge_ip *ip, char out[EDGE_IP_STRLEN]) {
  out[0] = '\0';
  if (!ip || (ip->family != 4 && ip->family != 6)) return 0;
  if (!inet_ntop(ip->family == 4 ? AF_INET : AF_INET6, ip->a, out, EDGE_IP_STRLEN)) out[0] = '\0';
  return strlen(out);
}

int edge_ip_equal(const edge_ip *a, const edge_ip *b) {
  return a->family == b->family && memcmp(a->a, b->a, a->family == 4 ? 4 : 16) == 0;
}

/* ---- CIDR lists ----------------------------------------------------------------------- */

typedef struct {
  edge_ip net;
  unsigned prefix;
} cidr;

struct edge_cidrs {
  size_t n;
  cidr c[];
};

/* 1 when the first bits of a and b agree. */
static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits) {
  unsigned full = bits / 8, rest = bits % 8;
  if (memcmp(a, b, full) != 0) return 0;
  if (!rest) return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

static int parse_cidr(const char *s, size_t n, cidr *out, const char **why) {
  const char *slash = memchr(s, '/', n);
  size_t alen = slash ? (size_t)(slash - s) : n;
  if (!edge_ip_parse(s, alen, &out->net)) {
    *why = "trusted proxy is not an IP address or CIDR block";
    return WSIO_EINVAL;
  }
  unsigned max = out->net.family == 4 ? 32 : 128;
  out->prefix = max;
  if (slash) {
    size_t i = alen + 1;
    unsigned p = 0;
    if (i == n || n - i > 3) {
      *why = "bad CIDR prefix length";
      return WSIO_EINVAL;
    }
    for (; i < n; i++) {
      if (s[i] < '0' || s[i] > '9') {
        *why = "bad CIDR prefix length";
        return WSIO_EINVAL;
      }
      p = p * 10 + (unsigned)(s[i] - '0');
    }
    /* An IPv4-mapped block ("::ffff:10.0.0.0/104") was stored as IPv4: its prefix
     * counts the 96 mapped bits too. */
    if (out->net.family == 4 && memchr(s, ':', alen)) {
      if (p < 96) {
        *why = "IPv4-mapped CIDR block shorter than /96";
        return WSIO_EINVAL;
      }
      p -= 96;
    }
    if (p > max) {
      *why = "CIDR prefix length too long for the address";
      return WSIO_EINVAL;
    }
    out->prefix = p;
  }
  uint8_t host[16];
  memcpy(host, out->net.a, 16);
  /* The bits below the prefix must be zero: compare the address with itself masked. */
  for (unsigned b = out->prefix; b < max; b++) host[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
  if (memcmp(host, out->net.a, 16) != 0) {
    *why = "CIDR block has host bits set (e.g. 10.0.0.1/8; write 10.0.0.0/8)";
    return WSIO_EINVAL;
  }
  return 0;
}

int edge_cidrs_parse(const char *list, size_t len, edge_cidrs **out, const char **why) {
  const char *dummy;
  if (!why) why = &dummy;
  *why = NULL;
  if (!out || (!list && len)) return WSIO_EINVAL;
  *out = NULL;
  size_t cap = 1;
  for (size_t i = 0; i < len; i++) cap += list[i] == ',';
  edge_cidrs *c = calloc(1, sizeof *c + cap * sizeof c->c[0]);
  if (!c) return WSIO_ENOMEM;
  size_t i = 0;
  while (i <= len) {
    const char *comma = i < len ? memchr(list + i, ',', len - i) : NULL;
    size_t end = comma ? (size_t)(comma - list) : len, s = i, e = end;
    while (s < e && (list[s] == ' ' || list[s] == '\t')) s++;
    while (e > s && (list[e - 1] == ' ' || list[e - 1] == '\t')) e--;
    if (e > s && parse_cidr(list + s, e - s, &c->c[c->n++], why) < 0) {
      free(c);
      return WSIO_EINVAL;
    }
    i = end + 1;
  }
  *out = c;
  return 0;
}

void edge_cidrs_free(edge_cidrs *c) { free(c); }

int edge_cidrs_contains(const edge_cidrs *c, const edge_ip *ip) {
  if (!c || !ip) return 0;
  for (size_t i = 0; i < c->n; i++)
    if (c->c[i].net.family == ip->family && prefix_eq(c->c[i].net.a, ip->a, c->c[i].prefix)) return 1;
  return 0;
}

/* ---- hops ----------------------------------------------------------------------------- */

/* The right-most EDGE_FWD_MAX_HOPS hops seen so far, oldest overwritten first. */
typedef struct {
  edge_ip ip[EDGE_FWD_MAX_HOPS];
  uint8_t valid[EDGE_FWD_MAX_HOPS];
  size_t count; /* total pushed */
} hop_ring;

static void push_hop(hop_ring *r, const edge_ip *ip) {
  size_t k = r->count++ % EDGE_FWD_MAX_HOPS;
  r->valid[k] = ip != NULL;
  if (ip) r->ip[k] = *ip;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* One node: "1.2.3.4", "1.2.3.4:port", "2001:db8::1", "[2001:db8::1]" or
 * "[2001:db8::1]:port". 1 with *out, else 0. */
static int parse_node(const char *s, size_t n, edge_ip *out) {
  if (n && s[0] == '[') {
    const char *rb = memchr(s, ']', n);
    if (!rb) return 0;
    size_t alen = (size_t)(rb - s - 1), rest = n - alen - 2;
    if (rest) {
      if (rb[1] != ':' || rest == 1 || rest > 6) return 0;
      for (size_t i = 2; i < rest + 1; i++)
        if (rb[i] < '0' || rb[i] > '9') return 0;
    }
    /* Any IPv6 literal, an IPv4-mapped one included (it is then stored as IPv4). */
    return memchr(s + 1, ':', alen) && edge_ip_parse(s + 1, alen, out);
  }
  if (edge_ip_parse(s, n, out)) return 1;
  /* IPv4 with a port: exactly one colon (more would be IPv6, handled above). */
  const char *colon = memchr(s, ':', n);
  if (!colon || memchr(colon + 1, ':', n - (size_t)(colon - s) - 1)) return 0;
  size_t plen = n - (size_t)(colon - s) - 1;
  if (plen == 0 || plen > 5) return 0;
  for (size_t i = 0; i < plen; i++)
    if (colon[1 + i] < '0' || colon[1 + i] > '9') return 0;
  return edge_ip_parse(s, (size_t)(colon - s), out) && out->family == 4;
}

static void xff_line(hop_ring *r, const char *v, size_t n) {
  size_t i = 0;
  while (i <= n) {
    const char *comma = i < n ? memchr(v + i, ',', n - i) : NULL;
    size_t end = comma ? (size_t)(comma - v) : n, s = i, e = end;
    while (s < e && is_ows(v[s])) s++;
    while (e > s && is_ows(v[e - 1])) e--;
    edge_ip ip;
    /* An empty element ("a, , b") is a list artefact (RFC 7230 7), not a hop. */
    if (e > s) push_hop(r, parse_node(v + s, e - s, &ip) ? &ip : NULL);
    i = end + 1;
  }
}

static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 7239 4: forwarded-element = [ pair ] *( ";" [ pair ] ), pair = token "="
 * value, value = token / quoted-string; elements separated by commas. Parses one
 * element starting at v[*i], leaves *i at the comma after it (or n), and pushes one
 * hop: the for= node when there is one and it is an address, else an unusable hop. */
static void forwarded_element(hop_ring *r, const char *v, size_t n, size_t *i) {
  edge_ip ip;
  int have_for = 0, ok = 1, for_ok = 0;
  size_t p = *i;
  while (p < n && v[p] != ',') {
    while (p < n && (is_ows(v[p]) || v[p] == ';')) p++;
    if (p >= n || v[p] == ',') break;
    size_t ns = p;
    while (p < n && is_tchar((unsigned char)v[p])) p++;
    size_t nlen = p - ns;
    if (nlen == 0 || p >= n || v[p] != '=') {
      ok = 0;
      while (p < n && v[p] != ',') p++; /* resynchronize at the next element */
      break;
    }
    p++;
    char val[EDGE_IP_STRLEN + 16];
    size_t vl = 0;
    int fits = 1;
    if (p < n && v[p] == '"') {
      p++;
      int closed = 0;
      while (p < n) {
        char c = v[p++];
        if (c == '"') {
          closed = 1;
          break;
        }
        if (c == '\\' && p < n) c = v[p++];
        if (vl < sizeof val) val[vl++] = c;
        else fits = 0;
      }
      if (!closed) ok = 0;
    } else {
      while (p < n && is_tchar((unsigned char)v[p])) {
        if (vl < sizeof val) val[vl++] = v[p];
        else fits = 0;
        p++;
      }
    }
    if (nlen == 3 && (v[ns] | 32) == 'f' && (v[ns + 1] | 32) == 'o' && (v[ns + 2] | 32) == 'r') {
      /* RFC 7239 4: a parameter must not occur more than once per element. */
      if (have_for) ok = 0;
      have_for = 1;
      for_ok = fits && parse_node(val, vl, &ip);
    }
    while (p < n && is_ows(v[p])) p++;
    if (p < n && v[p] != ';' && v[p] != ',') {
      ok = 0;
      while (p < n && v[p] != ',') p++;
    }
  }
  *i = p;
  push_hop(r, ok && have_for && for_ok ? &ip : NULL);
}

static void forwarded_line(hop_ring *r, const char *v, size_t n) {
  size_t i = 0;
  while (i < n) {
    while (i < n && (is_ows(v[i]) || v[i] == ',')) i++;
    if (i >= n) break;
    forwarded_element(r, v, n, &i);
  }
}

static edge_ip_source walk(const edge_cidrs *trusted, const edge_ip *peer, const hop_ring *r, edge_ip *out) {
  *out = *peer;
  edge_ip_source src = EDGE_IP_FROM_PEER;
  if (!edge_cidrs_contains(trusted, peer)) return src;
  size_t have = r->count < EDGE_FWD_MAX_HOPS ? r->count : EDGE_FWD_MAX_HOPS;
  for (size_t k = 0; k < have; k++) {
    size_t idx = (r->count - 1 - k) % EDGE_FWD_MAX_HOPS;
    if (!r->valid[idx]) return src;
    *out = r->ip[idx];
    src = EDGE_IP_FROM_HEADER;
    if (!edge_cidrs_contains(trusted, out)) return src;
  }
  return src;
}

edge_ip_source edge_client_ip_values(const edge_cidrs *trusted, const edge_ip *peer, const char *const *values,
                                     const size_t *lens, size_t n, edge_fwd_header which, edge_ip *out) {
  hop_ring r;
  r.count = 0;
  for (size_t i = 0; i < n; i++) {
    if (which == EDGE_FWD_FORWARDED)
      forwarded_line(&r, values[i], lens[i]);
    else
      xff_line(&r, values[i], lens[i]);
  }
  return walk(trusted, peer, &r, out);
}

edge_ip_source edge_client_ip(const edge_cidrs *trusted, const edge_ip *peer, const http_request *req,
                              edge_fwd_header which, edge_ip *out) {
  *out = *peer;
  /* Untrusted peers are the common case: their headers are not even parsed. */
  if (!edge_cidrs_contains(trusted, peer)) return EDGE_IP_FROM_PEER;
  const char *name = which == EDGE_FWD_FORWARDED ? "Forwarded" : "X-Forwarded-For";
  hop_ring r;
  r.count = 0;
  for (size_t i = 0; req && i < req->num_headers; i++) {
    const http_header *h = &req->headers[i];
    if (!http_str_ieq(name, h->name, h->name_len)) continue;
    if (which == EDGE_FWD_FORWARDED)
      forwarded_line(&r, h->value, h->value_len);
    else
      xff_line(&r, h->value, h->value_len);
  }
  return walk(trusted, peer, &r, out);
}
