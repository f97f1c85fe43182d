/* bench/src/mode_broadcast.c — broadcast: -c subscribers on /broadcast; subscriber 0 is
 * also the publisher. Each message carries [0..8) a sequence number, [8..16) its send
 * time (CLOCK_MONOTONIC ns, same process, so latency needs no clock sync), and a pattern
 * derived from the sequence number in the rest; every delivery is checked.
 *
 * Pacing: --rate R publishes R messages/s on a 1 ms tick; otherwise a window keeps at
 * most --window messages outstanding, "outstanding" meaning published but not yet
 * received by every live subscriber, so the publisher runs as fast as the slowest
 * subscriber is served. A message nobody has completed after STALL_NS no longer holds
 * the window (a server that drops must not freeze the run); it still counts as lost.
 *
 * Lost = published x subscribers - deliveries, counted after publishing stops and the
 * stragglers have arrived: the drain ends when every message is complete, or nothing
 * arrived for --drain seconds, or after DRAIN_CAP x --drain in all. Out of order = a delivery whose sequence
 * number is not above the highest that subscriber has seen.
 *
 * sio-broadcast is the same over Socket.IO (sio.h): every client emits
 * 42["join","bench"] and then 42["echo","joined"], whose reply proves the join was
 * handled (a socket's events are handled in order), and publishing starts once all have
 * joined. Client 0 publishes 42["bcast","<text>"], the text being the sequence number
 * and the send time in 16 hex digits each, then a pattern from the sequence number (-s
 * characters in all); the bench app sends 42["bcast","<the same>"] to the room, so to
 * every client, publisher included.
 *
 * Across a cluster (--url2: odd-numbered clients on the second node, the publisher on
 * the first) the odd clients' deliveries also go into a histogram of their own: what
 * crossed nodes through the adapter, the first node's own clients left out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "modes.h"
#include "sio.h"

#define STALL_NS 2000000000ULL
#define DRAIN_CAP 5
#define RATE_RING (1u << 18)
#define PATTERN_SALT 0xB0ADCA57ULL
#define HEADER_BYTES 16
#define SIO_HEADER_CHARS 32 /* two 16-digit hex fields */
#define LIT(s) (sizeof(s) - 1)

static const char BCAST_HEAD[] = "[\"bcast\",\"";
static const char JOIN_EVENT[] = "[\"join\",\"bench\"]";
static const char JOINED_EVENT[] = "[\"echo\",\"joined\"]";
static const char TAIL[] = "\"]";

typedef struct {
  uint64_t seq; /* which message this slot tracks now */
  uint64_t t_pub;
  uint32_t cnt; /* subscribers that received it */
} slot;

typedef struct {
  const bench_opts *o;
  bench_conn *publisher;
  uint64_t *recv_count, *next_seq; /* per subscriber; next_seq = highest seen + 1 */
  slot *ring;
  uint64_t ring_mask;
  uint64_t published, done_upto; /* every seq < done_upto is complete (or given up on) */
  uint64_t alive;                /* subscribers still connected */
  uint64_t deliveries, window_deliveries, out_of_order, verify_errors;
  uint64_t last_delivery; /* when the latest delivery arrived */
  uint64_t rate_t0;       /* rate pacing starts here, from message 0 */
  int publishing, measuring, draining;
  int sio;           /* sio-broadcast */
  sio_layer sl;      /* its Socket.IO layer */
  uint64_t joined;   /* sio: clients whose join was confirmed */
  hist lat;
  hist lat_remote; /* --url2: deliveries to the second node's clients only */
} bc_state;

static void advance(bc_state *s) {
  while (s->done_upto < s->published) {
    slot *sl = &s->ring[s->done_upto & s->ring_mask];
    if (sl->seq == s->done_upto && sl->cnt < s->alive) break;
    s->done_upto++;
  }
}

static void publish(bc_state *s, bench_loop *l) {
  size_t n = s->o->size;
  uint64_t seq = s->published++;
  uint64_t t = now_ns();
  slot *sl = &s->ring[seq & s->ring_mask];
  sl->seq = seq;
  sl->t_pub = t;
  sl->cnt = 0;
  (void)l;
  if (s->sio) {
    size_t len = LIT(BCAST_HEAD) + n + LIT(TAIL);
    uint8_t *p = sio_emit_begin(s->publisher, len);
    char *q = (char *)p;
    memcpy(q, BCAST_HEAD, LIT(BCAST_HEAD)), q += LIT(BCAST_HEAD);
    sio_hex_put(q, seq);
    sio_hex_put(q + 16, t);
    sio_text_fill(q + SIO_HEADER_CHARS, n - SIO_HEADER_CHARS, seq ^ PATTERN_SALT);
    memcpy(q + n, TAIL, LIT(TAIL));
    sio_emit_end(s->publisher, p, len);
    return;
  }
  uint8_t *p = bench_frame_begin(s->publisher, OP_BINARY, n);
  proto_put64(p, seq);
  proto_put64(p + 8, t);
  proto_pattern_fill(p + HEADER_BYTES, n - HEADER_BYTES, seq ^ PATTERN_SALT);
  bench_frame_end(s->publisher, p, n);
}

