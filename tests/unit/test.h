/* tests/unit/test.h — the minimal unit-test harness used by every tests/unit/test_*.c.
 *
 * A test is a `static void test_x(void)` registered in main with RUN(test_x). CHECK
 * records a failure and keeps going; the process exits non-zero when any check failed
 * and prints "N passed, N failed" (checks) as its last line. */
#ifndef WSIO_TEST_H
#define WSIO_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_checks_passed, test_checks_failed;
static const char *test_current = "";

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (cond) {                                                                          \
      test_checks_passed++;                                                              \
    } else {                                                                             \
      test_checks_failed++;                                                              \
      fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__, test_current, \
              #cond);                                                                    \
    }                                                                                    \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                                \
  do {                                                                                    \
    long long _a = (long long)(a), _b = (long long)(b);                                   \
    if (_a == _b) {                                                                       \
      test_checks_passed++;                                                               \
    } else {                                                                              \
      test_checks_failed++;                                                               \
      fprintf(stderr, "%s:%d: %s: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, \
              test_current, #a, _a, #b, _b);                                             \
    }                                                                                     \
  } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)
#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)

#define RUN(fn)             \
  do {                      \
    test_current = #fn;     \
    fn();                   \
  } while (0)

static inline int test_report(void) {
  printf("%d passed, %d failed\n", test_checks_passed, test_checks_failed);
  return test_checks_failed ? 1 : 0;
}

#endif
