/* util/idmap.h — a hash table of objects that carry their own fixed-length key (an
 * Engine.IO session's sid, a Socket.IO socket's id) at a fixed offset: open addressing,
 * linear probing, backward-shift deletion, like util/map.h.
 *
 * Owns: the slot array only. Why not a str_map: its slot keeps a key pointer, the
 * value, the length and the hash (24 B), and at 10,000 entries 16,384 slots are 39 B
 * per entry; here a slot is the object's pointer (8 B: 13 B per entry), and the key and
 * its hash are read from the object when needed. Two tables of every Socket.IO client
 * are these (docs/capacity.md). The price is a key compare through the pointer on each
 * probe (in constant time: keys may be secrets, see find_slot), and hashing the keys
 * again on growth and deletion: fine for server-made random ids that are looked up once
 * per request or targeted emit, not per message.
 *
 * Must not: copy or free objects, or hold a key of another length. */
#ifndef WSIO_UTIL_IDMAP_H
#define WSIO_UTIL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct id_map {
  void **slots;     /* NULL: empty slot */
  uint32_t cap;     /* 0 or a power of two */
  uint32_t n;
  uint16_t key_off; /* the key is the key_len bytes at (char *)obj + key_off */
  uint16_t key_len;
} id_map;

/* An empty table of objects whose key is the key_len (1..65535) bytes at key_off. */
void idmap_init(id_map *m, size_t key_off, size_t key_len);
/* Frees the slots (not the objects); the table is empty and usable afterwards. */
void idmap_free(id_map *m);

/* The object with this key, or NULL (always when len is not the table's key length). */
void *idmap_get(const id_map *m, const char *key, size_t len);
/* Adds obj, or replaces the object that has the same key. Returns 0 or WSIO_ENOMEM (the
 * table is unchanged then). The key must not change while obj is in the table. */
int idmap_put(id_map *m, void *obj);
/* Removes the object with this key; returns it, or NULL when absent. */
void *idmap_del(id_map *m, const char *key, size_t len);

/* Iterates: start with *it = 0; returns 1 and sets *obj for the next object, 0 at the
 * end. Stable only while the table is not modified. */
int idmap_next(const id_map *m, uint32_t *it, void **obj);

static inline size_t idmap_size(const id_map *m) { return m->n; }

#endif
