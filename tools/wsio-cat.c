/* tools/wsio-cat.c — wsio-cat, a command-line WebSocket client for debugging
 * real deployments (like wscat/websocat), built on the library's client role
 * (include/wsio/client.h).
 *
 * Owns: the command line, stdin lines to messages, messages to stdout, the -v
 * trace on stderr, and the exit code. Must not: speak WebSocket itself
 * (src/client does). It runs the app's loop without a listener (core_loop),
 * since it serves nothing. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/transport.h"
#include "loop/loop.h"
#include "wsio.h"
#include "wsio/client.h"

int wsio_cat_sio_main(int argc, char **argv); /* tools/cat_sio.c */

/* Exit codes (documented in --help and docs/wsio-cat.1). */
enum {
  EXIT_CLOSED = 0,   /* the connection ended with a close handshake */
  EXIT_USAGE = 1,    /* bad command line */
  EXIT_REFUSED = 2,  /* the server refused the upgrade (status printed) */
  EXIT_PROTOCOL = 3, /* the server broke RFC 6455 */
  EXIT_TIMEOUT = 4,  /* connect, handshake or close timed out */
  EXIT_NETWORK = 5,  /* cannot resolve or connect, or the connection was lost */
  EXIT_TLS = 7, /* wss://: TLS handshake or certificate verification failed,
                   or --ca/--cert/--key cannot be loaded (6: unused) */
};

static const char usage[] =
    "usage: wsio-cat [options] ws[s]://host[:port][/path]\n"
    "\n"
    "Reads lines from stdin and sends each as a message; prints every message "
    "received\n"
    "(text as is, binary as hex), one per line. At the end of stdin it closes "
    "the\n"
    "connection (code 1000, or --close) and exits when the server answers.\n"
    "\n"
    "options:\n"
    "  -b, --binary             send lines as binary messages\n"
    "  -H, --header 'Name: v'   add a request header (repeatable)\n"
    "  -s, --subprotocol NAME   offer a subprotocol (repeatable)\n"
    "  -o, --origin ORIGIN      send an Origin header\n"
    "  -p, --ping SEC           send a ping every SEC seconds (round trips "
    "with -v)\n"
    "  -c, --close CODE[:why]   the close code and reason sent when stdin "
    "ends\n"
    "  -n, --no-reconnect       exit when the connection ends instead of "
    "reconnecting\n"
    "                           (default: reconnect with backoff 1 s to 5 s, "
    "jitter 0.5;\n"
    "                           lines typed while offline are sent once "
    "reconnected)\n"
    "  -t, --timeout SEC        connect and handshake timeout (default 10)\n"
    "  -v, --verbose            trace on stderr: the TLS session (version, "
    "cipher, ALPN,\n"
    "                           certificate), handshake headers, every "
    "frame (opcode,\n"
    "                           FIN, RSV, length, masked), pings/pongs with "
    "round-trip\n"
    "                           times, close code and reason, reconnect "
    "attempts\n"
    "      --ca FILE            wss://: trust the CAs in this PEM file\n"
    "                           (default: the system's store); the server's\n"
    "                           certificate must also name the URL's host\n"
    "  -k, --insecure           wss://: do not verify the server's "
    "certificate\n"
    "                           (still encrypted, but anyone on the path can\n"
    "                           pose as the server)\n"
    "      --cert FILE          wss://: present this client certificate (PEM, "
    "with its\n"
    "                           chain) to a server that asks for one "
    "(mutual TLS)\n"
    "      --key FILE           the certificate's private key (PEM, not "
    "encrypted);\n"
    "                           --cert and --key go together\n"
    "      --no-deflate         do not offer permessage-deflate (offered by\n"
    "                           default, as Node's ws: -v shows the answer "
    "and\n"
    "                           rsv=4 on compressed frames)\n"
    "      --deflate            offer it (the default)\n"
    "      --sio http[s]://HOST Socket.IO mode (wsio-cat --sio URL --help)\n"
    "  -h, --help               this text\n"
    "\n"
    "exit codes:\n"
    "  0  closed with a close handshake    4  timed out (connect, handshake, close)\n"
    "  1  bad command line                 5  network error (refused, lost, no close frame)\n"
    "  2  handshake refused (HTTP status)\n"
    "  3  protocol error by the server     7  TLS failed: handshake, the certificate\n"
    "                                         did not verify, the server refused ours,\n"
    "                                         --ca/--cert/--key cannot be loaded (the\n"
    "                                         reason and the file are printed)\n"
    "\n"
    "examples:\n"
    "  echo hello | wsio-cat ws://127.0.0.1:3000/echo\n"
    "  wsio-cat -v --subprotocol chat -H 'Authorization: Bearer T' "
    "ws://example.com/ws\n"
    "  wsio-cat --ping 5 --close 4000:bye --no-reconnect ws://[::1]:8080/\n"
    "  wsio-cat --ca test-ca.pem wss://localhost:8443/echo\n"
    "  wsio-cat --ca ca.pem --cert me.pem --key me.key wss://gw.local/ws\n";

