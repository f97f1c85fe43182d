/* adapter/redis.c — the Redis cluster adapter's entry points: wsio_sio_use_redis, the
 * adapter's ops (sio/adapter.h) and the requests this node waits on.
 *
 * Kinds, each wire-compatible with its Node counterpart (docs/cluster.md): the classic
 * pub/sub adapter (pubsub.c) and createShardedAdapter (cluster_adapter.c), both over the
 * connections of conn.c.
 *
 * Owns: the adapter (one per server), its namespaces' channels, the requests this node
 * waits on (each bounded by request_timeout_ms) and the adapter's lifetime.
 * Must not know sockets or packets beyond sio/adapter.h: this node's part of every
 * operation is a sio_local_* call. While Redis is away, local work goes on: publishes
 * are dropped (pub/sub keeps nothing for late subscribers anyway) and requests answer
 * with this node's part and WSIO_ETIMEDOUT at once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adapter/internal.h"
#include "net/tls.h"

/* ---- namespaces ---------------------------------------------------------------------- */

static char *strf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) s = NULL;
  va_end(ap);
  return s;
}

static void rnsp_free(rnsp *ns) {
  free(ns->channel);
  free(ns->req_channel);
  free(ns->resp_channel);
  free(ns->spec_channel);
  json_decref(ns->subs);
  free(ns);
}

static void ra_nsp_created(sio_adapter *a, wsio_sio_nsp *nsp) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = calloc(1, sizeof(*ns));
  if (!ns) return;
  ns->nsp = nsp;
  ns->name = wsio_sio_nsp_name(nsp);
  ns->channel = strf("%s#%s#", ra->prefix, ns->name);
  if (RA_CLUSTER_MSGS(ra)) { /* requests go on the main channel; responses to the requester's own */
    ns->req_channel = strf("%s#%s#", ra->prefix, ns->name);
    ns->resp_channel = strf("%s#%s#", ra->prefix, ns->name); /* + requester uid + "#" */
    ns->spec_channel = strf("%s#%s#%s#", ra->prefix, ns->name, ra->uid);
    ns->subs = json_object();
  } else {
    ns->req_channel = strf("%s-request#%s#", ra->prefix, ns->name);
    ns->resp_channel = strf("%s-response#%s#", ra->prefix, ns->name);
    ns->spec_channel = strf("%s-response#%s#%s#", ra->prefix, ns->name, ra->uid);
  }
  if (!ns->channel || !ns->req_channel || !ns->resp_channel || !ns->spec_channel || (RA_CLUSTER_MSGS(ra) && !ns->subs)) {
    rnsp_free(ns);
    return;
  }
  ns->channel_len = strlen(ns->channel);
  ns->next = ra->nsps;
  ra->nsps = ns;
  if (!ra->sharded && ra->sub.state == RC_READY) ra_subscribe_nsp(ra, ns, &ra->sub);
  if (ra->sharded && ra->slots_known) ra_sh_subscribe_nsp(ra, ns, NULL);
}

rnsp *ra_ns_of(redis_adapter *ra, const wsio_sio_nsp *nsp) {
  for (rnsp *ns = ra->nsps; ns; ns = ns->next)
    if (ns->nsp == nsp) return ns;
  return NULL;
}

/* ---- requests this node waits on -------------------------------------------------------- */

static rreq *req_find_serial(redis_adapter *ra, uint32_t serial) {
  for (rreq *q = ra->reqs; q; q = q->next)
    if (q->serial == serial) return q;
  return NULL;
}

rreq *ra_req_find_id(redis_adapter *ra, const char *id) {
  for (rreq *q = ra->reqs; q; q = q->next)
    if (strcmp(q->id, id) == 0) return q;
  return NULL;
}

static void req_unlink(redis_adapter *ra, rreq *q) {
  for (rreq **pp = &ra->reqs; *pp; pp = &(*pp)->next) {
    if (*pp == q) {
      *pp = q->next;
      return;
    }
  }
}

static void req_free(rreq *q) {
  for (size_t i = 0; i < q->nbins; i++) free((void *)q->bins[i].p);
  free(q->bins);
  json_decref(q->acc);
  free(q->msg);
  free(q);
}

