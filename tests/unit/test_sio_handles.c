/* In-process integration test of the Socket.IO handles an application may keep past a
 * callback (include/wsio/sio.h), meant to run under ASan as well (build-asan/tests/):
 * an ack kept past its client's disconnection and answered later (WSIO_ECLOSED, no
 * use-after-free), an ack answered twice, placeholders without attachments, socket
 * refs, and asynchronous middleware (completed from a loop timer, never completed and
 * timed out, completed after the client left, invalid connect_error data).
 *
 * The app's loop runs in a pthread; the main thread is the client, speaking Engine.IO
 * v4 long-polling over plain HTTP on blocking 127.0.0.1 sockets (one connection per
 * request, bounded by receive timeouts). The server's handlers report what the API
 * returned in their ack answers, so the client reads every result off the wire. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "net_harness.h"
#include "test.h"
#include "wsio.h"

/* ---- the server side (runs on the loop thread) --------------------------------------- */

static wsio_sio_ack kept;    /* an ack kept past its event callback */
static int kept_set;
static wsio_sio_ref kept_ref; /* the socket that asked it */
static int late_next_result = 1, bad_data_result = 1, after_done_result = 1;

static void answer_ints(wsio_sio_ack ack, const int *v, size_t n) {
  char out[128];
  size_t o = 0;
  out[o++] = '[';
  for (size_t i = 0; i < n; i++) o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%d", i ? "," : "", v[i]);
  out[o++] = ']';
  out[o] = '\0';
  (void)wsio_sio_ack_send(ack, out, o, NULL, 0);
}

static void h_keep(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)a, (void)u;
  kept = ack; /* answered later, by another event */
  kept_set = 1;
  kept_ref = wsio_sio_socket_ref(s);
}

/* answer: answers the kept ack (twice) and reports [first, second, ref resolves]. */
static void h_answer(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)s, (void)ev, (void)a, (void)u;
  int r[3] = {1, 1, 0};
  if (kept_set) {
    r[0] = wsio_sio_ack_send(kept, "[\"kept\"]", 0, NULL, 0);
    r[1] = wsio_sio_ack_send(kept, "[\"again\"]", 0, NULL, 0);
    r[2] = wsio_sio_ref_socket(&kept_ref) != NULL;
  }
  answer_ints(ack, r, 3);
}

/* twice: answers its own ack, then reports the second answer's result through an event. */
static void h_twice(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)a, (void)u;
  int first = wsio_sio_ack_send(ack, "[\"first\"]", 0, NULL, 0);
  int second = wsio_sio_ack_send(ack, "[\"second\"]", 0, NULL, 0);
  char out[64];
  snprintf(out, sizeof(out), "[%d,%d]", first, second);
  (void)wsio_sio_emit(s, "twice-result", out, 0, NULL, 0);
}

/* addr: the peer address into the caller's buffer: [length, is loopback, result with
 * a 4-byte buffer (too small), result for NULL]. */
static void h_addr(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)a, (void)u;
  char buf[WSIO_ADDRSTRLEN], small[4];
  int n = wsio_sio_socket_remote_address(s, buf, sizeof(buf));
  int r[4] = {n, n > 0 && strcmp(buf, "127.0.0.1") == 0, wsio_sio_socket_remote_address(s, small, sizeof(small)),
              wsio_sio_socket_remote_address(NULL, buf, sizeof(buf))};
  answer_ints(ack, r, 4);
}

/* ph: placeholders naming no attachment must be refused, not sent. */
static void h_ph(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)a, (void)u;
  static const char ph[] = "[{\"_placeholder\":true,\"num\":0}]";
  static const char ph1[] = "[{\"_placeholder\":true,\"num\":1}]";
  static const wsio_span one = {(const uint8_t *)"x", 1};
  const char *room = wsio_sio_socket_id(s);
  wsio_sio_target t = {.nsp = wsio_sio_socket_nsp(s), .rooms = &room, .nrooms = 1};
  int r[5] = {
      wsio_sio_ack_send(ack, ph, 0, NULL, 0),
      wsio_sio_ack_send(ack, ph1, 0, &one, 1),
      wsio_sio_emit(s, "x", ph, 0, NULL, 0),
      wsio_sio_broadcast(&t, "x", ph, 0, NULL, 0),
      wsio_sio_emit(s, "x", "[\"_placeholder\"]", 0, NULL, 0), /* only the word: fine */
  };
  answer_ints(ack, r, 5);
}

