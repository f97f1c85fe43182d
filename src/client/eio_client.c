/* client/eio_client.c — the Engine.IO v4 client session (client/eio_client.h).
 *
 * Owns: one session attempt: the polling handshake (GET ?EIO=4&transport=
 * polling, the open packet's sid, pingInterval, pingTimeout, maxPayload), the
 * long-polling loop (one GET and at most one POST in flight, as the JS
 * client), the upgrade to WebSocket (probe "2probe"/"3probe", polling paused
 * until its GET and POST are back, then "5"), or a WebSocket-only session;
 * answering pings, the ping timeout (pingInterval + pingTimeout without a
 * ping) and the server's close packet. Must not: know Socket.IO, reconnect
 * (sio_client.c makes a new session), or speak WebSocket itself: the
 * WebSocket transport is the library's wsio_ws_client (ws_client.c), and the
 * packet codec is eio/packet.c, the server's.
 *
 * Polling requests are HTTP/1.1 on connections of a net context of this
 * session's own on the app's loop (as ws_client.c), kept alive: one connection
 * for the GETs and one for the POSTs, as browsers effectively do (the long-poll
 * GET holds one, so a POST needs another). A response is framed by its
 * Content-Length (or, without one, by the end of the stream, and that
 * connection is not reused), bounded by max_payload. A kept connection the
 * server closed while idle is replaced at the next request; one that closes
 * before any byte of the answer to a request written on it gets that request
 * again on a new connection, once (a race with the server's idle timeout,
 * retried as browsers retry a request on a reused connection).
 *
 * https://: each polling connection is a TLS session (net/tls.h's client
 * mode, as ws_client.c's wss://) from a context made when the session opens;
 * keep-alive spares a TLS handshake per request. The WebSocket transport is
 * then wss:// through wsio_ws_client, with the same ca_file, insecure and
 * client certificate (loaded into this session's context when it opens).
 *
 * The host name is resolved off the loop's thread (client/resolve.h) when the
 * session opens, which is each connection attempt of the owner. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/eio_client.h"
#include "client/resolve.h"
#include "core/transport.h"
#include "eio/packet.h"
#include "http/parser.h"
#include "loop/loop.h"
#include "net/net.h"
#include "net/tls.h"
#include "util/base64.h"

#define EC_MAX_HEADERS 64
#define EC_HEAD_MAX (16 * 1024)
#define EC_CLOSE_WAIT_MS 1000

enum { E_OPENING, E_OPEN, E_CLOSING, E_DONE };
enum { T_POLL, T_WS };
enum { UP_NONE, UP_PROBING, UP_PAUSING };

/* A polling connection, and the request in flight on it. */
typedef struct preq {
  net_conn net; /* first: net hands us &net */
  struct eio_client *e;
  struct preq *next;
  int is_post, linked;
  int dead;   /* closed (or never connected): released from the post hook */
  int busy;   /* a request is in flight on it */
  int reused; /* that request went on a connection that had served one */
  int tls_traced;
  char *req; /* the request in flight (kept until answered: the one retry) */
  size_t req_len;
  uint8_t *in;
  size_t len, cap, head_len;
  long long content_length; /* -1: until end of stream */
  int status, keep;         /* keep: the response leaves the connection open */
} preq;

typedef struct opkt {
  struct opkt *next;
  int binary;
  size_t len;
  uint8_t data[]; /* text: type digit + data; binary: raw */
} opkt;

struct eio_client {
  wsio_app *app;
  loop *loop;
  net_ctx *ctx;
  eio_client_config cfg;
  char **hdr_copy;  /* cfg.headers, copied */
  char *hdr_lines;  /* the same as request lines */
  struct sockaddr_storage addr;
  socklen_t addr_len;
  int state, transport, upgrading, destroyed, notify_release;
  int close_pending; /* polling: the close packet goes once the queue drained */
  char sid[128];
  uint32_t ping_interval, ping_timeout;
  size_t server_max_payload;
  int can_upgrade;
  preq *reqs;       /* every polling connection, for the release */
  preq *get, *post; /* the requests in flight */
  preq *idle[2];    /* kept-alive connections waiting: [0] GET, [1] POST */
  client_resolve *resolving;
  struct ssl_ctx_st *tls_ctx; /* https:// polling */
  opkt *ohead, *otail;
  wsio_ws_client *ws, *probe;
  int ws_err, ws_status;
  char ws_detail[400]; /* (a TLS reason with a path or host) */
  loop_timer ping_timer, open_timer, flush, close_timer;
  unsigned long long reqno;
};

static void end_session(eio_client *e, const char *reason, int err, int status,
                        const char *detail);
static void pump(eio_client *e);

static const char *tname(const eio_client *e, int t) {
  (void)e;
  return t == T_WS ? "websocket" : "polling";
}

static void trace(eio_client *e, wsio_frame_dir dir, int t, int type,
                  int binary, const uint8_t *p, size_t n) {
  if (e->cfg.on_packet)
    e->cfg.on_packet(e, dir, tname(e, t), type, binary, p, n, e->cfg.user);
}

static void kick_flush(eio_client *e) {
  /* As ws_client.c: writes made from a timer go out at the next iteration. */
  if (!loop_timer_active(&e->flush))
    (void)loop_timer_start(e->loop, &e->flush, 0, 0);
}

static void flush_fired(loop_timer *t) {
  eio_client *e = (eio_client *)((char *)t - offsetof(eio_client, flush));
  if (e->ctx)
    net_flush_queued(e->ctx);
}

/* ---- the outgoing packet queue ------------------------------------------ */

static int queue_packet(eio_client *e, int type, const void *p, size_t n,
                        int binary) {
  size_t extra = binary ? 0 : 1;
  opkt *k = malloc(sizeof *k + n + extra + 1);
  if (!k)
    return WSIO_ENOMEM;
  k->next = NULL;
  k->binary = binary;
  k->len = n + extra;
  if (!binary)
    k->data[0] = (uint8_t)('0' + type);
  if (n)
    memcpy(k->data + extra, p, n);
  if (e->otail)
    e->otail->next = k;
  else
    e->ohead = k;
  e->otail = k;
  return 0;
}

