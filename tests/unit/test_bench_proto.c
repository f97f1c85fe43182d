/* tests/unit/test_bench_proto.c — the load generator's payload pattern (bench/src/proto.c).
 *
 * wsio-bench checks every echoed and broadcast byte against a pattern it regenerates
 * from a seed; a check that passes what it should not would let a server that corrupts
 * data through every benchmark and smoke test. The pattern comes from four LCG lanes
 * (word i from lane i % 4) and the check ORs the differences of all words: these tests
 * pin that any change of any byte, at any length (the lanes' rounds, the word tail and
 * the byte tail), and any other seed fail the check. */
#include <stdint.h>
#include <string.h>

#include "proto.h"
#include "test.h"

/* The same pattern written the plain way: word i from lane i % 4, lane k starting at
 * lcg(mix(seed) + k * golden), the last partial word's low bytes first. */
static uint64_t lcg(uint64_t x) { return x * 6364136223846793005ULL + 1442695040888963407ULL; }

static uint64_t mix(uint64_t z) { /* splitmix64's finalizer */
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static void reference(uint8_t *p, size_t n, uint64_t seed) {
  uint64_t lane[4];
  for (int k = 0; k < 4; k++) lane[k] = lcg(mix(seed) + (uint64_t)k * 0x9E3779B97F4A7C15ULL);
  for (size_t i = 0; i < n; i++) {
    size_t w = i / 8;
    uint64_t v = lane[w % 4];
    for (size_t r = 0; r < w / 4; r++) v = lcg(v);
    p[i] = (uint8_t)(v >> (8 * (i % 8)));
  }
}

static uint8_t buf[16400], ref[16400], tmp[16400];

static void test_matches_reference(void) {
  static const size_t sizes[] = {0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 130, 1000, 16384, 16385, 16391};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    size_t n = sizes[s];
    memset(buf, 0xEE, sizeof buf);
    proto_pattern_fill(buf, n, 12345 + n);
    reference(ref, n, 12345 + n);
    CHECK_MEM(buf, ref, n);
    CHECK_EQ_INT(buf[n], 0xEE); /* nothing written past n */
    CHECK(proto_pattern_check(buf, n, 12345 + n));
  }
}

static void test_any_changed_byte_fails(void) {
  for (size_t n = 1; n <= 130; n++) {
    proto_pattern_fill(buf, n, n * 7 + 1);
    for (size_t i = 0; i < n; i++)
      for (int bit = 0; bit < 8; bit += 7) {
        memcpy(tmp, buf, n);
        tmp[i] ^= (uint8_t)(1u << bit);
        if (proto_pattern_check(tmp, n, n * 7 + 1)) {
          CHECK(0);
          fprintf(stderr, "  n %zu: byte %zu bit %d changed, check passed\n", n, i, bit);
        }
      }
  }
  /* A 16 KiB message: every 61st byte, and the last. */
  size_t n = 16384;
  proto_pattern_fill(buf, n, 99);
  for (size_t i = 0; i < n; i += 61) {
    memcpy(tmp, buf, n);
    tmp[i] ^= 0x80;
    CHECK(!proto_pattern_check(tmp, n, 99));
  }
  memcpy(tmp, buf, n);
  tmp[n - 1] ^= 1;
  CHECK(!proto_pattern_check(tmp, n, 99));
}

/* Another seed fails, also one that differs only in the connection id's bits (bit 40
 * and up: wsio-bench seeds with id << 40 ^ sequence), down to one-byte messages. */
static void test_other_seed_fails(void) {
  for (size_t n = 1; n <= 64; n++) {
    proto_pattern_fill(buf, n, 1000);
    CHECK(!proto_pattern_check(buf, n, 1001));
    CHECK(!proto_pattern_check(buf, n, 1000 ^ ((uint64_t)1 << 40)));
  }
  /* Neighbouring seeds differ in every word of all four lanes. */
  proto_pattern_fill(buf, 64, 5);
  proto_pattern_fill(tmp, 64, 6);
  for (int w = 0; w < 8; w++) CHECK(memcmp(buf + 8 * w, tmp + 8 * w, 8) != 0);
}

int main(void) {
  RUN(test_matches_reference);
  RUN(test_any_changed_byte_fails);
  RUN(test_other_seed_fails);
  return test_report();
}
