/* examples/sio_chat.c — a Socket.IO server in C (the example of docs/socketio.md): every
 * client joins "room-1" and gets "welcome"; a "chat" event is broadcast to the room
 * (encoded once for every recipient) and acknowledged with "ok" when the client asks.
 * Usage: example_sio_chat [port]  (default 3000; connect with socket.io-client) */
#include <stdio.h>
#include <stdlib.h>
#include <wsio.h>

static void on_chat(wsio_sio_socket *s, const char *event, const wsio_sio_args *a, wsio_sio_ack ack, void *user) {
  (void)event;
  (void)user;
  /* a->json is the arguments as a JSON array, e.g. ["hello"] */
  const char *rooms[] = {"room-1"};
  wsio_sio_target to = {.nsp = wsio_sio_socket_nsp(s), .rooms = rooms, .nrooms = 1};
  wsio_sio_broadcast(&to, "chat", a->json, a->json_len, a->bins, a->nbins);
  if (ack.id >= 0) wsio_sio_ack_send(ack, "[\"ok\"]", 0, NULL, 0);
}

static void on_connection(wsio_sio_socket *s, void *user) {
  (void)user;
  wsio_sio_socket_join(s, "room-1");
  wsio_sio_emit(s, "welcome", "[{\"room\":\"room-1\"}]", 0, NULL, 0);
}

int main(int argc, char **argv) {
  wsio_app *app = wsio_app_create(NULL);
  wsio_sio_options o;
  wsio_sio_options_init(&o); /* Node's defaults: pingInterval 25 s, pingTimeout 20 s, ... */
  o.eio.cors_origin = "*";
  o.recovery = 1; /* connection state recovery */
  wsio_sio *io = app ? wsio_sio_attach(app, &o) : NULL;
  if (!io) return 1;
  wsio_sio_nsp *nsp = wsio_sio_of(io, "/");
  wsio_sio_nsp_on_connection(nsp, on_connection, NULL);
  wsio_sio_nsp_on(nsp, "chat", on_chat, NULL);
  if (wsio_app_listen(app, "127.0.0.1", argc > 1 ? atoi(argv[1]) : 3000) < 0) return 1;
  fprintf(stderr, "listening on 127.0.0.1:%d\n", wsio_app_port(app));
  wsio_app_run(app);
  wsio_app_destroy(app);
  return 0;
}
