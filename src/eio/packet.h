/* eio/packet.h — pure Engine.IO v4 packet and polling-payload codec.
 *
 * Owns: the wire format of Engine.IO packets (a type digit + data), the long-polling
 * payload (packets joined by the record separator 0x1E, binary packets as "b" +
 * base64) and base64 itself. Must not allocate, do I/O or know sessions. */
#ifndef WSIO_EIO_PACKET_H
#define WSIO_EIO_PACKET_H

#include <stddef.h>
#include <stdint.h>

enum {
  EIO_OPEN = 0,
  EIO_CLOSE = 1,
  EIO_PING = 2,
  EIO_PONG = 3,
  EIO_MESSAGE = 4,
  EIO_UPGRADE = 5,
  EIO_NOOP = 6,
};

#define EIO_RECORD_SEPARATOR 0x1E

typedef struct {
  uint8_t type;   /* EIO_* */
  uint8_t binary; /* 1: binary message (data is raw bytes) */
  const uint8_t *data;
  size_t len;
} eio_packet;

/* Decodes one text packet: a WebSocket text frame or one polling record that does not
 * start with 'b'. "4hello" -> MESSAGE "hello"; "2probe" -> PING "probe".
 * Returns 0, or -1 when empty or the type is not a digit 0-6. */
int eio_packet_decode_text(const uint8_t *p, size_t n, eio_packet *out);

/* Iterates the packets of a polling payload p[0..n) (a POST body). *off is the cursor
 * (start at 0). A "b<base64>" record is decoded IN PLACE (p is modified; the decoded
 * bytes are shorter than the text) into a binary MESSAGE.
 * Returns 1 with *out filled, 0 at the end, -1 on a malformed record (empty record,
 * unknown type, invalid base64). An empty payload (n == 0) is malformed. */
int eio_payload_next(uint8_t *p, size_t n, size_t *off, eio_packet *out);

#endif
