/* edge/ratelimit.c — token buckets and the bounded per-IP table; see ratelimit.h.
 *
 * Owns: the table's one allocation. Must not: allocate after edge_iplimit_new, read a
 * clock, do I/O or log.
 *
 * The table is two-choice set-associative: an address hashes (keyed) to two sets of
 * WAYS slots and lives in one of those 2 x WAYS slots. Lookups touch at most 16 slots,
 * there are no tombstones, and memory is fixed. A slot is reused in this order: empty;
 * idle (no open connection and a full bucket: forgetting it changes nothing, since a
 * new entry starts exactly so); the least recently used entry without open connections
 * (its partly drained bucket is lost: counted in evicted_active); otherwise the new
 * address gets EDGE_RL_EFULL. Entries with open connections are never evicted, so a
 * count can never be lost and go negative. */
#include "edge/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include "wsio.h"

#define WAYS 8
#define MAX_SLOTS (1u << 24)

/* ---- token bucket ---------------------------------------------------------------------- */

static void refill(uint64_t *milli, uint64_t *last, uint32_t rate, uint32_t burst, uint64_t now) {
  if (now <= *last || rate == 0) return; /* the same millisecond, or a clock that went back */
  uint64_t dt = now - *last, cap = (uint64_t)burst * 1000;
  *last = now;
  if (*milli >= cap) return;
  /* rate tokens per second is rate thousandths per millisecond. Past need / rate
   * milliseconds the bucket is full: checking that first keeps dt * rate from
   * overflowing after a long idle time. */
  uint64_t need = cap - *milli;
  if (dt >= need / rate + 1)
    *milli = cap;
  else
    *milli += dt * rate < need ? dt * rate : need;
}

void edge_bucket_init(edge_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms) {
  b->rate = rate;
  b->burst = burst ? burst : rate;
  b->milli = (uint64_t)b->burst * 1000;
  b->last_ms = now_ms;
}

int edge_bucket_take(edge_bucket *b, uint64_t now_ms) {
  if (b->rate == 0) return 1;
  refill(&b->milli, &b->last_ms, b->rate, b->burst, now_ms);
  if (b->milli < 1000) return 0;
  b->milli -= 1000;
  return 1;
}

uint64_t edge_bucket_wait_ms(const edge_bucket *b, uint64_t now_ms) {
  if (b->rate == 0) return 0;
  uint64_t milli = b->milli, last = b->last_ms;
  refill(&milli, &last, b->rate, b->burst, now_ms);
  if (milli >= 1000) return 0;
  return (1000 - milli + b->rate - 1) / b->rate;
}

/* ---- per-IP table ---------------------------------------------------------------------- */

typedef struct {
  edge_ip ip;       /* family 0: empty */
  uint32_t conns;   /* open connections */
  uint64_t milli;   /* handshake bucket level, thousandths */
  uint64_t last_ms; /* bucket refill time, and last use (for LRU) */
} slot;

/* The memory bound documented in ratelimit.h and docs/security.md. */
_Static_assert(sizeof(slot) == 40, "a per-IP slot is 40 bytes");

struct edge_iplimit {
  edge_iplimit_cfg cfg;
  uint32_t burst; /* handshake_burst, or rate when 0 */
  size_t nsets;   /* power of two */
  edge_iplimit_stats st;
  slot s[];
};

const char *edge_rl_strerror(int err) {
  switch (err) {
  case EDGE_RL_ECONNS: return "too many connections from this address";
  case EDGE_RL_ERATE: return "too many handshakes per second from this address";
  case EDGE_RL_EFULL: return "rate-limit table full";
  default: return "unknown error";
  }
}

int edge_iplimit_new(const edge_iplimit_cfg *cfg, edge_iplimit **out) {
  if (!cfg || !out || cfg->slots > MAX_SLOTS) return WSIO_EINVAL;
  *out = NULL;
  size_t slots = 2 * WAYS;
  while (slots < cfg->slots) slots *= 2;
  edge_iplimit *t = calloc(1, sizeof *t + slots * sizeof(slot));
  if (!t) return WSIO_ENOMEM;
  t->cfg = *cfg;
  t->burst = cfg->handshake_burst ? cfg->handshake_burst : cfg->handshake_rate;
  t->nsets = slots / WAYS;
  t->st.slots = slots;
  *out = t;
  return 0;
}

void edge_iplimit_free(edge_iplimit *t) { free(t); }

/* MurmurHash3's 64-bit finalizer: every input bit reaches every output bit. */
static uint64_t fmix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

/* Keyed by the secret seed before mixing: not a cryptographic PRF, but without the
 * seed a client cannot tell which addresses share a set, which is all it protects. */
static uint64_t hash_with(const edge_ip *ip, uint64_t k0, uint64_t k1) {
  uint64_t x0, x1;
  memcpy(&x0, ip->a, 8);
  memcpy(&x1, ip->a + 8, 8);
  return fmix64(fmix64(x0 ^ k0) ^ x1 ^ k1 ^ ip->family);
}

