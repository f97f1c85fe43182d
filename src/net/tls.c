/* net/tls.c — TLS sessions over memory BIOs (see tls.h). */
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* A certificate chosen by the client's server name (SNI). */
typedef struct tls_name {
  char *host; /* "chat.example.com" or "*.example.com" (one label), lower case */
  SSL_CTX *ctx;
} tls_name;

/* What a server context carries besides OpenSSL's own state. */
typedef struct tls_extra {
  net_tls_log_fn log;
  void *log_user;
  tls_name *names; /* net_tls_server_add_names; the default serves every other name */
  size_t nnames;
} tls_extra;

/* What a client session carries (SSL app data; server sessions carry none, so they
 * cost nothing more): the plaintext written before the handshake completed, and why
 * the session failed, for the client's error report. */
typedef struct tls_client {
  uint8_t *pending;
  size_t len, cap;
  int verify_failed;
  int cert_refused; /* the server's alert was about this side's certificate */
  int cert_asked;   /* the server asked for a certificate and this side had none */
  char err[256];
} tls_client;

/* A busy session's memory BIO keeps up to a full record and a bit (no malloc per
 * read or write); past that it is replaced once empty, and the sweep frees it. */
#define TLS_BIO_KEEP (20 * 1024)

static const unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

static int on_alpn(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                   unsigned inlen, void *arg) {
  (void)s;
  (void)arg;
  unsigned char *o = NULL;
  /* A client offering only protocols we do not speak (h2 alone) gets no ALPN answer
   * and may go on with HTTP/1.1 or give up: its choice, as with Node's https. */
  if (SSL_select_next_proto(&o, outlen, alpn_http11, sizeof(alpn_http11), in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

/* Whether a certificate's host entry covers the requested name: exactly (ignoring case),
 * or "*.example.com" for one more label ("a.example.com", not "example.com" nor
 * "a.b.example.com", as RFC 6125 6.4.3 has certificates' wildcards match). */
static int name_matches(const char *host, const char *name) {
  if (host[0] != '*') return strcasecmp(host, name) == 0;
  const char *dot = strchr(name, '.');
  return dot && dot != name && strcasecmp(host + 1, dot) == 0;
}

static int on_servername(SSL *s, int *alert, void *arg) {
  (void)alert;
  (void)arg;
  tls_extra *x = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
  const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
  if (!x || !name) return SSL_TLSEXT_ERR_OK;
  /* The last entry given for a name wins; none: the default certificate. */
  const tls_name *hit = NULL;
  for (size_t i = x->nnames; i-- > 0 && !hit;)
    if (name_matches(x->names[i].host, name)) hit = &x->names[i];
  if (hit && !SSL_set_SSL_CTX(s, hit->ctx)) hit = NULL;
  if (x->log) {
    char msg[640];
    snprintf(msg, sizeof(msg), "TLS client hello for server name %.255s: %s%.255s", name,
             hit ? "the certificate of --tls-sni " : "the default certificate", hit ? hit->host : "");
    x->log(msg, x->log_user);
  }
  return SSL_TLSEXT_ERR_OK; /* an unknown name gets the default certificate, as nginx's */
}

static void last_error(char *err, size_t cap, const char *what, const char *file) {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  snprintf(err, cap, "%s %s: %s", what, file, e ? buf : "failed");
  ERR_clear_error();
}

/* An encrypted key would have OpenSSL ask for its passphrase on the terminal; a
 * server asks nobody: the load fails at once and says why. */
static int no_passphrase(char *buf, int size, int rwflag, void *user) {
  (void)buf;
  (void)size;
  (void)rwflag;
  *(int *)user = 1;
  return -1;
}

/* What no_passphrase's refusal tells the operator (what: "key", "client key"). */
static void encrypted_key(char *err, size_t cap, const char *what, const char *key_file) {
  snprintf(err, cap, "the %s %s is encrypted: no passphrase can be given, decrypt it (openssl pkey -in KEY -out PLAIN)",
           what, key_file);
}

SSL_CTX *net_tls_server_ctx(const char *cert_file, const char *key_file, char *err, size_t cap) {
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  tls_extra *x = calloc(1, sizeof(*x));
  if (!ctx || !x) {
    snprintf(err, cap, "out of memory");
    SSL_CTX_free(ctx);
    free(x);
    return NULL;
  }
  SSL_CTX_set_app_data(ctx, x);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  /* Idle connections give their 16 KiB+ record buffers back (see net_tls_session). */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  /* A read's records are taken from the read BIO in one copy, not two per record (its
   * header, then its body): the BIO holds what one recv brought, never more. */
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
  SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
  /* (A service started by systemd would otherwise wait for a passphrase forever.) */
  int asked = 0, ok = 0;
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, &asked);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
    last_error(err, cap, "cannot load the certificate", cert_file);
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
    if (asked) {
      encrypted_key(err, cap, "key", key_file);
      ERR_clear_error();
    } else {
      last_error(err, cap, "cannot load the key", key_file);
    }
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    last_error(err, cap, "the key does not match the certificate", cert_file);
  } else {
    ok = 1;
  }
  SSL_CTX_set_default_passwd_cb(ctx, NULL);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
  if (ok) return ctx;
  net_tls_ctx_free(ctx);
  return NULL;
}

void net_tls_ctx_free(SSL_CTX *ctx) {
  if (!ctx) return;
  tls_extra *x = SSL_CTX_get_app_data(ctx);
  for (size_t i = 0; x && i < x->nnames; i++) {
    free(x->names[i].host);
    net_tls_ctx_free(x->names[i].ctx);
  }
  if (x) free(x->names);
  free(x);
  SSL_CTX_set_app_data(ctx, NULL);
  SSL_CTX_free(ctx); /* sessions still open hold their own reference */
}

void net_tls_set_log(SSL_CTX *ctx, net_tls_log_fn fn, void *user) {
  tls_extra *x = SSL_CTX_get_app_data(ctx);
  if (!x) return;
  x->log = fn;
  x->log_user = user;
  /* A session moved to a name's context logs its handshake failures through it. */
  for (size_t i = 0; i < x->nnames; i++) net_tls_set_log(x->names[i].ctx, fn, user);
}

/* One "HOST:CERT:KEY" entry of n bytes: a context for it appended to x's names. */
static int add_name(tls_extra *x, const char *e, size_t n, char *err, size_t cap) {
  const char *c1 = memchr(e, ':', n), *c2 = NULL;
  for (const char *p = e + n; p > e && !c2; p--)
    if (p[-1] == ':') c2 = p - 1;
  if (!c1 || c2 == c1 || c1 == e || c2 == e + n - 1 || c2 == c1 + 1) {
    snprintf(err, cap, "--tls-sni entry '%.*s' is not HOST:CERT:KEY", (int)(n > 200 ? 200 : n), e);
    return -1;
  }
  char *host = strndup(e, (size_t)(c1 - e)), *cert = strndup(c1 + 1, (size_t)(c2 - c1 - 1)),
       *key = strndup(c2 + 1, (size_t)(e + n - c2 - 1));
  tls_name *grown = realloc(x->names, (x->nnames + 1) * sizeof(*grown));
  int ok = host && cert && key && grown;
  if (grown) x->names = grown;
  if (!ok) snprintf(err, cap, "out of memory");
  for (char *h = host; ok && *h; h++) {
    /* a DNS name, or "*." and one: the client's name is compared as it is */
    int bad = !((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') || *h == '-' ||
                *h == '.' || (*h == '*' && h == host && h[1] == '.' && h[2]));
    if (bad) {
      snprintf(err, cap, "--tls-sni host '%.100s' is not a DNS name or *.domain", host);
      ok = 0;
    }
    if (*h >= 'A' && *h <= 'Z') *h = (char)(*h + 32);
  }
  SSL_CTX *ctx = ok ? net_tls_server_ctx(cert, key, err, cap) : NULL;
  if (ctx) x->names[x->nnames++] = (tls_name){host, ctx};
  else free(host);
  free(cert);
  free(key);
  return ctx ? 0 : -1;
}

int net_tls_server_add_names(SSL_CTX *ctx, const char *list, char *err, size_t cap) {
  tls_extra *x = SSL_CTX_get_app_data(ctx);
  if (!x) return -1;
  for (const char *p = list; *p;) {
    size_t n = strcspn(p, ",");
    while (n && (*p == ' ' || *p == '\t')) p++, n--;
    size_t m = n;
    while (m && (p[m - 1] == ' ' || p[m - 1] == '\t')) m--;
    if (m && add_name(x, p, m, err, cap) < 0) return -1;
    p += n;
    if (*p == ',') p++;
  }
  return 0;
}

static int readable(const char *what, const char *path, char *err, size_t cap);

/* Writes name as an RFC 2253 one-line name, NUL-terminated, into buf: its length,
 * -ENOBUFS (cap too small; buf "") or -ENOMEM. XN_FLAG_RFC2253 escapes control and
 * non-ASCII bytes (ESC_CTRL, ESC_MSB): the text is safe for a log line or a header. */
static int name_text(const X509_NAME *name, char *buf, size_t cap) {
  if (cap) buf[0] = '\0';
  BIO *b = BIO_new(BIO_s_mem());
  if (!b) return -ENOMEM;
  int n = X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253);
  char *d = NULL;
  long len = BIO_get_mem_data(b, &d);
  int r = n < 0 || len < 0 ? -ENOMEM : (size_t)len >= cap ? -ENOBUFS : (int)len;
  if (r >= 0) {
    memcpy(buf, d, (size_t)len);
    buf[len] = '\0';
  }
  BIO_free(b);
  return r;
}

/* Adds the revocation lists in crl_file (PEM, one or more) to ctx's store and has every
 * certificate of a client's chain checked against them (X509_V_FLAG_CRL_CHECK_ALL, as
 * nginx's ssl_crl and Node's `crl`). OpenSSL refuses a certificate whose issuer has no
 * list, and every certificate of an issuer whose list has expired; so each CA of
 * `names` must have one, and none may be past its next update (or before its last), or nothing loads (the
 * reason in err): a list that would refuse every client is an error at start, not a
 * silent outage. A list that expires later fails handshakes ("CRL has expired"):
 * reload a fresh one (SIGHUP) before its next update. */
static int load_crls(SSL_CTX *ctx, const char *crl_file, const STACK_OF(X509_NAME) *names, char *err,
                     size_t cap) {
  BIO *in = BIO_new_file(crl_file, "r");
  if (!in) {
    last_error(err, cap, "cannot read the CRL file", crl_file);
    return -1;
  }
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  char who[512];
  int ok = 0, count = 0;
  X509_CRL *crl;
  while ((crl = PEM_read_bio_X509_CRL(in, NULL, NULL, NULL))) {
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    int known = 0;
    for (int i = 0; i < sk_X509_NAME_num(names); i++)
      known |= X509_NAME_cmp(X509_CRL_get_issuer(crl), sk_X509_NAME_value(names, i)) == 0;
    name_text(X509_CRL_get_issuer(crl), who, sizeof(who));
    if (!known) {
      snprintf(err, cap, "the CRL of %s in %s: its issuer is not one of the client CAs", who, crl_file);
    } else if (X509_cmp_current_time(X509_CRL_get0_lastUpdate(crl)) > 0) {
      snprintf(err, cap, "the CRL of %s in %s is not valid yet (its last update is in the future: clocks apart?): every certificate it covers would be refused",
               who, crl_file);
    } else if (next && X509_cmp_current_time(next) < 0) {
      snprintf(err, cap, "the CRL of %s in %s has expired (its next update has passed): every certificate it covers would be refused",
               who, crl_file);
    } else if (X509_STORE_add_crl(store, crl) != 1) {
      last_error(err, cap, "cannot add a CRL of", crl_file);
    } else {
      count++;
      X509_CRL_free(crl);
      continue;
    }
    X509_CRL_free(crl);
    goto out;
  }
  /* The loop ends at the end of the file (PEM_R_NO_START_LINE) or at a broken list. */
  unsigned long e = ERR_peek_last_error();
  if (count == 0 || (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))) {
    last_error(err, cap, count ? "a broken CRL in" : "no CRL in", crl_file);
    goto out;
  }
  STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store); /* its CAs and lists */
  for (int i = 0; i < sk_X509_NAME_num(names); i++) {
    int found = 0;
    for (int j = 0; j < sk_X509_OBJECT_num(objs) && !found; j++) {
      X509_CRL *c = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, j));
      found = c && X509_NAME_cmp(X509_CRL_get_issuer(c), sk_X509_NAME_value(names, i)) == 0;
    }
    if (!found) {
      name_text(sk_X509_NAME_value(names, i), who, sizeof(who));
      snprintf(err, cap, "the client CA %s has no CRL in %s: every certificate it signed would be refused", who,
               crl_file);
      goto out;
    }
  }
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  ok = 1;
out:
  BIO_free(in);
  ERR_clear_error();
  return ok ? 0 : -1;
}

