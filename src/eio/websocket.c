/* eio/websocket.c — the WebSocket transport of Engine.IO: WebSocket-only sessions, and
 * the polling -> WebSocket upgrade (the "probe": 2probe/3probe, then 5 and the queued
 * polling output moved onto the WebSocket, in order).
 *
 * It is one WebSocket route at the server's path. The upgrade timeout is a timer that
 * exists only while a probe is attached. Must not answer HTTP requests (polling.c) nor
 * decide a session's life beyond handing it a packet or a close (session.c). */
#include <stdlib.h>
#include <string.h>

#include "eio/internal.h"

/* What a WebSocket connection of this route knows about its session: one pointer (8
 * bytes of user data in every connection of the app, docs/capacity.md). Between the
 * upgrade and ws_open it says what the request was: a new session (NULL), a probe of
 * session s, or a probe that is refused (probe_refused). */
typedef struct {
  wsio_eio_session *s;
} ws_ud;

/* Never open (state S_CLOSED), so every handler that finds it ignores the connection. */
static wsio_eio_session probe_refused = {.state = S_CLOSED};

void eio_ws_detach(wsio_conn *c) {
  ws_ud *ud = c ? wsio_conn_user_data(c) : NULL;
  if (ud) ud->s = NULL;
}

/* ---- the upgrade probe ------------------------------------------------------------ */

/* Lets the upgrade probe go: with close_it its WebSocket is detached and closed (Node's
 * transport.close()); otherwise the caller keeps or has already lost the connection. */
void eio_probe_end(wsio_eio_session *s, int close_it) {
  eio_probe *p = eio_probe_of(s);
  if (p) s->poll->probe = NULL;
  s->upgrading = 0;
  if (!p) return;
  loop_timer_stop(core_loop(s->srv->app), &p->timer);
  if (close_it) {
    eio_ws_detach(p->c);
    wsio_conn_close(p->c, WSIO_CLOSE_NORMAL, NULL);
  }
  free(p);
}

/* Whether this upgrade request (with a sid) may probe its session: a websocket request
 * for an open polling session that is not probing already. */
static int probe_allowed(const wsio_eio_session *s, const wsio_request *req) {
  char transport[16];
  if (wsio_request_query_param(req, "transport", transport, sizeof(transport)) != 9 ||
      strcmp(transport, "websocket") != 0)
    return 0;
  return s->state == S_OPEN && s->transport == TRANSPORT_POLLING && !s->ws && !s->upgrading;
}

static void on_upgrade_timeout(loop_timer *t) {
  eio_probe *p = (eio_probe *)((char *)t - offsetof(eio_probe, timer));
  wsio_eio_session *s = p->s;
  eio_probe_end(s, 1); /* Node: "client did not complete upgrade - closing transport" */
  eio_mark_dirty(s);
}

/* Attaches c as the session's upgrade probe; -1 when out of memory. */
static int probe_start(wsio_eio_session *s, wsio_conn *c) {
  if (!s->poll) return -1; /* only polling sessions upgrade (probe_allowed) */
  eio_probe *p = calloc(1, sizeof(*p));
  if (!p) return -1;
  p->c = c;
  p->s = s;
  p->timer.cb = on_upgrade_timeout;
  if (loop_timer_start(core_loop(s->srv->app), &p->timer, s->srv->o.upgrade_timeout_ms, 0) < 0) {
    free(p);
    return -1;
  }
  s->poll->probe = p;
  s->upgrading = 1;
  return 0;
}

/* Moves what was queued for polling onto the WebSocket, in order. */
static void move_queue_to_ws(wsio_eio_session *s) {
  size_t off = 0;
  eio_packet p;
  size_t n = eio_out_len(s);
  uint8_t *buf = s->poll ? byte_buf_take(&s->poll->out) : NULL;
  while (n && eio_payload_next(buf, n, &off, &p) == 1) {
    if (s->over_cap) break;
    if (p.binary) {
      eio_ws_send(s, WSIO_OP_BINARY, NULL, 0, p.data, p.len);
    } else {
      char t = (char)('0' + p.type);
      eio_ws_send(s, WSIO_OP_TEXT, &t, 1, p.data, p.len);
    }
  }
  free(buf);
  if (s->ping_queued) eio_ping_delivered(s);
}

static void probe_message(wsio_eio_session *s, wsio_conn *c, const eio_packet *p) {
  if (p->type == EIO_PING && p->len == 5 && memcmp(p->data, "probe", 5) == 0) {
    ws_send_parts(c, WSIO_OP_TEXT, "3", 1, "probe", 5);
    eio_answer_get(s, 1); /* noop: the client's poll returns and it sends "5" */
    return;
  }
  if (p->type == EIO_UPGRADE) {
    eio_answer_get(s, 1);
    eio_probe_end(s, 0);
    s->ws = c;
    s->transport = TRANSPORT_WEBSOCKET;
    s->srv->st.upgrades_total++;
    if (s->ip_counted && core_limit_session_move(c, eio_session_family(s), s->peer)) s->ip_counted = 0;
    move_queue_to_ws(s);
    /* The polling state is done with (its GET answered, its queue moved, the probe
     * gone; a later polling request is refused for the transport), so an upgraded
     * session is as small as a WebSocket-only one (docs/capacity.md). */
    eio_poll *q = s->poll;
    if (q && !q->get && !q->probe && !q->out.len) {
      byte_buf_free(&q->out);
      free(q);
      s->poll = NULL;
    }
    return;
  }
  /* Anything else during the probe aborts it (Node: "unexpected packet"). */
  eio_probe_end(s, 1);
  eio_mark_dirty(s);
}

