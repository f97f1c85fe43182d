/* net/net.c — TCP listeners and connections over the loop (see net.h). */
#include "net/net.h"
#include "util/buf.h"

#include "net/batch.h"
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* The loop's one receive buffer. A batched round splits it among its connections
 * (net_read_queued): at this size even a full round of NET_READ_ROUND gets 32 KiB each,
 * and a round of ten gets 96 KiB, more than a peer keeping four 16 KiB messages in
 * flight has queued, so each is read whole in one go. */
#define NET_RECV_BUF (1024 * 1024)
#define NET_RECV_SLOT (NET_RECV_BUF / NET_READ_ROUND)
#define NET_DIRECT_MIN (64 * 1024)        /* writes bigger than this go out at once */
#define NET_READ_ROUND 32                 /* connections read per batched receive */
#define NET_ACCEPTS_PER_EVENT 128
/* Lent writes (net_write2_lent, from NET_LENT_MIN bytes): at most NET_LENT_MAX pieces
 * per shared buffer; more are copied. */
#define NET_LENT_MAX 128

/* A piece of the shared output stream that lies in the receive buffer: stream bytes
 * [at, at + len) are at p. `before` lent bytes come earlier in the stream, so stream
 * byte `at - 1` is at bcast + at - 1 - before. */
typedef struct net_lent {
  uint32_t at, len, before;
  const uint8_t *p;
} net_lent;

struct net_listener {
  loop_io io;
  net_ctx *ctx;
  void *user;
  int port;
  int plain; /* no TLS for its connections (net_listener_set_plain) */
  uint32_t watch; /* its epoll events while accepting (net_ctx_accepting) */
  net_listener *next;
};

/* An outgoing connection until it is established: its deadline. Kept here, not in
 * net_conn, so accepted connections pay nothing for it. */
typedef struct net_connecting {
  loop_timer timer;
  net_conn *c;
  net_connect_fn cb;
  struct net_connecting *next;
} net_connecting;

struct net_ctx {
  loop *loop;
  net_connecting *connecting;
  net_handlers h;
  void *user;
  net_conn *head;
  size_t count;
  net_listener *listeners;
  net_listener *closed_listeners; /* freed with the context (see net_listener_close) */
  int spare_fd; /* closed to make room when accept fails with EMFILE */
  unsigned accept_batch; /* accepts per listener event (net_ctx_set_accept_batch) */
  int lowat;    /* TCP_NOTSENT_LOWAT set on the listeners (net_ctx_set_kernel_send_limit) */
  net_conn *flush_head; /* connections with writes queued in this iteration */
  /* This iteration's shared output stream: bcast_len bytes (offsets into it are what
   * connections are owed), of which the lent pieces lie in the receive buffer and the
   * rest, in order, in bcast. */
  uint8_t *bcast;
  size_t bcast_len, bcast_cap;
  uint64_t bcast_epoch; /* bumped whenever the shared buffer is reset */
  net_lent lent[NET_LENT_MAX];
  int nlent;
  size_t lent_bytes; /* the lent pieces' total */
  size_t lent_end;   /* where the last lent byte of the receive buffer ends */
  struct iovec iov[NET_BATCH_MAX + 2 * NET_LENT_MAX]; /* one flush batch's gathered sends */
  uint8_t *rbuf;
  net_batch *batch;
  net_conn **readq; /* readable connections, read in the post phase (with a ring only) */
  size_t nread, readq_cap;
  net_op ops[NET_BATCH_MAX];
  net_conn *opconn[NET_BATCH_MAX];
  net_conn *nothing[NET_BATCH_MAX]; /* queued connections with nothing to send */
  int flushing;                     /* inside flush(): no spill (the arrays are in use) */
  net_op rops[NET_READ_ROUND];      /* reads have their own: a write may spill */
  net_conn *rconn[NET_READ_ROUND];
  uint8_t opstate[NET_BATCH_MAX];
  struct ssl_ctx_st *tls;  /* server context for new connections, NULL: plain */
  uint8_t *tls_buf;        /* plaintext decrypted for on_data */
  uint64_t tls_failures;
};

#define NET_TLS_BUF (64 * 1024)
#define NET_TLS_RECORD (16 * 1024) /* plaintext of a full TLS record */

net_ctx *net_ctx_create(loop *l, const net_handlers *h, void *user, int flags) {
  net_ctx *ctx = calloc(1, sizeof(*ctx));
  if (!ctx) return NULL;
  ctx->loop = l;
  ctx->h = *h;
  ctx->user = user;
  ctx->rbuf = malloc(NET_RECV_BUF);
  ctx->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ctx->accept_batch = NET_ACCEPTS_PER_EVENT;
  ctx->batch = net_batch_create(flags & NET_CTX_URING);
  if (ctx->batch && net_batch_uring(ctx->batch)) {
    ctx->readq_cap = 256;
    ctx->readq = malloc(ctx->readq_cap * sizeof(*ctx->readq));
    if (!ctx->readq) ctx->readq_cap = 0;
  }
  if (!ctx->rbuf || !ctx->batch) {
    net_ctx_destroy(ctx);
    return NULL;
  }
  return ctx;
}

static void connecting_drop(net_ctx *ctx, net_conn *c);
static void listener_options(net_ctx *ctx, int fd);

void net_ctx_destroy(net_ctx *ctx) {
  if (!ctx) return;
  while (ctx->connecting) connecting_drop(ctx, ctx->connecting->c);
  while (ctx->listeners) net_listener_close(ctx->listeners);
  while (ctx->closed_listeners) {
    net_listener *ls = ctx->closed_listeners;
    ctx->closed_listeners = ls->next;
    free(ls);
  }
  if (ctx->spare_fd >= 0) close(ctx->spare_fd);
  free(ctx->rbuf);
  free(ctx->readq);
  net_batch_destroy(ctx->batch);
  free(ctx->bcast);
  net_tls_ctx_free(ctx->tls);
  free(ctx->tls_buf);
  free(ctx);
}

void net_ctx_set_tls(net_ctx *ctx, struct ssl_ctx_st *tls) {
  net_tls_ctx_free(ctx->tls);
  ctx->tls = tls;
}

uint64_t net_ctx_tls_failures(const net_ctx *ctx) { return ctx->tls_failures; }

void *net_ctx_user(net_ctx *ctx) { return ctx->user; }
int net_ctx_uring(const net_ctx *ctx) { return net_batch_uring(ctx->batch); }
loop *net_ctx_loop(net_ctx *ctx) { return ctx->loop; }
net_conn *net_ctx_first(net_ctx *ctx) { return ctx->head; }
size_t net_ctx_count(net_ctx *ctx) { return ctx->count; }

/* ---- writing --------------------------------------------------------------------- */

static inline size_t backlog_len(const net_conn *c) { return c->out_len - c->out_off; }

/* ---- the shared stream's pieces --------------------------------------------------- */

/* Bytes of the shared stream that are in bcast (the next one goes at bcast + this). */
static inline size_t shared_fill(const net_ctx *ctx) { return ctx->bcast_len - ctx->lent_bytes; }

