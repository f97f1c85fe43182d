/* core/conn.h — the connection and app structures shared by the core's files.
 *
 * src/core is the shell around the pure layers: it drives http/parser and the ws/
 * cores from net's byte callbacks, and implements the public API of include/wsio.h.
 * Files: app.c (app, routes, listen/run/stop, the sweep, stats), http_session.c
 * (request heads, routing, responses, the upgrade), ws_session.c (frames to messages,
 * control frames, close handshake, sends), pubsub.c (topics and batched fan-out). */
#ifndef WSIO_CORE_CONN_H
#define WSIO_CORE_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/transport.h"
#include "edge/ratelimit.h"
#include "http/parser.h"
#include "loop/loop.h"
#include "net/net.h"
#include "util/map.h"
#include "wsio.h"
#include "ws/deflate.h"
#include "ws/utf8.h"

typedef enum {
  CONN_HTTP = 0,     /* reading request heads */
  CONN_HTTP_CLOSING, /* error answered; waiting for the peer's FIN (input discarded) */
  CONN_WS,           /* open WebSocket */
  CONN_WS_CLOSING,   /* close frame sent and/or received */
  CONN_DEAD,         /* torn down; freed at the next safe point */
  CONN_MOVING,       /* --threads: waits to be handed to another thread; input is kept for it */
} conn_state;

enum {
  WSF_IN_FRAME = 1 << 0,      /* reading a frame's payload */
  WSF_MSG_ACTIVE = 1 << 1,    /* a data message is being assembled */
  WSF_CLOSE_SENT = 1 << 2,
  WSF_CLOSE_RECEIVED = 1 << 3,
  WSF_PING_PENDING = 1 << 4,  /* keep-alive ping sent, nothing received since */
  WSF_OVER_CAP = 1 << 5,      /* a send was dropped for backpressure */
  WSF_NOTIFIED = 1 << 6,      /* close callback already ran */
  WSF_INPUT_DONE = 1 << 7,    /* ignore all further input */
};

typedef struct route route;

enum { CORE_NHOOKS = CORE_HOOK_DESTROY + 1 };
typedef struct app_hooks {
  struct app_hook {
    void (*fn)(void *arg);
    void *arg;
  } *v;
  uint32_t n, cap;
  uint32_t running, dead; /* nested runs of this list; removed entries (fn NULL) */
} app_hooks;
typedef struct topic topic;

/* Rarely needed WebSocket state, allocated only while a frame header, a control frame
 * or a message is incomplete across reads. */
enum { AUX_HTTP = 1, AUX_WS = 2 };

/* Broadcast frames compressed once per deflate window (frames.c): windows of 9..15 bits
 * (8 compresses as 9), one group each. */
#define CORE_ZWIN 7
typedef struct core_zframes {
  core_frames f[CORE_ZWIN];
  uint8_t built; /* bit g: f[g] holds the current frames for group g */
  uint8_t any;   /* bit g: f[g] has at least one compressed message */
} core_zframes;

typedef struct ws_aux {
  uint8_t kind; /* AUX_WS */
  uint8_t hdr[14];
  uint8_t hdr_len;
  uint8_t ctrl_len;
  uint8_t ctrl[125];
  uint8_t z_used; /* z compressed or inflated since the last sweep */
  ws_utf8 utf8;
  uint8_t *msg;
  size_t msg_len, msg_cap;
  /* permessage-deflate streams, only on connections that negotiated it, while in use
   * (freed with the aux once released and holding no memory: see ws_sweep). */
  ws_deflate *z;
} ws_aux;

/* HTTP state kept only while a request head (and body) is incomplete across reads. */
/* wsio_conn.dfl: permessage-deflate (RFC 7692) as negotiated at the upgrade. */
enum {
  DFL_ON = 1 << 0,        /* negotiated: RSV1 allowed, sends above the threshold compressed */
  DFL_TX_RESET = 1 << 1,  /* server_no_context_takeover agreed */
  DFL_RX_RESET = 1 << 2,  /* client_no_context_takeover agreed */
  DFL_RX_MSG = 1 << 3,    /* the message being received is compressed (RSV1 on its first frame) */
};

typedef struct http_aux {
  uint8_t kind; /* AUX_HTTP */
  char *buf;
  size_t len, cap;
  wsio_response *held; /* a response the handler will send later */
} http_aux;