/* ignore: keeps nothing but a copy of the first and the last ack (the app ignores
 * them); first-last: answers those two. */
static wsio_sio_ack first_ignored, last_ignored;
static int ignored;

static void h_ignore(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)s, (void)ev, (void)a, (void)u;
  if (!ignored++) first_ignored = ack;
  last_ignored = ack;
}

static void h_first_last(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)s, (void)ev, (void)a, (void)u;
  int r[2] = {wsio_sio_ack_send(first_ignored, NULL, 0, NULL, 0), wsio_sio_ack_send(last_ignored, NULL, 0, NULL, 0)};
  answer_ints(ack, r, 2);
}

static void h_report(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)s, (void)ev, (void)a, (void)u;
  int r[3] = {late_next_result, bad_data_result, after_done_result};
  answer_ints(ack, r, 3);
}

/* The reasons the root namespace's sockets disconnected with, in order (loop thread
 * only: written by the disconnect callback, read and cleared by "reasons"). */
static char reasons[512];

static void on_disc(wsio_sio_socket *s, const char *reason, void *u) {
  (void)s, (void)u;
  size_t n = strlen(reasons);
  snprintf(reasons + n, sizeof(reasons) - n, "%s%s", n ? "," : "", reason);
}

static void h_reasons(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)s, (void)ev, (void)a, (void)u;
  char out[600];
  int n = snprintf(out, sizeof(out), "[\"%s\"]", reasons);
  reasons[0] = '\0';
  (void)wsio_sio_ack_send(ack, out, (size_t)n, NULL, 0);
}

/* /slow's middleware: auth {"mode":"timer"} completes next() from a loop timer after
 * 50 ms, "never" never completes (the 200 ms middleware timeout refuses), "late"
 * completes after 300 ms (the client has left by then), "baddata" refuses with invalid
 * data first (must fail), then valid data; then completes once more (must fail). */
typedef struct {
  wsio_sio_pending next;
  int late;
} mw_timer;

static void mw_fire(wsio_timer *t, void *user) {
  mw_timer *m = user;
  int r = wsio_sio_next(m->next, NULL, NULL);
  if (m->late) late_next_result = r;
  free(m);
  wsio_timer_destroy(t);
}

static int auth_is(wsio_sio_socket *s, const char *mode) {
  char want[64];
  snprintf(want, sizeof(want), "\"mode\":\"%s\"", mode);
  return strstr(wsio_sio_socket_auth(s, NULL), want) != NULL;
}

static void mw_slow(wsio_sio_socket *s, wsio_sio_pending next, void *user) {
  wsio_app *app = user;
  if (auth_is(s, "never")) return;
  if (auth_is(s, "baddata")) {
    bad_data_result = wsio_sio_next(next, "bad", "{not json");
    (void)wsio_sio_next(next, "bad", "{\"ok\":1}");
    after_done_result = wsio_sio_next(next, NULL, NULL);
    return;
  }
  mw_timer *m = calloc(1, sizeof(*m));
  if (!m) return;
  m->next = next;
  m->late = auth_is(s, "late");
  wsio_timer *t = wsio_timer_create(app, mw_fire, m);
  if (!t || wsio_timer_start(t, m->late ? 300 : 50, 0) != 0) abort();
}

/* ---- the server thread ---------------------------------------------------------------- */

typedef struct {
  wsio_app *app;
  pthread_t th;
  atomic_int done;
  int port;
} server;

static void *server_main(void *arg) {
  server *s = arg;
  (void)wsio_app_run(s->app);
  atomic_store(&s->done, 1);
  return NULL;
}

