/* fuzz/fuzz_server.c — libFuzzer target for the whole server: HTTP, the WebSocket
 * upgrade and frames, Engine.IO (polling and websocket) and Socket.IO, through the real
 * wsio_app with wsio-server's test app (src/app/app_test.c, tests/sio/TEST_APP.md) plus
 * the /echo and /broadcast WebSocket routes that wsio-server registers for every app.
 *
 * Transport: each client is one end of a socketpair(AF_UNIX, SOCK_STREAM) whose other
 * end the net layer adopts as if it had been accepted (net_adopt), so every byte goes
 * through the same read, parse, write and backpressure paths as TCP. The loop runs one
 * non-blocking iteration at a time (loop_run_once) on a fake clock (loop_fake_time), so
 * heartbeats, handshake and idle timeouts and ack deadlines fire when the input says.
 *
 * Input: a script of records, each [ctl][len][payload...]:
 *   ctl & 3        the connection (FUZZ_CONNS of them, opened on first use)
 *   (ctl >> 2) & 7 the operation:
 *     0-3  write the next len bytes (1..256, 0 meaning 256) to the connection;
 *          "@SID@" in them is replaced by the last Engine.IO sid the server sent
 *          (its sids are random: without this no polling request after the handshake
 *          could name its session)
 *     4    advance the clock by len * 100 ms
 *     5    half-close the client's side (shutdown SHUT_WR)
 *     6    close the client's socket (the next write opens a new connection)
 *     7    run (len & 7) + 1 more loop iterations
 * Between records the loop runs until idle (bounded) and every client's incoming bytes
 * are read and discarded (after looking for a sid). Bounded: FUZZ_MAX_INPUT bytes,
 * FUZZ_MAX_TIME_MS of simulated time. The app is created and destroyed per input, so
 * an input's result does not depend on the ones before (app_test's few globals aside).
 *
 * Checks: the sanitizers (ASan, UBSan) and that destroying the app frees everything
 * (LeakSanitizer at exit). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app/apps.h"
#include "core/conn.h"
#include "loop/loop.h"
#include "net/net.h"
#include "wsio.h"

#define FUZZ_CONNS 4
#define FUZZ_MAX_INPUT 16384
#define FUZZ_MAX_TIME_MS (10u * 60 * 1000)
#define FUZZ_SPIN 8 /* loop iterations after a record, at most */

typedef struct {
  int fd; /* the client's end, -1 when not open */
} client;

static char last_sid[64];
static int debug = -1; /* FUZZ_SERVER_DEBUG=1: the server's bytes go to stderr */

static void echo_message(wsio_conn *c, const uint8_t *data, size_t len, wsio_opcode op) {
  wsio_conn_send(c, data, len, op);
}
static void broadcast_open(wsio_conn *c) { wsio_conn_subscribe(c, "fuzz"); }
static void broadcast_message(wsio_conn *c, const uint8_t *data, size_t len, wsio_opcode op) {
  wsio_app_publish(wsio_conn_app(c), "fuzz", data, len, op);
}

/* Remembers the sid of the last Engine.IO open packet the server sent (0{"sid":"...),
 * not a Socket.IO CONNECT reply's (40{"sid":"...). */
static void find_sid(const char *p, size_t n) {
  static const char key[] = "0{\"sid\":\"";
  const char *end = p + n;
  for (const char *q = p; (q = memmem(q, (size_t)(end - q), key, sizeof(key) - 1)); q++) {
    if (q > p && q[-1] == '4') continue;
    const char *s = q + sizeof(key) - 1, *e = memchr(s, '"', (size_t)(end - s));
    if (e && (size_t)(e - s) < sizeof(last_sid)) {
      memcpy(last_sid, s, (size_t)(e - s));
      last_sid[e - s] = 0;
    }
  }
}

