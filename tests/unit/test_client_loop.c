/* tests/unit/test_client_loop.c — the WebSocket client role end to end in one
 * process: an app serves /echo and a wsio_ws_client on the same loop talks to
 * it. Covers the three length encodings both ways, binary, ping/pong with a
 * round-trip time, the offline queue's order, the close handshake's code and
 * reason, and the API's refusals (bad URL, bad UTF-8, bad close code,
 * sends after close). */
#include <stdlib.h>
#include <string.h>

#include "core/conn.h" /* the app's hook lists, to see clients leave them */
#include "test.h"
#include "wsio.h"
#include "wsio/client.h"

static struct {
  wsio_app *app;
  int opened, pongs, closes, errors, messages;
  unsigned close_code;
  size_t sizes[8];
  int ops[8];
  int ok_content;
  char server_reason[64];
} s;

static uint8_t big[70000];

static void srv_message(wsio_conn *c, const uint8_t *data, size_t len,
                        wsio_opcode op) {
  wsio_conn_send(c, data, len, op);
}

static void srv_close(wsio_conn *c, int code, const uint8_t *reason,
                      size_t len) {
  (void)c;
  (void)code;
  snprintf(s.server_reason, sizeof s.server_reason, "%d:%.*s", code, (int)len,
           (const char *)reason);
}

static void on_open(wsio_ws_client *cl, const char *protocol, void *user) {
  (void)user;
  CHECK(protocol == NULL);
  s.opened++;
  CHECK_EQ_INT(wsio_ws_client_is_open(cl), 1);
  CHECK_EQ_INT(wsio_ws_client_send(cl, "\xff", 1, WSIO_OP_TEXT), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_ws_client_send(cl, big, 200, WSIO_OP_BINARY), 0);
  CHECK_EQ_INT(wsio_ws_client_send(cl, big, sizeof big, WSIO_OP_BINARY), 0);
  CHECK_EQ_INT(wsio_ws_client_ping(cl, "p", 1), 0);
}

static void on_message(wsio_ws_client *cl, const uint8_t *data, size_t len,
                       wsio_opcode op, void *user) {
  (void)user;
  int i = s.messages++;
  if (i < 8) {
    s.sizes[i] = len;
    s.ops[i] = op;
  }
  if (len == sizeof big && memcmp(data, big, len) == 0)
    s.ok_content++;
  if (i == 0 && len == 5 && memcmp(data, "first", 5) == 0)
    s.ok_content++;
  if (s.messages == 4) {
    CHECK_EQ_INT(wsio_ws_client_close(cl, 999, NULL), WSIO_EINVAL);
    CHECK_EQ_INT(wsio_ws_client_close(cl, 4000, "done here"), 0);
    CHECK_EQ_INT(wsio_ws_client_close(cl, 4000, NULL), WSIO_ECLOSED);
    CHECK_EQ_INT(wsio_ws_client_send(cl, "x", 1, WSIO_OP_TEXT), WSIO_ECLOSED);
  }
}

static void on_pong(wsio_ws_client *cl, const uint8_t *data, size_t len,
                    long rtt, void *user) {
  (void)cl;
  (void)user;
  CHECK(len == 1 && data[0] == 'p');
  CHECK(rtt >= 0 && rtt < 5000);
  s.pongs++;
}

static void on_close(wsio_ws_client *cl, unsigned code, const char *reason,
                     size_t rl, int again, void *user) {
  (void)cl;
  (void)reason;
  (void)rl;
  CHECK_EQ_INT(again, 0);
  s.closes++;
  s.close_code = code;
  wsio_app_stop(user);
}

static void on_error(wsio_ws_client *cl, int err, int status,
                     const char *detail, void *user) {
  (void)cl;
  (void)status;
  fprintf(stderr, "client error %d: %s\n", err, detail);
  s.errors++;
  wsio_app_stop(user);
}

