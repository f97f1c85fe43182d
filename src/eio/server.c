/* eio/server.c — the Engine.IO v4 server (engine.io-protocol v4, Node's engine.io
 * Server as the reference for behaviour and error answers): options, attach and
 * destroy, the one HTTP route and the checks every request passes (Node's verify),
 * CORS and error answers, stats and getters.
 *
 * It sits on the core's public surface: one HTTP route (any method) and one WebSocket
 * route (websocket.c) at the path prefix, plus core/transport.h's hooks. Must not hold
 * a session's state machine (session.c) or a transport's (polling.c, websocket.c). */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eio/internal.h"
#include "util/ascii.h"
#include "util/swar.h"

const char *const eio_err_messages[] = {"Transport unknown", "Session ID unknown", "Bad handshake method",
                                        "Bad request",       "Forbidden",          "Unsupported protocol version"};

static const char *const transport_names[] = {"polling", "websocket"};

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

/* ---- answers ----------------------------------------------------------------------- */

void eio_add_cors(wsio_eio_server *srv, const wsio_request *req, wsio_response *res) {
  if (!srv->cors_origin) return;
  /* An Origin outside the app's allowed_origins gets no Access-Control-Allow-Origin
   * (as Node's cors middleware with an origin list): its page cannot read the answer. */
  if (!wsio_request_origin_allowed(req)) return;
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

void eio_send_error(wsio_eio_server *srv, const wsio_request *req, wsio_response *res, int code,
                    const char *message) {
  char body[320];
  int n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}", code,
                   message ? message : eio_err_messages[code]);
  eio_add_cors(srv, req, res);
  wsio_response_send(res, code == ERR_FORBIDDEN ? 403 : 400, "application/json", body, (size_t)n);
}

/* ---- the HTTP route ------------------------------------------------------------------ */

/* The query parameters verify reads. Every polling request carries them, so they are
 * found in one pass over the raw query, as spans into the request (no copy), instead
 * of one wsio_request_query_param scan and decode per name: that was the largest
 * user-space cost of a long-polling round trip in callgrind. A value is decoded (into
 * buf) only when it holds an escape ('%' or '+'), which the values Engine.IO clients
 * send (a word, a base64url sid, a digit) never do. As wsio_request_query_param: the
 * first occurrence of a key counts, keys compare as sent. */
enum { QP_TRANSPORT, QP_SID, QP_EIO, QP_COUNT };

typedef struct eio_query {
  const char *v[QP_COUNT];
  int n[QP_COUNT]; /* the decoded length; -1: absent */
  char buf[QP_COUNT][32];
} eio_query;

static const struct {
  const char *key;
  size_t len;
} query_keys[QP_COUNT] = {{"transport", 9}, {"sid", 3}, {"EIO", 3}};

/* By length first: the compares then have constant sizes and are inlined. */
static int query_key_of(const char *k, size_t n) {
  if (n == 9) return memcmp(k, "transport", 9) == 0 ? QP_TRANSPORT : -1;
  if (n != 3) return -1;
  if (memcmp(k, "sid", 3) == 0) return QP_SID;
  return memcmp(k, "EIO", 3) == 0 ? QP_EIO : -1;
}

/* Whether a value holds an escape ('%' or '+'), eight bytes at a time (the classic
 * "has a zero byte" test on the value xor each character, exact for "any"). A value of
 * eight bytes or more ends with a word that overlaps the one before it rather than a
 * byte loop (a sid's 20 bytes: three word tests, not two and four byte tests); a
 * shorter one is one word ("polling", "4"). */
static int query_escaped(const char *v, size_t n) {
  uint64_t w;
  if (n < 8) { /* one word holding every byte (util/ascii.h; its other bytes are 0) */
    if (n == 0) return 0;
    w = ascii_load_short(v, n);
    return (swar_eq(w, '%') | swar_eq(w, '+')) != 0;
  }
  for (size_t i = 0; i + 8 < n; i += 8) {
    memcpy(&w, v + i, 8);
    if (swar_eq(w, '%') | swar_eq(w, '+')) return 1;
  }
  memcpy(&w, v + n - 8, 8);
  return (swar_eq(w, '%') | swar_eq(w, '+')) != 0;
}

