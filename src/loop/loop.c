/* loop/loop.c — epoll event loop (see loop.h for what it owns).
 *
 * Level-triggered epoll: a handler that leaves bytes unread is simply called again,
 * which keeps the read path fair between connections without per-connection queues. */
#include "loop/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 1024

struct loop {
  int epfd;
  int running;
  uint64_t now_ms;
  loop_timer *timers; /* sorted by due_ms; a loop has only a few */
  void (*post)(void *arg);
  void *post_arg;
  loop_io sig_io;
  void (*sig_cb)(int signo, void *arg);
  void *sig_arg;
  loop_io wake_io;
  void (*wake_cb)(void *arg);
  void *wake_arg;
  struct epoll_event events[LOOP_MAX_EVENTS];
};

static uint64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

loop *loop_create(void) {
  loop *l = calloc(1, sizeof(*l));
  if (!l) return NULL;
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd < 0) {
    free(l);
    return NULL;
  }
  l->sig_io.fd = -1;
  l->wake_io.fd = -1;
  l->now_ms = monotonic_ms();
  return l;
}

void loop_destroy(loop *l) {
  if (!l) return;
  if (l->sig_io.fd >= 0) close(l->sig_io.fd);
  if (l->wake_io.fd >= 0) close(l->wake_io.fd);
  close(l->epfd);
  free(l);
}

int loop_io_start(loop *l, loop_io *io, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = io};
  if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0) return -errno;
  io->events = events;
  return 0;
}

int loop_io_update(loop *l, loop_io *io, uint32_t events) {
  if (io->events == events) return 0;
  struct epoll_event ev = {.events = events, .data.ptr = io};
  if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0) return -errno;
  io->events = events;
  return 0;
}

void loop_io_stop(loop *l, loop_io *io) {
  if (io->fd < 0) return;
  epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
  io->events = 0;
}

uint64_t loop_now_ms(const loop *l) { return l->now_ms; }

uint64_t loop_update_time(loop *l) { return l->now_ms = monotonic_ms(); }

static void timer_insert(loop *l, loop_timer *t) {
  loop_timer **pp = &l->timers;
  while (*pp && (*pp)->due_ms <= t->due_ms) pp = &(*pp)->next;
  t->next = *pp;
  *pp = t;
  t->active = 1;
}

void loop_timer_stop(loop *l, loop_timer *t) {
  if (!t->active) return;
  for (loop_timer **pp = &l->timers; *pp; pp = &(*pp)->next) {
    if (*pp == t) {
      *pp = t->next;
      break;
    }
  }
  t->active = 0;
  t->next = NULL;
}

void loop_timer_start(loop *l, loop_timer *t, uint32_t after_ms, uint32_t repeat_ms) {
  loop_timer_stop(l, t);
  t->due_ms = l->now_ms + after_ms;
  t->repeat_ms = repeat_ms;
  timer_insert(l, t);
}

static void run_timers(loop *l) {
  /* Bounded: a timer rescheduled for "now" runs again on the next iteration, not in
   * this loop, because repeat_ms >= 1 is enforced below. */
  while (l->timers && l->timers->due_ms <= l->now_ms) {
    loop_timer *t = l->timers;
    l->timers = t->next;
    t->active = 0;
    t->next = NULL;
    if (t->repeat_ms) {
      t->due_ms = l->now_ms + t->repeat_ms;
      timer_insert(l, t);
    }
    t->cb(t);
  }
}

void loop_set_post(loop *l, void (*post)(void *arg), void *arg) {
  l->post = post;
  l->post_arg = arg;
}

static void on_signal(loop_io *io, uint32_t events) {
  (void)events;
  loop *l = (loop *)((char *)io - offsetof(loop, sig_io));
  struct signalfd_siginfo si;
  while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
    if (l->sig_cb) l->sig_cb((int)si.ssi_signo, l->sig_arg);
  }
}

int loop_signals(loop *l, void (*cb)(int signo, void *arg), void *arg) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -errno;
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return -errno;
  l->sig_io.fd = fd;
  l->sig_io.cb = on_signal;
  l->sig_cb = cb;
  l->sig_arg = arg;
  return loop_io_start(l, &l->sig_io, EPOLLIN);
}

static void on_wake(loop_io *io, uint32_t events) {
  (void)events;
  loop *l = (loop *)((char *)io - offsetof(loop, wake_io));
  uint64_t v;
  if (read(io->fd, &v, sizeof(v)) < 0) return;
  if (l->wake_cb) l->wake_cb(l->wake_arg);
}

int loop_set_wakeup(loop *l, void (*cb)(void *arg), void *arg) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return -errno;
  l->wake_io.fd = fd;
  l->wake_io.cb = on_wake;
  l->wake_cb = cb;
  l->wake_arg = arg;
  return loop_io_start(l, &l->wake_io, EPOLLIN);
}

void loop_wakeup(loop *l) {
  uint64_t one = 1;
  /* Async-signal-safe: write(2) on an eventfd. A full counter (EAGAIN) still wakes. */
  if (l->wake_io.fd >= 0) {
    ssize_t r = write(l->wake_io.fd, &one, sizeof(one));
    (void)r;
  }
}

void loop_stop(loop *l) { l->running = 0; }

int loop_run(loop *l) {
  l->running = 1;
  while (l->running) {
    int timeout = -1;
    if (l->timers) {
      uint64_t due = l->timers->due_ms;
      timeout = due <= l->now_ms ? 0 : (int)(due - l->now_ms);
    }
    int n = epoll_wait(l->epfd, l->events, LOOP_MAX_EVENTS, timeout);
    if (n < 0 && errno != EINTR) return -errno;
    loop_update_time(l);
    for (int i = 0; i < n; i++) {
      loop_io *io = l->events[i].data.ptr;
      io->cb(io, l->events[i].events);
    }
    run_timers(l);
    if (l->post) l->post(l->post_arg);
  }
  return 0;
}