static void pump(bench_loop *l) {
  bc_state *s = l->ctx;
  if (!s->publishing || !s->publisher) return;
  if (s->o->rate > 0) {
    if (l->now <= s->rate_t0) return;
    uint64_t due = (uint64_t)((double)(l->now - s->rate_t0) * s->o->rate / 1e9);
    /* Never more than the ring tracks, nor into a publisher socket the server has
     * stopped reading (its output would only pile up in our memory). */
    while (s->published < due && s->published - s->done_upto < s->ring_mask &&
           bench_conn_backlog(s->publisher) < (4u << 20))
      publish(s, l);
    return;
  }
  while (s->published - s->done_upto < s->o->window) publish(s, l);
}

static void tick(bench_loop *l) {
  bc_state *s = l->ctx;
  if (!s->draining) {
    while (s->done_upto < s->published && s->ring[s->done_upto & s->ring_mask].t_pub + STALL_NS < l->now)
      s->done_upto++;
    advance(s);
  }
  pump(l);
}

/* Counts a checked delivery of message seq, sent at t_pub, to subscriber c. */
static void deliver(bench_conn *c, uint64_t seq, uint64_t t_pub) {
  bench_loop *l = c->loop;
  bc_state *s = l->ctx;
  uint32_t id = c->id;
  s->recv_count[id]++;
  s->deliveries++;
  s->last_delivery = l->now;
  if (seq >= s->next_seq[id])
    s->next_seq[id] = seq + 1;
  else
    s->out_of_order++;
  if (s->measuring) {
    s->window_deliveries++;
    hist_add(&s->lat, l->now - t_pub);
    if (s->o->url2 && (id & 1)) hist_add(&s->lat_remote, l->now - t_pub);
  }
  slot *sl = &s->ring[seq & s->ring_mask];
  if (sl->seq == seq && ++sl->cnt >= s->alive && seq == s->done_upto) advance(s);
}

static void on_message(bench_conn *c, int opcode, const uint8_t *p, size_t n) {
  bench_loop *l = c->loop;
  bc_state *s = l->ctx;
  uint32_t id = c->id;
  if (opcode != OP_BINARY || n != s->o->size) {
    s->verify_errors++;
    bench_note(l, "broadcast: subscriber %u got opcode %d with %zu bytes", id, opcode, n);
    return;
  }
  uint64_t seq = proto_get64(p), t_pub = proto_get64(p + 8);
  if (seq >= s->published || !proto_pattern_check(p + HEADER_BYTES, n - HEADER_BYTES, seq ^ PATTERN_SALT)) {
    s->verify_errors++;
    bench_note(l, "broadcast: subscriber %u got a corrupt message (seq %llu)", id, (unsigned long long)seq);
    return;
  }
  deliver(c, seq, t_pub);
}

/* sio-broadcast: p[0..n) follows "42". */
static void on_event(bench_conn *c, const uint8_t *p, size_t n) {
  bench_loop *l = c->loop;
  bc_state *s = l->ctx;
  size_t sz = s->o->size;
  if (n == LIT(JOINED_EVENT) && memcmp(p, JOINED_EVENT, n) == 0) {
    s->joined++;
    return;
  }
  const char *q = (const char *)p + LIT(BCAST_HEAD);
  uint64_t seq = 0, t_pub = 0;
  if (n != LIT(BCAST_HEAD) + sz + LIT(TAIL) || memcmp(p, BCAST_HEAD, LIT(BCAST_HEAD)) != 0 ||
      memcmp(q + sz, TAIL, LIT(TAIL)) != 0 || sio_hex_get(q, &seq) != 0 || sio_hex_get(q + 16, &t_pub) != 0 ||
      seq >= s->published || !sio_text_check(q + SIO_HEADER_CHARS, sz - SIO_HEADER_CHARS, seq ^ PATTERN_SALT)) {
    s->verify_errors++;
    bench_note(l, "sio-broadcast: client %u got an unexpected or corrupt event: %.*s%s", c->id,
               (int)(n > 100 ? 100 : n), (const char *)p, n > 100 ? "..." : "");
    return;
  }
  deliver(c, seq, t_pub);
}

