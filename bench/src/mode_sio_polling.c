/* bench/src/mode_sio_polling.c — sio-polling: -c Socket.IO clients on the HTTP
 * long-polling transport, each doing echo round trips one at a time. Measures round
 * trips/s, round-trip time, and the server's CPU time per round trip.
 *
 * Each client holds two HTTP/1.1 keep-alive connections, as a browser does: one for
 * GETs (receiving), one for POSTs (sending). Session: GET PATH?EIO=4&transport=polling
 * gives the open packet 0{"sid":...}; POST "40" (CONNECT "/"); GETs until 40{"sid":...}
 * arrives. Then the loop: POST 42["echo","<-s chars>"] and GET until the reply
 * 42["echo","<the same>"] arrives, checked byte for byte; the next POST goes once both
 * the reply and the previous POST's "ok" are in. A GET is always outstanding (re-issued
 * as soon as one returns); a payload holds packets separated by \x1e; a ping "2" is
 * answered by POSTing "3" (in the next POST, alone if nothing else is due). Responses
 * must carry Content-Length (the server must not close a connection with a request on
 * it; a keep-alive connection it closes while idle is reopened when next needed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hist.h"
#include "modes.h"
#include "sio.h"

#define MAX_HEAD 16384
#define MAX_BODY (4u << 20)
#define LIT(s) (sizeof(s) - 1)

static const char EV_HEAD[] = "42[\"echo\",\"";
static const char TAIL[] = "\"]";

enum { P_HANDSHAKE = 0, P_CONNECTING, P_READY, P_FAILED };
enum { GETC = 0, POSTC = 1 };

typedef struct {
  bench_conn *conn[2]; /* GET and POST connections (NULL: none now) */
  uint8_t open[2];     /* TCP connected */
  uint8_t was_open[2]; /* connected once: bench_open made it, so reopening is ours */
  uint8_t out[2];      /* a request outstanding */
  uint8_t phase;
  uint8_t get_want;  /* a GET should be outstanding */
  uint8_t pong_due;  /* "3" to POST */
  uint8_t echo_due;  /* the next echo may be POSTed */
  uint8_t echo_out;  /* an echo POSTed whose reply has not come */
  uint8_t connect_sent;
  char sid[64];
  uint64_t seq; /* echoes sent */
  uint64_t t_sent;
} pclient;

typedef struct {
  const bench_opts *o;
  bench_loop *l;
  pclient *cl;
  char *scratch;
  uint64_t ready, failed;
  int sending, measuring;
  uint64_t trips; /* round trips completed while measuring */
  uint64_t gets, posts, pongs;
  uint64_t verify_errors, http_errors, sio_errors, reopened;
  hist rtt;
} poll_state;

static void fail(poll_state *s, pclient *k, const char *what, const char *p, size_t n) {
  bench_note(s->l, "sio-polling: client %ld: %s%s%.*s", (long)(k - s->cl), what, p ? ": " : "",
             (int)(n > 120 ? 120 : n), p ? p : "");
  if (k->phase != P_FAILED) {
    k->phase = P_FAILED;
    s->failed++;
  }
  for (int w = 0; w < 2; w++)
    if (k->conn[w]) {
      bench_conn *c = k->conn[w];
      k->conn[w] = NULL;
      bench_conn_close(c);
    }
}

static void payload_fill(char *p, size_t n, uint32_t id, uint64_t seq) {
  size_t h = 0;
  if (n >= 16) {
    sio_hex_put(p, seq);
    h = 16;
  }
  sio_text_fill(p + h, n - h, (uint64_t)id << 40 ^ seq);
}

/* Makes sure connection w of client k exists; returns 1 when it is open for a request. */
static int conn_ready(poll_state *s, pclient *k, int w) {
  if (k->phase == P_FAILED) return 0;
  if (!k->conn[w]) {
    if (!k->was_open[w]) return 0; /* bench_open is still opening it */
    k->open[w] = k->out[w] = 0;
    k->conn[w] = bench_connect(s->l, (uint32_t)((k - s->cl) * 2 + w));
    if (!k->conn[w]) {
      fail(s, k, "cannot open a connection", NULL, 0);
      return 0;
    }
    s->reopened++;
  }
  return k->open[w] && !k->out[w];
}

