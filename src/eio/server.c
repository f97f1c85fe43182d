/* eio/server.c — the Engine.IO v4 server: sessions over HTTP long-polling and
 * WebSocket, the polling -> WebSocket upgrade probe, server-sent heartbeats, CORS and
 * Node's error answers (see /work/shared protocol notes and the engine.io-protocol).
 *
 * It sits on the core's public surface: one HTTP route (any method) and one WebSocket
 * route at the path prefix. A long-poll GET is a held response (wsio_response_hold).
 * Messages queued for a polling session are joined into one payload and written to
 * the held GET from the loop's post phase, so a burst costs one response.
 * Heartbeats are one loop timer embedded in each session (the loop's min-heap: no
 * syscall, no allocation per start), re-armed for whichever deadline comes next: the
 * ping due, the pong deadline, or (once closed) the end of the linger. The upgrade
 * timeout is a second timer that exists only while a probe is attached. Sessions are
 * freed from the post phase, never inside a callback that may still use them. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/conn.h"
#include "eio/eio.h"
#include "eio/packet.h"
#include "http/parser.h"
#include "util/base64.h"
#include "util/random.h"
#include "ws/frame.h"

enum { TRANSPORT_POLLING = 0, TRANSPORT_WEBSOCKET = 1 };
enum { S_OPEN = 0, S_CLOSED = 1 };

/* Node's error codes and messages (engine.io Server.errors). */
enum {
  ERR_UNKNOWN_TRANSPORT = 0,
  ERR_UNKNOWN_SID = 1,
  ERR_BAD_HANDSHAKE_METHOD = 2,
  ERR_BAD_REQUEST = 3,
  ERR_FORBIDDEN = 4,
  ERR_UNSUPPORTED_PROTOCOL_VERSION = 5,
};
static const char *const err_messages[] = {"Transport unknown", "Session ID unknown", "Bad handshake method",
                                           "Bad request",       "Forbidden",          "Unsupported protocol version"};

#define SID_LEN RANDOM_ID_LEN

/* The WebSocket being probed during an upgrade, with its upgradeTimeout: allocated
 * only while a probe is attached, so idle sessions do not carry a second timer. */
typedef struct eio_probe {
  wsio_conn *c;
  wsio_eio_session *s;
  loop_timer timer;
} eio_probe;

/* Every idle client costs one of these (168 bytes, a 176-byte malloc chunk): keep the
 * one-byte fields together and add no field without measuring bench/'s idle client. */
struct wsio_eio_session {
  char sid[SID_LEN + 1];
  uint8_t transport;
  uint8_t state;
  uint8_t ping_pending; /* a ping was sent (or queued); no pong yet */
  uint8_t ping_queued;  /* polling: that ping still waits in `out` for a GET */
  uint8_t refreshed;    /* the pong deadline was pushed back once by another packet */
  uint8_t upgrading;    /* a probe WebSocket is attached */
  uint8_t dirty;        /* queued output waits for the post-phase flush */
  uint8_t expiring;     /* the pong deadline passed: decided in the post phase */
  uint8_t second_look;  /* ...and was found passed once: one more iteration's reads */
  uint8_t linger;       /* closed; waits for one more GET to deliver "1" */
  uint8_t family;       /* AF_INET / AF_INET6 of peer (kept binary: 17 bytes, not 46) */
  uint8_t peer[16];
  uint32_t out_len, out_cap; /* polling queue; out_reserve keeps it under 4 GiB */
  /* Open: the next ping (!ping_pending) or the pong deadline (ping_pending).
   * Lingering: when the session is freed without its last GET. */
  loop_timer timer;
  wsio_eio_server *srv;
  wsio_conn *ws;          /* the WebSocket transport, when upgraded or ws-only */
  eio_probe *probe;       /* while upgrading */
  wsio_response *get;     /* the held long-poll GET */
  uint8_t *out;           /* polling: queued records joined by 0x1E */
  void *user;
  wsio_eio_session *prev, *next; /* the server's session list */
  wsio_eio_session *hnext;       /* sid hash chain */
  wsio_eio_session *dnext;       /* post list: dirty or expiring */
  wsio_eio_session *gnext;       /* graveyard */
};

struct wsio_eio_server {
  wsio_app *app;
  wsio_eio_options o;
  char *path;
  char *cors_origin;
  wsio_eio_handlers h;
  void *user;
  wsio_eio_session *head;
  size_t count;
  wsio_eio_session **buckets;
  size_t nbuckets;
  wsio_eio_session *dirty;
  wsio_eio_session *grave;
  char open_tail[160]; /* ',"pingInterval":...}' shared by every open packet */
  wsio_eio_stats st; /* sessions_polling/websocket are computed on demand */
};

/* What a WebSocket connection of this route knows about its session. */
typedef struct {
  wsio_eio_session *s;
  uint8_t is_probe;
} ws_ud;

static const char *const transport_names[] = {"polling", "websocket"};

/* ---- small helpers --------------------------------------------------------------- */

void wsio_eio_options_init(wsio_eio_options *o) {
  memset(o, 0, sizeof(*o));
  o->path = "/engine.io/";
  o->ping_interval_ms = 25000;
  o->ping_timeout_ms = 20000;
  o->upgrade_timeout_ms = 10000;
  o->max_payload = 1000000;
  o->allow_polling = 1;
  o->allow_websocket = 1;
  o->allow_upgrades = 1;
}

static loop *srv_loop(const wsio_eio_server *srv) { return srv->app->loop; }

static uint32_t sid_hash(const char *sid, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)sid[i]) * 16777619u;
  return h;
}