static void queue_clear(eio_client *e) {
  while (e->ohead) {
    opkt *k = e->ohead;
    e->ohead = k->next;
    free(k);
  }
  e->otail = NULL;
}

/* ---- polling requests ---------------------------------------------------- */

/* Closes a polling connection for good (it is released from the post hook). */
static void pconn_retire(preq *r) {
  eio_client *e = r->e;
  r->dead = 1;
  r->busy = 0;
  if (r->linked)
    net_close(&r->net);
  if (e->get == r)
    e->get = NULL;
  if (e->post == r)
    e->post = NULL;
  if (e->idle[r->is_post] == r)
    e->idle[r->is_post] = NULL;
}

/* The request on r was answered: r waits for the next request of its kind
 * when the response allows it (keep-alive), else it closes. */
static void preq_done(preq *r, int reusable) {
  eio_client *e = r->e;
  free(r->req);
  r->req = NULL;
  r->busy = 0;
  if (e->get == r)
    e->get = NULL;
  if (e->post == r)
    e->post = NULL;
  if (!reusable || r->dead || e->idle[r->is_post]) {
    pconn_retire(r);
    return;
  }
  r->len = r->head_len = 0;
  r->content_length = -1;
  r->status = r->keep = 0;
  e->idle[r->is_post] = r;
}

/* A TLS session that failed (net reports -EPROTO): the session ends with
 * WSIO_ETLS and OpenSSL's reason (the host for a certificate that does not
 * verify). 1 when it was that. */
static int tls_failed(preq *r, int err) {
  eio_client *e = r->e;
  if (!r->net.tls || err != -EPROTO)
    return 0;
  const char *why = net_tls_error(r->net.tls);
  int verify = net_tls_verify_failed(r->net.tls);
  /* (as ws_client.c's tls_failed) */
  const char *refused = !net_tls_cert_refused(r->net.tls) ? ""
                        : e->cfg.cert_file
                            ? " (the server refused the client certificate)"
                            : " (the server wants a client certificate)";
  char msg[400];
  snprintf(msg, sizeof msg, "%s%s%s%s%s", *why ? why : "TLS session failed",
           verify ? " (host " : "", verify ? e->cfg.host : "",
           verify ? ")" : "", refused);
  pconn_retire(r);
  if (e->state == E_CLOSING) {
    e->destroyed = 1;
    return 1;
  }
  end_session(e, "transport error", WSIO_ETLS, 0, msg);
  return 1;
}

static void on_connected(net_conn *nc, int err) {
  preq *r = (preq *)nc;
  eio_client *e = r->e;
  if (r->dead || e->destroyed)
    return;
  if (err) {
    char why[128];
    snprintf(why, sizeof why, "cannot connect: %s", strerror(-err));
    pconn_retire(r);
    end_session(e, "transport error",
                err == -ETIMEDOUT ? WSIO_ETIMEDOUT : WSIO_ENETWORK, 0, why);
    return;
  }
  if (e->tls_ctx) {
    /* The request is written at once: net keeps it until the handshake is
     * done (net/net.h). */
    struct ssl_st *ts = net_tls_client_session(e->tls_ctx, e->cfg.host);
    if (!ts) {
      pconn_retire(r);
      end_session(e, "transport error", WSIO_ENOMEM, 0,
                  "out of memory for the TLS session");
      return;
    }
    net_conn_start_tls(&r->net, ts);
  }
  if (net_write(&r->net, r->req, r->req_len) < 0) {
    if (tls_failed(r, -EPROTO))
      return;
    pconn_retire(r);
    end_session(e, "transport error", WSIO_ENETWORK, 0,
                "cannot send a polling request");
    return;
  }
  kick_flush(e);
}

/* Sends a request (req: its bytes, taken over) on the kept connection of its
 * kind, or on a new one. */
static int preq_send(eio_client *e, int is_post, char *req, size_t len) {
  preq *r = e->idle[is_post];
  if (r) {
    e->idle[is_post] = NULL;
    r->req = req;
    r->req_len = len;
    r->busy = r->reused = 1;
    if (net_write(&r->net, req, len) == 0) {
      if (is_post)
        e->post = r;
      else
        e->get = r;
      kick_flush(e);
      return 0;
    }
    /* The kept connection failed under us: a new one. */
    r->req = NULL;
    pconn_retire(r);
  }
  r = calloc(1, sizeof *r);
  if (!r) {
    free(req);
    return WSIO_ENOMEM;
  }
  r->e = e;
  r->is_post = is_post;
  r->content_length = -1;
  r->req = req;
  r->req_len = len;
  r->busy = 1;
  r->next = e->reqs;
  e->reqs = r;
  int rc = net_connect(e->ctx, &r->net, (struct sockaddr *)&e->addr,
                       e->addr_len, e->cfg.timeout_ms, on_connected);
  if (rc < 0) {
    r->dead = 1;
    r->busy = 0;
    return WSIO_ENETWORK;
  }
  r->linked = 1;
  if (is_post)
    e->post = r;
  else
    e->get = r;
  return 0;
}

static int preq_start(eio_client *e, int is_post, const uint8_t *body,
                      size_t blen) {
  size_t cap = 512 + strlen(e->cfg.path) + strlen(e->cfg.host_header) +
               (e->hdr_lines ? strlen(e->hdr_lines) : 0) + blen;
  char *req = malloc(cap);
  if (!req)
    return WSIO_ENOMEM;
  /* HTTP/1.1: the connection stays open unless a side says otherwise. */
  int n = snprintf(
      req, cap,
      "%s %s?EIO=4&transport=polling&t=%llu%s%s HTTP/1.1\r\nHost: %s\r\n"
      "Accept: */*\r\n%s",
      is_post ? "POST" : "GET", e->cfg.path, ++e->reqno,
      e->sid[0] ? "&sid=" : "", e->sid, e->cfg.host_header,
      e->hdr_lines ? e->hdr_lines : "");
  if (is_post)
    n += snprintf(req + n, cap - (size_t)n,
                  "Content-Type: text/plain;charset=UTF-8\r\n"
                  "Content-Length: %zu\r\n",
                  blen);
  n += snprintf(req + n, cap - (size_t)n, "\r\n");
  if (blen)
    memcpy(req + n, body, blen);
  return preq_send(e, is_post, req, (size_t)n + blen);
}

