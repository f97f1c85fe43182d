/* client/eio_client.h — one Engine.IO v4 client session (src/client's internal
 * interface between eio_client.c and sio_client.c).
 *
 * An eio_client is one session attempt: the open (polling handshake or a
 * WebSocket whose first message is the open packet), the polling GET/POST loop,
 * the upgrade probe, heartbeats and the ping timeout. It never reconnects: its
 * owner (sio_client.c) makes a new one. */
#ifndef WSIO_CLIENT_EIO_CLIENT_H
#define WSIO_CLIENT_EIO_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "wsio.h"
#include "wsio/client.h"

typedef struct eio_client eio_client;

typedef struct {
  const char *host;        /* resolved off the loop; the TLS server name */
  const char *port;        /* decimal */
  const char *host_header; /* host[:port] as in the URL */
  const char *path;        /* "/socket.io/" (ends with '/') */
  const char *const *headers; /* extra "Name: value", NULL-terminated, or NULL
                                 (already checked: no CR/LF, a colon) */
  wsio_sio_transports transports;
  /* https: polling over TLS and the WebSocket as wss://, the certificate
   * checked as wsio_ws_client_options says (ca_file NULL: the system's store;
   * insecure 1: not at all), and the client certificate and key presented
   * when both are set (NULL: none). */
  int tls, insecure;
  const char *ca_file;
  const char *cert_file, *key_file;
  uint32_t timeout_ms;
  size_t max_payload;
  void *user;
  /* The open packet arrived (sid borrowed). */
  void (*on_open)(eio_client *e, const char *sid, void *user);
  void (*on_upgrade)(eio_client *e, void *user);
  /* A message packet: text (without the "4") or binary. */
  void (*on_message)(eio_client *e, const uint8_t *p, size_t n, int binary,
                     void *user);
  /* The session ended (never after eio_client_close): reason as the JS
   * client's; err 0 or WSIO_E* with detail and the HTTP status. */
  void (*on_close)(eio_client *e, const char *reason, int err, int status,
                   const char *detail, void *user);
  /* After eio_client_close: the close packet left (or could not) and the
   * session is being freed (called from the loop, outside other callbacks). */
  void (*on_released)(eio_client *e, void *user);
  /* Optional: a TLS handshake completed (net_tls_describe's line). */
  void (*on_tls)(eio_client *e, const char *info, void *user);
  void (*on_packet)(eio_client *e, wsio_frame_dir dir, const char *transport,
                    int type, int binary, const uint8_t *p, size_t n,
                    void *user);
} eio_client_config;

/* Starts a session on app's loop (config strings copied). NULL with *err. */
eio_client *eio_client_open(wsio_app *app, const eio_client_config *cfg,
                            int *err);
/* Queues one message packet (text: the data after "4"; binary: raw bytes).
 * Returns 0, WSIO_ECLOSED (not open), WSIO_ENOMEM. */
int eio_client_send(eio_client *e, const void *p, size_t n, int binary);
/* 1 when a packet sent now goes out at once (open, not upgrading, and for
 * polling no POST in flight; for WebSocket nothing buffered). */
int eio_client_writable(const eio_client *e);
int eio_client_is_open(const eio_client *e);
const char *eio_client_transport(const eio_client *e);
/* Sends the close packet when open, then ends the session without further
 * callbacks but on_released and on_packet (with notify_release; without it,
 * none at all, so the owner may go first); the record is freed from the loop. */
void eio_client_close(eio_client *e, int notify_release);
/* No more callbacks for a session closed with notify_release (its owner goes). */
void eio_client_forget(eio_client *e);

#endif
