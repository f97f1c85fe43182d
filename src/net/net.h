/* net/net.h — TCP transport: listeners, accepted connections, buffered non-blocking
 * writes batched per loop iteration, and per-connection backpressure accounting.
 *
 * Owns: file descriptors and bytes. Must not know HTTP or WebSocket: the layer above
 * embeds net_conn as the first member of its connection and receives bytes through
 * net_handlers. TLS lives here too (net/tls.h): a connection accepted while the
 * context has a server certificate gets a session; its ciphertext goes through the
 * same reads and batched writes, and on_data/net_write see plaintext, so the layers
 * above do not change. A TLS connection's writes of an iteration (broadcast ranges
 * included) are owed as plaintext and encrypted once, in the flush.
 *
 * Writing: bytes written for a connection during an iteration are appended to one
 * per-context buffer shared by all connections (broadcast frames are appended once
 * and owed to every recipient); each connection is owed a range of it. The loop's
 * post phase (net_flush_queued) sends every connection its range, all in one
 * io_uring_enter(2) where the kernel has io_uring (net/batch.h), so a busy iteration
 * costs one syscall, not one per connection. A connection keeps its own backlog only
 * for what the kernel did not take (or for bytes that could not follow its range),
 * and waits for EPOLLOUT only then.
 * A big payload that lies in the receive buffer (an echo, net_write2_lent) joins the
 * shared stream without being copied: the connection's range then has that piece
 * in place, sent with the rest by one gathered send in the flush, and the receive
 * buffer is not read into again until it is sent or copied to the backlog.
 *
 * Failing: when memory for a connection's bytes cannot be had, the connection fails
 * as a whole (its output is dropped, the peer gets a reset, on_end(c, -ENOMEM)
 * follows from the post phase): a stream never goes on with a hole in it.
 *
 * Reading: with a ring, readable connections are read in the post phase too
 * (net_read_queued), many per syscall; without one, at once from the event. */
#ifndef WSIO_NET_H
#define WSIO_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop/loop.h"

typedef struct net_ctx net_ctx;
typedef struct net_conn net_conn;
typedef struct net_listener net_listener;

enum {
  NET_F_CLOSED = 1 << 0,       /* fd closed; struct awaits release by the owner */
  NET_F_SHUT_PENDING = 1 << 1, /* shutdown(SHUT_WR) once the backlog is written */
  NET_F_SHUT_DONE = 1 << 2,
  NET_F_WANT_DRAIN = 1 << 3,   /* call on_drain when the backlog empties */
  NET_F_QUEUED = 1 << 4,       /* backlog holds writes of this iteration, flushed in post */
  NET_F_RECENT = 1 << 5,       /* the backlog buffer was used since the last trim */
  NET_F_READQ = 1 << 6,        /* readable: waits in the context's read queue */
  NET_F_FAILED = 1 << 7,       /* failed by net itself (fail_errno): output dropped, on_end due */
};

enum { /* net_conn.xflags */
  NET_X_END = 1 << 0,      /* net_end: on_end(c, 0) once everything queued is written */
  NET_X_LOWAT = 1 << 1,    /* inherited the context's kernel send limit from its listener */
};

/* Layers that put frames in the shared output buffer themselves (topics, Engine.IO
 * broadcasts) keep what they append below this; a later step moves that decision
 * behind one interface. */
#define NET_SHARED_FLUSH_AT (64 * 1024)
/* The shared output buffer of an iteration is sent early once it would grow past
 * this (net_bcast_epoch changes), so it stays cache-sized and a burst of writes is
 * never copied to backlogs. Several connections' worth of big echoes fit in it: at
 * 64 KiB, a peer with four 16 KiB messages in flight pushed it over on its own, so
 * nearly every connection's answers were sent by a spill of their own (one syscall
 * each, two with the round's last ones) instead of with the iteration's batch. */
#define NET_SHARED_SPILL_AT (4 * NET_SHARED_FLUSH_AT)

