/* eio/eio.h — what the Engine.IO server offers the layers above it inside the library
 * (Socket.IO) beyond the public wsio/eio.h: messages prepared once for many sessions.
 *
 * A broadcast builds an eio_prepared once — the WebSocket frames and the polling
 * records — and hands the same bytes to every recipient session. */
#ifndef WSIO_EIO_EIO_H
#define WSIO_EIO_EIO_H

#include <stddef.h>
#include <stdint.h>

#include "core/transport.h"
#include "util/buf.h"
#include "wsio.h"

typedef struct eio_prepared {
  core_frames ws; /* WebSocket frames, one per Engine.IO message (core decides how
                     they reach each recipient: shared once, or copied) */
  byte_buf poll;  /* polling records ("4text" / "b<base64>") joined by 0x1E */
} eio_prepared;

static inline void eio_prepared_init(eio_prepared *p) {
  core_frames_init(&p->ws);
  byte_buf_init(&p->poll);
}

/* Appends one Engine.IO message (text: UTF-8 data without the "4"; binary: raw).
 * Returns 0 or WSIO_ENOMEM. */
int eio_prepared_add(eio_prepared *p, const uint8_t *data, size_t len, int binary);
void eio_prepared_free(eio_prepared *p);

/* What a prepared message holds now, and back to it (a packet whose attachments could
 * not be added is taken out again). Only before it was first sent. */
typedef struct eio_prepared_mark {
  size_t ws_len, poll_len;
  uint32_t nframes;
} eio_prepared_mark;
static inline eio_prepared_mark eio_prepared_mark_now(const eio_prepared *p) {
  return (eio_prepared_mark){p->ws.len, p->poll.len, p->ws.nframes};
}
void eio_prepared_rewind(eio_prepared *p, eio_prepared_mark m);

/* The user pointer the server was attached with (Socket.IO's server). */
void *eio_server_user(const wsio_eio_server *srv);

/* Sends a prepared message to a session: on WebSocket the frames are written as they
 * are; on polling the records are queued for the next GET. When is_volatile and the
 * session cannot take it right now (WebSocket send buffer not empty, or polling
 * without a pending GET), it is dropped. Returns 0 when queued, WSIO_EDROPPED when
 * dropped (also when the WebSocket send fails), WSIO_ECLOSED when the session is
 * closing or its polling queue cannot take it. A message refused for backpressure
 * (not a volatile one) closes the session (eio/internal.h eio_over_cap). */
int eio_send_prepared(wsio_eio_session *s, eio_prepared *p, int is_volatile);

/* The most bytes of packets a new session can be sent at once, on either transport,
 * without one being refused: the smaller of max_backpressure (WebSocket) and
 * max_polling_buffer, less 1 KiB for the packets around them; SIZE_MAX with no cap.
 * Socket.IO's recovery sends no catch-up larger than this (sio/recovery.c). */
size_t eio_send_budget(const wsio_eio_server *srv);

/* Holding packets back (Socket.IO coalesces the broadcasts of one iteration to the same
 * recipients and sends them together from its post hook): after eio_hold, fn(arg) runs
 * once before this server next sends or closes anything (any packet, to any session),
 * so what it sends keeps its place in every session's order. eio_unhold: the user sent
 * them itself. fn may send (the hold is cleared before it runs). */
void eio_set_release(wsio_eio_server *srv, void (*fn)(void *arg), void *arg);
void eio_hold(wsio_eio_server *srv);
void eio_unhold(wsio_eio_server *srv);

/* The app a server is attached to (for the layers above: timers, the loop). */
wsio_app *eio_server_app(const wsio_eio_server *srv);

#endif
