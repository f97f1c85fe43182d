/* ws/deflate.c — permessage-deflate (RFC 7692): offer parsing, the server's choice of
 * parameters, and the per-connection zlib codec.
 *
 * Owns: the extension-list grammar of RFC 6455 9.1 as far as permessage-deflate needs it,
 * the negotiation rules of RFC 7692 5 and 7.1, and one connection's zlib streams.
 * Must not: do I/O, parse frames, or allocate anything but zlib's streams and the saved
 * inflater window (no buffering of messages: output goes to the caller's sink). */
#define ZLIB_CONST
#include "ws/deflate.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "wsio.h"
#include "ws/frame.h"

/* ---- the extension-list grammar (RFC 6455 9.1, RFC 7230 3.2.6) ------------------------ */

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* RFC 7230 3.2.6 tchar. */
static int is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static size_t skip_ows(const char *s, size_t i, size_t n) {
  while (i < n && is_ows(s[i])) i++;
  return i;
}

static size_t scan_token(const char *s, size_t i, size_t n) {
  while (i < n && is_tchar((unsigned char)s[i])) i++;
  return i;
}

/* RFC 7230 3.2.6 qdtext: HTAB, SP, 0x21, 0x23-0x5B, 0x5D-0x7E, obs-text. */
static int is_qdtext(unsigned char c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E) ||
         c >= 0x80;
}

/* quoted-pair: "\" followed by HTAB, SP, VCHAR or obs-text. */
static int is_qpair_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7F); }

/* A parameter value after unquoting: the first bytes (enough for "15") and its length. */
typedef struct {
  char p[4];
  size_t n;
  int token; /* every byte is a tchar (RFC 6455 9.1 requires that of quoted values too) */
} param_value;

static void value_push(param_value *v, char c) {
  if (v->n < sizeof v->p) v->p[v->n] = c;
  v->n++;
  if (!is_tchar((unsigned char)c)) v->token = 0;
}

/* Parses the quoted-string starting at s[i] == '"'. Returns the index after the closing
 * quote, or 0 when it is malformed or unterminated. */
static size_t scan_quoted(const char *s, size_t i, size_t n, param_value *v) {
  for (i++; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"') return i + 1;
    if (c == '\\') {
      if (++i >= n || !is_qpair_char((unsigned char)s[i])) return 0;
      value_push(v, s[i]);
    } else if (is_qdtext(c)) {
      value_push(v, (char)c);
    } else {
      return 0;
    }
  }
  return 0;
}

static int name_is(const char *s, size_t n, const char *want) { return http_str_ieq(want, s, n); }

/* ---- permessage-deflate parameters (RFC 7692 7.1) -------------------------------------- */

/* RFC 7692 7.1.2.1/7.1.2.2: a decimal integer 8..15. Only the plain spellings are taken
 * ("08" and "+9" decline the offer). Returns the value, or 0. */
static int parse_bits(const param_value *v) {
  if (!v->token) return 0;
  if (v->n == 1 && (v->p[0] == '8' || v->p[0] == '9')) return v->p[0] - '0';
  if (v->n == 2 && v->p[0] == '1' && v->p[1] >= '0' && v->p[1] <= '5') return 10 + (v->p[1] - '0');
  return 0;
}

enum { SEEN_SNCT = 1, SEEN_CNCT = 2, SEEN_SMWB = 4, SEEN_CMWB = 8 };

/* Applies one parameter to *o. Returns 0, or -1 when RFC 7692 5 says to decline: an unknown
 * name, a repeated one, or a bad value. */
static int apply_param(ws_deflate_offer *o, unsigned *seen, const char *name, size_t len,
                       const param_value *v) {
  unsigned bit;
  int bits = 0;
  if (name_is(name, len, "server_no_context_takeover")) {
    bit = SEEN_SNCT;
    if (v) return -1; /* 7.1.1.1: no value */
    o->server_no_context_takeover = 1;
  } else if (name_is(name, len, "client_no_context_takeover")) {
    bit = SEEN_CNCT;
    if (v) return -1; /* 7.1.1.2: no value */
    o->client_no_context_takeover = 1;
  } else if (name_is(name, len, "server_max_window_bits")) {
    bit = SEEN_SMWB;
    if (!v || !(bits = parse_bits(v))) return -1; /* 7.1.2.1: a value is required */
    o->server_max_window_bits = (uint8_t)bits;
  } else if (name_is(name, len, "client_max_window_bits")) {
    bit = SEEN_CMWB;
    if (v && !(bits = parse_bits(v))) return -1; /* 7.1.2.2: the value is optional */
    o->client_max_window_bits = (uint8_t)(v ? bits : WS_DEFLATE_BITS_NOVALUE);
  } else {
    return -1;
  }
  if (*seen & bit) return -1; /* RFC 7692 5: the same parameter twice */
  *seen |= bit;
  return 0;
}

