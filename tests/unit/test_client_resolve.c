/* tests/unit/test_client_resolve.c — the client role's name resolution
 * (src/client/resolve.c) never blocks the loop: a client of ws://localhost:PORT
 * opens; with a lookup made slow (the test hook) a loop timer keeps firing
 * until the open; a lookup is bounded by the connect timeout; an unknown name
 * is a clear network error; a client destroyed (or its app) while its lookup
 * runs is never called back. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/resolve.h"
#include "loop/loop.h"
#include "test.h"
#include "wsio.h"
#include "wsio/client.h"

static struct {
  wsio_app *app;
  int opened, errors, last_err, ticks, ticks_at_open, calls;
  char why[256];
} s;

static void srv_message(wsio_conn *c, const uint8_t *data, size_t len,
                        wsio_opcode op) {
  wsio_conn_send(c, data, len, op);
}

static void on_open(wsio_ws_client *cl, const char *protocol, void *user) {
  (void)cl;
  (void)protocol;
  (void)user;
  s.opened++;
  s.ticks_at_open = s.ticks;
  wsio_app_stop(s.app);
}

static void on_error(wsio_ws_client *cl, int err, int status,
                     const char *detail, void *user) {
  (void)cl;
  (void)status;
  (void)user;
  s.errors++;
  s.last_err = err;
  snprintf(s.why, sizeof s.why, "%s", detail);
  wsio_app_stop(s.app);
}

static void on_any(wsio_ws_client *cl, const char *protocol, void *user) {
  (void)cl;
  (void)protocol;
  (void)user;
  s.calls++;
}

static void tick(wsio_timer *t, void *user) {
  (void)t;
  (void)user;
  s.ticks++;
}

static void stop(wsio_timer *t, void *user) {
  (void)t;
  wsio_app_stop(user);
}

static wsio_app *server(char *url, size_t cap, const char *host) {
  memset(&s, 0, sizeof s);
  wsio_app_options ao;
  wsio_app_options_init(&ao);
  ao.handle_signals = 0;
  wsio_app *app = wsio_app_create(&ao);
  wsio_ws_handlers h = {.message = srv_message};
  CHECK_EQ_INT(wsio_app_ws(app, "/echo", &h, NULL), 0);
  CHECK_EQ_INT(wsio_app_listen(app, "127.0.0.1", 0), 0);
  snprintf(url, cap, "ws://%s:%d/echo", host, wsio_app_port(app));
  s.app = app;
  return app;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* "localhost" (::1 may come first while the server is on 127.0.0.1 only: the
 * next address is tried), with the lookup held 300 ms: the loop runs meanwhile.
 */
static void test_localhost_slow_lookup(void) {
  char url[64];
  wsio_app *app = server(url, sizeof url, "localhost");
  wsio_ws_client_options o = {
      .on_open = on_open, .on_error = on_error, .no_reconnect = 1};
  wsio_timer *t = wsio_timer_create(app, tick, NULL);
  wsio_timer *guard = wsio_timer_create(app, stop, app);
  wsio_timer_start(t, 10, 10);
  wsio_timer_start(guard, 10000, 0);
  client_resolve_test_delay_ms = 300;
  uint64_t t0 = now_ms();
  wsio_ws_client *cl = wsio_ws_client_create(app, url, &o, NULL);
  CHECK(cl != NULL);
  CHECK(now_ms() - t0 < 100); /* create did not wait for the lookup */
  CHECK_EQ_INT(wsio_app_run(app), 0);
  client_resolve_test_delay_ms = 0;
  CHECK_EQ_INT(s.opened, 1);
  CHECK_EQ_INT(s.errors, 0);
  CHECK(now_ms() - t0 >= 290);
  /* A 10 ms timer over 300 ms: a blocked loop would show 0 or 1 (generous
   * bound for a loaded machine). */
  CHECK(s.ticks_at_open >= 5);
  wsio_ws_client_destroy(cl);
  wsio_timer_destroy(t);
  wsio_timer_destroy(guard);
  wsio_app_destroy(app);
}

