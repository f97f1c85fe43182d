/* core/frames.c — frames prepared once for many connections (core_frames, see
 * core/transport.h): topics, Engine.IO and Socket.IO broadcasts all send through here.
 *
 * Owns the one decision of a broadcast's write path: put the bytes once into the loop's
 * shared output buffer and owe every recipient a range of it, or give a recipient a
 * copy; and the frame of a message compressed once for many (core_frames_add_deflate).
 * Must not know topics, sessions or backpressure policy (callers check caps). */
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "util/buf.h"
#include "ws/deflate.h"
#include "ws/frame.h"

/* Room for need bytes in all (core_realloc: the allocation-failure tests reach it). */
static int frames_reserve(core_frames *f, size_t need) {
  if (need <= f->cap) return 0;
  size_t cap = grow_cap(f->cap, need, 256, SIZE_MAX);
  uint8_t *p = cap ? core_realloc(f->p, cap) : NULL;
  if (!p) return -1;
  f->p = p;
  f->cap = cap;
  return 0;
}

int core_frames_add(core_frames *f, wsio_opcode op, const void *prefix, size_t plen, const void *data,
                    size_t len) {
  size_t need = f->len + WS_FRAME_MAX_HEADER + plen + len;
  if (frames_reserve(f, need) < 0) return WSIO_ENOMEM;
  f->len += ws_frame_header_encode(f->p + f->len, 1, 0, (uint8_t)op, plen + len, NULL);
  if (plen) memcpy(f->p + f->len, prefix, plen);
  if (len) memcpy(f->p + f->len + plen, data, len);
  f->len += plen + len;
  f->nframes++;
  f->shared_epoch = 0; /* the bytes changed: a shared copy is stale */
  return 0;
}

int core_frames_add_deflate(core_frames *f, ws_deflate *z, wsio_opcode op, const void *data, size_t len) {
  size_t bound = ws_deflate_compress_bound(len);
  size_t need = f->len + WS_FRAME_MAX_HEADER + bound;
  if (frames_reserve(f, need) < 0) return WSIO_ENOMEM;
  /* Compress behind room for the longest header, then move the bytes up to the header
   * that their length needs: one memmove of the (smaller) compressed message. */
  uint8_t *body = f->p + f->len + WS_FRAME_MAX_HEADER;
  size_t zlen = 0;
  int r = ws_deflate_compress_into(z, data, len, body, bound, &zlen);
  if (r < 0) return r;
  size_t hl = ws_frame_header_encode(f->p + f->len, 1, WS_DEFLATE_RSV, (uint8_t)op, zlen, NULL);
  memmove(f->p + f->len + hl, body, zlen);
  f->len += hl + zlen;
  f->nframes++;
  f->shared_epoch = 0;
  return 0;
}

int core_frames_write(net_conn *nc, core_frames *f) {
  net_ctx *net = nc->ctx;
  /* The shared buffer's epoch moves on every flush (also an early one, past
   * NET_SHARED_FLUSH_AT): a range appended before it is gone. */
  if (f->shared_epoch != net_bcast_epoch(net) + 1 && f->len <= NET_SHARED_FLUSH_AT &&
      net_bcast_append(net, f->p, f->len, &f->shared_off) == 0)
    f->shared_epoch = net_bcast_epoch(net) + 1;
  if (f->shared_epoch == net_bcast_epoch(net) + 1) return net_bcast_add(nc, f->shared_off, (uint32_t)f->len);
  return net_write(nc, f->p, f->len);
}

void core_frames_reset(core_frames *f, size_t keep_cap) {
  if (f->cap > keep_cap) { /* a big message passed: give the memory back */
    free(f->p);
    f->p = NULL;
    f->cap = 0;
  }
  f->len = 0;
  f->nframes = 0;
  f->shared_epoch = 0;
}

void core_frames_free(core_frames *f) {
  free(f->p);
  core_frames_init(f);
}
