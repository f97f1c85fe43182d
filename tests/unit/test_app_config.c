/* Unit tests for wsio-server's option value parsing (app/config.c, included directly
 * since it is part of the program, not the library). */
#include "app/config.c"
#include "test.h"

static void test_sizes(void) {
  static const struct {
    const char *in;
    int ok;
    uint64_t want;
  } cases[] = {
      {"0", 1, 0},
      {"1048576", 1, 1048576},
      {"64KiB", 1, 65536},
      {"64kib", 1, 65536},
      {"64k", 1, 65536},
      {"64KB", 1, 65536},
      {"16MiB", 1, 16u << 20},
      {"1GiB", 1, 1u << 30},
      {"12b", 1, 12},
      {"", 0, 0},
      {"KiB", 0, 0},
      {"-1", 0, 0},
      {"1.5MiB", 0, 0},
      {"16 MiB", 0, 0},
      {"16TiB", 0, 0},
      {"99999999999999999999", 0, 0},
      {"300000GiB", 0, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint64_t v = 0;
    int r = config_parse_size(cases[i].in, &v);
    CHECK_EQ_INT(r == 0, cases[i].ok);
    if (cases[i].ok) CHECK_EQ_INT(v, cases[i].want);
  }
}

static void test_seconds(void) {
  static const struct {
    const char *in;
    int ok;
    uint32_t ms;
  } cases[] = {
      {"25", 1, 25000}, {"0", 1, 0},     {"0.5", 1, 500},  {"1.25", 1, 1250}, {"0.0001", 1, 0},
      {"86400", 1, 86400000}, {"86401", 0, 0}, {"", 0, 0}, {"-1", 0, 0}, {"1.", 0, 0},
      {".5", 0, 0},     {"1s", 0, 0},    {"abc", 0, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint32_t ms = 0;
    int r = config_parse_seconds(cases[i].in, &ms);
    CHECK_EQ_INT(r == 0, cases[i].ok);
    if (cases[i].ok) CHECK_EQ_INT(ms, cases[i].ms);
  }
}

static void test_uint(void) {
  uint64_t v;
  CHECK_EQ_INT(config_parse_uint("65535", 65535, &v), 0);
  CHECK_EQ_INT(v, 65535);
  CHECK_EQ_INT(config_parse_uint("65536", 65535, &v), -1);
  CHECK_EQ_INT(config_parse_uint("", 10, &v), -1);
  CHECK_EQ_INT(config_parse_uint("1x", 10, &v), -1);
  CHECK_EQ_INT(config_parse_uint("+1", 10, &v), -1);
}

int main(void) {
  RUN(test_sizes);
  RUN(test_seconds);
  RUN(test_uint);
  return test_report();
}
