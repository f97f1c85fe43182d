/* fuzz/fuzz_ws_handshake.c — libFuzzer target for ws/handshake.c.
 *
 * Builds an upgrade request from the input with arbitrary header values (any bytes,
 * NUL and CR included, each in its own exact-size heap block so ASan sees a read past
 * a value), and checks ws_handshake_check against a plain restatement of RFC 6455
 * 4.2.1/4.2.2 written here: same status, a reason exactly when refused, key and offers
 * pointing at the request's own values. Also runs the same check on the input as raw
 * bytes through http_parse_request (the path the server takes), compares
 * ws_accept_key on the arbitrary key value with OpenSSL's SHA-1 and base64, and
 * ws_subprotocol_select on the arbitrary offer with a restated selection.
 *
 * Input layout (structured part): byte 0 says which of the seven headers are present,
 * byte 1 which are sent twice, byte 2 which names are in upper case, byte 3 the HTTP
 * version (high nibble major, low minor); the rest split at '\n' gives the method,
 * the seven values, then extra headers as "name:value". */
#include "ws/handshake.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c) \
  do {             \
    if (!(c)) abort(); \
  } while (0)

#define MAX_HEADERS 32
#define MAX_FIELDS 24

static const char *const names[] = {"Host", "Upgrade", "Connection", "Sec-WebSocket-Key",
                                    "Sec-WebSocket-Version", "Sec-WebSocket-Protocol",
                                    "Sec-WebSocket-Extensions"};
#define NNAMES (sizeof names / sizeof names[0])
static const char *const supported[] = {"chat", "superchat", "v2.json", "CHAT", NULL};

/* ---- a restatement of the rules, sharing no code with http/ or ws/ -------------------- */
static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int ieq(const char *a, const char *b, size_t n) {
  if (strlen(a) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return 0;
  return 1;
}

static size_t count(const http_request *r, const char *name, const http_header **first) {
  size_t n = 0;
  *first = NULL;
  for (size_t i = 0; i < r->num_headers; i++)
    if (ieq(name, r->headers[i].name, r->headers[i].name_len) && n++ == 0) *first = &r->headers[i];
  return n;
}

/* Comma-separated elements, optional spaces/tabs around each; calls fn on each until
 * it returns non-zero, and returns that. */
static const void *each_element(const char *v, size_t n, const void *(*fn)(const char *, size_t, const void *),
                                const void *arg) {
  size_t i = 0;
  while (i <= n) {
    size_t s = i;
    while (i < n && v[i] != ',') i++;
    size_t e = i++;
    while (s < e && (v[s] == ' ' || v[s] == '\t')) s++;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
    const void *r = e > s ? fn(v + s, e - s, arg) : NULL;
    if (r) return r;
  }
  return NULL;
}

static const void *token_is(const char *s, size_t n, const void *token) {
  return ieq(token, s, n) ? token : NULL;
}

static int any_has_token(const http_request *r, const char *name, const char *token) {
  for (size_t i = 0; i < r->num_headers; i++) {
    const http_header *h = &r->headers[i];
    if (ieq(name, h->name, h->name_len) && each_element(h->value, h->value_len, token_is, token)) return 1;
  }
  return 0;
}

static int b64char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static int key_ok(const http_header *k) {
  if (k->value_len != 24 || k->value[22] != '=' || k->value[23] != '=') return 0;
  for (int i = 0; i < 22; i++)
    if (!b64char(k->value[i])) return 0;
  return 1;
}

static int ref_status(const http_request *r) {
  const http_header *h;
  if (r->method_len != 3 || memcmp(r->method, "GET", 3) != 0) return 405;
  if (r->version_major < 1 || (r->version_major == 1 && r->version_minor < 1)) return 400;
  if (count(r, "host", &h) != 1) return 400;
  if (!any_has_token(r, "upgrade", "websocket") || !any_has_token(r, "connection", "upgrade")) return 400;
  if (count(r, "sec-websocket-key", &h) != 1 || !key_ok(h)) return 400;
  size_t nver = count(r, "sec-websocket-version", &h);
  if (nver == 0) return 400;
  if (nver != 1 || h->value_len != 2 || memcmp(h->value, "13", 2) != 0) return 426;
  return 101;
}

static const void *supported_entry(const char *s, size_t n, const void *unused) {
  (void)unused;
  for (int i = 0; supported[i]; i++)
    if (strlen(supported[i]) == n && memcmp(supported[i], s, n) == 0) return supported[i];
  return NULL;
}

/* ---- the checks ---------------------------------------------------------------------- */
static void check_handshake(const http_request *r) {
  ws_handshake out;
  int st = ws_handshake_check(r, &out);
  REQUIRE(st == out.status && st == ref_status(r));
  if (st != 101) {
    REQUIRE(out.reason != NULL);
    return;
  }
  const http_header *h;
  REQUIRE(out.reason == NULL);
  count(r, "sec-websocket-key", &h);
  REQUIRE(out.key == h->value && out.key_len == 24);
  count(r, "sec-websocket-protocol", &h);
  REQUIRE(h ? out.protocols == h->value && out.protocols_len == h->value_len : out.protocols == NULL);
  count(r, "sec-websocket-extensions", &h);
  REQUIRE(h ? out.extensions == h->value && out.extensions_len == h->value_len : out.extensions == NULL);
}

static void check_accept(const char *key, size_t len) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char *in = malloc(len + sizeof guid), md[EVP_MAX_MD_SIZE], want[WS_ACCEPT_LEN + 1];
  unsigned mdlen = 0;
  REQUIRE(in);
  memcpy(in, key, len);
  memcpy(in + len, guid, sizeof guid - 1);
  REQUIRE(EVP_Digest(in, len + sizeof guid - 1, md, &mdlen, EVP_sha1(), NULL) == 1 && mdlen == 20);
  REQUIRE(EVP_EncodeBlock(want, md, 20) == WS_ACCEPT_LEN);
  char got[WS_ACCEPT_LEN + 1];
  ws_accept_key(key, len, got);
  REQUIRE(memcmp(got, want, WS_ACCEPT_LEN + 1) == 0);
  free(in);
}

