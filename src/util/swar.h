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

#endif
