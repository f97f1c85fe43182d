/* tests/unit/test_http_parser.c — unit tests for src/http/parser.c.
 *
 * Owns: the parser's contract as tables of requests: what parses and into which spans,
 * that every strict prefix of a valid head is INCOMPLETE (callers re-parse as bytes
 * arrive), what is rejected, and the header-value helpers. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http/parser.h"
#include "test.h"

#define MAX_HDRS 32

static int parse(const char *s, size_t len, http_request *req, http_header *hdrs, size_t max) {
  memset(req, 0, sizeof *req);
  req->headers = hdrs;
  return http_parse_request(s, len, req, max);
}

static int span_is(const char *p, size_t n, const char *want) {
  return p != NULL && n == strlen(want) && memcmp(p, want, n) == 0;
}

/* Valid requests: spans are checked against expectations. */
typedef struct {
  const char *name;
  const char *raw;
  const char *method, *path, *query; /* query NULL: none expected */
  int major, minor;
  size_t num_headers;
  const char *h0_name, *h0_value; /* first header, when num_headers > 0 */
  const char *hl_name, *hl_value; /* last header, when num_headers > 0 */
} valid_case;

static const valid_case valid_cases[] = {
    {"get upgrade",
     "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
     "GET", "/chat", NULL, 1, 1, 5, "Host", "example.com", "Sec-WebSocket-Version", "13"},
    {"bare lf", "GET / HTTP/1.1\nHost: a\n\n", "GET", "/", NULL, 1, 1, 1, "Host", "a", "Host",
     "a"},
    {"mixed line ends", "GET / HTTP/1.0\r\nA: 1\nB: 2\r\n\n", "GET", "/", NULL, 1, 0, 2, "A", "1",
     "B", "2"},
    {"query split", "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n", "GET",
     "/socket.io/", "EIO=4&transport=polling", 1, 1, 0, NULL, NULL, NULL, NULL},
    {"first ? splits", "GET /a?b?c HTTP/1.1\r\n\r\n", "GET", "/a", "b?c", 1, 1, 0, NULL, NULL,
     NULL, NULL},
    {"empty query", "GET /a? HTTP/1.1\r\n\r\n", "GET", "/a", "", 1, 1, 0, NULL, NULL, NULL, NULL},
    {"empty header value", "GET / HTTP/1.1\r\nX-Empty:\r\nY:   \r\n\r\n", "GET", "/", NULL, 1, 1,
     2, "X-Empty", "", "Y", ""},
    {"ows trimmed", "GET / HTTP/1.1\r\nX: \t a b \t\r\n\r\n", "GET", "/", NULL, 1, 1, 1, "X",
     "a b", "X", "a b"},
    {"obs-text value", "GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", "GET", "/", NULL, 1, 1, 1, "X",
     "caf\xc3\xa9", "X", "caf\xc3\xa9"},
    {"obs-text target", "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", "GET", "/caf\xc3\xa9", NULL, 1, 1, 0,
     NULL, NULL, NULL, NULL},
    {"token method", "M-SEARCH * HTTP/1.1\r\n\r\n", "M-SEARCH", "*", NULL, 1, 1, 0, NULL, NULL,
     NULL, NULL},
    {"post", "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "POST", "/x", NULL, 1, 1, 1,
     "Content-Length", "5", "Content-Length", "5"},
    {"leading empty line", "\r\nGET / HTTP/1.1\r\n\r\n", "GET", "/", NULL, 1, 1, 0, NULL, NULL,
     NULL, NULL},
    {"http/2.0 parsed", "GET / HTTP/2.0\r\n\r\n", "GET", "/", NULL, 2, 0, 0, NULL, NULL, NULL,
     NULL},
    {"colon in value", "GET / HTTP/1.1\r\nHost: a:80\r\n\r\n", "GET", "/", NULL, 1, 1, 1, "Host",
     "a:80", "Host", "a:80"},
};

static size_t head_len(const char *raw) {
  const char *crlf = strstr(raw, "\r\n\r\n");
  const char *lf = strstr(raw, "\n\n");
  const char *mixed = strstr(raw, "\n\r\n");
  size_t best = strlen(raw);
  if (crlf && (size_t)(crlf - raw) + 4 < best)
    best = (size_t)(crlf - raw) + 4;
  if (lf && (size_t)(lf - raw) + 2 < best)
    best = (size_t)(lf - raw) + 2;
  if (mixed && (size_t)(mixed - raw) + 3 < best)
    best = (size_t)(mixed - raw) + 3;
  return best;
}