static int server_start(server *sv) {
  memset(sv, 0, sizeof(*sv));
  wsio_app_options o;
  wsio_app_options_init(&o);
  o.handle_signals = 0;
  o.shutdown_timeout_ms = 500;
  sv->app = wsio_app_create(&o);
  if (!sv->app) return -1;
  wsio_sio_options so;
  wsio_sio_options_init(&so);
  so.eio.ping_interval_ms = 20000; /* no pings: a GET waits only for real packets */
  so.eio.ping_timeout_ms = 20000;
  so.middleware_timeout_ms = 200;
  wsio_sio *io = wsio_sio_attach(sv->app, &so);
  if (!io) return -1;
  wsio_sio_nsp *root = wsio_sio_of(io, "/");
  wsio_sio_nsp_on(root, "keep", h_keep, NULL);
  wsio_sio_nsp_on(root, "answer", h_answer, NULL);
  wsio_sio_nsp_on(root, "twice", h_twice, NULL);
  wsio_sio_nsp_on(root, "addr", h_addr, NULL);
  wsio_sio_nsp_on(root, "ph", h_ph, NULL);
  wsio_sio_nsp_on(root, "report", h_report, NULL);
  wsio_sio_nsp_on(root, "ignore", h_ignore, NULL);
  wsio_sio_nsp_on(root, "first-last", h_first_last, NULL);
  wsio_sio_nsp_on(root, "reasons", h_reasons, NULL);
  wsio_sio_nsp_on_disconnect(root, on_disc, NULL);
  wsio_sio_nsp *slow = wsio_sio_of(io, "/slow");
  CHECK_EQ_INT(wsio_sio_nsp_use(slow, mw_slow, sv->app), 0);
  CHECK_EQ_INT(wsio_sio_nsp_use(NULL, mw_slow, NULL), WSIO_EINVAL);
  if (wsio_app_listen(sv->app, "127.0.0.1", 0) != 0) return -1;
  sv->port = wsio_app_port(sv->app);
  return pthread_create(&sv->th, NULL, server_main, sv);
}

static void server_stop(server *sv) {
  wsio_app_stop(sv->app);
  for (int i = 0; i < 800 && !atomic_load(&sv->done); i++) usleep(10000);
  if (!atomic_load(&sv->done)) {
    fprintf(stderr, "wsio_app_run did not return\n");
    _exit(2);
  }
  pthread_join(sv->th, NULL);
  wsio_app_destroy(sv->app);
}

/* ---- the Engine.IO long-polling client ------------------------------------------------ */

static int port;

/* One HTTP request on its own connection; the body goes to out (NUL-terminated).
 * Returns the status, or -1. */
static int http(const char *method, const char *path, const char *body, char *out, size_t cap) {
  int fd = test_dial(port, 0, 3, 0);
  if (fd < 0) return -1;
  static char req[16384]; /* the client thread only */
  size_t blen = body ? strlen(body) : 0;
  int n = snprintf(req, sizeof(req),
                   "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                   "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n\r\n%s",
                   method, path, blen, body ? body : "");
  if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
    close(fd);
    return -1;
  }
  char buf[16384];
  size_t len = 0;
  long want = -1;
  char *body_at = NULL;
  for (;;) {
    ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
    buf[len] = '\0';
    if (!body_at && (body_at = strstr(buf, "\r\n\r\n"))) {
      body_at += 4;
      const char *cl = strcasestr(buf, "content-length:");
      if (cl) want = strtol(cl + 15, NULL, 10);
    }
    if (body_at && want >= 0 && (long)(len - (size_t)(body_at - buf)) >= want) break;
  }
  close(fd);
  if (!body_at) return -1;
  snprintf(out, cap, "%s", body_at);
  return (int)strtol(buf + 9, NULL, 10);
}

typedef struct {
  char sid[64];
  char inbox[16384]; /* packets received and not matched yet, \x1e-separated */
} eio_client;

static int eio_open(eio_client *c) {
  char body[2048];
  memset(c, 0, sizeof(*c));
  if (http("GET", "/socket.io/?EIO=4&transport=polling", NULL, body, sizeof(body)) != 200) return -1;
  const char *p = strstr(body, "\"sid\":\"");
  if (!p) return -1;
  p += 7;
  size_t n = strcspn(p, "\"");
  if (n >= sizeof(c->sid)) return -1;
  memcpy(c->sid, p, n);
  return 0;
}

