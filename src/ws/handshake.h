/* ws/handshake.h — RFC 6455 4.2 server handshake checks and the accept key.
 *
 * Owns: deciding from a parsed request head whether it is a valid WebSocket opening
 * handshake, and computing Sec-WebSocket-Accept (util/sha1, util/base64). Pure: must not
 * allocate, do I/O or write the response. */
#ifndef WSIO_WS_HANDSHAKE_H
#define WSIO_WS_HANDSHAKE_H

#include <stddef.h>
#include "http/parser.h"

#define WS_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */

/* Computes Sec-WebSocket-Accept for key[0..len): base64(SHA-1(key + GUID)).
 * out gets 28 characters and a NUL. */
void ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1]);

/* Composes the 101 response to a request with key[0..key_len) (RFC 6455 4.2.2 item 5):
 * the status line, Upgrade, Connection, Sec-WebSocket-Accept, then
 * Sec-WebSocket-Protocol and Sec-WebSocket-Extensions when protocol / extensions are
 * not NULL, then the empty line. Returns its length, or 0 when it does not fit in cap
 * bytes (out's contents are then unspecified). No NUL is added. */
size_t ws_handshake_response(char *out, size_t cap, const char *key, size_t key_len, const char *protocol,
                             const char *extensions);

/* 1 when key is base64 that decodes to exactly 16 bytes (RFC 6455 4.1 item 7). */
int ws_key_valid(const char *key, size_t len);

typedef struct {
  int status;          /* 101 when acceptable; else 400, 405 or 426 */
  const char *reason;  /* static text for the error body, NULL on success */
  const char *key;     /* Sec-WebSocket-Key (points into the request) */
  size_t key_len;
  /* The FIRST Sec-WebSocket-Protocol / -Extensions line only (NULL when absent). A client
   * may split either list over several lines (RFC 7230 3.2.2): choose with
   * ws_handshake_subprotocol and ws_deflate_negotiate, which read every line. */
  const char *protocols;
  size_t protocols_len;
  const char *extensions;
  size_t extensions_len;
} ws_handshake;

/* Checks req against RFC 6455 4.2.1: GET (else 405), HTTP/1.1 or later, a Host header,
 * Upgrade containing token "websocket", Connection containing token "upgrade" (both
 * case-insensitive token lists), exactly one Sec-WebSocket-Key that decodes to 16
 * bytes, and Sec-WebSocket-Version 13 (another version: 426; missing: 400).
 * Fills *out; returns out->status. */
int ws_handshake_check(const http_request *req, ws_handshake *out);

/* Picks the subprotocol: the first token of the client's comma-separated offer
 * (in the client's order of preference) that appears in supported (a NULL-terminated
 * list). Returns the supported entry, or NULL when none matches or nothing was
 * offered. Never returns a protocol the client did not offer. */
const char *ws_subprotocol_select(const char *offer, size_t offer_len, const char *const *supported);

/* The same over every Sec-WebSocket-Protocol line of req, in order: the first offered
 * token (line by line, left to right) that is in supported. NULL when none matches. */
const char *ws_handshake_subprotocol(const http_request *req, const char *const *supported);

#endif
