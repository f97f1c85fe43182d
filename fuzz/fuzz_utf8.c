/* fuzz/fuzz_utf8.c — libFuzzer target for ws/utf8.c.
 *
 * Compares the DFA with a slow reference decoder written here (arithmetic on code
 * points, no tables), and whole-buffer feeding with two-piece feeding split at every
 * point of the first 64 bytes: same verdict, same failure position. */
#include "ws/utf8.h"

#include <stdlib.h>

#define REQUIRE(c) \
  do {             \
    if (!(c)) abort(); \
  } while (0)

/* Index of the first byte after which no valid continuation exists, or n; *complete
 * is 0 when a valid input stops inside a character. */
static size_t ref_scan(const uint8_t *p, size_t n, int *complete) {
  size_t i = 0;
  *complete = 1;
  while (i < n) {
    uint8_t b = p[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    unsigned len;
    uint32_t v, min;
    if (b >= 0xC0 && b < 0xE0) len = 2, v = b & 0x1F, min = 0x80;
    else if (b >= 0xE0 && b < 0xF0) len = 3, v = b & 0x0F, min = 0x800;
    else if (b >= 0xF0 && b < 0xF8) len = 4, v = b & 0x07, min = 0x10000;
    else return i;
    for (unsigned k = 0; k < len; k++) {
      if (k > 0) {
        if (i + k >= n) {
          *complete = 0;
          return n;
        }
        if ((p[i + k] & 0xC0) != 0x80) return i + k;
        v = v << 6 | (p[i + k] & 0x3F);
      }
      unsigned rest = 6 * (len - 1 - k);
      uint32_t lo = v << rest, hi = lo | ((1u << rest) - 1);
      /* Overlong, past U+10FFFF, or a surrogate: RFC 3629 3. */
      if (hi < min || lo > 0x10FFFF || (lo >= 0xD800 && hi <= 0xDFFF)) return i + k;
    }
    i += len;
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int ref_complete;
  size_t ref_pos = ref_scan(data, size, &ref_complete);
  int ref_valid = ref_pos == size && ref_complete;

  REQUIRE(ws_utf8_valid(data, size) == ref_valid);

  ws_utf8 u;
  ws_utf8_init(&u);
  size_t pos = ws_utf8_scan(&u, data, size);
  REQUIRE(pos == ref_pos);
  if (pos == size) REQUIRE(ws_utf8_complete(&u) == ref_complete);
  else REQUIRE(ws_utf8_feed(&u, (const uint8_t *)"a", 1) == -1); /* sticky */

  size_t splits = size < 64 ? size : 64;
  for (size_t cut = 0; cut <= splits; cut++) {
    ws_utf8 s;
    ws_utf8_init(&s);
    int r1 = ws_utf8_feed(&s, data, cut);
    REQUIRE((r1 == 0) == (ref_pos >= cut));
    if (r1 != 0) continue;
    ws_utf8 before = s;
    int r2 = ws_utf8_feed(&s, data + cut, size - cut);
    REQUIRE((r2 == 0) == (ref_pos == size));
    if (r2 != 0) REQUIRE(cut + ws_utf8_scan(&before, data + cut, size - cut) == ref_pos);
    else REQUIRE(ws_utf8_complete(&s) == ref_complete);
  }
  return 0;
}
