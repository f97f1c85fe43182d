/* net/batch.h — many socket sends or receives for one system call.
 *
 * The post phase writes to many connections at once (every response and broadcast of
 * an iteration), and a busy iteration reads from many. On a machine where entering the
 * kernel is dear (page-table isolation, paravirtualized guests: ~1 us per syscall),
 * one io_uring_enter(2) for a whole batch instead of one send(2) per connection is the
 * difference between the kernel and our code dominating the profile. Every operation
 * is non-blocking (MSG_DONTWAIT: the ring completes it inline, EAGAIN included), so a
 * batch is done when the call returns and buffers are the caller's again.
 *
 * Where io_uring is missing (old kernel, seccomp, kernel.io_uring_disabled) or turned
 * off (wsio_app_options.io_uring, wsio-server --io-uring off), the same calls fall back to one plain
 * syscall per operation; so does a batch of one, which a plain syscall does best. */
#ifndef WSIO_NET_BATCH_H
#define WSIO_NET_BATCH_H

#include <stdint.h>

typedef struct net_batch net_batch;

typedef struct net_op {
  int fd;
  uint32_t len; /* bytes to move (with iovcnt: the pieces' total) */
  void *p;      /* the buffer, or (a send with iovcnt > 0) an array of iovcnt struct iovec */
  int res;      /* out: bytes moved, 0 at end of stream (recv), or -errno (-EAGAIN included) */
  int iovcnt;   /* sends: 0 for one buffer, else a gathered send (sendmsg) of p's pieces */
} net_op;

/* The most operations one call takes. */
#define NET_BATCH_MAX 256

/* Returns a batcher, with a ring when use_ring and the kernel allows one; NULL only
 * when out of memory. */
net_batch *net_batch_create(int use_ring);
void net_batch_destroy(net_batch *b);
/* Whether operations go through io_uring. */
int net_batch_uring(const net_batch *b);
/* Sends (MSG_NOSIGNAL | MSG_DONTWAIT) or receives (MSG_DONTWAIT) ops[0..n), n <= NET_BATCH_MAX.
 * A gathered send is IORING_OP_SENDMSG (sendmsg(2) without a ring): MSG_DONTWAIT makes
 * it as final as a send, so when the call returns the kernel holds no pointer into
 * the pieces either (a short send is reported short, never finished later). */
void net_batch_send(net_batch *b, net_op *ops, int n);
void net_batch_recv(net_batch *b, net_op *ops, int n);

/* Test hook, inert unless a test arms it: the next `count` ring submits (of any
 * batcher in the process) fail as the kernel may fail them: with res < 0 (-EBUSY,
 * -EAGAIN) it consumes nothing, with res >= 0 only the first res entries (a short
 * submit). Returns how many of the previous arming were left unused. */
int net_batch_inject_submit(int count, int res);

#endif
