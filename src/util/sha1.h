/* util/sha1.h — SHA-1 (FIPS 180-4), for the one place RFC 6455 needs it: the
 * Sec-WebSocket-Accept key. Not for anything that needs collision resistance.
 *
 * Owns: nothing; pure computation. Must not allocate. */
#ifndef WSIO_UTIL_SHA1_H
#define WSIO_UTIL_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_LEN 20

typedef struct sha1_ctx {
  uint32_t h[5];
  uint64_t total; /* bytes hashed so far */
  uint8_t block[64];
  size_t used; /* bytes in block */
} sha1_ctx;

void sha1_init(sha1_ctx *c);
void sha1_update(sha1_ctx *c, const void *p, size_t n);
void sha1_final(sha1_ctx *c, uint8_t out[SHA1_LEN]);
/* The CPU's SHA instructions where it has them (the default), or the portable code
 * (on = 0; for tests and comparisons). Returns 1 when the instructions are in use. */
int sha1_use_hw(int on);

#endif
