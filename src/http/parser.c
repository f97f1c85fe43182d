/* http/parser.c — pure, incremental HTTP/1.x request-head parser (picohttpparser shape).
 *
 * Owns: one forward pass over buf[0..len) that validates the request line and header
 * block (RFC 9112 2-5, grammar from RFC 9110 5.5-5.6) and records spans into the
 * caller's buffer, plus the small header-value helpers every caller of the parser needs.
 * Must not: allocate, do I/O, keep state between calls, copy bytes, or know what any
 * header means (that is the caller's job: ws/handshake.c, the router).
 *
 * Incrementality: the caller re-parses from byte 0 when more bytes arrive, so every
 * strict prefix of a valid head must answer HTTP_PARSE_INCOMPLETE, never an error.
 * Each step below therefore answers INCOMPLETE when it runs out of bytes and ERROR only
 * on a byte that no valid continuation could contain. */
#include "http/parser.h"

#include <limits.h>
#include <string.h>

#include "util/ascii.h"
#include "util/swar.h"

/* The request path's steps are inlined into http_parse_request so the cursor lives in
 * registers: as separate functions each byte step loaded and stored it through memory
 * (callgrind: the parser was ~3,000 instructions of a long-polling round trip's two
 * small requests). */
#define PARSE_INLINE static inline __attribute__((always_inline))

/* Character classes, one table so each byte costs one load. */
enum {
  CC_TCHAR = 1,  /* RFC 9110 5.6.2 tchar: method and field-name bytes */
  CC_TARGET = 2, /* RFC 9112 3.2: request-target is visible ASCII; obs-text tolerated */
  CC_VALUE = 4,  /* RFC 9110 5.5 field-vchar / SP / HTAB, obs-text included */
};

