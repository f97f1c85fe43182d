/* net/tls.h — TLS sessions of net connections, over memory BIOs (OpenSSL 3).
 *
 * Owns: SSL_CTX and SSL objects and the bytes between them and net. Must not touch
 * sockets: net.c reads ciphertext, feeds it here, gathers a connection's plaintext of
 * a loop iteration and encrypts it with one net_tls_write in its flush, and sends what
 * comes out through its ordinary batched write path, so TLS connections keep the
 * one-syscall-per-iteration writes of plain ones and pay one record per iteration,
 * not one per message. Must not know
 * HTTP: what a session decrypts is handed to net_handlers.on_data like plain bytes.
 *
 * Why memory BIOs and not a socket BIO or kernel TLS: a socket BIO would write once per
 * SSL_write (a syscall per message, outside the batch); kernel TLS would keep the batch
 * but needs the tls module, the handshake still in user space, and a per-connection
 * crypto state in the kernel. Memory BIOs keep everything net already does. */
#ifndef WSIO_NET_TLS_H
#define WSIO_NET_TLS_H

#include <stddef.h>
#include <stdint.h>

struct ssl_st;
struct ssl_ctx_st;

/* A server context from a PEM certificate chain and key: TLS 1.2+, OpenSSL's default
 * ciphers, no compression, no renegotiation, ALPN http/1.1, idle buffers released.
 * NULL with the reason in err when the files are missing or do not match. */
struct ssl_ctx_st *net_tls_server_ctx(const char *cert_file, const char *key_file, char *err, size_t cap);
void net_tls_ctx_free(struct ssl_ctx_st *ctx);

/* Certificates chosen by the server name a client asks for (SNI): list is
 * "HOST:CERT:KEY" entries separated by commas (CERT is what lies between the first and
 * the last colon); HOST a DNS name or "*.example.com" (one more label). Each gets a
 * context of its own, freed with ctx; a name not listed gets ctx's certificate, and
 * the last entry for a name wins. 0, or -1 with the reason in err (ctx unchanged in
 * what it serves, but it may hold the entries before the bad one: free it). */
int net_tls_server_add_names(struct ssl_ctx_st *ctx, const char *list, char *err, size_t cap);

/* Mutual TLS: clients must present a certificate signed by one of the CAs in ca_file
 * (PEM, one or more), or with optional, may present none (one that is sent is still
 * verified). A client without one (required) or with one that does not verify fails
 * the handshake. crl_file (PEM, NULL: none): revocation lists, one from each CA of
 * ca_file, none expired; a revoked certificate fails the handshake. Applies to ctx and
 * every name net_tls_server_add_names gave it: call after it. 0, or -1 with the
 * reason (naming the file) in err: then free ctx. */
int net_tls_server_verify_clients(struct ssl_ctx_st *ctx, const char *ca_file, const char *crl_file, int optional,
                                  char *err, size_t cap);

/* The verified client certificate's subject as an RFC 2253 one-line name
 * ("CN=device-7,O=Acme", the last RDN first; bytes outside printable ASCII escaped as
 * \XX), NUL-terminated in buf: its length; 0 when the session has no verified
 * client certificate (none asked for or none sent); -ENOBUFS when cap is too small. */
int net_tls_peer_subject(struct ssl_st *s, char *buf, size_t cap);

/* Optional: debug-level news of the context's sessions, one line each: the server name
 * a client asked for (SNI) and the certificate it got, and why a handshake failed
 * (OpenSSL's reason). Call after net_tls_server_add_names. */
typedef void (*net_tls_log_fn)(const char *msg, void *user);
void net_tls_set_log(struct ssl_ctx_st *ctx, net_tls_log_fn fn, void *user);

/* A session in server mode over two memory BIOs; NULL when out of memory. */
struct ssl_st *net_tls_session(struct ssl_ctx_st *ctx);
void net_tls_session_free(struct ssl_st *s);
/* Ciphertext read from the socket: 0, or -ENOMEM. */
int net_tls_feed(struct ssl_st *s, const void *p, size_t n);
/* Plaintext decrypted from what was fed (the handshake advances on the way): > 0 bytes,
 * 0 when more ciphertext is needed, -EPIPE once the peer sent close_notify, -EPROTO
 * when the session failed (a bad handshake or record). */