static void test_valid(void) {
  for (size_t i = 0; i < sizeof valid_cases / sizeof valid_cases[0]; i++) {
    const valid_case *vc = &valid_cases[i];
    http_header hdrs[MAX_HDRS];
    http_request req;
    size_t len = strlen(vc->raw);
    test_current = vc->name;
    int r = parse(vc->raw, len, &req, hdrs, MAX_HDRS);
    CHECK_EQ_INT(r, head_len(vc->raw));
    if (r < 0)
      continue;
    CHECK(span_is(req.method, req.method_len, vc->method));
    CHECK(span_is(req.path, req.path_len, vc->path));
    if (vc->query)
      CHECK(span_is(req.query, req.query_len, vc->query));
    else
      CHECK(req.query == NULL && req.query_len == 0);
    CHECK(req.target + req.target_len <= vc->raw + r);
    CHECK_EQ_INT(req.version_major, vc->major);
    CHECK_EQ_INT(req.version_minor, vc->minor);
    CHECK_EQ_INT(req.num_headers, vc->num_headers);
    if (vc->num_headers == 0 || req.num_headers != vc->num_headers)
      continue;
    const http_header *h0 = &req.headers[0], *hl = &req.headers[req.num_headers - 1];
    CHECK(span_is(h0->name, h0->name_len, vc->h0_name));
    CHECK(span_is(h0->value, h0->value_len, vc->h0_value));
    CHECK(span_is(hl->name, hl->name_len, vc->hl_name));
    CHECK(span_is(hl->value, hl->value_len, vc->hl_value));
  }
}

static void test_target_spans(void) {
  const char *raw = "GET /p?q=1 HTTP/1.1\r\n\r\n";
  http_header hdrs[1];
  http_request req;
  CHECK(parse(raw, strlen(raw), &req, hdrs, 1) > 0);
  CHECK(span_is(req.target, req.target_len, "/p?q=1"));
  CHECK(req.path == req.target);
  CHECK(req.query == req.target + 3);
}

/* The target and header values are skipped eight bytes at a time: every byte value at
 * every position of a long target and a long value (so it falls in a first, a middle or
 * a last word, or in the bytes after the last whole word) must be judged as the grammar
 * says, byte by byte: a value takes HTAB, SP, VCHAR and obs-text (RFC 9110 5.5), a
 * target anything visible and obs-text (RFC 9112 3.2); the rest is an error (SP ends
 * the target: then the version is wrong). Each accepted one keeps its exact span. */
static int value_byte_ok(unsigned b) { return b == '\t' || (b >= 0x20 && b != 0x7F); }
static int target_byte_ok(unsigned b) { return b > 0x20 && b != 0x7F; }

static void test_word_scans_every_byte(void) {
  const char *base_target = "/socket.io/?EIO=4&transport=polling&t=abc";
  const char *base_value = "text/plain;charset=UTF-8;q=1";
  size_t tl = strlen(base_target), vl = strlen(base_value);
  for (unsigned b = 1; b < 256; b++) {
    for (size_t at = 1; at < tl; at++) {
      char t[64], raw[256];
      memcpy(t, base_target, tl);
      t[at] = (char)b;
      int n = snprintf(raw, sizeof raw, "GET %.*s HTTP/1.1\r\nHost: a\r\n\r\n", (int)tl, t);
      http_header hdrs[4];
      http_request req;
      int r = parse(raw, (size_t)n, &req, hdrs, 4);
      if (target_byte_ok(b)) {
        CHECK_EQ_INT(r, n);
        CHECK(req.target_len == tl && memcmp(req.target, t, tl) == 0);
        const char *q = memchr(t, '?', tl);
        CHECK(req.query == (q ? req.target + (q - t) + 1 : NULL));
      } else if (b == '\r' || b == '\n' || b == ' ') {
        CHECK(r == HTTP_PARSE_ERROR || r == HTTP_PARSE_INCOMPLETE);
      } else {
        CHECK_EQ_INT(r, HTTP_PARSE_ERROR);
      }
    }
    for (size_t at = 1; at + 1 < vl; at++) { /* (inner bytes: OWS at the ends is trimmed) */
      char v[64], raw[256];
      memcpy(v, base_value, vl);
      v[at] = (char)b;
      int n = snprintf(raw, sizeof raw, "POST / HTTP/1.1\r\nContent-Type: %.*s\r\nA: b\r\n\r\n", (int)vl, v);
      http_header hdrs[4];
      http_request req;
      int r = parse(raw, (size_t)n, &req, hdrs, 4);
      if (value_byte_ok(b)) {
        CHECK_EQ_INT(r, n);
        CHECK(req.num_headers == 2 && span_is(req.headers[1].value, req.headers[1].value_len, "b"));
        CHECK(req.headers[0].value_len == vl && memcmp(req.headers[0].value, v, vl) == 0);
      } else if (b == '\n') { /* a bare LF ends the line early: the rest is a bad name */
        CHECK(r == HTTP_PARSE_ERROR || r > 0);
      } else {
        CHECK_EQ_INT(r, HTTP_PARSE_ERROR);
      }
    }
  }
}