/* Finds an open session, or a closed one lingering to deliver its close packet. */
static wsio_eio_session *session_find(const wsio_eio_server *srv, const char *sid, size_t n) {
  if (n != SID_LEN || !srv->nbuckets) return NULL;
  for (wsio_eio_session *s = srv->buckets[sid_hash(sid, n) & (srv->nbuckets - 1)]; s; s = s->hnext)
    if (memcmp(s->sid, sid, SID_LEN) == 0 && (s->state == S_OPEN || s->linger)) return s;
  return NULL;
}

static int table_insert(wsio_eio_server *srv, wsio_eio_session *s) {
  if (srv->count + 1 > srv->nbuckets) {
    size_t nb = srv->nbuckets ? srv->nbuckets * 2 : 256;
    wsio_eio_session **b = calloc(nb, sizeof(*b));
    if (!b) return -1;
    for (size_t i = 0; i < srv->nbuckets; i++) {
      for (wsio_eio_session *x = srv->buckets[i], *nx; x; x = nx) {
        nx = x->hnext;
        size_t k = sid_hash(x->sid, SID_LEN) & (nb - 1);
        x->hnext = b[k];
        b[k] = x;
      }
    }
    free(srv->buckets);
    srv->buckets = b;
    srv->nbuckets = nb;
  }
  size_t k = sid_hash(s->sid, SID_LEN) & (srv->nbuckets - 1);
  s->hnext = srv->buckets[k];
  srv->buckets[k] = s;
  s->next = srv->head;
  if (srv->head) srv->head->prev = s;
  srv->head = s;
  srv->count++;
  return 0;
}

static void table_remove(wsio_eio_server *srv, wsio_eio_session *s) {
  wsio_eio_session **pp = &srv->buckets[sid_hash(s->sid, SID_LEN) & (srv->nbuckets - 1)];
  while (*pp && *pp != s) pp = &(*pp)->hnext;
  if (*pp) *pp = s->hnext;
  if (s->prev) s->prev->next = s->next;
  else srv->head = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = NULL;
  srv->count--;
}

/* Looks up a query parameter of the request into out; returns its length or -1. */
static int query(const wsio_request *req, const char *key, char *out, size_t cap) {
  return wsio_request_query_param(req, key, out, cap);
}

/* ---- output ---------------------------------------------------------------------- */

static int out_reserve(wsio_eio_session *s, size_t extra) {
  size_t need = (size_t)s->out_len + extra;
  if (need <= s->out_cap) return 0;
  if (need > UINT32_MAX / 2) return -1; /* a client that never polls: fail, never wrap */
  size_t cap = s->out_cap ? s->out_cap : 256;
  while (cap < need) cap *= 2;
  uint8_t *p = realloc(s->out, cap);
  if (!p) return -1;
  s->out = p;
  s->out_cap = (uint32_t)cap;
  return 0;
}

/* Puts s on the list the post phase walks (once, whatever it is there for). */
static void post_list_add(wsio_eio_session *s) {
  if (s->dirty || s->expiring) return;
  s->dnext = s->srv->dirty;
  s->srv->dirty = s;
}

static void mark_dirty(wsio_eio_session *s) {
  if (s->dirty || !s->get || s->upgrading) return;
  post_list_add(s);
  s->dirty = 1;
}

/* Appends one polling record (already encoded) to the queue. */
static int queue_record(wsio_eio_session *s, const uint8_t *rec, size_t n) {
  if (out_reserve(s, n + 1) < 0) return WSIO_ENOMEM;
  if (s->out_len) s->out[s->out_len++] = EIO_RECORD_SEPARATOR;
  memcpy(s->out + s->out_len, rec, n);
  s->out_len += n;
  mark_dirty(s);
  return 0;
}

static int queue_text(wsio_eio_session *s, char type, const uint8_t *data, size_t len) {
  if (out_reserve(s, len + 2) < 0) return WSIO_ENOMEM;
  if (s->out_len) s->out[s->out_len++] = EIO_RECORD_SEPARATOR;
  s->out[s->out_len++] = (uint8_t)type;
  if (len) memcpy(s->out + s->out_len, data, len);
  s->out_len += len;
  mark_dirty(s);
  return 0;
}

static int queue_binary(wsio_eio_session *s, const uint8_t *data, size_t len) {
  if (out_reserve(s, base64_len(len) + 2) < 0) return WSIO_ENOMEM;
  if (s->out_len) s->out[s->out_len++] = EIO_RECORD_SEPARATOR;
  s->out[s->out_len++] = 'b';
  s->out_len += base64_encode((char *)s->out + s->out_len, data, len);
  mark_dirty(s);
  return 0;
}

/* Sends a control/text packet on the session's current transport. */
static void send_packet(wsio_eio_session *s, char type, const char *data, size_t len) {
  if (s->transport == TRANSPORT_WEBSOCKET && s->ws) {
    ws_send_parts(s->ws, WSIO_OP_TEXT, &type, 1, data, len);
    return;
  }
  queue_text(s, type, (const uint8_t *)data, len);
}

static void add_cors(wsio_eio_server *srv, const wsio_request *req, wsio_response *res) {
  if (!srv->cors_origin) return;
  size_t olen = 0;
  const char *origin = wsio_request_header(req, "origin", &olen);
  if (strcmp(srv->cors_origin, "*") == 0 && !srv->o.cors_credentials) {
    wsio_response_header(res, "Access-Control-Allow-Origin", "*");
  } else {
    char buf[256];
    const char *allow = srv->cors_origin;
    if (strcmp(srv->cors_origin, "true") == 0 || strcmp(srv->cors_origin, "*") == 0) {
      snprintf(buf, sizeof(buf), "%.*s", (int)(origin && olen < sizeof(buf) ? olen : 0), origin ? origin : "");
      allow = buf;
    }
    if (allow[0]) wsio_response_header(res, "Access-Control-Allow-Origin", allow);
    wsio_response_header(res, "Vary", "Origin");
  }
  if (srv->o.cors_credentials) wsio_response_header(res, "Access-Control-Allow-Credentials", "true");
}

