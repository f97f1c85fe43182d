/* sio/adapter.c — the local (in-memory) adapter, the adapter switch, and the public
 * calls that may reach every node of a cluster (fetch_sockets_all, all_rooms,
 * server_count, server_side_emit) with this node's answers.
 *
 * Must not know Redis or any wire format: a cluster adapter (src/adapter) brings
 * those and calls back into the sio_local_* functions for this node's part. */
#include <stdio.h>
#include <string.h>

#include "sio/internal.h"
#include "sio/jscan.h"

/* ---- the local adapter's ops ------------------------------------------------------- */

int sio_local_add_all(wsio_sio_socket *s, const char *const *rooms, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int r = sio_room_join(s, rooms[i], strlen(rooms[i]));
    if (r) return r;
  }
  return 0;
}

void sio_local_del(wsio_sio_socket *s, const char *room) { (void)sio_room_leave(s, room, strlen(room)); }
void sio_local_del_all(wsio_sio_socket *s) { sio_room_leave_all(s); }

static int l_add_all(sio_adapter *a, wsio_sio_socket *s, const char *const *rooms, size_t n) {
  (void)a;
  return sio_local_add_all(s, rooms, n);
}
static void l_del(sio_adapter *a, wsio_sio_socket *s, const char *room) {
  (void)a;
  sio_local_del(s, room);
}
static void l_del_all(sio_adapter *a, wsio_sio_socket *s) {
  (void)a;
  sio_local_del_all(s);
}
static int l_broadcast(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev) {
  (void)a;
  return sio_local_broadcast(t, ev);
}
static int l_broadcast_with_ack(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                                wsio_sio_broadcast_ack_fn cb, void *user) {
  (void)a;
  return sio_local_broadcast_with_ack(t, ev, timeout_ms, cb, user);
}
static int l_broadcast_with_ack_bin(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev,
                                    unsigned timeout_ms, wsio_sio_broadcast_ack_bin_fn cb, void *user) {
  (void)a;
  return sio_local_broadcast_with_ack_bin(t, ev, timeout_ms, cb, user);
}
static int l_add_sockets(sio_adapter *a, const wsio_sio_target *t, const char *room, int join) {
  (void)a;
  return sio_local_add_sockets(t, room, join);
}
static int l_disconnect_sockets(sio_adapter *a, const wsio_sio_target *t, int close_transport) {
  (void)a;
  return sio_local_disconnect_sockets(t, close_transport);
}

static int answer_text(char *text, size_t len, wsio_sio_result_fn cb, void *user) {
  if (!text) return WSIO_ENOMEM;
  cb(text, len, 0, user);
  free(text);
  return 0;
}

static int l_fetch_sockets(sio_adapter *a, const wsio_sio_target *t, wsio_sio_result_fn cb, void *user) {
  (void)a;
  size_t len = 0;
  char *text = sio_local_fetch_text(t, &len);
  return answer_text(text, len, cb, user);
}

static int l_all_rooms(sio_adapter *a, wsio_sio_nsp *nsp, wsio_sio_result_fn cb, void *user) {
  (void)a;
  size_t len = 0;
  char *text = sio_local_rooms_text(nsp, &len);
  return answer_text(text, len, cb, user);
}

static int l_server_count(sio_adapter *a, wsio_sio_nsp *nsp, wsio_sio_count_fn cb, void *user) {
  (void)a;
  (void)nsp;
  cb(1, 0, user);
  return 0;
}

/* Alone, there is no other node to answer (Node: ack(null, [])). */
static int l_server_side_emit(sio_adapter *a, wsio_sio_nsp *nsp, const sio_event *ev, wsio_sio_result_fn cb,
                              void *user) {
  (void)a;
  (void)nsp;
  (void)ev;
  if (cb) cb("[]", 2, 0, user);
  return 0;
}

static void l_destroy(sio_adapter *a) { (void)a; }

static const sio_adapter_ops local_ops = {
    .add_all = l_add_all,
    .del = l_del,
    .del_all = l_del_all,
    .broadcast = l_broadcast,
    .broadcast_with_ack = l_broadcast_with_ack,
    .broadcast_with_ack_bin = l_broadcast_with_ack_bin,
    .add_sockets = l_add_sockets,
    .disconnect_sockets = l_disconnect_sockets,
    .fetch_sockets = l_fetch_sockets,
    .all_rooms = l_all_rooms,
    .server_count = l_server_count,
    .server_side_emit = l_server_side_emit,
    .nsp_created = NULL,
    .destroy = l_destroy,
};