typedef struct {
  loop *loop;
  wsio_ws_client *cl;
  loop_io in;
  int in_started, binary, verbose, stdin_done, closing, exit_code, have_error;
  unsigned close_code;
  const char *close_reason;
  char *line;
  size_t line_len, line_cap;
} cat;

static cat g;

static const char *opname(int op) {
  switch (op) {
  case 0x0:
    return "cont";
  case 0x1:
    return "text";
  case 0x2:
    return "binary";
  case 0x8:
    return "close";
  case 0x9:
    return "ping";
  case 0xA:
    return "pong";
  default:
    return "reserved";
  }
}

static void finish(int code) {
  if (!g.have_error)
    g.exit_code = code;
  loop_stop(g.loop);
}

static void begin_close(void) {
  if (g.closing)
    return;
  g.closing = 1;
  if (wsio_ws_client_is_open(g.cl)) {
    (void)wsio_ws_client_close(g.cl, g.close_code, g.close_reason);
    return;
  }
  /* Not open: nothing to close politely. */
  (void)wsio_ws_client_close(g.cl, g.close_code, g.close_reason);
  finish(EXIT_NETWORK);
}

static void send_line(const char *p, size_t n) {
  int r =
      wsio_ws_client_send(g.cl, p, n, g.binary ? WSIO_OP_BINARY : WSIO_OP_TEXT);
  if (r < 0)
    fprintf(stderr, "wsio-cat: line not sent: %s\n",
            wsio_ws_client_strerror(r));
}

static void on_stdin(loop_io *io, uint32_t events) {
  (void)events;
  char buf[65536];
  ssize_t n = read(io->fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    if (g.in_started)
      loop_io_stop(g.loop, io);
    g.stdin_done = 1;
    if (g.line_len)
      send_line(g.line, g.line_len);
    g.line_len = 0;
    if (wsio_ws_client_is_open(g.cl))
      begin_close();
    return; /* otherwise on_open closes once the queued lines are out */
  }
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] == '\n') {
      size_t len = g.line_len;
      if (len && g.line[len - 1] == '\r')
        len--;
      send_line(g.line ? g.line : "", len);
      g.line_len = 0;
      continue;
    }
    if (g.line_len + 1 > g.line_cap) {
      size_t cap = g.line_cap ? g.line_cap * 2 : 1024;
      char *p = realloc(g.line, cap);
      if (!p) {
        fprintf(stderr, "wsio-cat: out of memory\n");
        exit(EXIT_NETWORK);
      }
      g.line = p;
      g.line_cap = cap;
    }
    g.line[g.line_len++] = buf[i];
  }
}

static void print_head(const char *p, size_t n, const char *dir) {
  while (n) {
    const char *nl = memchr(p, '\n', n);
    size_t l = nl ? (size_t)(nl - p) : n;
    size_t shown = l && p[l - 1] == '\r' ? l - 1 : l;
    if (shown)
      fprintf(stderr, "%s %.*s\n", dir, (int)shown, p);
    if (!nl)
      break;
    n -= l + 1;
    p = nl + 1;
  }
}

static void on_handshake(wsio_ws_client *cl, const char *req, size_t rl,
                         const char *res, size_t sl, void *u) {
  (void)cl;
  (void)u;
  if (req)
    print_head(req, rl, ">");
  if (res)
    print_head(res, sl, "<");
}

