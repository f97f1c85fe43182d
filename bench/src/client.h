/* bench/src/client.h — the load generator's WebSocket client engine: one epoll loop,
 * many non-blocking connections.
 *
 * Owns: connecting (from source addresses 127.0.0.2.. so that many connections do not
 * exhaust one address's ephemeral ports), the opening handshake and its checks (101,
 * Upgrade, Sec-WebSocket-Accept), client framing (every frame masked), parsing server
 * frames, answering pings and close frames, and corked writes (frames queued while
 * handling one batch of events go out in one write per connection at the end of it).
 * Must not know what a mode measures: modes get open / message / close callbacks.
 *
 * A loop can also run raw connections (bench_loop.raw, for the Socket.IO long-polling
 * mode's HTTP/1.1): no WebSocket handshake or framing; on_open right after the TCP
 * connect, on_data with the bytes as they come, bench_write to queue output.
 *
 * With bench_loop.deflate, every connection offers permessage-deflate with
 * server_no_context_takeover (RFC 7692): each compressed message stands alone, so one
 * inflater for the whole loop, reset per message, reads them all; the client itself
 * sends uncompressed.
 *
 * A wss:// (or https://) URL runs every connection over TLS (OpenSSL, a socket BIO on
 * the non-blocking socket): a full handshake per connection (no session resumption, no
 * certificate check: the bench measures the server's cost, not a trust decision), then
 * the same WebSocket traffic through SSL_read / SSL_write. */
#ifndef BENCH_CLIENT_H
#define BENCH_CLIENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef struct bench_loop bench_loop;
typedef struct bench_conn bench_conn;

/* Why a connection ended (argument of on_close). */
enum {
  BC_END_LOCAL = 0,    /* we closed it (bench_conn_close, end of run) */
  BC_END_CLOSE_DONE,   /* we sent a close frame and the server completed the close */
  BC_END_CONNECT_FAIL, /* TCP connect failed */
  BC_END_HANDSHAKE_FAIL,
  BC_END_SERVER_CLOSED, /* the server closed (close frame or EOF) without being asked */
  BC_END_PROTOCOL,      /* the server broke RFC 6455 or the connection failed mid-way */
  BC_END_EOF,           /* raw loops only: the server closed the connection (not counted
                           here; the mode decides whether that was an error) */
};

typedef struct {
  void (*on_open)(bench_conn *c);
  /* A complete data message (text or binary), payload borrowed for the call. */
  void (*on_message)(bench_conn *c, int opcode, const uint8_t *p, size_t n);
  void (*on_close)(bench_conn *c, int why);
  /* Raw loops only: the unparsed input p[0..n). Returns the bytes used (the rest is kept
   * and offered again with more after the next read), or -1 when c has ended. */
  long (*on_data)(bench_conn *c, const uint8_t *p, size_t n);
} bench_handlers;

struct bench_conn {
  bench_loop *loop;
  int fd;
  uint32_t id; /* the mode's index for this connection */
  uint8_t state;
  uint8_t dirty;    /* on the loop's flush list (which also frees ended connections) */
  uint8_t frag_op;  /* opcode of a fragmented message being assembled, else 0 */
  uint8_t ust;      /* free for the layer above (the Socket.IO client's state) */
  uint8_t pmd;      /* permessage-deflate agreed */
  uint8_t frag_z;   /* the fragmented message being assembled is compressed */
  struct ssl_st *ssl; /* TLS session (wss://), NULL for plain connections */
  uint32_t events;  /* the epoll events registered for fd */
  uint64_t t_start; /* when connect() was called */
  uint64_t t_open;  /* when the handshake completed */
  uint8_t *wbuf;    /* queued output: wbuf[woff..wlen) not yet taken by the kernel */
  size_t wlen, woff, wcap;
  uint8_t *rbuf; /* unparsed input carried over between reads (partial frame) */
  size_t rlen, rcap;
  size_t need;   /* bytes the next frame needs in all, once its header is known */
  uint8_t *frag; /* a fragmented message being assembled */
  size_t flen, fcap;
  char key[PROTO_KEY_LEN + 1];
  bench_conn *next_dirty;
  bench_conn *prev_all, *next_all;
};

typedef struct {
  uint64_t connect_fail, handshake_fail, server_closed, protocol;
  uint64_t opened;
  uint64_t reads; /* read() calls that returned data: how well input is batched */
} bench_counters;