static int eio_post(eio_client *c, const char *payload) {
  char path[256], body[256];
  snprintf(path, sizeof(path), "/socket.io/?EIO=4&transport=polling&sid=%s", c->sid);
  return http("POST", path, payload, body, sizeof(body)) == 200 ? 0 : -1;
}

/* Waits (a few long-polls at most) for a packet starting with prefix; copies it to out. */
static int eio_expect(eio_client *c, const char *prefix, char *out, size_t cap) {
  char path[256], body[8192];
  snprintf(path, sizeof(path), "/socket.io/?EIO=4&transport=polling&sid=%s", c->sid);
  for (int round = 0; round < 3; round++) {
    char *p = c->inbox;
    while (*p) {
      size_t n = strcspn(p, "\x1e");
      if (strncmp(p, prefix, strlen(prefix)) == 0) {
        snprintf(out, cap, "%.*s", (int)n, p);
        memmove(p, p + n + (p[n] ? 1 : 0), strlen(p + n + (p[n] ? 1 : 0)) + 1);
        return 0;
      }
      p += n + (p[n] ? 1 : 0);
    }
    if (http("GET", path, NULL, body, sizeof(body)) != 200) return -1;
    size_t il = strlen(c->inbox);
    snprintf(c->inbox + il, sizeof(c->inbox) - il, "%s%s", il ? "\x1e" : "", body);
  }
  return -1;
}

/* Opens a session and joins nsp ("/" or "/slow") with auth; returns 0 once connected,
 * 1 on CONNECT_ERROR (its packet in err), -1 on failure. */
