/* wsio/sio.h — Socket.IO v5 server (included by wsio.h), modeled on Node's socket.io
 * server API: namespaces (io.of), connection handlers, middleware, per-event handlers,
 * emit with JSON and binary arguments, acknowledgements both ways, rooms, broadcasts
 * with rooms/except/volatile, server-side socket queries, and connection state
 * recovery.
 *
 * Arguments cross the API as JSON text: the array of an event's arguments, without the
 * event name, e.g. `[1,"two",{"three":3}]`. Binary arguments are JSON placeholders
 * `{"_placeholder":true,"num":N}` in that text plus N-th entry of a wsio_span array,
 * exactly as on the wire. wsio never parses the arguments of a broadcast: the packet
 * is encoded once and framed once for every WebSocket recipient.
 *
 * Lifetimes: a wsio_sio_socket pointer is valid from the connection callback until the
 * disconnect callback returns; to keep a socket past a callback, keep a wsio_sio_ref
 * (wsio_sio_socket_ref) and resolve it when needed: it resolves to NULL once that
 * socket is gone. Ack handles (wsio_sio_ack) and pending middleware handles
 * (wsio_sio_pending) are values that stay safe to keep: used late they return
 * WSIO_ECLOSED and touch nothing (until the app is destroyed: no handle outlives its
 * server). Data pointers given to callbacks are borrowed (valid until the callback
 * returns); data passed in is copied. All functions run on the app's loop thread: work
 * finished on another thread (a database reply) must be posted back to the loop before
 * it answers an ack or completes a middleware.
 *
 * Errors: every int-returning function returns 0 (or a count) on success and a
 * negative WSIO_E* on failure; a failed call has no effect. */
#ifndef WSIO_SIO_H
#define WSIO_SIO_H

#include <stddef.h>
#include <stdint.h>

#include "wsio/eio.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsio_sio wsio_sio;               /* the server: Node's `io` */
typedef struct wsio_sio_nsp wsio_sio_nsp;       /* a namespace: io.of(name) */
typedef struct wsio_sio_socket wsio_sio_socket; /* one client in one namespace */

typedef struct wsio_span {
  const uint8_t *p;
  size_t n;
} wsio_span;

typedef struct wsio_sio_options {
  wsio_eio_options eio;                 /* eio.path defaults to "/socket.io/" */
  unsigned connect_timeout_ms;          /* default 45000: close sessions that join no namespace */
  int recovery;                         /* connection state recovery, default 0 (off) */
  unsigned recovery_max_disconnection_ms; /* default 120000 */
  int recovery_skip_middlewares;        /* default 1 */
  size_t recovery_max_packets;          /* packets kept for catch-up, default 10000 */
  /* How long a namespace's middlewares may take in all (wsio_sio_next called late);
   * past it the client gets CONNECT_ERROR {"message":"middleware timeout"}. Default 0:
   * connect_timeout_ms. */
  unsigned middleware_timeout_ms;
  /* Optional (Node's allowRequest), runs before an Engine.IO session is created: return
   * 0 to accept, or fill *message and return non-zero for 403 {"code":4,...}. */
  int (*allow_request)(const wsio_request *req, const char **message, void *user);
  void *allow_request_user;
} wsio_sio_options;

void wsio_sio_options_init(wsio_sio_options *o);

/* Attaches a Socket.IO server to app (options copied); the main namespace "/" exists
 * from the start. Freed with the app (sockets still connected then get their
 * disconnect callback with "server shutting down"). Returns NULL on bad options or out
 * of memory. */
wsio_sio *wsio_sio_attach(wsio_app *app, const wsio_sio_options *o);
wsio_eio_server *wsio_sio_engine(wsio_sio *io);

/* ---- namespaces ------------------------------------------------------------------ */
/* The namespace named `name` ("/chat"), created on first use. */
wsio_sio_nsp *wsio_sio_of(wsio_sio *io, const char *name);
const char *wsio_sio_nsp_name(const wsio_sio_nsp *nsp);
wsio_sio *wsio_sio_nsp_server(const wsio_sio_nsp *nsp);

