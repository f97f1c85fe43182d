/* edge/jwt.c — JWT verification (RFC 7519, compact JWS of RFC 7515, algorithms of
 * RFC 7518) on OpenSSL 3; see jwt.h.
 *
 * Owns: the key object and every check a token must pass before its claims are handed
 * back. Must not: log, read the clock, keep state between calls, or parse the payload
 * before the signature has been verified (untrusted JSON is kept to the small header). */
#include "edge/jwt.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wsio.h"

#define HS256_LEN 32   /* SHA-256 output: the HMAC, and RFC 7518 3.2's minimum secret */
#define ES256_LEN 64   /* RFC 7518 3.4: R and S as 32-byte big-endian integers */
#define MAX_SIG 1024   /* RSA up to 8192 bits */
#define MAX_HEADER 2048 /* decoded header bytes; ours are ~40, x5c chains are not for us */
#define MAX_PEM (64 * 1024)

struct edge_jwt_key {
  edge_jwt_alg alg;
  EVP_PKEY *pkey; /* RS256, ES256 */
  size_t secret_len;
  unsigned char secret[]; /* HS256 */
};

const char *edge_jwt_strerror(int err) {
  switch (err) {
  case 0: return "ok";
  case WSIO_EINVAL: return "invalid argument";
  case WSIO_ENOMEM: return "out of memory";
  case WSIO_ESYS: return "cannot read the key file";
  case EDGE_JWT_EMALFORMED: return "malformed token";
  case EDGE_JWT_ETOOBIG: return "token too large";
  case EDGE_JWT_ENONE: return "unsigned token (alg none)";
  case EDGE_JWT_EALG: return "token alg does not match the key";
  case EDGE_JWT_ECRIT: return "token has critical header extensions";
  case EDGE_JWT_ESIG: return "bad token signature";
  case EDGE_JWT_EEXPIRED: return "token expired";
  case EDGE_JWT_ENOTYET: return "token not yet valid (nbf)";
  case EDGE_JWT_EIAT: return "token issued in the future (iat)";
  case EDGE_JWT_ECLAIM: return "token claim missing or of the wrong type";
  case EDGE_JWT_EAUD: return "token audience mismatch";
  case EDGE_JWT_EISS: return "token issuer mismatch";
  case EDGE_JWT_EKEY: return "not a PEM public key (BEGIN PUBLIC KEY)";
  case EDGE_JWT_EKEYTYPE: return "key is neither RSA nor EC P-256";
  case EDGE_JWT_EWEAK: return "key too weak (RSA < 2048 bits, HS256 secret < 32 bytes)";
  default: return "unknown error";
  }
}

const char *edge_jwt_alg_name(edge_jwt_alg alg) {
  switch (alg) {
  case EDGE_JWT_HS256: return "HS256";
  case EDGE_JWT_RS256: return "RS256";
  case EDGE_JWT_ES256: return "ES256";
  }
  return "?";
}

edge_jwt_alg edge_jwt_key_alg(const edge_jwt_key *key) { return key->alg; }

/* ---- keys ----------------------------------------------------------------------------- */

int edge_jwt_key_hs256(const void *secret, size_t len, edge_jwt_key **out) {
  if (!out || (!secret && len)) return WSIO_EINVAL;
  *out = NULL;
  if (len < HS256_LEN) return EDGE_JWT_EWEAK;
  edge_jwt_key *k = calloc(1, sizeof *k + len);
  if (!k) return WSIO_ENOMEM;
  k->alg = EDGE_JWT_HS256;
  k->secret_len = len;
  memcpy(k->secret, secret, len);
  *out = k;
  return 0;
}

/* RSA at 2048 bits or more (RFC 7518 3.3), EC only on P-256 (ES256 is defined on
 * that curve alone, RFC 7518 3.4): any other key would verify nothing we accept. */
static int key_alg_of(EVP_PKEY *pkey, edge_jwt_alg *alg) {
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    if (EVP_PKEY_get_bits(pkey) < 2048) return EDGE_JWT_EWEAK;
    *alg = EDGE_JWT_RS256;
    return 0;
  }
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[64];
    size_t glen = 0;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) != 1) return EDGE_JWT_EKEYTYPE;
    if (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0) return EDGE_JWT_EKEYTYPE;
    *alg = EDGE_JWT_ES256;
    return 0;
  }
  return EDGE_JWT_EKEYTYPE;
}