static void test_echo_roundtrip(void) {
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (uint8_t)(i * 7 + 3);
  wsio_app_options ao;
  wsio_app_options_init(&ao);
  ao.handle_signals = 0;
  s.app = wsio_app_create(&ao);
  CHECK(s.app != NULL);
  wsio_ws_handlers h = {.message = srv_message, .close = srv_close};
  CHECK_EQ_INT(wsio_app_ws(s.app, "/echo", &h, NULL), 0);
  CHECK_EQ_INT(wsio_app_listen(s.app, "127.0.0.1", 0), 0);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/echo", wsio_app_port(s.app));
  wsio_ws_client_options o = {.user = s.app,
                              .on_open = on_open,
                              .on_message = on_message,
                              .on_pong = on_pong,
                              .on_close = on_close,
                              .on_error = on_error,
                              .no_reconnect = 1};
  int err = 0;
  /* wss:// is accepted (tests/client/tls.test.js connects); nothing runs yet. */
  wsio_ws_client *tls = wsio_ws_client_create(s.app, "wss://127.0.0.1/", &o, &err);
  CHECK(tls != NULL && err == 0);
  wsio_ws_client_destroy(tls);
  CHECK(wsio_ws_client_create(s.app, "http://127.0.0.1/", &o, &err) == NULL &&
        err == WSIO_EURL);
  CHECK(wsio_ws_client_create(NULL, url, &o, &err) == NULL &&
        err == WSIO_EINVAL);
  wsio_ws_client *cl = wsio_ws_client_create(s.app, url, &o, &err);
  CHECK(cl != NULL);
  CHECK_EQ_INT(s.opened, 0); /* nothing inside create */
  /* Offline: queued, sent first on open. */
  CHECK_EQ_INT(wsio_ws_client_send(cl, "first", 5, WSIO_OP_TEXT), 1);
  CHECK_EQ_INT(wsio_ws_client_send(cl, "second", 6, WSIO_OP_TEXT), 1);
  CHECK_EQ_INT((int)wsio_ws_client_buffered(cl), 11);
  CHECK_EQ_INT(wsio_app_run(s.app), 0);
  CHECK_EQ_INT(s.errors, 0);
  CHECK_EQ_INT(s.opened, 1);
  CHECK_EQ_INT(s.messages, 4);
  CHECK_EQ_INT((int)s.sizes[0], 5);
  CHECK_EQ_INT((int)s.sizes[1], 6);
  CHECK_EQ_INT((int)s.sizes[2], 200);             /* 16-bit length both ways */
  CHECK_EQ_INT((int)s.sizes[3], (int)sizeof big); /* 64-bit length */
  CHECK_EQ_INT(s.ops[0], WSIO_OP_TEXT);
  CHECK_EQ_INT(s.ops[3], WSIO_OP_BINARY);
  CHECK_EQ_INT(s.ok_content, 2);
  CHECK_EQ_INT(s.pongs, 1);
  CHECK_EQ_INT(s.closes, 1);
  CHECK_EQ_INT((int)s.close_code, 4000); /* the server echoes our code */
  CHECK_STR(s.server_reason, "4000:done here");
  CHECK_EQ_INT(wsio_ws_client_is_done(cl), 1);
  wsio_app_destroy(s.app); /* frees the client */
}

/* Destroying a client from inside its own message callback, with more frames
 * behind the one being delivered in the same read: nothing runs for it
 * afterwards, nothing is freed under the reader (ASan checks), and the app's
 * destroy frees the rest. */
static int after_destroy;

static void d_message(wsio_ws_client *cl, const uint8_t *data, size_t len,
                      wsio_opcode op, void *user) {
  (void)data;
  (void)len;
  (void)op;
  after_destroy++;
  wsio_ws_client_destroy(cl);
  CHECK_EQ_INT(wsio_ws_client_send(cl, "x", 1, WSIO_OP_TEXT), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_ws_client_is_done(cl), 1);
  wsio_app_stop(user);
}

static void d_open(wsio_ws_client *cl, const char *protocol, void *user) {
  (void)protocol;
  (void)user;
  for (int i = 0; i < 5; i++)
    wsio_ws_client_send(cl, "m", 1, WSIO_OP_TEXT);
}

static void test_destroy_in_callback(void) {
  wsio_app_options ao;
  wsio_app_options_init(&ao);
  ao.handle_signals = 0;
  wsio_app *app = wsio_app_create(&ao);
  wsio_ws_handlers h = {.message = srv_message};
  CHECK_EQ_INT(wsio_app_ws(app, "/echo", &h, NULL), 0);
  CHECK_EQ_INT(wsio_app_listen(app, "127.0.0.1", 0), 0);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/echo", wsio_app_port(app));
  wsio_ws_client_options o = {.user = app,
                              .on_open = d_open,
                              .on_message = d_message,
                              .no_reconnect = 1};
  CHECK(wsio_ws_client_create(app, url, &o, NULL) != NULL);
  CHECK_EQ_INT(wsio_app_run(app), 0);
  CHECK_EQ_INT(after_destroy, 1);
  wsio_app_destroy(app);
}

/* Clients created and destroyed over and over: each is freed in the next post
 * phase (its hooks removed), so the app does not grow with them. */
static void stop_app(wsio_timer *t, void *user) {
  (void)t;
  wsio_app_stop(user);
}

static void test_destroy_releases(void) {
  wsio_app_options ao;
  wsio_app_options_init(&ao);
  ao.handle_signals = 0;
  wsio_app *app = wsio_app_create(&ao);
  CHECK_EQ_INT(wsio_app_listen(app, "127.0.0.1", 0), 0);
  uint32_t post0 = app->hooks[CORE_HOOK_POST].n, destroy0 = app->hooks[CORE_HOOK_DESTROY].n;
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/none", wsio_app_port(app));
  wsio_ws_client_options o = {.no_reconnect = 1};
  for (int i = 0; i < 1000; i++) {
    wsio_ws_client *cl = wsio_ws_client_create(app, url, &o, NULL);
    CHECK(cl != NULL);
    wsio_ws_client_destroy(cl);
  }
  CHECK_EQ_INT(app->hooks[CORE_HOOK_POST].n, post0 + 1000); /* freed from the loop */
  wsio_timer *t = wsio_timer_create(app, stop_app, app);
  wsio_timer_start(t, 20, 0);
  CHECK_EQ_INT(wsio_app_run(app), 0);
  CHECK_EQ_INT(app->hooks[CORE_HOOK_POST].n, post0);
  CHECK_EQ_INT(app->hooks[CORE_HOOK_DESTROY].n, destroy0);
  wsio_timer_destroy(t);
  wsio_app_destroy(app);
}

int main(void) {
  RUN(test_echo_roundtrip);
  RUN(test_destroy_in_callback);
  RUN(test_destroy_releases);
  return test_report();
}
