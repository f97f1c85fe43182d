/* app/app_bench.c — `wsio-server --app bench`: the Socket.IO benchmark app, the same
 * logic as bench/peers/socketio.js so that peers run identical work:
 *   echo(...args)   -> "echo" with the same arguments to the sender, and the ack with
 *                      them when the client asked for one
 *   join(room)      -> joins the room
 *   bcast(payload)  -> "bcast" with the payload to every room the sender is in (its own
 *                      id room too: Node's io.to([...socket.rooms])), sender included */
#include <string.h>

#include "app/apps.h"
#include "app/auth.h"
#include "app/metrics.h"

#define MAX_ROOMS 16

static void on_echo(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)u;
  wsio_sio_emit(s, "echo", a->json, a->json_len, a->bins, a->nbins);
  if (ack.id >= 0) wsio_sio_ack_send(ack, a->json, a->json_len, a->bins, a->nbins);
}

static void on_join(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)ack, (void)u;
  char room[256];
  if (app_first_string(a, room, sizeof(room)) == 0) wsio_sio_socket_join(s, room);
}

typedef struct {
  char names[MAX_ROOMS][256];
  const char *rooms[MAX_ROOMS];
  size_t n;
} room_list;

static void collect(const char *room, void *user) {
  room_list *l = user;
  if (l->n == MAX_ROOMS || strlen(room) >= sizeof(l->names[0])) return;
  strcpy(l->names[l->n], room);
  l->rooms[l->n] = l->names[l->n];
  l->n++;
}

static void on_bcast(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u) {
  (void)ev, (void)ack, (void)u;
  room_list l = {.n = 0};
  wsio_sio_socket_rooms(s, collect, &l);
  if (!l.n) return;
  wsio_sio_target t = {.nsp = wsio_sio_socket_nsp(s), .rooms = l.rooms, .nrooms = l.n};
  wsio_sio_broadcast(&t, "bcast", a->json, a->json_len, a->bins, a->nbins);
}

int app_bench_setup(wsio_app *app, const server_config *cfg) {
  wsio_sio_options so;
  wsio_sio_options_init(&so);
  if (cfg->cors_origin) so.eio.cors_origin = cfg->cors_origin;
  so.eio.max_polling_buffer = cfg->max_polling_buffer;
  if (cfg->ping_interval_ms) so.eio.ping_interval_ms = cfg->ping_interval_ms;
  if (cfg->ping_timeout_ms) so.eio.ping_timeout_ms = cfg->ping_timeout_ms;
  wsio_sio *io = wsio_sio_attach(app, &so);
  if (!io) return -1;
  metrics_watch_sio(io);
  if (auth_sio_attach(io) < 0) return -1; /* --jwt-*: a token on every namespace */
  if (app_cluster_attach(io, cfg) < 0) return -1;
  wsio_sio_nsp *nsp = wsio_sio_of(io, "/");
  wsio_sio_nsp_on(nsp, "echo", on_echo, NULL);
  wsio_sio_nsp_on(nsp, "join", on_join, NULL);
  wsio_sio_nsp_on(nsp, "bcast", on_bcast, NULL);
  return 0;
}
