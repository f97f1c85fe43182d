/* tests/unit/test_alloc_fail.c — allocation failures across a whole Socket.IO session.
 *
 * This test is linked with -Wl,--wrap for malloc, calloc, realloc, strdup and strndup
 * (CMakeLists.txt), so every allocation the library makes goes through the counting
 * wrappers below; the N-th one fails when fail_at = N. (Allocations inside other
 * libraries, jansson and zlib, are theirs: not counted.)
 *
 * One scripted session, over socketpairs adopted by the net layer as accepted
 * connections (as fuzz/fuzz_server.c does) on a fake clock: a WebSocket client and a
 * long-polling client (a new connection per request, as Node's client does) do the
 * Engine.IO handshake, connect to "/", join a room with an ack, one emits to the room
 * (both receive it) with an ack, the server emits to it with an ack it answers; then
 * (connection state recovery on) the WebSocket client drops without a close, the
 * polling one says something to the room, the first comes back with its pid and last
 * offset and gets the event it missed; then both disconnect. A first run without
 * failures checks that the script does all of that and counts its allocations; then
 * each N from 1 to that count (and a few past it) runs in a forked child with the N-th
 * allocation failing, then with every allocation from the N-th on failing (memory
 * gone for the rest of the session). Each child must:
 *   - not crash (ASan/UBSan in the sanitizer build: a report aborts the child);
 *   - free everything once the app is destroyed (LeakSanitizer at the child's exit,
 *     sanitizer build);
 *   - keep serving: after the failed session, a new WebSocket client still gets its
 *     Engine.IO handshake and Socket.IO connect answered (a failure closes one
 *     connection or fails one call, never the server).
 * ALLOC_FAIL_MAX bounds the sweep (default: every N); ALLOC_FAIL_ONLY=N runs one N in
 * this process (for a debugger; ALLOC_FAIL_AFTER=1: from N on); ALLOC_FAIL_SELFTEST_LEAK=1 leaks in the child of N=3,
 * which the sanitizer build must then report (the check checked). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/conn.h"
#include "loop/loop.h"
#include "net/net.h"
#include "test.h"
#include "wsio.h"
#include "wsio/sio.h"

/* ---- the failing allocator ------------------------------------------------------- */

static long alloc_calls; /* counted since the last reset */
static long fail_at;     /* 0: none fails */
static int fail_after;   /* 1: every allocation from the fail_at-th on fails (memory gone) */

static int should_fail(void) {
  ++alloc_calls;
  return fail_at && (alloc_calls == fail_at || (fail_after && alloc_calls > fail_at));
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t c, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t c, size_t n) { return should_fail() ? NULL : __real_calloc(c, n); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return should_fail() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return should_fail() ? NULL : __real_strndup(s, n); }

/* ---- the server: Socket.IO on "/" with a room, acks and a broadcast ------------------ */

static void on_join(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)a, (void)u;
  wsio_sio_socket_join(s, "r");
  wsio_sio_ack_send(ack, "[\"joined\"]", 0, NULL, 0);
}

static void on_answer(wsio_sio_socket *s, const wsio_sio_args *a, int err, void *u) { (void)s, (void)a, (void)err, (void)u; }

static void on_say(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)a, (void)u;
  const char *rooms[] = {"r"};
  wsio_sio_target t = {.nsp = wsio_sio_socket_nsp(s), .rooms = rooms, .nrooms = 1};
  wsio_sio_broadcast(&t, "said", "[\"hi\"]", 0, NULL, 0);
  wsio_sio_emit_with_ack(s, "q", "[1]", 0, NULL, 0, 5000, on_answer, NULL);
  wsio_sio_ack_send(ack, "[\"said\"]", 0, NULL, 0);
}

/* ---- clients --------------------------------------------------------------------- */

typedef struct {
  int fd;
  char in[16384];
  size_t n;
} cli;

static uint64_t now_ms;

static void cli_open(wsio_app *app, cli *c) {
  int sv[2];
  c->fd = -1;
  c->n = 0;
  c->in[0] = 0;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return;
  if (net_adopt(app->net, sv[1], NULL) < 0) { /* refused (out of memory): closed */
    close(sv[0]);
    return;
  }
  c->fd = sv[0];
}