static void on_ack(bench_conn *c, const uint8_t *p, size_t n) {
  bc_state *s = c->loop->ctx;
  s->verify_errors++;
  bench_note(c->loop, "sio-broadcast: client %u got an ack it did not ask for: %.*s", c->id, (int)(n > 80 ? 80 : n),
             (const char *)p);
}

static void on_close(bench_conn *c, int why) {
  bc_state *s = c->loop->ctx;
  if (why == BC_END_CONNECT_FAIL || why == BC_END_HANDSHAKE_FAIL) return;
  if (s->sio && c->ust != SIO_CONNECTED) return; /* never counted as alive */
  if (c == s->publisher) s->publisher = NULL;
  if (s->alive) s->alive--;
  advance(s);
}

static void on_open(bench_conn *c) {
  bc_state *s = c->loop->ctx;
  s->alive++;
  if (c->id == 0) s->publisher = c;
}

static int drained(bench_loop *l) {
  bc_state *s = l->ctx;
  return s->done_upto >= s->published || l->live == 0 ||
         l->now - s->last_delivery > (uint64_t)(s->o->drain * 1e9);
}

static int no_publisher(bench_loop *l) { return ((bc_state *)l->ctx)->publisher == NULL; }

static int all_joined(bench_loop *l) {
  bc_state *s = l->ctx;
  return s->joined >= s->alive || !s->publisher;
}

