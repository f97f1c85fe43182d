/* sio/server.c — the Socket.IO v5 server on top of the Engine.IO server (Node's
 * Server + Client + the connect half of Namespace/Socket): one sio_client per
 * Engine.IO session, packet decoding and dispatch (binary packets wait for their
 * attachments), namespace CONNECT (middlewares in middleware.c) and recovery,
 * disconnects, the connect-timeout and recovery timers (loop timers, see internal.h).
 *
 * Must not encode events or walk rooms itself (emit.c, rooms.c) nor know the wire
 * format of Engine.IO (it talks to include/wsio/eio.h and src/eio/eio.h only). */
#include <stdio.h>
#include <string.h>

#include "core/transport.h"
#include "sio/internal.h"
#include "sio/jscan.h"

struct sio_partial {
  sio_packet pkt; /* points into text */
  char *text;
  uint32_t have;
  wsio_span bins[]; /* pkt.attachments entries, each malloc'd */
};

void wsio_sio_options_init(wsio_sio_options *o) {
  memset(o, 0, sizeof(*o));
  wsio_eio_options_init(&o->eio);
  o->eio.path = "/socket.io/";
  o->connect_timeout_ms = 45000;
  o->recovery = 0;
  o->recovery_max_disconnection_ms = 120000;
  o->recovery_skip_middlewares = 1;
  o->recovery_max_packets = 10000;
}

wsio_eio_server *wsio_sio_engine(wsio_sio *io) { return io->eio; }

/* ---- the connect timeout --------------------------------------------------------- */

/* Every client waits the same connect_timeout_ms from when it is appended, so the list
 * is in deadline order and one timer on its head serves it. */
static void waiting_arm(wsio_sio *io) {
  if (!io->waiting_head) loop_timer_stop(io->loop, &io->connect_timer);
  else if (!loop_timer_active(&io->connect_timer) || io->connect_timer.due_ms != io->waiting_head->connect_due)
    (void)loop_timer_start_at(io->loop, &io->connect_timer, io->waiting_head->connect_due, 0);
}

static void waiting_unlink(wsio_sio *io, sio_client *c) {
  if (!(c->flags & CLIENT_WAITING)) return;
  c->flags &= (uint8_t)~CLIENT_WAITING;
  if (c->tprev) c->tprev->tnext = c->tnext;
  else io->waiting_head = c->tnext;
  if (c->tnext) c->tnext->tprev = c->tprev;
  else io->waiting_tail = c->tprev;
  c->tnext = c->tprev = NULL;
}

static void waiting_append(wsio_sio *io, sio_client *c) {
  if (c->flags & (CLIENT_WAITING | CLIENT_CLOSED)) return;
  c->connect_due = sio_now(io) + io->o.connect_timeout_ms;
  c->flags |= CLIENT_WAITING;
  c->tprev = io->waiting_tail;
  if (io->waiting_tail) io->waiting_tail->tnext = c;
  else io->waiting_head = c;
  io->waiting_tail = c;
  waiting_arm(io);
}

void sio_client_unwait(sio_client *c) {
  wsio_sio *io = sio_client_io(c);
  waiting_unlink(io, c);
  waiting_arm(io);
}

/* Node's connectTimeout: close a client that joined no namespace in time. */
static void on_connect_timer(loop_timer *t) {
  wsio_sio *io = (wsio_sio *)((char *)t - offsetof(wsio_sio, connect_timer));
  uint64_t now = sio_now(io);
  while (io->waiting_head && io->waiting_head->connect_due <= now) {
    sio_client *c = io->waiting_head;
    waiting_unlink(io, c);
    sio_client_close(c, "forced server close");
  }
  waiting_arm(io);
}

/* ---- clients --------------------------------------------------------------------- */

static void partial_free(sio_partial *p) {
  if (!p) return;
  for (uint32_t i = 0; i < p->have; i++) free((void *)p->bins[i].p);
  free(p->text);
  free(p);
}

