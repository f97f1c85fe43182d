/* util/map.h — a small string-keyed hash map (open addressing, linear probing,
 * backward-shift deletion: no tombstones, so lookups stay short after churn).
 *
 * Owns: the slot array only. Keys are BORROWED: the map stores the caller's key
 * pointer, which must stay valid (and unchanged) while the entry exists — typically
 * the key lives inside the value (a room's name, a socket's id). Keys are byte strings
 * with a length (they may hold any byte). Must not know what the values are.
 *
 * Iteration (map_next) is stable only while the map is not modified. */
#ifndef WSIO_UTIL_MAP_H
#define WSIO_UTIL_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct map_slot {
  const char *key; /* NULL: empty slot */
  void *val;
  uint32_t len;
  uint32_t hash;
} map_slot;

typedef struct str_map {
  map_slot *slots;
  uint32_t cap; /* 0 or a power of two */
  uint32_t n;
} str_map;

#define STR_MAP_INIT {NULL, 0, 0}

static inline void map_init(str_map *m) {
  m->slots = NULL;
  m->cap = m->n = 0;
}
void map_free(str_map *m);

void *map_get(const str_map *m, const char *key, size_t len);
/* Inserts, or replaces the value of an existing key (then the old key pointer is kept
 * unless key differs, in which case the new pointer is stored). Returns 0 or
 * WSIO_ENOMEM (the map is unchanged then). */
int map_put(str_map *m, const char *key, size_t len, void *val);
/* Removes key; returns its value, or NULL when absent. */
void *map_del(str_map *m, const char *key, size_t len);

/* Iterates values: start with *it = 0; returns 1 and sets *val (and *key, *len when
 * not NULL) for the next entry, 0 at the end. */
int map_next(const str_map *m, uint32_t *it, const char **key, size_t *len, void **val);

static inline size_t map_size(const str_map *m) { return m->n; }

/* The hash the map files key under (tests build keys that collide with it). */
uint32_t map_hash(const char *key, size_t len);

#endif
