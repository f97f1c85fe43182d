/* bench/src/mode_connect.c — connect: -c connections at a time each go through TCP
 * connect, the opening handshake (checked as in every mode), a close frame from us and
 * the server's close frame back; then the slot opens the next one. Measures completed
 * handshakes/s, handshake time (connect() to a checked 101) and the server's CPU time
 * per handshake (which includes accepting and closing). */
#include <stdio.h>

#include "hist.h"
#include "modes.h"

typedef struct {
  const bench_opts *o;
  int running, measuring;
  uint64_t handshakes; /* completed while measuring */
  hist lat;
} connect_state;

static void on_open(bench_conn *c) {
  connect_state *s = c->loop->ctx;
  if (s->measuring) {
    s->handshakes++;
    hist_add(&s->lat, c->t_open - c->t_start);
  }
  bench_conn_start_close(c);
}

static void on_message(bench_conn *c, int opcode, const uint8_t *p, size_t n) {
  (void)opcode;
  (void)p;
  bench_note(c->loop, "connect: connection %u got an unexpected %zu-byte message", c->id, n);
}

/* Refills the slots after every batch: ended connections are replaced here rather than
 * from on_close, so one failing slot cannot spin inside a single event. */
static void refill(bench_loop *l) {
  connect_state *s = l->ctx;
  while (s->running && l->live < s->o->conns)
    if (!bench_connect(l, (uint32_t)(l->n.opened + l->live))) break;
}

/* A server that refuses everything should not keep us busy for the whole run. */
static int hopeless(bench_loop *l) {
  uint64_t failed = l->n.connect_fail + l->n.handshake_fail;
  return failed > 1000 && failed > l->n.opened;
}

int mode_connect(const bench_opts *o, report *r) {
  connect_state s = {.o = o};
  bench_loop l;
  bench_handlers h = {.on_open = on_open, .on_message = on_message};
  if (bench_loop_init(&l, o->url, "/echo", o->nsrc, h, &s) != 0) return 1;
  hist_reset(&s.lat);
  s.running = 1;
  refill(&l);
  bench_loop_run(&l, now_ns() + (uint64_t)(o->warmup * 1e9), 10, hopeless, refill);
  cpu_snap a, b;
  cpu_snap_take(&a, o->pid);
  s.measuring = 1;
  bench_loop_run(&l, a.wall_ns + (uint64_t)(o->duration * 1e9), 10, hopeless, refill);
  s.measuring = 0;
  cpu_snap_take(&b, o->pid);
  s.running = 0;
  bench_loop_close_all(&l);

  double secs = (double)(b.wall_ns - a.wall_ns) / 1e9;
  report_str(r, "mode", NULL, "connect");
  report_str(r, "url", "url", o->url);
  report_num(r, "concurrency", "concurrency", o->conns, 0, NULL);
  report_num(r, "duration_s", "measured", secs, 2, "s");
  report_num(r, "handshakes", "handshakes", (double)s.handshakes, 0, NULL);
  report_num(r, "handshakes_per_s", "handshakes/s", (double)s.handshakes / secs, 0, NULL);
  report_num(r, "handshake_p50_us", "handshake p50", (double)hist_quantile(&s.lat, 0.50) / 1e3, 1, "us");
  report_num(r, "handshake_p99_us", "handshake p99", (double)hist_quantile(&s.lat, 0.99) / 1e3, 1, "us");
  report_cpu(r, &a, &b, (double)s.handshakes, "server_cpu_ns_per_handshake", "server CPU per handshake");
  uint64_t errs = report_conn_errors(r, &l) + (uint64_t)hopeless(&l);
  bench_loop_free(&l);
  return errs ? 2 : 0;
}
