/* adapter/streams.c — the transport of Node's @socket.io/redis-streams-adapter 0.3.x:
 * socket.io-adapter's ClusterAdapter messages (cluster_adapter.c builds and handles
 * them) carried by a Redis stream for what must survive a node's absence, and by pub/sub
 * for the rest.
 *
 * Owns: the choice of carrier per message, the stream entries' shape (fields uid, nsp,
 * type as decimal text, data as JSON text or base64 msgpack when it holds binaries), the
 * XREAD loop on a connection of its own (an ordinary non-blocking connection: BLOCK
 * only makes Redis answer later, the loop never waits), and the reading offset, kept
 * across reconnections so that entries added while this node was away are read then.
 * Must not touch sockets: entries go to ra_sh_on_request like any cluster message.
 *
 * As Node's RedisStreamsAdapter: broadcasts without ack, socketsJoin/Leave and
 * disconnectSockets are XADD stream MAXLEN ~ maxLen; broadcasts with ack,
 * serverSideEmit and fetchSockets are PUBLISH prefix#nsp# (msgpack); responses PUBLISH
 * prefix#nsp#<requester uid># (msgpack); nodes are counted by PUBSUB NUMSUB prefix#nsp#. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/internal.h"
#include "util/base64.h"

#define ST_RETRY_MS 1000 /* a refused XREAD (the key is not a stream...) is tried again */

static int st_ephemeral(int type, json_t *data) {
  if (type == CM_BROADCAST) return json_object_get(data, "requestId") != NULL;
  return type == CM_SERVER_SIDE_EMIT || type == CM_FETCH_SOCKETS;
}

static int st_response(int type) {
  return type == CM_FETCH_SOCKETS_RESPONSE || type == CM_SERVER_SIDE_EMIT_RESPONSE ||
         type == CM_BROADCAST_CLIENT_COUNT || type == CM_BROADCAST_ACK;
}

/* Node's encode(): data as JSON text, or as base64 msgpack when a type that may carry
 * binaries does. Returns malloc'd text or NULL. */
static char *st_data(int type, json_t *data, const wsio_span *bins, size_t nbins, size_t *len) {
  int may_bin = type == CM_BROADCAST || type == CM_FETCH_SOCKETS_RESPONSE || type == CM_SERVER_SIDE_EMIT ||
                type == CM_SERVER_SIDE_EMIT_RESPONSE || type == CM_BROADCAST_ACK;
  if (!nbins || !may_bin) return codec_dump(data, len);
  mp m;
  ra_mp_init(&m);
  char *out = NULL;
  if (codec_pack_json(&m.pk, data, bins, nbins) == 0 && (out = malloc(base64_len(m.sb.size) + 1)) != NULL) {
    *len = base64_encode(out, (const uint8_t *)m.sb.data, m.sb.size);
    out[*len] = '\0';
  }
  msgpack_sbuffer_destroy(&m.sb);
  return out;
}

static void st_on_xadd(redis_adapter *ra, redisReply *r, uint32_t arg) {
  (void)arg;
  if (r && r->type == REDIS_REPLY_ERROR) ra_log(ra, WSIO_LOG_WARN, "redis: XADD refused: %.*s", (int)r->len, r->str);
}

static int st_xadd(redis_adapter *ra, json_t *msg, const wsio_span *bins, size_t nbins, reply_fn fn, uint32_t arg) {
  rconn *c = &ra->pub;
  if (!ra_is_up(ra) || net_buffered(&c->net) > RA_MAX_BACKLOG) {
    ra->st.messages_dropped++;
    return -1;
  }
  int type = (int)json_integer_value(json_object_get(msg, "type"));
  const char *uid = json_string_value(json_object_get(msg, "uid"));
  const char *nsp = json_string_value(json_object_get(msg, "nsp"));
  size_t dlen = 0;
  char *data = st_data(type, json_object_get(msg, "data"), bins, nbins, &dlen);
  if (!data || !uid || !nsp) {
    free(data);
    return -1;
  }
  char maxlen[24], ts[16];
  snprintf(maxlen, sizeof(maxlen), "%u", ra->max_len);
  snprintf(ts, sizeof(ts), "%d", type);
  const char *a[] = {"XADD", ra->stream_name, "MAXLEN", "~", maxlen, "*", "uid", uid, "nsp", nsp, "type", ts, "data", data};
  size_t l[14];
  for (int i = 0; i < 14; i++) l[i] = strlen(a[i]);
  l[13] = dlen;
  int r = ra_conn_command(c, 14, a, l, fn, arg);
  free(data);
  if (r == 0) ra->st.messages_out++;
  else ra->st.messages_dropped++;
  return r;
}

