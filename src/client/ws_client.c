/* client/ws_client.c — the WebSocket client role (include/wsio/client.h).
 *
 * Owns: one outgoing connection at a time per client: the URL, the opening
 * handshake (request, and the strict check of the server's answer), frame
 * reading and writing with the ws layer's pure codecs (frame, close, utf8), the
 * reconnect schedule and the offline queue. Must not: touch the app's server
 * connections or core's internals. A client lives in a net context of its own
 * on the app's loop (as the Redis adapter does), flushed from the app's post
 * hook; a client is not a wsio_conn.
 *
 * Masking keys and Sec-WebSocket-Key come from a CSPRNG-seeded generator per
 * client (client/backoff.h says why not getrandom per frame), as does the
 * reconnect jitter.
 *
 * wss://: net carries the TLS session (net/tls.h, client mode over the same
 * memory BIOs as the server's); this file creates it once TCP is up, writes the
 * request at once (net keeps it until the handshake completes, so the handshake
 * timeout covers TLS and HTTP alike), and turns a TLS failure into WSIO_ETLS
 * with OpenSSL's reason.
 *
 * permessage-deflate: the offer is Node ws's ("permessage-deflate;
 * client_max_window_bits"); the answer is checked strictly here (RFC 7692
 * 5, 7.1), and ws/deflate.c's codec does the rest, with its roles swapped: its
 * "server" side (tx) is our compressor under the client_* parameters, its
 * "client" side (rx) our inflater under the server_* ones. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/backoff.h"
#include "client/handshake.h"
#include "client/resolve.h"
#include "client/url.h"
#include "core/transport.h"
#include "http/parser.h"
#include "net/net.h"
#include "net/tls.h"
#include "util/base64.h"
#include "ws/close.h"
#include "ws/deflate.h"
#include "ws/frame.h"
#include "ws/handshake.h"
#include "ws/utf8.h"
#include "wsio/client.h"

#define CL_MAX_HEADERS 64
#define CL_CLOSE_TIMEOUT_MS 5000
#define CL_MAX_ADDRS CLIENT_RESOLVE_MAX

enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_WAIT, ST_DONE };

typedef struct qmsg {
  struct qmsg *next;
  wsio_opcode op;
  size_t len;
  uint8_t data[];
} qmsg;

struct wsio_ws_client {
  net_conn net; /* first: net hands us &net */
  int linked; /* net_connect succeeded; released in the post hook once closed */
  wsio_app *app;
  loop *loop;
  net_ctx *ctx;
  int state;
  int destroyed;
  int user_closed;
  wsio_ws_client_options o;
  char *url, *host_header, *path, *origin, *protocols, *headers;
  char *
      host; /* the URL's host without brackets: SNI and the certificate check */
  int tls;  /* wss:// */
  struct ssl_ctx_st
      *tls_ctx;      /* NULL for ws://, or when it could not be made: */
  char *tls_ctx_err; /* why (reported from the loop at the first attempt) */
  int client_cert;   /* the context presents a client certificate */
  /* The host's first addresses (getaddrinfo's order): an attempt whose TCP
   * connect fails moves on to the next at once ("localhost" may give ::1 first
   * while the server listens on 127.0.0.1 only); a reconnect starts from the
   * first again. */
  struct sockaddr_storage addr[CL_MAX_ADDRS];
  socklen_t addr_len[CL_MAX_ADDRS];
  unsigned naddr, addr_idx;
  /* A host name is resolved again at each (re)connect, off the loop's thread
   * (client/resolve.h); an IP literal once, at create. */
  int numeric;
  char port[8];
  client_resolve *resolving; /* a lookup in flight (state ST_CONNECTING) */
  char key[25];
  uint8_t *in; /* bytes received and not consumed (head, then frames) */
  size_t in_len, in_cap;
  uint8_t *msg; /* a fragmented message being assembled */
  size_t msg_len, msg_cap;
  int msg_op;     /* 0: none */
  int traced;     /* the frame at the front of in was reported to on_frame */
  int tls_traced; /* on_tls was called for this connection */
  int dfl;  /* permessage-deflate agreed on this connection (z is set up) */
  int rx_z; /* the message being received is compressed (RSV1) */
  ws_deflate z;
  char *protocol; /* the server's choice */
  loop_timer timer, retry, ping, flush;
  unsigned attempt;
  qmsg *qhead, *qtail;
  size_t qbytes, qcount;
  uint64_t ping_sent_ms;
  client_rng rng;
};

/* ---- errors
 * ---------------------------------------------------------- */

const char *wsio_ws_client_strerror(int err) {
  switch (err) {
  case WSIO_EREFUSED:
    return "the server refused the WebSocket upgrade";
  case WSIO_EPROTOCOL:
    return "the server broke the WebSocket protocol";
  case WSIO_ENETWORK:
    return "network error";
  case WSIO_EURL:
    return "not a ws:// or wss:// URL";
  case WSIO_ETLS:
    return "TLS failed (handshake, certificate verification, or a certificate "
           "file)";
  default:
    return wsio_strerror(err);
  }
}

/* ---- small helpers
 * -------------------------------------------------------------------- */

static int reserve(uint8_t **p, size_t *cap, size_t need) {
  if (need <= *cap)
    return 0;
  size_t n = *cap ? *cap : 4096;
  while (n < need)
    n *= 2;
  uint8_t *q = realloc(*p, n);
  if (!q)
    return WSIO_ENOMEM;
  *p = q;
  *cap = n;
  return 0;
}

static void kick_flush(wsio_ws_client *cl) {
  /* Writes from a timer run after this iteration's post phase: a 0 ms timer
   * sends them at the start of the next one. */
  if (!loop_timer_active(&cl->flush))
    (void)loop_timer_start(cl->loop, &cl->flush, 0, 0);
}

/* Writes one masked frame; a data message of at least deflate_threshold bytes
 * goes compressed (RSV1) once permessage-deflate was agreed. Returns
 * net_write's result or WSIO_ENOMEM. */
static int write_frame(wsio_ws_client *cl, int op, const void *data,
                       size_t len) {
  uint8_t hdr[WS_FRAME_MAX_HEADER], mask[4];
  uint32_t m = client_rng_next(&cl->rng);
  memcpy(mask, &m, 4);
  int z = cl->dfl && op != WS_OP_CONT && op < WS_OP_CLOSE &&
          len >= cl->o.deflate_threshold;
  size_t zcap = z ? ws_deflate_compress_bound(len) : 0;
  uint8_t *zbuf = z ? malloc(zcap) : NULL;
  if (z && !zbuf)
    return WSIO_ENOMEM;
  if (z) {
    size_t zlen = 0;
    if (ws_deflate_compress_into(&cl->z, data, len, zbuf, zcap, &zlen) != 0) {
      free(zbuf);
      return WSIO_ENOMEM;
    }
    data = zbuf;
    len = zlen;
  }
  uint8_t rsv = z ? WS_DEFLATE_RSV : 0;
  size_t hl = ws_frame_header_encode(hdr, 1, rsv, (uint8_t)op, len, mask);
  uint8_t *buf = malloc(hl + len + 1);
  if (!buf) {
    free(zbuf);
    return WSIO_ENOMEM;
  }
  memcpy(buf, hdr, hl);
  if (len)
    ws_mask_copy(buf + hl, data, len, mask, 0);
  free(zbuf);
  int r = net_write(&cl->net, buf, hl + len);
  free(buf);
  if (cl->o.on_frame)
    cl->o.on_frame(cl, WSIO_FRAME_OUT, op, 1, rsv, len, 1, cl->o.user);
  kick_flush(cl);
  return r;
}

