/* client/backoff.c — the client role's random source and reconnect backoff
 * (client/backoff.h). */
#include "client/backoff.h"

#include "util/random.h"
#include "wsio.h"

static uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

void client_rng_seed_words(client_rng *r, uint32_t a, uint32_t b, uint32_t c,
                           uint32_t d) {
  r->s[0] = a;
  r->s[1] = b;
  r->s[2] = c;
  r->s[3] = d;
  /* xoshiro's one forbidden state: all zero stays zero forever. */
  if (!(a | b | c | d))
    r->s[0] = 1;
}

int client_rng_seed(client_rng *r) {
  uint32_t w[4] = {0};
  if (random_bytes(w, sizeof w) != 0)
    return WSIO_ESYS;
  client_rng_seed_words(r, w[0], w[1], w[2], w[3]);
  return 0;
}

/* xoshiro128** (Blackman and Vigna). */
uint32_t client_rng_next(client_rng *r) {
  uint32_t *s = r->s;
  uint32_t v = rotl(s[1] * 5, 7) * 9, t = s[1] << 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 11);
  return v;
}

double client_rng_unit(client_rng *r) {
  return (client_rng_next(r) >> 8) / 16777216.0;
}

uint32_t client_backoff_ms(client_rng *r, uint32_t min_ms, uint32_t max_ms,
                           double randomization, unsigned n) {
  double ms = min_ms;
  /* Stops doubling at the cap: n may be in the thousands after a long outage.
   */
  for (unsigned i = 0; i < n && ms < max_ms; i++)
    ms *= 2;
  double dev = client_rng_unit(r) * randomization * ms;
  ms = (client_rng_next(r) & 1) ? ms + dev : ms - dev;
  if (ms > max_ms)
    ms = max_ms;
  return ms < 0 ? 0 : (uint32_t)ms;
}
