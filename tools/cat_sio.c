/* tools/cat_sio.c — wsio-cat's Socket.IO mode (wsio-cat --sio http://host),
 * built on the library's Socket.IO client (include/wsio/client.h).
 *
 * Owns: the --sio command line, stdin lines ("emit EVENT JSON...", "ack EVENT
 * JSON...") to emits, events and acks to JSON lines on stdout, the -v trace of
 * Engine.IO packets with their timing, and the exit code (the same table as
 * the WebSocket mode, tools/wsio-cat.c). Must not: speak Engine.IO or
 * Socket.IO itself (src/client does). jansson splits the JSON values of a line
 * and rewrites binary placeholders for printing. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/transport.h"
#include "loop/loop.h"
#include "wsio.h"
#include "wsio/client.h"

int wsio_cat_sio_main(int argc, char **argv);

enum {
  X_CLOSED = 0,
  X_USAGE = 1,
  X_REFUSED = 2,
  X_PROTOCOL = 3,
  X_TIMEOUT = 4,
  X_NETWORK = 5,
  X_TLS = 7, /* https://: TLS handshake or certificate verification failed,
                or --ca/--cert/--key cannot be loaded */
};

static const char sio_usage[] =
    "usage: wsio-cat --sio http[s]://host[:port] [options]\n"
    "\n"
    "Socket.IO mode: connects to a namespace and reads commands from stdin, one "
    "a line:\n"
    "  emit EVENT [JSON...]     emit EVENT with the JSON values as its "
    "arguments\n"
    "  ack EVENT [JSON...]      the same with an acknowledgement: waits for it "
    "and\n"
    "                           prints {\"ack\":\"EVENT\",\"args\":[...]}\n"
    "  volatile EVENT [JSON...] a volatile emit: dropped unless connected and "
    "writable\n"
    "A JSON argument {\"_binary\":\"<hex>\"} is sent as a binary "
    "attachment.\n"
    "Every event received is printed as a JSON line [\"EVENT\",arg...] (binary "
    "arguments\n"
    "as {\"_binary\":\"<hex>\"}); an event that asks for an ack is acked with "
    "no arguments.\n"
    "At the end of stdin, once the acks asked for have come back, it "
    "disconnects and\n"
    "exits (end with an ack line to be sure the last emits were handled: a "
    "Node server\n"
    "drops events that arrive together with the disconnect).\n"
    "\n"
    "options:\n"
    "  -N, --namespace NSP      the namespace (default /)\n"
    "  -a, --auth JSON          the CONNECT auth object\n"
    "  -T, --transport T        polling or websocket only (default: polling, "
    "then upgrade)\n"
    "      --path PATH          the server's path (default /socket.io/)\n"
    "  -H, --header 'Name: v'   add a request header (repeatable)\n"
    "      --ca FILE            https://: trust the CAs in this PEM file "
    "(default:\n"
    "                           the system's store); the server's certificate "
    "must\n"
    "                           also name the URL's host\n"
    "  -k, --insecure           https://: do not verify the server's "
    "certificate\n"
    "                           (still encrypted, but anyone on the path can "
    "pose as\n"
    "                           the server)\n"
    "      --cert FILE          https://: present this client certificate "
    "(PEM, with its\n"
    "                           chain) to a server that asks for one (mutual "
    "TLS), on\n"
    "                           polling and WebSocket connections alike\n"
    "      --key FILE           the certificate's private key (PEM, not "
    "encrypted);\n"
    "                           --cert and --key go together\n"
    "  -n, --no-reconnect       exit when the connection ends (default: "
    "reconnect with\n"
    "                           backoff 1 s to 5 s, jitter 0.5; emits wait in the "
    "send\n"
    "                           buffer and go out once reconnected)\n"
    "  -t, --timeout SEC        connect timeout and ack timeout (default 10)\n"
    "  -v, --verbose            trace on stderr: every Engine.IO packet with "
    "its\n"
    "                           transport and time, pings and pongs with the "
    "time since the\n"
    "                           last ping, upgrade, disconnect reasons, "
    "reconnect attempts,\n"
    "                           each TLS session (version, cipher, "
    "certificate)\n"
    "  -h, --help               this text\n"
    "\n"
    "exit codes: as the WebSocket mode: 0 disconnected normally, 1 bad command "
    "line,\n"
    "2 refused (HTTP status or CONNECT_ERROR), 3 protocol error by the server, "
    "4 timed\n"
    "out (connect, ack, ping timeout), 5 network error, 7 TLS failed "
    "(handshake,\n"
    "certificate verification, the server refused ours, --ca/--cert/--key "
    "cannot be\n"
    "loaded: the reason and the file are printed).\n"
    "\n"
    "examples:\n"
    "  echo 'ack message-with-ack {\"a\":1} 2' | wsio-cat --sio "
    "http://127.0.0.1:3000\n"
    "  wsio-cat --sio http://example.com -N /chat -a '{\"token\":\"T\"}' -T "
    "websocket -v\n"
    "  wsio-cat --sio https://localhost:8443 --ca test-ca.pem -v\n"
    "  wsio-cat --sio https://gw.local --ca ca.pem --cert me.pem --key "
    "me.key\n";

