/* adapter/pubsub.c — the classic adapter's protocol, wire-compatible with Node's
 * @socket.io/redis-adapter 8.x `createAdapter`.
 *
 * Owns: its channels' subscriptions, the encoding of its messages (broadcasts are
 * msgpack [uid, packet, opts] on prefix#nsp# or prefix#nsp#room#; requests and responses
 * JSON, or msgpack where a packet may carry binaries) and the handling of every message
 * other nodes send. What Node's 8.x pub/sub adapter does, this does: no heartbeats (a
 * node is counted by PUBSUB NUMSUB on the request channel, which is why each namespace
 * keeps that SUBSCRIBE). Also the helpers the other kinds share to read a message:
 * targets, packets, this node's answers.
 * Must not touch connections beyond ra_publish/ra_conn_command. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/internal.h"

void ra_subscribe_nsp(redis_adapter *ra, rnsp *ns, rconn *c) {
  if (ra->sharded) {
    ra_sh_subscribe_nsp(ra, ns, c);
    return;
  }
  if (ra->streams) { /* Node's RedisStreamsAdapter: the public and the private channel */
    const char *a[] = {"SUBSCRIBE", ns->channel, ns->spec_channel};
    size_t l[] = {9, strlen(ns->channel), strlen(ns->spec_channel)};
    ra_conn_command(&ra->sub, 3, a, l, NULL, 0);
    return;
  }
  char pattern[1024];
  snprintf(pattern, sizeof(pattern), "%s*", ns->channel);
  const char *pa[] = {"PSUBSCRIBE", pattern};
  size_t pl[] = {10, strlen(pattern)};
  ra_conn_command(&ra->sub, 2, pa, pl, NULL, 0);
  const char *sa[] = {"SUBSCRIBE", ns->req_channel, ns->resp_channel, ns->spec_channel};
  size_t sl[] = {9, strlen(ns->req_channel), strlen(ns->resp_channel), strlen(ns->spec_channel)};
  ra_conn_command(&ra->sub, 4, sa, sl, NULL, 0);
}

/* ---- encoding our messages ------------------------------------------------------------ */

