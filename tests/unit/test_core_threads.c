/* core/threads.c: joining a group, cross-thread messages (in order, all of one
 * iteration in one post to the peer, never to the sender itself), the shared port,
 * summed statistics, and a stop of one member reaching the others. No thread is
 * started: each loop is driven by hand (loop_run_once, loop_post_drain), which is what
 * the threads do. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/threads.h"
#include "net/net.h"
#include "test.h"
#include "wsio.h"

typedef struct {
  char got[256];
  size_t len;
  unsigned calls, from;
} sink;

static void on_msg(void *arg, unsigned from, const uint8_t *p, size_t n) {
  sink *s = arg;
  s->calls++;
  s->from = from;
  if (s->len + n + 1 < sizeof(s->got)) {
    memcpy(s->got + s->len, p, n);
    s->len += n;
    s->got[s->len++] = '|';
  }
}

static wsio_app *make(int signals) {
  wsio_app_options o;
  wsio_app_options_init(&o);
  o.handle_signals = signals;
  return wsio_app_create(&o);
}

static void test_join_rules(void) {
  wsio_app *a = make(1), *b = make(0), *c = make(0);
  CHECK_EQ_INT(wsio_app_thread_count(a), 1);
  CHECK_EQ_INT(wsio_app_join(b, a), 0);
  CHECK_EQ_INT(wsio_app_join(b, a), WSIO_EINVAL);  /* already grouped */
  CHECK_EQ_INT(wsio_app_join(c, b), WSIO_EINVAL);  /* b is not the first */
  CHECK_EQ_INT(wsio_app_listen(c, "127.0.0.1", 0), 0);
  CHECK_EQ_INT(wsio_app_join(c, a), WSIO_EINVAL);  /* listening already */
  CHECK_EQ_INT(wsio_app_thread_count(a), 2);
  CHECK_EQ_INT(wsio_app_thread_index(b), 1);
  CHECK(wsio_app_thread_peer(b, 0) == a);
  CHECK(wsio_app_thread_peer(a, 1) == b);
  CHECK(wsio_app_thread_peer(a, 2) == NULL);
  wsio_app_destroy(a);
  wsio_app_destroy(b);
  wsio_app_destroy(c);
}

static void test_messages_batched_in_order(void) {
  wsio_app *a = make(0), *b = make(0);
  CHECK_EQ_INT(wsio_app_join(b, a), 0);
  sink sa = {0}, sb = {0};
  CHECK_EQ_INT(core_xt_handler(a, CORE_XT_SIO, on_msg, &sa), 0);
  CHECK_EQ_INT(core_xt_handler(b, CORE_XT_SIO, on_msg, &sb), 0);
  CHECK_EQ_INT(core_xt_send(a, CORE_XT_ALL, CORE_XT_SIO, "one", 3, NULL, 0), 0);
  CHECK_EQ_INT(core_xt_send(a, 1, CORE_XT_SIO, "tw", 2, "o", 1), 0);
  CHECK_EQ_INT(core_xt_send(a, CORE_XT_ALL, CORE_XT_SIO, "three", 5, NULL, 0), 0);
  CHECK_EQ_INT(core_xt_send(a, 0, CORE_XT_SIO, "self", 4, NULL, 0), WSIO_EINVAL);
  /* Nothing crosses before the sender's post phase. */
  CHECK_EQ_INT(loop_post_drain(core_loop(b)), 0);
  threads_flush(a); /* what a's post phase does */
  /* One post for the whole iteration, delivering every message in order. */
  CHECK_EQ_INT(loop_post_drain(core_loop(b)), 1);
  CHECK_EQ_INT(sb.calls, 3);
  CHECK_EQ_INT(sb.from, 0);
  CHECK(sb.len == 14 && memcmp(sb.got, "one|two|three|", 14) == 0);
  CHECK_EQ_INT(sa.calls, 0); /* a sender never gets its own messages */
  threads_flush(a);          /* an empty iteration posts nothing */
  CHECK_EQ_INT(loop_post_drain(core_loop(b)), 0);
  wsio_app_destroy(a);
  wsio_app_destroy(b);
}

static void test_alone_is_a_noop(void) {
  wsio_app *a = make(0);
  CHECK_EQ_INT(core_xt_send(a, CORE_XT_ALL, CORE_XT_SIO, "x", 1, NULL, 0), 0);
  CHECK_EQ_INT(core_thread_count(a), 1);
  wsio_app_destroy(a);
}