/* The first lent piece that ends after stream offset off (nlent when none). */
static int lent_find(const net_ctx *ctx, size_t off) {
  int lo = 0, hi = ctx->nlent;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if ((size_t)ctx->lent[mid].at + ctx->lent[mid].len <= off) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Where stream offset off is, for a range with no lent piece in it (a broadcast's, a
 * TLS connection's: only plain connections lend, and only at the stream's end). */
static uint8_t *shared_at(const net_ctx *ctx, size_t off) {
  if (!ctx->nlent) return ctx->bcast + off;
  int i = lent_find(ctx, off);
  return ctx->bcast + off - (i < ctx->nlent ? ctx->lent[i].before : ctx->lent_bytes);
}

/* Stream bytes [off, off + len) as the pieces where they lie: their count, or -1 when
 * more than max would be needed. */
static int shared_pieces(const net_ctx *ctx, size_t off, size_t len, struct iovec *iov, int max) {
  if (!ctx->nlent) { /* (the usual case) */
    iov[0] = (struct iovec){ctx->bcast + off, len};
    return 1;
  }
  int i = lent_find(ctx, off), k = 0;
  size_t end = off + len, before = i < ctx->nlent ? ctx->lent[i].before : ctx->lent_bytes;
  while (off < end) {
    if (k == max) return -1;
    const net_lent *l = i < ctx->nlent ? &ctx->lent[i] : NULL;
    if (l && l->at <= off) {
      size_t skip = off - l->at, m = l->len - skip < end - off ? l->len - skip : end - off;
      iov[k++] = (struct iovec){(void *)(l->p + skip), m};
      off += m;
      before += l->len;
      i++;
      continue;
    }
    size_t stop = l && l->at < end ? l->at : end;
    iov[k++] = (struct iovec){ctx->bcast + off - before, stop - off};
    off = stop;
  }
  return k;
}
static int backlog_reserve(net_conn *c, size_t extra);
static void queue_conn(net_conn *c);

/* Test hook (net_fail_allocs): inert while fail_count is 0. */
static unsigned fail_skip, fail_count;

unsigned net_fail_allocs(unsigned skip, unsigned count) {
  unsigned left = fail_count;
  fail_skip = skip;
  fail_count = count;
  return left;
}

/* realloc for the write path, failing where a test asked it to. */
static void *write_realloc(void *p, size_t n) {
  if (fail_count) {
    if (!fail_skip) {
      fail_count--;
      return NULL;
    }
    fail_skip--;
  }
  return realloc(p, n);
}

/* Fails c from inside net (no memory for its bytes, epoll refusing it). Bytes
 * accepted for it can no longer all go out in order, so none do: what it is owed is
 * dropped and further writes are refused (NET_F_SHUT_DONE), never sent past a hole.
 * Linger 0 turns the owner's close into a reset, so the peer cannot take the
 * truncated stream for a complete one. on_end(c, err) follows from the post phase's
 * flush (c is queued for it), where the owner may tear c down. Returns err. */
static int conn_fail(net_conn *c, int err) {
  if (c->flags & (NET_F_CLOSED | NET_F_FAILED)) return err;
  c->flags = (uint8_t)((c->flags | NET_F_FAILED | NET_F_SHUT_DONE) & ~(NET_F_SHUT_PENDING | NET_F_WANT_DRAIN));
  c->fail_errno = (uint8_t)(err < 0 && err > -256 ? -err : EIO);
  c->bc_len = 0;
  c->out_off = c->out_len = 0; /* the buffer itself goes with net_conn_release */
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  loop_io_update(c->ctx->loop, &c->io, 0); /* (EPOLLERR/EPOLLHUP still come: ignored) */
  queue_conn(c);
  return err;
}

/* Reports a failure of conn_fail once, from a point where callbacks may run. */
static void report_failure(net_ctx *ctx, net_conn *c) {
  if (!c->fail_errno || (c->flags & NET_F_CLOSED)) return;
  int err = -(int)c->fail_errno;
  c->fail_errno = 0;
  ctx->h.on_end(c, err);
}

void net_trim(net_conn *c) {
  if (c->tls && !(c->flags & NET_F_RECENT)) net_tls_trim(c->tls);
  if (c->flags & NET_F_RECENT) {
    c->flags &= (uint8_t)~NET_F_RECENT;
    return;
  }
  if (c->out && !backlog_len(c)) {
    free(c->out);
    c->out = NULL;
    c->out_cap = c->out_len = c->out_off = 0;
  }
}

static int backlog_reserve(net_conn *c, size_t extra) {
  c->flags |= NET_F_RECENT;
  size_t live = c->out_len - c->out_off;
  if (c->out_off && (c->out_off >= c->out_cap / 2 || c->out_len + extra > c->out_cap)) {
    memmove(c->out, c->out + c->out_off, live);
    c->out_off = 0;
    c->out_len = (uint32_t)live;
  }
  if (c->out_len + extra <= c->out_cap) return 0;
  size_t need = c->out_len + extra, cap = grow_cap(c->out_cap, need, 512, UINT32_MAX);
  if (!cap) return -ENOMEM;
  uint8_t *p = write_realloc(c->out, cap);
  if (!p) return -ENOMEM;
  c->out = p;
  c->out_cap = (uint32_t)cap;
  return 0;
}

static void want_writable(net_conn *c, int on) {
  if (c->flags & (NET_F_CLOSED | NET_F_FAILED)) return;
  uint32_t ev = on ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  int r = loop_io_update(c->ctx->loop, &c->io, ev);
  /* Without EPOLLOUT the backlog would wait forever: fail rather than stall. (Not
   * turning it off costs a spurious wake-up, nothing more.) */
  if (r < 0 && on) conn_fail(c, r);
}

int net_buffer(net_conn *c, const void *p, size_t n) {
  if (c->flags & NET_F_CLOSED) return -EPIPE;
  if (!n) return backlog_len(c) ? NET_BUFFERED : NET_WRITTEN;
  int was_empty = backlog_len(c) == 0;
  if (backlog_reserve(c, n) < 0) return conn_fail(c, -ENOMEM);
  memcpy(c->out + c->out_len, p, n);
  c->out_len += (uint32_t)n;
  if (was_empty && !(c->flags & NET_F_QUEUED)) want_writable(c, 1);
  return NET_BUFFERED;
}

static int write_error(net_conn *c, int err) {
  /* Leave the fd open: EPOLLERR/EPOLLHUP reach on_end through the loop, at a point
   * where the owner can tear the connection down safely. */
  c->flags |= NET_F_SHUT_DONE;
  want_writable(c, 1);
  return -err;
}

/* Sends iov directly; whatever the kernel refuses goes to the backlog. */
static int send_iov(net_conn *c, struct iovec *iov, int iovcnt, size_t total) {
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
  ssize_t r = sendmsg(c->io.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (r < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return write_error(c, errno);
    r = 0;
  }
  if ((size_t)r == total) return NET_WRITTEN;
  size_t skip = (size_t)r;
  for (int i = 0; i < iovcnt; i++) {
    if (skip >= iov[i].iov_len) {
      skip -= iov[i].iov_len;
      continue;
    }
    /* (Out of memory, part of the write is gone: net_buffer has failed c.) */
    if (net_buffer(c, (uint8_t *)iov[i].iov_base + skip, iov[i].iov_len - skip) < 0) return -ENOMEM;
    skip = 0;
  }
  return NET_BUFFERED;
}

static int tls_seal(net_conn *c);

/* Copies what c is owed of the shared buffer into its backlog: before any write that
 * cannot follow it there, so bytes keep their order. (A TLS connection is owed
 * plaintext: it is encrypted into the backlog instead.) 0, or -ENOMEM/-EPROTO. */
static int materialize(net_conn *c) {
  if (c->tls) return tls_seal(c);
  if (!c->bc_len) return 0;
  if (backlog_reserve(c, c->bc_len) < 0) return -ENOMEM;
  struct iovec iov[2 * NET_LENT_MAX + 1]; /* (always enough: a run holds at most NET_LENT_MAX lent pieces) */
  int k = shared_pieces(c->ctx, c->bc_off, c->bc_len, iov, 2 * NET_LENT_MAX + 1);
  for (int i = 0; i < k; i++) {
    memcpy(c->out + c->out_len, iov[i].iov_base, iov[i].iov_len);
    c->out_len += (uint32_t)iov[i].iov_len;
  }
  c->bc_len = 0;
  return 0;
}

static void queue_conn(net_conn *c) {
  if (c->flags & NET_F_QUEUED) return;
  c->flags |= NET_F_QUEUED;
  c->flush_next = c->ctx->flush_head;
  c->ctx->flush_head = c;
}

static int queue_write(net_conn *c, const void *a, size_t an, const void *b, size_t bn) {
  int queued = (c->flags & NET_F_QUEUED) != 0;
  int e = materialize(c);
  if (e < 0) return conn_fail(c, e);
  int was_empty = backlog_len(c) == 0;
  if (backlog_reserve(c, an + bn) < 0) return conn_fail(c, -ENOMEM);
  memcpy(c->out + c->out_len, a, an);
  if (bn) memcpy(c->out + c->out_len + an, b, bn);
  c->out_len += (uint32_t)(an + bn);
  if (!was_empty) return queued ? NET_WRITTEN : NET_BUFFERED;
  queue_conn(c);
  return NET_WRITTEN;
}

static void flush(net_ctx *ctx, int callbacks);

/* Makes room for n more bytes in the shared buffer. Past NET_SHARED_SPILL_AT what is
 * queued is sent at once (without callbacks) and the buffer starts over (a new
 * epoch), so it stays small and a burst of writes never copies to backlogs. */
static int shared_reserve(net_ctx *ctx, size_t n) {
  size_t fill = shared_fill(ctx);
  if (fill && fill + n > NET_SHARED_SPILL_AT && !ctx->flushing) {
    flush(ctx, 0);
    fill = 0;
  }
  if (fill + n > ctx->bcast_cap) {
    size_t cap = grow_cap(ctx->bcast_cap, fill + n, 16384, SIZE_MAX);
    if (!cap) return -ENOMEM;
    uint8_t *b = write_realloc(ctx->bcast, cap);
    if (!b) return -ENOMEM;
    ctx->bcast = b;
    ctx->bcast_cap = cap;
  }
  return 0;
}

int net_bcast_append(net_ctx *ctx, const void *p, size_t n, uint32_t *off) {
  if (shared_reserve(ctx, n) < 0) return -ENOMEM;
  memcpy(ctx->bcast + shared_fill(ctx), p, n);
  *off = (uint32_t)ctx->bcast_len;
  ctx->bcast_len += n;
  return 0;
}

int net_bcast_add(net_conn *c, uint32_t off, uint32_t n) {
  net_ctx *ctx = c->ctx;
  if (c->flags & (NET_F_CLOSED | NET_F_SHUT_DONE | NET_F_SHUT_PENDING)) return -EPIPE;
  int behind = backlog_len(c) && !(c->flags & NET_F_QUEUED); /* the kernel refused earlier bytes */
  /* A connection whose run would not be contiguous gets a copy (in its backlog: the
   * shared buffer must not move under the bytes being copied). A TLS recipient is
   * owed plaintext, encrypted in the flush with the rest of its iteration's bytes:
   * its earlier run is encrypted now instead, and this one starts a new run. */
  if (c->bc_len && c->bc_off + c->bc_len != off) {
    if (!c->tls) return queue_write(c, shared_at(ctx, off), n, NULL, 0);
    int e = tls_seal(c);
    if (e < 0) return conn_fail(c, e);
  }
  if (!c->bc_len) c->bc_off = off;
  c->bc_len += n;
  queue_conn(c);
  return behind ? NET_BUFFERED : NET_WRITTEN;
}

/* Whether b's n bytes lie in ctx's receive buffer. */
static int in_rbuf(const net_ctx *ctx, const void *b, size_t n) {
  uintptr_t p = (uintptr_t)b, r = (uintptr_t)ctx->rbuf;
  return p >= r && p - r <= NET_RECV_BUF && n <= NET_RECV_BUF - (p - r);
}

/* Records that the stream's next n bytes are b's, lent from the receive buffer. */
static void lend(net_ctx *ctx, const uint8_t *b, size_t n) {
  ctx->lent[ctx->nlent++] = (net_lent){(uint32_t)ctx->bcast_len, (uint32_t)n, (uint32_t)ctx->lent_bytes, b};
  ctx->bcast_len += n;
  ctx->lent_bytes += n;
  size_t end = (size_t)(b - ctx->rbuf) + n;
  if (end > ctx->lent_end) ctx->lent_end = end;
}

static int raw_write2(net_conn *c, const void *a, size_t an, const void *b, size_t bn) {
  size_t total = an + bn;
  net_ctx *ctx = c->ctx;
  if (backlog_len(c) || !total) return queue_write(c, a, an, b, bn);
  if (!c->bc_len && total > NET_DIRECT_MIN) {
    /* A big write owed after nothing: one syscall now costs little beside copying it. */
    struct iovec iov[2] = {{(void *)a, an}, {(void *)b, bn}};
    return send_iov(c, iov, bn ? 2 : 1, total);
  }
  if (shared_reserve(ctx, total) < 0) return conn_fail(c, -ENOMEM);
  /* A spill sends what c was owed: c may have failed or broken meanwhile. */
  if (c->flags & (NET_F_CLOSED | NET_F_SHUT_DONE)) return c->flags & NET_F_FAILED ? -ENOMEM : -EPIPE;
  /* The usual case: the bytes extend what c is owed of the shared buffer (or start
   * it), and go out with everything else in the post phase's batch. (A spill may
   * just have left c a backlog.) */
  if (backlog_len(c) || (c->bc_len && c->bc_off + c->bc_len != ctx->bcast_len))
    return queue_write(c, a, an, b, bn);
  if (!c->bc_len) c->bc_off = (uint32_t)ctx->bcast_len;
  uint8_t *to = ctx->bcast + shared_fill(ctx);
  memcpy(to, a, an);
  if (bn) memcpy(to + an, b, bn);
  ctx->bcast_len += total;
  c->bc_len += (uint32_t)total;
  queue_conn(c);
  return NET_WRITTEN;
}

/* Fast: an echo's payload, unmasked in place in the receive buffer, is not copied into
 * the shared buffer but sent from where it is, one more piece of c's gathered send in
 * the flush (perf, 16 KiB echo: the copy was ~6 % of the server's CPU). The receive
 * buffer is not read into again before that flush (read_room, net_read_queued), and
 * whatever the kernel does not take is copied to c's backlog in the flush itself
 * (sent_bytes), so the bytes need to stay only until then. Only the header is
 * appended; the rest is as raw_write2's usual case. */
static int lent_write2(net_conn *c, const void *a, size_t an, const uint8_t *b, size_t bn) {
  net_ctx *ctx = c->ctx;
  if (shared_reserve(ctx, an) < 0) return conn_fail(c, -ENOMEM);
  if (c->flags & (NET_F_CLOSED | NET_F_SHUT_DONE)) return c->flags & NET_F_FAILED ? -ENOMEM : -EPIPE;
  if (backlog_len(c) || (c->bc_len && c->bc_off + c->bc_len != ctx->bcast_len))
    return queue_write(c, a, an, b, bn);
  if (!c->bc_len) c->bc_off = (uint32_t)ctx->bcast_len;
  if (an) memcpy(ctx->bcast + shared_fill(ctx), a, an);
  ctx->bcast_len += an;
  lend(ctx, b, bn);
  c->bc_len += (uint32_t)(an + bn);
  queue_conn(c);
  return NET_WRITTEN;
}

/* ---- TLS output ------------------------------------------------------------------
 * A TLS connection's plaintext of an iteration is gathered like a plain connection's
 * bytes: appended to the shared buffer (or a broadcast's range of it) and owed as
 * bc_off/bc_len. The flush encrypts each connection's run once, so 16 small messages
 * become one record (up to 16 KiB each), not 16, and sends the ciphertext straight
 * from the session's output in the same batched send. Records carry implicit sequence
 * numbers and must never be reordered, so ciphertext has one order: the backlog
 * (oldest, what the kernel refused), then the session's output (a connection with
 * output is queued for the flush), then the owed plaintext once encrypted. The
 * output only ever moves whole to the backlog's end (tls_drain), and is sent from
 * where it is only when the backlog is empty. */

/* Encrypts what c is owed of the shared buffer into the session's output. */
static int tls_encrypt_owed(net_conn *c) {
  if (!c->bc_len) return 0;
  uint32_t n = c->bc_len;
  c->bc_len = 0;
  return net_tls_write(c->tls, shared_at(c->ctx, c->bc_off), n) < 0 ? -EPROTO : 0;
}

/* Moves the session's output (handshake records, alerts, encrypted writes) to the end
 * of c's backlog; c goes out with the iteration's flush. Once c's write side is done
 * (shut down, broken, failed) the output is dropped, as a plain write is refused.
 * 0, or -ENOMEM. */
static int tls_drain(net_conn *c) {
  const uint8_t *p;
  size_t n = net_tls_out(c->tls, &p);
  if (!n) return 0;
  int was_empty = backlog_len(c) == 0, r = 0;
  if (c->flags & (NET_F_CLOSED | NET_F_SHUT_DONE)) n = 0;
  if (n && backlog_reserve(c, n) < 0) {
    r = -ENOMEM;
  } else if (n) {
    memcpy(c->out + c->out_len, p, n);
    c->out_len += (uint32_t)n;
    /* (A backlog that was not empty is queued already or waits for EPOLLOUT.) */
    if (was_empty) queue_conn(c);
  }
  net_tls_out_done(c->tls);
  return r;
}

/* Encrypts c's owed run now, behind its backlog: before bytes that cannot extend the
 * run, and before a close_notify. */
static int tls_seal(net_conn *c) {
  int e = tls_encrypt_owed(c);
  int d = tls_drain(c);
  return e < 0 ? e : d;
}

/* A write of at least a record is encrypted at once (copying it to the shared buffer
 * first would buy nothing): c's owed run first, then it; past NET_DIRECT_MIN with
 * nothing owed before it, its ciphertext is sent at once, as a plain write's. */
static int tls_write_big(net_conn *c, const void *a, size_t an, const void *b, size_t bn) {
  int queued = (c->flags & NET_F_QUEUED) != 0, was_empty = !backlog_len(c) && !c->bc_len;
  int e = tls_encrypt_owed(c);
  if (!e && ((an && net_tls_write(c->tls, a, an) < 0) || (bn && net_tls_write(c->tls, b, bn) < 0))) e = -EPROTO;
  if (e < 0) {
    net_tls_out_done(c->tls);
    return conn_fail(c, e);
  }
  if (was_empty && an + bn > NET_DIRECT_MIN) {
    const uint8_t *p;
    size_t n = net_tls_out(c->tls, &p);
    struct iovec iov = {(void *)p, n};
    int r = send_iov(c, &iov, 1, n);
    net_tls_out_done(c->tls);
    return r;
  }
  if ((e = tls_drain(c)) < 0) return conn_fail(c, e);
  return was_empty || queued ? NET_WRITTEN : NET_BUFFERED;
}

static int tls_write2(net_conn *c, const void *a, size_t an, const void *b, size_t bn) {
  net_ctx *ctx = c->ctx;
  size_t total = an + bn;
  if (total >= NET_TLS_RECORD) return tls_write_big(c, a, an, b, bn);
  if (total && shared_reserve(ctx, total) < 0) return conn_fail(c, -ENOMEM);
  /* A spill sends what c was owed: c may have failed or broken meanwhile. */
  if (c->flags & (NET_F_CLOSED | NET_F_SHUT_DONE)) return c->flags & NET_F_FAILED ? -ENOMEM : -EPIPE;
  int behind = backlog_len(c) && !(c->flags & NET_F_QUEUED);
  if (c->bc_len && c->bc_off + c->bc_len != ctx->bcast_len) {
    int e = tls_seal(c);
    if (e < 0) return conn_fail(c, e);
  }
  if (!c->bc_len) c->bc_off = (uint32_t)ctx->bcast_len;
  if (an) memcpy(ctx->bcast + shared_fill(ctx), a, an);
  if (bn) memcpy(ctx->bcast + shared_fill(ctx) + an, b, bn);
  ctx->bcast_len += total;
  c->bc_len += (uint32_t)total;
  queue_conn(c);
  return behind ? NET_BUFFERED : NET_WRITTEN;
}

int net_write2(net_conn *c, const void *a, size_t an, const void *b, size_t bn) {
  if (c->flags & (NET_F_CLOSED | NET_F_SHUT_DONE | NET_F_SHUT_PENDING)) return -EPIPE;
  return c->tls ? tls_write2(c, a, an, b, bn) : raw_write2(c, a, an, b, bn);
}

int net_write2_lent_big(net_conn *c, const void *a, size_t an, const void *b, size_t bn) {
  /* Only what can simply follow c's run in the shared stream is lent; the rest goes
   * as net_write2 decides. */
  net_ctx *ctx = c->ctx;
  if (c->tls || backlog_len(c) || (!c->bc_len && an + bn > NET_DIRECT_MIN) ||
      ctx->nlent == NET_LENT_MAX || !in_rbuf(ctx, b, bn) ||
      (c->flags & (NET_F_CLOSED | NET_F_SHUT_DONE | NET_F_SHUT_PENDING)))
    return net_write2(c, a, an, b, bn);
  return lent_write2(c, a, an, b, bn);
}

int net_write(net_conn *c, const void *p, size_t n) { return net_write2(c, p, n, NULL, 0); }

/* The backlog is empty again: stop waiting for EPOLLOUT, then do what waited for it. */
static void backlog_done(net_conn *c) {
  /* The buffer stays for the next burst; net_trim frees it once the connection has
   * been quiet for a sweep period. Bursts' big buffers go back at once. */
  c->out_off = c->out_len = 0;
  if (c->out_cap > 64 * 1024) {
    free(c->out);
    c->out = NULL;
    c->out_cap = 0;
  }
  want_writable(c, 0);
  if (c->flags & NET_F_SHUT_PENDING) {
    c->flags = (uint8_t)((c->flags & ~NET_F_SHUT_PENDING) | NET_F_SHUT_DONE);
    if (!(c->xflags & NET_X_END)) shutdown(c->io.fd, SHUT_WR); /* (net_end: close sends the FIN) */
  }
  if (c->flags & NET_F_WANT_DRAIN) {
    c->flags &= (uint8_t)~NET_F_WANT_DRAIN;
    if (c->ctx->h.on_drain) c->ctx->h.on_drain(c);
  }
  if ((c->xflags & NET_X_END) && (c->flags & NET_F_SHUT_DONE) && !(c->flags & NET_F_CLOSED)) {
    c->xflags &= (uint8_t)~NET_X_END;
    c->ctx->h.on_end(c, 0); /* net_end: all written, the owner closes c now */
  }
}

static void flush_backlog(net_conn *c) {
  while (backlog_len(c)) {
    ssize_t r = send(c->io.fd, c->out + c->out_off, backlog_len(c), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      c->ctx->h.on_end(c, -errno);
      return;
    }
    c->out_off += (uint32_t)r;
  }
  backlog_done(c);
}

enum { SENT_DONE, SENT_PARTIAL, SENT_FAILED, SENT_FAILED_SHARED };

/* Copies what op did not send, from byte skip on, to c's backlog (out of memory,
 * net_buffer fails c instead). */
static void keep_unsent(net_conn *c, const net_op *op, size_t skip) {
  if (!op->iovcnt) {
    net_buffer(c, (uint8_t *)op->p + skip, op->len - skip);
    return;
  }
  const struct iovec *iov = op->p;
  for (int i = 0; i < op->iovcnt; i++) {
    if (skip >= iov[i].iov_len) {
      skip -= iov[i].iov_len;
      continue;
    }
    if (net_buffer(c, (uint8_t *)iov[i].iov_base + skip, iov[i].iov_len - skip) < 0) return;
    skip = 0;
  }
}

/* Takes the bytes of one batched send: what the kernel refused of a shared range is
 * copied to c's backlog at once, before any callback may reuse the shared buffer or
 * a read the receive buffer (lent pieces). op->p was the shared stream's pieces or a
 * TLS session's output (shared != 0: c owed nothing else), or c's backlog. */
static uint8_t sent_bytes(net_op *op, net_conn *c, int shared) {
  int r = op->res;
  if (r == -EAGAIN || r == -EWOULDBLOCK || r == -EINTR) r = 0;
  if (r < 0) {
    /* Shared bytes are kept (EPOLLERR brings on_end through the loop). */
    if (!shared) return SENT_FAILED;
    keep_unsent(c, op, 0);
    return SENT_FAILED_SHARED;
  }
  if (!shared) c->out_off += (uint32_t)r;
  else if ((uint32_t)r < op->len) keep_unsent(c, op, (size_t)r);
  return backlog_len(c) ? SENT_PARTIAL : SENT_DONE;
}

/* Then what follows from it, callbacks included. */
static void sent_after(net_ctx *ctx, net_op *op, net_conn *c, uint8_t how) {
  /* A callback of this batch closed it, or it failed (queued for its report). */
  if (c->flags & (NET_F_CLOSED | NET_F_FAILED)) return;
  switch (how) {
    case SENT_FAILED: ctx->h.on_end(c, op->res); break;
    case SENT_FAILED_SHARED: write_error(c, -op->res); break;
    case SENT_PARTIAL: want_writable(c, 1); break;
    default: if (!backlog_len(c)) backlog_done(c); break;
  }
}

/* Sends every queued connection what it is owed, up to NET_BATCH_MAX connections per
 * syscall, then starts the shared buffer over. Without callbacks (a spill in the
 * middle of an iteration, called from inside a write) nothing is called back: a
 * failure waits for EPOLLERR, a drain for the post phase's flush (queued again). */
static void flush(net_ctx *ctx, int callbacks) {
  net_op *ops = ctx->ops;
  net_conn *later = NULL;
  ctx->flushing = 1;
  while (ctx->flush_head) {
    int n = 0, idle = 0, niov = 0;
    while (ctx->flush_head && n + idle < NET_BATCH_MAX) {
      net_conn *c = ctx->flush_head;
      ctx->flush_head = c->flush_next;
      c->flush_next = NULL;
      c->flags &= (uint8_t)~NET_F_QUEUED;
      if (c->flags & NET_F_CLOSED) {
        c->bc_len = 0;
        continue;
      }
      if (c->flags & NET_F_FAILED) { /* nothing to send: its on_end is due */
        ctx->nothing[idle++] = c;
        continue;
      }
      net_op *op = &ops[n];
      op->fd = c->io.fd;
      op->iovcnt = 0;
      int k = 0;
      if (c->tls && !backlog_len(c)) {
        /* TLS, the common case: the iteration's plaintext encrypted at once, its
         * records sent straight from the session's output, behind what the session
         * produced on its own (handshake records, tickets, alerts). */
        const uint8_t *p = NULL;
        int e = tls_encrypt_owed(c);
        size_t m = e < 0 ? 0 : net_tls_out(c->tls, &p);
        if (e < 0) {
          net_tls_out_done(c->tls);
          conn_fail(c, e); /* queued again, it comes back as failed */
          continue;
        }
        if (!m) { /* nothing, or a client's bytes kept until its handshake completes */
          ctx->nothing[idle++] = c;
          continue;
        }
        op->p = (uint8_t *)p;
        op->len = (uint32_t)m;
        ctx->opstate[n] = 2;
      } else if (c->bc_len && !backlog_len(c) &&
                 (k = shared_pieces(ctx, c->bc_off, c->bc_len, ctx->iov + niov,
                                    (int)(sizeof(ctx->iov) / sizeof(ctx->iov[0])) - niov)) > 0) {
        /* The common case: straight from the shared bytes, in one piece, or gathered
         * with the pieces lent from the receive buffer. */
        op->p = ctx->iov[niov].iov_base;
        if (k > 1) {
          op->p = ctx->iov + niov;
          op->iovcnt = k;
          niov += k;
        }
        op->len = c->bc_len;
        c->bc_len = 0;
        ctx->opstate[n] = 1;
      } else {
        int e = materialize(c);
        if (e < 0) {
          conn_fail(c, e); /* queued again, it comes back as failed */
          continue;
        }
        if (!backlog_len(c)) {
          ctx->nothing[idle++] = c;
          continue;
        }
        op->p = c->out + c->out_off;
        op->len = (uint32_t)backlog_len(c);
        ctx->opstate[n] = 0;
      }
      ctx->opconn[n++] = c;
    }
    net_batch_send(ctx->batch, ops, n);
    for (int i = 0; i < n; i++) {
      uint8_t from = ctx->opstate[i];
      ctx->opstate[i] = sent_bytes(&ops[i], ctx->opconn[i], from);
      if (from == 2) net_tls_out_done(ctx->opconn[i]->tls); /* (its rest is in the backlog) */
    }
    if (callbacks) {
      /* Callbacks (on_drain, on_end) may queue more: the outer loop takes it. */
      for (int i = 0; i < n; i++) sent_after(ctx, &ops[i], ctx->opconn[i], ctx->opstate[i]);
      for (int i = 0; i < idle; i++) {
        net_conn *c = ctx->nothing[i];
        if (c->flags & NET_F_FAILED) report_failure(ctx, c);
        else if (!(c->flags & NET_F_CLOSED) && !backlog_len(c)) backlog_done(c);
      }
      continue;
    }
    for (int i = 0; i < n + idle; i++) {
      net_conn *c = i < n ? ctx->opconn[i] : ctx->nothing[i - n];
      uint8_t how = i < n ? ctx->opstate[i] : SENT_DONE;
      if (c->flags & NET_F_FAILED) {
        if (!(c->flags & NET_F_QUEUED)) { /* on_end from the post phase */
          c->flags |= NET_F_QUEUED;
          c->flush_next = later;
          later = c;
        }
        continue;
      }
      if (how == SENT_FAILED || how == SENT_FAILED_SHARED) write_error(c, -ops[i].res);
      else if (how == SENT_PARTIAL) want_writable(c, 1);
      else if (!(c->flags & NET_F_WANT_DRAIN) && !(c->xflags & NET_X_END)) backlog_done(c); /* no callback then */
      else if (!(c->flags & NET_F_QUEUED)) {
        c->flags |= NET_F_QUEUED; /* on_drain or net_end's on_end from the post phase */
        c->flush_next = later;
        later = c;
      }
    }
  }
  ctx->flush_head = later;
  ctx->flushing = 0;
  if (ctx->bcast_len) {
    ctx->bcast_len = 0;
    ctx->bcast_epoch++;
  }
  /* Every lent byte was sent or copied to a backlog: the receive buffer is free. */
  ctx->nlent = 0;
  ctx->lent_bytes = ctx->lent_end = 0;
}

void net_flush_queued(net_ctx *ctx) { flush(ctx, 1); }

uint64_t net_bcast_epoch(const net_ctx *ctx) { return ctx->bcast_epoch; }

void net_shutdown_write(net_conn *c) {
  if (c->flags & (NET_F_CLOSED | NET_F_SHUT_DONE)) return;
  if (c->tls && !(c->flags & NET_F_SHUT_PENDING)) {
    /* The plaintext still owed goes first, then the close_notify: the peer learns the
     * stream ended, not truncated. */
    int e = tls_encrypt_owed(c);
    net_tls_close_notify(c->tls);
    int d = tls_drain(c);
    if (e < 0 || d < 0) conn_fail(c, e < 0 ? e : d);
    if (c->flags & (NET_F_CLOSED | NET_F_SHUT_DONE)) return;
  }
  if (net_buffered(c)) {
    c->flags |= NET_F_SHUT_PENDING;
    return;
  }
  c->flags |= NET_F_SHUT_DONE;
  if (c->xflags & NET_X_END) queue_conn(c); /* its on_end comes from the post phase's flush */
  else shutdown(c->io.fd, SHUT_WR);
}

void net_end(net_conn *c) {
  if (c->flags & NET_F_CLOSED) return;
  int done = (c->flags & NET_F_SHUT_DONE) != 0;
  c->xflags |= NET_X_END;
  if (done) queue_conn(c); /* shut down already (or failed: its on_end is due anyway) */
  else net_shutdown_write(c);
}

void net_close(net_conn *c) {
  if (c->flags & NET_F_CLOSED) return;
  net_ctx *ctx = c->ctx;
  loop_io_stop(ctx->loop, &c->io);
  close(c->io.fd);
  c->io.fd = -1;
  c->flags |= NET_F_CLOSED;
}

int net_detach(net_conn *c, struct ssl_st **tls) {
  if ((c->flags & (NET_F_CLOSED | NET_F_FAILED)) || (c->tls && !tls) || net_buffered(c)) return -EBUSY;
  if (tls) *tls = c->tls;
  c->tls = NULL; /* moves with the descriptor */
  loop_io_stop(c->ctx->loop, &c->io);
  int fd = c->io.fd;
  c->io.fd = -1;
  c->flags |= NET_F_CLOSED;
  return fd;
}

void net_conn_release(net_conn *c) {
  net_ctx *ctx = c->ctx;
  if (ctx->connecting) connecting_drop(ctx, c);
  net_close(c);
  if (c->flags & NET_F_QUEUED) {
    for (net_conn **pp = &ctx->flush_head; *pp; pp = &(*pp)->flush_next) {
      if (*pp == c) {
        *pp = c->flush_next;
        break;
      }
    }
  }
  if (c->flags & NET_F_READQ) {
    for (size_t i = 0; i < ctx->nread; i++)
      if (ctx->readq[i] == c) ctx->readq[i] = NULL;
  }
  if (c->prev) c->prev->next = c->next;
  else if (ctx->head == c) ctx->head = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  ctx->count--;
  free(c->out);
  c->out = NULL;
  c->out_cap = c->out_len = c->out_off = 0;
  net_tls_session_free(c->tls);
  c->tls = NULL;
}

/* ---- reading --------------------------------------------------------------------- */

/* A failed handshake: the alert the session wrote (certificate required, unknown CA,
 * protocol version...) is sent before the owner closes the connection, so the client
 * can say why instead of seeing a bare close. Best effort, a few bytes on an idle
 * socket; not when earlier bytes still wait (they would be overtaken). */
static void tls_send_alert(net_conn *c) {
  const uint8_t *p;
  size_t n = net_tls_out(c->tls, &p);
  if (n && !backlog_len(c) && !c->bc_len && !(c->flags & (NET_F_CLOSED | NET_F_SHUT_DONE)))
    (void)send(c->io.fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n) net_tls_out_done(c->tls);
}

/* Ciphertext arrived for a TLS connection: decrypt what it completes and hand the
 * plaintext up, as many records as fill the buffer per on_data (a peer's 16 small
 * messages in one read are one delivery, as over plain TCP, not 16); what the session
 * answers (handshake, tickets, alerts) goes out with the iteration's writes. */
static void tls_received(net_ctx *ctx, net_conn *c, const uint8_t *p, size_t n) {
  if (!ctx->tls_buf && !(ctx->tls_buf = malloc(NET_TLS_BUF))) {
    conn_fail(c, -ENOMEM);
    return;
  }
  if (n && net_tls_feed(c->tls, p, n) < 0) {
    conn_fail(c, -ENOMEM);
    return;
  }
  size_t got = 0;
  for (;;) {
    int was_up = net_tls_established(c->tls);
    int r = net_tls_read(c->tls, ctx->tls_buf + got, NET_TLS_BUF - got);
    /* What the session answered waits in its output for the flush (no copy, no
     * backlog allocated for a handshake). */
    const uint8_t *out;
    if (net_tls_out(c->tls, &out)) queue_conn(c);
    if (r > 0) got += (size_t)r;
    if (r > 0 && got < NET_TLS_BUF) continue;
    if (got) {
      ctx->h.on_data(c, ctx->tls_buf, got);
      got = 0;
      if (c->flags & (NET_F_CLOSED | NET_F_FAILED)) return;
    }
    if (r > 0) continue;
    if (r == 0) return;
    if (r == -EPROTO && !was_up && !net_tls_established(c->tls)) {
      ctx->tls_failures++;
      tls_send_alert(c);
    }
    ctx->h.on_end(c, r == -EPIPE ? 0 : r);
    return;
  }
}

void net_tls_resume(net_conn *c) {
  if (c->tls && !(c->flags & (NET_F_CLOSED | NET_F_FAILED))) tls_received(c->ctx, c, NULL, 0);
}

static void received(net_ctx *ctx, net_conn *c, uint8_t *p, ssize_t r) {
  if (r > 0 && c->tls) {
    tls_received(ctx, c, p, (size_t)r);
  } else if (r > 0) {
    ctx->h.on_data(c, p, (size_t)r);
  } else if (r == 0) {
    ctx->h.on_end(c, 0);
  } else if (r != -EAGAIN && r != -EWOULDBLOCK && r != -EINTR) {
    ctx->h.on_end(c, (int)r);
  }
}

void net_read_queued(net_ctx *ctx) {
  size_t done = 0;
  while (done < ctx->nread) {
    /* Each connection of a round reads into its own slice of the receive buffer, as
     * big as the round's size allows: a slice smaller than what a peer has queued cuts
     * its messages at the slice's end, and a message cut in two is assembled in a
     * copy (core/ws_session.c) and costs a second receive, where a whole one is
     * delivered in place. Slices are whole numbers of NET_RECV_SLOT, so they start at
     * the same NET_READ_ROUND places whatever the round's size: small reads (a
     * handshake, a chat message) touch the same few pages every time, and the rest of
     * the buffer stays unmapped on a server whose connections are idle. (Level-
     * triggered epoll reports again whoever filled theirs.) */
    /* Bytes lent from the receive buffer go out before it is read into again. */
    if (ctx->nlent) flush(ctx, 0);
    int n = 0;
    size_t left = ctx->nread - done;
    size_t slice = NET_RECV_SLOT * (NET_READ_ROUND / (left < NET_READ_ROUND ? left : NET_READ_ROUND));
    for (; done < ctx->nread && n < NET_READ_ROUND; done++) {
      net_conn *c = ctx->readq[done];
      if (!c) continue;
      c->flags &= (uint8_t)~NET_F_READQ;
      if (c->flags & (NET_F_CLOSED | NET_F_FAILED)) continue;
      ctx->rops[n] = (net_op){.fd = c->io.fd, .len = (uint32_t)slice, .p = ctx->rbuf + (size_t)n * slice};
      ctx->rconn[n++] = c;
    }
    net_batch_recv(ctx->batch, ctx->rops, n);
    for (int i = 0; i < n; i++) {
      net_conn *c = ctx->rconn[i];
      /* (An earlier delivery of this round may have closed or failed it.) */
      if (!(c->flags & (NET_F_CLOSED | NET_F_FAILED))) received(ctx, c, ctx->rops[i].p, ctx->rops[i].res);
    }
  }
  ctx->nread = 0;
}

static int readq_push(net_ctx *ctx, net_conn *c) {
  if (ctx->nread == ctx->readq_cap) {
    size_t cap = grow_cap(ctx->readq_cap, ctx->nread + 1, 64, SIZE_MAX / sizeof(net_conn *));
    if (!cap) return -ENOMEM;
    net_conn **q = realloc(ctx->readq, cap * sizeof(*q));
    if (!q) return -ENOMEM;
    ctx->readq = q;
    ctx->readq_cap = cap;
  }
  ctx->readq[ctx->nread++] = c;
  c->flags |= NET_F_READQ;
  return 0;
}

/* Where a read at the event goes (no ring): the whole receive buffer, or past what
 * this iteration's writes lent from it (net_write2_lent), so that those still go out
 * with the iteration's batch; when under a quarter of the buffer would be left, they
 * are sent first (a spill) and the read takes the whole buffer again. */
static uint8_t *read_room(net_ctx *ctx, size_t *room) {
  size_t off = 0;
  if (ctx->nlent) {
    off = (ctx->lent_end + 4095) & ~(size_t)4095;
    if (off > NET_RECV_BUF - NET_RECV_BUF / 4) {
      flush(ctx, 0);
      off = 0;
    }
  }
  *room = NET_RECV_BUF - off;
  return ctx->rbuf + off;
}

static void conn_io(loop_io *io, uint32_t events) {
  net_conn *c = (net_conn *)io;
  net_ctx *ctx = c->ctx;
  if (c->flags & (NET_F_CLOSED | NET_F_FAILED)) return; /* a failed one waits for its on_end */
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !(c->flags & NET_F_READQ)) {
    /* With a ring, reads wait for the post phase to be done many per syscall. */
    if (!ctx->readq || readq_push(ctx, c) < 0) {
      size_t room;
      uint8_t *buf = read_room(ctx, &room);
      ssize_t r = recv(io->fd, buf, room, 0);
      received(ctx, c, buf, r < 0 ? -errno : r);
    }
  }
  if ((events & EPOLLOUT) && !(c->flags & NET_F_CLOSED)) flush_backlog(c);
}

/* Without it, a peer that stops reading makes the kernel queue grow to tcp_wmem's
 * maximum (4 MiB by default, autotuned) before a write fails: with many such peers the
 * server copies gigabytes nobody reads and pushes the whole host into TCP memory
 * pressure (tcp_mem), which slows every other connection. With it, the bytes wait in
 * our backlog, where the backpressure cap sees them. */
static int lowat_value(size_t bytes) { return bytes > INT_MAX ? INT_MAX : (int)bytes; }

void net_set_kernel_send_limit(net_conn *c, size_t bytes) {
  if (!bytes || c->io.fd < 0 || (c->family != AF_INET && c->family != AF_INET6)) return;
  int v = lowat_value(bytes);
  if ((c->xflags & NET_X_LOWAT) && v == c->ctx->lowat) return; /* inherited at accept */
  setsockopt(c->io.fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof(v));
}

void net_ctx_set_kernel_send_limit(net_ctx *ctx, size_t bytes) {
  ctx->lowat = bytes ? lowat_value(bytes) : 0;
  for (net_listener *ls = ctx->listeners; ls; ls = ls->next) listener_options(ctx, ls->io.fd);
}

/* An accepted (or adopted) socket becomes a connection of ctx: on_accept gives its
 * net_conn, or refuses it (the fd is closed, -ECONNREFUSED). */
/* plain: stays plain TCP even when the context serves TLS (a plain listener's).
 * accepted: from one of ctx's listeners, so it has their options already. */
static int adopt(net_ctx *ctx, int fd, const struct sockaddr_storage *ss, void *listener_user, int plain,
                 int accepted) {
  net_conn *c = ctx->h.on_accept(ctx, listener_user);
  if (!c) {
    close(fd);
    return -ECONNREFUSED;
  }
  /* Fast: an accepted socket inherits TCP_NODELAY (and TCP_NOTSENT_LOWAT) from its
   * listener on Linux (the child is a copy of the listening socket: sk_clone_lock), so
   * listener_options set them once for all, not with one setsockopt per connection
   * (tests/unit/test_net_accept.c checks the inheritance). */
  if (!accepted) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  c->xflags = accepted && ctx->lowat ? NET_X_LOWAT : 0;
  c->io.fd = fd;
  c->io.cb = conn_io;
  c->ctx = ctx;
  c->tls = NULL;
  c->family = (uint8_t)ss->ss_family;
  if (ss->ss_family == AF_INET) memcpy(c->peer, &((const struct sockaddr_in *)ss)->sin_addr, 4);
  else if (ss->ss_family == AF_INET6) memcpy(c->peer, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
  c->next = ctx->head;
  if (ctx->head) ctx->head->prev = c;
  ctx->head = c;
  ctx->count++;
  /* The owner has it now: a failure to watch it reaches the owner as on_end. */
  int r = loop_io_start(ctx->loop, &c->io, EPOLLIN);
  if (r < 0) conn_fail(c, r);
  else if (ctx->tls && !plain && !(c->tls = net_tls_session(ctx->tls))) conn_fail(c, -ENOMEM);
  return 0;
}

/* Fast: a client speaks first (the HTTP request, the TLS ClientHello) and sends it
 * right after its connect, so by the time the server accepts, under load, the request
 * is usually there. With a ring the new connection joins this iteration's batched
 * read at once (no extra syscall; a read that finds nothing costs one ring entry and
 * epoll reports the bytes later as usual) instead of waiting for an epoll round. The
 * handshake timeout still counts from the accept (the owner's on_accept). */
static void read_soon(net_ctx *ctx, net_conn *c) {
  if (!ctx->readq || (c->flags & (NET_F_CLOSED | NET_F_FAILED | NET_F_READQ))) return;
  readq_push(ctx, c);
}

static void on_accept_ready(loop_io *io, uint32_t events) {
  (void)events;
  net_listener *ls = (net_listener *)io;
  net_ctx *ctx = ls->ctx;
  if (io->fd < 0) return; /* closed earlier in this batch of events */
  int refused = 0;        /* errno of the first refusal in this event, reported once */
  for (unsigned i = 0; i < ctx->accept_batch; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      if ((e == EMFILE || e == ENFILE) && ctx->spare_fd >= 0) {
        /* Level-triggered epoll would spin on a listener we cannot drain: accept
         * and drop one connection using the spare descriptor, then re-arm it. */
        close(ctx->spare_fd);
        int fd2 = accept(io->fd, NULL, NULL);
        if (fd2 >= 0) close(fd2);
        ctx->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (!refused) refused = e;
        continue;
      }
      if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) refused = e;
      break; /* EAGAIN, or a transient error such as ECONNABORTED */
    }
    if (adopt(ctx, fd, &ss, ls->user, ls->plain, 1) == 0) read_soon(ctx, ctx->head);
  }
  if (refused && ctx->h.on_accept_error) ctx->h.on_accept_error(ctx, -refused);
}