struct net_conn {
  loop_io io;
  net_ctx *ctx;
  net_conn *prev, *next; /* the context's list of all connections (for sweeps) */
  uint8_t *out;          /* backlog: bytes the kernel has not taken yet */
  net_conn *flush_next; /* in the context's queue of connections to flush */
  /* The 32-bit fields after the pointers, so no padding hole: every idle connection
   * carries this struct (docs/capacity.md). */
  uint32_t out_off, out_len, out_cap;
  uint32_t bc_off, bc_len; /* this iteration's shared bytes still owed to it (TLS: plaintext,
                              encrypted in the flush behind the backlog's ciphertext) */
  uint8_t flags;
  uint8_t family; /* AF_INET / AF_INET6, for the remote address */
  uint8_t fail_errno; /* NET_F_FAILED: the errno on_end is still to report (0 once done) */
  uint8_t xflags;     /* NET_X_*: the struct's last byte of padding, so no growth */
  uint8_t peer[16];
  struct ssl_st *tls; /* the TLS session, NULL for plain TCP */
};

typedef struct net_handlers {
  /* Bytes arrived. p points into the context's receive buffer (writable, valid until
   * return): the callee may unmask/parse in place and must copy what it keeps. */
  void (*on_data)(net_conn *c, uint8_t *p, size_t n);
  /* The peer closed its side (read returned 0) or the connection failed (err < 0). */
  void (*on_end)(net_conn *c, int err);
  /* The backlog was fully written after having been non-empty (NET_F_WANT_DRAIN). */
  void (*on_drain)(net_conn *c);
  /* A connection was accepted; returns the new net_conn (allocated by the layer above,
   * zeroed apart from what it set) or NULL to refuse (the fd is closed). */
  net_conn *(*on_accept)(net_ctx *ctx, void *listener_user);
  /* Optional: a pending connection could not be accepted (err = -EMFILE/-ENFILE: out of
   * descriptors, -ENOBUFS/-ENOMEM: out of memory); it was refused. Called at most once
   * per listener readiness event, so a flood costs one call per loop iteration. */
  void (*on_accept_error)(net_ctx *ctx, int err);
} net_handlers;

enum { NET_WRITTEN = 0, NET_BUFFERED = 1 };

enum { NET_CTX_URING = 1 }; /* flags: batch socket I/O through io_uring where possible */
net_ctx *net_ctx_create(loop *l, const net_handlers *h, void *user, int flags);
void net_ctx_destroy(net_ctx *ctx);
void *net_ctx_user(net_ctx *ctx);
/* Whether the context batches its socket I/O through io_uring. */
int net_ctx_uring(const net_ctx *ctx);
loop *net_ctx_loop(net_ctx *ctx);
net_conn *net_ctx_first(net_ctx *ctx); /* iterate with c->next */
size_t net_ctx_count(net_ctx *ctx);

/* TLS: connections accepted from now on are served over TLS with this server context
 * (net/tls.h's net_tls_server_ctx), which the context now owns; NULL: plain TCP again.
 * The previous one is released, and lives on in the sessions still using it, so a
 * reloaded certificate reaches new connections without dropping open ones. */
struct ssl_ctx_st;
void net_ctx_set_tls(net_ctx *ctx, struct ssl_ctx_st *tls);
/* TLS sessions that failed before their handshake completed (plain HTTP to the TLS
 * port, a garbage client hello, no common protocol version or cipher). */
uint64_t net_ctx_tls_failures(const net_ctx *ctx);

/* Listens on host:port (getaddrinfo). Returns the listener or NULL (errno set). */
net_listener *net_listen(net_ctx *ctx, const char *host, int port, int backlog, void *user);
/* The same with SO_REUSEPORT: every thread's context listens on the same port with a
 * socket of its own, and the kernel spreads new connections over them (core/threads.c). */
net_listener *net_listen_shared(net_ctx *ctx, const char *host, int port, int backlog, void *user);
/* --threads with one listening socket for every thread (core/threads.c): a listener
 * of ctx on a descriptor of its own for the listening socket fd (another context's
 * net_listener_fd; the same port), watched with EPOLLEXCLUSIVE. NULL (errno set). */
net_listener *net_listen_fd(net_ctx *ctx, int fd, int port, void *user);
/* The first of them: watched with EPOLLEXCLUSIVE from now on. 0 or -errno. */
int net_listener_share(net_listener *ls);
int net_listener_fd(const net_listener *ls);
/* Stops (on = 0) or resumes watching every open listener of ctx: connections wait in
 * the socket's queue for another context sharing it (core/threads.c balances the
 * threads so). 0 or -errno. */
int net_ctx_accepting(net_ctx *ctx, int on);
/* At most n (1 to 128, the default) connections accepted per readiness event of a
 * listener; the others stay queued, for another context sharing the socket or the
 * next iteration. */
