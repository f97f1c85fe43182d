/* util/idmap.c — objects keyed by an id they carry; see idmap.h. */
#include "util/idmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/ct.h"
#include "wsio.h"

#define IDMAP_MIN_CAP 8u

static const char *key_of(const id_map *m, const void *obj) { return (const char *)obj + m->key_off; }

/* A word at a time through a 64-bit multiply-xorshift (splitmix64's finaliser): the
 * ids are random base64url, but a sid arrives in every long-polling request and must
 * not pick its slot by its first bytes alone. */
static uint32_t hash_key(const char *k, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t w = 0;
    memcpy(&w, k + i, n - i < 8 ? n - i : 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  h *= 0x94D049BB133111EBull;
  return (uint32_t)(h ^ (h >> 32));
}

static uint32_t home_of(const id_map *m, const void *obj) { return hash_key(key_of(m, obj), m->key_len) & (m->cap - 1); }

void idmap_init(id_map *m, size_t key_off, size_t key_len) {
  m->slots = NULL;
  m->cap = m->n = 0;
  m->key_off = (uint16_t)key_off;
  m->key_len = (uint16_t)key_len;
}

void idmap_free(id_map *m) {
  free(m->slots);
  m->slots = NULL;
  m->cap = m->n = 0;
}

/* The slot holding key, or the empty slot where it would go. cap must be non-zero.
 * Each probe compares in constant time (util/ct.h): a sid is a bearer secret, and the
 * hash has no secret seed, so a guess can aim at any slot; a memcmp stopping at the
 * first differing byte would time, byte by byte, the sids of the probe run it lands on.
 * (A str_map compares only after a full 32-bit hash match, which a guess cannot aim at
 * without knowing the sid; this table keeps no hash.) */
static uint32_t find_slot(const id_map *m, const char *key) {
  uint32_t mask = m->cap - 1, i = hash_key(key, m->key_len) & mask;
  while (m->slots[i] && !ct_equal(key, m->key_len, key_of(m, m->slots[i]), m->key_len)) i = (i + 1) & mask;
  return i;
}

static int resize(id_map *m, uint32_t cap) {
  void **old = m->slots;
  uint32_t old_cap = m->cap;
  void **slots = calloc(cap, sizeof(*slots));
  if (!slots) return WSIO_ENOMEM;
  m->slots = slots;
  m->cap = cap;
  for (uint32_t i = 0; i < old_cap; i++) {
    if (!old[i]) continue;
    uint32_t j = home_of(m, old[i]);
    while (slots[j]) j = (j + 1) & (cap - 1);
    slots[j] = old[i];
  }
  free(old);
  return 0;
}

void *idmap_get(const id_map *m, const char *key, size_t len) {
  if (!m->n || len != m->key_len) return NULL;
  return m->slots[find_slot(m, key)];
}

int idmap_put(id_map *m, void *obj) {
  /* Keep the load factor at most 3/4. */
  if ((m->n + 1) * 4 > m->cap * 3) {
    int r = resize(m, m->cap ? m->cap * 2 : IDMAP_MIN_CAP);
    if (r) return r;
  }
  uint32_t i = find_slot(m, key_of(m, obj));
  if (!m->slots[i]) m->n++;
  m->slots[i] = obj;
  return 0;
}

/* Backward-shift deletion: move later members of the probe run into the hole when
 * their home slot is at or before it (cyclically), so no tombstone is needed. */
static void remove_at(id_map *m, uint32_t hole) {
  uint32_t mask = m->cap - 1, i = hole;
  for (;;) {
    i = (i + 1) & mask;
    if (!m->slots[i]) break;
    uint32_t home = home_of(m, m->slots[i]);
    if (((i - home) & mask) >= ((hole - home) & mask)) {
      m->slots[hole] = m->slots[i];
      hole = i;
    }
  }
  m->slots[hole] = NULL;
  m->n--;
}

void *idmap_del(id_map *m, const char *key, size_t len) {
  if (!m->n || len != m->key_len) return NULL;
  uint32_t i = find_slot(m, key);
  void *obj = m->slots[i];
  if (!obj) return NULL;
  remove_at(m, i);
  /* Give memory back after a crowd left (mass disconnects). */
  if (m->n == 0) {
    idmap_free(m);
  } else if (m->cap > IDMAP_MIN_CAP && m->n * 8 < m->cap) {
    (void)resize(m, m->cap / 4 < IDMAP_MIN_CAP ? IDMAP_MIN_CAP : m->cap / 4);
  }
  return obj;
}

int idmap_next(const id_map *m, uint32_t *it, void **obj) {
  while (*it < m->cap) {
    void *o = m->slots[(*it)++];
    if (!o) continue;
    *obj = o;
    return 1;
  }
  return 0;
}