void sio_client_close(sio_client *c, const char *reason) {
  if (c->flags & CLIENT_CLOSED) return;
  wsio_sio *io = sio_client_io(c);
  sio_client *was = io->closing; /* (a disconnect handler may close another client) */
  const char *was_reason = io->closing_reason;
  io->closing = c;
  io->closing_reason = reason;
  wsio_eio_close(c->es); /* runs eio_close at once, which disconnects the sockets */
  io->closing = was;
  io->closing_reason = was_reason;
}

static wsio_sio_socket *client_socket(const sio_client *c, const char *nsp, size_t len) {
  for (wsio_sio_socket *s = c->sockets; s; s = s->cnext)
    if (s->nsp->name_len == len && memcmp(s->nsp->name, nsp, len) == 0) return s;
  return NULL;
}

static void client_unlink_socket(sio_client *c, wsio_sio_socket *s) {
  for (wsio_sio_socket **pp = &c->sockets; *pp; pp = &(*pp)->cnext) {
    if (*pp == s) {
      *pp = s->cnext;
      s->cnext = NULL;
      return;
    }
  }
}

/* ---- sockets --------------------------------------------------------------------- */

static void socket_bury(wsio_sio_socket *s) {
  if (s->state == SOCK_GONE) return;
  wsio_sio *io = s->nsp->io;
  sio_held_flush(io); /* broadcasts emitted while it was in the namespace reach it */
  if (s->state == SOCK_GONE) return;
  sio_sel_changed(io);
  sio_room_leave_all(s);
  s->state = SOCK_GONE;
  s->cnext = io->grave_sockets;
  io->grave_sockets = s;
}

static void socket_free(wsio_sio_socket *s) {
  sio_room_leave_all(s);
  sio_session_missed_flush(s, 0);
  if (s->x) {
    free(s->x->auth);
    free(s->x->data);
    free(s->x);
  }
  free(s);
}

/* Node's RECOVERABLE_DISCONNECT_REASONS: what a reconnect may undo. */
static int reason_recoverable(const char *reason) {
  static const char *const ok[] = {"transport error", "transport close",      "forced close",
                                   "ping timeout",    "server shutting down", "forced server close"};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    if (strcmp(reason, ok[i]) == 0) return 1;
  return 0;
}

void sio_socket_close(wsio_sio_socket *s, const char *reason) {
  if (s->state != SOCK_CONNECTED) return;
  wsio_sio_nsp *nsp = s->nsp;
  sio_held_flush(nsp->io); /* broadcasts emitted while it was connected reach it first */
  if (s->state != SOCK_CONNECTED) return;
  if (nsp->io->o.recovery && reason_recoverable(reason)) {
    if (nsp->io->adapter->ops->persist_session) sio_session_persist_cluster(s);
    else sio_session_persist(s);
  }
  /* Node's order: leave the rooms and the namespace, then tell the application. */
  nsp->io->adapter->ops->del_all(nsp->io->adapter, s);
  idmap_del(&nsp->sockets, s->id, SIO_ID_LEN);
  client_unlink_socket(s->client, s);
  socket_bury(s);
  sio_acks_fail(s);
  if (nsp->on_disconnect) nsp->on_disconnect(s, reason, nsp->disconnect_user);
}

static int send_simple(wsio_sio_socket *s, uint8_t type, const char *json, size_t len) {
  sbuf b = {0};
  int r = sbuf_reserve(&b, 32 + s->nsp->name_len + len);
  if (!r) {
    b.n = sio_packet_head(b.p, type, 0, s->nsp->name, s->nsp->name_len, -1);
    r = sbuf_put(&b, json, len);
  }
  if (!r) r = sio_send_packet(s, b.p, b.n, NULL, 0);
  sbuf_free(&b);
  return r;
}

void wsio_sio_socket_disconnect(wsio_sio_socket *s, int close_transport) {
  if (s->state != SOCK_CONNECTED) return;
  sio_client *c = s->client;
  if (!close_transport) {
    (void)send_simple(s, SIO_DISCONNECT, NULL, 0);
    sio_socket_close(s, "server namespace disconnect");
    return;
  }
  /* Node's client._disconnect(): every socket of the client leaves its namespace
   * (DISCONNECT sent), then the Engine.IO session is closed. */
  while (c->sockets && !(c->flags & CLIENT_CLOSED)) {
    wsio_sio_socket *x = c->sockets;
    (void)send_simple(x, SIO_DISCONNECT, NULL, 0);
    sio_socket_close(x, "server namespace disconnect");
  }
  sio_client_close(c, "forced server close");
}