/* ---- the end of a connection and reconnection
 * ---------------------------------------- */

static void queue_clear(wsio_ws_client *cl) {
  while (cl->qhead) {
    qmsg *q = cl->qhead;
    cl->qhead = q->next;
    free(q);
  }
  cl->qtail = NULL;
  cl->qbytes = cl->qcount = 0;
}

static void conn_start(wsio_ws_client *cl);

static void retry_fired(loop_timer *t) {
  wsio_ws_client *cl =
      (wsio_ws_client *)((char *)t - offsetof(wsio_ws_client, retry));
  conn_start(cl);
}

/* A connection (or an attempt) ended. err: 0 for a close handshake or end of
 * stream, else WSIO_E*. Reports, then schedules the next attempt or stops. */
static void conn_down(wsio_ws_client *cl, int err, int status,
                      const char *detail, unsigned code, const char *reason,
                      size_t reason_len) {
  if (cl->state == ST_WAIT || cl->state == ST_DONE)
    return;
  cl->addr_idx = 0;
  client_resolve_cancel(cl->resolving);
  cl->resolving = NULL;
  int was_open = cl->state == ST_OPEN || cl->state == ST_CLOSING;
  if (cl->linked)
    net_close(&cl->net);
  loop_timer_stop(cl->loop, &cl->timer);
  loop_timer_stop(cl->loop, &cl->ping);
  cl->in_len = 0;
  cl->msg_len = 0;
  cl->msg_op = 0;
  cl->traced = 0;
  cl->rx_z = 0;
  cl->dfl = 0;
  ws_deflate_free(&cl->z);
  /* A refusal (4xx) or a protocol violation would repeat on the next try, and a
   * close handshake by the server is its decision, unless its code says "come
   * back": going away (1001, a restart) or a server-side trouble (1011-1014).
   * Anything else (5xx, network, timeouts, no close frame) is worth another
   * attempt. */
  int retry_code =
      code == WS_CLOSE_ABNORMAL || code == WS_CLOSE_GOING_AWAY ||
      (code >= WS_CLOSE_INTERNAL_ERROR && code <= WS_CLOSE_BAD_GATEWAY);
  /* A TLS failure (untrusted certificate, no common version) repeats too. */
  int fatal = err == WSIO_EPROTOCOL || err == WSIO_ETOOBIG ||
              err == WSIO_ETLS || (err == WSIO_EREFUSED && status < 500) ||
              (err == 0 && !retry_code);
  int again = !cl->o.no_reconnect && !cl->user_closed && !fatal;
  cl->state = again ? ST_WAIT : ST_DONE;
  if (err && cl->o.on_error) {
    cl->o.on_error(cl, err, status,
                   detail ? detail : wsio_ws_client_strerror(err), cl->o.user);
    if (cl->destroyed)
      return;
  }
  if (was_open && cl->o.on_close) {
    cl->o.on_close(cl, code, reason ? reason : "", reason ? reason_len : 0,
                   again, cl->o.user);
    if (cl->destroyed)
      return;
  }
  if (cl->state != ST_WAIT) { /* stopped (or closed from a callback) */
    cl->state = ST_DONE;
    queue_clear(cl);
    return;
  }
  cl->attempt++;
  if (cl->o.reconnect_attempts && cl->attempt > cl->o.reconnect_attempts) {
    cl->state = ST_DONE;
    queue_clear(cl);
    if (cl->o.on_reconnect_failed)
      cl->o.on_reconnect_failed(cl, cl->o.user);
    return;
  }
  uint32_t delay =
      client_backoff_ms(&cl->rng, cl->o.reconnect_min_ms,
                        cl->o.reconnect_max_ms, cl->o.randomization,
                        cl->attempt - 1);
  (void)loop_timer_start(cl->loop, &cl->retry, delay, 0);
  if (cl->o.on_reconnect)
    cl->o.on_reconnect(cl, cl->attempt, delay, cl->o.user);
}

/* Fails an open connection for a protocol reason: the close frame with the
 * RFC's code goes out first (flushed now, since the socket closes right after).
 */
static void fail_open(wsio_ws_client *cl, int err, unsigned close_code,
                      const char *detail) {
  if (cl->state == ST_OPEN || cl->state == ST_CLOSING) {
    uint8_t pl[125];
    size_t n = ws_close_encode(pl, close_code, NULL, 0);
    (void)write_frame(cl, WS_OP_CLOSE, pl, n);
    net_flush_queued(cl->ctx);
  }
  conn_down(cl, err, 0, detail, WS_CLOSE_ABNORMAL, NULL, 0);
}

static void timer_fired(loop_timer *t) {
  wsio_ws_client *cl =
      (wsio_ws_client *)((char *)t - offsetof(wsio_ws_client, timer));
  const char *what = cl->resolving ? "resolving the host timed out"
                     : cl->state == ST_CONNECTING ? "connect timed out"
                     : cl->state == ST_HANDSHAKE  ? "handshake timed out"
                                                  : "close handshake timed out";
  if (cl->state == ST_CLOSING) {
    conn_down(cl, 0, 0, NULL, WS_CLOSE_ABNORMAL, NULL, 0);
    return;
  }
  conn_down(cl, WSIO_ETIMEDOUT, 0, what, WS_CLOSE_ABNORMAL, NULL, 0);
}

/* ---- the opening handshake
 * ---------------------------------------------------------- */