/* Dynamic namespaces: when a client connects to a namespace that does not exist,
 * accept(name, auth JSON) decides (non-zero = create it); created(nsp) then runs once so
 * the application can register its handlers. Without this, unknown namespaces are
 * refused with CONNECT_ERROR {"message":"Invalid namespace"}. */
void wsio_sio_set_dynamic(wsio_sio *io, int (*accept)(wsio_sio *io, const char *name, void *user),
                          void (*created)(wsio_sio_nsp *nsp, void *user), void *user);

typedef void (*wsio_sio_connection_fn)(wsio_sio_socket *s, void *user);
/* reason is Node's: "client namespace disconnect", "server namespace disconnect",
 * "transport close", "transport error", "ping timeout", "parse error", "forced close",
 * "server shutting down", "forced server close". */
typedef void (*wsio_sio_disconnect_fn)(wsio_sio_socket *s, const char *reason, void *user);
/* Middleware (Node's nsp.use((socket, next) => ...)) runs in registration order when a
 * client connects to the namespace. Each gets a `next` handle and completes it exactly
 * once with wsio_sio_next: before returning (synchronous middleware) or later, e.g.
 * from a timer or after a database answer posted back to the loop (asynchronous). The
 * socket is not connected yet: it may not emit or join rooms, only be read (id, auth,
 * query, data) and given data. If the client leaves or middleware_timeout_ms passes
 * first, the connection is abandoned and a later wsio_sio_next returns WSIO_ECLOSED. */
typedef struct wsio_sio_pending {
  wsio_sio *io;
  uint64_t token; /* private; 0 never names a pending connection */
} wsio_sio_pending;
typedef void (*wsio_sio_middleware_fn)(wsio_sio_socket *s, wsio_sio_pending next, void *user);

void wsio_sio_nsp_on_connection(wsio_sio_nsp *nsp, wsio_sio_connection_fn fn, void *user);
void wsio_sio_nsp_on_disconnect(wsio_sio_nsp *nsp, wsio_sio_disconnect_fn fn, void *user);
/* Returns 0, WSIO_EINVAL (NULL nsp or fn) or WSIO_ENOMEM. */
int wsio_sio_nsp_use(wsio_sio_nsp *nsp, wsio_sio_middleware_fn fn, void *user);

/* A middleware for every namespace, present and future (dynamic ones too), run before
 * each namespace's own (in registration order among themselves): a check that must
 * hold wherever a client connects, such as a token. Returns as wsio_sio_nsp_use. */
int wsio_sio_use(wsio_sio *io, wsio_sio_middleware_fn fn, void *user);

/* Completes a middleware: message NULL goes on to the next middleware (then the
 * connection handler); otherwise the connection is refused with CONNECT_ERROR
 * {"message":message,"data":data_json} (data_json: JSON text or NULL; both copied).
 * Returns 0; WSIO_EINVAL when data_json is not one valid JSON value (nothing done: the
 * handle stays pending) or when data_json is given without a message; WSIO_ECLOSED
 * when the handle is no longer pending (completed already, client gone, timed out).
 * A socket the client disconnected meanwhile is never used: the call only returns. */
int wsio_sio_next(wsio_sio_pending next, const char *message, const char *data_json);
/* ---- events ---------------------------------------------------------------------- */
typedef struct wsio_sio_args {
  const char *json; /* the arguments as a JSON array ("[]" when none); borrowed */
  size_t json_len;
  const wsio_span *bins; /* binary attachments, placeholders' num indexes this */
  size_t nbins;
} wsio_sio_args;

/* A safe reference to one socket: keep it instead of the pointer. It names the socket
 * by namespace, id and a serial (a recovered socket reuses its id but is another
 * socket), so it never dangles. */
typedef struct wsio_sio_ref {
  wsio_sio_nsp *nsp;
  uint32_t serial;
  char id[21];
} wsio_sio_ref;
wsio_sio_ref wsio_sio_socket_ref(const wsio_sio_socket *s);
/* The socket ref names while it is connected, NULL once it is gone (or ref is NULL). */
wsio_sio_socket *wsio_sio_ref_socket(const wsio_sio_ref *ref);