typedef struct {
  loop *loop;
  wsio_app *app;
  wsio_sio_client *c;
  wsio_sio_client_socket *s;
  loop_io in;
  int in_started, stdin_done, verbose, exit_code, have_error, closing;
  unsigned pending;
  uint32_t timeout_ms;
  uint64_t t0, last_ping;
  char *line;
  size_t line_len, line_cap;
} scat;

static scat G;

static double now_s(void) {
  return (loop_now_ms(G.loop) - G.t0) / 1000.0;
}

static void finish(int code) {
  if (!G.have_error)
    G.exit_code = code;
  loop_stop(G.loop);
}

static void maybe_close(void) {
  if (!G.stdin_done || G.pending || G.closing)
    return;
  if (!wsio_sio_client_socket_connected(G.s))
    return; /* buffered emits leave once connected; then we close */
  G.closing = 1;
  if (wsio_sio_client_close(G.c) != 0)
    finish(X_CLOSED);
}

/* ---- printing ---------------------------------------------------------------- */

/* Replaces {"_placeholder":true,"num":N} with {"_binary":"hex"} in place. */
static json_t *unplace(json_t *v, const wsio_span *bins, size_t nb) {
  if (json_is_object(v)) {
    json_t *ph = json_object_get(v, "_placeholder");
    json_t *num = json_object_get(v, "num");
    if (json_is_true(ph) && json_is_integer(num) && json_object_size(v) == 2 &&
        json_integer_value(num) >= 0 && (size_t)json_integer_value(num) < nb) {
      const wsio_span *b = &bins[json_integer_value(num)];
      char *hex = malloc(b->n * 2 + 1);
      if (!hex)
        return json_incref(v);
      for (size_t i = 0; i < b->n; i++)
        sprintf(hex + 2 * i, "%02x", b->p[i]);
      hex[b->n * 2] = 0;
      json_t *o = json_pack("{s:s}", "_binary", hex);
      free(hex);
      return o;
    }
    const char *k;
    json_t *x;
    json_t *o = json_object();
    json_object_foreach(v, k, x) json_object_set_new(o, k, unplace(x, bins, nb));
    return o;
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) json_array_append_new(a, unplace(x, bins, nb));
    return a;
  }
  return json_incref(v);
}

/* args (a JSON array) with binary placeholders shown, as compact JSON text.
 */
static char *args_text(const char *args, size_t len, const wsio_span *bins,
                       size_t nb) {
  json_error_t e;
  json_t *a = json_loadb(args, len, JSON_ALLOW_NUL, &e);
  if (!a)
    return strndup(args, len);
  json_t *b = unplace(a, bins, nb);
  json_decref(a);
  char *t = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(b);
  return t;
}

static void on_event(wsio_sio_client_socket *s, const char *event,
                     const char *args, size_t len, const wsio_span *bins,
                     size_t nb, int64_t ack_id, void *u) {
  (void)u;
  char *t = args_text(args, len, bins, nb);
  json_t *name = json_string(event);
  char *n = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
  json_decref(name);
  if (t && n)
    printf("[%s%s%.*s]\n", n, strlen(t) > 2 ? "," : "",
           (int)(strlen(t) > 2 ? strlen(t) - 2 : 0), t + 1);
  fflush(stdout);
  free(t);
  free(n);
  if (ack_id >= 0)
    (void)wsio_sio_client_ack(s, ack_id, "[]", 2, NULL, 0);
}

