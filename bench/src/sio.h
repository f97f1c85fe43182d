/* bench/src/sio.h — a minimal Engine.IO v4 / Socket.IO v5 client for the sio-* modes.
 *
 * Owns: the Socket.IO session over the WebSocket transport (GET
 * PATH?EIO=4&transport=websocket, the open packet `0{"sid":...}`, `40` to join the
 * default namespace "/", the server's `40{"sid":...}`, answering every ping `2` with `3`),
 * spotting what a server must not send (Engine.IO close, Socket.IO DISCONNECT or
 * CONNECT_ERROR, binary or unknown packets), and the payload text both ends of a check
 * regenerate. Sits between client.c and a mode: the mode gets Socket.IO events and acks
 * on "/", nothing of Engine.IO. Self-contained like the rest of bench/src: no JSON
 * library, only the exact byte strings the checks expect. */
#ifndef BENCH_SIO_H
#define BENCH_SIO_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "modes.h"

/* bench_conn.ust for a Socket.IO connection over WebSocket. */
enum { SIO_WAIT_OPEN = 0, SIO_WAIT_CONNECT, SIO_CONNECTED };

typedef struct {
  void (*on_connect)(bench_conn *c); /* joined "/" (got 40{"sid":...}) */
  /* An EVENT on "/": p[0..n) is what follows "42" ([ack id] JSON array), borrowed. */
  void (*on_event)(bench_conn *c, const uint8_t *p, size_t n);
  /* An ACK on "/": p[0..n) is what follows "43" (ack id, JSON array), borrowed. */
  void (*on_ack)(bench_conn *c, const uint8_t *p, size_t n);
  void (*on_close)(bench_conn *c, int why);
} sio_handlers;

typedef struct {
  sio_handlers h;
  uint64_t connected; /* sockets that joined "/" */
  uint64_t pings;     /* server pings answered */
  uint64_t errors;    /* protocol violations and server-side closes / disconnects */
} sio_layer;

/* bench_loop_init for Socket.IO over WebSocket: url ws://HOST:PORT[/PATH], PATH the
 * Socket.IO path (default /socket.io/), to which "?EIO=4&transport=websocket" is added. */
int sio_loop_init(bench_loop *l, sio_layer *s, const char *url, uint32_t nsrc, sio_handlers h, void *ctx);

/* Opens connections 0..n-1 (at most max_pending handshaking at a time) and runs the loop
 * until each has joined "/" or failed, or until deadline. Returns how many joined. */
uint32_t sio_open(bench_loop *l, uint32_t n, uint32_t max_pending, uint64_t deadline);

/* Queues the text frame "42" + n bytes and returns where the caller writes those n bytes
 * (the ack id if any, then the JSON array); sio_emit_end masks them. */
uint8_t *sio_emit_begin(bench_conn *c, size_t n);
void sio_emit_end(bench_conn *c, uint8_t *p, size_t n);

/* Adds the layer's counters to r and returns its error count. */
uint64_t sio_report(report *r, const sio_layer *s);

/* Payload text: JSON-string-safe characters only ([A-Za-z0-9_-]), so that no server has
 * a reason to escape or re-encode them and an echo must come back byte for byte. */
void sio_text_fill(char *p, size_t n, uint64_t seed);
int sio_text_check(const char *p, size_t n, uint64_t seed);
/* 16 lower-case hex digits of v; sio_hex_get returns 0 and sets *v, or -1. */
void sio_hex_put(char *p, uint64_t v);
int sio_hex_get(const char *p, uint64_t *v);
/* Parses a decimal at p[0..n): returns the digits used (0: none) and sets *v. */
size_t sio_dec_get(const uint8_t *p, size_t n, uint64_t *v);

/* Whether the Engine.IO open / Socket.IO CONNECT payload p[0..n) (an object) carries a
 * non-empty "sid" string; copies it to sid (NUL-terminated) when sid_cap allows. */
int sio_find_sid(const uint8_t *p, size_t n, char *sid, size_t sid_cap);

#endif
