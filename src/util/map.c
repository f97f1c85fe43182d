/* util/map.c — string-keyed open-addressing hash map; see map.h. */
#include "util/map.h"

#include <stdlib.h>
#include <string.h>

#include "util/ascii.h"
#include "wsio.h"

#define MAP_MIN_CAP 8u

/* FNV-1a: short keys (room names, 20-character ids), no need for more. */
static uint32_t hash_bytes(const char *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) {
    h ^= (uint8_t)p[i];
    h *= 16777619u;
  }
  return h;
}

uint32_t map_hash(const char *key, size_t len) { return hash_bytes(key, len); }

/* Keys are short (event names, 20-character ids, room names): compared a word at a
 * time inline, the last word overlapping the one before and a key under eight bytes as
 * one word (util/ascii.h), where calling memcmp cost more than the compare itself (~25
 * instructions a lookup, two lookups per event). */
static int key_eq(const char *a, const char *b, size_t n) {
  if (n == 0) return 1;
  if (n < 8) return ascii_load_short(a, n) == ascii_load_short(b, n);
  uint64_t x, y;
  for (size_t i = 0; i + 8 < n; i += 8) {
    memcpy(&x, a + i, 8);
    memcpy(&y, b + i, 8);
    if (x != y) return 0;
  }
  memcpy(&x, a + n - 8, 8);
  memcpy(&y, b + n - 8, 8);
  return x == y;
}

static int slot_matches(const map_slot *s, const char *key, size_t len, uint32_t h) {
  return s->hash == h && s->len == len && key_eq(s->key, key, len);
}

/* The slot holding key, or the empty slot where it would go. cap must be non-zero. */
static uint32_t find_slot(const str_map *m, const char *key, size_t len, uint32_t h) {
  uint32_t mask = m->cap - 1, i = h & mask;
  while (m->slots[i].key && !slot_matches(&m->slots[i], key, len, h)) i = (i + 1) & mask;
  return i;
}

static int resize(str_map *m, uint32_t cap) {
  map_slot *old = m->slots;
  uint32_t old_cap = m->cap;
  map_slot *slots = calloc(cap, sizeof(*slots));
  if (!slots) return WSIO_ENOMEM;
  m->slots = slots;
  m->cap = cap;
  for (uint32_t i = 0; i < old_cap; i++) {
    if (!old[i].key) continue;
    uint32_t j = old[i].hash & (cap - 1);
    while (slots[j].key) j = (j + 1) & (cap - 1);
    slots[j] = old[i];
  }
  free(old);
  return 0;
}

void map_free(str_map *m) {
  free(m->slots);
  map_init(m);
}

void *map_get(const str_map *m, const char *key, size_t len) {
  if (!m->n) return NULL;
  uint32_t i = find_slot(m, key, len, hash_bytes(key, len));
  return m->slots[i].key ? m->slots[i].val : NULL;
}

int map_put(str_map *m, const char *key, size_t len, void *val) {
  if (len > UINT32_MAX) return WSIO_EINVAL;
  /* Keep the load factor at most 3/4. */
  if ((m->n + 1) * 4 > m->cap * 3) {
    int r = resize(m, m->cap ? m->cap * 2 : MAP_MIN_CAP);
    if (r) return r;
  }
  uint32_t h = hash_bytes(key, len), i = find_slot(m, key, len, h);
  map_slot *s = &m->slots[i];
  if (!s->key) m->n++;
  s->key = key;
  s->len = (uint32_t)len;
  s->hash = h;
  s->val = val;
  return 0;
}

/* Backward-shift deletion: move later members of the probe run into the hole when
 * their home slot is at or before it, so no tombstone is needed. */
static void remove_at(str_map *m, uint32_t hole) {
  uint32_t mask = m->cap - 1, i = hole;
  for (;;) {
    i = (i + 1) & mask;
    if (!m->slots[i].key) break;
    uint32_t home = m->slots[i].hash & mask;
    /* Distance from home to i versus from home to the hole (cyclic). */
    if (((i - home) & mask) >= ((hole - home) & mask)) {
      m->slots[hole] = m->slots[i];
      hole = i;
    }
  }
  m->slots[hole].key = NULL;
  m->slots[hole].val = NULL;
  m->n--;
}

void *map_del(str_map *m, const char *key, size_t len) {
  if (!m->n) return NULL;
  uint32_t i = find_slot(m, key, len, hash_bytes(key, len));
  if (!m->slots[i].key) return NULL;
  void *val = m->slots[i].val;
  remove_at(m, i);
  /* Give memory back after a crowd left (rooms emptied by mass disconnects). */
  if (m->n == 0) {
    map_free(m);
  } else if (m->cap > MAP_MIN_CAP && m->n * 8 < m->cap) {
    (void)resize(m, m->cap / 4 < MAP_MIN_CAP ? MAP_MIN_CAP : m->cap / 4);
  }
  return val;
}

int map_next(const str_map *m, uint32_t *it, const char **key, size_t *len, void **val) {
  while (*it < m->cap) {
    const map_slot *s = &m->slots[(*it)++];
    if (!s->key) continue;
    if (key) *key = s->key;
    if (len) *len = s->len;
    *val = s->val;
    return 1;
  }
  return 0;
}