typedef struct conn_sub {
  topic *t;
  uint32_t idx; /* position in t->subs */
} conn_sub;

/* A connection's topics: one allocation with its counts in front, made at the first
 * subscribe, so a connection that never subscribes carries one NULL pointer. */
typedef struct conn_subs {
  uint32_t n, cap;
  conn_sub v[];
} conn_subs;

struct wsio_conn {
  net_conn net; /* first: net callbacks cast back */
  wsio_app *app;
  route *route;
  void *aux; /* ws_aux or http_aux, by state */
  conn_subs *subs; /* NULL until the first subscribe */
  uint64_t frame_left; /* payload bytes left in the current frame */
  uint32_t frame_pos;  /* payload bytes of the current frame already read */
  uint32_t t_rx;       /* app clock (ms) of the last received bytes */
  uint32_t t_due;      /* handshake / close / ping deadline, by state */
  uint8_t state;
  uint8_t wsf;
  uint8_t frame_op;
  uint8_t frame_fin;
  uint8_t msg_op;
  uint8_t mask[4];
  uint8_t proto_idx; /* negotiated subprotocol + 1, 0 = none */
  uint16_t close_code; /* code we sent (for the callback when we failed the conn) */
  wsio_conn *grave_next;
  /* These three fill the alignment hole before user[]: deflate costs an idle
   * connection nothing (its streams live in ws_aux while used). */
  uint8_t dfl;         /* DFL_* */
  uint8_t dfl_tx_bits; /* server_max_window_bits agreed (our compressor) */
  uint8_t dfl_rx_bits; /* client_max_window_bits agreed (our inflater) */
  uint8_t ip_counted; /* 1: counted in app->iplimit under its client IP (conn_client_ip),
                         released when freed; IP_SESSION_UPGRADE: an upgrade of a counted
                         Engine.IO session */
  uint32_t xt_counted; /* --threads, shared socket: 1 while counted in its thread's open
                          connections (core/threads.c "listening"), 0 if not */
  struct conn_edge *edge; /* NULL unless trusted proxies or messages_per_second are set */
  _Alignas(16) unsigned char user[]; /* app->user_data_size bytes */
};

/* What only some deployments need of a connection, allocated at its upgrade (limits.c)
 * when they do, so that an idle connection without a proxy in front and without a
 * message rate carries 8 bytes for it instead of 44 (docs/capacity.md). */
struct conn_edge {
  edge_ip cip;      /* the client's IP as a trusted proxy forwarded it */
  edge_bucket msgs; /* messages_per_second */
};

struct route {
  route *next;
  char *path;
  size_t path_len; /* without the trailing '*' of a prefix route */
  int prefix;      /* path ended in '*': matches every path starting with the rest */
  char *method; /* HTTP routes: NULL = any */
  int is_ws;
  wsio_ws_handlers ws;
  wsio_http_handler http;
  void *user;
};

struct topic {
  char *name;
  struct {
    wsio_conn *c;
    uint32_t slot; /* index in c->subs */
  } *subs;
  uint32_t n, cap;
  core_frames pending; /* frames published in this loop iteration, not yet written
                          (deflate subscribers get them compressed: core_frames_for) */
  topic *dirty_next;
  int dirty;
};

/* How many freed connection blocks an app keeps for its next accepts (app.c, conn_alloc);
 * none under ASan, where a reused block would hide a use after free. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) /* clang's way to say it (the fuzz builds) */
#define CORE_CONN_SPARE_MAX 0
#endif
#endif
#if !defined(CORE_CONN_SPARE_MAX) && defined(__SANITIZE_ADDRESS__) /* gcc's */
#define CORE_CONN_SPARE_MAX 0
#endif
#ifndef CORE_CONN_SPARE_MAX
#define CORE_CONN_SPARE_MAX 1024
#endif