/* Parses "= value" at s[i] when present. Returns the index after it (with trailing
 * whitespace), sets *has; 0 on a syntax error. */
static size_t scan_value(const char *s, size_t i, size_t n, param_value *v, int *has) {
  memset(v, 0, sizeof *v);
  v->token = 1;
  *has = 0;
  if (i >= n || s[i] != '=') return i;
  i = skip_ows(s, i + 1, n);
  if (i < n && s[i] == '"') {
    i = scan_quoted(s, i, n, v);
    if (!i) return 0;
  } else {
    size_t j = scan_token(s, i, n);
    if (j == i) return 0;
    for (; i < j; i++) value_push(v, s[i]);
  }
  *has = 1;
  return skip_ows(s, i, n);
}

int ws_deflate_parse_offer(const char *s, size_t n, ws_deflate_offer *out) {
  memset(out, 0, sizeof *out);
  size_t i = skip_ows(s, 0, n);
  size_t j = scan_token(s, i, n);
  if (j == i) return WS_DEFLATE_ESYNTAX;
  int ours = name_is(s + i, j - i, "permessage-deflate");
  unsigned seen = 0;
  int decline = 0;
  i = skip_ows(s, j, n);
  while (i < n) {
    if (s[i] != ';') return WS_DEFLATE_ESYNTAX;
    i = skip_ows(s, i + 1, n);
    j = scan_token(s, i, n);
    if (j == i) return WS_DEFLATE_ESYNTAX;
    const char *name = s + i;
    size_t name_len = j - i;
    param_value v;
    int has;
    i = scan_value(s, skip_ows(s, j, n), n, &v, &has);
    if (!i) return WS_DEFLATE_ESYNTAX;
    /* Keep reading after a declined parameter: a syntax error still outranks it. */
    if (ours && !decline && apply_param(out, &seen, name, name_len, has ? &v : NULL)) decline = 1;
  }
  if (!ours) return WS_DEFLATE_OTHER;
  return decline ? WS_DEFLATE_EDECLINE : 0;
}

/* ---- choosing the parameters (RFC 7692 7.1) -------------------------------------------- */

static int clamp_bits(int b, int dflt) {
  if (b == 0) return dflt;
  return b < 8 ? 8 : b > 15 ? 15 : b;
}

static int min_int(int a, int b) { return a < b ? a : b; }

/* Every well-formed offer is acceptable: we can compress with any window 8..15 and reset
 * whenever asked. The choices, per parameter:
 *  - server_no_context_takeover: when offered or configured (7.1.1.1 lets the server add it).
 *  - client_no_context_takeover: when offered (echoing it lets our inflater go between
 *    messages, 7.1.1.2) or configured (the server may always add it).
 *  - server_max_window_bits: our window is the smaller of the offer's and ours; announced
 *    when offered or when ours is under 15 (7.1.2.1 lets the server add it), as Node's ws.
 *  - client_max_window_bits: never announced unless offered (7.1.2.2 forbids it). With a
 *    value, we answer the smaller of it and ours (Node's ws echoes it); without one, ours
 *    when configured. Ours is at least 9 (below); a client's own 8 is echoed. A client that did not offer it keeps 15 even if we configured less:
 *    we accept rather than decline (Node's ws declines; Firefox offers no parameter).
 * zlib cannot deflate raw with an 8-bit window and uses 9 (as Node's zlib does for
 * DeflateRaw). That is still within what we announce: zlib never emits a distance beyond
 * its window minus MIN_LOOKAHEAD (262), so a 512-byte window reaches back at most 250
 * bytes, inside the peer's 256. We inflate with the announced window itself. */