static void send_error(wsio_eio_server *srv, const wsio_request *req, wsio_response *res, int code,
                       const char *message) {
  char body[320];
  int n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}", code,
                   message ? message : err_messages[code]);
  add_cors(srv, req, res);
  wsio_response_send(res, code == ERR_FORBIDDEN ? 403 : 400, "application/json", body, (size_t)n);
}

/* ---- heartbeats ------------------------------------------------------------------ */

static void on_timer(loop_timer *t);

/* (Re)arms the session's one timer after_ms from now. Starting a stopped timer can fail
 * (-ENOMEM) when the loop's heap must grow; re-arming an armed one cannot. */
static int hb_arm(wsio_eio_session *s, uint32_t after_ms) {
  return loop_timer_start(srv_loop(s->srv), &s->timer, after_ms, 0);
}

/* A ping counts as sent when it reaches the client's transport: at once on WebSocket,
 * when the GET answer carrying it is written on polling. From then the client has
 * pingTimeout to answer. */
static void ping_delivered(wsio_eio_session *s) {
  s->ping_queued = 0;
  s->second_look = 0;
  if (s->ping_pending && s->state == S_OPEN) hb_arm(s, s->srv->o.ping_timeout_ms);
}

/* Answers a held GET with everything queued (or a noop when nothing is). */
static void answer_get(wsio_eio_session *s, int noop_only) {
  wsio_response *res = s->get;
  if (!res) return;
  s->get = NULL;
  wsio_response_header(res, "Cache-Control", "no-store");
  if (noop_only || !s->out_len) {
    wsio_response_send(res, 200, "text/plain; charset=UTF-8", "6", 1);
    return;
  }
  wsio_response_send(res, 200, "text/plain; charset=UTF-8", s->out, s->out_len);
  s->out_len = 0;
  if (s->ping_queued) ping_delivered(s);
  if (s->out_cap > 64 * 1024) {
    free(s->out);
    s->out = NULL;
    s->out_cap = 0;
  }
}

/* ---- session lifetime ------------------------------------------------------------ */

static void detach_conn(wsio_conn *c) {
  ws_ud *ud = c ? wsio_conn_user_data(c) : NULL;
  if (ud) ud->s = NULL;
}

/* Lets the upgrade probe go: with close_it its WebSocket is detached and closed (Node's
 * transport.close()); otherwise the caller keeps or has already lost the connection. */
static void probe_end(wsio_eio_session *s, int close_it) {
  eio_probe *p = s->probe;
  s->probe = NULL;
  s->upgrading = 0;
  if (!p) return;
  loop_timer_stop(srv_loop(s->srv), &p->timer);
  if (close_it) {
    detach_conn(p->c);
    wsio_conn_close(p->c, WSIO_CLOSE_NORMAL, NULL);
  }
  free(p);
}

static void bury(wsio_eio_session *s) {
  wsio_eio_server *srv = s->srv;
  table_remove(srv, s);
  loop_timer_stop(srv_loop(srv), &s->timer);
  s->linger = 0;
  s->gnext = srv->grave;
  srv->grave = s;
}

/* How a polling client learns that its session ended (see session_close). */
enum {
  CLOSE_SILENT = 0,      /* no close packet (the transport failed or the client closed) */
  CLOSE_AFTER_QUEUE = 1, /* Node's socket.close(): queued packets first, then "1" */
  CLOSE_NOW = 2,         /* Node's onClose(): "1" to a GET waiting now, the sid is gone */
};

/* Ends the session: the close callback runs once, transports are let go, and the
 * struct is freed from the post phase. With CLOSE_AFTER_QUEUE a polling client gets
 * a close packet after what is still queued, as Node does (queued packets go out
 * with the current or next GET, the close packet with the one after: the session
 * lingers until then). With CLOSE_NOW (a ping timeout) only a GET that is waiting
 * gets the close packet, and the next request finds the sid unknown, as in Node. */
static void session_close(wsio_eio_session *s, const char *reason, int how) {
  if (s->state != S_OPEN) return;
  wsio_eio_server *srv = s->srv;
  s->state = S_CLOSED;
  loop_timer_stop(srv_loop(srv), &s->timer);
  int linger = 0;
  if (how == CLOSE_NOW && s->transport == TRANSPORT_POLLING && !s->ws && s->get) {
    queue_text(s, EIO_CLOSE + '0', NULL, 0);
  } else if (how == CLOSE_AFTER_QUEUE && s->transport == TRANSPORT_POLLING && !s->ws) {
    if (s->out_len && !app_stopping(srv->app)) { /* stopping: no next GET will come */
      linger = 1;
      if (s->get) answer_get(s, 0);
    } else {
      queue_text(s, EIO_CLOSE + '0', NULL, 0);
    }
  }
  if (s->get) answer_get(s, 0);
  if (s->ws) { /* Node closes a WebSocket transport without a close packet */
    detach_conn(s->ws);
    if (app_stopping(srv->app)) wsio_conn_close(s->ws, WSIO_CLOSE_GOING_AWAY, "server shutting down");
    else wsio_conn_close(s->ws, WSIO_CLOSE_NORMAL, NULL);
    s->ws = NULL;
  }
  probe_end(s, 1);
  if (srv->h.close) srv->h.close(s, reason, srv->user);
  /* The linger ends with the next GET, or pingTimeout from now (the timer). */
  if (linger && hb_arm(s, srv->o.ping_timeout_ms) == 0) s->linger = 1;
  else bury(s);
}