/* One context's share of net_tls_server_verify_clients. */
static int verify_clients(SSL_CTX *ctx, const char *ca_file, const char *crl_file, int optional, char *err,
                          size_t cap) {
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
    last_error(err, cap, "cannot load the client CA certificates", ca_file);
    return -1;
  }
  /* The CertificateRequest names the acceptable CAs, so a client holding several
   * certificates (a browser, curl with a keychain) picks one these would verify. */
  STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
  if (!names) {
    last_error(err, cap, "no CA certificate in", ca_file);
    return -1;
  }
  if (crl_file && load_crls(ctx, crl_file, names, err, cap) < 0) {
    sk_X509_NAME_pop_free(names, X509_NAME_free);
    return -1;
  }
  SSL_CTX_set_client_CA_list(ctx, names);
  /* Resuming a session whose client was verified needs a session id context (OpenSSL
   * refuses the resumption otherwise); a reload's new context has new ticket keys, so
   * a session from before it is never resumed under the new trust. */
  static const unsigned char sid[] = "wsio";
  SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (optional ? 0 : SSL_VERIFY_FAIL_IF_NO_PEER_CERT), NULL);
  return 0;
}

int net_tls_server_verify_clients(SSL_CTX *ctx, const char *ca_file, const char *crl_file, int optional, char *err,
                                  size_t cap) {
  tls_extra *x = SSL_CTX_get_app_data(ctx);
  if (!x || readable("client CA file", ca_file, err, cap) < 0 || (crl_file && readable("CRL file", crl_file, err, cap) < 0))
    return -1;
  /* Every name's context too: after SNI picked one (SSL_set_SSL_CTX), the session keeps
   * the default context's verify mode but checks the chain against the new context's
   * store, so each must hold the same CAs. */
  if (verify_clients(ctx, ca_file, crl_file, optional, err, cap) < 0) return -1;
  for (size_t i = 0; i < x->nnames; i++)
    if (verify_clients(x->names[i].ctx, ca_file, crl_file, optional, err, cap) < 0) return -1;
  return 0;
}