/* Answers once: the results so far, with err. */
void ra_req_finish(rreq *q, int err) {
  redis_adapter *ra = q->ra;
  if (q->done) return;
  q->done = 1;
  req_unlink(ra, q);
  loop_timer_stop(ra->loop, &q->timer);
  if (q->type == REQ_COUNT) {
    q->ccb(err ? 1 : q->num_sub, err, q->user);
  } else {
    json_t *out = q->acc;
    json_t *list = NULL;
    if (json_is_object(out)) { /* a set of room names */
      list = json_array();
      const char *k;
      json_t *v;
      json_object_foreach(out, k, v) json_array_append_new(list, json_string(k));
      out = list;
    }
    size_t n = 2;
    char *s = out ? codec_dump(out, &n) : NULL;
    if (q->bcb) q->bcb(s ? s : "[]", s ? n : 2, q->bins, q->nbins, err, q->user);
    else q->cb(s ? s : "[]", s ? n : 2, err, q->user);
    free(s);
    json_decref(list);
  }
  if (!q->local_pending) req_free(q);
}

static void req_expired(loop_timer *t) {
  rreq *q = (rreq *)((char *)t - offsetof(rreq, timer));
  q->ra->st.request_timeouts++;
  ra_req_finish(q, WSIO_ETIMEDOUT);
}

static rreq *req_new(redis_adapter *ra, rnsp *ns, int type) {
  rreq *q = calloc(1, sizeof(*q));
  if (!q) return NULL;
  q->ra = ra;
  q->ns = ns;
  q->type = type;
  q->serial = ++ra->next_serial;
  q->num_sub = -1;
  q->msg_count = 1;
  ra_make_id(q->id);
  q->timer.cb = req_expired;
  q->next = ra->reqs;
  ra->reqs = q;
  if (loop_timer_start(ra->loop, &q->timer, ra->request_timeout_ms, 0) != 0) {
    req_unlink(ra, q);
    free(q);
    return NULL;
  }
  return q;
}


/* PUBSUB NUMSUB's answer: how many nodes subscribe to the namespace's request channel. */
static void on_numsub(redis_adapter *ra, redisReply *r, uint32_t serial) {
  rreq *q = req_find_serial(ra, serial);
  if (!q) return;
  long n = -1;
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[1]->type == REDIS_REPLY_INTEGER)
    n = (long)r->element[1]->integer;
  if (n < 0) { /* the connection went away: this node's part only */
    q->num_sub = 1;
    ra_req_finish(q, WSIO_ETIMEDOUT);
    return;
  }
  if (q->ns->nsp == sio_nsp_find(ra->io, "/", 1)) ra->st.nodes = n;
  switch (q->type) {
    case REQ_COUNT:
      q->num_sub = n;
      ra_req_finish(q, 0);
      return;
    case REQ_BROADCAST:
      q->num_sub = n < 1 ? 1 : n;
      ra_bcast_check(q);
      return;
    case REQ_SERVER_SIDE_EMIT:
      q->num_sub = n - 1; /* not this node */
      q->msg_count = 0;
      break;
    default:
      q->num_sub = n;
      break;
  }
  if (q->msg_count >= q->num_sub) {
    ra_req_finish(q, 0);
    return;
  }
  if (ra_publish(ra, q->ns->req_channel, q->msg, q->msg_len) != 0) ra_req_finish(q, WSIO_ETIMEDOUT);
}

/* Starts the NUMSUB of a request; without Redis, answers with this node's part. */
static int req_count(rreq *q) {
  redis_adapter *ra = q->ra;
  const char *a[] = {"PUBSUB", ra->sharded ? "SHARDNUMSUB" : "NUMSUB", q->ns->req_channel};
  size_t l[] = {6, ra->sharded ? 11u : 6u, strlen(q->ns->req_channel)};
  if (!ra_is_up(ra) || ra_conn_command(ra_route(ra, q->ns->req_channel, 0), 3, a, l, on_numsub, q->serial) != 0) {
    q->num_sub = 1;
    if (q->type == REQ_BROADCAST) {
      ra_bcast_check(q);
      return 0;
    }
    ra_req_finish(q, q->type == REQ_COUNT ? 0 : WSIO_ETIMEDOUT);
  }
  return 0;
}

/* ---- the adapter's ops ---------------------------------------------------------------- */

static int ra_add_all(sio_adapter *a, wsio_sio_socket *s, const char *const *rooms, size_t n) {
  redis_adapter *ra = (redis_adapter *)a;
  int r = sio_local_add_all(s, rooms, n);
  if (ra->sharded && r >= 0) ra_sh_joined(ra, s, rooms, n);
  return r;
}
static void ra_del(sio_adapter *a, wsio_sio_socket *s, const char *room) {
  redis_adapter *ra = (redis_adapter *)a;
  sio_local_del(s, room);
  if (ra->sharded) ra_sh_left(ra, wsio_sio_socket_nsp(s), room);
}
typedef struct left_rooms {
  rnsp *ns;
  json_t *names; /* the socket's rooms this node has a room channel for */
} left_rooms;

