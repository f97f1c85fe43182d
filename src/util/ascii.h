/* util/ascii.h — comparison of byte strings ignoring ASCII case (header names, tokens),
 * eight bytes at a time: the one such compare, for the HTTP parser's lookups
 * (http/parser.c) and core's index of the headers it reads (core/http_session.c).
 *
 * Owns: the loads (words that may overlap; no byte outside the n given is read). Must
 * not: know HTTP (which bytes a name may hold: any byte compares exactly, only 'A'-'Z'
 * and 'a'-'z' fold). */
#ifndef WSIO_UTIL_ASCII_H
#define WSIO_UTIL_ASCII_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/swar.h"

/* 1 to 7 bytes at p as one word: two overlapping 4-byte loads, or bytes 0, n/2 and
 * n-1 (which cover all of 1 to 3). Both strings are loaded alike, so the words compare
 * byte for byte. */
static inline uint64_t ascii_load_short(const char *p, size_t n) {
  if (n >= 4) {
    uint32_t lo, hi;
    memcpy(&lo, p, 4);
    memcpy(&hi, p + n - 4, 4);
    return lo | (uint64_t)hi << 32;
  }
  return (uint64_t)(uint8_t)p[0] | (uint64_t)(uint8_t)p[n / 2] << 8 | (uint64_t)(uint8_t)p[n - 1] << 16;
}

/* Whether the n bytes at a and at b are the same ignoring ASCII case. Eight bytes at a
 * time; the last word overlaps the one before it rather than ending in a byte loop
 * (most header names are 6 to 17 bytes long). */
static inline int ascii_ieq(const char *a, const char *b, size_t n) {
  if (n == 0) return 1;
  /* Names of one length that differ mostly differ at once (core looks names up by
   * length first): one byte decides those. */
  if (((uint8_t)a[0] ^ (uint8_t)b[0]) & ~0x20) return 0;
  if (n < 8) return swar_ieq(ascii_load_short(a, n), ascii_load_short(b, n));
  uint64_t x, y;
  for (size_t i = 0; i + 8 < n; i += 8) {
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    if (!swar_ieq(x, y)) return 0;
  }
  memcpy(&x, a + n - 8, 8);
  memcpy(&y, b + n - 8, 8);
  return swar_ieq(x, y);
}

#endif