/* A field's end and its '=' by memchr (vectorized in libc); only the values of the
 * three keys are looked at again. */
static void eio_query_parse(const wsio_request *req, eio_query *q) {
  size_t n = 0;
  const char *p = wsio_request_query(req, &n);
  for (int k = 0; k < QP_COUNT; k++) {
    q->v[k] = NULL;
    q->n[k] = -1;
  }
  if (!p) return; /* no query at all (not even "?"): nothing to find, and no p + n to form */
  const char *end = p + n;
  for (const char *f = p; f;) {
    const char *amp = memchr(f, '&', (size_t)(end - f));
    const char *fe = amp ? amp : end;
    const char *eq = memchr(f, '=', (size_t)(fe - f));
    int k = query_key_of(f, (size_t)((eq ? eq : fe) - f));
    if (k >= 0 && q->n[k] < 0) {
      const char *v = eq ? eq + 1 : fe;
      size_t vl = (size_t)(fe - v);
      if (vl <= INT_MAX && !query_escaped(v, vl)) {
        q->v[k] = v;
        q->n[k] = (int)vl;
      } else { /* rare: the one decoder, on this same first occurrence */
        q->v[k] = q->buf[k];
        q->n[k] = wsio_request_query_param(req, query_keys[k].key, q->buf[k], sizeof(q->buf[k]));
      }
    }
    f = amp ? amp + 1 : NULL;
  }
}

static int span_is(const char *v, int n, const char *lit, size_t len) {
  return n == (int)len && memcmp(v, lit, len) == 0;
}

/* Node's verify(): transport, then sid (or handshake method / allowRequest), then the
 * protocol version for new sessions. Returns the session for requests with a valid
 * sid, NULL otherwise; *err is -1 when the request is a valid handshake. */