struct wsio_app {
  wsio_app_options o;
  loop *loop;
  net_ctx *net;
  route *routes;
  size_t user_data_size; /* max over WebSocket routes, allocated with every conn */
  uint64_t t0;
  loop_timer sweep;
  uint32_t sweep_ms;
  loop_timer shutdown_timer;
  int stopping;      /* loop thread only: the graceful stop has begun */
  unsigned drain_holds; /* app_drain_hold: clients the drain waits for (keep-alive kept) */
  int drain_released;   /* the holds ended during the stop: listeners closed (app_drain_release) */
  atomic_int stop_requested; /* set by wsio_app_stop from any thread or a signal handler */
  int nlisteners;
  wsio_timer *timers; /* every live wsio_timer, freed by wsio_app_destroy */
  wsio_conn *grave;
  wsio_conn *spare; /* freed connections kept for the next accepts (app.c, conn_alloc) */
  uint32_t nspare;
  wsio_conn **resume; /* connections with buffered requests to serve in post */
  size_t nresume, resume_cap;
  str_map topics; /* name -> topic (the key is the topic's own name) */
  topic *dirty, *dirty_tail;
  wsio_stats st;
  uint64_t accept_error_logged; /* loop time of the last accept-failure log line */
  const wsio_request *upgrade_req; /* during a WebSocket open callback: its request */
  app_hooks hooks[CORE_NHOOKS];     /* by core_hook_kind */
  ws_deflate *zshared[CORE_ZWIN]; /* compress broadcasts once per window (frames.c) */
  uint8_t dfl_hooked;   /* conn_deflate_post is registered */
  uint8_t dfl_released; /* a sweep released zlib memory: trim the heap in the post phase */
  struct edge_origins *origins; /* allowed_origins parsed; NULL: no Origin check */
  struct edge_cidrs *proxies;   /* trusted_proxies parsed; NULL: trust no header */
  struct edge_iplimit *iplimit; /* per-IP limits; NULL when none is set */
  /* --threads: the group's one table is iplimit, shared by its members and guarded by
   * this lock (the group's), taken at a connection's open and close and at a handshake,
   * never per message. NULL: the app's own table, no lock. */
  pthread_mutex_t *iplock;
  void *user;
  int port;
  struct core_group *group; /* --threads: the apps serving as one (core/threads.c) */
  struct core_threads *xt;  /* its outboxes to the other threads, its handlers */
  unsigned tindex;          /* its place in the group */
};

/* app_now for core's own hot paths (inline; app_now is the out-of-line one). */
static inline uint32_t core_now(const wsio_app *a) { return (uint32_t)(loop_now_ms(a->loop) - a->t0); }

/* app.c */
/* Every allocation in core goes through these, so that tests can make the n-th one
 * fail: core_alloc_fail_in = n > 0 fails the n-th call from now (then it is 0 again).
 * Off (0) by default: one predictable branch per allocation. Loop thread only. */
extern unsigned core_alloc_fail_in;
void *core_malloc(size_t n);
void *core_calloc(size_t count, size_t size);
void *core_realloc(void *p, size_t n);
char *core_strdup(const char *s);
void conn_kill(wsio_conn *c); /* close the fd now, free at the next safe point */

/* limits.c: the per-IP and per-connection limits (docs/security.md). */
int limits_init(wsio_app *app);  /* at create: WSIO_EINVAL (bad list) or WSIO_ENOMEM */
void limits_free(wsio_app *app);
/* At a WebSocket upgrade: 0 (the connection is counted for its IP), or the HTTP status
 * to refuse with, *reason and *extra (a header line or NULL) set. */
/* At a WebSocket upgrade: the client's IP into c->cip, the handshake rate (0, or the
 * status with *reason and *extra); then, once the route's hook accepted, limits_open
 * counts the connection toward max_connections_per_ip (the same answers). */
int limits_admit(wsio_conn *c, const http_request *h, const char **reason, const char **extra);
int limits_open(wsio_conn *c, const char **reason, const char **extra);
#define IP_SESSION_UPGRADE 2
/* The client's IP of request h on c as text (what a trusted proxy forwarded for). */
int limits_client_ip_format(const wsio_conn *c, const http_request *h, char *buf, size_t cap);
/* http_session.c: a request's connection and parsed head. */
wsio_conn *core_request_conn(const wsio_request *req);
const http_request *core_request_head(const wsio_request *req);
void limits_release(wsio_conn *c); /* the connection is freed (its edge too) */
/* The client's IP of an upgraded connection: the forwarded one (c->edge) or the peer. */
void conn_client_ip(const wsio_conn *c, edge_ip *out);
/* A handshake that opens no connection (an Engine.IO long-polling session): 0, or 429
 * / 503 with *reason, as limits_admit (handshakes per second only). */
