/* tests/unit/test_net_lent.c — writes that lend their payload from the receive buffer
 * (net_write2_lent: sent from where it lies in the flush, not copied), with io_uring
 * and without: net/net.c is included to see the lent pieces.
 *
 * The server echoes every delivery as a record 'L' + length + the bytes (lent), with
 * a small copied record 'S' + counter before and after it, sometimes one to another
 * connection between them (which breaks the writer's run: its lent bytes are then
 * copied to its backlog). Each client checks that its stream is exactly that: every
 * counter in order, the echoed bytes those it sent. Cases: sends the kernel takes
 * whole (and the shared buffer is not spilled: the payloads are not in it), sends it
 * cuts short (tiny socket buffers, clients not reading while the receive buffer is
 * read into again), more lent pieces than the table holds, more readable connections
 * than one round of reads, and connections closed or reset with lent bytes owed. */
#include "net/net.c"

#include <sys/socket.h>
#include <sys/uio.h>

#include "net_harness.h"
#include "test.h"

#define MAXC 40

typedef struct tconn {
  net_conn net;
  int idx;
  uint32_t seq; /* next 'S' counter written to this connection */
  int ended;
  size_t rx;
  int reads;
} tconn;

static struct {
  loop *l;
  net_ctx *ctx;
  loop_timer tick;
  tconn *conns[MAXC];
  int n;
  size_t chunk;     /* echo in pieces of this size (0: the whole delivery) */
  int cross;        /* write an 'S' to the next connection between the pieces */
  int close_idx;    /* >= 0: close this connection right after its first lent write */
  int lends;        /* writes that were lent */
  int lent_short;   /* lent writes whose connection had a backlog after the flush */
  size_t max_fill;  /* the most bytes the shared buffer itself held after a delivery */
} S;

static void put_s(tconn *c) {
  uint8_t rec[5] = {'S'};
  uint32_t v = htonl(c->seq++);
  memcpy(rec + 1, &v, 4);
  int r = net_write(&c->net, rec, sizeof(rec));
  CHECK(r >= 0 || (c->net.flags & NET_F_CLOSED) || c->ended);
}

static void on_data(net_conn *nc, uint8_t *p, size_t n) {
  tconn *c = (tconn *)nc;
  c->rx += n;
  c->reads++;
  for (size_t off = 0; off < n;) {
    size_t k = S.chunk && n - off > S.chunk ? S.chunk : n - off;
    put_s(c);
    uint8_t hdr[5] = {'L'};
    uint32_t v = htonl((uint32_t)k);
    memcpy(hdr + 1, &v, 4);
    int before = S.ctx->nlent;
    CHECK(net_write2_lent(nc, hdr, sizeof(hdr), p + off, k) >= 0);
    S.lends += S.ctx->nlent > before;
    off += k;
    if (S.cross) put_s(S.conns[(c->idx + 1) % S.n]);
    put_s(c);
    if (shared_fill(S.ctx) > S.max_fill) S.max_fill = shared_fill(S.ctx);
    if (c->idx == S.close_idx) {
      S.close_idx = -1;
      net_close(nc);
      return;
    }
  }
}

static void on_end(net_conn *nc, int err) {
  (void)err;
  ((tconn *)nc)->ended = 1;
  net_close(nc);
}

static net_conn *on_accept(net_ctx *ctx, void *user) {
  (void)ctx;
  (void)user;
  if (S.n == MAXC) return NULL;
  tconn *c = calloc(1, sizeof(*c));
  c->idx = S.n;
  S.conns[S.n++] = c;
  return &c->net;
}

static void step(void) { test_step(S.l, &S.tick); }

/* A client: what it sent, and its parse of what came back. */
typedef struct client {
  int fd;
  size_t sent;      /* bytes sent: byte i is pattern(idx, i) */
  size_t echoed;    /* of them, bytes that came back in 'L' records */
  uint32_t seq;     /* next 'S' counter expected */
  uint8_t rec[5];   /* a record's head being read */
  int nrec;
  size_t lleft;     /* bytes left of the current 'L' record */
  int bad, eof;
} client;

static uint8_t pattern(int idx, size_t i) { return (uint8_t)(i * 7 + i / 251 + (size_t)idx * 13); }