static void drain(client *cl) {
  char buf[65536];
  for (int i = 0; i < FUZZ_CONNS; i++) {
    if (cl[i].fd < 0) continue;
    for (int k = 0; k < 64; k++) {
      ssize_t r = recv(cl[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (r <= 0) break;
      find_sid(buf, (size_t)r);
      if (debug > 0) fprintf(stderr, "<%d< %.*s\n", i, (int)r, buf);
    }
  }
}

static void spin(wsio_app *app, client *cl, int times) {
  for (int i = 0; i < times; i++) {
    drain(cl);
    if (loop_run_once(app->loop) <= 0 && i > 0) break;
  }
  drain(cl);
}

static int open_client(wsio_app *app, client *c) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return -1;
  if (net_adopt(app->net, sv[1], NULL) < 0) {
    close(sv[0]);
    return -1;
  }
  c->fd = sv[0];
  return 0;
}

/* Writes p with "@SID@" replaced by the last sid; what the socket does not take now
 * is dropped (a client that gave up: the server must cope either way). */
static void client_write(client *c, const uint8_t *p, size_t n) {
  uint8_t out[256 * 16];
  size_t o = 0, sl = strlen(last_sid);
  for (size_t i = 0; i < n;) {
    if (n - i >= 5 && memcmp(p + i, "@SID@", 5) == 0) {
      memcpy(out + o, last_sid, sl);
      o += sl;
      i += 5;
    } else {
      out[o++] = p[i++];
    }
  }
  ssize_t r = send(c->fd, out, o, MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > FUZZ_MAX_INPUT) return 0;
  if (debug < 0) debug = getenv("FUZZ_SERVER_DEBUG") != NULL;
  wsio_app_options o;
  wsio_app_options_init(&o);
  o.io_uring = 0;       /* one code path per input: plain syscalls */
  o.handle_signals = 0; /* no signalfd: the fuzzer owns the process's signals */
  o.max_message_size = 64 * 1024;
  o.max_backpressure = 64 * 1024;
  wsio_app *app = wsio_app_create(&o);
  if (!app) return 0;
  uint64_t now = 1000000, t_end = now + FUZZ_MAX_TIME_MS;
  loop_fake_time(app->loop, now);
  wsio_ws_handlers echo = {.message = echo_message};
  wsio_ws_handlers bcast = {.open = broadcast_open, .message = broadcast_message};
  wsio_app_ws(app, "/echo", &echo, NULL);
  wsio_app_ws(app, "/broadcast", &bcast, NULL);
  server_config cfg = {.ping_interval_ms = 300, .ping_timeout_ms = 200};
  /* (app_test_setup registers its server with app/metrics.c's watch list, which keeps
   * the first 8 and is read only by /metrics: not mounted here, so the pointers left
   * from destroyed apps are never followed.) */
  if (app_test_setup(app, &cfg) < 0) abort();
  /* What wsio_app_run arms: the sweep of idle and handshake timeouts. */
  loop_timer_start(app->loop, &app->sweep, app->sweep_ms, app->sweep_ms);
  last_sid[0] = 0;

  client cl[FUZZ_CONNS];
  for (int i = 0; i < FUZZ_CONNS; i++) cl[i].fd = -1;
  size_t i = 0;
  while (i + 2 <= size) {
    uint8_t ctl = data[i], len = data[i + 1];
    i += 2;
    client *c = &cl[ctl & 3];
    int op = (ctl >> 2) & 7;
    if (op <= 3) {
      size_t n = len ? len : 256;
      if (n > size - i) n = size - i;
      if (c->fd < 0 && open_client(app, c) < 0) break;
      client_write(c, data + i, n);
      i += n;
    } else if (op == 4) {
      if (now + len * 100u > t_end) break;
      now += len * 100u;
      loop_fake_time(app->loop, now);
    } else if (op == 5) {
      if (c->fd >= 0) shutdown(c->fd, SHUT_WR);
    } else if (op == 6) {
      if (c->fd >= 0) close(c->fd);
      c->fd = -1;
    } else {
      spin(app, cl, (len & 7) + 1);
    }
    spin(app, cl, FUZZ_SPIN);
  }
  /* The peers go away, then the whole of the server's heartbeat and close timeouts. */
  for (int k = 0; k < FUZZ_CONNS; k++)
    if (cl[k].fd >= 0) {
      close(cl[k].fd);
      cl[k].fd = -1;
    }
  for (int k = 0; k < 4; k++) {
    now += 30000;
    loop_fake_time(app->loop, now);
    spin(app, cl, 2);
  }
  wsio_app_destroy(app);
  return 0;
}
