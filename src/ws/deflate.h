/* ws/deflate.h — permessage-deflate (RFC 7692): negotiation and the per-message codec.
 *
 * Owns: parsing the client's Sec-WebSocket-Extensions offers, choosing the parameters and
 * writing the response value (RFC 7692 5, 7.1); compressing one message and inflating one
 * message fed frame by frame (7.2), with a bound on the inflated size; the zlib streams of
 * one connection, allocated on first use and releasable when idle; compressing a message
 * once for many recipients (broadcast).
 * Must not: do I/O, parse frames or keep message state beyond the inflater's (ws/frame.c
 * and the session own those), or decide when to compress (a threshold is the caller's).
 *
 * What a session does with it (the server side):
 *  - Handshake: ws_deflate_negotiate(req, &cfg, &agreed). When it returns 1, send
 *    "Sec-WebSocket-Extensions: <agreed.response>" and ws_deflate_init(&codec, &agreed, &cfg).
 *  - Receiving: pass WS_DEFLATE_RSV as allowed_rsv to ws_frame_check (it already refuses RSV1
 *    on control and continuation frames, RFC 7692 6). A message whose first frame had RSV1
 *    is compressed: feed every unmasked payload piece of every frame of it to
 *    ws_deflate_inflate, with fin = 1 only on the last piece of the final frame; the sink
 *    receives the inflated bytes. The result maps to a close code with
 *    ws_deflate_close_code. A message without RSV1 is not touched.
 *  - Sending: ws_deflate_compress(whole message) -> set RSV1 on the first frame only and
 *    frame the compressed bytes as usual (they may be split into any number of frames).
 *  - Broadcast: see ws_deflate_shared_ok and ws_deflate_tx_forget.
 *  - Idle: ws_deflate_release(&codec) whenever the connection has nothing in flight;
 *    ws_deflate_free at close. */
#ifndef WSIO_WS_DEFLATE_H
#define WSIO_WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "http/parser.h"

/* The RSV bit permessage-deflate uses (RFC 7692 6), in ws_frame_header.rsv's encoding. */
#define WS_DEFLATE_RSV 4

/* Results of ws_deflate_inflate / ws_deflate_compress besides 0 and WSIO_ENOMEM. */
#define WS_DEFLATE_ETOOBIG (-100) /* inflated message passes max: close 1009 */
#define WS_DEFLATE_EDATA (-101)   /* not a valid DEFLATE stream: close 1007 (as Node's ws) */

/* ws_deflate_parse_offer results besides 0 (a well-formed permessage-deflate offer). */
#define WS_DEFLATE_OTHER 1          /* a syntactically valid element for another extension */
#define WS_DEFLATE_EDECLINE (-102)  /* permessage-deflate with a bad, unknown or duplicate param */
#define WS_DEFLATE_ESYNTAX (-103)   /* not an extension element per RFC 6455 9.1 */

/* client_max_window_bits offered without a value (RFC 7692 7.1.2.2). */
#define WS_DEFLATE_BITS_NOVALUE 1

/* Room for the longest response value ws_deflate_negotiate writes (128 characters: all four
 * parameters, two-digit window bits) and its NUL. */
#define WS_DEFLATE_RESPONSE_MAX 144

/* Server configuration. All zeros is a usable default: enabled, context takeover both
 * ways, 15-bit windows, memLevel 8, zlib's default level. */
typedef struct {
  int disabled;                   /* 1: never negotiate */
  int server_no_context_takeover; /* 1: reset our compressor after each message, always
                                     (needed for shared broadcast compression to pay off) */
  int client_no_context_takeover; /* 1: tell every client to reset its compressor, so our
                                     inflater holds no memory between messages */
  int server_max_window_bits;     /* 8..15 (0 = 15): the most our compressor uses */
  int client_max_window_bits;     /* 9..15: ask clients that offer client_max_window_bits
                                     to use at most this; 0 = do not ask (15); 8 asks
                                     for 9 (Python's zlib cannot compress with 8) */
  int mem_level;                  /* zlib memLevel 1..9 (0 = 8) */
  int level;                      /* zlib level 1..9 (0 = zlib's default, 6) */
} ws_deflate_config;

