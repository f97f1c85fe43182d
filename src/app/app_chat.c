/* app/app_chat.c — the chat demo (wsio-server's default app), the seed guide's chat
 * server on Socket.IO's default namespace:
 *   join(room)                 -> socket joins; "user-joined" (joiner's id) to the others in the room
 *   message({room, message})   -> "message" (message) to everyone in the room, sender included
 *   typing(room)               -> "typing" (sender's id) to the others in the room
 * With --jwt-*, a token is checked first (app/auth.c); its claims become the socket's
 * data and a "user" event tells the client the token's name (else sub).
 * CORS origin "*" by default, for the demo page served from anywhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/apps.h"
#include "app/auth.h"
#include "app/metrics.h"
#include "wsio/json.h"

#define ROOM_MAX 256

/* The socket id as a JSON argument array: ["<id>"]. */
static int id_args(const wsio_sio_socket *s, char *out, size_t cap) {
  return snprintf(out, cap, "[\"%s\"]", wsio_sio_socket_id(s));
}

/* The token's name (else sub) when --jwt-* verified one (its claims are the socket's
 * data), as a JSON argument array; -1 when there is none. */
static int name_args(const wsio_sio_socket *s, char *out, size_t cap) {
  size_t dl = 0;
  const char *d = wsio_sio_socket_data(s, &dl);
  json_t *claims = dl > 2 ? json_loadb(d, dl, 0, NULL) : NULL;
  json_t *name = json_object_get(claims, "name");
  if (!json_is_string(name)) name = json_object_get(claims, "sub");
  int n = -1;
  if (json_is_string(name)) {
    json_t *arr = json_pack("[O]", name);
    char *txt = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    if (txt && strlen(txt) < cap) n = snprintf(out, cap, "%s", txt);
    free(txt);
    json_decref(arr);
  }
  json_decref(claims);
  return n;
}

/* With a token, the client learns its verified name ("user" event); the page shows it
 * as the user's name. */
static void on_connection(wsio_sio_socket *s, void *u) {
  (void)u;
  char args[320];
  int n = name_args(s, args, sizeof(args));
  if (n > 0) wsio_sio_emit(s, "user", args, (size_t)n, NULL, 0);
}

static void on_join(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)ack, (void)u;
  char room[ROOM_MAX], args[64];
  if (app_first_string(a, room, sizeof(room)) < 0) return;
  wsio_sio_socket_join(s, room);
  const char *rooms[1] = {room};
  wsio_sio_target t = {.nsp = wsio_sio_socket_nsp(s), .rooms = rooms, .nrooms = 1, .except_socket = s};
  int n = id_args(s, args, sizeof(args));
  wsio_sio_broadcast(&t, "user-joined", args, (size_t)n, NULL, 0);
}

/* message({room, message}): read with jansson (wsio/json.h); the message object goes out
 * as it came, re-serialised once for the whole room. */
static void on_message(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)ack, (void)u;
  json_t *args = wsio_sio_args_json(a);
  json_t *obj = json_array_get(args, 0);
  const char *room = json_string_value(json_object_get(obj, "room"));
  json_t *message = json_object_get(obj, "message");
  if (room && room[0] && message && strlen(room) < ROOM_MAX) {
    json_t *out = json_pack("[O]", message);
    const char *rooms[1] = {room};
    wsio_sio_target t = {.nsp = wsio_sio_socket_nsp(s), .rooms = rooms, .nrooms = 1};
    if (out) wsio_sio_broadcast_json(&t, "message", out, a->bins, a->nbins);
    json_decref(out);
  }
  json_decref(args);
}

static void on_typing(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)ack, (void)u;
  char room[ROOM_MAX], args[64];
  if (app_first_string(a, room, sizeof(room)) < 0) return;
  const char *rooms[1] = {room};
  wsio_sio_target t = {.nsp = wsio_sio_socket_nsp(s), .rooms = rooms, .nrooms = 1, .except_socket = s};
  int n = id_args(s, args, sizeof(args));
  wsio_sio_broadcast(&t, "typing", args, (size_t)n, NULL, 0);
}

int app_chat_setup(wsio_app *app, const server_config *cfg) {
  wsio_sio_options so;
  wsio_sio_options_init(&so);
  so.eio.cors_origin = cfg->cors_origin ? cfg->cors_origin : "*";
  so.eio.max_polling_buffer = cfg->max_polling_buffer;
  if (cfg->ping_interval_ms) so.eio.ping_interval_ms = cfg->ping_interval_ms;
  if (cfg->ping_timeout_ms) so.eio.ping_timeout_ms = cfg->ping_timeout_ms;
  so.recovery = 1; /* the demo page shows "recovered" after a network blip */
  wsio_sio *io = wsio_sio_attach(app, &so);
  if (!io) return -1;
  metrics_watch_sio(io);
  if (app_cluster_attach(io, cfg) < 0) return -1;
  /* With --jwt-*, a token first (docs/security.md); the claims become socket.data. */
  if (auth_sio_attach(io) < 0) return -1;
  wsio_sio_nsp *nsp = wsio_sio_of(io, "/");
  wsio_sio_nsp_on_connection(nsp, on_connection, NULL);
  wsio_sio_nsp_on(nsp, "join", on_join, NULL);
  wsio_sio_nsp_on(nsp, "message", on_message, NULL);
  wsio_sio_nsp_on(nsp, "typing", on_typing, NULL);
  return 0;
}