static void test_shared_port_and_stats(void) {
  wsio_app *a = make(0), *b = make(0);
  CHECK_EQ_INT(wsio_app_join(b, a), 0);
  CHECK_EQ_INT(wsio_app_listen(a, "127.0.0.1", 0), 0);
  CHECK_EQ_INT(wsio_app_listen(b, "127.0.0.1", 0), 0); /* port 0: the first's port */
  CHECK(wsio_app_port(a) > 0);
  CHECK_EQ_INT(wsio_app_port(b), wsio_app_port(a));
  a->st.messages_in_total = 3;
  b->st.messages_in_total = 4;
  b->st.loop_lag_sum_seconds = 0.5;
  b->st.handoffs_total = 2;
  wsio_stats s;
  wsio_app_stats_sum(b, &s);
  CHECK_EQ_INT(s.messages_in_total, 7);
  CHECK_EQ_INT(s.handoffs_total, 2);
  CHECK(s.loop_lag_sum_seconds == 0.5);
  wsio_app_destroy(a);
  wsio_app_destroy(b);
}

static void test_stop_reaches_every_member(void) {
  wsio_app *a = make(0), *b = make(0);
  CHECK_EQ_INT(wsio_app_join(b, a), 0);
  CHECK_EQ_INT(wsio_app_listen(a, "127.0.0.1", 0), 0);
  CHECK_EQ_INT(wsio_app_listen(b, "127.0.0.1", 0), 0);
  wsio_app_stop(b);
  /* b's loop sees the request: it quiesces (takes no client message), asks a to stop
   * and sends a its stop mark, but closes nothing before a's mark is in (the stop
   * barrier: what a acknowledged must reach b's clients first). */
  (void)loop_run_once(core_loop(b));
  CHECK(core_quiescing(b));
  CHECK(!app_stopping(b));
  /* a quiesces too, sends its mark, and has b's: it stops. */
  (void)loop_run_once(core_loop(a));
  CHECK(core_quiescing(a));
  CHECK(app_stopping(a));
  /* b gets a's mark: it stops. */
  (void)loop_run_once(core_loop(b));
  CHECK(app_stopping(b));
  wsio_app_destroy(a);
  wsio_app_destroy(b);
}

static wsio_app *make_drain(unsigned drain_ms) {
  wsio_app_options o;
  wsio_app_options_init(&o);
  o.handle_signals = 0;
  o.shutdown_timeout_ms = drain_ms;
  return wsio_app_create(&o);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Drives b's loop alone (a never runs: its loop is stuck) until b begins its stop or
 * limit_ms pass; returns the milliseconds it took from the stop request. */
static uint64_t run_until_stopping(wsio_app *b, uint64_t limit_ms) {
  uint64_t t0 = now_ms();
  wsio_app_stop(b);
  (void)loop_run_once(core_loop(b));
  while (!app_stopping(b) && now_ms() - t0 < limit_ms) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    (void)loop_run_once(core_loop(b));
  }
  return now_ms() - t0;
}

/* A peer that never answers holds a member's stop no longer than the drain timeout
 * allows: with --drain-timeout 0.2 b stops on its own after about 200 ms (it waited a
 * fixed 1 s before, past the whole drain the operator allowed), and the drain that
 * follows gets what is left of the 200 ms, not another 200. */
static void test_stop_barrier_follows_drain_timeout(void) {
  wsio_app *a = make_drain(200), *b = make_drain(200);
  CHECK_EQ_INT(wsio_app_join(b, a), 0);
  CHECK_EQ_INT(wsio_app_listen(a, "127.0.0.1", 0), 0);
  CHECK_EQ_INT(wsio_app_listen(b, "127.0.0.1", 0), 0);
  uint64_t took = run_until_stopping(b, 3000);
  CHECK(app_stopping(b));
  CHECK(took >= 190);
  CHECK(took < 700); /* (slack for a loaded machine; the old fixed wait was 1000) */
  CHECK(threads_stop_left_ms(b) <= 10);
  wsio_app_destroy(a);
  wsio_app_destroy(b);
}

/* With a long drain timeout a peer that is slow (stuck past the old fixed 1 s) still
 * gets its stop mark, and with it what it acknowledged, through before b closes its
 * clients: b waits, then stops as soon as the mark arrives. */