static void parse_open(eio_client *e, const uint8_t *p, size_t n) {
  json_error_t jerr;
  json_t *o = json_loadb((const char *)p, n, 0, &jerr);
  json_t *sid = o ? json_object_get(o, "sid") : NULL;
  json_t *pi = o ? json_object_get(o, "pingInterval") : NULL;
  json_t *pt = o ? json_object_get(o, "pingTimeout") : NULL;
  json_t *mp = o ? json_object_get(o, "maxPayload") : NULL;
  json_t *up = o ? json_object_get(o, "upgrades") : NULL;
  if (!json_is_object(o) || !json_is_string(sid) ||
      json_string_length(sid) == 0 ||
      json_string_length(sid) >= sizeof e->sid || !json_is_integer(pi) ||
      !json_is_integer(pt) || json_integer_value(pi) <= 0 ||
      json_integer_value(pt) <= 0 || json_integer_value(pi) > 86400000 ||
      json_integer_value(pt) > 86400000) {
    json_decref(o);
    end_session(e, "parse error", WSIO_EPROTOCOL, 0,
                "a malformed Engine.IO open packet (no sid, pingInterval or "
                "pingTimeout)");
    return;
  }
  const char *s = json_string_value(sid);
  for (const char *c = s; *c; c++)
    if ((unsigned char)*c <= ' ' || *c == '&' || *c == '#' || *c == '%' ||
        (unsigned char)*c >= 0x7f) {
      json_decref(o);
      end_session(e, "parse error", WSIO_EPROTOCOL, 0,
                  "the open packet's sid has characters a URL cannot carry");
      return;
    }
  snprintf(e->sid, sizeof e->sid, "%s", s);
  e->ping_interval = (uint32_t)json_integer_value(pi);
  e->ping_timeout = (uint32_t)json_integer_value(pt);
  e->server_max_payload =
      json_is_integer(mp) && json_integer_value(mp) > 0
          ? (size_t)json_integer_value(mp)
          : 1000000;
  size_t i;
  json_t *v;
  json_array_foreach(up, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), "websocket") == 0)
      e->can_upgrade = 1;
  }
  json_decref(o);
  e->state = E_OPEN;
  loop_timer_stop(e->loop, &e->open_timer);
  (void)loop_timer_start(e->loop, &e->ping_timer,
                         e->ping_interval + e->ping_timeout, 0);
  if (e->cfg.on_open)
    e->cfg.on_open(e, e->sid, e->cfg.user);
}

static void start_probe(eio_client *e);

/* One packet from the server, on transport t. Returns 0 to go on, -1 when the
 * session ended (or was closed by a callback). */
static int handle_packet(eio_client *e, int t, const eio_packet *pk) {
  trace(e, WSIO_FRAME_IN, t, pk->type, pk->binary, pk->data, pk->len);
  if (e->destroyed || e->state == E_DONE || e->state == E_CLOSING)
    return -1;
  if (e->state == E_OPENING) {
    if (pk->type != EIO_OPEN || pk->binary) {
      end_session(e, "parse error", WSIO_EPROTOCOL, 0,
                  "the first Engine.IO packet is not an open packet");
      return -1;
    }
    parse_open(e, pk->data, pk->len);
    if (e->destroyed || e->state != E_OPEN)
      return -1;
    if (e->transport == T_POLL && e->can_upgrade &&
        e->cfg.transports == WSIO_SIO_POLLING_UPGRADE)
      start_probe(e);
    return 0;
  }
  switch (pk->type) {
  case EIO_PING:
    /* Engine.IO v4: the server pings every pingInterval and the client
     * answers; a ping that does not come within pingInterval + pingTimeout of
     * the last one (or of the open) ends the session, as engine.io-client. */
    (void)loop_timer_start(e->loop, &e->ping_timer,
                           e->ping_interval + e->ping_timeout, 0);
    if (queue_packet(e, EIO_PONG, pk->data, pk->len, 0) == 0)
      pump(e);
    return 0;
  case EIO_MESSAGE:
    if (e->cfg.on_message)
      e->cfg.on_message(e, pk->data, pk->len, pk->binary, e->cfg.user);
    return e->destroyed || e->state != E_OPEN ? -1 : 0;
  case EIO_CLOSE:
    end_session(e, "transport close", 0, 0, NULL);
    return -1;
  case EIO_PONG:
  case EIO_NOOP:
    return 0;
  default:
    end_session(e, "parse error", WSIO_EPROTOCOL, 0,
                "an unexpected Engine.IO packet (open or upgrade) from the "
                "server");
    return -1;
  }
}

static void polling_payload(eio_client *e, uint8_t *p, size_t n) {
  size_t off = 0;
  eio_packet pk;
  if (n == 0) {
    end_session(e, "parse error", WSIO_EPROTOCOL, 0,
                "an empty polling payload");
    return;
  }
  for (;;) {
    int r = eio_payload_next(p, n, &off, &pk);
    if (r == 0)
      return;
    if (r < 0) {
      end_session(e, "parse error", WSIO_EPROTOCOL, 0,
                  "a malformed polling payload from the server");
      return;
    }
    if (handle_packet(e, T_POLL, &pk) < 0)
      return;
  }
}

