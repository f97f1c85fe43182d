/* tests/unit/test_net_tls.c — net/tls.c: a server session over memory BIOs against an
 * OpenSSL client, bytes moved by hand: handshake with ALPN, data both ways, the peer's
 * close_notify, refusals (plain HTTP, TLS 1.1), and certificate files that do not load.
 * Then net.c's TLS connections on a real loop: an iteration's writes become one record
 * (or a few), and a big write under backpressure, a broadcast range and the
 * close_notify arrive in order. Client certificates (--tls-client-ca): required or
 * optional, on --tls-sni names too, and the verified subject; revocation lists (--tls-crl). */
#include "test.h"
#include "loop/loop.h"
#include "net/net.h"
#include "net/tls.h"
#include "net_harness.h"
#include "tls_certs.h"

#include <errno.h>
#include <signal.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char cert_path[64], key_path[64];

/* A self-signed P-256 certificate for localhost, written to two temp files. */
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
  snprintf(cert_path, sizeof cert_path, "/tmp/wsio-tls-crt-XXXXXX");
  snprintf(key_path, sizeof key_path, "/tmp/wsio-tls-key-XXXXXX");
  int cf = mkstemp(cert_path), kf = mkstemp(key_path);
  FILE *c = fdopen(cf, "w"), *kk = fdopen(kf, "w");
  int ok = c && kk && PEM_write_X509(c, x) && PEM_write_PrivateKey(kk, k, NULL, NULL, 0, NULL, NULL);
  fclose(c);
  fclose(kk);
  X509_free(x);
  EVP_PKEY_free(k);
  return ok ? 0 : -1;
}

/* Moves everything between the client (its memory BIOs) and the server session; the
 * server's plaintext goes to out. Returns the last net_tls_read result. */
static int pump(SSL *cl, struct ssl_st *srv, uint8_t *out, size_t *outn) {
  int last = 0;
  for (int round = 0; round < 8; round++) {
    char buf[16384];
    int n;
    int moved = 0;
    while ((n = BIO_read(SSL_get_wbio(cl), buf, sizeof buf)) > 0) {
      CHECK_EQ_INT(net_tls_feed(srv, buf, (size_t)n), 0);
      moved = 1;
    }
    uint8_t plain[4096];
    while ((last = net_tls_read(srv, plain, sizeof plain)) > 0) {
      if (out) memcpy(out + *outn, plain, (size_t)last);
      if (outn) *outn += (size_t)last;
    }
    const uint8_t *p;
    size_t m = net_tls_out(srv, &p);
    if (m) {
      BIO_write(SSL_get_rbio(cl), p, (int)m);
      moved = 1;
    }
    net_tls_out_done(srv);
    if (!SSL_is_init_finished(cl)) SSL_do_handshake(cl);
    if (!moved || last < 0) break;
  }
  return last;
}