static void cli_close(cli *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

static void cli_read(cli *c) {
  for (;;) {
    if (c->fd < 0) return;
    char tmp[4096];
    ssize_t r = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
    if (r <= 0) return;
    size_t k = (size_t)r < sizeof(c->in) - 1 - c->n ? (size_t)r : sizeof(c->in) - 1 - c->n;
    /* Frames hold NUL-free text here; the WebSocket header bytes may be anything. */
    for (size_t i = 0; i < k; i++) c->in[c->n + i] = tmp[i] ? tmp[i] : '.';
    c->n += k;
    c->in[c->n] = 0;
  }
}

/* Runs the loop until it has nothing more to do (bounded), reading the clients. */
static void pump(wsio_app *app, cli *cs, int ncs) {
  for (int i = 0; i < 16; i++) {
    for (int k = 0; k < ncs; k++) cli_read(&cs[k]);
    if (loop_run_once(app->loop) <= 0 && i > 2) break;
  }
  for (int k = 0; k < ncs; k++) cli_read(&cs[k]);
}

static void cli_send(cli *c, const char *p, size_t n) {
  if (c->fd < 0) return;
  ssize_t r = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)r;
}

/* A masked text frame (mask key 0: the payload travels as is). */
static void ws_text(cli *c, const char *s) {
  char f[256];
  size_t n = strlen(s);
  f[0] = (char)0x81;
  f[1] = (char)(0x80 | n);
  memset(f + 2, 0, 4);
  memcpy(f + 6, s, n);
  cli_send(c, f, n + 6);
}

static void ws_upgrade(cli *c) {
  static const char req[] = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: t\r\n"
                            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  cli_send(c, req, sizeof(req) - 1);
}

