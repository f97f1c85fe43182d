/* bench/src/proto.c — SHA-1, base64, client frame headers, masking, payload patterns.
 * See proto.h; nothing here touches a socket. */
#include "proto.h"

#include <string.h>

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const uint8_t *b) {
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] =
        (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
  for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) {
      f = (bb & c) | (~bb & d);
      k = 0x5A827999;
    } else if (i < 40) {
      f = bb ^ c ^ d;
      k = 0x6ED9EBA1;
    } else if (i < 60) {
      f = (bb & c) | (bb & d) | (c & d);
      k = 0x8F1BBCDC;
    } else {
      f = bb ^ c ^ d;
      k = 0xCA62C1D6;
    }
    uint32_t t = rol(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = rol(bb, 30);
    bb = a;
    a = t;
  }
  h[0] += a;
  h[1] += bb;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

void proto_sha1(const void *data, size_t n, uint8_t out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  const uint8_t *p = data;
  size_t left = n;
  for (; left >= 64; left -= 64, p += 64) sha1_block(h, p);
  /* FIPS 180-4 5.1.1: a 1 bit, zeros, then the message length in bits (big-endian). */
  uint8_t tail[128] = {0};
  memcpy(tail, p, left);
  tail[left] = 0x80;
  size_t tail_len = left < 56 ? 64 : 128;
  uint64_t bits = (uint64_t)n * 8;
  for (int i = 0; i < 8; i++) tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
  sha1_block(h, tail);
  if (tail_len == 128) sha1_block(h, tail + 64);
  for (int i = 0; i < 5; i++) {
    out[4 * i] = (uint8_t)(h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(h[i] >> 8);
    out[4 * i + 3] = (uint8_t)h[i];
  }
}

size_t proto_base64(const uint8_t *p, size_t n, char *out) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < n) v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    out[o++] = tab[(v >> 18) & 63];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? tab[v & 63] : '=';
  }
  out[o] = '\0';
  return o;
}

void proto_accept(const char *key, size_t key_len, char out[PROTO_ACCEPT_LEN + 1]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; /* RFC 6455 1.3 */
  char buf[256];
  uint8_t digest[20];
  if (key_len > sizeof buf - (sizeof guid - 1)) key_len = sizeof buf - (sizeof guid - 1);
  memcpy(buf, key, key_len);
  memcpy(buf + key_len, guid, sizeof guid - 1);
  proto_sha1(buf, key_len + sizeof guid - 1, digest);
  proto_base64(digest, sizeof digest, out);
}

size_t proto_client_header(uint8_t *out, uint8_t opcode, uint64_t n, uint32_t mask) {
  size_t h = 0;
  out[h++] = (uint8_t)(0x80 | (opcode & 0x0F));
  /* RFC 6455 5.2: 7-bit length, or 126 + 16-bit, or 127 + 64-bit, always the shortest. */
  if (n < 126) {
    out[h++] = (uint8_t)(0x80 | n);
  } else if (n <= 0xFFFF) {
    out[h++] = 0x80 | 126;
    out[h++] = (uint8_t)(n >> 8);
    out[h++] = (uint8_t)n;
  } else {
    out[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) out[h++] = (uint8_t)(n >> (8 * i));
  }
  memcpy(out + h, &mask, 4);
  return h + 4;
}

void proto_mask(uint8_t *p, size_t n, const uint8_t mask[4]) {
  uint32_t m32;
  memcpy(&m32, mask, 4);
  uint64_t m64 = (uint64_t)m32 << 32 | m32;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, p + i, 8);
    v ^= m64;
    memcpy(p + i, &v, 8);
  }
  for (; i < n; i++) p[i] ^= mask[i & 3];
}

static uint64_t lcg(uint64_t x) { return x * 6364136223846793005ULL + 1442695040888963407ULL; }

/* The pattern: four LCG lanes, word i from lane i % 4, each lane in a variable of its
 * own so that the four multiplies of a round run side by side (one lane waits a
 * multiply's latency per word: at 16 KiB the load generator spent over 40 % of its core
 * filling and checking patterns, perf of `echo -c 10 -d 4 -s 16384`). The seed is mixed
 * first (splitmix64's finalizer): an LCG's low bits depend only on its input's low bits,
 * so seeds that differ only high up (the connection id, at bit 40) gave the same first
 * five bytes of every lane, and messages of up to five bytes of two connections could
 * have been swapped unnoticed (tests/unit/test_bench_proto.c). */
static void pattern_seed(uint64_t x[4], uint64_t seed) {
  uint64_t z = seed;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  for (int k = 0; k < 4; k++) x[k] = lcg(z + (uint64_t)k * 0x9E3779B97F4A7C15ULL);
}

static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

void proto_pattern_fill(uint8_t *p, size_t n, uint64_t seed) {
  uint64_t x[4];
  pattern_seed(x, seed);
  uint64_t a = x[0], b = x[1], c = x[2], d = x[3];
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    memcpy(p + i, &a, 8);
    memcpy(p + i + 8, &b, 8);
    memcpy(p + i + 16, &c, 8);
    memcpy(p + i + 24, &d, 8);
    a = lcg(a), b = lcg(b), c = lcg(c), d = lcg(d);
  }
  x[0] = a, x[1] = b, x[2] = c, x[3] = d;
  int k = 0;
  for (; i + 8 <= n; i += 8, k++) memcpy(p + i, &x[k], 8);
  for (size_t j = 0; i < n; i++, j++) p[i] = (uint8_t)(x[k] >> (8 * j));
}

int proto_pattern_check(const uint8_t *p, size_t n, uint64_t seed) {
  uint64_t x[4], diff = 0;
  pattern_seed(x, seed);
  uint64_t a = x[0], b = x[1], c = x[2], d = x[3];
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    diff |= (load64(p + i) ^ a) | (load64(p + i + 8) ^ b) | (load64(p + i + 16) ^ c) | (load64(p + i + 24) ^ d);
    a = lcg(a), b = lcg(b), c = lcg(c), d = lcg(d);
  }
  x[0] = a, x[1] = b, x[2] = c, x[3] = d;
  int k = 0;
  for (; i + 8 <= n; i += 8, k++) diff |= load64(p + i) ^ x[k];
  for (size_t j = 0; i < n; i++, j++) diff |= (uint8_t)(p[i] ^ (uint8_t)(x[k] >> (8 * j)));
  return diff == 0;
}
