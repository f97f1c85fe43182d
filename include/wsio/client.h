/* wsio/client.h — the client role: a WebSocket (RFC 6455) client that runs on a
 * wsio_app's loop, alone or next to the app's server routes.
 *
 * A wsio_ws_client connects to ws://host[:port][/path] or wss://... (TLS, with
 * the server's certificate and host name verified by default), performs the
 * opening handshake, and then sends and receives messages through callbacks,
 * like a server connection. It reconnects by itself after a lost connection
 * (exponential backoff with jitter and a cap) and keeps what is sent while it
 * is offline in a bounded queue, sent in order once the next connection opens.
 *
 * Threading: as wsio.h: call every function from the thread running the app's
 * loop.
 *
 * Ownership: every string and byte span passed in is copied before the call
 * returns (option strings included); every pointer handed to a callback is
 * borrowed (valid until the callback returns). A wsio_ws_client pointer is
 * valid from wsio_ws_client_create until wsio_ws_client_destroy (or
 * wsio_app_destroy).
 *
 * Not yet: the Socket.IO client. */
#ifndef WSIO_CLIENT_H
#define WSIO_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "wsio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Errors of the client role, beside wsio.h's (wsio_ws_client_strerror knows
 * both). */
enum {
  WSIO_EREFUSED =
      -20, /* the server answered the upgrade with another status than 101 */
  WSIO_EPROTOCOL =
      -21, /* the server broke RFC 6455 (bad accept key, masked frame, bad
            * UTF-8, a reserved opcode, a malformed response head...) */
  WSIO_ENETWORK = -22, /* resolving, connecting, or the connection was lost */
  WSIO_EURL = -23,     /* not a ws:// or wss:// URL */
  WSIO_ETLS = -24,     /* wss://: the TLS handshake failed, the server's
                        * certificate did not verify (untrusted, expired, another
                        * host's), the server refused the client certificate (or
                        * wanted one), or the CA file or the client certificate
                        * or key could not be loaded; on_error's detail says
                        * which (and names the file) */
};
const char *wsio_ws_client_strerror(int err);

typedef struct wsio_ws_client wsio_ws_client;

/* What the send queue drops when a message does not fit its caps while offline.
 */
typedef enum {
  WSIO_QUEUE_DROP_OLDEST =
      0, /* the oldest queued messages go, the new one is kept */
  WSIO_QUEUE_DROP_NEWEST =
      1, /* the new message is refused (the send returns WSIO_EDROPPED) */
} wsio_queue_drop;

typedef enum { WSIO_FRAME_IN = 0, WSIO_FRAME_OUT = 1 } wsio_frame_dir;

