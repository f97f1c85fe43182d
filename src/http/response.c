/* http/response.c — response-head formatting (see response.h). */
#include "http/response.h"

#include <string.h>

const char *http_status_text(int s) {
  switch (s) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

/* Fast: inlined into http_format_head, so the fixed strings' copies are a few moves
 * of known size instead of a call and a memcpy each (~400 instructions a head before,
 * six or seven pieces for every long-poll answer). */
static inline __attribute__((always_inline)) void put(char *out, size_t cap, size_t *o, const char *s, size_t n) {
  if (*o + n <= cap) memcpy(out + *o, s, n);
  *o += n;
}

void http_put(char *out, size_t cap, size_t *o, const char *s, size_t n) { put(out, cap, o, s, n); }

static void add_str(char *out, size_t cap, size_t *o, const char *s) { put(out, cap, o, s, strlen(s)); }

static void add_uint(char *out, size_t cap, size_t *o, size_t v) {
  if (v < 100) { /* fast: most bodies here (long-poll answers, "ok") */
    char d[2] = {(char)('0' + v / 10), (char)('0' + v % 10)};
    put(out, cap, o, v < 10 ? d + 1 : d, v < 10 ? 1 : 2);
    return;
  }
  char digits[24];
  size_t n = 0;
  do {
    digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(out, cap, o, digits + sizeof(digits) - n, n);
}

/* Built with memcpy, not snprintf: it runs for every HTTP response, long-polls
 * included, where formatting showed up in profiles. */
size_t http_format_head(char *out, size_t cap, int status, const char *content_type,
                        size_t content_length, const char *extra, int keep_alive) {
  /* RFC 9110 8.6: no Content-Length on 1xx; on 304 it would have to be the 200's
   * length, so it is left out. 204 keeps "Content-Length: 0": Node's CORS preflight
   * answers carry it and clients written against Node may look for it. */
  int no_length = status < 200 || status == 304;
  size_t o = 0;
  if (status < 100 || status > 999) return 0;
  if (status == 200) { /* every long-poll answer: the line in one copy, nothing formatted */
    put(out, cap, &o, "HTTP/1.1 200 OK\r\n", 17);
  } else {
    put(out, cap, &o, "HTTP/1.1 ", 9);
    add_uint(out, cap, &o, (size_t)status);
    put(out, cap, &o, " ", 1);
    add_str(out, cap, &o, http_status_text(status));
    put(out, cap, &o, "\r\n", 2);
  }
  if (content_type && !no_length) {
    put(out, cap, &o, "Content-Type: ", 14);
    add_str(out, cap, &o, content_type);
    put(out, cap, &o, "\r\nContent-Length: ", 18);
  } else if (!no_length) {
    put(out, cap, &o, "Content-Length: ", 16);
  }
  if (!no_length) {
    add_uint(out, cap, &o, content_length);
    put(out, cap, &o, "\r\n", 2);
  }
  if (!keep_alive) put(out, cap, &o, "Connection: close\r\n", 19);
  if (extra) add_str(out, cap, &o, extra);
  put(out, cap, &o, "\r\n", 2);
  /* The caller's contract: 0 when it does not fit (with room for a NUL, as before). */
  if (o >= cap) return 0;
  out[o] = '\0';
  return o;
}
