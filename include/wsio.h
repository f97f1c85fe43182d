/* wsio.h — the public C API of libwsio.
 *
 * wsio is an event-driven WebSocket (RFC 6455) server library: one event loop per
 * thread, no locks on the hot path. An application creates a wsio_app, registers
 * WebSocket routes (with open/message/drain/close callbacks) and plain HTTP routes,
 * listens, and runs the loop. Connections can subscribe to named topics; a publish is
 * framed once and written to every subscriber.
 *
 * Threading: every function here must be called from the thread running the app's
 * loop (inside a callback, or before wsio_app_run), with two exceptions:
 *  - wsio_app_post and wsio_app_stop may be called from any thread (and the
 *    wsio_app_thread_* getters, wsio_app_stats_sum);
 *  - wsio_app_stop (only it) may also be called from a signal handler.
 *
 * Arguments: every function taking a pointer checks it. A required pointer that is
 * NULL (or a data pointer that is NULL with a non-zero length) makes the call do
 * nothing and return WSIO_EINVAL (int results), NULL (pointer results), 0 (sizes,
 * predicates) or -1 (wsio_app_port); each function says which. Out-parameters named
 * `len` may be NULL.
 *
 * Ownership conventions, stated again at each function:
 *  - "borrowed": valid only until the callback returns; copy what you keep.
 *  - "copied": wsio copies the bytes before returning; you keep ownership.
 *  - A wsio_conn pointer is valid from the open callback until the close callback
 *    returns; never use it after that.
 *
 * Errors are negative WSIO_E* values; wsio_strerror() gives their text. */
#ifndef WSIO_H
#define WSIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSIO_VERSION "0.1.0"

/* ---- errors ---------------------------------------------------------------------- */
enum {
  WSIO_OK = 0,
  WSIO_EINVAL = -1,   /* invalid argument */
  WSIO_ENOMEM = -2,   /* out of memory */
  WSIO_EADDR = -3,    /* cannot resolve or bind the address */
  WSIO_ESYS = -4,     /* a system call failed; errno has the detail */
  WSIO_ECLOSED = -5,  /* the connection is closing or closed */
  WSIO_EEXIST = -6,   /* a route with this path already exists */
  WSIO_ETOOBIG = -7,  /* larger than allowed (protocol, max_backpressure, a buffer) */
  WSIO_ETIMEDOUT = -8, /* no answer in time (acknowledgements) */
  WSIO_EDROPPED = -9, /* not sent: the connection's send buffer is over max_backpressure */
};
const char *wsio_strerror(int err);

/* ---- WebSocket opcodes and close codes (RFC 6455 5.2, 7.4.1) -------------------- */
typedef enum {
  WSIO_OP_CONTINUATION = 0x0,
  WSIO_OP_TEXT = 0x1,
  WSIO_OP_BINARY = 0x2,
  WSIO_OP_CLOSE = 0x8,
  WSIO_OP_PING = 0x9,
  WSIO_OP_PONG = 0xA,
} wsio_opcode;

enum {
  WSIO_CLOSE_NORMAL = 1000,
  WSIO_CLOSE_GOING_AWAY = 1001,
  WSIO_CLOSE_PROTOCOL_ERROR = 1002,
  WSIO_CLOSE_UNSUPPORTED_DATA = 1003,
  WSIO_CLOSE_NO_STATUS = 1005,    /* reported to close callbacks, never sent */
  WSIO_CLOSE_ABNORMAL = 1006,     /* reported to close callbacks, never sent */
  WSIO_CLOSE_INVALID_PAYLOAD = 1007,
  WSIO_CLOSE_POLICY_VIOLATION = 1008,
  WSIO_CLOSE_MESSAGE_TOO_BIG = 1009,
  WSIO_CLOSE_INTERNAL_ERROR = 1011,
  WSIO_CLOSE_TRY_AGAIN_LATER = 1013,
};

/* The close code wsio sends to a connection whose send buffer stayed over
 * max_backpressure (see wsio_conn_send). */
#define WSIO_CLOSE_BACKPRESSURE WSIO_CLOSE_POLICY_VIOLATION

/* ---- the app ---------------------------------------------------------------------- */
typedef struct wsio_app wsio_app;
typedef struct wsio_conn wsio_conn;
typedef struct wsio_request wsio_request;
typedef struct wsio_response wsio_response;

/* Limits and timers. Initialise with wsio_app_options_init (the defaults below), then
 * change what you need. Times are in milliseconds; 0 disables that timer. */
