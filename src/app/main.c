/* app/main.c — wsio-server: the standalone server. Reads its options (config file, then
 * WSIO_* environment variables, then the command line: later sources win), sets up
 * logging, registers the built-in endpoints (/echo, /broadcast, /healthz, /metrics),
 * the chosen app and the static files, and runs until SIGINT or SIGTERM completes a
 * graceful drain. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "app/apps.h"
#include "app/auth.h"
#include "app/config.h"
#include "app/log.h"
#include "app/metrics.h"
#include "app/static.h"
#include "edge/forwarded.h"
#include "wsio.h"

#define BROADCAST_TOPIC "broadcast"

#include <sys/stat.h>

#ifndef WSIO_STATIC_DIR
#define WSIO_STATIC_DIR "static"
#endif
#ifndef WSIO_SOURCE_STATIC_DIR
#define WSIO_SOURCE_STATIC_DIR "static"
#endif

/* The default static folder: the installed demo, or the source tree's when this binary
 * runs from a build folder. */
static const char *default_static_dir(void) {
  struct stat sb;
  return stat(WSIO_STATIC_DIR, &sb) == 0 && S_ISDIR(sb.st_mode) ? WSIO_STATIC_DIR : WSIO_SOURCE_STATIC_DIR;
}

/* ---- endpoints ------------------------------------------------------------------- */

static void echo_message(wsio_conn *c, const uint8_t *data, size_t len, wsio_opcode op) {
  wsio_conn_send(c, data, len, op);
}

static void broadcast_open(wsio_conn *c) { wsio_conn_subscribe(c, BROADCAST_TOPIC); }

static void broadcast_message(wsio_conn *c, const uint8_t *data, size_t len, wsio_opcode op) {
  wsio_app_publish(wsio_conn_app(c), BROADCAST_TOPIC, data, len, op);
}

/* /whoami: the claims of the connection's verified token (--jwt-*) as one text message
 * at open ("{}" without a token check), then an echo: how a C handler reads them. */
static void whoami_open(wsio_conn *c) {
  size_t len = 0;
  const char *claims = auth_ws_claims(c, &len);
  if (!claims) claims = "{}", len = 2;
  wsio_conn_send(c, claims, len, WSIO_OP_TEXT);
}