int net_tls_read(struct ssl_st *s, uint8_t *buf, size_t cap);
/* Encrypts plaintext into the session's output: 0, or -EPROTO/-ENOMEM. */
int net_tls_write(struct ssl_st *s, const void *p, size_t n);
/* Queues a close_notify alert in the output. */
void net_tls_close_notify(struct ssl_st *s);
/* Ciphertext waiting to go to the socket (handshake records, alerts, encrypted
 * writes): its length and *p; net_tls_out_done once it has been copied or sent. */
size_t net_tls_out(struct ssl_st *s, const uint8_t **p);
void net_tls_out_done(struct ssl_st *s);
/* An idle session gives back its BIOs' buffers (called from net_trim's sweep). */
void net_tls_trim(struct ssl_st *s);
/* Whether the handshake completed (failures before it count as handshake failures). */
int net_tls_established(struct ssl_st *s);

/* ---- the client role ---------------------------------------------------------------
 * A client context: TLS 1.2+, ALPN http/1.1, and the server's certificate verified
 * against ca_file (PEM, one or more CAs) or, when ca_file is NULL, the system's store
 * (OpenSSL's default paths). insecure = 1 turns verification off (a test server with a
 * self-signed certificate): the session is still encrypted, but anyone on the path can
 * impersonate the server. NULL with the reason in err when ca_file cannot be loaded. */
struct ssl_ctx_st *net_tls_client_ctx(const char *ca_file, int insecure, char *err, size_t cap);
/* Gives a client context a certificate to present when the server asks for one (mutual
 * TLS): cert_file a PEM chain (this side's certificate first), key_file its PEM private
 * key, unencrypted (no passphrase is ever asked for). Returns 0, or -1 with the reason,
 * naming the file, in err: unreadable, not PEM, an encrypted key, a key that does not
 * match the certificate. On -1 the context may hold part of it: free it. */
int net_tls_client_cert(struct ssl_ctx_st *ctx, const char *cert_file, const char *key_file, char *err, size_t cap);

/* A session in client mode for host (a DNS name or an IP literal, without brackets):
 * SNI carries a DNS name (never an address, RFC 6066 3), and the certificate must name
 * host (subjectAltName DNS with wildcards as RFC 6125, or an IP entry for an address)
 * unless the context is insecure. The session holds its own reference to ctx. The
 * ClientHello is produced by the first net_tls_write (or net_tls_handshake): plaintext
 * written before the handshake completes is kept and encrypted once it does, so the
 * caller writes its request at once and net sends it at the right time. NULL when out
 * of memory. */
struct ssl_st *net_tls_client_session(struct ssl_ctx_st *ctx, const char *host);
/* Drives the handshake without data (the ClientHello, for a client session): 0, or
 * -EPROTO when it failed. Its records wait in net_tls_out. */
int net_tls_handshake(struct ssl_st *s);
/* Why a client session failed, one sentence (the certificate check's verdict when it
 * was that: "certificate verify failed: unable to get local issuer certificate", or a
 * host name mismatch); "" when nothing failed. Valid until the session is freed. */
const char *net_tls_error(struct ssl_st *s);
/* 1 when the failure was the certificate check (untrusted, expired, wrong host). */
int net_tls_verify_failed(struct ssl_st *s);
/* 1 when the server ended the handshake with an alert about this side's certificate:
 * it wanted one and got none (TLS 1.3's "certificate required"), or refused the one it
 * got (unknown CA, bad, expired, revoked). A TLS 1.2 server that wants a certificate
 * and gets none says only "handshake failure": not counted. */
int net_tls_cert_refused(struct ssl_st *s);
/* One line about an established session, for traces: protocol version, cipher, ALPN,
 * and the peer certificate's subject and issuer with the verification verdict
 * ("TLSv1.3 TLS_AES_128_GCM_SHA256, ALPN http/1.1, certificate CN=localhost issued by
 * CN=test CA, verified"). Returns buf. */
const char *net_tls_describe(struct ssl_st *s, char *buf, size_t cap);

#endif
