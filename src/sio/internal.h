/* sio/internal.h — the Socket.IO server's structures, shared by the src/sio files.
 *
 * Files: server.c (attach, Engine.IO callbacks, packet dispatch, connect/disconnect,
 * the connect-timeout timer, deferred frees), nsp.c (namespaces, handlers, middleware,
 * socket accessors), rooms.c (the room index), emit.c (packet encoding, emit, acks
 * both ways, broadcasts and selections), recovery.c (connection state recovery),
 * middleware.c (the middleware chain, which may complete later).
 *
 * Time: every deadline is a loop timer (src/loop/loop.h), the library's one timer
 * facility. An awaited ack, a broadcast-with-ack group and a pending middleware each
 * embed their own (they exist only while waiting, so an idle client pays nothing).
 * The connect timeout and recovery expiry use one timer each over a list that is
 * already in deadline order (every client gets the same connect timeout; sessions and
 * log entries expire in the order they were made), so a per-client timer would only
 * add 24 bytes to every idle client.
 *
 * Handles a user may keep: a wsio_sio_ack and a wsio_sio_next name their socket by
 * namespace, id and serial (never by pointer), and are resolved through the
 * namespace's tables when used, so a late use finds nothing and returns WSIO_ECLOSED.
 *
 * Memory shape: an idle client costs one sio_client (per Engine.IO session) plus one
 * wsio_sio_socket per joined namespace and a slot in that namespace's id table. The
 * socket's own id room is not a room object: `to(id)` resolves through the id table.
 * Handler lists live in the namespace, never in the socket.
 *
 * Lifetimes: sockets and clients are never freed while a call may still hold them;
 * they go to a grave list freed from the app's post phase (after every batch of
 * events), so a callback that closes a session in the middle of a broadcast or a
 * dispatch cannot leave a dangling pointer behind. */
#ifndef WSIO_SIO_INTERNAL_H
#define WSIO_SIO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "eio/eio.h"
#include "loop/loop.h"
#include "sio/adapter.h"
#include "sio/packet.h"
#include "util/idmap.h"
#include "util/map.h"
#include "util/random.h"
#include "wsio.h"

#define SIO_ID_LEN RANDOM_ID_LEN /* socket ids and recovery pids: 15 random bytes, base64url */
#define SIO_MAX_OWED_ACKS 256   /* acks kept unanswered per socket (sio_ack_end) */

/* ---- a growable byte buffer (packet encoding) ------------------------------------ */
typedef struct sbuf {
  char *p;
  size_t n, cap;
  char *stack; /* the caller's first storage (sbuf_on_stack): copied out, never freed */
} sbuf;

/* Starts b in the caller's mem (cap bytes): a packet that fits costs no malloc/free
 * (one pair per emit was ~3 % of a long-polling echo round trip); a bigger one moves to
 * the heap as usual. sbuf_free stays the one way to end it. */
static inline void sbuf_on_stack(sbuf *b, char *mem, size_t cap) {
  b->p = b->stack = mem;
  b->n = 0;
  b->cap = cap;
}

int sbuf_reserve(sbuf *b, size_t more);
int sbuf_put(sbuf *b, const void *p, size_t n);
int sbuf_puts(sbuf *b, const char *s);
int sbuf_put_json_string(sbuf *b, const char *s, size_t n); /* quoted and escaped */
static inline void sbuf_free(sbuf *b) {
  if (b->p != b->stack) free(b->p);
  b->p = b->stack = NULL;
  b->n = b->cap = 0;
}

/* ---- acknowledgements the server waits for --------------------------------------- */
typedef struct sio_ack_group sio_ack_group;

/* One ack record of a socket, in its `acks` list. Either an ACK the server awaits from
 * the client (a plain emit_with_ack with cb/user and an optional deadline, or one
 * member of a broadcast with ack: group), or, with `owed` set, an ack the client asked
 * for that the application kept past its event callback and has not answered yet
 * (what makes a second answer, or one after disconnection, an error). */
