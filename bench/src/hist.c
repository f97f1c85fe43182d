/* bench/src/hist.c — see hist.h. Values below 64 get their own bucket; above, bucket
 * (k - 5) * 64 + the next 6 bits below the top bit k, so every power of two is cut in
 * 64 equal slices. */
#include "hist.h"

#include <string.h>

void hist_reset(hist *h) { memset(h, 0, sizeof *h); }

static unsigned bucket_of(uint64_t v) {
  if (v < (1u << HIST_SUB_BITS)) return (unsigned)v;
  unsigned k = 63 - (unsigned)__builtin_clzll(v);
  return ((k - HIST_SUB_BITS + 1) << HIST_SUB_BITS) +
         (unsigned)((v >> (k - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1));
}

static uint64_t bucket_mid(unsigned i) {
  if (i < (1u << HIST_SUB_BITS)) return i;
  unsigned k = (i >> HIST_SUB_BITS) + HIST_SUB_BITS - 1;
  uint64_t sub = i & ((1u << HIST_SUB_BITS) - 1);
  uint64_t width = 1ULL << (k - HIST_SUB_BITS);
  return (((1ULL << HIST_SUB_BITS) + sub) << (k - HIST_SUB_BITS)) + width / 2;
}

void hist_add(hist *h, uint64_t v) {
  h->b[bucket_of(v)]++;
  h->count++;
  if (v > h->max) h->max = v;
}

uint64_t hist_quantile(const hist *h, double q) {
  if (h->count == 0) return 0;
  uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) {
    seen += h->b[i];
    if (seen >= rank) {
      uint64_t mid = bucket_mid(i);
      return mid > h->max ? h->max : mid;
    }
  }
  return h->max;
}