static void healthz(const wsio_request *req, wsio_response *res, void *user) {
  (void)req;
  (void)user;
  wsio_response_header(res, "Cache-Control", "no-store");
  wsio_response_send(res, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

/* ---- options --------------------------------------------------------------------- */

typedef enum { T_LIMIT, T_STR, T_PORT, T_SIZE, T_SECONDS, T_COUNT, T_HEADERS, T_APP, T_LEVEL, T_FORMAT, T_SWITCH, T_ADAPTER, T_THREADS } opt_type;

typedef struct {
  const char *name; /* --name, WSIO_NAME, "name = value" in the config file */
  const char *arg;
  opt_type type;
  const char *def;
  const char *help;
} opt_def;

static const opt_def opts[] = {
    {"host", "ADDR", T_STR, "127.0.0.1", "address to listen on; 0.0.0.0 or :: for all interfaces"},
    {"port", "N", T_PORT, "3000", "TCP port; 0 picks a free one (see the 'listening on' log line)"},
    {"app", "NAME", T_APP, "chat", "chat (the Socket.IO chat demo), conformance, bench or test"},
    {"static", "DIR", T_STR, "the installed demo", "folder served at / (the chat demo page); 'off' to serve none"},
    {"cors-origin", "ORIGIN", T_STR, "*", "CORS for Socket.IO long-polling: *, an exact origin, or true (reflect)"},
    {"allowed-origins", "LIST", T_STR, "any", "browser origins allowed to connect (WebSocket and polling), comma-separated: https://app.example.com, https://*.example.com (subdomains), * (any); others get 403"},
    {"jwt-secret", "SECRET", T_STR, NULL, "require a JWT (HS256 with this secret, 32 bytes or more) at every handshake: Socket.IO auth.token, Authorization: Bearer or ?token=; refused: 401 / CONNECT_ERROR unauthorized"},
    {"jwt-secret-file", "FILE", T_STR, NULL, "the same, the secret read from FILE (kept out of ps and the environment)"},
    {"jwt-public-key", "FILE", T_STR, NULL, "require a JWT signed with the key of this PEM public key: RSA (RS256) or EC P-256 (ES256)"},
    {"jwt-leeway", "S", T_SECONDS, "0", "clock skew allowed on the tokens' exp, nbf and iat"},
    {"jwt-audience", "AUD", T_STR, NULL, "tokens must have this audience in aud"},
    {"jwt-issuer", "ISS", T_STR, NULL, "tokens must have this iss"},
    {"trusted-proxies", "LIST", T_STR, NULL, "proxies (addresses, CIDR blocks: 10.0.0.0/8, ::1) whose --forwarded-header names the client's IP for limits and logs"},
    {"forwarded-header", "NAME", T_STR, "x-forwarded-for", "the header the trusted proxies write: x-forwarded-for or forwarded (RFC 7239)"},
    {"max-connections-per-ip", "N", T_LIMIT, "0", "open connections per client IP (WebSockets and Engine.IO long-polling sessions); over it: 429 (0: no limit)"},
    {"handshakes-per-second", "N", T_LIMIT, "0", "WebSocket and long-polling handshakes per second per client IP (a burst of as many); over it: 429 (0: no limit)"},
    {"messages-per-second", "N", T_LIMIT, "0", "messages received per second per WebSocket connection (a burst of as many; 0: no limit)"},
    {"message-rate-action", "drop|close", T_STR, "drop", "over --messages-per-second: drop the message (counted) or close the connection with 1008"},
    {"max-polling-buffer", "BYTES", T_SIZE, "0", "output a long-polling client may have waiting for its next poll; over it the session is closed and logged (0: no cap)"},
    {"max-message-size", "BYTES", T_SIZE, "1MiB", "largest WebSocket message; over it: close 1009"},
    {"max-backpressure", "BYTES", T_SIZE, "1MiB", "unsent bytes per connection before sends are dropped and it is closed (1008)"},
    {"kernel-send-limit", "BYTES", T_SIZE, "64KiB", "unsent bytes a connection may leave in the kernel (TCP_NOTSENT_LOWAT); beyond, a WebSocket's count toward --max-backpressure (0: the kernel's default)"},
    {"ping-interval", "S", T_SECONDS, "25", "seconds between heartbeats (WebSocket pings, Engine.IO pings); 0: no WebSocket pings"},
    {"ping-timeout", "S", T_SECONDS, "20", "seconds to wait for an answer after a ping"},
    {"max-connections", "N", T_COUNT, "100000", "WebSocket connections before new upgrades get 503"},
    {"handshake-timeout", "S", T_SECONDS, "10", "seconds to receive a complete request head"},
    {"close-timeout", "S", T_SECONDS, "5", "seconds to wait for the peer's close handshake"},
    {"max-header-size", "BYTES", T_SIZE, "8KiB", "request line + headers; over it: 431"},
    {"max-headers", "N", T_HEADERS, "64", "header fields per request (1-256); over it: 431"},
    {"drain-timeout", "S", T_SECONDS, "5", "on SIGTERM/SIGINT, seconds to wait for clients to close (1001)"},
    {"shutdown-timeout", "S", T_SECONDS, NULL, "the same as --drain-timeout"},
    {"deflate", "on|off", T_SWITCH, "off", "permessage-deflate (RFC 7692) compression for WebSocket clients that offer it (a bare --deflate means on)"},
    {"deflate-threshold", "BYTES", T_SIZE, "1KiB", "with --deflate, messages smaller than this are sent uncompressed"},
    {"deflate-client-context-takeover", "on|off", T_SWITCH, "off", "with --deflate, let clients keep their compression context between messages (off: ask them not to, so idle connections keep no inflater memory)"},
    {"deflate-shared-broadcast", "on|off", T_SWITCH, "on", "with --deflate, compress a broadcast (topic publish, Socket.IO room emit) once per window size for every deflate recipient (off: once per recipient, as Node; for measurements)"},
    {"tls-cert", "FILE", T_STR, NULL, "PEM certificate chain: serve https:// and wss:// (TLS 1.2+) on --port; needs --tls-key; SIGHUP reloads it"},
    {"http-port", "N", T_PORT, NULL, "with --tls-cert, also serve plain HTTP on this port of --host (health checks, metrics: every route, unencrypted)"},
    {"tls-key", "FILE", T_STR, NULL, "PEM private key of --tls-cert, unencrypted (no passphrase is asked for); SIGHUP reloads it"},
    {"tls-sni", "HOST:CERT:KEY", T_STR, NULL, "with --tls-cert, serve this certificate to clients asking for HOST (SNI; exact, or *.example.com); repeatable (entries from the config file, WSIO_TLS_SNI (comma-separated) and the command line add up); SIGHUP reloads them"},
    {"tls-client-ca", "FILE", T_STR, NULL, "with --tls-cert, mutual TLS: clients must present a certificate signed by a CA in this PEM file (on every --tls-sni name too); others fail the TLS handshake; SIGHUP reloads it"},
    {"tls-crl", "FILE", T_STR, NULL, "with --tls-client-ca: certificate revocation lists (PEM), one from each client CA; a revoked client certificate fails the TLS handshake; a list past its next update is refused at start (SIGHUP reloads it: renew it before then)"},
    {"tls-client-auth", "require|optional", T_STR, "require", "with --tls-client-ca: require a client certificate, or optional: ask for one, verify it if sent, accept clients that send none"},
    {"threads", "N|auto", T_THREADS, "1", "event-loop threads, one per core with auto: each listens on the port (SO_REUSEPORT: the kernel spreads connections over them; WSIO_THREADS_ACCEPT=shared: one socket they all watch); topics, Socket.IO rooms and broadcasts span them, a long-polling session is served by the thread that made it (no sticky sessions)"},
    {"io-uring", "on|off", T_SWITCH, "on", "batch each loop iteration's socket I/O into one io_uring syscall (where the kernel allows)"},
    {"redis", "URL", T_STR, NULL, "join a cluster through Redis: redis://[user:pass@]host:port[/db], or rediss:// for TLS (Node's @socket.io/redis-adapter protocol)"},
    {"redis-adapter", "KIND", T_ADAPTER, "pubsub", "pubsub, sharded (SPUBLISH/SSUBSCRIBE, Redis 7 or a Redis Cluster) or streams (a Redis stream, as @socket.io/redis-streams-adapter: recovery across nodes)"},
    {"redis-subscription-mode", "MODE", T_STR, "dynamic", "--redis-adapter sharded: dynamic (a channel per public room), static (one per namespace) or dynamic-private (socket rooms too); Node's subscriptionMode"},
    {"redis-stream-name", "NAME", T_STR, "socket.io", "--redis-adapter streams: the stream's key (Node's streamName)"},
    {"redis-stream-maxlen", "N", T_LIMIT, "10000", "--redis-adapter streams: entries kept in the stream, about (XADD MAXLEN ~; Node's maxLen)"},
    {"redis-session-key-prefix", "PREFIX", T_STR, "sio:session:", "--redis-adapter streams: key prefix of the sessions kept for recovery (Node's sessionKeyPrefix)"},
    {"redis-tls-ca", "FILE", T_STR, NULL, "rediss://: PEM CA certificate(s) the Redis server's certificate must be signed by (default: the system's CAs); its host name is checked too"},
    {"redis-tls-cert", "FILE", T_STR, NULL, "rediss://: PEM certificate (chain) this node presents when Redis checks its clients (tls-auth-clients yes, Redis's default); needs --redis-tls-key; read at start and, when the file has changed, again before a reconnection (SIGHUP does not)"},
    {"redis-tls-key", "FILE", T_STR, NULL, "rediss://: PEM private key of --redis-tls-cert, unencrypted; read with it"},
    {"redis-tls-insecure", "on|off", T_SWITCH, "off", "rediss:// without certificate or host name verification (still encrypted; anyone on the path can pose as Redis: for tests only)"},
    {"redis-key-prefix", "PREFIX", T_STR, "socket.io", "channel prefix, as the Node adapter's `key`"},
    {"redis-request-timeout", "S", T_SECONDS, "5", "seconds to wait for other nodes' answers (fetchSockets, allRooms, serverSideEmit acks)"},
    {"log-level", "LEVEL", T_LEVEL, "info", "debug, info, warn, error or off"},
    {"log-format", "FORMAT", T_FORMAT, "text", "text or json (one object per line)"},
    {"log-file", "PATH", T_STR, NULL, "append logs to PATH instead of stderr; SIGHUP reopens it"},
    {"config", "FILE", T_STR, NULL, "read options from FILE (lines 'name = value', # comments)"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

typedef struct {
  wsio_app_options o;
  server_config cfg;
  const char *host, *app, *static_dir, *log_file;
  int port, log_level, log_json;
  int http_port; /* --http-port, -1: none */
  unsigned threads; /* --threads; 0: auto */
  int ping_set;
  int origins_any; /* --allowed-origins holds "*" */
  int client_auth_set; /* --tls-client-auth given (it needs --tls-client-ca) */
  auth_config auth; /* --jwt-* */
  /* Values from the config file and the environment live here (argv's live in argv). */
  char *owned[NOPTS * 2];
  int nowned;
} settings;

static void usage(FILE *f) {
  fprintf(f,
          "usage: wsio-server [options]\n\n"
          "A WebSocket (RFC 6455) and Socket.IO v5 server. Endpoints:\n"
          "  /              the chat demo page (--static), /stats its live numbers\n"
          "  /socket.io/    Socket.IO (Engine.IO v4: long-polling and WebSocket), per --app\n"
          "  /echo          WebSocket: every message is sent back unchanged (same opcode)\n"
          "  /broadcast     WebSocket: every message is sent to every /broadcast connection\n"
          "  /whoami        WebSocket: sends the verified token's claims (--jwt-*) at open, then echoes\n"
          "  /healthz       HTTP 200 \"ok\"\n"
          "  /metrics       Prometheus metrics\n\n"
          "Options (also as environment variables WSIO_<NAME>, e.g. WSIO_PORT=8080, and in a\n"
          "--config file; the command line wins over the environment, which wins over the\n"
          "file). Sizes take KiB/MiB/GiB suffixes; seconds may have decimals.\n");
  for (size_t i = 0; i < NOPTS; i++) {
    char left[48];
    snprintf(left, sizeof(left), "--%s %s", opts[i].name, opts[i].arg);
    fprintf(f, "  %-26s %s", left, opts[i].help);
    if (opts[i].def) fprintf(f, " (default %s)", opts[i].def);
    fputc('\n', f);
  }
  fprintf(f, "  %-26s %s\n  %-26s %s\n", "--help", "show this help and exit", "--version", "print the version and exit");
  fprintf(f, "\nSIGTERM/SIGINT: stop accepting, close every connection with 1001 (Socket.IO\n"
             "clients reconnect elsewhere), wait --drain-timeout, exit 0. SIGHUP: reopen --log-file and reload\n"
             "--tls-cert/--tls-key/--tls-sni/--tls-client-ca/--tls-crl (a file that fails to load keeps the old set).\n");
}

static const opt_def *find_opt(const char *name, size_t len) {
  for (size_t i = 0; i < NOPTS; i++)
    if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) return &opts[i];
  return NULL;
}

/* Applies one option value; returns 0 or prints why (naming option and source) and -1. */
static char *own(settings *st, const char *s, size_t n);

static int apply(settings *st, const opt_def *d, const char *v, const char *source) {
  uint64_t n;
  uint32_t ms;
  const char *want = NULL;
  const char *name = d->name;
  switch (d->type) {
    case T_STR:
      if (!v[0]) want = "a non-empty value";
      else if (strcmp(name, "host") == 0) st->host = v;
      else if (strcmp(name, "static") == 0) st->static_dir = v;
      else if (strcmp(name, "cors-origin") == 0) {
        if (strpbrk(v, "\r\n")) want = "an origin such as https://example.com, * or true";
        st->cfg.cors_origin = v;
      } else if (strcmp(name, "allowed-origins") == 0) {
        const char *why = NULL;
        if (wsio_origins_check(v, &st->origins_any, &why) < 0) want = why;
        else st->o.allowed_origins = v;
      } else if (strcmp(name, "trusted-proxies") == 0) {
        edge_cidrs *c = NULL;
        const char *why = NULL;
        if (edge_cidrs_parse(v, strlen(v), &c, &why) < 0) want = why ? why : "addresses and CIDR blocks";
        edge_cidrs_free(c);
        st->o.trusted_proxies = v;
      } else if (strcmp(name, "forwarded-header") == 0) {
        if (strcasecmp(v, "x-forwarded-for") && strcasecmp(v, "forwarded")) want = "x-forwarded-for or forwarded";
        st->o.forwarded_header = strcasecmp(v, "forwarded") == 0;
      } else if (strcmp(name, "message-rate-action") == 0) {
        if (strcmp(v, "drop") && strcmp(v, "close")) want = "drop or close";
        st->o.messages_over_close = strcmp(v, "close") == 0;
      } else if (strcmp(name, "jwt-secret") == 0) st->auth.secret = v;
      else if (strcmp(name, "jwt-secret-file") == 0) st->auth.secret_file = v;
      else if (strcmp(name, "jwt-public-key") == 0) st->auth.public_key = v;
      else if (strcmp(name, "jwt-audience") == 0) st->auth.audience = v;
      else if (strcmp(name, "jwt-issuer") == 0) st->auth.issuer = v;
      else if (strcmp(name, "log-file") == 0) st->log_file = v;
      else if (strcmp(name, "tls-cert") == 0) st->o.tls_cert_file = v;
      else if (strcmp(name, "tls-key") == 0) st->o.tls_key_file = v;
      else if (strcmp(name, "tls-client-ca") == 0) st->o.tls_client_ca_file = v;
      else if (strcmp(name, "tls-crl") == 0) st->o.tls_crl_file = v;
      else if (strcmp(name, "tls-client-auth") == 0) {
        if (strcmp(v, "require") && strcmp(v, "optional")) want = "require or optional";
        st->o.tls_client_auth = strcmp(v, "optional") == 0 ? WSIO_TLS_CLIENT_AUTH_OPTIONAL : WSIO_TLS_CLIENT_AUTH_REQUIRE;
        st->client_auth_set = 1;
      } else if (strcmp(name, "tls-sni") == 0) { /* repeatable: the entries add up */
        if (!strchr(v, ':')) want = "HOST:CERT:KEY";
        else if (!st->o.tls_sni) st->o.tls_sni = v;
        else {
          size_t a = strlen(st->o.tls_sni), b = strlen(v);
          char *j = malloc(a + b + 2);
          if (j) snprintf(j, a + b + 2, "%s,%s", st->o.tls_sni, v);
          st->o.tls_sni = j ? own(st, j, a + b + 1) : st->o.tls_sni;
          free(j);
        }
      }
      else if (strcmp(name, "redis") == 0) {
        cluster_url u;
        if (cluster_parse_url(v, &u) < 0) want = "a URL redis[s]://[user:pass@]host:port[/db]";
        st->cfg.redis_url = v;
      } else if (strcmp(name, "redis-key-prefix") == 0) st->cfg.redis_key_prefix = v;
      else if (strcmp(name, "redis-stream-name") == 0) st->cfg.redis_stream_name = v;
      else if (strcmp(name, "redis-subscription-mode") == 0) {
        if (strcmp(v, "dynamic") == 0) st->cfg.redis_subscription_mode = WSIO_REDIS_SUBSCRIPTION_DYNAMIC;
        else if (strcmp(v, "static") == 0) st->cfg.redis_subscription_mode = WSIO_REDIS_SUBSCRIPTION_STATIC;
        else if (strcmp(v, "dynamic-private") == 0) st->cfg.redis_subscription_mode = WSIO_REDIS_SUBSCRIPTION_DYNAMIC_PRIVATE;
        else want = "dynamic, static or dynamic-private";
      }
      else if (strcmp(name, "redis-session-key-prefix") == 0) st->cfg.redis_session_key_prefix = v;
      else if (strcmp(name, "redis-tls-ca") == 0) st->cfg.redis_tls_ca = v;
      else if (strcmp(name, "redis-tls-cert") == 0) st->cfg.redis_tls_cert = v;
      else if (strcmp(name, "redis-tls-key") == 0) st->cfg.redis_tls_key = v;
      break;
    case T_ADAPTER:
      if (strcmp(v, "pubsub") != 0 && strcmp(v, "sharded") != 0 && strcmp(v, "streams") != 0) {
        want = "pubsub, sharded or streams";
      } else {
        st->cfg.redis_sharded = strcmp(v, "sharded") == 0;
        st->cfg.redis_streams = strcmp(v, "streams") == 0;
      }
      break;
    case T_THREADS:
      if (strcmp(v, "auto") == 0) st->threads = 0;
      else if (config_parse_uint(v, 256, &n) < 0 || n == 0) want = "a number of threads 1-256 or auto";
      else st->threads = (unsigned)n;
      break;
    case T_LIMIT:
      if (config_parse_uint(v, 1000000000, &n) < 0) want = "a whole number (0: no limit)";
      else if (strcmp(name, "max-connections-per-ip") == 0) st->o.max_connections_per_ip = (unsigned)n;
      else if (strcmp(name, "handshakes-per-second") == 0) st->o.handshakes_per_second = (unsigned)n;
      else if (strcmp(name, "redis-stream-maxlen") == 0) st->cfg.redis_stream_max_len = (unsigned)n;
      else st->o.messages_per_second = (unsigned)n;
      break;
    case T_PORT:
      if (config_parse_uint(v, 65535, &n) < 0) want = "a port 0-65535";
      else if (strcmp(name, "http-port") == 0) st->http_port = (int)n;
      else st->port = (int)n;
      break;
    case T_SIZE:
      if (config_parse_size(v, &n) < 0 ||
          (n == 0 && strcmp(name, "max-polling-buffer") != 0 && strcmp(name, "kernel-send-limit") != 0)) {
        want = "a size such as 65536, 64KiB or 16MiB";
      } else if (strcmp(name, "max-polling-buffer") == 0) {
        st->cfg.max_polling_buffer = n;
      } else if (strcmp(name, "max-message-size") == 0) {
        st->o.max_message_size = n;
      } else if (strcmp(name, "max-backpressure") == 0) {
        st->o.max_backpressure = n;
      } else if (strcmp(name, "kernel-send-limit") == 0) {
        st->o.kernel_send_limit = n;
      } else if (strcmp(name, "deflate-threshold") == 0) {
        st->o.deflate_threshold = n;
      } else {
        st->o.max_header_size = n;
      }
      break;
    case T_SECONDS:
      if (config_parse_seconds(v, &ms) < 0) {
        want = "seconds, such as 25 or 0.5";
        break;
      }
      if (strcmp(name, "ping-interval") == 0) {
        st->o.ping_interval_ms = ms;
        st->cfg.ping_interval_ms = ms ? ms : 25000;
        st->ping_set = 1;
      } else if (strcmp(name, "ping-timeout") == 0) {
        if (!ms) want = "seconds greater than 0";
        st->o.ping_timeout_ms = ms;
        st->cfg.ping_timeout_ms = ms;
      } else if (strcmp(name, "handshake-timeout") == 0) {
        st->o.handshake_timeout_ms = ms;
      } else if (strcmp(name, "jwt-leeway") == 0) {
        st->auth.leeway_s = ms / 1000;
      } else if (strcmp(name, "close-timeout") == 0) {
        st->o.close_timeout_ms = ms;
      } else if (strcmp(name, "redis-request-timeout") == 0) {
        if (!ms) want = "seconds greater than 0";
        st->cfg.redis_request_timeout_ms = ms;
      } else {
        st->o.shutdown_timeout_ms = ms;
      }
      break;
    case T_COUNT:
      if (config_parse_uint(v, 100000000, &n) < 0) want = "a whole number";
      else st->o.max_connections = n;
      break;
    case T_HEADERS:
      if (config_parse_uint(v, 256, &n) < 0 || n == 0) want = "a whole number 1-256";
      else st->o.max_headers = n;
      break;
    case T_APP:
      if (strcmp(v, "chat") && strcmp(v, "conformance") && strcmp(v, "bench") && strcmp(v, "test"))
        want = "chat, conformance, bench or test";
      else st->app = v;
      break;
    case T_LEVEL:
      if ((st->log_level = log_level_parse(v)) < 0) want = "debug, info, warn, error or off";
      break;
    case T_FORMAT:
      if (strcmp(v, "text") && strcmp(v, "json")) want = "text or json";
      else st->log_json = strcmp(v, "json") == 0;
      break;
    case T_SWITCH: {
      int on = !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1");
      if (!on && strcmp(v, "off") && strcmp(v, "false") && strcmp(v, "no") && strcmp(v, "0")) want = "on or off";
      else if (strcmp(name, "deflate") == 0) st->o.deflate = on;
      else if (strcmp(name, "deflate-client-context-takeover") == 0) st->o.deflate_client_context_takeover = on;
      else if (strcmp(name, "deflate-shared-broadcast") == 0) st->o.deflate_per_connection_broadcast = !on;
      else if (strcmp(name, "redis-tls-insecure") == 0) st->cfg.redis_tls_insecure = on;
      else st->o.io_uring = on;
      break;
    }
  }
  if (!want) return 0;
  if (strcmp(name, "jwt-secret") == 0) v = "(hidden)"; /* a secret is never printed */
  fprintf(stderr, "wsio-server: invalid value '%s' for --%s (from %s): expected %s\n", v, name, source, want);
  return -1;
}

static char *own(settings *st, const char *s, size_t n) {
  char *p = strndup(s, n);
  if (p && st->nowned < (int)(sizeof(st->owned) / sizeof(st->owned[0]))) st->owned[st->nowned++] = p;
  return p;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  char *e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) *--e = '\0';
  return s;
}

static int load_config_file(settings *st, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "wsio-server: cannot read --config %s: %s\n", path, strerror(errno));
    return -1;
  }
  char *line = NULL, src[1100];
  size_t cap = 0;
  int lineno = 0, rc = 0;
  while (rc == 0 && getline(&line, &cap, f) != -1) { /* any length: a long comment is one line */
    lineno++;
    char *s = trim(line);
    if (!*s || *s == '#') continue;
    size_t klen = strcspn(s, " \t=");
    char *v = trim(s + klen + (s[klen] ? 1 : 0));
    if (*v == '=') v = trim(v + 1);
    const opt_def *d = find_opt(s, klen);
    snprintf(src, sizeof(src), "%s line %d", path, lineno);
    if (!d || strcmp(d->name, "config") == 0) {
      fprintf(stderr, "wsio-server: unknown option '%.*s' in %s\n", (int)klen, s, src);
      rc = -1;
    } else {
      rc = apply(st, d, own(st, v, strlen(v)), src);
    }
  }
  free(line);
  fclose(f);
  return rc;
}