static void send_request(poll_state *s, pclient *k, int w, const char *body, size_t blen) {
  bench_loop *l = s->l;
  char head[512];
  int n;
  if (w == GETC)
    n = snprintf(head, sizeof head, "GET %s?EIO=4&transport=polling%s%s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n",
                 l->path, k->sid[0] ? "&sid=" : "", k->sid, l->host);
  else
    n = snprintf(head, sizeof head,
                 "POST %s?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n"
                 "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n\r\n",
                 l->path, k->sid, l->host, blen);
  bench_write(k->conn[w], head, (size_t)n);
  if (blen) bench_write(k->conn[w], body, blen);
  k->out[w] = 1;
  if (w == GETC)
    s->gets++;
  else
    s->posts++;
}

static void try_get(poll_state *s, pclient *k) {
  if (k->get_want && conn_ready(s, k, GETC)) send_request(s, k, GETC, NULL, 0);
}

/* POSTs whatever is due (pong, CONNECT, the next echo) in one payload. */
static void try_post(poll_state *s, pclient *k) {
  if (k->phase == P_FAILED || k->phase == P_HANDSHAKE) return;
  int connect = !k->connect_sent, echo = k->phase == P_READY && k->echo_due && s->sending;
  if (!k->pong_due && !connect && !echo) return;
  if (!conn_ready(s, k, POSTC)) return;
  size_t n = s->o->size, len = 0;
  char *b = s->scratch;
  if (k->pong_due) {
    b[len++] = '3';
    k->pong_due = 0;
    s->pongs++;
  }
  if (connect) {
    if (len) b[len++] = '\x1e';
    memcpy(b + len, "40", 2), len += 2;
    k->connect_sent = 1;
  }
  if (echo) {
    if (len) b[len++] = '\x1e';
    memcpy(b + len, EV_HEAD, LIT(EV_HEAD)), len += LIT(EV_HEAD);
    payload_fill(b + len, n, (uint32_t)(k - s->cl), k->seq), len += n;
    memcpy(b + len, TAIL, LIT(TAIL)), len += LIT(TAIL);
    k->echo_due = 0;
    k->echo_out = 1;
    k->t_sent = s->l->now;
  }
  send_request(s, k, POSTC, b, len);
}

/* One packet of a GET payload. */
static void on_packet(poll_state *s, pclient *k, const char *p, size_t n) {
  if (n == 1 && p[0] == '2') {
    k->pong_due = 1;
    return;
  }
  if (n == 1 && p[0] == '6') return; /* noop */
  if (n >= 2 && p[0] == '4' && p[1] == '0' && k->phase == P_CONNECTING &&
      sio_find_sid((const uint8_t *)p + 2, n - 2, NULL, 0)) {
    k->phase = P_READY;
    k->echo_due = 1;
    s->ready++;
    return;
  }
  if (n >= 2 && p[0] == '4' && p[1] == '2' && k->phase == P_READY && k->echo_out) {
    size_t sz = s->o->size;
    uint32_t id = (uint32_t)(k - s->cl);
    char *want = s->scratch + LIT(EV_HEAD);
    payload_fill(want, sz, id, k->seq);
    if (n != LIT(EV_HEAD) + sz + LIT(TAIL) || memcmp(p, EV_HEAD, LIT(EV_HEAD)) != 0 ||
        memcmp(p + LIT(EV_HEAD), want, sz) != 0 || memcmp(p + LIT(EV_HEAD) + sz, TAIL, LIT(TAIL)) != 0) {
      s->verify_errors++;
      bench_note(s->l, "sio-polling: client %u echo %llu: got %.*s%s", id, (unsigned long long)k->seq,
                 (int)(n > 100 ? 100 : n), p, n > 100 ? "..." : "");
    }
    if (s->measuring) {
      s->trips++;
      hist_add(&s->rtt, s->l->now - k->t_sent);
    }
    k->seq++;
    k->echo_out = 0;
    k->echo_due = 1;
    return;
  }
  s->sio_errors++;
  bench_note(s->l, "sio-polling: client %ld: unexpected packet %.*s", (long)(k - s->cl), (int)(n > 100 ? 100 : n), p);
  if (n >= 1 && p[0] == '1') fail(s, k, "the server closed the session", NULL, 0);
}

static void on_get_body(poll_state *s, pclient *k, const char *p, size_t n) {
  if (k->phase == P_HANDSHAKE) {
    if (n < 2 || p[0] != '0' || !sio_find_sid((const uint8_t *)p + 1, n - 1, k->sid, sizeof k->sid)) {
      s->sio_errors++;
      fail(s, k, "bad handshake response", p, n);
      return;
    }
    k->phase = P_CONNECTING;
    return;
  }
  for (size_t i = 0; i <= n;) {
    const char *e = memchr(p + i, '\x1e', n - i);
    size_t len = e ? (size_t)(e - (p + i)) : n - i;
    on_packet(s, k, p + i, len);
    if (k->phase == P_FAILED) return;
    i += len + 1;
  }
}

