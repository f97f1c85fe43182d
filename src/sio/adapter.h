/* sio/adapter.h — the adapter interface of a Socket.IO server (Node's socket.io-adapter
 * Adapter): every room operation, broadcast and server-side query of src/sio goes
 * through the server's adapter, so that something other than this process's memory can
 * take part: a cluster adapter (src/adapter, Redis) that also tells other nodes, and
 * later a --threads mode that reaches rooms owned by other threads.
 *
 * Owns the vtable and the local (in-memory) implementation's entry points; the local
 * adapter is the default and needs nothing (no Redis). A cluster adapter embeds
 * sio_adapter as its first member, does its remote part, and calls the sio_local_*
 * functions for this node's part (as Node's RedisAdapter calls super.broadcast).
 * Deliveries that arrive from other nodes call sio_local_* directly, never the ops
 * (a remote broadcast must not be published again).
 *
 * Cost: one indirect call per operation (per broadcast, per join), never one per
 * recipient: the local broadcast path is the selection and send loop of emit.c.
 * Everything runs on the server's loop thread. */
#ifndef WSIO_SIO_ADAPTER_H
#define WSIO_SIO_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "loop/loop.h"
#include "wsio.h"

/* An event as the application emits it: name, JSON array of arguments (checked already,
 * never "" or NULL), attachments for its placeholders. Borrowed for the call. */
typedef struct sio_event {
  const char *name;
  const char *json;
  size_t len;
  const wsio_span *bins;
  size_t nbins;
  /* Recovery kept by the cluster (the ops persist_session/restore_session): the
   * cluster's offset of this broadcast (a stream entry's id), appended as the last
   * argument as Node's addOffsetIfNecessary does; NULL: none. Ignored otherwise. */
  const char *offset;
  /* 1: this thread's delivery of a broadcast another thread of the group (--threads)
   * emitted, and counted there: not counted again in wsio_broadcasts_total. */
  int delivery;
} sio_event;

/* A disconnected socket's session as a cluster keeps it (Node's Session): the socket's
 * rooms (its id room included, as Node's [...socket.rooms]) and socket.data as JSON text
 * (NULL: {}). Borrowed for the call. */
typedef struct sio_session_state {
  const char *sid, *pid;
  const char *const *rooms;
  size_t nrooms;
  const char *data;
  size_t data_len;
} sio_session_state;

/* What a cluster found for a reconnecting client: its session and the packets it
 * missed (Node's session.missedPackets: EVENTs its rooms selected, each with .offset
 * set). Borrowed for the call; NULL when nothing was found (a new session follows). */
typedef struct sio_restored {
  sio_session_state st;
  const sio_event *missed;
  size_t nmissed;
} sio_restored;
typedef void (*sio_restore_fn)(const sio_restored *r, void *arg);

typedef struct sio_adapter sio_adapter;

typedef struct sio_adapter_ops {
  /* Rooms of one local socket (Node's addAll, del, delAll). room lengths are strlen. */
  int (*add_all)(sio_adapter *a, wsio_sio_socket *s, const char *const *rooms, size_t n);
  void (*del)(sio_adapter *a, wsio_sio_socket *s, const char *room);
  void (*del_all)(sio_adapter *a, wsio_sio_socket *s);
  /* Broadcasts: returns the number of local sockets reached or a negative WSIO_E*. */
  int (*broadcast)(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev);
  /* cb runs once with every node's answers (see wsio_sio_broadcast_with_ack). */
  int (*broadcast_with_ack)(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                            wsio_sio_broadcast_ack_fn cb, void *user);
  /* The same with the answers' attachments (wsio_sio_broadcast_with_ack_bin). Optional:
   * NULL, broadcast_with_ack serves it and the answers come without attachments. */
  int (*broadcast_with_ack_bin)(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev,
                                unsigned timeout_ms, wsio_sio_broadcast_ack_bin_fn cb, void *user);
  /* Selections on every node (Node's addSockets, delSockets, disconnectSockets). */
  int (*add_sockets)(sio_adapter *a, const wsio_sio_target *t, const char *room, int join);
  int (*disconnect_sockets)(sio_adapter *a, const wsio_sio_target *t, int close_transport);
  /* Queries answered by every node; cb may run before the call returns. */
  int (*fetch_sockets)(sio_adapter *a, const wsio_sio_target *t, wsio_sio_result_fn cb, void *user);
  int (*all_rooms)(sio_adapter *a, wsio_sio_nsp *nsp, wsio_sio_result_fn cb, void *user);
  int (*server_count)(sio_adapter *a, wsio_sio_nsp *nsp, wsio_sio_count_fn cb, void *user);
  /* To the other nodes' server-event handlers; cb NULL asks no answer. */
  int (*server_side_emit)(sio_adapter *a, wsio_sio_nsp *nsp, const sio_event *ev, wsio_sio_result_fn cb,
                          void *user);
  /* Connection state recovery kept by the cluster (Node's persistSession and
   * restoreSession; the streams adapter keeps sessions in Redis, so a client may come
   * back on any node). Both NULL: sio's own, in this process (recovery.c). With them,
   * sio keeps no packet log: a broadcast's offset is the adapter's (sio_event.offset),
   * and socket.emit goes through ops->broadcast to the socket's id room as in Node.
   * persist_session keeps st for ttl_ms. restore_session calls done exactly once,
   * later or before it returns, with what it found or NULL; it returns 0 (done will
   * run or ran) or a negative WSIO_E* (done will not run). */
  void (*persist_session)(sio_adapter *a, wsio_sio_nsp *nsp, const sio_session_state *st, unsigned ttl_ms);
  int (*restore_session)(sio_adapter *a, wsio_sio_nsp *nsp, const char *pid, const char *offset, sio_restore_fn done,
                         void *arg);
  /* A namespace was created (Node makes one adapter per namespace; a cluster adapter
   * subscribes to its channels here). May be NULL. */
  void (*nsp_created)(sio_adapter *a, wsio_sio_nsp *nsp);
  /* A socket joined its namespace: its id room exists now (Node's addAll(id, {id}));
   * the room goes with del_all. May be NULL. */
  void (*connected)(sio_adapter *a, wsio_sio_socket *s);
  /* The server is going away (its sockets are closed already). */
  void (*destroy)(sio_adapter *a);
} sio_adapter_ops;

