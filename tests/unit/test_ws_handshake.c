/* tests/unit/test_ws_handshake.c — ws/handshake.c: accept key, key syntax, the
 * RFC 6455 4.2.1 request checks and subprotocol selection (one value, every line). */
#include "test.h"
#include "util/sha1.h"
#include "ws/handshake.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

static void test_accept_key(void) {
  static const struct {
    const char *key, *accept;
  } cases[] = {
      {"dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, /* RFC 6455 1.3 */
      {"x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[WS_ACCEPT_LEN + 1];
    memset(out, 'x', sizeof out);
    ws_accept_key(cases[i].key, strlen(cases[i].key), out);
    CHECK_STR(out, cases[i].accept);
  }
}

/* Keys of any length (a caller may skip ws_key_valid) must agree with OpenSSL's SHA-1
 * and base64 over the concatenation: an independent reference. */
static void test_accept_key_any_length(void) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char key[200], cat[200 + sizeof guid];
  for (size_t i = 0; i < sizeof key; i++) key[i] = (char)('A' + i % 26);
  for (size_t len = 0; len <= sizeof key; len += 13) {
    memcpy(cat, key, len);
    memcpy(cat + len, guid, sizeof guid - 1);
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)cat, len + sizeof guid - 1, d);
    char want[WS_ACCEPT_LEN + 1], got[WS_ACCEPT_LEN + 1];
    EVP_EncodeBlock((unsigned char *)want, d, SHA_DIGEST_LENGTH);
    ws_accept_key(key, len, got);
    CHECK_STR(got, want);
  }
}

/* Both SHA-1 implementations (the CPU's SHA instructions where present, and the
 * portable code) agree with OpenSSL on every length from 0 to 300 bytes (one to six
 * blocks, the padding in the last block or in a block of its own), fed whole and in
 * uneven pieces; then the accept keys above once more with each. */
static void sha1_against_openssl(void) {
  uint8_t msg[300];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 131 + 7);
  for (size_t len = 0; len <= sizeof msg; len++) {
    unsigned char want[SHA_DIGEST_LENGTH];
    SHA1(msg, len, want);
    uint8_t got[SHA1_LEN];
    sha1_ctx c;
    sha1_init(&c);
    sha1_update(&c, msg, len);
    sha1_final(&c, got);
    CHECK_MEM(got, want, SHA1_LEN);
    sha1_init(&c);
    for (size_t off = 0, step = 1; off < len; off += step, step = step * 2 + 1)
      sha1_update(&c, msg + off, off + step > len ? len - off : step);
    sha1_final(&c, got);
    CHECK_MEM(got, want, SHA1_LEN);
  }
  test_accept_key_any_length();
}

static void test_sha1_both_paths(void) {
  CHECK_EQ_INT(sha1_use_hw(0), 0);
  sha1_against_openssl();
  int hw = sha1_use_hw(1);
  fprintf(stderr, "test_sha1_both_paths: SHA instructions %s\n", hw ? "in use" : "absent: portable only");
  sha1_against_openssl();
}

/* The 101 response is byte for byte what the format it replaced produced, with and
 * without a subprotocol and an extension; too small a buffer gives 0, an exact fit
 * the response. */
static void test_handshake_response(void) {
  static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
  const char *protos[] = {NULL, "chat", "a.very-long.subprotocol.name"};
  const char *exts[] = {NULL, "permessage-deflate; server_no_context_takeover"};
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 2; j++) {
      const char *p = protos[i], *e = exts[j];
      char want[512], got[512];
      int wn = snprintf(want, sizeof(want),
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n%s%s%s%s%s%s\r\n",
                        p ? "Sec-WebSocket-Protocol: " : "", p ? p : "", p ? "\r\n" : "",
                        e ? "Sec-WebSocket-Extensions: " : "", e ? e : "", e ? "\r\n" : "");
      size_t n = ws_handshake_response(got, sizeof(got), key, 24, p, e);
      CHECK_EQ_INT(n, wn);
      CHECK(n == (size_t)wn && memcmp(got, want, n) == 0);
      CHECK_EQ_INT(ws_handshake_response(got, (size_t)wn, key, 24, p, e), wn); /* exact fit */
      CHECK_EQ_INT(ws_handshake_response(got, (size_t)wn - 1, key, 24, p, e), 0);
      CHECK_EQ_INT(ws_handshake_response(got, 10, key, 24, p, e), 0);
    }
  }
}