int edge_jwt_key_pem(const char *pem, size_t len, edge_jwt_key **out) {
  if (!out || !pem || len > MAX_PEM) return WSIO_EINVAL;
  *out = NULL;
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  if (!bio) return WSIO_ENOMEM;
  EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
  BIO_free(bio);
  /* OpenSSL queues why it failed; the code we return says it, and a stale queue would
   * confuse the next OpenSSL user on this thread (TLS). */
  ERR_clear_error();
  if (!pkey) return EDGE_JWT_EKEY;
  edge_jwt_alg alg;
  int rc = key_alg_of(pkey, &alg);
  if (rc < 0) {
    EVP_PKEY_free(pkey);
    return rc;
  }
  edge_jwt_key *k = calloc(1, sizeof *k);
  if (!k) {
    EVP_PKEY_free(pkey);
    return WSIO_ENOMEM;
  }
  k->alg = alg;
  k->pkey = pkey;
  *out = k;
  return 0;
}

int edge_jwt_key_load(const char *path, edge_jwt_key **out) {
  if (!path || !out) return WSIO_EINVAL;
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return WSIO_ESYS;
  char *buf = malloc(MAX_PEM + 1);
  if (!buf) {
    fclose(f);
    return WSIO_ENOMEM;
  }
  size_t n = fread(buf, 1, MAX_PEM + 1, f);
  int err = ferror(f);
  fclose(f);
  int rc;
  if (err) {
    errno = EIO;
    rc = WSIO_ESYS;
  } else if (n > MAX_PEM) {
    rc = EDGE_JWT_EKEY;
  } else {
    rc = edge_jwt_key_pem(buf, n, out);
  }
  free(buf);
  return rc;
}

void edge_jwt_key_free(edge_jwt_key *key) {
  if (!key) return;
  EVP_PKEY_free(key->pkey);
  OPENSSL_cleanse(key->secret, key->secret_len);
  free(key);
}

/* ---- base64url (RFC 4648 5, RFC 7515 2: no padding) ----------------------------------- */

static int b64url_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

/* Decodes s[0..n) into dst[0..cap). Returns the length, -1 when s is not base64url or
 * -2 when dst is too small. Strict: no padding, no
 * whitespace, and the unused low bits of the last character must be zero, so each
 * byte string has exactly one encoding and a token cannot be altered without changing
 * what is signed. */
static long b64url_decode(uint8_t *dst, size_t cap, const char *s, size_t n) {
  if (n % 4 == 1) return -1;
  size_t outlen = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
  if (outlen > cap) return -2;
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64url_value((unsigned char)s[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      dst[o++] = (uint8_t)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return -1; /* non-zero leftover bits */
  return (long)o;
}

/* ---- signatures ----------------------------------------------------------------------- */

static int verify_hs256(const edge_jwt_key *k, const char *data, size_t n, const uint8_t *sig,
                        size_t sig_len) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, (const unsigned char *)data, n, mac, &mac_len))
    return WSIO_ENOMEM;
  /* The length is public (always 32); the bytes are compared in constant time. */
  int ok = sig_len == HS256_LEN && mac_len == HS256_LEN && CRYPTO_memcmp(mac, sig, HS256_LEN) == 0;
  OPENSSL_cleanse(mac, sizeof mac);
  return ok ? 0 : EDGE_JWT_ESIG;
}

static int verify_evp(EVP_PKEY *pkey, const char *data, size_t n, const uint8_t *sig, size_t sig_len) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx) return WSIO_ENOMEM;
  int rc = EDGE_JWT_ESIG;
  if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
      EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)data, n) == 1)
    rc = 0;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return rc;
}

/* RFC 7518 3.4: a JWS carries R || S (32 bytes each); OpenSSL verifies the DER
 * ECDSA-Sig-Value of RFC 3279, so the pair is re-encoded first. */
static int verify_es256(EVP_PKEY *pkey, const char *data, size_t n, const uint8_t *sig, size_t sig_len) {
  if (sig_len != ES256_LEN) return EDGE_JWT_ESIG;
  ECDSA_SIG *es = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
  if (!es || !r || !s) {
    ECDSA_SIG_free(es);
    BN_free(r);
    BN_free(s);
    return WSIO_ENOMEM;
  }
  ECDSA_SIG_set0(es, r, s); /* es owns r and s now */
  unsigned char *der = NULL;
  int der_len = i2d_ECDSA_SIG(es, &der);
  ECDSA_SIG_free(es);
  if (der_len <= 0) return WSIO_ENOMEM;
  int rc = verify_evp(pkey, data, n, der, (size_t)der_len);
  OPENSSL_free(der);
  return rc;
}