static void collect_subscribed(const char *room, void *user) {
  left_rooms *l = user;
  if (json_object_get(l->ns->subs, room)) json_array_append_new(l->names, json_string(room));
}

/* A socket leaving all its rooms (a disconnect): only its rooms are looked at (a walk of
 * every room per disconnect would cost O(rooms) each). */
static void ra_del_all(sio_adapter *a, wsio_sio_socket *s) {
  redis_adapter *ra = (redis_adapter *)a;
  wsio_sio_nsp *nsp = wsio_sio_socket_nsp(s);
  left_rooms l = {ra->sharded ? ra_ns_of(ra, nsp) : NULL, NULL};
  if (l.ns && (l.names = json_array()) != NULL) wsio_sio_socket_rooms(s, collect_subscribed, &l);
  sio_local_del_all(s);
  if (ra->sharded) ra_sh_socket_room(ra, s, 0);
  for (size_t i = 0; i < json_array_size(l.names); i++) ra_sh_left(ra, nsp, json_string_value(json_array_get(l.names, i)));
  json_decref(l.names);
}

static int ra_broadcast(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = t->is_local ? NULL : ra_ns_of(ra, t->nsp);
  if (ns && !ra_is_up(ra)) { /* not even encoded: it could not go anywhere */
    ra->st.messages_dropped++;
    ns = NULL;
  }
  /* Recovery across nodes: the local delivery carries the stream's offset, known once
   * XADD answers (socket.emit comes here too, to the socket's id room). */
  if (ns && ra->streams && !t->is_volatile && sio_server_recovery_ms(ra->io) &&
      ra_st_broadcast_deferred(ra, ns, t, ev) == 0)
    return 0;
  if (ns && RA_CLUSTER_MSGS(ra)) {
    ra_sh_broadcast(ra, ns, t, ev);
  } else if (ns) {
    mp m;
    ra_mp_init(&m);
    int r = msgpack_pack_array(&m.pk, 3) || ra_mp_str(&m, ra->uid) || ra_pack_packet(&m, ns->name, ev) ||
            ra_pack_opts(&m, t, -1);
    if (!r) {
      char one[1024];
      const char *channel = ns->channel;
      if (t->nrooms == 1 && t->rooms[0] && snprintf(one, sizeof(one), "%s%s#", ns->channel, t->rooms[0]) < (int)sizeof(one))
        channel = one;
      ra_publish(ra, channel, m.sb.data, m.sb.size);
    }
    msgpack_sbuffer_destroy(&m.sb);
  }
  return sio_local_broadcast(t, ev);
}

/* Broadcast with ack across nodes (Node's BroadcastOperator.emit with a timeout): done
 * when every node reported its client count and every counted client answered. */
void ra_bcast_check(rreq *q) {
  if (q->done || q->num_sub < 0 || q->servers_reported < q->num_sub) return;
  if ((long)json_array_size(q->acc) < q->clients_expected) return;
  ra_req_finish(q, 0);
}

/* Copies of an answer's attachments, after those kept; -1: out of memory. */
static int keep_bins(rreq *q, const wsio_span *bins, size_t nbins) {
  return sio_spans_keep(&q->bins, &q->nbins, &q->bins_cap, bins, nbins) < 0 ? -1 : 0;
}

void ra_bcast_answer(rreq *q, json_t *v, const wsio_span *bins, size_t nbins, int remote) {
  if (q->done) {
    json_decref(v);
    return;
  }
  if (!v) v = json_null();
  if (q->bcb && nbins) {
    size_t base = q->nbins;
    if (keep_bins(q, bins, nbins) == 0) {
      sio_placeholders_rebase(v, base);
    } else { /* its placeholders would name what is not there */
      json_decref(v);
      v = json_null();
    }
  } else if (!q->bcb && nbins && remote) {
    v = ra_unbin(v); /* the JSON callback: an attachment from another node is null */
  }
  json_array_append_new(q->acc, v);
  ra_bcast_check(q);
}

/* This node's clients' answers (the JSON callback: an attachment is its placeholder). */
static void bcast_each(const char *json, size_t len, const wsio_span *bins, size_t nbins, void *arg) {
  rreq *q = arg;
  if (q->done) return;
  json_error_t je;
  ra_bcast_answer(q, json_loadb(json, len, JSON_DECODE_ANY, &je), bins, nbins, 0);
}

