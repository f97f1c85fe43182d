/* tests/unit/test_net_connect.c — outgoing connections (net_connect): a connection to a
 * listener of another context on the same loop is reported established from the loop
 * (never inside the call) and carries bytes both ways; a refused one is reported with
 * -ECONNREFUSED; one that cannot complete is bounded by its timeout (-ETIMEDOUT);
 * releasing a connection that is still connecting cancels its report; a full accept
 * queue on loopback makes the deadline fire (-ETIMEDOUT) and a broadcast address fails
 * inside the call. And a listener
 * closed while the loop still holds an event for it in the same batch (SIGTERM and a
 * new connection in one iteration) is not touched after its close (ASan build). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "net_harness.h"
#include "test.h"

typedef struct tconn {
  net_conn net;
  int connected; /* on_connect: 1 + err */
  int err;
  char rx[64];
  size_t nrx;
  int ended;
} tconn;

static struct {
  loop *l;
  tconn *accepted;
  tconn *out;
  int in_call; /* inside net_connect: a report now would be a bug */
  int reported_in_call;
  loop_timer guard;
} S;

static void on_data(net_conn *c, uint8_t *p, size_t n) {
  tconn *t = (tconn *)c;
  if (t->nrx + n < sizeof(t->rx)) {
    memcpy(t->rx + t->nrx, p, n);
    t->nrx += n;
  }
  if (t == S.accepted && t->nrx == 4) net_write(c, "pong", 4); /* the server answers */
  if (t == S.out && t->nrx == 4) loop_stop(S.l);
}

static void on_end(net_conn *c, int err) {
  tconn *t = (tconn *)c;
  t->ended = 1;
  t->err = err;
}

static void on_drain(net_conn *c) { (void)c; }

static net_conn *on_accept(net_ctx *ctx, void *user) {
  (void)ctx;
  (void)user;
  S.accepted = calloc(1, sizeof(tconn));
  return S.accepted ? &S.accepted->net : NULL;
}

static void on_connect(net_conn *c, int err) {
  tconn *t = (tconn *)c;
  if (S.in_call) S.reported_in_call = 1;
  t->connected = 1 + (err != 0);
  t->err = err;
  if (err == 0) net_write(c, "ping", 4);
  else loop_stop(S.l);
}

static void guard_fired(loop_timer *t) {
  (void)t;
  loop_stop(S.l);
}

/* The loop's post phase as core runs it: queued reads, then flushes. */
static net_ctx *post_ctx[2];
static void post(void *arg) {
  (void)arg;
  for (int i = 0; i < 2; i++) {
    if (!post_ctx[i]) continue;
    net_read_queued(post_ctx[i]);
    net_flush_queued(post_ctx[i]);
  }
}

static void run_for(unsigned ms) {
  S.guard.cb = guard_fired;
  loop_timer_start(S.l, &S.guard, ms, 0);
  loop_run(S.l);
  loop_timer_stop(S.l, &S.guard);
}

static struct sockaddr_in addr_of(const char *ip, int port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, ip, &sa.sin_addr);
  return sa;
}

static int start(net_ctx *ctx, tconn *t, struct sockaddr_in sa, unsigned timeout_ms) {
  S.in_call = 1;
  int r = net_connect(ctx, &t->net, (struct sockaddr *)&sa, sizeof(sa), timeout_ms, on_connect);
  S.in_call = 0;
  return r;
}

/* ---- deadlines and failures without leaving loopback -------------------------------- */

/* A listener whose accept queue is full drops new SYNs (Linux): a connection to it
 * never completes, so its deadline reports -ETIMEDOUT, on time. A TCP connect to the
 * broadcast address fails inside the call (-ENETUNREACH or -EACCES): nothing is linked
 * and nothing is reported. A peer address that does not fit the caller's buffer reads
 * "?". */
static void connect_deadline(void) {
  net_handlers h = {.on_data = on_data, .on_end = on_end, .on_drain = on_drain};
  loop_set_post(S.l, NULL, NULL);
  net_ctx *client = net_ctx_create(S.l, &h, NULL, 0);
  CHECK(client != NULL);
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = addr_of("127.0.0.1", 0);
  socklen_t sl = sizeof(sa);
  CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 0) == 0);
  CHECK(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
  int fill[4];
  for (int i = 0; i < 4; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    (void)!connect(fill[i], (struct sockaddr *)&sa, sizeof(sa));
  }
  usleep(50 * 1000); /* the handshakes of those that fit complete */
  S.out = calloc(1, sizeof(tconn));
  uint64_t t0 = loop_update_time(S.l); /* the deadline counts from the loop's time */
  CHECK(start(client, S.out, sa, 100) == 0);
  run_for(3000);
  CHECK(S.out->connected == 2 && S.out->err == -ETIMEDOUT);
  uint64_t took = loop_update_time(S.l) - t0;
  CHECK(took >= 100 && took < 2000);
  char buf[2];
  CHECK(strcmp(net_peer_string(&S.out->net, buf, sizeof(buf)), "?") == 0);
  net_conn_release(&S.out->net);
  free(S.out);
  for (int i = 0; i < 4; i++) close(fill[i]);
  close(lfd);

  tconn t = {0};
  struct sockaddr_in bc = addr_of("255.255.255.255", 9);
  int r = start(client, &t, bc, 100);
  CHECK(r == -ENETUNREACH || r == -EACCES);
  CHECK(net_ctx_count(client) == 0);
  run_for(50);
  CHECK(t.connected == 0);
  net_ctx_destroy(client);
}

/* ---- a listener closed in the middle of a batch ---------------------------------- */

