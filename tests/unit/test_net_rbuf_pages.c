/* tests/unit/test_net_rbuf_pages.c — the receive buffer's memory on a server whose
 * connections send little: net/net.c is included to reach the context's buffer.
 *
 * Regression: read rounds cut the 1 MiB buffer into slices sized by each round's count,
 * so every size of round started its slices at new places, and small reads over a day
 * of varying rounds touched (made resident) most of the buffer: idle RSS at 10,000
 * connections rose from 223 to 267 B each. Slices now start at NET_READ_ROUND fixed
 * places: rounds of every size from 1 to NET_READ_ROUND, of one byte per connection,
 * leave at most that many pages resident. */
#include "net/net.c"

#include <sys/mman.h>

#include "net_harness.h"
#include "test.h"

#define NCONNS NET_READ_ROUND

static struct {
  loop *l;
  net_ctx *ctx;
  loop_timer tick;
  net_conn *conns[NCONNS];
  size_t rx[NCONNS];
  int n;
} T;

static void on_data(net_conn *c, uint8_t *p, size_t n) {
  (void)p;
  for (int i = 0; i < T.n; i++)
    if (T.conns[i] == c) T.rx[i] += n;
}

static void on_end(net_conn *c, int err) {
  (void)err;
  net_close(c);
}

static net_conn *on_accept(net_ctx *ctx, void *user) {
  (void)ctx;
  (void)user;
  if (T.n == NCONNS) return NULL;
  return T.conns[T.n++] = calloc(1, sizeof(net_conn));
}

static void step(void) { test_step(T.l, &T.tick); }

/* Pages of the receive buffer the kernel has made resident. */
static int resident_pages(void) {
  long pg = sysconf(_SC_PAGESIZE);
  uintptr_t a = (uintptr_t)T.ctx->rbuf & ~(uintptr_t)(pg - 1);
  size_t len = (size_t)((uintptr_t)T.ctx->rbuf + NET_RECV_BUF - a), np = (len + (size_t)pg - 1) / (size_t)pg;
  unsigned char *v = malloc(np);
  int n = 0;
  if (v && mincore((void *)a, len, v) == 0)
    for (size_t i = 0; i < np; i++) n += v[i] & 1;
  free(v);
  return n;
}

static void test_small_reads_touch_fixed_pages(void) {
  T.l = loop_create();
  net_handlers h = {.on_data = on_data, .on_end = on_end, .on_accept = on_accept};
  T.ctx = net_ctx_create(T.l, &h, NULL, NET_CTX_URING);
  CHECK(T.ctx != NULL);
  if (!T.ctx) return;
  loop_set_post(T.l, test_net_post, T.ctx);
  /* (An allocator may hand out pages it touched before, as ASan's does: what counts is
   * what the reads add.) */
  int before = resident_pages();
  net_listener *ls = net_listen(T.ctx, "127.0.0.1", 0, 64, NULL);
  CHECK(ls != NULL);
  if (!ls) return;
  int fds[NCONNS];
  for (int i = 0; i < NCONNS; i++) {
    fds[i] = test_dial(net_listener_port(ls), 0, 0, 0);
    CHECK(fds[i] >= 0);
    for (int k = 0; k < 200 && T.n == i; k++) step();
  }
  CHECK_EQ_INT(T.n, NCONNS);
  /* Rounds of every size, each connection of a round sending one byte at once. */
  size_t want[NCONNS] = {0};
  for (int rep = 0; rep < 2; rep++)
    for (int k = 1; k <= NCONNS; k++) {
      for (int i = 0; i < k; i++) {
        int j = (i * 7 + k + rep) % NCONNS;
        CHECK(send(fds[j], "x", 1, 0) == 1);
        want[j]++;
      }
      for (int s = 0; s < 100; s++) {
        step();
        int all = 1;
        for (int i = 0; i < NCONNS; i++) all &= T.rx[i] == want[i];
        if (all) break;
      }
    }
  for (int i = 0; i < NCONNS; i++) CHECK_EQ_INT(T.rx[i], want[i]);
  int pages = resident_pages() - before;
  CHECK(pages <= NET_READ_ROUND);
  for (int i = 0; i < NCONNS; i++) close(fds[i]);
  for (int k = 0; k < 20; k++) step();
  for (int i = 0; i < T.n; i++) {
    net_conn_release(T.conns[i]);
    free(T.conns[i]);
  }
  net_ctx_destroy(T.ctx);
  loop_destroy(T.l);
}

int main(void) {
  RUN(test_small_reads_touch_fixed_pages);
  return test_report();
}