typedef struct wsio_app_options {
  size_t max_message_size;        /* default 1 MiB; larger messages: close 1009 */
  size_t max_backpressure;        /* default 1 MiB of unsent bytes per connection */
  size_t kernel_send_limit;       /* WebSocket: unsent bytes the kernel may hold
                                     (TCP_NOTSENT_LOWAT), the rest counts toward
                                     max_backpressure; default 64 KiB, 0 the kernel's */
  size_t max_header_size;         /* request line + headers, default 8 KiB; over: 431 */
  size_t max_headers;             /* default 64; over: 431 */
  size_t max_body_size;           /* plain HTTP request bodies, default 1 MiB; over: 413 */
  size_t max_connections;         /* WebSocket connections, default 100000; over: 503 */
  unsigned ping_interval_ms;      /* default 25000 */
  unsigned ping_timeout_ms;       /* default 20000 */
  unsigned handshake_timeout_ms;  /* time to receive a full request head, default 10000 */
  unsigned close_timeout_ms;      /* wait for the peer's close / TCP FIN, default 5000 */
  unsigned shutdown_timeout_ms;   /* graceful shutdown bound, default 5000 */
  int io_uring;                   /* 1 (default): each loop iteration's socket sends (and
                                     reads) go to the kernel in one io_uring_enter where
                                     the kernel and build allow; 0: one syscall each */
  int handle_signals;             /* 1 (default): SIGINT/SIGTERM start a graceful shutdown,
                                     SIGHUP calls on_reload */
  /* permessage-deflate (RFC 7692), for clients that offer it (every browser does). Off by
   * default, as in Node's ws and Socket.IO: compression costs CPU per message and zlib
   * memory (about 300 KiB) per connection while it is in use. Streams are allocated when a
   * connection first compresses or inflates and freed after about two sweep periods
   * (at most 2 s) without compressed traffic, so an idle connection costs nothing more. */
  int deflate;                    /* 1: negotiate it; 0 (default): refuse every offer */
  size_t deflate_threshold;       /* messages under this many bytes are sent uncompressed;
                                     0 = the default 1024 (as Node's ws); 1: all but empty */
  /* Origins allowed to open a WebSocket or an Engine.IO session (docs/security.md):
   * a comma-separated list of exact origins ("https://host[:port]"), wildcards (a
   * first label "*": any subdomain of example.com, not example.com itself) or "*". NULL (default): no check. A request without Origin (not a browser) passes;
   * a browser's Origin outside the list gets 403, against cross-site WebSocket
   * hijacking. The string is copied; wsio_app_create fails on a bad list (check it
   * first with wsio_origins_check for a reason). */
  const char *allowed_origins;
  /* Rate limits (docs/security.md; 0 = no limit, the default). Keyed by the client IP:
   * the peer, or what a trusted proxy says it forwarded for (trusted_proxies). */
  const char *trusted_proxies;       /* addresses and CIDR blocks, comma-separated; copied */
  int forwarded_header;              /* 0: X-Forwarded-For (default); 1: Forwarded (RFC 7239) */
  unsigned max_connections_per_ip;   /* open WebSockets per IP; over: 429 */
  unsigned handshakes_per_second;    /* WebSocket and Engine.IO polling handshakes per
                                        second per IP; over: 429 */
  unsigned handshake_burst;          /* at once; 0 = handshakes_per_second */
  unsigned messages_per_second;      /* messages received per second per WebSocket */
  unsigned messages_burst;           /* at once; 0 = messages_per_second */
  int messages_over_close;           /* over it: 1 closes with 1008; 0 drops and counts */
  unsigned ip_table_slots;           /* per-IP table size (40 bytes a slot); 0 = 16384 */
  int deflate_client_context_takeover; /* 0 (default): the 101 asks every client for
                                     client_no_context_takeover, so our inflater keeps no
                                     window between messages (an idle connection holds no
                                     inflater memory); 1: clients keep their context (better
                                     ratio for similar messages, up to 32 KiB kept per idle
                                     connection), as Node's ws does by default */
  int deflate_per_connection_broadcast; /* 0 (default): a broadcast (topic publish,
                                     Socket.IO room emit) is compressed once per window
                                     size and the same bytes go to every deflate
                                     recipient; 1: each recipient's own compressor
                                     compresses it (Node's way; for measurements) */
  /* TLS (OpenSSL 3): with both set, every listener serves https:// and wss:// only, on
   * the same port: TLS 1.2+, OpenSSL's default ciphers, no compression or renegotiation,
   * ALPN http/1.1. A PEM certificate chain (leaf first) and its PEM private key; read at
   * wsio_app_create (which fails if they do not load) and again by wsio_app_reload_tls
   * (SIGHUP does it with handle_signals). Borrowed: must outlive the app. */
  const char *tls_cert_file;
  const char *tls_key_file;
  /* Optional, with the two above: certificates chosen by the server name a client asks
   * for (SNI), "HOST:CERT:KEY" entries separated by commas (HOST exact or "*.example.com");
   * other names get tls_cert_file. Loaded and reloaded with it, all or nothing. Borrowed. */
  const char *tls_sni;
  /* Optional: SIGHUP arrived (with handle_signals), e.g. to reopen log files. */
  void (*on_reload)(wsio_app *app, void *user);
  /* Optional: events worth a log line (abnormal closes, protocol errors, timeouts,
   * dropped slow consumers, listener errors), one call per event, msg borrowed. */
  void (*log)(int level, const char *msg, void *user);
  void *hooks_user; /* passed to on_reload and log */
  /* Mutual TLS (docs/security.md), with tls_cert_file: a PEM file of the CA certificates
   * that sign client certificates. Clients are asked for one at every handshake (on every
   * --tls-sni name too); one that does not verify against these CAs fails the handshake
   * (counted in tls_handshake_failures_total, the reason logged at debug), and so does
   * none under WSIO_TLS_CLIENT_AUTH_REQUIRE. Loaded and reloaded with the certificate,
   * all or nothing; wsio_app_create fails when it does not load. The subject of a
   * verified certificate: wsio_request_tls_peer. Borrowed: must outlive the app. */
  const char *tls_client_ca_file;
  int tls_client_auth; /* WSIO_TLS_CLIENT_AUTH_REQUIRE (0, default) or _OPTIONAL */
  /* With tls_client_ca_file: a PEM file of certificate revocation lists, one from each
   * CA of tls_client_ca_file, none past its next update or not valid yet (else wsio_app_create fails, or
   * a reload keeps the old set). A revoked certificate, anywhere in the client's
   * chain, fails the handshake ("certificate revoked"), and so does every certificate
   * once a list has expired: reload a fresh one (SIGHUP) before its next update.
   * Reloaded with the certificate. Borrowed: must outlive the app. */
  const char *tls_crl_file;
} wsio_app_options;

