/* The connection blocks an app keeps for its next accepts (core/app.c, conn_alloc):
 * a burst of short connections leaves its blocks kept, the next connections reuse them
 * instead of taking new ones, and the count stays within CORE_CONN_SPARE_MAX. Without
 * them, each freed block merged with its free neighbours and was cut for other sizes:
 * the heap grew through the 10-minute soak (docs/reliability.md, known issue 4). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/conn.h"
#include "test.h"
#include "wsio.h"

#define BURST 40

static void h_ok(const wsio_request *req, wsio_response *res, void *user) {
  (void)req;
  (void)user;
  wsio_response_send(res, 200, NULL, "ok", 2);
}

static wsio_app *app;
static atomic_int run_rc = 1;

static void *run(void *arg) {
  (void)arg;
  atomic_store(&run_rc, wsio_app_run(app));
  return NULL;
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Sends one request on fd and reads its answer ("ok"). keep: HTTP keep-alive (the
 * server holds the connection), else Connection: close. 1 when it was a 200. */
static int ask(int fd, int keep) {
  const char *req = keep ? "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"
                         : "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  size_t len = strlen(req);
  if (write(fd, req, len) != (ssize_t)len) return 0;
  char buf[512];
  size_t n = 0;
  ssize_t r;
  buf[0] = 0;
  while (n < sizeof(buf) - 1 && !strstr(buf, "\r\n\r\nok") && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0) {
    n += (size_t)r;
    buf[n] = 0;
  }
  return strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, "\r\n\r\nok") != NULL;
}

static void test_blocks_kept_and_reused(void) {
  wsio_app_options o;
  wsio_app_options_init(&o);
  o.handle_signals = 0;
  app = wsio_app_create(&o);
  CHECK(app != NULL);
  if (!app) return;
  CHECK_EQ_INT(wsio_app_http(app, "GET", "/ok", h_ok, NULL), 0);
  CHECK_EQ_INT(wsio_app_listen(app, "127.0.0.1", 0), 0);
  int port = wsio_app_port(app);
  pthread_t th;
  CHECK_EQ_INT(pthread_create(&th, NULL, run, NULL), 0);

  /* A burst: BURST connections, each answered and held (keep-alive), so that all are
   * open on the server at once; then all closed. */
  int fds[BURST], ok = 0;
  for (int i = 0; i < BURST; i++) fds[i] = dial(port);
  for (int i = 0; i < BURST; i++)
    if (fds[i] >= 0) ok += ask(fds[i], 1);
  for (int i = 0; i < BURST; i++)
    if (fds[i] >= 0) close(fds[i]);
  usleep(100 * 1000);
  /* Then as many again, one after the other: each can reuse a kept block. */
  for (int i = 0; i < BURST; i++) {
    int fd = dial(port);
    if (fd < 0) continue;
    ok += ask(fd, 0);
    close(fd);
  }
  CHECK_EQ_INT(ok, 2 * BURST);
  usleep(100 * 1000); /* the last closes reach the loop */
  wsio_app_stop(app);
  pthread_join(th, NULL);
  CHECK_EQ_INT(atomic_load(&run_rc), 0);
  /* The loop has returned: its fields can be read from here. */
  if (CORE_CONN_SPARE_MAX >= BURST) {
    /* The burst's blocks were kept, and the second round took no new ones (a fresh
     * block per connection would have left up to 2 * BURST here). */
    CHECK(app->nspare >= BURST);
    CHECK(app->nspare <= BURST + 1);
  }
  CHECK(app->nspare <= CORE_CONN_SPARE_MAX);
  wsio_app_destroy(app); /* frees them: LeakSanitizer and valgrind see no leak */
}

int main(void) {
  RUN(test_blocks_kept_and_reused);
  return test_report();
}
