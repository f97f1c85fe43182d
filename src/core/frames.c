/* core/frames.c — frames prepared once for many connections (core_frames, see
 * core/transport.h): topics, Engine.IO and Socket.IO broadcasts all send through here.
 *
 * Owns the one decision of a broadcast's write path: put the bytes once into the loop's
 * shared output buffer and owe every recipient a range of it, or give a recipient a
 * copy; and the frames of messages compressed once for many (core_frames_add_deflate),
 * built once per deflate window size from the plain frames when the first recipient
 * with that window needs them (core_frames_for).
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
  if (f->z) f->z->built = 0; /* and so are the compressed ones */
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
   * NET_SHARED_SPILL_AT): a range appended before it is gone. */
  if (f->shared_epoch != net_bcast_epoch(net) + 1 && f->len <= NET_SHARED_FLUSH_AT &&
      net_bcast_append(net, f->p, f->len, &f->shared_off) == 0)
    f->shared_epoch = net_bcast_epoch(net) + 1;
  if (f->shared_epoch == net_bcast_epoch(net) + 1) return net_bcast_add(nc, f->shared_off, (uint32_t)f->len);
  return net_write(nc, f->p, f->len);
}

void core_frames_reset(core_frames *f, size_t keep_cap) {
  if (f->z) {
    for (int g = 0; g < CORE_ZWIN; g++) core_frames_reset(&f->z->f[g], keep_cap);
    f->z->built = f->z->any = 0;
  }
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
  if (f->z) {
    for (int g = 0; g < CORE_ZWIN; g++) core_frames_free(&f->z->f[g]);
    free(f->z);
  }
  free(f->p);
  core_frames_init(f);
}

/* ---- compressed once for many --------------------------------------------------------
 * A recipient that announced server_max_window_bits = b accepts any raw DEFLATE stream
 * whose distances stay within 2^b bytes; a context-free message compressed with window b
 * is one. So recipients are grouped by their announced window and each group gets the
 * message compressed once, by the app's shared compressor of that window: a client that
 * asked for a small window shares as well as one with the default 15 bits. zlib deflates
 * an 8-bit window as 9 (ws/deflate.c does so for every connection too, as Node's ws), so
 * 8 and 9 are one group. */

static int zgroup(int bits) { return (bits < 9 ? 9 : bits > 15 ? 15 : bits) - 9; }

static ws_deflate *zshared(wsio_app *app, int g) {
  if (app->zshared[g]) return app->zshared[g];
  ws_deflate *z = core_malloc(sizeof(*z));
  if (!z) return NULL;
  ws_deflate_config cfg;
  conn_deflate_config(app, &cfg);
  ws_deflate_init_shared(z, g + 9, &cfg);
  return app->zshared[g] = z;
}

/* Fills f->z->f[g] with f's frames, those of threshold bytes or more compressed. */
static int zbuild(wsio_app *app, core_frames *f, int g) {
  core_zframes *z = f->z;
  core_frames *out = &z->f[g];
  ws_deflate *d = zshared(app, g);
  if (!d) return WSIO_ENOMEM;
  core_frames_reset(out, SIZE_MAX);
  z->any &= (uint8_t) ~(1u << g); /* frames added since the last build may differ */
  size_t thr = conn_deflate_threshold(app);
  for (size_t off = 0; off < f->len;) {
    ws_frame_header h;
    int hl = ws_frame_parse_header(f->p + off, f->len - off, &h);
    /* f holds only whole frames that core_frames_add wrote */
    if (hl <= 0 || h.payload_len > f->len - off - (size_t)hl) return WSIO_EINVAL;
    const uint8_t *pl = f->p + off + hl;
    size_t n = (size_t)h.payload_len;
    int r = n >= thr && n ? core_frames_add_deflate(out, d, h.opcode, pl, n)
                          : core_frames_add(out, h.opcode, NULL, 0, pl, n);
    if (r < 0) return WSIO_ENOMEM;
    if (n >= thr && n) {
      z->any |= (uint8_t)(1u << g);
      app->st.deflate_compressions_total++;
    }
    off += (size_t)hl + n;
  }
  z->built |= (uint8_t)(1u << g);
  return 0;
}

core_frames *core_frames_for(wsio_conn *c, core_frames *f, int *compressed) {
  *compressed = 0;
  if (!(c->dfl & DFL_ON) || !f->len) return f;
  if (!f->z && !(f->z = core_calloc(1, sizeof(*f->z)))) return NULL;
  int g = zgroup(c->dfl_tx_bits ? c->dfl_tx_bits : 15);
  if (!(f->z->built >> g & 1u) && zbuild(c->app, f, g) < 0) {
    f->z->built &= (uint8_t) ~(1u << g);
    return NULL;
  }
  if (!(f->z->any >> g & 1u)) return f; /* all under the threshold: share the plain bytes */
  *compressed = 1;
  return &f->z->f[g];
}

int core_frames_send_each(wsio_conn *c, core_frames *f) {
  int ret = 0;
  for (size_t off = 0; off < f->len;) {
    ws_frame_header h;
    int hl = ws_frame_parse_header(f->p + off, f->len - off, &h);
    if (hl <= 0 || h.payload_len > f->len - off - (size_t)hl) return WSIO_EINVAL;
    int r = ws_send_parts(c, (wsio_opcode)h.opcode, NULL, 0, f->p + off + hl, (size_t)h.payload_len);
    if (r < 0) return r;
    if (r > ret) ret = r;
    off += (size_t)hl + (size_t)h.payload_len;
  }
  return ret;
}

void core_zshared_free(wsio_app *app) {
  for (int g = 0; g < CORE_ZWIN; g++) {
    if (!app->zshared[g]) continue;
    ws_deflate_free(app->zshared[g]);
    free(app->zshared[g]);
    app->zshared[g] = NULL;
  }
}
