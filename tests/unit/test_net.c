/* tests/unit/test_net.c — the net layer over real loopback sockets, with io_uring
 * batching and without: every byte written to a connection arrives,
 * in order, whoever wrote it and however the writes were batched, copied or refused
 * by a full socket; backpressure drains; shutdown and peer close are reported.
 * With faults injected: ring submits the kernel refuses or cuts short change nothing
 * a peer sees (every byte read once, written once); an allocation that fails on the
 * write path fails that one connection (reset, on_end with -ENOMEM) with its stream
 * intact up to the end, and every other stream stays byte-exact. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/batch.h"
#include "net/net.h"
#include "net_harness.h"
#include "test.h"

#define NCLIENTS 8

typedef struct tconn {
  net_conn net;
  int idx;
  uint32_t tx;    /* next counter value written to this connection */
  int ended;      /* on_end: 1 + err */
  int err;        /* on_end's err */
  int drains;
  size_t rx;      /* bytes received from the peer */
  int reads;      /* on_data calls */
} tconn;

static struct {
  loop *l;
  net_ctx *ctx;
  loop_timer tick;
  tconn *conns[NCLIENTS];
  int naccepted;
  uint32_t rng;
  int buffered; /* writes answered NET_BUFFERED */
  int refused;  /* writes refused (only to a failed connection) */
  int bcast_refused; /* net_bcast_append out of memory (the writer falls back) */
  int flush_fault;   /* fail an allocation inside net_flush_queued, until one does */
  int armed;         /* submit faults armed last */
  int quiet;         /* on_data only counts (test_net_read_whole) */
  int echo;          /* on_data writes back what came, in 16 KiB + 6 pieces */
  uint64_t epoch0;   /* net_bcast_epoch when the echo round began */
} S;

static uint32_t rnd(void) {
  S.rng = S.rng * 1103515245u + 12345u;
  return S.rng >> 8;
}

/* Writes k consecutive counters of c's stream, in one or two pieces, or through the
 * shared buffer (a broadcast with one recipient: appended, then owed). */
static void put(tconn *c, uint32_t k) {
  static uint8_t buf[4 * 40000];
  for (uint32_t i = 0; i < k; i++) {
    uint32_t v = htonl(c->tx + i);
    memcpy(buf + 4 * i, &v, 4);
  }
  c->tx += k;
  size_t split = (rnd() % (k + 1)) * 4;
  int r;
  uint32_t off;
  if (k > 600 || rnd() % 3) {
    r = net_write2(&c->net, buf, split, buf + split, 4 * k - split);
  } else if (net_bcast_append(S.ctx, buf, 4 * k, &off) == 0) {
    r = net_bcast_add(&c->net, off, 4 * k);
  } else {
    S.bcast_refused++; /* no connection failed: the caller writes its own copy */
    r = net_write(&c->net, buf, 4 * k);
  }
  if (r < 0) {
    /* Only a connection that failed refuses bytes, and then for good. */
    CHECK(c->net.flags & (NET_F_FAILED | NET_F_CLOSED));
    S.refused++;
    return;
  }
  if (r == NET_BUFFERED) {
    S.buffered++;
    c->net.flags |= NET_F_WANT_DRAIN;
  }
}

/* Each byte from a client asks for a burst: writes to the sender, to another
 * connection, and to the sender again, of sizes from a counter to 160 KB. */
static void on_data(net_conn *nc, uint8_t *p, size_t n) {
  tconn *c = (tconn *)nc;
  c->rx += n;
  c->reads++;
  if (S.echo) {
    for (size_t off = 0; off < n; off += 16384 + 6) {
      size_t k = n - off < 16384 + 6 ? n - off : 16384 + 6;
      CHECK_EQ_INT(net_write(nc, p + off, k), NET_WRITTEN);
    }
    return;
  }
  if (S.quiet) return;
  for (size_t i = 0; i < n; i++) {
    CHECK(p[i] == 'a' || p[i] == 'b' || p[i] == 'B');
    uint32_t big = p[i] == 'B' ? 40000 : 600;
    put(c, 1 + rnd() % big);
    tconn *o = S.conns[rnd() % S.naccepted];
    if (o && !(o->net.flags & NET_F_CLOSED)) put(o, 1 + rnd() % 50);
    put(c, 1 + rnd() % 3);
  }
}

