/* tests/unit/test_net_tls_client.c — net/tls.c's client mode against its server mode,
 * both over memory BIOs, bytes moved by hand: plaintext written before the handshake
 * is sent once it completes, SNI for a name and none for an address, ALPN http/1.1,
 * and the certificate check: trusted CA, untrusted, another host's name, an address
 * the certificate does not list, --insecure, a CA file that does not load. */
#include "test.h"
#include "net/tls.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char cert_path[64], key_path[64];

/* A self-signed P-256 certificate for localhost (its own CA), in two temp files. */
static int make_cert(void) {
  EVP_PKEY *k = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  if (!k || !x) return -1;
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, k);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
  X509_set_issuer_name(x, n);
  if (!X509_sign(x, k, EVP_sha256())) return -1;
  snprintf(cert_path, sizeof cert_path, "/tmp/wsio-tlsc-crt-XXXXXX");
  snprintf(key_path, sizeof key_path, "/tmp/wsio-tlsc-key-XXXXXX");
  int cf = mkstemp(cert_path), kf = mkstemp(key_path);
  FILE *c = fdopen(cf, "w"), *kk = fdopen(kf, "w");
  int ok = c && kk && PEM_write_X509(c, x) && PEM_write_PrivateKey(kk, k, NULL, NULL, 0, NULL, NULL);
  fclose(c);
  fclose(kk);
  X509_free(x);
  EVP_PKEY_free(k);
  return ok ? 0 : -1;
}

static char logged[512];
static void on_log(const char *msg, void *user) {
  (void)user;
  snprintf(logged, sizeof logged, "%s", msg);
}

/* Moves ciphertext both ways until nothing moves; plaintext each side reads is
 * appended to its buffer. Returns the client's last net_tls_read result. */
static int pump(struct ssl_st *c, struct ssl_st *s, char *c_in, char *s_in) {
  int rc = 0;
  for (int round = 0; round < 16; round++) {
    int moved = 0;
    const uint8_t *p;
    size_t n = net_tls_out(c, &p);
    if (n) {
      CHECK_EQ_INT(net_tls_feed(s, p, n), 0);
      moved = 1;
    }
    net_tls_out_done(c);
    uint8_t buf[4096];
    int r;
    while ((r = net_tls_read(s, buf, sizeof buf - 1)) > 0) strncat(s_in, (char *)buf, (size_t)r);
    n = net_tls_out(s, &p);
    if (n) {
      CHECK_EQ_INT(net_tls_feed(c, p, n), 0);
      moved = 1;
    }
    net_tls_out_done(s);
    while ((rc = net_tls_read(c, buf, sizeof buf - 1)) > 0) strncat(c_in, (char *)buf, (size_t)rc);
    if (!moved || rc < 0) break;
  }
  return rc;
}

/* One connection: the client writes a request at once; returns the client's last
 * read result, with what the server received in s_in. */
static int connect_once(SSL_CTX *sctx, SSL_CTX *cctx, const char *host, char *s_in, struct ssl_st **out) {
  struct ssl_st *s = net_tls_session(sctx), *c = net_tls_client_session(cctx, host);
  CHECK(s && c);
  char c_in[4096] = "";
  s_in[0] = 0;
  CHECK_EQ_INT(net_tls_write(c, "GET / HTTP/1.1\r\n\r\n", 18), 0); /* before the handshake */
  const uint8_t *p;
  CHECK(net_tls_out(c, &p) > 0); /* the ClientHello is on its way */
  CHECK(!net_tls_established(c));
  int r = pump(c, s, c_in, s_in);
  if (r == 0 && net_tls_established(c)) {
    CHECK_EQ_INT(net_tls_write(s, "HTTP/1.1 101 ok\r\n\r\n", 19), 0);
    r = pump(c, s, c_in, s_in);
    CHECK_STR(c_in, "HTTP/1.1 101 ok\r\n\r\n");
    const unsigned char *alpn;
    unsigned alen;
    SSL_get0_alpn_selected(c, &alpn, &alen);
    CHECK(alen == 8 && memcmp(alpn, "http/1.1", 8) == 0);
  }
  net_tls_session_free(s);
  if (out) *out = c;
  else net_tls_session_free(c);
  return r;
}