char *ra_st_pack(const json_t *msg, size_t *len) {
  mp m;
  ra_mp_init(&m);
  char *out = NULL;
  if (codec_pack_json(&m.pk, msg, NULL, 0) == 0 && (out = malloc(m.sb.size ? m.sb.size : 1)) != NULL) {
    memcpy(out, m.sb.data, m.sb.size);
    *len = m.sb.size;
  }
  msgpack_sbuffer_destroy(&m.sb);
  return out;
}

int ra_st_publish(redis_adapter *ra, const char *channel, json_t *msg, const wsio_span *bins, size_t nbins) {
  int type = (int)json_integer_value(json_object_get(msg, "type"));
  int r = -1;
  if (st_response(type) || st_ephemeral(type, json_object_get(msg, "data"))) {
    mp m;
    ra_mp_init(&m);
    if (codec_pack_json(&m.pk, msg, bins, nbins) == 0) r = ra_publish(ra, channel, m.sb.data, m.sb.size);
    msgpack_sbuffer_destroy(&m.sb);
  } else {
    r = st_xadd(ra, msg, bins, nbins, st_on_xadd, 0);
  }
  json_decref(msg);
  return r;
}

/* ---- reading the stream -------------------------------------------------------------- */

static const redisReply *field(const redisReply *kv, const char *name) {
  for (size_t i = 0; i + 1 < kv->elements; i += 2)
    if (kv->element[i]->type == REDIS_REPLY_STRING && strcmp(kv->element[i]->str, name) == 0 &&
        kv->element[i + 1]->type == REDIS_REPLY_STRING)
      return kv->element[i + 1];
  return NULL;
}

/* One entry [id, [field, value, ...]]: Node's onRawMessage then onMessage(msg, offset). */
static void st_on_entry(redis_adapter *ra, const redisReply *e) {
  if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING ||
      e->element[1]->type != REDIS_REPLY_ARRAY)
    return;
  const redisReply *id = e->element[0], *kv = e->element[1];
  if (id->len < sizeof(ra->xoffset)) memcpy(ra->xoffset, id->str, id->len + 1);
  const redisReply *uid = field(kv, "uid"), *nsp = field(kv, "nsp"), *type = field(kv, "type"), *data = field(kv, "data");
  if (!nsp || !uid || !type) return;
  ra->st.messages_in++;
  if (strcmp(uid->str, ra->uid) == 0) return; /* ClusterAdapter: "ignore message from self" */
  rnsp *ns = NULL;
  for (rnsp *n = ra->nsps; n; n = n->next)
    if (strlen(n->name) == nsp->len && memcmp(n->name, nsp->str, nsp->len) == 0) ns = n;
  if (!ns) return;
  codec_bins bins;
  bins.n = 0;
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  uint8_t *raw = NULL;
  json_t *d = NULL;
  if (data && data->len && data->str[0] == '{') {
    json_error_t je;
    d = json_loadb(data->str, data->len, 0, &je);
  } else if (data && (raw = malloc(data->len / 4 * 3 + 1)) != NULL) {
    long n = base64_decode(raw, data->str, data->len);
    size_t off = 0;
    if (n > 0 && msgpack_unpack_next(&up, (const char *)raw, (size_t)n, &off) == MSGPACK_UNPACK_SUCCESS)
      d = codec_to_json(&up.data, &bins);
  }
  json_t *m = d ? json_pack("{sisOss#ss#}", "type", atoi(type->str), "data", d, "uid", uid->str, (int)uid->len, "nsp",
                            nsp->str, (int)nsp->len)
                : NULL;
  if (m) {
    ra->cur_offset = ra->xoffset;
    ra_sh_on_request(ra, ns, m, &bins);
    ra->cur_offset = NULL;
  }
  json_decref(m);
  json_decref(d);
  msgpack_unpacked_destroy(&up);
  free(raw);
}

