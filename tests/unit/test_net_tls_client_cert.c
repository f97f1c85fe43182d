/* tests/unit/test_net_tls_client_cert.c — net/tls.c's client certificates (mutual TLS,
 * as a Redis with tls-auth-clients asks for): net_tls_client_cert loads a certificate
 * and its key or says why not, naming the file (unreadable, not PEM, an encrypted key,
 * a key of another certificate); against a server that requires a client certificate
 * signed by its CA, the one loaded is presented and accepted, while none, or one from
 * another CA, ends the session with net_tls_cert_refused set (and a failed check of
 * the server's own certificate does not set it). Both sides over memory BIOs. */
#include "test.h"
#include "net/tls.h"
#include "tls_certs.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void path_of(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

/* A P-256 certificate for CN=cn, for localhost, signed by (issuer, issuer_key), or
 * self-signed (a CA) when issuer is NULL; its key in *key_out (the caller frees both). */
static X509 *make_cert(const char *cn, X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY **key_out) {
  static long serial = 1;
  return test_tls_cert(cn, serial++, issuer, issuer_key, issuer ? NID_subject_alt_name : NID_basic_constraints,
                       issuer ? "DNS:localhost" : "critical,CA:TRUE", key_out);
}

static int write_cert(const char *name, X509 *x) {
  char p[128];
  path_of(p, sizeof p, name);
  FILE *f = fopen(p, "w");
  int ok = f && PEM_write_X509(f, x);
  if (f) fclose(f);
  return ok ? 0 : -1;
}

static int write_key(const char *name, EVP_PKEY *k, const char *passphrase) {
  char p[128];
  path_of(p, sizeof p, name);
  FILE *f = fopen(p, "w");
  int ok = f && (passphrase ? PEM_write_PKCS8PrivateKey(f, k, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)passphrase)
                            : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL));
  if (f) fclose(f);
  return ok ? 0 : -1;
}

/* The files: ca.pem (the CA of server and client), server.pem/.key, client.pem/.key,
 * other.key (a key of no certificate here), enc.key (client.key under a passphrase),
 * stranger.pem/.key (self-signed: a client certificate from no CA the server knows). */
static int make_files(void) {
  snprintf(dir, sizeof dir, "/tmp/wsio-tlscc-XXXXXX");
  if (!mkdtemp(dir)) return -1;
  EVP_PKEY *cak, *sk, *ck, *ok, *xk;
  X509 *ca = make_cert("test CA", NULL, NULL, &cak);
  if (!ca) return -1;
  X509 *srv = make_cert("localhost", ca, cak, &sk), *cli = make_cert("wsio node", ca, cak, &ck);
  X509 *other = make_cert("other", ca, cak, &ok), *stranger = make_cert("stranger", NULL, NULL, &xk);
  if (!srv || !cli || !other || !stranger) return -1;
  int rc = write_cert("ca.pem", ca) | write_cert("server.pem", srv) | write_key("server.key", sk, NULL) |
           write_cert("client.pem", cli) | write_key("client.key", ck, NULL) | write_key("other.key", ok, NULL) |
           write_key("enc.key", ck, "secret") | write_cert("stranger.pem", stranger) |
           write_key("stranger.key", xk, NULL);
  X509 *xs[] = {ca, srv, cli, other, stranger};
  EVP_PKEY *ks[] = {cak, sk, ck, ok, xk};
  for (int i = 0; i < 5; i++) {
    X509_free(xs[i]);
    EVP_PKEY_free(ks[i]);
  }
  return rc;
}

static void remove_files(void) {
  static const char *names[] = {"ca.pem", "server.pem", "server.key", "client.pem", "client.key",
                                "other.key", "enc.key", "stranger.pem", "stranger.key"};
  char p[128];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    path_of(p, sizeof p, names[i]);
    unlink(p);
  }
  rmdir(dir);
}

/* Loads cert and key (names in dir) into a fresh client context trusting ca.pem.
 * Returns net_tls_client_cert's result with its reason in err; *out the context. */
static int load(const char *cert, const char *key, char *err, size_t cap, SSL_CTX **out) {
  char ca[128], c[128], k[128];
  path_of(ca, sizeof ca, "ca.pem");
  path_of(c, sizeof c, cert);
  path_of(k, sizeof k, key);
  err[0] = 0;
  SSL_CTX *ctx = net_tls_client_ctx(ca, 0, err, cap);
  CHECK(ctx != NULL);
  int r = net_tls_client_cert(ctx, c, k, err, cap);
  if (out) *out = ctx;
  else net_tls_ctx_free(ctx);
  return r;
}