static void bcast_local_done(const char *json, size_t len, int err, void *user) {
  (void)json;
  (void)len;
  (void)err;
  rreq *q = user;
  q->local_pending = 0;
  if (q->done) req_free(q);
}

/* cb (JSON answers) or bcb (with their attachments). */
static int bcast_with_ack(redis_adapter *ra, const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                          wsio_sio_broadcast_ack_fn cb, wsio_sio_broadcast_ack_bin_fn bcb, void *user) {
  rnsp *ns = t->is_local ? NULL : ra_ns_of(ra, t->nsp);
  if (!ns)
    return bcb ? sio_local_broadcast_with_ack_bin(t, ev, timeout_ms, bcb, user)
               : sio_local_broadcast_with_ack(t, ev, timeout_ms, cb, user);
  rreq *q = req_new(ra, ns, REQ_BROADCAST);
  if (!q) return WSIO_ENOMEM;
  /* The request's deadline is the broadcast's own (flags.timeout), not the adapter's. */
  if (timeout_ms) (void)loop_timer_start(ra->loop, &q->timer, timeout_ms, 0);
  else loop_timer_stop(ra->loop, &q->timer);
  q->acc = json_array();
  q->cb = cb;
  q->bcb = bcb;
  q->user = user;
  if (ra_is_up(ra) && RA_CLUSTER_MSGS(ra)) {
    ra_sh_broadcast_ack(ra, ns, q, t, ev, timeout_ms);
  } else if (ra_is_up(ra)) {
    mp m;
    ra_mp_init(&m);
    int r = msgpack_pack_map(&m.pk, 5) || ra_mp_str(&m, "uid") || ra_mp_str(&m, ra->uid) || ra_mp_str(&m, "requestId") ||
            ra_mp_str(&m, q->id) || ra_mp_str(&m, "type") || msgpack_pack_int(&m.pk, REQ_BROADCAST) ||
            ra_mp_str(&m, "packet") || ra_pack_packet(&m, ns->name, ev) || ra_mp_str(&m, "opts") ||
            ra_pack_opts(&m, t, (long)timeout_ms);
    if (!r) ra_publish(ra, ns->req_channel, m.sb.data, m.sb.size);
    msgpack_sbuffer_destroy(&m.sb);
  }
  q->local_pending = 1;
  int reached = sio_local_broadcast_with_ack_each(t, ev, timeout_ms, bcast_local_done, q, bcast_each, q);
  if (reached < 0) { /* nothing was sent here (no callback ran): the request ends now */
    req_unlink(ra, q);
    loop_timer_stop(ra->loop, &q->timer);
    req_free(q);
    return reached;
  }
  /* (bcast_local_done may have run already: nobody reached. q lives while !done.) */
  q->servers_reported++;
  q->clients_expected += reached;
  req_count(q);
  return reached;
}

static int ra_broadcast_with_ack(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                                 wsio_sio_broadcast_ack_fn cb, void *user) {
  return bcast_with_ack((redis_adapter *)a, t, ev, timeout_ms, cb, NULL, user);
}

static int ra_broadcast_with_ack_bin(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev,
                                     unsigned timeout_ms, wsio_sio_broadcast_ack_bin_fn cb, void *user) {
  return bcast_with_ack((redis_adapter *)a, t, ev, timeout_ms, NULL, cb, user);
}

static int ra_add_sockets(sio_adapter *a, const wsio_sio_target *t, const char *room, int join) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = t->is_local ? NULL : ra_ns_of(ra, t->nsp);
  if (ns && RA_CLUSTER_MSGS(ra)) {
    ra_sh_publish(ra, ns->channel,
               ra_sh_msg(ra, ns, join ? CM_SOCKETS_JOIN : CM_SOCKETS_LEAVE,
                      json_pack("{soso}", "opts", ra_sh_opts(t, -1), "rooms", json_pack("[s]", room))),
               NULL, 0);
  } else if (ns) {
    json_t *rooms = json_pack("[s]", room);
    ra_publish_json(ra, ns->req_channel, json_pack("{sssisoso}", "uid", ra->uid, "type", join ? REQ_REMOTE_JOIN : REQ_REMOTE_LEAVE,
                                                 "opts", ra_opts_json(t), "rooms", rooms));
  }
  int r = sio_local_add_sockets(t, room, join);
  rnsp *own = ra->sharded ? ra_ns_of(ra, t->nsp) : NULL;
  if (own) ra_sh_sync_rooms(ra, own);
  return r;
}

