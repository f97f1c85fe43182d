/* adapter/redis.c — the Redis pub/sub cluster adapter, wire-compatible with Node's
 * @socket.io/redis-adapter 8.x `createAdapter`, and (wsio_sio_redis_options.sharded)
 * with its `createShardedAdapter` on one Redis 7 node or a Redis Cluster (the sections
 * "sharded" below: one publish and one subscribe connection per master, each command on
 * its channel's slot master; see docs/cluster.md for the channels and messages).
 *
 * Owns: two Redis connections (publish; subscribe) on a net context of its own on the
 * app's loop, their RESP streams (hiredis' reader and command formatter only: hiredis'
 * own networking is never used), reconnection with backoff, the per-namespace channels,
 * and the requests this node waits on (each bounded by request_timeout_ms).
 * Must not know sockets or packets beyond sio/adapter.h: this node's part of every
 * operation is a sio_local_* call.
 *
 * What Node's 8.x pub/sub adapter does, this does: no heartbeats (a node is counted by
 * PUBSUB NUMSUB on the request channel, which is why each namespace keeps that
 * SUBSCRIBE); broadcasts are msgpack [uid, packet, opts] on prefix#nsp# (or
 * prefix#nsp#room# for exactly one room), requests and responses JSON (msgpack where a
 * packet may carry binaries). While Redis is away, local work goes on: publishes are
 * dropped (pub/sub keeps nothing for late subscribers anyway) and requests answer with
 * this node's part and WSIO_ETIMEDOUT at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/codec.h"
#include "core/transport.h"
#include "net/net.h"
#include "sio/adapter.h"
#include "util/random.h"

#define RA_CONNECT_TIMEOUT_MS 3000
#define RA_BACKOFF_MIN_MS 100
#define RA_BACKOFF_MAX_MS 5000
#define RA_MAX_ROOMS 256 /* rooms/except names taken from one remote message */
/* Bytes waiting for a Redis that does not read (stalled, or slower than the
 * publishes): past this, publishes are dropped and counted rather than held. */
#define RA_MAX_BACKLOG (64u << 20)

enum { REQ_SOCKETS = 0, REQ_ALL_ROOMS, REQ_REMOTE_JOIN, REQ_REMOTE_LEAVE, REQ_REMOTE_DISCONNECT, REQ_REMOTE_FETCH,
       REQ_SERVER_SIDE_EMIT, REQ_BROADCAST, REQ_BROADCAST_CLIENT_COUNT, REQ_BROADCAST_ACK };
/* The sharded adapter's (socket.io-adapter ClusterAdapter's MessageType). */
enum { CM_BROADCAST = 3, CM_SOCKETS_JOIN, CM_SOCKETS_LEAVE, CM_DISCONNECT_SOCKETS, CM_FETCH_SOCKETS,
       CM_FETCH_SOCKETS_RESPONSE, CM_SERVER_SIDE_EMIT, CM_SERVER_SIDE_EMIT_RESPONSE, CM_BROADCAST_CLIENT_COUNT,
       CM_BROADCAST_ACK };
/* Internal-only request kind: a server count (NUMSUB alone). */
#define REQ_COUNT 100

enum { RC_IDLE, RC_CONNECTING, RC_READY };

typedef struct redis_adapter redis_adapter;
typedef void (*reply_fn)(redis_adapter *ra, redisReply *r, uint32_t arg);

typedef struct pending_reply {
  reply_fn fn;
  uint32_t arg;
} pending_reply;

typedef struct rconn {
  net_conn net; /* first: the net layer's connection */
  redis_adapter *ra;
  redisReader *reader;
  int state;
  int is_sub;
  int linked; /* net_connect succeeded and not released yet */
  pending_reply *q; /* replies awaited, in order */
  size_t qhead, qlen, qcap;
  loop_timer retry;
  unsigned backoff_ms;
  unsigned failures;
  int ever_ready;
  struct sockaddr_storage addr; /* where this connection goes (a cluster master's own) */
  socklen_t addr_len;
} rconn;

/* Sharded on a Redis Cluster: a master other than the seed (the --redis address, whose
 * connections are ra->pub/ra->sub), with its own publish and subscribe connections. */
#define RA_MAX_NODES 32
#define RA_SLOTS CODEC_KEY_SLOTS
typedef struct rnode {
  rconn pub, sub;
} rnode;

/* One namespace's channels (Node makes one adapter per namespace). */
typedef struct rnsp {
  struct rnsp *next;
  wsio_sio_nsp *nsp;
  const char *name;
  char *channel, *req_channel, *resp_channel, *spec_channel; /* "prefix#nsp#"... */
  size_t channel_len;
  json_t *subs; /* sharded: the public rooms whose channel is SSUBSCRIBEd (a set) */
} rnsp;

typedef struct rreq {
  struct rreq *next;
  redis_adapter *ra;
  uint32_t serial;
  char id[8]; /* requestId: 6 characters as Node's uid2(6) */
  int type;
  rnsp *ns;
  long num_sub;   /* answers awaited in all, this node's included; -1 until NUMSUB */
  long msg_count; /* answers counted (this node's as the first) */
  json_t *acc;    /* results: an array, or an object used as a set (rooms) */
  char *msg;      /* the request to publish once the count is known */
  size_t msg_len;
  wsio_sio_result_fn cb;
  wsio_sio_count_fn ccb;
  void *user;
  loop_timer timer;
  /* broadcast with ack */
  long servers_reported, clients_expected;
  int local_pending, done;
} rreq;

struct redis_adapter {
  sio_adapter base; /* first */
  wsio_sio *io;
  wsio_app *app;
  loop *loop;
  net_ctx *ctx;
  rconn pub, sub;
  struct sockaddr_storage addr;
  socklen_t addr_len;
  char *user, *password, *prefix;
  int db;
  unsigned request_timeout_ms;
  void (*log)(int level, const char *msg, void *user);
  void *log_user;
  char uid[8];
  rnsp *nsps;
  rreq *reqs;
  uint32_t next_serial;
  loop_timer flush_timer;
  int destroyed;
  int sharded; /* createShardedAdapter's protocol (the section "sharded" below) */
  /* Sharded only: the topology, from CLUSTER SLOTS on the seed. Until it is known
   * (slots_known), nothing is subscribed; a seed that refuses CLUSTER SLOTS (cluster
   * support disabled) is one node owning every slot. */
  int cluster, slots_known, slots_pending;
  uint8_t slot_node[RA_SLOTS]; /* 0: the seed; i: nodes[i - 1] */
  rnode *nodes[RA_MAX_NODES];
  size_t nnodes;
  wsio_sio_redis_stats st;
};

static void ra_log(redis_adapter *ra, int level, const char *fmt, ...) {
  if (!ra->log) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  ra->log(level, buf, ra->log_user);
}

/* uid2's alphabet. */
static void make_id(char out[8]) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  uint8_t b[6];
  random_bytes(b, sizeof(b));
  for (int i = 0; i < 6; i++) out[i] = abc[b[i] % 62];
  out[6] = '\0';
}

/* Up: able to publish and subscribed. On a Redis Cluster: the topology is known (each
 * command then needs its own master's connection, see route()). */
static int is_up(const redis_adapter *ra) {
  if (ra->cluster) return ra->slots_known;
  return ra->pub.state == RC_READY && ra->sub.state == RC_READY && (!ra->sharded || ra->slots_known);
}

/* The connection a command on this channel must use: the slot's master on a cluster. */
static rconn *route(redis_adapter *ra, const char *channel, int sub) {
  unsigned i = ra->cluster ? ra->slot_node[codec_key_slot(channel, strlen(channel))] : 0;
  if (i == 0 || i > ra->nnodes) return sub ? &ra->sub : &ra->pub;
  return sub ? &ra->nodes[i - 1]->sub : &ra->nodes[i - 1]->pub;
}

/* ---- connections -------------------------------------------------------------------- */

static void conn_schedule_retry(rconn *c);

/* Writes one command (binary-safe arguments). Queues its reply handler on the pub
 * connection. Returns 0 or -1 (not connected, out of memory: the command is dropped). */