/* A server (server.pem) that requires a client certificate signed by ca.pem. */
static SSL_CTX *strict_server(void) {
  char c[128], k[128], ca[128], err[256];
  path_of(c, sizeof c, "server.pem");
  path_of(k, sizeof k, "server.key");
  path_of(ca, sizeof ca, "ca.pem");
  SSL_CTX *s = net_tls_server_ctx(c, k, err, sizeof err);
  CHECK(s != NULL);
  CHECK_EQ_INT(SSL_CTX_load_verify_locations(s, ca, NULL), 1);
  SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  return s;
}

/* Moves records both ways until nothing moves or a side fails. The client's request
 * (written before the handshake) reaches the server only when it accepted the client.
 * Returns the client's last read result; the server's received plaintext in s_in and
 * its verdict on the client's certificate in *peer (the subject's CN, or ""). */
static int session(SSL_CTX *sctx, SSL_CTX *cctx, char *s_in, size_t s_cap, char *peer, size_t peer_cap,
                   struct ssl_st **out) {
  struct ssl_st *s = net_tls_session(sctx), *c = net_tls_client_session(cctx, "localhost");
  CHECK(s && c);
  s_in[0] = peer[0] = 0;
  CHECK_EQ_INT(net_tls_write(c, "PING\r\n", 6), 0);
  int rc = 0;
  for (int round = 0; round < 16; round++) {
    int moved = 0, sr;
    const uint8_t *p;
    uint8_t buf[1024];
    size_t n = net_tls_out(c, &p);
    if (n) moved = 1, (void)net_tls_feed(s, p, n);
    net_tls_out_done(c);
    while ((sr = net_tls_read(s, buf, sizeof buf - 1)) > 0)
      if (strlen(s_in) + (size_t)sr < s_cap) strncat(s_in, (char *)buf, (size_t)sr);
    n = net_tls_out(s, &p); /* the server's alert too, when it refused the client */
    if (n) moved = 1, (void)net_tls_feed(c, p, n);
    net_tls_out_done(s);
    while ((rc = net_tls_read(c, buf, sizeof buf)) > 0) {
    }
    if (!moved || rc < 0) break;
  }
  X509 *pc = SSL_get1_peer_certificate(s);
  if (pc) X509_NAME_get_text_by_NID(X509_get_subject_name(pc), NID_commonName, peer, (int)peer_cap);
  X509_free(pc);
  net_tls_session_free(s);
  *out = c;
  return rc;
}

static void test_load_errors(void) {
  char err[512];
  CHECK_EQ_INT(load("client.pem", "client.key", err, sizeof err, NULL), 0);

  CHECK_EQ_INT(load("client.pem", "other.key", err, sizeof err, NULL), -1);
  CHECK(strstr(err, "the client key ") && strstr(err, "/other.key does not match the client certificate ") &&
        strstr(err, "/client.pem"));

  /* Encrypted: refused at once, never a passphrase prompt on the terminal. */
  CHECK_EQ_INT(load("client.pem", "enc.key", err, sizeof err, NULL), -1);
  CHECK(strstr(err, "/enc.key is encrypted") != NULL);

  CHECK_EQ_INT(load("missing.pem", "client.key", err, sizeof err, NULL), -1);
  CHECK(strstr(err, "cannot read the client certificate ") && strstr(err, "/missing.pem: No such file"));
  CHECK_EQ_INT(load("client.pem", "missing.key", err, sizeof err, NULL), -1);
  CHECK(strstr(err, "cannot read the client key ") && strstr(err, "/missing.key: No such file"));

  /* A key where the certificate should be: not a certificate (PEM). */
  CHECK_EQ_INT(load("client.key", "client.key", err, sizeof err, NULL), -1);
  CHECK(strstr(err, "cannot load the client certificate (PEM) ") && strstr(err, "/client.key"));
  CHECK_EQ_INT(load("client.pem", "ca.pem", err, sizeof err, NULL), -1);
  CHECK(strstr(err, "cannot load the client key (PEM) ") && strstr(err, "/ca.pem"));
}

static void test_presented(void) {
  char err[512], s_in[64], peer[64];
  SSL_CTX *sctx = strict_server(), *cctx;
  struct ssl_st *c;
  CHECK_EQ_INT(load("client.pem", "client.key", err, sizeof err, &cctx), 0);
  CHECK_EQ_INT(session(sctx, cctx, s_in, sizeof s_in, peer, sizeof peer, &c), 0);
  CHECK_STR(peer, "wsio node"); /* the server got the client's certificate and checked it */
  CHECK_STR(s_in, "PING\r\n");
  CHECK_STR(net_tls_error(c), "");
  CHECK_EQ_INT(net_tls_cert_refused(c), 0);
  net_tls_session_free(c);
  net_tls_ctx_free(cctx);
  net_tls_ctx_free(sctx);
}