static void st_on_xread(redis_adapter *ra, redisReply *r, uint32_t arg) {
  (void)arg;
  ra->xpolling = 0;
  if (!r || ra->destroyed) return; /* the connection went away: read again at its connect */
  if (r->type == REDIS_REPLY_ERROR) {
    ra_log(ra, WSIO_LOG_WARN, "redis: XREAD refused: %.*s", (int)r->len, r->str);
    (void)loop_timer_start(ra->loop, &ra->xtimer, ST_RETRY_MS, 0);
    return;
  }
  /* [[stream, [[id, [field, value, ...]], ...]]], or nil when BLOCK ran out */
  if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
      r->element[0]->elements >= 2 && r->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
    const redisReply *entries = r->element[0]->element[1];
    for (size_t i = 0; i < entries->elements && !ra->destroyed; i++) st_on_entry(ra, entries->element[i]);
  }
  ra_st_poll(ra);
}

void ra_st_poll(redis_adapter *ra) {
  if (!ra->streams || ra->xpolling || ra->destroyed || ra->xr.state != RC_READY) return;
  char count[16], block[16];
  snprintf(count, sizeof(count), "%u", ra->read_count);
  snprintf(block, sizeof(block), "%u", ra->block_ms);
  const char *a[] = {"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", ra->stream_name, ra->xoffset};
  size_t l[8];
  for (int i = 0; i < 8; i++) l[i] = strlen(a[i]);
  if (ra_conn_command(&ra->xr, 8, a, l, st_on_xread, 0) == 0) ra->xpolling = 1;
}

static void st_retry_fired(loop_timer *t) {
  redis_adapter *ra = (redis_adapter *)((char *)t - offsetof(redis_adapter, xtimer));
  ra_st_poll(ra);
}

int ra_st_init(redis_adapter *ra, const wsio_sio_redis_options *o) {
  ra->streams = 1;
  ra->sharded = 0;
  ra->stream_name = strdup(o->stream_name && o->stream_name[0] ? o->stream_name : "socket.io");
  ra->session_prefix = strdup(o->session_key_prefix && o->session_key_prefix[0] ? o->session_key_prefix : "sio:session:");
  ra->max_len = o->stream_max_len ? o->stream_max_len : 10000;
  ra->read_count = o->stream_read_count ? o->stream_read_count : 100;
  ra->block_ms = o->stream_block_ms ? o->stream_block_ms : 5000;
  strcpy(ra->xoffset, "$"); /* Node starts at the stream's end */
  ra->xtimer.cb = st_retry_fired;
  ra->xr.ra = ra;
  return ra->stream_name && ra->session_prefix ? 0 : WSIO_ENOMEM;
}

void ra_st_free(redis_adapter *ra) {
  loop_timer_stop(ra->loop, &ra->xtimer);
  ra_conn_free(&ra->xr);
  free(ra->stream_name);
  free(ra->session_prefix);
}

/* ---- connection state recovery across nodes ------------------------------------------
 * As Node's RedisStreamsAdapter with connectionStateRecovery: a broadcast's offset is
 * its stream entry's id, so this node delivers its own broadcasts once XADD answered
 * (Node awaits publishAndReturnOffset the same way; while Redis is away they go at once,
 * without offset); a disconnected socket's session is SET <sessionKeyPrefix><pid>
 * (base64 msgpack {sid, pid, rooms, data}, PX maxDisconnectionDuration); a reconnecting
 * client's session is taken (MULTI GET DEL EXEC) with the entries after its offset
 * (XRANGE), the broadcasts its rooms select being its missed packets. */

typedef struct st_deferred {
  struct st_deferred *next;
  uint32_t serial;
  wsio_sio_nsp *nsp;
  int is_volatile;
  char **rooms, **except;
  size_t nrooms, nexcept;
  char *name, *json;
  size_t len;
  wsio_span *bins;
  size_t nbins;
} st_deferred;

