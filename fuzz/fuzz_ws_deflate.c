/* fuzz/fuzz_ws_deflate.c — libFuzzer target for ws/deflate.c.
 *
 * Byte 0 bits 0 and 7 pick the part under test.
 *  - Offers (both clear): the rest is a Sec-WebSocket-Extensions value; bytes 1-2 make a
 *    server configuration. Whatever is accepted must have parameters in range, agree with
 *    the configuration, and answer with a value that itself parses as a valid
 *    permessage-deflate element saying the same thing. ws_deflate_parse_offer also runs on
 *    the whole input as one element.
 *  - Inflater (bit 0 set): the rest is two compressed messages (split at a point byte 3
 *    picks), fed in pieces whose sizes come from byte 2, against a small limit from byte
 *    1, with the window and takeover mode from byte 0 and an idle release between the
 *    messages. zlib used directly over the same bytes is the reference: our output is
 *    always a prefix of zlib's, equal to it on success; "too big" only when zlib's passes
 *    the limit; "bad data" only when zlib fails (or, under 15 bits, when a distance
 *    reaches past the window: see below). No piece is over 16 KiB, nothing past the limit
 *    is ever handed out, and after an error the codec holds no memory.
 *  - Compressor (bit 0 clear, bit 7 set): the rest, split at byte 1's point, is two
 *    messages compressed with ws_deflate_compress_into into exactly
 *    ws_deflate_compress_bound bytes, with the window, takeover and level from byte 0,
 *    then inflated back by zlib directly. */
#define ZLIB_CONST
#include "ws/deflate.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define REQUIRE(c)       \
  do {                   \
    if (!(c)) abort();   \
  } while (0)

/* ---- offers ---------------------------------------------------------------------------- */

static void check_agreement(const ws_deflate_agreement *a, const ws_deflate_config *cfg) {
  REQUIRE(a->server_window_bits >= 8 && a->server_window_bits <= 15);
  REQUIRE(a->client_window_bits >= 8 && a->client_window_bits <= 15);
  REQUIRE(a->response_len == strlen(a->response) && a->response_len < WS_DEFLATE_RESPONSE_MAX);
  if (cfg->server_no_context_takeover) REQUIRE(a->server_no_context_takeover);
  if (cfg->client_no_context_takeover) REQUIRE(a->client_no_context_takeover);
  int smax = cfg->server_max_window_bits ? cfg->server_max_window_bits : 15;
  REQUIRE(a->server_window_bits <= smax);
  ws_deflate_offer back;
  REQUIRE(ws_deflate_parse_offer(a->response, a->response_len, &back) == 0);
  REQUIRE(back.server_no_context_takeover == a->server_no_context_takeover);
  REQUIRE(back.client_no_context_takeover == a->client_no_context_takeover);
  REQUIRE((back.server_max_window_bits ? back.server_max_window_bits : 15) == a->server_window_bits);
  if (back.client_max_window_bits) REQUIRE(back.client_max_window_bits == a->client_window_bits);
  else REQUIRE(a->client_window_bits == 15);
}

static void fuzz_offers(const uint8_t *data, size_t size) {
  if (size < 3) return;
  ws_deflate_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.server_no_context_takeover = data[0] >> 1 & 1;
  cfg.client_no_context_takeover = data[0] >> 2 & 1;
  cfg.server_max_window_bits = data[1] % 9 ? 7 + data[1] % 9 : 0;
  cfg.client_max_window_bits = data[2] % 9 ? 7 + data[2] % 9 : 0;
  const char *v = (const char *)data + 3;
  size_t n = size - 3;
  /* An exact-size copy, so ASan sees a read past the end. */
  char *copy = malloc(n ? n : 1);
  memcpy(copy, v, n);
  ws_deflate_agreement a;
  memset(&a, 0x5a, sizeof a);
  if (ws_deflate_negotiate_value(copy, n, &cfg, &a)) check_agreement(&a, &cfg);
  ws_deflate_offer o;
  int rc = ws_deflate_parse_offer(copy, n, &o);
  REQUIRE(rc == 0 || rc == WS_DEFLATE_OTHER || rc == WS_DEFLATE_EDECLINE || rc == WS_DEFLATE_ESYNTAX);
  if (rc == 0) {
    REQUIRE(o.server_max_window_bits == 0 || (o.server_max_window_bits >= 8 && o.server_max_window_bits <= 15));
    REQUIRE(o.client_max_window_bits <= 15 && o.client_max_window_bits != 2);
    /* A well-formed offer with no comma in it is accepted by negotiation as well. */
    if (!memchr(copy, ',', n)) {
      REQUIRE(ws_deflate_negotiate_value(copy, n, &cfg, &a) == 1);
      check_agreement(&a, &cfg);
    }
  }
  free(copy);
}

