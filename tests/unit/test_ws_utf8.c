/* tests/unit/test_ws_utf8.c — ws/utf8.c: the incremental validator against the
 * Autobahn testsuite's group 6 cases and a slow reference decoder. */
#include "test.h"
#include "ws/utf8.h"

#include <stdint.h>

/* The reference: decodes by arithmetic rather than tables. After each byte of a
 * sequence it works out the range of code points still reachable and fails at the first
 * byte after which none of them is valid (RFC 3629: no overlongs, no surrogates, nothing
 * past U+10FFFF). Returns the index of the first invalid byte, or n; *complete says
 * whether a valid input ends at a character boundary. */
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
    else return i; /* a continuation byte, or a 5/6-byte lead */
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
      if (hi < min || lo > 0x10FFFF || (lo >= 0xD800 && hi <= 0xDFFF)) return i + k;
    }
    i += len;
  }
  return n;
}

enum { VALID = -1, INCOMPLETE = -2 };

/* Feeds the whole buffer at once; returns VALID, INCOMPLETE or the failure index. */
static long verdict_whole(const uint8_t *p, size_t n) {
  ws_utf8 u;
  ws_utf8_init(&u);
  size_t pos = ws_utf8_scan(&u, p, n);
  if (pos != n) return (long)pos;
  return ws_utf8_complete(&u) ? VALID : INCOMPLETE;
}

/* Feeds in pieces of `step` bytes through ws_utf8_feed, the way fragments arrive. */
static long verdict_split(const uint8_t *p, size_t n, size_t step) {
  ws_utf8 u;
  ws_utf8_init(&u);
  for (size_t i = 0; i < n; i += step) {
    size_t k = n - i < step ? n - i : step;
    ws_utf8 before = u;
    if (ws_utf8_feed(&u, p + i, k) != 0) {
      size_t at = ws_utf8_scan(&before, p + i, k);
      return (long)(i + at);
    }
  }
  return ws_utf8_complete(&u) ? VALID : INCOMPLETE;
}

