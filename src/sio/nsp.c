/* sio/nsp.c — namespaces (io.of), their handlers and middleware, and the socket
 * accessors of the public API. Handlers live in the namespace (one table per
 * namespace, none per socket): that is what keeps a socket small. */
#include <string.h>

#include "sio/internal.h"
#include "sio/jscan.h"

wsio_sio_nsp *sio_nsp_create(wsio_sio *io, const char *name, size_t len) {
  wsio_sio_nsp *nsp = calloc(1, sizeof(*nsp));
  if (!nsp) return NULL;
  nsp->name = malloc(len + 1);
  if (!nsp->name) goto fail;
  memcpy(nsp->name, name, len);
  nsp->name[len] = '\0';
  nsp->name_len = len;
  nsp->io = io;
  idmap_init(&nsp->sockets, offsetof(wsio_sio_socket, id), SIO_ID_LEN);
  if (map_put(&io->nsps, nsp->name, len, nsp) != 0) goto fail;
  if (io->adapter && io->adapter->ops->nsp_created) io->adapter->ops->nsp_created(io->adapter, nsp);
  return nsp;
fail:
  free(nsp->name);
  free(nsp);
  return NULL;
}

/* Frees the namespace's own tables. Its sockets are freed by the server first. */
void sio_nsp_free(wsio_sio_nsp *nsp) {
  uint32_t it = 0;
  void *v;
  while (map_next(&nsp->handlers, &it, NULL, NULL, &v)) free(v);
  map_free(&nsp->handlers);
  it = 0;
  while (map_next(&nsp->rooms, &it, NULL, NULL, &v)) {
    sio_room *r = v;
    free(r->m);
    free(r);
  }
  map_free(&nsp->rooms);
  idmap_free(&nsp->sockets);
  sio_log_free(nsp->log);
  free(nsp->mw);
  free(nsp->name);
  free(nsp);
}

const sio_handler *sio_nsp_handler(const wsio_sio_nsp *nsp, const char *name, size_t len) {
  return map_get(&nsp->handlers, name, len);
}

/* ---- public: namespaces ---------------------------------------------------------- */

wsio_sio_nsp *wsio_sio_of(wsio_sio *io, const char *name) {
  if (!io || !name) return NULL;
  /* Node's io.of("chat") is "/chat". */
  char buf[256];
  size_t len = strlen(name);
  if (name[0] != '/') {
    if (len + 2 > sizeof(buf)) return NULL;
    buf[0] = '/';
    memcpy(buf + 1, name, len + 1);
    name = buf;
    len++;
  }
  wsio_sio_nsp *nsp = map_get(&io->nsps, name, len);
  return nsp ? nsp : sio_nsp_create(io, name, len);
}

const char *wsio_sio_nsp_name(const wsio_sio_nsp *nsp) { return nsp->name; }
wsio_sio *wsio_sio_nsp_server(const wsio_sio_nsp *nsp) { return nsp->io; }

/* The setters below ignore a NULL namespace or server (they have no status to return);
 * every function returning int gives WSIO_EINVAL for NULL arguments. */
void wsio_sio_set_dynamic(wsio_sio *io, int (*accept)(wsio_sio *io, const char *name, void *user),
                          void (*created)(wsio_sio_nsp *nsp, void *user), void *user) {
  if (!io) return;
  io->dyn_accept = accept;
  io->dyn_created = created;
  io->dyn_user = user;
}

void wsio_sio_nsp_on_connection(wsio_sio_nsp *nsp, wsio_sio_connection_fn fn, void *user) {
  if (!nsp) return;
  nsp->on_connection = fn;
  nsp->connection_user = user;
}

void wsio_sio_nsp_on_disconnect(wsio_sio_nsp *nsp, wsio_sio_disconnect_fn fn, void *user) {
  if (!nsp) return;
  nsp->on_disconnect = fn;
  nsp->disconnect_user = user;
}

int wsio_sio_nsp_use(wsio_sio_nsp *nsp, wsio_sio_middleware_fn fn, void *user) {
  if (!nsp || !fn) return WSIO_EINVAL;
  sio_middleware *mw = realloc(nsp->mw, (nsp->nmw + 1) * sizeof(*mw));
  if (!mw) return WSIO_ENOMEM;
  mw[nsp->nmw++] = (sio_middleware){fn, user};
  nsp->mw = mw;
  return 0;
}

int wsio_sio_use(wsio_sio *io, wsio_sio_middleware_fn fn, void *user) {
  if (!io || !fn) return WSIO_EINVAL;
  sio_middleware *mw = realloc(io->mw, (io->nmw + 1) * sizeof(*mw));
  if (!mw) return WSIO_ENOMEM;
  mw[io->nmw++] = (sio_middleware){fn, user};
  io->mw = mw;
  return 0;
}

int wsio_sio_nsp_on(wsio_sio_nsp *nsp, const char *event, wsio_sio_event_fn fn, void *user) {
  if (!nsp || !event || !fn) return WSIO_EINVAL;
  size_t len = strlen(event);
  sio_handler *old = map_get(&nsp->handlers, event, len);
  if (old) { /* a later registration replaces the earlier */
    old->fn = fn;
    old->user = user;
    return 0;
  }
  sio_handler *h = malloc(sizeof(*h) + len + 1);
  if (!h) return WSIO_ENOMEM;
  h->fn = fn;
  h->user = user;
  h->name_len = len;
  memcpy(h->name, event, len + 1);
  if (map_put(&nsp->handlers, h->name, len, h) != 0) {
    free(h);
    return WSIO_ENOMEM;
  }
  return 0;
}