void net_ctx_set_accept_batch(net_ctx *ctx, unsigned n);
int net_listener_port(const net_listener *ls);
/* Connections this listener accepts stay plain TCP even when the context serves TLS
 * (a second, plain listener for health checks). */
void net_listener_set_plain(net_listener *ls, int plain);
/* For protocols whose clients speak first: a connection is accepted only once its first
 * bytes have arrived, or about 1 s after its connect if it stays silent (Linux
 * TCP_DEFER_ACCEPT, one SYN-ACK retransmission). 0 or -errno. */
int net_listener_defer_accept(net_listener *ls);
/* Makes an already connected non-blocking socket fd (any family: a socketpair in
 * fuzz/fuzz_server.c) a connection of ctx exactly as if a listener with listener_user
 * had accepted it. Returns 0, or -ECONNREFUSED when on_accept refused it (fd closed). */
int net_adopt(net_ctx *ctx, int fd, void *listener_user);
void net_listener_close(net_listener *ls);
/* Closes every listener of the context (graceful shutdown: stop accepting). */
void net_ctx_close_listeners(net_ctx *ctx);

/* Opens an outgoing TCP connection to sa without blocking: c (allocated and zeroed by
 * the caller, as on_accept's) is linked into ctx at once, and on_connect(c, err)
 * reports the result from the loop, never inside this call: 0 established (then the
 * context's handlers take over), or a negative errno (-ECONNREFUSED; -ETIMEDOUT past
 * timeout_ms, 0 meaning none), after which the owner releases c. Nothing may be
 * written before on_connect(c, 0). Releasing c first cancels the report. Returns 0, or
 * -errno when no attempt could start (nothing is reported then; c is not linked).
 * An upper layer with handlers of its own makes a context of its own on the same loop
 * (contexts are independent; the owner runs its read and flush in the post phase). */
typedef void (*net_connect_fn)(net_conn *c, int err);
int net_connect(net_ctx *ctx, net_conn *c, const struct sockaddr *sa, socklen_t salen, unsigned timeout_ms,
                net_connect_fn on_connect);

/* The client role: the connected c (after on_connect(c, 0)) speaks TLS from now on
 * through s, a client session (net/tls.h's net_tls_client_session), which c now owns.
 * The first net_write starts the handshake; what it carries is sent once the handshake
 * completes. A TLS failure reaches on_end(c, -EPROTO); net_tls_error(c->tls) says why. */
void net_conn_start_tls(net_conn *c, struct ssl_st *s);

/* Queues bytes: appended to the iteration's shared buffer (or to c's backlog when c
 * already has one), c queued to be flushed when the loop finishes the current batch
 * of events (net_flush_queued), so many messages for many connections in one
 * iteration cost one syscall. A write over 64 KiB owed after nothing is sent at once.
 * Returns NET_WRITTEN (the kernel or this iteration's queue took them), NET_BUFFERED
 * (behind bytes the kernel refused earlier), or -errno when the connection is
 * closed/broken (on_end follows through the loop). -ENOMEM means the connection has
 * just failed (see "Failing" above): nothing more is written to it. */
int net_write(net_conn *c, const void *p, size_t n);
/* The same for two pieces (frame header + payload) without joining them first. */
int net_write2(net_conn *c, const void *a, size_t an, const void *b, size_t bn);
/* The same, where b may lie in the receive buffer that on_data handed over (this
 * iteration's, not copied): a b of NET_LENT_MIN bytes or more there is then sent from
 * where it lies, in the flush, instead of being copied (smaller, a copy costs less
 * than one more piece of a gathered send). The caller promises that nothing changes
 * those bytes until the next read (net keeps them from being read over; no layer may
 * write into them after passing them here). TLS connections copy as net_write2. The
 * size test is inline, so small writes pay nothing for it (callgrind, 32 B echo: as a
 * call of its own it was ~3 % of the server's instructions). */
#define NET_LENT_MIN (4 * 1024)
int net_write2_lent_big(net_conn *c, const void *a, size_t an, const void *b, size_t bn);
static inline int net_write2_lent(net_conn *c, const void *a, size_t an, const void *b, size_t bn) {
  return bn < NET_LENT_MIN ? net_write2(c, a, an, b, bn) : net_write2_lent_big(c, a, an, b, bn);
}
/* Flushes every queued connection (called from the loop's post phase). */
void net_flush_queued(net_ctx *ctx);
/* Reads every connection found readable in this iteration and delivers the bytes
 * (on_data/on_end): called first in the loop's post phase, before anything may free
 * a connection. A no-op without io_uring, where reads happen at the event. */