/* An acknowledgement the client asked for (a value: copy and keep it freely). Answer
 * it once with wsio_sio_ack_send, in the event callback or later. id < 0 means none
 * was asked. An ack kept past its callback costs about 100 bytes until it is answered
 * or the socket disconnects; a socket keeps at most 256 unanswered ones (past that the
 * oldest is forgotten and answering it returns WSIO_EINVAL). */
typedef struct wsio_sio_ack {
  wsio_sio_ref socket;
  int64_t id;
} wsio_sio_ack;

typedef void (*wsio_sio_event_fn)(wsio_sio_socket *s, const char *event, const wsio_sio_args *args,
                                  wsio_sio_ack ack, void *user);

/* Handler for `event` on every socket of the namespace (Node's socket.on in the
 * connection handler). A later registration for the same event replaces the earlier.
 * `event` is the unescaped event name (a numeric name arrives as its number text). */
int wsio_sio_nsp_on(wsio_sio_nsp *nsp, const char *event, wsio_sio_event_fn fn, void *user);
/* Catch-all for events without a handler (Node's socket.onAny, for unhandled events). */
void wsio_sio_nsp_on_any(wsio_sio_nsp *nsp, wsio_sio_event_fn fn, void *user);

/* Answers an acknowledgement with args (JSON array text, NULL = "[]") and binaries.
 * Returns 0; WSIO_EINVAL when no ack was asked, the ack was answered already, args is
 * not a JSON array, or a placeholder names no attachment; WSIO_ECLOSED when the socket
 * is gone (nothing is sent, as Node makes a late ack a no-op); WSIO_ENOMEM. */
int wsio_sio_ack_send(wsio_sio_ack ack, const char *json, size_t len, const wsio_span *bins, size_t nbins);

/* ---- emitting to one socket ------------------------------------------------------ */
/* json: the arguments as a JSON array text ("[1,2]"), NULL or "" for none; len 0 with
 * a non-NULL json means strlen(json) (true of every json/len pair in this header).
 * Every placeholder {"_placeholder":true,"num":N} must have its bins[N].
 * Returns 0, WSIO_EINVAL (NULL socket, reserved event name, malformed JSON, a
 * placeholder without attachment), WSIO_ECLOSED or WSIO_ENOMEM.
 * With connection state recovery on, the event gets an offset as its last argument and
 * is kept for catch-up, as Node does. */
int wsio_sio_emit(wsio_sio_socket *s, const char *event, const char *json, size_t len, const wsio_span *bins,
                  size_t nbins);

/* Result of an emit with acknowledgement: args is NULL when err is WSIO_ETIMEDOUT
 * (no answer within the timeout) or WSIO_ECLOSED (socket gone first: cb runs just
 * before the disconnect callback). timeout_ms 0 waits without a deadline. Ack ids are
 * counted per namespace, as in Node. */
typedef void (*wsio_sio_ack_fn)(wsio_sio_socket *s, const wsio_sio_args *args, int err, void *user);
int wsio_sio_emit_with_ack(wsio_sio_socket *s, const char *event, const char *json, size_t len,
                           const wsio_span *bins, size_t nbins, unsigned timeout_ms, wsio_sio_ack_fn cb,
                           void *user);

/* ---- broadcasting ---------------------------------------------------------------- */
/* Who a broadcast reaches: Node's io.to(rooms).except(rooms), socket.broadcast,
 * socket.to(room) (set except_socket), .volatile, .local. Zero-initialise, then fill. */
typedef struct wsio_sio_target {
  wsio_sio_nsp *nsp;
  const char *const *rooms; /* union of these rooms; none = every socket of nsp */
  size_t nrooms;
  const char *const *except; /* minus the sockets in these rooms */
  size_t nexcept;
  wsio_sio_socket *except_socket; /* minus this socket (socket.broadcast / socket.to) */
  int is_volatile;                /* drop for a client whose transport is not writable now */
  int is_local;                   /* this node only (Node's .local), with a cluster adapter */
} wsio_sio_target;

