/* tests/unit/test_ascii.c — util/ascii.h's ascii_ieq (and util/swar.h's swar_ieq under
 * it) against a byte-at-a-time reference: every pair of byte values at every position
 * of every length from 1 to 24 (each word and tail shape), the bytes around equal or
 * differing in case; the pairs that differ only in the case bit but are no letters
 * ('^' and '~', '@' and '`', '[' and '{', 0xC1 and 0xE1) must not compare equal; and
 * no byte outside the n given is read (strings that end where an inaccessible page
 * begins, and start where an accessible one does). */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"
#include "util/ascii.h"

static int ref_lower(int b) { return b >= 'A' && b <= 'Z' ? b | 0x20 : b; }

static int ref_ieq(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (ref_lower((uint8_t)a[i]) != ref_lower((uint8_t)b[i])) return 0;
  return 1;
}

static void test_table(void) {
  static const struct {
    const char *a, *b;
    int eq;
  } cases[] = {
      {"content-type", "Content-Type", 1},
      {"Sec-WebSocket-Key", "sec-websocket-key", 1},
      {"Sec-WebSocket-Key", "SEC-WEBSOCKET-KEX", 0},
      {"transfer-encoding", "TRANSFER-ENCODING", 1},
      {"transfer-encoding", "transfer-encodinG", 1},
      {"transfer-encoding", "transfer-encodin6", 0},
      {"origin", "ORIGIN", 1},
      {"x^y", "x~y", 0}, /* differ in 0x20 only, no letters (both token bytes) */
      {"@", "`", 0},
      {"[", "{", 0},
      {"]]]]]]]]", "}}}}}}}}", 0},
      {"\xc1", "\xe1", 0}, /* high-bit bytes do not fold */
      {"a-b", "A\rB", 0},  /* '-' and CR differ in 0x20 */
      {"Connection", "connection", 1},
      {"Connection", "connectiom", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t n = strlen(cases[i].a);
    CHECK_EQ_INT(strlen(cases[i].b), n);
    CHECK_EQ_INT(ascii_ieq(cases[i].a, cases[i].b, n), cases[i].eq);
    CHECK_EQ_INT(ascii_ieq(cases[i].b, cases[i].a, n), cases[i].eq);
  }
  CHECK_EQ_INT(ascii_ieq("a", "b", 0), 1);
}

/* Every (x, y) at every position of every length: one byte differs, or the same byte
 * in another case. */
static void test_exhaustive(void) {
  char a[32], b[32];
  int wrong = 0;
  for (size_t n = 1; n <= 24; n++) {
    for (size_t pos = 0; pos < n; pos++) {
      for (int x = 0; x < 256; x++) {
        for (int y = 0; y < 256; y++) {
          memset(a, 'k', sizeof(a));
          memset(b, 'K', sizeof(b));
          a[pos] = (char)x;
          b[pos] = (char)y;
          b[n] = 'z'; /* past the end: must not count */
          if (ascii_ieq(a, b, n) != ref_ieq(a, b, n) && wrong++ < 5)
            fprintf(stderr, "n %zu pos %zu: 0x%02x vs 0x%02x\n", n, pos, x, y);
        }
      }
    }
  }
  CHECK_EQ_INT(wrong, 0);
}

/* swar_ieq on words: every pair of byte values at each of the eight places, the other
 * bytes equal, or all differing in case (every byte a candidate at once). */
static void test_words(void) {
  int wrong = 0;
  for (int at = 0; at < 8; at++) {
    for (int v = 0; v < 256; v++) {
      for (int u = 0; u < 256; u++) {
        char a[8], b[8];
        for (int mixed = 0; mixed < 2; mixed++) {
          memset(a, 'q', 8);
          memset(b, mixed ? 'Q' : 'q', 8);
          a[at] = (char)v;
          b[at] = (char)u;
          uint64_t x, y;
          memcpy(&x, a, 8);
          memcpy(&y, b, 8);
          wrong += swar_ieq(x, y) != ref_ieq(a, b, 8);
        }
      }
    }
  }
  CHECK_EQ_INT(wrong, 0);
}

/* Strings at the very end of a page followed by PROT_NONE (and at the very start of
 * one after PROT_NONE): an over-read would crash the test. */
static void test_page_edges(void) {
  long pg = sysconf(_SC_PAGESIZE);
  char *m = mmap(NULL, (size_t)pg * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(m != MAP_FAILED);
  if (m == MAP_FAILED) return;
  CHECK_EQ_INT(mprotect(m, (size_t)pg, PROT_NONE), 0);
  CHECK_EQ_INT(mprotect(m + 2 * pg, (size_t)pg, PROT_NONE), 0);
  char *first = m + pg, *end = m + 2 * pg;
  static const char name[] = "Sec-WebSocket-Extensions", lower[] = "sec-websocket-extensions";
  for (size_t n = 0; n <= 24; n++) {
    memcpy(end - n, name, n);
    memcpy(first, lower, n);
    CHECK_EQ_INT(ascii_ieq(end - n, first, n), 1);
    CHECK_EQ_INT(ascii_ieq(first, end - n, n), 1);
  }
  munmap(m, (size_t)pg * 3);
}

int main(void) {
  RUN(test_table);
  RUN(test_page_edges);
  RUN(test_words);
  RUN(test_exhaustive);
  return test_report();
}
