/* util/swar.h — byte tests on eight bytes at once in a 64-bit word ("SIMD within a
 * register"), for scanners that skip plain bytes eight at a time.
 *
 * Owns: the bit tricks and why they are exact. Must not: load or scan (callers memcpy
 * their words, so alignment and aliasing are theirs). */
#ifndef WSIO_UTIL_SWAR_H
#define WSIO_UTIL_SWAR_H

#include <stdint.h>

#define SWAR_ONES 0x0101010101010101u
#define SWAR_HIGHS 0x8080808080808080u

/* The high bit of each byte of w that is below c (c at most 0x80), plus perhaps some
 * bytes above one that is (the subtraction's borrow): nonzero exactly when some byte is
 * below c, and the lowest flagged byte (little-endian) is a true one. */
static inline uint64_t swar_below(uint64_t w, uint8_t c) { return (w - SWAR_ONES * c) & ~w & SWAR_HIGHS; }

/* The same for bytes equal to c (a zero byte of w ^ c...c). */
static inline uint64_t swar_eq(uint64_t w, uint8_t c) { return swar_below(w ^ (SWAR_ONES * c), 1); }

/* Whether words x and y hold the same eight bytes ignoring ASCII case: they may differ
 * only in the case bit (0x20), and only in bytes that are letters. Those bytes are
 * looked at one by one (x | d has the case bit set there, so a letter is 'a' to 'z'):
 * header names have few capitals, fewer than the steps of a test on all eight. */
static inline int swar_ieq(uint64_t x, uint64_t y) {
  uint64_t d = x ^ y;
  if (d & ~(SWAR_ONES * 0x20)) return 0;
  uint64_t l = x | d;
  for (; d; d &= d - 1) {
    unsigned c = (unsigned)(l >> ((unsigned)__builtin_ctzll(d) & ~7u)) & 0xff;
    if (c - 'a' > 'z' - 'a') return 0;
  }
  return 1;
}

#endif
