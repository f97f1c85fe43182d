/* core/http_session.c — a connection before (or instead of) WebSocket: buffers request
 * heads and bodies within limits, routes them, answers plain HTTP routes and errors,
 * keeps HTTP/1.1 connections alive, and performs the RFC 6455 upgrade.
 *
 * The head is parsed straight from the loop's receive buffer when it arrives in one
 * read (the common case); only a partial head is copied into http_aux. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/threads.h"
#include "util/ascii.h"
#include "util/buf.h"
#include "edge/origin.h"
#include "http/chunked.h"
#include "http/response.h"
#include "ws/deflate.h"
#include "ws/frame.h"
#include "ws/handshake.h"

#define HTTP_MAX_HEADERS_HARD 256

/* The request headers this file reads for every request (routing, body framing,
 * keep-alive) and Engine.IO reads for every polling request, found in one pass over the
 * parsed headers. Their names have distinct lengths, so a header is compared with at
 * most one of them, and only when its length matches. This replaced four to six
 * http_header_find scans of case-insensitive compares per request: ~15 % of a
 * long-polling round trip's instructions in callgrind. */
enum { KH_ORIGIN, KH_UPGRADE, KH_CONNECTION, KH_CONTENT_TYPE, KH_CONTENT_LENGTH, KH_TRANSFER_ENCODING, KH_COUNT };

static const struct {
  const char *name;
  size_t len;
} known_heads[KH_COUNT] = {{"origin", 6},        {"upgrade", 7},         {"connection", 10},
                           {"content-type", 12}, {"content-length", 14}, {"transfer-encoding", 17}};

typedef struct head_index {
  const http_header *first[KH_COUNT];
  uint8_t count[KH_COUNT]; /* saturates at 2: "more than one" is all that is asked */
} head_index;

static int known_head_of_len(size_t len) {
  switch (len) {
    case 6: return KH_ORIGIN;
    case 7: return KH_UPGRADE;
    case 10: return KH_CONNECTION;
    case 12: return KH_CONTENT_TYPE;
    case 14: return KH_CONTENT_LENGTH;
    case 17: return KH_TRANSFER_ENCODING;
    default: return -1;
  }
}

static void head_index_build(const http_request *h, head_index *x) {
  memset(x, 0, sizeof(*x));
  for (size_t i = 0; i < h->num_headers; i++) {
    const http_header *hd = &h->headers[i];
    int k = known_head_of_len(hd->name_len);
    if (k < 0 || !ascii_ieq(known_heads[k].name, hd->name, hd->name_len)) continue;
    if (!x->count[k]) x->first[k] = hd;
    if (x->count[k] < 2) x->count[k]++;
  }
}

/* The first header called name (any case): from the index when it is a known one. */
static const http_header *head_find(const http_request *h, const head_index *x, const char *name) {
  if (x) {
    size_t n = strlen(name);
    int k = known_head_of_len(n);
    /* (The caller's name is any string: compared exactly, or folded as before.) */
    if (k >= 0 && (memcmp(name, known_heads[k].name, n) == 0 || http_str_ieq(name, known_heads[k].name, n)))
      return x->first[k];
  }
  return http_header_find(h, name);
}

struct wsio_request {
  const http_request *h;
  const head_index *x; /* NULL: not built (an upgrade's request) */
  const uint8_t *body;
  size_t body_len;
  wsio_conn *c;
};

struct wsio_response {
  wsio_conn *c;
  int sent;
  int head_only;
  int keep_alive;
  int held;  /* heap copy made by wsio_response_hold */
  int moved; /* this (stack) response was handed to a held copy */
  char *hdrs; /* extra header lines: hbuf, or the heap when they outgrow it */
  size_t hlen, hcap;
  char hbuf[160];
  void (*on_abort)(wsio_response *res, void *user);
  void *abort_user;
};

static void hdrs_free(wsio_response *res);

int http_is_held(const wsio_conn *c) {
  const http_aux *a = c->state == CONN_HTTP ? c->aux : NULL;
  return a && a->kind == AUX_HTTP && a->held;
}