static void on_ack(wsio_sio_client_socket *s, int err, const char *args,
                   size_t len, const wsio_span *bins, size_t nb, void *arg) {
  (void)s;
  char *event = arg;
  G.pending--;
  if (err) {
    fprintf(stderr, "wsio-cat: ack %s: %s\n", event,
            err == WSIO_ETIMEDOUT ? "timed out"
                                  : wsio_sio_client_strerror(err));
    if (err == WSIO_ETIMEDOUT) {
      G.exit_code = X_TIMEOUT;
      G.have_error = 1;
    }
  } else {
    char *t = args_text(args, len, bins, nb);
    json_t *name = json_string(event);
    char *n = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
    json_decref(name);
    printf("{\"ack\":%s,\"args\":%s}\n", n ? n : "null", t ? t : "[]");
    fflush(stdout);
    free(t);
    free(n);
  }
  free(event);
  maybe_close();
}

/* ---- stdin commands ---------------------------------------------------------- */

typedef struct {
  wsio_span span[10];
  uint8_t *data[10];
  size_t n;
  int bad;
} binlist;

/* The reverse of unplace: {"_binary":"hex"} becomes a placeholder and an
 * attachment. */
static json_t *place(json_t *v, binlist *b) {
  if (json_is_object(v)) {
    json_t *hex = json_object_get(v, "_binary");
    if (json_is_string(hex) && json_object_size(v) == 1) {
      const char *h = json_string_value(hex);
      size_t l = strlen(h);
      if (b->n == 10 || l % 2) {
        b->bad = 1;
        return json_null();
      }
      uint8_t *d = malloc(l / 2 + 1);
      for (size_t i = 0; d && i < l / 2; i++) {
        unsigned x;
        if (sscanf(h + 2 * i, "%2x", &x) != 1)
          b->bad = 1;
        d[i] = (uint8_t)x;
      }
      if (!d) {
        b->bad = 1;
        return json_null();
      }
      b->data[b->n] = d;
      b->span[b->n] = (wsio_span){d, l / 2};
      return json_pack("{s:b,s:i}", "_placeholder", 1, "num", (int)b->n++);
    }
    const char *k;
    json_t *x;
    json_t *o = json_object();
    json_object_foreach(v, k, x) json_object_set_new(o, k, place(x, b));
    return o;
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) json_array_append_new(a, place(x, b));
    return a;
  }
  return json_incref(v);
}

static void command(char *p, size_t n) {
  while (n && (p[n - 1] == '\r' || p[n - 1] == ' '))
    n--;
  p[n] = 0;
  while (*p == ' ' || *p == '\t')
    p++;
  if (!*p)
    return;
  int want_ack = 0, vol = 0;
  if (strncmp(p, "emit ", 5) == 0) {
    p += 5;
  } else if (strncmp(p, "ack ", 4) == 0) {
    p += 4;
    want_ack = 1;
  } else if (strncmp(p, "volatile ", 9) == 0) {
    p += 9;
    vol = 1;
  } else {
    fprintf(stderr, "wsio-cat: unknown command (emit, ack or volatile EVENT "
                    "JSON...): %s\n",
            p);
    return;
  }
  while (*p == ' ')
    p++;
  char *ev = p;
  p += strcspn(p, " \t");
  if (*p)
    *p++ = 0;
  /* The rest: JSON values one after another, as the emit's arguments. */
  json_t *args = json_array();
  size_t rest = strlen(p);
  while (rest) {
    while (rest && (*p == ' ' || *p == '\t')) {
      p++;
      rest--;
    }
    if (!rest)
      break;
    json_error_t e;
    json_t *v = json_loadb(p, rest, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK |
                                        JSON_ALLOW_NUL,
                           &e);
    if (!v) {
      fprintf(stderr, "wsio-cat: not JSON at \"%.20s\": %s\n", p, e.text);
      json_decref(args);
      return;
    }
    json_array_append_new(args, v);
    p += e.position;
    rest -= (size_t)e.position;
  }
  binlist b = {0};
  json_t *placed = place(args, &b);
  json_decref(args);
  char *text = b.bad ? NULL : json_dumps(placed, JSON_COMPACT);
  json_decref(placed);
  if (!text) {
    fprintf(stderr, "wsio-cat: bad {\"_binary\":\"hex\"} argument (at most "
                    "10)\n");
    for (size_t i = 0; i < b.n; i++)
      free(b.data[i]);
    return;
  }
  int r;
  if (want_ack) {
    char *copy = strdup(ev);
    r = copy ? wsio_sio_client_emit_ack(G.s, ev, text, strlen(text), b.span,
                                        b.n, G.timeout_ms, on_ack, copy)
             : WSIO_ENOMEM;
    if (r >= 0)
      G.pending++;
    else
      free(copy);
  } else if (vol) {
    r = wsio_sio_client_emit_volatile(G.s, ev, text, strlen(text), b.span,
                                      b.n);
  } else {
    r = wsio_sio_client_emit(G.s, ev, text, strlen(text), b.span, b.n);
  }
  free(text);
  for (size_t i = 0; i < b.n; i++)
    free(b.data[i]);
  if (r == WSIO_EDROPPED)
    fprintf(stderr, "wsio-cat: %s dropped (%s)\n", ev,
            vol ? "volatile: not connected or not writable"
                : "the send buffer is full");
  else if (r < 0)
    fprintf(stderr, "wsio-cat: %s not sent: %s\n", ev,
            wsio_sio_client_strerror(r));
}