static void test_verified(void) {
  char err[256];
  SSL_CTX *sctx = net_tls_server_ctx(cert_path, key_path, err, sizeof err);
  SSL_CTX *cctx = net_tls_client_ctx(cert_path, 0, err, sizeof err);
  CHECK(sctx && cctx);
  net_tls_set_log(sctx, on_log, NULL);
  char s_in[4096];
  logged[0] = 0;
  struct ssl_st *c;
  CHECK_EQ_INT(connect_once(sctx, cctx, "localhost", s_in, &c), 0);
  CHECK_STR(s_in, "GET / HTTP/1.1\r\n\r\n"); /* written early, sent after the handshake */
  CHECK(strstr(logged, "server name localhost") != NULL); /* SNI */
  CHECK_STR(net_tls_error(c), "");
  CHECK_EQ_INT(net_tls_verify_failed(c), 0);
  net_tls_session_free(c);
  net_tls_ctx_free(sctx);
  net_tls_ctx_free(cctx);
}

static void test_refused(void) {
  char err[256], s_in[4096];
  SSL_CTX *sctx = net_tls_server_ctx(cert_path, key_path, err, sizeof err);
  struct ssl_st *c;
  /* Untrusted: an empty store (a CA file holding some other certificate would do). */
  SSL_CTX *other = net_tls_client_ctx("/dev/null", 0, err, sizeof err);
  if (!other) other = net_tls_client_ctx(NULL, 0, err, sizeof err);
  CHECK(other != NULL);
  CHECK_EQ_INT(connect_once(sctx, other, "localhost", s_in, &c), -EPROTO);
  CHECK_EQ_INT(net_tls_verify_failed(c), 1);
  CHECK(strstr(net_tls_error(c), "certificate verify failed: self-signed certificate") != NULL);
  CHECK_STR(s_in, ""); /* the request never left */
  net_tls_session_free(c);
  net_tls_ctx_free(other);

  SSL_CTX *cctx = net_tls_client_ctx(cert_path, 0, err, sizeof err);
  CHECK_EQ_INT(connect_once(sctx, cctx, "example.com", s_in, &c), -EPROTO);
  CHECK(strstr(net_tls_error(c), "hostname mismatch") != NULL);
  net_tls_session_free(c);
  logged[0] = 0;
  net_tls_set_log(sctx, on_log, NULL);
  CHECK_EQ_INT(connect_once(sctx, cctx, "127.0.0.1", s_in, &c), -EPROTO);
  CHECK(strstr(net_tls_error(c), "IP address mismatch") != NULL);
  CHECK(strstr(logged, "server name") == NULL); /* no SNI for an address (RFC 6066 3) */
  net_tls_session_free(c);
  net_tls_ctx_free(cctx);

  /* insecure: no check at all, still encrypted. */
  SSL_CTX *ins = net_tls_client_ctx(NULL, 1, err, sizeof err);
  CHECK_EQ_INT(connect_once(sctx, ins, "example.com", s_in, NULL), 0);
  CHECK_STR(s_in, "GET / HTTP/1.1\r\n\r\n");
  net_tls_ctx_free(ins);
  net_tls_ctx_free(sctx);
}

static void test_bad_ca_file(void) {
  char err[256] = "";
  CHECK(net_tls_client_ctx("/nonexistent/ca.pem", 0, err, sizeof err) == NULL);
  CHECK(strstr(err, "cannot load the CA certificates /nonexistent/ca.pem") != NULL);
}

int main(void) {
  if (make_cert() != 0) {
    fprintf(stderr, "cannot make a test certificate\n");
    return 1;
  }
  RUN(test_verified);
  RUN(test_refused);
  RUN(test_bad_ca_file);
  unlink(cert_path);
  unlink(key_path);
  return test_report();
}