static int conn_command(rconn *c, int argc, const char **argv, const size_t *lens, reply_fn fn, uint32_t arg) {
  if (c->state != RC_READY || !c->linked) return -1;
  if (!c->is_sub) {
    if (c->qlen == c->qcap) {
      size_t ncap = c->qcap ? c->qcap * 2 : 16;
      pending_reply *nq = malloc(ncap * sizeof(*nq));
      if (!nq) return -1;
      for (size_t i = 0; i < c->qlen; i++) nq[i] = c->q[(c->qhead + i) % c->qcap];
      free(c->q);
      c->q = nq;
      c->qhead = 0;
      c->qcap = ncap;
    }
  }
  char *cmd = NULL;
  int n = redisFormatCommandArgv(&cmd, argc, argv, lens);
  if (n < 0) return -1;
  int r = net_write(&c->net, cmd, (size_t)n);
  redisFreeCommand(cmd);
  if (r < 0) return -1;
  if (!c->is_sub) c->q[(c->qhead + c->qlen++) % c->qcap] = (pending_reply){fn, arg};
  redis_adapter *ra = c->ra;
  if (!loop_timer_active(&ra->flush_timer)) (void)loop_timer_start(ra->loop, &ra->flush_timer, 0, 0);
  return 0;
}

/* Fails every awaited reply (the connection is gone). */
static void conn_fail_pending(rconn *c) {
  while (c->qlen) {
    pending_reply p = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    if (p.fn) p.fn(c->ra, NULL, p.arg);
  }
}

static void conn_down(rconn *c, const char *why) {
  redis_adapter *ra = c->ra;
  int was_ready = c->state == RC_READY;
  if (c->state == RC_IDLE) return;
  c->state = RC_IDLE;
  if (c->linked) net_close(&c->net); /* released by the retry timer, outside net's callbacks */
  if (was_ready) ra_log(ra, WSIO_LOG_WARN, "redis: %s connection lost (%s); retrying", c->is_sub ? "subscribe" : "publish", why);
  else if (c->failures++ == 0) ra_log(ra, WSIO_LOG_WARN, "redis: cannot connect (%s); retrying with backoff", why);
  ra->st.up = 0;
  conn_fail_pending(c);
  conn_schedule_retry(c);
}

static void sh_subscribe_nsp(redis_adapter *ra, rnsp *ns, rconn *only);

static void subscribe_nsp(redis_adapter *ra, rnsp *ns, rconn *c) {
  if (ra->sharded) {
    sh_subscribe_nsp(ra, ns, c);
    return;
  }
  char pattern[1024];
  snprintf(pattern, sizeof(pattern), "%s*", ns->channel);
  const char *pa[] = {"PSUBSCRIBE", pattern};
  size_t pl[] = {10, strlen(pattern)};
  conn_command(&ra->sub, 2, pa, pl, NULL, 0);
  const char *sa[] = {"SUBSCRIBE", ns->req_channel, ns->resp_channel, ns->spec_channel};
  size_t sl[] = {9, strlen(ns->req_channel), strlen(ns->resp_channel), strlen(ns->spec_channel)};
  conn_command(&ra->sub, 4, sa, sl, NULL, 0);
}

static void on_handshake_reply(redis_adapter *ra, redisReply *r, uint32_t arg) {
  if (r && r->type == REDIS_REPLY_ERROR) {
    ra_log(ra, WSIO_LOG_ERROR, "redis: %s refused: %.*s", arg ? "SELECT" : "AUTH", (int)r->len, r->str);
    conn_down(&ra->pub, "refused");
  }
}

static void topology_refresh(redis_adapter *ra);

static void on_connected(net_conn *nc, int err) {
  rconn *c = (rconn *)nc;
  redis_adapter *ra = c->ra;
  if (err) {
    conn_down(c, strerror(-err));
    return;
  }
  c->state = RC_READY;
  if (c->ever_ready) ra->st.reconnects++;
  c->ever_ready = 1;
  c->failures = 0;
  c->backoff_ms = 0;
  if (ra->password) {
    const char *a[] = {"AUTH", ra->user ? ra->user : ra->password, ra->password};
    size_t l[] = {4, strlen(a[1]), strlen(ra->password)};
    conn_command(c, ra->user ? 3 : 2, a, l, c->is_sub ? NULL : on_handshake_reply, 0);
  }
  if (!c->is_sub && ra->db && !ra->cluster) {
    char db[16];
    snprintf(db, sizeof(db), "%d", ra->db);
    const char *a[] = {"SELECT", db};
    size_t l[] = {6, strlen(db)};
    conn_command(c, 2, a, l, on_handshake_reply, 1);
  }
  if (ra->sharded && !c->is_sub && (c == &ra->pub || ra->cluster)) topology_refresh(ra);
  if (c->is_sub && (!ra->sharded || ra->slots_known))
    for (rnsp *ns = ra->nsps; ns; ns = ns->next) subscribe_nsp(ra, ns, c);
  if (is_up(ra)) {
    ra->st.up = 1;
    ra_log(ra, WSIO_LOG_INFO, "redis: connected, node %s subscribed", ra->uid);
  }
}

static void conn_start(rconn *c) {
  redis_adapter *ra = c->ra;
  if (c->linked) {
    net_conn_release(&c->net);
    c->linked = 0;
  }
  if (c->reader) redisReaderFree(c->reader);
  c->reader = redisReaderCreate();
  memset(&c->net, 0, sizeof(c->net));
  c->qhead = c->qlen = 0;
  if (!c->reader) {
    conn_schedule_retry(c);
    return;
  }
  c->state = RC_CONNECTING;
  int r = net_connect(ra->ctx, &c->net, (struct sockaddr *)&c->addr, c->addr_len, RA_CONNECT_TIMEOUT_MS, on_connected);
  if (r < 0) {
    c->state = RC_CONNECTING; /* so conn_down reports and retries */
    conn_down(c, strerror(-r));
    return;
  }
  c->linked = 1;
}

static void retry_fired(loop_timer *t) {
  rconn *c = (rconn *)((char *)t - offsetof(rconn, retry));
  conn_start(c);
}

static void conn_schedule_retry(rconn *c) {
  if (c->ra->destroyed) return;
  c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : RA_BACKOFF_MIN_MS;
  if (c->backoff_ms > RA_BACKOFF_MAX_MS) c->backoff_ms = RA_BACKOFF_MAX_MS;
  c->retry.cb = retry_fired;
  (void)loop_timer_start(c->ra->loop, &c->retry, c->backoff_ms, 0);
}

static void on_message(redis_adapter *ra, const char *channel, size_t clen, const char *msg, size_t mlen, int pattern);

static void handle_reply(rconn *c, redisReply *r) {
  redis_adapter *ra = c->ra;
  if (c->is_sub) {
    if (r->type == REDIS_REPLY_ERROR) {
      ra_log(ra, WSIO_LOG_ERROR, "redis: subscribe connection: %.*s", (int)r->len, r->str);
      if (ra->sharded && (strncmp(r->str, "MOVED", 5) == 0 || strncmp(r->str, "ASK", 3) == 0)) topology_refresh(ra);
      return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING) return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "message") == 0) {
      ra->st.messages_in++;
      on_message(ra, r->element[1]->str, r->element[1]->len, r->element[2]->str, r->element[2]->len, 0);
    } else if (strcmp(kind, "pmessage") == 0 && r->elements >= 4) {
      ra->st.messages_in++;
      on_message(ra, r->element[2]->str, r->element[2]->len, r->element[3]->str, r->element[3]->len, 1);
    } else if (strcmp(kind, "smessage") == 0) { /* sharded pub/sub (Redis 7) */
      ra->st.messages_in++;
      on_message(ra, r->element[1]->str, r->element[1]->len, r->element[2]->str, r->element[2]->len, 0);
    } else if (strcmp(kind, "sunsubscribe") == 0 && ra->cluster) {
      /* Unasked (a slot moved away, or its master changed): where is it now? Our own
       * SUNSUBSCRIBEs land here too: a refresh more, harmless. */
      topology_refresh(ra);
    }
    return;
  }
  if (r->type == REDIS_REPLY_ERROR && ra->sharded && (strncmp(r->str, "MOVED", 5) == 0 || strncmp(r->str, "ASK", 3) == 0))
    topology_refresh(ra); /* this command is lost (pub/sub is at-most-once anyway) */
  if (!c->qlen) return;
  pending_reply p = c->q[c->qhead];
  c->qhead = (c->qhead + 1) % c->qcap;
  c->qlen--;
  if (p.fn) p.fn(ra, r, p.arg);
}