static void on_stdin(loop_io *io, uint32_t events) {
  (void)events;
  char buf[65536];
  ssize_t n = read(io->fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    if (G.in_started)
      loop_io_stop(G.loop, io);
    G.stdin_done = 1;
    if (G.line_len)
      command(G.line, G.line_len);
    G.line_len = 0;
    maybe_close();
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    if (G.line_len + 2 > G.line_cap) {
      size_t cap = G.line_cap ? G.line_cap * 2 : 1024;
      char *q = realloc(G.line, cap);
      if (!q) {
        fprintf(stderr, "wsio-cat: out of memory\n");
        exit(X_NETWORK);
      }
      G.line = q;
      G.line_cap = cap;
    }
    if (buf[i] == '\n') {
      command(G.line, G.line_len);
      G.line_len = 0;
      continue;
    }
    G.line[G.line_len++] = buf[i];
  }
}

/* ---- the client's reports ----------------------------------------------------- */

static const char *eio_type(int t) {
  static const char *names[] = {"open", "close", "ping",  "pong",
                                "message", "upgrade", "noop"};
  return t >= 0 && t <= 6 ? names[t] : "?";
}

static void on_packet(wsio_sio_client *c, wsio_frame_dir dir,
                      const char *transport, int type, int binary,
                      const uint8_t *p, size_t n, void *u) {
  (void)c;
  (void)u;
  double t = now_s();
  const char *d = dir == WSIO_FRAME_IN ? "<" : ">";
  if (type == 2 && dir == WSIO_FRAME_IN)
    G.last_ping = loop_now_ms(G.loop);
  if (type == 3 && dir == WSIO_FRAME_OUT && G.last_ping) {
    fprintf(stderr, "* %.3f %s eio pong (%s) %llu ms after the server's ping\n",
            t, d, transport,
            (unsigned long long)(loop_now_ms(G.loop) - G.last_ping));
    return;
  }
  if (binary) {
    fprintf(stderr, "* %.3f %s eio %s binary message, %zu bytes\n", t, d,
            transport, n);
    return;
  }
  fprintf(stderr, "* %.3f %s eio %s %s %.*s%s\n", t, d, transport,
          eio_type(type), (int)(n > 200 ? 200 : n), (const char *)p,
          n > 200 ? "..." : "");
}

static void on_tls(wsio_sio_client *c, const char *info, void *u) {
  (void)c;
  (void)u;
  fprintf(stderr, "* %.3f TLS: %s\n", now_s(), info);
}

static void on_open(wsio_sio_client *c, const char *sid, void *u) {
  (void)u;
  if (G.verbose)
    fprintf(stderr, "* %.3f open: sid %s on %s\n", now_s(), sid,
            wsio_sio_client_transport(c) ? wsio_sio_client_transport(c) : "?");
}