typedef struct {
  /* Offered subprotocols in order of preference, NULL-terminated (NULL: none).
   */
  const char *const *subprotocols;
  /* Extra request headers as "Name: value", NULL-terminated. A header with CR
   * or LF, or without a colon, makes create fail with WSIO_EINVAL. */
  const char *const *headers;
  const char *origin; /* Origin header, NULL for none */

  uint32_t connect_timeout_ms;   /* TCP connect; default 10000 */
  uint32_t handshake_timeout_ms; /* from connected to the 101; default 10000 */
  size_t max_message_size;   /* a larger incoming frame or message fails with
                                1009; default 1 MiB (as the server) */
  size_t max_backpressure;   /* a send over this many buffered bytes is dropped;
                                default 1 MiB */
  size_t max_head_size;      /* the response head's bound; default 16 KiB */
  uint32_t ping_interval_ms; /* send a ping this often while open (0: never) */

  /* wss:// (TLS 1.2+ with OpenSSL, ALPN http/1.1, SNI). The server's
   * certificate must chain to a trusted CA and name the URL's host (a DNS name,
   * or an IP address for an IP literal), else the attempt fails with WSIO_ETLS
   * and no reconnect. Both are ignored for ws://. */
  const char *ca_file; /* PEM file of trusted CAs; NULL: the system's store */
  int insecure;        /* 1: do not verify the certificate (encrypted, but
                          anyone on the path can pose as the server) */

  /* permessage-deflate (RFC 7692), offered by default as Node's ws does:
   * "permessage-deflate; client_max_window_bits". The server's answer is
   * checked strictly (an extension or parameter not offered, a bad value: the
   * attempt fails with WSIO_EPROTOCOL, RFC 7692 5 / 7.1). Once agreed, messages
   * of at least deflate_threshold bytes go out compressed, and compressed
   * messages in are inflated within max_message_size. */
  int no_deflate;           /* 1: do not offer it */
  size_t deflate_threshold; /* default 1024 (as Node's ws) */

  /* Reconnection: after a connection is lost (network error, timeout, 5xx, no
   * close frame, or a server close with 1001 or 1011-1014: "going away", "try
   * again"), wait min(max, min * 2^(attempt-1)) ms, spread by
   * +-randomization (Node socket.io-client's formula), then connect again.
   * Never after wsio_ws_client_close, a close handshake by the server with
   * another code (its decision), a refused handshake (4xx) or a protocol error
   * (the same request would fail the same way). */
  int no_reconnect;            /* 1: never reconnect */
  uint32_t reconnect_min_ms;   /* default 1000 */
  uint32_t reconnect_max_ms;   /* default 5000 */
  double randomization;        /* 0..1, default 0.5; negative means 0 */
  uint32_t reconnect_attempts; /* give up after this many failed attempts; 0:
                                  never */

  /* The offline queue: messages sent while not open (connecting, or waiting to
   * reconnect) are kept and sent in order when the connection opens. Caps:
   * defaults 1 MiB and 1024 messages; drop policy as wsio_queue_drop (default
   * oldest). */
  size_t queue_max_bytes;
  size_t queue_max_count;
  wsio_queue_drop queue_drop;

  /* Callbacks (all optional); user is passed back to each. */
  void *user;
  /* The handshake succeeded. protocol: the subprotocol the server chose, or
   * NULL. */
  void (*on_open)(wsio_ws_client *cl, const char *protocol, void *user);
  /* A complete message (data borrowed; text is valid UTF-8). */
  void (*on_message)(wsio_ws_client *cl, const uint8_t *data, size_t len,
                     wsio_opcode op, void *user);
  /* The connection ended: code and reason from the server's close frame, or
   * 1006 (no close frame) / 1005 (a close frame without a code). will_reconnect
   * says whether a reconnect is scheduled (then on_reconnect follows). */
  void (*on_close)(wsio_ws_client *cl, unsigned code, const char *reason,
                   size_t reason_len, int will_reconnect, void *user);
  /* Something failed: err is a WSIO_E* value, detail a sentence (borrowed),
   * status the HTTP status for WSIO_EREFUSED (else 0). on_close follows when a
   * connection had opened. */
  void (*on_error)(wsio_ws_client *cl, int err, int status, const char *detail,
                   void *user);
  /* The send buffer emptied after a send returned 1 (buffered) or
   * WSIO_EDROPPED. */
  void (*on_drain)(wsio_ws_client *cl, void *user);
  /* A pong arrived; rtt_ms is the time since the last ping sent, or -1 when
   * none. */
  void (*on_pong)(wsio_ws_client *cl, const uint8_t *data, size_t len,
                  long rtt_ms, void *user);
  /* A reconnect attempt is scheduled: its number (1, 2, ...) and the delay
   * chosen. */
  void (*on_reconnect)(wsio_ws_client *cl, unsigned attempt, uint32_t delay_ms,
                       void *user);
  /* Reconnection stopped after reconnect_attempts failures. */
  void (*on_reconnect_failed)(wsio_ws_client *cl, void *user);
  /* Tracing (wsio-cat -v): the request head sent and the response head received
   * (borrowed, CRLF lines), and every frame header in and out. */
  void (*on_handshake)(wsio_ws_client *cl, const char *request,
                       size_t request_len, const char *response,
                       size_t response_len, void *user);
  void (*on_frame)(wsio_ws_client *cl, wsio_frame_dir dir, int opcode, int fin,
                   int rsv, uint64_t len, int masked, void *user);
  /* wss:// tracing: the TLS handshake completed; info is one line (borrowed):
   * version, cipher, ALPN, the certificate's subject and issuer, the verdict.
   */
  void (*on_tls)(wsio_ws_client *cl, const char *info, void *user);

  /* wss:// with a client certificate (mutual TLS), for a server that asks for
   * one (ws's and Node's https `cert`/`key`): cert_file a PEM chain (this
   * client's certificate first, then intermediates), key_file its PEM private
   * key, unencrypted (no passphrase is ever asked for). Both or neither: one
   * without the other makes create fail with WSIO_EINVAL. Both are read once,
   * at create (a renewed pair needs a new client). A file that cannot be
   * loaded (unreadable, not PEM, an encrypted key, a key of another
   * certificate) is reported as a ca_file is: WSIO_ETLS from the loop, with
   * on_error's detail naming the file, and no reconnect. A server that wants a
   * certificate and gets none, or refuses the one it got, fails the attempt
   * with WSIO_ETLS when it says so with a TLS alert (detail: "... the server
   * wants a client certificate" or "... refused the client certificate"); a
   * server that just closes the connection (Node's https does, for a
   * certificate of an untrusted CA) is WSIO_ENETWORK. Ignored for ws://. (Added
   * after the fields above: a zeroed struct has none.) */
  const char *cert_file;
  const char *key_file;
} wsio_ws_client_options;

