/* bench/src/mode_sio_echo.c — sio-echo: -c Socket.IO clients (WebSocket transport,
 * namespace "/") keep -d events in flight each: 42["echo","<S chars>"], answered by the
 * bench app with 42["echo","<the same>"] (with --ack: 42<id>["echo",...] answered by the
 * ack 43<id>["<the same>"]). Every reply is checked byte for byte and answered with the
 * next event. Measures messages/s, round-trip time, and the server's CPU time per
 * message.
 *
 * The payload is a JSON string of -s characters: the message's sequence number in 16
 * hex digits (when -s >= 16), then a pattern derived from the connection and the
 * sequence number. Replies on one socket come back in order (one WebSocket, one
 * server-side socket), so the expected text and send time follow from the position. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "modes.h"
#include "sio.h"

static const char EV_HEAD[] = "[\"echo\",\""; /* ["echo"," */
static const char ACK_HEAD[] = "[\"";         /* [" */
static const char TAIL[] = "\"]";
#define LIT(s) (sizeof(s) - 1)

typedef struct {
  const bench_opts *o;
  sio_layer sio;
  uint64_t *sent, *recvd; /* per connection */
  uint64_t *t_sent;       /* conns x depth ring of send times */
  char *expect;           /* scratch: the payload text a reply must carry */
  int sending, measuring;
  uint64_t msgs; /* replies received while measuring */
  uint64_t verify_errors;
  hist rtt;
} echo_state;

static uint64_t seed_of(uint32_t id, uint64_t seq) { return (uint64_t)id << 40 ^ seq; }

static void payload_fill(char *p, size_t n, uint32_t id, uint64_t seq) {
  size_t h = 0;
  if (n >= 16) {
    sio_hex_put(p, seq);
    h = 16;
  }
  sio_text_fill(p + h, n - h, seed_of(id, seq));
}

static void send_one(echo_state *e, bench_conn *c) {
  size_t n = e->o->size;
  uint64_t seq = e->sent[c->id]++;
  e->t_sent[(size_t)c->id * e->o->depth + seq % e->o->depth] = c->loop->now;
  char id[24];
  size_t idn = e->o->ack ? (size_t)snprintf(id, sizeof id, "%llu", (unsigned long long)seq) : 0;
  size_t len = idn + LIT(EV_HEAD) + n + LIT(TAIL);
  uint8_t *p = sio_emit_begin(c, len), *q = p;
  memcpy(q, id, idn), q += idn;
  memcpy(q, EV_HEAD, LIT(EV_HEAD)), q += LIT(EV_HEAD);
  payload_fill((char *)q, n, c->id, seq), q += n;
  memcpy(q, TAIL, LIT(TAIL));
  sio_emit_end(c, p, len);
}

/* Checks reply p[0..n) (after "42" or "43") against the next message c expects. */
static void on_reply(bench_conn *c, int is_ack, const uint8_t *p, size_t n) {
  echo_state *e = c->loop->ctx;
  uint32_t id = c->id;
  if (e->recvd[id] >= e->sent[id]) {
    e->verify_errors++;
    bench_note(c->loop, "sio-echo: connection %u got a reply to nothing it sent: %.*s", id, (int)(n > 80 ? 80 : n),
               (const char *)p);
    return;
  }
  uint64_t seq = e->recvd[id]++;
  size_t sz = e->o->size;
  const char *head = is_ack ? ACK_HEAD : EV_HEAD;
  size_t hl = is_ack ? LIT(ACK_HEAD) : LIT(EV_HEAD);
  uint64_t ack_id = 0;
  size_t idn = 0;
  int ok = is_ack == e->o->ack;
  if (ok && is_ack) {
    idn = sio_dec_get(p, n, &ack_id);
    ok = idn > 0 && ack_id == seq;
  }
  if (ok) {
    payload_fill(e->expect, sz, id, seq);
    ok = n == idn + hl + sz + LIT(TAIL) && memcmp(p + idn, head, hl) == 0 &&
         memcmp(p + idn + hl, e->expect, sz) == 0 && memcmp(p + idn + hl + sz, TAIL, LIT(TAIL)) == 0;
  }
  if (!ok) {
    e->verify_errors++;
    bench_note(c->loop, "sio-echo: connection %u message %llu: got %s %.*s%s", id, (unsigned long long)seq,
               is_ack ? "ACK" : "EVENT", (int)(n > 80 ? 80 : n), (const char *)p, n > 80 ? "..." : "");
  }
  if (e->measuring) {
    e->msgs++;
    hist_add(&e->rtt, c->loop->now - e->t_sent[(size_t)id * e->o->depth + seq % e->o->depth]);
  }
  if (e->sending) send_one(e, c);
}