/* wsio_app_options.tls_client_auth: a client without a certificate fails the handshake
 * (REQUIRE), or connects with no peer subject (OPTIONAL). */
enum { WSIO_TLS_CLIENT_AUTH_REQUIRE = 0, WSIO_TLS_CLIENT_AUTH_OPTIONAL = 1 };

/* Levels passed to wsio_app_options.log. */
enum { WSIO_LOG_DEBUG = 0, WSIO_LOG_INFO = 1, WSIO_LOG_WARN = 2, WSIO_LOG_ERROR = 3 };

void wsio_app_options_init(wsio_app_options *opts);

/* Checks an allowed_origins list. Returns 0, or WSIO_EINVAL with a static reason in
 * *why (when why is not NULL); *any is set to 1 when the list allows every origin. */
int wsio_origins_check(const char *list, int *any, const char **why);

/* 1 when the request may proceed as far as its Origin goes: the app has no
 * allowed_origins, the request has no Origin header, or its Origin is listed. 0 when a
 * browser on another site sent it (the caller answers 403). */
int wsio_request_origin_allowed(const wsio_request *req);

/* Creates an app with its event loop. opts is copied (NULL = defaults).
 * Returns NULL on failure (out of memory, epoll unavailable). */
wsio_app *wsio_app_create(const wsio_app_options *opts);

/* Frees the app: closes listeners and connections abruptly (no callbacks) and frees
 * everything. Call after wsio_app_run has returned. */
void wsio_app_destroy(wsio_app *app);

/* Starts listening on host:port (host NULL = "127.0.0.1"; "::1", "0.0.0.0", names
 * resolved with getaddrinfo). port 0 picks a free port; wsio_app_port tells which.
 * Returns 0; WSIO_EINVAL (app NULL, port outside 0..65535); WSIO_EADDR when the
 * address cannot be resolved or bound (in use, not local, not permitted); WSIO_ENOMEM;
 * WSIO_ESYS for other system errors. On failure errno keeps the system's reason, so
 * strerror(errno) says e.g. "Address already in use". */
int wsio_app_listen(wsio_app *app, const char *host, int port);

/* The same for a listener that stays plain HTTP when the app serves TLS (tls_cert_file):
 * health checks and metrics scrapes from a private network. It serves every route, so
 * bind it to an address only they can reach. Returns the port it bound (>= 0; useful
 * with port 0) or the errors of wsio_app_listen; it does not change wsio_app_port. */
int wsio_app_listen_plain(wsio_app *app, const char *host, int port);

/* The port of the first listener (after wsio_app_listen), or -1 (also for NULL). */
int wsio_app_port(const wsio_app *app);

/* Runs the event loop until wsio_app_stop or a graceful shutdown completes. An app
 * runs once. Returns 0; WSIO_EINVAL when app is NULL or nothing listens (a server
 * without a listener would wait forever: call wsio_app_listen first); WSIO_ESYS on a
 * fatal loop error (errno set). */