static const uint8_t char_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    4, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6, /* 0x20  !"#$%&'()*+,-./ */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, /* 0x30 0-9:;<=>? */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x40 @A-O */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7, /* 0x50 P-Z[\]^_ */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x60 `a-o */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0, /* 0x70 p-z{|}~ DEL */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0x80 obs-text */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0x90 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xA0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xB0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xC0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xD0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xE0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xF0 */
};

typedef struct {
  const char *buf;
  size_t len;
  size_t pos;
} cursor;

static inline uint8_t byte_at(const cursor *c, size_t i) { return (uint8_t)c->buf[i]; }

static inline int is_ows(uint8_t b) { return b == ' ' || b == '\t'; }

static inline uint8_t ascii_lower(uint8_t b) {
  return (b >= 'A' && b <= 'Z') ? (uint8_t)(b | 0x20) : b;
}

/* Consumes one line end: CRLF, or a bare LF (RFC 9112 2.2 lets a recipient accept LF
 * alone; Node and nginx do). A CR not followed by LF is an error (RFC 9112 2.2). */
PARSE_INLINE int parse_eol(cursor *c) {
  if (c->pos >= c->len)
    return HTTP_PARSE_INCOMPLETE;
  if (byte_at(c, c->pos) == '\n') {
    c->pos++;
    return 0;
  }
  if (byte_at(c, c->pos) != '\r')
    return HTTP_PARSE_ERROR;
  if (c->pos + 1 >= c->len)
    return HTTP_PARSE_INCOMPLETE;
  if (byte_at(c, c->pos + 1) != '\n')
    return HTTP_PARSE_ERROR;
  c->pos += 2;
  return 0;
}

/* 1 when the cursor sits on a line end (CR or LF), 0 when on another byte, INCOMPLETE
 * at the end of input. */
PARSE_INLINE int at_eol(const cursor *c) {
  if (c->pos >= c->len)
    return HTTP_PARSE_INCOMPLETE;
  uint8_t b = byte_at(c, c->pos);
  return b == '\r' || b == '\n';
}

/* RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request-line
 * (clients may send a stray CRLF after a POST body). */
PARSE_INLINE int skip_leading_empty_lines(cursor *c) {
  for (;;) {
    int r = at_eol(c);
    if (r <= 0)
      return r;
    r = parse_eol(c);
    if (r < 0)
      return r;
  }
}

/* A non-empty token (RFC 9110 5.6.2) ending at `delim`, which is consumed. Used for the
 * method (delim SP) and field names (delim ':'; RFC 9112 5.1 forbids whitespace before
 * the colon, and SP is not a tchar, so that case is an error here). */
PARSE_INLINE int parse_token(cursor *c, uint8_t delim, const char **out, size_t *out_len) {
  size_t start = c->pos;
  while (c->pos < c->len && (char_class[byte_at(c, c->pos)] & CC_TCHAR))
    c->pos++;
  if (c->pos >= c->len)
    return HTTP_PARSE_INCOMPLETE;
  if (c->pos == start || byte_at(c, c->pos) != delim)
    return HTTP_PARSE_ERROR;
  *out = c->buf + start;
  *out_len = c->pos - start;
  c->pos++;
  return 0;
}

/* Fast: skips the whole words of eight bytes at pos that hold no byte below `below`
 * (0x20: control bytes; 0x21: those and SP) and no DEL, i.e. only bytes the caller's
 * class takes (both classes take every other byte, obs-text included), then the plain
 * bytes before the first such byte. The caller's byte loop after it decides exactly
 * where the span ends, so the result is the same as the byte loop's alone; words are
 * read only within len, so a prefix still ends INCOMPLETE. */
PARSE_INLINE size_t skip_plain_words(const cursor *c, size_t pos, uint8_t below) {
  while (pos + 8 <= c->len) {
    uint64_t w;
    memcpy(&w, c->buf + pos, 8);
    uint64_t stop = swar_below(w, below) | swar_eq(w, 0x7F);
    /* The lowest flagged byte is a true one (util/swar.h): every byte before it is
     * plain, so the byte loop starts there. */
    if (stop)
      return pos + ((unsigned)__builtin_ctzll(stop) >> 3);
    pos += 8;
  }
  return pos;
}

/* RFC 9112 3.2: request-target, ended by the single SP before the version. Any of its
 * four forms is visible ASCII; obs-text (UTF-8 sent raw) is tolerated as Node does. */
PARSE_INLINE int parse_target(cursor *c, http_request *req) {
  size_t start = c->pos;
  c->pos = skip_plain_words(c, c->pos, 0x21);
  while (c->pos < c->len && (char_class[byte_at(c, c->pos)] & CC_TARGET))
    c->pos++;
  if (c->pos >= c->len)
    return HTTP_PARSE_INCOMPLETE;
  if (c->pos == start || byte_at(c, c->pos) != ' ')
    return HTTP_PARSE_ERROR;
  req->target = c->buf + start;
  req->target_len = c->pos - start;
  c->pos++;
  return 0;
}

/* RFC 3986 3.4: the query starts at the first '?'. */
PARSE_INLINE void split_target(http_request *req) {
  const char *q = memchr(req->target, '?', req->target_len);
  req->path = req->target;
  req->path_len = q ? (size_t)(q - req->target) : req->target_len;
  req->query = q ? q + 1 : NULL;
  req->query_len = q ? req->target_len - req->path_len - 1 : 0;
}

/* RFC 9112 2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT (case-sensitive). Checked byte
 * by byte so that a prefix such as "HTT" stays INCOMPLETE. */
PARSE_INLINE int parse_version(cursor *c, http_request *req) {
  static const char shape[] = "HTTP/0.0";
  /* Fast: a whole "HTTP/d.d" in one compare of its fixed bytes and two digit tests. */
  if (c->len - c->pos >= 8 && memcmp(c->buf + c->pos, "HTTP/", 5) == 0 && c->buf[c->pos + 6] == '.') {
    uint8_t maj = byte_at(c, c->pos + 5), min = byte_at(c, c->pos + 7);
    if (maj >= '0' && maj <= '9' && min >= '0' && min <= '9') {
      req->version_major = maj - '0';
      req->version_minor = min - '0';
      c->pos += 8;
      return 0;
    }
  }
  for (size_t i = 0; i < sizeof shape - 1; i++) {
    if (c->pos >= c->len)
      return HTTP_PARSE_INCOMPLETE;
    uint8_t b = byte_at(c, c->pos);
    int ok = shape[i] == '0' ? (b >= '0' && b <= '9') : b == (uint8_t)shape[i];
    if (!ok)
      return HTTP_PARSE_ERROR;
    c->pos++;
  }
  req->version_major = c->buf[c->pos - 3] - '0';
  req->version_minor = c->buf[c->pos - 1] - '0';
  return 0;
}

/* RFC 9112 3: request-line = method SP request-target SP HTTP-version CRLF, with
 * exactly one SP between parts (a second SP makes an empty target: an error). */
PARSE_INLINE int parse_request_line(cursor *c, http_request *req) {
  int r = parse_token(c, ' ', &req->method, &req->method_len);
  if (r < 0)
    return r;
  r = parse_target(c, req);
  if (r < 0)
    return r;
  split_target(req);
  r = parse_version(c, req);
  if (r < 0)
    return r;
  return parse_eol(c);
}

/* RFC 9110 5.5: field-value bytes are VCHAR, obs-text, SP and HTAB; any other control
 * (NUL, a lone CR, DEL...) is an error, since forwarding it invites smuggling. Leading
 * and trailing OWS is not part of the value (RFC 9112 5.1). */
PARSE_INLINE int parse_value(cursor *c, http_header *h) {
  while (c->pos < c->len && is_ows(byte_at(c, c->pos)))
    c->pos++;
  size_t start = c->pos;
  c->pos = skip_plain_words(c, c->pos, 0x20);
  while (c->pos < c->len && (char_class[byte_at(c, c->pos)] & CC_VALUE))
    c->pos++;
  size_t end = c->pos;
  int r = parse_eol(c);
  if (r < 0)
    return r;
  while (end > start && is_ows((uint8_t)c->buf[end - 1]))
    end--;
  h->value = c->buf + start;
  h->value_len = end - start;
  return 0;
}

/* RFC 9112 5: header lines up to the empty line. A line that starts with SP or HTAB is
 * obs-fold (RFC 9112 5.2), or whitespace before the first field (RFC 9112 2.2): both
 * rejected, as a server may. */
PARSE_INLINE int parse_headers(cursor *c, http_header *headers, size_t *num_headers, size_t max_headers) {
  for (;;) {
    int r = at_eol(c);
    if (r < 0)
      return r;
    if (r == 1)
      return parse_eol(c);
    if (is_ows(byte_at(c, c->pos)))
      return HTTP_PARSE_ERROR;
    const char *name;
    size_t name_len;
    r = parse_token(c, ':', &name, &name_len);
    if (r < 0)
      return r;
    if (*num_headers >= max_headers)
      return HTTP_PARSE_TOO_MANY_HEADERS;
    http_header *h = &headers[*num_headers];
    r = parse_value(c, h);
    if (r < 0)
      return r;
    h->name = name;
    h->name_len = name_len;
    (*num_headers)++;
  }
}

int http_parse_request(const char *buf, size_t len, http_request *req, size_t max_headers) {
  /* The result is an int: a head longer than INT_MAX can only ever be INCOMPLETE, and
   * the caller's max_head_size rejects it long before that. */
  cursor c = {buf, len > (size_t)INT_MAX ? (size_t)INT_MAX : len, 0};
  req->num_headers = 0;
  int r = skip_leading_empty_lines(&c);
  if (r < 0)
    return r;
  r = parse_request_line(&c, req);
  if (r < 0)
    return r;
  size_t nh = 0; /* (a local: stores through the headers could alias req's count) */
  r = parse_headers(&c, req->headers, &nh, max_headers);
  req->num_headers = nh;
  if (r < 0)
    return r;
  return (int)c.pos;
}

/* RFC 9112 4: status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF.
 * The status code is exactly three digits; the reason may be empty (the SP before it
 * is required by the grammar, but servers omit it, and clients accept that). The
 * reason holds VCHAR, obs-text, SP and HTAB only, like a header value. */
static int parse_status_line(cursor *c, http_response *res) {
  http_request v;
  int r = parse_version(c, &v);
  if (r < 0)
    return r;
  res->version_major = v.version_major;
  res->version_minor = v.version_minor;
  if (c->pos >= c->len)
    return HTTP_PARSE_INCOMPLETE;
  if (byte_at(c, c->pos) != ' ')
    return HTTP_PARSE_ERROR;
  c->pos++;
  int status = 0;
  for (int i = 0; i < 3; i++, c->pos++) {
    if (c->pos >= c->len)
      return HTTP_PARSE_INCOMPLETE;
    uint8_t b = byte_at(c, c->pos);
    if (b < '0' || b > '9')
      return HTTP_PARSE_ERROR;
    status = status * 10 + (b - '0');
  }
  if (status < 100)
    return HTTP_PARSE_ERROR;
  res->status = status;
  if (c->pos >= c->len)
    return HTTP_PARSE_INCOMPLETE;
  uint8_t b = byte_at(c, c->pos);
  if (b != ' ' && b != '\r' && b != '\n')
    return HTTP_PARSE_ERROR;
  if (b == ' ')
    c->pos++;
  size_t start = c->pos;
  while (c->pos < c->len && (char_class[byte_at(c, c->pos)] & CC_VALUE))
    c->pos++;
  res->reason = c->buf + start;
  res->reason_len = c->pos - start;
  return parse_eol(c);
}

int http_parse_response(const char *buf, size_t len, http_response *res, size_t max_headers) {
  cursor c = {buf, len > (size_t)INT_MAX ? (size_t)INT_MAX : len, 0};
  res->num_headers = 0;
  int r = parse_status_line(&c, res);
  if (r < 0)
    return r;
  r = parse_headers(&c, res->headers, &res->num_headers, max_headers);
  if (r < 0)
    return r;
  return (int)c.pos;
}

const http_header *http_response_header_find(const http_response *res, const char *name) {
  for (size_t i = 0; i < res->num_headers; i++)
    if (http_str_ieq(name, res->headers[i].name, res->headers[i].name_len))
      return &res->headers[i];
  return NULL;
}

size_t http_response_header_count(const http_response *res, const char *name) {
  size_t n = 0;
  for (size_t i = 0; i < res->num_headers; i++)
    n += http_str_ieq(name, res->headers[i].name, res->headers[i].name_len) != 0;
  return n;
}

int http_str_ieq(const char *a, const char *b, size_t blen) {
  for (size_t i = 0; i < blen; i++) {
    if (a[i] == '\0' || ascii_lower((uint8_t)a[i]) != ascii_lower((uint8_t)b[i]))
      return 0;
  }
  return a[blen] == '\0';
}

/* Fast: a handshake looks up about fifteen names (and counts some, to refuse
 * duplicates) among its headers; comparing lengths first rejects nearly every other
 * header without touching its bytes ("Sec-WebSocket-Key" and "Sec-WebSocket-Version"
 * share 14 of them), which made these lookups a quarter of the handshake's user-space
 * instructions (callgrind, bench/README.md). */
const http_header *http_header_find(const http_request *req, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < req->num_headers; i++) {
    const http_header *h = &req->headers[i];
    if (h->name_len == n && ascii_ieq(name, h->name, n))
      return h;
  }
  return NULL;
}

size_t http_header_count(const http_request *req, const char *name) {
  size_t n = strlen(name), count = 0;
  for (size_t i = 0; i < req->num_headers; i++) {
    const http_header *h = &req->headers[i];
    count += h->name_len == n && ascii_ieq(name, h->name, n);
  }
  return count;
}

/* RFC 9110 5.6.1: #element lists; empty elements and OWS around each are allowed and
 * ignored. Whole elements are compared, so "upgrades" does not contain "upgrade". */
int http_token_list_contains(const char *value, size_t len, const char *token) {
  size_t i = 0;
  while (i < len) {
    size_t start = i;
    while (i < len && value[i] != ',')
      i++;
    size_t end = i;
    while (start < end && is_ows((uint8_t)value[start]))
      start++;
    while (end > start && is_ows((uint8_t)value[end - 1]))
      end--;
    if (end > start && http_str_ieq(token, value + start, end - start))
      return 1;
    i++; /* past the ',' (or past len, which ends the loop) */
  }
  return 0;
}

/* RFC 9110 8.6: Content-Length = 1*DIGIT. A list ("5, 5"), a sign or whitespace is
 * rejected rather than repaired: disagreeing about body length is how requests are
 * smuggled (RFC 9112 6.3). The 2^53 cap keeps lengths exact in JavaScript peers too. */
int http_parse_content_length(const char *value, size_t len, uint64_t *out) {
  const uint64_t max = (uint64_t)1 << 53;
  uint64_t n = 0;
  if (len == 0)
    return -1;
  for (size_t i = 0; i < len; i++) {
    uint8_t b = (uint8_t)value[i];
    if (b < '0' || b > '9')
      return -1;
    n = n * 10 + (uint64_t)(b - '0');
    if (n > max)
      return -1;
  }
  *out = n;
  return 0;
}