/* ---- CONNECT --------------------------------------------------------------------- */

static void connect_error(sio_client *c, const char *nsp, size_t nsp_len, const char *message, const char *data) {
  sbuf b = {0};
  jscan_type t;
  int r = sbuf_reserve(&b, 32 + nsp_len);
  if (!r) b.n = sio_packet_head(b.p, SIO_CONNECT_ERROR, 0, nsp, nsp_len, -1);
  if (!r) r = sbuf_puts(&b, "{\"message\":");
  if (!r) r = sbuf_put_json_string(&b, message ? message : "", message ? strlen(message) : 0);
  if (!r && data && jscan_valid(data, strlen(data), &t)) {
    r = sbuf_puts(&b, ",\"data\":");
    if (!r) r = sbuf_puts(&b, data);
  }
  if (!r) r = sbuf_put(&b, "}", 1);
  if (!r) (void)wsio_eio_send(c->es, b.p, b.n, 0);
  sbuf_free(&b);
  sio_client_io(c)->st.connect_errors_total++;
}

static wsio_sio_socket *socket_new(sio_client *c, wsio_sio_nsp *nsp, const sio_packet *pkt) {
  wsio_sio_socket *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->client = c;
  s->nsp = nsp;
  if (pkt->data && pkt->data_len <= UINT32_MAX) {
    if (!sio_socket_extra(s) || !(s->x->auth = malloc(pkt->data_len + 1))) goto fail;
    memcpy(s->x->auth, pkt->data, pkt->data_len);
    s->x->auth[pkt->data_len] = '\0';
    s->x->auth_len = (uint32_t)pkt->data_len;
  }
  if (random_id(s->id) != 0) goto fail;
  if (nsp->io->o.recovery) {
    if (!sio_socket_extra(s) || random_id(s->x->pid) != 0) goto fail;
  }
  return s;
fail:
  if (s->x) free(s->x->auth);
  free(s->x);
  free(s);
  return NULL;
}

/* The namespace a CONNECT names: existing, or created through the dynamic hook. */
static wsio_sio_nsp *connect_nsp(wsio_sio *io, const char *name, size_t len) {
  wsio_sio_nsp *nsp = map_get(&io->nsps, name, len);
  if (nsp || !io->dyn_accept || memchr(name, '\0', len)) return nsp;
  char buf[256], *copy = len < sizeof(buf) ? buf : malloc(len + 1);
  if (!copy) return NULL;
  memcpy(copy, name, len);
  copy[len] = '\0';
  if (io->dyn_accept(io, copy, io->dyn_user) && !(nsp = map_get(&io->nsps, name, len))) {
    nsp = sio_nsp_create(io, name, len);
    if (nsp && io->dyn_created) io->dyn_created(nsp, io->dyn_user);
  }
  if (copy != buf) free(copy);
  return nsp;
}

/* A socket that never joined (refused, or its client left during the middlewares):
 * no disconnect callback, as in Node. */
void sio_socket_discard(wsio_sio_socket *s) {
  socket_bury(s);
  sio_acks_fail(s); /* a middleware may have emitted with ack */
}

void sio_connect_refuse(wsio_sio_socket *s, const char *message, const char *data_json) {
  sio_client *c = s->client;
  wsio_sio_nsp *nsp = s->nsp;
  if (!(c->flags & CLIENT_CLOSED)) connect_error(c, nsp->name, nsp->name_len, message, data_json);
  sio_socket_discard(s);
  /* A client left with no namespace gets the connect timeout again. */
  if (!c->sockets && !c->pending) waiting_append(nsp->io, c);
}

static void send_connect_reply(wsio_sio_socket *s) {
  char json[96];
  const char *pid = sio_socket_pid(s);
  int n = pid ? snprintf(json, sizeof(json), "{\"sid\":\"%s\",\"pid\":\"%s\"}", s->id, pid)
                 : snprintf(json, sizeof(json), "{\"sid\":\"%s\"}", s->id);
  (void)send_simple(s, SIO_CONNECT, json, (size_t)n);
}

