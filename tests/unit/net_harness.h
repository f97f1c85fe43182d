/* tests/unit/net_harness.h — what the unit tests over real loopback TCP share: a
 * blocking client connection to 127.0.0.1 (test_dial), and the short-loop-turn harness
 * of the tests that drive net (net/net.c) on their own loop (test_step, test_net_post).
 *
 * Everything is static inline: a test includes this header for the part it needs and
 * pays nothing for the rest (no unused-function warning, no net symbol referenced by a
 * test that does not link against it). Must not hold assertions: the tests keep theirs. */
#ifndef WSIO_NET_HARNESS_H
#define WSIO_NET_HARNESS_H

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "loop/loop.h"
#include "net/net.h"

/* A connected blocking TCP socket to 127.0.0.1:port, or -1. rcvbuf > 0 sets SO_RCVBUF
 * before the connect (the window is negotiated with it); rcv_timeout_s / snd_timeout_s
 * > 0 set SO_RCVTIMEO / SO_SNDTIMEO, so a server that never answers fails the test
 * instead of hanging it. A connect interrupted by a signal is retried. */
static inline int test_dial(int port, int rcvbuf, int rcv_timeout_s, int snd_timeout_s) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  struct timeval rtv = {rcv_timeout_s, 0}, stv = {snd_timeout_s, 0};
  if (rcv_timeout_s > 0) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rtv, sizeof(rtv));
  if (snd_timeout_s > 0) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &stv, sizeof(stv));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int r;
  while ((r = connect(fd, (struct sockaddr *)&a, sizeof(a))) < 0 && errno == EINTR) {
  }
  if (r < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The loop that test_step runs (its timer's callback has no other way to find it). */
static loop *test_step_loop;

static inline void test_step_stop(loop_timer *t) {
  (void)t;
  loop_stop(test_step_loop);
}

/* One short turn of l: at most ~1 ms of waiting (the one-shot tick stops the loop). */
static inline void test_step(loop *l, loop_timer *tick) {
  test_step_loop = l;
  tick->cb = test_step_stop;
  loop_timer_start(l, tick, 1, 0);
  loop_run(l);
  loop_timer_stop(l, tick);
}

/* The post phase of a test that owns its loop and one net context (the context as the
 * argument of loop_set_post): the reads queued this iteration, then the writes. */
static inline void test_net_post(void *ctx) {
  net_read_queued(ctx);
  net_flush_queued(ctx);
}

#endif