static int load_env(settings *st) {
  for (size_t i = 0; i < NOPTS; i++) {
    char var[64];
    size_t k = (size_t)snprintf(var, sizeof(var), "WSIO_");
    for (const char *p = opts[i].name; *p && k < sizeof(var) - 1; p++) var[k++] = *p == '-' ? '_' : (char)(*p - 32 * (*p >= 'a' && *p <= 'z'));
    var[k] = '\0';
    const char *v = getenv(var);
    if (!v || strcmp(opts[i].name, "config") == 0) continue;
    char src[80];
    snprintf(src, sizeof(src), "environment %s", var);
    if (apply(st, &opts[i], v, src) < 0) return -1;
  }
  return 0;
}

/* Returns 0 to run, 1 to exit 0 (help/version), or 2 on a usage error. */
static int parse_args(settings *st, int argc, char **argv) {
  const char *config = getenv("WSIO_CONFIG");
  for (int i = 1; i < argc; i++) { /* the config file first: everything else overrides it */
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) config = argv[i + 1];
    else if (strncmp(argv[i], "--config=", 9) == 0) config = argv[i] + 9;
  }
  if (config && load_config_file(st, config) < 0) return 2;
  if (load_env(st) < 0) return 2;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 1;
    }
    if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
      printf("wsio-server %s\n", WSIO_VERSION);
      return 1;
    }
    if (strncmp(a, "--", 2) != 0) {
      fprintf(stderr, "wsio-server: unexpected argument '%s' (see --help)\n", a);
      return 2;
    }
    const char *eq = strchr(a + 2, '=');
    size_t nlen = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
    const opt_def *d = find_opt(a + 2, nlen);
    if (!d) {
      fprintf(stderr, "wsio-server: unknown option '%s' (see --help)\n", a);
      return 2;
    }
    const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    /* A switch given alone ("--deflate", last or before another option) means on. */
    if (d->type == T_SWITCH && !eq && (!v || strncmp(v, "--", 2) == 0)) {
      if (v) i--;
      v = "on";
    }
    if (!v) {
      fprintf(stderr, "wsio-server: --%s needs a value (%s)\n", d->name, d->arg);
      return 2;
    }
    if (strcmp(d->name, "config") == 0) continue;
    if (apply(st, d, v, "the command line") < 0) return 2;
  }
  return 0;
}