static void on_upgrade(wsio_sio_client *c, void *u) {
  (void)c;
  (void)u;
  if (G.verbose)
    fprintf(stderr, "* %.3f upgraded to websocket\n", now_s());
}

static void on_close(wsio_sio_client *c, const char *reason, int again,
                     void *u) {
  (void)c;
  (void)u;
  if (G.verbose || (!G.closing && !again))
    fprintf(stderr, "* %.3f engine closed: %s%s\n", now_s(), reason,
            again ? " (reconnecting)" : "");
  if (again)
    return;
  if (G.closing) {
    finish(X_CLOSED);
    return;
  }
  finish(strcmp(reason, "ping timeout") == 0 ? X_TIMEOUT : X_NETWORK);
}

static void on_error(wsio_sio_client *c, int err, int status,
                     const char *detail, void *u) {
  (void)u;
  (void)status;
  fprintf(stderr, "wsio-cat: error: %s (%s)\n", detail,
          wsio_sio_client_strerror(err));
  G.exit_code = err == WSIO_ETLS                               ? X_TLS
                : err == WSIO_EREFUSED                         ? X_REFUSED
                : err == WSIO_EPROTOCOL || err == WSIO_ETOOBIG ? X_PROTOCOL
                : err == WSIO_ETIMEDOUT                        ? X_TIMEOUT
                                                               : X_NETWORK;
  G.have_error = 1;
  if (wsio_sio_client_is_done(c))
    loop_stop(G.loop);
}

static void on_reconnect_attempt(wsio_sio_client *c, unsigned attempt,
                                 uint32_t delay, void *u) {
  (void)c;
  (void)u;
  if (G.verbose)
    fprintf(stderr, "* %.3f reconnect: attempt %u in %u ms\n", now_s(),
            attempt, delay);
}

static void on_reconnect(wsio_sio_client *c, unsigned n, void *u) {
  (void)c;
  (void)u;
  G.have_error = 0;
  if (G.verbose)
    fprintf(stderr, "* %.3f reconnected after %u attempt(s)\n", now_s(), n);
}

static void on_reconnect_failed(wsio_sio_client *c, void *u) {
  (void)c;
  (void)u;
  fprintf(stderr, "wsio-cat: gave up reconnecting\n");
  finish(X_NETWORK);
}

static void on_connect(wsio_sio_client_socket *s, const char *sid,
                       int recovered, void *u) {
  (void)s;
  (void)u;
  if (G.verbose)
    fprintf(stderr, "* %.3f connected: namespace sid %s%s\n", now_s(), sid,
            recovered ? " (recovered)" : "");
  maybe_close();
}

static void on_connect_error(wsio_sio_client_socket *s, const char *data,
                             size_t len, void *u) {
  (void)s;
  (void)u;
  fprintf(stderr, "wsio-cat: connect_error: %.*s\n", (int)len, data);
  G.exit_code = X_REFUSED;
  G.have_error = 1;
  loop_stop(G.loop);
}

static void on_disconnect(wsio_sio_client_socket *s, const char *reason,
                          int again, void *u) {
  (void)s;
  (void)u;
  if (G.verbose || !G.closing)
    fprintf(stderr, "* %.3f disconnect: %s%s\n", now_s(), reason,
            again ? " (reconnecting)" : "");
  if (strcmp(reason, "io server disconnect") == 0)
    finish(X_CLOSED);
}