sio_adapter sio_local_adapter = {&local_ops};

void sio_adapter_set(wsio_sio *io, sio_adapter *a) {
  sio_adapter *old = io->adapter;
  io->adapter = a ? a : &sio_local_adapter;
  if (old && old != io->adapter) old->ops->destroy(old);
}

sio_adapter *sio_adapter_get(const wsio_sio *io) { return io->adapter; }
loop *sio_server_loop(const wsio_sio *io) { return io->loop; }
wsio_app *sio_server_app(const wsio_sio *io) { return io->app; }
unsigned sio_server_recovery_ms(const wsio_sio *io) {
  return io->o.recovery ? (unsigned)io->o.recovery_max_disconnection_ms : 0;
}

wsio_sio_nsp *sio_nsp_iter(const wsio_sio *io, uint32_t *it) {
  void *v;
  return map_next(&io->nsps, it, NULL, NULL, &v) ? v : NULL;
}

wsio_sio_nsp *sio_nsp_find(const wsio_sio *io, const char *name, size_t len) {
  return map_get(&io->nsps, name, len);
}

int sio_nsp_has_room(wsio_sio_nsp *nsp, const char *room, size_t len) {
  if (map_get(&nsp->rooms, room, len)) return 1;
  return idmap_get(&nsp->sockets, room, len) != NULL;
}

/* ---- this node's answers as JSON ----------------------------------------------------- */

static int put_room_name(sbuf *b, const char *name, size_t len, int *first) {
  int r = *first ? 0 : sbuf_put(b, ",", 1);
  *first = 0;
  return r ? r : sbuf_put_json_string(b, name, len);
}

/* One socket as Node's fetchSockets answer describes it. The handshake carries what
 * wsio keeps (auth, address, the query string as "url"); headers are not kept. */
static int put_socket(sbuf *b, wsio_sio_socket *s) {
  size_t alen, dlen;
  const char *auth = wsio_sio_socket_auth(s, &alen);
  const char *data = wsio_sio_socket_data(s, &dlen);
  char addr[WSIO_ADDRSTRLEN];
  if (wsio_sio_socket_remote_address(s, addr, sizeof(addr)) < 0) addr[0] = '\0';
  const char *query = wsio_sio_socket_query(s);
  int r = sbuf_puts(b, "{\"id\":");
  if (!r) r = sbuf_put_json_string(b, s->id, SIO_ID_LEN);
  if (!r) r = sbuf_puts(b, ",\"handshake\":{\"headers\":{},\"address\":");
  if (!r) r = sbuf_put_json_string(b, addr, strlen(addr));
  if (!r) r = sbuf_puts(b, ",\"xdomain\":false,\"secure\":false,\"url\":");
  if (!r) r = sbuf_put_json_string(b, query, strlen(query));
  if (!r) r = sbuf_puts(b, ",\"query\":{},\"auth\":");
  if (!r) r = sbuf_put(b, auth, alen);
  if (!r) r = sbuf_puts(b, "},\"rooms\":[");
  int first = 1;
  if (!r) r = put_room_name(b, s->id, SIO_ID_LEN, &first);
  for (uint32_t i = 0; !r && i < s->nrooms; i++) r = put_room_name(b, s->rooms[i].r->name, s->rooms[i].r->name_len, &first);
  if (!r) r = sbuf_puts(b, "],\"data\":");
  if (!r) r = sbuf_put(b, data, dlen);
  if (!r) r = sbuf_put(b, "}", 1);
  return r;
}

static long local_fetch_json(const wsio_sio_target *t, sbuf *out, int *first) {
  sio_selection sel;
  int r = sio_select(t, &sel);
  long n = 0;
  for (size_t i = 0; r == 0 && i < sel.n; i++, n++) {
    if (!*first) r = sbuf_put(out, ",", 1);
    *first = 0;
    if (!r) r = put_socket(out, sel.v[i]);
  }
  sio_selection_free(&sel);
  return r ? r : n;
}