/* Emits to every socket the target selects; returns how many it selected (>= 0), or
 * WSIO_EINVAL (no target/nsp, bad arguments as for wsio_sio_emit) or WSIO_ENOMEM.
 * The packet is encoded, numbered for recovery and logged at once; its sends are held
 * until the end of the loop iteration (or until anything else is sent to one of those
 * sockets, which keeps each socket's order), so that the iteration's broadcasts to the
 * same sockets go out as one write per socket. A socket whose transport fails meanwhile
 * misses it, as it would have a moment later (connection state recovery, where on,
 * still has it). With the streams adapter and recovery on, this node's sockets get it once Redis gave
 * its offset (as Node awaits it): the call returns 0 and the sends follow. */
int wsio_sio_broadcast(const wsio_sio_target *t, const char *event, const char *json, size_t len,
                       const wsio_span *bins, size_t nbins);

/* Broadcast with acknowledgements: cb runs once, when every reached client answered or
 * after timeout_ms, with the answers collected as a JSON array of each client's first
 * ack argument (Node's io.timeout(ms).emit(..., (err, responses))); err is
 * WSIO_ETIMEDOUT when some did not answer, WSIO_ECLOSED when every client answered
 * but some disconnected first. When no client is reached, cb runs before this returns
 * (with "[]" and 0). timeout_ms 0: no deadline. Returns the number reached, or a
 * negative WSIO_E* as wsio_sio_broadcast (cb then never runs). */
typedef void (*wsio_sio_broadcast_ack_fn)(const char *responses_json, size_t len, int err, void *user);
int wsio_sio_broadcast_with_ack(const wsio_sio_target *t, const char *event, const char *json, size_t len,
                                const wsio_span *bins, size_t nbins, unsigned timeout_ms,
                                wsio_sio_broadcast_ack_fn cb, void *user);
/* The same, with the answers' binary attachments: responses_json holds Socket.IO's
 * placeholders ({"_placeholder":true,"num":i}) where an answer carried a binary, i
 * indexing bins over all the answers (renumbered from each answer's own), from this
 * node and from other nodes through a Redis adapter alike. bins and their bytes are
 * valid during cb only. With --threads (the in-process adapter) answers from other
 * threads come as JSON only: their placeholders may name no entry of bins (i >= nbins). */
typedef void (*wsio_sio_broadcast_ack_bin_fn)(const char *responses_json, size_t len, const wsio_span *bins,
                                              size_t nbins, int err, void *user);
int wsio_sio_broadcast_with_ack_bin(const wsio_sio_target *t, const char *event, const char *json, size_t len,
                                    const wsio_span *bins, size_t nbins, unsigned timeout_ms,
                                    wsio_sio_broadcast_ack_bin_fn cb, void *user);

/* Server-side queries on a selection (Node's fetchSockets, socketsJoin, socketsLeave,
 * disconnectSockets). fetch fills out with up to cap sockets and returns the count
 * selected (may exceed cap), or WSIO_EINVAL / WSIO_ENOMEM. The pointers it returns are
 * valid until those sockets disconnect: keep wsio_sio_refs to use them later. The
 * others return 0, WSIO_EINVAL (no target/nsp, NULL room) or WSIO_ENOMEM. */
long wsio_sio_fetch_sockets(const wsio_sio_target *t, wsio_sio_socket **out, size_t cap); /* this node only */
int wsio_sio_sockets_join(const wsio_sio_target *t, const char *room);
int wsio_sio_sockets_leave(const wsio_sio_target *t, const char *room);
int wsio_sio_disconnect_sockets(const wsio_sio_target *t, int close_transport);

/* ---- every node of a cluster (Node's adapter requests) ---------------------------- */
/* Results of the queries below: JSON text (borrowed for the call) and 0, or WSIO_ETIMEDOUT
 * with what arrived before the request timeout (some node did not answer), or
 * WSIO_ECLOSED (the server is going away). Without a cluster adapter they answer from
 * this node at once (cb runs before the call returns); with one, after every node
 * answered or the adapter's request timeout. Each returns 0 or a negative WSIO_E* (cb
 * then never runs). */