static void test_unknown_name(void) {
  char url[64];
  wsio_app *app = server(url, sizeof url, "no-such-host.invalid");
  wsio_ws_client_options o = {
      .on_open = on_open, .on_error = on_error, .no_reconnect = 1};
  wsio_timer *guard = wsio_timer_create(app, stop, app);
  wsio_timer_start(guard, 20000, 0);
  wsio_ws_client *cl = wsio_ws_client_create(app, url, &o, NULL);
  CHECK(cl != NULL);
  CHECK_EQ_INT(wsio_app_run(app), 0);
  CHECK_EQ_INT(s.errors, 1);
  CHECK_EQ_INT(s.last_err, WSIO_ENETWORK);
  CHECK(strstr(s.why, "cannot resolve no-such-host.invalid") != NULL);
  CHECK_EQ_INT(wsio_ws_client_is_done(cl), 1);
  wsio_ws_client_destroy(cl);
  wsio_timer_destroy(guard);
  wsio_app_destroy(app);
}

static void test_lookup_timeout(void) {
  char url[64];
  wsio_app *app = server(url, sizeof url, "localhost");
  wsio_ws_client_options o = {.on_open = on_open,
                              .on_error = on_error,
                              .no_reconnect = 1,
                              .connect_timeout_ms = 100};
  wsio_timer *guard = wsio_timer_create(app, stop, app);
  wsio_timer_start(guard, 10000, 0);
  client_resolve_test_delay_ms = 400;
  wsio_ws_client *cl = wsio_ws_client_create(app, url, &o, NULL);
  CHECK_EQ_INT(wsio_app_run(app), 0);
  CHECK_EQ_INT(s.errors, 1);
  CHECK_EQ_INT(s.last_err, WSIO_ETIMEDOUT);
  CHECK(strstr(s.why, "resolving the host timed out") != NULL);
  /* The cancelled lookup ends on its own and calls nobody: run past it. */
  wsio_timer_start(guard, 600, 0);
  CHECK_EQ_INT(wsio_app_run(app), 0);
  CHECK_EQ_INT(s.opened, 0);
  CHECK_EQ_INT(s.errors, 1);
  client_resolve_test_delay_ms = 0;
  wsio_ws_client_destroy(cl);
  wsio_timer_destroy(guard);
  wsio_app_destroy(app);
}

/* Destroyed while the lookup runs: no callback, nothing leaked (ASan). Then an
 * app destroyed while a lookup runs. */
static void test_destroy_during_lookup(void) {
  char url[64];
  wsio_app *app = server(url, sizeof url, "localhost");
  wsio_ws_client_options o = {.on_open = on_any, .no_reconnect = 1};
  client_resolve_test_delay_ms = 150;
  wsio_ws_client *cl = wsio_ws_client_create(app, url, &o, NULL);
  wsio_timer *guard = wsio_timer_create(app, stop, app);
  wsio_timer_start(guard, 50, 0); /* the lookup is under way by then */
  CHECK_EQ_INT(wsio_app_run(app), 0);
  wsio_ws_client_destroy(cl);
  wsio_timer_start(guard, 400, 0);
  CHECK_EQ_INT(wsio_app_run(app), 0);
  CHECK_EQ_INT(s.calls, 0);
  CHECK(wsio_ws_client_create(app, url, &o, NULL) != NULL);
  wsio_timer_start(guard, 50, 0);
  CHECK_EQ_INT(wsio_app_run(app), 0);
  wsio_timer_destroy(guard);
  wsio_app_destroy(app);
  client_resolve_test_delay_ms = 0;
  struct timespec ts = {0, 300 * 1000000L}; /* its thread ends after the app */
  nanosleep(&ts, NULL);
  CHECK_EQ_INT(s.calls, 0);
}

int main(void) {
  RUN(test_localhost_slow_lookup);
  RUN(test_unknown_name);
  RUN(test_lookup_timeout);
  RUN(test_destroy_during_lookup);
  return test_report();
}