static int verify_sig(const edge_jwt_key *k, const char *data, size_t n, const uint8_t *sig, size_t sig_len) {
  switch (k->alg) {
  case EDGE_JWT_HS256: return verify_hs256(k, data, n, sig, sig_len);
  case EDGE_JWT_RS256: return verify_evp(k->pkey, data, n, sig, sig_len);
  case EDGE_JWT_ES256: return verify_es256(k->pkey, data, n, sig, sig_len);
  }
  return EDGE_JWT_EALG;
}

/* ---- header and claims ---------------------------------------------------------------- */

/* RFC 7515 4.1.1: alg is required and names the one algorithm the signature uses; we
 * take it only when it is the configured key's (RFC 8725 3.1: never let the token pick
 * the algorithm, or an RSA public key becomes an HMAC secret). */
static int check_header(const edge_jwt_key *k, const char *hdr, size_t n) {
  /* Duplicate names are refused: two "alg" members must not mean one thing to us and
   * another to whoever minted the token. */
  json_t *h = json_loadb(hdr, n, JSON_REJECT_DUPLICATES, NULL);
  if (!h || !json_is_object(h)) {
    json_decref(h);
    return EDGE_JWT_EMALFORMED;
  }
  int rc = 0;
  const char *alg = json_string_value(json_object_get(h, "alg"));
  if (!alg)
    rc = EDGE_JWT_EMALFORMED;
  else if (strcasecmp(alg, "none") == 0)
    rc = EDGE_JWT_ENONE;
  else if (strcmp(alg, edge_jwt_alg_name(k->alg)) != 0)
    rc = EDGE_JWT_EALG;
  else if (json_object_get(h, "crit"))
    rc = EDGE_JWT_ECRIT;
  json_decref(h);
  return rc;
}

/* A NumericDate (RFC 7519 2): a JSON number of seconds, possibly with a fraction.
 * 1 when present (in *v), 0 when absent, EDGE_JWT_ECLAIM when not a number. */
static int numeric_date(json_t *claims, const char *name, double *v) {
  json_t *j = json_object_get(claims, name);
  if (!j) return 0;
  if (!json_is_number(j)) return EDGE_JWT_ECLAIM;
  *v = json_number_value(j);
  return 1;
}

/* RFC 7519 4.1.4-4.1.6 with leeway: doubles hold every int64 second up to 2^53 exactly,
 * far past any clock. */
static int check_times(json_t *c, const edge_jwt_opts *o, int64_t now_s) {
  double now = (double)now_s, leeway = (double)o->leeway_s, v;
  int has = numeric_date(c, "exp", &v);
  if (has < 0) return has;
  if (!has && o->require_exp) return EDGE_JWT_ECLAIM;
  /* "the current date/time MUST be before the expiration date/time" */
  if (has && now >= v + leeway) return EDGE_JWT_EEXPIRED;
  if ((has = numeric_date(c, "nbf", &v)) < 0) return has;
  /* "MUST be after or equal to the not-before date/time" */
  if (has && now + leeway < v) return EDGE_JWT_ENOTYET;
  if ((has = numeric_date(c, "iat", &v)) < 0) return has;
  /* RFC 7519 leaves iat informational; a token issued in the future is a broken
   * issuer clock or a forgery window, and every mainstream verifier refuses it. */
  if (has && now + leeway < v) return EDGE_JWT_EIAT;
  return 0;
}

/* RFC 7519 4.1.3: aud is one string or an array of strings; ours must be among them. */
static int check_aud(json_t *c, const char *want) {
  json_t *aud = json_object_get(c, "aud");
  if (!aud) return EDGE_JWT_EAUD;
  if (json_is_string(aud)) return strcmp(json_string_value(aud), want) == 0 ? 0 : EDGE_JWT_EAUD;
  if (!json_is_array(aud)) return EDGE_JWT_ECLAIM;
  int found = 0;
  size_t i;
  json_t *v;
  json_array_foreach(aud, i, v) {
    if (!json_is_string(v)) return EDGE_JWT_ECLAIM;
    if (strcmp(json_string_value(v), want) == 0) found = 1;
  }
  return found ? 0 : EDGE_JWT_EAUD;
}

static int check_claims(json_t *c, const edge_jwt_opts *o, int64_t now_s) {
  int rc = check_times(c, o, now_s);
  if (rc < 0) return rc;
  json_t *iss = json_object_get(c, "iss");
  if (iss && !json_is_string(iss)) return EDGE_JWT_ECLAIM;
  if (o->issuer && (!iss || strcmp(json_string_value(iss), o->issuer) != 0)) return EDGE_JWT_EISS;
  if (o->audience) return check_aud(c, o->audience);
  json_t *aud = json_object_get(c, "aud");
  if (aud && !json_is_string(aud) && !json_is_array(aud)) return EDGE_JWT_ECLAIM;
  return 0;
}

