/* bench/src/sio.c — see sio.h. Engine.IO v4 over WebSocket: one Engine.IO packet per
 * text frame, its type the first character (0 open, 1 close, 2 ping, 3 pong, 4 message,
 * 6 noop); a message's data is a Socket.IO packet, type first (0 CONNECT, 1 DISCONNECT,
 * 2 EVENT, 3 ACK, 4 CONNECT_ERROR), the namespace omitted for "/". */
#include "sio.h"

#include <stdio.h>
#include <string.h>

#define SIO_QUERY "?EIO=4&transport=websocket"

static void sio_error(bench_conn *c, const char *what, const uint8_t *p, size_t n) {
  sio_layer *s = c->loop->layer;
  s->errors++;
  bench_note(c->loop, "socket.io: connection %u: %s%s%.*s", c->id, what, p ? ": " : "", (int)(n > 100 ? 100 : n),
             p ? (const char *)p : "");
}

int sio_find_sid(const uint8_t *p, size_t n, char *sid, size_t sid_cap) {
  static const char key[] = "\"sid\":\"";
  if (n < 2 || p[0] != '{') return 0;
  const uint8_t *k = memmem(p, n, key, sizeof key - 1);
  if (!k) return 0;
  const uint8_t *v = k + sizeof key - 1, *end = p + n;
  const uint8_t *q = memchr(v, '"', (size_t)(end - v));
  if (!q || q == v) return 0;
  size_t len = (size_t)(q - v);
  if (sid && sid_cap) {
    if (len >= sid_cap) return 0;
    memcpy(sid, v, len);
    sid[len] = '\0';
  }
  return 1;
}

static void send_text(bench_conn *c, const char *t) {
  size_t n = strlen(t);
  uint8_t *p = bench_frame_begin(c, OP_TEXT, n);
  memcpy(p, t, n);
  bench_frame_end(c, p, n);
}

static void on_ws_open(bench_conn *c) { c->ust = SIO_WAIT_OPEN; }

static void on_ws_close(bench_conn *c, int why) {
  sio_layer *s = c->loop->layer;
  if (s->h.on_close) s->h.on_close(c, why);
}

static void on_ws_message(bench_conn *c, int opcode, const uint8_t *p, size_t n) {
  sio_layer *s = c->loop->layer;
  if (opcode != OP_TEXT || n == 0) {
    sio_error(c, opcode != OP_TEXT ? "binary frame (no binary packets were sent)" : "empty frame", NULL, 0);
    return;
  }
  switch (p[0]) {
  case '0': /* open: {"sid":...,"upgrades":[],"pingInterval":...,...} */
    if (c->ust != SIO_WAIT_OPEN || !sio_find_sid(p + 1, n - 1, NULL, 0)) {
      sio_error(c, "unexpected or malformed open packet", p, n);
      return;
    }
    c->ust = SIO_WAIT_CONNECT;
    send_text(c, "40");
    return;
  case '2': /* ping: Engine.IO v4 has the server ping and the client answer */
    if (n != 1) {
      sio_error(c, "ping with data (only probes carry data)", p, n);
      return;
    }
    s->pings++;
    send_text(c, "3");
    return;
  case '6': return; /* noop */
  case '1': sio_error(c, "the server closed the Engine.IO session", p, n); return;
  case '4': break;
  default: sio_error(c, "unknown Engine.IO packet", p, n); return;
  }
  if (n < 2) {
    sio_error(c, "empty Engine.IO message", p, n);
    return;
  }
  switch (p[1]) {
  case '0':
    if (c->ust != SIO_WAIT_CONNECT || !sio_find_sid(p + 2, n - 2, NULL, 0)) {
      sio_error(c, "unexpected or malformed CONNECT", p, n);
      return;
    }
    c->ust = SIO_CONNECTED;
    s->connected++;
    if (s->h.on_connect) s->h.on_connect(c);
    return;
  case '2':
  case '3':
    if (c->ust != SIO_CONNECTED || n < 3 || !(p[2] == '[' || (p[2] >= '0' && p[2] <= '9'))) {
      sio_error(c, "unexpected EVENT/ACK (not connected, or not on \"/\")", p, n);
      return;
    }
    if (p[1] == '2' && s->h.on_event)
      s->h.on_event(c, p + 2, n - 2);
    else if (p[1] == '3' && s->h.on_ack)
      s->h.on_ack(c, p + 2, n - 2);
    else
      sio_error(c, "unexpected packet", p, n);
    return;
  case '1': sio_error(c, "the server disconnected the socket", p, n); return;
  case '4': sio_error(c, "CONNECT_ERROR", p, n); return;
  default: sio_error(c, "unexpected Socket.IO packet", p, n); return;
  }
}

