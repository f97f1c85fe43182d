/* examples/sio_client.c — the Socket.IO client role next to a Socket.IO server
 * in one app: the app serves Socket.IO on 127.0.0.1 (a free port) and acks
 * "echo" with its arguments; a wsio_sio_client on the same loop connects
 * (polling, then upgraded to WebSocket), emits "echo" before the namespace is
 * connected (it waits in the send buffer) and once more with a binary
 * argument, prints both acks, then closes and stops the app. Pass an
 * http:// URL to talk to another server (its "echo" must ack).
 * Build: part of `make build` (build/examples/example_sio_client), or out of
 * tree with cc sio_client.c $(pkg-config --cflags --libs wsio) */
#include <stdio.h>
#include <string.h>
#include <wsio.h>
#include <wsio/client.h>

static int acks;

static void server_echo(wsio_sio_socket *s, const char *event,
                        const wsio_sio_args *a, wsio_sio_ack ack, void *user) {
  (void)s;
  (void)event;
  (void)user;
  if (ack.id >= 0)
    wsio_sio_ack_send(ack, a->json, a->json_len, a->bins, a->nbins);
}

static void on_ack(wsio_sio_client_socket *s, int err, const char *args,
                   size_t len, const wsio_span *bins, size_t nbins, void *arg) {
  (void)arg;
  if (err) { /* WSIO_ETIMEDOUT or WSIO_ECLOSED: args is NULL */
    fprintf(stderr, "ack: %s\n", wsio_sio_client_strerror(err));
  } else {
    printf("ack: %.*s", (int)len, args); /* borrowed for the callback */
    for (size_t i = 0; i < nbins; i++)
      printf(" + %zu binary bytes", bins[i].n);
    printf("\n");
  }
  if (++acks == 2)
    wsio_sio_client_close(wsio_sio_client_socket_client(s));
}

static void on_connect(wsio_sio_client_socket *s, const char *sid,
                       int recovered, void *user) {
  (void)user;
  (void)recovered;
  printf("connected, sid %s\n", sid);
  static const uint8_t blob[] = {0xde, 0xad, 0xbe, 0xef};
  wsio_span bin = {blob, sizeof blob};
  /* The placeholder names bins[0]; the bytes are copied. */
  wsio_sio_client_emit_ack(s, "echo", "[{\"_placeholder\":true,\"num\":0}]", 0,
                           &bin, 1, 5000, on_ack, NULL);
}

static void on_close(wsio_sio_client *c, const char *reason, int again,
                     void *user) {
  (void)c;
  printf("closed: %s\n", reason);
  if (!again)
    wsio_app_stop(user);
}

static void on_error(wsio_sio_client *c, int err, int status,
                     const char *detail, void *user) {
  fprintf(stderr, "client: %s (%s, status %d)\n", detail,
          wsio_sio_client_strerror(err), status);
  if (wsio_sio_client_is_done(c))
    wsio_app_stop(user);
}

int main(int argc, char **argv) {
  wsio_app *app = wsio_app_create(NULL);
  wsio_sio_options so;
  wsio_sio_options_init(&so);
  wsio_sio *io = app ? wsio_sio_attach(app, &so) : NULL;
  if (!io || wsio_sio_nsp_on(wsio_sio_of(io, "/"), "echo", server_echo, NULL) < 0 ||
      wsio_app_listen(app, "127.0.0.1", 0) < 0) {
    if (app)
      wsio_app_destroy(app);
    return 1;
  }
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", wsio_app_port(app));
  wsio_sio_client_options o = {
      .user = app,
      .on_close = on_close,
      .on_error = on_error,
      .no_reconnect = 1,
  };
  int err;
  wsio_sio_client *c =
      wsio_sio_client_create(app, argc > 1 ? argv[1] : url, &o, &err);
  wsio_sio_client_socket_options sopts = {.on_connect = on_connect};
  wsio_sio_client_socket *s =
      c ? wsio_sio_client_socket_open(c, "/", NULL, &sopts, &err) : NULL;
  if (!s) {
    fprintf(stderr, "client: %s\n", wsio_sio_client_strerror(err));
    wsio_app_destroy(app);
    return 1;
  }
  /* Not connected yet: buffered, sent first once the namespace connects. */
  wsio_sio_client_emit_ack(s, "echo", "[1,\"two\",{\"three\":3}]", 0, NULL, 0,
                           5000, on_ack, NULL);
  int r = wsio_app_run(app);
  wsio_app_destroy(app); /* also frees the client */
  return r < 0 || acks != 2 ? 1 : 0;
}