static struct {
  net_listener *ls;
  loop_io pipe_io;
  int accepts;
} L;

static net_conn *count_accept(net_ctx *ctx, void *user) {
  (void)ctx;
  (void)user;
  L.accepts++;
  return NULL; /* refused: the fd is closed */
}

static void close_listener_cb(loop_io *io, uint32_t events) {
  (void)events;
  char b;
  (void)!read(io->fd, &b, 1);
  net_listener_close(L.ls);
  loop_stop(S.l);
}

static void listener_closed_mid_batch(void) {
  net_handlers h = {.on_data = on_data, .on_end = on_end, .on_drain = on_drain, .on_accept = count_accept};
  loop_set_post(S.l, NULL, NULL);
  net_ctx *ctx = net_ctx_create(S.l, &h, NULL, 0);
  CHECK(ctx != NULL);
  L.ls = net_listen(ctx, "127.0.0.1", 0, 16, NULL);
  CHECK(L.ls != NULL);
  int port = net_listener_port(L.ls);
  int fds[2];
  CHECK(pipe(fds) == 0);
  L.pipe_io = (loop_io){.cb = close_listener_cb, .fd = fds[0]};
  CHECK(loop_io_start(S.l, &L.pipe_io, EPOLLIN) == 0);
  /* Ready in this order: the pipe (which closes the listener), then the listener. */
  CHECK(write(fds[1], "x", 1) == 1);
  int cfd = test_dial(port, 0, 0, 0);
  CHECK(cfd >= 0);
  run_for(2000);
  CHECK(L.accepts == 0);
  loop_io_stop(S.l, &L.pipe_io);
  close(fds[0]);
  close(fds[1]);
  close(cfd);
  net_ctx_destroy(ctx); /* frees the closed listener */
}

int main(void) {
  net_handlers server_h = {.on_data = on_data, .on_end = on_end, .on_drain = on_drain, .on_accept = on_accept};
  net_handlers client_h = {.on_data = on_data, .on_end = on_end, .on_drain = on_drain};
  S.l = loop_create();
  CHECK(S.l != NULL);
  for (int uring = 0; uring < 2; uring++) {
    net_ctx *server = net_ctx_create(S.l, &server_h, NULL, uring ? NET_CTX_URING : 0);
    net_ctx *client = net_ctx_create(S.l, &client_h, NULL, uring ? NET_CTX_URING : 0);
    CHECK(server && client);
    post_ctx[0] = server;
    post_ctx[1] = client;
    loop_set_post(S.l, post, NULL);
    net_listener *ls = net_listen(server, "127.0.0.1", 0, 16, NULL);
    CHECK(ls != NULL);
    int port = net_listener_port(ls);

    /* No report function: refused. */
    tconn bad = {0};
    struct sockaddr_in sa = addr_of("127.0.0.1", port);
    CHECK(net_connect(client, &bad.net, (struct sockaddr *)&sa, sizeof(sa), 0, NULL) == -EINVAL);

    /* Established, from the loop, bytes both ways. */
    S.out = calloc(1, sizeof(tconn));
    S.reported_in_call = 0;
    CHECK(start(client, S.out, sa, 2000) == 0);
    CHECK(S.out->connected == 0); /* not inside the call */
    CHECK(net_ctx_count(client) == 1);
    run_for(3000);
    CHECK(!S.reported_in_call);
    CHECK(S.out->connected == 1 && S.out->err == 0);
    CHECK(S.accepted != NULL);
    CHECK(S.accepted->nrx == 4 && memcmp(S.accepted->rx, "ping", 4) == 0);
    CHECK(S.out->nrx == 4 && memcmp(S.out->rx, "pong", 4) == 0);
    net_conn_release(&S.out->net);
    free(S.out);
    net_conn_release(&S.accepted->net);
    free(S.accepted);
    S.accepted = NULL;
    CHECK(net_ctx_count(client) == 0);

    /* Refused: nothing listens on the port the closed listener had. */
    net_listener_close(ls);
    S.out = calloc(1, sizeof(tconn));
    int r = start(client, S.out, sa, 2000);
    if (r == 0) {
      run_for(3000);
      CHECK(S.out->connected == 2 && S.out->err == -ECONNREFUSED);
      net_conn_release(&S.out->net);
    } else {
      CHECK(r == -ECONNREFUSED);
    }
    free(S.out);

    /* Bounded: an address nothing answers (TEST-NET-1, RFC 5737) times out, or
     * fails at once where the sandbox has no route; never hangs past the timeout. */
    S.out = calloc(1, sizeof(tconn));
    struct sockaddr_in far = addr_of("192.0.2.1", 9);
    r = start(client, S.out, far, 100);
    if (r == 0) {
      uint64_t t0 = loop_update_time(S.l);
      run_for(3000);
      CHECK(S.out->connected == 2 && S.out->err < 0);
      if (S.out->err == -ETIMEDOUT) CHECK(loop_update_time(S.l) - t0 < 2000);
      net_conn_release(&S.out->net);
    }
    free(S.out);

    /* Released while connecting: no report follows, the deadline is gone. */
    S.out = calloc(1, sizeof(tconn));
    r = start(client, S.out, far, 50);
    if (r == 0) {
      net_conn_release(&S.out->net);
      run_for(200);
      CHECK(S.out->connected == 0);
    }
    free(S.out);

    loop_set_post(S.l, NULL, NULL);
    net_ctx_destroy(client);
    net_ctx_destroy(server);
  }
  connect_deadline();
  listener_closed_mid_batch();
  loop_destroy(S.l);
  return test_report();
}