/* ---- library hooks --------------------------------------------------------------- */

static void lib_log(int level, const char *msg, void *user) {
  (void)user;
  log_msg(level, "%s", msg);
}

static void on_reload(wsio_app *app, void *user) {
  (void)app;
  const char *path = user;
  if (!path) log_msg(LOG_INFO, "SIGHUP: nothing to reopen (logging to stderr)");
  else if (log_reopen() < 0) log_msg(LOG_ERROR, "cannot reopen the log file %s: %s", path, strerror(errno));
  else log_msg(LOG_INFO, "SIGHUP: log file reopened (%s)", path);
}

static void free_owned(settings *st) {
  for (int i = 0; i < st->nowned; i++) free(st->owned[i]);
  st->nowned = 0;
}

static int run(settings *st);

/* 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
static int is_loopback(const char *host) {
  return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0 ||
         strcmp(host, "localhost") == 0;
}

int main(int argc, char **argv) {
  settings st = {.host = "127.0.0.1", .app = "chat", .static_dir = default_static_dir(), .port = 3000,
                 .http_port = -1, .log_level = LOG_INFO, .threads = 1};
  wsio_app_options_init(&st.o);
  /* Block the signals the loop handles before anything can be signalled: one sent right
   * after the listening line then waits for the loop's signalfd instead of killing us. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int pr = parse_args(&st, argc, argv);
  if (!pr && st.o.tls_sni && !st.o.tls_cert_file) {
    fprintf(stderr, "wsio-server: --tls-sni needs --tls-cert and --tls-key (the certificate of every other name)\n");
    pr = 2;
  }
  if (!pr && ((st.o.tls_client_ca_file && !st.o.tls_cert_file) ||
              ((st.client_auth_set || st.o.tls_crl_file) && !st.o.tls_client_ca_file))) {
    fprintf(stderr, "wsio-server: %s\n", st.o.tls_client_ca_file ? "--tls-client-ca needs --tls-cert and --tls-key"
                                          : st.client_auth_set  ? "--tls-client-auth needs --tls-client-ca"
                                                                : "--tls-crl needs --tls-client-ca");
    pr = 2;
  }
  if (!pr && !st.cfg.redis_tls_cert != !st.cfg.redis_tls_key) {
    fprintf(stderr, "wsio-server: --%s needs --%s (a client certificate and its key: both or neither)\n",
            st.cfg.redis_tls_cert ? "redis-tls-cert" : "redis-tls-key", st.cfg.redis_tls_cert ? "redis-tls-key" : "redis-tls-cert");
    pr = 2;
  }
  int rc = pr ? (pr == 1 ? 0 : 2) : run(&st);
  free_owned(&st);
  return rc;
}

/* Every route wsio-server serves, on one app (one per thread with --threads). Returns
 * 0 or -1 (logged). */