/* Recovery kept by the cluster adapter (Node's namespace._onclient awaiting
 * adapter.restoreSession): the CONNECT waits, held as a pending middleware, for the
 * adapter's answer; then goes on as a recovered or a new session. */
static void cluster_restored(const sio_restored *r, void *arg) {
  wsio_sio_pending *h = arg;
  wsio_sio_socket *s = sio_pending_release(h->io, h->token);
  free(h);
  if (!s) return; /* the client left, or the wait timed out */
  int recovered = r && sio_session_adopt(s, r) == 0;
  sio_middlewares_start(s, recovered, 0);
}

/* Returns 1 when the CONNECT now waits for the adapter, 0 to go on at once. */
static int cluster_restore(wsio_sio_socket *s, const sio_packet *pkt) {
  char pid[SIO_ID_LEN + 1], offset[64];
  if (sio_session_auth(pkt->data, pkt->data_len, pid, offset) != 0) return 0;
  wsio_sio *io = s->nsp->io;
  wsio_sio_pending *h = malloc(sizeof(*h));
  if (!h) return 0;
  h->io = io;
  h->token = sio_pending_hold(s);
  if (!h->token) {
    free(h);
    return 0;
  }
  uint64_t token = h->token;
  if (io->adapter->ops->restore_session(io->adapter, s->nsp, pid, offset, cluster_restored, h) != 0) {
    free(h);
    s = sio_pending_release(io, token);
    if (s) sio_middlewares_start(s, 0, 0);
  }
  return 1;
}

static void on_connect(sio_client *c, const sio_packet *pkt) {
  wsio_sio *io = sio_client_io(c);
  wsio_sio_nsp *nsp = connect_nsp(io, pkt->nsp, pkt->nsp_len);
  if (c->flags & CLIENT_CLOSED) return;
  if (!nsp) {
    connect_error(c, pkt->nsp, pkt->nsp_len, "Invalid namespace", NULL);
    return;
  }
  wsio_sio_socket *s = socket_new(c, nsp, pkt);
  if (!s) return;
  if (io->o.recovery && io->adapter->ops->restore_session && cluster_restore(s, pkt)) return;
  if (sio_threads_recover(s)) return; /* its session waits on another thread */
  sio_restore restore;
  int recovered = sio_session_find(nsp, pkt->data, pkt->data_len, &restore) == 0 &&
                  sio_session_apply(s, &restore) == 0;
  sio_middlewares_start(s, recovered, recovered ? restore.offset : 0);
}

int sio_connect_finish(wsio_sio_socket *s, int recovered, uint64_t restore_offset) {
  sio_client *c = s->client;
  wsio_sio_nsp *nsp = s->nsp;
  wsio_sio *io = nsp->io;
  if ((c->flags & CLIENT_CLOSED) || client_socket(c, nsp->name, nsp->name_len) ||
      idmap_put(&nsp->sockets, s) != 0) {
    sio_socket_discard(s);
    return WSIO_ECLOSED;
  }
  s->serial = ++io->next_serial;
  s->state = SOCK_CONNECTED;
  sio_sel_changed(io);
  s->cnext = c->sockets;
  c->sockets = s;
  sio_client_unwait(c);
  if (io->adapter->ops->connected) io->adapter->ops->connected(io->adapter, s);
  /* Node sends the missed packets before the CONNECT reply (from the Socket
   * constructor); the client buffers them until it is connected. */
  if (s->x && s->x->missed) sio_session_missed_flush(s, 1);
  else if (recovered && !io->adapter->ops->restore_session) sio_session_replay(s, restore_offset);
  send_connect_reply(s);
  io->st.connections_total++;
  if (s->recovered) io->st.recovered_total++;
  if (nsp->on_connection && s->state == SOCK_CONNECTED) nsp->on_connection(s, nsp->connection_user);
  return 0;
}

/* ---- incoming packets ------------------------------------------------------------ */