typedef struct sio_ack_wait {
  struct sio_ack_wait *next; /* in the socket's list */
  struct sio_ack_wait *gprev, *gnext; /* in the group's list */
  wsio_sio_socket *s;
  sio_ack_group *group;
  wsio_sio_ack_fn cb;
  void *user;
  int64_t id;
  uint8_t owed;
  loop_timer timer; /* the deadline, when there is one (plain waits only) */
} sio_ack_wait;

struct sio_ack_group {
  wsio_sio *io;
  sio_ack_wait *members;
  wsio_sio_broadcast_ack_fn cb;
  wsio_sio_broadcast_ack_bin_fn bcb; /* instead of cb: the answers' attachments too */
  struct sio_ack_bins *bins;         /* bcb: the attachments kept so far (emit.c) */
  void *user;
  sbuf responses; /* "[a,b" while collecting */
  sio_ack_each_fn each; /* every answer as it arrives (a cluster adapter), or NULL */
  void *each_arg;
  uint32_t expected, received, lost;
  uint8_t building;
  loop_timer timer;
};

/* ---- rooms ---------------------------------------------------------------------- */
typedef struct sio_member {
  wsio_sio_socket *s;
  uint32_t slot; /* index in s->rooms */
} sio_member;

typedef struct sio_room {
  sio_member *m;
  uint32_t n, cap;
  uint32_t name_len;
  char name[]; /* NUL-terminated; the key in nsp->rooms */
} sio_room;

typedef struct sio_sock_room {
  sio_room *r;
  uint32_t idx; /* index in r->m */
} sio_sock_room;

/* ---- clients, sockets, namespaces ------------------------------------------------ */
typedef struct sio_partial sio_partial; /* a binary packet waiting for attachments */
typedef struct sio_pending sio_pending; /* a CONNECT in its middlewares (middleware.c) */

enum {
  CLIENT_WAITING = 1 << 0, /* in the connect-timeout list */
  CLIENT_CLOSED = 1 << 1,  /* the Engine.IO session is gone */
  CLIENT_TLS_PEER = 1 << 2, /* text holds the handshake's TLS client subject, last */
};

/* One per Engine.IO session (Node's Client). The handshake's strings are kept inline,
 * in the same allocation (one malloc chunk per idle client, not three), and what the
 * session knows is not repeated (the server: sio_client_io), so an idle client with a
 * 25-byte query fits an 88-byte allocation (docs/capacity.md). */
typedef struct sio_client {
  wsio_eio_session *es; /* valid until the client is closed (CLIENT_CLOSED) */
  wsio_sio_socket *sockets; /* one per joined namespace, linked by cnext */
  sio_pending *pending;     /* CONNECTs whose middlewares have not finished */
  sio_partial *partial;
  struct sio_client *tnext, *tprev; /* connect-timeout list; tnext is the grave link */
  uint64_t connect_due;
  uint32_t auth_off;        /* the Authorization header at text + auth_off; 0: none */
  uint8_t flags;
  /* The handshake's query string ("" when none), NUL, then the header and (with
   * CLIENT_TLS_PEER) the verified client certificate's subject, each NUL-terminated:
   * a flag, not an offset, so clients without mutual TLS pay nothing for it. */
  char text[];
} sio_client;

enum {
  SOCK_PRE = 0,       /* created, middlewares running */
  SOCK_CONNECTED = 1, /* in nsp->sockets */
  SOCK_GONE = 2,      /* disconnected; in the grave */
};

/* What only some sockets have: a CONNECT payload, a recovery id, socket.data, acks
 * awaited or owed. An idle client that sent "40" has none of them, so its socket
 * carries one NULL pointer for all (an 88-byte socket, a 96-byte malloc chunk instead
 * of 128: docs/capacity.md). */