static void deferred_free(st_deferred *d) {
  for (size_t i = 0; i < d->nrooms; i++) free(d->rooms[i]);
  for (size_t i = 0; i < d->nexcept; i++) free(d->except[i]);
  for (size_t i = 0; i < d->nbins; i++) free((void *)d->bins[i].p);
  free(d->rooms);
  free(d->except);
  free(d->bins);
  free(d->name);
  free(d->json);
  free(d);
}

/* A copy of what the broadcast needs later (the caller's target and event are borrowed;
 * socket.broadcast's own socket becomes an except room, its id). */
static st_deferred *deferred_new(const wsio_sio_target *t, const sio_event *ev) {
  st_deferred *d = calloc(1, sizeof(*d));
  if (!d) return NULL;
  d->nsp = t->nsp;
  d->is_volatile = t->is_volatile;
  size_t nexcept = t->nexcept + (t->except_socket ? 1 : 0);
  int ok = (d->rooms = calloc(t->nrooms + 1, sizeof(char *))) && (d->except = calloc(nexcept + 1, sizeof(char *))) &&
           (d->bins = calloc(ev->nbins + 1, sizeof(wsio_span))) && (d->name = strdup(ev->name)) &&
           (d->json = malloc(ev->len + 1));
  for (size_t i = 0; ok && i < t->nrooms; i++) ok = t->rooms[i] && (d->rooms[d->nrooms++] = strdup(t->rooms[i]));
  for (size_t i = 0; ok && i < t->nexcept; i++) ok = t->except[i] && (d->except[d->nexcept++] = strdup(t->except[i]));
  if (ok && t->except_socket) ok = (d->except[d->nexcept++] = strdup(wsio_sio_socket_id(t->except_socket))) != NULL;
  for (size_t i = 0; ok && i < ev->nbins; i++) {
    void *p = malloc(ev->bins[i].n ? ev->bins[i].n : 1);
    if (!(ok = p != NULL)) break;
    if (ev->bins[i].n) memcpy(p, ev->bins[i].p, ev->bins[i].n);
    d->bins[d->nbins++] = (wsio_span){p, ev->bins[i].n};
  }
  if (!ok) {
    deferred_free(d);
    return NULL;
  }
  memcpy(d->json, ev->json, ev->len);
  d->json[ev->len] = '\0';
  d->len = ev->len;
  return d;
}

static void st_on_xadd_deliver(redis_adapter *ra, redisReply *r, uint32_t serial) {
  st_deferred **pp = &ra->deferred, *d = NULL;
  for (; *pp; pp = &(*pp)->next)
    if ((*pp)->serial == serial) break;
  if (!(d = *pp)) return;
  *pp = d->next;
  if (r && r->type == REDIS_REPLY_ERROR) ra_log(ra, WSIO_LOG_WARN, "redis: XADD refused: %.*s", (int)r->len, r->str);
  if (!ra->destroyed) { /* (the server's sockets are gone when it is) */
    wsio_sio_target t = {.nsp = d->nsp,
                         .rooms = (const char *const *)d->rooms,
                         .nrooms = d->nrooms,
                         .except = (const char *const *)d->except,
                         .nexcept = d->nexcept,
                         .is_volatile = d->is_volatile};
    sio_event ev = {d->name, d->json, d->len, d->bins, d->nbins,
                    r && r->type == REDIS_REPLY_STRING ? r->str : NULL, 0};
    (void)sio_local_broadcast(&t, &ev);
  }
  deferred_free(d);
}

int ra_st_broadcast_deferred(redis_adapter *ra, rnsp *ns, const wsio_sio_target *t, const sio_event *ev) {
  json_t *data = ra_event_array(ev);
  json_t *m = ra_sh_msg(ra, ns, CM_BROADCAST,
                        data ? json_pack("{s{siso}so}", "packet", "type", 2, "data", data, "opts", ra_sh_opts(t, -1))
                             : NULL);
  st_deferred *d = m ? deferred_new(t, ev) : NULL;
  if (!d) {
    json_decref(m);
    return -1;
  }
  d->serial = ++ra->next_serial;
  if (st_xadd(ra, m, ev->bins, ev->nbins, st_on_xadd_deliver, d->serial) != 0) {
    json_decref(m);
    deferred_free(d);
    return -1;
  }
  json_decref(m);
  d->next = NULL;
  st_deferred **pp = &ra->deferred;
  while (*pp) pp = &(*pp)->next;
  *pp = d;
  return 0;
}