static int send_request(wsio_ws_client *cl) {
  uint8_t nonce[16];
  for (int i = 0; i < 4; i++) {
    uint32_t v = client_rng_next(&cl->rng);
    memcpy(nonce + 4 * i, &v, 4);
  }
  cl->key[base64_encode(cl->key, nonce, 16)] = 0;
  size_t cap = 320 + strlen(cl->path) + strlen(cl->host_header) +
               (cl->origin ? strlen(cl->origin) : 0) +
               (cl->protocols ? strlen(cl->protocols) : 0) +
               (cl->headers ? strlen(cl->headers) : 0);
  char *req = malloc(cap);
  if (!req)
    return WSIO_ENOMEM;
  int n = snprintf(
      req, cap,
      "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: "
      "websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: "
      "13\r\n%s%s%s%s%s%s%s%s\r\n",
      cl->path, cl->host_header, cl->key,
      /* As Node's ws offers it: any server window, ours its choice. */
      cl->o.no_deflate ? ""
                       : "Sec-WebSocket-Extensions: permessage-deflate; "
                         "client_max_window_bits\r\n",
      cl->protocols ? "Sec-WebSocket-Protocol: " : "",
      cl->protocols ? cl->protocols : "", cl->protocols ? "\r\n" : "",
      cl->origin ? "Origin: " : "", cl->origin ? cl->origin : "",
      cl->origin ? "\r\n" : "", cl->headers ? cl->headers : "");
  int r = net_write(&cl->net, req, (size_t)n);
  kick_flush(cl);
  if (r >= 0 && cl->o.on_handshake)
    cl->o.on_handshake(cl, req, (size_t)n, NULL, 0, cl->o.user);
  free(req);
  return r < 0 ? WSIO_ENETWORK : 0;
}

/* RFC 6455 4.1, the client's checks of the server's answer (items 1-6). Returns
 * 0 or fails the attempt with a sentence saying which check failed. */
static void deflate_setup(wsio_ws_client *cl, const ws_deflate_offer *p);

static int check_response(wsio_ws_client *cl, const http_response *res) {
  char why[160];
  if (res->status != 101) {
    snprintf(why, sizeof why, "the server answered %d %.*s", res->status,
             (int)(res->reason_len > 80 ? 80 : res->reason_len), res->reason);
    conn_down(cl, WSIO_EREFUSED, res->status, why, WS_CLOSE_ABNORMAL, NULL, 0);
    return -1;
  }
  client_hs_offer offer = {cl->key, cl->o.subprotocols, !cl->o.no_deflate};
  client_hs_result got;
  const char *bad = client_hs_check(res, &offer, &got);
  if (bad) {
    conn_down(cl, WSIO_EPROTOCOL, 0, bad, WS_CLOSE_ABNORMAL, NULL, 0);
    return -1;
  }
  if (got.deflate)
    deflate_setup(cl, &got.params);
  free(cl->protocol);
  cl->protocol = got.protocol ? strndup(got.protocol, got.protocol_len) : NULL;
  return 0;
}

/* permessage-deflate agreed with the server's parameters a (client/handshake.c
 * checked them). */
static void deflate_setup(wsio_ws_client *cl, const ws_deflate_offer *p) {
  ws_deflate_offer a = *p;
  /* The codec's tx is ours (client_* parameters), its rx the server's. */
  ws_deflate_agreement ag;
  memset(&ag, 0, sizeof ag);
  ag.server_no_context_takeover = a.client_no_context_takeover;
  ag.client_no_context_takeover = a.server_no_context_takeover;
  ag.server_window_bits =
      a.client_max_window_bits ? a.client_max_window_bits : 15;
  ag.client_window_bits =
      a.server_max_window_bits ? a.server_max_window_bits : 15;
  ws_deflate_config cfg;
  memset(&cfg, 0, sizeof cfg);
  ws_deflate_free(&cl->z);
  ws_deflate_init(&cl->z, &ag, &cfg);
  cl->dfl = 1;
}

static void ping_fired(loop_timer *t) {
  wsio_ws_client *cl =
      (wsio_ws_client *)((char *)t - offsetof(wsio_ws_client, ping));
  if (cl->state == ST_OPEN)
    (void)wsio_ws_client_ping(cl, NULL, 0);
}

static void flush_queue(wsio_ws_client *cl) {
  while (cl->qhead && cl->state == ST_OPEN) {
    qmsg *q = cl->qhead;
    cl->qhead = q->next;
    if (!cl->qhead)
      cl->qtail = NULL;
    cl->qbytes -= q->len;
    cl->qcount--;
    int r = write_frame(cl, q->op, q->data, q->len);
    free(q);
    if (r < 0)
      return; /* the connection failed: on_end follows */
  }
}

static void opened(wsio_ws_client *cl) {
  cl->state = ST_OPEN;
  cl->attempt = 0;
  loop_timer_stop(cl->loop, &cl->timer);
  if (cl->o.ping_interval_ms)
    (void)loop_timer_start(cl->loop, &cl->ping, cl->o.ping_interval_ms,
                           cl->o.ping_interval_ms);
  flush_queue(cl);
  if (cl->o.on_open && cl->state == ST_OPEN)
    cl->o.on_open(cl, cl->protocol, cl->o.user);
}

/* Returns the head's length once it is complete and accepted, 0 while
 * incomplete, -1 when the attempt failed. */
static int read_head(wsio_ws_client *cl) {
  http_header hdrs[CL_MAX_HEADERS];
  http_response res = {.headers = hdrs};
  int r = http_parse_response((const char *)cl->in, cl->in_len, &res,
                              CL_MAX_HEADERS);
  if (r == HTTP_PARSE_INCOMPLETE) {
    if (cl->in_len <= cl->o.max_head_size)
      return 0;
    char why[96];
    snprintf(why, sizeof why, "the response head is over %zu bytes",
             cl->o.max_head_size);
    conn_down(cl, WSIO_EPROTOCOL, 0, why, WS_CLOSE_ABNORMAL, NULL, 0);
    return -1;
  }
  if (r < 0 || (size_t)r > cl->o.max_head_size) {
    conn_down(cl, WSIO_EPROTOCOL, 0,
              r == HTTP_PARSE_TOO_MANY_HEADERS
                  ? "too many headers in the response"
                  : "malformed HTTP response",
              WS_CLOSE_ABNORMAL, NULL, 0);
    return -1;
  }
  if (cl->o.on_handshake) {
    cl->o.on_handshake(cl, NULL, 0, (const char *)cl->in, (size_t)r,
                       cl->o.user);
    if (cl->destroyed)
      return -1;
  }
  if (check_response(cl, &res) < 0)
    return -1;
  return r;
}

/* ---- frames
 * ------------------------------------------------------------------------- */

static void on_close_frame(wsio_ws_client *cl, const uint8_t *p, size_t n) {
  unsigned code;
  const uint8_t *reason;
  size_t rlen;
  if (ws_close_parse(p, n, &code, &reason, &rlen) != 0) {
    fail_open(cl, WSIO_EPROTOCOL, WS_CLOSE_PROTOCOL_ERROR,
              "invalid close frame from the server");
    return;
  }
  char copy[126];
  memcpy(copy, reason, rlen);
  copy[rlen] = 0;
  if (cl->state ==
      ST_OPEN) { /* the server began: echo its code (RFC 6455 5.5.1) */
    uint8_t pl[125];
    size_t m =
        ws_close_encode(pl, code == WS_CLOSE_NO_STATUS ? 0 : code, NULL, 0);
    (void)write_frame(cl, WS_OP_CLOSE, pl, m);
    net_flush_queued(cl->ctx);
  }
  conn_down(cl, 0, 0, NULL, code, copy, rlen);
}