int wsio_app_run(wsio_app *app);

/* Asks the loop to shut down gracefully: stop accepting, close every WebSocket with
 * 1001, wait up to shutdown_timeout_ms for the close handshakes, then return from
 * wsio_app_run. Safe from any thread and from a signal handler: it only sets an
 * atomic flag and writes to an eventfd; the loop's thread does the work in its next
 * iteration (called before wsio_app_run, the run stops at once). Idempotent. */
void wsio_app_stop(wsio_app *app);

/* Runs fn(arg) on the app's loop thread, soon (uWebSockets' Loop::defer): the way for
 * another thread to publish, send or close. Thread-safe; not for signal handlers
 * (it locks a mutex and allocates). Posts run in the order they were made, each
 * exactly once:
 *  - while wsio_app_run runs (a graceful stop included), in the next loop iteration;
 *  - posted before wsio_app_run: as soon as it starts;
 *  - posted after it returned (or never run): at the start of wsio_app_destroy, on
 *    the thread calling it, with the app still whole (so fn can always free arg). A connection fn was told about may be
 *    gone by then: pass ids, not wsio_conn pointers, across threads.
 * Posting concurrently with or after wsio_app_destroy is undefined: join the threads
 * that post before destroying the app. Returns 0, WSIO_EINVAL (app or fn NULL) or
 * WSIO_ENOMEM. */
int wsio_app_post(wsio_app *app, void (*fn)(void *arg), void *arg);

/* ---- threads: one app per thread, one server (wsio-server --threads N) ----------
 * Apps joined in a group serve as one server, each run by its own thread on its own
 * loop (no lock on the hot path): they listen on the same port (SO_REUSEPORT: the
 * kernel spreads new connections over the threads), a topic publish reaches the
 * subscribers of every thread, Socket.IO servers attached to each span them all
 * (rooms, broadcasts, acks, queries; a session stays on the thread that made it and a
 * long-poll arriving elsewhere is handed to it), wsio_app_stats_sum adds their
 * counters up, and a graceful stop of one (SIGTERM) drains them all.
 * How: create the apps with the same options (handle_signals on the first only), join
 * each to the first, then give each the same routes (attach Socket.IO after joining:
 * its in-process adapter is installed at the attach), listen on each (the others may
 * pass port 0: they get the first's port), then wsio_threads_run. Join, listen and
 * destroy on one thread, while none of the group runs; a callback runs on its app's
 * thread only. */
/* Adds app to first's group (first becomes thread 0, app the next). Returns 0,
 * WSIO_EINVAL (the same app, already grouped, already listening, over 256 apps) or
 * WSIO_ENOMEM. */
int wsio_app_join(wsio_app *app, wsio_app *first);
/* Its index in the group (0 alone) and the group's size (1 alone). Any thread. */
unsigned wsio_app_thread_index(const wsio_app *app);
unsigned wsio_app_thread_count(const wsio_app *app);
/* The group's app at index i (app itself when alone and i is 0), or NULL. */
wsio_app *wsio_app_thread_peer(const wsio_app *app, unsigned i);
/* Runs apps[1..n) on threads of their own and apps[0] on the calling thread (the one
 * that should receive signals); returns when every run has returned (one stopping
 * stops all). Returns 0 or the first failure as wsio_app_run. */
int wsio_threads_run(wsio_app *const *apps, unsigned n);
/* The number of cores this process may run on (--threads auto). */
unsigned wsio_threads_auto(void);

/* Arbitrary pointer for the application; wsio never touches it. */
void wsio_app_set_user(wsio_app *app, void *user);
void *wsio_app_user(const wsio_app *app);

/* ---- timers ----------------------------------------------------------------------- */
/* A timer on the app's loop (libuv's uv_timer_t, setTimeout/setInterval): the
 * callback runs on the loop thread. Loop thread only, like everything here except
 * wsio_app_post/stop. The application owns the handle: wsio_timer_destroy frees it
 * (also from inside its own callback); wsio_app_destroy frees the timers still alive,
 * so do not use a handle after that. Timers only fire while wsio_app_run runs. */
typedef struct wsio_timer wsio_timer;
typedef void (*wsio_timer_cb)(wsio_timer *timer, void *user);

/* Creates a stopped timer. Returns NULL when app or cb is NULL, or out of memory. */
wsio_timer *wsio_timer_create(wsio_app *app, wsio_timer_cb cb, void *user);
/* (Re)arms the timer: cb runs after_ms from now (the loop's clock; 0 = the next loop
 * iteration, never inside this call), then every repeat_ms when repeat_ms > 0. Starting
 * an active timer restarts it. Returns 0, WSIO_EINVAL (NULL, or repeat_ms over
 * UINT32_MAX) or WSIO_ENOMEM. */
