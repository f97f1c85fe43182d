/* fuzz/fuzz_http_response.c — libFuzzer target for http_parse_response
 * (src/http/parser.c), which reads whatever a server (or anything posing as
 * one) answers to the client's upgrade request.
 *
 * Owns: trapping when a result breaks the contract: every span lies inside the
 * consumed head, the status has three digits, and a success on a buffer stays
 * the same success on any longer buffer that starts with it (the client
 * re-parses as bytes arrive). Must not: allocate or keep state between inputs.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http/parser.h"

#define FUZZ_MAX_HEADERS 32

static void require(int cond) {
  if (!cond)
    __builtin_trap();
}

static int span_in(const char *p, size_t n, const char *lo, const char *hi) {
  return p != NULL && p >= lo && p <= hi && n <= (size_t)(hi - p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  http_header headers[FUZZ_MAX_HEADERS];
  http_response res;
  memset(&res, 0, sizeof res);
  res.headers = headers;
  const char *buf = (const char *)data;
  int r = http_parse_response(buf, size, &res, FUZZ_MAX_HEADERS);
  require(r > 0 || r == HTTP_PARSE_INCOMPLETE || r == HTTP_PARSE_ERROR ||
          r == HTTP_PARSE_TOO_MANY_HEADERS);
  if (r <= 0)
    return 0;
  const char *end = buf + r;
  require((size_t)r <= size && buf[r - 1] == '\n');
  require(res.status >= 100 && res.status <= 999);
  require(span_in(res.reason, res.reason_len, buf, end));
  require(memchr(res.reason, '\r', res.reason_len) == NULL &&
          memchr(res.reason, '\n', res.reason_len) == NULL);
  require(res.num_headers <= FUZZ_MAX_HEADERS);
  for (size_t i = 0; i < res.num_headers; i++) {
    require(span_in(headers[i].name, headers[i].name_len, buf, end) &&
            headers[i].name_len > 0);
    require(span_in(headers[i].value, headers[i].value_len, buf, end));
    require(memchr(headers[i].value, '\n', headers[i].value_len) == NULL);
  }
  /* The same head with one more byte after it parses the same way. */
  if ((size_t)r < size) {
    http_header h2[FUZZ_MAX_HEADERS];
    http_response res2;
    memset(&res2, 0, sizeof res2);
    res2.headers = h2;
    require(http_parse_response(buf, (size_t)r + 1, &res2, FUZZ_MAX_HEADERS) ==
            r);
    require(res2.status == res.status && res2.num_headers == res.num_headers);
  }
  return 0;
}
