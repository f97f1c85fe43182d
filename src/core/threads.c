/* core/threads.c — a group of apps, one per thread, serving as one server
 * (wsio-server --threads N): joining, the shared port, cross-thread messages, stop
 * propagation and summed statistics.
 *
 * Owns: the group (who is in it, in which order), each app's outboxes to the others,
 * and delivering what arrives from them to the handler of its kind (topics here; the
 * Socket.IO in-process adapter registers its own kind); the group's per-IP table and
 * its lock (used by core/limits.c); the stop barrier (threads_may_stop). Must not know Socket.IO or
 * Engine.IO: they reach it through core/transport.h (core_xt_*).
 *
 * No lock on the hot path: a cross-thread message is appended to the sender's own
 * outbox for that peer (a plain byte buffer only the sender's thread touches); once
 * per loop iteration, in the post phase, each non-empty outbox is handed whole to the
 * peer's loop with one loop_post (one mutex and one eventfd write per peer per
 * iteration, however many publishes or broadcasts it holds). The peer runs the batch
 * on its own thread, in the order sent. Membership is fixed before any app runs and
 * read without locks afterwards (pthread_create orders it before every thread). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/threads.h"
#include "net/tls.h"
#include "util/buf.h"

typedef struct core_group core_group;
typedef struct core_threads core_threads;

struct core_group {
  unsigned n;
  wsio_app *apps[CORE_MAX_THREADS];
  int port, plain_port; /* the first listener's ports: later members bind the same */
  int lfd, plain_lfd;   /* accept mode SHARED: the first listener's sockets */
  int mode;             /* how connections reach the threads (ACCEPT_*, below) */
  unsigned rr;          /* ACCEPT_ONE: the thread the next connection goes to */
  /* ACCEPT_SHARED's balance (threads_balance): how many connections each member holds
   * open now (its own count, accepted less closed, stored by it alone at each accept
   * and close, each on a cache line of its own), whether it watches the socket, and
   * how many members do. */
  struct {
    _Alignas(64) atomic_ullong n;
    atomic_uint paused; /* not watching the socket for now (over its share) */
    /* Its loop's iteration at its last post phase (a hold waits on it): stored every
     * iteration, so on a line of its own, away from the counts the balance reads. */
    _Alignas(64) atomic_uint ran;
  } accepts[CORE_MAX_THREADS];
  atomic_uint watchers;
  /* Per-IP limits hold for the process: the first member's table, owned by the group
   * from the join on and shared by every member under iplock (core/limits.c). */
  struct edge_iplimit *iplimit;
  pthread_mutex_t iplock;
  /* The group's drain holds (threads_drain_hold): every member's app_drain_hold, plus
   * one per member whose graceful stop has not begun yet (its clients' holds are not
   * known before). */
  atomic_uint holds;
};

/* Per app: what it owes each peer this iteration, and the handlers of each kind. */
#define MAX_OWNERS 8

/* A hand-over that waits: the connection still owed bytes to the kernel (a TLS 1.3
 * server sends its session tickets with the first answer, so the first request comes
 * while they are queued). It is tried again in the next post phase, once sent. */
struct later {
  wsio_conn *c;
  unsigned to;
  size_t n;
  uint8_t *p;
};


struct core_threads {
  byte_buf *out; /* one per thread of the group, allocated at the first send */
  unsigned any; /* some outbox is non-empty */
  core_xt_fn fn[CORE_XT_NKINDS];
  void *arg[CORE_XT_NKINDS];
  uint64_t dropped; /* batches lost to memory */
  struct later *later; /* hand-overs waiting for the connection's output to be sent */
  size_t nlater, later_cap;
  wsio_conn **handq; /* acceptor: connections accepted this iteration for other threads */
  unsigned *handto;
  size_t nhand, hand_cap;
  core_owner_fn owner[MAX_OWNERS];
  void *owner_arg[MAX_OWNERS];
  unsigned nowners;
  uint64_t accepted;  /* ACCEPT_SHARED: connections accepted (or handed to it) */
  uint64_t closed;    /* ACCEPT_SHARED: of them, closed (or handed on) */
  uint64_t balanced;  /* ACCEPT_SHARED: accepted - closed as threads_balance last saw it */
  int watching;       /* ACCEPT_SHARED: listens on the group's socket (counted) */
  int paused;         /* ACCEPT_SHARED: not watching it for now (over its share) */
  /* ACCEPT_SHARED's hold (threads_balance): its count when its run began; held: not
   * watching until the suspects (suspect[i]) have run past ran_at[i], or hold_until. */
  uint64_t run_base;
  int held;
  uint64_t hold_until;
  loop_timer hold_timer;
  uint32_t ran_at[CORE_MAX_THREADS];
  uint8_t suspect[CORE_MAX_THREADS];
  /* The stop barrier (threads_may_stop): quiescing since the stop request; the peers'
   * stop marks received; the deadline's timer (it wakes the loop to look again). */
  int quiescing;
  unsigned stop_marks;
  uint64_t quiesce_until;
  loop_timer quiesce_timer;
};

typedef struct xt_batch {
  wsio_app *to;
  unsigned from;
  size_t len;
  uint8_t p[];
} xt_batch;

/* A record in an outbox: length (4 bytes, of the payload), kind (1 byte), payload. */
#define XT_HEAD 5
/* core's own kind, past the registrable ones: a peer's stop mark (threads_may_stop). */
#define XT_STOP CORE_XT_NKINDS
/* How connections reach the threads (WSIO_THREADS_ACCEPT selects the others): a
 * SO_REUSEPORT socket per thread (the default, "reuseport"), one listening socket that
 * every loop watches ("shared"), or thread 0 accepting for all and handing
 * connections over ("acceptor"). See "listening" below. */