int net_tls_peer_subject(SSL *s, char *buf, size_t cap) {
  X509 *peer = s && !SSL_get_app_data(s) ? SSL_get0_peer_certificate(s) : NULL;
  if (cap) buf[0] = '\0';
  /* (A sent certificate that failed verification fails the handshake: checked anyway.) */
  if (!peer || SSL_get_verify_result(s) != X509_V_OK) return 0;
  int r = name_text(X509_get_subject_name(peer), buf, cap);
  ERR_clear_error();
  return r;
}

SSL *net_tls_session(SSL_CTX *ctx) {
  SSL *s = SSL_new(ctx);
  BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
  if (!s || !rb || !wb) {
    SSL_free(s);
    BIO_free(rb);
    BIO_free(wb);
    return NULL;
  }
  SSL_set_bio(s, rb, wb);
  SSL_set_accept_state(s);
  return s;
}

void net_tls_session_free(SSL *s) {
  if (!s) return;
  tls_client *tc = SSL_get_app_data(s);
  if (tc) free(tc->pending);
  free(tc);
  SSL_free(s);
}

int net_tls_feed(SSL *s, const void *p, size_t n) {
  if (n > INT32_MAX) return -ENOMEM;
  return BIO_write(SSL_get_rbio(s), p, (int)n) == (int)n ? 0 : -ENOMEM;
}

