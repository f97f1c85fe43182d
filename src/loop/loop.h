/* loop/loop.h — the event loop: epoll readiness, a handful of loop-wide timers,
 * signals (signalfd) and a cross-thread wake-up (eventfd).
 *
 * Owns: waiting for events and calling back. Must not know what a socket means:
 * connection timeouts are not loop timers (the net layer sweeps its connections from
 * one periodic timer, so there is no syscall and no allocation per connection timer).
 * One loop per thread; nothing here is shared between threads except loop_wakeup. */
#ifndef WSIO_LOOP_H
#define WSIO_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

typedef struct loop loop;
typedef struct loop_io loop_io;

/* Embedded in whatever owns a file descriptor; epoll's data.ptr points at it. */
struct loop_io {
  void (*cb)(loop_io *io, uint32_t events);
  int fd;
  uint32_t events; /* EPOLLIN/EPOLLOUT currently registered */
};

typedef struct loop_timer loop_timer;
struct loop_timer {
  void (*cb)(loop_timer *t);
  uint64_t due_ms; /* loop_now_ms() based */
  uint32_t repeat_ms;
  loop_timer *next; /* in the loop's (short, sorted) timer list when active */
  int active;
};

loop *loop_create(void);
void loop_destroy(loop *l);

/* Registers io->fd for events (EPOLLIN/EPOLLOUT). Returns 0 or -errno. */
int loop_io_start(loop *l, loop_io *io, uint32_t events);
/* Changes the registered events; no syscall when they are unchanged. */
int loop_io_update(loop *l, loop_io *io, uint32_t events);
void loop_io_stop(loop *l, loop_io *io);

/* Monotonic milliseconds, read once per loop iteration (cheap to call often). */
uint64_t loop_now_ms(const loop *l);
/* Refreshes the cached time now. */
uint64_t loop_update_time(loop *l);

void loop_timer_start(loop *l, loop_timer *t, uint32_t after_ms, uint32_t repeat_ms);
void loop_timer_stop(loop *l, loop_timer *t);

/* Called after every batch of events has been dispatched, before sleeping again: where
 * corked writes and batched publishes are flushed. */
void loop_set_post(loop *l, void (*post)(void *arg), void *arg);

/* Blocks SIGINT, SIGTERM and SIGHUP (in this thread) and calls cb when one arrives. */
int loop_signals(loop *l, void (*cb)(int signo, void *arg), void *arg);

/* Wake-up from another thread or a signal handler: cb runs on the loop thread. */
int loop_set_wakeup(loop *l, void (*cb)(void *arg), void *arg);
void loop_wakeup(loop *l);

/* Runs until loop_stop. Returns 0, or -errno when epoll_wait fails. */
int loop_run(loop *l);
void loop_stop(loop *l);

#endif
