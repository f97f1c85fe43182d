/* client/handshake.c — the client's checks of the server's 101 (see
 * handshake.h). */
#include "client/handshake.h"

#include <string.h>

#include "ws/handshake.h"

static int offered(const client_hs_offer *o, const char *p, size_t n) {
  for (const char *const *s = o->subprotocols; s && *s; s++)
    if (strlen(*s) == n && memcmp(*s, p, n) == 0)
      return 1;
  return 0;
}

/* RFC 7692 5 and 7.1: one permessage-deflate element (the only extension
 * offered), each parameter known, once, with a valid value, and
 * client_max_window_bits with a value (we offered it without one, 7.1.2.2). */
static const char *check_extensions(const http_response *res,
                                    const client_hs_offer *o,
                                    client_hs_result *out) {
  if (!o->deflate_offered)
    return "the server chose an extension that was not offered";
  if (http_response_header_count(res, "Sec-WebSocket-Extensions") != 1)
    return "more than one Sec-WebSocket-Extensions line in the 101";
  const http_header *ex =
      http_response_header_find(res, "Sec-WebSocket-Extensions");
  int r = ws_deflate_parse_offer(ex->value, ex->value_len, &out->params);
  if (r == WS_DEFLATE_OTHER)
    return "the server chose an extension that was not offered";
  if (r == WS_DEFLATE_ESYNTAX)
    return "malformed Sec-WebSocket-Extensions in the 101 (or more than one "
           "extension)";
  if (r != 0)
    return "permessage-deflate answer with an unknown, repeated or invalid "
           "parameter";
  if (out->params.client_max_window_bits == WS_DEFLATE_BITS_NOVALUE)
    return "permessage-deflate answer with client_max_window_bits but no value";
  out->deflate = 1;
  return NULL;
}

const char *client_hs_check(const http_response *res, const client_hs_offer *o,
                            client_hs_result *out) {
  memset(out, 0, sizeof *out);
  const http_header *up = http_response_header_find(res, "Upgrade");
  const http_header *co = http_response_header_find(res, "Connection");
  const http_header *ac =
      http_response_header_find(res, "Sec-WebSocket-Accept");
  const http_header *pr =
      http_response_header_find(res, "Sec-WebSocket-Protocol");
  const http_header *ex =
      http_response_header_find(res, "Sec-WebSocket-Extensions");
  char want[WS_ACCEPT_LEN + 1];
  ws_accept_key(o->key, strlen(o->key), want);
  if (!up || !http_token_list_contains(up->value, up->value_len, "websocket"))
    return "no Upgrade: websocket in the 101";
  if (!co || !http_token_list_contains(co->value, co->value_len, "upgrade"))
    return "no Connection: Upgrade in the 101";
  if (!ac || http_response_header_count(res, "Sec-WebSocket-Accept") != 1)
    return "no Sec-WebSocket-Accept in the 101";
  if (ac->value_len != WS_ACCEPT_LEN ||
      memcmp(ac->value, want, WS_ACCEPT_LEN) != 0)
    return "bad Sec-WebSocket-Accept (not the key's digest)";
  if (ex) {
    const char *bad = check_extensions(res, o, out);
    if (bad)
      return bad;
  }
  /* RFC 6455 4.1: a server may choose none of the offered subprotocols, or one.
   */
  if (pr && (http_response_header_count(res, "Sec-WebSocket-Protocol") != 1 ||
             !offered(o, pr->value, pr->value_len)))
    return "the server chose a subprotocol that was not offered";
  out->protocol = pr ? pr->value : NULL;
  out->protocol_len = pr ? pr->value_len : 0;
  return NULL;
}
