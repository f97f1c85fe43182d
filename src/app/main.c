/* app/main.c — wsio-server: the standalone server. Parses options, registers the
 * built-in endpoints (/echo, /broadcast, /healthz) and runs the app until SIGINT or
 * SIGTERM completes a graceful shutdown. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "app/apps.h"
#include "app/config.h"
#include "wsio.h"

#define BROADCAST_TOPIC "broadcast"

static void logf_(const char *level, const char *fmt, ...) {
  char ts[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(stderr, "%s %s wsio-server: ", ts, level);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* ---- endpoints ------------------------------------------------------------------- */

static void echo_message(wsio_conn *c, const uint8_t *data, size_t len, wsio_opcode op) {
  wsio_conn_send(c, data, len, op);
}

static void broadcast_open(wsio_conn *c) { wsio_conn_subscribe(c, BROADCAST_TOPIC); }

static void broadcast_message(wsio_conn *c, const uint8_t *data, size_t len, wsio_opcode op) {
  wsio_app_publish(wsio_conn_app(c), BROADCAST_TOPIC, data, len, op);
}

static void healthz(const wsio_request *req, wsio_response *res, void *user) {
  (void)req;
  (void)user;
  wsio_response_header(res, "Cache-Control", "no-store");
  wsio_response_send(res, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

/* ---- options --------------------------------------------------------------------- */

typedef struct {
  const char *name;
  const char *arg;
  const char *help;
} opt_doc;

static const opt_doc docs[] = {
    {"host", "ADDR", "address to listen on (default 127.0.0.1; 0.0.0.0 or :: for all)"},
    {"port", "N", "TCP port (default 3000; 0 picks a free one)"},
    {"max-message-size", "BYTES", "largest message accepted, e.g. 16MiB (default 1MiB); over: close 1009"},
    {"max-backpressure", "BYTES", "unsent bytes per connection before sends are dropped and the connection closed with 1008 (default 1MiB)"},
    {"ping-interval", "S", "seconds of silence before the server pings (default 25; 0 disables)"},
    {"ping-timeout", "S", "seconds to wait for any data after a ping (default 20)"},
    {"max-connections", "N", "WebSocket connections before new upgrades get 503 (default 100000)"},
    {"handshake-timeout", "S", "seconds to receive a complete request head (default 10)"},
    {"close-timeout", "S", "seconds to wait for the peer's close handshake (default 5)"},
    {"max-header-size", "BYTES", "request line + headers (default 8KiB); over: 431"},
    {"max-headers", "N", "header fields per request (default 64); over: 431"},
    {"shutdown-timeout", "S", "seconds SIGTERM waits for close handshakes (default 5)"},
    {"app", "NAME", "chat (default: the Socket.IO chat demo at /socket.io/), conformance, bench or test"},
    {"cors-origin", "ORIGIN", "CORS for Socket.IO long-polling: * (chat default), an exact origin, or true (reflect)"},
    {"help", NULL, "show this help and exit"},
    {"version", NULL, "print the version and exit"},
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: wsio-server [options]\n\n"
          "A WebSocket (RFC 6455) and Socket.IO v5 server. Endpoints:\n"
          "  /socket.io/ Socket.IO (Engine.IO v4: long-polling and WebSocket), per --app\n"
          "  /echo       WebSocket: every message is sent back unchanged (same opcode)\n"
          "  /broadcast  WebSocket: every message is sent to every /broadcast connection\n"
          "  /healthz    HTTP 200 \"ok\"\n\n"
          "Options (sizes take KiB/MiB/GiB suffixes; seconds may have decimals):\n");
  for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
    char left[48];
    snprintf(left, sizeof(left), "--%s%s%s", docs[i].name, docs[i].arg ? " " : "", docs[i].arg ? docs[i].arg : "");
    fprintf(f, "  %-28s %s\n", left, docs[i].help);
  }
  fprintf(f, "\nSIGINT/SIGTERM: stop accepting, close every connection with 1001, exit 0.\n");
}

static int bad(const char *opt, const char *val, const char *want) {
  fprintf(stderr, "wsio-server: invalid value '%s' for --%s: expected %s\n", val, opt, want);
  return 2;
}