struct bench_loop {
  int epfd;
  struct sockaddr_in dst;
  struct sockaddr_in dst2; /* odd-numbered connections go here when has_dst2 (a cluster) */
  int has_dst2;
  char host[128]; /* Host header value */
  char path[256];
  uint32_t nsrc; /* source addresses 127.0.0.2..127.0.0.(1+nsrc); 0: let the kernel pick */
  uint32_t next_src;
  bench_handlers h;
  void *ctx;       /* the mode's state */
  uint8_t *shared; /* the receive buffer all connections read into (a batch: a slice each) */
  size_t shared_cap;
  bench_conn *dirty_head;
  bench_conn *all;  /* every live connection, for bench_loop_close_all */
  uint64_t live;    /* connections not yet ended */
  uint64_t pending; /* connecting or handshaking */
  uint64_t now;     /* clock read after the latest read() */
  uint64_t rng;
  bench_counters n;
  unsigned errors_printed;
  uint32_t open_next, open_end, open_max; /* bench_open's progress */
  int raw;     /* raw connections: no WebSocket handshake or framing (set after init) */
  void *layer; /* free for a protocol layer between the loop and the mode (sio.c) */
  int deflate;  /* offer permessage-deflate (set after init, before connecting) */
  struct z_stream_s *zs; /* the loop's inflater (created on the first compressed message) */
  uint8_t *zbuf;         /* inflated message */
  size_t zcap;
  uint64_t compressed;   /* compressed messages received */
  struct ssl_ctx_st *tls; /* wss://: the client context, NULL for plain ws:// */
  struct net_batch *batch; /* batched sends (flush_all) */
};

/* --io-uring: 1 (default) batches plain connections' sends through io_uring where the
 * kernel allows; 0 makes one send(2) per connection. Read by bench_loop_init. */
extern int bench_io_uring;

/* Parses ws://HOST[:PORT][/PATH] or http://... (HOST an IPv4 literal or localhost);
 * default_path is used when the URL has none. Returns 0, or -1 with a message on stderr. */
int bench_loop_init(bench_loop *l, const char *url, const char *default_path, uint32_t nsrc, bench_handlers h,
                    void *ctx);
/* A second server (host:port of a ws:// or http:// URL) for odd-numbered connections.
 * Returns 0 or -1 (printed). */
int bench_loop_set_dst2(bench_loop *l, const char *url);
void bench_loop_free(bench_loop *l);

/* Starts a connection (non-blocking connect, then the handshake). Returns it, or NULL
 * when no socket could be made (counted in connect_fail; on_close is not called). */
bench_conn *bench_connect(bench_loop *l, uint32_t id);

/* Queues a masked frame with an n-byte payload and returns where the caller writes the
 * plain payload; bench_frame_end masks it in place. The pointer is valid until the next
 * call that queues on c. */
uint8_t *bench_frame_begin(bench_conn *c, uint8_t opcode, size_t n);
void bench_frame_end(bench_conn *c, uint8_t *payload, size_t n);

/* Queues n raw bytes (raw loops). */
void bench_write(bench_conn *c, const void *p, size_t n);

/* Queues a close frame with code 1000; the server's close frame then ends c with
 * BC_END_CLOSE_DONE. */
void bench_conn_start_close(bench_conn *c);

/* Ends c now without a close handshake; on_close gets BC_END_LOCAL. */
void bench_conn_close(bench_conn *c);

/* Bytes of c's output the kernel has not taken yet. */
static inline size_t bench_conn_backlog(const bench_conn *c) { return c->wlen - c->woff; }

/* Runs the loop until now_ns() >= until or stop(l) returns nonzero (checked after every
 * batch); tick(l) runs after every batch of events and at least every tick_ms (0: only
 * after events). Returns 0, or -1 when epoll fails. */
int bench_loop_run(bench_loop *l, uint64_t until, int tick_ms, int (*stop)(bench_loop *l),
                   void (*tick)(bench_loop *l));

/* Opens connections with ids first..first+n-1, at most max_pending connecting or
 * handshaking at a time (a burst of SYNs past the server's listen backlog would only be
 * retried a second later), and runs the loop until all have opened or failed or until
 * deadline. Returns how many opened; the mode's on_open sees each. */
uint32_t bench_open(bench_loop *l, uint32_t first, uint32_t n, uint32_t max_pending, uint64_t deadline);

/* Ends every live connection (BC_END_LOCAL). */
void bench_loop_close_all(bench_loop *l);

/* Prints an error about c (the first few only) to stderr. */
void bench_note(bench_loop *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
