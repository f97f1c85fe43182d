/* http/response.h — HTTP/1.1 response-head formatting (pure).
 *
 * Owns: status texts and the layout of a response head. Must not do I/O. */
#ifndef WSIO_HTTP_RESPONSE_H
#define WSIO_HTTP_RESPONSE_H

#include <stddef.h>

/* Reason phrase for a status code ("Not Found"); "Unknown" for codes it does not know. */
const char *http_status_text(int status);

/* Appends s[0..n) to out[0..cap) at *o when it fits; *o counts every byte asked for
 * either way, so *o > cap afterwards says something did not fit. For heads built from
 * constant pieces without snprintf (this file's, the WebSocket 101). */
void http_put(char *out, size_t cap, size_t *o, const char *s, size_t n);

/* Writes "HTTP/1.1 <status> <text>\r\n", Content-Type (when non-NULL),
 * Content-Length (neither for 1xx and 304), "Connection: close" when !keep_alive, extra (already formatted
 * "Name: value\r\n" lines, may be NULL) and the blank line into out.
 * Returns the length, or 0 when cap is too small. */
size_t http_format_head(char *out, size_t cap, int status, const char *content_type,
                        size_t content_length, const char *extra, int keep_alive);

#endif