static void sets_of(const edge_iplimit *t, const edge_ip *ip, size_t set[2]) {
  const uint64_t *k = t->cfg.seed;
  uint64_t h1 = hash_with(ip, k[0], k[1]), h2 = hash_with(ip, k[2], k[3]);
  set[0] = (size_t)(h1 >> 32) & (t->nsets - 1);
  set[1] = (size_t)(h2 >> 32) & (t->nsets - 1);
}

static int same_ip(const edge_ip *a, const edge_ip *b) {
  return a->family == b->family && memcmp(a->a, b->a, 16) == 0;
}

static slot *lookup(const edge_iplimit *t, const edge_ip *ip) {
  size_t set[2];
  sets_of(t, ip, set);
  for (int k = 0; k < 2; k++) {
    const slot *s = &t->s[set[k] * WAYS];
    for (int w = 0; w < WAYS; w++)
      if (s[w].ip.family && same_ip(&s[w].ip, ip)) return (slot *)&s[w];
  }
  return NULL;
}

/* 1 when forgetting the entry loses nothing: no connections and a full bucket. */
static int idle(const edge_iplimit *t, slot *s, uint64_t now) {
  if (s->conns) return 0;
  if (t->cfg.handshake_rate == 0) return 1;
  refill(&s->milli, &s->last_ms, t->cfg.handshake_rate, t->burst, now);
  return s->milli >= (uint64_t)t->burst * 1000;
}

static slot *find_or_add(edge_iplimit *t, const edge_ip *ip, uint64_t now) {
  slot *hit = lookup(t, ip);
  if (hit) return hit;
  size_t set[2];
  sets_of(t, ip, set);
  slot *empty = NULL, *idle_s = NULL, *lru = NULL;
  for (int k = 0; k < 2 && !empty; k++) {
    slot *s = &t->s[set[k] * WAYS];
    for (int w = 0; w < WAYS; w++) {
      if (!s[w].ip.family) {
        empty = &s[w];
        break;
      }
      if (!idle_s && idle(t, &s[w], now)) idle_s = &s[w];
      if (!s[w].conns && (!lru || s[w].last_ms < lru->last_ms)) lru = &s[w];
    }
  }
  slot *v = empty ? empty : idle_s ? idle_s : lru;
  if (!v) {
    t->st.full++;
    return NULL;
  }
  if (empty)
    t->st.used++;
  else if (v == idle_s)
    t->st.evicted_idle++;
  else
    t->st.evicted_active++;
  v->ip = *ip;
  v->conns = 0;
  v->milli = (uint64_t)t->burst * 1000;
  v->last_ms = now;
  return v;
}

/* Brings the bucket to now and marks the entry used (last_ms is both the refill time
 * and the LRU age; with no handshake limit there is no bucket to refill). */
static void touch(const edge_iplimit *t, slot *s, uint64_t now) {
  if (t->cfg.handshake_rate)
    refill(&s->milli, &s->last_ms, t->cfg.handshake_rate, t->burst, now);
  else if (now > s->last_ms)
    s->last_ms = now;
}

static int valid_ip(const edge_ip *ip) { return ip && (ip->family == 4 || ip->family == 6); }

int edge_iplimit_open(edge_iplimit *t, const edge_ip *ip, uint64_t now_ms) {
  if (!t || !valid_ip(ip)) return WSIO_EINVAL;
  if (t->cfg.max_conns == 0) return 0;
  slot *s = find_or_add(t, ip, now_ms);
  if (!s) return EDGE_RL_EFULL;
  touch(t, s, now_ms);
  if (s->conns >= t->cfg.max_conns) return EDGE_RL_ECONNS;
  s->conns++;
  return 0;
}

void edge_iplimit_close(edge_iplimit *t, const edge_ip *ip, uint64_t now_ms) {
  if (!t || !valid_ip(ip) || t->cfg.max_conns == 0) return;
  slot *s = lookup(t, ip);
  if (!s || !s->conns) return;
  s->conns--;
  touch(t, s, now_ms);
}

int edge_iplimit_handshake(edge_iplimit *t, const edge_ip *ip, uint64_t now_ms) {
  if (!t || !valid_ip(ip)) return WSIO_EINVAL;
  if (t->cfg.handshake_rate == 0) return 0;
  slot *s = find_or_add(t, ip, now_ms);
  if (!s) return EDGE_RL_EFULL;
  touch(t, s, now_ms);
  if (s->milli < 1000) return EDGE_RL_ERATE;
  s->milli -= 1000;
  return 0;
}

uint32_t edge_iplimit_conns(const edge_iplimit *t, const edge_ip *ip) {
  const slot *s = t && valid_ip(ip) ? lookup(t, ip) : NULL;
  return s ? s->conns : 0;
}

void edge_iplimit_get_stats(const edge_iplimit *t, edge_iplimit_stats *out) { *out = t->st; }
