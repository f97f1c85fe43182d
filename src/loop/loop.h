/* loop/loop.h — the event loop: epoll readiness, timers, signals (signalfd), a
 * cross-thread wake-up (eventfd) and a queue of work posted from other threads.
 *
 * Owns: waiting for events and calling back. Must not know what a socket means.
 * Timers live in one binary min-heap per loop: a timer is embedded in its owner (no
 * allocation per start once the heap has grown), starting or stopping one costs
 * O(log n) and no syscall, and the loop sleeps exactly until the nearest one. This is
 * the one timer facility of the library: Engine.IO heartbeats, Socket.IO ack deadlines
 * and the application's timers are all loop timers. Connection idle timeouts are still
 * swept coarsely by core (one periodic timer), since they need no precision.
 * One loop per thread; only loop_wakeup and loop_post may be called from another
 * thread (loop_wakeup also from a signal handler). */
#ifndef WSIO_LOOP_H
#define WSIO_LOOP_H

#include <stddef.h>
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

/* Zeroed memory is a valid stopped timer; set cb before starting it. */
typedef struct loop_timer loop_timer;
struct loop_timer {
  void (*cb)(loop_timer *t);
  uint64_t due_ms; /* loop_now_ms() based */
  uint32_t repeat_ms;
  uint32_t slot; /* 1 + its index in the loop's heap; 0 while stopped */
};

loop *loop_create(void);
void loop_destroy(loop *l);

/* Registers io->fd for events (EPOLLIN/EPOLLOUT). Returns 0 or -errno. */
int loop_io_start(loop *l, loop_io *io, uint32_t events);
/* Changes the registered events; no syscall when they are unchanged. */
int loop_io_update(loop *l, loop_io *io, uint32_t events);
/* Unregisters io; an event for it still pending in the current batch is dropped, so
 * the owner may free io as soon as this returns (also from another io's callback). */
void loop_io_stop(loop *l, loop_io *io);

/* Monotonic milliseconds, read once per loop iteration (cheap to call often). */
uint64_t loop_now_ms(const loop *l);
/* Refreshes the cached time now. */
uint64_t loop_update_time(loop *l);

/* (Re)arms t to fire after_ms from the loop's cached time, then every repeat_ms when
 * repeat_ms > 0. Returns 0, or -ENOMEM when the heap could not grow (t is then stopped).
 * A timer due "now" runs in this iteration's timer phase at the earliest, never inside
 * the call. A callback may start or stop any timer, itself included. */
int loop_timer_start(loop *l, loop_timer *t, uint32_t after_ms, uint32_t repeat_ms);
/* The same with an absolute due time (loop_now_ms() based). */
int loop_timer_start_at(loop *l, loop_timer *t, uint64_t due_ms, uint32_t repeat_ms);
void loop_timer_stop(loop *l, loop_timer *t);
static inline int loop_timer_active(const loop_timer *t) { return t->slot != 0; }
/* How many timers are armed (tests, statistics). */
uint32_t loop_timer_count(const loop *l);

/* How many iterations have begun (0 before the first): a layer that holds work back
 * for the post phase tells by it whether this iteration's post phase is still to come. */
uint64_t loop_iteration(const loop *l);

/* Called after every batch of events has been dispatched, before sleeping again: where
 * the iteration's batched writes and publishes are flushed. */
void loop_set_post(loop *l, void (*post)(void *arg), void *arg);

/* The loop's lag, as Node's monitorEventLoopDelay sees it: fn runs for every timer the
 * loop fires, just before its callback, with how many milliseconds after the timer's
 * due time the iteration that fires it began (the time read after epoll_wait). A busy
 * iteration delays every timer that falls due during it, so the figures show how long
 * work waits for the loop; a server with many timers (a heartbeat per Engine.IO
 * session) gets many samples, an idle one at least its periodic timers'. */
void loop_set_lag_observer(loop *l, void (*fn)(void *arg, uint64_t late_ms), void *arg);

/* Blocks SIGINT, SIGTERM and SIGHUP (in this thread) and calls cb when one arrives. */
int loop_signals(loop *l, void (*cb)(int signo, void *arg), void *arg);

/* Wake-up from another thread or a signal handler: cb runs on the loop thread. */
int loop_set_wakeup(loop *l, void (*cb)(void *arg), void *arg);
void loop_wakeup(loop *l);

/* Thread-safe: queues fn(arg) to run on the loop's thread, in the order posted, in the
 * iteration after the wake-up (it wakes the loop). Returns 0, or -ENOMEM. Not
 * async-signal-safe (it takes a mutex and may allocate). Work still queued when the
 * loop is destroyed is dropped without being run: loop_post_drain runs it first. */
int loop_post(loop *l, void (*fn)(void *arg), void *arg);
/* Runs whatever is queued now (on the loop thread); returns how many ran. */
size_t loop_post_drain(loop *l);

/* Runs until loop_stop. Returns 0, or -errno when epoll_wait fails. */
int loop_run(loop *l);
void loop_stop(loop *l);

/* Test only (fuzz/fuzz_server.c): one iteration that does not block (ready events,
 * due timers, the post phase); returns the number of events dispatched or -errno. */
int loop_run_once(loop *l);
/* Test only: from now on the loop's clock reads now_ms (a fake clock the caller moves
 * forward by calling this again) instead of CLOCK_MONOTONIC. */
void loop_fake_time(loop *l, uint64_t now_ms);

#endif
