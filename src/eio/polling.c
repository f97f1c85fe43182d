/* eio/polling.c — the long-polling transport: the output queue of a session, the held
 * GET that carries it, POSTed payloads, and the polling handshake.
 *
 * A long-poll GET is a held response (wsio_response_hold). Records queued for a session
 * are joined into one payload (0x1E between records) and written to the held GET from
 * the loop's post phase (session.c's eio_post), so a burst costs one response. Must not
 * decide a session's life (session.c) nor know the WebSocket transport (websocket.c). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eio/internal.h"
#include "util/base64.h"

/* Room for extra more bytes in the queue, under EIO_OUT_MAX. */
static int out_reserve(wsio_eio_session *s, size_t extra) {
  /* Only polling sessions queue (a WebSocket session writes to its connection), but a
   * session without the state gets it here rather than a NULL dereference. */
  if (!s->poll && !(s->poll = calloc(1, sizeof(*s->poll)))) return WSIO_ENOMEM;
  byte_buf *out = &s->poll->out;
  if (extra > EIO_OUT_MAX - out->len) return WSIO_ENOMEM; /* never polled: fail, never wrap */
  /* A client that stopped polling: refuse, and close it from the post phase. Once one
   * record is refused, a smaller one that would still fit is refused too: it would
   * reach the client after the gap. */
  size_t cap = s->srv->o.max_polling_buffer;
  if (s->over_cap && s->state == S_OPEN) return WSIO_ENOMEM;
  if (cap && s->state == S_OPEN && out->len + extra > cap) {
    eio_over_cap(s);
    return WSIO_ENOMEM;
  }
  return byte_buf_reserve(out, extra);
}

/* Starts a record: the separator when one is already queued. Room must be reserved. */
static byte_buf *record_begin(wsio_eio_session *s) {
  byte_buf *out = &s->poll->out;
  if (out->len) out->p[out->len++] = EIO_RECORD_SEPARATOR;
  return out;
}

int eio_queue_record(wsio_eio_session *s, const uint8_t *rec, size_t n) {
  if (out_reserve(s, n + 1) < 0) return WSIO_ENOMEM;
  byte_buf *out = record_begin(s);
  memcpy(out->p + out->len, rec, n);
  out->len += n;
  eio_mark_dirty(s);
  return 0;
}

int eio_queue_text(wsio_eio_session *s, char type, const uint8_t *data, size_t len) {
  if (out_reserve(s, len + 2) < 0) return WSIO_ENOMEM;
  byte_buf *out = record_begin(s);
  out->p[out->len++] = (uint8_t)type;
  if (len) memcpy(out->p + out->len, data, len);
  out->len += len;
  eio_mark_dirty(s);
  return 0;
}

int eio_queue_binary(wsio_eio_session *s, const uint8_t *data, size_t len) {
  if (out_reserve(s, base64_len(len) + 2) < 0) return WSIO_ENOMEM;
  byte_buf *out = record_begin(s);
  out->p[out->len++] = 'b';
  out->len += base64_encode((char *)out->p + out->len, data, len);
  eio_mark_dirty(s);
  return 0;
}

void eio_answer_get(wsio_eio_session *s, int noop_only) {
  wsio_response *res = eio_get(s);
  if (!res) return;
  byte_buf *out = &s->poll->out;
  s->poll->get = NULL;
  wsio_response_header(res, "Cache-Control", "no-store");
  if (noop_only || !out->len) {
    wsio_response_send(res, 200, "text/plain; charset=UTF-8", "6", 1);
    return;
  }
  wsio_response_send(res, 200, "text/plain; charset=UTF-8", out->p, out->len);
  byte_buf_reset(out, EIO_OUT_KEEP);
  if (s->ping_queued) eio_ping_delivered(s);
}

void eio_linger_get(wsio_eio_session *s, const wsio_request *req, wsio_response *res) {
  eio_add_cors(s->srv, req, res);
  if (!eio_out_len(s)) eio_queue_text(s, EIO_CLOSE + '0', NULL, 0);
  if (!s->poll) { /* out of memory for the close packet: the session ends here */
    wsio_response_send(res, 500, NULL, "out of memory", 13);
    eio_session_bury(s);
    return;
  }
  s->poll->get = res;
  int last = s->poll->out.len == 1 && s->poll->out.p[0] == '0' + EIO_CLOSE;
  eio_answer_get(s, 0);
  if (last) eio_session_told(s);
}

static void on_get_abort(wsio_response *res, void *user) {
  wsio_eio_session *s = user;
  if (eio_get(s) != res) return;
  s->poll->get = NULL;
  eio_session_close(s, "transport close", CLOSE_SILENT);
}

