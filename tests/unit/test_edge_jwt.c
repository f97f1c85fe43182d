/* tests/unit/test_edge_jwt.c — edge/jwt.c: tokens minted here with OpenSSL directly
 * (HMAC, RSA and EC keys generated per run), then every way a token can be refused. */
#include "edge/jwt.h"
#include "test.h"
#include "wsio.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <unistd.h>

#define NOW 1700000000LL

static const char secret[] = "0123456789abcdef0123456789abcdef-test-secret";
static EVP_PKEY *rsa, *ec;
static edge_jwt_key *khs, *krs, *kes;

/* ---- minting, independent of the code under test -------------------------------------- */

static void b64url(char *out, const void *in, size_t n) {
  unsigned char tmp[16384];
  int len = EVP_EncodeBlock(tmp, in, (int)n);
  int o = 0;
  for (int i = 0; i < len; i++) {
    char c = (char)tmp[i];
    if (c == '=') break;
    out[o++] = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  out[o] = '\0';
}

/* Signs header.payload with alg's key (k: the EVP key, or NULL for HS256 with secret). */
static void sign(char *tok, const char *alg_sign, EVP_PKEY *k) {
  size_t n = strlen(tok);
  unsigned char sig[1024];
  size_t slen = sizeof sig;
  if (strcmp(alg_sign, "HS256") == 0) {
    unsigned int l = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)tok, n, sig, &l);
    slen = l;
  } else if (strcmp(alg_sign, "none") == 0) {
    slen = 0;
  } else {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[1024];
    size_t dlen = sizeof der;
    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k);
    EVP_DigestSign(ctx, der, &dlen, (unsigned char *)tok, n);
    EVP_MD_CTX_free(ctx);
    if (strcmp(alg_sign, "ES256") == 0) {
      const unsigned char *p = der;
      ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
      BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
      ECDSA_SIG_free(es);
      slen = 64;
    } else { /* RS256, or "ES256-DER": the raw DER, which JWS does not use */
      memcpy(sig, der, dlen);
      slen = dlen;
    }
  }
  tok[n] = '.';
  b64url(tok + n + 1, sig, slen);
}

/* header and payload JSON, signed as alg_sign says. */
static char *mint(const char *header, const char *payload, const char *alg_sign, EVP_PKEY *k) {
  static char tok[16384];
  b64url(tok, header, strlen(header));
  size_t n = strlen(tok);
  tok[n] = '.';
  b64url(tok + n + 1, payload, strlen(payload));
  sign(tok, alg_sign, k);
  return tok;
}

static const char *hdr(const char *alg) {
  static char h[128];
  snprintf(h, sizeof h, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
  return h;
}

static char claims[EDGE_JWT_CLAIMS_MAX];

static long verify(const edge_jwt_key *k, const edge_jwt_opts *o, const char *tok) {
  return edge_jwt_verify(k, o, tok, strlen(tok), NOW, claims, sizeof claims, NULL);
}

static char *pem_of(EVP_PKEY *k) {
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, k);
  char *p;
  long n = BIO_get_mem_data(b, &p);
  char *s = malloc((size_t)n + 1);
  memcpy(s, p, (size_t)n);
  s[n] = '\0';
  BIO_free(b);
  return s;
}