static void on_data(net_conn *nc, uint8_t *p, size_t n) {
  rconn *c = (rconn *)nc;
  if (redisReaderFeed(c->reader, (const char *)p, n) != REDIS_OK) {
    conn_down(c, "bad reply stream");
    return;
  }
  for (;;) {
    void *reply = NULL;
    if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
      conn_down(c, "bad reply stream");
      return;
    }
    if (!reply) return;
    handle_reply(c, reply);
    freeReplyObject(reply);
    if (c->state != RC_READY) return; /* a handler took it down */
  }
}

static void on_end(net_conn *nc, int err) {
  conn_down((rconn *)nc, err ? strerror(-err) : "closed by Redis");
}

static void on_drain(net_conn *nc) { (void)nc; }

static net_conn *on_accept(net_ctx *ctx, void *user) {
  (void)ctx;
  (void)user;
  return NULL;
}

/* Writes queued on the adapter's context go out in the app's post phase, or on the
 * next iteration's timers when they were queued after it. */
static void ra_post(void *arg) {
  redis_adapter *ra = arg;
  if (ra->destroyed) return;
  net_read_queued(ra->ctx);
  net_flush_queued(ra->ctx);
  loop_timer_stop(ra->loop, &ra->flush_timer);
}

static void flush_fired(loop_timer *t) {
  redis_adapter *ra = (redis_adapter *)((char *)t - offsetof(redis_adapter, flush_timer));
  net_flush_queued(ra->ctx);
}

static int publish(redis_adapter *ra, const char *channel, const char *msg, size_t len) {
  rconn *c = route(ra, channel, 0);
  if (!is_up(ra) || c->state != RC_READY) {
    ra->st.messages_dropped++;
    return -1;
  }
  if (net_buffered(&c->net) > RA_MAX_BACKLOG) {
    ra->st.messages_dropped++;
    return -1;
  }
  const char *a[] = {ra->sharded ? "SPUBLISH" : "PUBLISH", channel, msg};
  size_t l[] = {ra->sharded ? 8u : 7u, strlen(channel), len};
  int r = conn_command(c, 3, a, l, NULL, 0);
  if (r == 0) ra->st.messages_out++;
  return r;
}

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
  if (ra->sharded) { /* requests go on the main channel; responses to the requester's own */
    ns->req_channel = strf("%s#%s#", ra->prefix, ns->name);
    ns->resp_channel = strf("%s#%s#", ra->prefix, ns->name); /* + requester uid + "#" */
    ns->spec_channel = strf("%s#%s#%s#", ra->prefix, ns->name, ra->uid);
    ns->subs = json_object();
  } else {
    ns->req_channel = strf("%s-request#%s#", ra->prefix, ns->name);
    ns->resp_channel = strf("%s-response#%s#", ra->prefix, ns->name);
    ns->spec_channel = strf("%s-response#%s#%s#", ra->prefix, ns->name, ra->uid);
  }
  if (!ns->channel || !ns->req_channel || !ns->resp_channel || !ns->spec_channel || (ra->sharded && !ns->subs)) {
    rnsp_free(ns);
    return;
  }
  ns->channel_len = strlen(ns->channel);
  ns->next = ra->nsps;
  ra->nsps = ns;
  if (!ra->sharded && ra->sub.state == RC_READY) subscribe_nsp(ra, ns, &ra->sub);
  if (ra->sharded && ra->slots_known) sh_subscribe_nsp(ra, ns, NULL);
}

static rnsp *ns_of(redis_adapter *ra, const wsio_sio_nsp *nsp) {
  for (rnsp *ns = ra->nsps; ns; ns = ns->next)
    if (ns->nsp == nsp) return ns;
  return NULL;
}

/* ---- encoding our messages ------------------------------------------------------------ */

typedef struct mp {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} mp;

static void mp_init(mp *m) {
  msgpack_sbuffer_init(&m->sb);
  msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static int mp_str(mp *m, const char *s) {
  size_t n = strlen(s);
  return msgpack_pack_str(&m->pk, n) || msgpack_pack_str_body(&m->pk, s, n) ? -1 : 0;
}

/* {type:2, data:[event, ...args], nsp} with binaries as `bin`. */
static int pack_packet(mp *m, const char *nsp, const sio_event *ev) {
  json_error_t je;
  json_t *args = json_loadb(ev->json, ev->len, 0, &je);
  if (!json_is_array(args)) {
    json_decref(args);
    return -1;
  }
  int r = msgpack_pack_map(&m->pk, 3) || mp_str(m, "type") || msgpack_pack_int(&m->pk, 2) || mp_str(m, "data") ||
          msgpack_pack_array(&m->pk, 1 + json_array_size(args)) || mp_str(m, ev->name);
  for (size_t i = 0; !r && i < json_array_size(args); i++)
    r = codec_pack_json(&m->pk, json_array_get(args, i), ev->bins, ev->nbins);
  if (!r) r = mp_str(m, "nsp") || mp_str(m, nsp);
  json_decref(args);
  return r ? -1 : 0;
}

/* {rooms, except, flags}: socket.broadcast's own socket travels as an except room, as
 * Node's socket.broadcast adds its id to except. */
static int pack_opts(mp *m, const wsio_sio_target *t, long timeout_ms) {
  size_t nexcept = t->nexcept + (t->except_socket ? 1 : 0);
  int r = msgpack_pack_map(&m->pk, 3) || mp_str(m, "rooms") || msgpack_pack_array(&m->pk, t->nrooms);
  for (size_t i = 0; !r && i < t->nrooms; i++) r = mp_str(m, t->rooms[i] ? t->rooms[i] : "");
  r = r || mp_str(m, "except") || msgpack_pack_array(&m->pk, nexcept);
  for (size_t i = 0; !r && i < t->nexcept; i++) r = mp_str(m, t->except[i] ? t->except[i] : "");
  if (!r && t->except_socket) r = mp_str(m, wsio_sio_socket_id(t->except_socket));
  int nflags = (t->is_volatile ? 1 : 0) + (timeout_ms >= 0 ? 1 : 0);
  r = r || mp_str(m, "flags") || msgpack_pack_map(&m->pk, (size_t)nflags);
  if (!r && t->is_volatile) r = mp_str(m, "volatile") || msgpack_pack_true(&m->pk);
  if (!r && timeout_ms >= 0) r = mp_str(m, "timeout") || msgpack_pack_int64(&m->pk, timeout_ms);
  return r ? -1 : 0;
}

/* {"rooms":[...],"except":[...]} as jansson, for JSON requests. */
static json_t *opts_json(const wsio_sio_target *t) {
  json_t *rooms = json_array(), *except = json_array();
  for (size_t i = 0; i < t->nrooms; i++)
    if (t->rooms[i]) json_array_append_new(rooms, json_string(t->rooms[i]));
  for (size_t i = 0; i < t->nexcept; i++)
    if (t->except[i]) json_array_append_new(except, json_string(t->except[i]));
  if (t->except_socket) json_array_append_new(except, json_string(wsio_sio_socket_id(t->except_socket)));
  return json_pack("{soso}", "rooms", rooms, "except", except);
}

static int publish_json(redis_adapter *ra, const char *channel, json_t *v) {
  size_t n;
  char *s = v ? codec_dump(v, &n) : NULL;
  json_decref(v);
  if (!s) return -1;
  int r = publish(ra, channel, s, n);
  free(s);
  return r;
}

/* ---- requests this node waits on -------------------------------------------------------- */

static rreq *req_find_serial(redis_adapter *ra, uint32_t serial) {
  for (rreq *q = ra->reqs; q; q = q->next)
    if (q->serial == serial) return q;
  return NULL;
}

static rreq *req_find_id(redis_adapter *ra, const char *id) {
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
  json_decref(q->acc);
  free(q->msg);
  free(q);
}

/* Answers once: the results so far, with err. */
static void req_finish(rreq *q, int err) {
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
    q->cb(s ? s : "[]", s ? n : 2, err, q->user);
    free(s);
    json_decref(list);
  }
  if (!q->local_pending) req_free(q);
}

