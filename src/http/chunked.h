/* http/chunked.h — pure decoder of HTTP/1.1 chunked request bodies (RFC 9112 7.1).
 *
 * Owns: finding where a chunked body ends and joining its chunks. Must not allocate or
 * do I/O. Node's http client sends request bodies chunked when no Content-Length is
 * set, so a server that answers 501 to them breaks ordinary clients. */
#ifndef WSIO_HTTP_CHUNKED_H
#define WSIO_HTTP_CHUNKED_H

#include <stddef.h>

#define HTTP_CHUNKED_INCOMPLETE (-2)
#define HTTP_CHUNKED_ERROR (-1)
#define HTTP_CHUNKED_TOO_LARGE (-3)

/* p[0..n) holds the bytes after the request head. When the whole chunked body (last
 * chunk and trailer section included) is there, the chunk data is moved to the start
 * of p, *body_len is set, and the number of bytes the encoding took is returned.
 * Otherwise p is left untouched and HTTP_CHUNKED_INCOMPLETE, HTTP_CHUNKED_ERROR
 * (malformed) or HTTP_CHUNKED_TOO_LARGE (data over max_body) is returned. */
long http_chunked_decode(char *p, size_t n, size_t *body_len, size_t max_body);

#endif
