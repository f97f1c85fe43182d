/* client/handshake.h — the client's checks of the server's 101 (RFC 6455 4.1,
 * and RFC 7692 5 / 7.1 for permessage-deflate).
 *
 * Owns: deciding whether a parsed response head accepts what the client
 * offered. Must not: do I/O, allocate, or keep state: one pure function over
 * the parsed head (http/parser.h) and the offer, so that it can be fuzzed
 * (fuzz/fuzz_client_handshake.c). */
#ifndef WSIO_CLIENT_HANDSHAKE_H
#define WSIO_CLIENT_HANDSHAKE_H

#include <stddef.h>

#include "http/parser.h"
#include "ws/deflate.h"

/* What the request offered. */
typedef struct {
  const char *key;                 /* the Sec-WebSocket-Key sent (NUL-ended) */
  const char *const *subprotocols; /* offered, NULL-terminated; NULL: none */
  int deflate_offered; /* "permessage-deflate; client_max_window_bits" */
} client_hs_offer;

/* What the server chose. */
typedef struct {
  const char *protocol; /* points into the head; NULL when none was chosen */
  size_t protocol_len;
  int deflate; /* permessage-deflate agreed, with these parameters: */
  ws_deflate_offer
      params; /* client_max_window_bits is 0 or 8..15, never "no value" */
} client_hs_result;

/* Checks a 101 (the caller handles any other status: a refusal): Upgrade:
 * websocket, Connection: Upgrade, exactly one Sec-WebSocket-Accept equal to the
 * key's digest, at most one Sec-WebSocket-Protocol naming an offered
 * subprotocol, and at most one Sec-WebSocket-Extensions line holding one
 * well-formed permessage-deflate answer to our offer. Returns NULL and fills
 * *out when the answer is acceptable, otherwise the sentence saying which check
 * failed (a string constant). */
const char *client_hs_check(const http_response *res,
                            const client_hs_offer *offer,
                            client_hs_result *out);

#endif