static void setup(void) {
  rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  CHECK(rsa && ec);
  CHECK_EQ_INT(edge_jwt_key_hs256(secret, strlen(secret), &khs), 0);
  char *p = pem_of(rsa);
  CHECK_EQ_INT(edge_jwt_key_pem(p, strlen(p), &krs), 0);
  free(p);
  p = pem_of(ec);
  CHECK_EQ_INT(edge_jwt_key_pem(p, strlen(p), &kes), 0);
  free(p);
  CHECK_EQ_INT(edge_jwt_key_alg(khs), EDGE_JWT_HS256);
  CHECK_EQ_INT(edge_jwt_key_alg(krs), EDGE_JWT_RS256);
  CHECK_EQ_INT(edge_jwt_key_alg(kes), EDGE_JWT_ES256);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_valid_each_alg(void) {
  static const char payload[] = "{\"sub\":\"u1\",\"name\":\"Ada\",\"exp\":1700000100,\"iat\":1699999990}";
  struct {
    const char *alg;
    EVP_PKEY *pk;
    edge_jwt_key **k;
  } c[] = {{"HS256", NULL, &khs}, {"RS256", rsa, &krs}, {"ES256", ec, &kes}};
  for (size_t i = 0; i < 3; i++) {
    char *tok = mint(hdr(c[i].alg), payload, c[i].alg, c[i].pk);
    json_t *j = NULL;
    long n = edge_jwt_verify(*c[i].k, NULL, tok, strlen(tok), NOW, claims, sizeof claims, &j);
    CHECK_EQ_INT(n, (long)strlen(payload));
    CHECK_STR(claims, payload);
    CHECK(j && strcmp(json_string_value(json_object_get(j, "name")), "Ada") == 0);
    json_decref(j);
    /* Each alg's key refuses the others' tokens: the header names another alg. */
    for (size_t k = 0; k < 3; k++)
      if (k != i) CHECK_EQ_INT(verify(*c[k].k, NULL, tok), EDGE_JWT_EALG);
  }
}

static void test_bad_signature(void) {
  const char *algs[] = {"HS256", "RS256", "ES256"};
  EVP_PKEY *pks[] = {NULL, rsa, ec};
  edge_jwt_key *ks[] = {khs, krs, kes};
  for (size_t i = 0; i < 3; i++) {
    char *tok = mint(hdr(algs[i]), "{\"sub\":\"x\"}", algs[i], pks[i]);
    char *sig = strrchr(tok, '.') + 1;
    /* Flip one bit of the first signature byte (the first character's top bits). */
    sig[0] = sig[0] == 'A' ? 'Q' : 'A';
    CHECK_EQ_INT(verify(ks[i], NULL, tok), EDGE_JWT_ESIG);
    /* The payload changed after signing. */
    tok = mint(hdr(algs[i]), "{\"sub\":\"x\"}", algs[i], pks[i]);
    char *p = strchr(tok, '.') + 1;
    p[2] = p[2] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(verify(ks[i], NULL, tok), EDGE_JWT_ESIG);
    /* No signature at all. */
    tok = mint(hdr(algs[i]), "{\"sub\":\"x\"}", algs[i], pks[i]);
    strrchr(tok, '.')[1] = '\0';
    CHECK_EQ_INT(verify(ks[i], NULL, tok), EDGE_JWT_ESIG);
  }
  /* ES256 with OpenSSL's DER signature instead of JWS's r||s. */
  char *tok = mint(hdr("ES256"), "{}", "ES256-DER", ec);
  CHECK_EQ_INT(verify(kes, NULL, tok), EDGE_JWT_ESIG);
  /* HS256 signed with another secret (same length). */
  char other[sizeof secret];
  memcpy(other, secret, sizeof secret);
  other[0] ^= 1;
  edge_jwt_key *k2;
  CHECK_EQ_INT(edge_jwt_key_hs256(other, strlen(other), &k2), 0);
  tok = mint(hdr("HS256"), "{}", "HS256", NULL);
  CHECK_EQ_INT(verify(k2, NULL, tok), EDGE_JWT_ESIG);
  edge_jwt_key_free(k2);
  /* A different RSA key. */
  EVP_PKEY *rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  tok = mint(hdr("RS256"), "{}", "RS256", rsa2);
  CHECK_EQ_INT(verify(krs, NULL, tok), EDGE_JWT_ESIG);
  EVP_PKEY_free(rsa2);
}

static void test_none_and_confusion(void) {
  const char *nones[] = {"none", "None", "NONE"};
  for (size_t i = 0; i < 3; i++) {
    char *tok = mint(hdr(nones[i]), "{\"sub\":\"admin\"}", "none", NULL);
    CHECK_EQ_INT(verify(khs, NULL, tok), EDGE_JWT_ENONE);
    CHECK_EQ_INT(verify(krs, NULL, tok), EDGE_JWT_ENONE);
    CHECK_EQ_INT(verify(kes, NULL, tok), EDGE_JWT_ENONE);
  }
  /* The classic confusion: HS256 keyed with the RSA public key's PEM text, sent to a
   * server configured with that public key. */
  char *pem = pem_of(rsa);
  char tok[4096];
  b64url(tok, hdr("HS256"), strlen(hdr("HS256")));
  strcat(tok, ".");
  b64url(tok + strlen(tok), "{\"sub\":\"admin\"}", 15);
  unsigned char mac[32];
  unsigned int l;
  HMAC(EVP_sha256(), pem, (int)strlen(pem), (unsigned char *)tok, strlen(tok), mac, &l);
  strcat(tok, ".");
  b64url(tok + strlen(tok), mac, 32);
  CHECK_EQ_INT(verify(krs, NULL, tok), EDGE_JWT_EALG);
  free(pem);
  /* Other algs, missing alg, alg of the wrong type, lower-case name. */
  CHECK_EQ_INT(verify(khs, NULL, mint(hdr("HS384"), "{}", "HS256", NULL)), EDGE_JWT_EALG);
  CHECK_EQ_INT(verify(khs, NULL, mint(hdr("hs256"), "{}", "HS256", NULL)), EDGE_JWT_EALG);
  CHECK_EQ_INT(verify(khs, NULL, mint("{\"typ\":\"JWT\"}", "{}", "HS256", NULL)), EDGE_JWT_EMALFORMED);
  CHECK_EQ_INT(verify(khs, NULL, mint("{\"alg\":256}", "{}", "HS256", NULL)), EDGE_JWT_EMALFORMED);
  /* Two alg members: refused whatever each says. */
  CHECK_EQ_INT(verify(khs, NULL, mint("{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}", "HS256", NULL)),
               EDGE_JWT_EMALFORMED);
  CHECK_EQ_INT(verify(khs, NULL, mint("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{}", "HS256", NULL)),
               EDGE_JWT_ECRIT);
}

static void test_times(void) {
  static const struct {
    const char *payload;
    uint32_t leeway;
    long want; /* 1: accepted */
  } c[] = {
      {"{\"exp\":1700000001}", 0, 1},
      {"{\"exp\":1700000000}", 0, EDGE_JWT_EEXPIRED}, /* now == exp: already expired */
      {"{\"exp\":1700000000}", 1, 1},
      {"{\"exp\":1699999999}", 1, EDGE_JWT_EEXPIRED}, /* the leeway edge */
      {"{\"exp\":1699999995}", 10, 1},
      {"{\"exp\":1700000000.5}", 0, 1},               /* fractional NumericDate */
      {"{\"exp\":1}", 0, EDGE_JWT_EEXPIRED},
      {"{\"exp\":-5}", 0, EDGE_JWT_EEXPIRED},
      {"{\"exp\":1e300}", 0, 1},
      {"{\"exp\":\"1800000000\"}", 0, EDGE_JWT_ECLAIM},
      {"{\"exp\":null}", 0, EDGE_JWT_ECLAIM},
      {"{\"nbf\":1700000000}", 0, 1},                 /* nbf == now is valid */
      {"{\"nbf\":1700000001}", 0, EDGE_JWT_ENOTYET},
      {"{\"nbf\":1700000005}", 5, 1},
      {"{\"nbf\":1700000006}", 5, EDGE_JWT_ENOTYET},
      {"{\"nbf\":true}", 0, EDGE_JWT_ECLAIM},
      {"{\"iat\":1700000000}", 0, 1},
      {"{\"iat\":1700000060}", 0, EDGE_JWT_EIAT},
      {"{\"iat\":1700000060}", 60, 1},
      {"{\"iat\":1700000061}", 60, EDGE_JWT_EIAT},
      {"{\"iat\":[1]}", 0, EDGE_JWT_ECLAIM},
      {"{\"nbf\":1699999000,\"exp\":1700001000,\"iat\":1699999000}", 0, 1},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    edge_jwt_opts o = {.leeway_s = c[i].leeway};
    long r = verify(khs, &o, mint(hdr("HS256"), c[i].payload, "HS256", NULL));
    if (c[i].want == 1)
      CHECK_EQ_INT(r, (long)strlen(c[i].payload));
    else
      CHECK_EQ_INT(r, c[i].want);
    if (c[i].want == 1 ? r < 0 : r != c[i].want) fprintf(stderr, "  case %zu: %s\n", i, c[i].payload);
  }
  edge_jwt_opts req = {.require_exp = 1};
  CHECK_EQ_INT(verify(khs, &req, mint(hdr("HS256"), "{\"sub\":\"a\"}", "HS256", NULL)), EDGE_JWT_ECLAIM);
  CHECK(verify(khs, &req, mint(hdr("HS256"), "{\"exp\":1800000000}", "HS256", NULL)) > 0);
}

static void test_aud_iss(void) {
  static const struct {
    const char *payload, *aud, *iss;
    long want;
  } c[] = {
      {"{\"aud\":\"chat\"}", "chat", NULL, 1},
      {"{\"aud\":\"chat\"}", "Chat", NULL, EDGE_JWT_EAUD},
      {"{\"aud\":[\"x\",\"chat\"]}", "chat", NULL, 1},
      {"{\"aud\":[\"x\",\"y\"]}", "chat", NULL, EDGE_JWT_EAUD},
      {"{\"aud\":[]}", "chat", NULL, EDGE_JWT_EAUD},
      {"{\"aud\":[\"chat\",1]}", "chat", NULL, EDGE_JWT_ECLAIM},
      {"{\"aud\":7}", "chat", NULL, EDGE_JWT_ECLAIM},
      {"{\"aud\":7}", NULL, NULL, EDGE_JWT_ECLAIM},
      {"{}", "chat", NULL, EDGE_JWT_EAUD},
      {"{\"aud\":\"other\"}", NULL, NULL, 1}, /* not configured: not checked */
      {"{\"iss\":\"https://idp\"}", NULL, "https://idp", 1},
      {"{\"iss\":\"https://idp/\"}", NULL, "https://idp", EDGE_JWT_EISS},
      {"{}", NULL, "https://idp", EDGE_JWT_EISS},
      {"{\"iss\":5}", NULL, NULL, EDGE_JWT_ECLAIM},
      {"{\"iss\":\"i\",\"aud\":\"a\"}", "a", "i", 1},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    edge_jwt_opts o = {.audience = c[i].aud, .issuer = c[i].iss};
    long r = verify(kes, &o, mint(hdr("ES256"), c[i].payload, "ES256", ec));
    if (c[i].want == 1)
      CHECK_EQ_INT(r, (long)strlen(c[i].payload));
    else
      CHECK_EQ_INT(r, c[i].want);
  }
}

static void test_malformed(void) {
  char good[8192], tok[8192 + 8];
  strcpy(good, mint(hdr("HS256"), "{\"sub\":\"a\"}", "HS256", NULL));
  static const char *bad[] = {
      "", "abc", "a.b", "a.b.c.d", "a.b.c.d.e", ".eyJ9.sig", "eyJhbGciOiJIUzI1NiJ9..sig",
      "eyJhbGciOiJIUzI1NiJ9=.e30.sig", /* padding is not base64url-without-padding */
      "eyJhbGciOiJIUzI1NiJ9.e30=.x",   /* (the header is checked before the payload) */
      "e.e30.x", "!!!!.e30.x", "eyJhbGciOiJIUzI1NiJ9 .e30.x", "eyJh+GciOiJIUzI1NiJ9.e30.x",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    long r = verify(khs, NULL, bad[i]);
    CHECK(r == EDGE_JWT_EMALFORMED || r == EDGE_JWT_ESIG);
    if (r != EDGE_JWT_EMALFORMED && r != EDGE_JWT_ESIG) fprintf(stderr, "  case %zu: %ld\n", i, r);
  }
  /* Not a JSON object: header, payload (validly signed). */
  CHECK_EQ_INT(verify(khs, NULL, mint("[\"HS256\"]", "{}", "HS256", NULL)), EDGE_JWT_EMALFORMED);
  CHECK_EQ_INT(verify(khs, NULL, mint("{\"alg\":\"HS256\"", "{}", "HS256", NULL)), EDGE_JWT_EMALFORMED);
  CHECK_EQ_INT(verify(khs, NULL, mint(hdr("HS256"), "[1]", "HS256", NULL)), EDGE_JWT_EMALFORMED);
  CHECK_EQ_INT(verify(khs, NULL, mint(hdr("HS256"), "\"s\"", "HS256", NULL)), EDGE_JWT_EMALFORMED);
  CHECK_EQ_INT(verify(khs, NULL, mint(hdr("HS256"), "{\"a\":1,\"a\":2}", "HS256", NULL)),
               EDGE_JWT_EMALFORMED);
  CHECK_EQ_INT(verify(khs, NULL, mint(hdr("HS256"), "{\"a\":\"\\u0000\"}", "HS256", NULL)),
               EDGE_JWT_EMALFORMED);
  /* Non-canonical base64url: the unused low bits of the signature's last character set.
   * A 32-byte HMAC is 43 characters whose last one carries 2 unused bits. */
  strcpy(tok, good);
  char *last = tok + strlen(tok) - 1;
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  int v = (int)(strchr(alphabet, *last) - alphabet);
  *last = alphabet[v | 1];
  if ((v | 1) != v) CHECK_EQ_INT(verify(khs, NULL, tok), EDGE_JWT_EMALFORMED);
  *last = alphabet[v | 2];
  if ((v | 2) != v) CHECK_EQ_INT(verify(khs, NULL, tok), EDGE_JWT_EMALFORMED);
  /* Whitespace around the token is the caller's to strip. */
  snprintf(tok, sizeof tok, " %s", good);
  CHECK(verify(khs, NULL, tok) < 0);
  snprintf(tok, sizeof tok, "%s\n", good);
  CHECK(verify(khs, NULL, tok) < 0);
  /* Every prefix of a good token is refused, never accepted or crashing. */
  strcpy(tok, good);
  for (size_t n = 0; n < strlen(good); n++)
    CHECK(edge_jwt_verify(khs, NULL, tok, n, NOW, claims, sizeof claims, NULL) < 0);
  CHECK(verify(khs, NULL, good) > 0);
  /* Arguments. */
  CHECK_EQ_INT(edge_jwt_verify(NULL, NULL, good, strlen(good), NOW, claims, sizeof claims, NULL), WSIO_EINVAL);
  CHECK_EQ_INT(edge_jwt_verify(khs, NULL, good, strlen(good), NOW, NULL, 10, NULL), WSIO_EINVAL);
  CHECK_EQ_INT(edge_jwt_verify(khs, NULL, NULL, 0, NOW, claims, sizeof claims, NULL), EDGE_JWT_EMALFORMED);
}

static char *big_payload(size_t n) {
  static char p[EDGE_JWT_MAX_LEN + 64];
  memset(p, 'x', n);
  memcpy(p, "{\"p\":\"", 6);
  memcpy(p + n - 2, "\"}", 2);
  p[n] = '\0';
  return p;
}

static void test_size_bounds(void) {
  /* The largest token that fits EDGE_JWT_MAX_LEN is accepted, with the documented
   * claims buffer; anything longer is refused before decoding. */
  size_t n = 8, best = 0;
  for (; n < EDGE_JWT_MAX_LEN; n++)
    if (strlen(mint(hdr("HS256"), big_payload(n), "HS256", NULL)) <= EDGE_JWT_MAX_LEN) best = n;
  char *tok = mint(hdr("HS256"), big_payload(best), "HS256", NULL);
  CHECK(strlen(tok) > EDGE_JWT_MAX_LEN - 4);
  CHECK_EQ_INT(verify(khs, NULL, tok), (long)best);
  tok = mint(hdr("HS256"), big_payload(best + 3), "HS256", NULL);
  CHECK(strlen(tok) > EDGE_JWT_MAX_LEN);
  CHECK_EQ_INT(verify(khs, NULL, tok), EDGE_JWT_ETOOBIG);
  /* A huge input: refused at once whatever it holds. */
  size_t huge = 1 << 24;
  char *h = malloc(huge);
  memset(h, 'A', huge);
  CHECK_EQ_INT(edge_jwt_verify(khs, NULL, h, huge, NOW, claims, sizeof claims, NULL), EDGE_JWT_ETOOBIG);
  free(h);
  /* A claims buffer too small for this payload. */
  tok = mint(hdr("HS256"), "{\"sub\":\"abcdefghij\"}", "HS256", NULL);
  char small[8];
  CHECK_EQ_INT(edge_jwt_verify(khs, NULL, tok, strlen(tok), NOW, small, sizeof small, NULL), EDGE_JWT_ETOOBIG);
  char exact[21];
  CHECK_EQ_INT(edge_jwt_verify(khs, NULL, tok, strlen(tok), NOW, exact, sizeof exact, NULL), 20);
  /* A header too large for the header buffer is malformed, not an overflow. */
  static char bighdr[4000];
  snprintf(bighdr, sizeof bighdr, "{\"alg\":\"HS256\",\"x\":\"%03000d\"}", 0);
  CHECK_EQ_INT(verify(khs, NULL, mint(bighdr, "{}", "HS256", NULL)), EDGE_JWT_EMALFORMED);
}

static void write_file(const char *path, const char *s) {
  FILE *f = fopen(path, "wb");
  fputs(s, f);
  fclose(f);
}

static void test_keys(void) {
  edge_jwt_key *k = (edge_jwt_key *)1;
  CHECK_EQ_INT(edge_jwt_key_hs256("short", 5, &k), EDGE_JWT_EWEAK);
  CHECK(k == NULL);
  CHECK_EQ_INT(edge_jwt_key_hs256(secret, 31, &k), EDGE_JWT_EWEAK);
  CHECK_EQ_INT(edge_jwt_key_hs256(secret, 32, &k), 0);
  edge_jwt_key_free(k);
  CHECK_EQ_INT(edge_jwt_key_hs256(NULL, 32, &k), WSIO_EINVAL);
  CHECK_EQ_INT(edge_jwt_key_pem("hello", 5, &k), EDGE_JWT_EKEY);
  CHECK_EQ_INT(edge_jwt_key_pem("", 0, &k), EDGE_JWT_EKEY);
  /* Weak RSA, other curves, other key types. */
  EVP_PKEY *r1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  char *p = pem_of(r1024);
  CHECK_EQ_INT(edge_jwt_key_pem(p, strlen(p), &k), EDGE_JWT_EWEAK);
  free(p);
  p = pem_of(p384);
  CHECK_EQ_INT(edge_jwt_key_pem(p, strlen(p), &k), EDGE_JWT_EKEYTYPE);
  free(p);
  p = pem_of(ed);
  CHECK_EQ_INT(edge_jwt_key_pem(p, strlen(p), &k), EDGE_JWT_EKEYTYPE);
  free(p);
  EVP_PKEY_free(r1024);
  EVP_PKEY_free(p384);
  EVP_PKEY_free(ed);
  /* A private key is not what the option asks for. */
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, ec, NULL, NULL, 0, NULL, NULL);
  char *pp;
  long pn = BIO_get_mem_data(b, &pp);
  CHECK_EQ_INT(edge_jwt_key_pem(pp, (size_t)pn, &k), EDGE_JWT_EKEY);
  BIO_free(b);
  /* From a file; a missing file. */
  char path[] = "/tmp/wsio-test-jwt-XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  p = pem_of(ec);
  write_file(path, p);
  free(p);
  CHECK_EQ_INT(edge_jwt_key_load(path, &k), 0);
  CHECK_EQ_INT(edge_jwt_key_alg(k), EDGE_JWT_ES256);
  CHECK(verify(k, NULL, mint(hdr("ES256"), "{}", "ES256", ec)) == 2);
  edge_jwt_key_free(k);
  unlink(path);
  CHECK_EQ_INT(edge_jwt_key_load(path, &k), WSIO_ESYS);
  edge_jwt_key_free(NULL);
  /* Every code has its own reason. */
  for (int e = EDGE_JWT_EWEAK; e <= EDGE_JWT_EMALFORMED; e++)
    CHECK(strcmp(edge_jwt_strerror(e), "unknown error") != 0);
  CHECK_STR(edge_jwt_alg_name(EDGE_JWT_RS256), "RS256");
}