/* Creates a client on app's loop and starts connecting to url
 * (ws[s]://host[:port][/path[?query]]). Nothing here blocks: a host name is
 * resolved at each (re)connect on a short-lived thread, its answer handed back
 * to the loop (an IP literal needs none); the lookup counts against
 * connect_timeout_ms. url and every option are copied; opts may be NULL for
 * defaults. The first report comes from the loop, never inside this call (a
 * ca_file that cannot be loaded included: WSIO_ETLS). Returns the client, or
 * NULL with *err (may be NULL) set: WSIO_EINVAL, WSIO_EURL, WSIO_ENOMEM. */
wsio_ws_client *wsio_ws_client_create(wsio_app *app, const char *url,
                                      const wsio_ws_client_options *opts,
                                      int *err);

/* Sends one message (text must be valid UTF-8; it is checked). data is copied,
 * masked with a fresh key. Returns 0 (written or queued for this iteration's
 * flush), 1 (buffered behind earlier bytes, or held in the offline queue),
 * WSIO_EDROPPED (over max_backpressure, or refused by the full offline queue),
 * WSIO_ETOOBIG (over max_message_size), WSIO_EINVAL (bad UTF-8 for text, NULL),
 * WSIO_ECLOSED (closing, closed, or reconnection given up), WSIO_ENOMEM. */
int wsio_ws_client_send(wsio_ws_client *cl, const void *data, size_t len,
                        wsio_opcode op);

/* Sends a ping (payload copied, at most 125 bytes). Returns 0, WSIO_EINVAL,
 * WSIO_ECLOSED when not open, WSIO_ENOMEM. */
int wsio_ws_client_ping(wsio_ws_client *cl, const void *data, size_t len);

/* Starts the closing handshake with code (1000, 3000-4999 or another valid
 * code) and reason (copied, at most 123 bytes): the server's close frame (or a
 * 5 s timeout) ends the connection, on_close follows, and the client does not
 * reconnect. When not open (connecting, or waiting to reconnect), stops at once
 * without a callback and drops the offline queue. Returns 0, WSIO_EINVAL
 * (invalid code or reason), WSIO_ECLOSED (already closing). */
int wsio_ws_client_close(wsio_ws_client *cl, unsigned code, const char *reason);

/* Bytes accepted and not yet written to the kernel, plus the offline queue's.
 */
size_t wsio_ws_client_buffered(const wsio_ws_client *cl);
/* 1 once the client has stopped for good: closed (by either side with 1000, or
 * by wsio_ws_client_close), refused, failed a protocol check, gave up
 * reconnecting, or reconnection is off and the connection ended. */
int wsio_ws_client_is_done(const wsio_ws_client *cl);
/* 1 while open (handshake done, no close sent or received). */
int wsio_ws_client_is_open(const wsio_ws_client *cl);

/* Closes the connection at once (no close handshake, no callbacks) and frees
 * the client's state; cl must not be used afterwards. May be called from the
 * client's own callbacks. Its memory is released in the loop's next post
 * phase (after the current callbacks return). wsio_app_destroy destroys
 * clients still alive. */
void wsio_ws_client_destroy(wsio_ws_client *cl);

