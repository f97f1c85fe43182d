/* util/base64.h — base64 (RFC 4648 section 4, standard alphabet, with padding): the
 * Sec-WebSocket-Accept key and Engine.IO's "b<base64>" polling records.
 *
 * Owns: nothing. Must not allocate; decoding may run in place. */
#ifndef WSIO_UTIL_BASE64_H
#define WSIO_UTIL_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* The encoded length of n bytes. */
static inline size_t base64_len(size_t n) { return (n + 2) / 3 * 4; }
/* Encodes src into dst (base64_len(n) bytes, no NUL); returns the length. */
size_t base64_encode(char *dst, const uint8_t *src, size_t n);
/* Decodes src into dst (at most n / 4 * 3 bytes; dst may equal src). Returns the
 * decoded length, or -1 when src is not valid padded base64. */
long base64_decode(uint8_t *dst, const char *src, size_t n);

#endif