void eio_poll_get(wsio_eio_session *s, const wsio_request *req, wsio_response *res) {
  wsio_eio_server *srv = s->srv;
  if (eio_get(s)) { /* overlapping polls: Node fails the second, closes the session and
                   answers the first with a close packet */
    eio_send_error(srv, req, res, ERR_BAD_REQUEST, NULL);
    eio_session_close(s, "transport error", CLOSE_AFTER_QUEUE);
    return;
  }
  eio_add_cors(srv, req, res);
  if (!s->poll && !(s->poll = calloc(1, sizeof(*s->poll)))) { /* (polling sessions have it) */
    wsio_response_send(res, 500, NULL, "out of memory", 13);
    eio_session_close(s, "transport error", CLOSE_SILENT);
    return;
  }
  if (s->upgrading) { /* let the client's poll loop end so it can finish the upgrade */
    s->poll->get = res;
    eio_answer_get(s, 1);
    return;
  }
  if (s->poll->out.len) {
    s->poll->get = res;
    eio_answer_get(s, 0);
    return;
  }
  s->poll->get = wsio_response_hold(res, on_get_abort, s);
  if (!s->poll->get) eio_session_close(s, "transport error", CLOSE_SILENT);
}

void eio_poll_post(wsio_eio_session *s, const wsio_request *req, wsio_response *res) {
  wsio_eio_server *srv = s->srv;
  size_t ctl = 0, blen = 0;
  const char *ct = wsio_request_header(req, "content-type", &ctl);
  const uint8_t *body = wsio_request_body(req, &blen);
  eio_add_cors(srv, req, res);
  if (ct && ctl >= 24 && strncasecmp(ct, "application/octet-stream", 24) == 0) {
    eio_send_error(srv, req, res, ERR_BAD_REQUEST, NULL); /* v4 polling payloads are text */
    eio_session_close(s, "transport error", CLOSE_SILENT);
    return;
  }
  if (blen > srv->o.max_payload) { /* refused, but the session goes on (as in Node) */
    wsio_response_send(res, 413, "text/plain; charset=utf-8", "Payload Too Large", 17);
    return;
  }
  /* The payload is decoded in place (binary records shrink): work on a copy. */
  uint8_t stack[4096], *buf = blen <= sizeof(stack) ? stack : malloc(blen);
  if (!buf) {
    wsio_response_send(res, 500, NULL, "out of memory", 13);
    return;
  }
  memcpy(buf, body, blen);
  size_t off = 0;
  eio_packet p;
  int r, count = 0;
  /* Keep the session alive while its own callbacks run: it may be closed by them. */
  while (s->state == S_OPEN && (r = eio_payload_next(buf, blen, &off, &p)) == 1) {
    eio_on_packet(s, &p);
    count++;
  }
  if (buf != stack) free(buf);
  if (s->state == S_OPEN && (r < 0 || count == 0)) {
    eio_send_error(srv, req, res, ERR_BAD_REQUEST, NULL);
    eio_session_close(s, "parse error", CLOSE_SILENT);
    return;
  }
  wsio_response_send(res, 200, "text/html", "ok", 2);
}

void eio_poll_handshake(wsio_eio_server *srv, const wsio_request *req, wsio_response *res) {
  /* A polling session is one of its client's connections (max_connections_per_ip). */
  const char *why = NULL;
  int st = core_limit_session_open(req, &why);
  if (st) {
    eio_add_cors(srv, req, res);
    wsio_response_header(res, "Retry-After", "1");
    wsio_response_send(res, st, "text/plain; charset=utf-8", why, strlen(why));
    return;
  }
  wsio_eio_session *s = eio_session_create(srv, req, TRANSPORT_POLLING);
  if (!s) {
    char addr[WSIO_ADDRSTRLEN];
    uint8_t ip[16];
    int fam = 0;
    if (wsio_request_remote_address(req, addr, sizeof(addr)) > 0) fam = strchr(addr, ':') ? AF_INET6 : AF_INET;
    if (fam && inet_pton(fam, addr, ip) == 1) core_limit_session_close(srv->app, fam, ip);
    wsio_response_send(res, 500, NULL, "out of memory", 13);
    return;
  }
  s->ip_counted = 1;
  char open[256];
  size_t n = eio_open_packet(s, open, sizeof(open));
  eio_queue_text(s, EIO_OPEN + '0', (const uint8_t *)open, n);
  s->poll->get = res; /* (eio_session_create made the polling state) */
  eio_add_cors(srv, req, res);
  eio_answer_get(s, 0);
  if (srv->h.open) srv->h.open(s, req, srv->user);
}