/* ---- the WebSocket route ---------------------------------------------------------- */

static int ws_upgrade(const wsio_request *req, void *user_data, const char **reason, void *route_user) {
  wsio_eio_server *srv = route_user;
  ws_ud *ud = user_data;
  int err;
  const char *message;
  wsio_eio_session *s = eio_verify(srv, req, 1, &err, &message);
  if (err > 0 || (err == 0 && !s)) {
    *reason = message ? message : eio_err_messages[err];
    return 400; /* Node's abortUpgrade answers 400 whatever the cause */
  }
  if (s && !probe_allowed(s, req)) s = &probe_refused; /* accepted, then closed in ws_open */
  if (s && s->ip_counted) core_limit_upgrade_of_session(req); /* the session's count moves over */
  ud->s = s; /* NULL: a new ws-only session is created in ws_open */
  return 0;
}

static void ws_open(wsio_conn *c) {
  wsio_eio_server *srv = wsio_conn_route_user(c);
  ws_ud *ud = wsio_conn_user_data(c);
  if (ud->s) { /* a probe */
    wsio_eio_session *s = ud->s;
    if (s->state != S_OPEN || s->upgrading || s->ws || probe_start(s, c) < 0) {
      /* Node's websocket.close(): a close frame without a status code (1005 to the
       * client); the session this sid names goes on untouched. */
      ud->s = NULL;
      wsio_conn_close(c, 0, NULL);
    }
    return;
  }
  const wsio_request *req = core_upgrade_request(c);
  wsio_eio_session *s = req ? eio_session_create(srv, req, TRANSPORT_WEBSOCKET) : NULL;
  if (!s) {
    wsio_conn_close(c, WSIO_CLOSE_INTERNAL_ERROR, "cannot create session");
    return;
  }
  s->ws = c;
  ud->s = s;
  char open[256];
  size_t n = eio_open_packet(s, open, sizeof(open));
  eio_send_packet(s, EIO_OPEN + '0', open, n);
  if (srv->h.open) srv->h.open(s, req, srv->user);
}

static void ws_message(wsio_conn *c, const uint8_t *data, size_t len, wsio_opcode op) {
  ws_ud *ud = wsio_conn_user_data(c);
  wsio_eio_session *s = ud->s;
  if (!s || s->state != S_OPEN) return;
  eio_packet p;
  if (op == WSIO_OP_BINARY) {
    p.type = EIO_MESSAGE;
    p.binary = 1;
    p.data = data;
    p.len = len;
  } else if (eio_packet_decode_text(data, len, &p) < 0) {
    eio_session_close(s, "parse error", CLOSE_SILENT);
    return;
  }
  if (eio_probe_of(s) && eio_probe_of(s)->c == c) {
    probe_message(s, c, &p);
    return;
  }
  if (s->ws != c) return;
  if (p.type == EIO_MESSAGE && p.len > s->srv->o.max_payload) { /* Node's ws maxPayload */
    eio_ws_detach(c);
    s->ws = NULL;
    wsio_conn_close(c, WSIO_CLOSE_MESSAGE_TOO_BIG, "message too big");
    eio_session_close(s, "transport error", CLOSE_SILENT);
    return;
  }
  eio_on_packet(s, &p);
}

static void ws_close(wsio_conn *c, int code, const uint8_t *reason, size_t len) {
  (void)reason;
  (void)len;
  ws_ud *ud = wsio_conn_user_data(c);
  wsio_eio_session *s = ud->s;
  ud->s = NULL;
  if (!s || s->state != S_OPEN) return;
  if (eio_probe_of(s) && eio_probe_of(s)->c == c) { /* a failed probe: the session goes on polling */
    eio_probe_end(s, 0);
    eio_mark_dirty(s);
    return;
  }
  if (s->ws != c) return;
  s->ws = NULL;
  eio_session_close(s, code == WSIO_CLOSE_ABNORMAL || code == WSIO_CLOSE_NO_STATUS || code == WSIO_CLOSE_NORMAL ||
                           code == WSIO_CLOSE_GOING_AWAY
                       ? "transport close"
                       : "transport error",
                0);
}

void eio_ws_handlers(wsio_ws_handlers *wh) {
  memset(wh, 0, sizeof(*wh));
  wh->user_data_size = sizeof(ws_ud);
  wh->upgrade = ws_upgrade;
  wh->open = ws_open;
  wh->message = ws_message;
  wh->close = ws_close;
}