typedef void (*wsio_sio_result_fn)(const char *json, size_t len, int err, void *user);
typedef void (*wsio_sio_count_fn)(long count, int err, void *user);
/* Sockets of t on every node: a JSON array of {"id","handshake","rooms","data"} (Node's
 * RemoteSocket details). t->is_local asks this node only. */
int wsio_sio_fetch_sockets_all(const wsio_sio_target *t, wsio_sio_result_fn cb, void *user);
/* Room names of nsp on every node, each once (socket-id rooms included, as Node). */
int wsio_sio_all_rooms(wsio_sio_nsp *nsp, wsio_sio_result_fn cb, void *user);
/* Nodes serving nsp (1 without a cluster adapter). */
int wsio_sio_server_count(wsio_sio_nsp *nsp, wsio_sio_count_fn cb, void *user);

/* Server-side events (Node's io.serverSideEmit): reach the server-event handler of
 * nsp on every other node, never a client. json: a JSON array of arguments (no
 * binaries: Node sends these as JSON). cb NULL asks no answer; with cb, it gets a JSON
 * array of one answer per other node. */
int wsio_sio_server_side_emit(wsio_sio_nsp *nsp, const char *event, const char *json, size_t len,
                              wsio_sio_result_fn cb, void *user);
/* The answer handle of a server-side event, valid only while its handler runs; NULL
 * when the sender asked no answer. */
typedef struct wsio_sio_reply wsio_sio_reply;
typedef void (*wsio_sio_server_event_fn)(wsio_sio_nsp *nsp, const char *event, const wsio_sio_args *args,
                                         wsio_sio_reply *reply, void *user);
void wsio_sio_nsp_on_server_event(wsio_sio_nsp *nsp, wsio_sio_server_event_fn fn, void *user);
/* Answers with one JSON value (a second answer is ignored). Returns 0 or WSIO_EINVAL. */
int wsio_sio_reply_send(wsio_sio_reply *reply, const char *json_value, size_t len);

/* ---- the Redis adapter (src/adapter) ----------------------------------------------- */
/* Joins a cluster of Socket.IO servers through Redis, wire-compatible with Node's
 * @socket.io/redis-adapter 8.x createAdapter (or, by the options below,
 * createShardedAdapter or @socket.io/redis-streams-adapter): wsio and Node nodes may
 * share one Redis. Two connections (publish, subscribe) on the app's loop; never blocks. Redis
 * down or lost: local work goes on, the adapter reconnects with backoff and subscribes
 * again; cross-node messages published meanwhile are lost (pub/sub keeps nothing). */
/* The sharded adapter's subscriptionMode: "dynamic" (a channel per public room),
 * "static" (the namespace's channel only), "dynamic-private" (a channel per room,
 * socket-id rooms included). */