/* A GET for a lingering session: deliver what is left, then the close packet. */
static void linger_get(wsio_eio_session *s, const wsio_request *req, wsio_response *res) {
  add_cors(s->srv, req, res);
  s->get = res;
  if (!s->out_len) queue_text(s, EIO_CLOSE + '0', NULL, 0);
  int last = s->out_len && s->out[0] == '0' + EIO_CLOSE && s->out_len == 1;
  answer_get(s, 0);
  if (last) bury(s);
}

static wsio_eio_session *session_create(wsio_eio_server *srv, const wsio_request *req, int transport) {
  wsio_eio_session *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->srv = srv;
  s->transport = (uint8_t)transport;
  if (random_id(s->sid) < 0) { /* no randomness: refuse the session, never guessable ids */
    free(s);
    return NULL;
  }
  char addr[WSIO_ADDRSTRLEN];
  if (wsio_request_remote_address(req, addr, sizeof(addr)) < 0) addr[0] = '\0';
  s->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
  if (inet_pton(s->family, addr, s->peer) != 1) s->family = 0;
  s->timer.cb = on_timer;
  if (hb_arm(s, srv->o.ping_interval_ms) < 0) {
    free(s);
    return NULL;
  }
  if (table_insert(srv, s) < 0) {
    loop_timer_stop(srv_loop(srv), &s->timer);
    free(s);
    return NULL;
  }
  srv->st.sessions_total++;
  return s;
}