typedef struct sio_sock_extra {
  sio_ack_wait *acks; /* ACKs awaited from the client, and acks owed to it */
  char *auth; /* CONNECT payload, NULL for "{}" */
  char *data; /* Node's socket.data as JSON text, NULL for "{}" */
  uint32_t auth_len, data_len;
  uint32_t nmissed; /* recovered through the cluster adapter: packets to send at connect */
  void **missed;
  char pid[SIO_ID_LEN + 1]; /* recovery private id, "" when recovery is off */
} sio_sock_extra;

struct wsio_sio_socket {
  sio_client *client;
  wsio_sio_nsp *nsp;
  wsio_sio_socket *cnext; /* next socket of the client; the grave link once gone */
  sio_sock_room *rooms;   /* joined rooms (not the id room) */
  sio_sock_extra *x;      /* NULL until one of its fields is needed (sio_socket_extra) */
  void *user;
  uint32_t nrooms, rooms_cap;
  uint32_t mark;   /* selection epoch: visited in the current selection */
  uint32_t serial; /* which socket of this id (a recovered one reuses the id) */
  uint8_t state;
  uint8_t recovered;
  char id[SIO_ID_LEN + 1];
};

/* s->x, allocated when absent; NULL when out of memory. */
sio_sock_extra *sio_socket_extra(wsio_sio_socket *s);
/* The recovery private id, or NULL (recovery off). */
/* The head of the socket's ack list (NULL when there is none). */
static inline sio_ack_wait *sio_socket_acks(const wsio_sio_socket *s) { return s->x ? s->x->acks : NULL; }
static inline const char *sio_socket_pid(const wsio_sio_socket *s) { return s->x && s->x->pid[0] ? s->x->pid : NULL; }

typedef struct sio_handler {
  wsio_sio_event_fn fn;
  void *user;
  size_t name_len;
  char name[];
} sio_handler;

typedef struct sio_middleware {
  wsio_sio_middleware_fn fn;
  void *user;
} sio_middleware;

/* The inline ack: an ack handed to an event callback is answered there in the common
 * case; it is tracked here (no allocation) and only becomes an `owed` record when the
 * callback returns without answering. */
typedef struct sio_inline_ack {
  wsio_sio_socket *s;
  int64_t id;
  uint8_t answered;
} sio_inline_ack;

typedef struct sio_log sio_log; /* recovery: packets kept for catch-up */

struct wsio_sio_nsp {
  wsio_sio *io;
  char *name;
  size_t name_len;
  id_map sockets;   /* id -> connected socket (keyed by its id) */
  str_map rooms;    /* name -> sio_room */
  str_map handlers; /* event name -> sio_handler */
  sio_middleware *mw;
  size_t nmw;
  wsio_sio_connection_fn on_connection;
  void *connection_user;
  wsio_sio_disconnect_fn on_disconnect;
  void *disconnect_user;
  wsio_sio_event_fn on_any;
  void *any_user;
  wsio_sio_server_event_fn on_server_event; /* serverSideEmit from other nodes */
  void *server_event_user;
  int64_t next_ack_id; /* Node's nsp._ids: ack ids are per namespace */
  sio_log *log;
};

typedef struct sio_session sio_session; /* recovery: a disconnected socket's state */

/* Broadcasts of this iteration held back to be sent together (emit.c): consecutive
 * broadcasts that select the very same sockets, in the same order, share one batch; each
 * recipient is written the batch once, from the post phase (or before anything else
 * this server sends: eio_hold), as a topic's subscribers are (core/pubsub.c). */
typedef struct sio_held {
  eio_prepared p;         /* the batch's packets, framed for both transports */
  wsio_sio_socket **v;    /* its recipients, as the first broadcast selected them */
  size_t n, cap;
  uint32_t nmsgs;         /* broadcasts in it (deliveries per recipient) */
  uint8_t active;
  /* The target that selected v, while no socket joined, left, connected or went since
   * (sel_gen): the same target again selects the same sockets without a new walk. */
  uint8_t keyed;
  uint64_t gen;
  const wsio_sio_nsp *nsp;
  const wsio_sio_socket *except_socket;
  size_t nrooms, nexcept, names_len;
  char names[256]; /* the rooms, then the except rooms, each with its NUL */
} sio_held;

