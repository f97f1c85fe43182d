/* tests/unit/test_edge_forwarded.c — edge/forwarded.c: addresses, CIDR lists and the
 * client IP behind trusted proxies (X-Forwarded-For and RFC 7239 Forwarded). */
#include "edge/forwarded.h"
#include "test.h"
#include "wsio.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static edge_ip ip_of(const char *s) {
  edge_ip ip;
  memset(&ip, 0, sizeof ip);
  CHECK(edge_ip_parse(s, strlen(s), &ip));
  return ip;
}

static void test_ip(void) {
  static const struct {
    const char *in, *out; /* out NULL: refused */
  } c[] = {
      {"1.2.3.4", "1.2.3.4"},         {"255.255.255.255", "255.255.255.255"},
      {"::1", "::1"},                 {"2001:DB8::1", "2001:db8::1"},
      {"::ffff:10.1.2.3", "10.1.2.3"}, /* mapped IPv4 is IPv4 */
      {"1.2.3", NULL},                {"1.2.3.4.5", NULL},
      {"256.1.1.1", NULL},            {"1.2.3.4 ", NULL},
      {"[::1]", NULL},                {"1.2.3.4:80", NULL},
      {"fe80::1%eth0", NULL},         {"", NULL},
      {"0x7f.0.0.1", NULL},           {"unknown", NULL},
      {"1111:2222:3333:4444:5555:6666:7777:8888:9999", NULL},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    edge_ip ip;
    int ok = edge_ip_parse(c[i].in, strlen(c[i].in), &ip);
    CHECK_EQ_INT(ok, c[i].out != NULL);
    if (ok && c[i].out) {
      char buf[EDGE_IP_STRLEN];
      edge_ip_format(&ip, buf);
      CHECK_STR(buf, c[i].out);
    }
  }
  /* A NUL inside must not hide the rest (inet_pton stops at it). */
  edge_ip z;
  CHECK_EQ_INT(edge_ip_parse("1.2.3.4\0junk", 12, &z), 0);
  CHECK_EQ_INT(edge_ip_parse("::1\0", 4, &z), 0);
  struct sockaddr_in6 s6;
  memset(&s6, 0, sizeof s6);
  s6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:192.0.2.7", &s6.sin6_addr);
  edge_ip a, b = ip_of("192.0.2.7");
  CHECK(edge_ip_from_sockaddr((struct sockaddr *)&s6, &a));
  CHECK(edge_ip_equal(&a, &b));
  struct sockaddr_in s4;
  memset(&s4, 0, sizeof s4);
  s4.sin_family = AF_INET;
  inet_pton(AF_INET, "192.0.2.7", &s4.sin_addr);
  CHECK(edge_ip_from_sockaddr((struct sockaddr *)&s4, &a));
  CHECK(edge_ip_equal(&a, &b));
  struct sockaddr un = {.sa_family = AF_UNIX};
  CHECK_EQ_INT(edge_ip_from_sockaddr(&un, &a), 0);
}

static void test_cidrs(void) {
  static const struct {
    const char *list, *ip;
    int in; /* -1: the list is refused */
  } c[] = {
      {"10.0.0.0/8", "10.255.1.2", 1},
      {"10.0.0.0/8", "11.0.0.1", 0},
      {"10.0.0.0/8", "::ffff:10.0.0.1", 1},
      {"10.0.0.0/8", "::a00:1", 0},          /* IPv6 address, IPv4 block */
      {"127.0.0.1", "127.0.0.1", 1},
      {"127.0.0.1", "127.0.0.2", 0},
      {"192.168.1.128/25", "192.168.1.200", 1},
      {"192.168.1.128/25", "192.168.1.127", 0},
      {"0.0.0.0/0", "8.8.8.8", 1},
      {"0.0.0.0/0", "::1", 0},
      {"::/0", "::1", 1},
      {"::/0", "1.2.3.4", 0},                /* IPv4 peers are not in an IPv6 block */
      {"fd00::/8", "fd12:3456::1", 1},
      {"fd00::/8", "fe80::1", 0},
      {"2001:db8::/33", "2001:db8:7fff::1", 1},
      {"2001:db8::/33", "2001:db8:8000::1", 0},
      {"::ffff:10.0.0.0/104", "10.9.9.9", 1},
      {" 10.0.0.0/8 , ::1 ", "::1", 1},
      {"", "1.2.3.4", 0},                    /* empty: trusts nothing */
      {"10.0.0.1/8", "10.0.0.1", -1},        /* host bits */
      {"10.0.0.0/33", "10.0.0.1", -1},
      {"::/129", "::1", -1},
      {"10.0.0.0/", "10.0.0.1", -1},
      {"10.0.0.0/x", "10.0.0.1", -1},
      {"10.0.0.0/8, nope", "10.0.0.1", -1},
      {"localhost", "127.0.0.1", -1},
      {"::ffff:10.0.0.0/8", "10.0.0.1", -1},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    edge_cidrs *l = NULL;
    const char *why = NULL;
    int rc = edge_cidrs_parse(c[i].list, strlen(c[i].list), &l, &why);
    if (c[i].in < 0) {
      CHECK_EQ_INT(rc, WSIO_EINVAL);
      CHECK(why != NULL && l == NULL);
      continue;
    }
    CHECK_EQ_INT(rc, 0);
    edge_ip ip = ip_of(c[i].ip);
    CHECK_EQ_INT(edge_cidrs_contains(l, &ip), c[i].in);
    if (edge_cidrs_contains(l, &ip) != c[i].in) fprintf(stderr, "  case %zu\n", i);
    edge_cidrs_free(l);
  }
}