/* The open packet: 0{"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..} */
static size_t open_packet(const wsio_eio_session *s, char *out, size_t cap) {
  const wsio_eio_server *srv = s->srv;
  int can_upgrade = s->transport == TRANSPORT_POLLING && srv->o.allow_upgrades && srv->o.allow_websocket;
  int n = snprintf(out, cap, "{\"sid\":\"%s\",\"upgrades\":[%s]%s", s->sid, can_upgrade ? "\"websocket\"" : "",
                   srv->open_tail);
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* ---- incoming packets (both transports) ------------------------------------------ */

static void on_packet(wsio_eio_session *s, const eio_packet *p) {
  wsio_eio_server *srv = s->srv;
  /* Node (engine.io socket.ts): the first other packet while a pong is awaited gives
   * the client pingTimeout again (a busy client's pong may sit behind its data). */
  if (s->ping_pending && !s->refreshed && p->type != EIO_PONG) {
    s->refreshed = 1;
    s->second_look = 0;
    hb_arm(s, srv->o.ping_timeout_ms);
  }
  switch (p->type) {
    case EIO_MESSAGE:
      if (p->len > srv->o.max_payload) {
        session_close(s, "transport error", CLOSE_SILENT);
        return;
      }
      srv->st.messages_in_total++;
      if (srv->h.message) srv->h.message(s, p->data, p->len, p->binary, srv->user);
      return;
    case EIO_PONG:
      /* Node refreshes the ping interval on a pong: the next ping is pingInterval later. */
      s->ping_pending = 0;
      if (hb_arm(s, srv->o.ping_interval_ms) < 0) session_close(s, "transport error", CLOSE_SILENT);
      return;
    case EIO_CLOSE: session_close(s, "transport close", CLOSE_SILENT); return;
    case EIO_PING: session_close(s, "transport error", CLOSE_SILENT); return; /* invalid heartbeat direction */
    default: return; /* upgrade/noop outside an upgrade: ignored, as Node does */
  }
}

/* ---- polling --------------------------------------------------------------------- */

static void on_get_abort(wsio_response *res, void *user) {
  wsio_eio_session *s = user;
  (void)res;
  if (s->get != res) return;
  s->get = NULL;
  session_close(s, "transport close", CLOSE_SILENT);
}

static void poll_get(wsio_eio_session *s, const wsio_request *req, wsio_response *res) {
  wsio_eio_server *srv = s->srv;
  if (s->get) { /* overlapping polls: Node fails the second, closes the session and
                   answers the first with a close packet */
    send_error(srv, req, res, ERR_BAD_REQUEST, NULL);
    session_close(s, "transport error", CLOSE_AFTER_QUEUE);
    return;
  }
  add_cors(srv, req, res);
  if (s->upgrading) { /* let the client's poll loop end so it can finish the upgrade */
    s->get = res;
    answer_get(s, 1);
    return;
  }
  if (s->out_len) {
    s->get = res;
    answer_get(s, 0);
    return;
  }
  s->get = wsio_response_hold(res, on_get_abort, s);
  if (!s->get) session_close(s, "transport error", CLOSE_SILENT);
}

static void poll_post(wsio_eio_session *s, const wsio_request *req, wsio_response *res) {
  wsio_eio_server *srv = s->srv;
  size_t ctl = 0, blen = 0;
  const char *ct = wsio_request_header(req, "content-type", &ctl);
  const uint8_t *body = wsio_request_body(req, &blen);
  add_cors(srv, req, res);
  if (ct && ctl >= 24 && strncasecmp(ct, "application/octet-stream", 24) == 0) {
    send_error(srv, req, res, ERR_BAD_REQUEST, NULL); /* v4 polling payloads are text */
    session_close(s, "transport error", CLOSE_SILENT);
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
    on_packet(s, &p);
    count++;
  }
  if (buf != stack) free(buf);
  if (s->state == S_OPEN && (r < 0 || count == 0)) {
    send_error(srv, req, res, ERR_BAD_REQUEST, NULL);
    session_close(s, "parse error", CLOSE_SILENT);
    return;
  }
  wsio_response_send(res, 200, "text/html", "ok", 2);
}

static void handshake_polling(wsio_eio_server *srv, const wsio_request *req, wsio_response *res) {
  wsio_eio_session *s = session_create(srv, req, TRANSPORT_POLLING);
  if (!s) {
    wsio_response_send(res, 500, NULL, "out of memory", 13);
    return;
  }
  char open[256];
  size_t n = open_packet(s, open, sizeof(open));
  queue_text(s, EIO_OPEN + '0', (const uint8_t *)open, n);
  s->get = res;
  add_cors(srv, req, res);
  answer_get(s, 0);
  if (srv->h.open) srv->h.open(s, req, srv->user);
}

/* Node's verify(): transport, then sid (or handshake method / allowRequest), then the
 * protocol version for new sessions. Returns the session for requests with a valid
 * sid, NULL otherwise; *err is -1 when the request is a valid handshake. */
static wsio_eio_session *verify(wsio_eio_server *srv, const wsio_request *req, int is_upgrade, int *err,
                                const char **message) {
  char transport[16], sid[32], eio[8];
  size_t mlen;
  const char *method = wsio_request_method(req, &mlen);
  *message = NULL;
  int tl = query(req, "transport", transport, sizeof(transport));
  int known = tl > 0 && ((strcmp(transport, "polling") == 0 && srv->o.allow_polling) ||
                         (strcmp(transport, "websocket") == 0 && srv->o.allow_websocket));
  if (!known) {
    *err = ERR_UNKNOWN_TRANSPORT;
    return NULL;
  }
  int sl = query(req, "sid", sid, sizeof(sid));
  if (sl >= 0) {
    wsio_eio_session *s = session_find(srv, sid, (size_t)sl);
    if (!s) {
      *err = ERR_UNKNOWN_SID;
      return NULL;
    }
    int want_ws = strcmp(transport, "websocket") == 0;
    if (!is_upgrade && (want_ws || s->transport != TRANSPORT_POLLING)) {
      *err = ERR_BAD_REQUEST; /* TRANSPORT_MISMATCH */
      return NULL;
    }
    /* An upgrade for a session that cannot take one (already upgraded or probing, or
     * transport=polling) passes here: Node completes the handshake and then closes
     * that WebSocket (onWebSocket), leaving the session alone. See ws_upgrade. */
    if (is_upgrade && !srv->o.allow_upgrades) {
      *err = ERR_BAD_REQUEST;
      return NULL;
    }
    *err = 0;
    return s;
  }
  if (!(mlen == 3 && memcmp(method, "GET", 3) == 0)) {
    *err = ERR_BAD_HANDSHAKE_METHOD;
    return NULL;
  }
  if (strcmp(transport, "websocket") == 0 && !is_upgrade) {
    *err = ERR_BAD_REQUEST;
    return NULL;
  }
  if (strcmp(transport, "polling") == 0 && is_upgrade) {
    *err = ERR_BAD_REQUEST;
    return NULL;
  }
  if (srv->h.allow_request && srv->h.allow_request(req, message, srv->user) != 0) {
    *err = ERR_FORBIDDEN;
    return NULL;
  }
  int el = query(req, "EIO", eio, sizeof(eio));
  if (el != 1 || eio[0] != '4') {
    *err = ERR_UNSUPPORTED_PROTOCOL_VERSION;
    return NULL;
  }
  *err = -1;
  return NULL;
}

static void on_http(const wsio_request *req, wsio_response *res, void *user) {
  wsio_eio_server *srv = user;
  size_t mlen;
  const char *method = wsio_request_method(req, &mlen);
  if (mlen == 7 && memcmp(method, "OPTIONS", 7) == 0 && srv->cors_origin) {
    size_t hl = 0;
    const char *rh = wsio_request_header(req, "access-control-request-headers", &hl);
    add_cors(srv, req, res);
    wsio_response_header(res, "Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE");
    if (rh && hl < 512) {
      char hdrs[512];
      snprintf(hdrs, sizeof(hdrs), "%.*s", (int)hl, rh);
      wsio_response_header(res, "Access-Control-Allow-Headers", hdrs);
      wsio_response_header(res, "Vary", "Access-Control-Request-Headers");
    }
    wsio_response_send(res, 204, NULL, NULL, 0);
    return;
  }
  int err;
  const char *message;
  wsio_eio_session *s = verify(srv, req, 0, &err, &message);
  if (err == -1) {
    handshake_polling(srv, req, res);
    return;
  }
  if (!s) {
    send_error(srv, req, res, err, message);
    return;
  }
  if (s->linger) {
    if (mlen == 3 && memcmp(method, "GET", 3) == 0) linger_get(s, req, res);
    else send_error(srv, req, res, ERR_UNKNOWN_SID, NULL);
    return;
  }
  if (mlen == 3 && memcmp(method, "GET", 3) == 0) poll_get(s, req, res);
  else if (mlen == 4 && memcmp(method, "POST", 4) == 0) poll_post(s, req, res);
  else send_error(srv, req, res, ERR_BAD_REQUEST, NULL);
}

/* ---- WebSocket ------------------------------------------------------------------- */

/* Whether this upgrade request (with a sid) may probe its session: a websocket request
 * for an open polling session that is not probing already. */
static int probe_allowed(const wsio_eio_session *s, const wsio_request *req) {
  char transport[16];
  if (query(req, "transport", transport, sizeof(transport)) != 9 || strcmp(transport, "websocket") != 0) return 0;
  return s->state == S_OPEN && s->transport == TRANSPORT_POLLING && !s->ws && !s->upgrading;
}

static void on_upgrade_timeout(loop_timer *t) {
  eio_probe *p = (eio_probe *)((char *)t - offsetof(eio_probe, timer));
  wsio_eio_session *s = p->s;
  probe_end(s, 1); /* Node: "client did not complete upgrade - closing transport" */
  mark_dirty(s);
}

/* Attaches c as the session's upgrade probe; -1 when out of memory. */
static int probe_start(wsio_eio_session *s, wsio_conn *c) {
  eio_probe *p = calloc(1, sizeof(*p));
  if (!p) return -1;
  p->c = c;
  p->s = s;
  p->timer.cb = on_upgrade_timeout;
  if (loop_timer_start(srv_loop(s->srv), &p->timer, s->srv->o.upgrade_timeout_ms, 0) < 0) {
    free(p);
    return -1;
  }
  s->probe = p;
  s->upgrading = 1;
  return 0;
}

static int ws_upgrade(const wsio_request *req, void *user_data, const char **reason, void *route_user) {
  wsio_eio_server *srv = route_user;
  ws_ud *ud = user_data;
  int err;
  const char *message;
  wsio_eio_session *s = verify(srv, req, 1, &err, &message);
  if (err > 0 || (err == 0 && !s)) {
    *reason = message ? message : err_messages[err];
    return 400; /* Node's abortUpgrade answers 400 whatever the cause */
  }
  ud->is_probe = s != NULL;
  if (s && !probe_allowed(s, req)) s = NULL; /* accepted, then closed in ws_open */
  ud->s = s; /* NULL and not a probe: a new ws-only session is created in ws_open */
  return 0;
}

static void ws_open(wsio_conn *c) {
  wsio_eio_server *srv = wsio_conn_route_user(c);
  ws_ud *ud = wsio_conn_user_data(c);
  if (ud->is_probe) {
    wsio_eio_session *s = ud->s;
    if (!s || s->state != S_OPEN || s->upgrading || s->ws || probe_start(s, c) < 0) {
      /* Node's websocket.close(): a close frame without a status code (1005 to the
       * client); the session this sid names goes on untouched. */
      ud->s = NULL;
      wsio_conn_close(c, 0, NULL);
    }
    return;
  }
  const wsio_request *req = c->app->upgrade_req;
  wsio_eio_session *s = req ? session_create(srv, req, TRANSPORT_WEBSOCKET) : NULL;
  if (!s) {
    wsio_conn_close(c, WSIO_CLOSE_INTERNAL_ERROR, "cannot create session");
    return;
  }
  s->ws = c;
  ud->s = s;
  char open[256];
  size_t n = open_packet(s, open, sizeof(open));
  send_packet(s, EIO_OPEN + '0', open, n);
  if (srv->h.open) srv->h.open(s, req, srv->user);
}

/* Moves what was queued for polling onto the WebSocket, in order. */
static void move_queue_to_ws(wsio_eio_session *s) {
  size_t off = 0;
  eio_packet p;
  uint8_t *buf = s->out;
  size_t n = s->out_len;
  s->out = NULL;
  s->out_len = s->out_cap = 0;
  while (n && eio_payload_next(buf, n, &off, &p) == 1) {
    if (p.binary) {
      ws_send_parts(s->ws, WSIO_OP_BINARY, NULL, 0, p.data, p.len);
    } else {
      char t = (char)('0' + p.type);
      ws_send_parts(s->ws, WSIO_OP_TEXT, &t, 1, p.data, p.len);
    }
  }
  free(buf);
  if (s->ping_queued) ping_delivered(s);
}

static void probe_message(wsio_eio_session *s, wsio_conn *c, const eio_packet *p) {
  if (p->type == EIO_PING && p->len == 5 && memcmp(p->data, "probe", 5) == 0) {
    ws_send_parts(c, WSIO_OP_TEXT, "3", 1, "probe", 5);
    if (s->get) answer_get(s, 1); /* noop: the client's poll returns and it sends "5" */
    return;
  }
  if (p->type == EIO_UPGRADE) {
    if (s->get) answer_get(s, 1);
    probe_end(s, 0);
    s->ws = c;
    s->transport = TRANSPORT_WEBSOCKET;
    s->srv->st.upgrades_total++;
    move_queue_to_ws(s);
    return;
  }
  /* Anything else during the probe aborts it (Node: "unexpected packet"). */
  probe_end(s, 1);
  mark_dirty(s);
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
    session_close(s, "parse error", CLOSE_SILENT);
    return;
  }
  if (ud->is_probe && s->probe && s->probe->c == c) {
    probe_message(s, c, &p);
    return;
  }
  if (s->ws != c) return;
  if (p.type == EIO_MESSAGE && p.len > s->srv->o.max_payload) { /* Node's ws maxPayload */
    detach_conn(c);
    s->ws = NULL;
    wsio_conn_close(c, WSIO_CLOSE_MESSAGE_TOO_BIG, "message too big");
    session_close(s, "transport error", CLOSE_SILENT);
    return;
  }
  on_packet(s, &p);
}

