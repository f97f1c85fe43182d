/* adapter/internal.h — what the files of the Redis cluster adapter share: the adapter,
 * its connections, namespaces and requests, and the functions one file offers the
 * others (prefix ra_). Not for any other layer. */
#ifndef WSIO_ADAPTER_INTERNAL_H
#define WSIO_ADAPTER_INTERNAL_H

#include <hiredis/hiredis.h>
#include <stdint.h>
#include <sys/socket.h>

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

/* RC_TLS: connected, the TLS handshake under way (a PING's answer says it is through). */
enum { RC_IDLE, RC_CONNECTING, RC_TLS, RC_READY };

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
  const char *tls_host; /* rediss://: the name its certificate must carry */
} rconn;

/* Sharded on a Redis Cluster: a master other than the seed (the --redis address, whose
 * connections are ra->pub/ra->sub), with its own publish and subscribe connections. */
#define RA_MAX_NODES 32
#define RA_SLOTS CODEC_KEY_SLOTS
typedef struct rnode {
  rconn pub, sub;
  char host[256]; /* rediss://: as CLUSTER SLOTS names it (its hostname, else its IP) */
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
  wsio_sio_broadcast_ack_bin_fn bcb; /* broadcast with ack, its answers' attachments too */
  wsio_span *bins;                    /* bcb: copies of the attachments, numbered as kept */
  size_t nbins, bins_cap;
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
  struct ssl_ctx_st *tls_ctx; /* rediss://, else NULL */
  char *tls_host;             /* the URL's host (the seed's certificate must name it) */
  /* The files tls_ctx was made from (copies; NULL: not given) and what each looked like
   * then (ra_tls_refresh remakes the context when one has changed since). */
  char *tls_files[3]; /* CA, client certificate, client key */
  struct ra_file_sig {
    long long ino, size, mtime_s, mtime_ns;
  } tls_sigs[3];
  int tls_insecure;
  unsigned request_timeout_ms;
  void (*log)(int level, const char *msg, void *user);
  void *log_user;
  char uid[8];
  rnsp *nsps;
  rreq *reqs;
  uint32_t next_serial;
  loop_timer flush_timer;
  int destroyed;
  int sharded; /* createShardedAdapter's protocol (cluster_adapter.c) */
  int sub_mode; /* sharded: its subscriptionMode (WSIO_REDIS_SUBSCRIPTION_*) */
  /* The streams adapter (streams.c): ClusterAdapter messages, the persistent ones
   * through a Redis stream read on a connection of its own (xr). */
  int streams;
  rconn xr;
  char *stream_name, *session_prefix;
  unsigned max_len, read_count, block_ms;
  char xoffset[48]; /* the last entry read ("$" before the first) */
  int xpolling;
  loop_timer xtimer; /* a poll again after a refused XREAD */
  const char *cur_offset; /* the entry being handled (recovery's offset), else NULL */
  struct st_deferred *deferred; /* own broadcasts waiting for their XADD's id */
  struct st_restore *restores;  /* sessions being restored */
  /* Sharded only: the topology, from CLUSTER SLOTS on the seed. Until it is known
   * (slots_known), nothing is subscribed; a seed that refuses CLUSTER SLOTS (cluster
   * support disabled) is one node owning every slot. */
  int cluster, slots_known, slots_pending;
  uint8_t slot_node[RA_SLOTS]; /* 0: the seed; i: nodes[i - 1] */
  rnode *nodes[RA_MAX_NODES];
  size_t nnodes;
  wsio_sio_redis_stats st;
};

typedef struct mp {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} mp;

typedef struct target_buf {
  const char *rooms[RA_MAX_ROOMS], *except[RA_MAX_ROOMS];
  char rnum[RA_MAX_ROOMS][32], enum_[RA_MAX_ROOMS][32];
} target_buf;

typedef struct bcast_remote {
  redis_adapter *ra;
  rnsp *ns; /* sharded: answers are {type, data, uid, nsp} */
  char channel[1024];
  char request_id[64];
} bcast_remote;

/* Whether the adapter speaks socket.io-adapter's ClusterAdapter messages
 * (cluster_adapter.c): the sharded and the streams adapters do. */
#define RA_CLUSTER_MSGS(ra) ((ra)->sharded || (ra)->streams)

