/* core/transport.h — the one internal interface that the protocol layers above core
 * (Engine.IO, Socket.IO, and later TLS and the client role) build on.
 *
 * Owns nothing by itself: it names what core offers upward, so that eio and sio never
 * read a field of core's structures (core/conn.h is core's own header) nor drive the
 * net layer's shared output buffer themselves. What it offers:
 *   - the loop and the app clock of an app (timers are loop timers, loop/loop.h);
 *   - the request of a WebSocket upgrade while its open callback runs;
 *   - hooks: work run in the loop's post phase, when a graceful stop begins and when
 *     the app is destroyed (any number, run in registration order; destroy in reverse);
 *   - sends of message parts and of frames prepared once for many connections
 *     (core_frames: the "share the bytes or copy them" decision lives here only). */
#ifndef WSIO_CORE_TRANSPORT_H
#define WSIO_CORE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "loop/loop.h"
#include "wsio.h"

/* ---- the app's loop and clock ------------------------------------------------------ */
loop *core_loop(const wsio_app *app);
/* Milliseconds on the app's 32-bit clock (loop time, read once per iteration). */
uint32_t app_now(const wsio_app *app);
/* Wrap-safe "now is at or after due" on the 32-bit millisecond clock. */
static inline int time_reached(uint32_t now, uint32_t due) { return (int32_t)(now - due) >= 0; }
/* 1 once a graceful stop has begun (no new sessions should start). */
int app_stopping(const wsio_app *app);
/* Holds a graceful stop open for a client expected to come back (an Engine.IO polling
 * session whose queued packets wait for its next GET): +1 to hold, -1 to release. While
 * any hold stands, the stop keeps the listeners open (Node's polling client opens a new
 * connection per request), keeps idle keep-alive connections and answers without
 * "Connection: close"; the last release closes both. --drain-timeout still bounds it. */
void app_drain_hold(wsio_app *app, int delta);

/* ---- the upgrade ------------------------------------------------------------------ */
/* The HTTP request that opened c, valid only inside c's open callback (NULL elsewhere). */
const wsio_request *core_upgrade_request(const wsio_conn *c);

/* Counts a request refused for its Origin (wsio_request_origin_allowed said 0) in
 * wsio_stats.origin_refused_total. */
void core_count_origin_refusal(const wsio_request *req);

/* An Engine.IO long-polling handshake against handshakes_per_second per client IP:
 * 0, or the HTTP status (429, 503) to refuse with and a static *reason. */
int core_limit_handshake(const wsio_request *req, const char **reason);

/* Long-polling Engine.IO sessions count toward max_connections_per_ip like WebSockets.
 * session_open: a new session of req's client; 0 (counted: session_close with the
 * session's address when it ends), or the HTTP status (429, 503) and a static *reason.
 * A WebSocket that upgrades a counted session is not counted again: the route's upgrade
 * hook calls upgrade_of_session, and once the upgrade completes session_move hands the
 * count to the connection (1: the session no longer holds it; 0: it keeps it, e.g.
 * another address). family/peer: AF_INET/AF_INET6 and the address bytes. */
int core_limit_session_open(const wsio_request *req, const char **reason);
void core_limit_session_close(wsio_app *app, int family, const uint8_t *peer);
void core_limit_upgrade_of_session(const wsio_request *req);
int core_limit_session_move(wsio_conn *c, int family, const uint8_t *peer);