static int setup_app(settings *st, wsio_app *app) {
  /* With --jwt-*, every raw route checks the token; /whoami keeps its claims (a pointer
   * in the user data: 8 bytes with every connection of the app, freed by release). */
  wsio_ws_handlers echo = {.message = echo_message, .upgrade = auth_ws_upgrade};
  wsio_ws_handlers bcast = {.open = broadcast_open, .message = broadcast_message, .upgrade = auth_ws_upgrade};
  wsio_ws_handlers whoami = {.open = whoami_open, .message = echo_message, .upgrade = auth_ws_upgrade_keep,
                             .release = auth_ws_release, .user_data_size = auth_ws_user_data_size()};
  wsio_app_ws(app, "/echo", &echo, NULL);
  wsio_app_ws(app, "/broadcast", &bcast, NULL);
  wsio_app_ws(app, "/whoami", &whoami, NULL);
  wsio_app_http(app, "GET", "/healthz", healthz, NULL);
  int (*setup)(wsio_app *, const server_config *) =
      strcmp(st->app, "conformance") == 0 ? app_conformance_setup
      : strcmp(st->app, "bench") == 0     ? app_bench_setup
      : strcmp(st->app, "test") == 0      ? app_test_setup
                                          : app_chat_setup;
  if (setup(app, &st->cfg) < 0 || metrics_mount(app) < 0) {
    log_msg(LOG_ERROR, "cannot set up the %s app", st->app);
    return -1;
  }
  /* Last: a static file must not take a path the app serves itself. */
  if (strcmp(st->static_dir, "off") != 0 && static_mount(app, st->static_dir) < 0)
    log_msg(LOG_WARN, "static folder %s not served: %s", st->static_dir, strerror(errno));
  return 0;
}

