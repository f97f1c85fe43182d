/* bench/src/mode_idle.c — idle: open -c connections, then hold them for -t seconds
 * without sending (pings are still answered). With --pid: the server's RSS
 * (/proc/PID/status VmRSS) before the first connection and SETTLE_NS after the last one
 * opened, divided by the connections, and the server's CPU use while they sit idle.
 *
 * sio-idle does the same with Socket.IO clients (sio.h): each has joined "/" before it
 * counts as open, and answers the server's pings while held. */
#include <stdio.h>

#include "modes.h"
#include "sio.h"

#define SETTLE_NS 1000000000ULL

static void on_message(bench_conn *c, int opcode, const uint8_t *p, size_t n) {
  (void)opcode;
  (void)p;
  bench_note(c->loop, "idle: connection %u got an unexpected %zu-byte message", c->id, n);
}

static void on_event(bench_conn *c, const uint8_t *p, size_t n) { on_message(c, OP_TEXT, p, n); }

static int run_idle(const bench_opts *o, report *r, int sio) {
  bench_loop l;
  bench_handlers h = {.on_message = on_message};
  sio_layer sl;
  sio_handlers sh = {.on_event = on_event, .on_ack = on_event};
  if ((sio ? sio_loop_init(&l, &sl, o->url, o->nsrc, sh, NULL) : bench_loop_init(&l, o->url, "/echo", o->nsrc, h, NULL)) != 0)
    return 1;
  uint64_t rss0 = 0, rss1 = 0, rss2 = 0;
  int have_rss = o->pid > 0 && proc_rss_kib(o->pid, &rss0) == 0;
  uint64_t t0 = now_ns();
  uint64_t deadline = open_deadline(o->conns);
  uint32_t opened = sio ? sio_open(&l, o->conns, o->pending, deadline) : bench_open(&l, 0, o->conns, o->pending, deadline);
  double open_secs = (double)(now_ns() - t0) / 1e9;
  if (opened < o->conns) {
    fprintf(stderr, "wsio-bench: only %u of %u connections opened\n", opened, o->conns);
    bench_loop_free(&l);
    return 1;
  }
  /* Let the server finish whatever it defers after accepting (and a GC run settle). */
  bench_loop_run(&l, now_ns() + SETTLE_NS, 100, NULL, NULL);
  if (have_rss) have_rss = proc_rss_kib(o->pid, &rss1) == 0;
  cpu_snap a, b;
  cpu_snap_take(&a, o->pid);
  bench_loop_run(&l, a.wall_ns + (uint64_t)(o->duration * 1e9), 100, NULL, NULL);
  cpu_snap_take(&b, o->pid);
  if (have_rss) have_rss = proc_rss_kib(o->pid, &rss2) == 0;
  uint64_t live = l.live;
  bench_loop_close_all(&l);

  report_str(r, "mode", NULL, sio ? "sio-idle" : "idle");
  report_str(r, "url", "url", o->url);
  report_num(r, "connections", "connections", o->conns, 0, NULL);
  report_num(r, "open_s", "time to open all", open_secs, 2, "s");
  report_num(r, "duration_s", "held", (double)(b.wall_ns - a.wall_ns) / 1e9, 2, "s");
  report_num(r, "open_at_end", "still open at the end", (double)live, 0, NULL);
  if (have_rss) {
    report_num(r, "rss_before_kib", "server RSS before", (double)rss0, 0, "KiB");
    report_num(r, "rss_after_kib", "server RSS all open", (double)rss1, 0, "KiB");
    report_num(r, "rss_end_kib", "server RSS at the end", (double)rss2, 0, "KiB");
    report_num(r, "rss_per_conn_bytes", "server RSS per connection",
               ((double)rss1 - (double)rss0) * 1024.0 / o->conns, 0, "B");
  }
  report_cpu(r, &a, &b, 0, NULL, NULL);
  uint64_t errs = (sio ? sio_report(r, &sl) : 0) + report_conn_errors(r, &l) + (live < o->conns);
  bench_loop_free(&l);
  return errs ? 2 : 0;
}

int mode_idle(const bench_opts *o, report *r) { return run_idle(o, r, 0); }
int mode_sio_idle(const bench_opts *o, report *r) { return run_idle(o, r, 1); }