int wsio_cat_sio_main(int argc, char **argv) {
  static const struct option opts[] = {
      {"sio", required_argument, 0, 1},
      {"namespace", required_argument, 0, 'N'},
      {"auth", required_argument, 0, 'a'},
      {"transport", required_argument, 0, 'T'},
      {"path", required_argument, 0, 2},
      {"header", required_argument, 0, 'H'},
      {"ca", required_argument, 0, 3},
      {"insecure", no_argument, 0, 'k'},
      {"cert", required_argument, 0, 4},
      {"key", required_argument, 0, 5},
      {"no-reconnect", no_argument, 0, 'n'},
      {"timeout", required_argument, 0, 't'},
      {"verbose", no_argument, 0, 'v'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  const char *url = NULL, *nsp = "/", *auth = NULL, *headers[65] = {0};
  int nh = 0;
  wsio_sio_client_options o = {0};
  G.timeout_ms = 10000;
  optind = 1;
  for (int c; (c = getopt_long(argc, argv, "N:a:T:H:knt:vh", opts, NULL)) != -1;) {
    switch (c) {
    case 1:
      url = optarg;
      break;
    case 'N':
      nsp = optarg;
      break;
    case 'a':
      auth = optarg;
      break;
    case 'T':
      if (strcmp(optarg, "polling") == 0)
        o.transports = WSIO_SIO_POLLING;
      else if (strcmp(optarg, "websocket") == 0)
        o.transports = WSIO_SIO_WEBSOCKET;
      else
        return fprintf(stderr, "wsio-cat: --transport polling|websocket\n"),
               X_USAGE;
      break;
    case 2:
      o.path = optarg;
      break;
    case 'H':
      if (nh == 64)
        return fprintf(stderr, "wsio-cat: too many headers\n"), X_USAGE;
      headers[nh++] = optarg;
      break;
    case 'n':
      o.no_reconnect = 1;
      break;
    case 'k':
      o.insecure = 1;
      break;
    case 3:
      o.ca_file = optarg;
      break;
    case 4:
      o.cert_file = optarg;
      break;
    case 5:
      o.key_file = optarg;
      break;
    case 't': {
      double s = atof(optarg);
      if (s <= 0)
        return fprintf(stderr, "wsio-cat: --timeout wants seconds > 0\n"),
               X_USAGE;
      G.timeout_ms = o.timeout_ms = (uint32_t)(s * 1000);
      break;
    }
    case 'v':
      G.verbose = 1;
      break;
    case 'h':
      fputs(sio_usage, stdout);
      return 0;
    default:
      fputs(sio_usage, stderr);
      return X_USAGE;
    }
  }
  if (!url && optind == argc - 1)
    url = argv[optind++];
  if (!url || optind != argc) {
    fputs(sio_usage, stderr);
    return X_USAGE;
  }
  if (!o.cert_file != !o.key_file)
    return fprintf(stderr, "wsio-cat: --cert and --key go together (the "
                           "client certificate and its private key)\n"),
           X_USAGE;
  o.headers = nh ? headers : NULL;
  o.on_open = on_open;
  o.on_upgrade = on_upgrade;
  o.on_close = on_close;
  o.on_error = on_error;
  o.on_reconnect_attempt = on_reconnect_attempt;
  o.on_reconnect = on_reconnect;
  o.on_reconnect_failed = on_reconnect_failed;
  if (G.verbose) {
    o.on_packet = on_packet;
    o.on_tls = on_tls;
  }
  G.app = wsio_app_create(NULL);
  if (!G.app)
    return fprintf(stderr, "wsio-cat: cannot create the app\n"), X_NETWORK;
  G.loop = core_loop(G.app);
  G.t0 = loop_now_ms(G.loop);
  int err;
  G.c = wsio_sio_client_create(G.app, url, &o, &err);
  if (!G.c) {
    fprintf(stderr, "wsio-cat: %s: %s\n", url, wsio_sio_client_strerror(err));
    wsio_app_destroy(G.app);
    return err == WSIO_EURL || err == WSIO_EINVAL ? X_USAGE : X_NETWORK;
  }
  wsio_sio_client_socket_options so = {.on_connect = on_connect,
                                       .on_connect_error = on_connect_error,
                                       .on_disconnect = on_disconnect,
                                       .on_event = on_event};
  G.s = wsio_sio_client_socket_open(G.c, nsp, auth, &so, &err);
  if (!G.s) {
    fprintf(stderr, "wsio-cat: --namespace/--auth: %s\n",
            wsio_sio_client_strerror(err));
    wsio_app_destroy(G.app);
    return X_USAGE;
  }
  G.in.fd = STDIN_FILENO;
  G.in.cb = on_stdin;
  G.in_started = loop_io_start(G.loop, &G.in, EPOLLIN) == 0;
  if (!G.in_started)
    while (!G.stdin_done)
      on_stdin(&G.in, EPOLLIN);
  loop_run(G.loop);
  wsio_app_destroy(G.app);
  free(G.line);
  return G.exit_code;
}