static void deliver(wsio_ws_client *cl, int op, const uint8_t *p, size_t n) {
  if (op == WS_OP_TEXT && !ws_utf8_valid(p, n)) {
    fail_open(cl, WSIO_EPROTOCOL, WS_CLOSE_INVALID_PAYLOAD,
              "invalid UTF-8 in a text message from the server");
    return;
  }
  if (cl->o.on_message)
    cl->o.on_message(cl, p, n, (wsio_opcode)op, cl->o.user);
}

static int inflated(void *ud, const uint8_t *p, size_t n) {
  wsio_ws_client *cl = ud;
  if (reserve(&cl->msg, &cl->msg_cap, cl->msg_len + n + 1) != 0)
    return WSIO_ENOMEM;
  memcpy(cl->msg + cl->msg_len, p, n);
  cl->msg_len += n;
  return 0;
}

/* A frame of a compressed message (RSV1 on its first frame): inflated into msg,
 * never past max_message_size (ws/deflate.c stops at the bound, so a small
 * message that would inflate to gigabytes costs no more than the bound). */
static void inflate_frame(wsio_ws_client *cl, const ws_frame_header *h,
                          const uint8_t *p, size_t n) {
  if (h->opcode != WS_OP_CONT) {
    cl->msg_op = h->opcode;
    cl->msg_len = 0;
  }
  int r = ws_deflate_inflate(&cl->z, p, n, h->fin, cl->o.max_message_size,
                             inflated, cl);
  if (r != 0) {
    fail_open(cl,
              r == WS_DEFLATE_ETOOBIG ? WSIO_ETOOBIG
              : r == WSIO_ENOMEM      ? WSIO_ENOMEM
                                      : WSIO_EPROTOCOL,
              (unsigned)ws_deflate_close_code(r),
              r == WS_DEFLATE_ETOOBIG
                  ? "a compressed message from the server inflates past "
                    "max_message_size"
              : r == WSIO_ENOMEM ? "out of memory"
                                 : "bad DEFLATE data from the server");
    return;
  }
  if (!h->fin)
    return;
  int op = cl->msg_op;
  size_t len = cl->msg_len;
  cl->msg_op = 0;
  cl->msg_len = 0;
  cl->rx_z = 0;
  deliver(cl, op, cl->msg, len);
}

/* One complete frame (payload unmasked already: the server sends none masked).
 */
static void on_frame(wsio_ws_client *cl, const ws_frame_header *h,
                     const uint8_t *p) {
  size_t n = (size_t)h->payload_len;
  switch (h->opcode) {
  case WS_OP_PING:
    if (cl->state == ST_OPEN)
      (void)write_frame(cl, WS_OP_PONG, p, n);
    return;
  case WS_OP_PONG:
    if (cl->o.on_pong)
      cl->o.on_pong(cl, p, n,
                    cl->ping_sent_ms
                        ? (long)(loop_now_ms(cl->loop) - cl->ping_sent_ms)
                        : -1,
                    cl->o.user);
    return;
  case WS_OP_CLOSE:
    on_close_frame(cl, p, n);
    return;
  default:
    break;
  }
  /* After our close the server may still send what it had queued (RFC
   * 6455 5.5.1 forbids only sending): it is delivered. */
  if (h->opcode == WS_OP_CONT ? !cl->msg_op : cl->msg_op != 0) {
    fail_open(cl, WSIO_EPROTOCOL, WS_CLOSE_PROTOCOL_ERROR,
              "bad fragmentation from the server");
    return;
  }
  if (h->opcode != WS_OP_CONT)
    cl->rx_z = cl->dfl && (h->rsv & WS_DEFLATE_RSV);
  if (cl->rx_z) {
    inflate_frame(cl, h, p, n);
    return;
  }
  if (h->opcode != WS_OP_CONT && h->fin) {
    deliver(cl, h->opcode, p, n);
    return;
  }
  if (cl->msg_len + n > cl->o.max_message_size) {
    fail_open(cl, WSIO_ETOOBIG, WS_CLOSE_TOO_BIG,
              "a message from the server is over max_message_size");
    return;
  }
  if (reserve(&cl->msg, &cl->msg_cap, cl->msg_len + n + 1) != 0) {
    fail_open(cl, WSIO_ENOMEM, WS_CLOSE_INTERNAL_ERROR, "out of memory");
    return;
  }
  if (h->opcode != WS_OP_CONT)
    cl->msg_op = h->opcode;
  memcpy(cl->msg + cl->msg_len, p, n);
  cl->msg_len += n;
  if (!h->fin)
    return;
  int op = cl->msg_op;
  cl->msg_op = 0;
  size_t len = cl->msg_len;
  cl->msg_len = 0;
  deliver(cl, op, cl->msg, len);
}

/* Consumes every complete frame in cl->in. Returns -1 when the connection
 * ended. */
static int read_frames(wsio_ws_client *cl) {
  size_t off = 0;
  while (cl->state == ST_OPEN || cl->state == ST_CLOSING) {
    ws_frame_header h;
    int r = ws_frame_parse_header(cl->in + off, cl->in_len - off, &h);
    if (r == WS_FRAME_INCOMPLETE)
      break;
    if (r < 0) {
      fail_open(cl, WSIO_EPROTOCOL, WS_CLOSE_PROTOCOL_ERROR,
                "bad frame length from the server");
      return -1;
    }
    /* Traced once, when its header is complete (a frame split across reads,
     * as TLS records split them, is parsed again on the next read). */
    if (cl->o.on_frame && !cl->traced) {
      cl->traced = 1;
      cl->o.on_frame(cl, WSIO_FRAME_IN, h.opcode, h.fin, h.rsv, h.payload_len,
                     h.masked, cl->o.user);
      if (cl->destroyed)
        return -1;
    }
    if (ws_frame_check(&h, 0, cl->dfl ? WS_DEFLATE_RSV : 0) != 0) {
      fail_open(cl, WSIO_EPROTOCOL, WS_CLOSE_PROTOCOL_ERROR,
                h.masked ? "a masked frame from the server (RFC 6455 5.1)"
                         : "a reserved opcode, RSV bit or bad control frame "
                           "from the server");
      return -1;
    }
    if (h.payload_len > cl->o.max_message_size) {
      fail_open(cl, WSIO_ETOOBIG, WS_CLOSE_TOO_BIG,
                "a frame from the server is over max_message_size");
      return -1;
    }
    if (cl->in_len - off - h.header_len < h.payload_len)
      break;
    cl->traced = 0;
    on_frame(cl, &h, cl->in + off + h.header_len);
    if (cl->destroyed || cl->state == ST_WAIT || cl->state == ST_DONE)
      return -1;
    off += h.header_len + (size_t)h.payload_len;
  }
  if (off)
    memmove(cl->in, cl->in + off, cl->in_len - off);
  cl->in_len -= off;
  return 0;
}

