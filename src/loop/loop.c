/* loop/loop.c — epoll event loop (see loop.h for what it owns).
 *
 * Level-triggered epoll: a handler that leaves bytes unread is simply called again,
 * which keeps the read path fair between connections without per-connection queues. */
#include "loop/loop.h"
#include "util/buf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 1024

typedef struct post_item {
  void (*fn)(void *arg);
  void *arg;
  struct post_item *next;
} post_item;

struct loop {
  int epfd;
  atomic_int running;
  uint64_t now_ms;
  uint64_t fake_ms; /* test only (loop_fake_time): the clock while fake_clock is set */
  int fake_clock;
  loop_timer **heap; /* binary min-heap on due_ms */
  uint32_t nheap, heap_cap;
  void (*post)(void *arg);
  void *post_arg;
  void (*late)(void *arg, uint64_t late_ms); /* loop_set_lag_observer */
  void *late_arg;
  loop_io sig_io;
  void (*sig_cb)(int signo, void *arg);
  void *sig_arg;
  loop_io wake_io;
  void (*wake_cb)(void *arg);
  void *wake_arg;
  int dispatching, cur, nevents; /* events[cur + 1 .. nevents) are still to dispatch */
  uint64_t iter;                 /* iterations begun (loop_iteration) */
  pthread_mutex_t posted_lock; /* guards posted_head/posted_tail only */
  post_item *posted_head, *posted_tail;
  struct epoll_event events[LOOP_MAX_EVENTS];
};

static uint64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_wake(loop_io *io, uint32_t events);

loop *loop_create(void) {
  loop *l = calloc(1, sizeof(*l));
  if (!l) return NULL;
  l->sig_io.fd = -1;
  l->wake_io.fd = -1;
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd < 0) goto fail;
  /* The eventfd exists from the start: loop_post and loop_wakeup work on any loop. */
  l->wake_io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  l->wake_io.cb = on_wake;
  if (l->wake_io.fd < 0 || loop_io_start(l, &l->wake_io, EPOLLIN) < 0) goto fail;
  if (pthread_mutex_init(&l->posted_lock, NULL) != 0) goto fail;
  l->now_ms = monotonic_ms();
  return l;
fail:
  if (l->wake_io.fd >= 0) close(l->wake_io.fd);
  if (l->epfd >= 0) close(l->epfd);
  free(l);
  return NULL;
}

void loop_destroy(loop *l) {
  if (!l) return;
  if (l->sig_io.fd >= 0) close(l->sig_io.fd);
  close(l->wake_io.fd);
  close(l->epfd);
  for (post_item *p = l->posted_head, *nx; p; p = nx) {
    nx = p->next;
    free(p);
  }
  pthread_mutex_destroy(&l->posted_lock);
  for (uint32_t i = 0; i < l->nheap; i++) l->heap[i]->slot = 0;
  free(l->heap);
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
  /* Its owner may free io once this returns, while an event for it is still waiting in
   * this iteration's batch (a graceful stop closing a listener that is also readable):
   * forget such events, as libuv does. Only a stop made during dispatch scans. */
  if (l->dispatching) {
    for (int i = l->cur + 1; i < l->nevents; i++)
      if (l->events[i].data.ptr == io) l->events[i].data.ptr = NULL;
  }
  if (io->fd < 0) return;
  epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
  io->events = 0;
}

uint64_t loop_now_ms(const loop *l) { return l->now_ms; }

uint64_t loop_update_time(loop *l) { return l->now_ms = l->fake_clock ? l->fake_ms : monotonic_ms(); }

void loop_fake_time(loop *l, uint64_t now_ms) {
  l->fake_clock = 1;
  l->fake_ms = now_ms;
  l->now_ms = now_ms;
}

/* ---- timers: a binary min-heap of embedded timers --------------------------------- */

static void heap_place(loop *l, uint32_t i, loop_timer *t) {
  l->heap[i] = t;
  t->slot = i + 1;
}

static void sift_up(loop *l, uint32_t i) {
  loop_timer *t = l->heap[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (l->heap[parent]->due_ms <= t->due_ms) break;
    heap_place(l, i, l->heap[parent]);
    i = parent;
  }
  heap_place(l, i, t);
}

static void sift_down(loop *l, uint32_t i) {
  loop_timer *t = l->heap[i];
  for (;;) {
    uint32_t child = 2 * i + 1;
    if (child >= l->nheap) break;
    if (child + 1 < l->nheap && l->heap[child + 1]->due_ms < l->heap[child]->due_ms) child++;
    if (t->due_ms <= l->heap[child]->due_ms) break;
    heap_place(l, i, l->heap[child]);
    i = child;
  }
  heap_place(l, i, t);
}

void loop_timer_stop(loop *l, loop_timer *t) {
  if (!t->slot) return;
  uint32_t i = t->slot - 1;
  t->slot = 0;
  loop_timer *last = l->heap[--l->nheap];
  if (i == l->nheap) return;
  heap_place(l, i, last);
  sift_down(l, i);
  sift_up(l, last->slot - 1);
}

