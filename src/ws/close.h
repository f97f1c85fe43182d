/* ws/close.h — RFC 6455 close-frame payload rules (5.5.1, 7.4).
 *
 * Owns: which status codes may appear on the wire, and parsing/encoding of a close
 * payload. Must not do I/O. */
#ifndef WSIO_WS_CLOSE_H
#define WSIO_WS_CLOSE_H

#include <stddef.h>
#include <stdint.h>

/* 1 when code may be sent in a close frame: 1000-1003, 1007-1014, 3000-4999. */
int ws_close_code_valid(unsigned code);

/* Parses a received close payload. An empty payload gives *code = 1005 (no status) and
 * an empty reason. Returns 0, or WS_CLOSE_PROTOCOL_ERROR (1002) for a 1-byte payload, a
 * code that may not be sent, or a reason that is not valid UTF-8.
 * *reason points into p. */
int ws_close_parse(const uint8_t *p, size_t n, unsigned *code, const uint8_t **reason,
                   size_t *reason_len);

/* Encodes code + reason (truncated to 123 bytes, at a UTF-8 boundary) into out (at least
 * 125 bytes); returns the payload length. code 1005/0 gives an empty payload. */
size_t ws_close_encode(uint8_t *out, unsigned code, const char *reason, size_t reason_len);

#endif
