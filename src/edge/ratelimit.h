/* edge/ratelimit.h — rate limits on the loop's millisecond clock: a token bucket (per
 * connection: messages per second) and a fixed-size per-IP table (connections per IP,
 * handshakes per second per IP).
 *
 * Owns: the bucket arithmetic (integers only) and the table with its bounded memory.
 * Must not: read a clock (the caller passes now_ms, e.g. loop_now), allocate after
 * edge_iplimit_new, do I/O or log. What happens over a limit (drop and count, close
 * 1008, HTTP 429/503) is the caller's. */
#ifndef WSIO_EDGE_RATELIMIT_H
#define WSIO_EDGE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "edge/forwarded.h"

/* ---- token bucket ---------------------------------------------------------------------- */

/* rate tokens per second refill a bucket of burst tokens; each event takes one. The
 * level is kept in thousandths of a token so that a rate that is not a divisor of 1000
 * still refills exactly (3/s: 3 thousandths per millisecond). 24 bytes. */
typedef struct {
  uint32_t rate;    /* tokens per second; 0: no limit */
  uint32_t burst;   /* capacity in tokens (at least 1 when rate > 0) */
  uint64_t milli;   /* current level, thousandths of a token */
  uint64_t last_ms; /* when it was last refilled */
} edge_bucket;

/* Starts full at now_ms. burst 0 with a rate means burst = rate (one second's worth). */
void edge_bucket_init(edge_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms);

/* Takes one token: 1 when there was one, 0 when over the limit (nothing taken). A
 * clock that goes backwards refills nothing. Always 1 when rate is 0. */
int edge_bucket_take(edge_bucket *b, uint64_t now_ms);

/* Milliseconds until a token will be there (0: now), for Retry-After. */
uint64_t edge_bucket_wait_ms(const edge_bucket *b, uint64_t now_ms);

/* ---- per-IP table ---------------------------------------------------------------------- */

/* Over-limit results (below the WSIO_E* range). */
enum {
  EDGE_RL_ECONNS = -120, /* the IP already has max_conns connections */
  EDGE_RL_ERATE = -121,  /* the IP is over its handshakes per second */
  EDGE_RL_EFULL = -122,  /* no slot: every candidate slot holds an IP with open connections */
};
const char *edge_rl_strerror(int err);

typedef struct {
  uint32_t max_conns;       /* open connections per IP; 0: not limited */
  uint32_t handshake_rate;  /* handshakes per second per IP; 0: not limited */
  uint32_t handshake_burst; /* handshakes at once; 0: = handshake_rate */
  uint32_t slots;           /* table size, rounded up to a power of two (16 at least) */
  uint64_t seed[4];         /* random key of the slot hash (util/random_bytes): clients
                             * cannot pick addresses that all land in one place */
} edge_iplimit_cfg;

typedef struct {
  size_t slots, used;
  uint64_t evicted_idle;   /* entries reused that held nothing (no conns, full bucket) */
  uint64_t evicted_active; /* entries reused whose bucket was not full (limit state lost) */
  uint64_t full;           /* EDGE_RL_EFULL answers */
} edge_iplimit_stats;

typedef struct edge_iplimit edge_iplimit;

/* One allocation of 40 bytes per slot, never grown (memory: slots x 40 bytes; 16384
 * slots = 640 KiB). Returns 0 with *out (the caller's, edge_iplimit_free), WSIO_EINVAL
 * (slots over 2^24) or WSIO_ENOMEM. */
int edge_iplimit_new(const edge_iplimit_cfg *cfg, edge_iplimit **out);
void edge_iplimit_free(edge_iplimit *t);

/* A new connection from ip: 0 (counted: call edge_iplimit_close when it ends),
 * EDGE_RL_ECONNS or EDGE_RL_EFULL (not counted). Always 0 when max_conns is 0. */
int edge_iplimit_open(edge_iplimit *t, const edge_ip *ip, uint64_t now_ms);

/* A counted connection from ip ended. Only after a 0 from edge_iplimit_open. */
void edge_iplimit_close(edge_iplimit *t, const edge_ip *ip, uint64_t now_ms);

/* A handshake (WebSocket upgrade, Engine.IO open) from ip: 0 (a token taken),
 * EDGE_RL_ERATE or EDGE_RL_EFULL. Always 0 when handshake_rate is 0. */
int edge_iplimit_handshake(edge_iplimit *t, const edge_ip *ip, uint64_t now_ms);

/* The number of open connections counted for ip (0 when it has no entry). */
uint32_t edge_iplimit_conns(const edge_iplimit *t, const edge_ip *ip);

void edge_iplimit_get_stats(const edge_iplimit *t, edge_iplimit_stats *out);

#endif
