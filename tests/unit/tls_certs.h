/* tests/unit/tls_certs.h — what the TLS unit tests share: certificates made in memory
 * with OpenSSL (a CA, and certificates it signs), for the tests of net/tls.c's client
 * and server sides (test_net_tls.c, test_net_tls_client_cert.c).
 *
 * static inline, as net_harness.h: a test pays nothing for what it does not use. Must
 * not hold assertions: the tests keep theirs. */
#ifndef WSIO_TLS_CERTS_H
#define WSIO_TLS_CERTS_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* A P-256 X.509v3 certificate for CN=cn with this serial, valid from a minute ago for
 * an hour, signed by (issuer, issuer_key), or self-signed when issuer is NULL, with one
 * extension: nid with value ext in openssl's config syntax ("critical,CA:TRUE",
 * "DNS:localhost"). Its key in *key_out; the caller frees both. NULL on failure. */
static inline X509 *test_tls_cert(const char *cn, long serial, X509 *issuer, EVP_PKEY *issuer_key, int nid,
                                  const char *ext, EVP_PKEY **key_out) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  if (!k || !x) return NULL;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, k);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
  X509V3_CTX v;
  X509V3_set_ctx_nodb(&v);
  X509V3_set_ctx(&v, issuer ? issuer : x, x, NULL, NULL, 0);
  X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, ext);
  if (!e || !X509_add_ext(x, e, -1)) return NULL;
  X509_EXTENSION_free(e);
  if (!X509_sign(x, issuer ? issuer_key : k, EVP_sha256())) return NULL;
  *key_out = k;
  return x;
}

#endif