static void preq_complete(preq *r) {
  eio_client *e = r->e;
  uint8_t *body = r->in + r->head_len;
  size_t blen = r->len - r->head_len;
  int is_post = r->is_post, status = r->status;
  if (r->content_length >= 0)
    blen = (size_t)r->content_length;
  /* (The body stays in r->in until r's next response: r may carry the next
   * request while this payload is handled.) */
  preq_done(r, r->keep && r->content_length >= 0 &&
                   r->len - r->head_len == (size_t)r->content_length);
  if (status != 200) {
    char why[200];
    snprintf(why, sizeof why, "the server answered %d to a polling %s: %.*s",
             status, is_post ? "POST" : "GET", (int)(blen > 100 ? 100 : blen),
             (const char *)body);
    for (char *c = why; *c; c++)
      if ((unsigned char)*c < ' ')
        *c = ' ';
    end_session(e, "transport error", WSIO_EREFUSED, status, why);
    return;
  }
  if (!is_post)
    polling_payload(e, body, blen);
  if (!e->destroyed && e->state == E_CLOSING && !e->post) {
    if (!e->ohead && e->close_pending) {
      e->close_pending = 0;
      if (queue_packet(e, EIO_CLOSE, NULL, 0, 0) != 0) {
        e->destroyed = 1;
        return;
      }
    }
    if (e->ohead)
      pump(e); /* packets queued behind the POST, then the close packet */
    else
      e->destroyed = 1; /* the close packet was delivered */
  }
  if (!e->destroyed && e->state == E_OPEN)
    pump(e);
}

static void on_data(net_conn *nc, uint8_t *p, size_t n) {
  preq *r = (preq *)nc;
  eio_client *e = r->e;
  if (r->dead || e->destroyed)
    return;
  if (!r->busy) {
    pconn_retire(r); /* bytes nobody asked for: not a connection to reuse */
    return;
  }
  if (r->net.tls && !r->tls_traced) {
    /* The first plaintext: the TLS handshake is complete. */
    r->tls_traced = 1;
    if (e->cfg.on_tls) {
      char info[600];
      e->cfg.on_tls(e, net_tls_describe(r->net.tls, info, sizeof info),
                    e->cfg.user);
      if (r->dead || e->destroyed)
        return;
    }
  }
  size_t limit = EC_HEAD_MAX + e->cfg.max_payload;
  if (r->len + n > limit) {
    char why[96];
    pconn_retire(r);
    snprintf(why, sizeof why, "a polling response over %zu bytes (max_payload)",
             e->cfg.max_payload);
    end_session(e, "transport error", WSIO_ETOOBIG, 0, why);
    return;
  }
  if (r->len + n > r->cap) {
    size_t c = r->cap ? r->cap : 4096;
    while (c < r->len + n)
      c *= 2;
    uint8_t *q = realloc(r->in, c + 1);
    if (!q) {
      pconn_retire(r);
      end_session(e, "transport error", WSIO_ENOMEM, 0, "out of memory");
      return;
    }
    r->in = q;
    r->cap = c;
  }
  memcpy(r->in + r->len, p, n);
  r->len += n;
  if (!r->head_len) {
    http_header hdrs[EC_MAX_HEADERS];
    http_response res = {.headers = hdrs};
    int h = http_parse_response((const char *)r->in, r->len, &res,
                                EC_MAX_HEADERS);
    if (h == HTTP_PARSE_INCOMPLETE) {
      if (r->len > EC_HEAD_MAX) {
        pconn_retire(r);
        end_session(e, "transport error", WSIO_EPROTOCOL, 0,
                    "the polling response head is over 16 KiB");
      }
      return;
    }
    if (h < 0) {
      pconn_retire(r);
      end_session(e, "transport error", WSIO_EPROTOCOL, 0,
                  "a malformed HTTP response to a polling request");
      return;
    }
    r->head_len = (size_t)h;
    r->status = res.status;
    /* RFC 9112 9.3: HTTP/1.1 stays open unless "close"; 1.0 only with
     * "keep-alive". */
    const http_header *ch = http_response_header_find(&res, "Connection");
    r->keep = res.version_minor >= 1
                  ? !(ch && http_token_list_contains(ch->value, ch->value_len,
                                                    "close"))
                  : ch && http_token_list_contains(ch->value, ch->value_len,
                                                   "keep-alive");
    const http_header *cl = http_response_header_find(&res, "Content-Length");
    const http_header *te =
        http_response_header_find(&res, "Transfer-Encoding");
    if (te && !(te->value_len == 8 && strncasecmp(te->value, "identity", 8) == 0)) {
      pconn_retire(r);
      end_session(e, "transport error", WSIO_EPROTOCOL, 0,
                  "a polling response with a transfer coding (Engine.IO "
                  "servers send a Content-Length)");
      return;
    }
    if (cl) {
      char num[24];
      size_t l = cl->value_len < sizeof num - 1 ? cl->value_len : sizeof num - 1;
      memcpy(num, cl->value, l);
      num[l] = 0;
      char *end;
      long long v = strtoll(num, &end, 10);
      if (l == 0 || *end || v < 0) {
        pconn_retire(r);
        end_session(e, "transport error", WSIO_EPROTOCOL, 0,
                    "a bad Content-Length in a polling response");
        return;
      }
      if ((unsigned long long)v > e->cfg.max_payload) {
        char why[128];
        pconn_retire(r);
        snprintf(why, sizeof why,
                 "the server announced a %lld-byte Engine.IO payload (over "
                 "max_payload %zu)",
                 v, e->cfg.max_payload);
        end_session(e, "transport error", WSIO_ETOOBIG, 0, why);
        return;
      }
      r->content_length = v;
    }
  }
  if (r->content_length >= 0 &&
      r->len - r->head_len >= (size_t)r->content_length)
    preq_complete(r);
}

static void on_end(net_conn *nc, int err) {
  preq *r = (preq *)nc;
  eio_client *e = r->e;
  if (r->dead || e->destroyed)
    return;
  if (!r->busy) {
    /* A kept connection the server closed while idle (its keep-alive
     * timeout): the next request opens another. */
    pconn_retire(r);
    return;
  }
  if (r->head_len && r->content_length < 0) {
    preq_complete(r); /* framed by the end of the stream */
    return;
  }
  if (tls_failed(r, err))
    return;
  if (r->reused && r->len == 0 && e->state != E_DONE) {
    /* Closed before any byte of the answer to a request written on a kept
     * connection: the server's idle timeout crossed our write. Once more on a
     * new connection, as browsers do. */
    char *req = r->req;
    size_t rl = r->req_len;
    int is_post = r->is_post;
    r->req = NULL;
    pconn_retire(r);
    if (preq_send(e, is_post, req, rl) < 0)
      end_session(e, "transport error", WSIO_ENETWORK, 0,
                  "cannot send a polling request again");
    return;
  }
  /* (as ws_client.c's on_end: a refused client certificate may look so) */
  int after_tls = e->cfg.cert_file && !r->reused && r->len == 0 && r->net.tls &&
                  net_tls_established(r->net.tls);
  char why[256];
  snprintf(why, sizeof why, "the polling connection was lost%s%s%s",
           err ? ": " : "", err ? strerror(-err) : "",
           after_tls ? " (right after TLS, before any answer: did the server "
                       "refuse the client certificate?)"
                     : "");
  pconn_retire(r);
  if (e->state == E_CLOSING) {
    e->destroyed = 1;
    return;
  }
  end_session(e, "transport close", WSIO_ENETWORK, 0, why);
}