enum { ACCEPT_SHARED, ACCEPT_REUSEPORT, ACCEPT_ONE };

static void xt_topic(void *arg, unsigned from, const uint8_t *p, size_t n);

static core_threads *threads_state(wsio_app *app) {
  if (app->xt) return app->xt;
  app->xt = calloc(1, sizeof(*app->xt));
  if (app->xt) {
    app->xt->fn[CORE_XT_TOPIC] = xt_topic;
    app->xt->arg[CORE_XT_TOPIC] = app;
  }
  return app->xt;
}

int wsio_app_join(wsio_app *app, wsio_app *first) {
  if (!app || !first || app == first || app->group || app->nlisteners || first->nlisteners) return WSIO_EINVAL;
  if (first->group && first->group->apps[0] != first) return WSIO_EINVAL;
  if (!first->group) {
    core_group *g = calloc(1, sizeof(*g));
    if (!g || !threads_state(first)) {
      free(g);
      return WSIO_ENOMEM;
    }
    g->apps[0] = first;
    g->n = 1;
    atomic_init(&g->holds, 1);
    g->port = g->plain_port = -1;
    g->lfd = g->plain_lfd = -1;
    atomic_init(&g->watchers, 0);
    for (unsigned i = 0; i < CORE_MAX_THREADS; i++) {
      atomic_init(&g->accepts[i].n, 0);
      atomic_init(&g->accepts[i].paused, 0);
      atomic_init(&g->accepts[i].ran, 0);
    }
    /* The others are kept for comparison (bench/README.md, docs/ARCHITECTURE.md). */
    const char *mode = getenv("WSIO_THREADS_ACCEPT");
    g->mode = !mode                            ? ACCEPT_REUSEPORT
              : strcmp(mode, "acceptor") == 0 ? ACCEPT_ONE
              : strcmp(mode, "shared") == 0   ? ACCEPT_SHARED
                                              : ACCEPT_REUSEPORT;
    if (pthread_mutex_init(&g->iplock, NULL) != 0) {
      free(g);
      return WSIO_ENOMEM;
    }
    g->iplimit = first->iplimit;
    first->iplock = &g->iplock;
    first->group = g;
    first->tindex = 0;
  }
  core_group *g = first->group;
  if (g->n == CORE_MAX_THREADS) return WSIO_EINVAL;
  if (!threads_state(app)) return WSIO_ENOMEM;
  app->tindex = g->n;
  g->apps[g->n++] = app;
  atomic_fetch_add(&g->holds, 1); /* (released by its app_begin_stop) */
  app->group = g;
  /* Its own table (empty: nothing is open before the join) gives way to the group's,
   * so that a client's connections on every thread count against one limit. */
  edge_iplimit_free(app->iplimit);
  app->iplimit = g->iplimit;
  app->iplock = &g->iplock;
  return 0;
}

unsigned wsio_app_thread_index(const wsio_app *app) { return app ? app->tindex : 0; }
unsigned wsio_app_thread_count(const wsio_app *app) { return app && app->group ? app->group->n : 1; }
unsigned core_thread_index(const wsio_app *app) { return app->tindex; }
unsigned core_thread_count(const wsio_app *app) { return app->group ? app->group->n : 1; }

wsio_app *wsio_app_thread_peer(const wsio_app *app, unsigned i) {
  if (!app) return NULL;
  if (!app->group) return i == 0 ? (wsio_app *)app : NULL;
  return i < app->group->n ? app->group->apps[i] : NULL;
}