/* The connection is going away with a held response: tell its owner, free it. */
void http_abort_held(wsio_conn *c) {
  http_aux *a = c->aux;
  if (!a || a->kind != AUX_HTTP || !a->held) return;
  wsio_response *res = a->held;
  a->held = NULL;
  if (res->on_abort) res->on_abort(res, res->abort_user);
  hdrs_free(res);
  free(res);
}

/* Only HTTP state: right after an upgrade, c->aux may already be the WebSocket state
 * the open callback created (a compressed send allocates the deflate codec there). */
void http_aux_free(wsio_conn *c) {
  http_aux *a = c->aux;
  if (!a || a->kind != AUX_HTTP) return;
  http_abort_held(c);
  free(a->buf);
  free(a);
  c->aux = NULL;
}

/* Answers status with a short text body and closes the connection politely: the
 * write side is shut after the answer and input is discarded until the peer's FIN
 * (closing at once could turn unread input into a RST that destroys the answer). */
static void send_error_body(wsio_conn *c, int status, const char *reason, const char *extra, int newline) {
  wsio_app *app = c->app;
  char body[256], head[512];
  int bl = snprintf(body, sizeof(body), newline ? "%s\n" : "%s", reason ? reason : http_status_text(status));
  if (bl < 0) bl = 0;
  if ((size_t)bl >= sizeof(body)) bl = sizeof(body) - 1;
  size_t hl = http_format_head(head, sizeof(head), status, "text/plain; charset=utf-8", (size_t)bl,
                               extra, 0);
  net_write2(&c->net, head, hl, body, (size_t)bl);
  net_shutdown_write(&c->net);
  http_aux_free(c);
  c->state = CONN_HTTP_CLOSING;
  c->t_due = core_now(app) + (app->o.close_timeout_ms ? app->o.close_timeout_ms : 1000);
}

static void response_done(wsio_conn *c, int keep_alive);

void http_send_error(wsio_conn *c, int status, const char *reason, const char *extra) {
  send_error_body(c, status, reason, extra, 1);
}

/* ---- request accessors ----------------------------------------------------------- */

/* A NULL request reads as empty: NULL and *len = 0. */
static const char *span_out(const void *p, size_t n, size_t *len) {
  if (len) *len = p ? n : 0;
  return p;
}

const char *wsio_request_method(const wsio_request *req, size_t *len) {
  return req ? span_out(req->h->method, req->h->method_len, len) : span_out(NULL, 0, len);
}

const char *wsio_request_path(const wsio_request *req, size_t *len) {
  return req ? span_out(req->h->path, req->h->path_len, len) : span_out(NULL, 0, len);
}

const char *wsio_request_query(const wsio_request *req, size_t *len) {
  return req ? span_out(req->h->query, req->h->query_len, len) : span_out(NULL, 0, len);
}

const char *wsio_request_header(const wsio_request *req, const char *name, size_t *len) {
  const http_header *hd = req && name ? head_find(req->h, req->x, name) : NULL;
  return hd ? span_out(hd->value, hd->value_len, len) : span_out(NULL, 0, len);
}

const uint8_t *wsio_request_body(const wsio_request *req, size_t *len) {
  return (const uint8_t *)(req ? span_out(req->body, req->body_len, len) : span_out(NULL, 0, len));
}

/* docs/security.md: a request without Origin is not from a browser (which always sends
 * one on a WebSocket handshake and a cross-site request); the token is its check. */
int wsio_request_origin_allowed(const wsio_request *req) {
  if (!req || !req->c || !req->c->app->origins) return 1;
  const http_header *o = head_find(req->h, req->x, "origin");
  if (!o) return 1;
  return edge_origin_allowed(req->c->app->origins, o->value, o->value_len);
}

int core_limit_handshake(const wsio_request *req, const char **reason) {
  return req && req->c ? limits_handshake(req->c, req->h, reason) : 0;
}

void core_count_origin_refusal(const wsio_request *req) {
  if (req && req->c) req->c->app->st.origin_refused_total++;
}