/* The version is read in one step when eight bytes are there, byte by byte otherwise:
 * both must give the same answer for every near miss. */
static void test_version_shapes(void) {
  static const struct {
    const char *v;
    int r; /* 1: parses */
    int major, minor;
  } cases[] = {{"HTTP/1.1", 1, 1, 1}, {"HTTP/1.0", 1, 1, 0}, {"HTTP/2.0", 1, 2, 0}, {"HTTP/9.9", 1, 9, 9},
               {"HTTP/1,1", 0, 0, 0}, {"HTTP/a.1", 0, 0, 0}, {"HTTP/1.x", 0, 0, 0}, {"http/1.1", 0, 0, 0},
               {"HTTP 1.1", 0, 0, 0}, {"HTTP/11", 0, 0, 0},  {"HTTP/1.12", 0, 0, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char raw[64];
    int n = snprintf(raw, sizeof raw, "GET / %s\r\n\r\n", cases[i].v);
    http_header hdrs[1];
    http_request req;
    int r = parse(raw, (size_t)n, &req, hdrs, 1);
    test_current = cases[i].v;
    if (cases[i].r) {
      CHECK_EQ_INT(r, n);
      CHECK_EQ_INT(req.version_major, cases[i].major);
      CHECK_EQ_INT(req.version_minor, cases[i].minor);
    } else {
      CHECK_EQ_INT(r, HTTP_PARSE_ERROR);
    }
  }
  test_current = "test_version_shapes";
}

/* Every strict prefix of a valid head must say "need more", never "bad". */
static void test_every_prefix_incomplete(void) {
  for (size_t i = 0; i < sizeof valid_cases / sizeof valid_cases[0]; i++) {
    const valid_case *vc = &valid_cases[i];
    size_t hl = head_len(vc->raw);
    test_current = vc->name;
    for (size_t n = 0; n < hl; n++) {
      http_header hdrs[MAX_HDRS];
      http_request req;
      int r = parse(vc->raw, n, &req, hdrs, MAX_HDRS);
      if (r != HTTP_PARSE_INCOMPLETE)
        fprintf(stderr, "  prefix of %zu bytes gave %d\n", n, r);
      CHECK_EQ_INT(r, HTTP_PARSE_INCOMPLETE);
    }
  }
  test_current = "test_every_prefix_incomplete";
}

typedef struct {
  const char *name;
  const char *raw;
  size_t len; /* 0: strlen(raw); else raw holds a NUL */
} bad_case;

static const bad_case bad_cases[] = {
    {"paren in method", "GE(T / HTTP/1.1\r\n\r\n", 0},
    {"slash in method", "GET/ / HTTP/1.1\r\n\r\n", 0},
    {"empty method", " / HTTP/1.1\r\n\r\n", 0},
    {"tab after method", "GET\t/ HTTP/1.1\r\n\r\n", 0},
    {"missing target", "GET HTTP/1.1\r\n\r\n", 0},
    {"two spaces", "GET  / HTTP/1.1\r\n\r\n", 0},
    {"no version", "GET /\r\n\r\n", 0},
    {"ctl in target", "GET /a\x01 HTTP/1.1\r\n\r\n", 0},
    {"del in target", "GET /a\x7f HTTP/1.1\r\n\r\n", 0},
    {"lowercase version", "GET / http/1.1\r\n\r\n", 0},
    {"bad version digit", "GET / HTTP/1.x\r\n\r\n", 0},
    {"long version", "GET / HTTP/1.10\r\n\r\n", 0},
    {"no minor", "GET / HTTP/1\r\n\r\n", 0},
    {"space after version", "GET / HTTP/1.1 \r\n\r\n", 0},
    {"cr without lf", "GET / HTTP/1.1\rX: 1\r\n\r\n", 0},
    {"space in name", "GET / HTTP/1.1\r\nHo st: a\r\n\r\n", 0},
    {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 0},
    {"empty name", "GET / HTTP/1.1\r\n: a\r\n\r\n", 0},
    {"no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", 0},
    {"obs-fold", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 0},
    {"obs-fold tab", "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 0},
    {"space before first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 0},
    {"nul in value", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26},
    {"nul in name", "GET / HTTP/1.1\r\nX\0: a\r\n\r\n", 25},
    {"lone cr in value", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 0},
    {"del in value", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", 0},
    {"ctl in value", "GET / HTTP/1.1\r\nX: a\x1b\r\n\r\n", 0},
    {"cr cr at end", "GET / HTTP/1.1\r\n\r\r", 0},
    {"utf-8 in name", "GET / HTTP/1.1\r\nX\xc3\xa9: a\r\n\r\n", 0},
};

static void test_malformed(void) {
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case *bc = &bad_cases[i];
    http_header hdrs[MAX_HDRS];
    http_request req;
    size_t len = bc->len ? bc->len : strlen(bc->raw);
    test_current = bc->name;
    CHECK_EQ_INT(parse(bc->raw, len, &req, hdrs, MAX_HDRS), HTTP_PARSE_ERROR);
  }
  test_current = "test_malformed";
}

static void test_many_headers(void) {
  char raw[2048];
  size_t n = (size_t)snprintf(raw, sizeof raw, "GET / HTTP/1.1\r\n");
  for (int i = 0; i < MAX_HDRS; i++)
    n += (size_t)snprintf(raw + n, sizeof raw - n, "X-H%d: v%d\r\n", i, i);
  n += (size_t)snprintf(raw + n, sizeof raw - n, "\r\n");

  http_header hdrs[MAX_HDRS + 1];
  http_request req;
  CHECK_EQ_INT(parse(raw, n, &req, hdrs, MAX_HDRS), n);
  CHECK_EQ_INT(req.num_headers, MAX_HDRS);
  CHECK(span_is(req.headers[MAX_HDRS - 1].name, req.headers[MAX_HDRS - 1].name_len, "X-H31"));
  CHECK(span_is(req.headers[MAX_HDRS - 1].value, req.headers[MAX_HDRS - 1].value_len, "v31"));

  CHECK_EQ_INT(parse(raw, n, &req, hdrs, MAX_HDRS - 1), HTTP_PARSE_TOO_MANY_HEADERS);
  CHECK_EQ_INT(parse(raw, n, &req, NULL, 0), HTTP_PARSE_TOO_MANY_HEADERS);

  const char *none = "GET / HTTP/1.1\r\n\r\n";
  CHECK_EQ_INT(parse(none, strlen(none), &req, NULL, 0), strlen(none));
}

static void test_header_lookup(void) {
  const char *raw = "GET / HTTP/1.1\r\nHost: a\r\nsec-websocket-key: k1\r\n"
                    "SEC-WEBSOCKET-KEY: k2\r\nX: 1\r\nX^: 2\r\n\r\n";
  http_header hdrs[MAX_HDRS];
  http_request req;
  CHECK(parse(raw, strlen(raw), &req, hdrs, MAX_HDRS) > 0);
  const http_header *h = http_header_find(&req, "HOST");
  CHECK(h != NULL && span_is(h->value, h->value_len, "a"));
  h = http_header_find(&req, "Sec-WebSocket-Key");
  CHECK(h != NULL && span_is(h->value, h->value_len, "k1"));
  CHECK(http_header_find(&req, "Hos") == NULL);
  CHECK(http_header_find(&req, "Hostx") == NULL);
  CHECK(http_header_find(&req, "Upgrade") == NULL);
  CHECK_EQ_INT(http_header_count(&req, "sec-websocket-key"), 2);
  CHECK_EQ_INT(http_header_count(&req, "host"), 1);
  CHECK_EQ_INT(http_header_count(&req, "origin"), 0);
  /* Same length (the fast path compares lengths first), then every byte: */
  CHECK(http_header_find(&req, "Sec-WebSocket-Kez") == NULL);
  CHECK(http_header_find(&req, "Hosu") == NULL);
  CHECK_EQ_INT(http_header_count(&req, "SEC-WEBSOCKET-KEZ"), 0);
  /* '^' and '~' differ by the case bit, but only letters fold. */
  CHECK(http_header_find(&req, "X~") == NULL);
  h = http_header_find(&req, "x^");
  CHECK(h != NULL && span_is(h->value, h->value_len, "2"));
}

typedef struct {
  const char *value;
  const char *token;
  int want;
} list_case;

static const list_case list_cases[] = {
    {"keep-alive, Upgrade", "upgrade", 1},
    {"Upgrade", "upgrade", 1},
    {"upgrades", "upgrade", 0},
    {"upgrade-x, xupgrade", "upgrade", 0},
    {"keep-alive,upgrade", "upgrade", 1},
    {" ,, \t upgrade \t ,", "upgrade", 1},
    {"", "upgrade", 0},
    {",,,", "upgrade", 0},
    {"   ", "upgrade", 0},
    {"keep-alive", "upgrade", 0},
    {"up grade", "upgrade", 0},
    {"websocket", "WebSocket", 1},
};

static void test_token_list(void) {
  for (size_t i = 0; i < sizeof list_cases / sizeof list_cases[0]; i++) {
    const list_case *lc = &list_cases[i];
    int got = http_token_list_contains(lc->value, strlen(lc->value), lc->token);
    if (got != lc->want)
      fprintf(stderr, "  list \"%s\" token \"%s\"\n", lc->value, lc->token);
    CHECK_EQ_INT(got, lc->want);
  }
  /* Length bounds the search: "upgrade" is past len here. */
  CHECK_EQ_INT(http_token_list_contains("a, upgrade", 3, "upgrade"), 0);
}

typedef struct {
  const char *value;
  int want_rc;
  uint64_t want;
} cl_case;

static const cl_case cl_cases[] = {
    {"0", 0, 0},
    {"5", 0, 5},
    {"007", 0, 7},
    {"1048576", 0, 1048576},
    {"9007199254740992", 0, (uint64_t)1 << 53},
    {"9007199254740993", -1, 0},
    {"99999999999999999999999999", -1, 0},
    {"", -1, 0},
    {"+5", -1, 0},
    {"-5", -1, 0},
    {"5a", -1, 0},
    {"0x10", -1, 0},
    {" 5", -1, 0},
    {"5, 5", -1, 0},
};

static void test_content_length(void) {
  for (size_t i = 0; i < sizeof cl_cases / sizeof cl_cases[0]; i++) {
    const cl_case *cc = &cl_cases[i];
    uint64_t out = 12345;
    int rc = http_parse_content_length(cc->value, strlen(cc->value), &out);
    if (rc != cc->want_rc)
      fprintf(stderr, "  content-length \"%s\"\n", cc->value);
    CHECK_EQ_INT(rc, cc->want_rc);
    if (cc->want_rc == 0)
      CHECK(out == cc->want);
    else
      CHECK(out == 12345); /* untouched on error */
  }
}

static void test_str_ieq(void) {
  CHECK(http_str_ieq("upgrade", "Upgrade", 7));
  CHECK(http_str_ieq("HOST", "host", 4));
  CHECK(http_str_ieq("", "", 0));
  CHECK(!http_str_ieq("host", "hos", 3));
  CHECK(!http_str_ieq("hos", "host", 4));
  CHECK(!http_str_ieq("host", "hosx", 4));
  CHECK(!http_str_ieq("a", "", 0));
  /* Only ASCII letters fold: '@' (0x40) and '`' (0x60) differ by the case bit. */
  CHECK(!http_str_ieq("@", "`", 1));
  CHECK(!http_str_ieq("[", "{", 1));
}

int main(void) {
  RUN(test_valid);
  RUN(test_target_spans);
  RUN(test_every_prefix_incomplete);
  RUN(test_word_scans_every_byte);
  RUN(test_version_shapes);
  RUN(test_malformed);
  RUN(test_many_headers);
  RUN(test_header_lookup);
  RUN(test_token_list);
  RUN(test_content_length);
  RUN(test_str_ieq);
  return test_report();
}
