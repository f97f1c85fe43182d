/* util/sha1.c — SHA-1 as FIPS 180-4 section 6.1 describes it; see sha1.h. */
#include "util/sha1.h"

#include <string.h>

static uint32_t rol(uint32_t x, int n) { return x << n | x >> (32 - n); }

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void compress(uint32_t h[5], const uint8_t b[64]) {
  uint32_t w[80];
  for (int t = 0; t < 16; t++) w[t] = be32(b + 4 * t);
  for (int t = 16; t < 80; t++) w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
  uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
  for (int t = 0; t < 80; t++) {
    uint32_t f, k;
    if (t < 20) {
      f = (bb & c) | (~bb & d);
      k = 0x5a827999u;
    } else if (t < 40) {
      f = bb ^ c ^ d;
      k = 0x6ed9eba1u;
    } else if (t < 60) {
      f = (bb & c) | (bb & d) | (c & d);
      k = 0x8f1bbcdcu;
    } else {
      f = bb ^ c ^ d;
      k = 0xca62c1d6u;
    }
    uint32_t tmp = rol(a, 5) + f + e + k + w[t];
    e = d;
    d = c;
    c = rol(bb, 30);
    bb = a;
    a = tmp;
  }
  h[0] += a;
  h[1] += bb;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

void sha1_init(sha1_ctx *c) {
  static const uint32_t iv[5] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u, 0xc3d2e1f0u};
  memcpy(c->h, iv, sizeof(iv));
  c->total = 0;
  c->used = 0;
}

void sha1_update(sha1_ctx *c, const void *p, size_t n) {
  const uint8_t *s = p;
  c->total += n;
  if (c->used) {
    size_t take = 64 - c->used < n ? 64 - c->used : n;
    memcpy(c->block + c->used, s, take);
    c->used += take;
    s += take;
    n -= take;
    if (c->used < 64) return;
    compress(c->h, c->block);
    c->used = 0;
  }
  for (; n >= 64; s += 64, n -= 64) compress(c->h, s);
  memcpy(c->block, s, n);
  c->used = n;
}

void sha1_final(sha1_ctx *c, uint8_t out[SHA1_LEN]) {
  /* 5.1.1: a 1 bit, zeros to 56 mod 64 bytes, then the length in bits, big-endian. */
  uint64_t bits = c->total * 8;
  c->block[c->used++] = 0x80;
  if (c->used > 56) {
    memset(c->block + c->used, 0, 64 - c->used);
    compress(c->h, c->block);
    c->used = 0;
  }
  memset(c->block + c->used, 0, 56 - c->used);
  for (int i = 0; i < 8; i++) c->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
  compress(c->h, c->block);
  for (int i = 0; i < 5; i++) {
    out[4 * i] = (uint8_t)(c->h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
    out[4 * i + 3] = (uint8_t)c->h[i];
  }
}