static void test_token_sources(void) {
  static const struct {
    const char *v, *want;
  } bearer[] = {
      {"Bearer abc.def.ghi", "abc.def.ghi"}, {"bearer   abc.def.ghi  ", "abc.def.ghi"},
      {"BEARER a", "a"},                     {"Bearer", NULL},
      {"Bearer ", NULL},                     {"Bearerabc", NULL},
      {"Basic dXNlcjpwYXNz", NULL},          {"Bearer a b", NULL},
      {"Bearer a\"b", NULL},                 {"Bearer abc==", "abc=="},
  };
  for (size_t i = 0; i < sizeof bearer / sizeof bearer[0]; i++) {
    const char *t = NULL;
    size_t n = 0;
    int ok = edge_bearer_token(bearer[i].v, strlen(bearer[i].v), &t, &n);
    CHECK_EQ_INT(ok, bearer[i].want != NULL);
    if (ok && bearer[i].want) CHECK(n == strlen(bearer[i].want) && memcmp(t, bearer[i].want, n) == 0);
  }
  static const struct {
    const char *v, *want;
  } q[] = {
      {"/ws?token=abc.def", "abc.def"},
      {"/ws?a=1&token=x.y.z&b=2", "x.y.z"},
      {"/ws?token=first&token=second", "first"},
      {"/ws?mytoken=a&token=b", "b"},
      {"/ws?token=", NULL},
      {"/ws?token", NULL},
      {"/ws", NULL},
      {"/ws?token=a%2Eb", NULL},
      {"/ws?token=a+b", NULL},
      {"/ws?x=1#token=a", NULL},
      {"/ws?token=a#frag", "a"},
      {"/token=a", NULL},
  };
  for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
    const char *t = NULL;
    size_t n = 0;
    int ok = edge_query_token(q[i].v, strlen(q[i].v), &t, &n);
    CHECK_EQ_INT(ok, q[i].want != NULL);
    if (ok && q[i].want) CHECK(n == strlen(q[i].want) && memcmp(t, q[i].want, n) == 0);
  }
}

int main(void) {
  RUN(setup);
  RUN(test_valid_each_alg);
  RUN(test_bad_signature);
  RUN(test_none_and_confusion);
  RUN(test_times);
  RUN(test_aud_iss);
  RUN(test_malformed);
  RUN(test_size_bounds);
  RUN(test_keys);
  RUN(test_token_sources);
  edge_jwt_key_free(khs);
  edge_jwt_key_free(krs);
  edge_jwt_key_free(kes);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(ec);
  return test_report();
}
