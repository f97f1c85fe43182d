/* ws/handshake.c — the server side of the RFC 6455 opening handshake (4.2.1, 4.2.2).
 *
 * Owns: accepting or refusing a parsed request head as a WebSocket upgrade (with the
 * HTTP status and a short human reason), the Sec-WebSocket-Accept computation,
 * subprotocol selection and the bytes of the 101 response.
 * Must not: do I/O (the caller sends the response), or negotiate extensions
 * (permessage-deflate parses out->extensions itself). */
#include "ws/handshake.h"

#include <string.h>

#include "http/response.h"
#include "util/base64.h"
#include "util/sha1.h"

/* RFC 6455 1.3: the GUID appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN + 1]) {
  uint8_t digest[SHA1_LEN];
  sha1_ctx c;
  sha1_init(&c);
  sha1_update(&c, key, len);
  sha1_update(&c, ws_guid, sizeof ws_guid - 1);
  sha1_final(&c, digest);
  /* 4 * ceil(20 / 3) = 28 characters. */
  out[base64_encode(out, digest, SHA1_LEN)] = '\0';
}

#define PUT_LIT(lit) http_put(out, cap, &o, (lit), sizeof(lit) - 1)
#define PUT_STR(str) http_put(out, cap, &o, (str), strlen(str))

/* Fast: copies of constant pieces instead of snprintf, whose format parsing was about
 * 2,000 instructions per handshake (callgrind), as much as the rest of the response. */
size_t ws_handshake_response(char *out, size_t cap, const char *key, size_t key_len, const char *protocol,
                             const char *extensions) {
  char accept[WS_ACCEPT_LEN + 1];
  ws_accept_key(key, key_len, accept);
  size_t o = 0;
  PUT_LIT("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Accept: ");
  http_put(out, cap, &o, accept, WS_ACCEPT_LEN);
  PUT_LIT("\r\n");
  if (protocol) {
    PUT_LIT("Sec-WebSocket-Protocol: ");
    PUT_STR(protocol);
    PUT_LIT("\r\n");
  }
  if (extensions) {
    PUT_LIT("Sec-WebSocket-Extensions: ");
    PUT_STR(extensions);
    PUT_LIT("\r\n");
  }
  PUT_LIT("\r\n");
  return o > cap ? 0 : o;
}

#undef PUT_LIT
#undef PUT_STR

static int is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

/* RFC 6455 4.1 item 7: a base64-encoded 16-byte value is always 22 characters and
 * "==". Like Node's ws (/^[+/0-9A-Za-z]{22}==$/) we do not insist that the unused low
 * bits of the last character be zero. */
int ws_key_valid(const char *key, size_t len) {
  if (!key || len != 24) return 0;
  for (size_t i = 0; i < 22; i++)
    if (!is_base64_char(key[i])) return 0;
  return key[22] == '=' && key[23] == '=';
}

static int refuse(ws_handshake *out, int status, const char *reason) {
  out->status = status;
  out->reason = reason;
  return status;
}

/* RFC 7230 3.2.2: a list header may be split over several lines ("Connection:
 * keep-alive" then "Connection: Upgrade"), so every header of that name is searched. */
static int header_has_token(const http_request *req, const char *name, const char *token) {
  for (size_t i = 0; i < req->num_headers; i++) {
    const http_header *h = &req->headers[i];
    if (http_str_ieq(name, h->name, h->name_len) &&
        http_token_list_contains(h->value, h->value_len, token))
      return 1;
  }
  return 0;
}