struct wsio_sio {
  wsio_app *app;
  /* sio_client_close: the client whose session it is closing, and why (eio_close
   * reports that reason rather than Engine.IO's). */
  struct sio_client *closing;
  const char *closing_reason;
  loop *loop;
  sio_adapter *adapter; /* &sio_local_adapter unless a cluster adapter is installed */
  wsio_eio_server *eio;
  wsio_sio_options o;
  str_map nsps;
  int (*dyn_accept)(wsio_sio *io, const char *name, void *user);
  void (*dyn_created)(wsio_sio_nsp *nsp, void *user);
  void *dyn_user;
  struct sio_middleware *mw; /* wsio_sio_use: run before every namespace's own */
  size_t nmw;
  loop_timer connect_timer; /* the head of the waiting list's deadline */
  loop_timer recovery_timer; /* every second while sessions or logged packets exist */
  sio_client *waiting_head, *waiting_tail; /* connect-timeout order = deadline order */
  str_map pending;          /* token (8 bytes) -> sio_pending */
  uint64_t next_token;      /* pending CONNECT tokens, never reused */
  uint32_t next_serial;     /* socket serials */
  sio_inline_ack inline_ack; /* the ack of the event callback now running */
  /* The args of the event callback now running (NULL: none), already validated: see
   * emit.c's check_args. */
  const char *cb_args;
  size_t cb_args_len;
  uint32_t epoch; /* selection marks */
  sio_client *grave_clients;
  wsio_sio_socket *grave_sockets;
  /* recovery */
  str_map sessions; /* pid -> sio_session */
  sio_session *sess_head, *sess_tail; /* disconnection order = expiry order */
  uint64_t next_offset;
  wsio_sio_stats st; /* sockets, rooms and namespaces are counted on demand */
  sio_held held;
  uint64_t sel_gen;   /* moves whenever a selection could change (sio_sel_changed) */
  uint64_t post_iter; /* the loop iteration whose post hook ran last (loop_iteration) */
};

/* ---- server.c -------------------------------------------------------------------- */
/* The client's server, through its Engine.IO session (open clients only). */
static inline wsio_sio *sio_client_io(const sio_client *c) { return eio_server_user(wsio_eio_session_server(c->es)); }
static inline uint64_t sio_now(const wsio_sio *io) { return loop_now_ms(io->loop); }
/* Removes a socket from everything and runs the disconnect callback (reason is
 * Node's); the caller sends any DISCONNECT packet first. */
void sio_socket_close(wsio_sio_socket *s, const char *reason);
/* Closes the client's Engine.IO session; its sockets get `reason`. */
void sio_client_close(sio_client *c, const char *reason);
static inline int sio_socket_live(const wsio_sio_socket *s) {
  return s->state != SOCK_GONE && !(s->client->flags & CLIENT_CLOSED);
}

/* ---- nsp.c ----------------------------------------------------------------------- */
wsio_sio_nsp *sio_nsp_create(wsio_sio *io, const char *name, size_t len);
void sio_nsp_free(wsio_sio_nsp *nsp);
const sio_handler *sio_nsp_handler(const wsio_sio_nsp *nsp, const char *name, size_t len);

/* ---- rooms.c --------------------------------------------------------------------- */
int sio_room_join(wsio_sio_socket *s, const char *room, size_t len);
int sio_room_leave(wsio_sio_socket *s, const char *room, size_t len);
void sio_room_leave_all(wsio_sio_socket *s);
int sio_room_has(const wsio_sio_socket *s, const char *room, size_t len);
/* Selection (Node's adapter.apply): connected sockets of t->nsp in any of t->rooms
 * (all when nrooms is 0), minus those in except rooms and except_socket, each once.
 * Runs no callback. sel is always initialised: free it with sio_selection_free.
 * Returns 0, WSIO_EINVAL (no nsp) or WSIO_ENOMEM. */
