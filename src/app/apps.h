/* app/apps.h — the applications wsio-server can run (--app NAME). Each registers its
 * routes on the wsio_app; the built-in /echo, /broadcast and /healthz are registered
 * by main for every app. */
#ifndef WSIO_APP_APPS_H
#define WSIO_APP_APPS_H

#include "wsio.h"

typedef struct server_config {
  const char *cors_origin; /* --cors-origin; NULL = the app's default */
  unsigned ping_interval_ms, ping_timeout_ms; /* Engine.IO heartbeat (0 = app default) */
  const char *redis_url;        /* --redis; NULL: a single node */
  const char *redis_key_prefix; /* --redis-key-prefix; NULL: "socket.io" */
  unsigned redis_request_timeout_ms; /* --redis-request-timeout; 0: 5000 */
  size_t max_polling_buffer; /* --max-polling-buffer (0: no cap) */
  int redis_sharded;                 /* --redis-adapter sharded */
  int redis_streams;                 /* --redis-adapter streams */
  int redis_subscription_mode;       /* --redis-subscription-mode (WSIO_REDIS_SUBSCRIPTION_*) */
  const char *redis_stream_name;     /* --redis-stream-name; NULL: "socket.io" */
  const char *redis_session_key_prefix; /* --redis-session-key-prefix; NULL: "sio:session:" */
  unsigned redis_stream_max_len;     /* --redis-stream-maxlen; 0: 10000 */
  const char *redis_tls_ca;          /* --redis-tls-ca; NULL: the system's CAs */
  int redis_tls_insecure;            /* --redis-tls-insecure */
  const char *redis_tls_cert;        /* --redis-tls-cert; NULL: no client certificate */
  const char *redis_tls_key;         /* --redis-tls-key (with --redis-tls-cert) */
} server_config;

/* A parsed redis[s]://[user:pass@]host:port[/db] (pointers into buf; tls for rediss). */
typedef struct cluster_url {
  char buf[512];
  const char *host, *user, *password;
  int port, db, tls;
} cluster_url;
/* Returns 0, or -1 when the URL is not one of that form. */
int cluster_parse_url(const char *url, cluster_url *out);
/* Joins io to the cluster when cfg names a Redis (app/cluster.c); 0 when it does not.
 * Returns -1 (logged) on a bad URL or option. */
int app_cluster_attach(wsio_sio *io, const server_config *cfg);

/* The first event argument as a non-empty JSON string, unescaped into out (cap bytes).
 * Returns 0, or -1 when it is missing, not a string, empty or longer than cap - 1. */
int app_first_string(const wsio_sio_args *a, char *out, size_t cap);

/* The chat demo: Socket.IO at /socket.io/ with join/message/typing (default app). */
int app_chat_setup(wsio_app *app, const server_config *cfg);
/* What protocol conformance runs expect: raw Engine.IO echo at /engine.io/ and a
 * Socket.IO server at /socket.io/ with short heartbeats. */
int app_conformance_setup(wsio_app *app, const server_config *cfg);
/* The benchmark app, identical to bench/peers' Node version: echo, join, bcast. */
int app_bench_setup(wsio_app *app, const server_config *cfg);
/* The app of tests/sio (tests/sio/TEST_APP.md): every server API feature. */
int app_test_setup(wsio_app *app, const server_config *cfg);

#endif
