/* core/app.c's post phase: what a callback run by the phase's own flush publishes goes
 * out in that same iteration. The case: a send that fails in the flush (the peer can
 * no longer be written to) ends its connection there, and the application's close
 * callback publishes "gone" to the topic the others watch, as a presence list does.
 * Before the fix the publish waited for the loop's next iteration, which an idle
 * loop begins only at its sweep (up to a second later).
 *
 * No thread is started: the app's loop is driven by hand (loop_run_once), so the test
 * knows which iteration ran the failing flush, and runs no iteration after it before
 * looking at what the watcher received. Both I/O modes (io_uring, plain syscalls). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/conn.h"
#include "net_harness.h"
#include "test.h"
#include "wsio.h"

static int closes;   /* close callbacks of the breaking connection */
static int gone_pub; /* what its publish returned */

static wsio_conn *watcher_conn; /* the first connection */

static void on_open(wsio_conn *c) {
  if (!watcher_conn) watcher_conn = c;
  wsio_conn_subscribe(c, "watch");
}

/* "break": from now on the kernel refuses this connection's sends (its write side is
 * shut down under the library), and two replies are queued with a send to the watcher
 * between them. The second reply cannot follow the first in the iteration's shared
 * output, so it is copied to the connection's own backlog, and the post phase's flush
 * sends from there: that send fails, and the flush ends the connection at once (a
 * failed send from the shared output is reported through the loop instead, in the
 * next iteration's I/O phase; a slow consumer's backlog or a TLS connection takes the
 * path tested here). */
static void on_message(wsio_conn *c, const uint8_t *d, size_t n, wsio_opcode op) {
  (void)op;
  if (n == 5 && memcmp(d, "break", 5) == 0) {
    shutdown(c->net.io.fd, SHUT_WR);
    wsio_conn_send(c, "a", 1, WSIO_OP_TEXT);
    wsio_conn_send(watcher_conn, "w", 1, WSIO_OP_TEXT);
    wsio_conn_send(c, "b", 1, WSIO_OP_TEXT);
  }
}

static void on_close(wsio_conn *c, int code, const uint8_t *reason, size_t len) {
  (void)code, (void)reason, (void)len;
  wsio_conn_unsubscribe(c, "watch");
  closes++;
  gone_pub = wsio_app_publish(wsio_conn_app(c), "watch", "gone", 4, WSIO_OP_TEXT);
}

static void sleep_us(long us) {
  struct timespec ts = {0, us * 1000};
  nanosleep(&ts, NULL);
}

/* Runs the loop one non-blocking iteration at a time until *flag reaches want (at most
 * ~2 s). Returns whether it did. */
static int pump_until(wsio_app *app, const int *flag, int want) {
  for (int i = 0; i < 2000 && *flag < want; i++) {
    (void)loop_run_once(core_loop(app));
    if (*flag < want) sleep_us(1000);
  }
  return *flag >= want;
}

/* Whether fd has bytes to read within ms. */
static int readable(int fd, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static int opened; /* 101s the clients have read */

/* A WebSocket client on /w: dials, sends the handshake, and pumps the loop until the
 * 101 is in. Returns the fd, or -1. */
static int ws_client(wsio_app *app) {
  int fd = test_dial(wsio_app_port(app), 0, 2, 2);
  if (fd < 0) return -1;
  static const char req[] = "GET /w HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) goto fail;
  for (int i = 0; i < 2000 && !readable(fd, 0); i++) {
    (void)loop_run_once(core_loop(app));
    sleep_us(1000);
  }
  char buf[512];
  ssize_t r = read(fd, buf, sizeof(buf) - 1);
  if (r < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0) goto fail;
  buf[r] = 0;
  if (!strstr(buf, "\r\n\r\n") || strstr(buf, "\r\n\r\n")[4]) goto fail; /* the 101 alone */
  opened++;
  return fd;
fail:
  close(fd);
  return -1;
}

/* A masked text frame with payload s. */
static int send_text(int fd, const char *s) {
  uint8_t f[64];
  size_t n = strlen(s);
  static const uint8_t mask[4] = {1, 2, 3, 4};
  f[0] = 0x81;
  f[1] = (uint8_t)(0x80 | n);
  memcpy(f + 2, mask, 4);
  for (size_t i = 0; i < n; i++) f[6 + i] = (uint8_t)s[i] ^ mask[i & 3];
  return write(fd, f, 6 + n) == (ssize_t)(6 + n) ? 0 : -1;
}

static void run(int io_uring) {
  closes = 0;
  gone_pub = -100;
  watcher_conn = NULL;
  wsio_app_options o;
  wsio_app_options_init(&o);
  o.handle_signals = 0;
  o.io_uring = io_uring;
  wsio_app *app = wsio_app_create(&o);
  CHECK(app != NULL);
  if (!app) return;
  static const wsio_ws_handlers h = {.open = on_open, .message = on_message, .close = on_close};
  CHECK_EQ_INT(wsio_app_ws(app, "/w", &h, NULL), 0);
  CHECK_EQ_INT(wsio_app_listen(app, "127.0.0.1", 0), 0);
  int watcher = ws_client(app), breaker = ws_client(app);
  CHECK(watcher >= 0 && breaker >= 0);
  if (watcher < 0 || breaker < 0) goto out;
  CHECK_EQ_INT(send_text(breaker, "break"), 0);
  /* The iteration that reads "break" fails the reply in its flush: the close callback
   * runs there, and publishes. */
  CHECK(pump_until(app, &closes, 1));
  CHECK_EQ_INT(gone_pub, 1); /* one subscriber left: the watcher */
  /* No iteration is run from here: the publish must already be on the wire, behind
   * the send to the watcher made before it. */
  static const uint8_t want[] = {0x81, 1, 'w', 0x81, 4, 'g', 'o', 'n', 'e'};
  uint8_t buf[32];
  size_t got = 0;
  while (got < sizeof(want) && readable(watcher, 2000)) {
    ssize_t r = read(watcher, buf + got, sizeof(buf) - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  CHECK(got == sizeof(want) && memcmp(buf, want, sizeof(want)) == 0);
out:
  if (watcher >= 0) close(watcher);
  if (breaker >= 0) close(breaker);
  wsio_app_destroy(app);
}

static void test_publish_from_the_flush_io_uring(void) { run(1); }
static void test_publish_from_the_flush_syscalls(void) { run(0); }

int main(void) {
  RUN(test_publish_from_the_flush_io_uring);
  RUN(test_publish_from_the_flush_syscalls);
  return test_report();
}
