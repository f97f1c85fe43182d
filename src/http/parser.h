/* http/parser.h — pure, incremental HTTP/1.x request-head and response-head parser
 * (picohttpparser shape).
 *
 * Owns: turning the bytes of a request line + header block into spans that point into
 * the caller's buffer. Must not: allocate, do I/O, keep state between calls, or know
 * anything about WebSocket. A caller re-parses from the start when more bytes arrive
 * (heads are small and bounded by max_head_size, so this stays cheap). */
#ifndef WSIO_HTTP_PARSER_H
#define WSIO_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_PARSE_INCOMPLETE (-2) /* need more bytes */
#define HTTP_PARSE_ERROR (-1)      /* malformed: answer 400 */
#define HTTP_PARSE_TOO_MANY_HEADERS (-3) /* answer 431 */

typedef struct {
  const char *name; /* points into the caller's buffer; not NUL-terminated */
  size_t name_len;
  const char *value; /* leading/trailing whitespace trimmed */
  size_t value_len;
} http_header;

typedef struct {
  const char *method;
  size_t method_len;
  const char *target; /* request-target as sent: path plus optional "?query" */
  size_t target_len;
  const char *path; /* target up to (not including) '?' */
  size_t path_len;
  const char *query; /* after '?', or NULL when there is none */
  size_t query_len;
  int version_major; /* 1 for HTTP/1.x; 2+ accepted by the parser, the caller decides */
  int version_minor;
  http_header *headers; /* caller-provided array */
  size_t num_headers;   /* out: how many were filled */
} http_request;

/* Parses one request head from buf[0..len). headers must point to an array of
 * max_headers entries (req->headers set by the caller before the call).
 * Returns the number of bytes of the head, including the final CRLFCRLF (> 0), or
 * HTTP_PARSE_INCOMPLETE, HTTP_PARSE_ERROR, HTTP_PARSE_TOO_MANY_HEADERS.
 * Accepts bare LF line ends as well as CRLF (as Node and nginx do). Rejects control
 * characters in the request line and header names, obsolete line folding, a header
 * name with whitespace before the colon, and methods/targets that are not tokens. */
int http_parse_request(const char *buf, size_t len, http_request *req, size_t max_headers);

/* A response head (the client's side of the upgrade). Spans point into the caller's
 * buffer, as the request's. */
typedef struct {
  int version_major;
  int version_minor;
  int status;         /* 100..999 */
  const char *reason; /* may be empty */
  size_t reason_len;
  http_header *headers; /* caller-provided array */
  size_t num_headers;   /* out */
} http_response;

/* Parses one response head (status line + headers + empty line) from buf[0..len), with
 * the request parser's rules for line ends and header lines. Returns the head's length
 * (> 0), HTTP_PARSE_INCOMPLETE, HTTP_PARSE_ERROR or HTTP_PARSE_TOO_MANY_HEADERS. The
 * caller bounds the head's size (a server may send headers without end). */
int http_parse_response(const char *buf, size_t len, http_response *res, size_t max_headers);
const http_header *http_response_header_find(const http_response *res, const char *name);
size_t http_response_header_count(const http_response *res, const char *name);

/* Case-insensitive header lookup; returns the first match or NULL. */
const http_header *http_header_find(const http_request *req, const char *name);

/* Number of headers named `name` (case-insensitive). Used to reject duplicates of
 * headers that must appear once (Sec-WebSocket-Key, Host). */
size_t http_header_count(const http_request *req, const char *name);

/* 1 when the comma-separated token list value[0..len) contains token (case-insensitive,
 * optional whitespace around elements), e.g. Connection: keep-alive, Upgrade. */
int http_token_list_contains(const char *value, size_t len, const char *token);

/* Parses a Content-Length value (digits only, no sign, no overflow past 2^53).
 * Returns 0 and sets *out, or -1 when invalid. */
int http_parse_content_length(const char *value, size_t len, uint64_t *out);

/* 1 when a and b[0..blen) are equal ignoring ASCII case (a is NUL-terminated). */
int http_str_ieq(const char *a, const char *b, size_t blen);

#endif
