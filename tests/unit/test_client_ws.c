/* tests/unit/test_client_ws.c — unit tests for the pure parts of
 * src/client/ws_client.c (included, H2O style, to reach its static functions):
 * URL splitting, option copying and validation, the reconnect delays (Node's
 * formula) and the offline queue's caps and drop policies; a client
 * certificate's option plumbing (both or neither; a file that cannot be loaded
 * is WSIO_ETLS from the loop, naming it). The connection itself is tested by
 * tests/client/ (wsio-cat; client_cert.test.js for mutual TLS). */
#include "../../src/client/ws_client.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "test.h"

static wsio_ws_client *fresh(void) {
  wsio_ws_client *cl = calloc(1, sizeof *cl);
  client_rng_seed_words(&cl->rng, 12345, 678, 9, 1);
  return cl;
}

static void drop(wsio_ws_client *cl) {
  release_all(cl);
  free(cl);
}

static void test_url(void) {
  struct {
    const char *url;
    int err;
    const char *host, *port, *host_header, *path;
  } cases[] = {
      {"ws://example.com/chat", 0, "example.com", "80", "example.com", "/chat"},
      {"ws://127.0.0.1:3000", 0, "127.0.0.1", "3000", "127.0.0.1:3000", "/"},
      {"ws://h:1/a/b?x=1&y=2", 0, "h", "1", "h:1", "/a/b?x=1&y=2"},
      {"ws://h?x=1", 0, "h", "80", "h", "/?x=1"},
      {"ws://h/p#frag", 0, "h", "80", "h", "/p"},
      {"ws://[::1]:8080/x", 0, "::1", "8080", "[::1]:8080", "/x"},
      {"wss://h/", 0, "h", "443", "h", "/"},
      {"wss://[::1]:8443/x?y", 0, "::1", "8443", "[::1]:8443", "/x?y"},
      {"wss:/h/", WSIO_EURL, 0, 0, 0, 0},
      {"http://h/", WSIO_EURL, 0, 0, 0, 0},
      {"ws:///p", WSIO_EURL, 0, 0, 0, 0},
      {"ws://h:0/", WSIO_EURL, 0, 0, 0, 0},
      {"ws://h:65536/", WSIO_EURL, 0, 0, 0, 0},
      {"ws://h:/", WSIO_EURL, 0, 0, 0, 0},
      {"ws://h:12x/", WSIO_EURL, 0, 0, 0, 0},
      {"ws://[::1/", WSIO_EURL, 0, 0, 0, 0},
      {"ws://h/a b", WSIO_EURL, 0, 0, 0,
       0}, /* a space would split the request line */
      {"ws://h/a\r\nX: y", WSIO_EURL, 0, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wsio_ws_client *cl = fresh();
    char host[256], port[8];
    int r = parse_url(cl, cases[i].url, host, sizeof host, port, sizeof port);
    CHECK_EQ_INT(r, cases[i].err);
    if (r == 0) {
      CHECK_STR(host, cases[i].host);
      CHECK_STR(port, cases[i].port);
      CHECK_STR(cl->host_header, cases[i].host_header);
      CHECK_STR(cl->path, cases[i].path);
    }
    drop(cl);
  }
}

static void test_options(void) {
  wsio_ws_client *cl = fresh();
  CHECK_EQ_INT(copy_options(cl, NULL), 0);
  CHECK_EQ_INT((int)cl->o.reconnect_min_ms, 1000);
  CHECK_EQ_INT((int)cl->o.reconnect_max_ms, 5000);
  CHECK(cl->o.randomization == 0.5);
  CHECK_EQ_INT((int)cl->o.max_message_size, 1 << 20);
  CHECK_EQ_INT((int)cl->o.queue_max_count, 1024);
  drop(cl);

  const char *protos[] = {"chat", "superchat", NULL};
  const char *hdrs[] = {"X-A: 1", "Authorization: Bearer t", NULL};
  wsio_ws_client_options o = {
      .subprotocols = protos, .headers = hdrs, .origin = "http://o"};
  cl = fresh();
  CHECK_EQ_INT(copy_options(cl, &o), 0);
  CHECK_STR(cl->protocols, "chat, superchat");
  CHECK_STR(cl->headers, "X-A: 1\r\nAuthorization: Bearer t\r\n");
  CHECK_STR(cl->origin, "http://o");
  /* (The 101's choice is matched against these: client/handshake.c.) */
  CHECK_STR(cl->o.subprotocols[0], "chat");
  CHECK_STR(cl->o.subprotocols[1], "superchat");
  CHECK(cl->o.subprotocols[2] == NULL);
  drop(cl);

  /* Header injection and malformed entries are refused. */
  const char *bad_hdrs[][2] = {
      {"X: a\r\nY: b", NULL}, {"NoColon", NULL}, {": v", NULL}};
  for (size_t i = 0; i < 3; i++) {
    wsio_ws_client_options b = {.headers = bad_hdrs[i]};
    cl = fresh();
    CHECK_EQ_INT(copy_options(cl, &b), WSIO_EINVAL);
    drop(cl);
  }
  const char *bad_protos[] = {"a b", NULL};
  wsio_ws_client_options bp = {.subprotocols = bad_protos};
  cl = fresh();
  CHECK_EQ_INT(copy_options(cl, &bp), WSIO_EINVAL);
  drop(cl);
  wsio_ws_client_options bo = {.origin = "http://x\r\nEvil: 1"};
  cl = fresh();
  CHECK_EQ_INT(copy_options(cl, &bo), WSIO_EINVAL);
  drop(cl);
}

/* The client's delays: client/backoff.c's formula (tests/unit/
 * test_client_backoff.c) under the options' defaults. */
static uint32_t backoff_ms(wsio_ws_client *cl, unsigned n) {
  return client_backoff_ms(&cl->rng, cl->o.reconnect_min_ms,
                           cl->o.reconnect_max_ms, cl->o.randomization, n);
}

/* Node's backo2: attempt n (from 0) waits min * 2^n +- randomization, capped at
 * max. */
static void test_backoff(void) {
  wsio_ws_client *cl = fresh();
  CHECK_EQ_INT(copy_options(cl, NULL), 0);
  for (int k = 0; k < 2000; k++) {
    uint32_t d0 = backoff_ms(cl, 0), d1 = backoff_ms(cl, 1),
             d2 = backoff_ms(cl, 2), d9 = backoff_ms(cl, 9);
    CHECK(d0 >= 500 && d0 <= 1500);
    CHECK(d1 >= 1000 && d1 <= 3000);
    CHECK(d2 >= 2000 && d2 <= 5000);
    CHECK(d9 >= 2500 && d9 <= 5000);
  }
  /* Jitter is really random: not every delay is the same. */
  uint32_t first = backoff_ms(cl, 0);
  int differs = 0;
  for (int k = 0; k < 50; k++)
    differs |= backoff_ms(cl, 0) != first;
  CHECK(differs);
  cl->o.randomization = 0;
  CHECK_EQ_INT((int)backoff_ms(cl, 0), 1000);
  CHECK_EQ_INT((int)backoff_ms(cl, 2), 4000);
  CHECK_EQ_INT((int)backoff_ms(cl, 3), 5000);
  CHECK_EQ_INT((int)backoff_ms(cl, 40),
               5000); /* no overflow with many attempts */
  drop(cl);
}

static void test_queue(void) {
  wsio_ws_client *cl = fresh();
  wsio_ws_client_options o = {.queue_max_count = 3, .queue_max_bytes = 10};
  CHECK_EQ_INT(copy_options(cl, &o), 0);
  CHECK_EQ_INT(queue_push(cl, "aa", 2, WSIO_OP_TEXT), 1);
  CHECK_EQ_INT(queue_push(cl, "bb", 2, WSIO_OP_TEXT), 1);
  CHECK_EQ_INT(queue_push(cl, "cc", 2, WSIO_OP_BINARY), 1);
  /* Oldest: the count cap drops "aa" for "dd". */
  CHECK_EQ_INT(queue_push(cl, "dd", 2, WSIO_OP_TEXT), 1);
  CHECK_EQ_INT((int)cl->qcount, 3);
  CHECK(memcmp(cl->qhead->data, "bb", 2) == 0 &&
        memcmp(cl->qtail->data, "dd", 2) == 0);
  /* The byte cap: 6 queued + 8 > 10 drops from the head ("bb", "cc") until it
   * fits. */
  CHECK_EQ_INT(queue_push(cl, "12345678", 8, WSIO_OP_TEXT), 1);
  CHECK_EQ_INT((int)cl->qcount, 2);
  CHECK_EQ_INT((int)cl->qbytes, 10);
  CHECK(memcmp(cl->qhead->data, "dd", 2) == 0 && cl->qtail->len == 8);
  CHECK_EQ_INT(queue_push(cl, "this is too long", 16, WSIO_OP_TEXT),
               WSIO_EDROPPED);
  queue_clear(cl);
  CHECK(cl->qhead == NULL && cl->qtail == NULL && cl->qbytes == 0 &&
        cl->qcount == 0);
  drop(cl);

  cl = fresh();
  wsio_ws_client_options n = {.queue_max_count = 2,
                              .queue_max_bytes = 10,
                              .queue_drop = WSIO_QUEUE_DROP_NEWEST};
  CHECK_EQ_INT(copy_options(cl, &n), 0);
  CHECK_EQ_INT(queue_push(cl, "a", 1, WSIO_OP_TEXT), 1);
  CHECK_EQ_INT(queue_push(cl, "b", 1, WSIO_OP_TEXT), 1);
  CHECK_EQ_INT(queue_push(cl, "c", 1, WSIO_OP_TEXT), WSIO_EDROPPED);
  CHECK(cl->qhead->data[0] == 'a' && cl->qtail->data[0] == 'b');
  drop(cl);
}

static void test_strerror(void) {
  CHECK(strstr(wsio_ws_client_strerror(WSIO_EREFUSED), "refused") != NULL);
  CHECK(strstr(wsio_ws_client_strerror(WSIO_EPROTOCOL), "protocol") != NULL);
  CHECK_STR(wsio_ws_client_strerror(WSIO_ENOMEM), wsio_strerror(WSIO_ENOMEM));
}

/* A host with several addresses: a refused first address moves on to the next
 * at once (no reconnect delay, no error reported). */
static int next_opened, next_errors;

static void srv_echo(wsio_conn *c, const uint8_t *d, size_t n, wsio_opcode op) {
  wsio_conn_send(c, d, n, op);
}

static void next_open(wsio_ws_client *cl, const char *p, void *user) {
  (void)cl;
  (void)p;
  next_opened++;
  wsio_app_stop(user);
}

static void next_error(wsio_ws_client *cl, int err, int status, const char *d,
                       void *user) {
  (void)cl;
  (void)err;
  (void)status;
  (void)d;
  next_errors++;
  wsio_app_stop(user);
}

static void test_next_address(void) {
  wsio_app_options ao;
  wsio_app_options_init(&ao);
  ao.handle_signals = 0;
  wsio_app *app = wsio_app_create(&ao);
  wsio_ws_handlers h = {.message = srv_echo};
  CHECK_EQ_INT(wsio_app_ws(app, "/", &h, NULL), 0);
  CHECK_EQ_INT(wsio_app_listen(app, "127.0.0.1", 0), 0);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", wsio_app_port(app));
  wsio_ws_client_options o = {.user = app,
                              .on_open = next_open,
                              .on_error = next_error,
                              .no_reconnect = 1};
  wsio_ws_client *cl = wsio_ws_client_create(app, url, &o, NULL);
  CHECK(cl != NULL);
  CHECK_EQ_INT((int)cl->naddr, 1);
  /* addr[0]: a port nobody listens on (bound, then closed); addr[1]: the
   * server. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sin;
  CHECK(bind(fd, (struct sockaddr *)&sin, sl) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
  close(fd);
  cl->addr[1] = cl->addr[0];
  cl->addr_len[1] = cl->addr_len[0];
  memcpy(&cl->addr[0], &sin, sizeof sin);
  cl->addr_len[0] = sizeof sin;
  cl->naddr = 2;
  CHECK_EQ_INT(wsio_app_run(app), 0);
  CHECK_EQ_INT(next_opened, 1);
  CHECK_EQ_INT(next_errors, 0);
  CHECK_EQ_INT((int)cl->attempt, 0);
  wsio_app_destroy(app);
}

/* ---- a client certificate ---------------------------------------------------
 * cert_file and key_file go together; a file that cannot be loaded is reported
 * as a ca_file is: WSIO_ETLS from the loop (never inside create), the detail
 * naming the file, and the client stops. */

static struct {
  loop *loop;
  int err, calls;
  char detail[600];
} T;

static void t_error(wsio_ws_client *cl, int err, int status, const char *detail,
                    void *u) {
  (void)cl, (void)status, (void)u;
  T.err = err;
  T.calls++;
  snprintf(T.detail, sizeof T.detail, "%s", detail);
  loop_stop(T.loop);
}

static void t_guard(loop_timer *t) {
  (void)t;
  loop_stop(T.loop);
}

/* Creates a wss:// client with these files and runs the loop until its first
 * error (port 9: nothing is ever connected to). */
static wsio_ws_client *t_run(wsio_app *app, const char *cert, const char *key) {
  memset(&T, 0, sizeof T);
  T.loop = core_loop(app);
  wsio_ws_client_options o = {.cert_file = cert,
                              .key_file = key,
                              .no_reconnect = 1,
                              .on_error = t_error};
  int err;
  wsio_ws_client *cl =
      wsio_ws_client_create(app, "wss://127.0.0.1:9/", &o, &err);
  CHECK(cl != NULL);
  CHECK_EQ_INT(T.calls, 0);
  loop_timer guard = {.cb = t_guard};
  loop_timer_start(T.loop, &guard, 10000, 0);
  loop_run(T.loop);
  loop_timer_stop(T.loop, &guard);
  CHECK_EQ_INT(T.calls, 1);
  return cl;
}

static void test_client_cert(void) {
  const char *pem = "/nonexistent-wsio/client.pem",
             *key = "/nonexistent-wsio/client.key";
  wsio_ws_client_options half[] = {{.cert_file = pem}, {.key_file = key}};
  for (size_t i = 0; i < 2; i++) {
    wsio_ws_client *cl = fresh();
    CHECK_EQ_INT(copy_options(cl, &half[i]), WSIO_EINVAL);
    drop(cl);
  }
  wsio_ws_client_options both = {.cert_file = pem, .key_file = key};
  wsio_ws_client *cl = fresh();
  CHECK_EQ_INT(copy_options(cl, &both), 0);
  CHECK_EQ_INT(cl->client_cert, 1);
  CHECK(cl->o.cert_file == NULL && cl->o.key_file == NULL); /* not kept */
  drop(cl);

  wsio_app *app = wsio_app_create(NULL);
  int err = 0;
  CHECK(wsio_ws_client_create(app, "wss://127.0.0.1:9/", &half[0], &err) ==
        NULL);
  CHECK_EQ_INT(err, WSIO_EINVAL);

  cl = t_run(app, pem, key);
  CHECK_EQ_INT(T.err, WSIO_ETLS);
  CHECK(strstr(T.detail, "cannot read the client certificate "
                         "/nonexistent-wsio/client.pem") != NULL);
  CHECK(wsio_ws_client_is_done(cl));

  /* A file that is there but not PEM. */
  char junk[] = "/tmp/wsio-test-client-cert-XXXXXX";
  int fd = mkstemp(junk);
  CHECK(fd >= 0);
  CHECK(write(fd, "not a certificate\n", 18) == 18);
  close(fd);
  cl = t_run(app, junk, junk);
  CHECK_EQ_INT(T.err, WSIO_ETLS);
  CHECK(strstr(T.detail, "cannot load the client certificate (PEM)") != NULL);
  CHECK(strstr(T.detail, junk) != NULL);
  unlink(junk);
  wsio_app_destroy(app); /* frees the clients */
}

int main(void) {
  RUN(test_client_cert);
  RUN(test_next_address);
  RUN(test_url);
  RUN(test_options);
  RUN(test_backoff);
  RUN(test_queue);
  RUN(test_strerror);
  return test_report();
}