int net_adopt(net_ctx *ctx, int fd, void *listener_user) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) memset(&ss, 0, sizeof(ss));
  return adopt(ctx, fd, &ss, listener_user, 0, 0);
}

int net_adopt_moved(net_ctx *ctx, int fd, void *listener_user, struct ssl_st *tls) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) memset(&ss, 0, sizeof(ss));
  int r = adopt(ctx, fd, &ss, listener_user, 1, 0); /* plain: no new session, it brings one */
  if (r < 0) net_tls_session_free(tls);
  else ctx->head->tls = tls; /* adopt links the new connection first */
  return r;
}

/* ---- outgoing connections -------------------------------------------------------- */

static void connecting_drop(net_ctx *ctx, net_conn *c) {
  for (net_connecting **pp = &ctx->connecting; *pp; pp = &(*pp)->next) {
    net_connecting *k = *pp;
    if (k->c != c) continue;
    *pp = k->next;
    loop_timer_stop(ctx->loop, &k->timer);
    free(k);
    return;
  }
}

/* Reports once: the record goes first, so the callback may release c. */
static void connect_done(net_conn *c, int err) {
  net_ctx *ctx = c->ctx;
  net_connect_fn cb = NULL;
  for (net_connecting *k = ctx->connecting; k; k = k->next)
    if (k->c == c) cb = k->cb;
  connecting_drop(ctx, c);
  if (!err) {
    c->io.cb = conn_io;
    int r = loop_io_update(ctx->loop, &c->io, EPOLLIN);
    if (r < 0) err = r;
  }
  if (cb) cb(c, err);
}

