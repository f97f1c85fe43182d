/* fuzz/fuzz_static.c — libFuzzer target for the pure helpers of app/static.c (the
 * static file server of wsio-server): static_path_clean, static_parse_http_date and
 * static_etag_matches. app/static.c belongs to the server, not to the library the fuzz
 * build compiles, so it is included here; its handler half links against the library.
 *
 * Every input goes through all three helpers. Invariants:
 *  - static_path_clean: a result >= 0 is the string's length (no NUL inside, NUL at
 *    out[r]); the cleaned path is relative ('/' + it is the absolute one), so it never
 *    starts or ends with '/', and it never holds a ".." segment (a name such as
 *    "a..b" is fine), "//", a backslash, a control byte, nor any segment starting
 *    with '.'; it fits the buffer; *is_dir follows the
 *    trailing '/'; cleaning '/' + the result again (when it has no '%' to re-decode) is
 *    a fixed point; the verdict does not depend on the buffer size when it fits.
 *  - static_parse_http_date: a parsed time formats (static_http_date) to an
 *    IMF-fixdate that parses back to the same time.
 *  - static_etag_matches: "*" and the tag itself match; leading commas/whitespace do
 *    not change the answer. */
#include "app/static.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c)     \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

static void check_clean(const char *p, size_t n) {
  char out[512];
  int is_dir = -1;
  int r = static_path_clean(p, n, out, sizeof(out), &is_dir);
  REQUIRE(r >= STATIC_EBADPATH);
  if (r < 0) {
    /* The same verdict with a larger buffer, unless the small one was the reason. */
    if (r != STATIC_ETOOLONG) {
      char big[4096];
      int d2 = -1;
      if (n < sizeof(big)) REQUIRE(static_path_clean(p, n, big, sizeof(big), &d2) == r);
    }
    return;
  }
  REQUIRE((size_t)r < sizeof(out));
  REQUIRE(out[r] == '\0');
  REQUIRE(strlen(out) == (size_t)r); /* no NUL inside */
  REQUIRE(is_dir == (p[n - 1] == '/'));
  REQUIRE(n > 0 && p[0] == '/');
  if (r > 0) {
    REQUIRE(out[0] != '/');
    REQUIRE(out[r - 1] != '/');
    REQUIRE(out[0] != '.');
  }
  /* No dot segment ("a..b" is an ordinary name; "/../" or a leading "../" is not). */
  REQUIRE(strcmp(out, "..") != 0 && strncmp(out, "../", 3) != 0);
  REQUIRE(!strstr(out, "/../"));
  REQUIRE(r < 3 || strcmp(out + r - 3, "/..") != 0);
  REQUIRE(!strstr(out, "//"));
  REQUIRE(!strstr(out, "/."));
  REQUIRE(!strchr(out, '\\'));
  for (int i = 0; i < r; i++) REQUIRE((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);

  /* Fixed point: "/" + out cleans to out (only without '%', which would decode again). */
  if (!strchr(out, '%')) {
    char abs[520], again[512];
    abs[0] = '/';
    memcpy(abs + 1, out, (size_t)r);
    int d2 = -1;
    int r2 = static_path_clean(abs, (size_t)r + 1, again, sizeof(again), &d2);
    REQUIRE(r2 == r);
    REQUIRE(memcmp(again, out, (size_t)r + 1) == 0);
  }

  /* A buffer that exactly fits gives the same answer; one byte less is too long. */
  char exact[512];
  int d3 = -1;
  REQUIRE(static_path_clean(p, n, exact, (size_t)r + 1, &d3) == r);
  REQUIRE(memcmp(exact, out, (size_t)r + 1) == 0);
  if (r > 0) REQUIRE(static_path_clean(p, n, exact, (size_t)r, &d3) == STATIC_ETOOLONG);
}

static void check_date(const char *s, size_t n) {
  time_t t = 0;
  if (static_parse_http_date(s, n, &t) != 0) return;
  char buf[64];
  size_t len = static_http_date(buf, sizeof(buf), t);
  if (len == 0) return; /* a year the IMF-fixdate cannot show */
  REQUIRE(len == 29);
  time_t t2 = 0;
  REQUIRE(static_parse_http_date(buf, len, &t2) == 0);
  REQUIRE(t2 == t);
}

static void check_etag(const char *s, size_t n) {
  static const char *const tags[] = {"W/\"1a-2b\"", "\"x\"", "\"\""};
  for (size_t k = 0; k < sizeof(tags) / sizeof(tags[0]); k++) {
    int m = static_etag_matches(s, n, tags[k]);
    REQUIRE(m == 0 || m == 1);
    /* Leading separators change nothing. */
    char *pre = malloc(n + 3);
    REQUIRE(pre);
    memcpy(pre, " ,\t", 3);
    if (n) memcpy(pre + 3, s, n);
    REQUIRE(static_etag_matches(pre, n + 3, tags[k]) == m);
    free(pre);
    REQUIRE(static_etag_matches("*", 1, tags[k]) == 1);
    const char *opaque = tags[k][0] == 'W' ? tags[k] + 2 : tags[k];
    REQUIRE(static_etag_matches(tags[k], strlen(tags[k]), tags[k]) == 1);
    REQUIRE(static_etag_matches(opaque, strlen(opaque), tags[k]) == 1);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Exact-size heap copies, so ASan sees any read past the end. */
  char *p = malloc(size ? size : 1);
  if (!p) return 0;
  if (size) memcpy(p, data, size);
  if (size) check_clean(p, size);
  else {
    char out[8];
    int d = 0;
    REQUIRE(static_path_clean(p, 0, out, sizeof(out), &d) == STATIC_EBADPATH);
  }
  check_date(p, size);
  check_etag(p, size);
  free(p);
  return 0;
}