int main(int argc, char **argv) {
  wsio_app_options o;
  wsio_app_options_init(&o);
  const char *host = "127.0.0.1";
  const char *app_name = "chat";
  server_config cfg = {0};
  int port = 3000;
  static const struct option longopts[] = {
      {"host", required_argument, 0, 'H'},
      {"port", required_argument, 0, 'p'},
      {"max-message-size", required_argument, 0, 1},
      {"max-backpressure", required_argument, 0, 2},
      {"ping-interval", required_argument, 0, 3},
      {"ping-timeout", required_argument, 0, 4},
      {"max-connections", required_argument, 0, 5},
      {"handshake-timeout", required_argument, 0, 6},
      {"close-timeout", required_argument, 0, 7},
      {"max-header-size", required_argument, 0, 8},
      {"max-headers", required_argument, 0, 9},
      {"shutdown-timeout", required_argument, 0, 10},
      {"app", required_argument, 0, 11},
      {"cors-origin", required_argument, 0, 12},
      {"help", no_argument, 0, 'h'},
      {"version", no_argument, 0, 'V'},
      {0, 0, 0, 0},
  };
  int ch, idx = 0;
  while ((ch = getopt_long(argc, argv, "hVH:p:", longopts, &idx)) != -1) {
    uint64_t v;
    uint32_t ms;
    const char *name = NULL;
    for (const struct option *lo = longopts; lo->name; lo++)
      if (lo->val == ch) name = lo->name;
    switch (ch) {
      case 'h': usage(stdout); return 0;
      case 'V': printf("wsio-server %s\n", WSIO_VERSION); return 0;
      case 'H': host = optarg; break;
      case 'p':
        if (config_parse_uint(optarg, 65535, &v) < 0) return bad(name, optarg, "a port 0-65535");
        port = (int)v;
        break;
      case 1:
      case 2:
      case 8:
        if (config_parse_size(optarg, &v) < 0 || v == 0) return bad(name, optarg, "a size such as 65536, 64KiB or 16MiB");
        if (ch == 1) o.max_message_size = v;
        else if (ch == 2) o.max_backpressure = v;
        else o.max_header_size = v;
        break;
      case 3:
      case 4:
      case 6:
      case 7:
      case 10:
        if (config_parse_seconds(optarg, &ms) < 0) return bad(name, optarg, "seconds, such as 25 or 0.5");
        if (ch == 3) o.ping_interval_ms = ms;
        else if (ch == 4) o.ping_timeout_ms = ms;
        else if (ch == 6) o.handshake_timeout_ms = ms;
        else if (ch == 7) o.close_timeout_ms = ms;
        else o.shutdown_timeout_ms = ms;
        break;
      case 5:
        if (config_parse_uint(optarg, 100000000, &v) < 0) return bad(name, optarg, "a whole number");
        o.max_connections = v;
        break;
      case 9:
        if (config_parse_uint(optarg, 256, &v) < 0 || v == 0) return bad(name, optarg, "a whole number 1-256");
        o.max_headers = v;
        break;
      case 11:
        if (strcmp(optarg, "chat") && strcmp(optarg, "conformance") && strcmp(optarg, "bench") &&
            strcmp(optarg, "test"))
          return bad(name, optarg, "chat, conformance, bench or test");
        app_name = optarg;
        break;
      case 12:
        if (!optarg[0] || strpbrk(optarg, "\r\n")) return bad(name, optarg, "an origin such as https://example.com, * or true");
        cfg.cors_origin = optarg;
        break;
      default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "wsio-server: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }

  /* Each connection needs a descriptor: raise the soft limit to the hard one. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  wsio_app *app = wsio_app_create(&o);
  if (!app) {
    logf_("error", "cannot create the app (out of memory or no epoll)");
    return 1;
  }
  wsio_ws_handlers echo = {.message = echo_message};
  wsio_ws_handlers bcast = {.open = broadcast_open, .message = broadcast_message};
  wsio_app_ws(app, "/echo", &echo, NULL);
  wsio_app_ws(app, "/broadcast", &bcast, NULL);
  wsio_app_http(app, "GET", "/healthz", healthz, NULL);
  int (*setup)(wsio_app *, const server_config *) =
      strcmp(app_name, "conformance") == 0 ? app_conformance_setup
      : strcmp(app_name, "bench") == 0     ? app_bench_setup
      : strcmp(app_name, "test") == 0      ? app_test_setup
                                           : app_chat_setup;
  if (setup(app, &cfg) < 0) {
    logf_("error", "cannot set up the %s app", app_name);
    wsio_app_destroy(app);
    return 1;
  }

  int r = wsio_app_listen(app, host, port);
  if (r < 0) {
    logf_("error", "cannot listen on %s:%d: %s", host, port, wsio_strerror(r));
    wsio_app_destroy(app);
    return 1;
  }
  logf_("info", "listening on %s:%d (app %s)", host, wsio_app_port(app), app_name);
  r = wsio_app_run(app);
  wsio_stats st;
  wsio_app_stats(app, &st);
  logf_("info", "stopped (%llu connections served)", (unsigned long long)st.connections_total);
  wsio_app_destroy(app);
  return r < 0 ? 1 : 0;
}
