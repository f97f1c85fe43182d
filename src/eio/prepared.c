/* eio/prepared.c — Engine.IO messages prepared once for many sessions (eio_prepared,
 * see eio/eio.h): Socket.IO broadcasts encode a packet once and send it to every room
 * member through here.
 *
 * Owns the two encodings of a prepared message (WebSocket frames, polling records) and
 * which one a session gets. Must not decide how frames reach a connection (shared
 * output buffer or copy: core_frames_send does) nor touch the polling queue's
 * internals (polling.c's eio_queue_record). */
#include <string.h>

#include "eio/internal.h"
#include "util/base64.h"

int eio_prepared_add(eio_prepared *p, const uint8_t *data, size_t len, int binary) {
  int r = binary ? core_frames_add(&p->ws, WSIO_OP_BINARY, NULL, 0, data, len)
                 : core_frames_add(&p->ws, WSIO_OP_TEXT, "4", 1, data, len);
  if (r < 0) return WSIO_ENOMEM;
  byte_buf *b = &p->poll;
  size_t rec = binary ? 1 + base64_len(len) : 1 + len;
  if (byte_buf_reserve(b, rec + 1) < 0) return WSIO_ENOMEM;
  if (b->len) b->p[b->len++] = EIO_RECORD_SEPARATOR;
  if (binary) {
    b->p[b->len++] = 'b';
    b->len += base64_encode((char *)b->p + b->len, data, len);
  } else {
    b->p[b->len++] = '4';
    if (len) memcpy(b->p + b->len, data, len);
    b->len += len;
  }
  return 0;
}

void eio_prepared_rewind(eio_prepared *p, eio_prepared_mark m) {
  /* Never sent yet: no shared copy and no compressed frames were built from it. */
  p->ws.len = m.ws_len;
  p->ws.nframes = m.nframes;
  p->ws.shared_epoch = 0;
  p->poll.len = m.poll_len;
}

void eio_prepared_free(eio_prepared *p) {
  core_frames_free(&p->ws);
  byte_buf_free(&p->poll);
}

int eio_send_prepared(wsio_eio_session *s, eio_prepared *p, int is_volatile) {
  eio_release_held(s->srv);
  if (s->state != S_OPEN) return WSIO_ECLOSED;
  s->srv->st.messages_out_total += p->ws.nframes;
  if (s->transport == TRANSPORT_WEBSOCKET && s->ws) {
    if (is_volatile && wsio_conn_buffered_amount(s->ws)) return WSIO_EDROPPED;
    if (s->over_cap) return WSIO_EDROPPED;
    int r = core_frames_send(s->ws, &p->ws);
    if (r < 0 && !is_volatile) eio_ws_sent(s, r); /* a volatile packet may be lost */
    return r < 0 ? WSIO_EDROPPED : 0;
  }
  if (is_volatile && (!eio_get(s) || s->upgrading)) return WSIO_EDROPPED;
  return eio_queue_record(s, p->poll.p, p->poll.len) < 0 ? WSIO_ECLOSED : 0;
}
