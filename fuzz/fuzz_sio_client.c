/* fuzz/fuzz_sio_client.c — libFuzzer target for the Socket.IO client role
 * (src/client/sio_client.c and eio_client.c): what a hostile or broken server
 * can send to a wsio_sio_client over long-polling.
 *
 * The input plays the server: a raw TCP listener on 127.0.0.1 answers each
 * HTTP request the client makes (the handshake GET, long-poll GETs, POSTs)
 * with the next record of the input as the response body, behind a
 * "200 OK" head with its Content-Length (or, per record, a raw response with
 * no head of ours at all). The client runs on a wsio_app's loop one
 * non-blocking iteration at a time on a fake clock (loop_fake_time), so ping
 * timeouts and ack deadlines fire when the input makes time pass.
 *
 * Input: byte 0: flags (bit 0: start with a valid open packet; bit 1: upgrade
 * allowed (the probe's WebSocket request then gets a record as its answer);
 * bit 2: the application emits with an ack when connected). Then records
 * [ctl][len][body...]: ctl & 1: raw (the body is the whole response), else the
 * body behind a 200 head; (ctl >> 1) & 7: advance the clock by that many
 * times 300 ms before answering; ctl & 16: keep the connection open for the
 * next request (the client keeps polling connections alive), else close it
 * after the answer (the client has then either seen the end while idle, or
 * written its next request on it and must send that again on a new one);
 * len: body bytes (at most 255).
 *
 * Checks: the sanitizers (ASan, UBSan) and that destroying the app frees
 * everything (LeakSanitizer at exit). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/transport.h"
#include "loop/loop.h"
#include "wsio.h"
#include "wsio/client.h"

#define MAX_CONNS 16
#define MAX_ITERATIONS 400

typedef struct {
  int fd;
  char head[2048];
  size_t len;
  int answered;
} conn;

static const uint8_t *rec_p;
static size_t rec_n;

static void on_event(wsio_sio_client_socket *s, const char *event,
                     const char *args, size_t len, const wsio_span *bins,
                     size_t nb, int64_t ack_id, void *u) {
  (void)event, (void)args, (void)len, (void)u;
  if (ack_id >= 0)
    (void)wsio_sio_client_ack(s, ack_id, "[1]", 3, NULL, 0);
  if (nb)
    (void)wsio_sio_client_emit(s, "back", "[{\"_placeholder\":true,\"num\":0}]",
                               0, bins, 1);
}

static void on_ack(wsio_sio_client_socket *s, int err, const char *args,
                   size_t len, const wsio_span *bins, size_t nb, void *arg) {
  (void)s, (void)err, (void)args, (void)len, (void)bins, (void)nb, (void)arg;
}

static void on_connect(wsio_sio_client_socket *s, const char *sid, int rec,
                       void *u) {
  (void)sid, (void)rec;
  if (*(int *)u)
    (void)wsio_sio_client_emit_ack(s, "q", "[\"x\"]", 0, NULL, 0, 500, on_ack,
                                   NULL);
}

/* Ends a connection with a reset, which leaves no TIME_WAIT socket behind on
 * either side (an orderly close holds a port for a minute: tens of thousands
 * of them in a short fuzz run, and other programs on the machine found no free
 * port to listen on). */
