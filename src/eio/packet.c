/* eio/packet.c — Engine.IO v4 packet, polling-payload and base64 codec.
 *
 * Owns: splitting a polling payload on 0x1E, telling text records from "b<base64>"
 * records, the type digit, and an exact RFC 4648 base64 codec. Must not allocate, do I/O
 * or know sessions; the only write it makes is decoding base64 in place in the caller's
 * buffer. */
#include "eio/packet.h"

#include <string.h>

int eio_packet_decode_text(const uint8_t *p, size_t n, eio_packet *out) {
  if (n == 0 || p[0] < '0' || p[0] > '0' + EIO_NOOP) return -1;
  out->type = (uint8_t)(p[0] - '0');
  out->binary = 0;
  out->data = p + 1;
  out->len = n - 1;
  return 0;
}

/* The cursor encodes where the next record starts: a record follows every separator, so
 * a payload ending in 0x1E (or an empty payload) has an empty last record, which Node's
 * decodePayload turns into an error packet. *off == n + 1 means "past the last record". */
int eio_payload_next(uint8_t *p, size_t n, size_t *off, eio_packet *out) {
  size_t start = *off;
  if (start > n) return 0;
  const uint8_t *sep = start < n ? memchr(p + start, EIO_RECORD_SEPARATOR, n - start) : NULL;
  size_t end = sep ? (size_t)(sep - p) : n;
  if (end == start) return -1;
  *off = end + 1;
  if (p[start] != 'b') return eio_packet_decode_text(p + start, end - start, out) == 0 ? 1 : -1;
  /* Engine.IO v4: binary inside a text payload is "b" + base64, always a message. */
  long m = eio_base64_decode(p + start + 1, (const char *)p + start + 1, end - start - 1);
  if (m < 0) return -1;
  out->type = EIO_MESSAGE;
  out->binary = 1;
  out->data = p + start + 1;
  out->len = (size_t)m;
  return 1;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t eio_base64_encode(char *dst, const uint8_t *src, size_t n) {
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
    dst[o++] = b64_alphabet[v >> 18];
    dst[o++] = b64_alphabet[(v >> 12) & 63];
    dst[o++] = b64_alphabet[(v >> 6) & 63];
    dst[o++] = b64_alphabet[v & 63];
  }
  if (i == n) return o;
  uint32_t v = (uint32_t)src[i] << 16 | (i + 1 < n ? (uint32_t)src[i + 1] << 8 : 0);
  dst[o++] = b64_alphabet[v >> 18];
  dst[o++] = b64_alphabet[(v >> 12) & 63];
  dst[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
  dst[o++] = '=';
  return o;
}

/* 0..63 for an alphabet character, -1 otherwise. */
static int b64_value(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decodes one 4-character quantum; pad is how many '=' end it (0 only before the last).
 * Writes 3 - pad bytes. Returns -1 on a character outside the alphabet. */
static int b64_quantum(uint8_t *dst, const uint8_t *s, int pad) {
  uint32_t v = 0;
  for (int k = 0; k < 4 - pad; k++) {
    int d = b64_value(s[k]);
    if (d < 0) return -1;
    v |= (uint32_t)d << (18 - 6 * k);
  }
  /* RFC 4648 3.5: leftover bits in a padded quantum should be zero; like Node's
   * Buffer.from(.., "base64") we ignore them rather than reject the record. */
  dst[0] = (uint8_t)(v >> 16);
  if (pad < 2) dst[1] = (uint8_t)(v >> 8);
  if (pad < 1) dst[2] = (uint8_t)v;
  return 0;
}

/* In place is safe: quantum k is read from src[4k..4k+4) before dst[3k..3k+3) is
 * written, and 3k + 3 <= 4k + 4 means it never overwrites an unread byte. */
long eio_base64_decode(uint8_t *dst, const char *src, size_t n) {
  const uint8_t *s = (const uint8_t *)src;
  if (n % 4 != 0) return -1;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int pad = 0;
    if (i + 4 == n) pad = s[i + 3] != '=' ? 0 : s[i + 2] != '=' ? 1 : 2;
    uint8_t q[4];
    memcpy(q, s + i, 4);
    if (b64_quantum(dst + o, q, pad) < 0) return -1;
    o += 3 - (size_t)pad;
  }
  return (long)o;
}
