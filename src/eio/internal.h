/* eio/internal.h — what the files of the Engine.IO server share, and nothing else
 * includes: the session and server structs and the functions one file offers another.
 *
 * The server is split by concern: server.c (options, attach/destroy, the HTTP route and
 * its checks, stats and getters), session.c (the sid table, a session's life, its
 * heartbeat timer and the post phase), polling.c (long-polling GET/POST and the output
 * queue), websocket.c (the WebSocket transport and the upgrade probe) and prepared.c
 * (messages prepared once for many sessions). They reach core only through
 * core/transport.h and the public API. Must not be included outside src/eio: the
 * layers above see eio/eio.h and wsio/eio.h only. */
#ifndef WSIO_EIO_INTERNAL_H
#define WSIO_EIO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/transport.h"
#include "eio/eio.h"
#include "eio/packet.h"
#include "util/buf.h"
#include "util/idmap.h"
#include "util/map.h"
#include "util/random.h"
#include "wsio/eio.h"

enum { TRANSPORT_POLLING = 0, TRANSPORT_WEBSOCKET = 1 };
enum { S_OPEN = 0, S_CLOSED = 1 };

/* Node's error codes and messages (engine.io Server.errors). */
enum {
  ERR_UNKNOWN_TRANSPORT = 0,
  ERR_UNKNOWN_SID = 1,
  ERR_BAD_HANDSHAKE_METHOD = 2,
  ERR_BAD_REQUEST = 3,
  ERR_FORBIDDEN = 4,
  ERR_UNSUPPORTED_PROTOCOL_VERSION = 5,
};
extern const char *const eio_err_messages[];

#define SID_LEN RANDOM_ID_LEN

/* A polling queue above this is failed, never wrapped (a client that never polls). */
#define EIO_OUT_MAX (UINT32_MAX / 2)
/* A polling queue that grew past this gives its memory back once answered. */
#define EIO_OUT_KEEP (64 * 1024)
/* While stopping, how long a polling session with only its close packet to deliver
 * waits for its client's next GET (session.c's eio_session_close). */
#define EIO_STOP_CLOSE_GRACE_MS 1000
/* While stopping, how long a session whose close packet went out still holds the drain
 * (and its sid stays known): a POST its client sent before it read the close packet
 * (socket.io-client posts and polls from the same tick) is still on its way. Without
 * the wait the listener closes, or the process exits, with that POST in the accept
 * queue or unread: the client reads ECONNRESET on it, often before the close packet,
 * and reports a transport error instead of the close. */
#define EIO_STOP_TOLD_GRACE_MS 200

/* The WebSocket being probed during an upgrade, with its upgradeTimeout: allocated
 * only while a probe is attached, so idle sessions do not carry a second timer. */
typedef struct eio_probe {
  wsio_conn *c;
  wsio_eio_session *s;
  loop_timer timer;
} eio_probe;

/* What only the long-polling transport needs: the held GET, the output queue, and the
 * probe of an upgrade. Allocated with a polling session (kept after an upgrade);
 * WebSocket-only sessions, the common idle client, have none (docs/capacity.md). */
typedef struct eio_poll {
  wsio_response *get; /* the held long-poll GET */
  byte_buf out;       /* queued records joined by 0x1E (< EIO_OUT_MAX) */
  eio_probe *probe;   /* while upgrading */
} eio_poll;

/* Every idle client costs one of these (120 bytes, a 128-byte malloc chunk): the
 * flags are bits, sid + flags + peer fill 40 bytes exactly, and the graveyard link is
 * `prev` (a buried session is off the list). Add no field without measuring bench/'s
 * idle client (docs/capacity.md). */