int sio_loop_init(bench_loop *l, sio_layer *s, const char *url, uint32_t nsrc, sio_handlers h, void *ctx) {
  memset(s, 0, sizeof *s);
  s->h = h;
  bench_handlers bh = {.on_open = on_ws_open, .on_message = on_ws_message, .on_close = on_ws_close};
  if (bench_loop_init(l, url, "/socket.io/", nsrc, bh, ctx) != 0) return -1;
  if (!strchr(l->path, '?')) {
    if (strlen(l->path) + sizeof SIO_QUERY > sizeof l->path) {
      fprintf(stderr, "wsio-bench: --url path too long\n");
      return -1;
    }
    strcat(l->path, SIO_QUERY);
  }
  l->layer = s;
  return 0;
}

static uint32_t want_connected;

static int all_connected(bench_loop *l) {
  sio_layer *s = l->layer;
  /* Everyone who will ever join has: the rest failed (and ended) on the way. */
  return s->connected >= want_connected || s->connected >= l->live;
}

uint32_t sio_open(bench_loop *l, uint32_t n, uint32_t max_pending, uint64_t deadline) {
  sio_layer *s = l->layer;
  uint64_t before = s->connected;
  bench_open(l, 0, n, max_pending, deadline);
  want_connected = (uint32_t)(before + n);
  bench_loop_run(l, deadline, 10, all_connected, NULL);
  return (uint32_t)(s->connected - before);
}

uint8_t *sio_emit_begin(bench_conn *c, size_t n) {
  uint8_t *p = bench_frame_begin(c, OP_TEXT, n + 2);
  p[0] = '4';
  p[1] = '2';
  return p + 2;
}

void sio_emit_end(bench_conn *c, uint8_t *p, size_t n) { bench_frame_end(c, p - 2, n + 2); }

uint64_t sio_report(report *r, const sio_layer *s) {
  report_num(r, "pings_answered", "pings answered", (double)s->pings, 0, NULL);
  report_num(r, "socketio_errors", "Socket.IO protocol errors", (double)s->errors, 0, NULL);
  return s->errors;
}

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static uint64_t lcg(uint64_t x) { return x * 6364136223846793005ULL + 1442695040888963407ULL; }

void sio_text_fill(char *p, size_t n, uint64_t seed) {
  uint64_t x = lcg(seed);
  for (size_t i = 0; i < n; i++) {
    if (i % 10 == 0) x = lcg(x);
    p[i] = alphabet[(x >> (6 * (i % 10))) & 63];
  }
}

int sio_text_check(const char *p, size_t n, uint64_t seed) {
  uint64_t x = lcg(seed);
  for (size_t i = 0; i < n; i++) {
    if (i % 10 == 0) x = lcg(x);
    if (p[i] != alphabet[(x >> (6 * (i % 10))) & 63]) return 0;
  }
  return 1;
}

void sio_hex_put(char *p, uint64_t v) {
  static const char hex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; i--, v >>= 4) p[i] = hex[v & 15];
}

int sio_hex_get(const char *p, uint64_t *v) {
  uint64_t x = 0;
  for (int i = 0; i < 16; i++) {
    char ch = p[i];
    unsigned d;
    if (ch >= '0' && ch <= '9')
      d = (unsigned)(ch - '0');
    else if (ch >= 'a' && ch <= 'f')
      d = (unsigned)(ch - 'a' + 10);
    else
      return -1;
    x = x << 4 | d;
  }
  *v = x;
  return 0;
}

size_t sio_dec_get(const uint8_t *p, size_t n, uint64_t *v) {
  uint64_t x = 0;
  size_t i = 0;
  for (; i < n && i < 19 && p[i] >= '0' && p[i] <= '9'; i++) x = x * 10 + (uint64_t)(p[i] - '0');
  *v = x;
  return i;
}
