/* app/auth.c — wsio-server's JWT check at the handshake (see auth.h). It only joins
 * edge/jwt.c (the verification, pure) to the public hooks: a route upgrade hook and a
 * Socket.IO middleware. Must not log a token or a secret: only edge_jwt_strerror's
 * reason and the client's address. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/auth.h"
#include "app/log.h"
#include "edge/jwt.h"

static edge_jwt_key *key;
static edge_jwt_opts vopts;
static char *audience, *issuer;
/* Shared by every thread's loop (--threads): the key and options are set before the
 * threads start and only read after; the count is atomic (one per refusal, not per
 * message, so the contention is nil). */
static _Atomic uint64_t refused;

int auth_enabled(void) { return key != NULL; }
uint64_t auth_refusals(void) { return atomic_load_explicit(&refused, memory_order_relaxed); }

void auth_free(void) {
  edge_jwt_key_free(key);
  key = NULL;
  free(audience);
  free(issuer);
  audience = issuer = NULL;
}

/* The secret file's bytes, one trailing newline dropped (echo adds one). */
static int load_secret_file(const char *path, char *why, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(why, cap, "cannot read --jwt-secret-file %s: %s", path, strerror(errno));
    return -1;
  }
  char buf[4096];
  size_t n = fread(buf, 1, sizeof(buf), f);
  int big = n == sizeof(buf);
  fclose(f);
  if (big) {
    snprintf(why, cap, "--jwt-secret-file %s is over 4 KiB", path);
    return -1;
  }
  if (n && buf[n - 1] == '\n') n--;
  if (n && buf[n - 1] == '\r') n--;
  int r = edge_jwt_key_hs256(buf, n, &key);
  memset(buf, 0, sizeof(buf)); /* the secret does not outlive the key's own copy */
  if (r < 0) snprintf(why, cap, "--jwt-secret-file %s: %s", path, edge_jwt_strerror(r));
  return r < 0 ? -1 : 0;
}

int auth_configure(const auth_config *cfg, char *why, size_t cap) {
  int sources = !!cfg->secret + !!cfg->secret_file + !!cfg->public_key;
  if (sources == 0) return 0;
  if (sources > 1) {
    snprintf(why, cap, "give only one of --jwt-secret, --jwt-secret-file and --jwt-public-key");
    return -1;
  }
  int r = 0;
  if (cfg->secret) {
    r = edge_jwt_key_hs256(cfg->secret, strlen(cfg->secret), &key);
    if (r < 0) snprintf(why, cap, "--jwt-secret: %s", edge_jwt_strerror(r));
  } else if (cfg->secret_file) {
    r = load_secret_file(cfg->secret_file, why, cap);
  } else {
    r = edge_jwt_key_load(cfg->public_key, &key);
    if (r < 0)
      snprintf(why, cap, "--jwt-public-key %s: %s", cfg->public_key,
               r == WSIO_ESYS ? strerror(errno) : edge_jwt_strerror(r));
  }
  if (r < 0) return -1;
  if ((cfg->audience && !(audience = strdup(cfg->audience))) || (cfg->issuer && !(issuer = strdup(cfg->issuer)))) {
    auth_free();
    snprintf(why, cap, "out of memory");
    return -1;
  }
  vopts = (edge_jwt_opts){.leeway_s = cfg->leeway_s, .audience = audience, .issuer = issuer};
  log_msg(LOG_INFO, "JWT required at the handshake (%s%s%s%s%s)", edge_jwt_alg_name(edge_jwt_key_alg(key)),
          audience ? ", audience " : "", audience ? audience : "", issuer ? ", issuer " : "", issuer ? issuer : "");
  return 0;
}

/* Verifies; logs why a token was refused (never the token) with the client's address. */
static long verify(const char *tok, size_t len, const char *addr, char *claims, size_t cap) {
  long r = tok ? edge_jwt_verify(key, &vopts, tok, len, (int64_t)time(NULL), claims, cap, NULL) : EDGE_JWT_EMALFORMED;
  if (r >= 0) return r;
  atomic_fetch_add_explicit(&refused, 1, memory_order_relaxed);
  log_msg(LOG_INFO, "handshake from %s refused: %s", addr, tok ? edge_jwt_strerror((int)r) : "no token");
  return r;
}