int wsio_timer_start(wsio_timer *timer, uint64_t after_ms, uint64_t repeat_ms);
/* Stops the timer (no-op when stopped or NULL). */
void wsio_timer_stop(wsio_timer *timer);
/* 1 when armed (a one-shot timer is disarmed when its callback starts), else 0. */
int wsio_timer_active(const wsio_timer *timer);
/* Stops and frees the timer (NULL: no-op). */
void wsio_timer_destroy(wsio_timer *timer);
void *wsio_timer_user(const wsio_timer *timer);

/* ---- requests (handshake / HTTP) -------------------------------------------------- */
/* All returned pointers are borrowed: valid until the callback that received the
 * request returns. Strings are not NUL-terminated; lengths are given. A NULL request
 * gives NULL (and *len = 0). */
const char *wsio_request_method(const wsio_request *req, size_t *len);
const char *wsio_request_path(const wsio_request *req, size_t *len);
/* The query string after '?', or NULL (and *len = 0) when there is none. */
const char *wsio_request_query(const wsio_request *req, size_t *len);
/* Case-insensitive header lookup; NULL when absent. */
const char *wsio_request_header(const wsio_request *req, const char *name, size_t *len);
/* Copies the value of query parameter `key` (percent-decoded) into out (NUL-terminated,
 * truncated to cap). Returns the decoded length, or -1 when the key is absent, or
 * WSIO_EINVAL (also -1) when req, key or out is NULL or cap is 0. */
int wsio_request_query_param(const wsio_request *req, const char *key, char *out, size_t cap);
/* The request body (plain HTTP routes only); borrowed. */
const uint8_t *wsio_request_body(const wsio_request *req, size_t *len);
/* Room for any address wsio_request/conn_remote_address writes, with its NUL. */
#define WSIO_ADDRSTRLEN 46
/* Writes the peer address as text ("127.0.0.1", "::1") into buf (NUL-terminated).
 * Returns its length, WSIO_EINVAL (NULL arguments) or WSIO_ETOOBIG (cap too small;
 * WSIO_ADDRSTRLEN always suffices). */
int wsio_request_remote_address(const wsio_request *req, char *buf, size_t cap);
/* Room for any subject wsio_request_tls_peer writes, with its NUL (longer: WSIO_ETOOBIG). */
#define WSIO_TLS_PEER_MAX 1024
/* Mutual TLS (wsio_app_options.tls_client_ca_file): the subject of the client
 * certificate the connection's TLS handshake verified, as an RFC 2253 one-line name,
 * most specific first ("CN=device-7,OU=sensors,O=Acme"; bytes outside printable ASCII
 * escaped as \XX), NUL-terminated in buf. Returns its length; 0 (buf "") when the
 * connection has none: plain TCP, no tls_client_ca_file, or a client that sent none
 * (WSIO_TLS_CLIENT_AUTH_OPTIONAL); WSIO_EINVAL (NULL arguments), WSIO_ETOOBIG (cap too
 * small), WSIO_ENOMEM. Usable wherever a request is (an upgrade hook, an HTTP handler,
 * Socket.IO's allow_request); each long-polling request is its own connection. */
int wsio_request_tls_peer(const wsio_request *req, char *buf, size_t cap);

/* ---- WebSocket routes ------------------------------------------------------------- */
typedef struct wsio_ws_handlers {
  /* Bytes of per-connection user data allocated inline with each connection, zeroed;
   * wsio_conn_user_data returns it. A connection is allocated before its request names
   * a route, so every connection of the app carries the largest user_data_size of its
   * WebSocket routes: keep it small (an id, a pointer, freed in release), not a buffer
   * that one route needs now and then. */
  size_t user_data_size;

  /* Subprotocols this route speaks, most preferred last is irrelevant: the client's
   * order of preference decides (RFC 6455 4.2.2). NULL-terminated array, or NULL for
   * none. Borrowed for the lifetime of the app. */
  const char *const *subprotocols;

  /* Optional. Called with the parsed handshake before the 101 is sent, for
   * authentication or Origin checks. user_data is the connection's (zeroed) user data
   * so the hook can stash what it learnt. Return 0 to accept, or an HTTP status
   * (400-599) to refuse; *reason may be set to a static/borrowed text for the body. */
  int (*upgrade)(const wsio_request *req, void *user_data, const char **reason, void *route_user);

  /* The connection is open (after the 101 was queued). */
  void (*open)(wsio_conn *conn);

  /* A complete message. data is borrowed (valid until the callback returns) and, for
   * text, valid UTF-8. */
  void (*message)(wsio_conn *conn, const uint8_t *data, size_t len, wsio_opcode op);

  /* All buffered bytes were written to the kernel after a send returned
   * WSIO_SEND_BUFFERED or WSIO_EDROPPED (or a publish skipped this connection). */
  void (*drain)(wsio_conn *conn);

  /* A pong arrived (payload borrowed). Optional. */
  void (*pong)(wsio_conn *conn, const uint8_t *data, size_t len);

  /* The connection is gone. code is the close code received (or 1005 when the close
   * had none, 1006 when the TCP connection ended without a close frame or was dropped
   * by a timeout); reason is borrowed. The conn pointer dies when this returns. Sends
   * from here return WSIO_ECLOSED, whatever the code. */
  void (*close)(wsio_conn *conn, int code, const uint8_t *reason, size_t reason_len);

  /* Optional. Called once with the connection's user data when its memory is freed,
   * for every connection of this route whose upgrade hook ran (the hook accepted it or
   * not, and whether or not it opened: a handshake can still fail after the hook), or
   * that opened: what the hook allocated and kept in the user data (a pointer) is
   * freed here. After close, when the connection opened; never on another thread. */
  void (*release)(void *user_data, void *route_user);
} wsio_ws_handlers;

