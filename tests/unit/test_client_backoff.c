/* tests/unit/test_client_backoff.c — the client role's random source and
 * reconnect backoff (src/client/backoff.c), shared by the WebSocket and
 * Socket.IO clients: xoshiro128** against its reference outputs, the
 * all-zero seed, kernel seeding, and socket.io-client's delay formula (doubling
 * from min, the cap, the jitter's bounds and both of its signs, a huge attempt
 * number). */
#include "client/backoff.h"
#include "test.h"

static void test_xoshiro_reference(void) {
  /* The reference implementation's first outputs from the state {1, 2, 3, 4}.
   */
  static const uint32_t want[] = {11520, 0, 5927040, 70819200};
  client_rng r;
  client_rng_seed_words(&r, 1, 2, 3, 4);
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    CHECK_EQ_INT(client_rng_next(&r), want[i]);
}

static void test_zero_seed(void) {
  /* All zero would stay zero forever (a constant mask, no jitter). */
  client_rng r;
  client_rng_seed_words(&r, 0, 0, 0, 0);
  uint32_t any = 0;
  for (int i = 0; i < 8; i++)
    any |= client_rng_next(&r);
  CHECK(any != 0);
}

static void test_kernel_seed(void) {
  client_rng a, b;
  CHECK_EQ_INT(client_rng_seed(&a), 0);
  CHECK_EQ_INT(client_rng_seed(&b), 0);
  CHECK(memcmp(a.s, b.s, sizeof a.s) != 0);
  for (int i = 0; i < 10000; i++) {
    double u = client_rng_unit(&a);
    if (u < 0 || u >= 1) {
      CHECK(u >= 0 && u < 1);
      break;
    }
  }
}

static void test_no_jitter(void) {
  /* min * 2^n, capped: 1 s, 2 s, 4 s, then 5 s (Node's defaults). */
  static const struct {
    unsigned n;
    uint32_t ms;
  } t[] = {{0, 1000},  {1, 2000},      {2, 4000},  {3, 5000},
           {30, 5000}, {100000, 5000}, {~0u, 5000}};
  client_rng r;
  client_rng_seed_words(&r, 9, 8, 7, 6);
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    CHECK_EQ_INT(client_backoff_ms(&r, 1000, 5000, 0, t[i].n), t[i].ms);
  /* min == max: always that. */
  CHECK_EQ_INT(client_backoff_ms(&r, 250, 250, 0, 3), 250);
}

static void test_jitter_bounds(void) {
  /* randomization 0.5 around 2 s (attempt 2): 1..3 s, both sides taken. */
  client_rng r;
  client_rng_seed_words(&r, 1, 2, 3, 4);
  int below = 0, above = 0, out = 0;
  for (int i = 0; i < 10000; i++) {
    uint32_t ms = client_backoff_ms(&r, 1000, 5000, 0.5, 1);
    out += ms < 1000 || ms > 3000;
    below += ms < 2000;
    above += ms > 2000;
  }
  CHECK_EQ_INT(out, 0);
  CHECK(below > 4000 && above > 4000);
  /* Near the cap the upper side is cut: 4 s +- 2 s, never over 5 s. */
  int capped = 0;
  for (int i = 0; i < 10000; i++) {
    uint32_t ms = client_backoff_ms(&r, 1000, 5000, 0.5, 2);
    out += ms < 2000 || ms > 5000;
    capped += ms == 5000;
  }
  CHECK_EQ_INT(out, 0);
  CHECK(capped > 1000);
  /* randomization 1: down to 0, never negative. */
  for (int i = 0; i < 10000; i++)
    out += client_backoff_ms(&r, 1000, 5000, 1, 0) > 2000;
  CHECK_EQ_INT(out, 0);
}

int main(void) {
  RUN(test_xoshiro_reference);
  RUN(test_zero_seed);
  RUN(test_kernel_seed);
  RUN(test_no_jitter);
  RUN(test_jitter_bounds);
  return test_report();
}
