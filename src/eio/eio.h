/* eio/eio.h — what the Engine.IO server offers the layers above it inside the library
 * (Socket.IO) beyond the public wsio/eio.h: messages prepared once for many sessions.
 *
 * A broadcast builds an eio_prepared once — the WebSocket frames, and lazily the
 * polling records — and hands the same bytes to every recipient session. */
#ifndef WSIO_EIO_EIO_H
#define WSIO_EIO_EIO_H

#include <stddef.h>
#include <stdint.h>

#include "wsio.h"

typedef struct eio_prepared {
  uint8_t *ws; /* WebSocket frames: one per Engine.IO message, ready to write */
  size_t ws_len, ws_cap;
  uint8_t *poll; /* polling records ("4text" / "b<base64>") joined by 0x1E */
  size_t poll_len, poll_cap;
  uint32_t count; /* Engine.IO messages */
  /* The frames' place in the loop's shared broadcast buffer, once the first WebSocket
   * recipient put them there (valid while shared_iter == net_bcast_epoch() + 1). */
  uint32_t shared_off;
  uint64_t shared_iter;
} eio_prepared;

static inline void eio_prepared_init(eio_prepared *p) {
  p->ws = p->poll = NULL;
  p->ws_len = p->ws_cap = p->poll_len = p->poll_cap = 0;
  p->count = 0;
  p->shared_off = 0;
  p->shared_iter = 0;
}

/* Appends one Engine.IO message (text: UTF-8 data without the "4"; binary: raw).
 * Returns 0 or WSIO_ENOMEM. */
int eio_prepared_add(eio_prepared *p, const uint8_t *data, size_t len, int binary);
void eio_prepared_free(eio_prepared *p);

/* Sends a prepared message to a session: on WebSocket the frames are written as they
 * are; on polling the records are queued for the next GET. When is_volatile and the
 * session cannot take it right now (WebSocket send buffer not empty, or polling
 * without a pending GET), it is dropped and 1 is returned. Returns 0 when queued, 1
 * when dropped, WSIO_ECLOSED when the session is closing. */
int eio_send_prepared(wsio_eio_session *s, eio_prepared *p, int is_volatile);

/* The app a server is attached to (for the layers above: timers, the loop). */
wsio_app *eio_server_app(const wsio_eio_server *srv);

#endif