static long verdict_ref(const uint8_t *p, size_t n) {
  int complete;
  size_t pos = ref_scan(p, n, &complete);
  if (pos != n) return (long)pos;
  return complete ? VALID : INCOMPLETE;
}

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static const struct {
  const char *name;
  const uint8_t *p;
  size_t n;
  long want; /* VALID, INCOMPLETE or index of the first invalid byte */
} cases[] = {
    {"6.1 empty", S(""), VALID},
    {"6.2 mixed", S("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"), VALID},
    {"6.3.1 kosme", S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), VALID},
    {"6.3.2 kosme + surrogate", S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"), 12},
    {"6.4.1 fail fast > U+10FFFF", S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64"), 12},
    {"6.4.3 fail fast F4 90", S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90"), 12},
    {"6.6 kosme truncated 1", S("\xce"), INCOMPLETE},
    {"6.6 kosme truncated 3", S("\xce\xba\xe1"), INCOMPLETE},
    {"6.6 kosme truncated 4", S("\xce\xba\xe1\xbd"), INCOMPLETE},
    {"6.7.1 U+0000", S("\x00"), VALID},
    {"6.7.2 U+0080", S("\xc2\x80"), VALID},
    {"6.7.3 U+0800", S("\xe0\xa0\x80"), VALID},
    {"6.7.4 U+10000", S("\xf0\x90\x80\x80"), VALID},
    {"6.8.1 5-byte U+200000", S("\xf8\x88\x80\x80\x80"), 0},
    {"6.8.2 6-byte U+4000000", S("\xfc\x84\x80\x80\x80\x80"), 0},
    {"6.9.1 U+007F", S("\x7f"), VALID},
    {"6.9.2 U+07FF", S("\xdf\xbf"), VALID},
    {"6.9.3 U+FFFF", S("\xef\xbf\xbf"), VALID},
    {"6.9.4 U+10FFFF", S("\xf4\x8f\xbf\xbf"), VALID},
    {"6.10.1 U+1FFFFF", S("\xf7\xbf\xbf\xbf"), 0},
    {"6.10.2 U+3FFFFFF", S("\xfb\xbf\xbf\xbf\xbf"), 0},
    {"6.10.3 U+7FFFFFFF", S("\xfd\xbf\xbf\xbf\xbf\xbf"), 0},
    {"6.11.1 U+D7FF", S("\xed\x9f\xbf"), VALID},
    {"6.11.2 U+E000", S("\xee\x80\x80"), VALID},
    {"6.11.3 U+FFFD", S("\xef\xbf\xbd"), VALID},
    {"6.11.4 U+10FFFF", S("\xf4\x8f\xbf\xbf"), VALID},
    {"6.11.5 U+110000", S("\xf4\x90\x80\x80"), 1},
    {"6.12.1 lone 80", S("\x80"), 0},
    {"6.12.2 lone BF", S("\xbf"), 0},
    {"6.12.3 80 BF", S("\x80\xbf"), 0},
    {"6.12.8 after ASCII", S("abc\x80\xbf\x80\xbf"), 3},
    {"6.13.1 C0 space", S("\xc0\x20\xc1\x20"), 0},
    {"6.13.2 E0 space", S("\xe0\x20"), 1},
    {"6.13.3 F0 space", S("\xf0\x20"), 1},
    {"6.13.4 F8 space", S("\xf8\x20"), 0},
    {"6.13.5 FC space", S("\xfc\x20"), 0},
    {"6.14.1 C0", S("\xc0"), 0},
    {"6.14.2 E0 80", S("\xe0\x80"), 1},
    {"6.14.3 F0 80 80", S("\xf0\x80\x80"), 1},
    {"6.14.4 F8 80 80 80", S("\xf8\x80\x80\x80"), 0},
    {"6.14.5 FC 80 80 80 80", S("\xfc\x80\x80\x80\x80"), 0},
    {"6.14.6 DF", S("\xdf"), INCOMPLETE},
    {"6.14.7 EF BF", S("\xef\xbf"), INCOMPLETE},
    {"6.14.8 F7 BF BF", S("\xf7\xbf\xbf"), 0},
    {"6.14.10 F4 8F BF", S("\xf4\x8f\xbf"), INCOMPLETE},
    {"6.15 concatenated incomplete", S("\xdf\xef\xbf"), 1},
    {"6.16.1 FE", S("\xfe"), 0},
    {"6.16.2 FF", S("\xff"), 0},
    {"6.16.3 FE FE FF FF", S("\xfe\xfe\xff\xff"), 0},
    {"6.17.1 overlong / 2", S("\xc0\xaf"), 0},
    {"6.17.2 overlong / 3", S("\xe0\x80\xaf"), 1},
    {"6.17.3 overlong / 4", S("\xf0\x80\x80\xaf"), 1},
    {"6.17.4 overlong / 5", S("\xf8\x80\x80\x80\xaf"), 0},
    {"6.17.5 overlong / 6", S("\xfc\x80\x80\x80\x80\xaf"), 0},
    {"6.18.1 max overlong 2", S("\xc1\xbf"), 0},
    {"6.18.2 max overlong 3", S("\xe0\x9f\xbf"), 1},
    {"6.18.3 max overlong 4", S("\xf0\x8f\xbf\xbf"), 1},
    {"6.19.1 overlong NUL 2", S("\xc0\x80"), 0},
    {"6.19.2 overlong NUL 3", S("\xe0\x80\x80"), 1},
    {"6.19.3 overlong NUL 4", S("\xf0\x80\x80\x80"), 1},
    {"6.20.1 U+D800", S("\xed\xa0\x80"), 1},
    {"6.20.2 U+DB7F", S("\xed\xad\xbf"), 1},
    {"6.20.3 U+DB80", S("\xed\xae\x80"), 1},
    {"6.20.4 U+DBFF", S("\xed\xaf\xbf"), 1},
    {"6.20.5 U+DC00", S("\xed\xb0\x80"), 1},
    {"6.20.6 U+DF80", S("\xed\xbe\x80"), 1},
    {"6.20.7 U+DFFF", S("\xed\xbf\xbf"), 1},
    {"6.21.1 U+D800 U+DC00", S("\xed\xa0\x80\xed\xb0\x80"), 1},
    {"6.21.8 U+DBFF U+DFFF", S("\xed\xaf\xbf\xed\xbf\xbf"), 1},
    {"6.22.1 U+FFFE", S("\xef\xbf\xbe"), VALID},
    {"6.22.2 U+FFFF", S("\xef\xbf\xbf"), VALID},
    {"6.22.3 U+1FFFE", S("\xf0\x9f\xbf\xbe"), VALID},
    {"6.22.34 U+10FFFE", S("\xf4\x8f\xbf\xbe"), VALID},
    {"6.23.1 U+FFFD", S("\xef\xbf\xbd"), VALID},
    {"6.23.2 BOM", S("\xef\xbb\xbf"), VALID},
    {"F5 lead", S("\xf5\x80\x80\x80"), 0},
    {"C2 then ASCII", S("\xc2\x41"), 1},
    {"long ASCII then bad", S("0123456789abcdef0123456789abcdef\xff"), 32},
    {"long ASCII then kosme", S("0123456789abcdef01234567\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 ok"), VALID},
    {"long ASCII then truncated", S("0123456789abcdef01234567\xf0\x9f\x98"), INCOMPLETE},
};

static void test_autobahn_cases(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].name;
    CHECK_EQ_INT(verdict_whole(cases[i].p, cases[i].n), cases[i].want);
    CHECK_EQ_INT(verdict_ref(cases[i].p, cases[i].n), cases[i].want);
    CHECK_EQ_INT(ws_utf8_valid(cases[i].p, cases[i].n), cases[i].want == VALID);
  }
}