struct sio_adapter {
  const sio_adapter_ops *ops;
};

/* The in-memory adapter every server starts with. */
extern sio_adapter sio_local_adapter;

/* Installs a (cluster) adapter: a server has one; the previous one is destroyed.
 * NULL restores the local one. */
void sio_adapter_set(wsio_sio *io, sio_adapter *a);
sio_adapter *sio_adapter_get(const wsio_sio *io);
loop *sio_server_loop(const wsio_sio *io);
wsio_app *sio_server_app(const wsio_sio *io);
/* Connection state recovery's maxDisconnectionDuration; 0 when recovery is off. */
unsigned sio_server_recovery_ms(const wsio_sio *io);
/* The server's namespaces: start with *it = 0; NULL after the last. */
wsio_sio_nsp *sio_nsp_iter(const wsio_sio *io, uint32_t *it);
wsio_sio_nsp *sio_nsp_find(const wsio_sio *io, const char *name, size_t len);
/* Whether a local socket is in room (a socket's own id counts). */
int sio_nsp_has_room(wsio_sio_nsp *nsp, const char *room, size_t len);

/* ---- the local implementation (this node only) ------------------------------------ */
int sio_local_add_all(wsio_sio_socket *s, const char *const *rooms, size_t n);
void sio_local_del(wsio_sio_socket *s, const char *room);
void sio_local_del_all(wsio_sio_socket *s);
int sio_local_broadcast(const wsio_sio_target *t, const sio_event *ev);
int sio_local_broadcast_with_ack(const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                                 wsio_sio_broadcast_ack_fn cb, void *user);
/* The same, and each(answer, len, bins, nbins, each_arg) for every client's answer as it
 * arrives (bins: the answer's attachments, which its placeholders index)
 * (its first argument as JSON text; Node's per-client ack callback). */
typedef void (*sio_ack_each_fn)(const char *json, size_t len, const wsio_span *bins, size_t nbins, void *arg);
/* Broadcast-with-ack answers carrying binaries, for the adapters that collect them
 * (sio/emit.c for this node, the Redis and threads adapters for the others): each answer
 * numbers its placeholders from 0; sio_placeholders_rebase adds base to every
 * {"_placeholder":true,"num":i} in v (returns v), sio_spans_keep appends copies of
 * bins to the growable array *v (*n used, *cap allocated). 0 or WSIO_ENOMEM (the copies
 * made stay in the array). */
struct json_t;
struct json_t *sio_placeholders_rebase(struct json_t *v, size_t base);
int sio_spans_keep(wsio_span **v, size_t *n, size_t *cap, const wsio_span *bins, size_t nbins);
int sio_local_broadcast_with_ack_each(const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                                      wsio_sio_broadcast_ack_fn cb, void *user, sio_ack_each_fn each,
                                      void *each_arg);
/* The same as sio_local_broadcast_with_ack with the answers' attachments. */
int sio_local_broadcast_with_ack_bin(const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                                     wsio_sio_broadcast_ack_bin_fn cb, void *user);
int sio_local_add_sockets(const wsio_sio_target *t, const char *room, int join);
int sio_local_disconnect_sockets(const wsio_sio_target *t, int close_transport);
/* This node's sockets of t as a JSON array of Node's fetchSockets answers ({"id",
 * "handshake","rooms","data"}), and this node's room names of nsp as a JSON array of
 * strings (socket-id rooms included, as Node's adapter.rooms keys). Malloc'd text
 * (the caller frees it) with its length in *len, or NULL (out of memory). */
char *sio_local_fetch_text(const wsio_sio_target *t, size_t *len);
char *sio_local_rooms_text(wsio_sio_nsp *nsp, size_t *len);
/* Runs the namespace's server-event handler (Node's nsp.on from serverSideEmit);
 * answer receives the reply when the handler answers (NULL when none is asked). */
typedef void (*sio_server_reply_fn)(const char *json, size_t len, void *arg);
void sio_local_server_event(wsio_sio_nsp *nsp, const sio_event *ev, sio_server_reply_fn answer, void *arg);

#endif