static void ws_close(wsio_conn *c, int code, const uint8_t *reason, size_t len) {
  (void)reason;
  (void)len;
  ws_ud *ud = wsio_conn_user_data(c);
  wsio_eio_session *s = ud->s;
  ud->s = NULL;
  if (!s || s->state != S_OPEN) return;
  if (s->probe && s->probe->c == c) { /* a failed probe: the session goes on polling */
    probe_end(s, 0);
    mark_dirty(s);
    return;
  }
  if (s->ws != c) return;
  s->ws = NULL;
  session_close(s, code == WSIO_CLOSE_ABNORMAL || code == WSIO_CLOSE_NO_STATUS || code == WSIO_CLOSE_NORMAL ||
                           code == WSIO_CLOSE_GOING_AWAY
                       ? "transport close"
                       : "transport error",
                0);
}

/* ---- timers and post phase ------------------------------------------------------ */

/* The session's one timer: the end of a linger, a pong that did not come in time, or
 * the next ping (Node's schedulePing/resetPingTimeout, as one deadline). */
static void on_timer(loop_timer *t) {
  wsio_eio_session *s = (wsio_eio_session *)((char *)t - offsetof(wsio_eio_session, timer));
  wsio_eio_server *srv = s->srv;
  if (s->linger) {
    bury(s);
    return;
  }
  if (s->state != S_OPEN) return;
  if (s->ping_pending) {
    /* A ping held back by us (a probe is attached and polling output waits) was never
     * delivered: the client cannot be late for it. The upgrade timeout bounds this. */
    if (s->ping_queued && s->upgrading) {
      hb_arm(s, srv->o.ping_timeout_ms);
      return;
    }
    /* Timers run before this iteration's reads (io_uring reads happen in the post
     * phase), and a connection accepted in this iteration is read in the next one: a
     * pong already sent when the deadline is found passed (in its last millisecond,
     * after a stall, or on a new long-polling POST) is read first, then post()
     * decides, after one more iteration when the first look finds no pong. */
    post_list_add(s);
    s->expiring = 1;
    return;
  }
  s->ping_pending = 1;
  s->refreshed = 0;
  s->second_look = 0;
  s->ping_queued = !(s->transport == TRANSPORT_WEBSOCKET && s->ws);
  send_packet(s, EIO_PING + '0', NULL, 0);
  /* Until it is delivered (ping_delivered re-arms), a queued ping gets pingTimeout from
   * now too: a polling client that sends no GET at all is gone, as in Node. */
  if (s->state == S_OPEN && hb_arm(s, srv->o.ping_timeout_ms) < 0) session_close(s, "transport error", CLOSE_SILENT);
}