/* A log line through wsio_app_options.log (nothing when unset). */
void app_log(wsio_app *app, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- hooks ------------------------------------------------------------------------ */
typedef enum {
  CORE_HOOK_POST,    /* after each batch of events: batched flushes */
  CORE_HOOK_STOP,    /* a graceful stop begins, before WebSockets get their 1001 */
  CORE_HOOK_DESTROY, /* wsio_app_destroy, before connections are freed (reverse order) */
} core_hook_kind;
/* Returns 0 or WSIO_ENOMEM. */
int core_hook_add(wsio_app *app, core_hook_kind kind, void (*fn)(void *arg), void *arg);
/* Removes the hook added with the same fn and arg (safe inside any hook, itself
 * included: it does not run again). Returns 0 or WSIO_EINVAL when there is none. */
int core_hook_remove(wsio_app *app, core_hook_kind kind, void (*fn)(void *arg), void *arg);

/* Percent-decodes a query value s[0..n) into out (cap > 0; NUL-terminated, truncated
 * to cap - 1), '+' read as a space; returns the decoded length (wsio_request_query_param's
 * decoder, for a layer that holds the raw query only). */
int core_url_decode(const char *s, size_t n, char *out, size_t cap);

/* ---- threads: the apps of a group, one per thread (core/threads.c) ------------------ */
/* This app's place in its group (0 alone) and the group's size (1 alone). */
unsigned core_thread_index(const wsio_app *app);
unsigned core_thread_count(const wsio_app *app);
/* --threads: this member was asked to stop and waits for its peers (the stop barrier,
 * core/threads.c); a transport drops client messages meanwhile, unanswered (as a
 * closed session would), so that nothing is acknowledged that a peer may not deliver.
 * Always 0 alone. */
int core_quiescing(const wsio_app *app);
/* Message kinds between threads; each app has one handler per kind. */
enum { CORE_XT_TOPIC = 0, CORE_XT_SIO = 1, CORE_XT_NKINDS = 2 };
#define CORE_XT_ALL 0xFFFFFFFFu
#define CORE_MAX_THREADS 256
/* Runs on the receiving app's loop thread with the payload (valid for the call). */
typedef void (*core_xt_fn)(void *arg, unsigned from, const uint8_t *p, size_t n);
/* Sets the handler of kind for messages arriving at app. Returns 0 or WSIO_ENOMEM. */
int core_xt_handler(wsio_app *app, unsigned kind, core_xt_fn fn, void *arg);
/* Queues a + b (one message) for thread `to` (CORE_XT_ALL: every other thread). It is
 * delivered in order, after this iteration's post phase, in one batch with everything
 * else sent to that thread in the iteration: no lock per message. Alone: a no-op
 * returning 0. Returns 0, WSIO_EINVAL (no such thread, itself) or WSIO_ENOMEM. */
int core_xt_send(wsio_app *app, unsigned to, unsigned kind, const void *a, size_t an, const void *b, size_t bn);

/* Which thread owns a request: fn returns a thread index, or -1 (not its request, or
 * this thread's). Asked, when the app has several threads, for every request head
 * before it is served; a request owned by another thread is handed to it whole (the
 * connection's descriptor and the bytes read so far go to the owner's loop, which
 * adopts the connection and serves it), so a session's requests all reach the thread
 * holding it whichever connection they came on. Returns 0, WSIO_EINVAL (over 8) or
 * WSIO_ENOMEM. */
typedef int (*core_owner_fn)(void *arg, const char *path, size_t path_len, const char *query, size_t query_len);
int core_owner_add(wsio_app *app, core_owner_fn fn, void *arg);

/* ---- sending ---------------------------------------------------------------------- */
/* One message made of prefix + data (Engine.IO's "4" + text without joining them).
 * Returns as wsio_conn_send: 0 written, 1 buffered, negative WSIO_E* (not sent). The
 * public max_backpressure size rule does not apply (the layer has its own limit). */
int ws_send_parts(wsio_conn *c, wsio_opcode op, const void *prefix, size_t plen, const void *data, size_t len);

/* A message owed to c could not be written (c's send buffer was at max_backpressure, or
 * oom: no memory for it) and no caller can be told (a publish, a broadcast): whatever c
 * got next would hide the gap, so c is closed now, its close frame (1008 "send buffer
 * limit exceeded", counted in closed_backpressure_total, or 1011 "out of memory")
 * written after the bytes it was sent before the gap; nothing more is sent to it.
 * Flushes no publishes: safe while a topic is being written. No-op once closing. */
void ws_close_missed(wsio_conn *c, int oom);
/* wsio_app_options.max_backpressure (0: no cap). */
size_t core_max_backpressure(const wsio_app *app);

/* Frames prepared once and sent to many connections. The first recipient of an
 * iteration puts the bytes into the loop's shared output buffer and every later one
 * is owed a range of it (one batched send, no copy); when that is impossible (too
 * big, the shared buffer was flushed early) a recipient gets a copy. */
typedef struct core_frames {
  uint8_t *p; /* complete frames */
  size_t len, cap;
  uint32_t nframes;
  uint32_t shared_off;   /* place in the shared buffer ... */
  uint64_t shared_epoch; /* ... valid while this equals the net epoch + 1 (0: never) */
  struct core_zframes *z; /* the same frames compressed once per deflate window, built
                             on the first permessage-deflate recipient (frames.c) */
} core_frames;

static inline void core_frames_init(core_frames *f) {
  f->p = NULL;
  f->len = f->cap = 0;
  f->nframes = 0;
  f->shared_off = 0;
  f->shared_epoch = 0;
  f->z = NULL;
}
/* Appends one unmasked, unfragmented frame of opcode op carrying prefix + data.
 * Returns 0 or WSIO_ENOMEM (f unchanged). */
int core_frames_add(core_frames *f, wsio_opcode op, const void *prefix, size_t plen, const void *data,
                    size_t len);
/* Sends every frame in f to c. Returns as ws_send_parts. A connection that negotiated
 * permessage-deflate gets the messages of f at or over the threshold compressed: once
 * for every recipient with the same window (core_frames_for), or by its own compressor
 * with wsio_app_options.deflate_per_connection_broadcast. */
int core_frames_send(wsio_conn *c, core_frames *f);
/* Empties f for reuse; its memory is kept unless it grew past keep_cap bytes. */
void core_frames_reset(core_frames *f, size_t keep_cap);
void core_frames_free(core_frames *f);

#endif