static void test_refused(void) {
  char err[512], s_in[64], peer[64], ca[128];
  SSL_CTX *sctx = strict_server();
  struct ssl_st *c;
  path_of(ca, sizeof ca, "ca.pem");

  /* None: TLS 1.3's "certificate required". */
  SSL_CTX *none = net_tls_client_ctx(ca, 0, err, sizeof err);
  CHECK_EQ_INT(session(sctx, none, s_in, sizeof s_in, peer, sizeof peer, &c), -EPROTO);
  CHECK_STR(s_in, "");
  CHECK(strstr(net_tls_error(c), "certificate required") != NULL);
  CHECK_EQ_INT(net_tls_cert_refused(c), 1);
  CHECK_EQ_INT(net_tls_verify_failed(c), 0);
  net_tls_session_free(c);
  net_tls_ctx_free(none);

  /* None, over TLS 1.2: the server's alert is the catch-all handshake_failure, read as
   * a refusal because the server had asked for a certificate. */
  SSL_CTX *none12 = net_tls_client_ctx(ca, 0, err, sizeof err);
  SSL_CTX_set_max_proto_version(none12, TLS1_2_VERSION);
  CHECK_EQ_INT(session(sctx, none12, s_in, sizeof s_in, peer, sizeof peer, &c), -EPROTO);
  CHECK(strstr(net_tls_error(c), "handshake failure") != NULL);
  CHECK_EQ_INT(net_tls_cert_refused(c), 1);
  CHECK_EQ_INT(net_tls_verify_failed(c), 0);
  net_tls_session_free(c);
  /* The same alert from a server that asked for nothing (no cipher in common) is not
   * about a certificate. */
  char sc[128], sk[128];
  path_of(sc, sizeof sc, "server.pem");
  path_of(sk, sizeof sk, "server.key");
  SSL_CTX *picky = net_tls_server_ctx(sc, sk, err, sizeof err);
  CHECK(picky != NULL);
  SSL_CTX_set_max_proto_version(picky, TLS1_2_VERSION);
  CHECK_EQ_INT(SSL_CTX_set_cipher_list(picky, "ECDHE-ECDSA-AES256-GCM-SHA384"), 1);
  CHECK_EQ_INT(SSL_CTX_set_cipher_list(none12, "ECDHE-ECDSA-AES128-GCM-SHA256"), 1);
  CHECK_EQ_INT(session(picky, none12, s_in, sizeof s_in, peer, sizeof peer, &c), -EPROTO);
  CHECK(strstr(net_tls_error(c), "handshake failure") != NULL);
  CHECK_EQ_INT(net_tls_cert_refused(c), 0);
  net_tls_session_free(c);
  net_tls_ctx_free(picky);
  net_tls_ctx_free(none12);

  /* One from a CA the server does not know. */
  SSL_CTX *stranger;
  CHECK_EQ_INT(load("stranger.pem", "stranger.key", err, sizeof err, &stranger), 0);
  CHECK_EQ_INT(session(sctx, stranger, s_in, sizeof s_in, peer, sizeof peer, &c), -EPROTO);
  CHECK_STR(s_in, "");
  CHECK_EQ_INT(net_tls_cert_refused(c), 1);
  net_tls_session_free(c);
  net_tls_ctx_free(stranger);

  /* The client refusing the server's certificate is not the server refusing ours. */
  char cp[128], kp[128], sp[128];
  path_of(sp, sizeof sp, "stranger.pem"); /* trusts only a CA that signed nothing here */
  SSL_CTX *untrusting = net_tls_client_ctx(sp, 0, err, sizeof err);
  CHECK(untrusting != NULL);
  path_of(cp, sizeof cp, "client.pem");
  path_of(kp, sizeof kp, "client.key");
  CHECK_EQ_INT(net_tls_client_cert(untrusting, cp, kp, err, sizeof err), 0);
  CHECK_EQ_INT(session(sctx, untrusting, s_in, sizeof s_in, peer, sizeof peer, &c), -EPROTO);
  CHECK_EQ_INT(net_tls_verify_failed(c), 1);
  CHECK_EQ_INT(net_tls_cert_refused(c), 0);
  net_tls_session_free(c);
  net_tls_ctx_free(untrusting);
  net_tls_ctx_free(sctx);
}

int main(void) {
  if (make_files() != 0) {
    fprintf(stderr, "cannot make the test certificates\n");
    return 1;
  }
  RUN(test_load_errors);
  RUN(test_presented);
  RUN(test_refused);
  remove_files();
  return test_report();
}
