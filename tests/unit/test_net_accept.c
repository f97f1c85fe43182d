/* tests/unit/test_net_accept.c — the accept and close fast paths of net (net/net.c),
 * over real loopback TCP, with io_uring batching and without:
 *  - socket options set once on the listener (TCP_NODELAY, the kernel send limit) are
 *    inherited by every accepted socket, so adopt sets none per connection; a different
 *    limit asked for one connection still takes effect;
 *  - with a ring, a request already there at accept is read in the same iteration;
 *  - net_listener_defer_accept: accepted with the first bytes (a silent client later);
 *  - net_end: everything queued reaches the peer, then a clean FIN (no reset), and
 *    on_end(c, 0) comes once, from the post phase, not from inside net_end; also behind
 *    a backlog the kernel refused at first, and after net_shutdown_write. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "net_harness.h"
#include "test.h"

typedef struct tconn {
  net_conn net;
  int ended; /* on_end calls */
  int err;
  int in_end; /* on_end reached from inside net_end (must not) */
  int accepted_iter, data_iter; /* loop iteration (post phases seen) of each */
  size_t rx;
} tconn;

static struct {
  loop *l;
  net_ctx *ctx;
  loop_timer tick;
  tconn *c;
  int calling_end; /* inside net_end */
  int iter;        /* post phases run */
} S;

static void on_data(net_conn *nc, uint8_t *p, size_t n) {
  (void)p;
  tconn *c = (tconn *)nc;
  if (!c->rx) c->data_iter = S.iter;
  c->rx += n;
}

static void on_end(net_conn *nc, int err) {
  tconn *c = (tconn *)nc;
  c->ended++;
  c->err = err;
  if (S.calling_end) c->in_end = 1;
  net_close(nc); /* what the owner does on on_end */
}

static net_conn *on_accept(net_ctx *ctx, void *user) {
  (void)ctx, (void)user;
  S.c = calloc(1, sizeof(tconn));
  if (S.c) S.c->accepted_iter = S.iter;
  return S.c ? &S.c->net : NULL;
}

static void post(void *arg) {
  (void)arg;
  test_net_post(S.ctx);
  S.iter++;
}

static void step(void) { test_step(S.l, &S.tick); }

/* A context listening on a loopback port with the kernel send limit lowat (0: none),
 * and one accepted connection (S.c); returns the client's fd. */
static int setup(int uring, size_t lowat) {
  memset(&S, 0, sizeof(S));
  S.l = loop_create();
  static const net_handlers h = {on_data, on_end, NULL, on_accept, NULL};
  S.ctx = net_ctx_create(S.l, &h, NULL, uring ? NET_CTX_URING : 0);
  loop_set_post(S.l, post, NULL);
  net_ctx_set_kernel_send_limit(S.ctx, lowat);
  net_listener *ls = net_listen(S.ctx, "127.0.0.1", 0, 16, NULL);
  CHECK(ls != NULL);
  if (!ls) return -1;
  int fd = test_dial(net_listener_port(ls), 0, 0, 0);
  CHECK(fd >= 0);
  /* The client speaks first, before the server has accepted (as HTTP and TLS do). */
  CHECK_EQ_INT(send(fd, "GET / HTTP/1.1\r\n", 16, 0), 16);
  for (int i = 0; i < 2000 && !S.c; i++) step();
  CHECK(S.c != NULL);
  return fd;
}

static void teardown(int fd) {
  close(fd);
  if (S.c) {
    net_conn_release(&S.c->net);
    free(S.c);
  }
  net_ctx_destroy(S.ctx);
  loop_destroy(S.l);
}

static int sockopt(int fd, int name) {
  int v = -1;
  socklen_t sl = sizeof(v);
  if (getsockopt(fd, IPPROTO_TCP, name, &v, &sl) < 0) return -1;
  return v;
}

static void inherit_mode(int uring) {
  int fd = setup(uring, 4096);
  if (!S.c) return teardown(fd);
  int sfd = S.c->net.io.fd;
  CHECK_EQ_INT(sockopt(sfd, TCP_NODELAY), 1);         /* from the listener */
  CHECK_EQ_INT(sockopt(sfd, TCP_NOTSENT_LOWAT), 4096); /* from the listener */
  CHECK(S.c->net.xflags & NET_X_LOWAT);
  net_set_kernel_send_limit(&S.c->net, 4096); /* the same: nothing to do */
  CHECK_EQ_INT(sockopt(sfd, TCP_NOTSENT_LOWAT), 4096);
  net_set_kernel_send_limit(&S.c->net, 8192); /* another: set on the socket */
  CHECK_EQ_INT(sockopt(sfd, TCP_NOTSENT_LOWAT), 8192);
  teardown(fd);
  /* Without a limit, accepted sockets keep the kernel's default and no flag. */
  fd = setup(uring, 0);
  if (!S.c) return teardown(fd);
  CHECK_EQ_INT(sockopt(S.c->net.io.fd, TCP_NODELAY), 1);
  CHECK(!(S.c->net.xflags & NET_X_LOWAT));
  net_set_kernel_send_limit(&S.c->net, 8192);
  CHECK_EQ_INT(sockopt(S.c->net.io.fd, TCP_NOTSENT_LOWAT), 8192);
  teardown(fd);
}
static void test_inherit_batched(void) { inherit_mode(1); }