/* One offer's parameters as the client sent them (0 = absent). */
typedef struct {
  uint8_t server_no_context_takeover;
  uint8_t client_no_context_takeover;
  uint8_t server_max_window_bits; /* 0 or 8..15 */
  uint8_t client_max_window_bits; /* 0, WS_DEFLATE_BITS_NOVALUE, or 8..15 */
} ws_deflate_offer;

/* What the server accepted: the parameters both sides now follow. */
typedef struct {
  uint8_t server_no_context_takeover; /* we reset our compressor after each message */
  uint8_t client_no_context_takeover; /* the client resets; our inflater needs no history */
  uint8_t server_window_bits;         /* 8..15, as announced (zlib deflates 8 as 9: see .c) */
  uint8_t client_window_bits;         /* 8..15: our inflater's window */
  char response[WS_DEFLATE_RESPONSE_MAX]; /* the Sec-WebSocket-Extensions value, NUL-ended */
  size_t response_len;
} ws_deflate_agreement;

/* Parses one element of an extension list, elem[0..n) (no commas outside quoted strings;
 * ws_deflate_negotiate_value splits the list): extension-token *(";" extension-param),
 * RFC 6455 9.1, with optional whitespace around ";" and "=" and quoted-string values.
 * Returns 0 and fills *out for a well-formed permessage-deflate offer; WS_DEFLATE_OTHER for
 * another extension; WS_DEFLATE_EDECLINE when RFC 7692 5 says to decline it (a parameter
 * that is unknown, repeated, or with a bad value; window bits are "8".."15" exactly);
 * WS_DEFLATE_ESYNTAX for a malformed element. Extension and parameter names are matched
 * ignoring ASCII case. */
int ws_deflate_parse_offer(const char *elem, size_t n, ws_deflate_offer *out);

/* Accepts the first acceptable permessage-deflate offer of one header value v[0..n) under
 * cfg, skipping declined and malformed elements (a malformed element ends at the next comma
 * outside a quoted string). Returns 1 and fills *out, or 0 when none was accepted. */
int ws_deflate_negotiate_value(const char *v, size_t n, const ws_deflate_config *cfg,
                               ws_deflate_agreement *out);

/* The same over every Sec-WebSocket-Extensions line of req, in order (RFC 7230 3.2.2: the
 * lines are one comma-separated list). Returns 1 and fills *out, or 0 (no compression). */
int ws_deflate_negotiate(const http_request *req, const ws_deflate_config *cfg,
                         ws_deflate_agreement *out);

/* Receives output bytes, p[0..n) borrowed for the call. Returns 0, or a negative WSIO_E*
 * that stops the operation and is returned by it. */
typedef int (*ws_deflate_sink)(void *ud, const uint8_t *p, size_t n);

/* One connection's codec. Embed it anywhere; it holds no zlib memory until first use.
 * Fields are private to deflate.c. It must not move while it holds streams (zlib's
 * allocator is handed its address: ws_deflate_release or _free first). Not thread-safe. */
typedef struct {
  struct z_stream_s *tx; /* our compressor, NULL when released */
  struct z_stream_s *rx; /* our inflater, NULL when released */
  uint8_t *rx_dict;      /* the inflater's history while released (context takeover) */
  size_t rx_dict_len;
  size_t mem;            /* bytes held: zlib's allocations and rx_dict */
  uint64_t rx_total;     /* bytes inflated so far of the message in progress */
  uint8_t rx_busy;       /* a compressed message is part way through */
  uint8_t rx_ended;      /* that message's DEFLATE stream ended (BFINAL): ignore the rest */
  uint8_t rx_any;        /* that message had at least one payload byte */
  uint8_t tx_reset;      /* tx has no context takeover */
  uint8_t tx_stale;      /* tx's history no longer matches the peer's: reset before use */
  uint8_t rx_reset;      /* rx has no context takeover */
  uint8_t tx_bits, rx_bits, mem_level;
  int8_t level;
} ws_deflate;

/* Prepares d for the agreed parameters; allocates nothing. */
void ws_deflate_init(ws_deflate *d, const ws_deflate_agreement *a, const ws_deflate_config *cfg);

/* A compressor for broadcast: every message context-free, for a window of announced bits
 * 8..15; usable only with ws_deflate_compress. */