static void on_event(bench_conn *c, const uint8_t *p, size_t n) { on_reply(c, 0, p, n); }
static void on_ack(bench_conn *c, const uint8_t *p, size_t n) { on_reply(c, 1, p, n); }

static int all_gone(bench_loop *l) { return l->live == 0; }

int mode_sio_echo(const bench_opts *o, report *r) {
  echo_state e = {.o = o};
  e.sent = calloc(o->conns, sizeof *e.sent);
  e.recvd = calloc(o->conns, sizeof *e.recvd);
  e.t_sent = calloc((size_t)o->conns * o->depth, sizeof *e.t_sent);
  e.expect = malloc(o->size + 1);
  bench_loop l;
  sio_handlers h = {.on_event = on_event, .on_ack = on_ack};
  if (!e.sent || !e.recvd || !e.t_sent || !e.expect || sio_loop_init(&l, &e.sio, o->url, o->nsrc, h, &e) != 0)
    return 1;
  hist_reset(&e.rtt);

  uint32_t joined = sio_open(&l, o->conns, o->pending, open_deadline(o->conns));
  if (joined < o->conns) {
    fprintf(stderr, "wsio-bench: only %u of %u Socket.IO clients connected\n", joined, o->conns);
    bench_loop_free(&l);
    return 1;
  }
  e.sending = 1;
  l.now = now_ns();
  for (bench_conn *c = l.all; c; c = c->next_all)
    for (uint32_t k = 0; k < o->depth; k++) send_one(&e, c);

  bench_loop_run(&l, now_ns() + (uint64_t)(o->warmup * 1e9), 0, all_gone, NULL);
  cpu_snap a, b;
  cpu_snap_take(&a, o->pid);
  uint64_t reads = l.n.reads;
  e.measuring = 1;
  bench_loop_run(&l, a.wall_ns + (uint64_t)(o->duration * 1e9), 0, all_gone, NULL);
  e.measuring = 0;
  cpu_snap_take(&b, o->pid);
  reads = l.n.reads - reads;
  e.sending = 0;
  uint64_t live = l.live;
  bench_loop_close_all(&l);

  double secs = (double)(b.wall_ns - a.wall_ns) / 1e9;
  report_str(r, "mode", NULL, "sio-echo");
  report_str(r, "url", "url", o->url);
  report_num(r, "connections", "Socket.IO clients", o->conns, 0, NULL);
  report_num(r, "in_flight", "in flight per client", o->depth, 0, NULL);
  report_num(r, "size", "payload (JSON string)", (double)o->size, 0, "chars");
  report_str(r, "reply", "reply", o->ack ? "ack" : "event");
  report_num(r, "duration_s", "measured", secs, 2, "s");
  report_num(r, "messages", "messages echoed", (double)e.msgs, 0, NULL);
  report_num(r, "messages_per_s", "messages/s", (double)e.msgs / secs, 0, NULL);
  report_num(r, "rtt_p50_us", "RTT p50", (double)hist_quantile(&e.rtt, 0.50) / 1e3, 1, "us");
  report_num(r, "rtt_p99_us", "RTT p99", (double)hist_quantile(&e.rtt, 0.99) / 1e3, 1, "us");
  report_num(r, "rtt_max_us", "RTT max", (double)e.rtt.max / 1e3, 1, "us");
  report_cpu(r, &a, &b, (double)e.msgs, "server_cpu_ns_per_msg", "server CPU per message");
  report_num(r, "messages_per_read", "messages per read()", reads ? (double)e.msgs / (double)reads : 0, 1,
             NULL);
  report_num(r, "verify_errors", "verification errors", (double)e.verify_errors, 0, NULL);
  uint64_t errs = sio_report(r, &e.sio) + report_conn_errors(r, &l) + e.verify_errors + (live < o->conns ? 1 : 0);
  bench_loop_free(&l);
  free(e.sent);
  free(e.recvd);
  free(e.t_sent);
  free(e.expect);
  return errs ? 2 : 0;
}