typedef struct sio_selection {
  wsio_sio_socket **v;
  size_t n, cap;
  wsio_sio_socket *small[32]; /* v points here until more are needed */
} sio_selection;
int sio_select(const wsio_sio_target *t, sio_selection *sel);
static inline void sio_selection_free(sio_selection *sel) {
  if (sel->v != sel->small) free(sel->v);
}

/* A socket joined or left a room, connected or left its namespace: a held batch's
 * selection is no longer that of its target (emit.c). */
static inline void sio_sel_changed(wsio_sio *io) { io->sel_gen++; }

/* ---- emit.c ---------------------------------------------------------------------- */
/* Sends the held broadcasts (if any) now; sio_held_free drops them (teardown). */
void sio_held_flush(wsio_sio *io);
void sio_held_release(void *io);
void sio_held_free(wsio_sio *io);
/* Encodes an EVENT: head + ["<event>",<args...>[,"<offset>"]]. */
int sio_encode_event(sbuf *b, const wsio_sio_nsp *nsp, const char *event, const char *json, size_t len,
                     size_t nbins, int64_t ack_id, const char *offset);
/* Checks emit arguments: not a reserved name, args a JSON array, placeholders in
 * range. Normalizes (json, len) ("[]" when none). Returns 0 or WSIO_EINVAL. */
/* io may be NULL; see emit.c's check_args for what it saves. */
int sio_check_emit(const wsio_sio *io, const char *event, const char **json, size_t *len, const wsio_span *bins,
                   size_t nbins);
/* Sends text + attachments to one socket (not prepared: one recipient). */
int sio_send_packet(wsio_sio_socket *s, const char *text, size_t len, const wsio_span *bins, size_t nbins);
/* An ACK/BINARY_ACK from the client. */
void sio_on_ack(wsio_sio_socket *s, int64_t id, const wsio_sio_args *args);
/* Fails (WSIO_ECLOSED) every ack the socket still awaits; forgets the owed ones. */
void sio_acks_fail(wsio_sio_socket *s);
/* Around an event callback: the inline ack, then an owed record when it was kept. */
void sio_ack_begin(wsio_sio_socket *s, int64_t id);
void sio_ack_end(wsio_sio_socket *s);
/* The ack handle of an event: the socket's ref only when an ack was asked (the common
 * event without one costs no copy of the id: this runs for every event). */
static inline void sio_ack_handle(wsio_sio_ack *a, const wsio_sio_socket *s, int64_t id) {
  a->id = id;
  if (id >= 0) {
    a->socket = wsio_sio_socket_ref(s);
    return;
  }
  a->socket.nsp = NULL;
  a->socket.serial = 0;
  a->socket.id[0] = '\0';
}
/* The live, connected socket (nsp, id, serial) names, or NULL. */
wsio_sio_socket *sio_socket_find(wsio_sio_nsp *nsp, const char *id, uint32_t serial);

/* ---- recovery.c ------------------------------------------------------------------ */
/* Records a broadcast EVENT for catch-up and writes its offset (NUL-terminated) into
 * offset[24]. Called before encoding (the offset is part of the packet). */
uint64_t sio_log_next_offset(wsio_sio *io, char offset[24]);
int sio_log_append(wsio_sio_nsp *nsp, uint64_t offset_num, const wsio_sio_target *t, const char *text,
                   size_t len, const wsio_span *bins, size_t nbins);
void sio_log_free(sio_log *log);
/* Keeps the socket's state for a later CONNECT with its pid. */
void sio_session_persist(wsio_sio_socket *s);
/* From a CONNECT's auth object: a known, unexpired pid with a still-logged offset.
 * On success fills the socket's id/pid, joins its rooms, sets recovered, and returns
 * the missed packets' count through sending them later with sio_session_replay. */
