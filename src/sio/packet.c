/* sio/packet.c — Socket.IO v5 text packet decoding and packet-head encoding.
 *
 * Owns: reading `<type>[<n>-][<nsp>,][<id>][<JSON>]` the way socket.io-parser's
 * Decoder.decodeString does, and the payload shape rules of its isPayloadValid /
 * isDataValid. Must not allocate, do I/O, or know which namespaces exist; the JSON is
 * only validated (sio/json.h), never converted. Binary attachments are the caller's. */
#include "sio/packet.h"

#include <string.h>

#include "sio/jscan.h"

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_binary_type(uint8_t t) { return t == SIO_BINARY_EVENT || t == SIO_BINARY_ACK; }

/* "<digits>-" at p[i]; returns the index after '-', or 0. Node compares the text with
 * Number(text), so it also takes "", " 1" or "1e1"; real encoders write plain digits
 * and this accepts only those. */
static size_t parse_attachments(const char *p, size_t n, size_t i, uint32_t *out) {
  size_t start = i;
  uint32_t v = 0;
  for (; i < n && is_digit(p[i]); i++) {
    v = v * 10 + (uint32_t)(p[i] - '0');
    if (v > SIO_MAX_ATTACHMENTS) return 0;
  }
  if (i == start || i >= n || p[i] != '-') return 0;
  *out = v;
  return i + 1;
}

/* The namespace runs from '/' to the first ',' (consumed), or to the end of the packet
 * when there is none: Node reads "40/custom" as namespace "/custom". */
static size_t parse_nsp(const char *p, size_t n, size_t i, sio_packet *pk) {
  if (i >= n || p[i] != '/') return i;
  const char *comma = memchr(p + i, ',', n - i);
  size_t end = comma ? (size_t)(comma - p) : n;
  pk->nsp = p + i;
  pk->nsp_len = end - i;
  return comma ? end + 1 : n;
}

/* Decimal digits right before the JSON. Node reads them into a double; an id that does
 * not fit an int64_t is treated as malformed. Returns the index after them, or 0. */
static size_t parse_ack_id(const char *p, size_t n, size_t i, int64_t *id) {
  if (i >= n || !is_digit(p[i])) return i;
  int64_t v = 0;
  for (; i < n && is_digit(p[i]); i++) {
    int d = p[i] - '0';
    if (v > (INT64_MAX - d) / 10) return 0;
    v = v * 10 + d;
  }
  *id = v;
  return i;
}

static size_t rtrim_ws(const char *p, size_t n) {
  while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n' || p[n - 1] == '\r')) n--;
  return n;
}

/* Names are compared unescaped, as JSON.parse would see them ("\u0063onnect" is
 * "connect"); every reserved name is shorter than the buffer. Sets event_plain. */
static int event_name_ok(sio_packet *pk, const char *tok, size_t len) {
  const char *plain;
  size_t plen;
  if (jscan_string_plain(tok, len, &plain, &plen)) {
    pk->event_plain = 1;
    return !sio_reserved_event(plain, plen);
  }
  char buf[24];
  long m = jscan_string_unescape(tok, len, buf, sizeof buf);
  if (m < 0) return 0;
  return m >= (long)sizeof buf || !sio_reserved_event(buf, (size_t)m);
}

/* EVENT/BINARY_EVENT: the first element (el of type t, from the validation's one pass)
 * must be a number or a non-reserved string. Sets
 * event and args_rest ("[" + args_rest is the argument array). */
static int split_event(sio_packet *pk, const char *el, size_t el_len, jscan_type t) {
  if (t != JSCAN_NUMBER && (t != JSCAN_STRING || !event_name_ok(pk, el, el_len))) return 0;
  pk->event = el;
  pk->event_len = el_len;
  size_t off = (size_t)(el - pk->data) + el_len;
  size_t end = rtrim_ws(pk->data, pk->data_len); /* just past the array's ']' */
  while (off < end && pk->data[off] != ',' && pk->data[off] != ']') off++;
  if (off < end && pk->data[off] == ',') off++;
  pk->args_rest = pk->data + off;
  pk->args_rest_len = end - off;
  return 1;
}