/* Registers a WebSocket route at `path` (copied): an exact path, or a prefix when it
 * ends in an asterisk (as in "/chat/" followed by one). A path may also have HTTP routes: upgrade requests go to
 * the WebSocket route, other requests to the HTTP route for their method. handlers is copied;
 * route_user is passed to upgrade and reachable with wsio_conn_route_user.
 * Returns 0, WSIO_EINVAL (app, path or handlers NULL, path not starting with '/'),
 * WSIO_EEXIST or WSIO_ENOMEM (nothing registered then). */
int wsio_app_ws(wsio_app *app, const char *path, const wsio_ws_handlers *handlers, void *route_user);

/* ---- plain HTTP routes ------------------------------------------------------------ */
/* The handler must answer with wsio_response_send (exactly once) before returning;
 * if it does not, wsio answers 500. */
typedef void (*wsio_http_handler)(const wsio_request *req, wsio_response *res, void *route_user);

/* Registers handler for method (e.g. "GET"; NULL = any method) at path (copied; exact,
 * or a prefix when it ends in '*').
 * A GET route also answers HEAD (body omitted). Returns 0, WSIO_EINVAL (app, path or
 * handler NULL, path not starting with '/'), WSIO_EEXIST or WSIO_ENOMEM (nothing
 * registered then). */
int wsio_app_http(wsio_app *app, const char *method, const char *path, wsio_http_handler handler,
                  void *route_user);

/* Adds a response header (name and value copied). Call before wsio_response_send.
 * Returns 0, WSIO_EINVAL (NULL, CR/LF or ':' in the name, CR/LF in the value, already
 * sent) or WSIO_ENOMEM. */
int wsio_response_header(wsio_response *res, const char *name, const char *value);

/* Keeps the response open after the handler returns (long-polling): the returned
 * response stays valid until you answer it with wsio_response_send, or until the
 * connection closes first, in which case on_abort (may be NULL) runs and the response
 * is freed by wsio — do not use it after that. Further requests on the connection wait
 * until it is answered. Returns NULL when res is NULL, out of memory or already sent. */
wsio_response *wsio_response_hold(wsio_response *res, void (*on_abort)(wsio_response *res, void *user),
                                  void *user);

/* Sends the response: status, Content-Type (NULL = text/plain; charset=utf-8) and the
 * body (copied). Returns 0; WSIO_EINVAL (res NULL, body NULL with len > 0, already
 * sent); WSIO_ECLOSED (the connection is gone); WSIO_ENOMEM (the connection is then
 * closed: a response is never half sent). */
int wsio_response_send(wsio_response *res, int status, const char *content_type, const void *body,
                       size_t len);

/* ---- connections ------------------------------------------------------------------ */
/* The successes of wsio_conn_send (and wsio_app_publish's per-subscriber writes);
 * every failure is a negative WSIO_E*. */
typedef enum {
  WSIO_SEND_WRITTEN = 0,  /* handed to the kernel, or queued for this loop iteration's
                             single flush to this connection */
  WSIO_SEND_BUFFERED = 1, /* accepted, queued in the connection's send buffer behind
                             bytes the kernel refused: drain runs when it is empty */
} wsio_send_status;
/* Deprecated: the old name of WSIO_EDROPPED (once the positive value 2). */
#define WSIO_SEND_DROPPED WSIO_EDROPPED

