/* core/ws_session.c — an open WebSocket connection: turns received bytes into frames
 * and messages (RFC 6455 5), answers control frames, runs the close handshake (7),
 * keeps the connection alive with pings, and sends.
 *
 * Read path: frames are unmasked in place in the loop's receive buffer. A message
 * that arrives whole in one read (the common case) is delivered from there without a
 * copy; only messages split across reads or fragmented are assembled in ws_aux.
 * Text is validated incrementally, so invalid UTF-8 fails the connection at the
 * first bad byte, not at the end of a long fragmented message.
 *
 * permessage-deflate (RFC 7692, ws/deflate.h), on connections that negotiated it: a
 * compressed message (RSV1 on its first frame) is inflated piece by piece into ws_aux,
 * bounded by max_message_size; sends of at least the threshold are compressed. The zlib
 * streams live in ws_aux while in use and the sweep releases them once idle. */
#include <errno.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>

#include "core/conn.h"
#include "ws/close.h"
#include "ws/deflate.h"
#include "ws/frame.h"

static ws_aux *aux_get(wsio_conn *c) {
  if (!c->aux) {
    ws_aux *a = core_calloc(1, sizeof(*a));
    if (!a) return NULL;
    a->kind = AUX_WS;
    c->aux = a;
  }
  return c->aux;
}

void ws_aux_free(wsio_conn *c) {
  ws_aux *a = c->aux;
  if (!a) return;
  if (a->z) {
    ws_deflate_free(a->z);
    free(a->z);
  }
  free(a->msg);
  free(a);
  c->aux = NULL;
}

/* Frees the aux when nothing in it is needed any more. Streams still holding memory keep
 * it (allocating them again for every message would cost more than compressing); the
 * sweep releases them. A big assembled message's buffer goes at once. */
static void aux_release_if_idle(wsio_conn *c) {
  ws_aux *a = c->aux;
  if (!a || a->hdr_len || a->ctrl_len || (c->wsf & WSF_MSG_ACTIVE)) return;
  if (!a->z || !ws_deflate_memory(a->z)) {
    ws_aux_free(c);
  } else if (a->msg_cap > 64 * 1024) {
    free(a->msg);
    a->msg = NULL;
    a->msg_cap = 0;
  }
}

/* ---- permessage-deflate ------------------------------------------------------------ */

void conn_deflate_config(const wsio_app *app, ws_deflate_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->disabled = !app->o.deflate;
  cfg->client_no_context_takeover = !app->o.deflate_client_context_takeover;
}

size_t conn_deflate_threshold(const wsio_app *app) {
  return app->o.deflate_threshold ? app->o.deflate_threshold : 1024;
}

/* The parameters agreed at the upgrade, kept in three bytes of the connection. */
static void conn_deflate_init(const wsio_conn *c, ws_deflate *z) {
  ws_deflate_config cfg;
  ws_deflate_agreement ag;
  conn_deflate_config(c->app, &cfg);
  memset(&ag, 0, sizeof(ag));
  ag.server_no_context_takeover = (c->dfl & DFL_TX_RESET) != 0;
  ag.client_no_context_takeover = (c->dfl & DFL_RX_RESET) != 0;
  ag.server_window_bits = c->dfl_tx_bits;
  ag.client_window_bits = c->dfl_rx_bits;
  ws_deflate_init(z, &ag, &cfg);
}

/* The connection's WebSocket aux, or NULL. While the open callback runs, c->aux may
 * still be the HTTP state of a head that arrived in pieces (http_session frees it after
 * the upgrade): deflate must neither read nor reuse that. */
static ws_aux *ws_aux_of(const wsio_conn *c) {
  ws_aux *a = c->aux;
  return a && a->kind == AUX_WS ? a : NULL;
}

/* The connection's codec, created in its aux on first use; NULL when out of memory. */
static ws_deflate *conn_deflate(wsio_conn *c) {
  ws_aux *a = c->aux && !ws_aux_of(c) ? NULL : aux_get(c);
  if (!a) return NULL;
  if (!a->z) {
    if (!(a->z = core_malloc(sizeof(*a->z)))) return NULL;
    conn_deflate_init(c, a->z);
  }
  a->z_used = 1;
  return a->z;
}