static void req_expired(loop_timer *t) {
  rreq *q = (rreq *)((char *)t - offsetof(rreq, timer));
  q->ra->st.request_timeouts++;
  req_finish(q, WSIO_ETIMEDOUT);
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
  make_id(q->id);
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

static void bcast_check(rreq *q);

/* PUBSUB NUMSUB's answer: how many nodes subscribe to the namespace's request channel. */
static void on_numsub(redis_adapter *ra, redisReply *r, uint32_t serial) {
  rreq *q = req_find_serial(ra, serial);
  if (!q) return;
  long n = -1;
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[1]->type == REDIS_REPLY_INTEGER)
    n = (long)r->element[1]->integer;
  if (n < 0) { /* the connection went away: this node's part only */
    q->num_sub = 1;
    req_finish(q, WSIO_ETIMEDOUT);
    return;
  }
  if (q->ns->nsp == sio_nsp_find(ra->io, "/", 1)) ra->st.nodes = n;
  switch (q->type) {
    case REQ_COUNT:
      q->num_sub = n;
      req_finish(q, 0);
      return;
    case REQ_BROADCAST:
      q->num_sub = n < 1 ? 1 : n;
      bcast_check(q);
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
    req_finish(q, 0);
    return;
  }
  if (publish(ra, q->ns->req_channel, q->msg, q->msg_len) != 0) req_finish(q, WSIO_ETIMEDOUT);
}

/* Starts the NUMSUB of a request; without Redis, answers with this node's part. */
static int req_count(rreq *q) {
  redis_adapter *ra = q->ra;
  const char *a[] = {"PUBSUB", ra->sharded ? "SHARDNUMSUB" : "NUMSUB", q->ns->req_channel};
  size_t l[] = {6, ra->sharded ? 11u : 6u, strlen(q->ns->req_channel)};
  if (!is_up(ra) || conn_command(route(ra, q->ns->req_channel, 0), 3, a, l, on_numsub, q->serial) != 0) {
    q->num_sub = 1;
    if (q->type == REQ_BROADCAST) {
      bcast_check(q);
      return 0;
    }
    req_finish(q, q->type == REQ_COUNT ? 0 : WSIO_ETIMEDOUT);
  }
  return 0;
}

static void sh_broadcast(redis_adapter *ra, rnsp *ns, const wsio_sio_target *t, const sio_event *ev);
static void sh_broadcast_ack(redis_adapter *ra, rnsp *ns, rreq *q, const wsio_sio_target *t, const sio_event *ev,
                             unsigned timeout_ms);
static void sh_joined(redis_adapter *ra, wsio_sio_socket *s, const char *const *rooms, size_t n);
static void sh_left(redis_adapter *ra, wsio_sio_nsp *nsp, const char *room);
static void sh_sync_rooms(redis_adapter *ra, rnsp *ns);
static json_t *sh_msg(redis_adapter *ra, rnsp *ns, int type, json_t *data);
static json_t *sh_opts(const wsio_sio_target *t, long timeout_ms);
static int sh_publish(redis_adapter *ra, const char *channel, json_t *msg, const wsio_span *bins, size_t nbins);
static void sh_on_message(redis_adapter *ra, const char *channel, size_t clen, const char *msg, size_t mlen);
static json_t *event_array(const sio_event *ev);

/* ---- the adapter's ops ---------------------------------------------------------------- */

static int ra_add_all(sio_adapter *a, wsio_sio_socket *s, const char *const *rooms, size_t n) {
  redis_adapter *ra = (redis_adapter *)a;
  int r = sio_local_add_all(s, rooms, n);
  if (ra->sharded && r >= 0) sh_joined(ra, s, rooms, n);
  return r;
}
static void ra_del(sio_adapter *a, wsio_sio_socket *s, const char *room) {
  redis_adapter *ra = (redis_adapter *)a;
  sio_local_del(s, room);
  if (ra->sharded) sh_left(ra, wsio_sio_socket_nsp(s), room);
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
  left_rooms l = {ra->sharded ? ns_of(ra, nsp) : NULL, NULL};
  if (l.ns && (l.names = json_array()) != NULL) wsio_sio_socket_rooms(s, collect_subscribed, &l);
  sio_local_del_all(s);
  for (size_t i = 0; i < json_array_size(l.names); i++) sh_left(ra, nsp, json_string_value(json_array_get(l.names, i)));
  json_decref(l.names);
}

static int ra_broadcast(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = t->is_local ? NULL : ns_of(ra, t->nsp);
  if (ns && !is_up(ra)) { /* not even encoded: it could not go anywhere */
    ra->st.messages_dropped++;
    ns = NULL;
  }
  if (ns && ra->sharded) {
    sh_broadcast(ra, ns, t, ev);
  } else if (ns) {
    mp m;
    mp_init(&m);
    int r = msgpack_pack_array(&m.pk, 3) || mp_str(&m, ra->uid) || pack_packet(&m, ns->name, ev) ||
            pack_opts(&m, t, -1);
    if (!r) {
      char one[1024];
      const char *channel = ns->channel;
      if (t->nrooms == 1 && t->rooms[0] && snprintf(one, sizeof(one), "%s%s#", ns->channel, t->rooms[0]) < (int)sizeof(one))
        channel = one;
      publish(ra, channel, m.sb.data, m.sb.size);
    }
    msgpack_sbuffer_destroy(&m.sb);
  }
  return sio_local_broadcast(t, ev);
}

/* Broadcast with ack across nodes (Node's BroadcastOperator.emit with a timeout): done
 * when every node reported its client count and every counted client answered. */
static void bcast_check(rreq *q) {
  if (q->done || q->num_sub < 0 || q->servers_reported < q->num_sub) return;
  if ((long)json_array_size(q->acc) < q->clients_expected) return;
  req_finish(q, 0);
}

static void bcast_each(const char *json, size_t len, void *arg) {
  rreq *q = arg;
  if (q->done) return;
  json_error_t je;
  json_t *v = json_loadb(json, len, JSON_DECODE_ANY, &je);
  json_array_append_new(q->acc, v ? v : json_null());
  bcast_check(q);
}

static void bcast_local_done(const char *json, size_t len, int err, void *user) {
  (void)json;
  (void)len;
  (void)err;
  rreq *q = user;
  q->local_pending = 0;
  if (q->done) req_free(q);
}

static int ra_broadcast_with_ack(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                                 wsio_sio_broadcast_ack_fn cb, void *user) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = t->is_local ? NULL : ns_of(ra, t->nsp);
  if (!ns) return sio_local_broadcast_with_ack(t, ev, timeout_ms, cb, user);
  rreq *q = req_new(ra, ns, REQ_BROADCAST);
  if (!q) return WSIO_ENOMEM;
  /* The request's deadline is the broadcast's own (flags.timeout), not the adapter's. */
  if (timeout_ms) (void)loop_timer_start(ra->loop, &q->timer, timeout_ms, 0);
  else loop_timer_stop(ra->loop, &q->timer);
  q->acc = json_array();
  q->cb = cb;
  q->user = user;
  if (is_up(ra) && ra->sharded) {
    sh_broadcast_ack(ra, ns, q, t, ev, timeout_ms);
  } else if (is_up(ra)) {
    mp m;
    mp_init(&m);
    int r = msgpack_pack_map(&m.pk, 5) || mp_str(&m, "uid") || mp_str(&m, ra->uid) || mp_str(&m, "requestId") ||
            mp_str(&m, q->id) || mp_str(&m, "type") || msgpack_pack_int(&m.pk, REQ_BROADCAST) ||
            mp_str(&m, "packet") || pack_packet(&m, ns->name, ev) || mp_str(&m, "opts") ||
            pack_opts(&m, t, (long)timeout_ms);
    if (!r) publish(ra, ns->req_channel, m.sb.data, m.sb.size);
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

static int ra_add_sockets(sio_adapter *a, const wsio_sio_target *t, const char *room, int join) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = t->is_local ? NULL : ns_of(ra, t->nsp);
  if (ns && ra->sharded) {
    sh_publish(ra, ns->channel,
               sh_msg(ra, ns, join ? CM_SOCKETS_JOIN : CM_SOCKETS_LEAVE,
                      json_pack("{soso}", "opts", sh_opts(t, -1), "rooms", json_pack("[s]", room))),
               NULL, 0);
  } else if (ns) {
    json_t *rooms = json_pack("[s]", room);
    publish_json(ra, ns->req_channel, json_pack("{sssisoso}", "uid", ra->uid, "type", join ? REQ_REMOTE_JOIN : REQ_REMOTE_LEAVE,
                                                 "opts", opts_json(t), "rooms", rooms));
  }
  int r = sio_local_add_sockets(t, room, join);
  rnsp *own = ra->sharded ? ns_of(ra, t->nsp) : NULL;
  if (own) sh_sync_rooms(ra, own);
  return r;
}

