/* http/chunked.c — chunked body decoding (see chunked.h). Two passes: the first only
 * validates and measures (so an incomplete body leaves the buffer untouched and can be
 * decoded again when more bytes arrive), the second compacts the data in place. */
#include "http/chunked.h"

#include <stdint.h>
#include <string.h>

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Reads up to the end of the line at p[*i]; the line must end with CRLF (or LF).
 * Returns 1 when a full line was there (and *i is after it), 0 when incomplete. */
static int skip_line(const char *p, size_t n, size_t *i, size_t *line_start, size_t *line_end) {
  size_t j = *i;
  *line_start = j;
  while (j < n && p[j] != '\n') j++;
  if (j >= n) return 0;
  *line_end = j > *line_start && p[j - 1] == '\r' ? j - 1 : j;
  *i = j + 1;
  return 1;
}

/* One pass over the encoding; with out != NULL the data is copied to out. */
static long walk(char *p, size_t n, size_t *body_len, size_t max_body, char *out) {
  size_t i = 0, total = 0;
  for (;;) {
    size_t ls, le;
    if (!skip_line(p, n, &i, &ls, &le)) return HTTP_CHUNKED_INCOMPLETE;
    uint64_t size = 0;
    size_t k = ls;
    if (k == le || hexval(p[k]) < 0) return HTTP_CHUNKED_ERROR;
    for (; k < le && hexval(p[k]) >= 0; k++) {
      if (size > (UINT64_MAX >> 4)) return HTTP_CHUNKED_ERROR;
      size = size << 4 | (uint64_t)hexval(p[k]);
    }
    while (k < le && (p[k] == ' ' || p[k] == '\t')) k++;
    if (k < le && p[k] != ';') return HTTP_CHUNKED_ERROR; /* only extensions may follow */
    if (size == 0) break;
    if (size > max_body || total + size > max_body) return HTTP_CHUNKED_TOO_LARGE;
    if (n - i < size) return HTTP_CHUNKED_INCOMPLETE;
    if (out) memmove(out + total, p + i, (size_t)size);
    total += (size_t)size;
    i += (size_t)size;
    /* the chunk's data ends with CRLF */
    if (i < n && p[i] == '\r') i++;
    if (i >= n) return HTTP_CHUNKED_INCOMPLETE;
    if (p[i] != '\n') return HTTP_CHUNKED_ERROR;
    i++;
  }
  /* trailer section: header lines until an empty line */
  for (;;) {
    size_t ls, le;
    if (!skip_line(p, n, &i, &ls, &le)) return HTTP_CHUNKED_INCOMPLETE;
    if (ls == le) break;
  }
  *body_len = total;
  return (long)i;
}

long http_chunked_decode(char *p, size_t n, size_t *body_len, size_t max_body) {
  size_t len;
  long r = walk(p, n, &len, max_body, NULL);
  if (r < 0) return r;
  walk(p, n, &len, max_body, p);
  *body_len = len;
  return r;
}