static void client_send(client *cl, int idx, size_t n) {
  static uint8_t buf[256 * 1024];
  for (size_t i = 0; i < n; i++) buf[i] = pattern(idx, cl->sent + i);
  CHECK(send(cl->fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n);
  cl->sent += n;
}

/* Reads what is there without blocking, checking every byte. */
static void client_read(client *cl, int idx) {
  static uint8_t buf[65536];
  for (;;) {
    ssize_t r = recv(cl->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) cl->eof = 1;
    if (r <= 0) return;
    for (ssize_t i = 0; i < r; i++) {
      if (cl->lleft) {
        cl->bad += buf[i] != pattern(idx, cl->echoed++);
        cl->lleft--;
        continue;
      }
      cl->rec[cl->nrec++] = buf[i];
      if (cl->nrec < 5) continue;
      cl->nrec = 0;
      uint32_t v;
      memcpy(&v, cl->rec + 1, 4);
      v = ntohl(v);
      if (cl->rec[0] == 'S') cl->bad += v != cl->seq++;
      else if (cl->rec[0] == 'L') cl->lleft = v;
      else cl->bad++;
    }
  }
}

/* n clients connected to a fresh context; sndbuf: the server sockets' send buffer
 * (0: large), rcvbuf the clients' receive buffer. */
static int start(int uring, client *cl, int n, int sndbuf, int rcvbuf) {
  memset(&S, 0, sizeof(S));
  S.close_idx = -1;
  memset(cl, 0, (size_t)n * sizeof(*cl));
  S.l = loop_create();
  net_handlers h = {.on_data = on_data, .on_end = on_end, .on_accept = on_accept};
  S.ctx = net_ctx_create(S.l, &h, NULL, uring ? NET_CTX_URING : 0);
  CHECK(S.ctx != NULL);
  if (!S.ctx) return 0;
  if (uring) CHECK(net_ctx_uring(S.ctx)); /* (the tests' kernel has io_uring) */
  loop_set_post(S.l, test_net_post, S.ctx);
  net_listener *ls = net_listen(S.ctx, "127.0.0.1", 0, 64, NULL);
  CHECK(ls != NULL);
  if (!ls) return 0;
  for (int i = 0; i < n; i++) {
    cl[i].fd = test_dial(net_listener_port(ls), rcvbuf, 0, 0);
    CHECK(cl[i].fd >= 0);
    for (int k = 0; k < 200 && S.n == i; k++) step();
  }
  CHECK_EQ_INT(S.n, n);
  if (S.n != n) return 0;
  int big = 4 << 20;
  for (int i = 0; i < n; i++)
    setsockopt(S.conns[i]->net.io.fd, SOL_SOCKET, SO_SNDBUF, sndbuf ? &sndbuf : &big, sizeof(int));
  return 1;
}

/* Steps until every client that is still open got back all it sent. */
static void settle(client *cl, int n) {
  for (int k = 0; k < 5000; k++) {
    step();
    int all = 1;
    for (int i = 0; i < n; i++) {
      client_read(&cl[i], i);
      if (!cl[i].eof && (cl[i].echoed < cl[i].sent || cl[i].lleft)) all = 0;
    }
    if (all) break;
  }
}

/* Every open client's stream was exact: every byte back once, every counter in order. */
static void check_streams(client *cl, int n) {
  for (int i = 0; i < n; i++) {
    CHECK_EQ_INT(cl[i].bad, 0);
    if (S.conns[i]->net.flags & NET_F_CLOSED) continue;
    CHECK_EQ_INT(cl[i].echoed, cl[i].sent);
    CHECK_EQ_INT(cl[i].seq, S.conns[i]->seq);
    CHECK_EQ_INT(cl[i].nrec, 0);
  }
}

static void finish(client *cl, int n) {
  for (int i = 0; i < n; i++) close(cl[i].fd);
  for (int k = 0; k < 200; k++) {
    step();
    int all = 1;
    for (int i = 0; i < n; i++) all &= S.conns[i]->ended || (S.conns[i]->net.flags & NET_F_CLOSED);
    if (all) break;
  }
  for (int i = 0; i < n; i++) {
    net_conn_release(&S.conns[i]->net);
    free(S.conns[i]);
  }
  CHECK_EQ_INT(net_ctx_count(S.ctx), 0);
  net_ctx_destroy(S.ctx);
  loop_destroy(S.l);
}

/* Sends the kernel takes whole. The point of lending (the copy it removes): 4 x
 * 120,000 bytes of echoes in one iteration were copied into the shared buffer (and
 * spilled it past NET_SHARED_SPILL_AT); now only the records' heads are in it. Every
 * other round, an 'S' to another connection between the pieces sends the lent bytes
 * through the backlog instead (the writer's run is broken: they are copied there). */
static void full_mode(int uring) {
  enum { N = 4, SIZE = 120000 };
  client cl[N];
  if (!start(uring, cl, N, 0, 4 << 20)) return;
  for (int round = 0; round < 6; round++) {
    S.cross = round % 2;
    for (int i = 0; i < N; i++) client_send(&cl[i], i, SIZE);
    settle(cl, N);
  }
  check_streams(cl, N);
  CHECK(S.lends >= N * 6);
  CHECK(S.max_fill > 0 && S.max_fill < 4096);
  finish(cl, N);
}

static void test_net_lent_full_uring(void) { full_mode(1); }
static void test_net_lent_full_plain(void) { full_mode(0); }

/* Sends the kernel cuts short: the server's socket buffers are tiny and the clients
 * read nothing while three more rounds come in, read into the same receive buffer.
 * What the kernel did not take of a lent piece must be copied before that, and
 * nothing may be sent later from where it was. */
static void short_mode(int uring) {
  enum { N = 4, SIZE = 30000 };
  client cl[N];
  if (!start(uring, cl, N, 4096, 4096)) return;
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < N; i++) client_send(&cl[i], i, SIZE);
    for (int k = 0; k < 5; k++) step();
    if (round == 0)
      for (int i = 0; i < N; i++) S.lent_short += net_buffered(&S.conns[i]->net) > 0;
  }
  CHECK(S.lends >= N);
  CHECK(S.lent_short > 0); /* the case under test happened */
  settle(cl, N);
  check_streams(cl, N);
  finish(cl, N);
}