void ra_st_persist(sio_adapter *a, wsio_sio_nsp *nsp, const sio_session_state *st, unsigned ttl_ms) {
  redis_adapter *ra = (redis_adapter *)a;
  (void)nsp;
  if (!ra->streams || !ra_is_up(ra) || !ttl_ms) return;
  json_error_t je;
  json_t *data = st->data ? json_loadb(st->data, st->data_len, JSON_DECODE_ANY, &je) : json_object();
  json_t *rooms = json_array();
  for (size_t i = 0; rooms && i < st->nrooms; i++) json_array_append_new(rooms, json_string(st->rooms[i]));
  json_t *sess = json_pack("{sssssoso}", "sid", st->sid, "pid", st->pid, "rooms", rooms, "data", data ? data : json_null());
  size_t n = 0;
  char *packed = sess ? ra_st_pack(sess, &n) : NULL;
  json_decref(sess);
  char *b64 = packed ? malloc(base64_len(n) + 1) : NULL;
  if (b64) {
    size_t bl = base64_encode(b64, (const uint8_t *)packed, n);
    char key[512], px[16];
    snprintf(key, sizeof(key), "%s%s", ra->session_prefix, st->pid);
    snprintf(px, sizeof(px), "%u", ttl_ms);
    const char *av[] = {"SET", key, b64, "PX", px};
    size_t l[] = {3, strlen(key), bl, 2, strlen(px)};
    if (ra_conn_command(&ra->pub, 5, av, l, st_on_xadd, 0) == 0) ra->st.messages_out++;
  }
  free(b64);
  free(packed);
}

typedef struct st_restore {
  struct st_restore *next;
  redis_adapter *ra;
  uint32_t serial;
  rnsp *ns;
  json_t *session; /* the stored session, decoded */
  int offset_found;
  sio_restore_fn done;
  void *arg;
} st_restore;

static st_restore *restore_find(redis_adapter *ra, uint32_t serial, int unlink) {
  for (st_restore **pp = &ra->restores; *pp; pp = &(*pp)->next) {
    st_restore *x = *pp;
    if (x->serial != serial) continue;
    if (unlink) *pp = x->next;
    return x;
  }
  return NULL;
}

static void restore_end(st_restore *x, const sio_restored *r) {
  x->done(r, x->arg);
  json_decref(x->session);
  free(x);
}

/* The value SET by persist (ours or Node's): base64 msgpack. */
static json_t *session_decode(const char *s, size_t n) {
  uint8_t *raw = malloc(n / 4 * 3 + 1);
  json_t *v = NULL;
  long rn = raw ? base64_decode(raw, s, n) : -1;
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  if (rn > 0 && msgpack_unpack_next(&up, (const char *)raw, (size_t)rn, &off) == MSGPACK_UNPACK_SUCCESS)
    v = codec_to_json(&up.data, NULL);
  msgpack_unpacked_destroy(&up);
  free(raw);
  return v;
}

static void st_on_exec(redis_adapter *ra, redisReply *r, uint32_t serial) {
  st_restore *x = restore_find(ra, serial, 0);
  if (!x) return;
  if (!r) {
    restore_find(ra, serial, 1);
    restore_end(x, NULL);
    return;
  }
  /* EXEC: [GET's value (nil when none), DEL's count] */
  if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_STRING)
    x->session = session_decode(r->element[0]->str, r->element[0]->len);
}

static void st_on_offset(redis_adapter *ra, redisReply *r, uint32_t serial) {
  st_restore *x = restore_find(ra, serial, 0);
  if (!x) return;
  if (!r) {
    restore_find(ra, serial, 1);
    restore_end(x, NULL);
    return;
  }
  x->offset_found = r->type == REDIS_REPLY_ARRAY && r->elements >= 1;
}

