/* fuzz/fuzz_ws_frame.c — libFuzzer target for ws/frame.c.
 *
 * Parses frame headers back to back over the input the way the connection does, and
 * for each one checks the parser's invariants, that every shorter prefix is INCOMPLETE,
 * that re-encoding round-trips, that ws_frame_check agrees with a plain restatement of
 * RFC 6455 5.2/5.5, and that the masking fast path equals a naive XOR on the payload. */
#include "ws/frame.h"

#include <stdlib.h>
#include <string.h>

#define REQUIRE(c) \
  do {             \
    if (!(c)) abort(); \
  } while (0)

static size_t expected_header_len(const uint8_t *b) {
  uint8_t len7 = b[1] & 0x7F;
  size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  return 2 + ext + ((b[1] & 0x80) ? 4 : 0);
}

static void check_header(const uint8_t *b, size_t avail, const ws_frame_header *h, int r) {
  REQUIRE(r >= 2 && r <= WS_FRAME_MAX_HEADER);
  REQUIRE((size_t)r == h->header_len && (size_t)r <= avail);
  REQUIRE((size_t)r == expected_header_len(b));
  REQUIRE(h->fin == (b[0] >> 7) && h->rsv == ((b[0] >> 4) & 7) && h->opcode == (b[0] & 15));
  REQUIRE(h->masked == (b[1] >> 7));
  REQUIRE((h->payload_len >> 63) == 0);
  uint8_t len7 = b[1] & 0x7F;
  if (len7 < 126) REQUIRE(h->payload_len == len7);
  if (len7 == 126) REQUIRE(h->payload_len <= 0xFFFF);
  if (h->masked) REQUIRE(memcmp(h->mask, b + r - 4, 4) == 0);
  /* Every strict prefix needs more bytes (a caller re-parses as bytes arrive). */
  ws_frame_header t;
  for (size_t k = 0; k < (size_t)r; k++) {
    int pr = ws_frame_parse_header(b, k, &t);
    REQUIRE(pr == WS_FRAME_INCOMPLETE);
  }
}

static void check_roundtrip(const ws_frame_header *h) {
  uint8_t out[WS_FRAME_MAX_HEADER];
  size_t n = ws_frame_header_encode(out, h->fin, h->rsv, h->opcode, h->payload_len,
                                    h->masked ? h->mask : NULL);
  ws_frame_header g;
  REQUIRE(ws_frame_parse_header(out, n, &g) == (int)n);
  REQUIRE(g.fin == h->fin && g.rsv == h->rsv && g.opcode == h->opcode && g.masked == h->masked);
  REQUIRE(g.payload_len == h->payload_len && memcmp(g.mask, h->mask, 4) == 0);
  REQUIRE(n <= h->header_len); /* the encoder never uses more bytes than the peer did */
}

static int ref_check(const ws_frame_header *h, int is_server, uint8_t allowed) {
  int control = h->opcode >= 8;
  int known = h->opcode <= 2 || (h->opcode >= 8 && h->opcode <= 10);
  int data_first = h->opcode == 1 || h->opcode == 2;
  if (h->masked != (is_server ? 1 : 0)) return 1002;
  if (!known) return 1002;
  if (h->rsv && (!data_first || (h->rsv & ~allowed))) return 1002;
  if (control && (h->payload_len > 125 || !h->fin)) return 1002;
  return 0;
}

static void check_mask(const uint8_t *payload, size_t n, const uint8_t mask[4], uint64_t offset) {
  /* Exact-size heap copies so ASan sees any write past the end. */
  uint8_t *a = malloc(n ? n : 1), *b = malloc(n ? n : 1), *c = malloc(n ? n : 1), *d = malloc(n ? n : 1);
  REQUIRE(a && b && c && d);
  memcpy(a, payload, n);
  memcpy(b, payload, n);
  ws_mask_apply(a, n, mask, offset);
  for (size_t i = 0; i < n; i++) b[i] ^= mask[(offset + i) & 3];
  REQUIRE(memcmp(a, b, n) == 0);
  ws_mask_copy(c, payload, n, mask, offset);
  REQUIRE(memcmp(c, b, n) == 0);
  /* The receive path's variant: the same bytes, and "all ASCII" exactly when they are. */
  memcpy(d, payload, n);
  int ascii = ws_mask_apply_ascii(d, n, mask, offset), all = 1;
  REQUIRE(memcmp(d, b, n) == 0);
  for (size_t i = 0; i < n; i++) all &= b[i] < 0x80;
  REQUIRE(ascii == all);
  free(d);
  free(a);
  free(b);
  free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 0;
  for (int frames = 0; frames < 4096 && off < size; frames++) {
    const uint8_t *b = data + off;
    size_t avail = size - off;
    ws_frame_header h;
    int r = ws_frame_parse_header(b, avail, &h);
    if (r == WS_FRAME_INCOMPLETE) {
      REQUIRE(avail < 2 || avail < expected_header_len(b));
      break;
    }
    if (r == WS_FRAME_ERR_LENGTH) {
      REQUIRE(avail >= 10 && (b[1] & 0x7F) == 127 && (b[2] & 0x80));
      break;
    }
    check_header(b, avail, &h, r);
    check_roundtrip(&h);
    for (int role = 0; role < 2; role++)
      for (uint8_t allowed = 0; allowed < 8; allowed++) {
        int got = ws_frame_check(&h, role, allowed);
        REQUIRE(got == ref_check(&h, role, allowed));
      }
    size_t rest = avail - (size_t)r;
    size_t n = h.payload_len < rest ? (size_t)h.payload_len : rest;
    uint8_t mask[4] = {b[0], b[1], 0xA5, 0x3C};
    check_mask(b + r, n < 4096 ? n : 4096, h.masked ? h.mask : mask, h.payload_len);
    off += (size_t)r + n;
  }
  return 0;
}