int limits_handshake(wsio_conn *c, const http_request *h, const char **reason);
/* A message arrived: 1 to deliver it, 0 to drop it (counted; the connection may have
 * been failed with 1008). */
int limits_message(wsio_conn *c);
void app_reap(wsio_app *app);
/* pubsub.c: a publish to this thread's subscribers only (what arrives from others:
 * count 0, the publish was counted where it was made). */
int pubsub_publish_local(wsio_app *app, const char *name, const void *data, size_t len, wsio_opcode op,
                         int count);
void stats_count_close(wsio_app *app, int code);
/* A log line through wsio_app_options.log (nothing when unset). */
void app_log(wsio_app *app, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void stats_count_handshake_failure(wsio_app *app, int status);
void app_resume_later(wsio_conn *c); /* serve buffered requests from the post phase */
/* The stop's drain holds ended (this app's, or with --threads the group's): closes the
 * listeners and ends idle keep-alive connections politely; once. */
void app_drain_release(wsio_app *app);
/* frames.c: writes f to nc (shared range or copy); returns as net_write. */
int core_frames_write(net_conn *nc, core_frames *f);
/* frames.c: appends one frame of opcode op carrying data[0..len) compressed by z (RSV1 set,
 * RFC 7692 7.2.1). Returns 0, WSIO_ENOMEM (f unchanged) or z's error. */
int core_frames_add_deflate(core_frames *f, ws_deflate *z, wsio_opcode op, const void *data, size_t len);
/* frames.c: the frames c gets of f: f itself, or (c negotiated permessage-deflate) f's
 * messages of the threshold or more compressed once for every recipient with c's
 * window; *compressed = 1 then (call ws_conn_deflate_forget(c) once they are written).
 * NULL when out of memory. */
core_frames *core_frames_for(wsio_conn *c, core_frames *f, int *compressed);
/* frames.c: f's messages sent one by one through c's own compressor (ws_send_parts). */
int core_frames_send_each(wsio_conn *c, core_frames *f);
/* frames.c: frees the shared compressors (wsio_app_destroy). */
void core_zshared_free(wsio_app *app);
static inline net_ctx *app_net(const wsio_app *app) { return app->net; }

/* http_session.c */
void http_on_data(wsio_conn *c, uint8_t *p, size_t n);
void http_send_error(wsio_conn *c, int status, const char *reason, const char *extra_headers);
void http_aux_free(wsio_conn *c);
void http_abort_held(wsio_conn *c);
/* 1 while c (CONN_HTTP) holds a response its handler will send later (wsio_response_hold). */
int http_is_held(const wsio_conn *c);
void http_resume(wsio_conn *c);

/* ws_session.c */
void ws_on_data(wsio_conn *c, uint8_t *p, size_t n);
void ws_opened(wsio_conn *c);
void ws_sweep(wsio_conn *c, uint32_t now);
void ws_notify_close(wsio_conn *c, int code, const uint8_t *reason, size_t len);
void ws_aux_free(wsio_conn *c);
void ws_send_close_frame(wsio_conn *c, unsigned code, const char *reason, size_t rlen);
/* permessage-deflate: the server configuration from the app's options, and the
 * message size from which sends are compressed. */
void conn_deflate_config(const wsio_app *app, ws_deflate_config *cfg);
size_t conn_deflate_threshold(const wsio_app *app);
/* Post hook (arg: the app), registered at the first deflate upgrade: gives the pages of
 * released zlib streams back to the system. */
void conn_deflate_post(void *arg);
/* After c was sent a message that its own compressor did not produce. */
void ws_conn_deflate_forget(wsio_conn *c);
/* The peer address into buf, as wsio_conn_remote_address (requests use it too). */
int conn_peer_format(const wsio_conn *c, char *buf, size_t cap);

/* pubsub.c */
void pubsub_flush_all(wsio_app *app);
void pubsub_conn_drop(wsio_conn *c);
void pubsub_free_all(wsio_app *app);
static inline void pubsub_before_direct_send(wsio_conn *c) {
  /* Keep a connection's byte order: what was published to it earlier in this
   * iteration must be written before a direct send. */
  if (c->subs && c->subs->n && c->app->dirty) pubsub_flush_all(c->app);
}

#endif