static void on_drain(net_conn *nc) { (void)nc; }

static net_conn *on_accept(net_ctx *ctx, void *user) {
  (void)ctx;
  (void)user;
  return NULL;
}

/* ---- writing: a POST of the queued packets, or WebSocket frames ---------- */

static void post_queued(eio_client *e) {
  /* A payload: records joined by 0x1E, binary ones as "b" + base64, cut at the
   * server's maxPayload (one packet at least), as the JS client does. */
  size_t total = 0, count = 0;
  for (opkt *k = e->ohead; k; k = k->next) {
    size_t l = (k->binary ? 1 + base64_len(k->len) : k->len) + (count ? 1 : 0);
    if (count && total + l > e->server_max_payload)
      break;
    total += l;
    count++;
  }
  uint8_t *body = malloc(total + 1);
  if (!body) {
    end_session(e, "transport error", WSIO_ENOMEM, 0, "out of memory");
    return;
  }
  size_t w = 0;
  for (size_t i = 0; i < count; i++) {
    opkt *k = e->ohead;
    if (i)
      body[w++] = EIO_RECORD_SEPARATOR;
    if (k->binary) {
      body[w++] = 'b';
      w += base64_encode((char *)body + w, k->data, k->len);
      trace(e, WSIO_FRAME_OUT, T_POLL, EIO_MESSAGE, 1, k->data, k->len);
    } else {
      memcpy(body + w, k->data, k->len);
      w += k->len;
      trace(e, WSIO_FRAME_OUT, T_POLL, k->data[0] - '0', 0, k->data + 1,
            k->len - 1);
    }
    e->ohead = k->next;
    free(k);
  }
  if (!e->ohead)
    e->otail = NULL;
  int r = preq_start(e, 1, body, w);
  free(body);
  if (r < 0)
    end_session(e, "transport error", r, 0, "cannot start a polling POST");
}

static void ws_flush(eio_client *e) {
  while (e->ohead && e->ws) {
    opkt *k = e->ohead;
    e->ohead = k->next;
    if (!e->ohead)
      e->otail = NULL;
    int r = wsio_ws_client_send(e->ws, k->data, k->len,
                                k->binary ? WSIO_OP_BINARY : WSIO_OP_TEXT);
    if (k->binary)
      trace(e, WSIO_FRAME_OUT, T_WS, EIO_MESSAGE, 1, k->data, k->len);
    else
      trace(e, WSIO_FRAME_OUT, T_WS, k->data[0] - '0', 0, k->data + 1,
            k->len - 1);
    free(k);
    if (e->destroyed)
      return;
    if (r == WSIO_EDROPPED || r == WSIO_ETOOBIG) {
      end_session(e, "transport error", r, 0,
                  r == WSIO_ETOOBIG
                      ? "a packet over the WebSocket message size limit"
                      : "the WebSocket send buffer is full");
      return;
    }
    if (r < 0 && r != WSIO_EINVAL)
      return; /* the WebSocket is failing: its on_close ends the session */
  }
}

/* Starts whatever the state allows: the long-poll GET, a POST, WebSocket
 * writes, and the switch to WebSocket once polling is paused. */
static void pump(eio_client *e) {
  if (e->destroyed || (e->state != E_OPEN && e->state != E_CLOSING))
    return;
  if (e->transport == T_WS) {
    ws_flush(e);
    return;
  }
  if (e->upgrading == UP_PAUSING) {
    if (e->get || e->post)
      return; /* paused once both are back (the server ends the GET with noop) */
    if (wsio_ws_client_send(e->probe, "5", 1, WSIO_OP_TEXT) < 0) {
      end_session(e, "transport error", WSIO_ENETWORK, 0,
                  "the upgraded WebSocket failed");
      return;
    }
    trace(e, WSIO_FRAME_OUT, T_WS, EIO_UPGRADE, 0, NULL, 0);
    e->ws = e->probe;
    e->probe = NULL;
    e->transport = T_WS;
    /* Polling is over: its kept connections go. */
    for (int k = 0; k < 2; k++)
      if (e->idle[k])
        pconn_retire(e->idle[k]);
    e->upgrading = UP_NONE;
    if (e->cfg.on_upgrade)
      e->cfg.on_upgrade(e, e->cfg.user);
    if (!e->destroyed)
      ws_flush(e);
    return;
  }
  if (e->ohead && !e->post)
    post_queued(e);
  if (!e->destroyed && e->state == E_OPEN && !e->get)
    if (preq_start(e, 0, NULL, 0) < 0)
      end_session(e, "transport error", WSIO_ENETWORK, 0,
                  "cannot start a polling GET");
}

/* ---- the WebSocket transport and the probe -------------------------------- */

static void ws_gone(eio_client *e, wsio_ws_client *cl) {
  if (cl == e->probe) {
    /* A failed probe leaves the session on polling, as the JS client. */
    wsio_ws_client_destroy(cl);
    e->probe = NULL;
    if (e->upgrading == UP_PAUSING) {
      e->upgrading = UP_NONE;
      pump(e);
    }
    e->upgrading = UP_NONE;
    return;
  }
  if (cl != e->ws)
    return;
  wsio_ws_client_destroy(cl);
  e->ws = NULL;
  if (e->state == E_CLOSING) {
    e->destroyed = 1;
    return;
  }
  if (e->ws_err)
    end_session(e, e->ws_err == WSIO_ENETWORK ? "transport close"
                                               : "transport error",
                e->ws_err, e->ws_status, e->ws_detail);
  else
    end_session(e, "transport close", 0, 0, NULL);
}

