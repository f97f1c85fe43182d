/* tests/install/clash.c — an application that defines functions with the same names as
 * wsio's internal ones (map_get, loop_run, net_write, sbuf_put), with other signatures
 * and behaviour, and uses wsio beside them. Built by test_install.sh against the
 * installed shared and static libraries: it links only when libwsio.a defines no such
 * global name, and it works only when libwsio.so neither exports them nor calls ours.
 *
 * The round trips go through the paths that call those internals: the loop (loop_run),
 * writes (net_write), Socket.IO namespace and handler lookup (map_get) and packet
 * encoding (sbuf_put). Exits 0 and prints "ok" when everything answered. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wsio.h>

/* ---- the application's own functions, with wsio's internal names -------------------- */
static int own_calls;

int map_get(int key) {
  own_calls++;
  return key * 2;
}
const char *loop_run(void) {
  own_calls++;
  return "application loop";
}
double net_write(double x) {
  own_calls++;
  return x + 0.5;
}
void sbuf_put(char *out) {
  own_calls++;
  strcpy(out, "mine");
}

static int own_functions_work(void) {
  char s[8];
  sbuf_put(s);
  return map_get(21) == 42 && strcmp(loop_run(), "application loop") == 0 && net_write(1.0) == 1.5 &&
         strcmp(s, "mine") == 0;
}

/* ---- the server side --------------------------------------------------------------- */
static void on_message(wsio_conn *c, const uint8_t *data, size_t len, wsio_opcode op) {
  int sent = wsio_conn_send(c, data, len, op);
  if (sent < 0) fprintf(stderr, "clash: send failed: %s\n", wsio_strerror(sent));
}

static void on_hi(wsio_sio_socket *s, const char *event, const wsio_sio_args *args, wsio_sio_ack ack,
                  void *user) {
  (void)event, (void)args, (void)ack, (void)user;
  if (wsio_sio_emit(s, "hello", "[\"there\"]", 0, NULL, 0) < 0) fprintf(stderr, "clash: emit failed\n");
}

/* ---- a minimal blocking WebSocket client, run on its own thread --------------------- */
typedef struct {
  int fd;
  char buf[4096];
  size_t len; /* bytes received and not consumed yet */
} client;

static int fill(client *c) {
  if (c->len == sizeof c->buf) return -1;
  ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
  if (n <= 0) return -1;
  c->len += (size_t)n;
  return 0;
}

static void consume(client *c, size_t n) {
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
}

static int ws_connect(client *c, int port, const char *target) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  c->len = 0;
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   target);
  if (write(c->fd, req, (size_t)n) != n) return -1;
  char *end;
  while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
    if (fill(c) != 0) return -1;
  if (strncmp(c->buf, "HTTP/1.1 101", 12) != 0) return -1;
  consume(c, (size_t)(end + 4 - c->buf));
  return 0;
}

/* Sends one masked text frame (RFC 6455 5.3: a client masks every frame). */
static int ws_send(client *c, const char *text) {
  size_t n = strlen(text);
  uint8_t f[132] = {0x81, (uint8_t)(0x80 | n), 1, 2, 3, 4};
  if (n > 125) return -1;
  for (size_t i = 0; i < n; i++) f[6 + i] = (uint8_t)text[i] ^ f[2 + (i & 3)];
  return write(c->fd, f, 6 + n) == (ssize_t)(6 + n) ? 0 : -1;
}

/* Receives one unmasked frame of at most 125 bytes into out (NUL-terminated). */
static int ws_recv(client *c, char *out, size_t cap) {
  while (c->len < 2 || c->len < 2 + (size_t)(c->buf[1] & 0x7F))
    if (fill(c) != 0) return -1;
  size_t n = (size_t)(c->buf[1] & 0x7F);
  if (n > 125 || n >= cap) return -1;
  memcpy(out, c->buf + 2, n);
  out[n] = '\0';
  consume(c, 2 + n);
  return 0;
}

static int expect(client *c, const char *prefix) {
  char got[128];
  if (ws_recv(c, got, sizeof got) != 0) return -1;
  if (strncmp(got, prefix, strlen(prefix)) == 0) return 0;
  fprintf(stderr, "clash: expected %s..., got %s\n", prefix, got);
  return -1;
}

typedef struct {
  wsio_app *app;
  int port;
  int ok;
} run_state;

static void *talk(void *arg) {
  run_state *st = arg;
  client ws, sio;
  st->ok = ws_connect(&ws, st->port, "/echo") == 0 && ws_send(&ws, "ping") == 0 && expect(&ws, "ping") == 0 &&
           ws_connect(&sio, st->port, "/socket.io/?EIO=4&transport=websocket") == 0 &&
           expect(&sio, "0{") == 0 && ws_send(&sio, "40") == 0 && expect(&sio, "40{") == 0 &&
           ws_send(&sio, "42[\"hi\"]") == 0 && expect(&sio, "42[\"hello\",\"there\"]") == 0;
  wsio_app_stop(st->app);
  return NULL;
}

int main(void) {
  alarm(30); /* a wsio that calls our loop_run would never answer: fail, don't hang */
  if (!own_functions_work() || own_calls != 4) {
    fprintf(stderr, "clash: the application's own functions were replaced\n");
    return 1;
  }
  wsio_app *app = wsio_app_create(NULL);
  wsio_ws_handlers h = {.message = on_message};
  wsio_sio *io = app ? wsio_sio_attach(app, NULL) : NULL;
  wsio_sio_nsp *nsp = io ? wsio_sio_of(io, "/") : NULL;
  if (!nsp || wsio_app_ws(app, "/echo", &h, NULL) < 0 || wsio_sio_nsp_on(nsp, "hi", on_hi, NULL) < 0 ||
      wsio_app_listen(app, "127.0.0.1", 0) < 0) {
    fprintf(stderr, "clash: setting up the app failed\n");
    return 1;
  }
  run_state st = {.app = app, .port = wsio_app_port(app)};
  pthread_t t;
  if (pthread_create(&t, NULL, talk, &st) != 0) return 1;
  int r = wsio_app_run(app);
  pthread_join(t, NULL);
  wsio_app_destroy(app);
  /* wsio never called ours: still the four calls made above. */
  if (r < 0 || !st.ok || own_calls != 4) {
    fprintf(stderr, "clash: run %d, round trips %s, own calls %d\n", r, st.ok ? "ok" : "failed", own_calls);
    return 1;
  }
  puts("ok");
  return 0;
}