/* The trusted proxies of every case below. */
static const char trusted_list[] = "10.0.0.0/8, 127.0.0.1, fd00::/8";

static void run_case(size_t i, const char *peer, const char *l1, const char *l2, edge_fwd_header which,
                     const char *want, edge_ip_source want_src) {
  edge_cidrs *t;
  CHECK_EQ_INT(edge_cidrs_parse(trusted_list, strlen(trusted_list), &t, NULL), 0);
  const char *vals[2] = {l1, l2};
  size_t lens[2] = {l1 ? strlen(l1) : 0, l2 ? strlen(l2) : 0};
  size_t n = l2 ? 2 : l1 ? 1 : 0;
  edge_ip p = ip_of(peer), out, out2;
  edge_ip_source src = edge_client_ip_values(t, &p, vals, lens, n, which, &out);
  char buf[EDGE_IP_STRLEN];
  edge_ip_format(&out, buf);
  CHECK_STR(buf, want);
  CHECK_EQ_INT(src, want_src);
  if (strcmp(buf, want) != 0) fprintf(stderr, "  case %zu: got %s\n", i, buf);
  /* The same through a parsed request, with the header lines among others. */
  http_header hs[4];
  const char *name = which == EDGE_FWD_FORWARDED ? "forwarded" : "x-forwarded-for";
  const char *other = which == EDGE_FWD_FORWARDED ? "X-Forwarded-For" : "Forwarded";
  size_t k = 0;
  hs[k++] = (http_header){other, strlen(other), "for=6.6.6.6", 11};
  for (size_t j = 0; j < n; j++) hs[k++] = (http_header){name, strlen(name), vals[j], lens[j]};
  hs[k++] = (http_header){"Host", 4, "x", 1};
  http_request req;
  memset(&req, 0, sizeof req);
  req.headers = hs;
  req.num_headers = k;
  CHECK_EQ_INT(edge_client_ip(t, &p, &req, which, &out2), src);
  CHECK(edge_ip_equal(&out, &out2));
  edge_cidrs_free(t);
}