/* ---- conn.c: connections, publishing, the cluster topology ---- */
void ra_log(redis_adapter *ra, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ra_conn_command(rconn *c, int argc, const char **argv, const size_t *lens, reply_fn fn, uint32_t arg);
void ra_conn_free(rconn *c);
void ra_conn_start(rconn *c);
void ra_flush_fired(loop_timer *t);
int ra_is_up(const redis_adapter *ra);
void ra_make_id(char out[8]);
net_conn *ra_on_accept(net_ctx *ctx, void *user);
void ra_on_data(net_conn *nc, uint8_t *p, size_t n);
void ra_on_drain(net_conn *nc);
void ra_on_end(net_conn *nc, int err);
int ra_publish(redis_adapter *ra, const char *channel, const char *msg, size_t len);
void ra_post(void *arg);
int ra_resolve(redis_adapter *ra, const char *host, int port);
void ra_tls_refresh(redis_adapter *ra);
rconn *ra_route(redis_adapter *ra, const char *channel, int sub);

/* ---- pubsub.c: the classic protocol and the message helpers the kinds share ---- */
json_t *ra_decode_any(const char *msg, size_t len, msgpack_unpacked *up, codec_bins *bins);
int ra_event_from_packet(json_t *packet, const codec_bins *bins, sio_event *ev, char **text);
void ra_mp_init(mp *m);
int ra_mp_str(mp *m, const char *s);
void ra_on_message(redis_adapter *ra, const char *channel, size_t clen, const char *msg, size_t mlen, int pattern);
/* bins: the attachments v's placeholders name (NULL: none). */
void ra_on_response_value(redis_adapter *ra, json_t *v, const codec_bins *bins);
json_t *ra_opts_json(const wsio_sio_target *t);
int ra_pack_opts(mp *m, const wsio_sio_target *t, long timeout_ms);
int ra_pack_packet(mp *m, const char *nsp, const sio_event *ev);
int ra_publish_json(redis_adapter *ra, const char *channel, json_t *v);
void ra_remote_done(const char *json, size_t len, int err, void *user);
void ra_remote_each(const char *json, size_t len, const wsio_span *bins, size_t nbins, void *arg);
void ra_subscribe_nsp(redis_adapter *ra, rnsp *ns, rconn *c);
void ra_target_from(wsio_sio_target *t, target_buf *b, wsio_sio_nsp *nsp, json_t *opts);

/* ---- cluster_adapter.c: ClusterAdapter messages (sharded) ---- */
void ra_sh_broadcast(redis_adapter *ra, rnsp *ns, const wsio_sio_target *t, const sio_event *ev);
void ra_sh_broadcast_ack(redis_adapter *ra, rnsp *ns, rreq *q, const wsio_sio_target *t, const sio_event *ev,
                             unsigned timeout_ms);
void ra_sh_joined(redis_adapter *ra, wsio_sio_socket *s, const char *const *rooms, size_t n);
void ra_sh_left(redis_adapter *ra, wsio_sio_nsp *nsp, const char *room);
json_t *ra_sh_msg(redis_adapter *ra, rnsp *ns, int type, json_t *data);
void ra_sh_on_message(redis_adapter *ra, const char *channel, size_t clen, const char *msg, size_t mlen);
/* Placeholders become null (for callbacks that carry JSON only). Consumes v. */
json_t *ra_unbin(json_t *v);
json_t *ra_sh_opts(const wsio_sio_target *t, long timeout_ms);
int ra_sh_publish(redis_adapter *ra, const char *channel, json_t *msg, const wsio_span *bins, size_t nbins);
void ra_sh_subscribe_nsp(redis_adapter *ra, rnsp *ns, rconn *only);
void ra_sh_sync_rooms(redis_adapter *ra, rnsp *ns);
void ra_sh_socket_room(redis_adapter *ra, wsio_sio_socket *s, int connected);
void ra_sh_on_request(redis_adapter *ra, rnsp *ns, json_t *q, const codec_bins *bins);

/* ---- streams.c: @socket.io/redis-streams-adapter ---- */
/* Publishes a ClusterAdapter message (consumed): persistent ones by XADD, ephemeral
 * ones and responses by PUBLISH (msgpack), as Node's RedisStreamsAdapter. */
int ra_st_publish(redis_adapter *ra, const char *channel, json_t *msg, const wsio_span *bins, size_t nbins);
/* The stream connection is ready: read from the last entry seen. */
void ra_st_poll(redis_adapter *ra);
/* msg as msgpack (malloc'd, *len bytes), or NULL. */
char *ra_st_pack(const json_t *msg, size_t *len);
/* Recovery across nodes: a broadcast published now and delivered here once XADD gave
 * its offset (0; -1: not published, deliver it now); the ops persist/restore_session. */
int ra_st_broadcast_deferred(redis_adapter *ra, rnsp *ns, const wsio_sio_target *t, const sio_event *ev);
void ra_st_persist(sio_adapter *a, wsio_sio_nsp *nsp, const sio_session_state *st, unsigned ttl_ms);
int ra_st_restore(sio_adapter *a, wsio_sio_nsp *nsp, const char *pid, const char *offset, sio_restore_fn done,
                  void *arg);
/* Takes the streams options (ra->xr is started by the caller); ra_st_free undoes it. */
int ra_st_init(redis_adapter *ra, const wsio_sio_redis_options *o);
void ra_st_free(redis_adapter *ra);

/* ---- redis.c: namespaces, requests ---- */
/* One client's answer to a broadcast with ack (v consumed; bins: its attachments,
 * copied when the request keeps them; remote: from another node). */
void ra_bcast_answer(rreq *q, json_t *v, const wsio_span *bins, size_t nbins, int remote);
void ra_bcast_check(rreq *q);
json_t *ra_event_array(const sio_event *ev);
json_t *ra_local_rooms(wsio_sio_nsp *nsp);
json_t *ra_local_sockets(const wsio_sio_target *t);
rnsp *ra_ns_of(redis_adapter *ra, const wsio_sio_nsp *nsp);
json_t *ra_parse_owned(char *text, size_t len);
rreq *ra_req_find_id(redis_adapter *ra, const char *id);
void ra_req_finish(rreq *q, int err);

#endif
