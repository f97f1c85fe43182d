/* fuzz/fuzz_sio_packet.c — libFuzzer target for sio/packet.c and sio/json.c.
 *
 * Decodes the input as a Socket.IO packet and checks: every span lies inside the input;
 * the fields agree with the JSON scanner (shape, event name, "[" + args_rest); the head
 * re-encoded with sio_packet_head plus the data decodes to the same fields. Whatever the
 * packet verdict, the input also goes through every JSON entry point, and a string the
 * scanner accepts must survive unescape -> escape -> unescape (the one-pass validation and
 * the no-escape shortcut agreeing with the general paths). */
#include "sio/jscan.h"
#include "sio/packet.h"

#include <stdlib.h>
#include <string.h>

#define REQUIRE(c)     \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

static int inside(const char *base, size_t n, const char *p, size_t len) {
  return p >= base && len <= n && (size_t)(p - base) <= n - len;
}

static int same_span(const char *a, size_t an, const char *b, size_t bn) {
  if (!a || !b) return a == b;
  return an == bn && memcmp(a, b, an) == 0;
}

static void check_fields(const char *in, size_t n, const sio_packet *pk) {
  REQUIRE(pk->type <= SIO_BINARY_ACK);
  int binary = pk->type == SIO_BINARY_EVENT || pk->type == SIO_BINARY_ACK;
  REQUIRE(pk->attachments <= (binary ? SIO_MAX_ATTACHMENTS : 0));
  REQUIRE(pk->nsp_len >= 1 && pk->nsp[0] == '/');
  REQUIRE(inside(in, n, pk->nsp, pk->nsp_len) || pk->nsp_len == 1); /* or the "/" literal */
  REQUIRE(!memchr(pk->nsp, ',', pk->nsp_len));
  REQUIRE(pk->ack_id >= -1);
  jscan_type t = JSCAN_INVALID;
  if (pk->data) {
    REQUIRE(inside(in, n, pk->data, pk->data_len) && pk->data + pk->data_len == in + n);
    REQUIRE(jscan_valid(pk->data, pk->data_len, &t));
  }
  switch (pk->type) {
    case SIO_CONNECT: REQUIRE(!pk->data || t == JSCAN_OBJECT); break;
    case SIO_DISCONNECT: REQUIRE(!pk->data); break;
    case SIO_CONNECT_ERROR: REQUIRE(t == JSCAN_OBJECT || t == JSCAN_STRING); break;
    default: REQUIRE(t == JSCAN_ARRAY);
  }
  if (pk->type != SIO_EVENT && pk->type != SIO_BINARY_EVENT) {
    REQUIRE(!pk->event && !pk->args_rest);
    return;
  }
  REQUIRE(inside(pk->data, pk->data_len, pk->event, pk->event_len));
  REQUIRE(inside(pk->data, pk->data_len, pk->args_rest, pk->args_rest_len));
  jscan_type et;
  REQUIRE(jscan_valid(pk->event, pk->event_len, &et));
  REQUIRE(et == JSCAN_STRING || et == JSCAN_NUMBER);
  /* The name is the array's first element, as iterating it finds. */
  size_t off = 0;
  const char *el;
  size_t el_len;
  REQUIRE(jscan_array_next(pk->data, pk->data_len, &off, &el, &el_len, &et) == 1);
  REQUIRE(el == pk->event && el_len == pk->event_len);
  /* event_plain: a string name whose bytes are its value (no escape). */
  REQUIRE(pk->event_plain == (pk->event[0] == '"' && !memchr(pk->event, '\\', pk->event_len)));
  /* "[" + args_rest is an array. */
  char *args = malloc(pk->args_rest_len + 1);
  REQUIRE(args);
  args[0] = '[';
  memcpy(args + 1, pk->args_rest, pk->args_rest_len);
  jscan_type at;
  REQUIRE(jscan_valid(args, pk->args_rest_len + 1, &at) && at == JSCAN_ARRAY);
  free(args);
}

static void check_reencode(const sio_packet *a) {
  size_t cap = 32 + a->nsp_len + (a->data ? a->data_len : 0);
  char *buf = malloc(cap);
  REQUIRE(buf);
  size_t n = sio_packet_head(buf, a->type, a->attachments, a->nsp, a->nsp_len, a->ack_id);
  REQUIRE(n <= 32 + a->nsp_len);
  if (a->data) {
    memcpy(buf + n, a->data, a->data_len);
    n += a->data_len;
  }
  sio_packet b;
  REQUIRE(sio_packet_decode(buf, n, &b) == 0);
  REQUIRE(b.type == a->type && b.attachments == a->attachments && b.ack_id == a->ack_id);
  REQUIRE(same_span(b.nsp, b.nsp_len, a->nsp, a->nsp_len));
  REQUIRE(same_span(b.data, b.data_len, a->data, a->data_len));
  REQUIRE(same_span(b.event, b.event_len, a->event, a->event_len));
  REQUIRE(same_span(b.args_rest, b.args_rest_len, a->args_rest, a->args_rest_len));
  free(buf);
}