/* ---- net handlers
 * --------------------------------------------------------------------- */

static void on_data(net_conn *nc, uint8_t *p, size_t n) {
  wsio_ws_client *cl = (wsio_ws_client *)nc;
  if (cl->destroyed || cl->state == ST_WAIT || cl->state == ST_DONE)
    return;
  if (reserve(&cl->in, &cl->in_cap, cl->in_len + n) != 0) {
    fail_open(cl, WSIO_ENOMEM, WS_CLOSE_INTERNAL_ERROR, "out of memory");
    return;
  }
  memcpy(cl->in + cl->in_len, p, n);
  cl->in_len += n;
  if (cl->state == ST_HANDSHAKE && cl->net.tls && !cl->tls_traced) {
    /* The first plaintext: the TLS handshake is complete. */
    cl->tls_traced = 1;
    if (cl->o.on_tls) {
      char info[600];
      cl->o.on_tls(cl, net_tls_describe(cl->net.tls, info, sizeof info),
                   cl->o.user);
      if (cl->destroyed || cl->state != ST_HANDSHAKE)
        return;
    }
  }
  if (cl->state == ST_HANDSHAKE) {
    int r = read_head(cl);
    if (r <= 0)
      return;
    cl->in_len -= (size_t)r;
    memmove(cl->in, cl->in + r, cl->in_len);
    opened(cl);
    /* Frames that came with the head are read even when on_open began closing
     * (the server may still send until it sees our close). */
    if (cl->destroyed || (cl->state != ST_OPEN && cl->state != ST_CLOSING))
      return;
  }
  (void)read_frames(cl);
}

static int tls_failed(wsio_ws_client *cl, int err);

static void on_end(net_conn *nc, int err) {
  wsio_ws_client *cl = (wsio_ws_client *)nc;
  if (cl->destroyed)
    return;
  if (cl->state == ST_CLOSING) {
    conn_down(cl, 0, 0, NULL, WS_CLOSE_ABNORMAL, NULL, 0);
    return;
  }
  if (tls_failed(cl, err))
    return;
  /* A server that refuses the client certificate may just close once the TLS
   * handshake is done, without an alert (Node's https with
   * rejectUnauthorized): nothing here can tell that from another close, so it
   * stays a network error, with the likely cause named. */
  int after_tls = cl->state == ST_HANDSHAKE && cl->client_cert && cl->net.tls &&
                  net_tls_established(cl->net.tls) && cl->in_len == 0;
  char why[256];
  snprintf(why, sizeof why, "%s%s%s%s",
           cl->state != ST_HANDSHAKE ? "connection lost"
           : cl->net.tls && !net_tls_established(cl->net.tls)
               ? "connection closed during the TLS handshake"
               : "connection closed during the handshake",
           err ? ": " : "", err ? strerror(-err) : "",
           after_tls ? " (right after TLS, before any answer: did the server "
                       "refuse the client certificate?)"
                     : "");
  conn_down(cl, WSIO_ENETWORK, 0, why, WS_CLOSE_ABNORMAL, NULL, 0);
}

/* A TLS session that failed (net reports -EPROTO): WSIO_ETLS with OpenSSL's
 * reason, and the host for a certificate that does not verify, or what the
 * server's alert about our certificate means (TLS 1.3 sends it after our side
 * of the handshake is done, so it may come while the upgrade is in flight).
 * 1 when it was that. */
static int tls_failed(wsio_ws_client *cl, int err) {
  if (!cl->net.tls || err != -EPROTO)
    return 0;
  const char *why = net_tls_error(cl->net.tls);
  int verify = net_tls_verify_failed(cl->net.tls);
  const char *refused = !net_tls_cert_refused(cl->net.tls) ? ""
                        : cl->client_cert
                            ? " (the server refused the client certificate)"
                            : " (the server wants a client certificate)";
  char msg[400];
  snprintf(msg, sizeof msg, "%s%s%s%s%s", *why ? why : "TLS session failed",
           verify ? " (host " : "", verify ? cl->host : "", verify ? ")" : "",
           refused);
  conn_down(cl, WSIO_ETLS, 0, msg, WS_CLOSE_ABNORMAL, NULL, 0);
  return 1;
}

static void on_drain(net_conn *nc) {
  wsio_ws_client *cl = (wsio_ws_client *)nc;
  if (!cl->destroyed && cl->o.on_drain)
    cl->o.on_drain(cl, cl->o.user);
}

static net_conn *on_accept(net_ctx *ctx, void *user) {
  (void)ctx;
  (void)user;
  return NULL;
}

static void on_connected(net_conn *nc, int err) {
  wsio_ws_client *cl = (wsio_ws_client *)nc;
  if (cl->destroyed)
    return;
  if (err && cl->addr_idx + 1 < cl->naddr) {
    /* The next address, from the loop (c is released outside net's callback).
     */
    cl->addr_idx++;
    if (cl->linked)
      net_close(&cl->net);
    cl->state = ST_WAIT;
    (void)loop_timer_start(cl->loop, &cl->retry, 0, 0);
    return;
  }
  if (err) {
    char why[128];
    snprintf(why, sizeof why, "cannot connect: %s", strerror(-err));
    conn_down(cl, err == -ETIMEDOUT ? WSIO_ETIMEDOUT : WSIO_ENETWORK, 0, why,
              WS_CLOSE_ABNORMAL, NULL, 0);
    return;
  }
  cl->state = ST_HANDSHAKE;
  cl->tls_traced = 0;
  (void)loop_timer_start(cl->loop, &cl->timer, cl->o.handshake_timeout_ms, 0);
  if (cl->tls) {
    struct ssl_st *s = net_tls_client_session(cl->tls_ctx, cl->host);
    if (!s) {
      conn_down(cl, WSIO_ENOMEM, 0, "out of memory for the TLS session",
                WS_CLOSE_ABNORMAL, NULL, 0);
      return;
    }
    net_conn_start_tls(&cl->net, s);
  }
  if (send_request(cl) < 0 && !tls_failed(cl, -EPROTO))
    conn_down(cl, WSIO_ENETWORK, 0, "cannot send the request",
              WS_CLOSE_ABNORMAL, NULL, 0);
}

static void connect_now(wsio_ws_client *cl);