void net_read_queued(net_ctx *ctx);

/* Frees c's empty backlog buffer unless it was used since the previous call: called
 * from a periodic sweep, so busy connections keep their buffer (no malloc per
 * flush) and idle ones hold none. */
void net_trim(net_conn *c);

/* Forces bytes into the backlog (used for the remainder of a refused write). Out of
 * memory, the connection fails (-ENOMEM). */
int net_buffer(net_conn *c, const void *p, size_t n);

/* Bytes accepted for c and not yet written to the kernel. */
/* Bounds the bytes the kernel may hold unsent for c (TCP_NOTSENT_LOWAT; 0 leaves the
 * kernel's default). Beyond them writes stay in c's own backlog (net_buffered). Not TCP
 * (a socketpair): nothing changes. */
void net_set_kernel_send_limit(net_conn *c, size_t bytes);
/* The same limit set once on the context's listening sockets (those open and those to
 * come): accepted connections inherit it, and net_set_kernel_send_limit with the same
 * value then costs them no syscall. 0 leaves the kernel's default. */
void net_ctx_set_kernel_send_limit(net_ctx *ctx, size_t bytes);
static inline size_t net_buffered(const net_conn *c) { return c->out_len - c->out_off + c->bc_len; }

/* Shared broadcast bytes: a broadcast appends its frames once to the context's
 * per-iteration buffer (net_bcast_append) and owes each recipient a range of it
 * (net_bcast_add). A recipient owed one contiguous run (every broadcast of the
 * iteration) gets it with one send(2) straight from the shared buffer in the post
 * phase — no copy per recipient, as topics do; one that is not is given a copy. */
int net_bcast_append(net_ctx *ctx, const void *p, size_t n, uint32_t *off);
int net_bcast_add(net_conn *c, uint32_t off, uint32_t n);
/* Offsets from net_bcast_append are valid while this value is unchanged: any write
 * may change it (past NET_SHARED_SPILL_AT the shared buffer is sent early and starts
 * over). */
uint64_t net_bcast_epoch(const net_ctx *ctx);

/* Half-closes the write side once everything queued has been written. */
void net_shutdown_write(net_conn *c);
/* The owner is done with c both ways (a WebSocket close handshake complete): once
 * everything queued has been written (a TLS session's close_notify after it), the
 * owner gets on_end(c, 0) from the post phase and closes c then; close(2) sends the
 * FIN after the queued bytes. No shutdown(2), and no wait for the peer's FIN (a read
 * returning 0 and one more wake-up per connection): cheaper than net_shutdown_write
 * followed by waiting for the peer. Bytes the peer sends after that are discarded
 * (the kernel answers them with a reset). */
void net_end(net_conn *c);
/* Closes the fd at once (queued bytes are lost). The struct stays valid; the owner
 * frees it (net_conn_release) at a safe point. */
void net_close(net_conn *c);
/* Takes c's descriptor away from the context without closing it (another thread's
 * context adopts it with net_adopt_moved): returns the fd, after which c is closed as
 * by net_close; or -EBUSY while c owes bytes to the kernel or has failed. Its TLS
 * session (NULL for plain TCP) goes to *tls, now the caller's; with tls NULL a TLS
 * connection is refused (-EBUSY). */
int net_detach(net_conn *c, struct ssl_st **tls);
/* net_adopt for a connection detached from another context: it keeps the TLS session
 * it had (tls, taken over; NULL: plain) instead of starting one. Returns as net_adopt
 * (the session is freed when refused). Call it on the adopting context's loop. */
int net_adopt_moved(net_ctx *ctx, int fd, void *listener_user, struct ssl_st *tls);
/* Hands up whatever c's TLS session holds decrypted or buffered (a moved connection's
 * session may have read more than its old context delivered). */
void net_tls_resume(net_conn *c);
/* Unlinks c from its context and frees its backlog (not c itself). */
void net_conn_release(net_conn *c);

/* Formats the peer address into buf; returns buf. */
const char *net_peer_string(const net_conn *c, char *buf, size_t cap);

/* Test hook, inert unless a test arms it: of the allocations on the write path
 * (backlogs, the shared buffer) of every context in the process, the `count` after
 * the next `skip` fail. Returns how many failures of the previous arming were left. */
unsigned net_fail_allocs(unsigned skip, unsigned count);

#endif