static SSL *client(SSL_CTX *cctx) {
  SSL *cl = SSL_new(cctx);
  SSL_set_bio(cl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
  SSL_set_connect_state(cl);
  SSL_set_tlsext_host_name(cl, "localhost");
  static const unsigned char alpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_set_alpn_protos(cl, alpn, sizeof alpn);
  SSL_do_handshake(cl);
  return cl;
}

static int sni_seen;
static void on_log(const char *msg, void *user) {
  (void)user;
  if (strstr(msg, "server name localhost")) sni_seen = 1;
}

static void test_session(void) {
  char err[256];
  struct ssl_ctx_st *ctx = net_tls_server_ctx(cert_path, key_path, err, sizeof err);
  CHECK(ctx != NULL);
  if (!ctx) return;
  net_tls_set_log(ctx, on_log, NULL);
  SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
  SSL *cl = client(cctx);
  struct ssl_st *srv = net_tls_session(ctx);
  CHECK_EQ_INT(pump(cl, srv, NULL, NULL), 0);
  CHECK(SSL_is_init_finished(cl));
  CHECK(net_tls_established(srv));
  CHECK(sni_seen);
  const unsigned char *proto;
  unsigned plen;
  SSL_get0_alpn_selected(cl, &proto, &plen);
  CHECK(plen == 8 && memcmp(proto, "http/1.1", 8) == 0);
  CHECK(SSL_version(cl) >= TLS1_2_VERSION);
  /* client -> server */
  uint8_t got[65536];
  size_t gotn = 0;
  CHECK_EQ_INT(SSL_write(cl, "GET / HTTP/1.1\r\n\r\n", 18), 18);
  pump(cl, srv, got, &gotn);
  CHECK(gotn == 18 && memcmp(got, "GET / HTTP/1.1\r\n\r\n", 18) == 0);
  /* server -> client, in two writes of one flush, one over a record */
  static uint8_t big[40000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
  CHECK_EQ_INT(net_tls_write(srv, "hi", 2), 0);
  CHECK_EQ_INT(net_tls_write(srv, big, sizeof big), 0);
  const uint8_t *p;
  size_t m = net_tls_out(srv, &p);
  CHECK(m > sizeof big);
  BIO_write(SSL_get_rbio(cl), p, (int)m);
  net_tls_out_done(srv);
  CHECK_EQ_INT((int)net_tls_out(srv, &p), 0);
  size_t n = 0;
  int r;
  while ((r = SSL_read(cl, got + n, (int)(sizeof got - n))) > 0) n += (size_t)r;
  CHECK(n == 2 + sizeof big && memcmp(got, "hi", 2) == 0 && memcmp(got + 2, big, sizeof big) == 0);
  net_tls_trim(srv); /* idle: buffers go, the session stays usable */
  CHECK_EQ_INT(SSL_write(cl, "again", 5), 5);
  gotn = 0;
  pump(cl, srv, got, &gotn);
  CHECK(gotn == 5 && memcmp(got, "again", 5) == 0);
  /* The peer's close_notify ends the stream cleanly. */
  SSL_shutdown(cl);
  CHECK_EQ_INT(pump(cl, srv, NULL, NULL), -EPIPE);
  net_tls_session_free(srv);
  SSL_free(cl);
  SSL_CTX_free(cctx);
  net_tls_ctx_free(ctx);
}

static void test_refusals(void) {
  char err[256];
  struct ssl_ctx_st *ctx = net_tls_server_ctx(cert_path, key_path, err, sizeof err);
  CHECK(ctx != NULL);
  if (!ctx) return;
  /* Plain HTTP to the TLS port. */
  struct ssl_st *srv = net_tls_session(ctx);
  static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK_EQ_INT(net_tls_feed(srv, http, sizeof http - 1), 0);
  uint8_t buf[256];
  CHECK_EQ_INT(net_tls_read(srv, buf, sizeof buf), -EPROTO);
  CHECK(!net_tls_established(srv));
  net_tls_session_free(srv);
  /* Half a client hello: wait for more, not fail. */
  srv = net_tls_session(ctx);
  static const uint8_t half[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  CHECK_EQ_INT(net_tls_feed(srv, half, sizeof half), 0);
  CHECK_EQ_INT(net_tls_read(srv, buf, sizeof buf), 0);
  net_tls_session_free(srv);
  /* A TLS 1.1 client (allowed by its own security level 0) is refused: by the minimum
   * version itself, not only by OpenSSL's default security level (which a system
   * openssl.cnf may lower: lowered here too). */
  SSL_CTX_set_security_level((SSL_CTX *)ctx, 0);
  SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_security_level(cctx, 0);
  SSL_CTX_set_min_proto_version(cctx, TLS1_VERSION);
  SSL_CTX_set_max_proto_version(cctx, TLS1_1_VERSION);
  SSL *cl = client(cctx);
  srv = net_tls_session(ctx);
  CHECK_EQ_INT(pump(cl, srv, NULL, NULL), -EPROTO);
  CHECK(!net_tls_established(srv));
  net_tls_session_free(srv);
  SSL_free(cl);
  SSL_CTX_free(cctx);
  net_tls_ctx_free(ctx);
  ERR_clear_error();
}

static void test_bad_files(void) {
  char err[256] = "";
  CHECK(net_tls_server_ctx("/nonexistent/cert.pem", key_path, err, sizeof err) == NULL);
  CHECK(strstr(err, "cannot load the certificate /nonexistent/cert.pem") != NULL);
  CHECK(net_tls_server_ctx(cert_path, "/nonexistent/key.pem", err, sizeof err) == NULL);
  CHECK(strstr(err, "cannot load the key") != NULL);
  /* The key where the certificate should be: not a certificate. */
  CHECK(net_tls_server_ctx(key_path, key_path, err, sizeof err) == NULL);
  /* A key that does not match the certificate. */
  char other[64];
  snprintf(other, sizeof other, "/tmp/wsio-tls-key2-XXXXXX");
  int fd = mkstemp(other);
  EVP_PKEY *k = EVP_EC_gen("P-256");
  FILE *f = fdopen(fd, "w");
  PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
  fclose(f);
  EVP_PKEY_free(k);
  CHECK(net_tls_server_ctx(cert_path, other, err, sizeof err) == NULL);
  CHECK(err[0] != '\0');
  /* The right key, encrypted: refused at once, saying so (OpenSSL's default would
   * ask for the passphrase on the terminal, and a service would wait forever). */
  FILE *kf = fopen(key_path, "r");
  EVP_PKEY *own = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
  if (kf) fclose(kf);
  CHECK(own != NULL);
  f = fopen(other, "w");
  CHECK(f && own && PEM_write_PKCS8PrivateKey(f, own, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"secret") == 1);
  if (f) fclose(f);
  EVP_PKEY_free(own);
  err[0] = '\0';
  CHECK(net_tls_server_ctx(cert_path, other, err, sizeof err) == NULL);
  CHECK(strstr(err, "is encrypted: no passphrase can be given") != NULL);
  unlink(other);
}

/* --tls-sni entries: what is refused (with a reason) and what is accepted. */
static void test_sni_names(void) {
  char err[256], list[512];
  struct {
    const char *fmt; /* %1$s: the certificate, %2$s: the key */
    int ok;
    const char *why;
  } cases[] = {
      {"a.example.com:%1$s:%2$s", 1, NULL},
      {"*.example.com:%1$s:%2$s, B.Example.com:%1$s:%2$s", 1, NULL},
      {" a.test:%1$s:%2$s ,, ", 1, NULL},
      {"a.test:%1$s", 0, "HOST:CERT:KEY"}, /* no key */
      {"a.test", 0, "HOST:CERT:KEY"},
      {":%1$s:%2$s", 0, "HOST:CERT:KEY"},
      {"a.test::%2$s", 0, "HOST:CERT:KEY"},
      {"a.test:%1$s:", 0, "HOST:CERT:KEY"},
      {"bad_host:%1$s:%2$s", 0, "not a DNS name"},
      {"a.*.test:%1$s:%2$s", 0, "not a DNS name"},
      {"*:%1$s:%2$s", 0, "not a DNS name"},
      {"a.test:/nonexistent.pem:%2$s", 0, "cannot load the certificate"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct ssl_ctx_st *ctx = net_tls_server_ctx(cert_path, key_path, err, sizeof err);
    CHECK(ctx != NULL);
    snprintf(list, sizeof list, cases[i].fmt, cert_path, key_path);
    err[0] = '\0';
    int r = net_tls_server_add_names(ctx, list, err, sizeof err);
    CHECK_EQ_INT(r, cases[i].ok ? 0 : -1);
    if (!cases[i].ok) CHECK(strstr(err, cases[i].why) != NULL);
    net_tls_ctx_free(ctx); /* frees the names' contexts too (ASan: no leak) */
  }
}

/* The certificate a client gets for a server name: the name's, or the default. */
static void test_sni_select(void) {
  char err[256], list[512], other_crt[64], other_key[64];
  /* a second certificate for the named entries (make_cert writes new temp files) */
  char save_c[64], save_k[64];
  memcpy(save_c, cert_path, 64);
  memcpy(save_k, key_path, 64);
  CHECK(make_cert() == 0); /* new files in cert_path/key_path */
  memcpy(other_crt, cert_path, 64);
  memcpy(other_key, key_path, 64);
  memcpy(cert_path, save_c, 64);
  memcpy(key_path, save_k, 64);
  struct ssl_ctx_st *ctx = net_tls_server_ctx(cert_path, key_path, err, sizeof err);
  snprintf(list, sizeof list, "exact.test:%s:%s,*.wild.test:%s:%s", other_crt, other_key, other_crt, other_key);
  CHECK_EQ_INT(net_tls_server_add_names(ctx, list, err, sizeof err), 0);
  X509 *dflt = SSL_CTX_get0_certificate(ctx);
  const struct {
    const char *name;
    int named;
  } cases[] = {{"exact.test", 1}, {"EXACT.test", 1}, {"a.wild.test", 1}, {"wild.test", 0},
               {"a.b.wild.test", 0}, {"other.test", 0}, {NULL, 0}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *cl = SSL_new(cctx);
    SSL_set_bio(cl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_connect_state(cl);
    if (cases[i].name) SSL_set_tlsext_host_name(cl, cases[i].name);
    struct ssl_st *srv = net_tls_session(ctx);
    SSL_do_handshake(cl);
    pump(cl, srv, NULL, NULL);
    CHECK(SSL_is_init_finished(cl));
    X509 *got = SSL_get0_peer_certificate(cl);
    CHECK(got != NULL);
    if (got) CHECK_EQ_INT(X509_cmp(got, dflt) != 0, cases[i].named);
    SSL_free(cl);
    SSL_CTX_free(cctx);
    net_tls_session_free(srv);
  }
  net_tls_ctx_free(ctx);
  unlink(other_crt);
  unlink(other_key);
}

/* Mutual TLS: one handshake of a client presenting crt/key (NULL: none) against ctx,
 * asking for server name sni (NULL: none). Returns the last net_tls_read result; the
 * verified subject (net_tls_peer_subject) in subject. */
static int client_cert_handshake(struct ssl_ctx_st *ctx, const char *sni, const char *crt, const char *key,
                                 char *subject, size_t cap) {
  SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
  if (crt) {
    CHECK_EQ_INT(SSL_CTX_use_certificate_file(cctx, crt, SSL_FILETYPE_PEM), 1);
    CHECK_EQ_INT(SSL_CTX_use_PrivateKey_file(cctx, key, SSL_FILETYPE_PEM), 1);
  }
  SSL *cl = SSL_new(cctx);
  SSL_set_bio(cl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
  SSL_set_connect_state(cl);
  if (sni) SSL_set_tlsext_host_name(cl, sni);
  SSL_do_handshake(cl);
  struct ssl_st *srv = net_tls_session(ctx);
  int r = pump(cl, srv, NULL, NULL);
  /* TLS 1.3: the client is done before the server has seen its certificate; a refusal
   * reaches it later, so only the server's side says whether it was accepted. */
  if (r == 0) CHECK(net_tls_established(srv));
  CHECK(net_tls_peer_subject(srv, subject, cap) >= 0);
  SSL_free(cl);
  SSL_CTX_free(cctx);
  net_tls_session_free(srv);
  ERR_clear_error();
  return r;
}

/* --tls-client-ca: required or optional client certificates, on the default context
 * and on a --tls-sni name's (its store is the one a chain is checked against). */
static void test_client_verify(void) {
  char err[256], list[512], other_crt[64], other_key[64], save_c[64], save_k[64], subject[256];
  memcpy(save_c, cert_path, 64);
  memcpy(save_k, key_path, 64);
  CHECK(make_cert() == 0); /* another self-signed certificate: not in the CA file */
  memcpy(other_crt, cert_path, 64);
  memcpy(other_key, key_path, 64);
  memcpy(cert_path, save_c, 64);
  memcpy(key_path, save_k, 64);
  for (int optional = 0; optional < 2; optional++) {
    struct ssl_ctx_st *ctx = net_tls_server_ctx(cert_path, key_path, err, sizeof err);
    CHECK(ctx != NULL);
    if (!ctx) return;
    snprintf(list, sizeof list, "exact.test:%s:%s", other_crt, other_key);
    CHECK_EQ_INT(net_tls_server_add_names(ctx, list, err, sizeof err), 0);
    /* The CA file: the (self-signed) certificate cert_path, which the client presents. */
    CHECK_EQ_INT(net_tls_server_verify_clients(ctx, cert_path, NULL, optional, err, sizeof err), 0);
    const char *names[] = {NULL, "exact.test"};
    for (size_t i = 0; i < 2; i++) {
      strcpy(subject, "x");
      CHECK_EQ_INT(client_cert_handshake(ctx, names[i], cert_path, key_path, subject, sizeof subject), 0);
      CHECK_STR(subject, "CN=localhost");
      CHECK(client_cert_handshake(ctx, names[i], other_crt, other_key, subject, sizeof subject) == -EPROTO);
      int none = client_cert_handshake(ctx, names[i], NULL, NULL, subject, sizeof subject);
      CHECK_EQ_INT(none, optional ? 0 : -EPROTO);
      CHECK_STR(subject, "");
    }
    /* A subject longer than the caller's buffer: -ENOBUFS, nothing half-written. */
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_use_certificate_file(cctx, cert_path, SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(cctx, key_path, SSL_FILETYPE_PEM);
    SSL *cl = client(cctx);
    struct ssl_st *srv = net_tls_session(ctx);
    CHECK_EQ_INT(pump(cl, srv, NULL, NULL), 0);
    CHECK_EQ_INT(net_tls_peer_subject(srv, subject, 5), -ENOBUFS);
    CHECK_EQ_INT(net_tls_peer_subject(srv, subject, 13), 12);
    SSL_free(cl);
    SSL_CTX_free(cctx);
    net_tls_session_free(srv);
    net_tls_ctx_free(ctx);
  }
  /* Without a CA file no certificate is asked for: none is seen even if one is set. */
  struct ssl_ctx_st *plain = net_tls_server_ctx(cert_path, key_path, err, sizeof err);
  CHECK_EQ_INT(client_cert_handshake(plain, NULL, cert_path, key_path, subject, sizeof subject), 0);
  CHECK_STR(subject, "");
  /* CA files that do not load: the reason names the file. */
  err[0] = '\0';
  CHECK_EQ_INT(net_tls_server_verify_clients(plain, "/nonexistent/ca.pem", NULL, 0, err, sizeof err), -1);
  CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);
  err[0] = '\0';
  CHECK_EQ_INT(net_tls_server_verify_clients(plain, key_path, NULL, 0, err, sizeof err), -1); /* a key, no certificate */
  CHECK(strstr(err, key_path) != NULL);
  net_tls_ctx_free(plain);
  unlink(other_crt);
  unlink(other_key);
  ERR_clear_error();
}

/* ---- --tls-crl: revocation lists ------------------------------------------------------ */

typedef struct {
  EVP_PKEY *key;
  X509 *crt;
  char crt_path[64], key_path[64];
} pki;

/* Writes what `write` writes to a new temp file; its path in path. */
static int temp_pem(char path[64], const char *tag, int (*write)(FILE *f, void *arg), void *arg) {
  snprintf(path, 64, "/tmp/wsio-crl-%s-XXXXXX", tag);
  int fd = mkstemp(path);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  int ok = f && write(f, arg);
  if (f) fclose(f);
  return ok ? 0 : -1;
}
static int write_crt(FILE *f, void *a) { return PEM_write_X509(f, a); }
static int write_key(FILE *f, void *a) { return PEM_write_PrivateKey(f, a, NULL, NULL, 0, NULL, NULL); }

/* A certificate for cn with serial, signed by ca (NULL: self-signed, a CA). */
static int make_pki(pki *p, const char *cn, long serial, const pki *ca) {
  p->crt = test_tls_cert(cn, serial, ca ? ca->crt : NULL, ca ? ca->key : NULL, NID_basic_constraints,
                         ca ? "CA:FALSE" : "critical,CA:TRUE", &p->key);
  if (!p->crt) return -1;
  return temp_pem(p->crt_path, "crt", write_crt, p->crt) < 0 || temp_pem(p->key_path, "key", write_key, p->key) < 0 ? -1 : 0;
}

static void free_pki(pki *p) {
  unlink(p->crt_path);
  unlink(p->key_path);
  X509_free(p->crt);
  EVP_PKEY_free(p->key);
}

/* ca's revocation list revoking `serial` (0: none), updated `age` seconds ago and due
 * again `next` seconds from now (negative: past). */
static X509_CRL *make_crl(const pki *ca, long serial, long age, long next) {
  X509_CRL *c = X509_CRL_new();
  ASN1_TIME *last = X509_gmtime_adj(NULL, -age), *due = X509_gmtime_adj(NULL, next);
  X509_CRL_set_version(c, 1);
  X509_CRL_set_issuer_name(c, X509_get_subject_name(ca->crt));
  X509_CRL_set1_lastUpdate(c, last);
  X509_CRL_set1_nextUpdate(c, due);
  if (serial) {
    X509_REVOKED *r = X509_REVOKED_new();
    ASN1_INTEGER *sn = ASN1_INTEGER_new();
    ASN1_INTEGER_set(sn, serial);
    X509_REVOKED_set_serialNumber(r, sn);
    X509_REVOKED_set_revocationDate(r, last);
    X509_CRL_add0_revoked(c, r);
    ASN1_INTEGER_free(sn);
  }
  X509_CRL_sort(c);
  X509_CRL_sign(c, ca->key, EVP_sha256());
  ASN1_TIME_free(last);
  ASN1_TIME_free(due);
  return c;
}

typedef struct {
  X509_CRL *v[2];
  X509 *crt[2];
} pem_set;
static int write_set(FILE *f, void *a) {
  pem_set *s = a;
  int ok = 1;
  for (int i = 0; i < 2; i++) {
    if (s->v[i]) ok &= PEM_write_X509_CRL(f, s->v[i]);
    if (s->crt[i]) ok &= PEM_write_X509(f, s->crt[i]);
  }
  return ok;
}

/* Loads ca_file and crl_file into a fresh server context (with a --tls-sni name). */
static struct ssl_ctx_st *crl_ctx(const char *ca_file, const char *crl_file, int optional, char *err, size_t cap) {
  char list[256];
  struct ssl_ctx_st *ctx = net_tls_server_ctx(cert_path, key_path, err, cap);
  snprintf(list, sizeof list, "exact.test:%s:%s", cert_path, key_path);
  if (!ctx || net_tls_server_add_names(ctx, list, err, cap) < 0) return ctx;
  err[0] = '\0';
  if (net_tls_server_verify_clients(ctx, ca_file, crl_file, optional, err, cap) < 0) {
    net_tls_ctx_free(ctx);
    return NULL;
  }
  return ctx;
}

static char crl_reason[512];
static void crl_log(const char *msg, void *user) {
  (void)user;
  if (strstr(msg, "client certificate")) snprintf(crl_reason, sizeof crl_reason, "%s", msg);
}

/* --tls-crl: a revoked certificate fails the handshake (on a --tls-sni name too, the
 * reason logged), others connect; lists that would refuse every client of a CA (one
 * missing, expired, not valid yet, from an issuer that is not a client CA) or are not lists at all
 * do not load, the file named. */
static void test_client_crl(void) {
  pki a, b, good, revoked, other;
  CHECK(make_pki(&a, "CA a", 1, NULL) == 0);
  CHECK(make_pki(&b, "CA b", 1, NULL) == 0);
  CHECK(make_pki(&good, "device-1", 10, &a) == 0);
  CHECK(make_pki(&revoked, "device-2", 11, &a) == 0);
  CHECK(make_pki(&other, "device-3", 11, &b) == 0); /* b's serial 11 is not revoked */
  X509_CRL *crl_a = make_crl(&a, 11, 60, 3600), *crl_b = make_crl(&b, 0, 60, 3600);
  X509_CRL *expired = make_crl(&a, 11, 7200, -3600), *early = make_crl(&a, 11, -3600, 7200);
  char cas_ab[64], crl_ok[64], crl_both[64], crl_old[64], crl_early[64], crl_b_only[64], crl_none[64], err[512],
      subject[256];
  pem_set s_ab = {{NULL, NULL}, {a.crt, b.crt}}, s_ok = {{crl_a, NULL}, {NULL, NULL}};
  pem_set s_both = {{crl_a, crl_b}, {NULL, NULL}}, s_old = {{expired, NULL}, {NULL, NULL}};
  pem_set s_early = {{early, NULL}, {NULL, NULL}};
  pem_set s_b = {{crl_b, NULL}, {NULL, NULL}}, s_none = {{NULL, NULL}, {a.crt, NULL}};
  CHECK(temp_pem(cas_ab, "cas", write_set, &s_ab) == 0);
  CHECK(temp_pem(crl_ok, "crl", write_set, &s_ok) == 0);
  CHECK(temp_pem(crl_both, "crl", write_set, &s_both) == 0);
  CHECK(temp_pem(crl_old, "crl", write_set, &s_old) == 0);
  CHECK(temp_pem(crl_early, "crl", write_set, &s_early) == 0);
  CHECK(temp_pem(crl_b_only, "crl", write_set, &s_b) == 0);
  CHECK(temp_pem(crl_none, "crl", write_set, &s_none) == 0); /* a certificate, no list */

  for (int optional = 0; optional < 2; optional++) {
    struct ssl_ctx_st *ctx = crl_ctx(a.crt_path, crl_ok, optional, err, sizeof err);
    CHECK(ctx != NULL);
    if (!ctx) break;
    net_tls_set_log(ctx, crl_log, NULL);
    const char *names[] = {NULL, "exact.test"};
    for (size_t i = 0; i < 2; i++) {
      CHECK_EQ_INT(client_cert_handshake(ctx, names[i], good.crt_path, good.key_path, subject, sizeof subject), 0);
      CHECK_STR(subject, "CN=device-1");
      crl_reason[0] = '\0';
      CHECK_EQ_INT(client_cert_handshake(ctx, names[i], revoked.crt_path, revoked.key_path, subject, sizeof subject), -EPROTO);
      CHECK_STR(subject, "");
      CHECK(strstr(crl_reason, "certificate revoked") != NULL);
    }
    net_tls_ctx_free(ctx);
  }
  /* Two client CAs, a list from each: each one's certificates are checked against its
   * own list (b's serial 11 is not a's). */
  struct ssl_ctx_st *ctx = crl_ctx(cas_ab, crl_both, 0, err, sizeof err);
  CHECK(ctx != NULL);
  if (ctx) {
    CHECK_EQ_INT(client_cert_handshake(ctx, NULL, other.crt_path, other.key_path, subject, sizeof subject), 0);
    CHECK_STR(subject, "CN=device-3");
    CHECK_EQ_INT(client_cert_handshake(ctx, NULL, revoked.crt_path, revoked.key_path, subject, sizeof subject), -EPROTO);
    CHECK_EQ_INT(client_cert_handshake(ctx, NULL, good.crt_path, good.key_path, subject, sizeof subject), 0);
    net_tls_ctx_free(ctx);
  }
  /* Lists that do not load: the reason names the file (and the CA concerned). */
  CHECK(crl_ctx(cas_ab, crl_ok, 0, err, sizeof err) == NULL); /* b has none */
  CHECK(strstr(err, "CN=CA b has no CRL") && strstr(err, crl_ok));
  CHECK(crl_ctx(a.crt_path, crl_old, 0, err, sizeof err) == NULL);
  CHECK(strstr(err, "CN=CA a") && strstr(err, "expired") && strstr(err, crl_old));
  CHECK(crl_ctx(a.crt_path, crl_early, 0, err, sizeof err) == NULL); /* issued an hour ahead */
  CHECK(strstr(err, "CN=CA a") && strstr(err, "not valid yet") && strstr(err, crl_early));
  CHECK(crl_ctx(a.crt_path, crl_b_only, 0, err, sizeof err) == NULL);
  CHECK(strstr(err, "CN=CA b") && strstr(err, "not one of the client CAs") && strstr(err, crl_b_only));
  CHECK(crl_ctx(a.crt_path, crl_none, 0, err, sizeof err) == NULL);
  CHECK(strstr(err, "no CRL in") && strstr(err, crl_none));
  CHECK(crl_ctx(a.crt_path, "/nonexistent/crl.pem", 0, err, sizeof err) == NULL);
  CHECK(strstr(err, "/nonexistent/crl.pem") != NULL);
  /* Without a list, the revoked certificate is just a certificate of a. */
  ctx = crl_ctx(a.crt_path, NULL, 0, err, sizeof err);
  CHECK(ctx != NULL);
  if (ctx) {
    CHECK_EQ_INT(client_cert_handshake(ctx, NULL, revoked.crt_path, revoked.key_path, subject, sizeof subject), 0);
    net_tls_ctx_free(ctx);
  }

  const char *files[] = {cas_ab, crl_ok, crl_both, crl_old, crl_early, crl_b_only, crl_none};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(files[i]);
  X509_CRL_free(crl_a);
  X509_CRL_free(crl_b);
  X509_CRL_free(expired);
  X509_CRL_free(early);
  free_pki(&a), free_pki(&b), free_pki(&good), free_pki(&revoked), free_pki(&other);
  ERR_clear_error();
}

/* ---- net.c: TLS connections on a loop ------------------------------------------------ */

typedef struct {
  net_conn net;
  size_t rx;
  int ended;
} nconn;

static struct {
  loop *l;
  net_ctx *ctx;
  nconn *c;
  loop_timer tick;
  int records; /* application-data records the client read (their headers) */
} N;

static void n_on_data(net_conn *c, uint8_t *p, size_t n) {
  (void)p;
  ((nconn *)c)->rx += n;
}
static void n_on_end(net_conn *c, int err) {
  ((nconn *)c)->ended = err < 0 ? err : 1;
  net_close(c);
}
static net_conn *n_on_accept(net_ctx *ctx, void *user) {
  (void)ctx;
  (void)user;
  N.c = calloc(1, sizeof(*N.c));
  return N.c ? &N.c->net : NULL;
}
static void n_step(void) { test_step(N.l, &N.tick); }
/* TLS 1.3 sends everything after the handshake as application-data records. */
static void on_record(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                      void *arg) {
  (void)version;
  (void)ssl;
  (void)arg;
  if (!write_p && content_type == SSL3_RT_HEADER && len >= 5 && ((const uint8_t *)buf)[0] == SSL3_RT_APPLICATION_DATA)
    N.records++;
}

/* Reads what the client can into buf (appending at *n); 1 once the server's
 * close_notify came, -1 on an error. */
static int client_read(SSL *cl, uint8_t *buf, size_t cap, size_t *n) {
  for (;;) {
    int r = SSL_read(cl, buf + *n, (int)(cap - *n > 65536 ? 65536 : cap - *n));
    if (r > 0) {
      *n += (size_t)r;
      continue;
    }
    int e = SSL_get_error(cl, r);
    if (e == SSL_ERROR_WANT_READ) return 0;
    return e == SSL_ERROR_ZERO_RETURN ? 1 : -1;
  }
}

/* A loop, a net context serving TLS, a connection adopted from a socketpair and an
 * OpenSSL client on its other end (sv[0]), handshake done and tickets read. */
static SSL *n_setup(int flags, int sv[2], SSL_CTX **cctx, uint8_t *buf, size_t cap) {
  memset(&N, 0, sizeof(N));
  char err[256];
  N.l = loop_create();
  static const net_handlers h = {n_on_data, n_on_end, NULL, n_on_accept, NULL};
  N.ctx = net_ctx_create(N.l, &h, NULL, flags);
  loop_set_post(N.l, test_net_post, N.ctx);
  net_ctx_set_tls(N.ctx, net_tls_server_ctx(cert_path, key_path, err, sizeof err));
  CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  CHECK_EQ_INT(net_adopt(N.ctx, sv[1], NULL), 0);
  CHECK(N.c != NULL && N.c->net.tls != NULL);
  *cctx = SSL_CTX_new(TLS_client_method());
  SSL *cl = SSL_new(*cctx);
  SSL_set_fd(cl, sv[0]);
  SSL_set_connect_state(cl);
  SSL_set_msg_callback(cl, on_record);
  for (int i = 0; i < 2000 && SSL_do_handshake(cl) != 1; i++) n_step();
  CHECK(SSL_is_init_finished(cl));
  CHECK_EQ_INT(SSL_write(cl, "ping", 4), 4);
  for (int i = 0; i < 2000 && N.c->rx < 4; i++) n_step();
  CHECK(N.c->rx == 4);
  size_t got = 0;
  for (int i = 0; i < 5; i++) { /* the session tickets */
    n_step();
    client_read(cl, buf, cap, &got);
  }
  CHECK(got == 0);
  return cl;
}

static void n_teardown(SSL *cl, SSL_CTX *cctx, int sv[2]) {
  SSL_free(cl);
  SSL_CTX_free(cctx);
  close(sv[0]);
  net_conn_release(&N.c->net);
  free(N.c);
  net_ctx_destroy(N.ctx);
  loop_destroy(N.l);
}

static void net_tls_mode(int flags) {
  int sv[2];
  SSL_CTX *cctx;
  size_t cap = 4 * 1024 * 1024, got = 0;
  uint8_t *buf = malloc(cap), *want = malloc(cap);
  SSL *cl = n_setup(flags, sv, &cctx, buf, cap);
  /* One iteration's output: 100 small writes with a broadcast range among them, then a
   * write of 3 MiB (more than the socket takes), more small writes behind it, and the
   * end of the stream. */
  N.records = 0;
  size_t wn = 0;
  net_conn *c = &N.c->net;
  for (int i = 0; i < 100; i++) {
    char m[16];
    int len = snprintf(m, sizeof m, "msg %03d;", i);
    CHECK_EQ_INT(net_write(c, m, (size_t)len), NET_WRITTEN);
    memcpy(want + wn, m, (size_t)len);
    wn += (size_t)len;
    if (i == 49) {
      uint32_t off;
      CHECK_EQ_INT(net_bcast_append(N.ctx, "BROADCAST;", 10, &off), 0);
      CHECK_EQ_INT(net_bcast_add(c, off, 10), NET_WRITTEN);
      memcpy(want + wn, "BROADCAST;", 10);
      wn += 10;
    }
  }
  size_t big = 3 * 1024 * 1024;
  uint8_t *b = want + wn;
  for (size_t i = 0; i < big; i++) b[i] = (uint8_t)(i * 31 + (i >> 12));
  int r = net_write(c, b, big);
  CHECK(r == NET_WRITTEN || r == NET_BUFFERED);
  wn += big;
  net_flush_queued(N.ctx);
  CHECK(net_buffered(c) > 0); /* the socket did not take 3 MiB: backpressure */
  CHECK_EQ_INT(net_write(c, "tail;", 5), NET_BUFFERED);
  memcpy(want + wn, "tail;", 5);
  wn += 5;
  net_shutdown_write(c);
  CHECK_EQ_INT(net_write(c, "late", 4), -EPIPE);
  int done = 0;
  for (int i = 0; i < 20000 && !done; i++) {
    n_step();
    done = client_read(cl, buf, cap, &got);
  }
  CHECK_EQ_INT(done, 1); /* the close_notify came last, after every byte */
  CHECK(got == wn && memcmp(buf, want, wn) == 0);
  /* One record for the 100 writes and the broadcast, 192 full ones for 3 MiB, one for
   * the tail, the close_notify: one record per write would be 100 more. */
  size_t full = (big + 16383) / 16384;
  CHECK(N.records >= (int)full + 2 && N.records <= (int)full + 6);
  if (N.records > (int)full + 6) fprintf(stderr, "  %d records for %zu full ones\n", N.records, full);
  free(buf);
  free(want);
  n_teardown(cl, cctx, sv);
}

/* No memory for a TLS connection's backlog: the connection fails alone (on_end with
 * -ENOMEM from the post phase), the peer sees the stream cut, nothing leaks. */
static void test_net_tls_alloc_failure(void) {
  int sv[2];
  SSL_CTX *cctx;
  size_t cap = 4 * 1024 * 1024, got = 0;
  uint8_t *buf = malloc(cap);
  SSL *cl = n_setup(NET_CTX_URING, sv, &cctx, buf, cap);
  net_conn *c = &N.c->net;
  CHECK_EQ_INT(net_write(c, "first;", 6), NET_WRITTEN);
  memset(buf, 'x', cap);
  net_fail_allocs(0, 1000);
  CHECK_EQ_INT(net_write(c, buf, 3 * 1024 * 1024), -ENOMEM); /* its rest had no backlog */
  net_fail_allocs(0, 0);
  CHECK_EQ_INT(net_write(c, "late", 4), -EPIPE);
  for (int i = 0; i < 2000 && !N.c->ended; i++) n_step();
  CHECK_EQ_INT(N.c->ended, -ENOMEM);
  int done = 0;
  for (int i = 0; i < 200 && !done; i++) done = client_read(cl, buf, cap, &got);
  CHECK(done != 1); /* no close_notify: a cut stream, not a complete one */
  free(buf);
  n_teardown(cl, cctx, sv);
}

static void test_net_tls_batched_uring(void) { net_tls_mode(NET_CTX_URING); }
static void test_net_tls_batched_plain(void) { net_tls_mode(0); }

int main(void) {
  signal(SIGPIPE, SIG_IGN); /* the client alerts a server that cut the stream (and closed) */
  if (make_cert() < 0) {
    fprintf(stderr, "cannot make a test certificate\n");
    return 1;
  }
  RUN(test_session);
  RUN(test_refusals);
  RUN(test_bad_files);
  RUN(test_sni_names);
  RUN(test_sni_select);
  RUN(test_client_verify);
  RUN(test_client_crl);
  RUN(test_net_tls_batched_uring);
  RUN(test_net_tls_batched_plain);
  RUN(test_net_tls_alloc_failure);
  unlink(cert_path);
  unlink(key_path);
  return test_report();
}
