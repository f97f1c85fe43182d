/* app/app_chat.c — the chat demo (wsio-server's default app), the seed guide's chat
 * server on Socket.IO's default namespace:
 *   join(room)                 -> socket joins; "user-joined" (joiner's id) to the others in the room
 *   message({room, message})   -> "message" (message) to everyone in the room, sender included
 *   typing(room)               -> "typing" (sender's id) to the others in the room
 * CORS origin "*" by default, for the demo page served from anywhere. */
#include <stdio.h>
#include <string.h>

#include "app/apps.h"
#include "app/metrics.h"
#include "sio/json.h"

#define ROOM_MAX 256

/* The first argument as a room name: a JSON string, unescaped into out. */
static int first_string(const wsio_sio_args *a, char *out, size_t cap) {
  size_t off = 0, elen;
  const char *e;
  json_type t;
  if (json_array_next(a->json, a->json_len, &off, &e, &elen, &t) != 1 || t != JSON_STRING) return -1;
  long n = json_string_unescape(e, elen, out, cap);
  return n < 0 || (size_t)n >= cap || n == 0 ? -1 : 0;
}

/* Finds key's value in the JSON object obj[0..n). */
static int object_get(const char *obj, size_t n, const char *key, const char **val, size_t *vlen, json_type *vt) {
  /* Objects are scanned as alternating key/value tokens after the '{'. */
  size_t i = 0;
  while (i < n && obj[i] != '{') i++;
  i++;
  while (i < n) {
    while (i < n && (obj[i] == ' ' || obj[i] == '\t' || obj[i] == '\n' || obj[i] == '\r' || obj[i] == ','))
      i++;
    if (i >= n || obj[i] == '}') return -1;
    json_type kt;
    size_t kl = json_scan(obj + i, n - i, &kt);
    if (!kl || kt != JSON_STRING) return -1;
    const char *k = obj + i;
    i += kl;
    while (i < n && obj[i] != ':') i++;
    i++;
    size_t vl = json_scan(obj + i, n - i, vt);
    if (!vl) return -1;
    while (i < n && (obj[i] == ' ' || obj[i] == '\t' || obj[i] == '\n' || obj[i] == '\r')) i++;
    char kbuf[64];
    if (json_string_unescape(k, kl, kbuf, sizeof(kbuf)) >= 0 && strcmp(kbuf, key) == 0) {
      *val = obj + i;
      *vlen = vl;
      return 0;
    }
    i += vl;
  }
  return -1;
}

/* The socket id as a JSON argument array: ["<id>"]. */
static int id_args(const wsio_sio_socket *s, char *out, size_t cap) {
  return snprintf(out, cap, "[\"%s\"]", wsio_sio_socket_id(s));
}

static void on_join(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)ack, (void)u;
  char room[ROOM_MAX], args[64];
  if (first_string(a, room, sizeof(room)) < 0) return;
  wsio_sio_socket_join(s, room);
  const char *rooms[1] = {room};
  wsio_sio_target t = {.nsp = wsio_sio_socket_nsp(s), .rooms = rooms, .nrooms = 1, .except_socket = s};
  int n = id_args(s, args, sizeof(args));
  wsio_sio_broadcast(&t, "user-joined", args, (size_t)n, NULL, 0);
}

static void on_message(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)ack, (void)u;
  size_t off = 0, olen, rlen, mlen;
  const char *obj, *rv, *mv;
  json_type t, rt, mt;
  if (json_array_next(a->json, a->json_len, &off, &obj, &olen, &t) != 1 || t != JSON_OBJECT) return;
  if (object_get(obj, olen, "room", &rv, &rlen, &rt) < 0 || rt != JSON_STRING) return;
  if (object_get(obj, olen, "message", &mv, &mlen, &mt) < 0) return;
  char room[ROOM_MAX], args[16 * 1024];
  long rl = json_string_unescape(rv, rlen, room, sizeof(room));
  if (rl <= 0 || (size_t)rl >= sizeof(room) || mlen + 2 > sizeof(args)) return;
  args[0] = '[';
  memcpy(args + 1, mv, mlen);
  args[mlen + 1] = ']';
  const char *rooms[1] = {room};
  wsio_sio_target tg = {.nsp = wsio_sio_socket_nsp(s), .rooms = rooms, .nrooms = 1};
  wsio_sio_broadcast(&tg, "message", args, mlen + 2, NULL, 0);
}

static void on_typing(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)ack, (void)u;
  char room[ROOM_MAX], args[64];
  if (first_string(a, room, sizeof(room)) < 0) return;
  const char *rooms[1] = {room};
  wsio_sio_target t = {.nsp = wsio_sio_socket_nsp(s), .rooms = rooms, .nrooms = 1, .except_socket = s};
  int n = id_args(s, args, sizeof(args));
  wsio_sio_broadcast(&t, "typing", args, (size_t)n, NULL, 0);
}

int app_chat_setup(wsio_app *app, const server_config *cfg) {
  wsio_sio_options so;
  wsio_sio_options_init(&so);
  so.eio.cors_origin = cfg->cors_origin ? cfg->cors_origin : "*";
  if (cfg->ping_interval_ms) so.eio.ping_interval_ms = cfg->ping_interval_ms;
  if (cfg->ping_timeout_ms) so.eio.ping_timeout_ms = cfg->ping_timeout_ms;
  so.recovery = 1; /* the demo page shows "recovered" after a network blip */
  wsio_sio *io = wsio_sio_attach(app, &so);
  if (!io) return -1;
  metrics_watch_sio(io);
  wsio_sio_nsp *nsp = wsio_sio_of(io, "/");
  wsio_sio_nsp_on(nsp, "join", on_join, NULL);
  wsio_sio_nsp_on(nsp, "message", on_message, NULL);
  wsio_sio_nsp_on(nsp, "typing", on_typing, NULL);
  return 0;
}