/* RFC 6455 4.2.1 items 1-4: the parts of the request that make it an upgrade at all. */
static int check_request(const http_request *req, ws_handshake *out) {
  /* RFC 7230 3.1.1: the method is case-sensitive. */
  if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0)
    return refuse(out, 405, "WebSocket upgrade must use GET");
  if (req->version_major < 1 || (req->version_major == 1 && req->version_minor < 1))
    return refuse(out, 400, "WebSocket upgrade needs HTTP/1.1");
  /* RFC 7230 5.4: exactly one Host header, else 400. */
  if (http_header_count(req, "Host") != 1) return refuse(out, 400, "missing or duplicate Host header");
  if (!header_has_token(req, "Upgrade", "websocket"))
    return refuse(out, 400, "Upgrade header must be websocket");
  if (!header_has_token(req, "Connection", "upgrade"))
    return refuse(out, 400, "Connection header must include Upgrade");
  return 0;
}

/* RFC 6455 4.2.1 items 5-6 and 4.2.2: the key and the version. */
static int check_ws_headers(const http_request *req, ws_handshake *out) {
  const http_header *key = http_header_find(req, "Sec-WebSocket-Key");
  if (!key || http_header_count(req, "Sec-WebSocket-Key") != 1 ||
      !ws_key_valid(key->value, key->value_len))
    return refuse(out, 400, "missing or invalid Sec-WebSocket-Key");
  const http_header *ver = http_header_find(req, "Sec-WebSocket-Version");
  if (!ver) return refuse(out, 400, "missing Sec-WebSocket-Version");
  /* 4.2.2 item 4: any other version gets 426 with "Sec-WebSocket-Version: 13". */
  if (http_header_count(req, "Sec-WebSocket-Version") != 1 || ver->value_len != 2 ||
      memcmp(ver->value, "13", 2) != 0)
    return refuse(out, 426, "unsupported Sec-WebSocket-Version");
  out->key = key->value;
  out->key_len = key->value_len;
  return 0;
}

int ws_handshake_check(const http_request *req, ws_handshake *out) {
  memset(out, 0, sizeof *out);
  if (check_request(req, out) || check_ws_headers(req, out)) return out->status;
  /* 4.2.1 items 8-9: optional; the application decides what to make of them. */
  const http_header *proto = http_header_find(req, "Sec-WebSocket-Protocol");
  if (proto) {
    out->protocols = proto->value;
    out->protocols_len = proto->value_len;
  }
  const http_header *ext = http_header_find(req, "Sec-WebSocket-Extensions");
  if (ext) {
    out->extensions = ext->value;
    out->extensions_len = ext->value_len;
  }
  out->status = 101;
  return 101;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* Index of the supported entry equal to s[0..n), or -1. RFC 6455 4.1: subprotocol
 * names are compared exactly (Node's ws does the same). */
static int find_supported(const char *s, size_t n, const char *const *supported) {
  for (int i = 0; supported[i]; i++)
    if (strlen(supported[i]) == n && memcmp(supported[i], s, n) == 0) return i;
  return -1;
}

const char *ws_subprotocol_select(const char *offer, size_t offer_len, const char *const *supported) {
  if (!offer || !supported) return NULL;
  size_t i = 0;
  while (i < offer_len) {
    size_t start = i;
    while (i < offer_len && offer[i] != ',') i++;
    size_t end = i;
    while (start < end && is_ows(offer[start])) start++;
    while (end > start && is_ows(offer[end - 1])) end--;
    if (end > start) {
      int k = find_supported(offer + start, end - start, supported);
      if (k >= 0) return supported[k];
    }
    i++; /* skip the comma */
  }
  return NULL;
}

/* RFC 7230 3.2.2: "Sec-WebSocket-Protocol: a" then "Sec-WebSocket-Protocol: b, c" is the
 * list "a, b, c", so the lines are searched in order. */
const char *ws_handshake_subprotocol(const http_request *req, const char *const *supported) {
  for (size_t i = 0; i < req->num_headers; i++) {
    const http_header *h = &req->headers[i];
    if (!http_str_ieq("Sec-WebSocket-Protocol", h->name, h->name_len)) continue;
    const char *p = ws_subprotocol_select(h->value, h->value_len, supported);
    if (p) return p;
  }
  return NULL;
}