static void on_frame(wsio_ws_client *cl, wsio_frame_dir dir, int op, int fin,
                     int rsv, uint64_t len, int masked, void *u) {
  (void)cl;
  (void)u;
  fprintf(stderr,
          "* frame %s: opcode=%d (%s) fin=%d rsv=%d len=%llu masked=%d\n",
          dir == WSIO_FRAME_IN ? "in" : "out", op, opname(op), fin, rsv,
          (unsigned long long)len, masked);
}

static void on_tls(wsio_ws_client *cl, const char *info, void *u) {
  (void)cl;
  (void)u;
  fprintf(stderr, "* TLS: %s\n", info);
}

static void on_open(wsio_ws_client *cl, const char *protocol, void *u) {
  (void)cl;
  (void)u;
  if (g.verbose)
    fprintf(stderr, "* open%s%s\n", protocol ? ", subprotocol " : "",
            protocol ? protocol : "");
  if (g.stdin_done)
    begin_close();
}

static void on_message(wsio_ws_client *cl, const uint8_t *data, size_t len,
                       wsio_opcode op, void *u) {
  (void)cl;
  (void)u;
  if (op == WSIO_OP_TEXT) {
    fwrite(data, 1, len, stdout);
  } else {
    for (size_t i = 0; i < len; i++)
      printf("%02x", data[i]);
  }
  putchar('\n');
  fflush(stdout);
}

static void on_close(wsio_ws_client *cl, unsigned code, const char *reason,
                     size_t rl, int again, void *u) {
  (void)cl;
  (void)u;
  if (g.verbose || code != 1000)
    fprintf(stderr, "* close: code=%u reason=%.*s%s\n", code, (int)rl, reason,
            again ? " (reconnecting)" : "");
  if (again)
    return;
  finish(code == 1006 ? EXIT_NETWORK : EXIT_CLOSED);
}

static void on_error(wsio_ws_client *cl, int err, int status,
                     const char *detail, void *u) {
  (void)u;
  fprintf(stderr, "wsio-cat: error: %s (%s)\n", detail,
          wsio_ws_client_strerror(err));
  int code = err == WSIO_EREFUSED                           ? EXIT_REFUSED
             : err == WSIO_EPROTOCOL || err == WSIO_ETOOBIG ? EXIT_PROTOCOL
             : err == WSIO_ETIMEDOUT                        ? EXIT_TIMEOUT
             : err == WSIO_ETLS                             ? EXIT_TLS
                                                            : EXIT_NETWORK;
  (void)status;
  g.exit_code = code;
  g.have_error = 1;
  if (wsio_ws_client_is_done(cl))
    loop_stop(g.loop);
}

static void on_pong(wsio_ws_client *cl, const uint8_t *data, size_t len,
                    long rtt, void *u) {
  (void)cl;
  (void)u;
  (void)data;
  if (g.verbose)
    fprintf(stderr, "* pong: len=%zu rtt=%ld ms\n", len, rtt);
}