static void connect_io(loop_io *io, uint32_t events) {
  (void)events;
  net_conn *c = (net_conn *)io;
  int soerr = 0;
  socklen_t sl = sizeof(soerr);
  if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) soerr = errno;
  connect_done(c, -soerr);
}

static void connect_expired(loop_timer *t) {
  net_connecting *k = (net_connecting *)((char *)t - offsetof(net_connecting, timer));
  connect_done(k->c, -ETIMEDOUT);
}

int net_connect(net_ctx *ctx, net_conn *c, const struct sockaddr *sa, socklen_t salen, unsigned timeout_ms,
                net_connect_fn on_connect) {
  if (!on_connect || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) return -EINVAL;
  net_connecting *k = calloc(1, sizeof(*k));
  if (!k) return -ENOMEM;
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    free(k);
    return -errno;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, sa, salen) < 0 && errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    free(k);
    return -e;
  }
  c->io.fd = fd;
  c->io.cb = connect_io;
  c->ctx = ctx;
  c->family = (uint8_t)sa->sa_family;
  if (sa->sa_family == AF_INET) memcpy(c->peer, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  else memcpy(c->peer, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
  /* Writability reports the result, also of a connect that completed at once: the
   * result always comes from the loop. */
  int r = loop_io_start(ctx->loop, &c->io, EPOLLOUT);
  if (r == 0 && timeout_ms) {
    k->timer.cb = connect_expired;
    r = loop_timer_start(ctx->loop, &k->timer, timeout_ms, 0);
  }
  if (r < 0) {
    loop_io_stop(ctx->loop, &c->io);
    close(fd);
    c->io.fd = -1;
    free(k);
    return r;
  }
  k->c = c;
  k->cb = on_connect;
  k->next = ctx->connecting;
  ctx->connecting = k;
  c->next = ctx->head;
  if (ctx->head) ctx->head->prev = c;
  ctx->head = c;
  ctx->count++;
  return 0;
}

const char *net_peer_string(const net_conn *c, char *buf, size_t cap) {
  if (!inet_ntop(c->family == AF_INET6 ? AF_INET6 : AF_INET, c->peer, buf, (socklen_t)cap)) {
    snprintf(buf, cap, "?");
  }
  return buf;
}

/* ---- listening ------------------------------------------------------------------- */

/* The options every accepted connection wants, set on the listening socket, which its
 * connections inherit (see adopt). */
static void listener_options(net_ctx *ctx, int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (ctx->lowat) setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &ctx->lowat, sizeof(ctx->lowat));
}