static void choose(const ws_deflate_offer *o, const ws_deflate_config *cfg, ws_deflate_agreement *a) {
  memset(a, 0, sizeof *a);
  int sbits = clamp_bits(cfg->server_max_window_bits, 15);
  if (o->server_max_window_bits) sbits = min_int(sbits, o->server_max_window_bits);
  /* We never ask a client for 8: Python's zlib (and so the websockets package) refuses a
   * raw 8-bit compressor instead of using 9 as zlib-in-C callers, Node and Chromium do. */
  int cwant = cfg->client_max_window_bits ? clamp_bits(cfg->client_max_window_bits, 15) : 0;
  if (cwant == 8) cwant = 9;
  int cbits = 15, announce_c = 0;
  if (o->client_max_window_bits > WS_DEFLATE_BITS_NOVALUE) {
    cbits = o->client_max_window_bits;
    if (cwant) cbits = min_int(cbits, cwant);
    announce_c = 1;
  } else if (o->client_max_window_bits == WS_DEFLATE_BITS_NOVALUE && cwant) {
    cbits = cwant;
    announce_c = 1;
  }
  a->server_no_context_takeover = o->server_no_context_takeover || cfg->server_no_context_takeover;
  a->client_no_context_takeover = o->client_no_context_takeover || cfg->client_no_context_takeover;
  a->server_window_bits = (uint8_t)sbits;
  a->client_window_bits = (uint8_t)cbits;

  char *p = a->response;
  size_t cap = sizeof a->response;
  int k = snprintf(p, cap, "permessage-deflate%s%s", a->server_no_context_takeover ? "; server_no_context_takeover" : "",
                   a->client_no_context_takeover ? "; client_no_context_takeover" : "");
  if (o->server_max_window_bits || sbits < 15)
    k += snprintf(p + k, cap - (size_t)k, "; server_max_window_bits=%d", sbits);
  if (announce_c) k += snprintf(p + k, cap - (size_t)k, "; client_max_window_bits=%d", cbits);
  a->response_len = (size_t)k; /* at most 128 characters: it always fits */
}

/* The end of the list element starting at s[i]: the next comma outside a quoted string. */
static size_t element_end(const char *s, size_t i, size_t n) {
  int quoted = 0;
  for (; i < n; i++) {
    if (quoted && s[i] == '\\') {
      i++;
    } else if (s[i] == '"') {
      quoted = !quoted;
    } else if (!quoted && s[i] == ',') {
      break;
    }
  }
  return i < n ? i : n;
}

int ws_deflate_negotiate_value(const char *v, size_t n, const ws_deflate_config *cfg,
                               ws_deflate_agreement *out) {
  if (!v || !cfg || cfg->disabled) return 0;
  for (size_t i = 0; i < n;) {
    size_t end = element_end(v, i, n);
    ws_deflate_offer o;
    /* RFC 7230 7: empty list elements are allowed and ignored; they parse as a syntax
     * error and are skipped like any other element we do not accept. */
    if (ws_deflate_parse_offer(v + i, end - i, &o) == 0) {
      choose(&o, cfg, out);
      return 1;
    }
    i = end + 1;
  }
  return 0;
}

int ws_deflate_negotiate(const http_request *req, const ws_deflate_config *cfg, ws_deflate_agreement *out) {
  for (size_t i = 0; i < req->num_headers; i++) {
    const http_header *h = &req->headers[i];
    if (http_str_ieq("Sec-WebSocket-Extensions", h->name, h->name_len) &&
        ws_deflate_negotiate_value(h->value, h->value_len, cfg, out))
      return 1;
  }
  return 0;
}

/* ---- the codec ------------------------------------------------------------------------- */

/* Output is produced in pieces of this size (on the stack), which bounds how far past a
 * message's limit inflation can get before it is noticed. */
#define CHUNK 16384

/* RFC 7692 7.2.1/7.2.2: the tail of a sync flush, removed by the sender, re-added here. */
static const uint8_t trailer[4] = {0x00, 0x00, 0xff, 0xff};

/* Every zlib allocation carries its size in front, so that d->mem counts exactly what zlib
 * asked for (malloc's own overhead aside). 16 bytes keep the block aligned as malloc's. */
#define ZHDR 16

static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
  ws_deflate *d = opaque;
  size_t n = (size_t)items * size;
  uint8_t *p = malloc(n + ZHDR);
  if (!p) return NULL;
  memcpy(p, &n, sizeof n);
  d->mem += n;
  return p + ZHDR;
}

static void z_free(voidpf opaque, voidpf ptr) {
  ws_deflate *d = opaque;
  uint8_t *p = (uint8_t *)ptr - ZHDR;
  size_t n;
  memcpy(&n, p, sizeof n);
  d->mem -= n;
  free(p);
}