/* ==== The Socket.IO client (Socket.IO v5 over Engine.IO v4) ====================
 *
 * A wsio_sio_client is the connection to one server (the JS client's Manager):
 * one Engine.IO session at a time, over HTTP long-polling upgraded to WebSocket
 * (the default), polling only, or WebSocket only. Namespaces are
 * wsio_sio_client_socket handles multiplexed on it (the JS client's Socket).
 * After a lost connection (network, "ping timeout", "transport close", ...) the
 * client reconnects with the WebSocket client's backoff (1 s to 5 s,
 * randomization 0.5 by default) and connects its sockets again; emits made while
 * a socket is not connected wait in its bounded send buffer and go out in order
 * once it is (each once). Connection state recovery: a socket remembers the
 * server's pid and the last event offset and sends them in its next CONNECT's
 * auth ("pid", "offset"), as the JS client does.
 *
 * JSON is passed as text: arguments are a JSON array ("[1,{\"a\":2}]"; NULL or
 * "" for none); binary arguments are placeholders {"_placeholder":true,"num":N}
 * indexing a wsio_span array, exactly as wsio/sio.h's server API. Threading and
 * ownership as above: strings and spans passed in are copied; pointers given to
 * callbacks are borrowed for the callback. */

typedef struct wsio_sio_client wsio_sio_client;
typedef struct wsio_sio_client_socket wsio_sio_client_socket;

typedef enum {
  WSIO_SIO_POLLING_UPGRADE = 0, /* polling first, then upgrade to WebSocket */
  WSIO_SIO_POLLING = 1,         /* long-polling only */
  WSIO_SIO_WEBSOCKET = 2,       /* WebSocket only (no polling handshake) */
} wsio_sio_transports;

typedef struct {
  const char *path; /* the server's path; default "/socket.io/" */
  wsio_sio_transports transports;
  /* Extra request headers ("Name: value", NULL-terminated) on every polling
   * request and on the WebSocket upgrade. */
  const char *const *headers;
  uint32_t timeout_ms;     /* connect + Engine.IO open; default 20000 */
  size_t max_payload;      /* largest Engine.IO payload (polling response or
                              WebSocket message) accepted from the server;
                              default 1 MiB: more fails the connection */
  /* Reconnection after a lost session, as wsio_ws_client_options
   * (no_reconnect, 1000/5000 ms, randomization 0.5, attempts 0 = forever).
   * Never after wsio_sio_client_close/destroy, nor when the very first
   * session could not open because of a 4xx answer or a protocol error. */
  int no_reconnect;
  uint32_t reconnect_min_ms, reconnect_max_ms;
  double randomization; /* used as given when use_randomization is 1, else 0.5 */
  int use_randomization;
  uint32_t reconnect_attempts;
  /* Each socket's send buffer (emits while not connected): defaults 1 MiB and
   * 1024 packets; the drop policy as wsio_queue_drop. */
  size_t queue_max_bytes, queue_max_count;
  wsio_queue_drop queue_drop;

  void *user;
  /* An Engine.IO session opened (sid borrowed); upgraded: the transport is
   * WebSocket from now on. */
  void (*on_open)(wsio_sio_client *c, const char *sid, void *user);
  void (*on_upgrade)(wsio_sio_client *c, void *user);
  /* An open Engine.IO session ended; reason as the JS client's ("transport
   * close", "transport error", "ping timeout", "parse error"; "io client
   * disconnect" after wsio_sio_client_close). will_reconnect as
   * wsio_ws_client_options.on_close. */
  void (*on_close)(wsio_sio_client *c, const char *reason, int will_reconnect,
                   void *user);
  /* Something failed: err WSIO_E* (WSIO_EREFUSED with the HTTP status,
   * WSIO_EPROTOCOL, WSIO_ENETWORK, WSIO_ETIMEDOUT, WSIO_ETOOBIG, WSIO_ETLS),
   * detail a sentence (borrowed). */
  void (*on_error)(wsio_sio_client *c, int err, int status, const char *detail,
                   void *user);
  /* Attempt number `attempt` (1, 2, ...) is scheduled in delay_ms. */
  void (*on_reconnect_attempt)(wsio_sio_client *c, unsigned attempt,
                               uint32_t delay_ms, void *user);
  /* A session opened again after `attempts` attempts (before the sockets'
   * CONNECT). */
  void (*on_reconnect)(wsio_sio_client *c, unsigned attempts, void *user);
  /* reconnect_attempts failed: the client stopped (buffered emits dropped,
   * their acks get WSIO_ECLOSED). */
  void (*on_reconnect_failed)(wsio_sio_client *c, void *user);
  /* Tracing (wsio-cat -v): every Engine.IO packet in and out (dir as
   * wsio_frame_dir; data borrowed, binary messages as raw bytes) and the
   * transport each used ("polling" or "websocket"). */
  void (*on_packet)(wsio_sio_client *c, wsio_frame_dir dir,
                    const char *transport, int type, int binary,
                    const uint8_t *data, size_t len, void *user);

  /* https:// (TLS 1.2+, ALPN http/1.1, SNI): polling requests over TLS and
   * the WebSocket transport as wss://. The server's certificate must chain to
   * a trusted CA and name the URL's host, as wsio_ws_client_options says,
   * else the attempt fails with WSIO_ETLS and no reconnect. Ignored for
   * http://. */
  const char *ca_file; /* PEM file of trusted CAs; NULL: the system's store */
  int insecure;        /* 1: do not verify the certificate */
  /* Tracing: a TLS handshake completed (polling connection or WebSocket):
   * protocol version, cipher, ALPN, the certificate and the verdict. */
  void (*on_tls)(wsio_sio_client *c, const char *info, void *user);

  /* https:// with a client certificate (mutual TLS; socket.io-client's
   * `cert`/`key`), presented on every polling connection and on the
   * WebSocket: as wsio_ws_client_options.cert_file/key_file (PEM, the key
   * unencrypted; both or neither, else create fails with WSIO_EINVAL), read
   * again when each Engine.IO session opens (each reconnection). A file that
   * cannot be loaded is WSIO_ETLS from on_error, its detail naming the file,
   * and no reconnect. Ignored for http://. (Added after the fields above: a
   * zeroed struct has none.) */
  const char *cert_file;
  const char *key_file;
} wsio_sio_client_options;