/* Node's shouldIncludePacket(session.rooms, opts). */
static int include_packet(json_t *rooms, json_t *opts) {
  json_t *want = json_object_get(opts, "rooms"), *except = json_object_get(opts, "except");
  int included = json_array_size(want) == 0;
  for (size_t i = 0; i < json_array_size(rooms); i++) {
    json_t *room = json_array_get(rooms, i);
    for (size_t j = 0; j < json_array_size(want) && !included; j++) included = json_equal(room, json_array_get(want, j));
    for (size_t j = 0; j < json_array_size(except); j++)
      if (json_equal(room, json_array_get(except, j))) return 0;
  }
  return included;
}

typedef struct missed_buf {
  sio_event *v;
  char **texts;
  msgpack_unpacked *ups;
  uint8_t **raws;
  json_t **values;
  codec_bins *bins;
  size_t n;
} missed_buf;

/* One entry of XRANGE: a broadcast of this namespace that the session's rooms select. */
static void missed_add(missed_buf *m, const redisReply *e, rnsp *ns, json_t *rooms) {
  if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[1]->type != REDIS_REPLY_ARRAY) return;
  const redisReply *id = e->element[0], *kv = e->element[1];
  const redisReply *nsp = field(kv, "nsp"), *type = field(kv, "type"), *data = field(kv, "data");
  if (!nsp || !type || !data || strcmp(type->str, "3") != 0 || strcmp(nsp->str, ns->name) != 0) return;
  size_t i = m->n;
  msgpack_unpacked_init(&m->ups[i]);
  m->bins[i].n = 0;
  m->raws[i] = NULL;
  json_t *d = NULL;
  if (data->len && data->str[0] == '{') {
    json_error_t je;
    d = json_loadb(data->str, data->len, 0, &je);
  } else if ((m->raws[i] = malloc(data->len / 4 * 3 + 1)) != NULL) {
    long n = base64_decode(m->raws[i], data->str, data->len);
    size_t off = 0;
    if (n > 0 && msgpack_unpack_next(&m->ups[i], (const char *)m->raws[i], (size_t)n, &off) == MSGPACK_UNPACK_SUCCESS)
      d = codec_to_json(&m->ups[i].data, &m->bins[i]);
  }
  m->texts[i] = NULL;
  if (d && include_packet(rooms, json_object_get(d, "opts")) &&
      ra_event_from_packet(json_object_get(d, "packet"), &m->bins[i], &m->v[i], &m->texts[i]) == 0) {
    m->v[i].offset = id->str;
    m->values[i] = d;
    m->n++;
    return;
  }
  free(m->texts[i]);
  json_decref(d);
  msgpack_unpacked_destroy(&m->ups[i]);
  free(m->raws[i]);
}

static void st_on_range(redis_adapter *ra, redisReply *r, uint32_t serial) {
  st_restore *x = restore_find(ra, serial, 1);
  if (!x) return;
  json_t *s = x->session;
  const char *sid = json_string_value(json_object_get(s, "sid")), *pid = json_string_value(json_object_get(s, "pid"));
  json_t *rooms = json_object_get(s, "rooms");
  if (!r || r->type != REDIS_REPLY_ARRAY || !x->offset_found || !sid || !pid || !json_is_array(rooms)) {
    restore_end(x, NULL); /* Node: "session or offset not found" */
    return;
  }
  size_t cap = r->elements ? r->elements : 1, nrooms = json_array_size(rooms);
  missed_buf m = {calloc(cap, sizeof(sio_event)), calloc(cap, sizeof(char *)), calloc(cap, sizeof(msgpack_unpacked)),
                  calloc(cap, sizeof(uint8_t *)), calloc(cap, sizeof(json_t *)), calloc(cap, sizeof(codec_bins)), 0};
  const char **names = calloc(nrooms + 1, sizeof(char *));
  json_t *data = json_object_get(s, "data");
  size_t dlen = 0;
  char *dtext = data && !json_is_null(data) ? codec_dump(data, &dlen) : NULL;
  if (m.v && m.texts && m.ups && m.raws && m.values && m.bins && names) {
    for (size_t i = 0; i < r->elements; i++) missed_add(&m, r->element[i], x->ns, rooms);
    size_t k = 0;
    for (size_t i = 0; i < nrooms; i++)
      if (json_is_string(json_array_get(rooms, i))) names[k++] = json_string_value(json_array_get(rooms, i));
    sio_restored out = {{sid, pid, names, k, dtext, dlen}, m.v, m.n};
    restore_end(x, &out);
  } else {
    restore_end(x, NULL);
  }
  for (size_t i = 0; i < m.n; i++) {
    free(m.texts[i]);
    json_decref(m.values[i]);
    msgpack_unpacked_destroy(&m.ups[i]);
    free(m.raws[i]);
  }
  free(m.v);
  free(m.texts);
  free(m.ups);
  free(m.raws);
  free(m.values);
  free(m.bins);
  free(names);
  free(dtext);
}