static z_stream *stream_new(ws_deflate *d) {
  z_stream *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->zalloc = z_alloc;
  s->zfree = z_free;
  s->opaque = d;
  d->mem += sizeof *s;
  return s;
}

static void stream_free(ws_deflate *d, z_stream *s) {
  d->mem -= sizeof *s;
  free(s);
}

void ws_deflate_init(ws_deflate *d, const ws_deflate_agreement *a, const ws_deflate_config *cfg) {
  memset(d, 0, sizeof *d);
  d->tx_reset = a->server_no_context_takeover;
  d->rx_reset = a->client_no_context_takeover;
  d->tx_bits = (uint8_t)clamp_bits(a->server_window_bits, 15);
  d->rx_bits = (uint8_t)clamp_bits(a->client_window_bits, 15);
  d->mem_level = (uint8_t)(cfg->mem_level >= 1 && cfg->mem_level <= 9 ? cfg->mem_level : 8);
  d->level = (int8_t)(cfg->level >= 1 && cfg->level <= 9 ? cfg->level : Z_DEFAULT_COMPRESSION);
}

void ws_deflate_init_shared(ws_deflate *d, int window_bits, const ws_deflate_config *cfg) {
  ws_deflate_agreement a;
  memset(&a, 0, sizeof a);
  a.server_no_context_takeover = 1;
  a.server_window_bits = (uint8_t)clamp_bits(window_bits, 15);
  a.client_window_bits = 15;
  ws_deflate_init(d, &a, cfg);
}

static void tx_drop(ws_deflate *d) {
  d->tx_stale = 0;
  if (!d->tx) return;
  deflateEnd(d->tx);
  stream_free(d, d->tx);
  d->tx = NULL;
}