static int ra_disconnect_sockets(sio_adapter *a, const wsio_sio_target *t, int close_transport) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = t->is_local ? NULL : ns_of(ra, t->nsp);
  if (ns && ra->sharded)
    sh_publish(ra, ns->channel,
               sh_msg(ra, ns, CM_DISCONNECT_SOCKETS, json_pack("{sosb}", "opts", sh_opts(t, -1), "close", close_transport)),
               NULL, 0);
  else if (ns)
    publish_json(ra, ns->req_channel, json_pack("{sssisosb}", "uid", ra->uid, "type", REQ_REMOTE_DISCONNECT, "opts",
                                                 opts_json(t), "close", close_transport));
  int r = sio_local_disconnect_sockets(t, close_transport);
  rnsp *own = ra->sharded ? ns_of(ra, t->nsp) : NULL;
  if (own) sh_sync_rooms(ra, own);
  return r;
}

/* This node's part, parsed (the answers of every node are merged). */
static json_t *parse_owned(char *text, size_t len) {
  json_error_t je;
  json_t *v = text ? json_loadb(text, len, 0, &je) : NULL;
  free(text);
  return v;
}

static json_t *local_sockets(const wsio_sio_target *t) {
  size_t n = 0;
  char *text = sio_local_fetch_text(t, &n);
  return parse_owned(text, n);
}

static json_t *local_rooms(wsio_sio_nsp *nsp) {
  size_t n = 0;
  char *text = sio_local_rooms_text(nsp, &n);
  return parse_owned(text, n);
}

/* The compact text of a new value, which it consumes. */
static char *dump_new(json_t *v, size_t *len) {
  char *s = v ? codec_dump(v, len) : NULL;
  json_decref(v);
  return s;
}

static int ra_fetch_sockets(sio_adapter *a, const wsio_sio_target *t, wsio_sio_result_fn cb, void *user) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = ns_of(ra, t->nsp);
  json_t *local = local_sockets(t);
  if (!local) return WSIO_ENOMEM;
  rreq *q = ns ? req_new(ra, ns, REQ_REMOTE_FETCH) : NULL;
  if (!q) {
    json_decref(local);
    return WSIO_ENOMEM;
  }
  q->acc = local;
  q->cb = cb;
  q->user = user;
  if (ra->sharded)
    q->msg = dump_new(sh_msg(ra, ns, CM_FETCH_SOCKETS, json_pack("{soss}", "opts", sh_opts(t, -1), "requestId", q->id)),
                      &q->msg_len);
  else
    q->msg = dump_new(json_pack("{sssssiso}", "uid", ra->uid, "requestId", q->id, "type", REQ_REMOTE_FETCH, "opts",
                                opts_json(t)),
                      &q->msg_len);
  return req_count(q);
}

static int ra_all_rooms(sio_adapter *a, wsio_sio_nsp *nsp, wsio_sio_result_fn cb, void *user) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = ns_of(ra, nsp);
  json_t *local = local_rooms(nsp);
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
  if (ra->sharded) { /* Node's ClusterAdapter has no allRooms request: this node's rooms */
    q->num_sub = 1;
    req_finish(q, 0);
    return 0;
  }
  q->msg = dump_new(json_pack("{sssssi}", "uid", ra->uid, "requestId", q->id, "type", REQ_ALL_ROOMS), &q->msg_len);
  return req_count(q);
}

static int ra_server_count(sio_adapter *a, wsio_sio_nsp *nsp, wsio_sio_count_fn cb, void *user) {
  redis_adapter *ra = (redis_adapter *)a;
  rnsp *ns = ns_of(ra, nsp);
  rreq *q = ns ? req_new(ra, ns, REQ_COUNT) : NULL;
  if (!q) return WSIO_ENOMEM;
  q->ccb = cb;
  q->user = user;
  return req_count(q);
}

