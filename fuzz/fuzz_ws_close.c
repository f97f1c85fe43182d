/* fuzz/fuzz_ws_close.c — libFuzzer target for ws/close.c.
 *
 * Reads the input two ways. As a received close payload: ws_close_parse must accept
 * exactly what RFC 6455 5.5.1/7.4 allow (restated here: empty, or a code that may be
 * sent plus UTF-8), point the reason into the input, and re-encoding an accepted
 * payload gives the same bytes back (a reason over 123 bytes: a prefix cut at a
 * character boundary, which parses again). As something to send: the first two bytes
 * are a code and the rest a reason of any bytes; ws_close_encode must write at most
 * 125 bytes (into an exact-size heap buffer, so ASan sees more), nothing for a code
 * that may not be sent, and a payload that parses back to the same code and reason
 * prefix whenever the reason was UTF-8. Also compares ws_close_code_valid with the
 * registry's ranges over every 16-bit code and a few beyond. */
#include "ws/close.h"

#include <stdlib.h>
#include <string.h>

#include "ws/frame.h"
#include "ws/utf8.h"

#define REQUIRE(c) \
  do {             \
    if (!(c)) abort(); \
  } while (0)

#define CLOSE_PAYLOAD_MAX 125 /* RFC 6455 5.5: control frame payloads */
#define REASON_MAX (CLOSE_PAYLOAD_MAX - 2)

/* RFC 6455 7.4.1 plus the IANA registry (1012-1014), and 3000-4999 for applications. */
static int ref_code_valid(unsigned code) {
  switch (code) {
  case 1000: case 1001: case 1002: case 1003:
  case 1007: case 1008: case 1009: case 1010: case 1011: case 1012: case 1013: case 1014:
    return 1;
  default:
    return code >= 3000 && code < 5000;
  }
}

static void check_code_table(void) {
  static int done;
  if (done) return;
  done = 1;
  for (unsigned c = 0; c <= 0xFFFF; c++) REQUIRE(ws_close_code_valid(c) == ref_code_valid(c));
  REQUIRE(!ws_close_code_valid(0x10000 + 1000) && !ws_close_code_valid(~0u));
}

static uint8_t *encode(unsigned code, const char *reason, size_t len, size_t *n) {
  uint8_t *out = malloc(CLOSE_PAYLOAD_MAX);
  REQUIRE(out);
  *n = ws_close_encode(out, code, reason, len);
  REQUIRE(*n <= CLOSE_PAYLOAD_MAX);
  return out;
}

static void check_parse(const uint8_t *p, size_t n) {
  unsigned code = 0;
  const uint8_t *reason = NULL;
  size_t rlen = 99;
  int r = ws_close_parse(p, n, &code, &reason, &rlen);
  unsigned wire = n >= 2 ? (unsigned)p[0] << 8 | p[1] : 0;
  int ok = n == 0 || (n >= 2 && ref_code_valid(wire) && ws_utf8_valid(p + 2, n - 2));
  REQUIRE(r == (ok ? 0 : WS_CLOSE_PROTOCOL_ERROR));
  if (!ok) return;
  if (n == 0) {
    REQUIRE(code == WS_CLOSE_NO_STATUS && rlen == 0);
    return;
  }
  REQUIRE(code == wire && reason == p + 2 && rlen == n - 2);

  size_t m;
  uint8_t *out = encode(code, (const char *)reason, rlen, &m);
  if (rlen <= REASON_MAX) {
    REQUIRE(m == n && memcmp(out, p, n) == 0);
  } else {
    /* Cut at a character boundary: at most 3 bytes short of the limit. */
    REQUIRE(m >= CLOSE_PAYLOAD_MAX - 3 && memcmp(out, p, m) == 0);
    unsigned c2;
    const uint8_t *r2;
    size_t l2;
    REQUIRE(ws_close_parse(out, m, &c2, &r2, &l2) == 0 && c2 == code && l2 == m - 2);
  }
  free(out);
}

static void check_encode(const uint8_t *p, size_t n) {
  if (n < 2) return;
  unsigned code = (unsigned)p[0] << 8 | p[1];
  const char *reason = (const char *)p + 2;
  size_t rlen = n - 2, m;
  uint8_t *out = encode(code, reason, rlen, &m);
  if (!ref_code_valid(code)) {
    REQUIRE(m == 0);
  } else {
    size_t kept = m - 2;
    REQUIRE(m >= 2 && out[0] == p[0] && out[1] == p[1]);
    REQUIRE(kept <= rlen && kept <= REASON_MAX && memcmp(out + 2, reason, kept) == 0);
    REQUIRE(rlen <= REASON_MAX ? kept == rlen : kept + 3 >= REASON_MAX);
    if (ws_utf8_valid(p + 2, rlen)) {
      unsigned c2;
      const uint8_t *r2;
      size_t l2;
      REQUIRE(ws_close_parse(out, m, &c2, &r2, &l2) == 0 && c2 == code && l2 == kept);
    }
  }
  /* No reason at all: the code alone, whatever the length says. */
  size_t bare = ws_close_encode(out, code, NULL, rlen);
  REQUIRE(bare == (ref_code_valid(code) ? 2u : 0u));
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_code_table();
  /* An exact-size copy: a read past the payload is a heap overflow ASan reports. */
  uint8_t *p = malloc(size ? size : 1);
  REQUIRE(p);
  memcpy(p, data, size);
  check_parse(p, size);
  check_encode(p, size);
  free(p);
  return 0;
}
