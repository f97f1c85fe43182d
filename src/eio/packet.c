/* eio/packet.c — Engine.IO v4 packet and polling-payload codec.
 *
 * Owns: splitting a polling payload on 0x1E, telling text records from "b<base64>"
 * records (decoded with util/base64), the type digit. Must not allocate, do I/O or know
 * sessions; the only write it makes is decoding base64 in place in the caller's buffer. */
#include "eio/packet.h"

#include <string.h>

#include "util/base64.h"

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
  long m = base64_decode(p + start + 1, (const char *)p + start + 1, end - start - 1);
  if (m < 0) return -1;
  out->type = EIO_MESSAGE;
  out->binary = 1;
  out->data = p + start + 1;
  out->len = (size_t)m;
  return 1;
}