/* ---- the inflater ------------------------------------------------------------------------ */

typedef struct {
  uint8_t *p;
  size_t n, cap;
} out_buf;

static int sink(void *ud, const uint8_t *p, size_t n) {
  out_buf *b = ud;
  REQUIRE(n > 0 && n <= 16384);
  REQUIRE(b->n + n <= b->cap); /* cap is the limit: nothing past it may arrive */
  memcpy(b->p + b->n, p, n);
  b->n += n;
  return 0;
}

/* zlib over one message (plus the trailer, unless the message is empty), as our inflater
 * should see it; stops once the output passes cap. Returns 1 when zlib reported bad data
 * or the message did not end on a block boundary. */
static int reference(z_stream *z, const uint8_t *p, size_t n, uint8_t *out, size_t cap, size_t *got,
                     int *ended) {
  static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
  *got = 0;
  *ended = 0;
  if (n == 0) return 0;
  for (int part = 0; part < 2 && !*ended; part++) {
    z->next_in = part ? tail : p;
    z->avail_in = (uInt)(part ? 4 : n);
    for (;;) {
      if (*got >= cap) return 0;
      z->next_out = out + *got;
      z->avail_out = (uInt)(cap - *got);
      int zr = inflate(z, Z_SYNC_FLUSH);
      *got = cap - z->avail_out;
      if (zr == Z_STREAM_END) {
        *ended = 1;
        break;
      }
      if (zr != Z_OK && zr != Z_BUF_ERROR) return 1;
      if (z->avail_in == 0 || zr == Z_BUF_ERROR) break;
    }
  }
  return !*ended && !(z->data_type & 128);
}

static size_t next_piece(uint32_t *seed, size_t left) {
  *seed = *seed * 1103515245u + 12345u;
  size_t piece = 1 + (*seed >> 16) % 97;
  return piece < left ? piece : left;
}