static int ra_disconnect_sockets(sio_adapter *a, const wsio_sio_target *t, int close_transport) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = t->is_local ? NULL : ra_ns_of(ra, t->nsp);
  if (ns && RA_CLUSTER_MSGS(ra))
    ra_sh_publish(ra, ns->channel,
               ra_sh_msg(ra, ns, CM_DISCONNECT_SOCKETS, json_pack("{sosb}", "opts", ra_sh_opts(t, -1), "close", close_transport)),
               NULL, 0);
  else if (ns)
    ra_publish_json(ra, ns->req_channel, json_pack("{sssisosb}", "uid", ra->uid, "type", REQ_REMOTE_DISCONNECT, "opts",
                                                 ra_opts_json(t), "close", close_transport));
  int r = sio_local_disconnect_sockets(t, close_transport);
  rnsp *own = ra->sharded ? ra_ns_of(ra, t->nsp) : NULL;
  if (own) ra_sh_sync_rooms(ra, own);
  return r;
}

/* This node's part, parsed (the answers of every node are merged). */
json_t *ra_parse_owned(char *text, size_t len) {
  json_error_t je;
  json_t *v = text ? json_loadb(text, len, 0, &je) : NULL;
  free(text);
  return v;
}

json_t *ra_local_sockets(const wsio_sio_target *t) {
  size_t n = 0;
  char *text = sio_local_fetch_text(t, &n);
  return ra_parse_owned(text, n);
}

json_t *ra_local_rooms(wsio_sio_nsp *nsp) {
  size_t n = 0;
  char *text = sio_local_rooms_text(nsp, &n);
  return ra_parse_owned(text, n);
}

/* The compact text of a new value, which it consumes. */
static char *dump_new(json_t *v, size_t *len) {
  char *s = v ? codec_dump(v, len) : NULL;
  json_decref(v);
  return s;
}

/* A request of the ClusterAdapter kinds as it is published later (consumed): JSON for
 * the sharded adapter, msgpack for the streams adapter (Node's decodes only that). */
static char *cm_text(redis_adapter *ra, json_t *v, size_t *len) {
  if (!ra->streams) return dump_new(v, len);
  char *s = v ? ra_st_pack(v, len) : NULL;
  json_decref(v);
  return s;
}

static int ra_fetch_sockets(sio_adapter *a, const wsio_sio_target *t, wsio_sio_result_fn cb, void *user) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = ra_ns_of(ra, t->nsp);
  json_t *local = ra_local_sockets(t);
  if (!local) return WSIO_ENOMEM;
  rreq *q = ns ? req_new(ra, ns, REQ_REMOTE_FETCH) : NULL;
  if (!q) {
    json_decref(local);
    return WSIO_ENOMEM;
  }
  q->acc = local;
  q->cb = cb;
  q->user = user;
  if (RA_CLUSTER_MSGS(ra))
    q->msg = cm_text(ra, ra_sh_msg(ra, ns, CM_FETCH_SOCKETS, json_pack("{soss}", "opts", ra_sh_opts(t, -1), "requestId", q->id)),
                      &q->msg_len);
  else
    q->msg = dump_new(json_pack("{sssssiso}", "uid", ra->uid, "requestId", q->id, "type", REQ_REMOTE_FETCH, "opts",
                                ra_opts_json(t)),
                      &q->msg_len);
  return req_count(q);
}

static int ra_all_rooms(sio_adapter *a, wsio_sio_nsp *nsp, wsio_sio_result_fn cb, void *user) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = ra_ns_of(ra, nsp);
  json_t *local = ra_local_rooms(nsp);
  rreq *q = local && ns ? req_new(ra, ns, REQ_ALL_ROOMS) : NULL;
  if (!q) {
    json_decref(local);
    return WSIO_ENOMEM;
  }
  q->acc = json_object();
  for (size_t i = 0; i < json_array_size(local); i++)
    json_object_set_new(q->acc, json_string_value(json_array_get(local, i)), json_true());
  json_decref(local);
  q->cb = cb;
  q->user = user;
  if (RA_CLUSTER_MSGS(ra)) { /* Node's ClusterAdapter has no allRooms request: this node's rooms */
    q->num_sub = 1;
    ra_req_finish(q, 0);
    return 0;
  }
  q->msg = dump_new(json_pack("{sssssi}", "uid", ra->uid, "requestId", q->id, "type", REQ_ALL_ROOMS), &q->msg_len);
  return req_count(q);
}