/* Byte by byte, and every two-piece split, give the same verdict and position. */
static void test_split_feeding(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].name;
    for (size_t step = 1; step <= 5; step++)
      CHECK_EQ_INT(verdict_split(cases[i].p, cases[i].n, step), cases[i].want);
    for (size_t cut = 0; cut <= cases[i].n; cut++) {
      ws_utf8 u;
      ws_utf8_init(&u);
      long got;
      size_t a = ws_utf8_scan(&u, cases[i].p, cut);
      if (a != cut) {
        got = (long)a;
      } else {
        size_t b = ws_utf8_scan(&u, cases[i].p + cut, cases[i].n - cut);
        got = b != cases[i].n - cut ? (long)(cut + b) : ws_utf8_complete(&u) ? VALID : INCOMPLETE;
      }
      CHECK_EQ_INT(got, cases[i].want);
    }
  }
}

static void test_sticky(void) {
  ws_utf8 u;
  ws_utf8_init(&u);
  CHECK_EQ_INT(ws_utf8_feed(&u, S("ok")), 0);
  CHECK_EQ_INT(ws_utf8_feed(&u, S("\xc0")), -1);
  CHECK_EQ_INT(ws_utf8_feed(&u, S("still ok?")), -1);
  CHECK_EQ_INT(ws_utf8_feed(&u, S("")), -1);
  CHECK_EQ_INT(ws_utf8_scan(&u, S("abc")), 0);
  CHECK(!ws_utf8_complete(&u));
  /* A sequence split across fragments (RFC 6455 5.6 allows it) is fine. */
  ws_utf8_init(&u);
  CHECK_EQ_INT(ws_utf8_feed(&u, S("\xf0\x9f")), 0);
  CHECK(!ws_utf8_complete(&u));
  CHECK_EQ_INT(ws_utf8_feed(&u, S("\x98\x80")), 0);
  CHECK(ws_utf8_complete(&u));
}

/* A bad or multi-byte character at every position of a long ASCII run, so the 16- and
 * 8-byte fast paths hand over to the automaton at every alignment. */
static void test_fast_path_positions(void) {
  uint8_t buf[80];
  for (size_t at = 0; at < 64; at++) {
    memset(buf, 'a', sizeof buf);
    buf[at] = 0xFF;
    CHECK_EQ_INT(verdict_whole(buf, sizeof buf), at);
    CHECK_EQ_INT(verdict_whole(buf + 1, sizeof buf - 1), at == 0 ? VALID : (long)at - 1);
    memset(buf, 'a', sizeof buf);
    memcpy(buf + at, "\xe2\x82\xac", 3); /* U+20AC */
    CHECK_EQ_INT(verdict_whole(buf, sizeof buf), VALID);
    buf[at + 2] = 'x';
    CHECK_EQ_INT(verdict_whole(buf, sizeof buf), at + 2);
  }
}

static void compare_with_ref(const uint8_t *p, size_t n, int *bad) {
  if (verdict_whole(p, n) != verdict_ref(p, n)) (*bad)++;
}

/* Every 1- and 2-byte input; every 3-byte input whose last byte is from a set of
 * class representatives; every 4-byte input with a 4-byte-ish lead, any second byte
 * and representatives after that. */
static void test_exhaustive_vs_reference(void) {
  static const uint8_t reps[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                                 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
  const size_t nr = sizeof reps;
  int bad = 0;
  uint8_t b[4];
  for (unsigned x = 0; x < 256; x++) {
    b[0] = (uint8_t)x;
    compare_with_ref(b, 1, &bad);
    for (unsigned y = 0; y < 256; y++) {
      b[1] = (uint8_t)y;
      compare_with_ref(b, 2, &bad);
      for (size_t z = 0; z < nr; z++) {
        b[2] = reps[z];
        compare_with_ref(b, 3, &bad);
      }
    }
  }
  for (unsigned x = 0xE0; x < 0x100; x++)
    for (unsigned y = 0; y < 256; y++)
      for (size_t z = 0; z < nr; z++)
        for (size_t w = 0; w < nr; w++) {
          b[0] = (uint8_t)x, b[1] = (uint8_t)y, b[2] = reps[z], b[3] = reps[w];
          compare_with_ref(b, 4, &bad);
        }
  CHECK_EQ_INT(bad, 0);
}

/* Every scalar value U+0000..U+10FFFF encoded by hand is accepted, except surrogates. */
static void test_all_code_points(void) {
  int bad = 0;
  for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
    uint8_t b[4];
    size_t n;
    if (cp < 0x80) b[0] = (uint8_t)cp, n = 1;
    else if (cp < 0x800) b[0] = (uint8_t)(0xC0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
      b[0] = (uint8_t)(0xE0 | cp >> 12), b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)),
      b[2] = (uint8_t)(0x80 | (cp & 0x3F)), n = 3;
    else
      b[0] = (uint8_t)(0xF0 | cp >> 18), b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F)),
      b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (uint8_t)(0x80 | (cp & 0x3F)), n = 4;
    int surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    if (ws_utf8_valid(b, n) != !surrogate) bad++;
  }
  CHECK_EQ_INT(bad, 0);
}

int main(void) {
  RUN(test_autobahn_cases);
  RUN(test_split_feeding);
  RUN(test_sticky);
  RUN(test_fast_path_positions);
  RUN(test_exhaustive_vs_reference);
  RUN(test_all_code_points);
  return test_report();
}
