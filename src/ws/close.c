/* ws/close.c — the payload of a close frame: a 2-byte status code and a UTF-8 reason
 * (RFC 6455 5.5.1), and which codes may be on the wire (7.4).
 *
 * Owns: ws_close_code_valid, ws_close_parse, ws_close_encode.
 * Must not: do I/O or decide when to close (the connection state machine does). */
#include "ws/close.h"

#include "ws/frame.h"
#include "ws/utf8.h"

#include <string.h>

/* RFC 6455 5.5: a control frame payload is at most 125 bytes; 2 of them are the code. */
#define CLOSE_REASON_MAX 123

int ws_close_code_valid(unsigned code) {
  /* RFC 6455 7.4.1/7.4.2 and the IANA registry: 1004 is reserved, 1005/1006/1015 are
   * for reporting only and "MUST NOT be set as a status code in a Close control frame";
   * 1012-1014 were registered later and are sent by real servers. 0-999 and 1016-2999
   * are unassigned or reserved; 3000-4999 belong to libraries and applications. */
  if (code >= 1000 && code <= 1003) return 1;
  if (code >= 1007 && code <= 1014) return 1;
  return code >= 3000 && code <= 4999;
}

int ws_close_parse(const uint8_t *p, size_t n, unsigned *code, const uint8_t **reason,
                   size_t *reason_len) {
  *reason = p;
  *reason_len = 0;
  /* RFC 6455 7.1.5: a close frame without a code is reported as 1005. */
  if (n == 0) {
    *code = WS_CLOSE_NO_STATUS;
    return 0;
  }
  /* 5.5.1: if there is a body, its first two bytes are the code: one byte is malformed. */
  if (n == 1) return WS_CLOSE_PROTOCOL_ERROR;
  unsigned c = (unsigned)p[0] << 8 | p[1];
  if (!ws_close_code_valid(c)) return WS_CLOSE_PROTOCOL_ERROR;
  /* 5.5.1: the reason is UTF-8; 8.1 says invalid text fails the connection. */
  if (!ws_utf8_valid(p + 2, n - 2)) return WS_CLOSE_PROTOCOL_ERROR;
  *code = c;
  *reason = p + 2;
  *reason_len = n - 2;
  return 0;
}

/* Largest length <= max that does not cut a character of s[0..len) in two: back off
 * over continuation bytes (10xxxxxx) so the cut lands before a lead or ASCII byte. */
static size_t utf8_cut(const char *s, size_t len, size_t max) {
  if (len <= max) return len;
  size_t cut = max;
  for (unsigned i = 0; i < 3 && cut > 0 && ((uint8_t)s[cut] & 0xC0) == 0x80; i++) cut--;
  return cut;
}

size_t ws_close_encode(uint8_t *out, unsigned code, const char *reason, size_t reason_len) {
  /* 1005 (and 0, meaning "none") is sent as an empty body. A code that may not be on
   * the wire at all (1006, 1015, out of range) gets the same treatment rather than a
   * frame the peer would have to reject with 1002. */
  if (!ws_close_code_valid(code)) return 0;
  out[0] = (uint8_t)(code >> 8);
  out[1] = (uint8_t)code;
  size_t n = reason ? utf8_cut(reason, reason_len, CLOSE_REASON_MAX) : 0;
  if (n) memcpy(out + 2, reason, n);
  return 2 + n;
}