/* Sends one message (data copied or written at once). op is WSIO_OP_TEXT or
 * WSIO_OP_BINARY. Text is not checked for UTF-8 (as in uWebSockets): sending invalid
 * UTF-8 as text makes a conforming client fail the connection (1007).
 * Returns WSIO_SEND_WRITTEN (0) or WSIO_SEND_BUFFERED (1), or nothing is sent and:
 *  - WSIO_EINVAL: conn NULL, data NULL with len > 0, op not TEXT or BINARY;
 *  - WSIO_ECLOSED: the close handshake has begun (a close frame was sent or received,
 *    or the close callback is running) or the connection is gone;
 *  - WSIO_ETOOBIG: len > max_backpressure (when it is not 0): such a message could
 *    never be sent within the limit;
 *  - WSIO_EDROPPED: the send buffer is already at max_backpressure. drain runs once it
 *    has been written; a connection that has not emptied it by the next sweep is
 *    closed with WSIO_CLOSE_BACKPRESSURE (you were told of the drop: resending, or
 *    closing at once, is yours to decide; a publish closes at once);
 *  - WSIO_ENOMEM: out of memory (the connection is failed).
 * Backpressure rule: a message is accepted whole while the buffer is under the cap
 * (so it may end up to one message over it); after any send returned
 * WSIO_SEND_BUFFERED or WSIO_EDROPPED, drain runs once everything is written. */
int wsio_conn_send(wsio_conn *conn, const void *data, size_t len, wsio_opcode op);

/* Sends a ping (payload <= 125 bytes, copied). Returns 0, WSIO_EINVAL, WSIO_ETOOBIG
 * or WSIO_ECLOSED (same rule as wsio_conn_send). */
int wsio_conn_ping(wsio_conn *conn, const void *data, size_t len);

/* Starts the close handshake with code and reason (copied, truncated to 123 bytes).
 * code is 0 (a close frame without code) or one a close frame may carry (RFC 6455
 * 7.4): 1000-1003, 1007-1014, 3000-4999. The close callback runs when the handshake
 * completes. Returns 0, WSIO_EINVAL (conn NULL, a code that may not be sent such as
 * 999, 1005, 1006, 1015 or 5000) or WSIO_ECLOSED (already closing). */
int wsio_conn_close(wsio_conn *conn, int code, const char *reason);

/* Drops the TCP connection at once (no close handshake); close callback gets 1006. */
void wsio_conn_terminate(wsio_conn *conn);

/* Bytes accepted but not yet written to the kernel (0 for NULL). */
size_t wsio_conn_buffered_amount(const wsio_conn *conn);

/* The inline user data (user_data_size bytes from the route), or NULL when 0. */
void *wsio_conn_user_data(wsio_conn *conn);
void *wsio_conn_route_user(const wsio_conn *conn);
wsio_app *wsio_conn_app(const wsio_conn *conn);
/* The negotiated subprotocol (borrowed from the route's list) or NULL. */
const char *wsio_conn_protocol(const wsio_conn *conn);
/* Writes the peer address as text into buf; as wsio_request_remote_address. The
 * address is kept in binary in the connection and formatted only when asked. */
int wsio_conn_remote_address(const wsio_conn *conn, char *buf, size_t cap);
/* The verified client certificate's subject, as wsio_request_tls_peer gives it during
 * the handshake; readable for the connection's whole life (formatted when asked), so
 * there is no need to keep a copy in the user data. */
int wsio_conn_tls_peer(const wsio_conn *conn, char *buf, size_t cap);

/* ---- topics: publish/subscribe fan-out -------------------------------------------- */
/* Subscribes conn to topic (NUL-terminated, copied once per topic). Idempotent.
 * Returns 0, WSIO_EINVAL (NULL), WSIO_ECLOSED or WSIO_ENOMEM. */
int wsio_conn_subscribe(wsio_conn *conn, const char *topic);
/* Returns 1 when conn was subscribed, 0 otherwise, WSIO_EINVAL for NULL. */
int wsio_conn_unsubscribe(wsio_conn *conn, const char *topic);
/* 1 when subscribed, else 0 (also for NULL). */
int wsio_conn_is_subscribed(const wsio_conn *conn, const char *topic);

/* Sends data (copied) as one message to every subscriber of topic. The frame is built
 * once; within one loop iteration, publishes to a topic are batched so each subscriber
 * gets one write. Order is preserved per topic and relative to direct sends on each
 * connection. op is WSIO_OP_TEXT or WSIO_OP_BINARY (text not checked, as in
 * wsio_conn_send). A subscriber whose send buffer is at max_backpressure is not sent
 * the message (counted in dropped_backpressure_total) and, since nobody could tell it,
 * is closed there and then with WSIO_CLOSE_BACKPRESSURE after what it was sent before
 * (closed_backpressure_total): it never gets a later message past the gap.
 * Returns the number of subscribers (0 when none), or WSIO_EINVAL (NULL, bad op),
 * WSIO_ETOOBIG (len > max_backpressure) or WSIO_ENOMEM; nothing is sent on error. */
int wsio_app_publish(wsio_app *app, const char *topic, const void *data, size_t len, wsio_opcode op);