static void test_key_valid(void) {
  static const struct {
    const char *key;
    int valid;
  } cases[] = {
      {"dGhlIHNhbXBsZSBub25jZQ==", 1},
      {"AAAAAAAAAAAAAAAAAAAAAA==", 1},
      {"+/+/+/+/+/+/+/+/+/+/+w==", 1},
      {"dGhlIHNhbXBsZSBub25jZR==", 1}, /* unused bits set: accepted, as Node's ws does */
      {"", 0},
      {"dGhlIHNhbXBsZSBub25jZQ=", 0},    /* 23 */
      {"dGhlIHNhbXBsZSBub25jZQ===", 0},  /* 25 */
      {"dGhlIHNhbXBsZSBub25jZQAA", 0},   /* no padding: 18 bytes */
      {"dGhlIHNhbXBsZSBub25jZ===", 0},   /* 15 bytes */
      {"dGhlIHNhbXBsZSBub25j=Q==", 0},   /* padding inside */
      {"dGhlIHNhbXBsZSBub25jZQ-_", 0},
      {"dGhlIHNhbXBsZSBub25-ZQ==", 0},   /* base64url is not base64 */
      {"dGhlIHNhbXBsZSBub25 ZQ==", 0},
      {"dGhlIHNhbXBsZSBub25jZQ=\0", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].key;
    size_t len = strlen(cases[i].key);
    if (i == sizeof cases / sizeof cases[0] - 1) len = 24;
    CHECK_EQ_INT(ws_key_valid(cases[i].key, len), cases[i].valid);
  }
  CHECK_EQ_INT(ws_key_valid(NULL, 24), 0);
}

#define MAX_HEADERS 32

/* Parses a request head with the real parser; returns the handshake status. */
static int check_head(const char *head, ws_handshake *out, http_header *hs) {
  http_request req;
  memset(&req, 0, sizeof req);
  req.headers = hs;
  int r = http_parse_request(head, strlen(head), &req, MAX_HEADERS);
  if (r <= 0) return -1000 + r;
  return ws_handshake_check(&req, out);
}

#define KEY "dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define GOOD_REST                                                     \
  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY \
  "Sec-WebSocket-Version: 13\r\n\r\n"

