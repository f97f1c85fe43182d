/* bench/src/proto.h — the few pieces of RFC 6455 a client load generator needs.
 *
 * Owns: SHA-1 + base64 for the Sec-WebSocket-Accept check, client frame headers, the
 * masking XOR, and the deterministic payload pattern both ends of a check regenerate.
 * Self-contained on purpose: the bench must not share code with the server it measures,
 * or a bug in that code could hide in both. Pure functions; no I/O, no allocation. */
#ifndef BENCH_PROTO_H
#define BENCH_PROTO_H

#include <stddef.h>
#include <stdint.h>

enum { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BINARY = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xA };

#define PROTO_MAX_HEADER 14 /* 2 + 8 (64-bit length) + 4 (mask) */
#define PROTO_KEY_LEN 24    /* base64 of the 16 random key bytes */
#define PROTO_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */

/* SHA-1 of p[0..n) into out. */
void proto_sha1(const void *p, size_t n, uint8_t out[20]);

/* Standard base64 (with padding) of p[0..n) into out, NUL-terminated; out needs
 * 4 * ((n + 2) / 3) + 1 bytes. Returns the length written. */
size_t proto_base64(const uint8_t *p, size_t n, char *out);

/* Sec-WebSocket-Accept for a key (RFC 6455 4.2.2 item 5.4): base64(SHA-1(key + GUID)). */
void proto_accept(const char *key, size_t key_len, char out[PROTO_ACCEPT_LEN + 1]);

/* Writes a masked client frame header (FIN set) for an n-byte payload with the given
 * 4-byte mask into out (at least PROTO_MAX_HEADER bytes); returns its length. The mask
 * is the last 4 bytes written. RFC 6455 5.3: every client frame is masked. */
size_t proto_client_header(uint8_t *out, uint8_t opcode, uint64_t n, uint32_t mask);

/* XORs p[0..n) in place with the 4-byte mask stored at mask[0..4), 8 bytes at a time. */
void proto_mask(uint8_t *p, size_t n, const uint8_t mask[4]);

/* Fills p[0..n) with the pattern derived from seed; proto_pattern_check returns 1 when
 * p[0..n) is exactly that pattern. 64-bit LCGs (four lanes, proto.c), so neighbouring seeds
 * differ everywhere. */
void proto_pattern_fill(uint8_t *p, size_t n, uint64_t seed);
int proto_pattern_check(const uint8_t *p, size_t n, uint64_t seed);

/* Little-endian 64-bit loads and stores (payload fields of the broadcast mode). */
static inline void proto_put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t proto_get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* xorshift64*: fast, good enough for mask keys and handshake keys (a load generator
 * has no attacker to hide its masks from). *state must not be 0. */
static inline uint64_t proto_rand(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

#endif