static json_t *event_array(const sio_event *ev) {
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
  rnsp *ns = ns_of(ra, nsp);
  json_t *data = event_array(ev);
  if (!ns || !data) {
    json_decref(data);
    return ns ? WSIO_EINVAL : WSIO_ENOMEM;
  }
  if (!cb) {
    if (ra->sharded)
      sh_publish(ra, ns->channel, sh_msg(ra, ns, CM_SERVER_SIDE_EMIT, json_pack("{so}", "packet", data)), NULL, 0);
    else
      publish_json(ra, ns->req_channel, json_pack("{sssiso}", "uid", ra->uid, "type", REQ_SERVER_SIDE_EMIT, "data", data));
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
  if (ra->sharded)
    q->msg = dump_new(sh_msg(ra, ns, CM_SERVER_SIDE_EMIT, json_pack("{ssso}", "requestId", q->id, "packet", data)),
                      &q->msg_len);
  else
    q->msg = dump_new(json_pack("{sssssiso}", "uid", ra->uid, "requestId", q->id, "type", REQ_SERVER_SIDE_EMIT, "data",
                                data),
                      &q->msg_len);
  return req_count(q);
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

typedef struct target_buf {
  const char *rooms[RA_MAX_ROOMS], *except[RA_MAX_ROOMS];
  char rnum[RA_MAX_ROOMS][32], enum_[RA_MAX_ROOMS][32];
} target_buf;

static void target_from(wsio_sio_target *t, target_buf *b, wsio_sio_nsp *nsp, json_t *opts) {
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
static int event_from_packet(json_t *packet, const codec_bins *bins, sio_event *ev, char **text) {
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
    if (event_from_packet(packet, &bins, &ev, &text) == 0) {
      target_from(&t, &tb, ns->nsp, opts);
      (void)sio_local_broadcast(&t, &ev);
    }
    free(text);
  }
  json_decref(v);
  msgpack_unpacked_destroy(&up);
}

/* Parses a request or response: JSON when it starts with '{', msgpack otherwise. */
static json_t *decode_any(const char *msg, size_t len, msgpack_unpacked *up, codec_bins *bins) {
  if (len && msg[0] == '{') {
    json_error_t je;
    return json_loadb(msg, len, 0, &je);
  }
  size_t off = 0;
  if (msgpack_unpack_next(up, msg, len, &off) != MSGPACK_UNPACK_SUCCESS) return NULL;
  return codec_to_json(&up->data, bins);
}

static void respond(redis_adapter *ra, rnsp *ns, json_t *v) { publish_json(ra, ns->resp_channel, v); }

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

typedef struct bcast_remote {
  redis_adapter *ra;
  rnsp *ns; /* sharded: answers are {type, data, uid, nsp} */
  char channel[1024];
  char request_id[64];
} bcast_remote;

/* Each client answer of a broadcast another node asked: one msgpack response. */
static void remote_each(const char *json, size_t len, void *arg) {
  bcast_remote *b = arg;
  json_error_t je;
  json_t *v = json_loadb(json, len, JSON_DECODE_ANY, &je);
  if (b->ns) {
    if (!b->ra->destroyed)
      sh_publish(b->ra, b->channel,
                 sh_msg(b->ra, b->ns, CM_BROADCAST_ACK,
                        json_pack("{ssso}", "requestId", b->request_id, "packet", v ? v : json_null())),
                 NULL, 0);
    return;
  }
  mp m;
  mp_init(&m);
  int r = msgpack_pack_map(&m.pk, 3) || mp_str(&m, "type") || msgpack_pack_int(&m.pk, REQ_BROADCAST_ACK) ||
          mp_str(&m, "requestId") || mp_str(&m, b->request_id) || mp_str(&m, "packet") ||
          codec_pack_json(&m.pk, v ? v : json_null(), NULL, 0);
  if (!r && !b->ra->destroyed) publish(b->ra, b->channel, m.sb.data, m.sb.size);
  msgpack_sbuffer_destroy(&m.sb);
  json_decref(v);
}

static void remote_done(const char *json, size_t len, int err, void *user) {
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
  json_t *q = decode_any(msg, len, &up, &bins);
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
      json_t *rooms = local_rooms(ns->nsp);
      if (rooms) respond(ra, ns, json_pack("{ssso}", "requestId", rid, "rooms", rooms));
      break;
    }
    case REQ_REMOTE_FETCH: {
      if (own || !rid || !(tb = malloc(sizeof(*tb)))) break;
      target_from(&t, tb, ns->nsp, opts);
      json_t *socks = local_sockets(&t);
      if (socks) respond(ra, ns, json_pack("{ssso}", "requestId", rid, "sockets", socks));
      break;
    }
    case REQ_REMOTE_JOIN:
    case REQ_REMOTE_LEAVE: {
      /* This node applied its own request already (at once, not through Redis). */
      int join = json_integer_value(json_object_get(q, "type")) == REQ_REMOTE_JOIN;
      if (own || !json_is_object(opts) || !(tb = malloc(sizeof(*tb)))) break;
      target_from(&t, tb, ns->nsp, opts);
      json_t *rooms = json_object_get(q, "rooms");
      for (size_t i = 0; i < json_array_size(rooms); i++)
        if (json_is_string(json_array_get(rooms, i)))
          (void)sio_local_add_sockets(&t, json_string_value(json_array_get(rooms, i)), join);
      break;
    }
    case REQ_REMOTE_DISCONNECT:
      if (own || !json_is_object(opts) || !(tb = malloc(sizeof(*tb)))) break;
      target_from(&t, tb, ns->nsp, opts);
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
      sio_event ev = {json_string_value(json_array_get(data, 0)), text, n, NULL, 0};
      sse_reply r = {ra, ns, rid};
      sio_local_server_event(ns->nsp, &ev, rid ? sse_answer : NULL, &r);
      free(text);
      break;
    }
    case REQ_BROADCAST: {
      if (own || !rid || req_find_id(ra, rid) || !(tb = malloc(sizeof(*tb)))) break;
      target_from(&t, tb, ns->nsp, opts);
      json_t *to = json_object_get(json_object_get(opts, "flags"), "timeout");
      unsigned timeout = json_is_integer(to) && json_integer_value(to) > 0 ? (unsigned)json_integer_value(to) : 5000;
      sio_event ev;
      char *text = NULL;
      bcast_remote *b = calloc(1, sizeof(*b));
      if (b && event_from_packet(json_object_get(q, "packet"), &bins, &ev, &text) == 0) {
        b->ra = ra;
        snprintf(b->channel, sizeof(b->channel), "%s", ns->resp_channel);
        snprintf(b->request_id, sizeof(b->request_id), "%s", rid);
        json_t *count = json_pack("{sisssi}", "type", REQ_BROADCAST_CLIENT_COUNT, "requestId", rid, "clientCount", 0);
        /* The count goes first (Node's clientCountCallback runs before any ack can). The
         * selection is taken once more here: broadcast_with_ack reports the same. */
        int reached = sio_local_broadcast_with_ack_each(&t, &ev, timeout, remote_done, b, remote_each, b);
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

static void on_response_value(redis_adapter *ra, json_t *v);

static void on_response(redis_adapter *ra, const char *msg, size_t len) {
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  json_t *v = decode_any(msg, len, &up, NULL);
  on_response_value(ra, v);
  json_decref(v);
  msgpack_unpacked_destroy(&up);
}

/* A response in the classic shape {requestId, type, clientCount|packet|sockets|rooms|data}. */
static void on_response_value(redis_adapter *ra, json_t *v) {
  const char *rid = json_string_value(json_object_get(v, "requestId"));
  rreq *q = rid ? req_find_id(ra, rid) : NULL;
  if (!q || q->done) return;
  json_t *type = json_object_get(v, "type");
  switch (q->type) {
    case REQ_BROADCAST:
      if (json_integer_value(type) == REQ_BROADCAST_CLIENT_COUNT) {
        q->servers_reported++;
        q->clients_expected += (long)json_integer_value(json_object_get(v, "clientCount"));
      } else if (json_integer_value(type) == REQ_BROADCAST_ACK) {
        json_t *p = json_object_get(v, "packet");
        json_array_append(q->acc, p ? p : json_null());
      }
      bcast_check(q);
      break;
    case REQ_ALL_ROOMS: {
      json_t *rooms = json_object_get(v, "rooms");
      if (!json_is_array(rooms)) break;
      for (size_t i = 0; i < json_array_size(rooms); i++)
        if (json_is_string(json_array_get(rooms, i)))
          json_object_set_new(q->acc, json_string_value(json_array_get(rooms, i)), json_true());
      if (++q->msg_count >= q->num_sub && q->num_sub >= 0) req_finish(q, 0);
      break;
    }
    case REQ_REMOTE_FETCH: {
      json_t *socks = json_object_get(v, "sockets");
      if (!json_is_array(socks)) break;
      json_array_extend(q->acc, socks);
      if (++q->msg_count >= q->num_sub && q->num_sub >= 0) req_finish(q, 0);
      break;
    }
    case REQ_SERVER_SIDE_EMIT: {
      json_t *d = json_object_get(v, "data");
      json_array_append(q->acc, d ? d : json_null());
      if (++q->msg_count >= q->num_sub && q->num_sub >= 0) req_finish(q, 0);
      break;
    }
    default:
      break;
  }
}

static void on_message(redis_adapter *ra, const char *channel, size_t clen, const char *msg, size_t mlen, int pattern) {
  if (ra->sharded) {
    sh_on_message(ra, channel, clen, msg, mlen);
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
static json_t *sh_msg(redis_adapter *ra, rnsp *ns, int type, json_t *data) {
  if (!data) return NULL;
  return json_pack("{sisossss}", "type", type, "data", data, "uid", ra->uid, "nsp", ns->name);
}

/* Publishes msg (consumed): msgpack when binaries travel with it, JSON otherwise. */
static int sh_publish(redis_adapter *ra, const char *channel, json_t *msg, const wsio_span *bins, size_t nbins) {
  if (!msg) return -1;
  int r = -1;
  if (nbins) {
    mp m;
    mp_init(&m);
    if (codec_pack_json(&m.pk, msg, bins, nbins) == 0) r = publish(ra, channel, m.sb.data, m.sb.size);
    msgpack_sbuffer_destroy(&m.sb);
  } else {
    size_t n;
    char *s = codec_dump(msg, &n);
    if (s) r = publish(ra, channel, s, n);
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
  sh_publish(ra, ch, sh_msg(ra, ns, type, data), NULL, 0);
}

static json_t *sh_opts(const wsio_sio_target *t, long timeout_ms) {
  json_t *o = opts_json(t);
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
  rconn *c = route(ra, channel, 1);
  if (!ra->slots_known || (only && c != only) || c->state != RC_READY) return;
  const char *a[] = {cmd, channel};
  size_t l[] = {strlen(cmd), strlen(channel)};
  conn_command(c, 2, a, l, NULL, 0);
}

static void sh_room_cmd_on(redis_adapter *ra, rnsp *ns, const char *cmd, const char *room, rconn *only) {
  char ch[1024];
  if (snprintf(ch, sizeof(ch), "%s%s#", ns->channel, room) < (int)sizeof(ch)) sh_sub_cmd(ra, cmd, ch, only);
}

static void sh_room_cmd(redis_adapter *ra, rnsp *ns, const char *cmd, const char *room) {
  sh_room_cmd_on(ra, ns, cmd, room, NULL);
}

static void sh_subscribe_nsp(redis_adapter *ra, rnsp *ns, rconn *only) {
  sh_sub_cmd(ra, "SSUBSCRIBE", ns->channel, only);
  sh_sub_cmd(ra, "SSUBSCRIBE", ns->spec_channel, only);
  const char *k;
  json_t *v;
  json_object_foreach(ns->subs, k, v) sh_room_cmd_on(ra, ns, "SSUBSCRIBE", k, only);
}

/* ---- sharded on a Redis Cluster: the topology ---- */

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
  return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* The node index (0: the seed) of a master named by CLUSTER SLOTS; a new one is added
 * and connected. Returns -1 (not a numeric address, too many nodes, out of memory). */
static int node_index(redis_adapter *ra, const char *ip, long port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  socklen_t len;
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (port <= 0 || port > 65535) return -1;
  if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    len = sizeof(*in4);
  } else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    len = sizeof(*in6);
  } else {
    return -1; /* CLUSTER SLOTS names masters by IP unless configured otherwise */
  }
  if (same_addr(&ss, &ra->pub.addr)) return 0;
  for (size_t i = 0; i < ra->nnodes; i++)
    if (same_addr(&ss, &ra->nodes[i]->pub.addr)) return (int)i + 1;
  if (ra->nnodes == RA_MAX_NODES) return -1;
  rnode *n = calloc(1, sizeof(*n));
  if (!n) return -1;
  n->pub.ra = n->sub.ra = ra;
  n->sub.is_sub = 1;
  n->pub.addr = n->sub.addr = ss;
  n->pub.addr_len = n->sub.addr_len = len;
  n->pub.retry.cb = n->sub.retry.cb = retry_fired;
  ra->nodes[ra->nnodes++] = n;
  conn_start(&n->pub);
  conn_start(&n->sub);
  return (int)ra->nnodes;
}

/* CLUSTER SLOTS' answer: [[start, end, [ip, port, id], replicas...], ...]. An error
 * (cluster support disabled): one node, every slot. Then every ready subscribe
 * connection takes its channels (SSUBSCRIBE of a channel held already is a no-op). */
static void on_slots(redis_adapter *ra, redisReply *r, uint32_t arg) {
  (void)arg;
  ra->slots_pending = 0;
  if (!r) return; /* the master asked went away: asked again at the next connect or MOVED */
  if (r->type == REDIS_REPLY_ARRAY) {
    uint8_t map[RA_SLOTS];
    memset(map, 0, sizeof(map));
    for (size_t i = 0; i < r->elements; i++) {
      redisReply *e = r->element[i];
      if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[2]->type != REDIS_REPLY_ARRAY ||
          e->element[2]->elements < 2 || e->element[2]->element[0]->type != REDIS_REPLY_STRING)
        continue;
      long long lo = e->element[0]->integer, hi = e->element[1]->integer;
      int idx = node_index(ra, e->element[2]->element[0]->str, (long)e->element[2]->element[1]->integer);
      if (idx < 0 || lo < 0 || hi >= RA_SLOTS || lo > hi) continue;
      memset(map + lo, idx, (size_t)(hi - lo + 1));
    }
    memcpy(ra->slot_node, map, sizeof(map));
    if (!ra->cluster) ra_log(ra, WSIO_LOG_INFO, "redis: a Redis Cluster of %zu masters", ra->nnodes + 1);
    ra->cluster = 1;
  } else if (ra->slots_known && ra->cluster) {
    /* A master that cannot say now (loading, going away): the map we have stays. */
    ra_log(ra, WSIO_LOG_WARN, "redis: CLUSTER SLOTS refused: %.*s", r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
           r->type == REDIS_REPLY_ERROR ? r->str : "");
    return;
  } else {
    ra->cluster = 0;
  }
  ra->slots_known = 1;
  rconn *subs[RA_MAX_NODES + 1];
  size_t n = 0;
  subs[n++] = &ra->sub;
  for (size_t i = 0; i < ra->nnodes; i++) subs[n++] = &ra->nodes[i]->sub;
  for (size_t i = 0; i < n; i++)
    for (rnsp *ns = ra->nsps; ns; ns = ns->next) sh_subscribe_nsp(ra, ns, subs[i]);
  if (ra->pub.state == RC_READY && ra->sub.state == RC_READY) ra->st.up = 1;
}

/* Asks for the slots (at the seed's connect, and after MOVED/ASK or a slot that moved
 * away), the seed first, else any master we reach; one question at a time. */
static void topology_refresh(redis_adapter *ra) {
  if (!ra->sharded || ra->slots_pending) return;
  rconn *c = &ra->pub;
  for (size_t i = 0; c->state != RC_READY && i < ra->nnodes; i++) c = &ra->nodes[i]->pub;
  if (c->state != RC_READY) return;
  const char *a[] = {"CLUSTER", "SLOTS"};
  size_t l[] = {7, 5};
  if (conn_command(c, 2, a, l, on_slots, 0) == 0) ra->slots_pending = 1;
}


/* A room is public unless it is a connected socket's own (Node: !sids.has(room)). */
static int sh_public(rnsp *ns, const char *room, const wsio_sio_socket *joining) {
  if (joining && strcmp(room, wsio_sio_socket_id(joining)) == 0) return 0;
  return wsio_sio_nsp_socket(ns->nsp, room) == NULL;
}

/* Node's create-room / delete-room: the dynamic channels follow this node's public
 * rooms. Rooms made or emptied in bulk (socketsJoin, a disconnect) are found by a
 * walk of the namespace's rooms. */
static void sh_sync_rooms(redis_adapter *ra, rnsp *ns) {
  size_t n = 0;
  char *text = sio_local_rooms_text(ns->nsp, &n);
  json_t *rooms = parse_owned(text, n);
  json_t *now = json_object();
  if (!json_is_array(rooms) || !now) {
    json_decref(rooms);
    json_decref(now);
    return;
  }
  for (size_t i = 0; i < json_array_size(rooms); i++) {
    const char *r = json_string_value(json_array_get(rooms, i));
    if (r && sh_public(ns, r, NULL)) {
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

static void sh_joined(redis_adapter *ra, wsio_sio_socket *s, const char *const *rooms, size_t n) {
  rnsp *ns = ns_of(ra, wsio_sio_socket_nsp(s));
  for (size_t i = 0; ns && i < n; i++) {
    if (!rooms[i] || !sh_public(ns, rooms[i], s) || json_object_get(ns->subs, rooms[i])) continue;
    json_object_set_new(ns->subs, rooms[i], json_true());
    sh_room_cmd(ra, ns, "SSUBSCRIBE", rooms[i]);
  }
}

static void sh_left(redis_adapter *ra, wsio_sio_nsp *nsp, const char *room) {
  rnsp *ns = ns_of(ra, nsp);
  if (!ns || !json_object_get(ns->subs, room) || sio_nsp_has_room(nsp, room, strlen(room))) return;
  sh_room_cmd(ra, ns, "SUNSUBSCRIBE", room);
  json_object_del(ns->subs, room);
}

static void sh_broadcast(redis_adapter *ra, rnsp *ns, const wsio_sio_target *t, const sio_event *ev) {
  json_t *data = event_array(ev);
  json_t *m = sh_msg(ra, ns, CM_BROADCAST,
                     data ? json_pack("{s{siso}so}", "packet", "type", 2, "data", data, "opts", sh_opts(t, -1)) : NULL);
  char one[1024];
  const char *channel = ns->channel;
  if (t->nrooms == 1 && t->rooms[0] && strlen(t->rooms[0]) != 20 &&
      snprintf(one, sizeof(one), "%s%s#", ns->channel, t->rooms[0]) < (int)sizeof(one))
    channel = one;
  sh_publish(ra, channel, m, ev->bins, ev->nbins);
}

static void sh_broadcast_ack(redis_adapter *ra, rnsp *ns, rreq *q, const wsio_sio_target *t, const sio_event *ev,
                             unsigned timeout_ms) {
  json_t *data = event_array(ev);
  json_t *m = sh_msg(ra, ns, CM_BROADCAST,
                     data ? json_pack("{s{siso}ssso}", "packet", "type", 2, "data", data, "requestId", q->id, "opts",
                                      sh_opts(t, (long)timeout_ms))
                          : NULL);
  sh_publish(ra, ns->channel, m, ev->bins, ev->nbins);
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

static void sh_on_request(redis_adapter *ra, rnsp *ns, json_t *q, const codec_bins *bins) {
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
      target_from(&t, tb, ns->nsp, opts);
      sio_event ev;
      char *text = NULL;
      if (event_from_packet(json_object_get(data, "packet"), bins, &ev, &text) != 0) {
        free(text);
        break;
      }
      if (!rid) {
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
        int reached = sio_local_broadcast_with_ack_each(&t, &ev, timeout, remote_done, b, remote_each, b);
        sh_respond(ra, ns, uid, CM_BROADCAST_CLIENT_COUNT,
                   json_pack("{sssi}", "requestId", rid, "clientCount", reached < 0 ? 0 : reached));
      }
      free(text);
      break;
    }
    case CM_SOCKETS_JOIN:
    case CM_SOCKETS_LEAVE:
      if (!json_is_object(opts) || !(tb = malloc(sizeof(*tb)))) break;
      target_from(&t, tb, ns->nsp, opts);
      for (size_t i = 0; i < json_array_size(json_object_get(data, "rooms")); i++) {
        const char *r = json_string_value(json_array_get(json_object_get(data, "rooms"), i));
        if (r) (void)sio_local_add_sockets(&t, r, type == CM_SOCKETS_JOIN);
      }
      sh_sync_rooms(ra, ns);
      break;
    case CM_DISCONNECT_SOCKETS:
      if (!json_is_object(opts) || !(tb = malloc(sizeof(*tb)))) break;
      target_from(&t, tb, ns->nsp, opts);
      (void)sio_local_disconnect_sockets(&t, json_is_true(json_object_get(data, "close")));
      sh_sync_rooms(ra, ns);
      break;
    case CM_FETCH_SOCKETS: {
      if (!rid || !(tb = malloc(sizeof(*tb)))) break;
      target_from(&t, tb, ns->nsp, opts);
      json_t *socks = local_sockets(&t);
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
      sio_event ev = {json_string_value(json_array_get(p, 0)), text, n, NULL, 0};
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
      json_t *c = json_copy(data);
      if (!c) break;
      int ct = type == CM_BROADCAST_CLIENT_COUNT ? REQ_BROADCAST_CLIENT_COUNT
               : type == CM_BROADCAST_ACK        ? REQ_BROADCAST_ACK
                                                 : type == CM_FETCH_SOCKETS_RESPONSE ? REQ_REMOTE_FETCH : REQ_SERVER_SIDE_EMIT;
      json_object_set_new(c, "type", json_integer(ct));
      if (type == CM_SERVER_SIDE_EMIT_RESPONSE) {
        json_t *p = json_object_get(data, "packet");
        json_object_set(c, "data", p ? p : json_null());
      }
      on_response_value(ra, c);
      json_decref(c);
      break;
    }
    default:
      break;
  }
  free(tb);
}

static void sh_on_message(redis_adapter *ra, const char *channel, size_t clen, const char *msg, size_t mlen) {
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  codec_bins bins;
  bins.n = 0;
  json_t *v = decode_any(msg, mlen, &up, &bins);
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
    if (response == is_response) sh_on_request(ra, ns, v, &bins);
  }
  json_decref(v);
  msgpack_unpacked_destroy(&up);
}

/* ---- lifetime ------------------------------------------------------------------------- */

static void conn_free(rconn *c) {
  loop_timer_stop(c->ra->loop, &c->retry);
  if (c->linked) net_conn_release(&c->net);
  c->linked = 0;
  if (c->reader) redisReaderFree(c->reader);
  c->reader = NULL;
  c->state = RC_IDLE;
  conn_fail_pending(c);
  free(c->q);
  c->q = NULL;
}

static void ra_destroy(sio_adapter *a) {
  redis_adapter *ra = (redis_adapter *)a;
  ra->destroyed = 1;
  while (ra->reqs) {
    rreq *q = ra->reqs;
    q->local_pending = 0; /* the server's groups ended with its sockets */
    req_finish(q, WSIO_ECLOSED);
  }
  if (ra->pub.state == RC_READY) net_flush_queued(ra->ctx); /* the last publishes */
  conn_free(&ra->pub);
  conn_free(&ra->sub);
  for (size_t i = 0; i < ra->nnodes; i++) {
    conn_free(&ra->nodes[i]->pub);
    conn_free(&ra->nodes[i]->sub);
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
  /* The post hook still names ra, but the adapter goes only with its server, in the
   * app's destroy, after which no post phase runs. */
  free(ra);
}

static const sio_adapter_ops redis_ops = {
    .add_all = ra_add_all,
    .del = ra_del,
    .del_all = ra_del_all,
    .broadcast = ra_broadcast,
    .broadcast_with_ack = ra_broadcast_with_ack,
    .add_sockets = ra_add_sockets,
    .disconnect_sockets = ra_disconnect_sockets,
    .fetch_sockets = ra_fetch_sockets,
    .all_rooms = ra_all_rooms,
    .server_count = ra_server_count,
    .server_side_emit = ra_server_side_emit,
    .nsp_created = ra_nsp_created,
    .destroy = ra_destroy,
};

void wsio_sio_redis_options_init(wsio_sio_redis_options *o) {
  memset(o, 0, sizeof(*o));
  o->host = "127.0.0.1";
  o->port = 6379;
  o->key_prefix = "socket.io";
  o->request_timeout_ms = 5000;
}

/* A numeric address, or a name resolved once here (before the loop serves anyone:
 * the server calls this while it sets up). */
static int resolve(redis_adapter *ra, const char *host, int port) {
  const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ra->addr;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ra->addr;
  memset(&ra->addr, 0, sizeof(ra->addr));
  if (inet_pton(AF_INET, h, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    ra->addr_len = sizeof(*in4);
    return 0;
  }
  if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    ra->addr_len = sizeof(*in6);
    return 0;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  char ps[16];
  snprintf(ps, sizeof(ps), "%d", port);
  if (getaddrinfo(h, ps, &hints, &res) != 0 || !res) return -1;
  memcpy(&ra->addr, res->ai_addr, res->ai_addrlen);
  ra->addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
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
  ra->base.ops = &redis_ops;
  ra->io = io;
  ra->app = sio_server_app(io);
  ra->loop = sio_server_loop(io);
  ra->db = o->db;
  ra->sharded = o->sharded != 0;
  ra->request_timeout_ms = o->request_timeout_ms ? o->request_timeout_ms : 5000;
  ra->log = o->log;
  ra->log_user = o->log_user;
  ra->prefix = strdup(o->key_prefix && o->key_prefix[0] ? o->key_prefix : "socket.io");
  ra->user = o->user && o->user[0] ? strdup(o->user) : NULL;
  ra->password = o->password && o->password[0] ? strdup(o->password) : NULL;
  ra->pub.ra = ra->sub.ra = ra;
  ra->sub.is_sub = 1;
  ra->flush_timer.cb = flush_fired;
  ra->st.attached = 1;
  make_id(ra->uid);
  static const net_handlers h = {on_data, on_end, on_drain, on_accept, NULL};
  if (resolve(ra, o->host, o->port) != 0) {
    free(ra->prefix);
    free(ra->user);
    free(ra->password);
    free(ra);
    return WSIO_EINVAL;
  }
  ra->ctx = net_ctx_create(ra->loop, &h, ra, 0);
  if (!ra->prefix || !ra->ctx || core_hook_add(ra->app, CORE_HOOK_POST, ra_post, ra) != 0) {
    if (ra->ctx) net_ctx_destroy(ra->ctx);
    free(ra->prefix);
    free(ra->user);
    free(ra->password);
    free(ra);
    return WSIO_ENOMEM;
  }
  uint32_t it = 0;
  for (wsio_sio_nsp *nsp; (nsp = sio_nsp_iter(io, &it)) != NULL;) ra_nsp_created(&ra->base, nsp);
  sio_adapter_set(io, &ra->base);
  ra->pub.addr = ra->sub.addr = ra->addr;
  ra->pub.addr_len = ra->sub.addr_len = ra->addr_len;
  conn_start(&ra->pub);
  conn_start(&ra->sub);
  return 0;
}

void wsio_sio_redis_stats_get(const wsio_sio *io, wsio_sio_redis_stats *out) {
  memset(out, 0, sizeof(*out));
  if (!io) return;
  sio_adapter *a = sio_adapter_get(io);
  if (a->ops != &redis_ops) return;
  *out = ((const redis_adapter *)a)->st;
}