static void on_end(net_conn *nc, int err) {
  tconn *c = (tconn *)nc;
  CHECK(!c->ended); /* once */
  c->ended = 1 + (err < 0 ? 1 : 0);
  c->err = err;
  net_close(nc);
}

static void on_drain(net_conn *nc) { ((tconn *)nc)->drains++; }

static net_conn *on_accept(net_ctx *ctx, void *user) {
  (void)ctx;
  (void)user;
  if (S.naccepted == NCLIENTS) return NULL;
  tconn *c = calloc(1, sizeof(*c));
  c->idx = S.naccepted;
  S.conns[S.naccepted++] = c;
  return &c->net;
}

static void post(void *arg) {
  (void)arg;
  net_read_queued(S.ctx);
  if (S.flush_fault) net_fail_allocs(0, 1);
  net_flush_queued(S.ctx);
  if (S.flush_fault && net_fail_allocs(0, 0) == 0) S.flush_fault = 0; /* it failed one */
}

/* One short turn of the loop (at most ~1 ms of waiting), then the sweep's trim, so
 * backlog buffers come and go (and allocations happen in the flush as well). */
static void step(void) {
  test_step(S.l, &S.tick);
  for (int i = 0; i < S.naccepted; i++) net_trim(&S.conns[i]->net);
}

typedef struct client {
  int fd;
  uint32_t next; /* next counter expected */
  uint8_t part[4];
  int npart;
  int bad, eof, reset;
  size_t sent; /* bytes sent to the server */
} client;

/* Reads what is there without blocking, checking the counter stream. */
static void drain_client(client *cl) {
  uint8_t buf[65536];
  for (;;) {
    ssize_t r = recv(cl->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r == 0) cl->eof = 1;
    if (r < 0 && errno == ECONNRESET) cl->reset = 1;
    if (r <= 0) return;
    for (ssize_t i = 0; i < r; i++) {
      cl->part[cl->npart++] = buf[i];
      if (cl->npart < 4) continue;
      uint32_t v;
      memcpy(&v, cl->part, 4);
      if (ntohl(v) != cl->next) cl->bad++;
      cl->next++;
      cl->npart = 0;
    }
  }
}

static void ask(client *cl, const char *what) {
  size_t n = strlen(what);
  ssize_t r = send(cl->fd, what, n, MSG_NOSIGNAL);
  /* A connection failed on purpose may have been reset under the client. */
  if (r == (ssize_t)n) cl->sent += n;
  else CHECK(cl->reset || errno == ECONNRESET || errno == EPIPE);
}

/* Faults injected while the streams run. */
typedef struct faults {
  int submits;         /* refuse or cut short ring submits all along */
  int alloc_round;     /* > 0: fail a write-path allocation from this round on, */
  unsigned alloc_skip; /* after this many successful ones */
} faults;

static const int submit_modes[] = {-EBUSY, -EAGAIN, 0, 1, 2};

/* Arms the submit faults of one round (none: -1); returns how many the previous
 * arming used. */
static int arm_submits(int round) {
  int count = round < 0 ? 0 : 1 + round % 2;
  int used = S.armed - net_batch_inject_submit(count, round < 0 ? 0 : submit_modes[round % 5]);
  S.armed = count;
  return used;
}

/* A context with n connected clients, small socket buffers (so that backpressure
 * comes quickly), connected one at a time: client i is connection i. */
