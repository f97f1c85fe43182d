/* bench/src/hist.h — a fixed-size latency histogram (log-linear, HdrHistogram-style).
 *
 * Owns: recording nanosecond samples in O(1) with no allocation after init, and reading
 * percentiles back with under 1.6 % relative error (64 sub-buckets per power of two). */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) << HIST_SUB_BITS)

typedef struct {
  uint64_t count;
  uint64_t max;
  uint64_t b[HIST_BUCKETS];
} hist;

void hist_reset(hist *h);
void hist_add(hist *h, uint64_t v);
/* The value at quantile q (0 < q <= 1): the midpoint of the bucket holding the
 * ceil(q * count)-th smallest sample; 0 when empty. */
uint64_t hist_quantile(const hist *h, double q);

#endif