static int payload_ok(sio_packet *pk) {
  jscan_type t = JSCAN_INVALID;
  const char *first = NULL;
  size_t first_len = 0;
  jscan_type first_t = JSCAN_INVALID;
  if (pk->data && !jscan_valid_first(pk->data, pk->data_len, &t, &first, &first_len, &first_t)) return 0;
  switch (pk->type) {
    case SIO_CONNECT: return !pk->data || t == JSCAN_OBJECT;
    case SIO_DISCONNECT: return !pk->data;
    case SIO_CONNECT_ERROR: return t == JSCAN_OBJECT || t == JSCAN_STRING;
    case SIO_EVENT:
    case SIO_BINARY_EVENT: return t == JSCAN_ARRAY && split_event(pk, first, first_len, first_t);
    default: return t == JSCAN_ARRAY; /* ACK, BINARY_ACK */
  }
}

/* Node's Decoder accepts a missing payload for every type; its isPacketValid (and this
 * header's contract) does not for EVENT, ACK and CONNECT_ERROR, which carry nothing a
 * server could act on without one. */
int sio_packet_decode(const char *p, size_t n, sio_packet *out) {
  memset(out, 0, sizeof *out);
  out->nsp = "/";
  out->nsp_len = 1;
  out->ack_id = -1;
  if (n == 0 || p[0] < '0' || p[0] > '0' + SIO_BINARY_ACK) return -1;
  out->type = (uint8_t)(p[0] - '0');
  size_t i = 1;
  if (is_binary_type(out->type)) {
    i = parse_attachments(p, n, i, &out->attachments);
    if (!i) return -1;
  }
  i = parse_nsp(p, n, i, out);
  i = parse_ack_id(p, n, i, &out->ack_id);
  if (!i) return -1;
  if (i < n) {
    out->data = p + i;
    out->data_len = n - i;
  }
  return payload_ok(out) ? 0 : -1;
}

static size_t put_u64(char *out, uint64_t v) {
  char tmp[20];
  size_t k = 0;
  do {
    tmp[k++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t j = 0; j < k; j++) out[j] = tmp[k - 1 - j];
  return k;
}

/* Worst case 1 + 10 + 1 + nsp_len + 1 + 19 bytes, inside the 32 + nsp_len promised. */
size_t sio_packet_head(char *out, uint8_t type, uint32_t attachments, const char *nsp, size_t nsp_len,
                       int64_t ack_id) {
  size_t o = 0;
  out[o++] = (char)('0' + type);
  if (is_binary_type(type)) {
    o += put_u64(out + o, attachments);
    out[o++] = '-';
  }
  /* Node writes the namespace only when it is set and not "/". */
  if (nsp_len && !(nsp_len == 1 && nsp[0] == '/')) {
    memcpy(out + o, nsp, nsp_len);
    o += nsp_len;
    out[o++] = ',';
  }
  if (ack_id >= 0) o += put_u64(out + o, (uint64_t)ack_id);
  return o;
}

/* Fast: one comparison of the length for most names (it runs for every event received
 * and every emit; a strlen per name was ~130 instructions of a long-polling echo, a walk
 * of the table ~45). */
int sio_reserved_event(const char *name, size_t len) {
  switch (len) {
    case 7: return memcmp(name, "connect", 7) == 0;
    case 10: return memcmp(name, "disconnect", 10) == 0;
    case 11: return memcmp(name, "newListener", 11) == 0;
    case 13: return memcmp(name, "connect_error", 13) == 0 || memcmp(name, "disconnecting", 13) == 0;
    case 14: return memcmp(name, "removeListener", 14) == 0;
    default: return 0;
  }
}