static void on_event(wsio_sio_socket *s, const sio_packet *pkt, const wsio_span *bins, size_t nbins) {
  wsio_sio_nsp *nsp = s->nsp;
  char namebuf[128], argbuf[512];
  char *name = namebuf, *args = argbuf;
  /* A name without escapes (most: decode found it) is its token's bytes; a numeric one
   * its number text. */
  const char *raw = pkt->event_plain ? pkt->event + 1 : pkt->event;
  size_t name_len = pkt->event_plain ? pkt->event_len - 2 : pkt->event_len;
  if (raw[0] == '"' && !pkt->event_plain) {
    long n = jscan_string_unescape(pkt->event, pkt->event_len, namebuf, sizeof(namebuf));
    if (n < 0) return;
    if ((size_t)n >= sizeof(namebuf)) {
      if (!(name = malloc((size_t)n + 1))) return;
      jscan_string_unescape(pkt->event, pkt->event_len, name, (size_t)n + 1);
    }
    name_len = (size_t)n;
  } else {
    if (name_len >= sizeof(namebuf) && !(name = malloc(name_len + 1))) return;
    memcpy(name, raw, name_len);
    name[name_len] = '\0';
  }
  size_t args_len = 1 + pkt->args_rest_len;
  if (args_len > sizeof(argbuf) && !(args = malloc(args_len))) goto out;
  args[0] = '[';
  memcpy(args + 1, pkt->args_rest, pkt->args_rest_len);
  wsio_sio_args a = {args, args_len, bins, nbins};
  wsio_sio_ack ack;
  sio_ack_handle(&ack, s, pkt->ack_id);
  const sio_handler *h = sio_nsp_handler(nsp, name, name_len);
  wsio_sio_event_fn fn = h ? h->fn : nsp->on_any;
  void *user = h ? h->user : nsp->any_user;
  wsio_sio *io = nsp->io;
  /* args is "[" + the rest of an array sio_packet_decode validated: an array too. */
  const char *outer_args = io->cb_args; /* in case an event runs inside another's callback */
  size_t outer_len = io->cb_args_len;
  io->cb_args = args;
  io->cb_args_len = args_len;
  if (fn && pkt->ack_id < 0) {
    fn(s, name, &a, ack, user);
  } else if (fn) {
    sio_inline_ack outer = io->inline_ack;
    sio_ack_begin(s, pkt->ack_id);
    fn(s, name, &a, ack, user);
    sio_ack_end(s);
    io->inline_ack = outer;
  }
  io->cb_args = outer_args;
  io->cb_args_len = outer_len;
out:
  if (name != namebuf) free(name);
  if (args != argbuf) free(args);
}

/* A complete packet (attachments included). Node's Client.ondecoded: a packet for a
 * namespace without a socket is only valid as CONNECT; anything else closes. */
static void dispatch(sio_client *c, const sio_packet *pkt, const wsio_span *bins, size_t nbins) {
  wsio_sio_socket *s = client_socket(c, pkt->nsp, pkt->nsp_len);
  if (!s) {
    if (pkt->type == SIO_CONNECT) on_connect(c, pkt);
    else sio_client_close(c, "forced server close");
    return;
  }
  switch (pkt->type) {
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
      on_event(s, pkt, bins, nbins);
      break;
    case SIO_ACK:
    case SIO_BINARY_ACK: {
      wsio_sio_args a = {pkt->data ? pkt->data : "[]", pkt->data ? pkt->data_len : 2, bins, nbins};
      sio_on_ack(s, pkt->ack_id, &a);
      break;
    }
    case SIO_DISCONNECT:
      sio_socket_close(s, "client namespace disconnect");
      break;
    default: /* CONNECT again, or CONNECT_ERROR from a client */
      sio_client_close(c, "forced server close");
      break;
  }
}

/* A BINARY_EVENT/BINARY_ACK head: keep a copy of its text until the attachments are
 * all here (socket.io-parser's BinaryReconstructor). */
static void start_partial(sio_client *c, const char *text, size_t len, uint32_t want) {
  sio_partial *p = calloc(1, sizeof(*p) + want * sizeof(wsio_span));
  if (p) p->text = malloc(len ? len : 1);
  if (!p || !p->text) {
    free(p);
    sio_client_close(c, "parse error");
    return;
  }
  memcpy(p->text, text, len);
  /* Decoded again on the copy so the packet's pointers outlive the message. */
  (void)sio_packet_decode(p->text, len, &p->pkt);
  c->partial = p;
}

