/* examples/ws_client.c — the client role next to server routes in one app: the
 * app serves an echo route on 127.0.0.1 (a free port), and a wsio_ws_client on
 * the same loop connects to it, sends three messages (two of them before the
 * connection is open: they wait in the offline queue), prints the echoes,
 * closes with 1000 and stops the app. Pass a ws:// URL to talk to another
 * server instead. Build: part of `make build`
 * (build/examples/example_ws_client), or out of tree with cc ws_client.c
 * $(pkg-config --cflags --libs wsio) */
#include <stdio.h>
#include <string.h>
#include <wsio.h>
#include <wsio/client.h>

static int echoes;

static void server_message(wsio_conn *c, const uint8_t *data, size_t len,
                           wsio_opcode op) {
  wsio_conn_send(c, data, len, op);
}

static void on_open(wsio_ws_client *cl, const char *protocol, void *user) {
  (void)user;
  printf("open (subprotocol %s)\n", protocol ? protocol : "none");
  wsio_ws_client_send(cl, "third", 5,
                      WSIO_OP_TEXT); /* after the two queued ones */
}

static void on_message(wsio_ws_client *cl, const uint8_t *data, size_t len,
                       wsio_opcode op, void *user) {
  (void)user;
  (void)op;
  printf("echo: %.*s\n", (int)len, (const char *)data); /* data is borrowed */
  if (++echoes == 3)
    wsio_ws_client_close(cl, WSIO_CLOSE_NORMAL, "done");
}

static void on_close(wsio_ws_client *cl, unsigned code, const char *reason,
                     size_t len, int again, void *user) {
  (void)cl;
  printf("closed: %u %.*s\n", code, (int)len, reason);
  if (!again)
    wsio_app_stop(user);
}

static void on_error(wsio_ws_client *cl, int err, int status,
                     const char *detail, void *user) {
  fprintf(stderr, "client: %s (%s, status %d)\n", detail,
          wsio_ws_client_strerror(err), status);
  if (wsio_ws_client_is_done(cl))
    wsio_app_stop(user);
}

int main(int argc, char **argv) {
  wsio_app *app = wsio_app_create(NULL);
  if (!app)
    return 1;
  wsio_ws_handlers h = {.message = server_message};
  if (wsio_app_ws(app, "/echo", &h, NULL) < 0 ||
      wsio_app_listen(app, "127.0.0.1", 0) < 0) {
    wsio_app_destroy(app);
    return 1;
  }
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/echo", wsio_app_port(app));
  wsio_ws_client_options o = {
      .user = app,
      .on_open = on_open,
      .on_message = on_message,
      .on_close = on_close,
      .on_error = on_error,
      .no_reconnect = 1,
  };
  int err;
  wsio_ws_client *cl = wsio_ws_client_create(app, argc > 1 ? argv[1] : url, &o,
                                             &err); /* url copied */
  if (!cl) {
    fprintf(stderr, "client: %s\n", wsio_ws_client_strerror(err));
    wsio_app_destroy(app);
    return 1;
  }
  /* Not open yet: both wait in the offline queue and go first, in order. */
  wsio_ws_client_send(cl, "first", 5, WSIO_OP_TEXT);
  wsio_ws_client_send(cl, "second", 6, WSIO_OP_TEXT);
  int r = wsio_app_run(app);
  wsio_app_destroy(app); /* also frees the client */
  return r < 0 || echoes != 3 ? 1 : 0;
}
