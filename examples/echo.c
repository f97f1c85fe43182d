/* examples/echo.c — the smallest useful wsio program: a WebSocket echo server on
 * ws://127.0.0.1:9001/ that also counts messages per connection in its user data.
 * Build: part of `make build` (build/examples/example_echo), or out of tree with
 *   cc echo.c $(pkg-config --cflags --libs wsio) */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <wsio.h>

typedef struct {
  unsigned long messages; /* per-connection user data, allocated inline by wsio */
} session;

static void on_message(wsio_conn *c, const uint8_t *data, size_t len, wsio_opcode op) {
  session *s = wsio_conn_user_data(c);
  s->messages++;
  wsio_conn_send(c, data, len, op); /* data is borrowed: send copies or writes it now */
}

static void on_close(wsio_conn *c, int code, const uint8_t *reason, size_t len) {
  session *s = wsio_conn_user_data(c);
  printf("closed with %d (%.*s) after %lu messages\n", code, (int)len, (const char *)reason, s->messages);
}

int main(void) {
  wsio_app *app = wsio_app_create(NULL);
  if (!app) return 1;
  wsio_ws_handlers h = {.user_data_size = sizeof(session), .message = on_message, .close = on_close};
  int r = wsio_app_ws(app, "/", &h, NULL);
  if (r == 0) r = wsio_app_listen(app, "127.0.0.1", 9001);
  if (r < 0) { /* WSIO_EADDR / WSIO_ESYS keep errno: "Address already in use" */
    fprintf(stderr, "echo: %s\n", r == WSIO_EADDR || r == WSIO_ESYS ? strerror(errno) : wsio_strerror(r));
    wsio_app_destroy(app);
    return 1;
  }
  printf("ws://127.0.0.1:%d/\n", wsio_app_port(app));
  r = wsio_app_run(app); /* until SIGINT/SIGTERM */
  wsio_app_destroy(app);
  return r < 0 ? 1 : 0;
}
