/* tests/unit/test_edge_origin.c — edge/origin.c: parsing --allowed-origins and matching
 * Origin values, table-driven. */
#include "edge/origin.h"
#include "test.h"
#include "wsio.h"

static void test_parse(void) {
  static const struct {
    const char *list;
    int ok;
    size_t n;
  } c[] = {
      {"https://a.com", 1, 1},
      {" https://a.com ,\thttp://b.com:8080 ", 1, 2},
      {"*", 1, 1},
      {"https://*.example.com", 1, 1},
      {"https://*.example.com:8443, https://example.com", 1, 2},
      {"http://[::1]:3000", 1, 1},
      {"https://a.com,,https://b.com,", 1, 2}, /* empty entries are skipped */
      {"", 0, 0},
      {" , ", 0, 0},
      {"a.com", 0, 0},                /* no scheme */
      {"*.example.com", 0, 0},        /* no scheme */
      {"https://a.com/", 0, 0},       /* a path */
      {"https://a.com/app", 0, 0},
      {"https://a.*.com", 0, 0},      /* '*' not first */
      {"https://*", 0, 0},
      {"https://*.", 0, 0},
      {"https://**.a.com", 0, 0},
      {"https://a..com", 0, 0},
      {"https://a.com:0", 0, 0},
      {"https://a.com:65536", 0, 0},
      {"https://a.com:", 0, 0},
      {"https://a.com:8x", 0, 0},
      {"https://user@a.com", 0, 0},
      {"https://", 0, 0},
      {"https://a.com, nope", 0, 0},  /* one bad entry refuses the list */
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    edge_origins *o = NULL;
    const char *why = NULL;
    int rc = edge_origins_parse(c[i].list, strlen(c[i].list), &o, &why);
    CHECK_EQ_INT(rc, c[i].ok ? 0 : WSIO_EINVAL);
    if (c[i].ok) {
      CHECK(o != NULL && why == NULL);
      CHECK_EQ_INT(edge_origins_count(o), c[i].n);
    } else {
      CHECK(o == NULL && why != NULL);
    }
    if ((rc == 0) != c[i].ok) fprintf(stderr, "  case %zu: %s (%s)\n", i, c[i].list, why ? why : "");
    edge_origins_free(o);
  }
}

static void test_match(void) {
  static const struct {
    const char *list, *origin;
    int allowed;
  } c[] = {
      {"https://a.com", "https://a.com", 1},
      {"https://a.com", "HTTPS://A.COM", 1},           /* case-insensitive scheme and host */
      {"HTTPS://A.Com", "https://a.com", 1},
      {"https://a.com", "http://a.com", 0},            /* scheme as written */
      {"https://a.com", "https://a.com:443", 0},       /* no default port inferred */
      {"https://a.com:443", "https://a.com", 0},
      {"http://a.com:8080", "http://a.com:8080", 1},
      {"http://a.com:8080", "http://a.com:8081", 0},
      {"https://a.com", "https://a.com.evil.net", 0},
      {"https://a.com", "https://evila.com", 0},
      {"https://a.com", "https://a.com/", 0},          /* not a serialized origin */
      {"https://a.com", "https://a.com/path", 0},
      {"https://a.com", "https://user@a.com", 0},
      {"https://a.com", "https://a.com ", 0},
      {"https://a.com", "null", 0},
      {"https://a.com", "", 0},
      {"https://*.example.com", "https://a.example.com", 1},
      {"https://*.example.com", "https://a.b.example.com", 1}, /* one or more labels */
      {"https://*.example.com", "https://A.EXAMPLE.com", 1},
      {"https://*.example.com", "https://example.com", 0},     /* never the bare domain */
      {"https://*.example.com", "https://badexample.com", 0},  /* a label boundary */
      {"https://*.example.com", "https://.example.com", 0},
      {"https://*.example.com", "https://a..example.com", 0},
      {"https://*.example.com", "https://a.example.com.evil.net", 0},
      {"https://*.example.com", "http://a.example.com", 0},
      {"https://*.example.com", "https://a.example.com:8443", 0},
      {"https://*.example.com:8443", "https://a.example.com:8443", 1},
      {"https://*.example.com:8443", "https://a.example.com", 0},
      {"https://*.example.com, https://example.com", "https://example.com", 1},
      {"http://[::1]:3000", "http://[::1]:3000", 1},
      {"http://[::1]:3000", "http://[::2]:3000", 0},
      {"*", "https://anything.net", 1},
      {"*", "null", 1},
      {"*", "", 1},
      {"https://a.com, *", "http://b.org", 1},
      {"https://a.com, https://b.com", "https://b.com", 1},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    edge_origins *o = NULL;
    CHECK_EQ_INT(edge_origins_parse(c[i].list, strlen(c[i].list), &o, NULL), 0);
    int got = edge_origin_allowed(o, c[i].origin, strlen(c[i].origin));
    CHECK_EQ_INT(got, c[i].allowed);
    if (got != c[i].allowed) fprintf(stderr, "  case %zu: %s vs %s\n", i, c[i].list, c[i].origin);
    CHECK_EQ_INT(edge_origins_any(o), strchr(c[i].list, '*') && !strstr(c[i].list, "*."));
    edge_origins_free(o);
  }
  CHECK_EQ_INT(edge_origin_allowed(NULL, "https://a.com", 13), 0);
}

int main(void) {
  RUN(test_parse);
  RUN(test_match);
  return test_report();
}