int loop_timer_start_at(loop *l, loop_timer *t, uint64_t due_ms, uint32_t repeat_ms) {
  t->repeat_ms = repeat_ms;
  if (t->slot) { /* re-armed in place: one sift, no removal */
    uint64_t old = t->due_ms;
    t->due_ms = due_ms;
    if (due_ms < old) sift_up(l, t->slot - 1);
    else sift_down(l, t->slot - 1);
    return 0;
  }
  if (l->nheap == l->heap_cap) {
    uint32_t ncap = (uint32_t)grow_cap(l->heap_cap, (size_t)l->nheap + 1, 16, UINT32_MAX);
    loop_timer **nh = ncap ? realloc(l->heap, (size_t)ncap * sizeof(*nh)) : NULL;
    if (!nh) return -ENOMEM;
    l->heap = nh;
    l->heap_cap = ncap;
  }
  t->due_ms = due_ms;
  heap_place(l, l->nheap++, t);
  sift_up(l, l->nheap - 1);
  return 0;
}

int loop_timer_start(loop *l, loop_timer *t, uint32_t after_ms, uint32_t repeat_ms) {
  return loop_timer_start_at(l, t, l->now_ms + after_ms, repeat_ms);
}

uint32_t loop_timer_count(const loop *l) { return l->nheap; }

uint64_t loop_iteration(const loop *l) { return l->iter; }

static void run_timers(loop *l) {
  /* Bounded: only timers due at the time read for this iteration run, and at most as
   * many callbacks as there were timers, so one that keeps re-arming itself for "now"
   * cannot spin here: it runs again in the next iteration. */
  uint64_t now = l->now_ms;
  for (uint32_t budget = l->nheap; budget && l->nheap && l->heap[0]->due_ms <= now; budget--) {
    loop_timer *t = l->heap[0];
    if (l->late) l->late(l->late_arg, now - t->due_ms);
    if (t->repeat_ms) {
      t->due_ms = now + t->repeat_ms;
      sift_down(l, 0);
    } else {
      loop_timer_stop(l, t);
    }
    t->cb(t);
  }
}

void loop_set_post(loop *l, void (*post)(void *arg), void *arg) {
  l->post = post;
  l->post_arg = arg;
}

void loop_set_lag_observer(loop *l, void (*fn)(void *arg, uint64_t late_ms), void *arg) {
  l->late = fn;
  l->late_arg = arg;
}

/* ---- signals, wake-ups, posted work ---------------------------------------------- */

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
  if (read(io->fd, &v, sizeof(v)) < 0 && errno != EAGAIN) return;
  loop_post_drain(l);
  if (l->wake_cb) l->wake_cb(l->wake_arg);
}

int loop_set_wakeup(loop *l, void (*cb)(void *arg), void *arg) {
  l->wake_cb = cb;
  l->wake_arg = arg;
  return 0;
}

void loop_wakeup(loop *l) {
  uint64_t one = 1;
  /* Async-signal-safe: write(2) on an eventfd. A full counter (EAGAIN) still wakes. */
  ssize_t r = write(l->wake_io.fd, &one, sizeof(one));
  (void)r;
}

int loop_post(loop *l, void (*fn)(void *arg), void *arg) {
  post_item *p = malloc(sizeof(*p));
  if (!p) return -ENOMEM;
  p->fn = fn;
  p->arg = arg;
  p->next = NULL;
  pthread_mutex_lock(&l->posted_lock);
  int was_empty = l->posted_head == NULL;
  if (l->posted_tail) l->posted_tail->next = p;
  else l->posted_head = p;
  l->posted_tail = p;
  pthread_mutex_unlock(&l->posted_lock);
  if (was_empty) loop_wakeup(l); /* a non-empty queue already has its wake-up pending */
  return 0;
}

size_t loop_post_drain(loop *l) {
  pthread_mutex_lock(&l->posted_lock);
  post_item *p = l->posted_head;
  l->posted_head = l->posted_tail = NULL;
  pthread_mutex_unlock(&l->posted_lock);
  size_t n = 0;
  while (p) { /* work posted by these callbacks waits for the next wake-up */
    post_item *nx = p->next;
    p->fn(p->arg);
    free(p);
    p = nx;
    n++;
  }
  return n;
}

/* Thread-safe, and async-signal-safe followed by loop_wakeup: the flag is atomic and
 * read once per iteration. */
void loop_stop(loop *l) { atomic_store_explicit(&l->running, 0, memory_order_relaxed); }

/* One iteration: wait up to timeout_ms (-1: until the nearest timer, or forever), then
 * dispatch the events, the due timers and the post phase. */
static int iterate(loop *l, int timeout_ms) {
  int timeout = timeout_ms;
  if (timeout < 0 && l->nheap) { /* sleep exactly until the nearest timer, measured now */
    uint64_t due = l->heap[0]->due_ms, now = loop_update_time(l);
    timeout = due <= now ? 0 : due - now > INT32_MAX ? INT32_MAX : (int)(due - now);
  }
  int n = epoll_wait(l->epfd, l->events, LOOP_MAX_EVENTS, timeout);
  if (n < 0 && errno != EINTR) return -errno;
  if (n < 0) n = 0;
  loop_update_time(l);
  l->iter++;
  l->dispatching = 1;
  l->nevents = n;
  for (l->cur = 0; l->cur < n; l->cur++) {
    loop_io *io = l->events[l->cur].data.ptr;
    if (io) io->cb(io, l->events[l->cur].events); /* NULL: stopped earlier in this batch */
  }
  l->dispatching = 0;
  run_timers(l);
  if (l->post) l->post(l->post_arg);
  return n;
}

int loop_run(loop *l) {
  atomic_store_explicit(&l->running, 1, memory_order_relaxed);
  while (atomic_load_explicit(&l->running, memory_order_relaxed)) {
    int r = iterate(l, -1);
    if (r < 0) return r;
  }
  return 0;
}

int loop_run_once(loop *l) { return iterate(l, 0); }
