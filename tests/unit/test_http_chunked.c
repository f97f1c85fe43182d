/* Unit tests for http/chunked.c: complete bodies, every incomplete prefix, malformed
 * encodings, the size limit. */
#include "http/chunked.h"
#include "test.h"

static void test_valid(void) {
  static const struct {
    const char *in;
    const char *body;
    long used;
  } cases[] = {
      {"5\r\nhello\r\n0\r\n\r\n", "hello", 15},
      {"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT", "hello world", 26},
      {"0\r\n\r\n", "", 5},
      {"A;ext=1\r\n0123456789\r\n0\r\n\r\n", "0123456789", 26},
      {"3\nabc\n0\n\n", "abc", 9},                                /* bare LF */
      {"2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n", "ok", 26},          /* trailers */
      {"1f\r\n0123456789012345678901234567890\r\n0\r\n\r\n", "0123456789012345678901234567890", 42},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char buf[256];
    size_t n = strlen(cases[i].in), blen = 99;
    memcpy(buf, cases[i].in, n);
    long r = http_chunked_decode(buf, n, &blen, 1 << 20);
    CHECK_EQ_INT(r, cases[i].used);
    CHECK_EQ_INT(blen, strlen(cases[i].body));
    CHECK_MEM(buf, cases[i].body, blen);
    /* every strict prefix is incomplete and leaves the buffer as it was */
    for (size_t k = 0; k < (size_t)cases[i].used; k++) {
      memcpy(buf, cases[i].in, n);
      CHECK_EQ_INT(http_chunked_decode(buf, k, &blen, 1 << 20), HTTP_CHUNKED_INCOMPLETE);
      CHECK_MEM(buf, cases[i].in, k);
    }
  }
}

static void test_invalid(void) {
  static const char *const bad[] = {
      "\r\n",                /* no size */
      "g\r\n",               /* not hex */
      "-1\r\n",              /* sign */
      "5x\r\nhello\r\n",     /* junk after size */
      "5\r\nhelloXX0\r\n\r\n", /* data not followed by CRLF */
      "ffffffffffffffffff\r\n", /* overflow */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char buf[64];
    size_t n = strlen(bad[i]), blen;
    memcpy(buf, bad[i], n);
    CHECK_EQ_INT(http_chunked_decode(buf, n, &blen, 1 << 20), HTTP_CHUNKED_ERROR);
  }
}

static void test_limit(void) {
  char buf[64];
  size_t blen;
  const char *in = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
  memcpy(buf, in, strlen(in));
  CHECK_EQ_INT(http_chunked_decode(buf, strlen(in), &blen, 9), HTTP_CHUNKED_TOO_LARGE);
  memcpy(buf, in, strlen(in));
  CHECK_EQ_INT(http_chunked_decode(buf, strlen(in), &blen, 10), (long)strlen(in));
  CHECK_EQ_INT(blen, 10);
  /* a declared size over the limit fails before its data arrives */
  CHECK_EQ_INT(http_chunked_decode((char *)"100000\r\n", 8, &blen, 1000), HTTP_CHUNKED_TOO_LARGE);
}

int main(void) {
  RUN(test_valid);
  RUN(test_invalid);
  RUN(test_limit);
  return test_report();
}