/* With a ring, bytes already there at accept are read in the same loop iteration
 * (read_soon in net/net.c); with plain syscalls they come with the next epoll round. */
static void read_soon_mode(int uring) {
  int fd = setup(uring, 0);
  if (!S.c) return teardown(fd);
  for (int i = 0; i < 100 && S.c->rx < 16; i++) step();
  CHECK_EQ_INT(S.c->rx, 16);
  if (uring && net_ctx_uring(S.ctx)) CHECK_EQ_INT(S.c->data_iter, S.c->accepted_iter);
  else CHECK(S.c->data_iter > S.c->accepted_iter);
  teardown(fd);
}
/* net_listener_defer_accept (TCP_DEFER_ACCEPT): a client that has sent nothing is not accepted
 * yet (no descriptor, no on_accept); its first bytes make it acceptable, and they are
 * there at the accept. (The kernel accepts a silent one after a SYN-ACK
 * retransmission, about 1 s later: checked with a generous bound.) */
static void test_deferred_accept(void) {
  memset(&S, 0, sizeof(S));
  S.l = loop_create();
  static const net_handlers h = {on_data, on_end, NULL, on_accept, NULL};
  S.ctx = net_ctx_create(S.l, &h, NULL, 0);
  loop_set_post(S.l, post, NULL);
  net_listener *ls = net_listen(S.ctx, "127.0.0.1", 0, 16, NULL);
  CHECK(ls != NULL);
  if (!ls) return;
  CHECK_EQ_INT(net_listener_defer_accept(ls), 0);
  int port = net_listener_port(ls);
  int fd = test_dial(port, 0, 0, 0);
  CHECK(fd >= 0);
  for (int i = 0; i < 100; i++) step(); /* ~100 ms */
  CHECK(S.c == NULL);
  CHECK_EQ_INT(send(fd, "x", 1, 0), 1);
  for (int i = 0; i < 1000 && !(S.c && S.c->rx); i++) step();
  CHECK(S.c != NULL && S.c->rx == 1);
  close(fd);
  if (S.c) {
    net_conn_release(&S.c->net);
    free(S.c);
    S.c = NULL;
  }
  /* A silent client is accepted in the end. */
  fd = test_dial(port, 0, 0, 0);
  CHECK(fd >= 0);
  for (int i = 0; i < 5000 && !S.c; i++) step();
  CHECK(S.c != NULL);
  teardown(fd);
}

static void test_read_soon_batched(void) { read_soon_mode(1); }
static void test_read_soon_plain(void) { read_soon_mode(0); }
static void test_inherit_plain(void) { inherit_mode(0); }

/* Reads fd until EOF (returns the byte count) or a reset/error (-errno), stepping the
 * server loop meanwhile. */
static long read_to_eof(int fd, uint8_t fill) {
  long got = 0;
  uint8_t buf[65536];
  for (int i = 0; i < 20000; i++) {
    step();
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, 0) <= 0) continue;
    ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r == 0) return got;
    if (r < 0) {
      if (errno == EAGAIN) continue;
      return -errno;
    }
    for (ssize_t k = 0; k < r; k++)
      if (buf[k] != fill) return -EILSEQ;
    got += r;
  }
  return -ETIMEDOUT;
}

/* how: 0 small write then net_end; 1 a write bigger than the kernel takes at once (a
 * backlog waits for EPOLLOUT); 2 net_shutdown_write first, then net_end. */
static void end_mode(int uring, int how) {
  int fd = setup(uring, 0);
  if (!S.c) return teardown(fd);
  /* Its request read first: close(2) with unread bytes would send a reset. */
  for (int i = 0; i < 100 && S.c->rx < 16; i++) step();
  static uint8_t big[8 << 20];
  size_t n = how == 1 ? sizeof(big) : 100;
  memset(big, 'x', n);
  CHECK(net_write(&S.c->net, big, n) >= 0);
  if (how == 2) net_shutdown_write(&S.c->net);
  S.calling_end = 1;
  net_end(&S.c->net);
  S.calling_end = 0;
  CHECK_EQ_INT(S.c->ended, 0); /* never from inside net_end */
  CHECK_EQ_INT(read_to_eof(fd, 'x'), (long)n); /* every byte, then FIN: no reset */
  for (int i = 0; i < 100 && !S.c->ended; i++) step();
  CHECK_EQ_INT(S.c->ended, 1);
  CHECK_EQ_INT(S.c->err, 0);
  CHECK(!S.c->in_end);
  for (int i = 0; i < 20; i++) step();
  CHECK_EQ_INT(S.c->ended, 1); /* once */
  teardown(fd);
}
static void test_end_batched(void) {
  for (int how = 0; how < 3; how++) end_mode(1, how);
}
static void test_end_plain(void) {
  for (int how = 0; how < 3; how++) end_mode(0, how);
}

int main(void) {
  RUN(test_inherit_batched);
  RUN(test_inherit_plain);
  RUN(test_read_soon_batched);
  RUN(test_read_soon_plain);
  RUN(test_deferred_accept);
  RUN(test_end_batched);
  RUN(test_end_plain);
  return test_report();
}
