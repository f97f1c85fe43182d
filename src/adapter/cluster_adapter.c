/* adapter/cluster_adapter.c — socket.io-adapter's ClusterAdapter messages, as Node's
 * createShardedAdapter speaks them (SPUBLISH/SSUBSCRIBE, Redis 7, one node or a
 * Redis Cluster).
 *
 * Owns: the {type, data, uid, nsp} messages (building, publishing, handling), the
 * per-namespace and dynamic per-room subscriptions.
 * Must not touch connections beyond ra_publish/ra_conn_command/ra_route. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/internal.h"

/* ---- sharded: Node's createShardedAdapter (socket.io-adapter's ClusterAdapter) --------
 * Every message is {type, data, uid, nsp}: JSON text, or msgpack when it carries
 * binaries (Node's encode; a reader tells them apart by a leading '{'). Requests and
 * broadcasts go to prefix#nsp#, responses to the requester's prefix#nsp#<uid>#, and,
 * in subscriptionMode "dynamic" (Node's default, the one mode this adapter speaks), a
 * broadcast without ack to exactly one room whose name is not 20 characters long (a
 * socket id's length) goes to prefix#nsp#room#, which every node holding a public room
 * (one that is not a socket's own) SSUBSCRIBEs. Node counts nodes by PUBSUB
 * SHARDNUMSUB prefix#nsp#; there are no heartbeats. */

/* A message of this node (consumes data; NULL when data is NULL). */
json_t *ra_sh_msg(redis_adapter *ra, rnsp *ns, int type, json_t *data) {
  if (!data) return NULL;
  return json_pack("{sisossss}", "type", type, "data", data, "uid", ra->uid, "nsp", ns->name);
}

/* Publishes msg (consumed): msgpack when binaries travel with it, JSON otherwise. */
int ra_sh_publish(redis_adapter *ra, const char *channel, json_t *msg, const wsio_span *bins, size_t nbins) {
  if (!msg) return -1;
  if (ra->streams) return ra_st_publish(ra, channel, msg, bins, nbins);
  int r = -1;
  if (nbins) {
    mp m;
    ra_mp_init(&m);
    if (codec_pack_json(&m.pk, msg, bins, nbins) == 0) r = ra_publish(ra, channel, m.sb.data, m.sb.size);
    msgpack_sbuffer_destroy(&m.sb);
  } else {
    size_t n;
    char *s = codec_dump(msg, &n);
    if (s) r = ra_publish(ra, channel, s, n);
    free(s);
  }
  json_decref(msg);
  return r;
}

/* A response to the node `uid` (its private channel). */
static void sh_respond(redis_adapter *ra, rnsp *ns, const char *uid, int type, json_t *data) {
  char ch[1024];
  if (snprintf(ch, sizeof(ch), "%s%s#", ns->channel, uid) >= (int)sizeof(ch)) {
    json_decref(data);
    return;
  }
  ra_sh_publish(ra, ch, ra_sh_msg(ra, ns, type, data), NULL, 0);
}

json_t *ra_sh_opts(const wsio_sio_target *t, long timeout_ms) {
  json_t *o = ra_opts_json(t);
  json_t *flags = json_object();
  if (t->is_volatile) json_object_set_new(flags, "volatile", json_true());
  if (timeout_ms >= 0) json_object_set_new(flags, "timeout", json_integer(timeout_ms));
  json_object_set_new(o, "flags", flags);
  return o;
}

/* SSUBSCRIBE/SUNSUBSCRIBE one channel (in a cluster all channels of one command must
 * share a slot) on its master's subscribe connection; only: just when that is the
 * connection (a master that just connected). Not ready: done on its connect. */
static void sh_sub_cmd(redis_adapter *ra, const char *cmd, const char *channel, rconn *only) {
  rconn *c = ra_route(ra, channel, 1);
  if (!ra->slots_known || (only && c != only) || c->state != RC_READY) return;
  const char *a[] = {cmd, channel};
  size_t l[] = {strlen(cmd), strlen(channel)};
  ra_conn_command(c, 2, a, l, NULL, 0);
}

static void sh_room_cmd_on(redis_adapter *ra, rnsp *ns, const char *cmd, const char *room, rconn *only) {
  char ch[1024];
  if (snprintf(ch, sizeof(ch), "%s%s#", ns->channel, room) < (int)sizeof(ch)) sh_sub_cmd(ra, cmd, ch, only);
}

static void sh_room_cmd(redis_adapter *ra, rnsp *ns, const char *cmd, const char *room) {
  sh_room_cmd_on(ra, ns, cmd, room, NULL);
}

