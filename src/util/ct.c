/* util/ct.c — constant-time equality of secrets; see ct.h. */
#include "util/ct.h"

#include <stdint.h>
#include <string.h>

int ct_equal(const void *given, size_t given_len, const void *secret, size_t secret_len) {
  const uint8_t *g = given, *s = secret;
  /* The length difference goes into the accumulator instead of an early return, and
   * every byte of the given value is compared (against the secret's bytes, cycling,
   * when the lengths differ), so the loop runs given_len times whatever the secret.
   * volatile keeps the compiler from turning the loop into memcmp or leaving it
   * early once d is non-zero. */
  if (given_len == secret_len) {
    /* The usual case (a sid per polling request): eight bytes per step, the same
     * no-early-exit accumulation; byte by byte it cost ~380 instructions a sid. */
    volatile uint64_t dw = 0;
    size_t i = 0;
    for (uint64_t a, b; i + 8 <= given_len; i += 8) {
      memcpy(&a, g + i, 8);
      memcpy(&b, s + i, 8);
      dw |= a ^ b;
    }
    for (; i < given_len; i++) dw |= (uint64_t)(g[i] ^ s[i]);
    return dw == 0;
  }
  volatile uint8_t d = 0;
  size_t ld = given_len ^ secret_len;
  for (size_t k = 0; k < sizeof ld; k++) d |= (uint8_t)(ld >> (8 * k));
  if (secret_len == 0) {
    for (size_t i = 0; i < given_len; i++) d |= g[i] | 1;
    return d == 0;
  }
  size_t j = 0;
  for (size_t i = 0; i < given_len; i++) {
    d |= g[i] ^ s[j];
    /* j wraps without a division whose cost could vary. */
    j = j + 1 == secret_len ? 0 : j + 1;
  }
  return d == 0;
}