static int tx_open(ws_deflate *d) {
  if (d->tx) return 0;
  z_stream *s = stream_new(d);
  if (!s) return WSIO_ENOMEM;
  /* zlib refuses a raw 8-bit window; 9 stays within 8's reach (see choose()). */
  int bits = d->tx_bits < 9 ? 9 : d->tx_bits;
  if (deflateInit2(s, d->level, Z_DEFLATED, -bits, d->mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
    stream_free(d, s);
    return WSIO_ENOMEM;
  }
  d->tx = s;
  return 0;
}

/* Runs deflate over the input already set in d->tx with the given flush, handing all but
 * the last 4 bytes produced so far to sink; buf[0..*held) carries those 4 over. */
static int deflate_run(ws_deflate *d, int flush, uint8_t *buf, size_t *held, ws_deflate_sink sink, void *ud) {
  z_stream *s = d->tx;
  do {
    s->next_out = buf + *held;
    s->avail_out = CHUNK;
    int zr = deflate(s, flush);
    if (zr != Z_OK && zr != Z_BUF_ERROR) return WSIO_ENOMEM;
    size_t have = *held + (CHUNK - s->avail_out);
    size_t emit = have > 4 ? have - 4 : 0;
    if (emit) {
      int rc = sink(ud, buf, emit);
      if (rc) return rc;
      memmove(buf, buf + emit, have - emit);
    }
    *held = have - emit;
  } while (s->avail_out == 0);
  return 0;
}

static int compress_message(ws_deflate *d, const uint8_t *p, size_t n, ws_deflate_sink sink, void *ud) {
  uint8_t buf[CHUNK + 4];
  size_t held = 0;
  /* avail_in is 32 bits: a larger message goes in slices. */
  do {
    size_t piece = n > (1u << 30) ? (1u << 30) : n;
    d->tx->next_in = p;
    d->tx->avail_in = (uInt)piece;
    p += piece;
    n -= piece;
    int rc = deflate_run(d, n ? Z_NO_FLUSH : Z_SYNC_FLUSH, buf, &held, sink, ud);
    if (rc) return rc;
  } while (n);
  /* A sync flush always ends with an empty stored block, 00 00 ff ff once aligned. */
  if (held != 4 || memcmp(buf, trailer, 4) != 0) return WSIO_EINVAL;
  return 0;
}

int ws_deflate_compress(ws_deflate *d, const uint8_t *p, size_t n, ws_deflate_sink sink, void *ud) {
  /* RFC 7692 7.2.3.6: an empty message may be the single byte 00 (an empty stored block,
   * once the receiver appends 00 00 ff ff). zlib would emit nothing at all for a second
   * flush with no input in between, and the history does not change. */
  if (n == 0) {
    static const uint8_t empty = 0;
    return sink(ud, &empty, 1);
  }
  int rc = tx_open(d);
  if (rc) return rc;
  if (d->tx_stale) deflateReset(d->tx);
  d->tx_stale = 0;
  rc = compress_message(d, p, n, sink, ud);
  if (rc) {
    tx_drop(d);
    return rc;
  }
  /* RFC 7692 7.1.1.1: without context takeover the next message may not refer back. */
  if (d->tx_reset) deflateReset(d->tx);
  return 0;
}

/* zlib.h's deflateBound for arbitrary windowBits/memLevel ("conservative") covers a
 * stream ended with Z_FINISH; a sync flush instead adds at most the 3 bits, the alignment
 * and the 4 bytes of an empty stored block, of which we strip 4. */
size_t ws_deflate_compress_bound(size_t n) { return n + ((n + 7) >> 3) + ((n + 63) >> 6) + 5 + 8; }

typedef struct {
  uint8_t *p;
  size_t n, cap;
} span_out;

static int span_sink(void *ud, const uint8_t *p, size_t n) {
  span_out *o = ud;
  if (n > o->cap - o->n) return WSIO_ETOOBIG;
  memcpy(o->p + o->n, p, n);
  o->n += n;
  return 0;
}

int ws_deflate_compress_into(ws_deflate *d, const uint8_t *p, size_t n, uint8_t *out, size_t cap, size_t *len) {
  span_out o = {out, 0, cap};
  int rc = ws_deflate_compress(d, p, n, span_sink, &o);
  *len = o.n;
  return rc;
}

static void rx_drop(ws_deflate *d) {
  if (d->rx) {
    inflateEnd(d->rx);
    stream_free(d, d->rx);
    d->rx = NULL;
  }
  if (d->rx_dict) {
    d->mem -= d->rx_dict_len;
    free(d->rx_dict);
    d->rx_dict = NULL;
    d->rx_dict_len = 0;
  }
}

/* Opens the inflater, restoring the window ws_deflate_release saved. */
static int rx_open(ws_deflate *d) {
  if (d->rx) return 0;
  z_stream *s = stream_new(d);
  if (!s) return WSIO_ENOMEM;
  if (inflateInit2(s, -(int)d->rx_bits) != Z_OK) {
    stream_free(d, s);
    return WSIO_ENOMEM;
  }
  d->rx = s;
  if (d->rx_dict) {
    /* A raw inflater takes a dictionary right after init: it becomes the window. */
    if (inflateSetDictionary(s, d->rx_dict, (uInt)d->rx_dict_len) != Z_OK) return WSIO_ENOMEM;
    d->mem -= d->rx_dict_len;
    free(d->rx_dict);
    d->rx_dict = NULL;
    d->rx_dict_len = 0;
  }
  return 0;
}

/* Inflates in[0..n) into CHUNK-sized pieces for sink, stopping at max. */
static int inflate_feed(ws_deflate *d, const uint8_t *in, size_t n, uint64_t max, ws_deflate_sink sink,
                        void *ud) {
  z_stream *s = d->rx;
  uint8_t out[CHUNK];
  while (n && !d->rx_ended) {
    size_t piece = n > (1u << 30) ? (1u << 30) : n;
    s->next_in = in;
    s->avail_in = (uInt)piece;
    in += piece;
    n -= piece;
    for (;;) {
      s->next_out = out;
      s->avail_out = CHUNK;
      int zr = inflate(s, Z_SYNC_FLUSH);
      if (zr == Z_MEM_ERROR) return WSIO_ENOMEM;
      if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) return WS_DEFLATE_EDATA;
      size_t got = CHUNK - s->avail_out;
      if (got) {
        /* The check comes before the bytes leave: nothing past max is ever handed out. */
        if (got > max - d->rx_total || d->rx_total > max) return WS_DEFLATE_ETOOBIG;
        d->rx_total += got;
        int rc = sink(ud, out, got);
        if (rc) return rc;
      }
      /* RFC 7692 7.2.3.4: a sender may end a message with a BFINAL block; what follows it
       * (the trailer we append, at least) is not DEFLATE data and is ignored. */
      if (zr == Z_STREAM_END) {
        d->rx_ended = 1;
        break;
      }
      if (s->avail_out != 0 && s->avail_in == 0) break; /* all input used, all output out */
      if (zr == Z_BUF_ERROR) break;                     /* no progress possible */
    }
  }
  return 0;
}