void ra_sh_subscribe_nsp(redis_adapter *ra, rnsp *ns, rconn *only) {
  sh_sub_cmd(ra, "SSUBSCRIBE", ns->channel, only);
  sh_sub_cmd(ra, "SSUBSCRIBE", ns->spec_channel, only);
  const char *k;
  json_t *v;
  json_object_foreach(ns->subs, k, v) sh_room_cmd_on(ra, ns, "SSUBSCRIBE", k, only);
}

/* Node's shouldUseASeparateNamespace: whether a room has a channel of its own. In
 * "dynamic", a public room (not a connected socket's own: !sids.has(room)); in
 * "dynamic-private", every room; in "static", none. */
static int sh_public(redis_adapter *ra, rnsp *ns, const char *room, const wsio_sio_socket *joining) {
  if (ra->sub_mode == WSIO_REDIS_SUBSCRIPTION_STATIC) return 0;
  if (ra->sub_mode == WSIO_REDIS_SUBSCRIPTION_DYNAMIC_PRIVATE) return 1;
  if (joining && strcmp(room, wsio_sio_socket_id(joining)) == 0) return 0;
  return wsio_sio_nsp_socket(ns->nsp, room) == NULL;
}

/* dynamic-private: a socket's own room has a channel while it is connected (Node's
 * create-room of its id at connect, delete-room at disconnect). */
void ra_sh_socket_room(redis_adapter *ra, wsio_sio_socket *s, int connected) {
  rnsp *ns = ra->sharded && ra->sub_mode == WSIO_REDIS_SUBSCRIPTION_DYNAMIC_PRIVATE
                 ? ra_ns_of(ra, wsio_sio_socket_nsp(s)) : NULL;
  const char *id = wsio_sio_socket_id(s);
  if (!ns || (json_object_get(ns->subs, id) != NULL) == connected) return;
  sh_room_cmd(ra, ns, connected ? "SSUBSCRIBE" : "SUNSUBSCRIBE", id);
  if (connected) json_object_set_new(ns->subs, id, json_true());
  else json_object_del(ns->subs, id);
}

/* Node's create-room / delete-room: the dynamic channels follow this node's public
 * rooms. Rooms made or emptied in bulk (socketsJoin, a disconnect) are found by a
 * walk of the namespace's rooms. */
void ra_sh_sync_rooms(redis_adapter *ra, rnsp *ns) {
  if (!ra->sharded) return; /* the streams adapter has no room channels */
  size_t n = 0;
  char *text = sio_local_rooms_text(ns->nsp, &n);
  json_t *rooms = ra_parse_owned(text, n);
  json_t *now = json_object();
  if (!json_is_array(rooms) || !now) {
    json_decref(rooms);
    json_decref(now);
    return;
  }
  for (size_t i = 0; i < json_array_size(rooms); i++) {
    const char *r = json_string_value(json_array_get(rooms, i));
    if (r && sh_public(ra, ns, r, NULL)) {
      json_object_set_new(now, r, json_true());
      if (!json_object_get(ns->subs, r)) sh_room_cmd(ra, ns, "SSUBSCRIBE", r);
    }
  }
  const char *k;
  json_t *v;
  json_object_foreach(ns->subs, k, v) if (!json_object_get(now, k)) sh_room_cmd(ra, ns, "SUNSUBSCRIBE", k);
  json_decref(ns->subs);
  ns->subs = now;
  json_decref(rooms);
}

void ra_sh_joined(redis_adapter *ra, wsio_sio_socket *s, const char *const *rooms, size_t n) {
  rnsp *ns = ra_ns_of(ra, wsio_sio_socket_nsp(s));
  for (size_t i = 0; ns && i < n; i++) {
    if (!rooms[i] || !sh_public(ra, ns, rooms[i], s) || json_object_get(ns->subs, rooms[i])) continue;
    json_object_set_new(ns->subs, rooms[i], json_true());
    sh_room_cmd(ra, ns, "SSUBSCRIBE", rooms[i]);
  }
}

void ra_sh_left(redis_adapter *ra, wsio_sio_nsp *nsp, const char *room) {
  rnsp *ns = ra_ns_of(ra, nsp);
  if (!ns || !json_object_get(ns->subs, room) || sio_nsp_has_room(nsp, room, strlen(room))) return;
  sh_room_cmd(ra, ns, "SUNSUBSCRIBE", room);
  json_object_del(ns->subs, room);
}