static void ws_on_open(wsio_ws_client *cl, const char *protocol, void *user) {
  (void)protocol;
  eio_client *e = user;
  if (cl != e->probe)
    return; /* WebSocket only: the server's open packet follows */
  if (wsio_ws_client_send(cl, "2probe", 6, WSIO_OP_TEXT) == 0)
    trace(e, WSIO_FRAME_OUT, T_WS, EIO_PING, 0, (const uint8_t *)"probe", 5);
}

static void ws_on_message(wsio_ws_client *cl, const uint8_t *data, size_t len,
                          wsio_opcode op, void *user) {
  eio_client *e = user;
  eio_packet pk = {.type = EIO_MESSAGE, .binary = 1, .data = data, .len = len};
  if (op == WSIO_OP_TEXT &&
      eio_packet_decode_text(data, len, &pk) != 0) {
    if (cl == e->probe) {
      ws_gone(e, cl);
      return;
    }
    end_session(e, "parse error", WSIO_EPROTOCOL, 0,
                "a malformed Engine.IO packet from the server");
    return;
  }
  if (cl == e->probe) {
    trace(e, WSIO_FRAME_IN, T_WS, pk.type, pk.binary, pk.data, pk.len);
    if (pk.type == EIO_PONG && pk.len == 5 && memcmp(pk.data, "probe", 5) == 0 &&
        e->upgrading == UP_PROBING) {
      e->upgrading = UP_PAUSING;
      pump(e);
    } else {
      ws_gone(e, cl);
    }
    return;
  }
  if (cl == e->ws)
    (void)handle_packet(e, T_WS, &pk);
}

static void ws_on_close(wsio_ws_client *cl, unsigned code, const char *reason,
                        size_t reason_len, int again, void *user) {
  (void)code;
  (void)reason;
  (void)reason_len;
  (void)again;
  ws_gone(user, cl);
}

static void ws_on_error(wsio_ws_client *cl, int err, int status,
                        const char *detail, void *user) {
  eio_client *e = user;
  if (cl == e->ws) {
    e->ws_err = err;
    e->ws_status = status;
    snprintf(e->ws_detail, sizeof e->ws_detail, "%s", detail);
  }
  if (wsio_ws_client_is_done(cl))
    ws_gone(e, cl);
}

static void ws_on_tls(wsio_ws_client *cl, const char *info, void *user) {
  (void)cl;
  eio_client *e = user;
  if (e->cfg.on_tls)
    e->cfg.on_tls(e, info, e->cfg.user);
}

static wsio_ws_client *ws_start(eio_client *e, int with_sid) {
  size_t cap = 64 + strlen(e->cfg.host_header) + strlen(e->cfg.path) +
               strlen(e->sid);
  char *url = malloc(cap);
  if (!url)
    return NULL;
  snprintf(url, cap, "%s://%s%s?EIO=4&transport=websocket%s%s",
           e->cfg.tls ? "wss" : "ws", e->cfg.host_header, e->cfg.path, with_sid ? "&sid=" : "",
           with_sid ? e->sid : "");
  wsio_ws_client_options o = {0};
  o.headers = (const char *const *)e->hdr_copy;
  o.connect_timeout_ms = o.handshake_timeout_ms = e->cfg.timeout_ms;
  o.max_message_size = e->cfg.max_payload;
  o.max_backpressure = e->cfg.max_payload + (1u << 20);
  o.no_reconnect = 1;
  o.ca_file = e->cfg.ca_file;
  o.insecure = e->cfg.insecure;
  o.cert_file = e->cfg.cert_file;
  o.key_file = e->cfg.key_file;
  if (e->cfg.on_tls)
    o.on_tls = ws_on_tls;
  o.user = e;
  o.on_open = ws_on_open;
  o.on_message = ws_on_message;
  o.on_close = ws_on_close;
  o.on_error = ws_on_error;
  int err;
  wsio_ws_client *cl = wsio_ws_client_create(e->app, url, &o, &err);
  free(url);
  return cl;
}

static void start_probe(eio_client *e) {
  e->probe = ws_start(e, 1);
  if (e->probe)
    e->upgrading = UP_PROBING;
}

/* ---- the end of the session ---------------------------------------------- */

static void end_session(eio_client *e, const char *reason, int err, int status,
                        const char *detail) {
  if (e->destroyed || e->state == E_DONE)
    return;
  if (e->state == E_CLOSING) {
    e->destroyed = 1;
    return;
  }
  e->state = E_DONE;
  loop_timer_stop(e->loop, &e->ping_timer);
  loop_timer_stop(e->loop, &e->open_timer);
  client_resolve_cancel(e->resolving);
  e->resolving = NULL;
  for (preq *r = e->reqs; r; r = r->next)
    if (!r->dead)
      pconn_retire(r);
  if (e->ws)
    wsio_ws_client_destroy(e->ws);
  if (e->probe)
    wsio_ws_client_destroy(e->probe);
  e->ws = e->probe = NULL;
  queue_clear(e);
  if (e->cfg.on_close)
    e->cfg.on_close(e, reason, err, status, detail, e->cfg.user);
}

static void ping_fired(loop_timer *t) {
  eio_client *e = (eio_client *)((char *)t - offsetof(eio_client, ping_timer));
  end_session(e, "ping timeout", 0, 0, NULL);
}

static void open_fired(loop_timer *t) {
  eio_client *e = (eio_client *)((char *)t - offsetof(eio_client, open_timer));
  if (e->ws_err && e->state == E_OPENING && !e->ws) {
    char why[sizeof e->ws_detail];
    memcpy(why, e->ws_detail, sizeof why);
    end_session(e, "transport error", e->ws_err, 0, why);
    return;
  }
  end_session(e, "transport error", WSIO_ETIMEDOUT, 0,
              "no Engine.IO open packet in time");
}