/* socket.io-parser's reconstructPacket: every placeholder must name an attachment
 * ("illegal attachments" otherwise, which closes the client). */
static int placeholders_ok(const sio_packet *pkt, size_t nbins) {
  return !pkt->data || jscan_count_placeholders(pkt->data, pkt->data_len, nbins) >= 0;
}

static void on_binary(sio_client *c, const uint8_t *data, size_t len) {
  sio_partial *p = c->partial;
  if (!p) { /* "got binary data when not reconstructing a packet" */
    sio_client_close(c, "parse error");
    return;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) {
    sio_client_close(c, "parse error");
    return;
  }
  if (len) memcpy(copy, data, len);
  p->bins[p->have++] = (wsio_span){copy, len};
  if (p->have < p->pkt.attachments) return;
  c->partial = NULL;
  if (placeholders_ok(&p->pkt, p->have)) dispatch(c, &p->pkt, p->bins, p->have);
  else sio_client_close(c, "parse error");
  partial_free(p);
}

static void on_text(sio_client *c, const uint8_t *data, size_t len) {
  if (c->partial) { /* "got plaintext data when reconstructing a packet" */
    sio_client_close(c, "parse error");
    return;
  }
  sio_packet pkt;
  if (sio_packet_decode((const char *)data, len, &pkt) != 0) {
    sio_client_close(c, "parse error");
    return;
  }
  if (pkt.type == SIO_BINARY_EVENT || pkt.type == SIO_BINARY_ACK) {
    if (pkt.attachments > 0) {
      start_partial(c, (const char *)data, len, pkt.attachments);
      return;
    }
    if (!placeholders_ok(&pkt, 0)) {
      sio_client_close(c, "parse error");
      return;
    }
  }
  dispatch(c, &pkt, NULL, 0);
}

/* ---- Engine.IO callbacks --------------------------------------------------------- */

static int eio_allow(const wsio_request *req, const char **message, void *user) {
  wsio_sio *io = user;
  return io->o.allow_request ? io->o.allow_request(req, message, io->o.allow_request_user) : 0;
}

static void eio_open(wsio_eio_session *es, const wsio_request *req, void *user) {
  wsio_sio *io = user;
  size_t qlen = 0, hlen = 0;
  const char *q = req ? wsio_request_query(req, &qlen) : NULL;
  /* Kept for middlewares (Authorization: Bearer); only this header: memory per client. */
  const char *h = req ? wsio_request_header(req, "authorization", &hlen) : NULL;
  if (!q) qlen = 0;
  /* Mutual TLS: the handshake's verified subject, for middlewares (later long-polling
   * requests are connections of their own; the handshake's certificate is the one the
   * session was opened with). */
  char peer[WSIO_TLS_PEER_MAX];
  int plen = req ? wsio_request_tls_peer(req, peer, sizeof(peer)) : 0;
  if (plen < 0) plen = 0;
  size_t size = offsetof(sio_client, text) + qlen + 1 + (h ? hlen + 1 : 0) + (plen ? (size_t)plen + 1 : 0);
  sio_client *c = qlen + hlen < UINT32_MAX / 2 ? calloc(1, size) : NULL;
  if (!c) {
    wsio_eio_close(es);
    return;
  }
  c->es = es;
  if (qlen) memcpy(c->text, q, qlen);
  size_t end = qlen + 1;
  if (h) {
    c->auth_off = (uint32_t)end;
    memcpy(c->text + end, h, hlen);
    end += hlen + 1;
  }
  if (plen) {
    c->flags |= CLIENT_TLS_PEER;
    memcpy(c->text + end, peer, (size_t)plen);
  }
  wsio_eio_session_set_user(es, c);
  waiting_append(io, c);
}

static void eio_message(wsio_eio_session *es, const uint8_t *data, size_t len, int binary, void *user) {
  (void)user;
  sio_client *c = wsio_eio_session_user(es);
  if (!c || (c->flags & CLIENT_CLOSED)) return;
  if (binary) on_binary(c, data, len);
  else on_text(c, data, len);
}