/* Listens on --port (and --http-port); logs why not. Returns 0 or the exit status. */
static int listen_all(settings *st, wsio_app *app, int first) {
  int r = wsio_app_listen(app, st->host, st->port);
  if (r < 0) {
    /* The system's reason ("Address already in use") says more than the code. */
    int e = errno;
    log_msg(LOG_ERROR, "cannot listen on %s:%d: %s", st->host, st->port,
            r == WSIO_EADDR || r == WSIO_ESYS ? strerror(e) : wsio_strerror(r));
    return 1;
  }
  if (st->http_port >= 0) {
    r = wsio_app_listen_plain(app, st->host, st->http_port);
    if (r < 0) {
      int e = errno;
      log_msg(LOG_ERROR, "cannot listen on %s:%d (--http-port): %s", st->host, st->http_port,
              r == WSIO_EADDR || r == WSIO_ESYS ? strerror(e) : wsio_strerror(r));
      return 1;
    }
    if (first) log_msg(LOG_INFO, "plain HTTP (--http-port) on %s:%d", st->host, r);
  }
  return 0;
}

static int run(settings *st_) {
  settings st = *st_; /* a working copy; main frees the strings it owns */
  if (log_init(st.log_level, st.log_json, st.log_file) < 0) {
    fprintf(stderr, "wsio-server: cannot open --log-file %s: %s\n", st.log_file, strerror(errno));
    return 2;
  }
  if (!st.ping_set) st.cfg.ping_interval_ms = 0; /* each app keeps its own default */
  st.o.log = lib_log;
  st.o.on_reload = on_reload;
  st.o.hooks_user = (void *)st.log_file;

  /* Each connection needs a descriptor: raise the soft limit to the hard one. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  char why[512];
  if (auth_configure(&st.auth, why, sizeof(why)) < 0) {
    log_msg(LOG_ERROR, "%s", why);
    return 2;
  }
  unsigned nthreads = st.threads ? st.threads : wsio_threads_auto();
  if (nthreads > 256) nthreads = 256;
  wsio_app **apps = calloc(nthreads, sizeof(*apps));
  int rc = apps ? 0 : 1;
  for (unsigned i = 0; i < nthreads && rc == 0; i++) {
    st.o.handle_signals = i == 0; /* thread 0 takes the signals; its stop drains all */
    if (!(apps[i] = wsio_app_create(&st.o))) {
      log_msg(LOG_ERROR, "cannot create the app (TLS files that do not load, out of memory or no epoll)");
      rc = 1;
    } else if (i > 0 && wsio_app_join(apps[i], apps[0]) < 0) {
      rc = 1;
    }
  }
  /* After every join: Socket.IO attaches its in-process adapter when grouped. */
  for (unsigned i = 0; i < nthreads && rc == 0; i++)
    if (setup_app(&st, apps[i]) < 0) rc = 1;
  /* After every join: a grouped member shares the first one's listening socket. */
  for (unsigned i = 0; i < nthreads && rc == 0; i++) rc = listen_all(&st, apps[i], i == 0);
  if (rc) {
    for (unsigned i = 0; apps && i < nthreads; i++) wsio_app_destroy(apps[i]);
    free(apps);
    auth_free();
    static_unmount_all();
    return rc;
  }
  wsio_app *app = apps[0];
  if (nthreads > 1) log_msg(LOG_INFO, "%u threads, each with its own event loop", nthreads);
  log_msg(LOG_INFO, "listening on %s:%d (app %s, version %s)", st.host, wsio_app_port(app), st.app, WSIO_VERSION);
  if (!is_loopback(st.host) && (!st.o.allowed_origins || st.origins_any))
    log_msg(LOG_WARN, "listening on a non-loopback address with any origin allowed: any web page a user visits "
                      "can connect as that user (cross-site WebSocket hijacking); set --allowed-origins");
  int r = wsio_threads_run(apps, nthreads);
  if (r < 0) log_msg(LOG_ERROR, "event loop failed: %s", r == WSIO_ESYS ? strerror(errno) : wsio_strerror(r));
  wsio_stats s;
  wsio_app_stats_sum(app, &s);
  log_msg(LOG_INFO, "stopped (%llu WebSocket connections served)", (unsigned long long)s.connections_total);
  for (unsigned i = 0; i < nthreads; i++) wsio_app_destroy(apps[i]);
  free(apps);
  auth_free();
  static_unmount_all();
  log_close();
  return r < 0 ? 1 : 0;
}
