/* util/sha1.c — SHA-1 as FIPS 180-4 section 6.1 describes it; see sha1.h. */
#include "util/sha1.h"

#include <string.h>

static uint32_t rol(uint32_t x, int n) { return x << n | x >> (32 - n); }

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One round of 6.1.2 step 3 with f and K given; the caller renames the variables
 * (a, b, c, d, e) -> (t, a, rol(b, 30), c, d) by rotating its arguments. */
#define SHA1_ROUND(a, b, c, d, e, f, k, wt)         \
  do {                                              \
    e += rol(a, 5) + (f) + (k) + (wt);              \
    b = rol(b, 30);                                 \
  } while (0)

/* Message schedule word t >= 16, kept in a ring of 16 (6.1.2 step 1). */
#define SHA1_W(t) (w[(t) & 15] = rol(w[((t) - 3) & 15] ^ w[((t) - 8) & 15] ^ w[((t) - 14) & 15] ^ w[(t) & 15], 1))

/* Five rounds per iteration so that the variables' rotation comes back to where it
 * started: no moves between rounds, and no branch on t inside a round. */
#define SHA1_FIVE(F, K, W)                                   \
  do {                                                       \
    SHA1_ROUND(a, bb, c, d, e, F(bb, c, d), K, W(t));        \
    SHA1_ROUND(e, a, bb, c, d, F(a, bb, c), K, W(t + 1));    \
    SHA1_ROUND(d, e, a, bb, c, F(e, a, bb), K, W(t + 2));    \
    SHA1_ROUND(c, d, e, a, bb, F(d, e, a), K, W(t + 3));     \
    SHA1_ROUND(bb, c, d, e, a, F(c, d, e), K, W(t + 4));     \
  } while (0)
#define SHA1_CH(x, y, z) (((x) & (y)) | (~(x) & (z)))
#define SHA1_PARITY(x, y, z) ((x) ^ (y) ^ (z))
#define SHA1_MAJ(x, y, z) (((x) & (y)) | ((x) & (z)) | ((y) & (z)))
#define SHA1_W0(t) w[t]

static void compress_portable(uint32_t h[5], const uint8_t b[64]) {
  uint32_t w[16];
  for (int t = 0; t < 16; t++) w[t] = be32(b + 4 * t);
  uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
  int t = 0;
  for (; t < 15; t += 5) SHA1_FIVE(SHA1_CH, 0x5a827999u, SHA1_W0);
  /* t = 15: w[15] is still the block's, the rounds after it schedule their words. */
  SHA1_ROUND(a, bb, c, d, e, SHA1_CH(bb, c, d), 0x5a827999u, w[15]);
  SHA1_ROUND(e, a, bb, c, d, SHA1_CH(a, bb, c), 0x5a827999u, SHA1_W(16));
  SHA1_ROUND(d, e, a, bb, c, SHA1_CH(e, a, bb), 0x5a827999u, SHA1_W(17));
  SHA1_ROUND(c, d, e, a, bb, SHA1_CH(d, e, a), 0x5a827999u, SHA1_W(18));
  SHA1_ROUND(bb, c, d, e, a, SHA1_CH(c, d, e), 0x5a827999u, SHA1_W(19));
  for (t = 20; t < 40; t += 5) SHA1_FIVE(SHA1_PARITY, 0x6ed9eba1u, SHA1_W);
  for (; t < 60; t += 5) SHA1_FIVE(SHA1_MAJ, 0x8f1bbcdcu, SHA1_W);
  for (; t < 80; t += 5) SHA1_FIVE(SHA1_PARITY, 0xca62c1d6u, SHA1_W);
  h[0] += a;
  h[1] += bb;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define SHA1_HW 1

/* x86 SHA extensions (Intel since Goldmont and Ice Lake, AMD since Zen): four rounds
 * per sha1rnds4 and the message schedule in sha1msg1/sha1msg2. Fast: a block costs
 * about 100 instructions instead of about 2,800 (callgrind), and every WebSocket
 * handshake hashes two blocks (RFC 6455 4.2.2: key + GUID, 60 bytes, then padding).
 * Lane 3 of a vector is A (of abcd) and E (of e); w[g & 3] holds the schedule words
 * of group g (rounds 4g..4g+3), built from the four groups before it. */
#define SHA1_GROUP(F)                                                                      \
  do {                                                                                     \
    if (g < 4) {                                                                           \
      w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(b + 16 * g)), bswap);      \
    } else {                                                                               \
      __m128i x = _mm_xor_si128(_mm_sha1msg1_epu32(w[g & 3], w[(g + 1) & 3]), w[(g + 2) & 3]); \
      w[g & 3] = _mm_sha1msg2_epu32(x, w[(g + 3) & 3]);                                    \
    }                                                                                      \
    __m128i e = g ? _mm_sha1nexte_epu32(prev, w[g & 3]) : _mm_add_epi32(e0, w[0]);         \
    prev = abcd;                                                                           \
    abcd = _mm_sha1rnds4_epu32(abcd, e, F);                                                \
  } while (0)

__attribute__((target("sha,ssse3,sse4.1"))) static void compress_hw(uint32_t h[5], const uint8_t b[64]) {
  const __m128i bswap = _mm_set_epi64x(0x0001020304050607LL, 0x08090a0b0c0d0e0fLL);
  __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0x1b);
  __m128i e0 = _mm_set_epi32((int)h[4], 0, 0, 0);
  __m128i abcd0 = abcd, prev = abcd, w[4];
  int g = 0;
  for (; g < 5; g++) SHA1_GROUP(0);
  for (; g < 10; g++) SHA1_GROUP(1);
  for (; g < 15; g++) SHA1_GROUP(2);
  for (; g < 20; g++) SHA1_GROUP(3);
  e0 = _mm_sha1nexte_epu32(prev, e0);
  abcd = _mm_shuffle_epi32(_mm_add_epi32(abcd, abcd0), 0x1b);
  _mm_storeu_si128((__m128i *)h, abcd);
  h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}

static int cpu_has_sha(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3)) return 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return (b & (1u << 29)) != 0; /* CPUID.(EAX=7,ECX=0):EBX.SHA[bit 29] */
}
#endif

/* -1: not decided yet; then 0 (portable) or 1 (SHA extensions). Threads deciding at
 * once store the same value (relaxed atomics: no data race). */
static int use_hw = -1;

static void compress(uint32_t h[5], const uint8_t b[64]) {
#ifdef SHA1_HW
  int hw = __atomic_load_n(&use_hw, __ATOMIC_RELAXED);
  if (hw < 0) __atomic_store_n(&use_hw, hw = cpu_has_sha(), __ATOMIC_RELAXED);
  if (hw) {
    compress_hw(h, b);
    return;
  }
#endif
  compress_portable(h, b);
}

int sha1_use_hw(int on) {
#ifdef SHA1_HW
  int hw = on && cpu_has_sha();
#else
  int hw = 0;
  (void)on;
#endif
  __atomic_store_n(&use_hw, hw, __ATOMIC_RELAXED);
  return hw;
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
