/* fuzz/fuzz_http_parser.c — libFuzzer target for src/http/parser.c.
 *
 * Owns: feeding arbitrary bytes to http_parse_request and trapping when a result breaks
 * the contract: every span lies inside the consumed head, path and query lie inside the
 * target, the version is single digits, and a success on a buffer stays the same
 * success on any longer buffer that starts with it (re-parsing is how callers go
 * incremental). Also runs the header-value helpers over every parsed value.
 * Must not: allocate or keep state between inputs. */
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

static void check_request(const http_request *req, const char *buf, int r) {
  const char *end = buf + r;
  require(span_in(req->method, req->method_len, buf, end) && req->method_len > 0);
  require(span_in(req->target, req->target_len, buf, end) && req->target_len > 0);
  const char *tend = req->target + req->target_len;
  require(req->path == req->target && span_in(req->path, req->path_len, req->target, tend));
  if (req->query != NULL) {
    require(span_in(req->query, req->query_len, req->target, tend));
    require(req->query == req->path + req->path_len + 1 && req->query[-1] == '?');
  } else {
    require(req->path_len == req->target_len && req->query_len == 0);
  }
  require(memchr(req->path, '?', req->path_len) == NULL);
  require(req->version_major >= 0 && req->version_major <= 9);
  require(req->version_minor >= 0 && req->version_minor <= 9);
  require(req->num_headers <= FUZZ_MAX_HEADERS);
  require(buf[r - 1] == '\n');
}

static void check_header(const http_header *h, const char *buf, int r) {
  const char *end = buf + r;
  require(span_in(h->name, h->name_len, buf, end) && h->name_len > 0);
  require(span_in(h->value, h->value_len, buf, end));
  require(memchr(h->name, ':', h->name_len) == NULL);
  require(memchr(h->value, '\r', h->value_len) == NULL);
  require(memchr(h->value, '\n', h->value_len) == NULL);
  require(memchr(h->value, '\0', h->value_len) == NULL);
  if (h->value_len > 0) {
    char first = h->value[0], last = h->value[h->value_len - 1];
    require(first != ' ' && first != '\t' && last != ' ' && last != '\t');
  }

  /* The helpers must stay inside value[0..len) and agree with themselves. */
  (void)http_token_list_contains(h->value, h->value_len, "upgrade");
  (void)http_token_list_contains(h->value, h->value_len, "");
  uint64_t n = 0;
  if (http_parse_content_length(h->value, h->value_len, &n) == 0)
    require(n <= ((uint64_t)1 << 53) && h->value_len > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  http_header headers[FUZZ_MAX_HEADERS];
  http_request req;
  memset(&req, 0, sizeof req);
  req.headers = headers;
  const char *buf = (const char *)data;

  int r = http_parse_request(buf, size, &req, FUZZ_MAX_HEADERS);
  require(r > 0 || r == HTTP_PARSE_INCOMPLETE || r == HTTP_PARSE_ERROR ||
          r == HTTP_PARSE_TOO_MANY_HEADERS);
  if (r <= 0)
    return 0;
  require((size_t)r <= size);
  check_request(&req, buf, r);
  for (size_t i = 0; i < req.num_headers; i++)
    check_header(&req.headers[i], buf, r);
  require(http_header_count(&req, "host") <= req.num_headers);
  const http_header *host = http_header_find(&req, "host");
  require(host == NULL || http_header_count(&req, "host") > 0);

  /* Parsing only the head gives the same answer: nothing after it was looked at. */
  http_header again_headers[FUZZ_MAX_HEADERS];
  http_request again;
  memset(&again, 0, sizeof again);
  again.headers = again_headers;
  require(http_parse_request(buf, (size_t)r, &again, FUZZ_MAX_HEADERS) == r);
  require(again.num_headers == req.num_headers);

  /* Every strict prefix of the head must be INCOMPLETE (callers re-parse as bytes
   * arrive). Quadratic, so only for heads of fuzzer size; the last prefix always. */
  size_t from = r <= 1024 ? 0 : (size_t)r - 1;
  for (size_t n = from; n < (size_t)r; n++)
    require(http_parse_request(buf, n, &again, FUZZ_MAX_HEADERS) == HTTP_PARSE_INCOMPLETE);
  return 0;
}