/* One polling request on a new connection: GET (body NULL) or POST. */
static void poll_req(wsio_app *app, cli *c, const char *sid, const char *body) {
  char req[512];
  int n = body ? snprintf(req, sizeof(req),
                          "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: t\r\n"
                          "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                          sid, strlen(body), body)
               : snprintf(req, sizeof(req),
                          "GET /socket.io/?EIO=4&transport=polling%s%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                          *sid ? "&sid=" : "", sid);
  cli_open(app, c);
  cli_send(c, req, (size_t)n);
}

static void find_sid(const char *in, char *sid, size_t cap) {
  const char *p = strstr(in, "0{\"sid\":\"");
  if (!p) return;
  p += 9;
  const char *e = strchr(p, '"');
  if (e && (size_t)(e - p) < cap) {
    memcpy(sid, p, (size_t)(e - p));
    sid[e - p] = 0;
  }
}

/* The value after key (up to the next quote). */
static void find_value(const char *in, const char *key, char *out, size_t cap) {
  const char *p = strstr(in, key);
  if (!p) return;
  p += strlen(key);
  const char *e = strchr(p, '"');
  if (e && (size_t)(e - p) < cap) {
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
  }
}

/* The offset recovery appends to the last "said" event received. */
static void find_last_offset(const char *in, char *out, size_t cap) {
  static const char key[] = "\"said\",\"hi\",\"";
  for (const char *p = in; (p = strstr(p, key)); p++) find_value(p, key, out, cap);
}

typedef struct {
  char ws[2 * 16384]; /* everything the WebSocket clients read (before and after the drop) */
  char poll[16384]; /* everything the polling client's requests read, joined */
  int setup_ok;     /* the app and its Socket.IO server were created */
  int serves_after; /* a new client was served after the session */
} result;

static void keep(char *dst, const cli *c) {
  size_t l = strlen(dst);
  snprintf(dst + l, 16384 - l, "%s|", c->in);
}

static void advance(wsio_app *app, cli *cs, int ncs, uint64_t ms) {
  now_ms += ms;
  loop_fake_time(app->loop, now_ms);
  pump(app, cs, ncs);
}

/* The whole session. Runs with whatever fail_at says; never asserts by itself. */
static void session(result *res) {
  memset(res, 0, sizeof(*res));
  wsio_app_options o;
  wsio_app_options_init(&o);
  o.io_uring = 0;
  o.handle_signals = 0;
  wsio_app *app = wsio_app_create(&o);
  if (!app) return;
  now_ms = 1000000;
  loop_fake_time(app->loop, now_ms);
  wsio_sio_options so;
  wsio_sio_options_init(&so);
  so.recovery = 1; /* connection state recovery: events logged, a dropped client restored */
  wsio_sio *io = wsio_sio_attach(app, &so);
  wsio_sio_nsp *nsp = io ? wsio_sio_of(io, "/") : NULL;
  if (!nsp || wsio_sio_nsp_on(nsp, "join", on_join, NULL) < 0 || wsio_sio_nsp_on(nsp, "say", on_say, NULL) < 0) {
    wsio_app_destroy(app);
    return;
  }
  res->setup_ok = 1;
  loop_timer_start(app->loop, &app->sweep, app->sweep_ms, app->sweep_ms);

  cli c[2]; /* [0] WebSocket, [1] the current polling request */
  char sid[64] = "";
  cli_open(app, &c[0]);
  c[1].fd = -1;
  ws_upgrade(&c[0]);
  pump(app, c, 1);
  ws_text(&c[0], "40");
  pump(app, c, 1);

  poll_req(app, &c[1], "", NULL); /* the polling handshake */
  pump(app, c, 2);
  find_sid(c[1].in, sid, sizeof(sid));
  keep(res->poll, &c[1]);
  cli_close(&c[1]);
  const char *posts[] = {"40", "421[\"join\",\"r\"]"};
  for (int i = 0; i < 2; i++) {
    poll_req(app, &c[1], sid, posts[i]);
    pump(app, c, 2);
    keep(res->poll, &c[1]);
    cli_close(&c[1]);
    poll_req(app, &c[1], sid, NULL);
    pump(app, c, 2);
    keep(res->poll, &c[1]);
    cli_close(&c[1]);
  }

  ws_text(&c[0], "421[\"join\",\"r\"]");
  pump(app, c, 1);
  poll_req(app, &c[1], sid, NULL); /* held until the broadcast */
  pump(app, c, 2);
  ws_text(&c[0], "422[\"say\",\"hi\"]");
  pump(app, c, 2);
  keep(res->poll, &c[1]);
  cli_close(&c[1]);
  ws_text(&c[0], "430[\"answer\"]");
  pump(app, c, 1);

  /* The WebSocket client drops without a close (its session is kept for recovery), the
   * polling one says something to the room meanwhile, then the first comes back with
   * its pid and last offset and gets what it missed. */
  char pid[64] = "", off[64] = "";
  find_value(c[0].in, "\"pid\":\"", pid, sizeof(pid));
  find_last_offset(c[0].in, off, sizeof(off));
  snprintf(res->ws, sizeof(res->ws), "%s|", c[0].in);
  cli_close(&c[0]);
  pump(app, c, 1);
  poll_req(app, &c[1], sid, "423[\"say\",\"hi\"]");
  pump(app, c, 2);
  cli_close(&c[1]);
  poll_req(app, &c[1], sid, NULL);
  pump(app, c, 2);
  keep(res->poll, &c[1]);
  cli_close(&c[1]);
  cli_open(app, &c[0]);
  ws_upgrade(&c[0]);
  pump(app, c, 1);
  char conn[256];
  snprintf(conn, sizeof(conn), "40{\"pid\":\"%s\",\"offset\":\"%s\"}", pid, off);
  ws_text(&c[0], conn);
  pump(app, c, 1);

  poll_req(app, &c[1], sid, "41"); /* disconnect, both */
  pump(app, c, 2);
  cli_close(&c[1]);
  ws_text(&c[0], "41");
  pump(app, c, 1);
  size_t wl = strlen(res->ws);
  snprintf(res->ws + wl, sizeof(res->ws) - wl, "%s", c[0].in);
  cli_send(&c[0], "\x88\x82\0\0\0\0\x03\xe8", 8); /* close 1000 */
  pump(app, c, 1);
  cli_close(&c[0]);
  /* Heartbeats, lingers and timeouts run out. */
  for (int i = 0; i < 4; i++) advance(app, c, 0, 30000);

  /* Still serving: a new client's handshake and connect, with no failure left. */
  fail_at = 0;
  fail_after = 0;
  cli d;
  cli_open(app, &d);
  ws_upgrade(&d);
  pump(app, &d, 1);
  ws_text(&d, "40");
  pump(app, &d, 1);
  res->serves_after = strstr(d.in, "0{\"sid\"") && strstr(d.in, "40{\"sid\"");
  cli_close(&d);
  advance(app, &d, 0, 30000);
  wsio_app_destroy(app);
}

/* ---- tests ----------------------------------------------------------------------- */

static long total; /* allocations of the session without failures */

static void test_session_without_failures(void) {
  static result r;
  fail_at = 0;
  alloc_calls = 0;
  session(&r);
  total = alloc_calls;
  CHECK(r.setup_ok);
  CHECK(strstr(r.ws, "40{\"sid\"") != NULL);         /* connected */
  CHECK(strstr(r.ws, "431[\"joined\"]") != NULL);    /* join acked */
  CHECK(strstr(r.ws, "42[\"said\",\"hi\",\"") != NULL); /* the room broadcast (+ offset) */
  const char *back = strchr(r.ws, '|'); /* what the client read after it came back */
  CHECK(back && strstr(back, "42[\"said\",\"hi\",\"") != NULL); /* missed while away: replayed */
  CHECK(back && strstr(back, "40{\"sid\"") != NULL);
  CHECK(strstr(r.ws, "432[\"said\"]") != NULL);      /* say acked */
  CHECK(strstr(r.ws, "420[\"q\",1") != NULL);       /* the server's emit with ack */
  CHECK(strstr(r.poll, "40{\"sid\"") != NULL);
  CHECK(strstr(r.poll, "431[\"joined\"]") != NULL);
  CHECK(strstr(r.poll, "42[\"said\",\"hi\",\"") != NULL);
  CHECK(strstr(r.poll, "433[\"said\"]") != NULL); /* its own say acked */
  CHECK(r.serves_after);
  CHECK(total > 50);
  printf("  the session makes %ld allocations\n", total);
}

/* Child exit codes: 0 fine, 3 the server stopped serving; a sanitizer report makes
 * it non-zero too (LeakSanitizer: 23), a crash a signal. */
static int run_one(long n, int after) {
  static result r;
  fail_at = n;
  fail_after = after;
  alloc_calls = 0;
  session(&r);
  if (getenv("ALLOC_FAIL_SELFTEST_LEAK") && n == 3) { void *volatile leak = malloc(100); (void)leak; }
  if (r.setup_ok && !r.serves_after) return 3;
  return 0;
}

static void sweep(int after) {
  if (!total) return;
  long max = total + 5; /* a few past the end: the run must then be unaffected */
  const char *env = getenv("ALLOC_FAIL_MAX");
  if (env && atol(env) > 0 && atol(env) < max) max = atol(env);
  int bad = 0;
  for (long n = 1; n <= max && bad < 10; n++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      CHECK(pid >= 0);
      return;
    }
    if (pid == 0) exit(run_one(n, after));
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) continue;
    bad++;
    const char *what = after ? "allocations from" : "allocation";
    if (WIFSIGNALED(st)) fprintf(stderr, "  %s %ld failing: the child died of signal %d\n", what, n, WTERMSIG(st));
    else fprintf(stderr, "  %s %ld failing: exit %d (3: the server stopped serving; else a sanitizer report)\n", what, n, WEXITSTATUS(st));
  }
  CHECK(bad == 0);
  printf("  %ld sessions, each with %s failing: %s\n", max, after ? "every allocation from the N-th on" : "the N-th allocation",
         bad ? "FAILURES" : "all clean");
}

static void test_each_allocation_fails_cleanly(void) { sweep(0); }
static void test_memory_gone_midway_fails_cleanly(void) { sweep(1); }

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const char *only = getenv("ALLOC_FAIL_ONLY");
  if (only) {
    int rc = run_one(atol(only), getenv("ALLOC_FAIL_AFTER") != NULL);
    printf("allocation %s failing: %s\n", only, rc ? "the server stopped serving" : "clean");
    return rc;
  }
  RUN(test_session_without_failures);
  RUN(test_each_allocation_fails_cleanly);
  RUN(test_memory_gone_midway_fails_cleanly);
  return test_report();
}
