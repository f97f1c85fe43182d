/* tests/unit/test_ws_close.c — ws/close.c: status codes, close payload parse/encode. */
#include "test.h"
#include "ws/close.h"
#include "ws/frame.h"
#include "ws/utf8.h"

/* The rule written independently of the implementation (RFC 6455 7.4, IANA registry). */
static int rule(unsigned c) {
  static const unsigned assigned[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                      1010, 1011, 1012, 1013, 1014};
  for (size_t i = 0; i < sizeof assigned / sizeof assigned[0]; i++)
    if (c == assigned[i]) return 1;
  return c >= 3000 && c < 5000;
}

static void test_code_table(void) {
  for (unsigned c = 0; c <= 5000; c++) CHECK_EQ_INT(ws_close_code_valid(c), rule(c));
  CHECK(!ws_close_code_valid(1004));
  CHECK(!ws_close_code_valid(WS_CLOSE_NO_STATUS));
  CHECK(!ws_close_code_valid(WS_CLOSE_ABNORMAL));
  CHECK(!ws_close_code_valid(WS_CLOSE_TLS_HANDSHAKE));
  CHECK(!ws_close_code_valid(65535));
  CHECK(!ws_close_code_valid(65536 + 1000));
}

/* Every code 0..5000 on the wire: accepted exactly when the rule says so. */
static void test_parse_every_code(void) {
  int bad = 0;
  for (unsigned c = 0; c <= 5000; c++) {
    uint8_t p[2] = {(uint8_t)(c >> 8), (uint8_t)c};
    unsigned code = 0;
    const uint8_t *r;
    size_t rl = 99;
    int got = ws_close_parse(p, 2, &code, &r, &rl);
    if (rule(c) ? (got != 0 || code != c || rl != 0) : got != WS_CLOSE_PROTOCOL_ERROR) bad++;
  }
  CHECK_EQ_INT(bad, 0);
}

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static void test_parse_table(void) {
  static const struct {
    const char *name;
    const uint8_t *p;
    size_t n;
    int want;
    unsigned code;
    size_t reason_len;
  } cases[] = {
      {"empty", S(""), 0, WS_CLOSE_NO_STATUS, 0},
      {"one byte", S("\x03"), WS_CLOSE_PROTOCOL_ERROR, 0, 0},
      {"1000", S("\x03\xe8"), 0, 1000, 0},
      {"1000 + reason", S("\x03\xe8" "bye"), 0, 1000, 3},
      {"4999 + utf8 reason", S("\x13\x87" "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), 0, 4999, 11},
      {"1005 on the wire", S("\x03\xed"), WS_CLOSE_PROTOCOL_ERROR, 0, 0},
      {"1006 on the wire", S("\x03\xee"), WS_CLOSE_PROTOCOL_ERROR, 0, 0},
      {"1015 on the wire", S("\x03\xf7"), WS_CLOSE_PROTOCOL_ERROR, 0, 0},
      {"0", S("\x00\x00"), WS_CLOSE_PROTOCOL_ERROR, 0, 0},
      {"5000", S("\x13\x88"), WS_CLOSE_PROTOCOL_ERROR, 0, 0},
      {"65535", S("\xff\xff"), WS_CLOSE_PROTOCOL_ERROR, 0, 0},
      {"bad utf8 reason", S("\x03\xe8" "a\xff"), WS_CLOSE_PROTOCOL_ERROR, 0, 0},
      {"surrogate reason", S("\x03\xe8" "\xed\xa0\x80"), WS_CLOSE_PROTOCOL_ERROR, 0, 0},
      {"truncated utf8 reason", S("\x03\xe8" "\xce"), WS_CLOSE_PROTOCOL_ERROR, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].name;
    unsigned code = 0;
    const uint8_t *r = NULL;
    size_t rl = 0;
    CHECK_EQ_INT(ws_close_parse(cases[i].p, cases[i].n, &code, &r, &rl), cases[i].want);
    if (cases[i].want != 0) continue;
    CHECK_EQ_INT(code, cases[i].code);
    CHECK_EQ_INT(rl, cases[i].reason_len);
    if (rl) CHECK(r == cases[i].p + 2);
  }
}

static void test_encode(void) {
  uint8_t out[125];
  CHECK_EQ_INT(ws_close_encode(out, 0, "ignored", 7), 0);
  CHECK_EQ_INT(ws_close_encode(out, WS_CLOSE_NO_STATUS, NULL, 0), 0);
  CHECK_EQ_INT(ws_close_encode(out, WS_CLOSE_ABNORMAL, "x", 1), 0);
  CHECK_EQ_INT(ws_close_encode(out, WS_CLOSE_NORMAL, NULL, 0), 2);
  CHECK_MEM(out, "\x03\xe8", 2);
  CHECK_EQ_INT(ws_close_encode(out, WS_CLOSE_GOING_AWAY, "bye", 3), 5);
  CHECK_MEM(out, "\x03\xe9" "bye", 5);
  CHECK_EQ_INT(ws_close_encode(out, 4000, "", 0), 2);
  CHECK_MEM(out, "\x0f\xa0", 2);
}

/* Reasons longer than 123 bytes are cut at a character boundary (RFC 6455 5.5: 125
 * bytes in all) and the result always parses back. */
static void test_encode_truncates(void) {
  char reason[300];
  memset(reason, 'r', sizeof reason);
  uint8_t out[125 + 16];
  memset(out, 0xAA, sizeof out);
  CHECK_EQ_INT(ws_close_encode(out, 1000, reason, 123), 125);
  CHECK_EQ_INT(ws_close_encode(out, 1000, reason, 300), 125);
  CHECK_EQ_INT(out[125], 0xAA);
  /* Each multi-byte character width, placed so the 123-byte cut falls at every
   * position inside it. */
  static const char *chars[] = {"\xc2\xb5", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  for (size_t w = 0; w < 3; w++) {
    size_t cw = w + 2;
    for (size_t shift = 0; shift < cw; shift++) {
      memset(reason, 'a', sizeof reason);
      size_t pos = 123 - shift; /* character starts here, so the cut is `shift` bytes in */
      memcpy(reason + pos, chars[w], cw);
      size_t n = ws_close_encode(out, 1000, reason, 200);
      size_t expect = 2 + (shift == 0 ? 123 : pos);
      CHECK_EQ_INT(n, expect);
      CHECK(n <= 125);
      unsigned code;
      const uint8_t *r;
      size_t rl;
      CHECK_EQ_INT(ws_close_parse(out, n, &code, &r, &rl), 0);
      CHECK(ws_utf8_valid(r, rl));
    }
  }
  /* All multi-byte: the cut backs off to the last whole character. */
  for (size_t i = 0; i < 100; i++) memcpy(reason + 3 * i, "\xe2\x82\xac", 3);
  size_t n = ws_close_encode(out, 1000, reason, 300);
  CHECK_EQ_INT(n, 2 + 123);
  for (size_t i = 0; i < 100; i++) memcpy(reason + 2 * i, "\xc2\xb5", 2);
  n = ws_close_encode(out, 1000, reason, 200);
  CHECK_EQ_INT(n, 2 + 122);
  CHECK(ws_utf8_valid(out + 2, n - 2));
}

static void test_roundtrip(void) {
  uint8_t out[125];
  for (unsigned c = 0; c <= 5000; c++) {
    size_t n = ws_close_encode(out, c, "why", 3);
    if (!rule(c)) {
      CHECK_EQ_INT(n, 0);
      continue;
    }
    unsigned code;
    const uint8_t *r;
    size_t rl;
    CHECK_EQ_INT(ws_close_parse(out, n, &code, &r, &rl), 0);
    CHECK_EQ_INT(code, c);
    CHECK(rl == 3 && memcmp(r, "why", 3) == 0);
  }
}

int main(void) {
  RUN(test_code_table);
  RUN(test_parse_every_code);
  RUN(test_parse_table);
  RUN(test_encode);
  RUN(test_encode_truncates);
  RUN(test_roundtrip);
  return test_report();
}