int wsio_request_remote_address(const wsio_request *req, char *buf, size_t cap) {
  if (!req || !buf || !cap) return WSIO_EINVAL;
  /* Behind trusted proxies, every request says who it is for (long-polling too). */
  int r = req->c->app->proxies && req->h ? limits_client_ip_format(req->c, req->h, buf, cap) : WSIO_EINVAL;
  return r > 0 ? r : conn_peer_format(req->c, buf, cap);
}

wsio_conn *core_request_conn(const wsio_request *req) { return req->c; }
const http_request *core_request_head(const wsio_request *req) { return req->h; }

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..n) into out (cap > 0); '+' means space in query strings. */
int core_url_decode(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int ch = (unsigned char)s[i];
    if (ch == '+') ch = ' ';
    else if (ch == '%' && i + 2 < n + 0 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      ch = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
      i += 2;
    }
    if (o + 1 < cap) out[o] = (char)ch;
    o++;
  }
  out[o < cap ? o : cap - 1] = '\0';
  return (int)o;
}

int wsio_request_query_param(const wsio_request *req, const char *key, char *out, size_t cap) {
  if (!req || !key || !out || !cap) return WSIO_EINVAL;
  const char *q = req->h->query;
  size_t n = req->h->query_len, klen = strlen(key);
  if (!q) return -1;
  size_t i = 0;
  while (i <= n) {
    size_t j = i;
    while (j < n && q[j] != '&') j++;
    const char *eq = memchr(q + i, '=', j - i);
    size_t kl = eq ? (size_t)(eq - (q + i)) : j - i;
    if (kl == klen && memcmp(q + i, key, klen) == 0) {
      if (!eq) {
        out[0] = '\0';
        return 0;
      }
      return core_url_decode(eq + 1, (size_t)(q + j - (eq + 1)), out, cap);
    }
    i = j + 1;
  }
  return -1;
}

/* ---- responses ------------------------------------------------------------------- */

static void hdrs_free(wsio_response *res) {
  if (res->hdrs != res->hbuf) free(res->hdrs);
  res->hdrs = NULL;
  res->hlen = res->hcap = 0;
}

/* Header lines live in the response's own small buffer (no malloc for the usual one
 * or two), on the heap beyond it. */
