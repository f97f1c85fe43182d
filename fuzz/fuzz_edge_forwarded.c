/* fuzz/fuzz_edge_forwarded.c — libFuzzer target for edge/forwarded.c (and the list
 * parsers of edge/origin.c, which share its shape).
 *
 * Byte 0: bit 0 picks X-Forwarded-For or Forwarded, bits 1-2 the peer (trusted IPv4,
 * trusted IPv6, untrusted, IPv4-mapped trusted). The rest, split at '\n', is the
 * header's lines, each in an exact-size heap block. Checked: an untrusted peer is
 * always the answer; EDGE_IP_FROM_PEER answers the peer; for X-Forwarded-For the
 * answer equals a restatement written here (split at commas, trim, parse with
 * inet_pton after taking off a port, walk from the right over every hop, not only the
 * last EDGE_FWD_MAX_HOPS, so chains are kept short); the answer through a parsed
 * request equals the answer over the values. Then the whole input is fed to
 * edge_cidrs_parse and edge_origins_parse (a reason exactly on refusal) and, when
 * the origin list parses, edge_origin_allowed on each line. */
#include "edge/forwarded.h"
#include "edge/origin.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c) \
  do {             \
    if (!(c)) abort(); \
  } while (0)

#define MAX_LINES 8

static edge_cidrs *trusted;
static const char trusted_list[] = "10.0.0.0/8, 192.168.0.0/16, fd00::/8, ::1";

/* ---- restatement of X-Forwarded-For ----------------------------------------------------- */

static int ref_in_trusted(const uint8_t *a, int fam) {
  if (fam == 4) return a[0] == 10 || (a[0] == 192 && a[1] == 168);
  static const uint8_t one[16] = {[15] = 1};
  return a[0] == 0xfd || memcmp(a, one, 16) == 0;
}

/* Parses one trimmed node into a (4 or 16 bytes), mapped IPv6 turned to IPv4. */
static int ref_node(const char *s, size_t n, uint8_t a[16], int *fam) {
  char buf[64];
  if (memchr(s, 0, n)) return 0;
  const char *p = s;
  size_t pl = n;
  if (n && s[0] == '[') {
    const char *rb = memchr(s, ']', n);
    if (!rb) return 0;
    size_t rest = n - (size_t)(rb - s) - 1;
    if (rest) {
      if (rb[1] != ':' || rest < 2 || rest > 6) return 0;
      for (size_t i = 2; i <= rest; i++)
        if (rb[i] < '0' || rb[i] > '9') return 0;
    }
    p = s + 1;
    pl = (size_t)(rb - s) - 1;
    if (pl >= sizeof buf) return 0;
    memcpy(buf, p, pl);
    buf[pl] = 0;
    if (inet_pton(AF_INET6, buf, a) != 1) return 0;
    *fam = 6;
  } else {
    if (pl >= sizeof buf) return 0;
    memcpy(buf, p, pl);
    buf[pl] = 0;
    if (inet_pton(AF_INET, buf, a) == 1) {
      *fam = 4;
      return 1;
    }
    if (inet_pton(AF_INET6, buf, a) == 1) {
      *fam = 6;
    } else {
      char *c = strchr(buf, ':');
      if (!c || strchr(c + 1, ':') || !c[1] || strlen(c + 1) > 5) return 0;
      for (char *q = c + 1; *q; q++)
        if (*q < '0' || *q > '9') return 0;
      *c = 0;
      if (inet_pton(AF_INET, buf, a) != 1) return 0;
      *fam = 4;
      return 1;
    }
  }
  static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
  if (memcmp(a, mapped, 12) == 0) {
    memmove(a, a + 12, 4);
    *fam = 4;
  }
  return 1;
}

typedef struct {
  int valid, fam;
  uint8_t a[16];
} ref_hop;