static void test_stop_barrier_waits_for_a_slow_peer(void) {
  wsio_app *a = make_drain(5000), *b = make_drain(5000);
  CHECK_EQ_INT(wsio_app_join(b, a), 0);
  CHECK_EQ_INT(wsio_app_listen(a, "127.0.0.1", 0), 0);
  CHECK_EQ_INT(wsio_app_listen(b, "127.0.0.1", 0), 0);
  uint64_t took = run_until_stopping(b, 1300);
  CHECK(took >= 1300);
  CHECK(!app_stopping(b));
  CHECK(core_quiescing(b));
  (void)loop_run_once(core_loop(a)); /* a runs at last: its mark goes to b */
  CHECK(app_stopping(a));
  (void)loop_run_once(core_loop(b));
  CHECK(app_stopping(b));
  /* The drain gets the rest of the 5 s: the barrier's wait counted against it. */
  unsigned left = threads_stop_left_ms(b);
  CHECK(left < 5000 - 1200);
  CHECK(left > 1000);
  wsio_app_destroy(a);
  wsio_app_destroy(b);
}

/* A client that has sent the start of a request (the listeners defer the accept until
 * the first bytes). */
static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || write(fd, "GET / HTTP/1.1\r\n", 16) != 16) {
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

static size_t open_conns(wsio_app *app) { return net_ctx_count(app->net); }

/* Members joined to a, in the shared-socket accept mode (not the default: the mode is
 * read at the first join), each listening on a's port. NULL when another mode was
 * asked for from outside. */
static int make_shared_idle(wsio_app **m, unsigned n) {
  const char *asked = getenv("WSIO_THREADS_ACCEPT");
  if (asked && strcmp(asked, "shared") != 0) return 0; /* (another accept mode asked for) */
  setenv("WSIO_THREADS_ACCEPT", "shared", 1);
  for (unsigned i = 0; i < n; i++) m[i] = make(0);
  for (unsigned i = 1; i < n; i++) CHECK_EQ_INT(wsio_app_join(m[i], m[0]), 0);
  if (!asked) unsetenv("WSIO_THREADS_ACCEPT");
  for (unsigned i = 0; i < n; i++) CHECK_EQ_INT(wsio_app_listen(m[i], "127.0.0.1", 0), 0);
  for (unsigned i = 1; i < n; i++) CHECK_EQ_INT(wsio_app_port(m[i]), wsio_app_port(m[0]));
  return 1;
}

/* The same, each loop having run once (a first post phase). */
static int make_shared(wsio_app **m, unsigned n) {
  if (!make_shared_idle(m, n)) return 0;
  for (unsigned i = 0; i < n; i++) (void)loop_run_once(core_loop(m[i]));
  return 1;
}

static size_t open_sum(wsio_app **m, unsigned n) {
  size_t s = 0;
  for (unsigned i = 0; i < n; i++) s += open_conns(m[i]);
  return s;
}

/* Runs each member in turn (only the first `running` of them) until they hold want
 * connections together, or 2 s pass. */
static void run_turns(wsio_app **m, unsigned running, size_t want) {
  for (int i = 0; i < 200 && open_sum(m, running) < want; i++) {
    for (unsigned j = 0; j < running; j++) (void)loop_run_once(core_loop(m[j]));
    struct timespec ts = {0, 5 * 1000 * 1000};
    if (open_sum(m, running) < want) nanosleep(&ts, NULL);
  }
}

/* --threads, one listening socket (core/threads.c "listening"): the spread follows
 * what each thread holds, counted at each accept and close. A client that closes its
 * connections and opens as many again at once (wsio-bench between its warm-up and its
 * measured phase) while thread b cannot run yet: a has seen its own closes, b has not,
 * and looks busy with the 50 it no longer has. a takes a run of the slack and holds
 * (b has not changed since), and b takes its share when it runs. Without the hold a
 * took b's 50 and the slack (54; tests/threads/ws.test.js saw all of 30 subscribers
 * on one thread so, its files run side by side under ASan); the first balance (open
 * counts published in the post phase, a cap of 1.25x the mean, and a last watcher
 * that never stopped) let a take 88. */
static void test_shared_socket_reconnect_burst(void) {
  wsio_app *m[2];
  if (!make_shared(m, 2)) return;
  int port = wsio_app_port(m[0]);
  enum { N = 100 };
  int fds[N];
  for (int i = 0; i < N; i++) fds[i] = dial(port);
  run_turns(m, 2, N);
  CHECK_EQ_INT(open_sum(m, 2), N);
  CHECK(open_conns(m[0]) >= 35 && open_conns(m[0]) <= 65);
  struct timespec held = {0, 150 * 1000 * 1000}; /* (not young: see the next tests) */
  nanosleep(&held, NULL);
  for (int i = 0; i < N; i++)
    if (fds[i] >= 0) close(fds[i]);
  /* a alone runs: it sees its closes, and takes what it may of the new burst. */
  for (int i = 0; i < 100 && open_conns(m[0]) > 0; i++) {
    (void)loop_run_once(core_loop(m[0]));
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  CHECK_EQ_INT(open_conns(m[0]), 0);
  for (int i = 0; i < N; i++) fds[i] = dial(port);
  for (int i = 0; i < 40; i++) {
    (void)loop_run_once(core_loop(m[0]));
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  size_t a_took = open_conns(m[0]);
  CHECK(a_took >= 1 && a_took <= 8); /* (the slack, 2 each: 4, and one batch) */
  /* Both run: b sees its closes and takes the rest. */
  for (int i = 0; i < 200; i++) { /* (b's stale 50 count until it has run) */
    (void)loop_run_once(core_loop(m[1]));
    (void)loop_run_once(core_loop(m[0]));
    if (i >= 10 && open_sum(m, 2) == N) break;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  CHECK_EQ_INT(open_sum(m, 2), N);
  CHECK(open_conns(m[0]) >= 35 && open_conns(m[0]) <= 65);
  CHECK(open_conns(m[1]) >= 35 && open_conns(m[1]) <= 65);
  for (int i = 0; i < N; i++)
    if (fds[i] >= 0) close(fds[i]);
  wsio_app_destroy(m[1]);
  wsio_app_destroy(m[0]);
}

/* A burst that is queued before any loop has run (the threads just started on a
 * loaded machine, the clients faster): the first loop to wake takes its share plus
 * the slack, not the whole queue (its first batch used to be the default 64, before
 * any post phase had set it: all 20 on one thread, tests/threads/sio.test.js's SIGTERM
 * test failing under load). */
static void test_shared_socket_first_burst(void) {
  wsio_app *m[2];
  if (!make_shared_idle(m, 2)) return;
  int port = wsio_app_port(m[0]);
  enum { N = 20 };
  int fds[N];
  for (int i = 0; i < N; i++) fds[i] = dial(port);
  struct timespec ts = {0, 20 * 1000 * 1000}; /* (every request's first bytes are in) */
  nanosleep(&ts, NULL);
  for (int i = 0; i < 10; i++) (void)loop_run_once(core_loop(m[0]));
  size_t a_took = open_conns(m[0]);
  CHECK(a_took >= 1 && a_took <= 8);
  run_turns(m, 2, N);
  CHECK_EQ_INT(open_sum(m, 2), N);
  CHECK(open_conns(m[1]) >= N / 2 - 4);
  for (int i = 0; i < N; i++)
    if (fds[i] >= 0) close(fds[i]);
  wsio_app_destroy(m[1]);
  wsio_app_destroy(m[0]);
}

/* Connections that have closed (a handshake and a close, a request) are not counted: a
 * loop that is awake may take a run of short-lived ones without handing the socket
 * over, which is what saves the wake-ups (bench/README.md). */
static void test_shared_socket_forgives_short_lived(void) {
  wsio_app *m[2];
  if (!make_shared(m, 2)) return;
  int port = wsio_app_port(m[0]);
  enum { K = 3 }; /* (within the slack, 2 with no WebSocket open: 3 of at most 4) */
  for (int round = 0; round < 5; round++) {
    int fds[K];
    for (int i = 0; i < K; i++) fds[i] = dial(port);
    for (int i = 0; i < 20 && open_conns(m[0]) < K; i++) {
      (void)loop_run_once(core_loop(m[0]));
      struct timespec ts = {0, 2 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    CHECK_EQ_INT(open_conns(m[0]), K); /* (counted, the second round would find a over) */
    for (int i = 0; i < K; i++)
      if (fds[i] >= 0) close(fds[i]);
    for (int i = 0; i < 20 && open_conns(m[0]) > 0; i++) {
      (void)loop_run_once(core_loop(m[0]));
      struct timespec ts = {0, 2 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    CHECK_EQ_INT(open_conns(m[0]), 0);
  }
  CHECK_EQ_INT(open_conns(m[1]), 0);
  wsio_app_destroy(m[1]);
  wsio_app_destroy(m[0]);
}

/* Dials one connection and runs both members until one of them holds it: the index of
 * that one, -1 if none did within 2 s. */
static int dial_one(wsio_app **m, int port, int *fd) {
  size_t a = open_conns(m[0]), b = open_conns(m[1]);
  *fd = dial(port);
  run_turns(m, 2, a + b + 1);
  return open_conns(m[0]) > a ? 0 : open_conns(m[1]) > b ? 1 : -1;
}

/* Runs both members until they hold `want` connections together (closes seen), or 1 s. */
static void run_down(wsio_app **m, size_t want) {
  for (int i = 0; i < 200 && open_sum(m, 2) > want; i++) {
    (void)loop_run_once(core_loop(m[0]));
    (void)loop_run_once(core_loop(m[1]));
    struct timespec ts = {0, 5 * 1000 * 1000};
    if (open_sum(m, 2) > want) nanosleep(&ts, NULL);
  }
}

/* The spread follows what each thread holds now, not what it accepted since start
 * (tests/threads/ws.test.js under ASan: 40 echo clients, each open a few hundred ms,
 * closed, then 30 subscribers opened one at a time all went to one thread). First a's
 * connections close while b's stay: the next ones, opened one at a time, go to a until
 * the two hold about as many. Then every connection closes: the next ones split
 * within the slack (2 with no WebSocket open: a member stops 4 ahead of the other).
 * Balanced on accepts less the connections that closed within 100 ms, a still counted
 * the ones it had closed: it took 13 of the first run's 20 (13 against b's 28). */
static void test_shared_socket_balances_what_is_open(void) {
  wsio_app *m[2];
  if (!make_shared(m, 2)) return;
  int port = wsio_app_port(m[0]);
  enum { N = 40, M = 20 };
  int fds[N + 2 * M], who[N + 2 * M];
  for (int i = 0; i < N; i++) who[i] = dial_one(m, port, &fds[i]);
  CHECK_EQ_INT(open_sum(m, 2), N);
  size_t b_holds = open_conns(m[1]);
  CHECK(b_holds >= N / 2 - 4 && b_holds <= N / 2 + 4);
  struct timespec held = {0, 150 * 1000 * 1000}; /* (past 100 ms: not young) */
  nanosleep(&held, NULL);
  for (int i = 0; i < N; i++)
    if (who[i] == 0 && fds[i] >= 0) close(fds[i]);
  run_down(m, b_holds);
  CHECK_EQ_INT(open_conns(m[0]), 0);
  /* a holds none, b its ~20: a takes the next ones until it is 4 ahead. */
  for (int i = N; i < N + M; i++) who[i] = dial_one(m, port, &fds[i]);
  CHECK_EQ_INT(open_sum(m, 2), b_holds + M);
  size_t a = open_conns(m[0]), b = open_conns(m[1]);
  CHECK(a + 5 >= b && b + 5 >= a);
  nanosleep(&held, NULL);
  for (int i = 0; i < N + M; i++)
    if (fds[i] >= 0 && (i >= N || who[i] != 0)) close(fds[i]);
  run_down(m, 0);
  CHECK_EQ_INT(open_sum(m, 2), 0);
  /* Nothing open: the next ones, one at a time, split. */
  for (int i = N + M; i < N + 2 * M; i++) who[i] = dial_one(m, port, &fds[i]);
  CHECK_EQ_INT(open_sum(m, 2), M);
  a = open_conns(m[0]);
  b = open_conns(m[1]);
  CHECK(a >= M / 2 - 3 && b >= M / 2 - 3);
  for (int i = N + M; i < N + 2 * M; i++)
    if (fds[i] >= 0) close(fds[i]);
  wsio_app_destroy(m[1]);
  wsio_app_destroy(m[0]);
}

/* The CI failure as it was: every connection so far was a's and has closed (older than
 * 100 ms); the next ones, opened one at a time, split within the slack. (To put them
 * all on a, b starts watching only after them.) Balanced on accepts less the
 * connections that closed within 100 ms, a still counted the 40 and b took all 20. */
static void test_shared_socket_closed_do_not_count(void) {
  const char *asked = getenv("WSIO_THREADS_ACCEPT");
  if (asked && strcmp(asked, "shared") != 0) return;
  setenv("WSIO_THREADS_ACCEPT", "shared", 1);
  wsio_app *m[2] = {make(0), make(0)};
  CHECK_EQ_INT(wsio_app_join(m[1], m[0]), 0);
  if (!asked) unsetenv("WSIO_THREADS_ACCEPT");
  CHECK_EQ_INT(wsio_app_listen(m[0], "127.0.0.1", 0), 0);
  int port = wsio_app_port(m[0]);
  enum { N = 40, M = 20 };
  int fds[N + M];
  for (int i = 0; i < N; i++) {
    fds[i] = dial(port);
    run_turns(m, 1, (size_t)i + 1);
  }
  CHECK_EQ_INT(open_conns(m[0]), N);
  CHECK_EQ_INT(wsio_app_listen(m[1], "127.0.0.1", port), 0);
  struct timespec held = {0, 150 * 1000 * 1000}; /* (past 100 ms: not young) */
  nanosleep(&held, NULL);
  for (int i = 0; i < N; i++)
    if (fds[i] >= 0) close(fds[i]);
  run_down(m, 0);
  CHECK_EQ_INT(open_sum(m, 2), 0);
  for (int i = N; i < N + M; i++) (void)dial_one(m, port, &fds[i]);
  CHECK_EQ_INT(open_sum(m, 2), M);
  CHECK(open_conns(m[0]) >= M / 2 - 3 && open_conns(m[1]) >= M / 2 - 3);
  for (int i = N; i < N + M; i++)
    if (fds[i] >= 0) close(fds[i]);
  wsio_app_destroy(m[1]);
  wsio_app_destroy(m[0]);
}

/* Eight members, two of them busy (not running) while a burst arrives: the six that
 * run take their share plus the slack each and stop watching; the connections left
 * wait in the queue for the two, which take them when they run. Then a second burst
 * reaches all eight. No member is starved, none holds more than the mean plus the
 * slack (2 here: no WebSocket is open) and its last batch. */
static void test_shared_socket_many_threads(void) {
  enum { T = 8, N = 240 };
  wsio_app *m[T];
  if (!make_shared(m, T)) return;
  int port = wsio_app_port(m[0]);
  int fds[2 * N];
  for (int i = 0; i < N; i++) fds[i] = dial(port);
  /* Six take X at most with each at X / 8 + 2 or less: X <= 48, each <= 8. */
  run_turns(m, T - 2, N);
  for (unsigned i = 0; i < T - 2; i++) CHECK(open_conns(m[i]) <= 8);
  CHECK(open_sum(m, T - 2) <= 48);
  run_turns(m, T, N);
  CHECK_EQ_INT(open_sum(m, T), N);
  for (int i = N; i < 2 * N; i++) fds[i] = dial(port);
  run_turns(m, T, 2 * N);
  CHECK_EQ_INT(open_sum(m, T), 2 * N);
  for (unsigned i = 0; i < T; i++) {
    CHECK(open_conns(m[i]) >= 2 * N / T - 2 - 1);
    CHECK(open_conns(m[i]) <= 2 * N / T + 2 + 1);
  }
  for (int i = 0; i < 2 * N; i++)
    if (fds[i] >= 0) close(fds[i]);
  for (unsigned i = T; i-- > 0;) wsio_app_destroy(m[i]);
}

int main(void) {
  RUN(test_join_rules);
  RUN(test_messages_batched_in_order);
  RUN(test_alone_is_a_noop);
  RUN(test_stop_barrier_follows_drain_timeout);
  RUN(test_stop_barrier_waits_for_a_slow_peer);
  RUN(test_shared_port_and_stats);
  RUN(test_stop_reaches_every_member);
  RUN(test_shared_socket_reconnect_burst);
  RUN(test_shared_socket_first_burst);
  RUN(test_shared_socket_forgives_short_lived);
  RUN(test_shared_socket_balances_what_is_open);
  RUN(test_shared_socket_closed_do_not_count);
  RUN(test_shared_socket_many_threads);
  return test_report();
}