/* The lookup's answer (on the loop's thread, client/resolve.c). */
static void resolved(void *user, int err, const char *why,
                     const client_addrs *a) {
  wsio_ws_client *cl = user;
  cl->resolving = NULL;
  loop_timer_stop(cl->loop, &cl->timer);
  if (err) {
    conn_down(cl, err, 0, why, WS_CLOSE_ABNORMAL, NULL, 0);
    return;
  }
  for (unsigned i = 0; i < a->n; i++) {
    cl->addr[i] = a->addr[i];
    cl->addr_len[i] = a->len[i];
  }
  cl->naddr = a->n;
  connect_now(cl);
}

static void conn_start(wsio_ws_client *cl) {
  if (cl->tls && !cl->tls_ctx) {
    cl->state = ST_CONNECTING; /* (conn_down ignores a client not trying) */
    conn_down(cl, WSIO_ETLS, 0, cl->tls_ctx_err, WS_CLOSE_ABNORMAL, NULL, 0);
    return;
  }
  if (cl->linked) {
    net_conn_release(&cl->net);
    cl->linked = 0;
  }
  memset(&cl->net, 0, sizeof cl->net);
  cl->state = ST_CONNECTING;
  cl->in_len = 0;
  if (cl->numeric || cl->addr_idx > 0) { /* (the next address of this lookup) */
    connect_now(cl);
    return;
  }
  /* getaddrinfo may wait seconds for a DNS server: never on the loop's thread.
   * The connect timeout bounds the lookup too. */
  cl->resolving =
      client_resolve_start(cl->loop, cl->host, cl->port, resolved, cl);
  if (!cl->resolving) {
    conn_down(cl, WSIO_ENETWORK, 0, "cannot start resolving the host",
              WS_CLOSE_ABNORMAL, NULL, 0);
    return;
  }
  (void)loop_timer_start(cl->loop, &cl->timer, cl->o.connect_timeout_ms, 0);
}

static void connect_now(wsio_ws_client *cl) {
  int r = net_connect(
      cl->ctx, &cl->net, (struct sockaddr *)&cl->addr[cl->addr_idx],
      cl->addr_len[cl->addr_idx], cl->o.connect_timeout_ms, on_connected);
  if (r < 0) {
    char why[128];
    snprintf(why, sizeof why, "cannot connect: %s", strerror(-r));
    conn_down(cl, WSIO_ENETWORK, 0, why, WS_CLOSE_ABNORMAL, NULL, 0);
    return;
  }
  cl->linked = 1;
}

/* The app's post phase: this client's reads and writes, and the release of a
 * closed connection (outside net's callbacks). */
static void cl_app_destroyed(void *arg);
static void release_all(wsio_ws_client *cl);

static void cl_post(void *arg) {
  wsio_ws_client *cl = arg;
  if (cl->destroyed) { /* destroyed since the last post phase: outside every
                          callback */
    core_hook_remove(cl->app, CORE_HOOK_POST, cl_post, cl);
    core_hook_remove(cl->app, CORE_HOOK_DESTROY, cl_app_destroyed, cl);
    release_all(cl);
    free(cl);
    return;
  }
  if (!cl->ctx)
    return;
  net_read_queued(cl->ctx);
  net_flush_queued(cl->ctx);
  loop_timer_stop(cl->loop, &cl->flush);
  if (cl->linked && (cl->net.flags & NET_F_CLOSED)) {
    net_conn_release(&cl->net);
    cl->linked = 0;
  }
}

static void flush_fired(loop_timer *t) {
  wsio_ws_client *cl =
      (wsio_ws_client *)((char *)t - offsetof(wsio_ws_client, flush));
  if (cl->ctx)
    net_flush_queued(cl->ctx);
}

/* ---- the public API
 * ----------------------------------------------------------------- */

static void free_subprotocols(wsio_ws_client *cl);

/* Frees everything but the record itself (safe to call twice). */
static void release_all(wsio_ws_client *cl) {
  free_subprotocols(cl);
  /* (A lookup that finishes between wsio_app_destroy's drain of posted work and
   * this hook has posted its result already: the loop drops it unrun, a few
   * hundred bytes, once.) */
  client_resolve_cancel(cl->resolving);
  cl->resolving = NULL;
  if (cl->linked)
    net_conn_release(&cl->net);
  cl->linked = 0;
  loop_timer_stop(cl->loop, &cl->timer);
  loop_timer_stop(cl->loop, &cl->retry);
  loop_timer_stop(cl->loop, &cl->ping);
  loop_timer_stop(cl->loop, &cl->flush);
  if (cl->ctx)
    net_ctx_destroy(cl->ctx);
  cl->ctx = NULL;
  ws_deflate_free(&cl->z);
  cl->dfl = 0;
  net_tls_ctx_free(cl->tls_ctx);
  cl->tls_ctx = NULL;
  free(cl->tls_ctx_err);
  free(cl->host);
  cl->tls_ctx_err = cl->host = NULL;
  queue_clear(cl);
  free(cl->in);
  free(cl->msg);
  free(cl->protocol);
  free(cl->url);
  free(cl->host_header);
  free(cl->path);
  free(cl->origin);
  free(cl->protocols);
  free(cl->headers);
  cl->in = cl->msg = NULL;
  cl->protocol = cl->url = cl->host_header = cl->path = cl->origin =
      cl->protocols = cl->headers = NULL;
  cl->in_len = cl->in_cap = cl->msg_len = cl->msg_cap = 0;
}

/* wsio_app_destroy: the client's resources, then the record itself. */
static void cl_app_destroyed(void *arg) {
  wsio_ws_client *cl = arg;
  release_all(cl);
  free(cl);
}

/* Splits ws[s]://host[:port][/path]. IPv6 literals in brackets. */
static int parse_url(wsio_ws_client *cl, const char *url, char *host,
                     size_t hcap, char *port, size_t pcap) {
  if (strncmp(url, "wss://", 6) == 0)
    cl->tls = 1;
  else if (strncmp(url, "ws://", 5) != 0)
    return WSIO_EURL;
  const char *h = url + (cl->tls ? 6 : 5);
  client_authority a;
  if (client_url_authority(h, &a) != 0)
    return WSIO_EURL;
  const char *end = a.end, *hp = a.host, *colon = a.colon;
  size_t hl = a.host_len;
  size_t pl = colon ? (size_t)(end - colon - 1) : 2;
  if (hl == 0 || hl >= hcap || pl == 0 || pl >= pcap)
    return WSIO_EURL;
  memcpy(host, hp, hl);
  host[hl] = 0;
  if (colon) {
    memcpy(port, colon + 1, pl);
    port[pl] = 0;
    char *e;
    long v = strtol(port, &e, 10);
    if (*e || v <= 0 || v > 65535)
      return WSIO_EURL;
  } else {
    strcpy(port, cl->tls ? "443" : "80");
  }
  if (!(cl->host = strdup(host)))
    return WSIO_ENOMEM;
  cl->host_header = strndup(h, (size_t)(end - h));
  const char *path = *end == '#' ? "" : end;
  size_t plen = strcspn(path, "#");
  cl->path = plen == 0 || *path == '?' ? malloc(plen + 2) : strndup(path, plen);
  if (cl->path && (plen == 0 || *path == '?')) {
    cl->path[0] = '/';
    memcpy(cl->path + 1, path, plen);
    cl->path[plen + 1] = 0;
  }
  if (!cl->host_header || !cl->path)
    return WSIO_ENOMEM;
  for (const char *c = cl->path; *c; c++)
    if ((unsigned char)*c <= ' ' || *c == 0x7f)
      return WSIO_EURL;
  return 0;
}

