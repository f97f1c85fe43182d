/* edge/jwt.h — verifying JSON Web Tokens (RFC 7519) sent at the handshake: compact JWS
 * (RFC 7515) signed with HS256, RS256 or ES256 (RFC 7518 3.2-3.4), on OpenSSL 3.
 *
 * Owns: the verification key (an opaque object loaded once at configuration time), the
 * token's parsing and signature check, and the time and audience/issuer claims.
 * Must not: log (a token is a credential: the caller logs edge_jwt_strerror's reason,
 * never the token), read a clock (the caller passes the time) or keep any state
 * between calls. edge_jwt_key_load reads a file; nothing else does I/O. */
#ifndef WSIO_EDGE_JWT_H
#define WSIO_EDGE_JWT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Tokens longer than this are refused before anything is decoded. 8 KiB is far above
 * any token a browser can carry in a header or a query (and the default request-head
 * limit), and bounds every buffer below. */
#define EDGE_JWT_MAX_LEN 8192
/* A claims buffer of this size always fits the payload of an acceptable token. */
#define EDGE_JWT_CLAIMS_MAX (EDGE_JWT_MAX_LEN / 4 * 3 + 1)

typedef enum { EDGE_JWT_HS256 = 1, EDGE_JWT_RS256, EDGE_JWT_ES256 } edge_jwt_alg;

/* Refusals (all mean HTTP 401 / Socket.IO "unauthorized"; the value says why, for the
 * log and a metric). Below the WSIO_E* range so the two never collide; functions here
 * also return WSIO_EINVAL, WSIO_ENOMEM and WSIO_ESYS. */
enum {
  EDGE_JWT_EMALFORMED = -100, /* not header.payload.signature of base64url, or not JSON objects */
  EDGE_JWT_ETOOBIG = -101,    /* over EDGE_JWT_MAX_LEN, or the claims buffer is too small */
  EDGE_JWT_ENONE = -102,      /* alg "none": an unsigned token */
  EDGE_JWT_EALG = -103,       /* alg is not the configured key's (alg confusion) */
  EDGE_JWT_ECRIT = -104,      /* a "crit" header: extensions we cannot honour (RFC 7515 4.1.11) */
  EDGE_JWT_ESIG = -105,       /* the signature does not verify */
  EDGE_JWT_EEXPIRED = -106,   /* now >= exp + leeway */
  EDGE_JWT_ENOTYET = -107,    /* now + leeway < nbf */
  EDGE_JWT_EIAT = -108,       /* now + leeway < iat: issued in the future */
  EDGE_JWT_ECLAIM = -109,     /* exp/nbf/iat not a number, aud/iss not strings, exp missing when required */
  EDGE_JWT_EAUD = -110,       /* the configured audience is not in aud */
  EDGE_JWT_EISS = -111,       /* iss is not the configured issuer */
  EDGE_JWT_EKEY = -112,       /* key loading: not a PEM public key (SubjectPublicKeyInfo) */
  EDGE_JWT_EKEYTYPE = -113,   /* key loading: neither RSA nor EC P-256 */
  EDGE_JWT_EWEAK = -114,      /* key loading: RSA under 2048 bits, HS256 secret under 32 bytes */
};

/* A short static reason for any value returned here (WSIO_E* included), for logs. */
const char *edge_jwt_strerror(int err);

typedef struct edge_jwt_key edge_jwt_key;

/* An HS256 key: secret[0..len) is copied (and wiped on free). RFC 7518 3.2: the secret
 * must be at least as long as the hash, 32 bytes, else EDGE_JWT_EWEAK. Returns 0,
 * WSIO_EINVAL (NULL), EDGE_JWT_EWEAK or WSIO_ENOMEM; *out is the caller's to free. */
int edge_jwt_key_hs256(const void *secret, size_t len, edge_jwt_key **out);

/* A public key from PEM text ("-----BEGIN PUBLIC KEY-----", SubjectPublicKeyInfo):
 * RSA (2048 bits or more) gives an RS256 key, EC on P-256 an ES256 key. pem need not
 * be NUL-terminated. Returns 0, WSIO_EINVAL, EDGE_JWT_EKEY, EDGE_JWT_EKEYTYPE,
 * EDGE_JWT_EWEAK or WSIO_ENOMEM; *out is the caller's to free. */
int edge_jwt_key_pem(const char *pem, size_t len, edge_jwt_key **out);

/* The same from a file (read whole; at most 64 KiB). WSIO_ESYS with errno when it
 * cannot be read. For configuration time only: it blocks. */
int edge_jwt_key_load(const char *path, edge_jwt_key **out);

/* Which alg the key verifies: a token's header must name exactly this one. */
edge_jwt_alg edge_jwt_key_alg(const edge_jwt_key *key);
/* "HS256", "RS256" or "ES256". */
const char *edge_jwt_alg_name(edge_jwt_alg alg);

/* Frees the key (NULL is fine); an HS256 secret is wiped first. */
void edge_jwt_key_free(edge_jwt_key *key);

typedef struct {
  uint32_t leeway_s;    /* clock skew allowed on exp, nbf and iat (--jwt-leeway) */
  int require_exp;      /* 1: a token without exp is refused (EDGE_JWT_ECLAIM) */
  const char *audience; /* NULL: aud is not checked; else aud (a string or an array of
                         * strings) must contain it, and a token without aud is refused */
  const char *issuer;   /* NULL: iss is not checked; else iss must equal it */
} edge_jwt_opts;

/* Verifies token[0..len) (compact JWS, no surrounding whitespace) with key at now_s
 * (seconds since the epoch), in this order: size, three segments of unpadded base64url,
 * the header (a JSON object whose alg is the key's: "none" is EDGE_JWT_ENONE, another
 * EDGE_JWT_EALG; no crit), the signature (HMAC compared with CRYPTO_memcmp; ES256's
 * 64-byte r||s turned into DER for OpenSSL), and only then the payload: a JSON object
 * whose exp/nbf/iat, aud and iss pass opts (NULL: no leeway, nothing required).
 *
 * On success writes the payload's JSON text, NUL-terminated, to claims[0..cap) and
 * returns its length (EDGE_JWT_CLAIMS_MAX is always enough: a smaller cap may get
 * EDGE_JWT_ETOOBIG). When json is not NULL, *json also gets the parsed claims: a new
 * reference the caller must json_decref. On failure returns a negative code (see the
 * enum) and leaves *json NULL; claims may have been written. */
long edge_jwt_verify(const edge_jwt_key *key, const edge_jwt_opts *opts, const char *token,
                     size_t len, int64_t now_s, char *claims, size_t cap, json_t **json);

/* ---- where the token comes from ------------------------------------------------------ */

/* The token of an "Authorization: Bearer <token>" value (RFC 6750 2.1: the scheme is
 * case-insensitive, one or more spaces, then the b64token and optional trailing
 * whitespace). Sets *tok (pointing into value) and *tok_len and returns 1; 0 when the
 * value is not a Bearer credential. */
int edge_bearer_token(const char *value, size_t len, const char **tok, size_t *tok_len);

/* The value of the "token" parameter of a request target's query ("/ws?a=1&token=..."),
 * the first one when there are several. JWT characters need no percent-encoding, and a
 * value that has some is refused rather than decoded (a token is never rewritten).
 * Sets *tok (pointing into target) and returns 1; 0 when absent, empty or encoded. */
int edge_query_token(const char *target, size_t len, const char **tok, size_t *tok_len);

#endif
