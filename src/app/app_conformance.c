/* app/app_conformance.c — `wsio-server --app conformance`: the server the public
 * Engine.IO / Socket.IO protocol conformance runs expect, on one port:
 *  - /engine.io/: a raw Engine.IO v4 endpoint echoing every message (text and binary);
 *  - /socket.io/: Socket.IO with pingInterval 300 ms, pingTimeout 200 ms, maxPayload
 *    1000000, connectTimeout 1000 ms, CORS origin "*"; on connection to "/" or
 *    "/custom" it emits "auth" with the CONNECT payload; "message" is emitted back as
 *    "message-back"; "message-with-ack" is acknowledged with its arguments; any other
 *    namespace is refused with "Invalid namespace". */
#include <stddef.h>

#include "app/apps.h"
#include "app/auth.h"
#include "app/metrics.h"

static void eio_echo(wsio_eio_session *s, const uint8_t *data, size_t len, int binary, void *user) {
  (void)user;
  wsio_eio_send(s, data, len, binary);
}

static void on_connection(wsio_sio_socket *s, void *user) {
  (void)user;
  size_t len;
  const char *auth = wsio_sio_socket_auth(s, &len);
  /* emit("auth", auth): the argument array is "[" + auth + "]" */
  char stackbuf[512];
  if (len + 2 <= sizeof(stackbuf)) {
    stackbuf[0] = '[';
    for (size_t i = 0; i < len; i++) stackbuf[1 + i] = auth[i];
    stackbuf[1 + len] = ']';
    wsio_sio_emit(s, "auth", stackbuf, len + 2, NULL, 0);
  }
}

static void on_message(wsio_sio_socket *s, const char *event, const wsio_sio_args *a, wsio_sio_ack ack,
                       void *user) {
  (void)event;
  (void)ack;
  (void)user;
  wsio_sio_emit(s, "message-back", a->json, a->json_len, a->bins, a->nbins);
}

static void on_message_with_ack(wsio_sio_socket *s, const char *event, const wsio_sio_args *a,
                                wsio_sio_ack ack, void *user) {
  (void)s;
  (void)event;
  (void)user;
  if (ack.id >= 0) wsio_sio_ack_send(ack, a->json, a->json_len, a->bins, a->nbins);
}

static void setup_nsp(wsio_sio_nsp *nsp) {
  wsio_sio_nsp_on_connection(nsp, on_connection, NULL);
  wsio_sio_nsp_on(nsp, "message", on_message, NULL);
  wsio_sio_nsp_on(nsp, "message-with-ack", on_message_with_ack, NULL);
}

int app_conformance_setup(wsio_app *app, const server_config *cfg) {
  unsigned pi = cfg->ping_interval_ms ? cfg->ping_interval_ms : 300;
  unsigned pt = cfg->ping_timeout_ms ? cfg->ping_timeout_ms : 200;
  const char *cors = cfg->cors_origin ? cfg->cors_origin : "*";

  wsio_eio_options eo;
  wsio_eio_options_init(&eo);
  eo.path = "/engine.io/";
  eo.ping_interval_ms = pi;
  eo.ping_timeout_ms = pt;
  eo.cors_origin = cors;
  eo.max_polling_buffer = cfg->max_polling_buffer;
  wsio_eio_handlers eh = {.message = eio_echo};
  wsio_eio_server *raw = wsio_eio_attach(app, &eo, &eh, NULL);
  if (!raw) return -1;
  metrics_watch_eio(raw);

  wsio_sio_options so;
  wsio_sio_options_init(&so);
  so.eio.ping_interval_ms = pi;
  so.eio.ping_timeout_ms = pt;
  so.eio.cors_origin = cors;
  so.eio.max_polling_buffer = cfg->max_polling_buffer;
  so.connect_timeout_ms = 1000;
  wsio_sio *io = wsio_sio_attach(app, &so);
  if (!io) return -1;
  metrics_watch_sio(io);
  if (auth_sio_attach(io) < 0) return -1; /* --jwt-*: a token on every namespace */
  setup_nsp(wsio_sio_of(io, "/"));
  setup_nsp(wsio_sio_of(io, "/custom"));
  return 0;
}