/* The token of a query string (without its '?'), or NULL. tok points into target. */
static const char *query_token(const char *q, size_t ql, char *target, size_t cap, size_t *tl) {
  const char *tok = NULL;
  int n = q ? snprintf(target, cap, "?%.*s", (int)ql, q) : -1;
  if (n < 0 || (size_t)n >= cap || !edge_query_token(target, (size_t)n, &tok, tl)) return NULL;
  return tok;
}

/* A keeping route's user data: the claims (JSON text: no NUL inside), NUL-ended, in a
 * block of their size. */
typedef struct {
  char *claims;
} kept_claims;

size_t auth_ws_user_data_size(void) { return key ? sizeof(kept_claims) : 0; }

void auth_ws_release(void *user_data, void *route_user) {
  (void)route_user;
  kept_claims *k = user_data;
  if (k) free(k->claims);
}

const char *auth_ws_claims(wsio_conn *c, size_t *len) {
  const kept_claims *k = key ? wsio_conn_user_data(c) : NULL;
  if (!k || !k->claims) return NULL;
  if (len) *len = strlen(k->claims);
  return k->claims;
}

static int ws_check(const wsio_request *req, kept_claims *keep, const char **reason) {
  if (!key) return 0;
  const char *tok = NULL;
  size_t tl = 0, hl = 0, ql = 0;
  char target[EDGE_JWT_MAX_LEN + 64], addr[WSIO_ADDRSTRLEN] = "?", claims[EDGE_JWT_CLAIMS_MAX];
  const char *h = wsio_request_header(req, "authorization", &hl);
  /* Browsers cannot set headers on a WebSocket: the token may be in the query. */
  if (!h || !edge_bearer_token(h, hl, &tok, &tl)) {
    const char *q = wsio_request_query(req, &ql);
    tok = query_token(q, ql, target, sizeof(target), &tl);
  }
  wsio_request_remote_address(req, addr, sizeof(addr));
  long n = verify(tok, tl, addr, claims, sizeof(claims));
  if (n < 0) {
    *reason = "unauthorized";
    return 401;
  }
  if (keep && (keep->claims = malloc((size_t)n + 1))) /* (out of memory: not kept, never cut) */
    memcpy(keep->claims, claims, (size_t)n + 1);
  return 0;
}

int auth_ws_upgrade(const wsio_request *req, void *user_data, const char **reason, void *route_user) {
  (void)user_data, (void)route_user;
  return ws_check(req, NULL, reason);
}

int auth_ws_upgrade_keep(const wsio_request *req, void *user_data, const char **reason, void *route_user) {
  (void)route_user;
  return ws_check(req, user_data, reason);
}

/* Node's io.use((socket, next) => ... next(new Error("unauthorized"))). The claims
 * become the socket's data (socket.data in Node), for the app's handlers. */
static void sio_check(wsio_sio_socket *s, wsio_sio_pending next, void *user) {
  (void)user;
  size_t al = 0;
  const char *auth = wsio_sio_socket_auth(s, &al);
  json_error_t e;
  json_t *a = json_loadb(auth, al, 0, &e);
  const char *tok = json_string_value(json_object_get(a, "token"));
  size_t tl = tok ? json_string_length(json_object_get(a, "token")) : 0;
  char target[EDGE_JWT_MAX_LEN + 64];
  const char *h = tok ? NULL : wsio_sio_socket_authorization(s);
  if (h && !edge_bearer_token(h, strlen(h), &tok, &tl)) tok = NULL;
  if (!tok) { /* a browser page may have put it in the query instead */
    const char *q = wsio_sio_socket_query(s);
    tok = query_token(q, q ? strlen(q) : 0, target, sizeof(target), &tl);
  }
  char addr[WSIO_ADDRSTRLEN] = "?", claims[EDGE_JWT_CLAIMS_MAX];
  wsio_sio_socket_remote_address(s, addr, sizeof(addr));
  long r = verify(tok, tl, addr, claims, sizeof(claims));
  json_decref(a);
  if (r < 0) {
    wsio_sio_next(next, "unauthorized", NULL);
    return;
  }
  wsio_sio_socket_set_data(s, claims, (size_t)r);
  wsio_sio_next(next, NULL, NULL);
}

int auth_sio_attach(wsio_sio *io) { return key ? wsio_sio_use(io, sio_check, NULL) : 0; }