static void test_rfc_request(void) {
  static const char head[] =
      "GET /chat HTTP/1.1\r\n"
      "Host: server.example.com\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Origin: http://example.com\r\n"
      "Sec-WebSocket-Protocol: chat, superchat\r\n"
      "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
      "Sec-WebSocket-Version: 13\r\n"
      "\r\n";
  http_header hs[MAX_HEADERS];
  ws_handshake hs_out;
  CHECK_EQ_INT(check_head(head, &hs_out, hs), 101);
  CHECK_EQ_INT(hs_out.status, 101);
  CHECK(hs_out.reason == NULL);
  CHECK(hs_out.key_len == 24 && memcmp(hs_out.key, "dGhlIHNhbXBsZSBub25jZQ==", 24) == 0);
  CHECK(hs_out.protocols_len == 15 && memcmp(hs_out.protocols, "chat, superchat", 15) == 0);
  static const char ext[] = "permessage-deflate; client_max_window_bits";
  CHECK(hs_out.extensions_len == sizeof ext - 1 && memcmp(hs_out.extensions, ext, sizeof ext - 1) == 0);
  char accept[WS_ACCEPT_LEN + 1];
  ws_accept_key(hs_out.key, hs_out.key_len, accept);
  CHECK_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_check_table(void) {
  static const struct {
    const char *name;
    const char *head;
    int status;
    const char *reason; /* NULL on success */
  } cases[] = {
      {"minimal", "GET / HTTP/1.1\r\nHost: a\r\n" GOOD_REST, 101, NULL},
      {"case-insensitive tokens",
       "GET / HTTP/1.1\r\nhost: a\r\nupgrade: WebSocket\r\nconnection: keep-alive, UPGRADE\r\n"
       "sec-websocket-key: " KEY "sec-websocket-version: 13\r\n\r\n",
       101, NULL},
      {"Connection split over two lines",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
       "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "Sec-WebSocket-Version: 13\r\n\r\n",
       101, NULL},
      {"Upgrade list", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: " KEY "Sec-WebSocket-Version: 13\r\n\r\n",
       101, NULL},
      {"HTTP/2.0 head", "GET / HTTP/2.0\r\nHost: a\r\n" GOOD_REST, 101, NULL},
      {"POST", "POST / HTTP/1.1\r\nHost: a\r\n" GOOD_REST, 405, "WebSocket upgrade must use GET"},
      {"lowercase get", "get / HTTP/1.1\r\nHost: a\r\n" GOOD_REST, 405, "WebSocket upgrade must use GET"},
      {"HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\n" GOOD_REST, 400, "WebSocket upgrade needs HTTP/1.1"},
      {"no Host", "GET / HTTP/1.1\r\n" GOOD_REST, 400, "missing or duplicate Host header"},
      {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n" GOOD_REST, 400,
       "missing or duplicate Host header"},
      {"no Upgrade",
       "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400, "Upgrade header must be websocket"},
      {"Upgrade h2c",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400, "Upgrade header must be websocket"},
      {"Upgrade websockets",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websockets\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " KEY
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400, "Upgrade header must be websocket"},
      {"no Connection",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: " KEY
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400, "Connection header must include Upgrade"},
      {"Connection keep-alive",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Key: " KEY
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400, "Connection header must include Upgrade"},
      {"no key",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Version: 13\r\n\r\n",
       400, "missing or invalid Sec-WebSocket-Key"},
      {"short key",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400, "missing or invalid Sec-WebSocket-Key"},
      {"empty key",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key:\r\nSec-WebSocket-Version: 13\r\n\r\n",
       400, "missing or invalid Sec-WebSocket-Key"},
      {"duplicate key",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: " KEY "Sec-WebSocket-Key: " KEY "Sec-WebSocket-Version: 13\r\n\r\n",
       400, "missing or invalid Sec-WebSocket-Key"},
      {"no version",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: " KEY "\r\n",
       400, "missing Sec-WebSocket-Version"},
      {"version 8",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: " KEY "Sec-WebSocket-Version: 8\r\n\r\n",
       426, "unsupported Sec-WebSocket-Version"},
      {"version 130",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: " KEY "Sec-WebSocket-Version: 130\r\n\r\n",
       426, "unsupported Sec-WebSocket-Version"},
      {"version list",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: " KEY "Sec-WebSocket-Version: 13, 8\r\n\r\n",
       426, "unsupported Sec-WebSocket-Version"},
      {"version with spaces",
       "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: " KEY "Sec-WebSocket-Version:   13  \r\n\r\n",
       101, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].name;
    http_header hs[MAX_HEADERS];
    ws_handshake out;
    CHECK_EQ_INT(check_head(cases[i].head, &out, hs), cases[i].status);
    CHECK_EQ_INT(out.status, cases[i].status);
    if (cases[i].reason)
      CHECK(out.reason && strcmp(out.reason, cases[i].reason) == 0);
    else
      CHECK(out.reason == NULL);
    if (cases[i].status == 101) CHECK(out.key != NULL && out.key_len == 24);
    if (cases[i].status != 101) CHECK(out.key == NULL);
    CHECK(out.protocols == NULL && out.extensions == NULL);
  }
}

/* A request built by hand, without the parser (the shape a test of another transport
 * would use). */
static void test_hand_built(void) {
  http_header hs[] = {
      {"Host", 4, "x", 1},
      {"Upgrade", 7, "websocket", 9},
      {"Connection", 10, "Upgrade", 7},
      {"Sec-WebSocket-Key", 17, "AAAAAAAAAAAAAAAAAAAAAA==", 24},
      {"Sec-WebSocket-Version", 21, "13", 2},
      {"Sec-WebSocket-Protocol", 22, "", 0},
  };
  http_request req;
  memset(&req, 0, sizeof req);
  req.method = "GET";
  req.method_len = 3;
  req.target = req.path = "/";
  req.target_len = req.path_len = 1;
  req.version_major = 1;
  req.version_minor = 1;
  req.headers = hs;
  req.num_headers = sizeof hs / sizeof hs[0];
  ws_handshake out;
  CHECK_EQ_INT(ws_handshake_check(&req, &out), 101);
  CHECK(out.protocols != NULL && out.protocols_len == 0);
  req.version_minor = 0;
  CHECK_EQ_INT(ws_handshake_check(&req, &out), 400);
  req.version_minor = 1;
  req.num_headers = 4;
  CHECK_EQ_INT(ws_handshake_check(&req, &out), 400);
  CHECK_STR(out.reason, "missing Sec-WebSocket-Version");
}

static void test_subprotocol_select(void) {
  static const char *const supported[] = {"superchat", "chat", "v2.json", NULL};
  static const char *const none[] = {NULL};
  static const struct {
    const char *offer;
    const char *want; /* NULL: no match */
  } cases[] = {
      {"chat, superchat", "chat"}, /* the client's order wins */
      {"superchat, chat", "superchat"},
      {"  foo ,\tv2.json\t", "v2.json"},
      {",,,chat,", "chat"},
      {"foo, bar", NULL},
      {"Chat", NULL}, /* exact comparison */
      {"cha", NULL},
      {"chats", NULL},
      {"chat superchat", NULL},
      {"", NULL},
      {" , ", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].offer;
    const char *got = ws_subprotocol_select(cases[i].offer, strlen(cases[i].offer), supported);
    if (cases[i].want)
      CHECK(got && strcmp(got, cases[i].want) == 0);
    else
      CHECK(got == NULL);
  }
  /* The returned pointer is the supported entry itself. */
  CHECK(ws_subprotocol_select("chat", 4, supported) == supported[1]);
  /* A length shorter than the string: only the prefix counts. */
  CHECK(ws_subprotocol_select("chat, superchat", 4, supported) == supported[1]);
  CHECK(ws_subprotocol_select("superchat", 4, supported) == NULL);
  CHECK(ws_subprotocol_select(NULL, 0, supported) == NULL);
  CHECK(ws_subprotocol_select("chat", 4, none) == NULL);
  CHECK(ws_subprotocol_select("chat", 4, NULL) == NULL);
}

/* RFC 7230 3.2.2: a Sec-WebSocket-Protocol list split over several lines is one list; the
 * first line alone (hs.protocols) misses what the later lines offer. */
static void test_subprotocol_every_line(void) {
  static const char *const supported[] = {"chat", "v2.json", NULL};
  static const struct {
    const char *name, *lines, *want;
  } cases[] = {
      {"second line", "Sec-WebSocket-Protocol: foo\r\nSec-WebSocket-Protocol: chat\r\n", "chat"},
      {"client order across lines",
       "Sec-WebSocket-Protocol: bar, v2.json\r\nX-Other: 1\r\nsec-websocket-protocol: chat\r\n", "v2.json"},
      {"third line, list", "Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n"
                           "Sec-WebSocket-Protocol: c,  chat , v2.json\r\n", "chat"},
      {"empty first line", "Sec-WebSocket-Protocol: \r\nSec-WebSocket-Protocol: v2.json\r\n", "v2.json"},
      {"none supported", "Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n", NULL},
      {"no header", "", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].name;
    char head[512];
    snprintf(head, sizeof head, "GET / HTTP/1.1\r\nHost: a\r\n%s" GOOD_REST, cases[i].lines);
    http_header hs[MAX_HEADERS];
    http_request req;
    memset(&req, 0, sizeof req);
    req.headers = hs;
    CHECK(http_parse_request(head, strlen(head), &req, MAX_HEADERS) > 0);
    ws_handshake out;
    CHECK_EQ_INT(ws_handshake_check(&req, &out), 101);
    const char *got = ws_handshake_subprotocol(&req, supported);
    CHECK(got == cases[i].want || (got && cases[i].want && strcmp(got, cases[i].want) == 0));
  }
  /* The old way, first line only, for the record of why the function exists. */
  static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Protocol: foo\r\n"
                             "Sec-WebSocket-Protocol: chat\r\n" GOOD_REST;
  http_header hs[MAX_HEADERS];
  ws_handshake out;
  CHECK_EQ_INT(check_head(head, &out, hs), 101);
  CHECK(ws_subprotocol_select(out.protocols, out.protocols_len, supported) == NULL);
}

int main(void) {
  RUN(test_accept_key);
  RUN(test_accept_key_any_length);
  RUN(test_key_valid);
  RUN(test_sha1_both_paths);
  RUN(test_handshake_response);
  RUN(test_rfc_request);
  RUN(test_check_table);
  RUN(test_hand_built);
  RUN(test_subprotocol_select);
  RUN(test_subprotocol_every_line);
  return test_report();
}