wsio_eio_session *eio_verify(wsio_eio_server *srv, const wsio_request *req, int is_upgrade, int *err,
                             const char **message) {
  eio_query q;
  size_t mlen;
  const char *method = wsio_request_method(req, &mlen);
  *message = NULL;
  /* The app's allowed_origins, checked like Node's allowRequest (403, code 4
   * "Forbidden") but on every request, not only handshakes: a polling request from
   * another site's page is refused whatever its sid. */
  if (!wsio_request_origin_allowed(req)) {
    core_count_origin_refusal(req);
    *err = ERR_FORBIDDEN;
    return NULL;
  }
  eio_query_parse(req, &q);
  const char *tv = q.v[QP_TRANSPORT];
  int tn = q.n[QP_TRANSPORT];
  int want_poll = span_is(tv, tn, "polling", 7), want_ws = span_is(tv, tn, "websocket", 9);
  if (!((want_poll && srv->o.allow_polling) || (want_ws && srv->o.allow_websocket))) {
    *err = ERR_UNKNOWN_TRANSPORT;
    return NULL;
  }
  if (q.n[QP_SID] >= 0) {
    wsio_eio_session *s = eio_session_find(srv, q.v[QP_SID], (size_t)q.n[QP_SID]);
    if (!s) {
      *err = ERR_UNKNOWN_SID;
      return NULL;
    }
    if (!is_upgrade && (want_ws || s->transport != TRANSPORT_POLLING)) {
      *err = ERR_BAD_REQUEST; /* TRANSPORT_MISMATCH */
      return NULL;
    }
    /* An upgrade for a session that cannot take one (already upgraded or probing, or
     * transport=polling) passes here: Node completes the handshake and then closes
     * that WebSocket (onWebSocket), leaving the session alone. See websocket.c's ws_upgrade. */
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
  if ((want_ws && !is_upgrade) || (want_poll && is_upgrade)) {
    *err = ERR_BAD_REQUEST;
    return NULL;
  }
  if (srv->h.allow_request && srv->h.allow_request(req, message, srv->user) != 0) {
    *err = ERR_FORBIDDEN;
    return NULL;
  }
  if (!span_is(q.v[QP_EIO], q.n[QP_EIO], "4", 1)) {
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
    eio_add_cors(srv, req, res);
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
  wsio_eio_session *s = eio_verify(srv, req, 0, &err, &message);
  if (err == -1) {
    const char *why = NULL;
    int st = core_limit_handshake(req, &why);
    if (st) { /* --handshakes-per-second, as on WebSocket handshakes */
      eio_add_cors(srv, req, res);
      wsio_response_header(res, "Retry-After", "1");
      wsio_response_send(res, st, "text/plain; charset=utf-8", why, strlen(why));
      return;
    }
    if (app_stopping(srv->app)) { /* draining: the client should connect elsewhere */
      eio_add_cors(srv, req, res);
      wsio_response_header(res, "Retry-After", "1");
      wsio_response_send(res, 503, "text/plain; charset=utf-8", "server shutting down", 20);
      return;
    }
    eio_poll_handshake(srv, req, res);
    return;
  }
  if (!s) {
    eio_send_error(srv, req, res, err, message);
    return;
  }
  if (s->linger) {
    if (mlen == 3 && memcmp(method, "GET", 3) == 0) {
      eio_linger_get(s, req, res);
    } else if (mlen == 4 && memcmp(method, "POST", 4) == 0) {
      /* The client has not read the close packet yet: an error here would make it drop
       * its transport (and the GET that brings the close) and report a transport error,
       * as Node answers "ok" to a closing socket's POST. What it posted is dropped
       * unread, as frames after a WebSocket close are: the session is closed. */
      eio_add_cors(srv, req, res);
      wsio_response_send(res, 200, "text/html", "ok", 2);
    } else {
      eio_send_error(srv, req, res, ERR_UNKNOWN_SID, NULL);
    }
    return;
  }
  if (mlen == 3 && memcmp(method, "GET", 3) == 0) eio_poll_get(s, req, res);
  else if (mlen == 4 && memcmp(method, "POST", 4) == 0) eio_poll_post(s, req, res);
  else eio_send_error(srv, req, res, ERR_BAD_REQUEST, NULL);
}

/* ---- hooks and lifetime -------------------------------------------------------------- */

/* A graceful stop: every session ends with "server shutting down"; long-polls get a
 * close packet, WebSockets a 1001, so clients reconnect (elsewhere). */
static void on_stop(void *arg) {
  wsio_eio_server *srv = arg;
  for (wsio_eio_session *s = srv->head, *nx; s; s = nx) {
    nx = s->next;
    if (!s->linger) {
      eio_session_close(s, "server shutting down", CLOSE_AFTER_QUEUE);
    } else if (eio_out_len(s) && !s->drain_hold) { /* closed before: its last GET is awaited too */
      s->drain_hold = 1;
      app_drain_hold(srv->app, 1);
    }
  }
}

static void on_destroy(void *arg) {
  wsio_eio_server *srv = arg;
  while (srv->head) {
    wsio_eio_session *s = srv->head;
    if (s->linger) eio_session_bury(s);
    else eio_session_close(s, "server shutting down", CLOSE_SILENT);
  }
  srv->dirty = NULL;
  eio_post(srv);
  idmap_free(&srv->sids);
  free(srv->path);
  free(srv->cors_origin);
  free(srv);
}

/* --threads: a request at this server's path with a sid belongs to the thread the sid
 * names (core hands its connection there before serving it). */
static int request_owner(void *arg, const char *path, size_t path_len, const char *query, size_t query_len) {
  wsio_eio_server *srv = arg;
  size_t pl = strlen(srv->path) - 1; /* without the '*' */
  if (path_len < pl - 1 || memcmp(path, srv->path, pl - 1) != 0) return -1;
  if (path_len > pl - 1 && path[pl - 1] != '/') return -1;
  for (size_t i = 0; i + 4 <= query_len; i++) {
    if ((i == 0 || query[i - 1] == '&') && memcmp(query + i, "sid=", 4) == 0) {
      const char *v = query + i + 4;
      const char *e = memchr(v, '&', query_len - i - 4);
      size_t n = e ? (size_t)(e - v) : query_len - i - 4;
      char dec[64]; /* an escaped sid (legal, if rare) names its thread once decoded */
      if (query_escaped(v, n)) {
        int dn = core_url_decode(v, n, dec, sizeof(dec));
        if (dn < 0 || (size_t)dn >= sizeof(dec)) return -1;
        v = dec;
        n = (size_t)dn;
      }
      return random_id_owner(v, n, core_thread_count(srv->app));
    }
  }
  return -1;
}

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
  idmap_init(&srv->sids, offsetof(wsio_eio_session, sid), SID_LEN);
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
  /* The destroy hook first: from then on srv belongs to the app, which frees it, so a
   * later failure leaves no route or hook naming freed memory (the caller gets NULL). */
  if (core_hook_add(app, CORE_HOOK_DESTROY, on_destroy, srv) < 0) goto fail;
  wsio_ws_handlers wh;
  eio_ws_handlers(&wh);
  if (wsio_app_ws(app, srv->path, &wh, srv) < 0 || wsio_app_http(app, NULL, srv->path, on_http, srv) < 0 ||
      core_hook_add(app, CORE_HOOK_POST, eio_post, srv) < 0 || core_hook_add(app, CORE_HOOK_STOP, on_stop, srv) < 0 ||
      core_owner_add(app, request_owner, srv) < 0)
    return NULL; /* srv is freed with the app */
  return srv;
fail:
  free(srv->path);
  free(srv->cors_origin);
  free(srv);
  return NULL;
}

/* ---- stats and getters ------------------------------------------------------------- */

const char *wsio_eio_session_id(const wsio_eio_session *s) { return s->sid; }
const char *wsio_eio_session_transport(const wsio_eio_session *s) { return transport_names[s->transport]; }
int wsio_eio_session_remote_address(const wsio_eio_session *s, char *buf, size_t cap) {
  if (!s || !buf || !cap) return WSIO_EINVAL;
  char tmp[WSIO_ADDRSTRLEN];
  if (!s->has_peer || !inet_ntop(eio_session_family(s), s->peer, tmp, sizeof(tmp))) tmp[0] = '\0';
  size_t n = strlen(tmp);
  if (n >= cap) return WSIO_ETOOBIG;
  memcpy(buf, tmp, n + 1);
  return (int)n;
}
void wsio_eio_session_set_user(wsio_eio_session *s, void *user) { s->user = user; }
void *wsio_eio_session_user(const wsio_eio_session *s) { return s->user; }
wsio_eio_server *wsio_eio_session_server(const wsio_eio_session *s) { return s->srv; }
void *eio_server_user(const wsio_eio_server *srv) { return srv->user; }
size_t wsio_eio_server_num_sessions(const wsio_eio_server *srv) { return srv->count; }
wsio_app *eio_server_app(const wsio_eio_server *srv) { return srv->app; }

size_t eio_send_budget(const wsio_eio_server *srv) {
  size_t ws = core_max_backpressure(srv->app), poll = srv->o.max_polling_buffer, cap = SIZE_MAX;
  if (ws && ws < cap) cap = ws;
  if (poll && poll < cap) cap = poll;
  if (cap == SIZE_MAX) return cap;
  return cap > 1024 ? cap - 1024 : 0;
}

void eio_set_release(wsio_eio_server *srv, void (*fn)(void *arg), void *arg) {
  srv->release = fn;
  srv->release_arg = arg;
}
void eio_hold(wsio_eio_server *srv) { srv->held = srv->release != NULL; }
void eio_unhold(wsio_eio_server *srv) { srv->held = 0; }

void wsio_eio_server_stats(const wsio_eio_server *srv, wsio_eio_stats *out) {
  *out = srv->st;
  out->sessions_polling = out->sessions_websocket = 0;
  for (const wsio_eio_session *s = srv->head; s; s = s->next) {
    if (s->transport == TRANSPORT_WEBSOCKET) out->sessions_websocket++;
    else out->sessions_polling++;
  }
}
