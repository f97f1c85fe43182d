/* fuzz/fuzz_edge_jwt.c — libFuzzer target for edge/jwt.c.
 *
 * Byte 0 picks a mode. Raw (even): the rest is a token, verified with an HS256, an
 * RS256 and an ES256 key (made once): nothing may be accepted (no forgery is findable
 * by a fuzzer), each answer is a known code, and the input is read only within its
 * exact-size heap copy. Signed (odd): the rest, split at the first '\n', is a header
 * and a payload of any bytes, encoded and HMAC-signed here with OpenSSL as a minter
 * would; edge_jwt_verify must then agree with a restatement written here: accepted
 * exactly when the header is a JSON object whose alg is "HS256" with no crit and the
 * payload is a JSON object whose registered claims pass (no leeway, now fixed), with
 * the claims handed back byte for byte; byte 1 of such an input, when not zero, flips
 * one bit of the signed token, which must then be refused. Also edge_bearer_token and
 * edge_query_token on the raw bytes (the token must lie inside them). */
#include "edge/jwt.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c) \
  do {             \
    if (!(c)) abort(); \
  } while (0)

#define NOW 1700000000LL

static const char secret[] = "fuzz-secret-0123456789abcdef-0123456789";
static edge_jwt_key *khs, *krs, *kes;

static edge_jwt_key *pubkey(EVP_PKEY *k) {
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, k);
  char *p;
  long n = BIO_get_mem_data(b, &p);
  edge_jwt_key *out = NULL;
  REQUIRE(edge_jwt_key_pem(p, (size_t)n, &out) == 0);
  BIO_free(b);
  EVP_PKEY_free(k);
  return out;
}

static void init(void) {
  if (khs) return;
  REQUIRE(edge_jwt_key_hs256(secret, strlen(secret), &khs) == 0);
  krs = pubkey(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048));
  kes = pubkey(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
}

static int known_code(long r) { return r >= -114 && r <= -100; }

static size_t b64url(char *out, const uint8_t *in, size_t n) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = a[v >> 18];
    out[o++] = a[(v >> 12) & 63];
    out[o++] = a[(v >> 6) & 63];
    out[o++] = a[v & 63];
  }
  if (n - i == 1) {
    out[o++] = a[in[i] >> 2];
    out[o++] = a[(in[i] & 3) << 4];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
    out[o++] = a[v >> 10];
    out[o++] = a[(v >> 4) & 63];
    out[o++] = a[(v & 15) << 2];
  }
  return o;
}

/* The restatement: RFC 7519 4.1 with no leeway and nothing configured. */
static int ref_claims_ok(json_t *c) {
  const char *names[] = {"exp", "nbf", "iat"};
  for (int i = 0; i < 3; i++) {
    json_t *v = json_object_get(c, names[i]);
    if (!v) continue;
    if (!json_is_number(v)) return 0;
    double d = json_number_value(v);
    if (i == 0 && !((double)NOW < d)) return 0;
    if (i > 0 && (double)NOW < d) return 0;
  }
  json_t *iss = json_object_get(c, "iss");
  if (iss && !json_is_string(iss)) return 0;
  json_t *aud = json_object_get(c, "aud");
  if (aud && !json_is_string(aud) && !json_is_array(aud)) return 0;
  return 1;
}

static int ref_accepts(const uint8_t *h, size_t hn, const uint8_t *p, size_t pn) {
  json_t *hj = json_loadb((const char *)h, hn, JSON_REJECT_DUPLICATES, NULL);
  int ok = hj && json_is_object(hj) && json_is_string(json_object_get(hj, "alg")) &&
           strcmp(json_string_value(json_object_get(hj, "alg")), "HS256") == 0 && !json_object_get(hj, "crit");
  json_decref(hj);
  if (!ok) return 0;
  json_t *pj = json_loadb((const char *)p, pn, JSON_REJECT_DUPLICATES, NULL);
  ok = pj && json_is_object(pj) && ref_claims_ok(pj);
  json_decref(pj);
  return ok;
}

static char claims[EDGE_JWT_CLAIMS_MAX];

static void signed_mode(const uint8_t *d, size_t n, uint8_t flip) {
  const uint8_t *nl = memchr(d, '\n', n);
  if (!nl) return;
  const uint8_t *h = d, *p = nl + 1;
  size_t hn = (size_t)(nl - d), pn = n - hn - 1;
  if (hn == 0 || pn == 0 || hn > 1500 || pn > 4000) return;
  char *tok = malloc(2 * (hn + pn) + 64);
  size_t o = b64url(tok, h, hn);
  tok[o++] = '.';
  o += b64url(tok + o, p, pn);
  unsigned char mac[32];
  unsigned int ml;
  HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)tok, o, mac, &ml);
  tok[o++] = '.';
  o += b64url(tok + o, mac, 32);
  char *exact = malloc(o);
  memcpy(exact, tok, o);
  free(tok);
  json_t *j = NULL;
  long r = edge_jwt_verify(khs, NULL, exact, o, NOW, claims, sizeof claims, &j);
  int want = ref_accepts(h, hn, p, pn);
  if (want) {
    REQUIRE(r == (long)pn && memcmp(claims, p, pn) == 0 && claims[pn] == '\0');
    REQUIRE(j && json_is_object(j));
  } else {
    REQUIRE(r < 0 && known_code(r) && !j);
  }
  json_decref(j);
  if (flip) {
    size_t at = (flip * 7919u) % o;
    exact[at] ^= (char)(1 << (flip % 8));
    r = edge_jwt_verify(khs, NULL, exact, o, NOW, claims, sizeof claims, NULL);
    REQUIRE(r < 0);
  }
  free(exact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init();
  if (size < 2) return 0;
  if (data[0] & 1) {
    signed_mode(data + 2, size - 2, data[1]);
    return 0;
  }
  size_t n = size - 1;
  char *tok = malloc(n ? n : 1);
  memcpy(tok, data + 1, n);
  edge_jwt_key *keys[] = {khs, krs, kes};
  for (int i = 0; i < 3; i++) {
    json_t *j = (json_t *)1;
    long r = edge_jwt_verify(keys[i], NULL, tok, n, NOW, claims, sizeof claims, &j);
    REQUIRE(r < 0 && known_code(r) && j == NULL);
  }
  const char *t;
  size_t tl;
  if (edge_bearer_token(tok, n, &t, &tl)) REQUIRE(t > tok && t + tl <= tok + n && tl > 0);
  if (edge_query_token(tok, n, &t, &tl)) REQUIRE(t > tok && t + tl <= tok + n && tl > 0);
  free(tok);
  return 0;
}