static void check_json_api(const char *in, size_t n) {
  jscan_type t, st;
  int valid = jscan_valid(in, n, &t);
  size_t end = jscan_scan(in, n, &st);
  REQUIRE(end <= n && (end == 0) == (st == JSCAN_INVALID));
  if (valid) REQUIRE(end && st == t);
  /* The one-pass validation agrees with jscan_valid, and its first element with
   * iteration's when that is a scalar. */
  const char *first;
  size_t first_len;
  jscan_type ft, first_t;
  REQUIRE(jscan_valid_first(in, n, &ft, &first, &first_len, &first_t) == valid && ft == (valid ? t : JSCAN_INVALID));
  if (valid && t == JSCAN_ARRAY) {
    size_t o = 0;
    const char *e0;
    size_t e0_len;
    jscan_type e0t;
    int r = jscan_array_next(in, n, &o, &e0, &e0_len, &e0t);
    int scalar = r == 1 && e0t != JSCAN_ARRAY && e0t != JSCAN_OBJECT;
    REQUIRE(scalar ? first == e0 && first_len == e0_len && first_t == e0t
                   : !first && !first_len && first_t == JSCAN_INVALID);
  } else if (valid) {
    REQUIRE(!first && !first_len && first_t == JSCAN_INVALID);
  }
  long ph = jscan_count_placeholders(in, n, 4);
  REQUIRE(ph >= -1);
  if (!valid) REQUIRE(ph == -1);
  /* Array iteration walks forward and never leaves the input. */
  size_t off = 0;
  const char *el;
  size_t el_len;
  jscan_type et;
  for (int k = 0;; k++) {
    size_t before = off;
    int r = jscan_array_next(in, n, &off, &el, &el_len, &et);
    if (r != 1) break;
    REQUIRE(off > before && inside(in, n, el, el_len) && el_len > 0);
    REQUIRE(k <= (int)n);
  }
  if (!valid || t != JSCAN_STRING) return;
  /* A valid string token: unescape -> escape -> unescape gives the same bytes. */
  const char *tok = in;
  while (*tok != '"') tok++; /* past leading whitespace */
  size_t tok_len = (size_t)(in + end - tok);
  char *u1 = malloc(n + 1), *e = malloc(6 * n + 2), *u2 = malloc(n + 1);
  REQUIRE(u1 && e && u2);
  long m1 = jscan_string_unescape(tok, tok_len, u1, n + 1);
  REQUIRE(m1 >= 0 && (size_t)m1 <= n);
  size_t en = jscan_string_escape(e, 6 * n + 2, u1, (size_t)m1);
  REQUIRE(en <= 6 * n + 2);
  REQUIRE(jscan_valid(e, en, &et) && et == JSCAN_STRING);
  long m2 = jscan_string_unescape(e, en, u2, n + 1);
  REQUIRE(m2 == m1 && memcmp(u1, u2, (size_t)m1) == 0);
  /* Without escapes, the token's bytes are its value. */
  const char *plain;
  size_t plain_len;
  if (jscan_string_plain(tok, tok_len, &plain, &plain_len))
    REQUIRE(plain_len == (size_t)m1 && memcmp(plain, u1, plain_len) == 0);
  else
    REQUIRE(memchr(tok, '\\', tok_len));
  /* A short buffer gets a prefix of the whole escape, and nothing past its end. */
  char *half = malloc(en / 2); /* (en >= 2: the quotes) */
  REQUIRE(half);
  REQUIRE(jscan_string_escape(half, en / 2, u1, (size_t)m1) == en && memcmp(half, e, en / 2) == 0);
  free(half);
  free(u1);
  free(e);
  free(u2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *in = malloc(size ? size : 1); /* exact size: ASan catches over-reads */
  REQUIRE(in);
  memcpy(in, data, size);
  sio_packet pk;
  int r = sio_packet_decode(in, size, &pk);
  REQUIRE(r == 0 || r == -1);
  if (r == 0) {
    check_fields(in, size, &pk);
    check_reencode(&pk);
  }
  check_json_api(in, size);
  if (size > 1) check_json_api(in + 1, size - 1); /* the data after a type digit */
  free(in);
  return 0;
}