static int start(int uring, client *cl, int n) {
  memset(&S, 0, sizeof(S));
  memset(cl, 0, (size_t)n * sizeof(*cl));
  S.rng = 42;
  S.l = loop_create();
  net_handlers h = {.on_data = on_data, .on_end = on_end, .on_drain = on_drain, .on_accept = on_accept};
  S.ctx = net_ctx_create(S.l, &h, NULL, uring ? NET_CTX_URING : 0);
  CHECK(S.ctx != NULL);
  loop_set_post(S.l, post, NULL);
  net_listener *ls = net_listen(S.ctx, "127.0.0.1", 0, 64, NULL);
  CHECK(ls != NULL);
  if (!ls) return 0;
  int small = 32768;
  for (int i = 0; i < n; i++) {
    cl[i].fd = test_dial(net_listener_port(ls), small, 0, 0);
    CHECK(cl[i].fd >= 0);
    for (int k = 0; k < 200 && S.naccepted == i; k++) step();
  }
  CHECK_EQ_INT(S.naccepted, n);
  if (S.naccepted != n) return 0;
  for (int i = 0; i < n; i++) setsockopt(S.conns[i]->net.io.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  return 1;
}

/* Closes the clients; every connection has its on_end (a peer's close: err 0) and is
 * released, then the context goes. */
static void finish(client *cl, int n) {
  for (int i = 0; i < n; i++) close(cl[i].fd);
  for (int k = 0; k < 200; k++) {
    step();
    int all = 1;
    for (int i = 0; i < n; i++) all &= S.conns[i]->ended != 0;
    if (all) break;
  }
  for (int i = 0; i < n; i++) {
    if (S.conns[i]->err != -ENOMEM) CHECK_EQ_INT(S.conns[i]->ended, 1);
    net_conn_release(&S.conns[i]->net);
    free(S.conns[i]);
  }
  CHECK_EQ_INT(net_ctx_count(S.ctx), 0);
  net_ctx_destroy(S.ctx);
  loop_destroy(S.l);
}

/* One round: every client asks at once (the batched path), reading as it goes; from
 * round 60 on, backpressure: clients 0-3 stop reading while big bursts pile up. */
static void run_round(client *cl, int round) {
  int pressure = round >= 60;
  for (int i = 0; i < NCLIENTS; i++) {
    const char *what = pressure ? "B" : (round % 10 == 3 && i == 0) ? "aBa" : "ab";
    ask(&cl[i], what);
  }
  for (int k = 0; k < 3 - pressure; k++) step();
  for (int i = pressure ? 4 : 0; i < NCLIENTS; i++) drain_client(&cl[i]);
}

static void run_mode(int uring, faults f) {
  client cl[NCLIENTS];
  if (!start(uring, cl, NCLIENTS)) return;

  int submit_faults = 0;
  /* Many rounds where every client asks at once (the batched path), reading as we go;
   * then backpressure: clients 0-3 stop reading while big bursts pile up. */
  for (int round = 0; round < 100; round++) {
    if (f.submits) submit_faults += arm_submits(round);
    if (f.alloc_round && round == f.alloc_round) net_fail_allocs(f.alloc_skip, 1);
    run_round(cl, round);
  }
  /* How many write-path allocations follow a round depends on timing (a backlog is
   * over 64 KiB is freed once drained and allocated again), and on a loaded machine fewer than
   * alloc_skip + 1 came (CI, ASan: the case of round 70, skip 30, in plain mode). Then
   * the very next allocation fails, the pressure going on until it has, so that every
   * case fails one allocation under pressure. */
  for (int round = 100; f.alloc_round && round < 400; round++) {
    if (!net_fail_allocs(0, 0)) break; /* it happened */
    net_fail_allocs(0, 1);
    run_round(cl, round);
  }
  if (f.submits) {
    submit_faults += arm_submits(-1);
    if (net_ctx_uring(S.ctx)) CHECK(submit_faults > 20);
  }
  CHECK(S.buffered > 0);
  size_t owed = 0;
  for (int i = 0; i < NCLIENTS; i++) owed += net_buffered(&S.conns[i]->net);
  CHECK(owed > 0);
  /* Everyone reads again: backlogs drain, on_drain fires, everything arrives. */
  for (int k = 0; k < 5000; k++) {
    step();
    int done = 1;
    for (int i = 0; i < NCLIENTS; i++) {
      drain_client(&cl[i]);
      if (net_buffered(&S.conns[i]->net)) done = 0;
    }
    if (done) break;
  }
  int drains = 0;
  for (int i = 0; i < NCLIENTS; i++) {
    CHECK_EQ_INT(net_buffered(&S.conns[i]->net), 0);
    drains += S.conns[i]->drains;
    net_shutdown_write(&S.conns[i]->net); /* the peer sees EOF after everything */
  }
  CHECK(drains > 0);
  for (int k = 0; k < 2000; k++) {
    step();
    int all = 1;
    for (int i = 0; i < NCLIENTS; i++) {
      drain_client(&cl[i]);
      all &= cl[i].eof | cl[i].reset;
    }
    if (all) break;
  }
  uint32_t sent_total = 0;
  int failed = 0;
  for (int i = 0; i < NCLIENTS; i++) {
    tconn *c = S.conns[i];
    /* Whatever arrived is the stream itself, never a byte out of place. */
    CHECK_EQ_INT(cl[i].bad, 0);
    if (c->ended) {
      /* Failed by net: reported once with the reason; the peer saw a reset. */
      failed++;
      CHECK_EQ_INT(c->ended, 2);
      CHECK_EQ_INT(c->err, -ENOMEM);
      CHECK(cl[i].reset || cl[i].eof);
      CHECK(cl[i].next <= c->tx);
      continue;
    }
    /* Every byte the client sent was read once, every counter arrived once. */
    CHECK_EQ_INT(c->rx, cl[i].sent);
    CHECK(cl[i].eof && !cl[i].reset);
    CHECK_EQ_INT(cl[i].npart, 0);
    CHECK_EQ_INT(cl[i].next, c->tx);
    sent_total += c->tx;
  }
  /* The one failed allocation failed one connection, or one broadcast append. */
  CHECK_EQ_INT(failed + S.bcast_refused, f.alloc_round ? 1 : 0);
  if (f.alloc_round) CHECK_EQ_INT(net_fail_allocs(0, 0), 0); /* it happened */
  CHECK(sent_total > 1000000);
  finish(cl, NCLIENTS);
}

static void test_net_batched(void) { run_mode(1, (faults){0}); }
static void test_net_plain(void) { run_mode(0, (faults){0}); }

/* Regression: a batched round of reads gave each connection 1/32 of the receive
 * buffer (16 KiB) however few were readable, so a peer with four 16 KiB WebSocket
 * messages queued had them cut at every slice's end: each cut message was assembled in
 * a copy and took one more receive. Now a round of NCLIENTS gets 1/NCLIENTS each, and
 * without a ring a read takes the whole buffer: three messages' worth queued on every
 * connection arrive in one on_data each, in both modes. */
static void read_whole_mode(int uring) {
  client cl[NCLIENTS];
  if (!start(uring, cl, NCLIENTS)) return;
  S.quiet = 1;
  static uint8_t burst[3 * (16384 + 6)];
  memset(burst, 'a', sizeof(burst));
  for (int i = 0; i < NCLIENTS; i++) CHECK(send(cl[i].fd, burst, sizeof(burst), 0) == (ssize_t)sizeof(burst));
  for (int k = 0; k < 50; k++) {
    step();
    int all = 1;
    for (int i = 0; i < NCLIENTS; i++) all &= S.conns[i]->rx == sizeof(burst);
    if (all) break;
  }
  for (int i = 0; i < NCLIENTS; i++) {
    CHECK_EQ_INT(S.conns[i]->rx, sizeof(burst));
    CHECK_EQ_INT(S.conns[i]->reads, 1);
  }
  finish(cl, NCLIENTS);
}

static void test_net_read_whole_batched(void) { read_whole_mode(1); }
static void test_net_read_whole_plain(void) { read_whole_mode(0); }

/* Regression: the shared output buffer was sent early past 64 KiB, so echoing four
 * 16 KiB messages to each of a few connections sent nearly every connection's answers
 * by a spill of its own (a syscall per connection, not one batch). Now 4 x 64 KiB of
 * answers (about 256 KiB) in one iteration spill at most once, and every byte comes
 * back in order, in both modes. */
static void echo_batched_mode(int uring) {
  enum { NECHO = 4 };
  client cl[NECHO];
  if (!start(uring, cl, NECHO)) return;
  /* The clients read what comes back in full before the next burst. */
  int big = 1 << 20;
  for (int i = 0; i < NECHO; i++) {
    setsockopt(cl[i].fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    setsockopt(S.conns[i]->net.io.fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
  }
  S.echo = 1;
  static uint8_t burst[4 * (16384 + 6)], back[sizeof(burst)];
  for (size_t k = 0; k < sizeof(burst); k++) burst[k] = (uint8_t)(k * 7 + k / 251);
  int spills = 0, rounds = 0;
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < NECHO; i++) CHECK(send(cl[i].fd, burst, sizeof(burst), 0) == (ssize_t)sizeof(burst));
    uint64_t e0 = net_bcast_epoch(S.ctx);
    int one = 1;
    for (int i = 0; i < NECHO; i++) one &= S.conns[i]->rx == (size_t)round * sizeof(burst);
    for (int k = 0; k < 50; k++) {
      step();
      int all = 1;
      for (int i = 0; i < NECHO; i++) all &= S.conns[i]->rx == (size_t)(round + 1) * sizeof(burst);
      if (all) break;
    }
    /* Counted only where every connection's burst was read in one iteration (the
     * post-phase flush itself moves the epoch once). */
    for (int i = 0; i < NECHO; i++) one &= S.conns[i]->reads == round + 1;
    if (one) {
      rounds++;
      spills += (int)(net_bcast_epoch(S.ctx) - e0) - 1;
    }
    for (int i = 0; i < NECHO; i++) {
      size_t got = 0;
      while (got < sizeof(back)) {
        ssize_t r = recv(cl[i].fd, back + got, sizeof(back) - got, 0);
        CHECK(r > 0);
        if (r <= 0) break;
        got += (size_t)r;
      }
      CHECK(memcmp(back, burst, sizeof(burst)) == 0);
    }
  }
  CHECK(rounds > 0);
  CHECK(spills <= rounds);
  S.echo = 0;
  finish(cl, NECHO);
}

static void test_net_echo_batched_uring(void) { echo_batched_mode(1); }
static void test_net_echo_batched_plain(void) { echo_batched_mode(0); }

/* Regression: a refused or short submit left its entries in the ring, sent again
 * (stale fds and buffers) by the next one, after the same writes had been done the
 * plain way: duplicated and misdirected bytes, reads lost. */
static void test_net_submit_failures(void) { run_mode(1, (faults){.submits = 1}); }

/* Regression: out of memory on the write path dropped bytes mid-stream (an owed
 * range forgotten, a refused remainder not kept) and went on. Now the one
 * connection fails. The shared buffer's first growth, then backlogs under pressure
 * (a refused remainder, a range copied behind a backlog, a direct write's rest). */
static void test_net_alloc_failures(void) {
  static const faults cases[] = {
      {.alloc_round = 1, .alloc_skip = 0},  {.alloc_round = 61, .alloc_skip = 0},
      {.alloc_round = 61, .alloc_skip = 3}, {.alloc_round = 62, .alloc_skip = 9},
      {.alloc_round = 70, .alloc_skip = 30},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    run_mode(1, cases[i]);
    run_mode(0, cases[i]);
  }
}

/* Reads what client cl is sent until the stream ends (reset or EOF). */
static void read_to_end(client *cl) {
  for (int k = 0; k < 2000 && !cl->eof && !cl->reset; k++) {
    step();
    drain_client(cl);
  }
}

/* Regression: out of memory inside the post phase's flush, where the old code went
 * on with a hole: the kernel's refused remainder of a shared range was not kept
 * (net_buffer's result ignored), a range owed behind a backlog was forgotten
 * (bc_len = 0). Connection 0's client does not read, so its sends are cut short;
 * connection 1 streams beside it. */
static void flush_alloc_mode(int uring, int behind) {
  client cl[2];
  if (!start(uring, cl, 2)) return;
  tconn *a = S.conns[0], *b = S.conns[1];
  static uint8_t buf[60000];
  for (int k = 0; k < 2000 && !a->ended; k++) {
    put(b, 2000); /* first: a write after a's range could send it early */
    int backlog = a->net.out_len > a->net.out_off;
    if (behind && backlog) {
      /* a has a backlog: owe it a big shared range, copied behind it in the flush. */
      for (uint32_t i = 0; i < sizeof(buf) / 4; i++) {
        uint32_t v = htonl(a->tx + i);
        memcpy(buf + 4 * i, &v, 4);
      }
      uint32_t off;
      CHECK(net_bcast_append(S.ctx, buf, sizeof(buf), &off) == 0);
      CHECK_EQ_INT(net_bcast_add(&a->net, off, sizeof(buf)), NET_BUFFERED);
      a->tx += sizeof(buf) / 4;
    } else {
      put(a, 2000);
    }
    /* Allocations fail only inside the flush; behind waits for a's backlog first. */
    S.flush_fault = !behind || backlog;
    step();
    drain_client(&cl[1]);
  }
  S.flush_fault = 0;
  net_fail_allocs(0, 0);
  /* a failed (once, with the reason), b did not. */
  CHECK_EQ_INT(a->ended, 2);
  CHECK_EQ_INT(a->err, -ENOMEM);
  CHECK_EQ_INT(b->ended, 0);
  /* a's client reads a whole prefix of its stream, then the reset. */
  read_to_end(&cl[0]);
  CHECK(cl[0].reset || cl[0].eof);
  CHECK_EQ_INT(cl[0].bad, 0);
  CHECK(cl[0].next > 0 && cl[0].next < a->tx);
  /* b's stream is whole. */
  net_shutdown_write(&b->net);
  read_to_end(&cl[1]);
  CHECK(cl[1].eof && !cl[1].reset);
  CHECK_EQ_INT(cl[1].bad, 0);
  CHECK_EQ_INT(cl[1].npart, 0);
  CHECK_EQ_INT(cl[1].next, b->tx);
  finish(cl, 2);
}

static void test_net_flush_alloc_failures(void) {
  for (int uring = 0; uring < 2; uring++) {
    flush_alloc_mode(uring, 0);
    flush_alloc_mode(uring, 1);
  }
}

/* The batcher itself: a batch of sends and receives over socket pairs, and the
 * answers of a full socket (-EAGAIN) and of a bad descriptor. */
static void batch_mode(int uring) {
  net_batch *b = net_batch_create(uring);
  CHECK(b != NULL);
  if (!b) return;
  if (!uring) CHECK(!net_batch_uring(b));
  int sp[4][2];
  net_op ops[5];
  char in[4][16];
  for (int i = 0; i < 4; i++) {
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]) == 0);
    ops[i] = (net_op){.fd = sp[i][0], .len = 5, .p = "hello"};
  }
  ops[4] = (net_op){.fd = -1, .len = 1, .p = "x"};
  net_batch_send(b, ops, 5);
  for (int i = 0; i < 4; i++) CHECK_EQ_INT(ops[i].res, 5);
  CHECK(ops[4].res < 0 && ops[4].res != -EAGAIN);
  for (int i = 0; i < 4; i++) ops[i] = (net_op){.fd = sp[i][1], .len = 16, .p = in[i]};
  ops[4] = (net_op){.fd = sp[0][1], .len = 16, .p = in[0]};
  net_batch_recv(b, ops, 4);
  for (int i = 0; i < 4; i++) {
    CHECK_EQ_INT(ops[i].res, 5);
    CHECK_MEM(in[i], "hello", 5);
  }
  net_batch_recv(b, &ops[4], 1); /* nothing there: would block */
  CHECK_EQ_INT(ops[4].res, -EAGAIN);
  ops[0] = (net_op){.fd = sp[1][1], .len = 16, .p = in[1]};
  ops[1] = (net_op){.fd = sp[2][1], .len = 16, .p = in[2]};
  net_batch_recv(b, ops, 2); /* the same, batched */
  CHECK_EQ_INT(ops[0].res, -EAGAIN);
  CHECK_EQ_INT(ops[1].res, -EAGAIN);
  close(sp[3][0]);
  ops[0] = (net_op){.fd = sp[3][1], .len = 16, .p = in[3]};
  ops[1] = (net_op){.fd = sp[2][1], .len = 16, .p = in[2]};
  net_batch_recv(b, ops, 2); /* end of stream */
  CHECK_EQ_INT(ops[0].res, 0);
  /* Fill a socket: sends end in -EAGAIN, not in a wait. */
  static char big[65536];
  int full = 0;
  for (int k = 0; k < 200 && !full; k++) {
    ops[0] = (net_op){.fd = sp[0][0], .len = sizeof(big), .p = big};
    ops[1] = (net_op){.fd = sp[0][0], .len = sizeof(big), .p = big};
    net_batch_send(b, ops, 2);
    full = ops[0].res == -EAGAIN || ops[1].res == -EAGAIN;
  }
  CHECK(full);
  for (int i = 0; i < 4; i++) {
    close(sp[i][1]);
    if (i != 3) close(sp[i][0]);
  }
  net_batch_destroy(b);
}