/* ---- verify --------------------------------------------------------------------------- */

long edge_jwt_verify(const edge_jwt_key *key, const edge_jwt_opts *opts, const char *token,
                     size_t len, int64_t now_s, char *claims, size_t cap, json_t **json) {
  static const edge_jwt_opts no_opts;
  if (json) *json = NULL;
  if (!key || (!token && len) || !claims || cap == 0) return WSIO_EINVAL;
  if (!opts) opts = &no_opts;
  if (len > EDGE_JWT_MAX_LEN) return EDGE_JWT_ETOOBIG;
  if (len == 0) return EDGE_JWT_EMALFORMED;

  const char *d1 = memchr(token, '.', len);
  if (!d1) return EDGE_JWT_EMALFORMED;
  const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
  if (!d2) return EDGE_JWT_EMALFORMED;
  const char *end = token + len;
  /* A third dot: a JWE (five parts) or garbage; b64url_decode would refuse it too, but
   * the reason is clearer this way. */
  if (memchr(d2 + 1, '.', (size_t)(end - d2 - 1))) return EDGE_JWT_EMALFORMED;
  size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1), slen = (size_t)(end - d2 - 1);
  if (hlen == 0 || plen == 0) return EDGE_JWT_EMALFORMED;

  char hdr[MAX_HEADER];
  long n = b64url_decode((uint8_t *)hdr, sizeof hdr, token, hlen);
  if (n < 0) return EDGE_JWT_EMALFORMED;
  int rc = check_header(key, hdr, (size_t)n);
  if (rc < 0) return rc;

  uint8_t sig[MAX_SIG];
  n = b64url_decode(sig, sizeof sig, d2 + 1, slen);
  if (n < 0) return EDGE_JWT_EMALFORMED;
  /* RFC 7515 5.2 step 8: the signing input is the two encoded segments with their dot. */
  rc = verify_sig(key, token, (size_t)(d2 - token), sig, (size_t)n);
  if (rc < 0) return rc;

  long clen = b64url_decode((uint8_t *)claims, cap - 1, d1 + 1, plen);
  if (clen < 0) return clen == -2 ? EDGE_JWT_ETOOBIG : EDGE_JWT_EMALFORMED;
  claims[clen] = '\0';
  json_t *c = json_loadb(claims, (size_t)clen, JSON_REJECT_DUPLICATES, NULL);
  if (!c || !json_is_object(c)) {
    json_decref(c);
    return EDGE_JWT_EMALFORMED;
  }
  rc = check_claims(c, opts, now_s);
  if (rc < 0) {
    json_decref(c);
    return rc;
  }
  if (json)
    *json = c;
  else
    json_decref(c);
  return clen;
}

/* ---- token sources -------------------------------------------------------------------- */

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int edge_bearer_token(const char *value, size_t len, const char **tok, size_t *tok_len) {
  static const char scheme[] = "bearer";
  const size_t sl = sizeof scheme - 1;
  if (!value || !tok || !tok_len || len <= sl) return 0;
  for (size_t i = 0; i < sl; i++)
    if (lower((unsigned char)value[i]) != scheme[i]) return 0;
  size_t i = sl;
  if (value[i] != ' ') return 0;
  while (i < len && value[i] == ' ') i++;
  size_t e = len;
  while (e > i && (value[e - 1] == ' ' || value[e - 1] == '\t')) e--;
  if (e == i) return 0;
  /* RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
  for (size_t k = i; k < e; k++) {
    unsigned char c = (unsigned char)value[k];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '='))
      return 0;
  }
  *tok = value + i;
  *tok_len = e - i;
  return 1;
}

int edge_query_token(const char *target, size_t len, const char **tok, size_t *tok_len) {
  if (!target || !tok || !tok_len) return 0;
  const char *q = memchr(target, '?', len);
  if (!q) return 0;
  const char *p = q + 1, *end = target + len;
  const char *hash = memchr(p, '#', (size_t)(end - p));
  if (hash) end = hash;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *pe = amp ? amp : end;
    if (pe - p >= 6 && memcmp(p, "token=", 6) == 0) {
      const char *v = p + 6;
      if (v == pe || memchr(v, '%', (size_t)(pe - v)) || memchr(v, '+', (size_t)(pe - v))) return 0;
      *tok = v;
      *tok_len = (size_t)(pe - v);
      return 1;
    }
    p = pe + 1;
  }
  return 0;
}