static void close_fired(loop_timer *t) {
  eio_client *e = (eio_client *)((char *)t - offsetof(eio_client, close_timer));
  e->destroyed = 1;
}

/* ---- life cycle ----------------------------------------------------------- */

static void release_all(eio_client *e, int touch_ws) {
  client_resolve_cancel(e->resolving);
  e->resolving = NULL;
  loop_timer_stop(e->loop, &e->ping_timer);
  loop_timer_stop(e->loop, &e->open_timer);
  loop_timer_stop(e->loop, &e->flush);
  loop_timer_stop(e->loop, &e->close_timer);
  while (e->reqs) {
    preq *r = e->reqs;
    e->reqs = r->next;
    if (r->linked)
      net_conn_release(&r->net);
    free(r->req);
    free(r->in);
    free(r);
  }
  if (touch_ws) {
    if (e->ws)
      wsio_ws_client_destroy(e->ws);
    if (e->probe)
      wsio_ws_client_destroy(e->probe);
  }
  e->ws = e->probe = NULL;
  if (e->ctx)
    net_ctx_destroy(e->ctx);
  e->ctx = NULL;
  net_tls_ctx_free(e->tls_ctx);
  e->tls_ctx = NULL;
  queue_clear(e);
  for (char **h = e->hdr_copy; h && *h; h++)
    free(*h);
  free(e->hdr_copy);
  free(e->hdr_lines);
  free((char *)e->cfg.host);
  free((char *)e->cfg.port);
  free((char *)e->cfg.host_header);
  free((char *)e->cfg.path);
  free((char *)e->cfg.ca_file);
  free((char *)e->cfg.cert_file);
  free((char *)e->cfg.key_file);
}

static void ec_app_destroyed(void *arg);

static void ec_post(void *arg) {
  eio_client *e = arg;
  if (e->destroyed) {
    if (e->notify_release && e->cfg.on_released)
      e->cfg.on_released(e, e->cfg.user);
    core_hook_remove(e->app, CORE_HOOK_POST, ec_post, e);
    core_hook_remove(e->app, CORE_HOOK_DESTROY, ec_app_destroyed, e);
    release_all(e, 1);
    free(e);
    return;
  }
  if (!e->ctx)
    return;
  net_read_queued(e->ctx);
  net_flush_queued(e->ctx);
  loop_timer_stop(e->loop, &e->flush);
  for (preq **pp = &e->reqs; *pp;) {
    preq *r = *pp;
    if (r->dead && (!r->linked || (r->net.flags & NET_F_CLOSED))) {
      *pp = r->next;
      if (r->linked)
        net_conn_release(&r->net);
      free(r->req);
      free(r->in);
      free(r);
      continue;
    }
    pp = &r->next;
  }
}

static void ec_app_destroyed(void *arg) {
  /* The WebSocket clients are freed by their own destroy hooks. */
  eio_client *e = arg;
  release_all(e, 0);
  free(e);
}

static int copy_config(eio_client *e, const eio_client_config *cfg) {
  e->cfg = *cfg;
  e->cfg.host = strdup(cfg->host);
  e->cfg.port = strdup(cfg->port);
  e->cfg.host_header = strdup(cfg->host_header);
  e->cfg.path = strdup(cfg->path);
  e->cfg.headers = NULL;
  e->cfg.ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
  e->cfg.cert_file = cfg->cert_file ? strdup(cfg->cert_file) : NULL;
  e->cfg.key_file = cfg->key_file ? strdup(cfg->key_file) : NULL;
  if (!e->cfg.host || !e->cfg.port || !e->cfg.host_header || !e->cfg.path ||
      (cfg->ca_file && !e->cfg.ca_file) ||
      (cfg->cert_file && !e->cfg.cert_file) ||
      (cfg->key_file && !e->cfg.key_file))
    return WSIO_ENOMEM;
  size_t n = 0, total = 0;
  for (const char *const *h = cfg->headers; h && *h; h++, n++)
    total += strlen(*h) + 2;
  if (!n)
    return 0;
  e->hdr_copy = calloc(n + 1, sizeof *e->hdr_copy);
  e->hdr_lines = malloc(total + 1);
  if (!e->hdr_copy || !e->hdr_lines)
    return WSIO_ENOMEM;
  char *w = e->hdr_lines;
  for (size_t i = 0; i < n; i++) {
    if (!(e->hdr_copy[i] = strdup(cfg->headers[i])))
      return WSIO_ENOMEM;
    w += sprintf(w, "%s\r\n", cfg->headers[i]);
  }
  return 0;
}

/* Prefers an IPv4 address: servers in tests and behind proxies commonly listen
 * on 127.0.0.1 while "localhost" resolves to ::1 first. */
static void pick_addr(eio_client *e, const client_addrs *a) {
  unsigned k = 0;
  for (unsigned i = 0; i < a->n; i++)
    if (a->addr[i].ss_family == AF_INET) {
      k = i;
      break;
    }
  e->addr = a->addr[k];
  e->addr_len = a->len[k];
}

/* The lookup's answer (on the loop's thread, client/resolve.c): the handshake
 * GET. */
static void resolved(void *user, int err, const char *why,
                     const client_addrs *a) {
  eio_client *e = user;
  e->resolving = NULL;
  if (e->destroyed || e->state != E_OPENING)
    return;
  if (err) {
    end_session(e, "transport error", err, 0, why);
    return;
  }
  pick_addr(e, a);
  if (preq_start(e, 0, NULL, 0) < 0)
    end_session(e, "transport error", WSIO_ENETWORK, 0,
                "cannot start the polling handshake");
}

/* The polling handshake: at once for an IP literal, else once the host is
 * resolved (getaddrinfo may wait seconds for a DNS server: never on the loop's
 * thread; the open timer bounds the lookup too). */