static void post(void *arg) {
  wsio_eio_server *srv = arg;
  while (srv->dirty) {
    wsio_eio_session *s = srv->dirty;
    srv->dirty = s->dnext;
    s->dnext = NULL;
    int expiring = s->expiring;
    s->dirty = s->expiring = 0;
    /* Still no pong, and no other packet re-armed the deadline: Node's "ping timeout",
     * on the second look (1 ms later: the next iteration's reads came in between). */
    if (expiring && s->state == S_OPEN && s->ping_pending && !loop_timer_active(&s->timer)) {
      if (!s->second_look && hb_arm(s, 1) == 0) {
        s->second_look = 1;
      } else {
        srv->st.ping_timeouts_total++;
        session_close(s, "ping timeout", CLOSE_NOW);
      }
    }
    if (s->state == S_OPEN && s->get && !s->upgrading && s->out_len) answer_get(s, 0);
  }
  while (srv->grave) {
    wsio_eio_session *s = srv->grave;
    srv->grave = s->gnext;
    free(s->out);
    free(s);
  }
}

/* A graceful stop: every session ends with "server shutting down"; long-polls get a
 * close packet, WebSockets a 1001, so clients reconnect (elsewhere). */
static void stop(void *arg) {
  wsio_eio_server *srv = arg;
  for (wsio_eio_session *s = srv->head, *nx; s; s = nx) {
    nx = s->next;
    if (!s->linger) session_close(s, "server shutting down", CLOSE_AFTER_QUEUE);
  }
}

static void destroy(void *arg) {
  wsio_eio_server *srv = arg;
  while (srv->head) {
    wsio_eio_session *s = srv->head;
    if (s->linger) bury(s);
    else session_close(s, "server shutting down", CLOSE_SILENT);
  }
  srv->dirty = NULL;
  post(srv);
  free(srv->buckets);
  free(srv->path);
  free(srv->cors_origin);
  free(srv);
}

/* ---- public API ------------------------------------------------------------------ */

wsio_eio_server *wsio_eio_attach(wsio_app *app, const wsio_eio_options *o, const wsio_eio_handlers *h,
                                 void *user) {
  wsio_eio_options def;
  if (!o) {
    wsio_eio_options_init(&def);
    o = &def;
  }
  if (!o->path || o->path[0] != '/' || !o->ping_interval_ms || !o->ping_timeout_ms) return NULL;
  wsio_eio_server *srv = calloc(1, sizeof(*srv));
  if (!srv) return NULL;
  srv->app = app;
  srv->o = *o;
  srv->h = *h;
  srv->user = user;
  /* "/engine.io" and "/engine.io/" both serve "/engine.io/..." (the route is a prefix). */
  size_t pl = strlen(o->path);
  srv->path = malloc(pl + 3);
  if (!srv->path) goto fail;
  memcpy(srv->path, o->path, pl);
  if (srv->path[pl - 1] != '/') srv->path[pl++] = '/';
  srv->path[pl++] = '*';
  srv->path[pl] = '\0';
  srv->o.path = srv->path;
  if (o->cors_origin && !(srv->cors_origin = strdup(o->cors_origin))) goto fail;
  snprintf(srv->open_tail, sizeof(srv->open_tail), ",\"pingInterval\":%u,\"pingTimeout\":%u,\"maxPayload\":%zu}",
           o->ping_interval_ms, o->ping_timeout_ms, o->max_payload);
  wsio_ws_handlers wh = {
      .user_data_size = sizeof(ws_ud),
      .upgrade = ws_upgrade,
      .open = ws_open,
      .message = ws_message,
      .close = ws_close,
  };
  if (wsio_app_ws(app, srv->path, &wh, srv) < 0) goto fail;
  if (wsio_app_http(app, NULL, srv->path, on_http, srv) < 0) goto fail;
  if (core_hook_add(app, CORE_HOOK_POST, post, srv) < 0 || core_hook_add(app, CORE_HOOK_DESTROY, destroy, srv) < 0 || core_hook_add(app, CORE_HOOK_STOP, stop, srv) < 0)
    goto fail;
  return srv;
fail:
  free(srv->path);
  free(srv->cors_origin);
  free(srv);
  return NULL;
}