static void test_batch_uring(void) { batch_mode(1); }

/* Regression: a submit the kernel refused (-EBUSY, -EAGAIN) or cut short left its
 * entries in the ring while the operations were done the plain way; the next
 * submit sent (or received) them a second time, with stale buffers. Each operation
 * of a refused batch is done once, and the next batch is only itself. */
static void test_batch_submit_refused(void) {
  static const int modes[] = {-EBUSY, -EAGAIN, 0, 1, 3};
  for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
    net_batch *b = net_batch_create(1);
    CHECK(b != NULL);
    if (!b) return;
    int sp[4][2];
    net_op ops[4];
    char in[4][16];
    for (int i = 0; i < 4; i++) CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]) == 0);
    /* Sends. */
    for (int i = 0; i < 4; i++) ops[i] = (net_op){.fd = sp[i][0], .len = 5, .p = "hello"};
    net_batch_inject_submit(1, modes[m]);
    net_batch_send(b, ops, 4);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(ops[i].res, 5);
    if (net_batch_uring(b)) CHECK_EQ_INT(net_batch_inject_submit(0, 0), 0); /* it was refused */
    for (int i = 0; i < 4; i++) ops[i] = (net_op){.fd = sp[i][0], .len = 5, .p = "world"};
    net_batch_send(b, ops, 4);
    for (int i = 0; i < 4; i++) {
      CHECK_EQ_INT(ops[i].res, 5);
      CHECK_EQ_INT(recv(sp[i][1], in[i], sizeof(in[i]), MSG_DONTWAIT), 10);
      CHECK_MEM(in[i], "helloworld", 10);
    }
    /* Receives: none reads twice, none is lost to a stale entry. */
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(send(sp[i][0], "abc", 3, 0), 3);
    for (int i = 0; i < 4; i++) ops[i] = (net_op){.fd = sp[i][1], .len = 16, .p = in[i]};
    net_batch_inject_submit(1, modes[m]);
    net_batch_recv(b, ops, 4);
    for (int i = 0; i < 4; i++) {
      CHECK_EQ_INT(ops[i].res, 3);
      CHECK_MEM(in[i], "abc", 3);
    }
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(send(sp[i][0], "def", 3, 0), 3);
    memset(in, 0, sizeof(in));
    net_batch_recv(b, ops, 4);
    for (int i = 0; i < 4; i++) {
      CHECK_EQ_INT(ops[i].res, 3);
      CHECK_MEM(in[i], "def", 3);
    }
    net_batch_recv(b, ops, 4); /* and nothing more */
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(ops[i].res, -EAGAIN);
    for (int i = 0; i < 4; i++) {
      close(sp[i][0]);
      close(sp[i][1]);
    }
    net_batch_inject_submit(0, 0);
    net_batch_destroy(b);
  }
}
static void test_batch_plain(void) { batch_mode(0); }

