/* sio/packet.h — pure Socket.IO v5 packet codec (the default socket.io-parser format).
 *
 * Owns: `<type>[<attachments>-][<nsp>,][<ack id>][<JSON>]` — decoding with Node's
 * validation rules, and encoding packet heads. Must not allocate, do I/O or know
 * namespaces/sockets. JSON is checked with sio/json.h, never converted. */
#ifndef WSIO_SIO_PACKET_H
#define WSIO_SIO_PACKET_H

#include <stddef.h>
#include <stdint.h>

enum {
  SIO_CONNECT = 0,
  SIO_DISCONNECT = 1,
  SIO_EVENT = 2,
  SIO_ACK = 3,
  SIO_CONNECT_ERROR = 4,
  SIO_BINARY_EVENT = 5,
  SIO_BINARY_ACK = 6,
};

#define SIO_MAX_ATTACHMENTS 10 /* socket.io-parser's default maxAttachments: more is malformed */

typedef struct {
  uint8_t type;
  uint32_t attachments; /* BINARY_*: how many binary messages follow */
  const char *nsp;      /* namespace, "/" when absent (points into the input or a literal) */
  size_t nsp_len;
  int64_t ack_id;       /* -1 when absent */
  const char *data;     /* JSON text (whole rest of the packet), NULL when absent */
  size_t data_len;
  /* For EVENT/BINARY_EVENT: the event name (first array element) as a JSON string
   * token including its quotes, and the remaining arguments as a JSON array text
   * rebuilt as "[" + rest: args_rest points at the first byte after the name's comma
   * (or at the closing ']' when there are no more arguments). */
  const char *event;
  size_t event_len;
  uint8_t event_plain; /* a string name without escapes: its value is event[1..event_len-1) */
  const char *args_rest;
  size_t args_rest_len;
} sio_packet;

/* Decodes a text packet p[0..n). Returns 0, or -1 when malformed per socket.io-parser:
 * unknown type, attachments on non-binary types or a bad count, a namespace not
 * starting with '/', a non-numeric ack id, invalid JSON, or a payload of the wrong shape
 * (CONNECT: object or absent; DISCONNECT: absent; CONNECT_ERROR: object or string;
 * EVENT/BINARY_EVENT: array whose first element is a string that is not a reserved
 * event name — connect, connect_error, disconnect, disconnecting, newListener,
 * removeListener — or a number; ACK/BINARY_ACK: array). Node also accepts "40/custom"
 * without the trailing comma, and so does this. */
int sio_packet_decode(const char *p, size_t n, sio_packet *out);

/* Writes a packet head: type digit, "N-" for binary types, "<nsp>," when nsp is not
 * "/", then the ack id when >= 0. out needs at least 32 + nsp_len bytes. Returns its
 * length. The caller appends the JSON payload. */
size_t sio_packet_head(char *out, uint8_t type, uint32_t attachments, const char *nsp, size_t nsp_len,
                       int64_t ack_id);

/* 1 when name is a reserved event name (see sio_packet_decode). */
int sio_reserved_event(const char *name, size_t len);

#endif