static void drop(int fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

/* One listener for the whole run: the connections it closes in order (an
 * answer, then the end, as the input asks) leave their TIME_WAIT sockets on
 * this one port, not one port per input. What a previous input's client left
 * in its queue is dropped first. Returns its port, or 0. */
static int listener(int *fd) {
  static int ls = -1, port;
  if (ls < 0) {
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(ls, 64) < 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
      if (ls >= 0)
        close(ls);
      ls = -1;
      return 0;
    }
    port = ntohs(sa.sin_port);
  }
  for (int fd2; (fd2 = accept4(ls, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
    drop(fd2);
  *fd = ls;
  return port;
}

/* Answers a complete request head with the next record (or closes when the
 * input is used up). */
static void answer(conn *c, loop *l, uint64_t *now) {
  if (rec_n < 2) {
    close(c->fd);
    c->fd = -1;
    return;
  }
  uint8_t ctl = rec_p[0];
  size_t len = rec_p[1];
  if (len > rec_n - 2)
    len = rec_n - 2;
  const uint8_t *body = rec_p + 2;
  rec_p += 2 + len;
  rec_n -= 2 + len;
  *now += ((ctl >> 1) & 7) * 300;
  loop_fake_time(l, *now);
  char head[128];
  int hl = (ctl & 1) ? 0
                     : snprintf(head, sizeof head,
                                "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                                len);
  if (hl && send(c->fd, head, (size_t)hl, MSG_NOSIGNAL) < 0) {
    close(c->fd);
    c->fd = -1;
    return;
  }
  (void)send(c->fd, body, len, MSG_NOSIGNAL);
  if (ctl & 16) {
    /* The next head on the same connection (a POST body that came with this
     * head is dropped: the answers, not the framing, are under test). */
    c->len = 0;
    return;
  }
  close(c->fd);
  c->fd = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 8192)
    return 0;
  int flags = data[0];
  rec_p = data + 1;
  rec_n = size - 1;
  int ls;
  int port = listener(&ls);
  if (!port)
    return 0;
  wsio_app *app = wsio_app_create(NULL);
  if (!app)
    return 0;
  loop *l = core_loop(app);
  uint64_t now = 1000000;
  loop_fake_time(l, now);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  wsio_sio_client_options o = {
      .transports = (flags & 2) ? WSIO_SIO_POLLING_UPGRADE : WSIO_SIO_POLLING,
      .no_reconnect = 1,
      .timeout_ms = 2000,
      .max_payload = 4096,
      .queue_max_count = 8};
  int want_ack = (flags & 4) != 0, err;
  wsio_sio_client *c = wsio_sio_client_create(app, url, &o, &err);
  wsio_sio_client_socket_options so = {
      .on_connect = on_connect, .on_event = on_event, .user = &want_ack};
  wsio_sio_client_socket *s =
      c ? wsio_sio_client_socket_open(c, "/", "{\"t\":1}", &so, &err) : NULL;
  if (s)
    (void)wsio_sio_client_emit(s, "early", "[1]", 0, NULL, 0);
  conn cs[MAX_CONNS];
  for (int i = 0; i < MAX_CONNS; i++)
    cs[i].fd = -1;
  int first = flags & 1;
  for (int it = 0; c && it < MAX_ITERATIONS && !wsio_sio_client_is_done(c);
       it++) {
    (void)loop_run_once(l);
    for (;;) { /* accept what is pending */
      int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        break;
      int slot = -1;
      for (int i = 0; i < MAX_CONNS && slot < 0; i++)
        if (cs[i].fd < 0)
          slot = i;
      if (slot < 0) {
        drop(fd);
        continue;
      }
      cs[slot] = (conn){.fd = fd};
    }
    for (int i = 0; i < MAX_CONNS; i++) {
      conn *k = &cs[i];
      if (k->fd < 0)
        continue;
      ssize_t r = recv(k->fd, k->head + k->len, sizeof k->head - 1 - k->len, 0);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        close(k->fd);
        k->fd = -1;
        continue;
      }
      if (r > 0)
        k->len += (size_t)r;
      k->head[k->len] = 0;
      if (!strstr(k->head, "\r\n\r\n") && k->len < sizeof k->head - 1)
        continue;
      if (first) {
        static const char open_pkt[] =
            "0{\"sid\":\"fz\",\"upgrades\":[\"websocket\"],\"pingInterval\":900,"
            "\"pingTimeout\":600,\"maxPayload\":64}";
        char resp[256];
        int n = snprintf(resp, sizeof resp,
                         "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                         sizeof open_pkt - 1, open_pkt);
        (void)send(k->fd, resp, (size_t)n, MSG_NOSIGNAL);
        close(k->fd);
        k->fd = -1;
        first = 0;
        continue;
      }
      answer(k, l, &now);
    }
    if (rec_n < 2) { /* input used up: let time run out */
      now += 200;
      loop_fake_time(l, now);
    }
  }
  /* The connections still open are reset first, so that the client's close
   * leaves no TIME_WAIT socket either. */
  for (int i = 0; i < MAX_CONNS; i++)
    if (cs[i].fd >= 0)
      drop(cs[i].fd);
  if (c)
    wsio_sio_client_destroy(c);
  for (int i = 0; i < 8; i++)
    (void)loop_run_once(l);
  wsio_app_destroy(app);
  return 0;
}