/* A memory BIO keeps its largest allocation: one that grew past `keep` is swapped for a
 * fresh one once empty (busy sessions keep a small one, no malloc per write; the
 * sweep's net_tls_trim frees even that on idle ones). */
static void shrink(SSL *s, BIO *b, int is_read, size_t keep) {
  BUF_MEM *m = NULL;
  BIO_get_mem_ptr(b, &m);
  if (!m || m->max <= keep || BIO_ctrl_pending(b)) return;
  BIO *nb = BIO_new(BIO_s_mem());
  if (!nb) return;
  if (is_read) SSL_set0_rbio(s, nb);
  else SSL_set0_wbio(s, nb);
}

static int write_all(SSL *s, const uint8_t *q, size_t n);

/* A client's plaintext written during the handshake goes out as soon as it completed. */
static int flush_pending(SSL *s) {
  tls_client *tc = SSL_get_app_data(s);
  if (!tc || !tc->len || !SSL_is_init_finished(s)) return 0;
  int r = write_all(s, tc->pending, tc->len);
  free(tc->pending);
  tc->pending = NULL;
  tc->len = tc->cap = 0;
  return r;
}

/* Records why a client session failed (the certificate check's verdict first: OpenSSL's
 * own error then only says "certificate verify failed"). */
static void client_failed(SSL *s, int e) {
  tls_client *tc = SSL_get_app_data(s);
  if (!tc || tc->err[0]) return;
  long v = SSL_get_verify_result(s);
  unsigned long code = ERR_peek_last_error();
  if (v != X509_V_OK && !SSL_is_init_finished(s)) {
    tc->verify_failed = 1;
    snprintf(tc->err, sizeof tc->err, "TLS certificate verify failed: %s", X509_verify_cert_error_string(v));
  } else if (code) {
    char reason[200];
    ERR_error_string_n(code, reason, sizeof reason);
    /* The server asked for a client certificate and got none (TLS 1.3's own alert), or
     * refused the one it got: alerts a server sends about its peer's certificate. */
    int r = ERR_GET_LIB(code) == ERR_LIB_SSL ? ERR_GET_REASON(code) : 0;
    /* TLS 1.2 has no "certificate required": a server that asked for one and got none
     * sends the catch-all handshake_failure, which means that only after it asked. */
    tc->cert_refused = (r == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE && tc->cert_asked) ||
                       r == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED || r == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
                       r == SSL_R_TLSV1_ALERT_UNKNOWN_CA || r == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN ||
                       r == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED || r == SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED ||
                       r == SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE;
    snprintf(tc->err, sizeof tc->err, "TLS %s failed: %s", SSL_is_init_finished(s) ? "session" : "handshake",
             reason);
  } else {
    snprintf(tc->err, sizeof tc->err, "TLS %s failed (%s)", SSL_is_init_finished(s) ? "session" : "handshake",
             e == SSL_ERROR_ZERO_RETURN ? "closed by the server" : "connection error");
  }
}

