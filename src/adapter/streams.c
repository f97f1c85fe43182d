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

static int st_xadd(redis_adapter *ra, json_t *msg, const wsio_span *bins, size_t nbins) {
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
  int r = ra_conn_command(c, 14, a, l, st_on_xadd, 0);
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
    r = st_xadd(ra, msg, bins, nbins);
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