static void on_reconnect(wsio_ws_client *cl, unsigned attempt, uint32_t delay,
                         void *u) {
  (void)cl;
  (void)u;
  g.have_error = 0;
  if (g.verbose)
    fprintf(stderr, "* reconnect: attempt %u in %u ms\n", attempt, delay);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"binary", no_argument, 0, 'b'},
      {"header", required_argument, 0, 'H'},
      {"subprotocol", required_argument, 0, 's'},
      {"origin", required_argument, 0, 'o'},
      {"ping", required_argument, 0, 'p'},
      {"close", required_argument, 0, 'c'},
      {"no-reconnect", no_argument, 0, 'n'},
      {"timeout", required_argument, 0, 't'},
      {"verbose", no_argument, 0, 'v'},
      {"help", no_argument, 0, 'h'},
      {"sio", no_argument, 0, 1},
      {"insecure", no_argument, 0, 'k'},
      {"ca", required_argument, 0, 3},
      {"deflate", no_argument, 0, 4},
      {"no-deflate", no_argument, 0, 5},
      {"cert", required_argument, 0, 6},
      {"key", required_argument, 0, 7},
      {0, 0, 0, 0}};
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--sio") == 0 || strncmp(argv[i], "--sio=", 6) == 0)
      return wsio_cat_sio_main(argc, argv);
  const char *headers[65] = {0}, *protos[33] = {0};
  int nh = 0, np = 0;
  wsio_ws_client_options o = {.randomization = 0.5};
  g.close_code = 1000;
  for (int c;
       (c = getopt_long(argc, argv, "bH:s:o:p:c:nt:vhk", opts, NULL)) != -1;) {
    switch (c) {
    case 'b':
      g.binary = 1;
      break;
    case 'H':
      if (nh == 64)
        return fprintf(stderr, "wsio-cat: too many headers\n"), EXIT_USAGE;
      headers[nh++] = optarg;
      break;
    case 's':
      if (np == 32)
        return fprintf(stderr, "wsio-cat: too many subprotocols\n"), EXIT_USAGE;
      protos[np++] = optarg;
      break;
    case 'o':
      o.origin = optarg;
      break;
    case 'p': {
      double s = atof(optarg);
      if (s <= 0)
        return fprintf(stderr, "wsio-cat: --ping wants seconds > 0\n"),
               EXIT_USAGE;
      o.ping_interval_ms = (uint32_t)(s * 1000);
      break;
    }
    case 'c': {
      char *e;
      long code = strtol(optarg, &e, 10);
      if (*e != 0 && *e != ':')
        return fprintf(stderr, "wsio-cat: --close CODE[:reason]\n"), EXIT_USAGE;
      g.close_code = (unsigned)code;
      g.close_reason = *e == ':' ? e + 1 : NULL;
      break;
    }
    case 'n':
      o.no_reconnect = 1;
      break;
    case 't': {
      double s = atof(optarg);
      if (s <= 0)
        return fprintf(stderr, "wsio-cat: --timeout wants seconds > 0\n"),
               EXIT_USAGE;
      o.connect_timeout_ms = o.handshake_timeout_ms = (uint32_t)(s * 1000);
      break;
    }
    case 'v':
      g.verbose = 1;
      break;
    case 'h':
      fputs(usage, stdout);
      return 0;
    case 1: /* --sio: handled by wsio_cat_sio_main above */
      break;
    case 'k':
      o.insecure = 1;
      break;
    case 3:
      o.ca_file = optarg;
      break;
    case 4:
      o.no_deflate = 0;
      break;
    case 5:
      o.no_deflate = 1;
      break;
    case 6:
      o.cert_file = optarg;
      break;
    case 7:
      o.key_file = optarg;
      break;
    default:
      fputs(usage, stderr);
      return EXIT_USAGE;
    }
  }
  if (optind != argc - 1) {
    fputs(usage, stderr);
    return EXIT_USAGE;
  }
  if (!o.cert_file != !o.key_file)
    return fprintf(stderr, "wsio-cat: --cert and --key go together (the "
                           "client certificate and its private key)\n"),
           EXIT_USAGE;
  const char *url = argv[optind];
  o.headers = nh ? headers : NULL;
  o.subprotocols = np ? protos : NULL;
  o.on_open = on_open;
  o.on_message = on_message;
  o.on_close = on_close;
  o.on_error = on_error;
  o.on_pong = on_pong;
  o.on_reconnect = on_reconnect;
  if (g.verbose) {
    o.on_handshake = on_handshake;
    o.on_frame = on_frame;
    o.on_tls = on_tls;
  }
  wsio_app *app = wsio_app_create(NULL);
  if (!app)
    return fprintf(stderr, "wsio-cat: cannot create the app\n"), EXIT_NETWORK;
  g.loop = core_loop(app);
  int err;
  g.cl = wsio_ws_client_create(app, url, &o, &err);
  if (!g.cl) {
    fprintf(stderr, "wsio-cat: %s: %s\n", url, wsio_ws_client_strerror(err));
    wsio_app_destroy(app);
    return err == WSIO_EURL || err == WSIO_EINVAL ? EXIT_USAGE : EXIT_NETWORK;
  }
  g.in.fd = STDIN_FILENO;
  g.in.cb = on_stdin;
  g.in_started = loop_io_start(g.loop, &g.in, EPOLLIN) == 0;
  if (!g.in_started) {
    /* A regular file or /dev/null cannot be polled: its lines are all there
     * now. */
    for (;;) {
      on_stdin(&g.in, EPOLLIN);
      if (g.stdin_done)
        break;
    }
  }
  loop_run(g.loop);
  wsio_app_destroy(app);
  free(g.line);
  return g.exit_code;
}
