/* util/buf.c — the growable byte buffer and the growth rule; see buf.h. */
#include "util/buf.h"

#include <stdlib.h>

#include "wsio.h"

/* The first allocation of a byte buffer: room for a short message and its framing. */
#define BYTE_BUF_MIN 256u

size_t grow_cap(size_t cap, size_t need, size_t min_cap, size_t max) {
  if (need <= cap) return cap;
  if (need > max) return 0;
  size_t c = cap ? cap : (min_cap ? min_cap : 1);
  while (c < need) c = c > max / 2 ? max : c * 2;
  return c;
}

int byte_buf_grow(byte_buf *b, size_t extra) {
  if (extra > SIZE_MAX - b->len) return WSIO_ENOMEM;
  size_t cap = grow_cap(b->cap, b->len + extra, BYTE_BUF_MIN, SIZE_MAX);
  if (!cap) return WSIO_ENOMEM;
  if (cap == b->cap) return 0;
  uint8_t *p = realloc(b->p, cap);
  if (!p) return WSIO_ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

void byte_buf_reset(byte_buf *b, size_t keep_cap) {
  if (b->cap > keep_cap) { /* a big burst passed: give the memory back */
    free(b->p);
    b->p = NULL;
    b->cap = 0;
  }
  b->len = 0;
}

uint8_t *byte_buf_take(byte_buf *b) {
  uint8_t *p = b->p;
  byte_buf_init(b);
  return p;
}

void byte_buf_free(byte_buf *b) {
  free(b->p);
  byte_buf_init(b);
}
