/* net/batch.c — batched non-blocking socket I/O through io_uring (see batch.h). */
#include "net/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifdef WSIO_HAVE_LIBURING
#include <liburing.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

struct net_batch {
  int uring; /* operations go through the ring */
  int inited;
  int disabled; /* created IORING_SETUP_R_DISABLED, not enabled yet */
#ifdef WSIO_HAVE_LIBURING
  struct io_uring ring;
#endif
};

net_batch *net_batch_create(int use_ring) {
  net_batch *b = calloc(1, sizeof(*b));
  if (!b) return NULL;
#ifdef WSIO_HAVE_LIBURING
  if (use_ring) {
    /* One thread submits and reaps (the loop's): let the kernel skip the locking and
     * run completions' task work only when we ask for them. The ring starts disabled
     * and is enabled by its first batch, so the thread that runs the loop owns it,
     * whichever created it. Older kernels lack those flags; a plain ring serves too. */
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL |
              IORING_SETUP_R_DISABLED;
    if (io_uring_queue_init_params(NET_BATCH_MAX, &b->ring, &p) != 0) {
      memset(&p, 0, sizeof(p));
      if (io_uring_queue_init_params(NET_BATCH_MAX, &b->ring, &p) != 0) return b;
    } else {
      b->disabled = 1;
    }
    b->uring = b->inited = 1;
  }
#else
  (void)use_ring;
#endif
  return b;
}

void net_batch_destroy(net_batch *b) {
  if (!b) return;
#ifdef WSIO_HAVE_LIBURING
  if (b->inited) io_uring_queue_exit(&b->ring);
#endif
  free(b);
}

int net_batch_uring(const net_batch *b) { return b->uring; }

static void plain(net_op *ops, int n, int is_send) {
  for (int i = 0; i < n; i++) {
    net_op *o = &ops[i];
    ssize_t r;
    do {
      r = is_send ? send(o->fd, o->p, o->len, MSG_NOSIGNAL | MSG_DONTWAIT)
                  : recv(o->fd, o->p, o->len, MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    o->res = r < 0 ? -errno : (int)r;
  }
}

#ifdef WSIO_HAVE_LIBURING
static void run(net_batch *b, net_op *ops, int n, int is_send) {
  struct io_uring *ring = &b->ring;
  if (b->disabled) {
    b->disabled = 0;
    /* (io_uring_enable_rings is not exported by every liburing 2.x) */
    if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
      b->uring = 0;
      plain(ops, n, is_send);
      return;
    }
  }
  int queued = 0;
  for (int i = 0; i < n; i++) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) break; /* cannot happen with n <= NET_BATCH_MAX and an empty ring */
    if (is_send) io_uring_prep_send(sqe, ops[i].fd, ops[i].p, ops[i].len, MSG_NOSIGNAL | MSG_DONTWAIT);
    else io_uring_prep_recv(sqe, ops[i].fd, ops[i].p, ops[i].len, MSG_DONTWAIT);
    io_uring_sqe_set_data64(sqe, (uint64_t)i);
    ops[i].res = -EINPROGRESS;
    queued++;
  }
  int submitted = io_uring_submit_and_wait(ring, (unsigned)queued);
  while (submitted == -EINTR) submitted = io_uring_submit_and_wait(ring, (unsigned)queued);
  if (submitted < 0) submitted = 0;
  /* Every operation is non-blocking, so all completions are posted by now; wait for
   * any straggler all the same rather than leave the kernel a buffer we reuse. */
  for (int got = 0; got < submitted;) {
    struct io_uring_cqe *cqe;
    if (io_uring_peek_cqe(ring, &cqe) != 0) {
      int e = io_uring_wait_cqe(ring, &cqe);
      if (e == -EINTR) continue;
      if (e < 0) {
        /* The ring is broken: give it up. What it may still hold is failed rather
         * than sent twice. */
        b->uring = 0;
        for (int j = 0; j < n; j++)
          if (ops[j].res == -EINPROGRESS) ops[j].res = -EIO;
        return;
      }
    }
    uint64_t i = io_uring_cqe_get_data64(cqe);
    if (i < (uint64_t)n) ops[i].res = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    got++;
  }
  /* What the ring did not take is done the plain way. */
  for (int i = 0; i < n; i++)
    if (ops[i].res == -EINPROGRESS) plain(&ops[i], 1, is_send);
}
#endif

static void batch(net_batch *b, net_op *ops, int n, int is_send) {
#ifdef WSIO_HAVE_LIBURING
  if (b->uring && n > 1) {
    run(b, ops, n, is_send);
    return;
  }
#else
  (void)b;
#endif
  plain(ops, n, is_send);
}

void net_batch_send(net_batch *b, net_op *ops, int n) { batch(b, ops, n, 1); }
void net_batch_recv(net_batch *b, net_op *ops, int n) { batch(b, ops, n, 0); }