/* Creates the client and starts connecting to url (http://host[:port][/] or
 * https://...; the path of the URL is ignored: the namespace is per socket and
 * the Engine.IO path is opts->path). The host is resolved at each connection
 * attempt, off the loop's thread. Polling requests share two kept-alive
 * connections (one for the long-poll GETs, one for the POSTs). Returns NULL
 * with *err set: WSIO_EINVAL, WSIO_EURL (not http:// or https://),
 * WSIO_ENOMEM. Nothing is reported inside this call (a ca_file that cannot be
 * loaded is reported as WSIO_ETLS by on_error). */
wsio_sio_client *wsio_sio_client_create(wsio_app *app, const char *url,
                                        const wsio_sio_client_options *opts,
                                        int *err);

/* Closes politely: each connected socket sends DISCONNECT and gets
 * on_disconnect("io client disconnect"), the Engine.IO close packet goes out
 * after everything already sent, and once it has left (or could not) on_close
 * reports "io client disconnect" with will_reconnect 0. No reconnection after
 * it. Returns 0, WSIO_EINVAL, WSIO_ECLOSED (already done). */
int wsio_sio_client_close(wsio_sio_client *c);

/* Closes the Engine.IO session at once (the sockets get on_disconnect "io
 * client disconnect"; no on_close), stops reconnecting, and frees everything in the loop's next
 * post phase; c and its sockets must not be used afterwards. May be called from
 * callbacks. wsio_app_destroy destroys clients still alive. */
void wsio_sio_client_destroy(wsio_sio_client *c);

/* 1 once the client stopped for good: closed, destroyed, gave up
 * reconnecting, reconnection off and the session ended, a refusal (4xx) or
 * protocol error before the first session opened, or a TLS failure. */
int wsio_sio_client_is_done(const wsio_sio_client *c);
/* wsio_ws_client_strerror with the Socket.IO client's wording. */
const char *wsio_sio_client_strerror(int err);

/* 1 while an Engine.IO session is open; the transport's name ("polling",
 * "websocket") or NULL. */
int wsio_sio_client_is_open(const wsio_sio_client *c);
const char *wsio_sio_client_transport(const wsio_sio_client *c);

typedef struct {
  void *user;
  /* The server accepted the namespace: sid (borrowed), recovered 1 when the
   * server restored the session (pid matched; missed events came first). */
  void (*on_connect)(wsio_sio_client_socket *s, const char *sid,
                     int recovered, void *user);
  /* The server refused the namespace: data is its CONNECT_ERROR payload
   * (JSON, usually {"message":...}). The socket is not reconnected. */
  void (*on_connect_error)(wsio_sio_client_socket *s, const char *data,
                           size_t len, void *user);
  /* reason as the JS client's: "io server disconnect" (no reconnect), "io
   * client disconnect", "transport close", "transport error", "ping timeout",
   * "parse error". */
  void (*on_disconnect)(wsio_sio_client_socket *s, const char *reason,
                        int will_reconnect, void *user);
  /* An event: name (NUL-terminated, borrowed), args the other arguments as a
   * JSON array text, bins the attachments its placeholders index. ack_id >= 0:
   * the server waits for wsio_sio_client_ack(s, ack_id, ...). */
  void (*on_event)(wsio_sio_client_socket *s, const char *event,
                   const char *args, size_t args_len, const wsio_span *bins,
                   size_t nbins, int64_t ack_id, void *user);
} wsio_sio_client_socket_options;

