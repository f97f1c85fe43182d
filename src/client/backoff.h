/* client/backoff.h — the client role's random source and reconnect backoff, one
 * copy for ws_client.c and sio_client.c.
 *
 * Owns: xoshiro128** seeded from getrandom(2) (util/random), and
 * socket.io-client's reconnect delay formula. Must not: allocate, or know a
 * connection.
 *
 * Why a seeded generator and not getrandom per value: RFC 6455 10.3 asks for
 * masking keys a proxy cannot predict from earlier ones; a CSPRNG-seeded
 * generator with 128 bits of state meets that at a few nanoseconds per frame,
 * where a getrandom call per frame would cost a syscall. */
#ifndef WSIO_CLIENT_BACKOFF_H
#define WSIO_CLIENT_BACKOFF_H

#include <stdint.h>

typedef struct {
  uint32_t s[4];
} client_rng;

/* Seeds r from the kernel's CSPRNG. 0, or WSIO_ESYS when it has nothing to
 * give. */
int client_rng_seed(client_rng *r);
/* Seeds r from four words (tests); an all-zero seed becomes a valid one. */
void client_rng_seed_words(client_rng *r, uint32_t a, uint32_t b, uint32_t c,
                           uint32_t d);
uint32_t client_rng_next(client_rng *r);
/* Uniform in [0, 1), 24 bits. */
double client_rng_unit(client_rng *r);

/* The delay before reconnect attempt n + 1 (n = 0 for the first): Node's backo2
 * (socket.io-client's reconnection): min_ms * 2^n, then a deviation of up to
 * randomization times that (randomization in 0..1), added or subtracted at
 * random, then capped at max_ms. */
uint32_t client_backoff_ms(client_rng *r, uint32_t min_ms, uint32_t max_ms,
                           double randomization, unsigned n);

#endif