int net_tls_read(SSL *s, uint8_t *buf, size_t cap) {
  ERR_clear_error();
  int r = SSL_read(s, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
  int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(s, r); /* before any other call */
  if (flush_pending(s) < 0) {
    client_failed(s, SSL_ERROR_SSL);
    return -EPROTO;
  }
  if (r > 0) return r;
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    shrink(s, SSL_get_rbio(s), 1, TLS_BIO_KEEP);
    return 0;
  }
  if (e != SSL_ERROR_ZERO_RETURN) client_failed(s, e);
  tls_extra *x = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
  if (e != SSL_ERROR_ZERO_RETURN && x && x->log && !SSL_is_init_finished(s)) {
    char reason[256], msg[400];
    unsigned long code = ERR_peek_last_error();
    ERR_error_string_n(code, reason, sizeof(reason));
    /* A refused client certificate: OpenSSL's error says only "certificate verify
     * failed"; the check's verdict says why ("unable to get local issuer certificate"). */
    long v = SSL_get_verify_result(s);
    snprintf(msg, sizeof(msg), "TLS handshake failed: %s%s%s", code ? reason : "connection error",
             v != X509_V_OK ? ": client certificate: " : "", v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
    x->log(msg, x->log_user);
  }
  ERR_clear_error();
  return e == SSL_ERROR_ZERO_RETURN ? -EPIPE : -EPROTO;
}

static int write_all(SSL *s, const uint8_t *q, size_t n) {
  while (n) {
    size_t w = 0;
    ERR_clear_error();
    /* Memory BIOs take everything: a write never waits. */
    if (SSL_write_ex(s, q, n, &w) != 1) {
      ERR_clear_error();
      return -EPROTO;
    }
    q += w;
    n -= w;
  }
  return 0;
}

int net_tls_write(SSL *s, const void *p, size_t n) {
  tls_client *tc = SSL_get_app_data(s);
  if (!tc || SSL_is_init_finished(s)) return write_all(s, p, n);
  /* A client before the end of its handshake: keep the bytes (SSL_write would only
   * answer "want read"), and make sure the ClientHello is on its way. */
  if (tc->len + n > tc->cap) {
    size_t ncap = tc->cap ? tc->cap : 1024;
    while (ncap < tc->len + n) ncap *= 2;
    uint8_t *np = realloc(tc->pending, ncap);
    if (!np) return -ENOMEM;
    tc->pending = np;
    tc->cap = ncap;
  }
  memcpy(tc->pending + tc->len, p, n);
  tc->len += n;
  return net_tls_handshake(s);
}

int net_tls_handshake(SSL *s) {
  if (SSL_is_init_finished(s)) return 0;
  ERR_clear_error();
  int r = SSL_do_handshake(s);
  int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(s, r);
  if (r == 1 || e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  client_failed(s, e);
  ERR_clear_error();
  return -EPROTO;
}

void net_tls_close_notify(SSL *s) {
  ERR_clear_error();
  if (SSL_is_init_finished(s)) SSL_shutdown(s);
  ERR_clear_error();
}

size_t net_tls_out(SSL *s, const uint8_t **p) {
  char *d = NULL;
  long n = BIO_get_mem_data(SSL_get_wbio(s), &d);
  *p = (const uint8_t *)d;
  return n > 0 ? (size_t)n : 0;
}

void net_tls_out_done(SSL *s) {
  BIO *b = SSL_get_wbio(s);
  (void)BIO_reset(b);
  shrink(s, b, 0, TLS_BIO_KEEP);
}

void net_tls_trim(SSL *s) {
  shrink(s, SSL_get_rbio(s), 1, 0);
  shrink(s, SSL_get_wbio(s), 0, 0);
}

int net_tls_established(SSL *s) { return SSL_is_init_finished(s); }

/* ---- the client role ----------------------------------------------------------------- */

/* OpenSSL calls this when the server asks for a client certificate and the session
 * has none to send (one set with net_tls_client_cert is sent without a call). */
static int cert_asked(SSL *s, X509 **x509, EVP_PKEY **pkey) {
  (void)x509;
  (void)pkey;
  tls_client *tc = SSL_get_app_data(s);
  if (tc) tc->cert_asked = 1;
  return 0; /* none: the handshake goes on without one */
}

SSL_CTX *net_tls_client_ctx(const char *ca_file, int insecure, char *err, size_t cap) {
  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  tls_extra *x = calloc(1, sizeof(*x));
  if (!ctx || !x) {
    snprintf(err, cap, "out of memory");
    SSL_CTX_free(ctx);
    free(x);
    return NULL;
  }
  SSL_CTX_set_app_data(ctx, x);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  /* The WebSocket upgrade is HTTP/1.1 (RFC 6455 4.1); a server that would pick h2
   * for us sees that we offer nothing else. (Note: 0 means success here.) */
  if (SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof(alpn_http11)) != 0) {
    snprintf(err, cap, "out of memory");
    net_tls_ctx_free(ctx);
    return NULL;
  }
  SSL_CTX_set_client_cert_cb(ctx, cert_asked);
  SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
  if (insecure) return ctx;
  if (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1 : SSL_CTX_set_default_verify_paths(ctx) != 1) {
    last_error(err, cap, "cannot load the CA certificates", ca_file ? ca_file : "(system store)");
    net_tls_ctx_free(ctx);
    return NULL;
  }
  return ctx;
}

/* Opens path for reading to report the system's reason ("No such file or directory")
 * rather than OpenSSL's. Returns 0, or -1 with err filled. */
static int readable(const char *what, const char *path, char *err, size_t cap) {
  FILE *f = fopen(path, "r");
  if (f) {
    fclose(f);
    return 0;
  }
  snprintf(err, cap, "cannot read the %s %s: %s", what, path, strerror(errno));
  return -1;
}

int net_tls_client_cert(SSL_CTX *ctx, const char *cert_file, const char *key_file, char *err, size_t cap) {
  if (readable("client certificate", cert_file, err, cap) < 0 || readable("client key", key_file, err, cap) < 0)
    return -1;
  ERR_clear_error();
  int asked = 0, rc = -1;
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, &asked);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
    last_error(err, cap, "cannot load the client certificate (PEM)", cert_file);
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
    /* OpenSSL checks the key against the certificate already loaded here. */
    unsigned long e = ERR_peek_last_error();
    int mismatch = ERR_GET_LIB(e) == ERR_LIB_X509 &&
                   (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH || ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);
    if (asked || mismatch) {
      if (asked)
        encrypted_key(err, cap, "client key", key_file);
      else
        snprintf(err, cap, "the client key %s does not match the client certificate %s", key_file, cert_file);
      ERR_clear_error();
    } else {
      last_error(err, cap, "cannot load the client key (PEM)", key_file);
    }
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    snprintf(err, cap, "the client key %s does not match the client certificate %s", key_file, cert_file);
  } else {
    rc = 0;
  }
  SSL_CTX_set_default_passwd_cb(ctx, NULL);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
  return rc;
}

