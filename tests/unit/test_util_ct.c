/* tests/unit/test_util_ct.c — util/ct.c: constant-time equality, table-driven. */
#include "test.h"
#include "util/ct.h"

static void test_ct_equal(void) {
  static const struct {
    const char *a, *b;
    int eq;
  } c[] = {
      {"", "", 1},
      {"a", "a", 1},
      {"sid-0123456789abcdef", "sid-0123456789abcdef", 1},
      {"a", "", 0},
      {"", "a", 0},
      {"a", "b", 0},
      {"abc", "abd", 0},
      {"xbc", "abc", 0},
      {"ab", "abc", 0},   /* a prefix of the secret */
      {"abc", "ab", 0},   /* the secret is a prefix */
      {"abab", "ab", 0},  /* the cycling compare must not make a repetition equal */
      {"ab", "abab", 0},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
    CHECK_EQ_INT(ct_equal(c[i].a, strlen(c[i].a), c[i].b, strlen(c[i].b)), c[i].eq);
  CHECK_EQ_INT(ct_equal(NULL, 0, NULL, 0), 1);
  CHECK_EQ_INT(ct_equal("x", 1, NULL, 0), 0);
  /* Lengths that differ by a multiple of 256 (their xor's low byte is zero). */
  static char a[600], b[600];
  memset(a, 'q', sizeof a);
  memset(b, 'q', sizeof b);
  CHECK_EQ_INT(ct_equal(a, 512, b, 256), 0);
  CHECK_EQ_INT(ct_equal(a, 256, b, 512), 0);
  CHECK_EQ_INT(ct_equal(a, 600, b, 600), 1);
  /* Every single-byte difference, every bit. */
  for (size_t i = 0; i < 64; i++)
    for (int bit = 0; bit < 8; bit++) {
      b[i] ^= (char)(1 << bit);
      CHECK_EQ_INT(ct_equal(a, 64, b, 64), 0);
      b[i] ^= (char)(1 << bit);
    }
  CHECK_EQ_INT(ct_equal(a, 64, b, 64), 1);
  /* Equal lengths go eight bytes at a time, then byte by byte: a difference at every
   * position of every length around the word size (a sid is 20 bytes) is seen. */
  for (size_t n = 1; n <= 24; n++)
    for (size_t i = 0; i < n; i++) {
      b[i] ^= 0x40;
      CHECK_EQ_INT(ct_equal(a, n, b, n), 0);
      b[i] ^= 0x40;
      CHECK_EQ_INT(ct_equal(a, n, b, n), 1);
    }
}

int main(void) {
  RUN(test_ct_equal);
  return test_report();
}