struct wsio_eio_session {
  char sid[SID_LEN + 1]; /* also the key of the server's sid table (borrowed there) */
  uint8_t transport : 1;    /* TRANSPORT_* */
  uint8_t state : 1;        /* S_* */
  uint8_t ping_pending : 1; /* a ping was sent (or queued); no pong yet */
  uint8_t ping_queued : 1;  /* polling: that ping still waits in `out` for a GET */
  uint8_t refreshed : 1;    /* the pong deadline was pushed back once by another packet */
  uint8_t upgrading : 1;    /* a probe WebSocket is attached */
  uint8_t dirty : 1;        /* queued output waits for the post-phase flush */
  uint8_t expiring : 1;     /* the pong deadline passed: decided in the post phase */
  uint8_t second_look : 1;  /* ...and was found passed once: one more iteration's reads */
  uint8_t linger : 1;       /* closed; waits for one more GET to deliver "1" */
  uint8_t over_cap : 1;     /* a message was refused (eio_over_cap): closed in the post phase */
  uint8_t drain_hold : 1;   /* lingering through a graceful stop: holds it (app_drain_hold) */
  uint8_t ip_counted : 1;   /* counts toward max_connections_per_ip (a polling session:
                               core_limit_session_open) until closed or upgraded */
  uint8_t has_peer : 1;     /* peer holds the client's address (eio_session_family) */
  uint8_t peer_v6 : 1;      /* ...an IPv6 one (kept binary: 17 bytes, not 46) */
  uint8_t told : 1;         /* lingering while stopping: the close packet went out */
  uint8_t peer[16];
  /* Open: the next ping (!ping_pending) or the pong deadline (ping_pending).
   * Lingering: when the session is freed without its last GET. */
  loop_timer timer;
  wsio_eio_server *srv;
  wsio_conn *ws;          /* the WebSocket transport, when upgraded or ws-only */
  eio_poll *poll;         /* polling sessions only (NULL: WebSocket-only) */
  void *user;
  wsio_eio_session *prev, *next; /* the server's session list; prev: the graveyard once buried */
  wsio_eio_session *dnext;       /* post list: dirty or expiring */
};

/* AF_INET / AF_INET6 of s->peer, or 0 when the address is unknown. */
static inline int eio_session_family(const wsio_eio_session *s) {
  return !s->has_peer ? 0 : s->peer_v6 ? AF_INET6 : AF_INET;
}

struct wsio_eio_server {
  wsio_app *app;
  wsio_eio_options o;
  char *path;
  char *cors_origin;
  wsio_eio_handlers h;
  void *user;
  wsio_eio_session *head;
  size_t count;
  id_map sids; /* sid -> open or lingering session (keyed by its sid) */
  wsio_eio_session *dirty;
  wsio_eio_session *grave;
  char open_tail[160]; /* ',"pingInterval":...}' shared by every open packet */
  wsio_eio_stats st; /* sessions_polling/websocket are computed on demand */
  /* eio_hold: packets held back by the user (Socket.IO's coalesced broadcasts) that
   * release(release_arg) sends; they go out before anything else this server sends. */
  void (*release)(void *arg);
  void *release_arg;
  uint8_t held;
};

/* Before any packet or close goes out: what the user held back goes first, so that no
 * recipient sees a later packet overtake a held one. */
static inline void eio_release_held(wsio_eio_server *srv) {
  if (!srv->held) return;
  srv->held = 0;
  srv->release(srv->release_arg);
}

/* The polling state's fields, read from any session (none without polling state). */
static inline wsio_response *eio_get(const wsio_eio_session *s) { return s->poll ? s->poll->get : NULL; }
static inline size_t eio_out_len(const wsio_eio_session *s) { return s->poll ? s->poll->out.len : 0; }
static inline eio_probe *eio_probe_of(const wsio_eio_session *s) { return s->poll ? s->poll->probe : NULL; }

/* Puts s on the list the post phase walks (once, whatever it is there for). */
static inline void eio_post_list_add(wsio_eio_session *s) {
  if (s->dirty || s->expiring) return;
  s->dnext = s->srv->dirty;
  s->srv->dirty = s;
}

/* Queued polling output is written to a held GET from the post phase (one answer per
 * burst), never while a probe is attached. */
static inline void eio_mark_dirty(wsio_eio_session *s) {
  if (s->dirty || !eio_get(s) || s->upgrading) return;
  eio_post_list_add(s);
  s->dirty = 1;
}

/* A message for s was refused: its WebSocket's send buffer was at max_backpressure, or
 * its polling queue would have gone over max_polling_buffer. Whatever the client got
 * after it would hide the gap (and move a recovering client's offset past it), so from
 * now on nothing is sent to s (eio_send_prepared, wsio_eio_send, the polling queue
 * refuse) and the post phase closes it, "transport error" (a WebSocket with 1008):
 * closing here could free a socket that the caller, e.g. a broadcast, is iterating. */
static inline void eio_over_cap(wsio_eio_session *s) {
  if (!s->over_cap) { /* on the post list (once) even without a held GET */
    eio_post_list_add(s);
    s->dirty = 1;
  }
  s->over_cap = 1;
}