void ra_mp_init(mp *m) {
  msgpack_sbuffer_init(&m->sb);
  msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

int ra_mp_str(mp *m, const char *s) {
  size_t n = strlen(s);
  return msgpack_pack_str(&m->pk, n) || msgpack_pack_str_body(&m->pk, s, n) ? -1 : 0;
}

/* {type:2, data:[event, ...args], nsp} with binaries as `bin`. */
int ra_pack_packet(mp *m, const char *nsp, const sio_event *ev) {
  json_error_t je;
  json_t *args = json_loadb(ev->json, ev->len, 0, &je);
  if (!json_is_array(args)) {
    json_decref(args);
    return -1;
  }
  int r = msgpack_pack_map(&m->pk, 3) || ra_mp_str(m, "type") || msgpack_pack_int(&m->pk, 2) || ra_mp_str(m, "data") ||
          msgpack_pack_array(&m->pk, 1 + json_array_size(args)) || ra_mp_str(m, ev->name);
  for (size_t i = 0; !r && i < json_array_size(args); i++)
    r = codec_pack_json(&m->pk, json_array_get(args, i), ev->bins, ev->nbins);
  if (!r) r = ra_mp_str(m, "nsp") || ra_mp_str(m, nsp);
  json_decref(args);
  return r ? -1 : 0;
}

/* {rooms, except, flags}: socket.broadcast's own socket travels as an except room, as
 * Node's socket.broadcast adds its id to except. */
int ra_pack_opts(mp *m, const wsio_sio_target *t, long timeout_ms) {
  size_t nexcept = t->nexcept + (t->except_socket ? 1 : 0);
  int r = msgpack_pack_map(&m->pk, 3) || ra_mp_str(m, "rooms") || msgpack_pack_array(&m->pk, t->nrooms);
  for (size_t i = 0; !r && i < t->nrooms; i++) r = ra_mp_str(m, t->rooms[i] ? t->rooms[i] : "");
  r = r || ra_mp_str(m, "except") || msgpack_pack_array(&m->pk, nexcept);
  for (size_t i = 0; !r && i < t->nexcept; i++) r = ra_mp_str(m, t->except[i] ? t->except[i] : "");
  if (!r && t->except_socket) r = ra_mp_str(m, wsio_sio_socket_id(t->except_socket));
  int nflags = (t->is_volatile ? 1 : 0) + (timeout_ms >= 0 ? 1 : 0);
  r = r || ra_mp_str(m, "flags") || msgpack_pack_map(&m->pk, (size_t)nflags);
  if (!r && t->is_volatile) r = ra_mp_str(m, "volatile") || msgpack_pack_true(&m->pk);
  if (!r && timeout_ms >= 0) r = ra_mp_str(m, "timeout") || msgpack_pack_int64(&m->pk, timeout_ms);
  return r ? -1 : 0;
}

/* {"rooms":[...],"except":[...]} as jansson, for JSON requests. */
json_t *ra_opts_json(const wsio_sio_target *t) {
  json_t *rooms = json_array(), *except = json_array();
  for (size_t i = 0; i < t->nrooms; i++)
    if (t->rooms[i]) json_array_append_new(rooms, json_string(t->rooms[i]));
  for (size_t i = 0; i < t->nexcept; i++)
    if (t->except[i]) json_array_append_new(except, json_string(t->except[i]));
  if (t->except_socket) json_array_append_new(except, json_string(wsio_sio_socket_id(t->except_socket)));
  return json_pack("{soso}", "rooms", rooms, "except", except);
}

int ra_publish_json(redis_adapter *ra, const char *channel, json_t *v) {
  size_t n;
  char *s = v ? codec_dump(v, &n) : NULL;
  json_decref(v);
  if (!s) return -1;
  int r = ra_publish(ra, channel, s, n);
  free(s);
  return r;
}

/* ---- messages from other nodes --------------------------------------------------------- */

/* Names from a JSON array (strings, or numbers as their text) into v; returns count. */
static size_t names_of(json_t *arr, const char **v, char numbuf[][32], size_t max) {
  size_t n = 0;
  for (size_t i = 0; i < json_array_size(arr) && n < max; i++) {
    json_t *e = json_array_get(arr, i);
    if (json_is_string(e)) {
      v[n++] = json_string_value(e);
    } else if (json_is_number(e)) {
      snprintf(numbuf[n], 32, "%g", json_number_value(e));
      v[n] = numbuf[n];
      n++;
    }
  }
  return n;
}

void ra_target_from(wsio_sio_target *t, target_buf *b, wsio_sio_nsp *nsp, json_t *opts) {
  memset(t, 0, sizeof(*t));
  t->nsp = nsp;
  t->rooms = b->rooms;
  t->except = b->except;
  t->nrooms = names_of(json_object_get(opts, "rooms"), b->rooms, b->rnum, RA_MAX_ROOMS);
  t->nexcept = names_of(json_object_get(opts, "except"), b->except, b->enum_, RA_MAX_ROOMS);
  json_t *flags = json_object_get(opts, "flags");
  t->is_volatile = json_is_true(json_object_get(flags, "volatile"));
}

/* A packet {type:2, data:[event, ...args]} as an sio_event; the JSON text is malloc'd
 * into *text. Returns 0 or -1. */
int ra_event_from_packet(json_t *packet, const codec_bins *bins, sio_event *ev, char **text) {
  json_t *data = json_object_get(packet, "data");
  json_t *type = json_object_get(packet, "type");
  if (!json_is_array(data) || json_array_size(data) < 1 || !json_is_string(json_array_get(data, 0))) return -1;
  if (!json_is_integer(type) || (json_integer_value(type) != 2 && json_integer_value(type) != 5)) return -1;
  json_t *args = json_array();
  for (size_t i = 1; args && i < json_array_size(data); i++) json_array_append(args, json_array_get(data, i));
  size_t n = 0;
  *text = args ? codec_dump(args, &n) : NULL;
  json_decref(args);
  if (!*text) return -1;
  ev->name = json_string_value(json_array_get(data, 0));
  ev->json = *text;
  ev->len = n;
  ev->bins = bins ? bins->v : NULL;
  ev->nbins = bins ? bins->n : 0;
  ev->offset = NULL;
  ev->delivery = 0;
  return 0;
}

static void on_broadcast(redis_adapter *ra, rnsp *ns, const char *room, size_t rlen, const char *msg, size_t mlen) {
  if (rlen && !sio_nsp_has_room(ns->nsp, room, rlen)) return; /* Node: "ignore unknown room" */
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  codec_bins bins;
  json_t *v = NULL;
  if (msgpack_unpack_next(&up, msg, mlen, &off) == MSGPACK_UNPACK_SUCCESS) v = codec_to_json(&up.data, &bins);
  json_t *uid = json_array_get(v, 0), *packet = json_array_get(v, 1), *opts = json_array_get(v, 2);
  json_t *pnsp = json_object_get(packet, "nsp");
  const char *pn = json_is_string(pnsp) ? json_string_value(pnsp) : "/";
  if (json_is_string(uid) && strcmp(json_string_value(uid), ra->uid) != 0 && json_is_object(packet) &&
      strcmp(pn, ns->name) == 0) {
    sio_event ev;
    char *text = NULL;
    target_buf tb; /* ~20 KiB of the loop thread's stack, no allocation per message */
    wsio_sio_target t;
    if (ra_event_from_packet(packet, &bins, &ev, &text) == 0) {
      ra_target_from(&t, &tb, ns->nsp, opts);
      (void)sio_local_broadcast(&t, &ev);
    }
    free(text);
  }
  json_decref(v);
  msgpack_unpacked_destroy(&up);
}

/* Parses a request or response: JSON when it starts with '{', msgpack otherwise. */
json_t *ra_decode_any(const char *msg, size_t len, msgpack_unpacked *up, codec_bins *bins) {
  if (len && msg[0] == '{') {
    json_error_t je;
    return json_loadb(msg, len, 0, &je);
  }
  size_t off = 0;
  if (msgpack_unpack_next(up, msg, len, &off) != MSGPACK_UNPACK_SUCCESS) return NULL;
  return codec_to_json(&up->data, bins);
}

static void respond(redis_adapter *ra, rnsp *ns, json_t *v) { ra_publish_json(ra, ns->resp_channel, v); }

typedef struct sse_reply {
  redis_adapter *ra;
  rnsp *ns;
  const char *request_id;
} sse_reply;

static void sse_answer(const char *json, size_t len, void *arg) {
  sse_reply *r = arg;
  json_error_t je;
  json_t *v = json_loadb(json, len, JSON_DECODE_ANY, &je);
  respond(r->ra, r->ns, json_pack("{sisssO}", "type", REQ_SERVER_SIDE_EMIT, "requestId", r->request_id, "data",
                                  v ? v : json_null()));
  json_decref(v);
}

/* Each client answer of a broadcast another node asked: one response, its attachments
 * as msgpack `bin` (Node's requester gets Buffers back). */
void ra_remote_each(const char *json, size_t len, const wsio_span *bins, size_t nbins, void *arg) {
  bcast_remote *b = arg;
  json_error_t je;
  if (b->ra->destroyed) return;
  json_t *v = json_loadb(json, len, JSON_DECODE_ANY, &je);
  if (b->ns) {
    ra_sh_publish(b->ra, b->channel,
                  ra_sh_msg(b->ra, b->ns, CM_BROADCAST_ACK,
                            json_pack("{ssso}", "requestId", b->request_id, "packet", v ? v : json_null())),
                  bins, nbins);
    return;
  }
  mp m;
  ra_mp_init(&m);
  int r = msgpack_pack_map(&m.pk, 3) || ra_mp_str(&m, "type") || msgpack_pack_int(&m.pk, REQ_BROADCAST_ACK) ||
          ra_mp_str(&m, "requestId") || ra_mp_str(&m, b->request_id) || ra_mp_str(&m, "packet") ||
          codec_pack_json(&m.pk, v ? v : json_null(), bins, nbins);
  if (!r) ra_publish(b->ra, b->channel, m.sb.data, m.sb.size);
  msgpack_sbuffer_destroy(&m.sb);
  json_decref(v);
}

void ra_remote_done(const char *json, size_t len, int err, void *user) {
  (void)json;
  (void)len;
  (void)err;
  free(user);
}

static void on_request(redis_adapter *ra, rnsp *ns, const char *msg, size_t len) {
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  codec_bins bins;
  bins.n = 0;
  json_t *q = ra_decode_any(msg, len, &up, &bins);
  json_t *uidv = json_object_get(q, "uid");
  const char *uid = json_is_string(uidv) ? json_string_value(uidv) : "";
  const char *rid = json_string_value(json_object_get(q, "requestId"));
  int own = strcmp(uid, ra->uid) == 0;
  json_t *opts = json_object_get(q, "opts");
  target_buf *tb = NULL;
  wsio_sio_target t;
  switch (json_integer_value(json_object_get(q, "type"))) {
    case REQ_ALL_ROOMS: {
      if (own || !rid) break;
      json_t *rooms = ra_local_rooms(ns->nsp);
      if (rooms) respond(ra, ns, json_pack("{ssso}", "requestId", rid, "rooms", rooms));
      break;
    }
    case REQ_REMOTE_FETCH: {
      if (own || !rid || !(tb = malloc(sizeof(*tb)))) break;
      ra_target_from(&t, tb, ns->nsp, opts);
      json_t *socks = ra_local_sockets(&t);
      if (socks) respond(ra, ns, json_pack("{ssso}", "requestId", rid, "sockets", socks));
      break;
    }
    case REQ_REMOTE_JOIN:
    case REQ_REMOTE_LEAVE: {
      /* This node applied its own request already (at once, not through Redis). */
      int join = json_integer_value(json_object_get(q, "type")) == REQ_REMOTE_JOIN;
      if (own || !json_is_object(opts) || !(tb = malloc(sizeof(*tb)))) break;
      ra_target_from(&t, tb, ns->nsp, opts);
      json_t *rooms = json_object_get(q, "rooms");
      for (size_t i = 0; i < json_array_size(rooms); i++)
        if (json_is_string(json_array_get(rooms, i)))
          (void)sio_local_add_sockets(&t, json_string_value(json_array_get(rooms, i)), join);
      break;
    }
    case REQ_REMOTE_DISCONNECT:
      if (own || !json_is_object(opts) || !(tb = malloc(sizeof(*tb)))) break;
      ra_target_from(&t, tb, ns->nsp, opts);
      (void)sio_local_disconnect_sockets(&t, json_is_true(json_object_get(q, "close")));
      break;
    case REQ_SERVER_SIDE_EMIT: {
      json_t *data = json_object_get(q, "data");
      if (own || !json_is_array(data) || !json_is_string(json_array_get(data, 0))) break;
      json_t *args = json_array();
      for (size_t i = 1; i < json_array_size(data); i++) json_array_append(args, json_array_get(data, i));
      size_t n = 0;
      char *text = codec_dump(args, &n);
      json_decref(args);
      if (!text) break;
      sio_event ev = {json_string_value(json_array_get(data, 0)), text, n, NULL, 0, NULL, 0};
      sse_reply r = {ra, ns, rid};
      sio_local_server_event(ns->nsp, &ev, rid ? sse_answer : NULL, &r);
      free(text);
      break;
    }
    case REQ_BROADCAST: {
      if (own || !rid || ra_req_find_id(ra, rid) || !(tb = malloc(sizeof(*tb)))) break;
      ra_target_from(&t, tb, ns->nsp, opts);
      json_t *to = json_object_get(json_object_get(opts, "flags"), "timeout");
      unsigned timeout = json_is_integer(to) && json_integer_value(to) > 0 ? (unsigned)json_integer_value(to) : 5000;
      sio_event ev;
      char *text = NULL;
      bcast_remote *b = calloc(1, sizeof(*b));
      if (b && ra_event_from_packet(json_object_get(q, "packet"), &bins, &ev, &text) == 0) {
        b->ra = ra;
        snprintf(b->channel, sizeof(b->channel), "%s", ns->resp_channel);
        snprintf(b->request_id, sizeof(b->request_id), "%s", rid);
        json_t *count = json_pack("{sisssi}", "type", REQ_BROADCAST_CLIENT_COUNT, "requestId", rid, "clientCount", 0);
        /* The count goes first (Node's clientCountCallback runs before any ack can). The
         * selection is taken once more here: broadcast_with_ack reports the same. */
        int reached = sio_local_broadcast_with_ack_each(&t, &ev, timeout, ra_remote_done, b, ra_remote_each, b);
        if (reached < 0) reached = 0;
        json_object_set_new(count, "clientCount", json_integer(reached));
        /* Answers sent inside the call (none: clients answer later, from the loop) are
         * published after the count only in that impossible case. */
        respond(ra, ns, count);
        b = NULL; /* freed by remote_done */
      }
      free(b);
      free(text);
      break;
    }
    default:
      break;
  }
  free(tb);
  json_decref(q);
  msgpack_unpacked_destroy(&up);
}


static void on_response(redis_adapter *ra, const char *msg, size_t len) {
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  codec_bins bins = {.n = 0};
  json_t *v = ra_decode_any(msg, len, &up, &bins);
  ra_on_response_value(ra, v, &bins);
  json_decref(v);
  msgpack_unpacked_destroy(&up);
}

/* A response in the classic shape {requestId, type, clientCount|packet|sockets|rooms|data}. */
void ra_on_response_value(redis_adapter *ra, json_t *v, const codec_bins *bins) {
  const char *rid = json_string_value(json_object_get(v, "requestId"));
  rreq *q = rid ? ra_req_find_id(ra, rid) : NULL;
  if (!q || q->done) return;
  json_t *type = json_object_get(v, "type");
  /* Only a broadcast's answers keep their attachments; elsewhere (JSON callbacks) they
   * are null, as Node's JSON-only consumers would see them. In place: v is an object. */
  if (bins && bins->n && q->type != REQ_BROADCAST) json_decref(ra_unbin(json_incref(v)));
  switch (q->type) {
    case REQ_BROADCAST:
      if (json_integer_value(type) == REQ_BROADCAST_CLIENT_COUNT) {
        q->servers_reported++;
        q->clients_expected += (long)json_integer_value(json_object_get(v, "clientCount"));
      } else if (json_integer_value(type) == REQ_BROADCAST_ACK) {
        json_t *p = json_object_get(v, "packet");
        ra_bcast_answer(q, p ? json_incref(p) : json_null(), bins ? bins->v : NULL, bins ? bins->n : 0, 1);
        break; /* (checked there) */
      }
      ra_bcast_check(q);
      break;
    case REQ_ALL_ROOMS: {
      json_t *rooms = json_object_get(v, "rooms");
      if (!json_is_array(rooms)) break;
      for (size_t i = 0; i < json_array_size(rooms); i++)
        if (json_is_string(json_array_get(rooms, i)))
          json_object_set_new(q->acc, json_string_value(json_array_get(rooms, i)), json_true());
      if (++q->msg_count >= q->num_sub && q->num_sub >= 0) ra_req_finish(q, 0);
      break;
    }
    case REQ_REMOTE_FETCH: {
      json_t *socks = json_object_get(v, "sockets");
      if (!json_is_array(socks)) break;
      json_array_extend(q->acc, socks);
      if (++q->msg_count >= q->num_sub && q->num_sub >= 0) ra_req_finish(q, 0);
      break;
    }
    case REQ_SERVER_SIDE_EMIT: {
      json_t *d = json_object_get(v, "data");
      json_array_append(q->acc, d ? d : json_null());
      if (++q->msg_count >= q->num_sub && q->num_sub >= 0) ra_req_finish(q, 0);
      break;
    }
    default:
      break;
  }
}

void ra_on_message(redis_adapter *ra, const char *channel, size_t clen, const char *msg, size_t mlen, int pattern) {
  if (ra->sharded || ra->streams) {
    ra_sh_on_message(ra, channel, clen, msg, mlen);
    return;
  }
  for (rnsp *ns = ra->nsps; ns; ns = ns->next) {
    if (pattern) {
      if (clen < ns->channel_len || memcmp(channel, ns->channel, ns->channel_len) != 0) continue;
      size_t rlen = clen - ns->channel_len;
      /* "prefix#nsp#" or "prefix#nsp#room#" */
      if (rlen && channel[clen - 1] != '#') continue;
      on_broadcast(ra, ns, channel + ns->channel_len, rlen ? rlen - 1 : 0, msg, mlen);
      return;
    }
    size_t rq = strlen(ns->req_channel), rs = strlen(ns->resp_channel);
    if (clen == rq && memcmp(channel, ns->req_channel, rq) == 0) {
      on_request(ra, ns, msg, mlen);
      return;
    }
    if (clen >= rs && memcmp(channel, ns->resp_channel, rs) == 0) {
      on_response(ra, msg, mlen);
      return;
    }
  }
}