static int no_crlf(const char *s) { return strpbrk(s, "\r\n") == NULL; }

static int copy_options(wsio_ws_client *cl,
                        const wsio_ws_client_options *opts) {
  wsio_ws_client_options o = opts ? *opts : (wsio_ws_client_options){0};
  /* A certificate without its key (or the reverse) cannot be presented. */
  if (!o.cert_file != !o.key_file)
    return WSIO_EINVAL;
  if (!o.connect_timeout_ms)
    o.connect_timeout_ms = 10000;
  if (!o.handshake_timeout_ms)
    o.handshake_timeout_ms = 10000;
  if (!o.max_message_size)
    o.max_message_size = 1 << 20;
  if (!o.max_backpressure)
    o.max_backpressure = 1 << 20;
  if (!o.max_head_size)
    o.max_head_size = 16 * 1024;
  if (!o.deflate_threshold)
    o.deflate_threshold = 1024;
  if (!o.reconnect_min_ms)
    o.reconnect_min_ms = 1000;
  if (!o.reconnect_max_ms)
    o.reconnect_max_ms = 5000;
  if (o.reconnect_max_ms < o.reconnect_min_ms)
    o.reconnect_max_ms = o.reconnect_min_ms;
  if (!opts)
    o.randomization = 0.5;
  if (o.randomization < 0)
    o.randomization = 0;
  if (o.randomization > 1)
    o.randomization = 1;
  if (!o.queue_max_bytes)
    o.queue_max_bytes = 1 << 20;
  if (!o.queue_max_count)
    o.queue_max_count = 1024;
  if (o.origin) {
    if (!no_crlf(o.origin) || !(cl->origin = strdup(o.origin)))
      return WSIO_EINVAL;
  }
  /* The offered subprotocols, kept as a NULL-terminated array pointing into one
   * copy. */
  size_t np = 0, total = 0;
  for (const char *const *s = o.subprotocols; s && *s; s++, np++) {
    if (!**s || strpbrk(*s, "\r\n, \t"))
      return WSIO_EINVAL;
    total += strlen(*s) + 2;
  }
  if (np) {
    char **arr = calloc(np + 1, sizeof *arr);
    cl->protocols = malloc(total + 1);
    if (!arr || !cl->protocols) {
      free(arr);
      return WSIO_ENOMEM;
    }
    char *w = cl->protocols;
    for (size_t i = 0; i < np; i++)
      w += sprintf(w, "%s%s", i ? ", " : "", o.subprotocols[i]);
    /* arr's strings live in the joined line: split a second copy for lookups.
     */
    char *dup = strdup(cl->protocols);
    if (!dup) {
      free(arr);
      return WSIO_ENOMEM;
    }
    size_t i = 0;
    for (char *tok = strtok(dup, ", "); tok && i < np; tok = strtok(NULL, ", "))
      arr[i++] = tok;
    o.subprotocols = (const char *const *)arr;
  } else {
    o.subprotocols = NULL;
  }
  total = 0;
  for (const char *const *s = o.headers; s && *s; s++) {
    const char *colon = strchr(*s, ':');
    if (!no_crlf(*s) || !colon || colon == *s)
      return WSIO_EINVAL;
    total += strlen(*s) + 2;
  }
  if (total) {
    cl->headers = malloc(total + 1);
    if (!cl->headers)
      return WSIO_ENOMEM;
    char *w = cl->headers;
    for (const char *const *s = o.headers; *s; s++)
      w += sprintf(w, "%s\r\n", *s);
  }
  o.headers = NULL;
  o.origin = NULL;
  cl->client_cert = o.cert_file != NULL;
  /* used at create only (the context loads them then) */
  o.ca_file = o.cert_file = o.key_file = NULL;
  cl->o = o;
  return 0;
}

static void free_subprotocols(wsio_ws_client *cl) {
  if (!cl->o.subprotocols)
    return;
  free((void *)cl->o
           .subprotocols[0]); /* the split copy starts at the first token */
  free((void *)cl->o.subprotocols);
  cl->o.subprotocols = NULL;
}

wsio_ws_client *wsio_ws_client_create(wsio_app *app, const char *url,
                                      const wsio_ws_client_options *opts,
                                      int *err) {
  int e = 0;
  if (err)
    *err = 0;
  if (!app || !url) {
    if (err)
      *err = WSIO_EINVAL;
    return NULL;
  }
  wsio_ws_client *cl = calloc(1, sizeof *cl);
  if (!cl) {
    if (err)
      *err = WSIO_ENOMEM;
    return NULL;
  }
  cl->app = app;
  cl->loop = core_loop(app);
  char host[256], port[8];
  e = parse_url(cl, url, host, sizeof host, port, sizeof port);
  if (!e)
    e = copy_options(cl, opts);
  if (!e)
    e = client_rng_seed(&cl->rng);
  if (!e) {
    /* An IP literal now; a name at each connect, off the loop's thread. */
    client_addrs a;
    memcpy(cl->port, port, sizeof cl->port);
    cl->numeric = client_resolve_numeric(host, port, &a);
    for (unsigned i = 0; cl->numeric && i < a.n; i++) {
      cl->addr[i] = a.addr[i];
      cl->addr_len[i] = a.len[i];
    }
    cl->naddr = cl->numeric ? a.n : 0;
  }
  static const net_handlers h = {on_data, on_end, on_drain, on_accept, NULL};
  if (!e && !(cl->url = strdup(url)))
    e = WSIO_ENOMEM;
  if (!e && cl->tls) {
    /* A CA file, client certificate or key that cannot be loaded is reported
     * from the loop (on_error's detail says why, naming the file), like every
     * other failure to connect. */
    char why[600];
    cl->tls_ctx = net_tls_client_ctx(opts ? opts->ca_file : NULL,
                                     cl->o.insecure, why, sizeof why);
    if (cl->tls_ctx && opts && opts->cert_file &&
        net_tls_client_cert(cl->tls_ctx, opts->cert_file, opts->key_file, why,
                            sizeof why) < 0) {
      net_tls_ctx_free(cl->tls_ctx);
      cl->tls_ctx = NULL;
    }
    if (!cl->tls_ctx && !(cl->tls_ctx_err = strdup(why)))
      e = WSIO_ENOMEM;
  }
  if (!e && !(cl->ctx = net_ctx_create(cl->loop, &h, cl, 0)))
    e = WSIO_ENOMEM;
  if (!e && core_hook_add(app, CORE_HOOK_POST, cl_post, cl) != 0)
    e = WSIO_ENOMEM;
  if (e) {
    release_all(cl);
    free(cl);
    if (err)
      *err = e;
    return NULL;
  }
  if (core_hook_add(app, CORE_HOOK_DESTROY, cl_app_destroyed, cl) != 0) {
    core_hook_remove(app, CORE_HOOK_POST, cl_post, cl);
    release_all(cl);
    free(cl);
    if (err)
      *err = WSIO_ENOMEM;
    return NULL;
  }
  cl->timer.cb = timer_fired;
  cl->retry.cb = retry_fired;
  cl->ping.cb = ping_fired;
  cl->flush.cb = flush_fired;
  /* Connecting starts from the loop (the first report must not come inside this
   * call). */
  cl->state = ST_WAIT;
  (void)loop_timer_start(cl->loop, &cl->retry, 0, 0);
  return cl;
}