/* ws_send_parts' (or core_frames_send's) result on s's WebSocket: a refusal for
 * backpressure marks s over its cap. */
static inline int eio_ws_sent(wsio_eio_session *s, int r) {
  if (r == WSIO_EDROPPED) eio_over_cap(s);
  return r;
}

/* One message on s's WebSocket (ws_send_parts): refused (WSIO_EDROPPED) once s is over
 * its cap, and a refusal marks it so. */
static inline int eio_ws_send(wsio_eio_session *s, wsio_opcode op, const void *prefix, size_t plen, const void *data,
                              size_t len) {
  if (s->over_cap) return WSIO_EDROPPED;
  return eio_ws_sent(s, ws_send_parts(s->ws, op, prefix, plen, data, len));
}

/* ---- server.c: answers shared by both transports -------------------------------- */
void eio_add_cors(wsio_eio_server *srv, const wsio_request *req, wsio_response *res);
void eio_send_error(wsio_eio_server *srv, const wsio_request *req, wsio_response *res, int code,
                    const char *message);
/* Node's verify(); see server.c. */
wsio_eio_session *eio_verify(wsio_eio_server *srv, const wsio_request *req, int is_upgrade, int *err,
                             const char **message);

/* ---- session.c: a session's life -------------------------------------------------- */
/* How a polling client learns that its session ended (see eio_session_close). */
enum {
  CLOSE_SILENT = 0,      /* no close packet (the transport failed or the client closed) */
  CLOSE_AFTER_QUEUE = 1, /* Node's socket.close(): queued packets first, then "1" */
  CLOSE_NOW = 2,         /* Node's onClose(): "1" to a GET waiting now, the sid is gone */
};
wsio_eio_session *eio_session_create(wsio_eio_server *srv, const wsio_request *req, int transport);
void eio_session_close(wsio_eio_session *s, const char *reason, int how);
void eio_session_bury(wsio_eio_session *s);
/* A lingering session's close packet was delivered: buried (kept while stopping). */
void eio_session_told(wsio_eio_session *s);
/* An open session, or a closed one lingering to deliver its close packet. */
wsio_eio_session *eio_session_find(const wsio_eio_server *srv, const char *sid, size_t n);
/* The open packet's JSON (after the "0"); returns its length (0 if it did not fit). */
size_t eio_open_packet(const wsio_eio_session *s, char *out, size_t cap);
/* A packet from the client, on either transport. */
void eio_on_packet(wsio_eio_session *s, const eio_packet *p);
/* A control or text packet on the session's current transport. */
void eio_send_packet(wsio_eio_session *s, char type, const char *data, size_t len);
/* The ping reached the client's transport: the pong deadline starts now. */
void eio_ping_delivered(wsio_eio_session *s);
/* The post phase (CORE_HOOK_POST): ping-timeout decisions, GET answers, frees. */
void eio_post(void *arg);

/* ---- polling.c: long-polling and the output queue -------------------------------- */
int eio_queue_record(wsio_eio_session *s, const uint8_t *rec, size_t n);
int eio_queue_text(wsio_eio_session *s, char type, const uint8_t *data, size_t len);
int eio_queue_binary(wsio_eio_session *s, const uint8_t *data, size_t len);
/* Answers a held GET with everything queued (or a noop when nothing is, or noop_only). */
void eio_answer_get(wsio_eio_session *s, int noop_only);
void eio_poll_handshake(wsio_eio_server *srv, const wsio_request *req, wsio_response *res);
void eio_poll_get(wsio_eio_session *s, const wsio_request *req, wsio_response *res);
void eio_poll_post(wsio_eio_session *s, const wsio_request *req, wsio_response *res);
/* A GET for a lingering session: deliver what is left, then the close packet. */
void eio_linger_get(wsio_eio_session *s, const wsio_request *req, wsio_response *res);

/* ---- websocket.c: the WebSocket transport and the upgrade probe ------------------- */
/* The WebSocket route's handlers (user_data_size included). */
void eio_ws_handlers(wsio_ws_handlers *wh);
/* Lets the probe go; with close_it its WebSocket is detached and closed. */
void eio_probe_end(wsio_eio_session *s, int close_it);
/* Unlinks a WebSocket from its session (its later events are ignored). */
void eio_ws_detach(wsio_conn *c);

#endif