void ra_sh_broadcast(redis_adapter *ra, rnsp *ns, const wsio_sio_target *t, const sio_event *ev) {
  json_t *data = ra_event_array(ev);
  json_t *m = ra_sh_msg(ra, ns, CM_BROADCAST,
                     data ? json_pack("{s{siso}so}", "packet", "type", 2, "data", data, "opts", ra_sh_opts(t, -1)) : NULL);
  char one[1024];
  const char *channel = ns->channel;
  /* Node's computeChannel: one room, in "dynamic" one that does not look like a socket
   * id (20 characters), in "dynamic-private" any; "static": always the main channel. */
  int dynamic = ra->sub_mode == WSIO_REDIS_SUBSCRIPTION_DYNAMIC_PRIVATE ||
                (ra->sub_mode == WSIO_REDIS_SUBSCRIPTION_DYNAMIC && t->nrooms == 1 && t->rooms[0] &&
                 strlen(t->rooms[0]) != 20);
  if (dynamic && t->nrooms == 1 && t->rooms[0] &&
      snprintf(one, sizeof(one), "%s%s#", ns->channel, t->rooms[0]) < (int)sizeof(one))
    channel = one;
  ra_sh_publish(ra, channel, m, ev->bins, ev->nbins);
}

void ra_sh_broadcast_ack(redis_adapter *ra, rnsp *ns, rreq *q, const wsio_sio_target *t, const sio_event *ev,
                             unsigned timeout_ms) {
  json_t *data = ra_event_array(ev);
  json_t *m = ra_sh_msg(ra, ns, CM_BROADCAST,
                     data ? json_pack("{s{siso}ssso}", "packet", "type", 2, "data", data, "requestId", q->id, "opts",
                                      ra_sh_opts(t, (long)timeout_ms))
                          : NULL);
  ra_sh_publish(ra, ns->channel, m, ev->bins, ev->nbins);
}

typedef struct sh_sse_reply {
  redis_adapter *ra;
  rnsp *ns;
  const char *uid, *request_id;
} sh_sse_reply;

static void sh_sse_answer(const char *json, size_t len, void *arg) {
  sh_sse_reply *r = arg;
  json_error_t je;
  json_t *v = json_loadb(json, len, JSON_DECODE_ANY, &je);
  sh_respond(r->ra, r->ns, r->uid, CM_SERVER_SIDE_EMIT_RESPONSE,
             json_pack("{ssso}", "requestId", r->request_id, "packet", v ? v : json_null()));
}

/* Attachments of a response become null (their placeholders name nothing the C
 * callback is given). Consumes v; returns what replaces it. */
json_t *ra_unbin(json_t *v) {
  if (json_is_object(v) && json_is_true(json_object_get(v, "_placeholder")) && json_object_size(v) == 2) {
    json_decref(v);
    return json_null();
  }
  if (json_is_array(v))
    for (size_t i = 0; i < json_array_size(v); i++) json_array_set_new(v, i, ra_unbin(json_incref(json_array_get(v, i))));
  const char *k;
  json_t *x;
  void *tmp;
  if (json_is_object(v)) json_object_foreach_safe(v, tmp, k, x) json_object_set_new(v, k, ra_unbin(json_incref(x)));
  return v;
}

