/* tests/unit/test_http_response_parser.c — unit tests for http_parse_response
 * (src/http/parser.c), the client's reader of the server's upgrade answer.
 *
 * Owns: the response parser's contract as tables: what parses and into which
 * spans, that every strict prefix of a valid head is INCOMPLETE, and what is
 * rejected. */
#include <stdint.h>
#include <string.h>

#include "http/parser.h"
#include "test.h"

#define MAX_HDRS 16

static int parse(const char *s, size_t len, http_response *res,
                 http_header *hdrs, size_t max) {
  memset(res, 0, sizeof *res);
  res->headers = hdrs;
  return http_parse_response(s, len, res, max);
}

static int span_is(const char *p, size_t n, const char *want) {
  return p != NULL && n == strlen(want) && memcmp(p, want, n) == 0;
}

typedef struct {
  const char *raw;
  int status, minor;
  const char *reason;
  size_t num_headers;
  const char *h0_name, *h0_value;
} valid_case;

static const valid_case valid_cases[] = {
    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
     "Upgrade\r\n"
     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
     101, 1, "Switching Protocols", 3, "Upgrade", "websocket"},
    {"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 403, 1, "Forbidden",
     1, "Content-Length", "0"},
    {"HTTP/1.0 200 OK\n\n", 200, 0, "OK", 0, NULL, NULL},
    {"HTTP/1.1 101\r\nUpgrade:  websocket  \r\n\r\n", 101, 1, "", 1, "Upgrade",
     "websocket"},
    {"HTTP/1.1 101 \r\n\r\n", 101, 1, "", 0, NULL, NULL},
    {"HTTP/1.1 599 Weird \xC3\xA9 text\r\n\r\n", 599, 1, "Weird \xC3\xA9 text",
     0, NULL, NULL},
};

static void test_valid(void) {
  for (size_t i = 0; i < sizeof valid_cases / sizeof valid_cases[0]; i++) {
    const valid_case *v = &valid_cases[i];
    http_header hdrs[MAX_HDRS];
    http_response res;
    size_t len = strlen(v->raw);
    CHECK_EQ_INT(parse(v->raw, len, &res, hdrs, MAX_HDRS), (int)len);
    CHECK_EQ_INT(res.status, v->status);
    CHECK_EQ_INT(res.version_major, 1);
    CHECK_EQ_INT(res.version_minor, v->minor);
    CHECK(span_is(res.reason, res.reason_len, v->reason));
    CHECK_EQ_INT((int)res.num_headers, (int)v->num_headers);
    if (v->num_headers) {
      CHECK(span_is(hdrs[0].name, hdrs[0].name_len, v->h0_name));
      CHECK(span_is(hdrs[0].value, hdrs[0].value_len, v->h0_value));
    }
  }
}

/* The client re-parses as bytes arrive: a strict prefix is never an error. */
static void test_every_prefix_incomplete(void) {
  for (size_t i = 0; i < sizeof valid_cases / sizeof valid_cases[0]; i++) {
    const char *raw = valid_cases[i].raw;
    size_t len = strlen(raw);
    for (size_t n = 0; n < len; n++) {
      http_header hdrs[MAX_HDRS];
      http_response res;
      CHECK_EQ_INT(parse(raw, n, &res, hdrs, MAX_HDRS), HTTP_PARSE_INCOMPLETE);
    }
  }
}

/* Bytes after the head are not part of it (frames may follow in the same read).
 */
static void test_trailing_bytes(void) {
  const char *raw = "HTTP/1.1 101 OK\r\nA: b\r\n\r\n\x81\x02hi";
  http_header hdrs[MAX_HDRS];
  http_response res;
  CHECK_EQ_INT(parse(raw, strlen(raw), &res, hdrs, MAX_HDRS),
               (int)strlen(raw) - 4);
}

static void test_malformed(void) {
  static const char *const bad[] = {
      "HTTP/1.1 10 OK\r\n\r\n",   /* two-digit status */
      "HTTP/1.1 1010 OK\r\n\r\n", /* four digits */
      "HTTP/1.1 099 OK\r\n\r\n",  /* below 100 */
      "HTTP/1.1  101 OK\r\n\r\n", /* two spaces */
      "HTTP/1.1 abc OK\r\n\r\n",
      "HTTP/x.1 101 OK\r\n\r\n",
      "http/1.1 101 OK\r\n\r\n",     /* the version is case-sensitive */
      "GET / HTTP/1.1\r\n\r\n",      /* a request */
      "HTTP/1.1 101 O\x01K\r\n\r\n", /* control in the reason */
      "HTTP/1.1 101 OK\r\n folded\r\n\r\n",
      "HTTP/1.1 101 OK\r\nBad Name: x\r\n\r\n",
      "HTTP/1.1 101 OK\r\nA: b\rc\r\n\r\n", /* lone CR */
      "HTTP/1.1 101 OK\r\nA: \x00\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    http_header hdrs[MAX_HDRS];
    http_response res;
    size_t len = strlen(bad[i]);
    if (i == sizeof bad / sizeof bad[0] - 1)
      len = 24; /* through the NUL */
    CHECK_EQ_INT(parse(bad[i], len, &res, hdrs, MAX_HDRS), HTTP_PARSE_ERROR);
  }
}

static void test_limits_and_lookup(void) {
  const char *raw = "HTTP/1.1 101 OK\r\nA: 1\r\nb: 2\r\nB: 3\r\n\r\n";
  http_header hdrs[MAX_HDRS];
  http_response res;
  CHECK_EQ_INT(parse(raw, strlen(raw), &res, hdrs, 2),
               HTTP_PARSE_TOO_MANY_HEADERS);
  CHECK_EQ_INT(parse(raw, strlen(raw), &res, hdrs, MAX_HDRS), (int)strlen(raw));
  const http_header *h = http_response_header_find(&res, "B");
  CHECK(h && span_is(h->value, h->value_len, "2"));
  CHECK_EQ_INT((int)http_response_header_count(&res, "b"), 2);
  CHECK(http_response_header_find(&res, "C") == NULL);
}

int main(void) {
  RUN(test_valid);
  RUN(test_every_prefix_incomplete);
  RUN(test_trailing_bytes);
  RUN(test_malformed);
  RUN(test_limits_and_lookup);
  return test_report();
}