static int header_is(const char *line, size_t len, const char *name) {
  size_t n = strlen(name);
  return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

static long on_data(bench_conn *c, const uint8_t *buf, size_t have) {
  poll_state *s = c->loop->ctx;
  pclient *k = &s->cl[c->id / 2];
  int w = (int)(c->id % 2);
  const char *p = (const char *)buf;
  const char *end = memmem(p, have, "\r\n\r\n", 4);
  if (!end) {
    if (have <= MAX_HEAD) return 0;
    s->http_errors++;
    fail(s, k, "response head too long", NULL, 0);
    return -1;
  }
  if (!k->out[w]) {
    s->http_errors++;
    fail(s, k, "a response to no request", p, (size_t)(end - p));
    return -1;
  }
  const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
  int status = 0;
  if ((size_t)(eol - p) >= 12 && strncmp(p, "HTTP/1.1 ", 9) == 0) status = atoi(p + 9);
  long clen = -1;
  int close_after = 0;
  for (const char *line = eol + 2; line < end;) {
    const char *le = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
    size_t len = (size_t)(le - line);
    const char *v = memchr(line, ':', len);
    v = v ? v + 1 : le;
    while (v < le && (*v == ' ' || *v == '\t')) v++;
    if (header_is(line, len, "content-length"))
      clen = atol(v);
    else if (header_is(line, len, "connection") && strncasecmp(v, "close", 5) == 0)
      close_after = 1;
    else if (header_is(line, len, "transfer-encoding")) {
      s->http_errors++;
      fail(s, k, "Transfer-Encoding (only Content-Length bodies are read)", line, len);
      return -1;
    }
    line = le + 2;
  }
  size_t head = (size_t)(end + 4 - p);
  if (clen < 0 || clen > (long)MAX_BODY) {
    s->http_errors++;
    fail(s, k, "no usable Content-Length", p, head);
    return -1;
  }
  if (have - head < (size_t)clen) return 0;
  const char *body = p + head;
  k->out[w] = 0;
  if (status != 200) {
    s->http_errors++;
    char what[64];
    snprintf(what, sizeof what, "%s answered %d", w == GETC ? "GET" : "POST", status);
    fail(s, k, what, body, (size_t)clen);
    return -1;
  }
  if (w == GETC)
    on_get_body(s, k, body, (size_t)clen);
  else if (clen != 2 || memcmp(body, "ok", 2) != 0) {
    s->http_errors++;
    fail(s, k, "POST not answered \"ok\"", body, (size_t)clen);
  }
  if (k->phase == P_FAILED) return -1;
  if (close_after) {
    k->conn[w] = NULL;
    bench_conn_close(c);
  }
  try_get(s, k);
  try_post(s, k);
  return close_after ? -1 : (long)head + clen;
}

static void on_open(bench_conn *c) {
  poll_state *s = c->loop->ctx;
  pclient *k = &s->cl[c->id / 2];
  int w = (int)(c->id % 2);
  if (k->conn[w] != c) k->conn[w] = c; /* the first connections, opened by bench_open */
  k->open[w] = k->was_open[w] = 1;
  try_get(s, k);
  try_post(s, k);
}

static void on_close(bench_conn *c, int why) {
  poll_state *s = c->loop->ctx;
  pclient *k = &s->cl[c->id / 2];
  int w = (int)(c->id % 2);
  if (why == BC_END_LOCAL) { /* closed by us: at the end, after a failure, or on Connection: close */
    if (k->conn[w] == c) k->conn[w] = NULL, k->open[w] = 0;
    return;
  }
  if (why == BC_END_CONNECT_FAIL || why == BC_END_HANDSHAKE_FAIL) {
    if (k->conn[w] == c) k->conn[w] = NULL, k->open[w] = 0;
    fail(s, k, "could not connect", NULL, 0);
    return;
  }
  if (k->conn[w] != c) return;
  k->conn[w] = NULL;
  k->open[w] = 0;
  if (why == BC_END_EOF && !k->out[w] && k->phase != P_FAILED) return; /* idle keep-alive closed: reopen later */
  if (why == BC_END_EOF) {
    s->http_errors++;
    fail(s, k, w == GETC ? "the server closed the GET connection with a request on it"
                         : "the server closed the POST connection with a request on it",
         NULL, 0);
  } else if (k->phase != P_FAILED) {
    fail(s, k, "could not connect", NULL, 0);
  }
}

static int all_ready(bench_loop *l) {
  poll_state *s = l->ctx;
  return s->ready + s->failed >= s->o->conns;
}

int mode_sio_polling(const bench_opts *o, report *r) {
  poll_state s = {.o = o};
  bench_loop l;
  s.l = &l;
  s.cl = calloc(o->conns, sizeof *s.cl);
  s.scratch = malloc(o->size + 64);
  bench_handlers h = {.on_open = on_open, .on_close = on_close, .on_data = on_data};
  if (!s.cl || !s.scratch || bench_loop_init(&l, o->url, "/socket.io/", o->nsrc, h, &s) != 0) return 1;
  l.raw = 1;
  hist_reset(&s.rtt);
  for (uint32_t i = 0; i < o->conns; i++) s.cl[i].get_want = 1;

  /* Open both connections of every client; a GET connection sends the handshake as
   * soon as it is up, and the rest follows from the responses. */
  uint64_t deadline = open_deadline(o->conns);
  s.sending = 1;
  bench_open(&l, 0, 2 * o->conns, o->pending, deadline);
  bench_loop_run(&l, deadline, 10, all_ready, NULL);
  if (s.ready < o->conns) {
    fprintf(stderr, "wsio-bench: only %llu of %u Socket.IO polling clients connected\n",
            (unsigned long long)s.ready, o->conns);
    bench_loop_free(&l);
    return 1;
  }
  bench_loop_run(&l, now_ns() + (uint64_t)(o->warmup * 1e9), 0, NULL, NULL);
  cpu_snap a, b;
  cpu_snap_take(&a, o->pid);
  uint64_t gets = s.gets, posts = s.posts, reads = l.n.reads;
  s.measuring = 1;
  bench_loop_run(&l, a.wall_ns + (uint64_t)(o->duration * 1e9), 0, NULL, NULL);
  s.measuring = 0;
  cpu_snap_take(&b, o->pid);
  gets = s.gets - gets;
  posts = s.posts - posts;
  reads = l.n.reads - reads;
  s.sending = 0;
  uint64_t failed = s.failed;
  bench_loop_close_all(&l);

  double secs = (double)(b.wall_ns - a.wall_ns) / 1e9;
  report_str(r, "mode", NULL, "sio-polling");
  report_str(r, "url", "url", o->url);
  report_num(r, "connections", "Socket.IO polling clients", o->conns, 0, NULL);
  report_num(r, "size", "payload (JSON string)", (double)o->size, 0, "chars");
  report_num(r, "duration_s", "measured", secs, 2, "s");
  report_num(r, "round_trips", "round trips", (double)s.trips, 0, NULL);
  report_num(r, "round_trips_per_s", "round trips/s", (double)s.trips / secs, 0, NULL);
  report_num(r, "rtt_p50_us", "RTT p50", (double)hist_quantile(&s.rtt, 0.50) / 1e3, 1, "us");
  report_num(r, "rtt_p99_us", "RTT p99", (double)hist_quantile(&s.rtt, 0.99) / 1e3, 1, "us");
  report_num(r, "rtt_max_us", "RTT max", (double)s.rtt.max / 1e3, 1, "us");
  report_cpu(r, &a, &b, (double)s.trips, "server_cpu_ns_per_round_trip", "server CPU per round trip");
  report_num(r, "requests_per_round_trip", "HTTP requests/round trip",
             s.trips ? (double)(gets + posts) / (double)s.trips : 0, 2, NULL);
  report_num(r, "reads_per_round_trip", "read()s per round trip", s.trips ? (double)reads / (double)s.trips : 0,
             2, NULL);
  report_num(r, "pongs_sent", "pings answered", (double)s.pongs, 0, NULL);
  report_num(r, "reconnects", "keep-alive reconnects", (double)s.reopened, 0, NULL);
  report_num(r, "verify_errors", "verification errors", (double)s.verify_errors, 0, NULL);
  report_num(r, "http_errors", "HTTP errors", (double)s.http_errors, 0, NULL);
  report_num(r, "socketio_errors", "Socket.IO protocol errors", (double)s.sio_errors, 0, NULL);
  report_num(r, "clients_failed", "clients failed", (double)failed, 0, NULL);
  uint64_t errs = report_conn_errors(r, &l) + s.verify_errors + s.http_errors + s.sio_errors + failed;
  bench_loop_free(&l);
  free(s.cl);
  free(s.scratch);
  return errs ? 2 : 0;
}