int ws_deflate_inflate(ws_deflate *d, const uint8_t *in, size_t n, int fin, uint64_t max,
                       ws_deflate_sink sink, void *ud) {
  if (!d->rx_busy) {
    d->rx_busy = 1;
    d->rx_total = 0;
    d->rx_ended = 0;
    d->rx_any = 0;
  }
  if (n) d->rx_any = 1;
  int rc = rx_open(d);
  if (!rc) rc = inflate_feed(d, in, n, max, sink, ud);
  /* An empty payload is an empty message, sent by zlib-based peers whose second sync flush
   * in a row produced nothing (RFC 7692 7.2.3.6 would send 00); appending the trailer to
   * nothing would leave the inflater inside a stored block header. */
  if (!rc && fin && d->rx_any) rc = inflate_feed(d, trailer, sizeof trailer, max, sink, ud);
  /* 7.2.1: every message ends with a complete block (the trailer completes the last, empty
   * one), so the inflater now waits for a block header (zlib's data_type 128) unless the
   * stream ended. Anything else is a truncated message; it would also make the next
   * message's decoding depend on whether the inflater was released in between. */
  if (!rc && fin && d->rx_any && !d->rx_ended && !(d->rx->data_type & 128)) rc = WS_DEFLATE_EDATA;
  if (rc) {
    rx_drop(d);
    d->rx_busy = 0;
    return rc;
  }
  if (fin) {
    d->rx_busy = 0;
    /* 7.1.1.2: the client starts each message afresh; after a BFINAL block its stream
     * ended, and Node's ws starts a new inflater too. */
    if (d->rx_reset || d->rx_ended) inflateReset(d->rx);
  }
  return 0;
}

int ws_deflate_close_code(int err) {
  switch (err) {
    case 0: return 0;
    case WS_DEFLATE_ETOOBIG: return WS_CLOSE_TOO_BIG;
    case WS_DEFLATE_EDATA: return WS_CLOSE_INVALID_PAYLOAD;
    default: return WS_CLOSE_INTERNAL_ERROR;
  }
}

/* Keeps only the used part of the inflater's window, for the next message to refer to. */
static void rx_stash(ws_deflate *d) {
  uInt len = 0;
  if (inflateGetDictionary(d->rx, NULL, &len) != Z_OK) return;
  uint8_t *copy = NULL;
  if (len) {
    copy = malloc(len);
    if (!copy) return; /* keep the stream: correct, only bigger */
    inflateGetDictionary(d->rx, copy, &len);
  }
  inflateEnd(d->rx);
  stream_free(d, d->rx);
  d->rx = NULL;
  d->rx_dict = copy;
  d->rx_dict_len = len;
  d->mem += len;
}

void ws_deflate_release(ws_deflate *d) {
  tx_drop(d);
  if (!d->rx || d->rx_busy) return;
  if (d->rx_reset)
    rx_drop(d);
  else
    rx_stash(d);
}

void ws_deflate_free(ws_deflate *d) {
  tx_drop(d);
  rx_drop(d);
  d->rx_busy = 0;
}

size_t ws_deflate_memory(const ws_deflate *d) { return d->mem; }

/* zlib.h: deflate needs (1 << (windowBits + 2)) + (1 << (memLevel + 9)) bytes, inflate
 * 1 << windowBits, both plus their state structures (5952 and 7160 bytes in zlib 1.2.13
 * on 64-bit targets) and our z_stream. */
size_t ws_deflate_memory_estimate(int deflate_bits, int mem_level, int inflate_bits) {
  if (deflate_bits < 9) deflate_bits = 9;
  size_t tx = ((size_t)1 << (deflate_bits + 2)) + ((size_t)1 << (mem_level + 9)) + 5952 + sizeof(z_stream);
  size_t rx = ((size_t)1 << inflate_bits) + 7160 + sizeof(z_stream);
  return tx + rx;
}

int ws_deflate_shared_ok(const ws_deflate *recipient, const ws_deflate *shared) {
  return recipient->tx_bits >= shared->tx_bits;
}

/* deflateReset clears the hash table (64 KiB at memLevel 8): too much to do for every
 * recipient of every broadcast, so it waits for the next message of this connection. */
void ws_deflate_tx_forget(ws_deflate *d) {
  if (d->tx && !d->tx_reset) d->tx_stale = 1;
}