/* A socket for namespace nsp ("/" or "/chat") with auth (a JSON object text
 * sent in CONNECT, NULL for none): connects now if the session is open, else
 * once it opens. Returns NULL with *err (WSIO_EINVAL: bad nsp or auth not a
 * JSON object; WSIO_EEXIST: a socket for nsp exists; WSIO_ENOMEM). */
wsio_sio_client_socket *wsio_sio_client_socket_open(
    wsio_sio_client *c, const char *nsp, const char *auth,
    const wsio_sio_client_socket_options *opts, int *err);

/* Sends DISCONNECT for the namespace (when connected), reports
 * on_disconnect("io client disconnect"), drops its send buffer (pending acks
 * get WSIO_ECLOSED) and frees s in the next post phase. */
void wsio_sio_client_socket_close(wsio_sio_client_socket *s);

int wsio_sio_client_socket_connected(const wsio_sio_client_socket *s);
/* The client s belongs to. */
wsio_sio_client *wsio_sio_client_socket_client(const wsio_sio_client_socket *s);
/* The server's sid for this socket while connected, else NULL. */
const char *wsio_sio_client_socket_id(const wsio_sio_client_socket *s);

/* Called once per emit_ack: err 0 with the server's ack arguments (JSON array
 * text and attachments, borrowed), or WSIO_ETIMEDOUT (timeout_ms passed, the
 * emit is also taken out of the send buffer if still there) or WSIO_ECLOSED
 * (the socket disconnected after sending, or was closed). */
typedef void (*wsio_sio_client_ack_fn)(wsio_sio_client_socket *s, int err,
                                       const char *args, size_t len,
                                       const wsio_span *bins, size_t nbins,
                                       void *arg);

/* Emits event with args (JSON array text) and bins. While not connected the
 * packet waits in the send buffer. Returns 0 (sent), 1 (buffered),
 * WSIO_EDROPPED (the full send buffer refused it), WSIO_EINVAL (reserved or
 * empty event name, args not an array, a placeholder without its attachment),
 * WSIO_ECLOSED (socket closed, or the client gave up reconnecting),
 * WSIO_ENOMEM. */
int wsio_sio_client_emit(wsio_sio_client_socket *s, const char *event,
                         const char *args, size_t len, const wsio_span *bins,
                         size_t nbins);
/* The same with an acknowledgement: fn(arg) is called exactly once (see
 * wsio_sio_client_ack_fn); timeout_ms 0 means no timeout. */
int wsio_sio_client_emit_ack(wsio_sio_client_socket *s, const char *event,
                             const char *args, size_t len,
                             const wsio_span *bins, size_t nbins,
                             uint32_t timeout_ms, wsio_sio_client_ack_fn fn,
                             void *arg);
/* A volatile emit: sent only when connected and the transport is writable at
 * once (as the JS client's socket.volatile); otherwise WSIO_EDROPPED. */
int wsio_sio_client_emit_volatile(wsio_sio_client_socket *s, const char *event,
                                  const char *args, size_t len,
                                  const wsio_span *bins, size_t nbins);
/* Answers the server's event ack_id with args and bins. Returns 0,
 * WSIO_EINVAL, WSIO_ECLOSED (not connected: the server forgot it). */
int wsio_sio_client_ack(wsio_sio_client_socket *s, int64_t ack_id,
                        const char *args, size_t len, const wsio_span *bins,
                        size_t nbins);

/* The recovery state: the pid the server gave (NULL without recovery) and the
 * last offset seen (NULL before the first event with one). Borrowed until the
 * next callback. */
const char *wsio_sio_client_socket_pid(const wsio_sio_client_socket *s);
const char *wsio_sio_client_socket_offset(const wsio_sio_client_socket *s);

#ifdef __cplusplus
}
#endif
#endif