void ws_conn_deflate_forget(wsio_conn *c) {
  ws_aux *a = ws_aux_of(c);
  /* Without a codec the next message starts a fresh compressor anyway. */
  if (a && a->z) ws_deflate_tx_forget(a->z);
}

/* Idle for a whole sweep period: give zlib's memory back (and the aux with it when the
 * inflater keeps no window). */
static void deflate_sweep(wsio_conn *c) {
  ws_aux *a = ws_aux_of(c);
  if (!a || !a->z) return;
  if (a->z_used) {
    a->z_used = 0;
    return;
  }
  size_t held = ws_deflate_memory(a->z);
  ws_deflate_release(a->z);
  if (ws_deflate_memory(a->z) < held) c->app->dfl_released = 1;
  aux_release_if_idle(c);
}

/* zlib's streams are a few large blocks per connection; glibc keeps freed heap pages
 * mapped (and mmap's threshold rises after the first big free), so without a trim an
 * idle server would keep the peak of its compression memory. Once per sweep at most. */
void conn_deflate_post(void *arg) {
  wsio_app *app = arg;
  if (!app->dfl_released) return;
  app->dfl_released = 0;
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

void ws_notify_close(wsio_conn *c, int code, const uint8_t *reason, size_t len) {
  if (c->wsf & WSF_NOTIFIED) return;
  c->wsf |= WSF_NOTIFIED;
  stats_count_close(c->app, code);
  if (code == WS_CLOSE_ABNORMAL && c->app->o.log) {
    char addr[WSIO_ADDRSTRLEN];
    conn_peer_format(c, addr, sizeof(addr));
    app_log(c->app, WSIO_LOG_INFO, "abnormal close (1006) of %s: connection lost without a close frame", addr);
  }
  if (c->route && c->route->ws.close) c->route->ws.close(c, code, reason, len);
}

void ws_opened(wsio_conn *c) {
  wsio_app *app = c->app;
  app->st.connections_open++;
  app->st.connections_total++;
  c->t_rx = core_now(app);
  if (c->route->ws.open) c->route->ws.open(c);
}

static void enter_closing(wsio_conn *c) {
  c->state = CONN_WS_CLOSING;
  c->t_due = core_now(c->app) + (c->app->o.close_timeout_ms ? c->app->o.close_timeout_ms : 1000);
}

/* Sends are refused once the close handshake has begun in either direction or the
 * close callback runs (RFC 6455 5.5.1: no data after a close frame), whatever the
 * close code: one answer, WSIO_ECLOSED. */
static int conn_closing(const wsio_conn *c) {
  return c->state != CONN_WS || (c->wsf & (WSF_CLOSE_SENT | WSF_CLOSE_RECEIVED | WSF_NOTIFIED));
}

/* A close frame is never refused for backpressure: it is how the peer learns why. */
static void write_close_frame(wsio_conn *c, unsigned code, const char *reason, size_t rlen) {
  uint8_t payload[125], hdr[WS_FRAME_MAX_HEADER];
  size_t n = ws_close_encode(payload, code, reason, rlen);
  size_t hl = ws_frame_header_encode(hdr, 1, 0, WS_OP_CLOSE, n, NULL);
  net_write2(&c->net, hdr, hl, payload, n);
  c->wsf |= WSF_CLOSE_SENT;
  c->close_code = (uint16_t)code;
}

void ws_send_close_frame(wsio_conn *c, unsigned code, const char *reason, size_t rlen) {
  pubsub_before_direct_send(c);
  write_close_frame(c, code, reason, rlen);
}

void ws_close_missed(wsio_conn *c, int oom) {
  wsio_app *app = c->app;
  if (conn_closing(c)) return;
  char addr[WSIO_ADDRSTRLEN];
  conn_peer_format(c, addr, sizeof(addr));
  if (oom) {
    app_log(app, WSIO_LOG_WARN, "closing %s with 1011: out of memory for a message to it", addr);
    write_close_frame(c, WSIO_CLOSE_INTERNAL_ERROR, "out of memory", 13);
  } else {
    app->st.closed_backpressure_total++;
    app_log(app, WSIO_LOG_WARN, "closing %s with 1008: a message to it was dropped at %zu bytes of send buffer",
            addr, app->o.max_backpressure);
    static const char why[] = "send buffer limit exceeded";
    write_close_frame(c, WSIO_CLOSE_BACKPRESSURE, why, sizeof(why) - 1);
  }
  enter_closing(c);
}

/* RFC 6455 7.1.7 "Fail the WebSocket Connection": send a close frame with the reason,
 * stop reading messages, and let the TCP connection end after our close is written. */
static void fail(wsio_conn *c, unsigned code, const char *reason) {
  if (c->state != CONN_WS && c->state != CONN_WS_CLOSING) return;
  c->app->st.protocol_errors_total++;
  if (c->app->o.log) {
    char addr[WSIO_ADDRSTRLEN];
    conn_peer_format(c, addr, sizeof(addr));
    app_log(c->app, WSIO_LOG_INFO, "closing %s with %u: %s", addr, code, reason);
  }
  c->wsf |= WSF_INPUT_DONE;
  if (!(c->wsf & WSF_CLOSE_SENT)) ws_send_close_frame(c, code, reason, strlen(reason));
  ws_notify_close(c, (int)code, (const uint8_t *)reason, strlen(reason));
  net_shutdown_write(&c->net);
  enter_closing(c);
}

static void deliver(wsio_conn *c, const uint8_t *p, size_t n, uint8_t op) {
  c->app->st.messages_in_total++;
  if (c->state == CONN_WS && !limits_message(c)) return;
  /* After our close frame the peer's data is discarded (RFC 6455 7.1.2 lets us). */
  if (c->state == CONN_WS && c->route->ws.message) c->route->ws.message(c, p, n, (wsio_opcode)op);
}

static void on_close_frame(wsio_conn *c, const uint8_t *p, size_t n) {
  unsigned code;
  const uint8_t *reason;
  size_t rlen;
  if (ws_close_parse(p, n, &code, &reason, &rlen) != 0) {
    fail(c, WS_CLOSE_PROTOCOL_ERROR, "invalid close frame");
    return;
  }
  c->wsf |= WSF_CLOSE_RECEIVED | WSF_INPUT_DONE;
  /* RFC 6455 5.5.1: answer with a close, echoing the status code. */
  if (!(c->wsf & WSF_CLOSE_SENT)) ws_send_close_frame(c, code, NULL, 0);
  ws_notify_close(c, (int)code, reason, rlen);
  /* RFC 6455 7.1.1: the server closes the TCP connection first, once our close is out.
   * Both closes are exchanged, so nothing more is read: net_end closes it as soon as
   * our close frame is written (on_end), without shutdown(2) and waiting for the
   * peer's FIN, one syscall and one wake-up fewer per connection. */
  net_end(&c->net);
  enter_closing(c);
}

static void on_control(wsio_conn *c, uint8_t op, const uint8_t *p, size_t n) {
  switch (op) {
    case WS_OP_PING:
      if (!(c->wsf & WSF_CLOSE_SENT)) {
        uint8_t hdr[WS_FRAME_MAX_HEADER];
        size_t hl = ws_frame_header_encode(hdr, 1, 0, WS_OP_PONG, n, NULL);
        pubsub_before_direct_send(c);
        net_write2(&c->net, hdr, hl, p, n);
      }
      break;
    case WS_OP_PONG:
      if (c->state == CONN_WS && c->route->ws.pong) c->route->ws.pong(c, p, n);
      break;
    case WS_OP_CLOSE: on_close_frame(c, p, n); break;
    default: break;
  }
}

static int msg_append(wsio_conn *c, ws_aux *a, const uint8_t *p, size_t n) {
  size_t need = a->msg_len + n;
  if (need > a->msg_cap) {
    /* Reserve the rest of this frame at once: one allocation per frame, not per read. */
    size_t cap = a->msg_len + n + (size_t)c->frame_left;
    if (cap < a->msg_cap * 2) cap = a->msg_cap * 2;
    if (cap > c->app->o.max_message_size) cap = c->app->o.max_message_size;
    if (cap < need) cap = need;
    uint8_t *m = core_realloc(a->msg, cap);
    if (!m) return -1;
    a->msg = m;
    a->msg_cap = cap;
  }
  memcpy(a->msg + a->msg_len, p, n);
  a->msg_len = need;
  return 0;
}

/* The assembled message in a is complete: check its end and deliver it. */
static void finish_message(wsio_conn *c, ws_aux *a) {
  if (c->msg_op == WS_OP_TEXT && !ws_utf8_complete(&a->utf8))
    return fail(c, WS_CLOSE_INVALID_PAYLOAD, "truncated UTF-8 sequence at end of text message");
  size_t len = a->msg_len;
  a->msg_len = 0;
  ws_utf8_init(&a->utf8);
  c->wsf &= (uint8_t)~WSF_MSG_ACTIVE;
  deliver(c, a->msg, len, c->msg_op);
}

typedef struct {
  wsio_conn *c;
  ws_aux *a;
  int bad_utf8;
} inflate_ctx;

/* Inflated bytes of a compressed message: validated as they come (text), appended. */
static int inflate_sink(void *ud, const uint8_t *p, size_t n) {
  inflate_ctx *x = ud;
  if (x->c->msg_op == WS_OP_TEXT && ws_utf8_feed(&x->a->utf8, p, n) < 0) {
    x->bad_utf8 = 1;
    return WSIO_EINVAL;
  }
  return msg_append(x->c, x->a, p, n) < 0 ? WSIO_ENOMEM : 0;
}

/* n unmasked payload bytes of a compressed message (RFC 7692 7.2.2); fin with the last
 * piece of its final frame. ws_deflate_inflate stops at max_message_size inflated bytes,
 * so a small message that would inflate to gigabytes costs no more than the limit. */
static void on_compressed(wsio_conn *c, const uint8_t *p, size_t n, int fin) {
  ws_deflate *z = conn_deflate(c);
  if (!z) return fail(c, WS_CLOSE_INTERNAL_ERROR, "out of memory");
  inflate_ctx x = {c, c->aux, 0};
  int r = ws_deflate_inflate(z, p, n, fin, c->app->o.max_message_size, inflate_sink, &x);
  if (x.bad_utf8) return fail(c, WS_CLOSE_INVALID_PAYLOAD, "invalid UTF-8 in text message");
  if (r == WS_DEFLATE_ETOOBIG) return fail(c, WS_CLOSE_TOO_BIG, "message too big (inflated)");
  if (r == WS_DEFLATE_EDATA) return fail(c, WS_CLOSE_INVALID_PAYLOAD, "invalid compressed data");
  if (r) return fail(c, (unsigned)ws_deflate_close_code(r), "out of memory inflating a message");
  if (fin) finish_message(c, x.a);
}

/* Handles take bytes of the current frame's payload at p (still masked). */
static void on_payload(wsio_conn *c, uint8_t *p, size_t take) {
  /* A text frame learns while it is unmasked whether it is all ASCII (then valid UTF-8:
   * the check below is skipped); other frames are only unmasked. */
  int ascii = 0;
  if (c->frame_op == WS_OP_TEXT && !(c->dfl & DFL_RX_MSG)) ascii = ws_mask_apply_ascii(p, take, c->mask, c->frame_pos);
  else if (take) ws_mask_apply(p, take, c->mask, c->frame_pos);
  int whole = c->frame_pos == 0 && take == c->frame_left;
  c->frame_pos += (uint32_t)take;
  c->frame_left -= take;
  int done = c->frame_left == 0;
  if (done) c->wsf &= (uint8_t)~WSF_IN_FRAME;
  ws_aux *a = c->aux;

  if (c->frame_op >= 8) {
    if (whole) {
      on_control(c, c->frame_op, p, take);
      return;
    }
    if (!(a = aux_get(c))) return fail(c, WS_CLOSE_INTERNAL_ERROR, "out of memory");
    memcpy(a->ctrl + a->ctrl_len, p, take);
    a->ctrl_len = (uint8_t)(a->ctrl_len + take);
    if (done) {
      size_t n = a->ctrl_len;
      a->ctrl_len = 0;
      on_control(c, c->frame_op, a->ctrl, n);
    }
    return;
  }

  if (c->dfl & DFL_RX_MSG) return on_compressed(c, p, take, done && c->frame_fin);
  if (whole && c->frame_fin && c->frame_op != WS_OP_CONT) {
    /* The whole message is in the receive buffer: validate and deliver in place. */
    if (c->msg_op == WS_OP_TEXT && !ascii && !ws_utf8_valid(p, take))
      return fail(c, WS_CLOSE_INVALID_PAYLOAD, "invalid UTF-8 in text message");
    c->wsf &= (uint8_t)~WSF_MSG_ACTIVE;
    deliver(c, p, take, c->msg_op);
    return;
  }
  if (!(a = aux_get(c))) return fail(c, WS_CLOSE_INTERNAL_ERROR, "out of memory");
  if (c->msg_op == WS_OP_TEXT && ws_utf8_feed(&a->utf8, p, take) < 0)
    return fail(c, WS_CLOSE_INVALID_PAYLOAD, "invalid UTF-8 in text message");
  if (take && msg_append(c, a, p, take) < 0) return fail(c, WS_CLOSE_INTERNAL_ERROR, "out of memory");
  if (done && c->frame_fin) finish_message(c, a);
}

/* Starts a frame from a parsed header; returns 0 when the connection was failed. */
static int begin_frame(wsio_conn *c, const ws_frame_header *h) {
  uint8_t allowed = (c->dfl & DFL_ON) ? WS_DEFLATE_RSV : 0;
  int code = ws_frame_check(h, 1, allowed);
  if (code) {
    fail(c, (unsigned)code, (h->rsv & ~allowed) ? "reserved bits set without an extension"
                           : !h->masked ? "client frames must be masked"
                           : (h->opcode >= 8 && (!h->fin || h->payload_len > 125)) ? "invalid control frame"
                           : (h->rsv && (h->opcode >= 8 || h->opcode == WS_OP_CONT))
                               ? "RSV1 on a control or continuation frame"
                               : "reserved opcode");
    return 0;
  }
  if (h->opcode < 8) {
    if (h->opcode == WS_OP_CONT && !(c->wsf & WSF_MSG_ACTIVE)) {
      fail(c, WS_CLOSE_PROTOCOL_ERROR, "continuation frame without a message to continue");
      return 0;
    }
    if (h->opcode != WS_OP_CONT && (c->wsf & WSF_MSG_ACTIVE)) {
      fail(c, WS_CLOSE_PROTOCOL_ERROR, "new message started inside a fragmented message");
      return 0;
    }
    ws_aux *a = c->aux;
    size_t have = (a && (c->wsf & WSF_MSG_ACTIVE)) ? a->msg_len : 0;
    if (h->payload_len > c->app->o.max_message_size - have) {
      fail(c, WS_CLOSE_TOO_BIG, "message too big");
      return 0;
    }
    if (h->opcode != WS_OP_CONT) {
      c->msg_op = h->opcode;
      c->wsf |= WSF_MSG_ACTIVE;
      /* RFC 7692 6: RSV1 on a message's first frame marks the whole message compressed. */
      if (h->rsv & WS_DEFLATE_RSV) c->dfl |= DFL_RX_MSG;
      else c->dfl &= (uint8_t)~DFL_RX_MSG;
    }
  }
  c->frame_op = h->opcode;
  c->frame_fin = h->fin;
  memcpy(c->mask, h->mask, 4);
  c->frame_left = h->payload_len;
  c->frame_pos = 0;
  c->wsf |= WSF_IN_FRAME;
  if (h->payload_len == 0) on_payload(c, NULL, 0);
  return 1;
}

/* Parses the next frame header from p (joining a header split across reads). Returns
 * the bytes consumed, or 0 when the connection was failed. */
static size_t read_header(wsio_conn *c, uint8_t *p, size_t n) {
  ws_frame_header h;
  ws_aux *a = c->aux;
  size_t used;
  int r;
  if (a && a->hdr_len) {
    size_t old = a->hdr_len, cp = n < sizeof(a->hdr) - old ? n : sizeof(a->hdr) - old;
    memcpy(a->hdr + old, p, cp);
    r = ws_frame_parse_header(a->hdr, old + cp, &h);
    if (r == WS_FRAME_INCOMPLETE) {
      a->hdr_len = (uint8_t)(old + cp);
      return cp;
    }
    a->hdr_len = 0;
    used = (size_t)r - old;
  } else {
    r = ws_frame_parse_header(p, n, &h);
    if (r == WS_FRAME_INCOMPLETE) {
      if (!(a = aux_get(c))) {
        fail(c, WS_CLOSE_INTERNAL_ERROR, "out of memory");
        return 0;
      }
      memcpy(a->hdr, p, n);
      a->hdr_len = (uint8_t)n;
      return n;
    }
    used = (size_t)r;
  }
  if (r < 0) {
    fail(c, WS_CLOSE_PROTOCOL_ERROR, "invalid frame length");
    return 0;
  }
  return begin_frame(c, &h) ? used : 0;
}

void ws_on_data(wsio_conn *c, uint8_t *p, size_t n) {
  c->t_rx = core_now(c->app);
  c->wsf &= (uint8_t)~WSF_PING_PENDING;
  while (n && !(c->wsf & WSF_INPUT_DONE) && c->state != CONN_DEAD) {
    if (!(c->wsf & WSF_IN_FRAME)) {
      size_t used = read_header(c, p, n);
      if (!used) break;
      p += used;
      n -= used;
      continue;
    }
    size_t take = c->frame_left < n ? (size_t)c->frame_left : n;
    on_payload(c, p, take);
    p += take;
    n -= take;
  }
  if (c->state != CONN_DEAD) aux_release_if_idle(c);
}

void ws_sweep(wsio_conn *c, uint32_t now) {
  wsio_app *app = c->app;
  if (c->state == CONN_WS_CLOSING) {
    if (time_reached(now, c->t_due)) conn_kill(c);
    return;
  }
  if (c->dfl & DFL_ON) deflate_sweep(c);
  /* A send was refused at the cap since the last sweep: the peer has missed data. If
   * it has not emptied our buffer since, it is not keeping up: close it (1008) so it
   * learns and can reconnect. Not "still at the cap": a peer that never reads can sit
   * just under it for good once the kernel's receive window has stopped growing (a
   * refused send adds nothing), missing every larger message while it stays open. */
  if (c->wsf & WSF_OVER_CAP) {
    c->wsf &= (uint8_t)~WSF_OVER_CAP;
    if (app->o.max_backpressure && net_buffered(&c->net) > 0) {
      char addr[WSIO_ADDRSTRLEN];
      conn_peer_format(c, addr, sizeof(addr));
      app->st.closed_backpressure_total++;
      app_log(app, WSIO_LOG_WARN, "closing %s with 1008: a send was refused at %zu bytes and the buffer has not drained since",
              addr, app->o.max_backpressure);
      wsio_conn_close(c, WSIO_CLOSE_BACKPRESSURE, "send buffer limit exceeded");
      return;
    }
  }
  if (!app->o.ping_interval_ms) return;
  if (c->wsf & WSF_PING_PENDING) {
    if (app->o.ping_timeout_ms && time_reached(now, c->t_due)) {
      char addr[WSIO_ADDRSTRLEN];
      conn_peer_format(c, addr, sizeof(addr));
      app->st.ping_timeouts_total++;
      app_log(app, WSIO_LOG_INFO, "dropping %s: no data within the ping timeout", addr);
      conn_kill(c);
    }
    return;
  }
  if (time_reached(now, c->t_rx + app->o.ping_interval_ms)) {
    static const uint8_t ping[2] = {0x80 | WS_OP_PING, 0};
    net_write(&c->net, ping, sizeof(ping));
    c->wsf |= WSF_PING_PENDING;
    c->t_due = now + app->o.ping_timeout_ms;
  }
}

/* ---- public API ------------------------------------------------------------------ */

/* Common checks of every application send: open, and under the backpressure cap. A
 * refused send arms drain, so that the sender learns when to try again. */
static int send_allowed(wsio_conn *c) {
  wsio_app *app = c->app;
  if (conn_closing(c)) return WSIO_ECLOSED;
  if (app->o.max_backpressure && net_buffered(&c->net) >= app->o.max_backpressure) {
    app->st.dropped_backpressure_total++;
    c->wsf |= WSF_OVER_CAP;
    c->net.flags |= NET_F_WANT_DRAIN;
    return WSIO_EDROPPED;
  }
  pubsub_before_direct_send(c);
  return 0;
}

static int send_result(wsio_conn *c, int r, size_t bytes, uint32_t msgs) {
  if (r < 0) return r == -ENOMEM ? WSIO_ENOMEM : WSIO_ECLOSED;
  c->app->st.messages_out_total += msgs;
  c->app->st.bytes_out_total += bytes;
  if (r == NET_BUFFERED) {
    c->net.flags |= NET_F_WANT_DRAIN;
    return WSIO_SEND_BUFFERED;
  }
  return WSIO_SEND_WRITTEN;
}

/* Whether a message of n bytes goes out compressed on c. */
static int want_deflate(const wsio_conn *c, size_t n) {
  /* An open callback with the HTTP state still attached sends uncompressed (valid on
   * every connection) rather than fail. */
  return (c->dfl & DFL_ON) && n >= conn_deflate_threshold(c->app) && (!c->aux || ws_aux_of(c));
}

/* Sends prefix + data as one compressed message (RFC 7692 7.2.1): one frame, RSV1 set.
 * Called after send_allowed. The compressed bytes are built in a scratch buffer (the
 * stack for small messages) that net copies what it cannot send at once from. */
static int send_compressed(wsio_conn *c, wsio_opcode op, const void *prefix, size_t plen, const void *data,
                           size_t len) {
  ws_deflate *z = conn_deflate(c);
  if (!z) return WSIO_ENOMEM;
  size_t n = plen + len, bound = ws_deflate_compress_bound(n), zlen = 0;
  uint8_t small[4096], *joined = NULL;
  uint8_t *out = bound <= sizeof(small) ? small : core_malloc(bound);
  const uint8_t *msg = data;
  if (out && plen) { /* Engine.IO's one-byte prefix: the compressor takes one buffer */
    if ((joined = core_malloc(n))) {
      memcpy(joined, prefix, plen);
      if (len) memcpy(joined + plen, data, len);
    }
    msg = joined;
  }
  int r = !out || (plen && !joined) ? WSIO_ENOMEM : ws_deflate_compress_into(z, msg, n, out, bound, &zlen);
  free(joined);
  if (r == 0) {
    c->app->st.deflate_compressions_total++;
    uint8_t hdr[WS_FRAME_MAX_HEADER];
    size_t hl = ws_frame_header_encode(hdr, 1, WS_DEFLATE_RSV, (uint8_t)op, zlen, NULL);
    r = send_result(c, net_write2(&c->net, hdr, hl, out, zlen), hl + zlen, 1);
  } else {
    r = WSIO_ENOMEM; /* nothing was sent: the peer's context is unchanged */
  }
  if (out != small) free(out);
  return r;
}

int ws_send_parts(wsio_conn *c, wsio_opcode op, const void *prefix, size_t plen, const void *data, size_t len) {
  if (plen > 8) return WSIO_EINVAL;
  int r = send_allowed(c);
  if (r < 0) return r;
  if (want_deflate(c, plen + len)) return send_compressed(c, op, prefix, plen, data, len);
  uint8_t hdr[WS_FRAME_MAX_HEADER + 8];
  size_t hl = ws_frame_header_encode(hdr, 1, 0, (uint8_t)op, plen + len, NULL);
  if (plen) memcpy(hdr + hl, prefix, plen);
  /* (data may be a message just delivered, in place in the receive buffer: lent.) */
  return send_result(c, net_write2_lent(&c->net, hdr, hl + plen, data, len), hl + plen + len, 1);
}

int core_frames_send(wsio_conn *c, core_frames *f) {
  int r = send_allowed(c);
  if (r < 0) return r;
  if ((c->dfl & DFL_ON) && c->app->o.deflate_per_connection_broadcast) return core_frames_send_each(c, f);
  int z = 0;
  core_frames *out = core_frames_for(c, f, &z);
  if (!out) return WSIO_ENOMEM;
  r = send_result(c, core_frames_write(&c->net, out), out->len, out->nframes);
  /* The peer's window now holds a message our own compressor for c did not produce. */
  if (z && r >= 0) ws_conn_deflate_forget(c);
  return r;
}

int wsio_conn_send(wsio_conn *c, const void *data, size_t len, wsio_opcode op) {
  if (!c || (!data && len) || (op != WSIO_OP_TEXT && op != WSIO_OP_BINARY)) return WSIO_EINVAL;
  if (conn_closing(c)) return WSIO_ECLOSED;
  /* One rule for big messages: what could never fit under the cap is refused up front
   * (accepting it would leave the connection over the cap with no drain to wait for). */
  if (c->app->o.max_backpressure && len > c->app->o.max_backpressure) return WSIO_ETOOBIG;
  int r = send_allowed(c);
  if (r < 0) return r;
  if (want_deflate(c, len)) return send_compressed(c, op, NULL, 0, data, len);
  uint8_t hdr[WS_FRAME_MAX_HEADER];
  size_t hl = ws_frame_header_encode(hdr, 1, 0, (uint8_t)op, len, NULL);
  /* Fast: an echo or relay of a message delivered in place (deliver) sends its payload
   * straight from the receive buffer (net_write2_lent). Nothing here writes to those
   * bytes after delivering them: the application's view is const, and the frame
   * parser only unmasks bytes not yet delivered. */
  return send_result(c, net_write2_lent(&c->net, hdr, hl, data, len), hl + len, 1);
}

int wsio_conn_ping(wsio_conn *c, const void *data, size_t len) {
  if (!c || (!data && len)) return WSIO_EINVAL;
  if (len > 125) return WSIO_ETOOBIG;
  if (conn_closing(c)) return WSIO_ECLOSED;
  uint8_t hdr[WS_FRAME_MAX_HEADER];
  size_t hl = ws_frame_header_encode(hdr, 1, 0, WS_OP_PING, len, NULL);
  pubsub_before_direct_send(c);
  return net_write2(&c->net, hdr, hl, data, len) < 0 ? WSIO_ECLOSED : 0;
}

int wsio_conn_close(wsio_conn *c, int code, const char *reason) {
  /* RFC 6455 7.4: only some codes may be sent; 1005/1006/1015 are for reporting. */
  if (!c || code < 0 || (code != 0 && !ws_close_code_valid((unsigned)code))) return WSIO_EINVAL;
  if (conn_closing(c)) return WSIO_ECLOSED;
  unsigned cd = code ? (unsigned)code : WS_CLOSE_NO_STATUS; /* 1005 encodes as an empty payload */
  ws_send_close_frame(c, cd, reason, reason ? strlen(reason) : 0);
  enter_closing(c);
  return 0;
}

void wsio_conn_terminate(wsio_conn *c) {
  if (c) conn_kill(c);
}

size_t core_max_backpressure(const wsio_app *app) { return app->o.max_backpressure; }

size_t wsio_conn_buffered_amount(const wsio_conn *c) { return c ? net_buffered(&c->net) : 0; }

void *wsio_conn_user_data(wsio_conn *c) { return c && c->app->user_data_size ? c->user : NULL; }
void *wsio_conn_route_user(const wsio_conn *c) { return c && c->route ? c->route->user : NULL; }
wsio_app *wsio_conn_app(const wsio_conn *c) { return c ? c->app : NULL; }

const char *wsio_conn_protocol(const wsio_conn *c) {
  return c && c->proto_idx ? c->route->ws.subprotocols[c->proto_idx - 1] : NULL;
}

int conn_peer_format(const wsio_conn *c, char *buf, size_t cap) {
  if (!c || !buf || !cap) return WSIO_EINVAL;
  char tmp[WSIO_ADDRSTRLEN];
  size_t n;
  /* Behind trusted proxies, logs and the application see the client's address. */
  if (c->app->proxies && c->edge && c->edge->cip.family) n = edge_ip_format(&c->edge->cip, tmp);
  else n = strlen(net_peer_string(&c->net, tmp, sizeof(tmp)));
  if (n >= cap) {
    buf[0] = '\0';
    return WSIO_ETOOBIG;
  }
  memcpy(buf, tmp, n + 1);
  return (int)n;
}

int wsio_conn_remote_address(const wsio_conn *c, char *buf, size_t cap) { return conn_peer_format(c, buf, cap); }