/* Node's nextOffset: exclusive ranges need Redis 6.2, so "<ms>-<seq + 1>". */
static int next_offset(const char *offset, char *out, size_t cap) {
  const char *dash = strchr(offset, '-');
  if (!dash || dash == offset || !dash[1]) return -1;
  for (const char *p = offset; *p; p++)
    if (p != dash && (*p < '0' || *p > '9')) return -1;
  unsigned long long seq = strtoull(dash + 1, NULL, 10);
  int n = snprintf(out, cap, "%.*s-%llu", (int)(dash - offset), offset, seq + 1);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

int ra_st_restore(sio_adapter *a, wsio_sio_nsp *nsp, const char *pid, const char *offset, sio_restore_fn done,
                  void *arg) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = ra_ns_of(ra, nsp);
  char next[64], key[512];
  if (!ra->streams || !ns || next_offset(offset, next, sizeof(next)) != 0) return WSIO_EINVAL;
  if (!ra_is_up(ra)) return WSIO_ECLOSED;
  st_restore *x = calloc(1, sizeof(*x));
  if (!x) return WSIO_ENOMEM;
  x->ra = ra;
  x->ns = ns;
  x->serial = ++ra->next_serial;
  x->done = done;
  x->arg = arg;
  snprintf(key, sizeof(key), "%s%s", ra->session_prefix, pid);
  rconn *c = &ra->pub;
  const char *multi[] = {"MULTI"}, *get[] = {"GET", key}, *del[] = {"DEL", key}, *exec[] = {"EXEC"};
  size_t ml[] = {5}, gl[] = {3, strlen(key)}, dl[] = {3, strlen(key)}, el[] = {4};
  const char *r1[] = {"XRANGE", ra->stream_name, offset, offset}, *r2[] = {"XRANGE", ra->stream_name, next, "+"};
  size_t l1[] = {6, strlen(ra->stream_name), strlen(offset), strlen(offset)};
  size_t l2[] = {6, strlen(ra->stream_name), strlen(next), 1};
  /* One pipeline; the replies come in order, the last one ends the restore. */
  if (ra_conn_command(c, 1, multi, ml, NULL, 0) != 0) {
    free(x);
    return WSIO_ECLOSED;
  }
  x->next = ra->restores;
  ra->restores = x;
  if (ra_conn_command(c, 2, get, gl, NULL, 0) != 0 || ra_conn_command(c, 2, del, dl, NULL, 0) != 0 ||
      ra_conn_command(c, 1, exec, el, st_on_exec, x->serial) != 0) {
    /* (out of memory mid-way: the transaction must not swallow later commands) */
    const char *discard[] = {"DISCARD"};
    size_t dsl[] = {7};
    (void)ra_conn_command(c, 1, discard, dsl, NULL, 0);
    restore_find(ra, x->serial, 1);
    restore_end(x, NULL);
    return 0;
  }
  ra_conn_command(c, 4, r1, l1, st_on_offset, x->serial);
  if (ra_conn_command(c, 4, r2, l2, st_on_range, x->serial) != 0) {
    restore_find(ra, x->serial, 1);
    restore_end(x, NULL);
  }
  return 0;
}
