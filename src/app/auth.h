/* app/auth.h — wsio-server's JWT check at the handshake (--jwt-*; docs/security.md):
 * the key loaded once at start, a WebSocket route upgrade hook for the raw routes
 * (/echo, /broadcast, /whoami: Authorization: Bearer or ?token=, 401 when refused; the
 * claims kept in the connection's user data for its handlers) and a Socket.IO
 * middleware on every namespace (auth.token of CONNECT, else the handshake's
 * Authorization: Bearer, else its ?token=; refused with CONNECT_ERROR
 * {"message":"unauthorized"} as a Node middleware would; the claims become the
 * socket's data).
 * Off (every hook lets everything through) until auth_configure loads a key. */
#ifndef WSIO_APP_AUTH_H
#define WSIO_APP_AUTH_H

#include <stdint.h>

#include "wsio.h"

typedef struct auth_config {
  const char *secret;      /* --jwt-secret (HS256) */
  const char *secret_file; /* --jwt-secret-file (HS256; one trailing newline dropped) */
  const char *public_key;  /* --jwt-public-key FILE (RS256 or ES256, by the key's type) */
  uint32_t leeway_s;       /* --jwt-leeway */
  const char *audience, *issuer;
} auth_config;

/* Loads the key when the config names one (more than one source is an error).
 * Returns 0 (off or loaded) or -1 with a reason in why (never the secret). */
int auth_configure(const auth_config *cfg, char *why, size_t cap);
int auth_enabled(void);
void auth_free(void);

/* The wsio_ws_handlers.upgrade hook for raw WebSocket routes: verifies the token. */
int auth_ws_upgrade(const wsio_request *req, void *user_data, const char **reason, void *route_user);
/* The same for a route whose handlers read the claims (auth_ws_claims): it keeps them
 * in a block of their own size, its pointer in the connection's user data. Give the
 * route user_data_size = auth_ws_user_data_size() (0 when off) and
 * release = auth_ws_release. User data is allocated with every connection of the app
 * at the largest route's size: a pointer, not the claims, costs the others 8 bytes. */
int auth_ws_upgrade_keep(const wsio_request *req, void *user_data, const char **reason, void *route_user);
size_t auth_ws_user_data_size(void);
void auth_ws_release(void *user_data, void *route_user);
/* The claims (JSON text, borrowed for the connection's life) its token carried; NULL
 * when off, on a route that does not keep them, or out of memory. */
const char *auth_ws_claims(wsio_conn *c, size_t *len);

/* Installs the middleware on every namespace of io (wsio_sio_use: before the
 * namespaces' own). No-op when off. */
int auth_sio_attach(wsio_sio *io);

/* Handshakes refused for their token since start (wsio_refusals_total{reason="jwt"}). */
uint64_t auth_refusals(void);

#endif