/* net_adopt: a socketpair end becomes a connection exactly like an accepted socket
 * (bytes both ways, the peer's close reported); a refusal by on_accept closes it. */
static void test_net_adopt(void) {
  memset(&S, 0, sizeof(S));
  S.rng = 7;
  S.l = loop_create();
  static const net_handlers h = {on_data, on_end, on_drain, on_accept, NULL};
  S.ctx = net_ctx_create(S.l, &h, NULL, 0);
  loop_set_post(S.l, post, NULL);
  int sv[2];
  CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  CHECK_EQ_INT(net_adopt(S.ctx, sv[1], NULL), 0);
  CHECK_EQ_INT(S.naccepted, 1);
  CHECK_EQ_INT(net_ctx_count(S.ctx), 1);
  client cl = {.fd = sv[0]};
  CHECK_EQ_INT(send(cl.fd, "a", 1, 0), 1);
  for (int i = 0; i < 5000 && (S.conns[0]->rx < 1 || cl.next < S.conns[0]->tx); i++) {
    step();
    drain_client(&cl);
  }
  CHECK_EQ_INT(S.conns[0]->rx, 1);
  CHECK(cl.next > 0 && cl.next == S.conns[0]->tx); /* the whole answer came back */
  CHECK(!cl.bad);
  close(cl.fd);
  for (int i = 0; i < 5000 && !S.conns[0]->ended; i++) step();
  CHECK_EQ_INT(S.conns[0]->ended, 1); /* a clean end: read returned 0 */
  /* on_accept refuses once NCLIENTS are taken: the descriptor is closed. */
  S.naccepted = NCLIENTS;
  CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  CHECK_EQ_INT(net_adopt(S.ctx, sv[1], NULL), -ECONNREFUSED);
  CHECK(fcntl(sv[1], F_GETFD) < 0 && errno == EBADF);
  close(sv[0]);
  net_conn_release(&S.conns[0]->net);
  free(S.conns[0]);
  net_ctx_destroy(S.ctx);
  loop_destroy(S.l);
}