static void ref_xff(char **lines, size_t *lens, size_t nl, const edge_ip *peer, edge_ip *out) {
  static ref_hop hops[4096];
  size_t nh = 0;
  for (size_t l = 0; l < nl; l++) {
    const char *v = lines[l];
    size_t n = lens[l], i = 0;
    while (i <= n && nh < 4096) {
      size_t e = i;
      while (e < n && v[e] != ',') e++;
      size_t s = i, t = e;
      while (s < t && (v[s] == ' ' || v[s] == '\t')) s++;
      while (t > s && (v[t - 1] == ' ' || v[t - 1] == '\t')) t--;
      if (t > s) {
        memset(&hops[nh], 0, sizeof hops[nh]);
        hops[nh].valid = ref_node(v + s, t - s, hops[nh].a, &hops[nh].fam);
        nh++;
      }
      i = e + 1;
    }
  }
  *out = *peer;
  if (!ref_in_trusted(peer->a, peer->family)) return;
  for (size_t k = nh; k-- > 0;) {
    if (!hops[k].valid) return;
    memset(out, 0, sizeof *out);
    out->family = (uint8_t)hops[k].fam;
    memcpy(out->a, hops[k].a, hops[k].fam == 4 ? 4 : 16);
    if (!ref_in_trusted(out->a, out->family)) return;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!trusted) REQUIRE(edge_cidrs_parse(trusted_list, strlen(trusted_list), &trusted, NULL) == 0);
  if (size < 1) return 0;
  edge_fwd_header which = (data[0] & 1) ? EDGE_FWD_FORWARDED : EDGE_FWD_XFF;
  static const char *peers[] = {"10.1.2.3", "fd00::1", "203.0.113.5", "::ffff:192.168.1.1"};
  edge_ip peer;
  const char *ps = peers[(data[0] >> 1) & 3];
  REQUIRE(edge_ip_parse(ps, strlen(ps), &peer));
  const char *in = (const char *)data + 1;
  size_t n = size - 1;

  char *lines[MAX_LINES];
  size_t lens[MAX_LINES], nl = 0, i = 0;
  while (i <= n && nl < MAX_LINES) {
    const char *nlp = memchr(in + i, '\n', n - i);
    size_t e = nlp ? (size_t)(nlp - in) : n;
    lens[nl] = e - i;
    lines[nl] = malloc(lens[nl] ? lens[nl] : 1);
    memcpy(lines[nl], in + i, lens[nl]);
    nl++;
    i = e + 1;
  }

  edge_ip out, out2;
  edge_ip_source src = edge_client_ip_values(trusted, &peer, (const char *const *)lines, lens, nl, which, &out);
  if (!edge_cidrs_contains(trusted, &peer)) REQUIRE(src == EDGE_IP_FROM_PEER);
  if (src == EDGE_IP_FROM_PEER) REQUIRE(edge_ip_equal(&out, &peer));
  REQUIRE(out.family == 4 || out.family == 6);

  size_t hops = 0;
  for (size_t l = 0; l < nl; l++)
    for (size_t k = 0; k < lens[l]; k++) hops += lines[l][k] == ',';
  if (which == EDGE_FWD_XFF && hops + nl < EDGE_FWD_MAX_HOPS) {
    edge_ip ref;
    ref_xff(lines, lens, nl, &peer, &ref);
    REQUIRE(edge_ip_equal(&out, &ref));
  }

  http_header hs[MAX_LINES + 1];
  const char *name = which == EDGE_FWD_FORWARDED ? "Forwarded" : "x-forwarded-for";
  hs[0] = (http_header){"Forwarded-X", 11, "1.2.3.4", 7};
  for (size_t l = 0; l < nl; l++) hs[l + 1] = (http_header){name, strlen(name), lines[l], lens[l]};
  http_request req;
  memset(&req, 0, sizeof req);
  req.headers = hs;
  req.num_headers = nl + 1;
  REQUIRE(edge_client_ip(trusted, &peer, &req, which, &out2) == src);
  REQUIRE(edge_ip_equal(&out, &out2));
  char text[EDGE_IP_STRLEN];
  REQUIRE(edge_ip_format(&out, text) > 0);

  /* The list parsers on the whole input. */
  char *all = malloc(n ? n : 1);
  memcpy(all, in, n);
  edge_cidrs *c = NULL;
  const char *why = NULL;
  int rc = edge_cidrs_parse(all, n, &c, &why);
  REQUIRE((rc == 0) == (why == NULL) && (rc == 0) == (c != NULL));
  if (c) edge_cidrs_contains(c, &out);
  edge_cidrs_free(c);
  edge_origins *o = NULL;
  why = NULL;
  rc = edge_origins_parse(all, n, &o, &why);
  REQUIRE((rc == 0) == (why == NULL) && (rc == 0) == (o != NULL));
  for (size_t l = 0; o && l < nl; l++) {
    int a = edge_origin_allowed(o, lines[l], lens[l]);
    if (edge_origins_any(o)) REQUIRE(a == 1);
  }
  edge_origins_free(o);
  free(all);
  for (size_t l = 0; l < nl; l++) free(lines[l]);
  return 0;
}
