/* ws/frame.h — pure RFC 6455 frame-header parser, header encoder and (un)masking.
 *
 * Owns: the wire format of one frame header (RFC 6455 5.2) and the masking XOR (5.3).
 * Must not: allocate, do I/O, or keep message state (that is ws/conn.c's job). */
#ifndef WSIO_WS_FRAME_H
#define WSIO_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
  WS_OP_CONT = 0x0,
  WS_OP_TEXT = 0x1,
  WS_OP_BINARY = 0x2,
  WS_OP_CLOSE = 0x8,
  WS_OP_PING = 0x9,
  WS_OP_PONG = 0xA,
};

/* RFC 6455 7.4.1 status codes used by the engine. */
enum {
  WS_CLOSE_NORMAL = 1000,
  WS_CLOSE_GOING_AWAY = 1001,
  WS_CLOSE_PROTOCOL_ERROR = 1002,
  WS_CLOSE_UNSUPPORTED = 1003,
  WS_CLOSE_NO_STATUS = 1005,   /* never on the wire */
  WS_CLOSE_ABNORMAL = 1006,    /* never on the wire */
  WS_CLOSE_INVALID_PAYLOAD = 1007,
  WS_CLOSE_POLICY = 1008,
  WS_CLOSE_TOO_BIG = 1009,
  WS_CLOSE_MANDATORY_EXT = 1010,
  WS_CLOSE_INTERNAL_ERROR = 1011,
  WS_CLOSE_SERVICE_RESTART = 1012,
  WS_CLOSE_TRY_AGAIN_LATER = 1013,
  WS_CLOSE_BAD_GATEWAY = 1014,
  WS_CLOSE_TLS_HANDSHAKE = 1015, /* never on the wire */
};

#define WS_FRAME_INCOMPLETE 0      /* need more bytes for the header */
#define WS_FRAME_ERR_LENGTH (-1)   /* 64-bit length with the most significant bit set */
#define WS_FRAME_MAX_HEADER 14

typedef struct {
  uint8_t fin;    /* 0 or 1 */
  uint8_t rsv;    /* the three RSV bits, as (b0 >> 4) & 7: RSV1 = 4, RSV2 = 2, RSV3 = 1 */
  uint8_t opcode; /* 0..15 */
  uint8_t masked; /* 0 or 1 */
  uint8_t mask[4];
  uint64_t payload_len;
  size_t header_len; /* 2..14 */
} ws_frame_header;

/* Parses a frame header from buf[0..len). Returns the header length (> 0) and fills
 * *h, WS_FRAME_INCOMPLETE (0) when more bytes are needed, or WS_FRAME_ERR_LENGTH. */
int ws_frame_parse_header(const uint8_t *buf, size_t len, ws_frame_header *h);

/* RFC 6455 5.2/5.5 semantic checks on a parsed header, for a receiver in the given role
 * (is_server: frames must be masked; client: frames must not be). allowed_rsv is the
 * set of RSV bits a negotiated extension permits (0 without extensions).
 * Returns 0 when acceptable, else the close code to fail with (WS_CLOSE_PROTOCOL_ERROR). */
int ws_frame_check(const ws_frame_header *h, int is_server, uint8_t allowed_rsv);

/* Writes a frame header into out (at least WS_FRAME_MAX_HEADER bytes) and returns its
 * length. mask is NULL for server-to-client frames. rsv as in ws_frame_header. */
size_t ws_frame_header_encode(uint8_t *out, int fin, uint8_t rsv, uint8_t opcode, uint64_t len,
                              const uint8_t *mask);

/* XORs p[0..n) with the mask in place, starting at mask byte (offset & 3): call with the
 * running payload offset when a frame's payload arrives in pieces. Processes 8 bytes at
 * a time where it can. */
void ws_mask_apply(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* ws_mask_apply that also says whether the unmasked bytes are all ASCII (below 0x80):
 * 1 when they are, 0 when some byte is not. The test rides along with the XOR (one OR
 * per word or vector). An ASCII text message is valid UTF-8, so the receive path skips
 * its UTF-8 validation on 1. */
int ws_mask_apply_ascii(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* Copy src to dst XORing with the mask (dst and src may be the same pointer). */
void ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4], uint64_t offset);

#endif