static int ra_server_count(sio_adapter *a, wsio_sio_nsp *nsp, wsio_sio_count_fn cb, void *user) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = ra_ns_of(ra, nsp);
  rreq *q = ns ? req_new(ra, ns, REQ_COUNT) : NULL;
  if (!q) return WSIO_ENOMEM;
  q->ccb = cb;
  q->user = user;
  return req_count(q);
}

json_t *ra_event_array(const sio_event *ev) {
  json_error_t je;
  json_t *args = json_loadb(ev->json, ev->len, 0, &je);
  if (!json_is_array(args) || json_array_insert_new(args, 0, json_string(ev->name)) != 0) {
    json_decref(args);
    return NULL;
  }
  return args;
}

static int ra_server_side_emit(sio_adapter *a, wsio_sio_nsp *nsp, const sio_event *ev, wsio_sio_result_fn cb,
                               void *user) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = ra_ns_of(ra, nsp);
  json_t *data = ra_event_array(ev);
  if (!ns || !data) {
    json_decref(data);
    return ns ? WSIO_EINVAL : WSIO_ENOMEM;
  }
  if (!cb) {
    if (RA_CLUSTER_MSGS(ra))
      ra_sh_publish(ra, ns->channel, ra_sh_msg(ra, ns, CM_SERVER_SIDE_EMIT, json_pack("{so}", "packet", data)), NULL, 0);
    else
      ra_publish_json(ra, ns->req_channel, json_pack("{sssiso}", "uid", ra->uid, "type", REQ_SERVER_SIDE_EMIT, "data", data));
    return 0;
  }
  rreq *q = req_new(ra, ns, REQ_SERVER_SIDE_EMIT);
  if (!q) {
    json_decref(data);
    return WSIO_ENOMEM;
  }
  q->acc = json_array();
  q->cb = cb;
  q->user = user;
  if (RA_CLUSTER_MSGS(ra))
    q->msg = cm_text(ra, ra_sh_msg(ra, ns, CM_SERVER_SIDE_EMIT, json_pack("{ssso}", "requestId", q->id, "packet", data)),
                      &q->msg_len);
  else
    q->msg = dump_new(json_pack("{sssssiso}", "uid", ra->uid, "requestId", q->id, "type", REQ_SERVER_SIDE_EMIT, "data",
                                data),
                      &q->msg_len);
  return req_count(q);
}

static void ra_destroy(sio_adapter *a) {
  redis_adapter *ra = (redis_adapter *)a;
  ra->destroyed = 1;
  while (ra->reqs) {
    rreq *q = ra->reqs;
    q->local_pending = 0; /* the server's groups ended with its sockets */
    ra_req_finish(q, WSIO_ECLOSED);
  }
  if (ra->pub.state == RC_READY) net_flush_queued(ra->ctx); /* the last publishes */
  ra_conn_free(&ra->pub);
  ra_conn_free(&ra->sub);
  if (ra->streams) ra_st_free(ra);
  for (size_t i = 0; i < ra->nnodes; i++) {
    ra_conn_free(&ra->nodes[i]->pub);
    ra_conn_free(&ra->nodes[i]->sub);
    free(ra->nodes[i]);
  }
  ra->nnodes = 0;
  loop_timer_stop(ra->loop, &ra->flush_timer);
  net_ctx_destroy(ra->ctx);
  ra->ctx = NULL;
  while (ra->nsps) {
    rnsp *ns = ra->nsps;
    ra->nsps = ns->next;
    rnsp_free(ns);
  }
  free(ra->user);
  free(ra->password);
  free(ra->prefix);
  net_tls_ctx_free(ra->tls_ctx);
  free(ra->tls_host);
  for (int i = 0; i < 3; i++) free(ra->tls_files[i]);
  /* The post hook still names ra, but the adapter goes only with its server, in the
   * app's destroy, after which no post phase runs. */
  free(ra);
}

#define RA_OPS                                  \
  .add_all = ra_add_all, .del = ra_del, .del_all = ra_del_all, .broadcast = ra_broadcast, \
  .broadcast_with_ack = ra_broadcast_with_ack, .broadcast_with_ack_bin = ra_broadcast_with_ack_bin,      \
  .add_sockets = ra_add_sockets,                                                          \
  .disconnect_sockets = ra_disconnect_sockets, .fetch_sockets = ra_fetch_sockets,         \
  .all_rooms = ra_all_rooms, .server_count = ra_server_count,                             \
  .server_side_emit = ra_server_side_emit, .nsp_created = ra_nsp_created, .connected = ra_connected,     \
  .destroy = ra_destroy
