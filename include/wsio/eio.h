/* wsio/eio.h — Engine.IO v4 server (included by wsio.h).
 *
 * An Engine.IO server attached to a wsio_app serves sessions at a path prefix over
 * HTTP long-polling and WebSocket, with the upgrade probe between them and server-sent
 * heartbeats. Socket.IO (wsio/sio.h) runs on top of it; it is also usable on its own,
 * like Node's `engine.io` package.
 *
 * All functions run on the app's loop thread. A wsio_eio_session pointer is valid from
 * the open callback until the close callback returns. */
#ifndef WSIO_EIO_H
#define WSIO_EIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsio_app wsio_app;
typedef struct wsio_request wsio_request;
typedef struct wsio_eio_server wsio_eio_server;
typedef struct wsio_eio_session wsio_eio_session;

typedef struct wsio_eio_options {
  const char *path;             /* default "/engine.io/" (copied); matched as a prefix */
  unsigned ping_interval_ms;    /* default 25000 */
  unsigned ping_timeout_ms;     /* default 20000 */
  unsigned upgrade_timeout_ms;  /* default 10000 */
  size_t max_payload;           /* default 1000000: POST bodies and messages; over: 413 / close */
  int allow_polling;            /* default 1 */
  int allow_websocket;          /* default 1 */
  int allow_upgrades;           /* default 1 */
  /* CORS for the polling transport: NULL (default) sends no CORS headers; "*" allows
   * every origin; "true" reflects the request's Origin; otherwise the exact origin
   * allowed (copied). */
  const char *cors_origin;
  int cors_credentials;         /* add Access-Control-Allow-Credentials: true */
  /* Bytes a long-polling session may have waiting for the client's next GET; a client
   * that stops polling while messages pile up is closed ("transport error" to the close
   * handler, a log line, polling_buffer_closes_total). 0 (default): no cap. */
  size_t max_polling_buffer;
} wsio_eio_options;

typedef struct wsio_eio_handlers {
  /* Optional, runs before a session is created (Node's allowRequest): return 0 to
   * accept, or fill *message and return non-zero for 403 {"code":4,"message":...}.
   * The request is borrowed. */
  int (*allow_request)(const wsio_request *req, const char **message, void *user);
  /* A session opened; req (borrowed) is the handshake request. */
  void (*open)(wsio_eio_session *s, const wsio_request *req, void *user);
  /* A message (borrowed). binary: 1 for binary messages, 0 for text (UTF-8). */
  void (*message)(wsio_eio_session *s, const uint8_t *data, size_t len, int binary, void *user);
  /* The session is gone: reason is Node's ("transport close", "transport error",
   * "ping timeout", "parse error", "forced close", "server shutting down"). */
  void (*close)(wsio_eio_session *s, const char *reason, void *user);
} wsio_eio_handlers;

void wsio_eio_options_init(wsio_eio_options *o);

/* Attaches an Engine.IO server to app at o->path (options and handlers copied).
 * Register before wsio_app_listen. Returns NULL on bad options or out of memory.
 * Freed with the app. */
wsio_eio_server *wsio_eio_attach(wsio_app *app, const wsio_eio_options *o, const wsio_eio_handlers *h,
                                 void *user);

/* Queues a message (copied). Returns 0, or WSIO_ECLOSED when the session is closing.
 * A message its transport refuses (the WebSocket's send buffer at the app's
 * max_backpressure, the polling queue over max_polling_buffer) gets WSIO_ECLOSED too:
 * the session is closed in the same loop iteration ("transport error"; a WebSocket with
 * 1008), after what it was sent before and with nothing sent past the gap. */
int wsio_eio_send(wsio_eio_session *s, const void *data, size_t len, int binary);

/* Closes the session (a close packet is sent, then the transport is closed); the close
 * callback runs with "forced close". */
void wsio_eio_close(wsio_eio_session *s);

/* The session id (20 URL-safe characters, NUL-terminated; borrowed). */
const char *wsio_eio_session_id(const wsio_eio_session *s);
/* "polling" or "websocket". */
const char *wsio_eio_session_transport(const wsio_eio_session *s);
/* Writes the peer address as text into buf, as wsio_request_remote_address: returns its
 * length ("" when unknown), WSIO_EINVAL or WSIO_ETOOBIG (WSIO_ADDRSTRLEN suffices). */
int wsio_eio_session_remote_address(const wsio_eio_session *s, char *buf, size_t cap);
void wsio_eio_session_set_user(wsio_eio_session *s, void *user);
void *wsio_eio_session_user(const wsio_eio_session *s);
wsio_eio_server *wsio_eio_session_server(const wsio_eio_session *s);
size_t wsio_eio_server_num_sessions(const wsio_eio_server *srv);

typedef struct wsio_eio_stats {
  uint64_t sessions_polling;    /* open sessions on long-polling now */
  uint64_t sessions_websocket;  /* open sessions on WebSocket now */
  uint64_t sessions_total;      /* sessions ever opened */
  uint64_t upgrades_total;      /* polling sessions moved to WebSocket */
  uint64_t ping_timeouts_total; /* sessions closed for a missing pong */
  uint64_t messages_in_total, messages_out_total;
  uint64_t polling_buffer_closes_total; /* sessions closed over max_polling_buffer */
} wsio_eio_stats;
void wsio_eio_server_stats(const wsio_eio_server *srv, wsio_eio_stats *out);

#ifdef __cplusplus
}
#endif
#endif