void ws_deflate_init_shared(ws_deflate *d, int window_bits, const ws_deflate_config *cfg);

/* Compresses one whole message p[0..n) (RFC 7692 7.2.1: raw DEFLATE, sync flush, the final
 * 00 00 ff ff removed) and hands the output to sink in pieces. The first frame carrying it
 * has RSV1 set. Returns 0, WSIO_ENOMEM (zlib could not allocate: fail the connection), or
 * the sink's error. After an error the compressor's context is dropped. */
int ws_deflate_compress(ws_deflate *d, const uint8_t *p, size_t n, ws_deflate_sink sink, void *ud);

/* The most bytes ws_deflate_compress can produce for an n-byte message, under any
 * parameters: zlib's conservative deflateBound, plus the sync flush's empty block. */
size_t ws_deflate_compress_bound(size_t n);

/* ws_deflate_compress into out[0..cap), for a caller that frames in place: *len gets the
 * compressed size. Returns 0, WSIO_ENOMEM, or WSIO_ETOOBIG when cap is short (never with
 * cap >= ws_deflate_compress_bound(n)). */
int ws_deflate_compress_into(ws_deflate *d, const uint8_t *p, size_t n, uint8_t *out, size_t cap, size_t *len);

/* Inflates in[0..n), the next piece of a compressed message's payload (any split: a frame,
 * part of one); fin = 1 with the last piece (then the 00 00 ff ff of RFC 7692 7.2.2 is
 * appended; a message with no payload byte at all is taken as empty, and one that does not
 * end on a block boundary, as RFC 7692 7.2.1 makes every sender's do, is bad data). The
 * inflated bytes go to sink in pieces of at most 16 KiB, and never more than
 * max in total for the message: as soon as the next piece would pass max it stops and
 * returns WS_DEFLATE_ETOOBIG, so memory and work stay bounded whatever the ratio.
 * Returns 0, WS_DEFLATE_ETOOBIG, WS_DEFLATE_EDATA, WSIO_ENOMEM or the sink's error; after
 * any error the connection must be failed (the inflater state is discarded). */
int ws_deflate_inflate(ws_deflate *d, const uint8_t *in, size_t n, int fin, uint64_t max,
                       ws_deflate_sink sink, void *ud);

/* The close code for a ws_deflate_inflate / ws_deflate_compress error. */
int ws_deflate_close_code(int err);

/* Frees what the connection can do without while idle (not within a compressed message
 * being received): the compressor always (a sender may always start afresh, RFC 7692 7.1.1:
 * context takeover is permitted, not required); the inflater entirely without client context
 * takeover, or else everything but a copy of its window's used part (at most 2^bits bytes),
 * which the next message restores. Safe to call at any time; on a message in progress it
 * keeps the inflater. */
void ws_deflate_release(ws_deflate *d);

/* Frees everything; d may be reused after ws_deflate_init. */
void ws_deflate_free(ws_deflate *d);

/* Bytes of memory d holds now (zlib's allocations and the saved window). */
size_t ws_deflate_memory(const ws_deflate *d);

/* What zlib allocates for a compressor / an inflater with these parameters (zlib.h's
 * formulas, plus its state structures): the per-connection cost while in use. */
size_t ws_deflate_memory_estimate(int deflate_bits, int mem_level, int inflate_bits);

/* Broadcast: 1 when bytes from ws_deflate_compress(shared) may be sent to recipient as a
 * compressed message: the recipient announced a server window of at least shared's (a
 * context-free message never refers back further than its own window). Whether the
 * recipient has context takeover does not matter for the receiver, but it does for our
 * own compressor on that connection: call ws_deflate_tx_forget(recipient) after sending. */
int ws_deflate_shared_ok(const ws_deflate *recipient, const ws_deflate *shared);

/* Call after sending a compressed message on d's connection that d's compressor did not
 * produce (shared broadcast bytes): the peer appended that message to its window, so our
 * compressor's history no longer matches it and is dropped (the next message starts
 * afresh). O(1): the reset itself happens before the connection's next own compressed
 * message, so a connection that only receives broadcasts never pays it. */
void ws_deflate_tx_forget(ws_deflate *d);

#endif
