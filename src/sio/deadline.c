/* sio/deadline.c — a binary min-heap of deadlines (ack timeouts), so the one sweep
 * timer of the Socket.IO server always knows the nearest one and expiring k of n
 * waits costs O(k log n), with no timer per wait. Items are embedded in their owners
 * and remember their heap position, so an answered ack leaves in O(log n). */
#include <stdlib.h>

#include "sio/internal.h"

static void place(sio_heap *h, uint32_t i, sio_deadline *d) {
  h->v[i] = d;
  d->idx = i;
}

static void sift_up(sio_heap *h, uint32_t i) {
  sio_deadline *d = h->v[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (h->v[parent]->due <= d->due) break;
    place(h, i, h->v[parent]);
    i = parent;
  }
  place(h, i, d);
}

static void sift_down(sio_heap *h, uint32_t i) {
  sio_deadline *d = h->v[i];
  for (;;) {
    uint32_t child = 2 * i + 1;
    if (child >= h->n) break;
    if (child + 1 < h->n && h->v[child + 1]->due < h->v[child]->due) child++;
    if (d->due <= h->v[child]->due) break;
    place(h, i, h->v[child]);
    i = child;
  }
  place(h, i, d);
}

int heap_push(sio_heap *h, sio_deadline *d) {
  if (h->n == h->cap) {
    uint32_t ncap = h->cap ? h->cap * 2 : 16;
    sio_deadline **nv = realloc(h->v, (size_t)ncap * sizeof(*nv));
    if (!nv) return WSIO_ENOMEM;
    h->v = nv;
    h->cap = ncap;
  }
  place(h, h->n++, d);
  sift_up(h, d->idx);
  return 0;
}

void heap_remove(sio_heap *h, sio_deadline *d) {
  if (!heap_has(d)) return;
  uint32_t i = d->idx;
  d->idx = UINT32_MAX;
  sio_deadline *last = h->v[--h->n];
  if (i == h->n) return;
  place(h, i, last);
  sift_down(h, i);
  sift_up(h, last->idx);
}
