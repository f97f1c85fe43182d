/* tests/unit/test_util_buf.c — util/buf.c: the growth rule and the byte buffer. */
#include <stdint.h>

#include "test.h"
#include "util/buf.h"
#include "wsio.h"

static void test_grow_cap(void) {
  static const struct {
    size_t cap, need, min, max, want;
  } c[] = {
      {0, 0, 256, SIZE_MAX, 0},        /* nothing needed: no allocation */
      {0, 1, 256, SIZE_MAX, 256},      /* the first allocation is the minimum */
      {0, 300, 256, SIZE_MAX, 512},    /* ...doubled until it fits */
      {256, 256, 256, SIZE_MAX, 256},  /* it fits: unchanged */
      {256, 257, 256, SIZE_MAX, 512},  /* doubles from the current capacity */
      {100, 1000, 256, SIZE_MAX, 1600},
      {0, 5, 0, SIZE_MAX, 8},          /* no minimum: doubles from 1 */
      {64, 100, 8, 100, 100},          /* clamped to max when doubling passes it */
      {64, 101, 8, 100, 0},            /* more than max: refused */
      {SIZE_MAX / 2 + 1, SIZE_MAX, 1, SIZE_MAX, SIZE_MAX}, /* no overflow past SIZE_MAX */
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
    CHECK_EQ_INT(grow_cap(c[i].cap, c[i].need, c[i].min, c[i].max), c[i].want);
}

static void test_append_reserve(void) {
  byte_buf b = BYTE_BUF_INIT;
  CHECK_EQ_INT(byte_buf_append(&b, NULL, 0), 0);
  CHECK(b.p == NULL); /* an empty append allocates nothing */
  char expect[5000];
  for (size_t i = 0; i < sizeof expect; i++) {
    char ch = (char)('a' + i % 26);
    expect[i] = ch;
    CHECK_EQ_INT(byte_buf_append(&b, &ch, 1), 0);
  }
  CHECK_EQ_INT(b.len, sizeof expect);
  CHECK(b.cap >= b.len && b.cap <= 2 * b.len); /* doubling: never more than twice */
  CHECK_MEM(b.p, expect, sizeof expect);
  size_t cap = b.cap;
  CHECK_EQ_INT(byte_buf_reserve(&b, cap - b.len), 0);
  CHECK_EQ_INT(b.cap, cap); /* room that is there already moves nothing */
  CHECK_EQ_INT(byte_buf_reserve(&b, SIZE_MAX), WSIO_ENOMEM); /* would wrap: refused */
  CHECK_EQ_INT(b.len, sizeof expect);
  CHECK_EQ_INT(b.cap, cap);
  byte_buf_free(&b);
  CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
}

static void test_reset_take(void) {
  byte_buf b = BYTE_BUF_INIT;
  CHECK_EQ_INT(byte_buf_append(&b, "hello", 5), 0);
  byte_buf_reset(&b, 1024); /* small: the memory stays for the next use */
  CHECK(b.p != NULL && b.len == 0 && b.cap == 256);
  static char big[70000];
  CHECK_EQ_INT(byte_buf_append(&b, big, sizeof big), 0);
  byte_buf_reset(&b, 64 * 1024); /* past keep_cap: given back */
  CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
  CHECK_EQ_INT(byte_buf_append(&b, "abc", 3), 0);
  uint8_t *p = byte_buf_take(&b);
  CHECK(p != NULL && memcmp(p, "abc", 3) == 0);
  CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
  free(p);
}

int main(void) {
  RUN(test_grow_cap);
  RUN(test_append_reserve);
  RUN(test_reset_take);
  return test_report();
}