static int sio_join(eio_client *c, const char *nsp, const char *auth, char *err, size_t cap) {
  if (eio_open(c) != 0) return -1;
  char pkt[512], got[1024];
  int root = strcmp(nsp, "/") == 0;
  snprintf(pkt, sizeof(pkt), "40%s%s%s", root ? "" : nsp, root ? "" : ",", auth ? auth : "");
  if (eio_post(c, pkt) != 0) return -1;
  char ok[64], bad[64];
  snprintf(ok, sizeof(ok), "40%s%s", root ? "" : nsp, root ? "" : ",");
  snprintf(bad, sizeof(bad), "44%s%s", root ? "" : nsp, root ? "" : ",");
  if (eio_expect(c, "4", got, sizeof(got)) != 0) return -1;
  if (strncmp(got, ok, strlen(ok)) == 0) return 0;
  if (strncmp(got, bad, strlen(bad)) == 0) {
    snprintf(err, cap, "%.*s", (int)(cap ? cap - 1 : 0), got);
    return 1;
  }
  return -1;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- tests ---------------------------------------------------------------------------- */

/* The defect: an ack kept past its client's disconnection and answered later read the
 * freed socket (ASan: heap-use-after-free in sio_socket_live). Now: WSIO_ECLOSED. */
static void test_ack_after_disconnect(void) {
  eio_client a, b;
  char got[1024], err[256];
  CHECK_EQ_INT(sio_join(&a, "/", NULL, err, sizeof(err)), 0);
  CHECK_EQ_INT(eio_post(&a, "421[\"keep\"]"), 0);
  CHECK_EQ_INT(eio_post(&a, "1"), 0); /* Engine.IO close: the socket is freed after this batch */
  usleep(100 * 1000);
  CHECK_EQ_INT(sio_join(&b, "/", NULL, err, sizeof(err)), 0);
  CHECK_EQ_INT(eio_post(&b, "427[\"answer\"]"), 0);
  CHECK_EQ_INT(eio_expect(&b, "437", got, sizeof(got)), 0);
  CHECK_STR(got, "437[-5,-5,0]"); /* WSIO_ECLOSED twice, the ref resolves to NULL */
  CHECK_EQ_INT(eio_post(&b, "1"), 0);
}

static void test_ack_answered_twice(void) {
  eio_client c;
  char got[1024], err[256];
  CHECK_EQ_INT(sio_join(&c, "/", NULL, err, sizeof(err)), 0);
  /* inside the callback: the second answer fails and is not sent */
  CHECK_EQ_INT(eio_post(&c, "422[\"twice\"]"), 0);
  CHECK_EQ_INT(eio_expect(&c, "432", got, sizeof(got)), 0);
  CHECK_STR(got, "432[\"first\"]");
  CHECK_EQ_INT(eio_expect(&c, "42[\"twice-result\"", got, sizeof(got)), 0);
  CHECK_STR(got, "42[\"twice-result\",0,-1]");
  /* kept past the callback and answered twice from another event */
  CHECK_EQ_INT(eio_post(&c, "423[\"keep\"]"), 0);
  CHECK_EQ_INT(eio_post(&c, "424[\"answer\"]"), 0);
  CHECK_EQ_INT(eio_expect(&c, "433", got, sizeof(got)), 0);
  CHECK_STR(got, "433[\"kept\"]");
  CHECK_EQ_INT(eio_expect(&c, "434", got, sizeof(got)), 0);
  CHECK_STR(got, "434[0,-1,1]");
  CHECK(strstr(c.inbox, "again") == NULL); /* the second answer was not sent */
  /* the peer address is written into the caller's buffer (no per-thread static) */
  CHECK_EQ_INT(eio_post(&c, "425[\"addr\"]"), 0);
  CHECK_EQ_INT(eio_expect(&c, "435", got, sizeof(got)), 0);
  CHECK_STR(got, "435[9,1,-7,-1]");
  CHECK_EQ_INT(eio_post(&c, "1"), 0);
}

static void test_placeholders_need_attachments(void) {
  eio_client c;
  char got[1024], err[256];
  CHECK_EQ_INT(sio_join(&c, "/", NULL, err, sizeof(err)), 0);
  CHECK_EQ_INT(eio_post(&c, "425[\"ph\"]"), 0);
  CHECK_EQ_INT(eio_expect(&c, "435", got, sizeof(got)), 0);
  CHECK_STR(got, "435[-1,-1,-1,-1,0]");
  CHECK_EQ_INT(eio_post(&c, "1"), 0);
}

/* Acks the application ignores are kept (a late answer must be checked) but bounded:
 * past 256 per socket the oldest is forgotten. */
static void test_ignored_acks_bounded(void) {
  eio_client c;
  char got[256], err[256];
  CHECK_EQ_INT(sio_join(&c, "/", NULL, err, sizeof(err)), 0);
  static char batch[300 * 24];
  size_t o = 0;
  for (int i = 0; i < 300; i++)
    o += (size_t)snprintf(batch + o, sizeof(batch) - o, "%s42%d[\"ignore\"]", i ? "\x1e" : "", 100 + i);
  CHECK_EQ_INT(eio_post(&c, batch), 0);
  CHECK_EQ_INT(eio_post(&c, "4299[\"first-last\"]"), 0);
  CHECK_EQ_INT(eio_expect(&c, "4399", got, sizeof(got)), 0);
  CHECK_STR(got, "4399[-1,0]"); /* the first was forgotten, the last answered */
  CHECK_EQ_INT(eio_expect(&c, "43399", got, sizeof(got)), 0);
  CHECK_STR(got, "43399[]");
  CHECK_EQ_INT(eio_post(&c, "1"), 0);
}

/* The reason a socket's disconnect callback gets: the one the Socket.IO layer closed
 * its client for ("parse error"), and Engine.IO's own ("transport close") for a close
 * that this layer did not start. The first waits on the server while the session
 * closes (sio_client_close), not in the client: it must not outlive that close. */
static void test_disconnect_reasons(void) {
  eio_client a, b, c;
  char got[1024], err[256];
  CHECK_EQ_INT(sio_join(&c, "/", NULL, err, sizeof(err)), 0);
  CHECK_EQ_INT(eio_post(&c, "420[\"reasons\"]"), 0); /* starts from an empty list */
  CHECK_EQ_INT(eio_expect(&c, "430", got, sizeof(got)), 0);
  CHECK_EQ_INT(sio_join(&a, "/", NULL, err, sizeof(err)), 0);
  (void)eio_post(&a, "4x"); /* no Socket.IO packet type 'x': the client is closed */
  usleep(50 * 1000);
  CHECK_EQ_INT(sio_join(&b, "/", NULL, err, sizeof(err)), 0);
  CHECK_EQ_INT(eio_post(&b, "1"), 0); /* Engine.IO close from the client */
  usleep(50 * 1000);
  CHECK_EQ_INT(eio_post(&c, "421[\"reasons\"]"), 0);
  CHECK_EQ_INT(eio_expect(&c, "431", got, sizeof(got)), 0);
  CHECK_STR(got, "431[\"parse error,transport close\"]");
  CHECK_EQ_INT(eio_post(&c, "1"), 0);
}

static void test_async_middleware(void) {
  eio_client c, d, e, f;
  char err[256];
  /* completed from a loop timer 50 ms later */
  long long t0 = now_ms();
  CHECK_EQ_INT(sio_join(&c, "/slow", "{\"mode\":\"timer\"}", err, sizeof(err)), 0);
  CHECK(now_ms() - t0 >= 45);
  /* never completed: the middleware timeout refuses */
  t0 = now_ms();
  CHECK_EQ_INT(sio_join(&d, "/slow", "{\"mode\":\"never\"}", err, sizeof(err)), 1);
  CHECK_STR(err, "44/slow,{\"message\":\"middleware timeout\"}");
  CHECK(now_ms() - t0 >= 180);
  /* invalid data is refused by wsio_sio_next; valid data goes out; then it is done */
  CHECK_EQ_INT(sio_join(&e, "/slow", "{\"mode\":\"baddata\"}", err, sizeof(err)), 1);
  CHECK_STR(err, "44/slow,{\"message\":\"bad\",\"data\":{\"ok\":1}}");
  /* the client leaves before the middleware completes (at 300 ms) */
  CHECK_EQ_INT(eio_open(&f), 0);
  CHECK_EQ_INT(eio_post(&f, "40/slow,{\"mode\":\"late\"}"), 0);
  usleep(50 * 1000);
  CHECK_EQ_INT(eio_post(&f, "1"), 0);
  usleep(450 * 1000);
  eio_client r;
  char got[256];
  CHECK_EQ_INT(sio_join(&r, "/", NULL, err, sizeof(err)), 0);
  CHECK_EQ_INT(eio_post(&r, "429[\"report\"]"), 0);
  CHECK_EQ_INT(eio_expect(&r, "439", got, sizeof(got)), 0);
  CHECK_STR(got, "439[-5,-1,-5]"); /* late: ECLOSED; bad data: EINVAL; after done: ECLOSED */
  eio_post(&c, "1");
  eio_post(&r, "1");
}

static void test_handles_without_server(void) {
  wsio_sio_ref none;
  memset(&none, 0, sizeof(none));
  CHECK(wsio_sio_ref_socket(&none) == NULL);
  CHECK(wsio_sio_ref_socket(NULL) == NULL);
  wsio_sio_ack ack = {none, -1};
  CHECK_EQ_INT(wsio_sio_ack_send(ack, NULL, 0, NULL, 0), WSIO_EINVAL);
  ack.id = 3;
  CHECK_EQ_INT(wsio_sio_ack_send(ack, NULL, 0, NULL, 0), WSIO_ECLOSED);
  wsio_sio_pending p = {NULL, 0};
  CHECK_EQ_INT(wsio_sio_next(p, NULL, NULL), WSIO_ECLOSED);
  CHECK_EQ_INT(wsio_sio_emit(NULL, "x", NULL, 0, NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_fetch_sockets(NULL, NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_sockets_join(NULL, "r"), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_disconnect_sockets(NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_socket_join(NULL, "r"), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_socket_leave(NULL, "r"), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_socket_set_data(NULL, "{}", 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_nsp_on(NULL, "x", h_keep, NULL), WSIO_EINVAL);
  wsio_sio_nsp_on_any(NULL, h_keep, NULL); /* ignored, no crash */
  wsio_sio_nsp_on_connection(NULL, NULL, NULL);
}

int main(void) {
  RUN(test_handles_without_server);
  server sv;
  if (server_start(&sv) != 0) {
    fprintf(stderr, "server did not start\n");
    return 1;
  }
  port = sv.port;
  RUN(test_ack_after_disconnect);
  RUN(test_ack_answered_twice);
  RUN(test_placeholders_need_attachments);
  RUN(test_ignored_acks_bounded);
  RUN(test_async_middleware);
  RUN(test_disconnect_reasons);
  server_stop(&sv);
  return test_report();
}