static void ra_connected(sio_adapter *a, wsio_sio_socket *s) { ra_sh_socket_room((redis_adapter *)a, s, 1); }
static const sio_adapter_ops redis_ops = {RA_OPS};
/* The streams adapter also keeps recovery's sessions (in Redis, for every node). */
static const sio_adapter_ops streams_ops = {RA_OPS, .persist_session = ra_st_persist, .restore_session = ra_st_restore};


/* wsio_sio_use_redis could not finish: what it made so far goes. */
static int use_failed(redis_adapter *ra, int err) {
  if (ra->streams) ra_st_free(ra);
  if (ra->ctx) net_ctx_destroy(ra->ctx);
  net_tls_ctx_free(ra->tls_ctx);
  free(ra->tls_host);
  for (int i = 0; i < 3; i++) free(ra->tls_files[i]);
  free(ra->prefix);
  free(ra->user);
  free(ra->password);
  free(ra);
  return err;
}

/* ---- rediss:// ------------------------------------------------------------------------ */

static const char *const tls_file_what[3] = {"CA file", "client certificate", "client key"};

/* What a file looks like now: a rewrite or a rename over it changes one of these. */
static void file_sig(const char *path, struct ra_file_sig *out) {
  struct stat sb;
  memset(out, 0, sizeof(*out));
  if (!path || stat(path, &sb) != 0) return;
  out->ino = (long long)sb.st_ino;
  out->size = (long long)sb.st_size;
  out->mtime_s = (long long)sb.st_mtim.tv_sec;
  out->mtime_ns = (long long)sb.st_mtim.tv_nsec;
}

/* The client context from the adapter's files, their signatures taken first (a file
 * replaced while it is read is seen as changed at the next check). NULL with the reason
 * in why. */
static struct ssl_ctx_st *tls_load(redis_adapter *ra, char *why, size_t cap) {
  for (int i = 0; i < 3; i++) file_sig(ra->tls_files[i], &ra->tls_sigs[i]);
  struct ssl_ctx_st *ctx = net_tls_client_ctx(ra->tls_files[0], ra->tls_insecure, why, cap);
  if (ctx && ra->tls_files[1] && net_tls_client_cert(ctx, ra->tls_files[1], ra->tls_files[2], why, cap) < 0) {
    net_tls_ctx_free(ctx);
    ctx = NULL;
  }
  return ctx;
}

/* Before each TLS connection: when a CA, certificate or key file has changed since the
 * context was made (a certificate renewed in place), a new context from the files as
 * they are now; connections already made keep theirs (Redis checks a client's
 * certificate only at its handshake). A file that does not load now is logged once per
 * change and the old context stays. A stat per file per connection made: reconnections
 * only. */
void ra_tls_refresh(redis_adapter *ra) {
  int changed = -1;
  for (int i = 0; i < 3 && changed < 0; i++) {
    struct ra_file_sig now;
    if (!ra->tls_files[i]) continue;
    file_sig(ra->tls_files[i], &now);
    if (memcmp(&now, &ra->tls_sigs[i], sizeof(now)) != 0) changed = i;
  }
  if (changed < 0) return;
  char why[512];
  struct ssl_ctx_st *ctx = tls_load(ra, why, sizeof(why));
  if (!ctx) {
    /* A warning: often a renewal caught half-way (the certificate renamed, not yet its
     * key); the next connection looks again. */
    ra_log(ra, WSIO_LOG_WARN, "redis: TLS: the %s %s changed and no longer loads (%s); keeping the one loaded before",
           tls_file_what[changed], ra->tls_files[changed], why);
    return;
  }
  net_tls_ctx_free(ra->tls_ctx); /* sessions still open hold their own reference */
  ra->tls_ctx = ctx;
  ra_log(ra, WSIO_LOG_INFO, "redis: TLS: the %s %s changed: reloaded for new connections", tls_file_what[changed],
         ra->tls_files[changed]);
}

void wsio_sio_redis_options_init(wsio_sio_redis_options *o) {
  memset(o, 0, sizeof(*o));
  o->host = "127.0.0.1";
  o->port = 6379;
  o->key_prefix = "socket.io";
  o->request_timeout_ms = 5000;
}