enum { WSIO_REDIS_SUBSCRIPTION_DYNAMIC = 0, WSIO_REDIS_SUBSCRIPTION_STATIC = 1, WSIO_REDIS_SUBSCRIPTION_DYNAMIC_PRIVATE = 2 };
typedef struct wsio_sio_redis_options {
  const char *host; /* numeric address or "localhost" (resolved without blocking the loop) */
  int port;         /* default 6379 */
  const char *user, *password; /* AUTH when password is set */
  int db;                      /* SELECT (the channels are global: pub/sub ignores it) */
  const char *key_prefix;      /* default "socket.io" (Node's `key`) */
  unsigned request_timeout_ms; /* default 5000 (Node's requestsTimeout) */
  void (*log)(int level, const char *msg, void *user); /* level as wsio_app_options.log */
  void *log_user;
  int sharded; /* 1: Node's createShardedAdapter (SPUBLISH/SSUBSCRIBE, Redis >= 7); 0: createAdapter
                * (classic pub/sub). See docs/cluster.md. */
  int subscription_mode; /* sharded: Node's subscriptionMode, WSIO_REDIS_SUBSCRIPTION_* (default dynamic) */
  /* 1: Node's @socket.io/redis-streams-adapter 0.3.x createAdapter (wins over sharded):
   * broadcasts and room changes through a Redis stream (XADD/XREAD, Redis >= 6.2), the
   * rest through pub/sub; with wsio_sio_options.recovery, connection state recovery
   * across nodes (sessions kept in Redis). Its options, 0/NULL for Node's defaults: */
  int streams;
  const char *stream_name;        /* "socket.io" (Node's streamName) */
  unsigned stream_max_len;        /* 10000: XADD MAXLEN ~ (Node's maxLen) */
  unsigned stream_read_count;     /* 100: XREAD COUNT (Node's readCount) */
  unsigned stream_block_ms;       /* 5000: XREAD BLOCK (Node's blockTimeInMs) */
  const char *session_key_prefix; /* "sio:session:" (Node's sessionKeyPrefix) */
  /* 1: TLS to Redis (rediss://), every connection (a Redis Cluster's masters too). The
   * server's certificate must be signed by tls_ca_file (PEM; NULL: the system's CAs)
   * and name host (a Cluster master: the hostname it announces, else its IP); a
   * connection whose check fails is logged and retried like an unreachable Redis.
   * tls_insecure = 1 turns the check off (encrypted, but anyone on the path may pose
   * as Redis: for tests). */
  int tls;
  const char *tls_ca_file;
  int tls_insecure;
  /* A client certificate for Redis's check of its clients (tls-auth-clients yes, Redis's
   * default with TLS): tls_cert_file a PEM chain (this node's certificate first),
   * tls_key_file its PEM private key, unencrypted; both or neither (NULL: no client
   * certificate). Loaded here: a file that cannot be read, an encrypted key or a key
   * that does not match the certificate make wsio_sio_use_redis fail (WSIO_EINVAL,
   * logged). A connection made later (a reconnection) first checks whether the CA,
   * certificate or key file has changed and, if so, loads them again (a renewed
   * certificate is presented from then on; a file that no longer loads is logged and
   * the one loaded before is kept). As ioredis' tls: {ca, cert, key}. */
  const char *tls_cert_file;
  const char *tls_key_file;
} wsio_sio_redis_options;
void wsio_sio_redis_options_init(wsio_sio_redis_options *o);
/* Call once, before the loop runs (a host name is resolved here). Returns 0
 * (connecting in the background), WSIO_EINVAL (bad options, a host that does not
 * resolve, or a server that has a cluster adapter already) or WSIO_ENOMEM. The adapter
 * lives as long as the server. */
int wsio_sio_use_redis(wsio_sio *io, const wsio_sio_redis_options *o);
typedef struct wsio_sio_redis_stats {
  int attached;   /* 1 when a Redis adapter is in use */
  int up;         /* 1 while both connections are ready and subscribed */
  uint64_t messages_in, messages_out, request_timeouts, reconnects;
  uint64_t messages_dropped; /* not published: Redis away, or 64 MiB unsent to it */
  long nodes;     /* last PUBSUB NUMSUB of the main namespace (0: unknown) */
} wsio_sio_redis_stats;
void wsio_sio_redis_stats_get(const wsio_sio *io, wsio_sio_redis_stats *out);

/* ---- sockets --------------------------------------------------------------------- */
/* The socket id (20 URL-safe characters, NUL-terminated, borrowed); also the name of
 * the room every socket is in. */
const char *wsio_sio_socket_id(const wsio_sio_socket *s);
/* The connected socket with this id in nsp (Node's nsp.sockets.get(id)), or NULL. */
wsio_sio_socket *wsio_sio_nsp_socket(wsio_sio_nsp *nsp, const char *id);
wsio_sio_nsp *wsio_sio_socket_nsp(const wsio_sio_socket *s);
/* The CONNECT payload (Node's socket.handshake.auth) as JSON text, "{}" when none. */
const char *wsio_sio_socket_auth(const wsio_sio_socket *s, size_t *len);
/* The handshake's query string (borrowed, "" when none). */
const char *wsio_sio_socket_query(const wsio_sio_socket *s);
/* The handshake's Authorization header value (borrowed), NULL when it had none: the
 * Engine.IO handshake's request (the first long-polling GET, or the WebSocket upgrade
 * of a websocket-only client). The only header kept after the handshake. */