static int queue_push(wsio_ws_client *cl, const void *data, size_t len,
                      wsio_opcode op) {
  if (len > cl->o.queue_max_bytes)
    return WSIO_EDROPPED;
  while (cl->qcount + 1 > cl->o.queue_max_count ||
         cl->qbytes + len > cl->o.queue_max_bytes) {
    if (cl->o.queue_drop == WSIO_QUEUE_DROP_NEWEST || !cl->qhead)
      return WSIO_EDROPPED;
    qmsg *q = cl->qhead;
    cl->qhead = q->next;
    if (!cl->qhead)
      cl->qtail = NULL;
    cl->qbytes -= q->len;
    cl->qcount--;
    free(q);
  }
  qmsg *q = malloc(sizeof *q + len + 1);
  if (!q)
    return WSIO_ENOMEM;
  q->next = NULL;
  q->op = op;
  q->len = len;
  if (len)
    memcpy(q->data, data, len);
  if (cl->qtail)
    cl->qtail->next = q;
  else
    cl->qhead = q;
  cl->qtail = q;
  cl->qbytes += len;
  cl->qcount++;
  return 1;
}

int wsio_ws_client_send(wsio_ws_client *cl, const void *data, size_t len,
                        wsio_opcode op) {
  if (!cl || cl->destroyed || (!data && len) ||
      (op != WSIO_OP_TEXT && op != WSIO_OP_BINARY))
    return WSIO_EINVAL;
  if (op == WSIO_OP_TEXT && !ws_utf8_valid(data, len))
    return WSIO_EINVAL;
  if (len > cl->o.max_message_size)
    return WSIO_ETOOBIG;
  if (cl->user_closed || cl->state == ST_DONE || cl->state == ST_CLOSING)
    return WSIO_ECLOSED;
  if (cl->state != ST_OPEN)
    return queue_push(cl, data, len, op);
  if (net_buffered(&cl->net) > cl->o.max_backpressure) {
    cl->net.flags |= NET_F_WANT_DRAIN;
    return WSIO_EDROPPED;
  }
  int r = write_frame(cl, op, data, len);
  if (r == NET_BUFFERED)
    cl->net.flags |= NET_F_WANT_DRAIN;
  if (r == -ENOMEM)
    return WSIO_ENOMEM;
  if (r < 0)
    return WSIO_ECLOSED;
  return r == NET_BUFFERED ? 1 : 0;
}

int wsio_ws_client_ping(wsio_ws_client *cl, const void *data, size_t len) {
  if (!cl || cl->destroyed || (!data && len) || len > 125)
    return WSIO_EINVAL;
  if (cl->state != ST_OPEN)
    return WSIO_ECLOSED;
  cl->ping_sent_ms = loop_now_ms(cl->loop);
  if (!cl->ping_sent_ms)
    cl->ping_sent_ms = 1;
  int r = write_frame(cl, WS_OP_PING, data, len);
  return r == -ENOMEM ? WSIO_ENOMEM : r < 0 ? WSIO_ECLOSED : 0;
}

int wsio_ws_client_close(wsio_ws_client *cl, unsigned code,
                         const char *reason) {
  if (!cl || cl->destroyed)
    return WSIO_EINVAL;
  size_t rl = reason ? strlen(reason) : 0;
  if (!ws_close_code_valid(code) || rl > 123 ||
      (rl && !ws_utf8_valid((const uint8_t *)reason, rl)))
    return WSIO_EINVAL;
  if (cl->user_closed || cl->state == ST_DONE || cl->state == ST_CLOSING)
    return WSIO_ECLOSED;
  cl->user_closed = 1;
  queue_clear(cl);
  if (cl->state != ST_OPEN) {
    client_resolve_cancel(cl->resolving);
    cl->resolving = NULL;
    loop_timer_stop(cl->loop, &cl->retry);
    if (cl->linked)
      net_close(&cl->net);
    loop_timer_stop(cl->loop, &cl->timer);
    cl->state = ST_DONE;
    return 0;
  }
  uint8_t pl[125];
  size_t n = ws_close_encode(pl, code, reason, rl);
  cl->state = ST_CLOSING;
  loop_timer_stop(cl->loop, &cl->ping);
  (void)loop_timer_start(cl->loop, &cl->timer, CL_CLOSE_TIMEOUT_MS, 0);
  (void)write_frame(cl, WS_OP_CLOSE, pl, n);
  return 0;
}

size_t wsio_ws_client_buffered(const wsio_ws_client *cl) {
  if (!cl || cl->destroyed)
    return 0;
  return cl->qbytes + (cl->linked && cl->state != ST_CONNECTING
                           ? net_buffered(&cl->net)
                           : 0);
}

int wsio_ws_client_is_done(const wsio_ws_client *cl) {
  return !cl || cl->destroyed || cl->state == ST_DONE;
}

int wsio_ws_client_is_open(const wsio_ws_client *cl) {
  return cl && !cl->destroyed && cl->state == ST_OPEN;
}

void wsio_ws_client_destroy(wsio_ws_client *cl) {
  if (!cl || cl->destroyed)
    return;
  cl->destroyed = 1;
  cl->state = ST_DONE;
  client_resolve_cancel(cl->resolving);
  cl->resolving = NULL;
  if (cl->linked)
    net_close(&cl->net);
  loop_timer_stop(cl->loop, &cl->timer);
  loop_timer_stop(cl->loop, &cl->retry);
  loop_timer_stop(cl->loop, &cl->ping);
  loop_timer_stop(cl->loop, &cl->flush);
  queue_clear(cl);
  /* The buffers may be in use by the callback that called us (read_frames): the
   * record and the rest go in the next post phase (cl_post). */
}