void ra_sh_on_request(redis_adapter *ra, rnsp *ns, json_t *q, const codec_bins *bins) {
  const char *uid = json_string_value(json_object_get(q, "uid"));
  json_t *data = json_object_get(q, "data");
  const char *rid = json_string_value(json_object_get(data, "requestId"));
  json_t *opts = json_object_get(data, "opts");
  int type = (int)json_integer_value(json_object_get(q, "type"));
  target_buf *tb = NULL;
  wsio_sio_target t;
  if (!uid || !json_is_object(data)) return;
  switch (type) {
    case CM_BROADCAST: {
      if (!json_is_object(opts) || !(tb = malloc(sizeof(*tb)))) break;
      ra_target_from(&t, tb, ns->nsp, opts);
      sio_event ev;
      char *text = NULL;
      if (ra_event_from_packet(json_object_get(data, "packet"), bins, &ev, &text) != 0) {
        free(text);
        break;
      }
      if (!rid) {
        ev.offset = ra->cur_offset; /* a stream entry's id (Node's addOffsetIfNecessary) */
        (void)sio_local_broadcast(&t, &ev);
        free(text);
        break;
      }
      json_t *to = json_object_get(json_object_get(opts, "flags"), "timeout");
      unsigned timeout = json_is_integer(to) && json_integer_value(to) > 0 ? (unsigned)json_integer_value(to) : 5000;
      bcast_remote *b = calloc(1, sizeof(*b));
      if (b) {
        b->ra = ra;
        b->ns = ns;
        snprintf(b->channel, sizeof(b->channel), "%s%s#", ns->channel, uid);
        snprintf(b->request_id, sizeof(b->request_id), "%s", rid);
        int reached = sio_local_broadcast_with_ack_each(&t, &ev, timeout, ra_remote_done, b, ra_remote_each, b);
        sh_respond(ra, ns, uid, CM_BROADCAST_CLIENT_COUNT,
                   json_pack("{sssi}", "requestId", rid, "clientCount", reached < 0 ? 0 : reached));
      }
      free(text);
      break;
    }
    case CM_SOCKETS_JOIN:
    case CM_SOCKETS_LEAVE:
      if (!json_is_object(opts) || !(tb = malloc(sizeof(*tb)))) break;
      ra_target_from(&t, tb, ns->nsp, opts);
      for (size_t i = 0; i < json_array_size(json_object_get(data, "rooms")); i++) {
        const char *r = json_string_value(json_array_get(json_object_get(data, "rooms"), i));
        if (r) (void)sio_local_add_sockets(&t, r, type == CM_SOCKETS_JOIN);
      }
      ra_sh_sync_rooms(ra, ns);
      break;
    case CM_DISCONNECT_SOCKETS:
      if (!json_is_object(opts) || !(tb = malloc(sizeof(*tb)))) break;
      ra_target_from(&t, tb, ns->nsp, opts);
      (void)sio_local_disconnect_sockets(&t, json_is_true(json_object_get(data, "close")));
      ra_sh_sync_rooms(ra, ns);
      break;
    case CM_FETCH_SOCKETS: {
      if (!rid || !(tb = malloc(sizeof(*tb)))) break;
      ra_target_from(&t, tb, ns->nsp, opts);
      json_t *socks = ra_local_sockets(&t);
      if (socks) sh_respond(ra, ns, uid, CM_FETCH_SOCKETS_RESPONSE, json_pack("{ssso}", "requestId", rid, "sockets", socks));
      break;
    }
    case CM_SERVER_SIDE_EMIT: {
      json_t *p = json_object_get(data, "packet");
      if (!json_is_array(p) || !json_is_string(json_array_get(p, 0))) break;
      json_t *args = json_array();
      for (size_t i = 1; i < json_array_size(p); i++) json_array_append(args, json_array_get(p, i));
      size_t n = 0;
      char *text = codec_dump(args, &n);
      json_decref(args);
      if (!text) break;
      sio_event ev = {json_string_value(json_array_get(p, 0)), text, n, NULL, 0, NULL, 0};
      sh_sse_reply r = {ra, ns, uid, rid};
      sio_local_server_event(ns->nsp, &ev, rid ? sh_sse_answer : NULL, &r);
      free(text);
      break;
    }
    case CM_FETCH_SOCKETS_RESPONSE:
    case CM_SERVER_SIDE_EMIT_RESPONSE:
    case CM_BROADCAST_CLIENT_COUNT:
    case CM_BROADCAST_ACK: {
      /* The classic responses' shape: {requestId, type, clientCount|packet|sockets|data}. */
      json_t *c = json_deep_copy(data);
      if (!c) break;
      /* The C callbacks carry JSON, but a broadcast's answers may keep their attachments. */
      if (bins && bins->n && type != CM_BROADCAST_ACK) c = ra_unbin(c);
      int ct = type == CM_BROADCAST_CLIENT_COUNT ? REQ_BROADCAST_CLIENT_COUNT
               : type == CM_BROADCAST_ACK        ? REQ_BROADCAST_ACK
                                                 : type == CM_FETCH_SOCKETS_RESPONSE ? REQ_REMOTE_FETCH : REQ_SERVER_SIDE_EMIT;
      json_object_set_new(c, "type", json_integer(ct));
      if (type == CM_SERVER_SIDE_EMIT_RESPONSE) {
        json_t *p = json_object_get(data, "packet");
        json_object_set(c, "data", p ? p : json_null());
      }
      ra_on_response_value(ra, c, type == CM_BROADCAST_ACK ? bins : NULL);
      json_decref(c);
      break;
    }
    default:
      break;
  }
  free(tb);
}

void ra_sh_on_message(redis_adapter *ra, const char *channel, size_t clen, const char *msg, size_t mlen) {
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  codec_bins bins;
  bins.n = 0;
  json_t *v = ra_decode_any(msg, mlen, &up, &bins);
  const char *uid = json_string_value(json_object_get(v, "uid"));
  const char *name = json_string_value(json_object_get(v, "nsp"));
  rnsp *ns = NULL;
  for (rnsp *n = ra->nsps; name && n; n = n->next)
    if (strcmp(n->name, name) == 0) ns = n;
  if (ns && uid && strcmp(uid, ra->uid) != 0 && clen >= ns->channel_len &&
      memcmp(channel, ns->channel, ns->channel_len) == 0) {
    int response = clen == strlen(ns->spec_channel) && memcmp(channel, ns->spec_channel, clen) == 0;
    int type = (int)json_integer_value(json_object_get(v, "type"));
    int is_response = type == CM_FETCH_SOCKETS_RESPONSE || type == CM_SERVER_SIDE_EMIT_RESPONSE ||
                      type == CM_BROADCAST_CLIENT_COUNT || type == CM_BROADCAST_ACK;
    if (response == is_response) ra_sh_on_request(ra, ns, v, &bins);
  }
  json_decref(v);
  msgpack_unpacked_destroy(&up);
}
