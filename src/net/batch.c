/* net/batch.c — batched non-blocking socket I/O through io_uring (see batch.h). */
#include "net/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

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
  struct msghdr msg[NET_BATCH_MAX]; /* gathered sends' headers, until their completions */
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
      /* (Untested here: only kernels before 6.1 refuse these flags; the tests' kernel
       * takes them. WSIO_IO_URING=off covers the plain path that follows a refusal.) */
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
    struct msghdr mh = {.msg_iov = o->p, .msg_iovlen = (size_t)o->iovcnt};
    do {
      if (is_send && o->iovcnt > 0) r = sendmsg(o->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
      else if (is_send) r = send(o->fd, o->p, o->len, MSG_NOSIGNAL | MSG_DONTWAIT);
      else r = recv(o->fd, o->p, o->len, MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    o->res = r < 0 ? -errno : (int)r;
  }
}

/* ---- test hook: refused submits ------------------------------------------------ */

static int inject_left, inject_res; /* armed by net_batch_inject_submit; inert at 0 */

int net_batch_inject_submit(int count, int res) {
  int left = inject_left;
  inject_left = count;
  inject_res = res;
  return left;
}

#ifdef WSIO_HAVE_LIBURING
/* Publishes every queued entry to the kernel without entering it: the state a refused
 * io_uring_enter(2) leaves behind (liburing moves the tail before the call). */
static void publish_sq(struct io_uring *ring) {
  ring->sq.sqe_head = ring->sq.sqe_tail;
  io_uring_smp_store_release(ring->sq.ktail, ring->sq.sqe_tail);
}

/* io_uring_submit_and_wait, or the failure a test armed in its place: an error with
 * nothing consumed, or a short submit where the kernel takes only the first res. */
static int submit(struct io_uring *ring, unsigned wait) {
  if (inject_left <= 0) return io_uring_submit_and_wait(ring, wait);
  unsigned tail = ring->sq.sqe_tail, pending = tail - ring->sq.sqe_head;
  if (inject_res >= 0 && (unsigned)inject_res >= pending) return io_uring_submit_and_wait(ring, wait);
  inject_left--;
  int r = inject_res;
  if (r > 0) {
    ring->sq.sqe_tail = ring->sq.sqe_head + (unsigned)r; /* the kernel sees only these */
    r = io_uring_submit_and_wait(ring, (unsigned)r);
    ring->sq.sqe_tail = tail;
  }
  publish_sq(ring);
  return r;
}

/* Forgets the entries the kernel did not consume. A refused or short submit leaves
 * them in the submission queue, and the next submit would send them: stale fds and
 * buffers that have been reused since, after their operations were done the plain
 * way. The kernel reads the queue only inside io_uring_enter(2) (no SQPOLL here), and
 * takes what lies between its head and our tail: setting the tail back to its head
 * empties the queue, and liburing's own indices follow. */
static void drop_unconsumed(struct io_uring *ring) {
  unsigned head = io_uring_smp_load_acquire(ring->sq.khead);
  ring->sq.sqe_head = ring->sq.sqe_tail = head;
  io_uring_smp_store_release(ring->sq.ktail, head);
}

static void run(net_batch *b, net_op *ops, int n, int is_send) {
  struct io_uring *ring = &b->ring;
  if (b->disabled) {
    b->disabled = 0;
    /* (io_uring_enable_rings is not exported by every liburing 2.x) */
    if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
      /* (Untested: a ring that was created disabled and cannot be enabled takes a
       * seccomp filter or a kernel fault no test can arrange; plain() is the tested
       * non-ring path.) */
      b->uring = 0;
      plain(ops, n, is_send);
      return;
    }
  }
  /* The queue is empty between calls (drop_unconsumed), so the kernel's head moves
   * exactly by the entries of this batch it consumed. */
  unsigned head = io_uring_smp_load_acquire(ring->sq.khead);
  int queued = 0;
  for (int i = 0; i < n; i++) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) break; /* cannot happen with n <= NET_BATCH_MAX and an empty ring */
    if (is_send && ops[i].iovcnt > 0) {
      b->msg[i] = (struct msghdr){.msg_iov = ops[i].p, .msg_iovlen = (size_t)ops[i].iovcnt};
      io_uring_prep_sendmsg(sqe, ops[i].fd, &b->msg[i], MSG_NOSIGNAL | MSG_DONTWAIT);
    } else if (is_send) io_uring_prep_send(sqe, ops[i].fd, ops[i].p, ops[i].len, MSG_NOSIGNAL | MSG_DONTWAIT);
    else io_uring_prep_recv(sqe, ops[i].fd, ops[i].p, ops[i].len, MSG_DONTWAIT);
    io_uring_sqe_set_data64(sqe, (uint64_t)i);
    ops[i].res = -EINPROGRESS;
    queued++;
  }
  int r = submit(ring, (unsigned)queued);
  while (r == -EINTR) r = submit(ring, (unsigned)queued);
  /* What the kernel consumed is a prefix of the batch (it reads the queue in order),
   * whatever the call returned: those complete through the ring, the rest are taken
   * out of it and done the plain way below, so nothing is done twice or lost. */
  unsigned taken = io_uring_smp_load_acquire(ring->sq.khead) - head;
  if (taken != (unsigned)queued) drop_unconsumed(ring);
  /* Every operation is non-blocking, so all completions are posted by now; wait for
   * any straggler all the same rather than leave the kernel a buffer we reuse. */
  for (unsigned got = 0; got < taken;) {
    struct io_uring_cqe *cqe;
    if (io_uring_peek_cqe(ring, &cqe) != 0) {
      int e = io_uring_wait_cqe(ring, &cqe);
      if (e == -EINTR) continue;
      if (e < 0) {
        /* (Untested: io_uring_wait_cqe fails only on a broken ring, which no test can
         * cause; what follows is the same as a refused submit, which is tested.)
         * The ring is broken: give it up. What the kernel took and did not answer
         * is failed rather than done twice; what it never took is done below. */
        b->uring = 0;
        for (unsigned j = 0; j < taken; j++)
          if (ops[j].res == -EINPROGRESS) ops[j].res = -EIO;
        break;
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