typedef struct sio_restore {
  sio_session *sess;
  uint64_t offset;
} sio_restore;
int sio_session_find(wsio_sio_nsp *nsp, const char *auth, size_t auth_len, sio_restore *out);
int sio_session_apply(wsio_sio_socket *s, const sio_restore *r);
void sio_session_replay(wsio_sio_socket *s, uint64_t after_offset);
void sio_session_drop(wsio_sio *io, sio_session *sess);
/* The same, kept by the cluster adapter (its persist_session/restore_session ops):
 * persist hands the socket's session to it; auth reads a CONNECT's pid and offset;
 * adopt takes what the adapter found (id, pid, rooms, data, and the missed packets,
 * sent by missed_flush(s, 1) at the connect, or freed by missed_flush(s, 0)). */
void sio_session_persist_cluster(wsio_sio_socket *s);
int sio_session_auth(const char *auth, size_t auth_len, char pid[SIO_ID_LEN + 1], char offset[64]);
int sio_session_adopt(wsio_sio_socket *s, const sio_restored *r);
void sio_session_missed_flush(wsio_sio_socket *s, int send);
void sio_recovery_housekeeping(wsio_sio *io);
/* Keeps the recovery timer running while sessions or logged packets exist. */
void sio_recovery_arm(wsio_sio *io);
void sio_recovery_timer_cb(loop_timer *t);
void sio_recovery_free(wsio_sio *io);

/* ---- middleware.c ---------------------------------------------------------------- */
/* Runs the namespace's middlewares for a new socket (s->state SOCK_PRE), then
 * finishes the CONNECT (sio_connect_finish) or refuses it, now or when the last
 * middleware completes. recovered: the session was restored (restore is its state). */
void sio_middlewares_start(wsio_sio_socket *s, int recovered, uint64_t restore_offset);
/* Forgets the client's pending CONNECTs (the client is closing). */
void sio_pending_drop_client(sio_client *c);
/* A CONNECT waiting for its session from elsewhere (the cluster adapter's restore, or
 * another thread: sio/threads.c): held as a waiting middleware (the client's close or
 * the middleware timeout discards it); hold returns its token (0: out of memory, the
 * CONNECT goes on without waiting), release the socket again (NULL: it is gone). */
uint64_t sio_pending_hold(wsio_sio_socket *s);
wsio_sio_socket *sio_pending_release(wsio_sio *io, uint64_t token);
/* server.c: the connect-timeout list (a client waiting to join a namespace). */
void sio_client_unwait(sio_client *c);
/* server.c: accepts the socket into its namespace, or refuses (returns < 0). */
int sio_connect_finish(wsio_sio_socket *s, int recovered, uint64_t restore_offset);
void sio_connect_refuse(wsio_sio_socket *s, const char *message, const char *data_json);
void sio_socket_discard(wsio_sio_socket *s);

/* ---- the top-level JSON object lookup the recovery path needs -------------------- */
/* Finds the top-level key `key` in the JSON object p[0..n); returns its value token
 * (pointer and length) or NULL. */
const char *sio_json_object_get(const char *p, size_t n, const char *key, size_t *vlen);

/* threads.c: with --threads (the app is in a group), the in-process adapter spans the
 * threads' servers. 0 (also alone: nothing to do) or WSIO_ENOMEM. */
int sio_threads_install(wsio_sio *io);
/* A CONNECT whose recovery pid names another thread: asks that thread for the session
 * and holds the CONNECT until it answers. 1 when it did (or refused the socket), 0 to
 * go on here. */
int sio_threads_recover(wsio_sio_socket *s);
/* (A session on another thread is waited for with sio_pending_hold/release, above.) */
/* recovery.c: the session auth names (pid, offset) and the packets it missed, as
 * bytes for another thread, which applies them to a new socket with
 * sio_session_import (before the CONNECT completes). Export drops the session here;
 * each returns 0, or -1 (none, expired, offset gone, out of memory). */
struct byte_buf;
int sio_session_export(wsio_sio_nsp *nsp, const char *auth, size_t auth_len, struct byte_buf *out);
int sio_session_import(wsio_sio_socket *s, const uint8_t *p, size_t n);

#endif