/* A listening socket fd (ours from now on, closed on failure) becomes a listener of
 * ctx, watched for events. */
static net_listener *listener_start(net_ctx *ctx, int fd, int port, void *user, uint32_t watch) {
  net_listener *ls = calloc(1, sizeof(*ls));
  if (!ls) {
    close(fd);
    errno = ENOMEM;
    return NULL;
  }
  ls->port = port;
  ls->io.fd = fd;
  ls->io.cb = on_accept_ready;
  ls->ctx = ctx;
  ls->user = user;
  ls->watch = watch;
  ls->next = ctx->listeners;
  ctx->listeners = ls;
  int r = loop_io_start(ctx->loop, &ls->io, watch);
  if (r < 0) {
    net_listener_close(ls);
    errno = -r;
    return NULL;
  }
  return ls;
}

static net_listener *listen_on(net_ctx *ctx, const char *host, int port, int backlog, void *user, int shared) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
  struct addrinfo *res = NULL;
  char ports[16];
  snprintf(ports, sizeof(ports), "%d", port);
  if (getaddrinfo(host, ports, &hints, &res) != 0 || !res) {
    errno = EADDRNOTAVAIL;
    return NULL;
  }
  int fd = -1;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (shared && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
      int e = errno;
      close(fd);
      fd = -1;
      errno = e;
      continue;
    }
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0) break;
    int e = errno;
    close(fd);
    fd = -1;
    errno = e;
  }
  freeaddrinfo(res);
  if (fd < 0) return NULL;
  listener_options(ctx, fd);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  getsockname(fd, (struct sockaddr *)&ss, &sl);
  int bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
  return listener_start(ctx, fd, bound, user, EPOLLIN);
}