static void test_net_lent_short_uring(void) { short_mode(1); }
static void test_net_lent_short_plain(void) { short_mode(0); }

/* Echoed in 4 KiB pieces, more than NET_LENT_MAX in one iteration: the rest are
 * copied, lent and copied pieces interleave in order. Without a ring the reads at the
 * event move past the lent bytes, then spill them when the buffer is used up. */
static void pieces_mode(int uring) {
  enum { N = 4, SIZE = 200000 };
  client cl[N];
  if (!start(uring, cl, N, 0, 4 << 20)) return;
  S.chunk = NET_LENT_MIN;
  for (int round = 0; round < 3; round++) {
    S.cross = round == 1;
    for (int i = 0; i < N; i++) client_send(&cl[i], i, SIZE);
    settle(cl, N);
  }
  CHECK(S.lends > NET_LENT_MAX);
  check_streams(cl, N);
  finish(cl, N);
}

static void test_net_lent_pieces_uring(void) { pieces_mode(1); }
static void test_net_lent_pieces_plain(void) { pieces_mode(0); }

/* More readable connections than one round of batched reads (NET_READ_ROUND): the
 * second round reads into the slices the first lent from, so the first's answers must
 * go out before it. */
static void test_net_lent_rounds(void) {
  enum { N = MAXC, SIZE = 12000 };
  client cl[N];
  if (!start(1, cl, N, 0, 1 << 20)) return;
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < N; i++) client_send(&cl[i], i, SIZE);
    settle(cl, N);
  }
  CHECK(S.lends >= N);
  check_streams(cl, N);
  finish(cl, N);
}

/* Connections that end with lent bytes owed: one closed by its owner right after the
 * lent write, one whose peer resets it (the send fails, the bytes are kept until its
 * end is reported). The others' streams are untouched. */