const char *wsio_sio_socket_authorization(const wsio_sio_socket *s);
/* Mutual TLS (wsio_app_options.tls_client_ca_file): the subject of the client
 * certificate verified on the Engine.IO handshake's connection, as
 * wsio_request_tls_peer writes it ("CN=device-7,OU=sensors,O=Acme"; borrowed), NULL
 * when it had none. Readable in middlewares, so a namespace can admit by certificate
 * (Node: socket.request.socket.getPeerCertificate()). */
const char *wsio_sio_socket_tls_peer(const wsio_sio_socket *s);
const char *wsio_sio_socket_transport(const wsio_sio_socket *s);
/* Writes the peer address as text into buf, as wsio_request_remote_address: its
 * length, WSIO_EINVAL, WSIO_ETOOBIG (WSIO_ADDRSTRLEN suffices) or WSIO_ECLOSED (gone). */
int wsio_sio_socket_remote_address(const wsio_sio_socket *s, char *buf, size_t cap);
/* 1 when this connection restored a previous session (connection state recovery). */
int wsio_sio_socket_recovered(const wsio_sio_socket *s);
/* Node's socket.data, as JSON text: set_data copies it (NULL clears; WSIO_EINVAL when
 * not one JSON value); data returns it borrowed ("{}" when unset). It survives a
 * recovered disconnection, like the rooms. */
int wsio_sio_socket_set_data(wsio_sio_socket *s, const char *json, size_t len);
const char *wsio_sio_socket_data(const wsio_sio_socket *s, size_t *len);

int wsio_sio_socket_join(wsio_sio_socket *s, const char *room);
int wsio_sio_socket_leave(wsio_sio_socket *s, const char *room);
int wsio_sio_socket_in_room(const wsio_sio_socket *s, const char *room);
/* Calls fn for each room the socket is in (its own id room first); fn must not join
 * or leave. */
void wsio_sio_socket_rooms(const wsio_sio_socket *s, void (*fn)(const char *room, void *user), void *user);

/* Leaves the namespace ("server namespace disconnect", DISCONNECT sent); with
 * close_transport every socket of the client leaves its namespace that way (Node's
 * client._disconnect()), then the Engine.IO session is closed. */
void wsio_sio_socket_disconnect(wsio_sio_socket *s, int close_transport);

void wsio_sio_socket_set_user(wsio_sio_socket *s, void *user);
void *wsio_sio_socket_user(const wsio_sio_socket *s);

/* Counters of a Socket.IO server (all namespaces). */
typedef struct wsio_sio_stats {
  uint64_t sockets;              /* connected now */
  uint64_t rooms;                /* rooms now, socket-id rooms excluded */
  uint64_t namespaces;
  uint64_t connections_total;    /* sockets ever connected (recovered ones included) */
  uint64_t recovered_total;      /* connections that restored a session */
  uint64_t connect_errors_total; /* CONNECT_ERRORs sent (bad namespace, middleware) */
  uint64_t broadcasts_total;     /* emits to selections (wsio_sio_broadcast and the like) */
  uint64_t deliveries_total;     /* packets handed to a client by those broadcasts */
  uint64_t volatile_drops_total; /* volatile packets dropped for a busy transport */
  uint64_t recovery_too_large_total; /* recoveries refused: the missed packets would not
                                        fit the send buffer (the client got a new session) */
} wsio_sio_stats;
/* Named like wsio_app_stats and wsio_eio_server_stats. */
void wsio_sio_server_stats(const wsio_sio *io, wsio_sio_stats *out);

size_t wsio_sio_nsp_num_sockets(const wsio_sio_nsp *nsp);
size_t wsio_sio_nsp_num_rooms(const wsio_sio_nsp *nsp); /* excluding socket-id rooms */

#ifdef __cplusplus
}
#endif
#endif
