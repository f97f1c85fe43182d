/* examples/eio_echo.c — a raw Engine.IO v4 echo server (like Node's `engine.io`
 * package, no Socket.IO): every message, text or binary, is sent back.
 * Usage: example_eio_echo [port]  (default 9002; path /engine.io/) */
#include <stdio.h>
#include <stdlib.h>
#include <wsio.h>

static void on_open(wsio_eio_session *s, const wsio_request *req, void *user) {
  (void)req;
  (void)user;
  printf("open %s over %s\n", wsio_eio_session_id(s), wsio_eio_session_transport(s));
}

static void on_message(wsio_eio_session *s, const uint8_t *data, size_t len, int binary, void *user) {
  (void)user;
  wsio_eio_send(s, data, len, binary); /* data is borrowed; send copies it */
}

static void on_close(wsio_eio_session *s, const char *reason, void *user) {
  (void)user;
  printf("close %s: %s\n", wsio_eio_session_id(s), reason);
}

int main(int argc, char **argv) {
  wsio_app *app = wsio_app_create(NULL);
  wsio_eio_options o;
  wsio_eio_options_init(&o);
  o.cors_origin = "*";
  wsio_eio_handlers h = {.open = on_open, .message = on_message, .close = on_close};
  if (!app || !wsio_eio_attach(app, &o, &h, NULL)) return 1;
  if (wsio_app_listen(app, "127.0.0.1", argc > 1 ? atoi(argv[1]) : 9002) < 0) return 1;
  fprintf(stderr, "listening on 127.0.0.1:%d\n", wsio_app_port(app));
  setvbuf(stdout, NULL, _IOLBF, 0);
  wsio_app_run(app);
  wsio_app_destroy(app);
  return 0;
}
