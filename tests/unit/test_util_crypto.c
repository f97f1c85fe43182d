/* Unit tests: util/sha1 (FIPS 180 vectors, and OpenSSL as an independent reference
 * over every length and split) and util/random (the kernel's bytes, base64ids). */
#include "test.h"
#include "util/random.h"
#include "util/sha1.h"

#include <openssl/sha.h>
#include <stdint.h>

static void hex(const uint8_t *d, char out[2 * SHA1_LEN + 1]) {
  for (int i = 0; i < SHA1_LEN; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void sha1_of(const void *p, size_t n, uint8_t out[SHA1_LEN]) {
  sha1_ctx c;
  sha1_init(&c);
  sha1_update(&c, p, n);
  sha1_final(&c, out);
}

/* FIPS 180-2 appendix A and the NIST example vectors. */
static void test_sha1_vectors(void) {
  static const struct {
    const char *msg;
    const char *digest;
  } v[] = {
      {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
      {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
      {"The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"},
      /* RFC 6455 1.3's example key + GUID */
      {"dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
       "b37a4f2cc0624f1690f64606cf385945b2bec4ea"},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8_t d[SHA1_LEN];
    char h[2 * SHA1_LEN + 1];
    sha1_of(v[i].msg, strlen(v[i].msg), d);
    hex(d, h);
    CHECK_STR(h, v[i].digest);
  }
  /* A million 'a', fed in uneven pieces. */
  static char a[1000];
  memset(a, 'a', sizeof a);
  sha1_ctx c;
  sha1_init(&c);
  for (size_t done = 0, step = 1; done < 1000000; done += step, step = step % 997 + 1) {
    if (done + step > 1000000) step = 1000000 - done;
    sha1_update(&c, a, step);
  }
  uint8_t d[SHA1_LEN];
  char h[2 * SHA1_LEN + 1];
  sha1_final(&c, d);
  hex(d, h);
  CHECK_STR(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

/* Every length across the padding boundaries (55, 56, 63, 64 ...), each split in two at
 * every third point, against OpenSSL. */
static void test_sha1_against_openssl(void) {
  uint8_t msg[300];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 131 + 7);
  int mismatches = 0;
  for (size_t n = 0; n <= sizeof msg; n++) {
    uint8_t want[SHA_DIGEST_LENGTH];
    SHA1(msg, n, want);
    for (size_t cut = 0; cut <= n; cut += 3) {
      sha1_ctx c;
      uint8_t got[SHA1_LEN];
      sha1_init(&c);
      sha1_update(&c, msg, cut);
      sha1_update(&c, msg + cut, n - cut);
      sha1_final(&c, got);
      if (memcmp(got, want, SHA1_LEN) != 0) mismatches++;
    }
  }
  CHECK_EQ_INT(mismatches, 0);
}

static void test_random_bytes(void) {
  /* Bigger than one getrandom call may return at once for some sizes, and odd. */
  size_t n = (1u << 20) + 3;
  uint8_t *b = calloc(1, n);
  CHECK(b != NULL);
  if (!b) return;
  CHECK_EQ_INT(random_bytes(b, n), 0);
  /* Every byte value shows up in a megabyte of random bytes (one missing: p ~ 2^-5900). */
  int seen[256] = {0};
  for (size_t i = 0; i < n; i++) seen[b[i]] = 1;
  int distinct = 0;
  for (int i = 0; i < 256; i++) distinct += seen[i];
  CHECK_EQ_INT(distinct, 256);
  CHECK_EQ_INT(random_bytes(b, 0), 0);
  free(b);
}

static void test_random_id(void) {
  enum { N = 2000 };
  static char ids[N][RANDOM_ID_LEN + 1];
  int bad = 0, dup = 0;
  for (int i = 0; i < N; i++) {
    memset(ids[i], '*', sizeof ids[i]);
    CHECK_EQ_INT(random_id(ids[i]), 0);
    if (ids[i][RANDOM_ID_LEN] != '\0' || strlen(ids[i]) != RANDOM_ID_LEN) bad++;
    for (int k = 0; k < RANDOM_ID_LEN; k++) {
      char ch = ids[i][k];
      int url_safe = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                     ch == '-' || ch == '_';
      if (!url_safe) bad++;
    }
    for (int j = 0; j < i; j++)
      if (!strcmp(ids[i], ids[j])) dup++;
  }
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(dup, 0);
}

int main(void) {
  RUN(test_sha1_vectors);
  RUN(test_sha1_against_openssl);
  RUN(test_random_bytes);
  RUN(test_random_id);
  return test_report();
}