static void closing_mode(int uring) {
  enum { N = 4, SIZE = 50000 };
  client cl[N];
  if (!start(uring, cl, N, 0, 4 << 20)) return;
  for (int i = 0; i < N; i++) client_send(&cl[i], i, SIZE);
  settle(cl, N);
  S.close_idx = 1;
  for (int i = 0; i < N; i++) client_send(&cl[i], i, SIZE);
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(cl[2].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(cl[2].fd); /* a reset, while its echo may be owed */
  cl[2].fd = socket(AF_INET, SOCK_STREAM, 0); /* (closed by finish) */
  cl[2].eof = 1;
  settle(cl, N);
  for (int k = 0; k < 200 && !S.conns[2]->ended; k++) step();
  CHECK(S.conns[1]->net.flags & NET_F_CLOSED);
  CHECK(S.conns[2]->ended);
  /* The others go on. */
  client_send(&cl[0], 0, SIZE);
  client_send(&cl[3], 3, SIZE);
  settle(cl, N);
  check_streams(cl, N);
  CHECK(cl[0].echoed == cl[0].sent && cl[3].echoed == cl[3].sent && !cl[0].eof && !cl[3].eof);
  finish(cl, N);
}

static void test_net_lent_closing_uring(void) { closing_mode(1); }
static void test_net_lent_closing_plain(void) { closing_mode(0); }

/* The batcher's gathered sends, with a ring and without, and with the ring's submit
 * refused or cut short (the plain fallback): the pieces arrive in order; on a full
 * socket the send answers -EAGAIN at once and is never finished later from the
 * pieces (they are overwritten after the call and nothing of them arrives). */
static void batch_gather_mode(int uring, int inject) {
  net_batch *b = net_batch_create(uring);
  CHECK(b != NULL);
  if (!b) return;
  int sp[3][2];
  for (int i = 0; i < 3; i++) CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp[i]) == 0);
  static char piece[3][3][6000];
  struct iovec iov[3][3];
  net_op ops[3];
  for (int i = 0; i < 3; i++) {
    for (int k = 0; k < 3; k++) {
      memset(piece[i][k], 'a' + 3 * i + k, sizeof(piece[i][k]));
      iov[i][k] = (struct iovec){piece[i][k], k == 1 ? 6000 : 5};
    }
    ops[i] = (net_op){.fd = sp[i][0], .len = 6010, .p = iov[i], .iovcnt = 3};
  }
  if (inject) net_batch_inject_submit(1, inject == 1 ? -EBUSY : 1);
  net_batch_send(b, ops, 3);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(ops[i].res, 6010);
    char in[8000];
    CHECK_EQ_INT(recv(sp[i][1], in, sizeof(in), 0), 6010);
    int ok = 1;
    for (int k = 0; k < 6010; k++) ok &= in[k] == 'a' + 3 * i + (k < 5 ? 0 : k < 6005 ? 1 : 2);
    CHECK(ok);
  }
  net_batch_inject_submit(0, 0);
  /* Fill socket 0, then a gathered send beside a plain one: -EAGAIN, done. */
  static char big[65536];
  for (int k = 0; k < 1000 && send(sp[0][0], big, sizeof(big), MSG_DONTWAIT) > 0; k++) {}
  ops[0] = (net_op){.fd = sp[0][0], .len = 6010, .p = iov[0], .iovcnt = 3};
  ops[1] = (net_op){.fd = sp[1][0], .len = 5, .p = "hello"};
  net_batch_send(b, ops, 2);
  CHECK_EQ_INT(ops[0].res, -EAGAIN);
  CHECK_EQ_INT(ops[1].res, 5);
  for (int k = 0; k < 3; k++) memset(piece[0][k], 'z', sizeof(piece[0][k]));
  size_t zs = 0;
  char in[65536];
  for (;;) {
    ssize_t r = recv(sp[0][1], in, sizeof(in), MSG_DONTWAIT);
    if (r <= 0) break;
    for (ssize_t k = 0; k < r; k++) zs += in[k] != 0;
  }
  CHECK_EQ_INT(zs, 0);
  for (int i = 0; i < 3; i++) {
    close(sp[i][0]);
    close(sp[i][1]);
  }
  net_batch_destroy(b);
}

static void test_net_lent_batch_gather(void) {
  batch_gather_mode(1, 0);
  batch_gather_mode(1, 1);
  batch_gather_mode(1, 2);
  batch_gather_mode(0, 0);
}

int main(void) {
  RUN(test_net_lent_batch_gather);
  RUN(test_net_lent_full_uring);
  RUN(test_net_lent_full_plain);
  RUN(test_net_lent_short_uring);
  RUN(test_net_lent_short_plain);
  RUN(test_net_lent_pieces_uring);
  RUN(test_net_lent_pieces_plain);
  RUN(test_net_lent_rounds);
  RUN(test_net_lent_closing_uring);
  RUN(test_net_lent_closing_plain);
  return test_report();
}
