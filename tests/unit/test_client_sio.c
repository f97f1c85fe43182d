/* tests/unit/test_client_sio.c — the Socket.IO client role
 * (src/client/sio_client.c, included H2O style to reach its static functions,
 * and eio_client.c through it): URL splitting, option defaults, packet
 * building (event names, arguments, binary placeholders, ack ids,
 * namespaces), the send buffer's caps and drop policies, and one end-to-end
 * run against a wsio Socket.IO server on the same app and loop: two
 * namespaces, polling upgraded to WebSocket, an emit buffered before the
 * connection, binary acks, an ack timeout, the server asking the client for an
 * ack, volatile and invalid emits refused, and a polite close; a polling
 * session to "localhost" whose lookup is held 300 ms opens while the loop
 * keeps running (the name is resolved off the loop's thread); a client
 * certificate's option plumbing (both or neither; a file that cannot be loaded
 * is WSIO_ETLS naming it, in every transport mode). The wire against Node
 * socket.io is tested by tests/client/sio.test.js (client_cert.test.js for
 * mutual TLS). */
#include "../../src/client/sio_client.c"

#include "client/resolve.h"
#include "test.h"

static void test_url(void) {
  struct {
    const char *url;
    int err;
    const char *host, *port, *host_header;
    int tls;
  } cases[] = {
      {"http://example.com", 0, "example.com", "80", "example.com", 0},
      {"http://127.0.0.1:3000/", 0, "127.0.0.1", "3000", "127.0.0.1:3000", 0},
      {"http://[::1]:8080/x?y", 0, "::1", "8080", "[::1]:8080", 0},
      {"https://example.com/", 0, "example.com", "443", "example.com", 1},
      {"https://localhost:8443", 0, "localhost", "8443", "localhost:8443", 1},
      {"ws://h/", WSIO_EURL, 0, 0, 0, 0},
      {"wss://h/", WSIO_EURL, 0, 0, 0, 0},
      {"https:///", WSIO_EURL, 0, 0, 0, 0},
      {"httpss://h/", WSIO_EURL, 0, 0, 0, 0},
      {"http:///", WSIO_EURL, 0, 0, 0, 0},
      {"http://h:0", WSIO_EURL, 0, 0, 0, 0},
      {"http://h:70000", WSIO_EURL, 0, 0, 0, 0},
      {"http://h:1x", WSIO_EURL, 0, 0, 0, 0},
      {"http://h:", WSIO_EURL, 0, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wsio_sio_client *m = calloc(1, sizeof *m);
    int r = parse_url(m, cases[i].url);
    CHECK_EQ_INT(r, cases[i].err);
    if (r == 0) {
      CHECK_STR(m->host, cases[i].host);
      CHECK_STR(m->port, cases[i].port);
      CHECK_STR(m->host_header, cases[i].host_header);
      CHECK_EQ_INT(m->tls, cases[i].tls);
    }
    m_release(m);
    free(m);
  }
}

static void test_options(void) {
  wsio_sio_client *m = calloc(1, sizeof *m);
  CHECK_EQ_INT(copy_options(m, NULL), 0);
  CHECK_STR(m->path, "/socket.io/");
  CHECK_EQ_INT((int)m->o.reconnect_min_ms, 1000);
  CHECK_EQ_INT((int)m->o.reconnect_max_ms, 5000);
  CHECK(m->o.randomization == 0.5);
  CHECK_EQ_INT((int)m->o.max_payload, 1 << 20);
  CHECK_EQ_INT((int)m->o.queue_max_count, 1024);
  m_release(m);
  memset(m, 0, sizeof *m);
  wsio_sio_client_options o = {.path = "/custom", .use_randomization = 1};
  CHECK_EQ_INT(copy_options(m, &o), 0);
  CHECK_STR(m->path, "/custom/"); /* the JS client's trailing slash */
  CHECK(m->o.randomization == 0);
  m_release(m);
  memset(m, 0, sizeof *m);
  const char *bad[] = {"X-A: 1\r\nX-B: 2", NULL};
  o = (wsio_sio_client_options){.headers = bad};
  CHECK_EQ_INT(copy_options(m, &o), WSIO_EINVAL);
  m_release(m);
  memset(m, 0, sizeof *m);
  o = (wsio_sio_client_options){.path = "/a?b"};
  CHECK_EQ_INT(copy_options(m, &o), WSIO_EINVAL);
  m_release(m);
  free(m);
}

/* A socket record for building packets, without a client behind it. */
static wsio_sio_client_socket *sock_for(wsio_sio_client *m, const char *nsp) {
  wsio_sio_client_socket *s = calloc(1, sizeof *s);
  s->m = m;
  s->nsp = strdup(nsp);
  return s;
}

static int text_is(const spkt *k, const char *want) {
  return k->text_len == strlen(want) && memcmp(k->text, want, k->text_len) == 0;
}

static void test_build(void) {
  wsio_sio_client m = {0};
  wsio_sio_client_socket *root = sock_for(&m, "/"), *chat = sock_for(&m, "/chat");
  spkt *k;
  CHECK_EQ_INT(build(root, SIO_EVENT, -1, "hi", "[1,\"a\"]", 0, NULL, 0, &k), 0);
  CHECK(text_is(k, "2[\"hi\",1,\"a\"]"));
  free(k);
  CHECK_EQ_INT(build(root, SIO_EVENT, 7, "no args", NULL, 0, NULL, 0, &k), 0);
  CHECK(text_is(k, "27[\"no args\"]"));
  free(k);
  CHECK_EQ_INT(build(root, SIO_EVENT, -1, "e", " [ ] ", 0, NULL, 0, &k), 0);
  CHECK(text_is(k, "2[\"e\"]"));
  free(k);
  CHECK_EQ_INT(build(chat, SIO_EVENT, 3, "q\"\n", "[true]", 0, NULL, 0, &k), 0);
  CHECK(text_is(k, "2/chat,3[\"q\\\"\\n\",true]"));
  free(k);
  uint8_t b0[] = {1, 2, 3}, b1[] = {0};
  wsio_span bins[] = {{b0, 3}, {b1, 0}};
  const char *ph = "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
  CHECK_EQ_INT(build(chat, SIO_EVENT, -1, "bin", ph, 0, bins, 2, &k), 0);
  CHECK(text_is(k, "52-/chat,[\"bin\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"));
  CHECK_EQ_INT((int)k->nbins, 2);
  CHECK_EQ_INT((int)k->bin_len[0], 3);
  CHECK_MEM(k->bin[0], b0, 3);
  CHECK_EQ_INT((int)k->size, (int)(k->text_len + 3));
  free(k);
  CHECK_EQ_INT(build(root, SIO_ACK, 12, NULL, "[\"ok\"]", 0, NULL, 0, &k), 0);
  CHECK(text_is(k, "312[\"ok\"]"));
  free(k);
  CHECK_EQ_INT(build(root, SIO_ACK, 4, NULL, ph, 0, bins, 2, &k), 0);
  CHECK(text_is(k, "62-4[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"));
  free(k);
  /* Refusals: not an array, bad JSON, a placeholder without its attachment,
   * more attachments than socket.io-parser accepts. */
  CHECK_EQ_INT(build(root, SIO_EVENT, -1, "e", "{}", 0, NULL, 0, &k), WSIO_EINVAL);
  CHECK_EQ_INT(build(root, SIO_EVENT, -1, "e", "[1,", 0, NULL, 0, &k), WSIO_EINVAL);
  CHECK_EQ_INT(build(root, SIO_EVENT, -1, "e", ph, 0, bins, 1, &k), WSIO_EINVAL);
  wsio_span many[11];
  for (int i = 0; i < 11; i++)
    many[i] = (wsio_span){b0, 1};
  CHECK_EQ_INT(build(root, SIO_EVENT, -1, "e", "[]", 0, many, 11, &k), WSIO_EINVAL);
  free_socket(root);
  free_socket(chat);
}

static int dropped_acks;
static void count_drop(wsio_sio_client_socket *s, int err, const char *a,
                       size_t l, const wsio_span *b, size_t n, void *arg) {
  (void)s, (void)a, (void)l, (void)b, (void)n, (void)arg;
  if (err == WSIO_EDROPPED)
    dropped_acks++;
}

static void test_send_buffer(void) {
  wsio_sio_client m = {0};
  m.o.queue_max_count = 3;
  m.o.queue_max_bytes = 1000;
  wsio_sio_client_socket *s = sock_for(&m, "/");
  spkt *k;
  /* Drop oldest: the fourth push evicts the first; an evicted emit's ack learns
   * it with WSIO_EDROPPED. */
  for (int i = 0; i < 4; i++) {
    char args[16];
    snprintf(args, sizeof args, "[%d]", i);
    CHECK_EQ_INT(build(s, SIO_EVENT, i, "e", args, 0, NULL, 0, &k), 0);
    sack *a = calloc(1, sizeof *a);
    a->s = s, a->id = i, a->fn = count_drop;
    a->next = s->acks;
    s->acks = a;
    CHECK_EQ_INT(buffer_push(s, k), 1);
  }
  CHECK_EQ_INT((int)s->qcount, 3);
  CHECK_EQ_INT(dropped_acks, 1);
  CHECK(text_is(s->qhead, "21[\"e\",1]"));
  CHECK(text_is(s->qtail, "23[\"e\",3]"));
  CHECK(ack_take(s, 0) == NULL); /* its ack went with it */
  /* Bytes: one over the cap alone is refused at once. */
  char big[1100];
  memset(big, 'x', sizeof big);
  memcpy(big, "[\"", 2);
  memcpy(big + sizeof big - 3, "\"]", 3);
  CHECK_EQ_INT(build(s, SIO_EVENT, -1, "e", big, 0, NULL, 0, &k), 0);
  CHECK_EQ_INT(buffer_push(s, k), WSIO_EDROPPED);
  /* Drop newest: a full buffer refuses and keeps what it has. */
  m.o.queue_drop = WSIO_QUEUE_DROP_NEWEST;
  CHECK_EQ_INT(build(s, SIO_EVENT, -1, "e", "[9]", 0, NULL, 0, &k), 0);
  CHECK_EQ_INT(buffer_push(s, k), WSIO_EDROPPED);
  CHECK_EQ_INT((int)s->qcount, 3);
  CHECK(text_is(s->qhead, "21[\"e\",1]"));
  free_socket(s);
}

/* ---- end to end -------------------------------------------------------------- */

static struct {
  wsio_app *app;
  wsio_sio_client *c;
  int connects, upgraded, acks_ok, binary_ok, timeouts, answers, closed;
  int refusals_ok;
  char order[64];
} E;

static void srv_echo(wsio_sio_socket *s, const char *event,
                     const wsio_sio_args *a, wsio_sio_ack ack, void *user) {
  (void)s, (void)event, (void)user;
  if (ack.id >= 0)
    wsio_sio_ack_send(ack, a->json, a->json_len, a->bins, a->nbins);
}

static void srv_slow(wsio_sio_socket *s, const char *event,
                     const wsio_sio_args *a, wsio_sio_ack ack, void *user) {
  (void)s, (void)event, (void)a, (void)ack, (void)user;
}

static void srv_answer(wsio_sio_socket *s, const wsio_sio_args *args, int err,
                       void *user) {
  (void)s, (void)user;
  if (!err && args->json_len == 10 && memcmp(args->json, "[\"answer\"]", 10) == 0)
    E.answers++;
}

static void srv_connection(wsio_sio_socket *s, void *user) {
  (void)user;
  wsio_sio_emit_with_ack(s, "ask", "[\"q\"]", 0, NULL, 0, 5000, srv_answer, NULL);
}

static void maybe_done(void) {
  /* Per namespace: a binary ack and a timeout; "/": the buffered ack too. */
  if (E.acks_ok == 3 && E.timeouts == 2 && E.answers == 2 && !E.closed) {
    E.closed = 1;
    CHECK_EQ_INT(wsio_sio_client_close(E.c), 0);
  }
}

static void on_ack(wsio_sio_client_socket *s, int err, const char *args,
                   size_t len, const wsio_span *bins, size_t nb, void *arg) {
  const char *what = arg;
  if (strcmp(s->nsp, "/") == 0 && strlen(E.order) < sizeof E.order - 1)
    E.order[strlen(E.order)] = what[0];
  if (strcmp(what, "slow") == 0) {
    CHECK_EQ_INT(err, WSIO_ETIMEDOUT);
    CHECK(args == NULL);
    E.timeouts++;
  } else if (strcmp(what, "bin") == 0) {
    CHECK_EQ_INT(err, 0);
    if (!err && nb == 1 && bins[0].n == 3 && memcmp(bins[0].p, "\x00\xff\x10", 3) == 0 &&
        len == strlen("[{\"_placeholder\":true,\"num\":0}]") &&
        memcmp(args, "[{\"_placeholder\":true,\"num\":0}]", len) == 0)
      E.binary_ok++;
    E.acks_ok++;
  } else {
    CHECK_EQ_INT(err, 0);
    CHECK(err == 0 && len == 7 && memcmp(args, "[\"q\",1]", 7) == 0);
    E.acks_ok++;
  }
  maybe_done();
}

static void on_connect(wsio_sio_client_socket *s, const char *sid, int rec,
                       void *u) {
  (void)rec, (void)u;
  CHECK(sid && *sid);
  CHECK(wsio_sio_client_socket_connected(s));
  E.connects++;
  static const uint8_t blob[] = {0x00, 0xff, 0x10};
  wsio_span b = {blob, 3};
  CHECK(wsio_sio_client_emit_ack(s, "echo", "[{\"_placeholder\":true,\"num\":0}]",
                                 0, &b, 1, 5000, on_ack, "bin") >= 0);
  CHECK(wsio_sio_client_emit_ack(s, "slow", NULL, 0, NULL, 0, 100, on_ack,
                                 "slow") >= 0);
}

static void on_event(wsio_sio_client_socket *s, const char *event,
                     const char *args, size_t len, const wsio_span *bins,
                     size_t nb, int64_t ack_id, void *u) {
  (void)bins, (void)nb, (void)u;
  CHECK_STR(event, "ask");
  CHECK(len == 5 && memcmp(args, "[\"q\"]", 5) == 0);
  CHECK(ack_id >= 0);
  CHECK_EQ_INT(wsio_sio_client_ack(s, ack_id, "[\"answer\"]", 0, NULL, 0), 0);
}

static void on_upgrade(wsio_sio_client *c, void *u) {
  (void)u;
  CHECK_STR(wsio_sio_client_transport(c), "websocket");
  E.upgraded++;
}

static void on_close(wsio_sio_client *c, const char *reason, int again,
                     void *u) {
  (void)c, (void)u;
  CHECK_STR(reason, "io client disconnect");
  CHECK_EQ_INT(again, 0);
  wsio_app_stop(E.app);
}

static void on_error(wsio_sio_client *c, int err, int status,
                     const char *detail, void *u) {
  (void)c, (void)u;
  fprintf(stderr, "client error %d (%d): %s\n", err, status, detail);
  CHECK(0);
  wsio_app_stop(E.app);
}

static void watchdog(loop_timer *t) {
  (void)t;
  fprintf(stderr, "end to end: timed out\n");
  CHECK(0);
  wsio_app_stop(E.app);
}

static void test_end_to_end(void) {
  E.app = wsio_app_create(NULL);
  wsio_sio_options so;
  wsio_sio_options_init(&so);
  wsio_sio *io = wsio_sio_attach(E.app, &so);
  CHECK(io != NULL);
  const char *names[] = {"/", "/b"};
  for (int i = 0; i < 2; i++) {
    wsio_sio_nsp *nsp = wsio_sio_of(io, names[i]);
    wsio_sio_nsp_on(nsp, "echo", srv_echo, NULL);
    wsio_sio_nsp_on(nsp, "slow", srv_slow, NULL);
    wsio_sio_nsp_on_connection(nsp, srv_connection, NULL);
  }
  CHECK_EQ_INT(wsio_app_listen(E.app, "127.0.0.1", 0), 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", wsio_app_port(E.app));
  wsio_sio_client_options o = {.on_upgrade = on_upgrade, .on_close = on_close,
                               .on_error = on_error, .no_reconnect = 1};
  int err;
  E.c = wsio_sio_client_create(E.app, url, &o, &err);
  CHECK(E.c != NULL);
  wsio_sio_client_socket_options sopt = {.on_connect = on_connect,
                                         .on_event = on_event};
  wsio_sio_client_socket *root = wsio_sio_client_socket_open(E.c, "/", NULL, &sopt, &err);
  wsio_sio_client_socket *b =
      wsio_sio_client_socket_open(E.c, "/b", "{\"k\":1}", &sopt, &err);
  CHECK(root && b);
  CHECK(wsio_sio_client_socket_open(E.c, "/b", NULL, &sopt, &err) == NULL);
  CHECK_EQ_INT(err, WSIO_EEXIST);
  CHECK(wsio_sio_client_socket_open(E.c, "/c", "[1]", &sopt, &err) == NULL);
  CHECK_EQ_INT(err, WSIO_EINVAL);
  /* Before the connection: volatile dropped, bad emits refused, a plain one
   * buffered. */
  CHECK_EQ_INT(wsio_sio_client_emit_volatile(root, "echo", "[1]", 0, NULL, 0),
               WSIO_EDROPPED);
  CHECK_EQ_INT(wsio_sio_client_emit(root, "connect", "[1]", 0, NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_client_emit(root, "", NULL, 0, NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_client_emit(root, "echo", "nope", 0, NULL, 0), WSIO_EINVAL);
  CHECK_EQ_INT(wsio_sio_client_emit_ack(root, "echo", "[\"q\",1]", 0, NULL, 0,
                                        5000, on_ack, "queued"),
               1);
  CHECK(wsio_sio_client_socket_id(root) == NULL);
  loop_timer dog = {.cb = watchdog};
  loop_timer_start(core_loop(E.app), &dog, 15000, 0);
  CHECK_EQ_INT(wsio_app_run(E.app), 0);
  loop_timer_stop(core_loop(E.app), &dog);
  CHECK_EQ_INT(E.connects, 2);
  CHECK_EQ_INT(E.acks_ok, 3);
  CHECK_EQ_INT(E.binary_ok, 2);
  CHECK_EQ_INT(E.timeouts, 2);
  CHECK_EQ_INT(E.answers, 2);
  /* On "/", the buffered emit went (and was answered) before what on_connect
   * sent. */
  CHECK_STR(E.order, "qbs");
  CHECK(E.upgraded <= 1);
  CHECK(wsio_sio_client_is_done(E.c));
  wsio_app_destroy(E.app); /* frees the client and its sockets */
}

/* ---- destroying during a polite close ---------------------------------------- */

static struct {
  wsio_app *app;
  wsio_sio_client *c;
  int destroyed, traced_after, connected;
} D;

static void d_packet(wsio_sio_client *c, wsio_frame_dir dir, const char *t,
                     int type, int binary, const uint8_t *p, size_t n, void *u) {
  (void)c, (void)dir, (void)t, (void)type, (void)binary, (void)p, (void)n, (void)u;
  if (D.destroyed)
    D.traced_after++;
}

static void d_connect(wsio_sio_client_socket *s, const char *sid, int rec,
                      void *u) {
  (void)sid, (void)rec, (void)u;
  D.connected++;
  /* A POST in flight, then the polite close (its close packet waits for the
   * POST), then the owner goes: the session must not call back into it. */
  CHECK_EQ_INT(wsio_sio_client_emit(s, "echo", "[1]", 0, NULL, 0), 0);
  CHECK_EQ_INT(wsio_sio_client_close(D.c), 0);
  wsio_sio_client_destroy(D.c);
  D.destroyed = 1;
}

static void d_stop(loop_timer *t) {
  (void)t;
  wsio_app_stop(D.app);
}

static void test_destroy_during_close(void) {
  D.app = wsio_app_create(NULL);
  wsio_sio_options so;
  wsio_sio_options_init(&so);
  wsio_sio *io = wsio_sio_attach(D.app, &so);
  wsio_sio_nsp_on(wsio_sio_of(io, "/"), "echo", srv_echo, NULL);
  CHECK_EQ_INT(wsio_app_listen(D.app, "127.0.0.1", 0), 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", wsio_app_port(D.app));
  wsio_sio_client_options o = {.transports = WSIO_SIO_POLLING,
                               .on_packet = d_packet, .no_reconnect = 1};
  int err;
  D.c = wsio_sio_client_create(D.app, url, &o, &err);
  wsio_sio_client_socket_options sopt = {.on_connect = d_connect};
  CHECK(wsio_sio_client_socket_open(D.c, "/", NULL, &sopt, &err) != NULL);
  loop_timer stop = {.cb = d_stop};
  loop_timer_start(core_loop(D.app), &stop, 1500, 0);
  CHECK_EQ_INT(wsio_app_run(D.app), 0);
  CHECK_EQ_INT(D.connected, 1);
  CHECK_EQ_INT(D.traced_after, 0);
  wsio_app_destroy(D.app);
}

static struct {
  wsio_app *app;
  int ticks, ticks_at_open, opened, errors;
} L;

static void l_tick(wsio_timer *t, void *u) {
  (void)t, (void)u;
  L.ticks++;
}

static void l_open(wsio_sio_client *c, const char *sid, void *u) {
  (void)c, (void)sid, (void)u;
  L.opened++;
  L.ticks_at_open = L.ticks;
  wsio_app_stop(L.app);
}

static void l_error(wsio_sio_client *c, int err, int status,
                    const char *detail, void *u) {
  (void)c, (void)u;
  fprintf(stderr, "slow lookup: error %d (%d): %s\n", err, status, detail);
  L.errors++;
  wsio_app_stop(L.app);
}

static void l_guard(wsio_timer *t, void *u) {
  (void)t, (void)u;
  wsio_app_stop(L.app);
}

static void test_slow_lookup(void) {
  memset(&L, 0, sizeof L);
  L.app = wsio_app_create(NULL);
  wsio_sio_options so;
  wsio_sio_options_init(&so);
  CHECK(wsio_sio_attach(L.app, &so) != NULL);
  CHECK_EQ_INT(wsio_app_listen(L.app, "127.0.0.1", 0), 0);
  char url[64];
  snprintf(url, sizeof url, "http://localhost:%d", wsio_app_port(L.app));
  wsio_sio_client_options o = {.transports = WSIO_SIO_POLLING,
                               .on_open = l_open, .on_error = l_error,
                               .no_reconnect = 1};
  wsio_timer *t = wsio_timer_create(L.app, l_tick, NULL);
  wsio_timer *guard = wsio_timer_create(L.app, l_guard, NULL);
  wsio_timer_start(t, 10, 10);
  wsio_timer_start(guard, 10000, 0);
  client_resolve_test_delay_ms = 300;
  int err;
  wsio_sio_client *c = wsio_sio_client_create(L.app, url, &o, &err);
  CHECK(c != NULL);
  CHECK_EQ_INT(wsio_app_run(L.app), 0);
  client_resolve_test_delay_ms = 0;
  CHECK_EQ_INT(L.opened, 1);
  CHECK_EQ_INT(L.errors, 0);
  /* A 10 ms timer over a 300 ms lookup: a blocked loop would show 0 or 1
   * (generous bound for a loaded machine). */
  CHECK(L.ticks_at_open >= 5);
  wsio_app_destroy(L.app);
}

/* ---- a client certificate ---------------------------------------------------
 * cert_file and key_file go together; a file that cannot be loaded is WSIO_ETLS
 * from on_error naming the file, in every transport mode (polling loads it into
 * the session's context, WebSocket-only into the WebSocket client's), and the
 * client stops. */

static struct {
  wsio_app *app;
  int err, calls;
  char detail[600];
} K;

static void k_error(wsio_sio_client *c, int err, int status, const char *detail,
                    void *u) {
  (void)c, (void)status, (void)u;
  K.err = err;
  K.calls++;
  snprintf(K.detail, sizeof K.detail, "%s", detail);
  wsio_app_stop(K.app);
}

static void k_guard(wsio_timer *t, void *u) {
  (void)t, (void)u;
  wsio_app_stop(K.app);
}

static void test_client_cert(void) {
  const char *pem = "/nonexistent-wsio/client.pem",
             *key = "/nonexistent-wsio/client.key";
  wsio_sio_client_options half[] = {{.cert_file = pem}, {.key_file = key}};
  for (size_t i = 0; i < 2; i++) {
    wsio_sio_client *m = calloc(1, sizeof *m);
    CHECK_EQ_INT(copy_options(m, &half[i]), WSIO_EINVAL);
    m_release(m);
    free(m);
  }
  wsio_sio_client *m = calloc(1, sizeof *m);
  wsio_sio_client_options both = {.cert_file = pem, .key_file = key};
  CHECK_EQ_INT(copy_options(m, &both), 0);
  CHECK_STR(m->cert_file, pem);
  CHECK_STR(m->key_file, key);
  m_release(m);
  free(m);

  memset(&K, 0, sizeof K);
  K.app = wsio_app_create(NULL);
  CHECK_EQ_INT(wsio_app_listen(K.app, "127.0.0.1", 0), 0);
  int err = 0;
  CHECK(wsio_sio_client_create(K.app, "https://127.0.0.1:9", &half[1], &err) ==
        NULL);
  CHECK_EQ_INT(err, WSIO_EINVAL);
  wsio_timer *guard = wsio_timer_create(K.app, k_guard, NULL);
  wsio_sio_transports modes[] = {WSIO_SIO_POLLING_UPGRADE, WSIO_SIO_POLLING,
                                 WSIO_SIO_WEBSOCKET};
  for (size_t i = 0; i < 3; i++) {
    K.calls = K.err = 0;
    K.detail[0] = 0;
    wsio_sio_client_options o = {.cert_file = pem,
                                 .key_file = key,
                                 .transports = modes[i],
                                 .on_error = k_error};
    wsio_sio_client *c =
        wsio_sio_client_create(K.app, "https://127.0.0.1:9", &o, &err);
    CHECK(c != NULL);
    CHECK_EQ_INT(K.calls, 0); /* nothing inside the call */
    wsio_timer_start(guard, 10000, 0);
    CHECK_EQ_INT(wsio_app_run(K.app), 0);
    wsio_timer_stop(guard);
    CHECK_EQ_INT(K.calls, 1);
    CHECK_EQ_INT(K.err, WSIO_ETLS);
    CHECK(strstr(K.detail, "cannot read the client certificate "
                           "/nonexistent-wsio/client.pem") != NULL);
    CHECK(wsio_sio_client_is_done(c)); /* no reconnect, reconnection on */
    wsio_sio_client_destroy(c);
  }
  wsio_app_destroy(K.app);
}

int main(void) {
  RUN(test_client_cert);
  RUN(test_url);
  RUN(test_options);
  RUN(test_build);
  RUN(test_send_buffer);
  RUN(test_end_to_end);
  RUN(test_destroy_during_close);
  RUN(test_slow_lookup);
  return test_report();
}