static void test_xff(void) {
  static const struct {
    const char *peer, *l1, *l2, *want;
    edge_ip_source src;
  } c[] = {
      /* An untrusted peer's header is ignored. */
      {"203.0.113.9", "1.2.3.4", NULL, "203.0.113.9", EDGE_IP_FROM_PEER},
      {"10.0.0.1", NULL, NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "198.51.100.7", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      /* The client wrote a spoofed left part; the proxy appended the real address. */
      {"10.0.0.1", "1.1.1.1, 198.51.100.7", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      /* Two trusted hops. */
      {"10.0.0.1", "1.1.1.1, 198.51.100.7, 10.0.0.2", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      /* Every hop trusted: the left-most. */
      {"10.0.0.1", "10.0.0.3, 10.0.0.2", NULL, "10.0.0.3", EDGE_IP_FROM_HEADER},
      /* Several lines are one list, in order. */
      {"10.0.0.1", "1.1.1.1", "198.51.100.7, 10.0.0.2", "198.51.100.7", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "198.51.100.7", "10.0.0.2", "198.51.100.7", EDGE_IP_FROM_HEADER},
      /* Ports, IPv6, mapped addresses. */
      {"10.0.0.1", "198.51.100.7:5555", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "2001:db8::7", NULL, "2001:db8::7", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "[2001:db8::7]:443", NULL, "2001:db8::7", EDGE_IP_FROM_HEADER},
      {"::ffff:10.0.0.1", "::ffff:198.51.100.7", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      {"fd00::5", "198.51.100.7, fd00::9", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      /* Garbage stops the walk at the last address believed. */
      {"10.0.0.1", "198.51.100.7, garbage", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "garbage, 10.0.0.2", NULL, "10.0.0.2", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "unknown", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "1.2.3.4:", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "1.2.3.4:99999x", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "[1.2.3.4]", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "[::ffff:198.51.100.7]:80", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "2001:db8::7:80", NULL, "2001:db8::7:80", EDGE_IP_FROM_HEADER}, /* a valid IPv6 */
      /* Empty elements are not hops. */
      {"10.0.0.1", " , 198.51.100.7 ,, ", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
    run_case(i, c[i].peer, c[i].l1, c[i].l2, EDGE_FWD_XFF, c[i].want, c[i].src);
}

static void test_forwarded(void) {
  static const struct {
    const char *peer, *l1, *l2, *want;
    edge_ip_source src;
  } c[] = {
      {"203.0.113.9", "for=1.2.3.4", NULL, "203.0.113.9", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "for=198.51.100.7", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "For=198.51.100.7;proto=https;by=10.0.0.1", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "proto=https; for=198.51.100.7", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "for=\"[2001:db8:cafe::17]:4711\"", NULL, "2001:db8:cafe::17", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "for=\"198.51.100.7:80\"", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "for=1.1.1.1, for=198.51.100.7", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "for=1.1.1.1, for=198.51.100.7;host=\"a,b\", for=10.0.0.2", NULL, "198.51.100.7",
       EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "for=1.1.1.1", "for=198.51.100.7, for=10.0.0.2", "198.51.100.7", EDGE_IP_FROM_HEADER},
      {"10.0.0.1", "for=\"1\\98.51.100.7\"", NULL, "198.51.100.7", EDGE_IP_FROM_HEADER}, /* quoted-pair */
      /* Not usable: unknown, obfuscated, no for=, two for=, unterminated quote, junk. */
      {"10.0.0.1", "for=unknown", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "for=198.51.100.7, for=_hidden", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "for=198.51.100.7, proto=https", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "for=198.51.100.7;for=1.1.1.1", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "for=\"198.51.100.7", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "for=198.51.100.7 x", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "=198.51.100.7", NULL, "10.0.0.1", EDGE_IP_FROM_PEER},
      {"10.0.0.1", "for=unknown, for=10.0.0.2", NULL, "10.0.0.2", EDGE_IP_FROM_HEADER},
      /* A quoted value longer than any address. */
      {"10.0.0.1", "for=\"1111111111111111111111111111111111111111111111111111111111111\"", NULL, "10.0.0.1",
       EDGE_IP_FROM_PEER},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
    run_case(100 + i, c[i].peer, c[i].l1, c[i].l2, EDGE_FWD_FORWARDED, c[i].want, c[i].src);
}

static void test_long_chain(void) {
  /* 1000 trusted hops after a client address: only the right-most EDGE_FWD_MAX_HOPS
   * are examined, so the walk ends at the left-most of those (trusted). */
  static char line[20000];
  size_t n = (size_t)snprintf(line, sizeof line, "198.51.100.7");
  for (int i = 0; i < 1000; i++) n += (size_t)snprintf(line + n, sizeof line - n, ", 10.0.%d.%d", i / 250, i % 250);
  run_case(200, "10.0.0.1", line, NULL, EDGE_FWD_XFF, "10.0.3.218", EDGE_IP_FROM_HEADER);
  /* Exactly EDGE_FWD_MAX_HOPS - 1 trusted hops: the client is still reached. */
  n = (size_t)snprintf(line, sizeof line, "198.51.100.7");
  for (int i = 0; i < EDGE_FWD_MAX_HOPS - 1; i++) n += (size_t)snprintf(line + n, sizeof line - n, ", 10.0.0.%d", i);
  run_case(201, "10.0.0.1", line, NULL, EDGE_FWD_XFF, "198.51.100.7", EDGE_IP_FROM_HEADER);
}

int main(void) {
  RUN(test_ip);
  RUN(test_cidrs);
  RUN(test_xff);
  RUN(test_forwarded);
  RUN(test_long_chain);
  return test_report();
}