static void check_subprotocol(const char *offer, size_t len) {
  const char *got = ws_subprotocol_select(offer, len, supported);
  REQUIRE(got == each_element(offer, len, supported_entry, NULL));
  REQUIRE(ws_subprotocol_select(NULL, len, supported) == NULL);
  REQUIRE(ws_subprotocol_select(offer, len, NULL) == NULL);
}

/* ---- building requests from the input -------------------------------------------------- */
typedef struct {
  char *block[MAX_FIELDS];
  size_t n;
} blocks;

/* A copy of p[0..n) in a heap block of exactly n bytes (1 when empty). */
static char *own(blocks *b, const uint8_t *p, size_t n) {
  char *c = malloc(n ? n : 1);
  REQUIRE(c);
  memcpy(c, p, n);
  b->block[b->n++] = c;
  return c;
}

static void add(http_request *r, const char *name, size_t name_len, const char *v, size_t vlen) {
  if (r->num_headers == MAX_HEADERS) return;
  r->headers[r->num_headers++] = (http_header){name, name_len, v, vlen};
}

static void check_structured(const uint8_t *data, size_t size) {
  if (size < 4) return;
  uint8_t present = data[0], twice = data[1], upper = data[2];
  const uint8_t *p = data + 4, *end = data + size;
  blocks b = {.n = 0};
  const char *field[MAX_FIELDS];
  size_t flen[MAX_FIELDS], nf = 0;
  while (nf < MAX_FIELDS && p <= end) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    flen[nf] = n;
    field[nf++] = own(&b, p, n);
    p += n + 1;
  }

  http_header headers[MAX_HEADERS];
  char upper_names[NNAMES][32];
  http_request r = {.headers = headers, .version_major = data[3] >> 4, .version_minor = data[3] & 15};
  r.method = nf > 0 ? field[0] : "GET";
  r.method_len = nf > 0 ? flen[0] : 3;
  for (size_t i = 0; i < NNAMES; i++) {
    if (!(present >> i & 1)) continue;
    const char *name = names[i];
    if (upper >> i & 1) {
      size_t k = 0;
      for (; name[k]; k++) upper_names[i][k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 32 : name[k]);
      upper_names[i][k] = '\0';
      name = upper_names[i];
    }
    const char *v = 1 + i < nf ? field[1 + i] : "";
    size_t vlen = 1 + i < nf ? flen[1 + i] : 0;
    for (int k = 0; k < (twice >> i & 1 ? 2 : 1); k++) add(&r, name, strlen(name), v, vlen);
  }
  for (size_t i = 1 + NNAMES; i < nf; i++) {
    const char *colon = memchr(field[i], ':', flen[i]);
    size_t nlen = colon ? (size_t)(colon - field[i]) : flen[i];
    add(&r, field[i], nlen, colon ? colon + 1 : field[i] + flen[i], colon ? flen[i] - nlen - 1 : 0);
  }
  check_handshake(&r);
  if (nf > 4) check_accept(field[4], flen[4]);
  if (nf > 6) check_subprotocol(field[6], flen[6]);
  for (size_t i = 0; i < b.n; i++) free(b.block[i]);
}

static void check_parsed(const uint8_t *data, size_t size) {
  char *buf = malloc(size ? size : 1);
  REQUIRE(buf);
  memcpy(buf, data, size);
  http_header headers[MAX_HEADERS];
  http_request r = {.headers = headers};
  if (http_parse_request(buf, size, &r, MAX_HEADERS) > 0) check_handshake(&r);
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_structured(data, size);
  check_parsed(data, size);
  return 0;
}
