/* tests/unit/test_net.c — the net layer over real loopback sockets, with io_uring
 * batching and without: every byte written to a connection arrives,
 * in order, whoever wrote it and however the writes were batched, copied or refused
 * by a full socket; backpressure drains; shutdown and peer close are reported. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/batch.h"
#include "net/net.h"
#include "test.h"

#define NCLIENTS 8

typedef struct tconn {
  net_conn net;
  int idx;
  uint32_t tx;    /* next counter value written to this connection */
  int ended;      /* on_end: 1 + err */
  int drains;
} tconn;

static struct {
  loop *l;
  net_ctx *ctx;
  loop_timer tick;
  tconn *conns[NCLIENTS];
  int naccepted;
  uint32_t rng;
  int buffered; /* writes answered NET_BUFFERED */
} S;

static uint32_t rnd(void) {
  S.rng = S.rng * 1103515245u + 12345u;
  return S.rng >> 8;
}

/* Writes k consecutive counters of c's stream, in one or two pieces. */
static void put(tconn *c, uint32_t k) {
  static uint8_t buf[4 * 40000];
  for (uint32_t i = 0; i < k; i++) {
    uint32_t v = htonl(c->tx + i);
    memcpy(buf + 4 * i, &v, 4);
  }
  c->tx += k;
  size_t split = (rnd() % (k + 1)) * 4;
  int r = net_write2(&c->net, buf, split, buf + split, 4 * k - split);
  CHECK(r >= 0);
  if (r == NET_BUFFERED) {
    S.buffered++;
    c->net.flags |= NET_F_WANT_DRAIN;
  }
}

/* Each byte from a client asks for a burst: writes to the sender, to another
 * connection, and to the sender again, of sizes from a counter to 160 KB. */
static void on_data(net_conn *nc, uint8_t *p, size_t n) {
  tconn *c = (tconn *)nc;
  for (size_t i = 0; i < n; i++) {
    uint32_t big = p[i] == 'B' ? 40000 : 600;
    put(c, 1 + rnd() % big);
    tconn *o = S.conns[rnd() % S.naccepted];
    if (o && !(o->net.flags & NET_F_CLOSED)) put(o, 1 + rnd() % 50);
    put(c, 1 + rnd() % 3);
  }
}

static void on_end(net_conn *nc, int err) {
  tconn *c = (tconn *)nc;
  c->ended = 1 + (err < 0 ? 1 : 0);
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
  net_flush_queued(S.ctx);
}

static void tick(loop_timer *t) {
  (void)t;
  loop_stop(S.l);
}

/* One short turn of the loop (at most ~1 ms of waiting). */
static void step(void) {
  loop_timer_start(S.l, &S.tick, 1, 0);
  loop_run(S.l);
  loop_timer_stop(S.l, &S.tick);
}

typedef struct client {
  int fd;
  uint32_t next; /* next counter expected */
  uint8_t part[4];
  int npart;
  int bad, eof;
} client;

/* Reads what is there without blocking, checking the counter stream. */
static void drain_client(client *cl) {
  uint8_t buf[65536];
  for (;;) {
    ssize_t r = recv(cl->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r == 0) cl->eof = 1;
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

static void run_mode(int uring) {
  memset(&S, 0, sizeof(S));
  S.rng = 42;
  S.l = loop_create();
  S.tick.cb = tick;
  net_handlers h = {.on_data = on_data, .on_end = on_end, .on_drain = on_drain, .on_accept = on_accept};
  S.ctx = net_ctx_create(S.l, &h, NULL, uring ? NET_CTX_URING : 0);
  CHECK(S.ctx != NULL);
  loop_set_post(S.l, post, NULL);
  net_listener *ls = net_listen(S.ctx, "127.0.0.1", 0, 64, NULL);
  CHECK(ls != NULL);
  if (!ls) return;

  client cl[NCLIENTS];
  memset(cl, 0, sizeof(cl));
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)net_listener_port(ls))};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < NCLIENTS; i++) {
    cl[i].fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 32768; /* so that the backpressure part fills the socket quickly */
    setsockopt(cl[i].fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    CHECK(connect(cl[i].fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
  }
  for (int i = 0; i < 200 && S.naccepted < NCLIENTS; i++) step();
  CHECK_EQ_INT(S.naccepted, NCLIENTS);
  for (int i = 0; i < S.naccepted; i++) {
    int small = 32768;
    setsockopt(S.conns[i]->net.io.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  }
  /* Accept order is not connect order: pair them by the counter stream itself. */

  /* Many rounds where every client asks at once (the batched path), reading as we go. */
  for (int round = 0; round < 60; round++) {
    for (int i = 0; i < NCLIENTS; i++) {
      const char *ask = (round % 10 == 3 && i == 0) ? "aBa" : "ab";
      CHECK(send(cl[i].fd, ask, strlen(ask), 0) == (ssize_t)strlen(ask));
    }
    for (int k = 0; k < 3; k++) step();
    for (int i = 0; i < NCLIENTS; i++) drain_client(&cl[i]);
  }
  /* Backpressure: clients 0-3 stop reading while big bursts pile up. */
  for (int round = 0; round < 40; round++) {
    for (int i = 0; i < NCLIENTS; i++) CHECK(send(cl[i].fd, "B", 1, 0) == 1);
    for (int k = 0; k < 2; k++) step();
    for (int i = 4; i < NCLIENTS; i++) drain_client(&cl[i]);
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
  uint32_t sent_total = 0, got_total = 0;
  for (int i = 0; i < NCLIENTS; i++) {
    CHECK_EQ_INT(net_buffered(&S.conns[i]->net), 0);
    drains += S.conns[i]->drains;
    net_shutdown_write(&S.conns[i]->net); /* the peer sees EOF after everything */
    sent_total += S.conns[i]->tx;
  }
  CHECK(drains > 0);
  for (int k = 0; k < 2000; k++) {
    step();
    int all = 1;
    for (int i = 0; i < NCLIENTS; i++) {
      drain_client(&cl[i]);
      all &= cl[i].eof;
    }
    if (all) break;
  }
  for (int i = 0; i < NCLIENTS; i++) {
    CHECK(cl[i].eof);
    CHECK_EQ_INT(cl[i].bad, 0);
    CHECK_EQ_INT(cl[i].npart, 0);
    got_total += cl[i].next;
  }
  CHECK_EQ_INT(got_total, sent_total);
  CHECK(sent_total > 1000000);

  /* A peer's close reaches on_end with err 0. */
  for (int i = 0; i < NCLIENTS; i++) close(cl[i].fd);
  for (int k = 0; k < 200; k++) {
    step();
    int all = 1;
    for (int i = 0; i < NCLIENTS; i++) all &= S.conns[i]->ended != 0;
    if (all) break;
  }
  for (int i = 0; i < NCLIENTS; i++) {
    CHECK_EQ_INT(S.conns[i]->ended, 1);
    net_conn_release(&S.conns[i]->net);
    free(S.conns[i]);
  }
  CHECK_EQ_INT(net_ctx_count(S.ctx), 0);
  net_ctx_destroy(S.ctx);
  loop_destroy(S.l);
}

static void test_net_batched(void) { run_mode(1); }
static void test_net_plain(void) { run_mode(0); }

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
static void test_batch_plain(void) { batch_mode(0); }

int main(void) {
  RUN(test_batch_uring);
  RUN(test_batch_plain);
  RUN(test_net_batched);
  RUN(test_net_plain);
  return test_report();
}