/* Number of subscribers of topic (0 for NULL). */
size_t wsio_app_num_subscribers(const wsio_app *app, const char *topic);

/* ---- statistics ------------------------------------------------------------------- */
#define WSIO_STATS_NCLOSE 12
#define WSIO_STATS_NSTATUS 10
#define WSIO_STATS_NLAG 10

typedef struct wsio_stats {
  uint64_t connections_open;       /* WebSocket connections open now */
  uint64_t connections_total;      /* WebSocket connections ever opened */
  uint64_t http_requests_total;
  uint64_t handshake_failures_total;
  uint64_t messages_in_total, messages_out_total;
  uint64_t bytes_in_total, bytes_out_total;
  uint64_t publishes_total, deliveries_total;
  uint64_t dropped_backpressure_total;  /* sends refused over max_backpressure */
  uint64_t closed_backpressure_total;   /* connections closed for staying over it */
  uint64_t ping_timeouts_total;
  uint64_t handshake_timeouts_total;
  uint64_t protocol_errors_total;       /* connections failed with 1002/1007/1009 */
  /* WebSocket connections ended, by the close code their close callback reported:
   * slot i counts wsio_stats_close_code(i); the last slot counts every other code. */
  uint64_t closes_by_code[WSIO_STATS_NCLOSE];
  /* Failed handshakes by the HTTP status answered: slot i counts
   * wsio_stats_handshake_status(i); the last slot counts other statuses. */
  uint64_t handshake_failures_by_status[WSIO_STATS_NSTATUS];
  /* Event-loop lag: how late the loop ran each timer it fired (the periodic sweep,
   * Engine.IO heartbeats, ack and polling deadlines, the application's timers), from
   * each timer's due time to the start of the iteration that ran it (millisecond
   * resolution). loop_lag_buckets[i] counts lags of at most wsio_stats_lag_bound(i)
   * seconds (not cumulative; the last is +Inf). */
  uint64_t loop_lag_buckets[WSIO_STATS_NLAG];
  uint64_t loop_lag_count;
  double loop_lag_sum_seconds;
  /* Connections refused at accept: out of descriptors (ulimit -n) or kernel memory.
   * Counted once per listener wake-up, so it measures episodes, not clients. */
  uint64_t accept_errors_total;
  /* TLS sessions that failed before their handshake completed: plain HTTP to the TLS
   * port, a client hello of garbage, nothing in common with the client, a client
   * certificate missing or refused (tls_client_ca_file). */
  uint64_t tls_handshake_failures_total;
  /* Handshakes (WebSocket or Engine.IO) refused because their Origin is not in
   * allowed_origins (also counted in handshake_failures_by_status as 403 for WebSockets). */
  uint64_t origin_refused_total;
  /* Rate limits: handshakes refused (429) for the IP's open connections, for its
   * handshake rate, or (503) because the per-IP table was full; messages received over
   * messages_per_second, dropped or (messages_over_close) closing the connection. */
  uint64_t ratelimit_connections_total;
  uint64_t ratelimit_handshakes_total;
  uint64_t ratelimit_table_full_total;
  uint64_t ratelimit_messages_dropped_total;
  uint64_t ratelimit_messages_closed_total;
  /* permessage-deflate: messages compressed, by a connection's own compressor or once
   * for every broadcast recipient with the same window (counted once). */
  uint64_t deflate_compressions_total;
  /* --threads: connections handed to the thread owning their request (a long-poll of
   * a session another thread holds). */
  uint64_t handoffs_total;
} wsio_stats;

/* Reads tls_cert_file and tls_key_file again: connections accepted from now on get the
 * new certificate, open ones keep their sessions. When the new files do not load (a
 * half-written file, a key that does not match), the old certificate stays and the
 * reason is logged. WSIO_OK, WSIO_EINVAL without TLS, WSIO_ESYS when they failed. */
int wsio_app_reload_tls(wsio_app *app);

/* Copies the counters into out (zeroed when app is NULL; nothing when out is NULL). */
void wsio_app_stats(const wsio_app *app, wsio_stats *out);
/* The counters of every app of app's group added up (wsio_app_stats when alone). The
 * other threads' counters are read as they stand: each may be an iteration old. */
void wsio_app_stats_sum(const wsio_app *app, wsio_stats *out);
/* The close code of closes_by_code slot i (0 for the last, "other", slot). */
int wsio_stats_close_code(size_t i);
/* The HTTP status of handshake_failures_by_status slot i (0 for the last slot). */
int wsio_stats_handshake_status(size_t i);
/* The upper bound in seconds of loop_lag_buckets slot i (INFINITY for the last). */
double wsio_stats_lag_bound(size_t i);

#ifdef __cplusplus
}
#endif

#include "wsio/eio.h"
#include "wsio/sio.h"

#endif