/* Peers that are gone, three ways of writing to them; each fails its connection alone:
 *  - bytes from the shared buffer, flushed by the post phase: kept, the connection
 *    refuses further writes, and its end comes through the loop;
 *  - bytes from the connection's backlog, flushed by the post phase: on_end(-EPIPE)
 *    from the flush itself;
 *  - a big write sent at once: -EPIPE to the writer, the end through the loop. */
static void test_net_peer_gone(void) {
  memset(&S, 0, sizeof(S));
  S.rng = 9;
  S.l = loop_create();
  static const net_handlers h = {on_data, on_end, on_drain, on_accept, NULL};
  S.ctx = net_ctx_create(S.l, &h, NULL, 0);
  loop_set_post(S.l, post, NULL);
  int sv[3][2];
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]), 0);
    CHECK_EQ_INT(net_adopt(S.ctx, sv[i][1], NULL), 0);
    close(sv[i][0]);
  }
  tconn *ca = S.conns[0], *cb = S.conns[1], *cc = S.conns[2];
  /* Queued, then flushed (what the post phase does) before the loop saw the close. */
  CHECK_EQ_INT(net_write(&cb->net, "01234", 5), NET_WRITTEN);
  CHECK_EQ_INT(net_write(&ca->net, "0123456789", 10), NET_WRITTEN);
  /* cb's next bytes cannot follow its range of the shared buffer (ca's are there):
   * what it is owed moves to its backlog, which the flush sends. */
  CHECK_EQ_INT(net_write(&cb->net, "56789", 5), NET_WRITTEN);
  CHECK(net_buffered(&cb->net) == 10 && cb->net.out_len == 10);
  net_flush_queued(S.ctx);
  CHECK_EQ_INT(ca->ended, 0);
  CHECK_EQ_INT(net_write(&ca->net, "x", 1), -EPIPE);
  CHECK_EQ_INT(cb->ended, 2);
  CHECK_EQ_INT(cb->err, -EPIPE);
  CHECK_EQ_INT(cc->ended, 0); /* the third is untouched */
  /* Over NET_DIRECT_MIN with nothing owed: sent at once, the error returned. */
  static uint8_t big[100 * 1024];
  CHECK_EQ_INT(net_write(&cc->net, big, sizeof(big)), -EPIPE);
  CHECK_EQ_INT(net_write(&cc->net, "x", 1), -EPIPE);
  for (int i = 0; i < 5000 && !(ca->ended && cc->ended); i++) step();
  CHECK(ca->ended != 0);
  CHECK(cc->ended != 0);
  for (int i = 0; i < 3; i++) {
    net_conn_release(&S.conns[i]->net);
    free(S.conns[i]);
  }
  CHECK_EQ_INT(net_ctx_count(S.ctx), 0);
  net_ctx_destroy(S.ctx);
  loop_destroy(S.l);
}

int main(void) {
  RUN(test_net_adopt);
  RUN(test_net_peer_gone);
  RUN(test_batch_uring);
  RUN(test_batch_plain);
  RUN(test_batch_submit_refused);
  RUN(test_net_read_whole_batched);
  RUN(test_net_read_whole_plain);
  RUN(test_net_echo_batched_uring);
  RUN(test_net_echo_batched_plain);
  RUN(test_net_batched);
  RUN(test_net_plain);
  RUN(test_net_submit_failures);
  RUN(test_net_alloc_failures);
  RUN(test_net_flush_alloc_failures);
  return test_report();
}