int wsio_sio_use_redis(wsio_sio *io, const wsio_sio_redis_options *o) {
  wsio_sio_redis_options d;
  if (!o) {
    wsio_sio_redis_options_init(&d);
    o = &d;
  }
  if (!io || o->port <= 0 || o->port > 65535 || !o->host || o->db < 0) return WSIO_EINVAL;
  /* One cluster adapter per server, for the server's life (its post hook stays). */
  if (sio_adapter_get(io) != &sio_local_adapter) return WSIO_EINVAL;
  redis_adapter *ra = calloc(1, sizeof(*ra));
  if (!ra) return WSIO_ENOMEM;
  ra->base.ops = o->streams ? &streams_ops : &redis_ops;
  ra->io = io;
  ra->app = sio_server_app(io);
  ra->loop = sio_server_loop(io);
  ra->db = o->db;
  ra->sharded = o->sharded != 0;
  if (o->subscription_mode < 0 || o->subscription_mode > WSIO_REDIS_SUBSCRIPTION_DYNAMIC_PRIVATE) {
    free(ra);
    return WSIO_EINVAL;
  }
  ra->sub_mode = o->subscription_mode;
  if (o->streams && ra_st_init(ra, o) != 0) {
    ra_st_free(ra);
    free(ra);
    return WSIO_ENOMEM;
  }
  ra->request_timeout_ms = o->request_timeout_ms ? o->request_timeout_ms : 5000;
  ra->log = o->log;
  ra->log_user = o->log_user;
  ra->prefix = strdup(o->key_prefix && o->key_prefix[0] ? o->key_prefix : "socket.io");
  ra->user = o->user && o->user[0] ? strdup(o->user) : NULL;
  ra->password = o->password && o->password[0] ? strdup(o->password) : NULL;
  ra->pub.ra = ra->sub.ra = ra;
  ra->sub.is_sub = 1;
  ra->flush_timer.cb = ra_flush_fired;
  ra->st.attached = 1;
  ra_make_id(ra->uid);
  static const net_handlers h = {ra_on_data, ra_on_end, ra_on_drain, ra_on_accept, NULL};
  if (ra_resolve(ra, o->host, o->port) != 0) return use_failed(ra, WSIO_EINVAL);
  if (o->tls) {
    char why[512];
    const char *files[3] = {o->tls_ca_file, o->tls_cert_file, o->tls_key_file};
    if (!(ra->tls_host = strdup(o->host))) return use_failed(ra, WSIO_ENOMEM);
    for (int i = 0; i < 3; i++)
      if (files[i] && files[i][0] && !(ra->tls_files[i] = strdup(files[i]))) return use_failed(ra, WSIO_ENOMEM);
    if (!ra->tls_files[1] != !ra->tls_files[2]) {
      ra_log(ra, WSIO_LOG_ERROR, "redis: TLS: a client certificate needs its key and a key its certificate "
             "(tls_cert_file and tls_key_file: both or neither)");
      return use_failed(ra, WSIO_EINVAL);
    }
    ra->tls_insecure = o->tls_insecure != 0;
    if (!(ra->tls_ctx = tls_load(ra, why, sizeof(why)))) {
      ra_log(ra, WSIO_LOG_ERROR, "redis: TLS: %s", why);
      return use_failed(ra, WSIO_EINVAL);
    }
    if (o->tls_insecure)
      ra_log(ra, WSIO_LOG_WARN, "redis: TLS without certificate verification (--redis-tls-insecure)");
  }
  ra->ctx = net_ctx_create(ra->loop, &h, ra, 0);
  if (!ra->prefix || !ra->ctx || core_hook_add(ra->app, CORE_HOOK_POST, ra_post, ra) != 0)
    return use_failed(ra, WSIO_ENOMEM);
  uint32_t it = 0;
  for (wsio_sio_nsp *nsp; (nsp = sio_nsp_iter(io, &it)) != NULL;) ra_nsp_created(&ra->base, nsp);
  sio_adapter_set(io, &ra->base);
  ra->pub.addr = ra->sub.addr = ra->addr;
  ra->pub.addr_len = ra->sub.addr_len = ra->addr_len;
  ra->pub.tls_host = ra->sub.tls_host = ra->xr.tls_host = ra->tls_host;
  ra_conn_start(&ra->pub);
  ra_conn_start(&ra->sub);
  if (ra->streams) {
    ra->xr.addr = ra->addr;
    ra->xr.addr_len = ra->addr_len;
    ra_conn_start(&ra->xr);
  }
  return 0;
}

void wsio_sio_redis_stats_get(const wsio_sio *io, wsio_sio_redis_stats *out) {
  memset(out, 0, sizeof(*out));
  if (!io) return;
  sio_adapter *a = sio_adapter_get(io);
  if (a->ops != &redis_ops && a->ops != &streams_ops) return;
  *out = ((const redis_adapter *)a)->st;
}