int wsio_eio_send(wsio_eio_session *s, const void *data, size_t len, int binary) {
  if (s->state != S_OPEN) return WSIO_ECLOSED;
  s->srv->st.messages_out_total++;
  if (s->transport == TRANSPORT_WEBSOCKET && s->ws) {
    int st = binary ? ws_send_parts(s->ws, WSIO_OP_BINARY, NULL, 0, data, len)
                    : ws_send_parts(s->ws, WSIO_OP_TEXT, "4", 1, data, len);
    return st < 0 ? WSIO_ECLOSED : 0;
  }
  return binary ? queue_binary(s, data, len) : queue_text(s, '4', data, len);
}

void wsio_eio_close(wsio_eio_session *s) { session_close(s, "forced close", CLOSE_AFTER_QUEUE); }

const char *wsio_eio_session_id(const wsio_eio_session *s) { return s->sid; }
const char *wsio_eio_session_transport(const wsio_eio_session *s) { return transport_names[s->transport]; }
const char *wsio_eio_session_remote_address(const wsio_eio_session *s) {
  static _Thread_local char buf[48];
  if (!s->family || !inet_ntop(s->family, s->peer, buf, sizeof(buf))) return "";
  return buf;
}
void wsio_eio_session_set_user(wsio_eio_session *s, void *user) { s->user = user; }
void *wsio_eio_session_user(const wsio_eio_session *s) { return s->user; }
wsio_eio_server *wsio_eio_session_server(const wsio_eio_session *s) { return s->srv; }
size_t wsio_eio_server_num_sessions(const wsio_eio_server *srv) { return srv->count; }
wsio_app *eio_server_app(const wsio_eio_server *srv) { return srv->app; }

/* ---- prepared messages ----------------------------------------------------------- */

static int grow(uint8_t **p, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 256;
  while (c < need) c *= 2;
  uint8_t *n = realloc(*p, c);
  if (!n) return -1;
  *p = n;
  *cap = c;
  return 0;
}

int eio_prepared_add(eio_prepared *p, const uint8_t *data, size_t len, int binary) {
  size_t plen = binary ? 0 : 1;
  if (grow(&p->ws, &p->ws_cap, p->ws_len + WS_FRAME_MAX_HEADER + plen + len) < 0) return WSIO_ENOMEM;
  p->ws_len += ws_frame_header_encode(p->ws + p->ws_len, 1, 0, binary ? WS_OP_BINARY : WS_OP_TEXT, plen + len, NULL);
  if (!binary) p->ws[p->ws_len++] = '4';
  memcpy(p->ws + p->ws_len, data, len);
  p->ws_len += len;
  size_t rec = binary ? 1 + base64_len(len) : 1 + len;
  if (grow(&p->poll, &p->poll_cap, p->poll_len + rec + 1) < 0) return WSIO_ENOMEM;
  if (p->poll_len) p->poll[p->poll_len++] = EIO_RECORD_SEPARATOR;
  if (binary) {
    p->poll[p->poll_len++] = 'b';
    p->poll_len += base64_encode((char *)p->poll + p->poll_len, data, len);
  } else {
    p->poll[p->poll_len++] = '4';
    memcpy(p->poll + p->poll_len, data, len);
    p->poll_len += len;
  }
  p->count++;
  return 0;
}

void eio_prepared_free(eio_prepared *p) {
  free(p->ws);
  free(p->poll);
  eio_prepared_init(p);
}

void wsio_eio_server_stats(const wsio_eio_server *srv, wsio_eio_stats *out) {
  *out = srv->st;
  out->sessions_polling = out->sessions_websocket = 0;
  for (const wsio_eio_session *s = srv->head; s; s = s->next) {
    if (s->transport == TRANSPORT_WEBSOCKET) out->sessions_websocket++;
    else out->sessions_polling++;
  }
}

int eio_send_prepared(wsio_eio_session *s, eio_prepared *p, int is_volatile) {
  if (s->state != S_OPEN) return WSIO_ECLOSED;
  s->srv->st.messages_out_total += p->count;
  if (s->transport == TRANSPORT_WEBSOCKET && s->ws) {
    if (is_volatile && wsio_conn_buffered_amount(s->ws)) return 1;
    /* Frames go once into the loop's shared broadcast buffer; every recipient is owed
     * a range of it (sent without a copy when its ranges are contiguous). */
    net_ctx *net = app_net(s->srv->app);
    uint64_t epoch = net_bcast_epoch(net) + 1; /* 0 in shared_iter means "not shared" */
    if (p->shared_iter != epoch && p->ws_len <= 64 * 1024 &&
        net_bcast_append(net, p->ws, p->ws_len, &p->shared_off) == 0)
      p->shared_iter = net_bcast_epoch(net) + 1;
    if (p->shared_iter == net_bcast_epoch(net) + 1)
      return ws_send_shared_frames(s->ws, p->shared_off, (uint32_t)p->ws_len, p->count) < 0 ? 1 : 0;
    return ws_send_raw_frames(s->ws, p->ws, p->ws_len, p->count) < 0 ? 1 : 0;
  }
  if (is_volatile && (!s->get || s->upgrading)) return 1;
  return queue_record(s, p->poll, p->poll_len) < 0 ? WSIO_ECLOSED : 0;
}