static int run_broadcast(const bench_opts *o, report *r, int sio) {
  size_t min = sio ? SIO_HEADER_CHARS : HEADER_BYTES;
  if (o->size < min) {
    fprintf(stderr, "wsio-bench: %s needs -s >= %zu (sequence number + timestamp)\n", o->mode, min);
    return 1;
  }
  bc_state s = {.o = o, .sio = sio};
  uint64_t ring = RATE_RING;
  if (o->rate <= 0)
    for (ring = 1024; ring < 2ULL * o->window;) ring *= 2;
  s.ring_mask = ring - 1;
  s.ring = calloc(ring, sizeof *s.ring);
  s.recv_count = calloc(o->conns, sizeof *s.recv_count);
  s.next_seq = calloc(o->conns, sizeof *s.next_seq);
  for (uint64_t i = 0; s.ring && i < ring; i++) s.ring[i].seq = UINT64_MAX;
  bench_loop l;
  bench_handlers h = {.on_open = on_open, .on_message = on_message, .on_close = on_close};
  sio_handlers sh = {.on_connect = on_open, .on_event = on_event, .on_ack = on_ack, .on_close = on_close};
  if (!s.ring || !s.recv_count || !s.next_seq ||
      (sio ? sio_loop_init(&l, &s.sl, o->url, o->nsrc, sh, &s)
           : bench_loop_init(&l, o->url, "/broadcast", o->nsrc, h, &s)) != 0 ||
      (o->url2 && bench_loop_set_dst2(&l, o->url2) != 0))
    return 1;
  l.deflate = o->deflate;
  hist_reset(&s.lat);
  hist_reset(&s.lat_remote);

  /* Everyone subscribes before the first message, so every subscriber expects all. */
  uint64_t deadline = open_deadline(o->conns);
  uint32_t opened = sio ? sio_open(&l, o->conns, o->pending, deadline)
                        : bench_open(&l, 0, o->conns, o->pending, deadline);
  if (opened < o->conns || !s.publisher) {
    fprintf(stderr, "wsio-bench: only %u of %u subscribers connected\n", opened, o->conns);
    bench_loop_free(&l);
    return 1;
  }
  if (sio) {
    for (bench_conn *c = l.all; c; c = c->next_all) {
      uint8_t *p = sio_emit_begin(c, LIT(JOIN_EVENT));
      memcpy(p, JOIN_EVENT, LIT(JOIN_EVENT));
      sio_emit_end(c, p, LIT(JOIN_EVENT));
      p = sio_emit_begin(c, LIT(JOINED_EVENT));
      memcpy(p, JOINED_EVENT, LIT(JOINED_EVENT));
      sio_emit_end(c, p, LIT(JOINED_EVENT));
    }
    bench_loop_run(&l, deadline, 10, all_joined, NULL);
    if (s.joined < o->conns || !s.publisher) {
      fprintf(stderr, "wsio-bench: only %llu of %u clients confirmed joining the room\n",
              (unsigned long long)s.joined, o->conns);
      bench_loop_free(&l);
      return 1;
    }
  }
  int tick_ms = o->rate > 0 ? 1 : 10;
  s.publishing = 1;
  s.rate_t0 = l.now = now_ns();
  pump(&l);
  bench_loop_run(&l, now_ns() + (uint64_t)(o->warmup * 1e9), tick_ms, no_publisher, tick);
  cpu_snap a, b;
  cpu_snap_take2(&a, o->pid, o->pid2);
  uint64_t pub_a = s.published, reads = l.n.reads;
  s.measuring = 1;
  bench_loop_run(&l, a.wall_ns + (uint64_t)(o->duration * 1e9), tick_ms, no_publisher, tick);
  s.measuring = 0;
  cpu_snap_take2(&b, o->pid, o->pid2);
  uint64_t pub_b = s.published;
  reads = l.n.reads - reads;
  s.publishing = 0;
  s.draining = 1;
  s.last_delivery = now_ns();
  bench_loop_run(&l, s.last_delivery + (uint64_t)(DRAIN_CAP * o->drain * 1e9), 10, drained, NULL);
  uint64_t alive = s.alive;
  bench_loop_close_all(&l);

  uint64_t lost = 0;
  for (uint32_t i = 0; i < o->conns; i++)
    if (s.recv_count[i] < s.published) lost += s.published - s.recv_count[i];
  double secs = (double)(b.wall_ns - a.wall_ns) / 1e9;
  report_str(r, "mode", NULL, sio ? "sio-broadcast" : "broadcast");
  report_str(r, "url", "url", o->url);
  report_num(r, "subscribers", "subscribers", o->conns, 0, NULL);
  report_num(r, "size", sio ? "payload (JSON string)" : "payload", (double)o->size, 0, sio ? "chars" : "B");
  if (o->rate > 0)
    report_num(r, "rate", "publish rate (target)", o->rate, 0, "msg/s");
  else
    report_num(r, "window", "window", o->window, 0, "messages");
  report_num(r, "duration_s", "measured", secs, 2, "s");
  report_num(r, "published_per_s", "published/s", (double)(pub_b - pub_a) / secs, 0, NULL);
  report_num(r, "deliveries", "deliveries", (double)s.window_deliveries, 0, NULL);
  report_num(r, "deliveries_per_s", "deliveries/s", (double)s.window_deliveries / secs, 0, NULL);
  report_num(r, "latency_p50_us", "latency p50", (double)hist_quantile(&s.lat, 0.50) / 1e3, 1, "us");
  report_num(r, "latency_p99_us", "latency p99", (double)hist_quantile(&s.lat, 0.99) / 1e3, 1, "us");
  report_num(r, "latency_p999_us", "latency p99.9", (double)hist_quantile(&s.lat, 0.999) / 1e3, 1, "us");
  report_num(r, "latency_max_us", "latency max", (double)s.lat.max / 1e3, 1, "us");
  if (o->url2) {
    report_num(r, "remote_latency_p50_us", "cross-node latency p50", (double)hist_quantile(&s.lat_remote, 0.50) / 1e3,
               1, "us");
    report_num(r, "remote_latency_p99_us", "cross-node latency p99", (double)hist_quantile(&s.lat_remote, 0.99) / 1e3,
               1, "us");
  }
  report_cpu(r, &a, &b, (double)s.window_deliveries, "server_cpu_ns_per_delivery", "server CPU per delivery");
  report_num(r, "deliveries_per_read", "deliveries per read()",
             reads ? (double)s.window_deliveries / (double)reads : 0, 1, NULL);
  if (o->deflate)
    report_num(r, "compressed_pct", "deliveries compressed (permessage-deflate)",
               s.deliveries ? 100.0 * (double)l.compressed / (double)s.deliveries : 0, 1, "%");
  report_num(r, "published", "published in all", (double)s.published, 0, NULL);
  report_num(r, "lost", "lost (after drain)", (double)lost, 0, NULL);
  report_num(r, "out_of_order", "out of order", (double)s.out_of_order, 0, NULL);
  report_num(r, "verify_errors", "verification errors", (double)s.verify_errors, 0, NULL);
  uint64_t errs = (sio ? sio_report(r, &s.sl) : 0) + report_conn_errors(r, &l) + lost + s.out_of_order + s.verify_errors + (alive < o->conns);
  bench_loop_free(&l);
  free(s.ring);
  free(s.recv_count);
  free(s.next_seq);
  return errs ? 2 : 0;
}

int mode_broadcast(const bench_opts *o, report *r) { return run_broadcast(o, r, 0); }
int mode_sio_broadcast(const bench_opts *o, report *r) { return run_broadcast(o, r, 1); }
