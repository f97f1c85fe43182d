/* sio/jscan.h — a pure validating JSON scanner (RFC 8259) for the Socket.IO paths that
 * must not build a document: checking a payload's shape, splitting an event's name
 * from its arguments, unescaping a string token, counting binary placeholders.
 * Must not allocate. Nesting deeper than JSCAN_MAX_DEPTH is rejected. */
#ifndef WSIO_SIO_JSCAN_H
#define WSIO_SIO_JSCAN_H

#include <stddef.h>
#include <stdint.h>

#define JSCAN_MAX_DEPTH 64

typedef enum {
  JSCAN_INVALID = 0,
  JSCAN_OBJECT,
  JSCAN_ARRAY,
  JSCAN_STRING,
  JSCAN_NUMBER,
  JSCAN_TRUE,
  JSCAN_FALSE,
  JSCAN_NULL,
} jscan_type;

/* Scans one value at p[0..n) after optional whitespace. Returns the number of bytes up
 * to the end of the value (not counting trailing whitespace), and sets *type; returns
 * 0 (and JSCAN_INVALID) when there is no valid value there. Strings must be valid UTF-8
 * with valid escapes; numbers follow the JSON grammar. */
size_t jscan_scan(const char *p, size_t n, jscan_type *type);

/* 1 when p[0..n) is exactly one JSON value (whitespace around it allowed). */
int jscan_valid(const char *p, size_t n, jscan_type *type);

/* jscan_valid, and for an array its first element when that is a scalar: *first,
 * *first_len and *first_type, its token (NULL, 0 and JSCAN_INVALID when there is none,
 * it is an array or object, or the value is not an array). One pass: an event's name
 * without a second scan. */
int jscan_valid_first(const char *p, size_t n, jscan_type *type, const char **first, size_t *first_len,
                      jscan_type *first_type);

/* Iterates the elements of an array: call with *off = 0 on the array text p[0..n);
 * each call returns 1 and sets *elem, *elem_len and *elem_type for the next element,
 * 0 at the end, -1 when malformed. */
int jscan_array_next(const char *p, size_t n, size_t *off, const char **elem, size_t *elem_len,
                    jscan_type *elem_type);

/* Unescapes the JSON string token tok[0..n) (with its quotes) into out (cap bytes,
 * always NUL-terminated). Returns the unescaped length (may exceed cap - 1 when
 * truncated), or -1 when tok is not a valid string token. */
long jscan_string_unescape(const char *tok, size_t n, char *out, size_t cap);

/* For a string token already validated (jscan_valid, jscan_array_next): 1 and its
 * bytes between the quotes, which are its value, when it has no escape; 0 otherwise
 * (jscan_string_unescape it). No copy, no second scan of its text. */
int jscan_string_plain(const char *tok, size_t n, const char **s, size_t *len);

/* Appends s as a JSON string token (quotes and escapes) to out (cap bytes); returns
 * the length needed (output truncated when it exceeds cap). */
size_t jscan_string_escape(char *out, size_t cap, const char *s, size_t n);

/* Counts objects exactly of the form {"_placeholder":true,"num":N} in the value and
 * checks their nums are each in [0, nbins). Returns the count, or -1 when a placeholder
 * has a bad or out-of-range num. */
long jscan_count_placeholders(const char *p, size_t n, size_t nbins);

#endif
