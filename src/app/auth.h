/* app/auth.h — wsio-server's JWT check at the handshake (--jwt-*; docs/security.md):
 * the key loaded once at start, a WebSocket route upgrade hook for the raw routes
 * (/echo, /broadcast: Authorization: Bearer or ?token=, 401 when refused) and a
 * Socket.IO middleware (auth.token of CONNECT, or ?token= of the handshake, refused
 * with CONNECT_ERROR {"message":"unauthorized"} as a Node middleware would).
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

/* The wsio_ws_handlers.upgrade hook for raw WebSocket routes. */
int auth_ws_upgrade(const wsio_request *req, void *user_data, const char **reason, void *route_user);

/* Installs the middleware on nsp (first: before the app's own). No-op when off. */
int auth_sio_install(wsio_sio_nsp *nsp);

/* Handshakes refused for their token since start (wsio_refusals_total{reason="jwt"}). */
uint64_t auth_refusals(void);

#endif