static void eio_close(wsio_eio_session *es, const char *reason, void *user) {
  wsio_sio *io = user;
  sio_client *c = wsio_eio_session_user(es);
  if (!c) return;
  wsio_eio_session_set_user(es, NULL);
  const char *r = io->closing == c ? io->closing_reason : reason;
  c->flags |= CLIENT_CLOSED;
  sio_client_unwait(c);
  sio_pending_drop_client(c);
  partial_free(c->partial);
  c->partial = NULL;
  while (c->sockets) sio_socket_close(c->sockets, r);
  c->tnext = io->grave_clients;
  io->grave_clients = c;
}

/* ---- deferred frees, teardown ----------------------------------------------------- */

static void reap(wsio_sio *io) {
  while (io->grave_sockets) {
    wsio_sio_socket *s = io->grave_sockets;
    io->grave_sockets = s->cnext;
    socket_free(s);
  }
  while (io->grave_clients) {
    sio_client *c = io->grave_clients;
    io->grave_clients = c->tnext;
    free(c);
  }
}

static void on_post(void *arg) {
  wsio_sio *io = arg;
  /* This iteration's held broadcasts; from here on a broadcast goes out at once. */
  io->post_iter = loop_iteration(io->loop);
  sio_held_flush(io);
  if (io->grave_sockets || io->grave_clients) reap(io);
}

/* Runs after the Engine.IO server's own teardown (registered before it), which has
 * closed every session through eio_close already. */
static void on_destroy(void *arg) {
  wsio_sio *io = arg;
  /* Every session is closed: no client waits, no CONNECT is pending, and every ack
   * wait and group has ended (each socket failed its waits as it closed). */
  loop_timer_stop(io->loop, &io->connect_timer);
  loop_timer_stop(io->loop, &io->recovery_timer);
  reap(io);
  sio_held_free(io); /* (eio_close flushed it: the sessions are gone) */
  sio_adapter_set(io, NULL); /* a cluster adapter goes with its server */
  map_free(&io->pending);
  sio_recovery_free(io);
  uint32_t it = 0;
  void *v;
  while (map_next(&io->nsps, &it, NULL, NULL, &v)) sio_nsp_free(v);
  free(io->mw);
  map_free(&io->nsps);
  free(io);
}

wsio_sio *wsio_sio_attach(wsio_app *app, const wsio_sio_options *o) {
  wsio_sio_options defaults;
  if (!o) {
    wsio_sio_options_init(&defaults);
    o = &defaults;
  }
  if (!app) return NULL;
  wsio_sio *io = calloc(1, sizeof(*io));
  if (!io) return NULL;
  io->app = app;
  io->loop = core_loop(app);
  io->adapter = &sio_local_adapter;
  io->o = *o;
  if (!io->o.eio.path) io->o.eio.path = "/socket.io/";
  io->connect_timer.cb = on_connect_timer;
  io->recovery_timer.cb = sio_recovery_timer_cb;
  if (!sio_nsp_create(io, "/", 1)) {
    free(io);
    return NULL;
  }
  /* Registered before the Engine.IO server's hooks, so its teardown (which closes the
   * sessions through eio_close) runs before ours. */
  if (core_hook_add(app, CORE_HOOK_DESTROY, on_destroy, io) != 0) {
    sio_nsp_free(map_get(&io->nsps, "/", 1));
    map_free(&io->nsps);
    free(io);
    return NULL;
  }
  if (core_hook_add(app, CORE_HOOK_POST, on_post, io) != 0) return NULL; /* io freed with the app */
  wsio_eio_handlers h = {.allow_request = eio_allow, .open = eio_open, .message = eio_message, .close = eio_close};
  io->eio = wsio_eio_attach(app, &io->o.eio, &h, io);
  if (io->eio) eio_set_release(io->eio, sio_held_release, io);
  /* The caller's strings were copied by the Engine.IO server; do not keep them. */
  io->o.eio.path = NULL;
  io->o.eio.cors_origin = NULL;
  /* --threads: rooms and broadcasts reach the servers of the other threads. */
  if (io->eio && sio_threads_install(io) < 0) return NULL; /* io freed with the app */
  return io->eio ? io : NULL;
}