static int poll_open(eio_client *e, const char *tls_why) {
  if (e->cfg.tls && !e->tls_ctx)
    return *tls_why ? WSIO_ETLS : WSIO_ENOMEM;
  client_addrs a;
  if (client_resolve_numeric(e->cfg.host, e->cfg.port, &a)) {
    pick_addr(e, &a);
    return preq_start(e, 0, NULL, 0);
  }
  e->resolving =
      client_resolve_start(e->loop, e->cfg.host, e->cfg.port, resolved, e);
  return e->resolving ? 0 : WSIO_ENETWORK;
}

eio_client *eio_client_open(wsio_app *app, const eio_client_config *cfg,
                            int *err) {
  static const net_handlers h = {on_data, on_end, on_drain, on_accept, NULL};
  eio_client *e = calloc(1, sizeof *e);
  int rc = 0;
  if (!e) {
    *err = WSIO_ENOMEM;
    return NULL;
  }
  e->app = app;
  e->loop = core_loop(app);
  e->ping_timer.cb = ping_fired;
  e->open_timer.cb = open_fired;
  e->flush.cb = flush_fired;
  e->close_timer.cb = close_fired;
  rc = copy_config(e, cfg);
  char tls_why[400] = "";
  if (!rc && e->cfg.tls && e->cfg.transports != WSIO_SIO_WEBSOCKET &&
      !(e->tls_ctx = net_tls_client_ctx(e->cfg.ca_file, e->cfg.insecure,
                                        tls_why, sizeof tls_why)) &&
      !*tls_why)
    snprintf(tls_why, sizeof tls_why, "cannot make a TLS context");
  /* The client certificate is read again at each session (each reconnection
   * of the owner): a renewed pair is picked up without a new client. */
  if (e->tls_ctx && e->cfg.cert_file &&
      net_tls_client_cert(e->tls_ctx, e->cfg.cert_file, e->cfg.key_file,
                          tls_why, sizeof tls_why) < 0) {
    net_tls_ctx_free(e->tls_ctx);
    e->tls_ctx = NULL;
  }
  if (!rc && !(e->ctx = net_ctx_create(e->loop, &h, e, 0)))
    rc = WSIO_ENOMEM;
  if (!rc && core_hook_add(app, CORE_HOOK_POST, ec_post, e) != 0)
    rc = WSIO_ENOMEM;
  if (!rc && core_hook_add(app, CORE_HOOK_DESTROY, ec_app_destroyed, e) != 0) {
    core_hook_remove(app, CORE_HOOK_POST, ec_post, e);
    rc = WSIO_ENOMEM;
  }
  if (rc) {
    release_all(e, 1);
    free(e);
    *err = rc;
    return NULL;
  }
  e->state = E_OPENING;
  (void)loop_timer_start(e->loop, &e->open_timer, e->cfg.timeout_ms, 0);
  if (e->cfg.transports == WSIO_SIO_WEBSOCKET) {
    e->transport = T_WS;
    e->ws = ws_start(e, 0);
    rc = e->ws ? 0 : WSIO_ENETWORK;
  } else {
    e->transport = T_POLL;
    rc = poll_open(e, tls_why);
  }
  if (rc) {
    /* Reported from the loop, as every later failure. */
    e->ws_err = rc;
    if (rc == WSIO_ETLS)
      snprintf(e->ws_detail, sizeof e->ws_detail, "%s", tls_why);
    else
      snprintf(e->ws_detail, sizeof e->ws_detail, "cannot connect to %s:%s",
               e->cfg.host, e->cfg.port);
    loop_timer_stop(e->loop, &e->open_timer);
    (void)loop_timer_start(e->loop, &e->open_timer, 0, 0);
  }
  return e;
}

int eio_client_send(eio_client *e, const void *p, size_t n, int binary) {
  if (!e || e->destroyed || e->state != E_OPEN)
    return WSIO_ECLOSED;
  int r = queue_packet(e, EIO_MESSAGE, p, n, binary);
  if (r == 0)
    pump(e);
  return r;
}

int eio_client_writable(const eio_client *e) {
  if (!e || e->destroyed || e->state != E_OPEN || e->upgrading == UP_PAUSING)
    return 0;
  if (e->transport == T_WS)
    return e->ws && wsio_ws_client_is_open(e->ws) &&
           wsio_ws_client_buffered(e->ws) == 0;
  return !e->post;
}

int eio_client_is_open(const eio_client *e) {
  return e && !e->destroyed && e->state == E_OPEN;
}

const char *eio_client_transport(const eio_client *e) {
  return e ? tname(e, e->transport) : NULL;
}

void eio_client_forget(eio_client *e) {
  if (!e)
    return;
  e->notify_release = 0;
  e->cfg.on_packet = NULL; /* the owner is going: the close goes on untraced */
}

void eio_client_close(eio_client *e, int notify_release) {
  if (!e || e->destroyed)
    return;
  e->notify_release = notify_release;
  client_resolve_cancel(e->resolving);
  e->resolving = NULL;
  if (!notify_release)
    e->cfg.on_packet = NULL; /* the owner may be freed before the close ends */
  if (e->state != E_OPEN) {
    e->state = E_DONE;
    e->destroyed = 1;
    return;
  }
  /* The close packet, then wait (bounded) for it to leave. */
  loop_timer_stop(e->loop, &e->ping_timer);
  if (e->probe) {
    wsio_ws_client_destroy(e->probe);
    e->probe = NULL;
  }
  e->upgrading = UP_NONE;
  /* The long-poll GET stays: a server (Node's engine.io) takes a GET closed
   * under it for a broken session and would drop the POSTs still to come.
   * On polling the close packet waits until what is queued has been POSTed
   * (engine.io-client waits for "drain" too): Node acts on a close packet
   * before the messages of the same payload. */
  e->state = E_CLOSING;
  if (e->transport == T_POLL && (e->ohead || e->post)) {
    e->close_pending = 1;
  } else if (queue_packet(e, EIO_CLOSE, NULL, 0, 0) != 0) {
    e->destroyed = 1;
    return;
  }
  pump(e);
  if (e->destroyed)
    return;
  if (e->transport == T_WS && e->ws)
    (void)wsio_ws_client_close(e->ws, 1000, NULL);
  (void)loop_timer_start(e->loop, &e->close_timer, EC_CLOSE_WAIT_MS, 0);
}