static void fuzz_inflate(const uint8_t *data, size_t size) {
  if (size < 4) return;
  int bits = 8 + (data[0] >> 1 & 7);
  int reset = data[0] >> 4 & 1;
  uint64_t max = (uint64_t)data[1] << 6; /* 0..16320 */
  uint32_t seed = data[2];
  const uint8_t *in = data + 4;
  size_t n = size - 4;
  size_t cut = n ? (size_t)data[3] * n / 256 : 0;

  ws_deflate_agreement a;
  memset(&a, 0, sizeof a);
  a.client_no_context_takeover = (uint8_t)reset;
  a.client_window_bits = (uint8_t)bits;
  a.server_window_bits = 15;
  ws_deflate_config cfg;
  memset(&cfg, 0, sizeof cfg);
  ws_deflate d;
  ws_deflate_init(&d, &a, &cfg);
  z_stream z;
  memset(&z, 0, sizeof z);
  REQUIRE(inflateInit2(&z, -bits) == Z_OK);

  size_t refcap = (size_t)max + 16384 + 1;
  uint8_t *ref = malloc(refcap);
  out_buf got = {malloc(max ? max : 1), 0, (size_t)max};
  const uint8_t *msg[2] = {in, in + cut};
  size_t len[2] = {cut, n - cut};
  for (int m = 0; m < 2; m++) {
    /* An exact-size copy of the message for ASan. */
    uint8_t *copy = malloc(len[m] ? len[m] : 1);
    memcpy(copy, msg[m], len[m]);
    got.n = 0;
    int rc = 0;
    size_t off = 0;
    do {
      size_t piece = next_piece(&seed, len[m] - off);
      rc = ws_deflate_inflate(&d, copy + off, piece, off + piece == len[m], max, sink, &got);
      off += piece;
    } while (!rc && off < len[m]);
    size_t rn;
    int ended;
    int bad = reference(&z, copy, len[m], ref, refcap, &rn, &ended);
    free(copy);
    REQUIRE(got.n <= rn && memcmp(got.p, ref, got.n) == 0);
    if (rc == 0) {
      REQUIRE(!bad && rn == got.n);
    } else if (rc == WS_DEFLATE_ETOOBIG) {
      REQUIRE(rn > max);
    } else {
      /* zlib checks a distance against the window plus what the current inflate() call has
       * written, so the reference's one big output buffer accepts some distances beyond a
       * small window that our 16 KiB pieces refuse; with 15 bits the whole output fits in
       * the window and both must agree. */
      REQUIRE(rc == WS_DEFLATE_EDATA && (bad || bits < 15));
    }
    if (rc) {
      REQUIRE(ws_deflate_memory(&d) == 0);
      break;
    }
    if (reset || ended) inflateReset(&z);
    ws_deflate_release(&d);
    REQUIRE(reset ? ws_deflate_memory(&d) == 0 : ws_deflate_memory(&d) <= ((size_t)1 << bits));
  }
  ws_deflate_free(&d);
  REQUIRE(ws_deflate_memory(&d) == 0);
  inflateEnd(&z);
  free(ref);
  free(got.p);
}

/* ---- the compressor ---------------------------------------------------------------------- */

static void fuzz_compress(const uint8_t *data, size_t size) {
  if (size < 2) return;
  int bits = 8 + (data[0] >> 1 & 7);
  int takeover = data[0] >> 4 & 1;
  ws_deflate_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.level = 1 + (data[0] >> 5 & 3) * 3; /* 1, 4, 7, 10 (10: the default) */
  cfg.mem_level = 1 + data[1] % 9;
  ws_deflate_agreement a;
  memset(&a, 0, sizeof a);
  a.server_no_context_takeover = (uint8_t)!takeover;
  a.server_window_bits = (uint8_t)bits;
  ws_deflate d;
  ws_deflate_init(&d, &a, &cfg);
  z_stream z;
  memset(&z, 0, sizeof z);
  REQUIRE(inflateInit2(&z, -bits) == Z_OK);
  const uint8_t *in = data + 2;
  size_t n = size - 2, cut = (size_t)data[1] * n / 256;
  const uint8_t *msg[2] = {in, in + cut};
  size_t len[2] = {cut, n - cut};
  for (int m = 0; m < 2; m++) {
    size_t cap = ws_deflate_compress_bound(len[m]), clen = 0;
    uint8_t *out = malloc(cap);
    REQUIRE(ws_deflate_compress_into(&d, msg[m], len[m], out, cap, &clen) == 0);
    REQUIRE(clen > 0 && clen <= cap);
    uint8_t *back = malloc(len[m] + 1);
    size_t rn;
    int ended;
    REQUIRE(reference(&z, out, clen, back, len[m] + 1, &rn, &ended) == 0);
    REQUIRE(!ended && rn == len[m] && memcmp(back, msg[m], len[m]) == 0);
    if (!takeover) inflateReset(&z);
    free(out);
    free(back);
  }
  ws_deflate_free(&d);
  inflateEnd(&z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  if (data[0] & 1)
    fuzz_inflate(data, size);
  else if (data[0] & 0x80)
    fuzz_compress(data, size);
  else
    fuzz_offers(data, size);
  return 0;
}