void wsio_sio_nsp_on_any(wsio_sio_nsp *nsp, wsio_sio_event_fn fn, void *user) {
  if (!nsp) return;
  nsp->on_any = fn;
  nsp->any_user = user;
}

size_t wsio_sio_nsp_num_sockets(const wsio_sio_nsp *nsp) { return idmap_size(&nsp->sockets); }
size_t wsio_sio_nsp_num_rooms(const wsio_sio_nsp *nsp) { return map_size(&nsp->rooms); }

/* ---- public: sockets ------------------------------------------------------------- */

const char *wsio_sio_socket_id(const wsio_sio_socket *s) { return s->id; }
wsio_sio_nsp *wsio_sio_socket_nsp(const wsio_sio_socket *s) { return s->nsp; }

wsio_sio_socket *wsio_sio_nsp_socket(wsio_sio_nsp *nsp, const char *id) {
  if (!nsp || !id || strlen(id) != SIO_ID_LEN) return NULL;
  wsio_sio_socket *s = idmap_get(&nsp->sockets, id, SIO_ID_LEN);
  return s && s->state == SOCK_CONNECTED && sio_socket_live(s) ? s : NULL;
}

sio_sock_extra *sio_socket_extra(wsio_sio_socket *s) {
  if (!s->x) s->x = calloc(1, sizeof(*s->x));
  return s->x;
}

const char *wsio_sio_socket_auth(const wsio_sio_socket *s, size_t *len) {
  if (!s->x || !s->x->auth) {
    if (len) *len = 2;
    return "{}";
  }
  if (len) *len = s->x->auth_len;
  return s->x->auth;
}

const char *wsio_sio_socket_data(const wsio_sio_socket *s, size_t *len) {
  if (!s->x || !s->x->data) {
    if (len) *len = 2;
    return "{}";
  }
  if (len) *len = s->x->data_len;
  return s->x->data;
}

int wsio_sio_socket_set_data(wsio_sio_socket *s, const char *json, size_t len) {
  if (!s) return WSIO_EINVAL;
  if (json && len == 0) len = strlen(json);
  char *copy = NULL;
  if (json) {
    jscan_type t;
    if (!jscan_valid(json, len, &t) || len > UINT32_MAX) return WSIO_EINVAL;
    if (!sio_socket_extra(s) || !(copy = malloc(len + 1))) return WSIO_ENOMEM;
    memcpy(copy, json, len);
    copy[len] = '\0';
  }
  if (!s->x) return 0; /* no data before either */
  free(s->x->data);
  s->x->data = copy;
  s->x->data_len = copy ? (uint32_t)len : 0;
  return 0;
}

const char *wsio_sio_socket_query(const wsio_sio_socket *s) {
  return s->client->text;
}

const char *wsio_sio_socket_authorization(const wsio_sio_socket *s) {
  return s->client->auth_off ? s->client->text + s->client->auth_off : NULL;
}

const char *wsio_sio_socket_tls_peer(const wsio_sio_socket *s) {
  const sio_client *c = s->client;
  if (!(c->flags & CLIENT_TLS_PEER)) return NULL;
  const char *after = c->auth_off ? c->text + c->auth_off : c->text; /* the last string before it */
  return after + strlen(after) + 1;
}

const char *wsio_sio_socket_transport(const wsio_sio_socket *s) {
  return sio_socket_live(s) ? wsio_eio_session_transport(s->client->es) : "";
}

int wsio_sio_socket_remote_address(const wsio_sio_socket *s, char *buf, size_t cap) {
  if (!s || !buf || !cap) return WSIO_EINVAL;
  if (!sio_socket_live(s)) return WSIO_ECLOSED;
  return wsio_eio_session_remote_address(s->client->es, buf, cap);
}

int wsio_sio_socket_recovered(const wsio_sio_socket *s) { return s->recovered; }

int wsio_sio_socket_join(wsio_sio_socket *s, const char *room) {
  if (!s || !room || s->state == SOCK_GONE) return WSIO_EINVAL;
  sio_adapter *a = s->nsp->io->adapter;
  return a->ops->add_all(a, s, &room, 1);
}

int wsio_sio_socket_leave(wsio_sio_socket *s, const char *room) {
  if (!s || !room || s->state == SOCK_GONE) return WSIO_EINVAL;
  sio_adapter *a = s->nsp->io->adapter;
  a->ops->del(a, s, room);
  return 0;
}

int wsio_sio_socket_in_room(const wsio_sio_socket *s, const char *room) {
  return room && s->state != SOCK_GONE && sio_room_has(s, room, strlen(room));
}

void wsio_sio_socket_rooms(const wsio_sio_socket *s, void (*fn)(const char *room, void *user), void *user) {
  if (s->state == SOCK_GONE) return;
  fn(s->id, user);
  for (uint32_t i = 0; i < s->nrooms; i++) fn(s->rooms[i].r->name, user);
}

void wsio_sio_socket_set_user(wsio_sio_socket *s, void *user) { s->user = user; }
void *wsio_sio_socket_user(const wsio_sio_socket *s) { return s->user; }