net_listener *net_listen(net_ctx *ctx, const char *host, int port, int backlog, void *user) {
  return listen_on(ctx, host, port, backlog, user, 0);
}

net_listener *net_listen_shared(net_ctx *ctx, const char *host, int port, int backlog, void *user) {
  return listen_on(ctx, host, port, backlog, user, 1);
}

/* EPOLLEXCLUSIVE (Linux 4.5): a connection wakes one of the loops waiting on the
 * socket, not all of them (each would race for it and all but one find EAGAIN). */
net_listener *net_listen_fd(net_ctx *ctx, int fd, int port, void *user) {
  int d = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* its own descriptor: each thread closes its own */
  if (d < 0) return NULL;
  return listener_start(ctx, d, port, user, EPOLLIN | EPOLLEXCLUSIVE);
}

int net_listener_share(net_listener *ls) {
  loop_io_stop(ls->ctx->loop, &ls->io); /* (the flag can only be given when added) */
  ls->watch = EPOLLIN | EPOLLEXCLUSIVE;
  return loop_io_start(ls->ctx->loop, &ls->io, ls->watch);
}

int net_listener_fd(const net_listener *ls) { return ls->io.fd; }

void net_ctx_set_accept_batch(net_ctx *ctx, unsigned n) {
  ctx->accept_batch = n < 1 ? 1 : n > NET_ACCEPTS_PER_EVENT ? NET_ACCEPTS_PER_EVENT : n;
}