unsigned wsio_threads_auto(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return (unsigned)CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

/* ---- listening -------------------------------------------------------------------- */

/* The default is a SO_REUSEPORT socket per member (ACCEPT_REUSEPORT): the kernel
 * hashes each connection's addresses to one of them, which needs no bookkeeping,
 * keeps the accept work on each thread's own queue (no shared lock) and spreads the
 * connections that are open now as evenly as those that arrive, but wakes every loop
 * for its part of each burst. One socket for the group (ACCEPT_SHARED, below;
 * WSIO_THREADS_ACCEPT=shared) saves those wake-ups when the loops share a core. On
 * the quiet machine both measured within 1.05x of one thread (bench/README.md
 * "--threads: both accept modes on a quiet machine").
 *
 * ACCEPT_SHARED: one listening socket for the group, watched by every member's loop
 * with EPOLLEXCLUSIVE, rather than a SO_REUSEPORT socket per member. What it saves
 * (bench/README.md "--threads 2: one shared listening socket"): with a
 * socket per thread the kernel hashes every connection to one of them, so a burst of
 * connections is split between the loops whatever they are doing, and each loop wakes
 * for its own half (and then for its half of the close frames). On cores of their
 * own that costs a wake-up per loop per burst; when the loops share a core (a
 * container given one CPU, or bench/run.sh pinning the server to one) they take
 * turns: twice the epoll_wait sleeps and context switches per handshake, and
 * --threads 2 cost 1.12x the CPU per handshake of one thread. With one socket the
 * kernel wakes one waiting loop per connection; while a loop is busy the connections
 * queue for it or for a loop that is waiting anyway, so a loop that is awake takes
 * them in its next batch. The socket options, TCP_DEFER_ACCEPT included, are the
 * socket's, set once.
 *
 * What it costs is fairness: the kernel wakes the loop that registered first whenever
 * it is waiting, so under light load thread 0 would take every connection, and
 * WebSockets stay where they were accepted. So the members share by what they hold
 * (threads_balance, in the post phase): each counts the connections it holds open,
 * accepted (or handed to it by another thread) less closed (or handed on), in a
 * counter only it writes, at the accept and at the close themselves, and the others
 * read. A connection that closes, young or old, stops counting at once: a loop that
 * is awake takes a run of short-lived ones (a handshake and a close, a request)
 * without handing the socket over, which is what saves the wake-ups, and a thread
 * whose connections closed is not taken for busy. (An earlier version counted
 * accepts since start, less the connections that closed within 100 ms: after 40
 * connections had opened and closed, the counts kept their spread, up to twice the
 * slack (13/28 in a run of tests/threads/ws.test.js), or what their ages left (11/2
 * in another), and the thread behind takes that gap plus twice the slack before the
 * other takes any: past 14, all of 30 subscribers opened one at a time, as a CI run
 * under ASan saw.) A member accepts at
 * most the batch that keeps it within the mean plus a slack (accept_slack: at most
 * ACCEPT_SLACK, less with few connections per thread); past that it stops watching
 * the socket, and watches again once it is half the slack under the mean, so a loop
 * that is awake takes runs of connections rather than every other one. The last one
 * watching stops too: on one core the loop that runs would otherwise take every
 * connection, the others unable to run to take theirs; the connections queue. A
 * member that stops wakes those that stopped earlier and are now half the slack under
 * the mean (an idle loop sleeps), or, when no one watches, the one that holds the
 * fewest (which resumes then). So a thread accepts only while it holds less than the
 * mean plus the slack (one batch at most past it), and none stays out while it is
 * under, whatever the arrival pattern. What the counts cannot see is a close the
 * kernel has but a loop has not yet read (a client closing and reopening its
 * connections at once, or tests/threads/ws.test.js's subscribers right after its echo
 * clients closed, while one loop cannot run: a loaded machine): that loop looks as
 * busy as before, and the others would take its old count plus the slack (all 30
 * subscribers, with the test files run side by side under ASan). So a member that
 * looks over the mean by more than the slack (a suspect: stale, or its peers' closes
 * made it so) bounds the others' runs: while there is one, a member takes at most
 * n times the slack more than it held when its run began (or when it last held), then
 * holds: it stops watching (still counted as watching, so that no one resumes for
 * it), wakes the suspects, and watches again once each has run a post phase (its
 * count is then what it holds) or after HOLD_MAX_MS (a loop that cannot run for that
 * long does not hold up the connections any longer); its loop looks every
 * millisecond meanwhile. The alternations above have no suspect (a member stops at
 * the slack), so they never hold; a thread catching up on one whose count is real
 * pays a wake-up of it per run. (An earlier version that balanced on open counts
 * published in the post phase, with a last watcher that never stopped and a cap of
 * 1.25x the mean, let one thread take 94 of 100.) On a machine where the loops have cores of their own the wake-up saved
 * is an idle core's, and the balance costs a pass over N counters in the iterations
 * that accepted or closed. What one socket does not spread is the kernel's accept
 * work: at hundreds of thousands of new connections a second on many cores, one
 * queue's lock is contended where SO_REUSEPORT's are not (not measured: no many-core
 * machine was lent). */

static uint64_t accept_slack(const wsio_app *app);

net_listener *threads_listen(wsio_app *app, const char *host, int port, int plain) {
  core_group *g = app->group;
  if (g->mode != ACCEPT_SHARED) return net_listen_shared(app->net, host, threads_listen_port(app, port, plain), 1024, NULL);
  int *fd = plain ? &g->plain_lfd : &g->lfd;
  int gport = plain ? g->plain_port : g->port;
  net_listener *ls;
  if (*fd >= 0 && (port == 0 || port == gport)) {
    ls = net_listen_fd(app->net, *fd, gport, NULL);
  } else {
    ls = net_listen(app->net, host, port, 1024, NULL);
    int r = ls ? net_listener_share(ls) : 0;
    if (r < 0) {
      net_listener_close(ls);
      errno = -r;
      return NULL;
    }
    if (ls && *fd < 0) *fd = net_listener_fd(ls);
  }
  if (ls && !app->xt->watching) {
    app->xt->watching = 1;
    app->xt->balanced = UINT64_MAX; /* (the first post phase sets the batch) */
    /* The first batch too: a loop's first iteration is the one that accepts (it sleeps
     * until then), so a burst queued before any loop ran (a loaded machine, clients
     * faster than the threads' start) would otherwise all go to the first one awake. */
    if (g->n > 1) net_ctx_set_accept_batch(app->net, (unsigned)(g->n * accept_slack(app) / (g->n - 1)));
    atomic_fetch_add(&g->watchers, 1);
  }
  return ls;
}

#define ACCEPT_SLACK 8
/* How far ahead of the group's mean a member may accept (ACCEPT_SHARED): ACCEPT_SLACK,
 * or 2 and half the mean of the open WebSockets when that is less. The slack is what
 * lets the loop that is awake take a run of a burst (8: on one core, --threads 2
 * handshakes cost what one thread's do; 4 or less: half the wake-ups saved), and what
 * bounds the spread; with few connections per thread (16 threads, 100 connections)
 * 8 would let some threads fill while others got none. The open counts are read as
 * they stand (a stale one moves the slack, never the balance). */
static uint64_t accept_slack(const wsio_app *app) {
  uint64_t s = 2 + threads_ws_open(app) / (2 * app->group->n);
  return s < ACCEPT_SLACK ? s : ACCEPT_SLACK;
}

#define HOLD_MAX_MS 200

static void hold_tick(loop_timer *timer) { (void)timer; } /* (the post phase looks) */

/* A member holds (see "listening") when, while some other member looks over the mean
 * by more than the slack (a suspect), it has taken n times the slack since its run
 * began (or it last held): it stops watching, still counted as watching (the others do
 * not take over for it), wakes the suspects, and looks again every millisecond. */
static void threads_hold(wsio_app *app, int64_t sum, int64_t s) {
  core_group *g = app->group;
  core_threads *t = app->xt;
  int64_t n = g->n;
  net_ctx_accepting(app->net, 0);
  t->held = 1;
  for (unsigned i = 0; i < g->n; i++) {
    int64_t a = (int64_t)atomic_load_explicit(&g->accepts[i].n, memory_order_relaxed);
    t->suspect[i] = i != app->tindex && n * a - sum > s;
    if (!t->suspect[i]) continue;
    t->ran_at[i] = atomic_load_explicit(&g->accepts[i].ran, memory_order_relaxed); /* (before the wake-up) */
    loop_wakeup(g->apps[i]->loop);
  }
  t->hold_until = loop_now_ms(app->loop) + HOLD_MAX_MS;
  t->hold_timer.cb = hold_tick;
  (void)loop_timer_start(app->loop, &t->hold_timer, 1, 1); /* (failed: the next event looks) */
}

/* Whether a hold is over: every suspect has run a post phase since it began (and read
 * the closes it had), or HOLD_MAX_MS passed (a loop that cannot run for that long
 * does not hold up the connections any longer). */
static int hold_done(const wsio_app *app) {
  const core_group *g = app->group;
  const core_threads *t = app->xt;
  if (loop_now_ms(app->loop) >= t->hold_until) return 1;
  for (unsigned i = 0; i < g->n; i++)
    if (t->suspect[i] && atomic_load_explicit(&g->accepts[i].ran, memory_order_relaxed) == t->ran_at[i]) return 0;
  return 1;
}

/* See "listening" above. Called at the end of every post phase. */
static void threads_balance(wsio_app *app) {
  core_group *g = app->group;
  core_threads *t = app->xt;
  if (g->mode != ACCEPT_SHARED || !t->watching) return;
  /* That this loop has run (and read what it had): a member holding waits for it. */
  atomic_store_explicit(&g->accepts[app->tindex].ran, (unsigned)loop_iteration(app->loop), memory_order_relaxed);
  if (app->stopping) {
    if (t->held) loop_timer_stop(app->loop, &t->hold_timer); /* (its listener closes) */
    t->held = 0;
    return;
  }
  if (t->held) {
    if (!hold_done(app) || net_ctx_accepting(app->net, 1) < 0) return;
    t->held = 0;
    loop_timer_stop(app->loop, &t->hold_timer);
    t->run_base = t->accepted - t->closed;
    t->balanced = UINT64_MAX; /* (its batch is set below) */
  }
  uint64_t mine = t->accepted - t->closed;
  if (mine == t->balanced && !t->paused) return; /* (paused: the others' counts grow) */
  t->balanced = mine;
  int64_t n = g->n, sum = 0, top = 0;
  for (unsigned i = 0; i < g->n; i++) {
    int64_t a = (int64_t)atomic_load_explicit(&g->accepts[i].n, memory_order_relaxed);
    sum += a;
    if (i != app->tindex && a > top) top = a;
  }
  int64_t over = n * (int64_t)mine - sum; /* n times its lead over the mean */
  int64_t s = n * (int64_t)accept_slack(app);
  if (t->paused) {
    /* Resumes once it is half the slack under the mean, or when no one watches (the
     * last one to stop woke it: it holds the fewest). Until then the others take
     * runs of connections, not every other one (see "listening"). */
    if ((2 * over > -s && atomic_load(&g->watchers) > 0) || net_ctx_accepting(app->net, 1) < 0) return;
    t->paused = 0;
    atomic_store_explicit(&g->accepts[app->tindex].paused, 0, memory_order_relaxed);
    atomic_fetch_add(&g->watchers, 1);
  } else if (over >= s) {
    /* Over its share it stops watching, the last one watching too: on one core the
     * loop that runs would otherwise take every connection, since the others cannot
     * run to take theirs while it does not sleep (new connections queue meanwhile). */
    net_ctx_accepting(app->net, 0);
    t->paused = 1;
    atomic_store_explicit(&g->accepts[app->tindex].paused, 1, memory_order_relaxed);
    unsigned was = atomic_fetch_sub(&g->watchers, 1);
    /* Those that stopped watching and are now half the slack under the mean take over
     * when they look: they are woken, since a loop with nothing to do sleeps (with many
     * threads an idle one would otherwise stay out while the others fill). If none is,
     * and no one watches now, the member that holds the fewest is (it resumes when
     * no one watches). */
    unsigned low = app->tindex, woke = 0;
    uint64_t lowest = UINT64_MAX;
    for (unsigned i = 0; i < g->n; i++) {
      if (i == app->tindex) continue;
      uint64_t a = atomic_load_explicit(&g->accepts[i].n, memory_order_relaxed);
      if (a < lowest) {
        lowest = a;
        low = i;
      }
      if (atomic_load_explicit(&g->accepts[i].paused, memory_order_relaxed) && 2 * (n * (int64_t)a - sum) <= -s) {
        loop_wakeup(g->apps[i]->loop);
        woke++;
      }
    }
    if (!woke && was == 1) loop_wakeup(g->apps[low]->loop);
    return;
  }
  /* While a suspect does not change, its run (what it took since) stays within the
   * slack; past that it holds until the suspects have run (see "listening"). */
  int suspects = n * top - sum > s;
  if (!suspects || mine < t->run_base) t->run_base = mine;
  int64_t run = (int64_t)(mine - t->run_base);
  if (suspects && run >= s) {
    threads_hold(app, sum, s);
    return;
  }
  /* It may take k more in one batch, n (mine + k) - (sum + k) <= s: a burst reaching
   * the loop that woke first would otherwise all be its (and 1 at least, so that a
   * connection never waits for a loop that takes none). */
  int64_t k = over < s ? (s - over) / (n - 1) : 0;
  if (suspects && k > s - run) k = s - run;
  net_ctx_set_accept_batch(app->net, k > 128 ? 128 : (unsigned)k);
}

int threads_listen_port(const wsio_app *app, int port, int plain) {
  if (!app->group || port != 0) return port;
  int p = plain ? app->group->plain_port : app->group->port;
  return p >= 0 ? p : 0;
}

int threads_listens(const wsio_app *app) { return !app->group || app->group->mode != ACCEPT_ONE || app->tindex == 0; }

/* Marks connections adopted from another thread (never handed on again). */
static char adopted_tag;
void *const threads_adopted = &adopted_tag;

void threads_accepted(wsio_app *app, wsio_conn *c, void *listener_user) {
  core_group *g = app->group;
  if (!g) return;
  if (g->mode == ACCEPT_SHARED) {
    /* Handed over by another thread or accepted here, it is held here from now on. */
    c->xt_counted = 1;
    app->xt->accepted++;
    atomic_store_explicit(&g->accepts[app->tindex].n, app->xt->accepted - app->xt->closed, memory_order_relaxed);
    return;
  }
  if (g->mode != ACCEPT_ONE || listener_user == threads_adopted) return;
  unsigned to = g->rr++ % g->n;
  if (to == app->tindex) return;
  core_threads *t = app->xt;
  if (t->nhand == t->hand_cap) {
    size_t cap = grow_cap(t->hand_cap, t->nhand + 1, 64, SIZE_MAX / sizeof(wsio_conn *));
    wsio_conn **q = cap ? realloc(t->handq, cap * sizeof(*q)) : NULL;
    unsigned *to2 = q ? realloc(t->handto, cap * sizeof(*to2)) : NULL;
    if (q) t->handq = q;
    if (!to2) return; /* served here */
    t->handto = to2;
    t->hand_cap = cap;
  }
  t->handq[t->nhand] = c;
  t->handto[t->nhand++] = to;
}

void threads_listened(wsio_app *app, int port, int plain) {
  if (!app->group) return;
  int *p = plain ? &app->group->plain_port : &app->group->port;
  if (*p < 0) *p = port;
}

/* ---- stopping ----------------------------------------------------------------------- */

void threads_stop_peers(wsio_app *app) {
  if (!app->group) return;
  for (unsigned i = 0; i < app->group->n; i++)
    if (app->group->apps[i] != app) wsio_app_stop(app->group->apps[i]);
}

static int xt_put(core_threads *t, unsigned to, unsigned kind, const void *a, size_t an, const void *b, size_t bn);

/* The deadline passed: nothing to do here, the post phase that follows looks again. */
static void quiesce_expired(loop_timer *t) { (void)t; }

/* The stop barrier. A broadcast another thread acknowledged to its sender must reach
 * this thread's clients before they are closed, and it travels behind everything that
 * thread sent before (the outboxes keep their order). So a member asked to stop first
 * quiesces: it stops taking client messages (core_quiescing: Engine.IO drops them,
 * unacknowledged, as a closed session would), asks its peers to stop, and sends each
 * a stop mark behind what it already sent; it closes its own clients once every peer's
 * mark has arrived (all they acknowledged is delivered here by then), or after
 * QUIESCE_MAX_MS. Alone: 1 at once. */
int threads_may_stop(wsio_app *app) {
  if (!app->group) return 1;
  core_threads *t = app->xt;
  if (!t->quiescing) {
    t->quiescing = 1;
    threads_stop_peers(app);
    for (unsigned i = 0; i < app->group->n; i++)
      if (i != app->tindex && xt_put(t, i, XT_STOP, "", 0, NULL, 0) < 0) t->stop_marks++; /* (out of memory: the peer times out) */
    threads_flush(app);
    t->quiesce_until = loop_now_ms(app->loop) + app->o.shutdown_timeout_ms;
    t->quiesce_timer.cb = quiesce_expired;
    (void)loop_timer_start_at(app->loop, &t->quiesce_timer, t->quiesce_until + 1, 0); /* (else the sweep wakes it) */
  }
  if (t->stop_marks + 1 < app->group->n && loop_now_ms(app->loop) < t->quiesce_until) return 0;
  loop_timer_stop(app->loop, &t->quiesce_timer);
  return 1;
}

unsigned threads_stop_left_ms(const wsio_app *app) {
  if (!app->xt || !app->xt->quiescing) return app->o.shutdown_timeout_ms;
  uint64_t now = loop_now_ms(app->loop);
  return app->xt->quiesce_until > now ? (unsigned)(app->xt->quiesce_until - now) : 0;
}

int core_quiescing(const wsio_app *app) { return app->xt && app->xt->quiescing; }

/* A polling client of one thread may send its last GET on a connection another thread
 * accepts (connections are spread by count or address, not by session): that thread
 * must go on accepting, reading and handing requests over while any member waits for
 * a client, and must not take its own holds as the group's. The release that empties
 * the group wakes the others: their post phase ends their drain (app_drain_release). */
void threads_drain_hold(wsio_app *app, int delta) {
  core_group *g = app->group;
  if (!g) return;
  unsigned was = atomic_fetch_add(&g->holds, (unsigned)delta);
  if (delta >= 0 || was + (unsigned)delta != 0) return;
  for (unsigned i = 0; i < g->n; i++)
    if (g->apps[i] != app) loop_wakeup(g->apps[i]->loop);
}

unsigned threads_drain_holds(const wsio_app *app) { return app->group ? atomic_load(&app->group->holds) : app->drain_holds; }

static void reload_here(void *arg) {
  wsio_app *app = arg;
  if (app->o.tls_cert_file) wsio_app_reload_tls(app);
}

void threads_reload_peers(wsio_app *app) {
  if (!app->group) return;
  for (unsigned i = 0; i < app->group->n; i++)
    if (app->group->apps[i] != app) loop_post(app->group->apps[i]->loop, reload_here, app->group->apps[i]);
}

/* ---- cross-thread messages ---------------------------------------------------------- */

int core_xt_handler(wsio_app *app, unsigned kind, core_xt_fn fn, void *arg) {
  if (kind >= CORE_XT_NKINDS) return WSIO_EINVAL;
  core_threads *t = threads_state(app);
  if (!t) return WSIO_ENOMEM;
  t->fn[kind] = fn;
  t->arg[kind] = arg;
  return 0;
}

static int xt_put(core_threads *t, unsigned to, unsigned kind, const void *a, size_t an, const void *b, size_t bn) {
  if (!t->out && !(t->out = calloc(CORE_MAX_THREADS, sizeof(*t->out)))) return WSIO_ENOMEM;
  byte_buf *o = &t->out[to];
  size_t n = an + bn;
  if (n > UINT32_MAX || byte_buf_reserve(o, XT_HEAD + n) < 0) return WSIO_ENOMEM;
  uint32_t len = (uint32_t)n;
  memcpy(o->p + o->len, &len, 4);
  o->p[o->len + 4] = (uint8_t)kind;
  o->len += XT_HEAD;
  byte_buf_append(o, a, an); /* reserved above: cannot fail */
  byte_buf_append(o, b, bn);
  t->any = 1;
  return 0;
}

int core_xt_send(wsio_app *app, unsigned to, unsigned kind, const void *a, size_t an, const void *b, size_t bn) {
  core_group *g = app->group;
  if (!g || kind >= CORE_XT_NKINDS) return 0;
  core_threads *t = app->xt;
  if (to != CORE_XT_ALL) return to < g->n && to != app->tindex ? xt_put(t, to, kind, a, an, b, bn) : WSIO_EINVAL;
  for (unsigned i = 0; i < g->n; i++) {
    if (i == app->tindex) continue;
    int r = xt_put(t, i, kind, a, an, b, bn);
    if (r < 0) return r;
  }
  return 0;
}

static void xt_deliver(void *arg) {
  xt_batch *b = arg;
  core_threads *t = b->to->xt;
  size_t off = 0;
  while (off + XT_HEAD <= b->len) {
    uint32_t len;
    memcpy(&len, b->p + off, 4);
    unsigned kind = b->p[off + 4];
    off += XT_HEAD;
    if (len > b->len - off) break;
    if (kind == XT_STOP) t->stop_marks++;
    else if (kind < CORE_XT_NKINDS && t->fn[kind]) t->fn[kind](t->arg[kind], b->from, b->p + off, len);
    off += len;
  }
  free(b);
}

/* The post phase: each peer gets this iteration's messages as one batch. */
void threads_hand_accepted(wsio_app *app) {
  core_threads *t = app->xt;
  /* Hand-overs that waited for their output (sent by the previous post phase). */
  for (size_t i = t->nlater; i-- > 0;) {
    struct later l = t->later[i];
    if (net_buffered(&l.c->net) && !(l.c->net.flags & (NET_F_CLOSED | NET_F_FAILED))) continue;
    t->later[i] = t->later[--t->nlater];
    if (l.c->state != CONN_MOVING) { /* killed meanwhile (its peer left, a stop) */
      free(l.p);
      continue;
    }
    l.c->state = CONN_HTTP;
    if (threads_handoff(l.c, l.to, l.p, l.n) < 0) conn_kill(l.c);
    free(l.p);
  }
  /* Accepted in this iteration's events and read only from the next one, so nothing
   * has been read from them; killed ones (a stop) are still in the grave. */
  for (size_t i = 0; i < t->nhand; i++)
    if (t->handq[i]->state == CONN_HTTP) (void)threads_handoff(t->handq[i], t->handto[i], NULL, 0);
  t->nhand = 0;
}

int threads_pending(const wsio_app *app) { return app->xt && app->xt->any; }

void threads_flush(wsio_app *app) {
  core_threads *t = app->xt;
  /* Here, after this iteration's accepts and closes (reaped just before), not at the
   * start of the post phase: a loop whose last connections closed may sleep for a
   * long time after, and its count must not stay published meanwhile. */
  if (t) threads_balance(app);
  if (!t || !t->any) return;
  t->any = 0;
  core_group *g = app->group;
  for (unsigned i = 0; i < g->n; i++) {
    byte_buf *o = &t->out[i];
    if (!o->len) continue;
    xt_batch *b = malloc(sizeof(*b) + o->len);
    if (b) {
      b->to = g->apps[i];
      b->from = app->tindex;
      b->len = o->len;
      memcpy(b->p, o->p, o->len);
      if (loop_post(g->apps[i]->loop, xt_deliver, b) < 0) {
        free(b);
        b = NULL;
      }
    }
    if (!b) t->dropped++;
    byte_buf_reset(o, 64 * 1024);
  }
}

void threads_free(wsio_app *app) {
  if (!app->xt) return;
  if (app->xt->quiescing) loop_timer_stop(app->loop, &app->xt->quiesce_timer);
  if (app->xt->held) loop_timer_stop(app->loop, &app->xt->hold_timer);
  for (unsigned i = 0; app->xt->out && i < CORE_MAX_THREADS; i++) byte_buf_free(&app->xt->out[i]);
  free(app->xt->out);
  for (size_t i = 0; i < app->xt->nlater; i++) free(app->xt->later[i].p);
  free(app->xt->later);
  free(app->xt->handq);
  free(app->xt->handto);
  free(app->xt);
  app->xt = NULL;
  core_group *g = app->group;
  if (!g) return;
  /* The group goes with its last member (destroyed one after another, after every run). */
  for (unsigned i = 0; i < g->n; i++)
    if (g->apps[i] == app) g->apps[i] = NULL;
  app->group = NULL;
  app->iplimit = NULL; /* the group's (its connections are gone: nothing counts on) */
  app->iplock = NULL;
  for (unsigned i = 0; i < g->n; i++)
    if (g->apps[i]) return;
  edge_iplimit_free(g->iplimit);
  pthread_mutex_destroy(&g->iplock);
  free(g);
}

/* ---- handing a connection to the thread that owns its request ---------------------- */

int core_owner_add(wsio_app *app, core_owner_fn fn, void *arg) {
  core_threads *t = threads_state(app);
  if (!t) return WSIO_ENOMEM;
  if (t->nowners == MAX_OWNERS) return WSIO_EINVAL;
  t->owner[t->nowners] = fn;
  t->owner_arg[t->nowners++] = arg;
  return 0;
}

int threads_owner(wsio_app *app, const http_request *h) {
  core_threads *t = app->xt;
  for (unsigned i = 0; t && i < t->nowners; i++) {
    int o = t->owner[i](t->owner_arg[i], h->path, h->path_len, h->query, h->query ? h->query_len : 0);
    if (o >= 0) return (unsigned)o == app->tindex || (unsigned)o >= app->group->n ? -1 : o;
  }
  return -1;
}

typedef struct handoff {
  wsio_app *to;
  struct ssl_st *tls; /* its TLS session moves with it (NULL: plain TCP) */
  int fd;
  size_t n;
  uint8_t p[];
} handoff;

/* On the owner's thread: the connection becomes one of its own, and the bytes the
 * other thread had read are served as if they had just arrived. */
static void handoff_adopt(void *arg) {
  handoff *h = arg;
  net_ctx *ctx = h->to->net;
  if (net_adopt_moved(ctx, h->fd, threads_adopted, h->tls) == 0) {
    wsio_conn *c = (wsio_conn *)net_ctx_first(ctx); /* adopt links the new connection first */
    if (h->n && c->state == CONN_HTTP) http_on_data(c, h->p, h->n);
    /* Records its TLS session had decrypted but not yet handed up come now. */
    if (c->state != CONN_DEAD) net_tls_resume(&c->net);
  }
  free(h);
}

static int hand_later(wsio_conn *c, unsigned to, const void *p, size_t n) {
  core_threads *t = c->app->xt;
  if (t->nlater == t->later_cap) {
    size_t cap = grow_cap(t->later_cap, t->nlater + 1, 8, SIZE_MAX / sizeof(struct later));
    struct later *v = cap ? realloc(t->later, cap * sizeof(*v)) : NULL;
    if (!v) return WSIO_ENOMEM;
    t->later = v;
    t->later_cap = cap;
  }
  uint8_t *copy = n ? malloc(n) : NULL;
  if (n && !copy) return WSIO_ENOMEM;
  if (n) memcpy(copy, p, n);
  t->later[t->nlater++] = (struct later){c, to, n, copy};
  /* What the connection brings meanwhile (the rest of a request decrypted from the
   * same read) is kept for the owner, never served here. */
  c->state = CONN_MOVING;
  /* This iteration's post phase sends its bytes; the next one, right after (the
   * wake-up), hands it over. Bytes the kernel refused wake the loop by EPOLLOUT. */
  loop_wakeup(c->app->loop);
  return 0;
}

void threads_keep(wsio_conn *c, const uint8_t *p, size_t n) {
  core_threads *t = c->app->xt;
  for (size_t i = 0; i < t->nlater; i++) {
    struct later *l = &t->later[i];
    if (l->c != c) continue;
    uint8_t *q = realloc(l->p, l->n + n);
    if (!q) {
      conn_kill(c);
      return;
    }
    memcpy(q + l->n, p, n);
    l->p = q;
    l->n += n;
    return;
  }
}

void threads_forget(wsio_conn *c) {
  core_threads *t = c->app->xt;
  if (c->xt_counted && t) {
    /* Closed, or handed to another thread (which counts it from then on): see
     * "listening". */
    t->closed++;
    atomic_store_explicit(&c->app->group->accepts[c->app->tindex].n, t->accepted - t->closed, memory_order_relaxed);
  }
  for (size_t i = 0; t && i < t->nlater; i++) {
    if (t->later[i].c != c) continue;
    free(t->later[i].p);
    t->later[i] = t->later[--t->nlater];
    return;
  }
}

int threads_handoff(wsio_conn *c, unsigned to, const void *p, size_t n) {
  wsio_app *app = c->app;
  if (net_buffered(&c->net) && !(c->net.flags & (NET_F_CLOSED | NET_F_FAILED)))
    return hand_later(c, to, p, n); /* its client waits for the answer: it sends nothing more */
  handoff *h = malloc(sizeof(*h) + n);
  if (!h) return WSIO_ENOMEM;
  struct ssl_st *tls = NULL;
  int fd = net_detach(&c->net, &tls); /* first: the owner must be the only one watching it */
  if (fd < 0) {
    free(h);
    return WSIO_EINVAL;
  }
  h->to = app->group->apps[to];
  h->tls = tls;
  h->fd = fd;
  h->n = n;
  if (n) memcpy(h->p, p, n);
  if (loop_post(h->to->loop, handoff_adopt, h) < 0) {
    close(fd);
    net_tls_session_free(tls);
    free(h);
  }
  app->st.handoffs_total++;
  conn_kill(c); /* its descriptor is gone already: nothing is closed twice */
  return 0;
}

/* ---- topics: a publish reaches the subscribers of every thread ---------------------- */

/* Payload: opcode (1 byte), topic length (2 bytes), topic, message. */
int threads_publish(wsio_app *app, const char *topic, const void *data, size_t len, wsio_opcode op) {
  size_t tl = strlen(topic);
  if (tl > UINT16_MAX) return WSIO_EINVAL;
  uint8_t h[3 + 256];
  h[0] = (uint8_t)op;
  h[1] = (uint8_t)(tl >> 8);
  h[2] = (uint8_t)tl;
  if (tl <= 256) {
    memcpy(h + 3, topic, tl);
    int r = 0;
    /* Two pieces: the header with the topic, then the message (no join). */
    for (unsigned i = 0; i < app->group->n && r == 0; i++)
      if (i != app->tindex) r = xt_put(app->xt, i, CORE_XT_TOPIC, h, 3 + tl, data, len);
    return r;
  }
  uint8_t *m = malloc(3 + tl + len);
  if (!m) return WSIO_ENOMEM;
  memcpy(m, h, 3);
  memcpy(m + 3, topic, tl);
  if (len) memcpy(m + 3 + tl, data, len);
  int r = core_xt_send(app, CORE_XT_ALL, CORE_XT_TOPIC, m, 3 + tl + len, NULL, 0);
  free(m);
  return r;
}

static void xt_topic(void *arg, unsigned from, const uint8_t *p, size_t n) {
  (void)from;
  wsio_app *app = arg;
  if (n < 3) return;
  size_t tl = (size_t)p[1] << 8 | p[2];
  if (tl > n - 3) return;
  char small[256];
  char *name = tl < sizeof(small) ? small : malloc(tl + 1); /* the topic API takes a C string */
  if (!name) return;
  memcpy(name, p + 3, tl);
  name[tl] = '\0';
  pubsub_publish_local(app, name, p + 3 + tl, n - 3 - tl, (wsio_opcode)p[0], 0);
  if (name != small) free(name);
}

/* ---- statistics --------------------------------------------------------------------- */

/* Another thread's counters are read as they stand: each is a naturally aligned
 * 64-bit word its owner alone writes, so a read sees an old or a new value, never a
 * torn one, on every target we build for; the sum is at most an iteration old. */
static void stats_add(wsio_stats *sum, const wsio_stats *s) {
  const size_t nu = offsetof(wsio_stats, loop_lag_sum_seconds) / sizeof(uint64_t);
  uint64_t *d = (uint64_t *)sum;
  const volatile uint64_t *v = (const volatile uint64_t *)s;
  for (size_t i = 0; i < nu; i++) d[i] += v[i];
  sum->loop_lag_sum_seconds += *(const volatile double *)&s->loop_lag_sum_seconds;
  size_t a = (offsetof(wsio_stats, loop_lag_sum_seconds) + sizeof(double)) / sizeof(uint64_t);
  for (size_t i = a; i < sizeof(wsio_stats) / sizeof(uint64_t); i++) d[i] += v[i];
}

uint64_t threads_ws_open(const wsio_app *app) {
  if (!app->group) return app->st.connections_open;
  uint64_t n = 0;
  for (unsigned i = 0; i < app->group->n; i++)
    if (app->group->apps[i]) n += *(const volatile uint64_t *)&app->group->apps[i]->st.connections_open;
  return n;
}

void wsio_app_stats_sum(const wsio_app *app, wsio_stats *out) {
  if (!out) return;
  if (!app || !app->group) {
    wsio_app_stats(app, out);
    return;
  }
  memset(out, 0, sizeof(*out));
  for (unsigned i = 0; i < app->group->n; i++) {
    const wsio_app *m = app->group->apps[i];
    if (!m) continue;
    stats_add(out, &m->st);
    out->tls_handshake_failures_total += net_ctx_tls_failures(m->net);
  }
}

/* ---- running a group ---------------------------------------------------------------- */

typedef struct {
  wsio_app *app;
  int rc;
  int err;
} thread_run;

static void *thread_main(void *arg) {
  thread_run *r = arg;
  r->rc = wsio_app_run(r->app);
  r->err = errno;
  /* Whatever ended this run, the others must not keep serving without it. */
  threads_stop_peers(r->app);
  return NULL;
}

int wsio_threads_run(wsio_app *const *apps, unsigned n) {
  if (!apps || !n || n > CORE_MAX_THREADS) return WSIO_EINVAL;
  if (n == 1) return wsio_app_run(apps[0]);
  pthread_t tid[CORE_MAX_THREADS];
  thread_run runs[CORE_MAX_THREADS];
  unsigned started = 1;
  int rc = 0;
  for (unsigned i = 1; i < n; i++) {
    runs[i] = (thread_run){apps[i], 0, 0};
    if (pthread_create(&tid[i], NULL, thread_main, &runs[i]) != 0) {
      rc = WSIO_ESYS;
      break;
    }
    started++;
  }
  if (rc == 0) {
    rc = wsio_app_run(apps[0]);
  }
  int e = errno;
  threads_stop_peers(apps[0]);
  for (unsigned i = 1; i < started; i++) {
    pthread_join(tid[i], NULL);
    if (rc == 0 && runs[i].rc < 0) {
      rc = runs[i].rc;
      e = runs[i].err;
    }
  }
  errno = e;
  return rc;
}
