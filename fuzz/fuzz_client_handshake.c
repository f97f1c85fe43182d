/* fuzz/fuzz_client_handshake.c — libFuzzer target for the client's check of the
 * server's 101 (src/client/handshake.c) over heads parsed by http_parse_response:
 * accept key, subprotocol choice and the permessage-deflate answer.
 *
 * Input: one byte of offer flags (bit 0: deflate offered, bit 1: subprotocols
 * "chat" and "superchat" offered), then the response bytes. The key is RFC 6455's
 * sample ("dGhlIHNhbXBsZSBub25jZQ==", accept "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), so the
 * seeds reach past the accept check.
 *
 * Owns: trapping when an accepted answer breaks what the client relies on: the accept
 * key matched, a chosen subprotocol was offered and lies in the head, deflate only
 * when offered and with window bits 0 or 8..15 (never "no value"), the same verdict
 * twice; and the agreed parameters set up a codec (ws/deflate.c) that compresses and
 * inflates a message back. Must not: keep state between inputs. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "client/handshake.h"
#include "http/parser.h"
#include "ws/deflate.h"

#define FUZZ_MAX_HEADERS 32

static void require(int cond) {
  if (!cond) __builtin_trap();
}

static int sink(void *ud, const uint8_t *p, size_t n) {
  uint8_t **w = ud;
  memcpy(*w, p, n);
  *w += n;
  return 0;
}

/* The codec both ends would run with these parameters: ours (the client's tx) and a
 * server's inflater for it (rx with the client's window), a message round trip. */
static void round_trip(const ws_deflate_offer *a) {
  ws_deflate_agreement ours, theirs;
  memset(&ours, 0, sizeof ours);
  memset(&theirs, 0, sizeof theirs);
  ours.server_no_context_takeover = a->client_no_context_takeover;
  ours.server_window_bits = a->client_max_window_bits ? a->client_max_window_bits : 15;
  ours.client_window_bits = a->server_max_window_bits ? a->server_max_window_bits : 15;
  theirs.client_no_context_takeover = a->client_no_context_takeover;
  theirs.client_window_bits = ours.server_window_bits;
  theirs.server_window_bits = ours.client_window_bits;
  ws_deflate_config cfg;
  memset(&cfg, 0, sizeof cfg);
  ws_deflate c, s;
  ws_deflate_init(&c, &ours, &cfg);
  ws_deflate_init(&s, &theirs, &cfg);
  static const uint8_t msg[] = "a message that says a message that says a message";
  uint8_t z[256], back[256], *w = back;
  size_t zl = 0;
  require(ws_deflate_compress_into(&c, msg, sizeof msg, z, sizeof z, &zl) == 0);
  require(ws_deflate_inflate(&s, z, zl, 1, sizeof back, sink, &w) == 0);
  require((size_t)(w - back) == sizeof msg && memcmp(back, msg, sizeof msg) == 0);
  ws_deflate_free(&c);
  ws_deflate_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const char *const protos[] = {"chat", "superchat", NULL};
  client_hs_offer o = {"dGhlIHNhbXBsZSBub25jZQ==", (data[0] & 2) ? protos : NULL, data[0] & 1};
  const char *buf = (const char *)data + 1;
  http_header headers[FUZZ_MAX_HEADERS];
  http_response res;
  memset(&res, 0, sizeof res);
  res.headers = headers;
  int r = http_parse_response(buf, size - 1, &res, FUZZ_MAX_HEADERS);
  if (r <= 0 || res.status != 101) return 0;
  client_hs_result out, again;
  const char *bad = client_hs_check(&res, &o, &out);
  require(client_hs_check(&res, &o, &again) == bad);
  if (bad) {
    require(*bad != 0);
    return 0;
  }
  const http_header *ac = http_response_header_find(&res, "Sec-WebSocket-Accept");
  require(ac && ac->value_len == 28 && memcmp(ac->value, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 28) == 0);
  if (out.protocol) {
    require(out.protocol >= buf && out.protocol + out.protocol_len <= buf + r);
    int found = 0;
    for (const char *const *p = o.subprotocols; p && *p; p++)
      found |= strlen(*p) == out.protocol_len && memcmp(*p, out.protocol, out.protocol_len) == 0;
    require(found);
  }
  if (!out.deflate) return 0;
  require(o.deflate_offered);
  uint8_t sb = out.params.server_max_window_bits, cb = out.params.client_max_window_bits;
  require(sb == 0 || (sb >= 8 && sb <= 15));
  require(cb == 0 || (cb >= 8 && cb <= 15));
  round_trip(&out.params);
  return 0;
}
