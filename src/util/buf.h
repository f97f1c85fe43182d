/* util/buf.h — the one growable byte buffer of the tree, and the one growth rule.
 *
 * Owns: the bytes of a byte_buf (malloc'd; byte_buf_free gives them back). Capacity
 * doubles from a minimum (grow_cap), so appending n bytes one piece at a time costs
 * O(n) copies in all. Must not know what the bytes mean (records, frames, JSON).
 *
 * Any array can grow by the same rule: grow_cap says the new element count (0 when
 * it would overflow), the caller reallocs its own typed pointer. */
#ifndef WSIO_UTIL_BUF_H
#define WSIO_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct byte_buf {
  uint8_t *p;
  size_t len, cap;
} byte_buf;

#define BYTE_BUF_INIT {NULL, 0, 0}

static inline void byte_buf_init(byte_buf *b) {
  b->p = NULL;
  b->len = b->cap = 0;
}

/* The capacity (in elements) for at least need, doubling from cap (or from min_cap
 * when cap is 0): cap itself when it already suffices, 0 when the doubling would
 * overflow max (pass SIZE_MAX / elem_size for an array of elem_size-byte elements). */
size_t grow_cap(size_t cap, size_t need, size_t min_cap, size_t max);

/* Makes room for extra more bytes after len. Returns 0 or WSIO_ENOMEM (b unchanged). */
int byte_buf_grow(byte_buf *b, size_t extra);
static inline int byte_buf_reserve(byte_buf *b, size_t extra) {
  return extra <= b->cap - b->len ? 0 : byte_buf_grow(b, extra);
}

/* Appends n bytes. Returns 0 or WSIO_ENOMEM (b unchanged). */
static inline int byte_buf_append(byte_buf *b, const void *p, size_t n) {
  int r = byte_buf_reserve(b, n);
  if (r < 0) return r;
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

/* Empties b; its memory is kept unless it grew past keep_cap bytes (then freed). */
void byte_buf_reset(byte_buf *b, size_t keep_cap);
/* Hands b's bytes to the caller (who frees them) and leaves b empty. */
uint8_t *byte_buf_take(byte_buf *b);
void byte_buf_free(byte_buf *b);

#endif