int wsio_response_header(wsio_response *res, const char *name, const char *value) {
  if (!res || !name || !value || res->sent || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return WSIO_EINVAL;
  size_t nl = strlen(name), vl = strlen(value), need = nl + vl + 4;
  if (!res->hdrs) {
    res->hdrs = res->hbuf;
    res->hcap = sizeof(res->hbuf);
  }
  if (res->hlen + need + 1 > res->hcap) {
    size_t cap = grow_cap(res->hcap, res->hlen + need + 1, sizeof(res->hbuf), SIZE_MAX);
    char *p = !cap ? NULL : res->hdrs == res->hbuf ? core_malloc(cap) : core_realloc(res->hdrs, cap);
    if (!p) return WSIO_ENOMEM;
    if (res->hdrs == res->hbuf) memcpy(p, res->hbuf, res->hlen);
    res->hdrs = p;
    res->hcap = cap;
  }
  char *o = res->hdrs + res->hlen;
  memcpy(o, name, nl);
  memcpy(o + nl, ": ", 2);
  memcpy(o + nl + 2, value, vl);
  memcpy(o + nl + 2 + vl, "\r\n", 3); /* with the NUL http_format_head reads up to */
  res->hlen += need;
  return 0;
}

/* A held response was answered (or failed): free it, then the connection goes on. */
static void held_done(wsio_response *res) {
  wsio_conn *c = res->c;
  http_aux *a = c->aux;
  a->held = NULL;
  int keep = res->keep_alive;
  hdrs_free(res);
  free(res);
  response_done(c, keep);
  /* Requests that arrived behind the held one are served from the post phase. */
  if (c->state == CONN_HTTP && c->aux && ((http_aux *)c->aux)->len) app_resume_later(c);
}

int wsio_response_send(wsio_response *res, int status, const char *content_type, const void *body,
                       size_t len) {
  if (!res || (!body && len) || res->sent) return WSIO_EINVAL;
  res->sent = 1;
  char stack[1024];
  size_t cap = sizeof(stack) > res->hlen + 256 ? sizeof(stack) : res->hlen + 256;
  char *head = cap > sizeof(stack) ? core_malloc(cap) : stack;
  if (!head) {
    /* Nothing was written: fail the connection rather than leave the client waiting. */
    wsio_conn *c = res->c;
    if (res->held) held_done(res);
    conn_kill(c);
    return WSIO_ENOMEM;
  }
  size_t hl = http_format_head(head, cap, status, content_type ? content_type : "text/plain; charset=utf-8",
                               len, res->hdrs, res->keep_alive);
  int r = net_write2(&res->c->net, head, hl, body, res->head_only ? 0 : len);
  if (head != stack) free(head);
  if (res->held) held_done(res);
  return r < 0 ? WSIO_ECLOSED : 0;
}


/* ---- routing --------------------------------------------------------------------- */

/* Fast: the last byte of the route's path is compared before the call to memcmp; most
 * routes of another path fail there (the static site's files beside /socket.io/). */
static int path_matches(const route *r, const http_request *h) {
  size_t n = r->path_len;
  if (r->prefix ? h->path_len < n : h->path_len != n) return 0;
  return n == 0 || (r->path[n - 1] == h->path[n - 1] && memcmp(r->path, h->path, n - 1) == 0);
}

static int method_is(const http_request *h, const char *m) {
  size_t n = strlen(m);
  return h->method_len == n && memcmp(h->method, m, n) == 0;
}

/* An upgrade request goes to the path's WebSocket route; any other request to an HTTP
 * route of that path serving its method (GET routes serve HEAD too), else to the
 * WebSocket route (whose handshake check then explains what is wrong). Exact paths
 * win over prefixes because routes are tried in registration order per kind. */
static route *route_find(wsio_app *app, const http_request *h, const head_index *x, int *method_mismatch) {
  route *ws = NULL, *http_any_method = NULL;
  int path_seen = 0;
  const http_header *up = x->first[KH_UPGRADE];
  int is_upgrade = up && http_token_list_contains(up->value, up->value_len, "websocket");
  for (route *r = app->routes; r; r = r->next) {
    if (!path_matches(r, h)) continue;
    path_seen = 1;
    /* Fast: the first route of the kind that will be chosen decides (neither later
     * match nor path_seen matters once one is returned), so the walk stops there: a
     * long-polling request does not look at the static site's routes after its own. */
    if (r->is_ws) {
      if (!ws) ws = r;
      if (is_upgrade) break;
      continue;
    }
    if (!r->method || method_is(h, r->method) || (strcmp(r->method, "GET") == 0 && method_is(h, "HEAD"))) {
      if (!http_any_method) http_any_method = r;
      if (!is_upgrade) break;
    }
  }
  if (ws && (is_upgrade || !http_any_method)) return ws;
  if (http_any_method) return http_any_method;
  *method_mismatch = path_seen;
  return NULL;
}

static int wants_keep_alive(const http_request *h, const head_index *x) {
  const http_header *conn = x->first[KH_CONNECTION];
  if (h->version_major == 1 && h->version_minor == 0)
    return conn && http_token_list_contains(conn->value, conn->value_len, "keep-alive");
  return !(conn && http_token_list_contains(conn->value, conn->value_len, "close"));
}

/* After a response: close politely, or wait for the next request on keep-alive. */
static void response_done(wsio_conn *c, int keep_alive) {
  if (c->state != CONN_HTTP) return;
  /* While draining, no next request, unless a client is still expected (app_drain_hold). */
  if (!keep_alive || (app_stopping(c->app) && !threads_drain_holds(c->app))) {
    net_shutdown_write(&c->net);
    http_aux_free(c);
    c->state = CONN_HTTP_CLOSING;
    c->t_due = core_now(c->app) + (c->app->o.close_timeout_ms ? c->app->o.close_timeout_ms : 1000);
  } else {
    c->t_due = core_now(c->app) + c->app->o.handshake_timeout_ms; /* idle keep-alive bound */
  }
}

void app_drain_hold(wsio_app *app, int delta) {
  app->drain_holds += (unsigned)delta;
  threads_drain_hold(app, delta); /* --threads: a peer may be the one the client reaches */
  if (app->stopping && !threads_drain_holds(app)) app_drain_release(app);
}

/* The last expected client came: stop accepting, and end the keep-alive connections
 * kept for it, politely (one may still be writing the answer that released the hold). */
void app_drain_release(wsio_app *app) {
  if (app->drain_released) return;
  app->drain_released = 1;
  net_ctx_close_listeners(app->net);
  for (net_conn *nc = net_ctx_first(app->net); nc; nc = nc->next) {
    wsio_conn *c = (wsio_conn *)nc;
    http_aux *a = c->state == CONN_HTTP ? c->aux : NULL;
    if (c->state == CONN_HTTP && !(a && (a->held || a->len))) response_done(c, 0);
  }
}

static void serve_http(wsio_conn *c, route *r, const http_request *h, const head_index *x, const uint8_t *body,
                       size_t blen) {
  wsio_request req = {.h = h, .x = x, .body = body, .body_len = blen, .c = c};
  /* Fast: every field but the header lines' inline buffer (hbuf, read only below hlen)
   * set one by one; an initializer would zero its 160 bytes for every request. */
  wsio_response res;
  res.c = c;
  res.sent = res.held = res.moved = 0;
  res.keep_alive = wants_keep_alive(h, x);
  res.head_only = method_is(h, "HEAD");
  res.hdrs = NULL;
  res.hlen = res.hcap = 0;
  res.on_abort = NULL;
  res.abort_user = NULL;
  r->http(&req, &res, r->user);
  if (res.moved) return; /* answered later through the held copy */
  if (!res.sent) wsio_response_send(&res, 500, NULL, "handler sent no response\n", 25);
  hdrs_free(&res);
  response_done(c, res.keep_alive);
}

static http_aux *http_aux_get(wsio_conn *c) {
  if (!c->aux) {
    http_aux *a = core_calloc(1, sizeof(*a));
    if (!a) return NULL;
    a->kind = AUX_HTTP;
    c->aux = a;
  }
  return c->aux;
}

wsio_response *wsio_response_hold(wsio_response *res, void (*on_abort)(wsio_response *res, void *user),
                                  void *user) {
  if (!res || res->sent || res->held || res->moved) return NULL;
  http_aux *a = http_aux_get(res->c);
  wsio_response *h = core_malloc(sizeof(*h));
  if (!a || !h) {
    free(h);
    return NULL;
  }
  *h = *res;
  if (res->hdrs == res->hbuf) h->hdrs = h->hbuf; /* the copy owns its own inline lines */
  h->held = 1;
  h->on_abort = on_abort;
  h->abort_user = user;
  res->moved = 1;
  res->hdrs = NULL;
  res->hlen = res->hcap = 0;
  a->held = h;
  return h;
}

const wsio_request *core_upgrade_request(const wsio_conn *c) {
  const wsio_request *req = c ? c->app->upgrade_req : NULL;
  return req && req->c == c ? req : NULL;
}

/* Returns 1 when the connection became a WebSocket. */
static int upgrade(wsio_conn *c, route *r, const http_request *h) {
  wsio_app *app = c->app;
  /* Lives until the open callback has run: layers above (Engine.IO) read the request
   * again from there through core_upgrade_request. */
  wsio_request req = {.h = h, .c = c};
  ws_handshake hs;
  if (ws_handshake_check(h, &hs) != 101) {
    stats_count_handshake_failure(app, hs.status);
    http_send_error(c, hs.status, hs.reason, hs.status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL);
    return 0;
  }
  if (!wsio_request_origin_allowed(&req)) { /* cross-site WebSocket hijacking */
    core_count_origin_refusal(&req);
    stats_count_handshake_failure(app, 403);
    app_log(app, WSIO_LOG_INFO, "WebSocket handshake refused: origin not allowed");
    http_send_error(c, 403, "origin not allowed", NULL);
    return 0;
  }
  if (app->stopping) { /* draining: the client should reconnect elsewhere */
    stats_count_handshake_failure(app, 503);
    http_send_error(c, 503, "server shutting down", "Retry-After: 1\r\n");
    return 0;
  }
  if (threads_ws_open(app) >= app->o.max_connections) { /* every thread's, with --threads */
    stats_count_handshake_failure(app, 503);
    http_send_error(c, 503, "too many connections", "Retry-After: 1\r\n");
    return 0;
  }
  const char *lim_reason = NULL, *lim_extra = NULL;
  int lim = limits_admit(c, h, &lim_reason, &lim_extra);
  if (lim) {
    stats_count_handshake_failure(app, lim);
    http_send_error(c, lim, lim_reason, lim_extra);
    return 0;
  }
  if (r->ws.user_data_size > app->user_data_size) {
    http_send_error(c, 500, "route registered after listening with larger user data", NULL);
    return 0;
  }
  /* From here the connection is the route's: its release runs when it is freed,
   * whatever happens next (the hook refuses, a limit or the 101's write fails). */
  c->route = r;
  if (r->ws.upgrade) {
    const char *why = NULL;
    int st = r->ws.upgrade(&req, c->user, &why, r->user);
    if (st != 0) {
      st = st >= 400 && st <= 599 ? st : 403;
      stats_count_handshake_failure(app, st);
      /* The hook's reason is sent exactly as given (Engine.IO clients read it). */
      send_error_body(c, st, why ? why : "refused", NULL, 0);
      return 0;
    }
  }
  lim = limits_open(c, &lim_reason, &lim_extra); /* after the hook: see core_limit_upgrade_of_session */
  if (lim) {
    stats_count_handshake_failure(app, lim);
    http_send_error(c, lim, lim_reason, lim_extra);
    return 0;
  }
  net_set_kernel_send_limit(&c->net, app->o.kernel_send_limit);
  /* Every Sec-WebSocket-Protocol line counts (RFC 7230 3.2.2: one list in several lines). */
  const char *proto = r->ws.subprotocols ? ws_handshake_subprotocol(h, r->ws.subprotocols) : NULL;
  for (int i = 0; proto && r->ws.subprotocols[i]; i++)
    if (r->ws.subprotocols[i] == proto) c->proto_idx = (uint8_t)(i + 1);
  ws_deflate_agreement z;
  int dfl = 0;
  if (app->o.deflate) {
    ws_deflate_config cfg;
    conn_deflate_config(app, &cfg);
    dfl = ws_deflate_negotiate(h, &cfg, &z) == 1;
  }
  /* The response value is at most 128 characters (ws/deflate.h), the protocol a route's. */
  char resp[448];
  size_t n = ws_handshake_response(resp, sizeof(resp), hs.key, hs.key_len, proto, dfl ? z.response : NULL);
  if (!n) {
    http_send_error(c, 500, "subprotocol name too long", NULL);
    return 0;
  }
  if (dfl && !app->dfl_hooked) {
    if (core_hook_add(app, CORE_HOOK_POST, conn_deflate_post, app) < 0) {
      http_send_error(c, 500, "out of memory", NULL);
      return 0;
    }
    app->dfl_hooked = 1;
  }
  if (dfl) {
    c->dfl = (uint8_t)(DFL_ON | (z.server_no_context_takeover ? DFL_TX_RESET : 0) |
                       (z.client_no_context_takeover ? DFL_RX_RESET : 0));
    c->dfl_tx_bits = z.server_window_bits;
    c->dfl_rx_bits = z.client_window_bits;
  }
  if (net_write(&c->net, resp, n) < 0) { /* the 101 is lost: frames must not follow */
    conn_kill(c);
    return 0;
  }
  c->state = CONN_WS;
  app->upgrade_req = &req;
  ws_opened(c);
  app->upgrade_req = NULL;
  return 1;
}

/* Handles one complete head at buf (head_len bytes, then avail - head_len more bytes
 * already received). Returns bytes consumed from buf, or 0 when the body is not
 * complete yet (everything must then be kept). Sets *ws when the connection became a
 * WebSocket (the rest of the buffer is WebSocket data). */
/* Where the request's body is: Content-Length, chunked (decoded in place), or none.
 * Returns 1 when complete (body, length and bytes used set), 0 when more bytes are needed, or
 * an HTTP status to fail with. */
static int find_body(wsio_app *app, const head_index *x, char *rest, size_t avail, const char **body,
                     size_t *blen, size_t *used) {
  const http_header *te = x->first[KH_TRANSFER_ENCODING];
  const http_header *cl = x->first[KH_CONTENT_LENGTH];
  *body = rest;
  *blen = *used = 0;
  if (te) {
    /* RFC 9112 6.3: chunked must be the final coding; with Content-Length it is an
     * attack vector (request smuggling) and refused. */
    if (cl || !http_str_ieq("chunked", te->value, te->value_len) || x->count[KH_TRANSFER_ENCODING] != 1)
      return 501;
    long r = http_chunked_decode(rest, avail, blen, app->o.max_body_size);
    if (r == HTTP_CHUNKED_INCOMPLETE) return 0;
    if (r == HTTP_CHUNKED_TOO_LARGE) return 413;
    if (r < 0) return 400;
    *used = (size_t)r;
    return 1;
  }
  uint64_t n = 0;
  if (cl && (x->count[KH_CONTENT_LENGTH] != 1 || http_parse_content_length(cl->value, cl->value_len, &n) < 0))
    return 400;
  if (n > app->o.max_body_size) return 413;
  if (avail < n) return 0;
  *blen = *used = (size_t)n;
  return 1;
}

static size_t handle_request(wsio_conn *c, const http_request *h, size_t head_len, char *buf, size_t avail,
                             int *ws) {
  wsio_app *app = c->app;
  if (app->group) { /* --threads: a session's requests are served where it lives */
    int owner = threads_owner(app, h);
    if (owner >= 0 && threads_handoff(c, (unsigned)owner, buf, avail) == 0) return avail;
  }
  int mismatch = 0;
  head_index x;
  head_index_build(h, &x);
  route *r = route_find(app, h, &x, &mismatch);
  int is_ws = r && r->is_ws;
  const char *body = NULL;
  size_t blen = 0, bused = 0;
  int st = 1;
  /* A WebSocket upgrade has no body: what follows its head are frames. */
  if (!is_ws) {
    st = find_body(app, &x, buf + head_len, avail - head_len, &body, &blen, &bused);
    if (st == 0) return 0; /* wait for the rest; counted when complete */
  }
  app->st.http_requests_total++;
  if (h->version_major != 1) {
    http_send_error(c, 505, "only HTTP/1.x is supported", NULL);
    return avail;
  }
  if (st != 1) {
    http_send_error(c, st, st == 413 ? "request body too large"
                           : st == 501 ? "unsupported Transfer-Encoding (only chunked)"
                                       : "invalid request body framing", NULL);
    return avail;
  }
  if (is_ws) {
    if (!method_is(h, "GET")) {
      http_send_error(c, 405, "a WebSocket endpoint accepts only GET", "Allow: GET\r\n");
      return avail;
    }
    if (upgrade(c, r, h)) *ws = 1;
    return head_len;
  }
  if (!r) {
    http_send_error(c, mismatch ? 405 : 404, mismatch ? "method not allowed" : "not found", NULL);
    return avail;
  }
  serve_http(c, r, h, &x, (const uint8_t *)body, blen);
  return head_len + bused;
}

static int aux_append(wsio_conn *c, const uint8_t *p, size_t n) {
  http_aux *a = http_aux_get(c);
  if (!a) return -1;
  if (a->len + n > a->cap) {
    size_t cap = grow_cap(a->cap, a->len + n, 1024, SIZE_MAX);
    char *b = cap ? core_realloc(a->buf, cap) : NULL;
    if (!b) return -1;
    a->buf = b;
    a->cap = cap;
  }
  memcpy(a->buf + a->len, p, n);
  a->len += n;
  return 0;
}

/* Parses and serves every complete request in buf[0..n); returns bytes consumed. */
static size_t serve_buffer(wsio_conn *c, char *buf, size_t n, int *ws) {
  wsio_app *app = c->app;
  size_t off = 0;
  size_t maxh = app->o.max_headers < HTTP_MAX_HEADERS_HARD ? app->o.max_headers : HTTP_MAX_HEADERS_HARD;
  http_header hdrs[HTTP_MAX_HEADERS_HARD];
  while (off < n && c->state == CONN_HTTP && !*ws && !(c->aux && ((http_aux *)c->aux)->held)) {
    http_request h = {.headers = hdrs};
    int r = http_parse_request(buf + off, n - off, &h, maxh);
    if (r == HTTP_PARSE_INCOMPLETE) {
      if (n - off > app->o.max_header_size) {
        stats_count_handshake_failure(app, 431);
        http_send_error(c, 431, "request head too large", NULL);
        return n;
      }
      break;
    }
    if (r == HTTP_PARSE_TOO_MANY_HEADERS || (r > 0 && (size_t)r > app->o.max_header_size)) {
      stats_count_handshake_failure(app, 431);
      http_send_error(c, 431, r > 0 ? "request head too large" : "too many header fields", NULL);
      return n;
    }
    if (r < 0) {
      stats_count_handshake_failure(app, 400);
      http_send_error(c, 400, "malformed HTTP request", NULL);
      return n;
    }
    size_t used = handle_request(c, &h, (size_t)r, buf + off, n - off, ws);
    if (!used) break; /* body incomplete: parsed again when it is complete */
    off += used;
  }
  return off;
}

/* Shared tail of serving from the head buffer: hand the rest to WebSocket after an
 * upgrade, or keep what was not consumed. */
static void http_after_serve(wsio_conn *c, http_aux *a, size_t used, int ws) {
  if (ws) {
    /* Bytes after the head are WebSocket frames sent before our 101 arrived: detach
     * the head buffer (c->aux becomes the WebSocket state) and feed them. */
    if (c->aux == a) c->aux = NULL;
    if (used < a->len && c->state == CONN_WS) ws_on_data(c, (uint8_t *)a->buf + used, a->len - used);
    free(a->buf);
    free(a);
    return;
  }
  if (c->state != CONN_HTTP || c->aux != a) return;
  memmove(a->buf, a->buf + used, a->len - used);
  a->len -= used;
}

void http_on_data(wsio_conn *c, uint8_t *p, size_t n) {
  int ws = 0;
  http_aux *a = c->aux;
  if (!a || (!a->len && !a->held)) {
    size_t used = serve_buffer(c, (char *)p, n, &ws);
    if (ws) {
      http_aux_free(c);
      if (used < n && c->state == CONN_WS) ws_on_data(c, p + used, n - used);
      return;
    }
    if (c->state == CONN_HTTP && used < n && aux_append(c, p + used, n - used) < 0) conn_kill(c);
    return;
  }
  if (a->len + n > c->app->o.max_header_size + c->app->o.max_body_size) {
    http_send_error(c, 431, "too much data before the previous request was answered", NULL);
    return;
  }
  if (aux_append(c, p, n) < 0) {
    conn_kill(c);
    return;
  }
  if (a->held) return; /* served after the held response is sent */
  size_t used = serve_buffer(c, a->buf, a->len, &ws);
  http_after_serve(c, a, used, ws);
}

void http_resume(wsio_conn *c) {
  http_aux *a = c->aux;
  if (c->state != CONN_HTTP || !a || a->held || !a->len) return;
  int ws = 0;
  size_t used = serve_buffer(c, a->buf, a->len, &ws);
  http_after_serve(c, a, used, ws);
}