SSL *net_tls_client_session(SSL_CTX *ctx, const char *host) {
  SSL *s = net_tls_session(ctx);
  tls_client *tc = calloc(1, sizeof(*tc));
  if (!s || !tc) {
    SSL_free(s);
    free(tc);
    return NULL;
  }
  SSL_set_app_data(s, tc);
  SSL_set_connect_state(s);
  unsigned char a[16];
  int is_ip = inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
  int ok = 1;
  /* RFC 6066 3: SNI names a host, never an address. */
  if (!is_ip) ok = SSL_set_tlsext_host_name(s, host) == 1;
  if (ok && SSL_CTX_get_verify_mode(ctx) != SSL_VERIFY_NONE) {
    X509_VERIFY_PARAM *vp = SSL_get0_param(s);
    /* "*.example.com" matches one whole label, never "w*.example.com" (as curl). */
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1 : X509_VERIFY_PARAM_set1_host(vp, host, 0) == 1;
  }
  if (!ok) {
    ERR_clear_error();
    net_tls_session_free(s);
    return NULL;
  }
  return s;
}

const char *net_tls_error(SSL *s) {
  tls_client *tc = s ? SSL_get_app_data(s) : NULL;
  return tc ? tc->err : "";
}

int net_tls_verify_failed(SSL *s) {
  tls_client *tc = s ? SSL_get_app_data(s) : NULL;
  return tc ? tc->verify_failed : 0;
}

int net_tls_cert_refused(SSL *s) {
  tls_client *tc = s ? SSL_get_app_data(s) : NULL;
  return tc ? tc->cert_refused : 0;
}

const char *net_tls_describe(SSL *s, char *buf, size_t cap) {
  const unsigned char *alpn = NULL;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(s, &alpn, &alpn_len);
  char subject[160] = "none", issuer[160] = "";
  X509 *peer = SSL_get1_peer_certificate(s);
  if (peer) {
    X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof subject);
    X509_NAME_oneline(X509_get_issuer_name(peer), issuer, sizeof issuer);
    X509_free(peer);
  }
  long v = SSL_get_verify_result(s);
  const char *verdict = SSL_get_verify_mode(s) == SSL_VERIFY_NONE ? "not verified (insecure)"
                        : v == X509_V_OK                          ? "verified"
                                                                  : X509_verify_cert_error_string(v);
  snprintf(buf, cap, "%s %s, ALPN %.*s, certificate %s%s%s, %s", SSL_get_version(s), SSL_get_cipher_name(s),
           alpn_len ? (int)alpn_len : 4, alpn_len ? (const char *)alpn : "none", subject, *issuer ? " issued by " : "",
           issuer, verdict);
  return buf;
}
