/* bench/src/mode_echo.c — echo: -c connections keep -d messages of -s bytes in flight
 * each; every echo is checked (opcode, length, every payload byte) and answered with
 * the next message. Measures messages/s, round-trip time, and the server's CPU time per
 * message.
 *
 * A connection's echoes come back in order (one TCP stream, one server connection), so
 * the expected payload and the send time of each reply are found by its position: no
 * sequence number in the payload, and any -s down to 0 works.
 *
 * --raw speaks plain TCP to a raw echo server (bench/peers/tcp-echo): no handshake, no
 * framing, the same -s payload bytes per message; the stream is cut back into messages
 * by length, so a message is only checked once all of its bytes are in (a partial one
 * waits in the connection's input buffer). It is the floor a WebSocket echo is held
 * against: the kernel's cost of moving the same bytes, and nothing else. */
#include <stdio.h>
#include <stdlib.h>

#include "hist.h"
#include "modes.h"

typedef struct {
  const bench_opts *o;
  uint64_t *sent, *recvd; /* per connection */
  uint64_t *t_sent;       /* conns x depth ring of send times */
  int sending, measuring;
  uint64_t msgs; /* echoes received while measuring */
  uint64_t verify_errors;
  uint8_t *scratch; /* --raw: the next message's bytes before bench_write copies them */
  hist rtt;
} echo_state;

static uint64_t seed_of(uint32_t id, uint64_t seq) { return (uint64_t)id << 40 ^ seq; }

static void send_one(echo_state *e, bench_conn *c) {
  size_t n = e->o->size;
  uint64_t seq = e->sent[c->id]++;
  e->t_sent[(size_t)c->id * e->o->depth + seq % e->o->depth] = c->loop->now;
  if (e->o->raw) {
    proto_pattern_fill(e->scratch, n, seed_of(c->id, seq));
    bench_write(c, e->scratch, n);
    return;
  }
  uint8_t *p = bench_frame_begin(c, OP_BINARY, n);
  proto_pattern_fill(p, n, seed_of(c->id, seq));
  bench_frame_end(c, p, n);
}

static void on_message(bench_conn *c, int opcode, const uint8_t *p, size_t n) {
  echo_state *e = c->loop->ctx;
  uint32_t id = c->id;
  if (e->recvd[id] >= e->sent[id]) {
    e->verify_errors++;
    bench_note(c->loop, "echo: connection %u got a message it did not send", id);
    return;
  }
  uint64_t seq = e->recvd[id]++;
  if (opcode != OP_BINARY || n != e->o->size || !proto_pattern_check(p, n, seed_of(id, seq))) {
    e->verify_errors++;
    bench_note(c->loop, "echo: connection %u message %llu: opcode %d, %zu bytes, content %s", id,
               (unsigned long long)seq, opcode, n,
               n == e->o->size && proto_pattern_check(p, n, seed_of(id, seq)) ? "ok" : "differs");
  }
  if (e->measuring) {
    e->msgs++;
    hist_add(&e->rtt, c->loop->now - e->t_sent[(size_t)id * e->o->depth + seq % e->o->depth]);
  }
  if (e->sending) send_one(e, c);
}

/* --raw: cuts the byte stream into -s byte messages; a partial one is left for later. */
static long on_data(bench_conn *c, const uint8_t *p, size_t n) {
  echo_state *e = c->loop->ctx;
  size_t sz = e->o->size, used = 0;
  while (n - used >= sz) {
    on_message(c, OP_BINARY, p + used, sz);
    used += sz; /* on_message never ends c */
  }
  c->need = sz; /* room for a whole message in the input buffer */
  return (long)used;
}

static void on_close(bench_conn *c, int why) {
  echo_state *e = c->loop->ctx;
  /* A raw server that closes mid-run is as much an error as a WebSocket one that does
   * (the loop counts those itself). */
  if (why == BC_END_EOF && e->sending) {
    c->loop->n.server_closed++;
    bench_note(c->loop, "echo: the server closed connection %u", c->id);
  }
}

static int all_gone(bench_loop *l) { return l->live == 0; }

int mode_echo(const bench_opts *o, report *r) {
  echo_state e = {.o = o};
  e.sent = calloc(o->conns, sizeof *e.sent);
  e.recvd = calloc(o->conns, sizeof *e.recvd);
  e.t_sent = calloc((size_t)o->conns * o->depth, sizeof *e.t_sent);
  if (o->raw && o->size == 0) {
    fprintf(stderr, "wsio-bench: echo --raw needs -s >= 1 (a raw stream has no empty messages)\n");
    return 1;
  }
  e.scratch = o->raw ? malloc(o->size) : NULL;
  bench_loop l;
  bench_handlers h = {.on_message = on_message, .on_close = on_close, .on_data = on_data};
  if (!e.sent || !e.recvd || !e.t_sent || (o->raw && !e.scratch) ||
      bench_loop_init(&l, o->url, "/echo", o->nsrc, h, &e) != 0)
    return 1;
  l.raw = o->raw;
  hist_reset(&e.rtt);

  uint32_t opened = bench_open(&l, 0, o->conns, o->pending, open_deadline(o->conns));
  if (opened < o->conns) {
    fprintf(stderr, "wsio-bench: only %u of %u connections opened\n", opened, o->conns);
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
  report_str(r, "mode", NULL, "echo");
  report_str(r, "url", "url", o->url);
  if (o->raw) report_str(r, "transport", "transport", "raw TCP (--raw)");
  report_num(r, "connections", "connections", o->conns, 0, NULL);
  report_num(r, "in_flight", "in flight per connection", o->depth, 0, NULL);
  report_num(r, "size", "payload", (double)o->size, 0, "B");
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
  uint64_t errs = report_conn_errors(r, &l) + e.verify_errors + (live < o->conns ? 1 : 0);
  bench_loop_free(&l);
  free(e.sent);
  free(e.recvd);
  free(e.t_sent);
  free(e.scratch);
  return errs ? 2 : 0;
}