static long local_rooms_json(wsio_sio_nsp *nsp, sbuf *out, int *first) {
  uint32_t it = 0;
  void *v;
  long n = 0;
  while (idmap_next(&nsp->sockets, &it, &v)) {
    const wsio_sio_socket *s = v;
    if (put_room_name(out, s->id, SIO_ID_LEN, first) != 0) return WSIO_ENOMEM;
    n++;
  }
  it = 0;
  while (map_next(&nsp->rooms, &it, NULL, NULL, &v)) {
    const sio_room *r = v;
    if (put_room_name(out, r->name, r->name_len, first) != 0) return WSIO_ENOMEM;
    n++;
  }
  return n;
}

static char *as_text(long n, sbuf *b, size_t *len) {
  if (n < 0 || sbuf_put(b, "]", 1) != 0 || sbuf_put(b, "", 1) != 0) {
    sbuf_free(b);
    return NULL;
  }
  *len = b->n - 1;
  return b->p;
}

char *sio_local_fetch_text(const wsio_sio_target *t, size_t *len) {
  sbuf b = {0};
  int first = 1;
  if (sbuf_put(&b, "[", 1) != 0) return NULL;
  return as_text(local_fetch_json(t, &b, &first), &b, len);
}

char *sio_local_rooms_text(wsio_sio_nsp *nsp, size_t *len) {
  sbuf b = {0};
  int first = 1;
  if (sbuf_put(&b, "[", 1) != 0) return NULL;
  return as_text(local_rooms_json(nsp, &b, &first), &b, len);
}

/* ---- server-side events ------------------------------------------------------------ */

struct wsio_sio_reply {
  sio_server_reply_fn fn;
  void *arg;
  int done;
};

void wsio_sio_nsp_on_server_event(wsio_sio_nsp *nsp, wsio_sio_server_event_fn fn, void *user) {
  if (!nsp) return;
  nsp->on_server_event = fn;
  nsp->server_event_user = user;
}

int wsio_sio_reply_send(wsio_sio_reply *reply, const char *json_value, size_t len) {
  if (!reply || !json_value) return WSIO_EINVAL;
  if (!len) len = strlen(json_value);
  jscan_type t;
  if (!jscan_valid(json_value, len, &t)) return WSIO_EINVAL;
  if (reply->done) return 0;
  reply->done = 1;
  reply->fn(json_value, len, reply->arg);
  return 0;
}

void sio_local_server_event(wsio_sio_nsp *nsp, const sio_event *ev, sio_server_reply_fn answer, void *arg) {
  if (!nsp->on_server_event) return;
  wsio_sio_reply reply = {answer, arg, 0};
  wsio_sio_args args = {ev->json, ev->len, ev->bins, ev->nbins};
  nsp->on_server_event(nsp, ev->name, &args, answer ? &reply : NULL, nsp->server_event_user);
}

/* ---- the public calls ------------------------------------------------------------- */

int wsio_sio_fetch_sockets_all(const wsio_sio_target *t, wsio_sio_result_fn cb, void *user) {
  if (!t || !t->nsp || !cb) return WSIO_EINVAL;
  sio_adapter *a = t->is_local ? &sio_local_adapter : t->nsp->io->adapter;
  return a->ops->fetch_sockets(a, t, cb, user);
}

int wsio_sio_all_rooms(wsio_sio_nsp *nsp, wsio_sio_result_fn cb, void *user) {
  if (!nsp || !cb) return WSIO_EINVAL;
  sio_adapter *a = nsp->io->adapter;
  return a->ops->all_rooms(a, nsp, cb, user);
}

int wsio_sio_server_count(wsio_sio_nsp *nsp, wsio_sio_count_fn cb, void *user) {
  if (!nsp || !cb) return WSIO_EINVAL;
  sio_adapter *a = nsp->io->adapter;
  return a->ops->server_count(a, nsp, cb, user);
}

int wsio_sio_server_side_emit(wsio_sio_nsp *nsp, const char *event, const char *json, size_t len,
                              wsio_sio_result_fn cb, void *user) {
  if (!nsp) return WSIO_EINVAL;
  int r = sio_check_emit(nsp->io, event, &json, &len, NULL, 0);
  if (r) return r;
  sio_event ev = {event, json, len, NULL, 0, NULL, 0};
  sio_adapter *a = nsp->io->adapter;
  return a->ops->server_side_emit(a, nsp, &ev, cb, user);
}