int net_ctx_accepting(net_ctx *ctx, int on) {
  int r = 0;
  for (net_listener *ls = ctx->listeners; ls; ls = ls->next) {
    if (!on) loop_io_stop(ctx->loop, &ls->io);
    else if (!ls->io.events) {
      int e = loop_io_start(ctx->loop, &ls->io, ls->watch);
      if (e < 0) r = e;
    }
  }
  return r;
}

int net_listener_port(const net_listener *ls) { return ls->port; }
void net_listener_set_plain(net_listener *ls, int plain) { ls->plain = plain; }

/* TCP_DEFER_ACCEPT, fast: when clients speak first (an HTTP request, a TLS
 * ClientHello), the kernel makes a connection acceptable only once its first bytes
 * are there; the accept's batched read (read_soon) then finds the request nearly
 * always instead of a quarter of the time, and a handshake costs one epoll round
 * fewer (bench/README.md: -17 % server CPU per handshake). A client that stays silent
 * holds no descriptor, memory or limit slot meanwhile; after one SYN-ACK
 * retransmission (1 s, the smallest value) its next ACK makes it acceptable anyway. */
int net_listener_defer_accept(net_listener *ls) {
  int one = 1;
  return setsockopt(ls->io.fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one)) < 0 ? -errno : 0;
}

void net_listener_close(net_listener *ls) {
  net_ctx *ctx = ls->ctx;
  for (net_listener **pp = &ctx->listeners; *pp; pp = &(*pp)->next) {
    if (*pp == ls) {
      *pp = ls->next;
      break;
    }
  }
  loop_io_stop(ctx->loop, &ls->io);
  close(ls->io.fd);
  /* Not freed now: the loop may hold an event for it later in the batch being
   * dispatched (a SIGTERM handled in the same iteration as a new connection). It stays,
   * closed, until the context goes; a context closes its listeners once. */
  ls->io.fd = -1;
  ls->next = ctx->closed_listeners;
  ctx->closed_listeners = ls;
}

void net_ctx_close_listeners(net_ctx *ctx) {
  while (ctx->listeners) net_listener_close(ctx->listeners);
}

void net_conn_start_tls(net_conn *c, struct ssl_st *s) {
  net_tls_session_free(c->tls);
  c->tls = s;
}
