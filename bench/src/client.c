/* bench/src/client.c — see client.h. One level-triggered epoll loop: a readable
 * connection gets one read per wake-up into its slice of the loop's shared buffer (or
 * into its own buffer while it carries a partial frame); everything a batch of events
 * queues is written at the top of the next iteration, one send per connection. Plain
 * connections' reads and sends go to the kernel in batches through io_uring
 * (read_batch, flush_all; --io-uring off: one read()/send() each). */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/batch.h"
#include "sysstat.h"

int bench_io_uring = 1;

enum { ST_CONNECTING = 1, ST_TLS, ST_HANDSHAKE, ST_OPEN, ST_CLOSING, ST_DEAD };

#define READ_MIN (16 * 1024)
/* A batch of reads gives each connection an even share of it, READ_MIN at least
 * (read_batch). */
#define SHARED_BUF (NET_BATCH_MAX * READ_MIN)
#define MAX_RESPONSE_HEAD 16384
#define MAX_ERRORS_SHOWN 20

void bench_note(bench_loop *l, const char *fmt, ...) {
  if (l->errors_printed > MAX_ERRORS_SHOWN) return;
  if (l->errors_printed++ == MAX_ERRORS_SHOWN) {
    fprintf(stderr, "wsio-bench: (further errors not shown)\n");
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "wsio-bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
}

/* The length of url's scheme ("ws://", "http://", "wss://", "https://"), 0 for another;
 * *tls = 1 for the two TLS ones. */
static size_t url_scheme(const char *url, int *tls) {
  static const char *const names[] = {"ws://", "http://", "wss://", "https://"};
  for (int i = 0; i < 4; i++)
    if (strncmp(url, names[i], strlen(names[i])) == 0) {
      *tls = i >= 2;
      return strlen(names[i]);
    }
  return 0;
}

/* A client context for wss://: TLS 1.2+, no verification, no session cache (every
 * connection pays a full handshake, what the connect mode measures). */
static SSL_CTX *tls_client_ctx(void) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return NULL;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  /* Partial writes from a buffer that may move between retries (c->wbuf grows). */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

int bench_loop_init(bench_loop *l, const char *url, const char *default_path, uint32_t nsrc, bench_handlers h,
                    void *ctx) {
  memset(l, 0, sizeof *l);
  l->epfd = -1;
  int tls = 0;
  size_t scheme = url_scheme(url, &tls);
  if (!scheme) {
    fprintf(stderr, "wsio-bench: --url must start with ws://, wss://, http:// or https:// (got %s)\n", url);
    return -1;
  }
  if (tls && !(l->tls = tls_client_ctx())) {
    fprintf(stderr, "wsio-bench: cannot make a TLS context\n");
    return -1;
  }
  const char *host = url + scheme;
  size_t hlen = strcspn(host, ":/");
  const char *rest = host + hlen;
  long port = 80;
  if (*rest == ':') {
    char *end;
    port = strtol(rest + 1, &end, 10);
    rest = end;
  }
  if (hlen == 0 || hlen >= 64 || port <= 0 || port > 65535 || (*rest && *rest != '/')) {
    fprintf(stderr, "wsio-bench: bad --url %s\n", url);
    return -1;
  }
  char hostname[64];
  memcpy(hostname, host, hlen);
  hostname[hlen] = '\0';
  l->dst.sin_family = AF_INET;
  l->dst.sin_port = htons((uint16_t)port);
  const char *ip = strcmp(hostname, "localhost") == 0 ? "127.0.0.1" : hostname;
  if (inet_pton(AF_INET, ip, &l->dst.sin_addr) != 1) {
    fprintf(stderr, "wsio-bench: --url host must be an IPv4 address or localhost (got %s)\n", hostname);
    return -1;
  }
  snprintf(l->host, sizeof l->host, "%s:%ld", hostname, port);
  const char *path = (*rest && strcmp(rest, "/") != 0) ? rest : default_path;
  if (strlen(path) >= sizeof l->path) {
    fprintf(stderr, "wsio-bench: --url path too long\n");
    return -1;
  }
  strcpy(l->path, path);
  /* Source addresses only make sense towards loopback: 127.0.0.0/8 is all on lo. */
  l->nsrc = (ntohl(l->dst.sin_addr.s_addr) >> 24) == 127 ? nsrc : 0;
  l->h = h;
  l->ctx = ctx;
  l->shared_cap = SHARED_BUF;
  l->shared = malloc(l->shared_cap);
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (!l->shared || l->epfd < 0) {
    perror("wsio-bench: epoll_create1");
    return -1;
  }
  if (getrandom(&l->rng, sizeof l->rng, 0) != sizeof l->rng || l->rng == 0) l->rng = now_ns() | 1;
  if (!(l->batch = net_batch_create(bench_io_uring))) {
    fprintf(stderr, "wsio-bench: out of memory\n");
    return -1;
  }
  return 0;
}

int bench_loop_set_dst2(bench_loop *l, const char *url) {
  int tls = 0;
  size_t scheme = url_scheme(url, &tls);
  const char *host = url + scheme;
  size_t hlen = strcspn(host, ":/");
  char hostname[64];
  long port = 80;
  if (host[hlen] == ':') port = strtol(host + hlen + 1, NULL, 10);
  if (!scheme || hlen == 0 || hlen >= sizeof hostname || port <= 0 || port > 65535) {
    fprintf(stderr, "wsio-bench: bad --url2 %s\n", url);
    return -1;
  }
  memcpy(hostname, host, hlen);
  hostname[hlen] = '\0';
  l->dst2.sin_family = AF_INET;
  l->dst2.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, strcmp(hostname, "localhost") == 0 ? "127.0.0.1" : hostname, &l->dst2.sin_addr) != 1) {
    fprintf(stderr, "wsio-bench: --url2 host must be an IPv4 address or localhost\n");
    return -1;
  }
  l->has_dst2 = 1;
  return 0;
}

static void set_events(bench_conn *c, uint32_t events) {
  if (c->events == events) return;
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->events = events;
}

static void mark_dirty(bench_conn *c) {
  if (c->dirty) return;
  c->dirty = 1;
  c->next_dirty = c->loop->dirty_head;
  c->loop->dirty_head = c;
}

/* Ends c: closes the socket and tells the mode. The struct and its buffers live on until
 * the next flush, because the caller may still be parsing out of c->rbuf. */
static void end_conn(bench_conn *c, int why) {
  bench_loop *l = c->loop;
  if (c->state == ST_DEAD) return;
  if (c->state == ST_CONNECTING || c->state == ST_TLS || c->state == ST_HANDSHAKE) l->pending--;
  c->state = ST_DEAD;
  if (c->ssl) SSL_free(c->ssl);
  c->ssl = NULL;
  close(c->fd);
  c->fd = -1;
  if (c->prev_all)
    c->prev_all->next_all = c->next_all;
  else
    l->all = c->next_all;
  if (c->next_all) c->next_all->prev_all = c->prev_all;
  l->live--;
  mark_dirty(c);
  if (l->h.on_close) l->h.on_close(c, why);
}

void bench_conn_close(bench_conn *c) { end_conn(c, BC_END_LOCAL); }

static void free_conn(bench_conn *c) {
  free(c->wbuf);
  free(c->rbuf);
  free(c->frag);
  free(c);
}

bench_conn *bench_connect(bench_loop *l, uint32_t id) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    l->n.connect_fail++;
    bench_note(l, "socket: %s", strerror(errno));
    return NULL;
  }
  int one = 1;
  /* Small frames must leave at once: Nagle would add up to a round trip of delay. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (l->nsrc) {
    /* IP_BIND_ADDRESS_NO_PORT: pick the port at connect() time, per 4-tuple, so each
     * source address gives ~28k connections per server port instead of per machine. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl((127u << 24) | (2 + l->next_src++ % l->nsrc));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
      l->n.connect_fail++;
      bench_note(l, "bind: %s", strerror(errno));
      close(fd);
      return NULL;
    }
  }
  const struct sockaddr_in *dst = l->has_dst2 && (id & 1) ? &l->dst2 : &l->dst;
  if (connect(fd, (const struct sockaddr *)dst, sizeof *dst) != 0 && errno != EINPROGRESS) {
    l->n.connect_fail++;
    bench_note(l, "connect: %s", strerror(errno));
    close(fd);
    return NULL;
  }
  bench_conn *c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return NULL;
  }
  c->loop = l;
  c->fd = fd;
  c->id = id;
  c->state = ST_CONNECTING;
  c->t_start = now_ns();
  c->events = EPOLLOUT;
  struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    l->n.connect_fail++;
    bench_note(l, "epoll_ctl: %s", strerror(errno));
    close(fd);
    free(c);
    return NULL;
  }
  c->next_all = l->all;
  if (l->all) l->all->prev_all = c;
  l->all = c;
  l->live++;
  l->pending++;
  return c;
}

static int reserve_out(bench_conn *c, size_t n) {
  if (c->woff == c->wlen) c->woff = c->wlen = 0;
  if (c->woff > c->wcap / 2) {
    memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
    c->wlen -= c->woff;
    c->woff = 0;
  }
  if (c->wlen + n <= c->wcap) return 0;
  size_t cap = c->wcap ? c->wcap * 2 : 4096;
  while (cap < c->wlen + n) cap *= 2;
  uint8_t *p = realloc(c->wbuf, cap);
  if (!p) return -1;
  c->wbuf = p;
  c->wcap = cap;
  return 0;
}

uint8_t *bench_frame_begin(bench_conn *c, uint8_t opcode, size_t n) {
  if (reserve_out(c, PROTO_MAX_HEADER + n) != 0) {
    fprintf(stderr, "wsio-bench: out of memory\n");
    exit(1);
  }
  size_t h = proto_client_header(c->wbuf + c->wlen, opcode, n, (uint32_t)proto_rand(&c->loop->rng));
  uint8_t *p = c->wbuf + c->wlen + h;
  c->wlen += h + n;
  mark_dirty(c);
  return p;
}

void bench_frame_end(bench_conn *c, uint8_t *payload, size_t n) {
  (void)c;
  proto_mask(payload, n, payload - 4);
}

void bench_write(bench_conn *c, const void *p, size_t n) {
  if (reserve_out(c, n) != 0) {
    fprintf(stderr, "wsio-bench: out of memory\n");
    exit(1);
  }
  memcpy(c->wbuf + c->wlen, p, n);
  c->wlen += n;
  mark_dirty(c);
}

static void queue_control(bench_conn *c, uint8_t opcode, const uint8_t *p, size_t n) {
  uint8_t *out = bench_frame_begin(c, opcode, n);
  memcpy(out, p, n);
  bench_frame_end(c, out, n);
}

void bench_conn_start_close(bench_conn *c) {
  if (c->state != ST_OPEN) return;
  static const uint8_t normal[2] = {0x03, 0xE8}; /* 1000, RFC 6455 7.4.1 */
  queue_control(c, OP_CLOSE, normal, 2);
  c->state = ST_CLOSING;
}

/* SSL_write / SSL_read as send / read: > 0 bytes, 0 at the peer's close_notify, or -1
 * with errno EAGAIN (wait for the socket) or EIO. */
static ssize_t tls_io(bench_conn *c, void *p, size_t n, int write) {
  ERR_clear_error();
  int r = write ? SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n)
                : SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
  if (r > 0) return r;
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
    return -1;
  }
  if (e == SSL_ERROR_ZERO_RETURN) return 0;
  if (e != SSL_ERROR_SYSCALL || !errno) errno = EIO;
  return -1;
}

/* Takes the outcome of one send of c's queued bytes: r taken, or r < 0 with err. Returns
 * 1 when c has bytes left that the kernel may still take (send again), 0 when c is done
 * for now (all sent, or the kernel full), -1 when c has ended. */
static int sent(bench_conn *c, ssize_t r, int err) {
  if (r > 0) {
    c->woff += (size_t)r;
    return c->woff < c->wlen;
  }
  if (r < 0 && err == EINTR) return 1;
  if (r < 0 && (err == EAGAIN || err == EWOULDBLOCK)) return 0;
  if (c->state == ST_CLOSING) {
    end_conn(c, BC_END_CLOSE_DONE);
    return -1;
  }
  if (c->loop->raw) {
    end_conn(c, BC_END_EOF);
    return -1;
  }
  c->loop->n.server_closed++;
  bench_note(c->loop, "send: %s", strerror(err));
  end_conn(c, BC_END_SERVER_CLOSED);
  return -1;
}

/* After c's sends: drops an emptied big buffer; waits for EPOLLOUT only while something
 * is left. */
static void sent_done(bench_conn *c) {
  if (c->woff == c->wlen) {
    c->woff = c->wlen = 0;
    if (c->wcap > 65536) {
      free(c->wbuf);
      c->wbuf = NULL;
      c->wcap = 0;
    }
  }
  set_events(c, EPOLLIN | (c->woff < c->wlen ? EPOLLOUT : 0));
}

/* Writes what the kernel takes, one send() at a time. */
static void flush(bench_conn *c) {
  while (c->woff < c->wlen) {
    ssize_t r = c->ssl ? tls_io(c, c->wbuf + c->woff, c->wlen - c->woff, 1)
                       : send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
    int k = sent(c, r, errno);
    if (k < 0) return;
    if (k == 0) break;
  }
  sent_done(c);
}

/* Sends ops[0..n) (the queued bytes of cs[0..n)) in one batch, then finishes each
 * connection as flush() would; one the kernel took only part of goes on alone. */
static void flush_batch(bench_loop *l, bench_conn **cs, net_op *ops, int n) {
  net_batch_send(l->batch, ops, n);
  for (int i = 0; i < n; i++) {
    bench_conn *c = cs[i];
    /* A mode may end a connection from another one's on_close (sio-polling: a client's
     * GET and POST connections go together); its bytes went out, nothing is left. */
    if (c->state == ST_DEAD) continue;
    int k = ops[i].res >= 0 ? sent(c, ops[i].res, 0) : sent(c, -1, -ops[i].res);
    if (k > 0)
      flush(c);
    else if (k == 0)
      sent_done(c);
  }
}

/* Writes every connection's queued bytes and frees ended connections. Plain connections'
 * sends go to the kernel in batches (net/batch.h: one io_uring_enter(2) for up to
 * NET_BATCH_MAX of them, where the kernel has io_uring and --io-uring is on), so the
 * load generator spends its core on the traffic rather than on entering the kernel:
 * with one send(2) per connection it ran out of core before the servers it measures. */
static void flush_all(bench_loop *l) {
  bench_conn *cs[NET_BATCH_MAX];
  net_op ops[NET_BATCH_MAX];
  int batch = l->batch && net_batch_uring(l->batch);
  for (;;) {
    int n = 0;
    bench_conn *c;
    while (n < NET_BATCH_MAX && (c = l->dirty_head)) {
      l->dirty_head = c->next_dirty;
      c->dirty = 0;
      if (c->state == ST_DEAD) {
        free_conn(c);
      } else if (c->state == ST_CONNECTING) {
        continue;
      } else if (!batch || c->ssl || c->woff == c->wlen) {
        flush(c);
      } else {
        cs[n] = c;
        ops[n] = (net_op){.fd = c->fd, .p = c->wbuf + c->woff, .len = (uint32_t)(c->wlen - c->woff)};
        n++;
      }
    }
    if (n == 0) return;
    flush_batch(l, cs, ops, n);
  }
}

static void start_handshake(bench_conn *c) {
  uint8_t raw[16];
  uint64_t a = proto_rand(&c->loop->rng), b = proto_rand(&c->loop->rng);
  memcpy(raw, &a, 8);
  memcpy(raw + 8, &b, 8);
  proto_base64(raw, sizeof raw, c->key);
  char req[1024];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                   c->loop->path, c->loop->host, c->key,
                   c->loop->deflate ? "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"
                                    : "");
  c->state = ST_HANDSHAKE;
  if (reserve_out(c, (size_t)n) != 0) return;
  memcpy(c->wbuf + c->wlen, req, (size_t)n);
  c->wlen += (size_t)n;
  mark_dirty(c);
  set_events(c, EPOLLIN);
}

static int header_is(const char *line, size_t len, const char *name) {
  size_t n = strlen(name);
  return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/* Finds needle in hay[0..n), ignoring ASCII case. */
static int contains_ci(const char *hay, size_t n, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= n; i++)
    if (strncasecmp(hay + i, needle, k) == 0) return 1;
  return 0;
}

static void handshake_fail(bench_conn *c, const char *why, const char *line, size_t len) {
  c->loop->n.handshake_fail++;
  bench_note(c->loop, "handshake: %s%s%.*s", why, line ? ": " : "", (int)(len > 120 ? 120 : len),
             line ? line : "");
  end_conn(c, BC_END_HANDSHAKE_FAIL);
}

/* RFC 6455 4.1, the client's checks of the server's response: status 101, Upgrade:
 * websocket, Connection: Upgrade, the right Sec-WebSocket-Accept, and no extension or
 * subprotocol we did not ask for. Returns the bytes of the response head, 0 while it is
 * incomplete, -1 when c has ended. */
static long handshake_parse(bench_conn *c, const uint8_t *buf, size_t n) {
  const char *s = (const char *)buf;
  const char *end = memmem(s, n, "\r\n\r\n", 4);
  if (!end) {
    if (n <= MAX_RESPONSE_HEAD) return 0;
    handshake_fail(c, "response head too long", NULL, 0);
    return -1;
  }
  const char *eol = memmem(s, (size_t)(end - s) + 2, "\r\n", 2);
  if ((size_t)(eol - s) < 12 || strncmp(s, "HTTP/1.1 101", 12) != 0) {
    handshake_fail(c, "expected 101", s, (size_t)(eol - s));
    return -1;
  }
  char accept[PROTO_ACCEPT_LEN + 1];
  proto_accept(c->key, PROTO_KEY_LEN, accept);
  int upgrade = 0, connection = 0, accepted = 0;
  for (const char *line = eol + 2; line < end;) {
    const char *le = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
    size_t len = (size_t)(le - line);
    const char *colon = memchr(line, ':', len);
    const char *v = colon ? colon + 1 : le;
    while (v < le && (*v == ' ' || *v == '\t')) v++;
    size_t vlen = (size_t)(le - v);
    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
    if (header_is(line, len, "upgrade"))
      upgrade = contains_ci(v, vlen, "websocket");
    else if (header_is(line, len, "connection"))
      connection = contains_ci(v, vlen, "upgrade");
    else if (header_is(line, len, "sec-websocket-accept"))
      accepted = vlen == PROTO_ACCEPT_LEN && memcmp(v, accept, PROTO_ACCEPT_LEN) == 0;
    else if (header_is(line, len, "sec-websocket-extensions") && c->loop->deflate &&
             contains_ci(v, vlen, "permessage-deflate") && contains_ci(v, vlen, "server_no_context_takeover"))
      c->pmd = 1;
    else if (header_is(line, len, "sec-websocket-extensions") ||
             header_is(line, len, "sec-websocket-protocol")) {
      handshake_fail(c, "header we did not offer", line, len);
      return -1;
    }
    line = le + 2;
  }
  if (!upgrade || !connection || !accepted) {
    handshake_fail(c, !accepted ? "missing or wrong Sec-WebSocket-Accept" : "missing Upgrade/Connection",
                   NULL, 0);
    return -1;
  }
  bench_loop *l = c->loop;
  c->state = ST_OPEN;
  c->t_open = l->now;
  l->pending--;
  l->n.opened++;
  if (l->h.on_open) l->h.on_open(c);
  return c->state == ST_DEAD ? -1 : (long)(end + 4 - s);
}

static void protocol_error(bench_conn *c, const char *what) {
  c->loop->n.protocol++;
  bench_note(c->loop, "protocol: %s", what);
  end_conn(c, BC_END_PROTOCOL);
}

static int append_frag(bench_conn *c, const uint8_t *p, size_t n) {
  if (c->flen + n > c->fcap) {
    size_t cap = c->fcap ? c->fcap : 4096;
    while (cap < c->flen + n) cap *= 2;
    uint8_t *q = realloc(c->frag, cap);
    if (!q) return -1;
    c->frag = q;
    c->fcap = cap;
  }
  memcpy(c->frag + c->flen, p, n);
  c->flen += n;
  return 0;
}

/* Inflates one compressed message (RFC 7692 7.2.2: the payload plus 00 00 ff ff) into
 * the loop's buffer; the server resets its context per message, so the inflater is reset
 * too. Returns the inflated length, or -1. */
static long inflate_message(bench_loop *l, const uint8_t *p, size_t n) {
  static const uint8_t tail[4] = {0, 0, 0xff, 0xff};
  if (!l->zs) {
    if (!(l->zs = calloc(1, sizeof *l->zs)) || inflateInit2(l->zs, -15) != Z_OK) return -1;
  } else if (inflateReset(l->zs) != Z_OK) {
    return -1;
  }
  size_t out = 0;
  for (int part = 0; part < 2; part++) {
    l->zs->next_in = (Bytef *)(part ? tail : p);
    l->zs->avail_in = (uInt)(part ? sizeof tail : n);
    while (l->zs->avail_in) {
      if (out == l->zcap) {
        size_t cap = l->zcap ? 2 * l->zcap : 65536;
        uint8_t *q = realloc(l->zbuf, cap);
        if (!q) return -1;
        l->zbuf = q;
        l->zcap = cap;
      }
      l->zs->next_out = l->zbuf + out;
      l->zs->avail_out = (uInt)(l->zcap - out);
      int r = inflate(l->zs, Z_SYNC_FLUSH);
      out = l->zcap - l->zs->avail_out;
      if (r != Z_OK && r != Z_BUF_ERROR) return -1;
      if (r == Z_BUF_ERROR && l->zs->avail_out) return -1;
    }
  }
  l->compressed++;
  return (long)out;
}

/* A complete data message to the mode, inflated first when it was compressed. */
static int deliver(bench_conn *c, int op, const uint8_t *p, size_t n, int z) {
  if (z) {
    long m = inflate_message(c->loop, p, n);
    if (m < 0) return protocol_error(c, "a compressed message that does not inflate"), -1;
    p = c->loop->zbuf;
    n = (size_t)m;
  }
  c->loop->h.on_message(c, op, p, n);
  return 0;
}

static void on_close_frame(bench_conn *c, const uint8_t *p, size_t n) {
  if (c->state == ST_CLOSING) {
    end_conn(c, BC_END_CLOSE_DONE);
    return;
  }
  unsigned code = n >= 2 ? (unsigned)p[0] << 8 | p[1] : 1005;
  c->loop->n.server_closed++;
  bench_note(c->loop, "server closed connection %u with code %u%s%.*s", c->id, code, n > 2 ? ": " : "",
             (int)(n > 2 ? n - 2 : 0), (const char *)p + 2);
  /* RFC 6455 5.5.1: answer a close frame with one, echoing the status code. */
  queue_control(c, OP_CLOSE, p, n >= 2 ? 2 : 0);
  c->state = ST_CLOSING;
  flush(c);
  end_conn(c, BC_END_SERVER_CLOSED);
}

/* Parses and dispatches the complete frames in p[0..n). Returns the bytes consumed
 * (a partial frame stays for the next read; c->need says how much it needs in all), or
 * -1 when c has ended. */
static long parse_frames(bench_conn *c, const uint8_t *p, size_t n) {
  size_t off = 0;
  c->need = 0;
  while (n - off >= 2) {
    const uint8_t *f = p + off;
    size_t avail = n - off;
    if (f[1] & 0x80) return protocol_error(c, "masked frame from the server (RFC 6455 5.1)"), -1;
    int z = (f[0] & 0x40) && c->pmd; /* RSV1: compressed (RFC 7692 6) */
    if ((f[0] & 0x70) && !z) return protocol_error(c, "RSV bits set without an extension"), -1;
    uint64_t len = f[1] & 0x7F;
    size_t h = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = (uint64_t)f[2] << 8 | f[3];
      h = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | f[2 + i];
      h = 10;
      if (len >> 62) return protocol_error(c, "frame length out of range"), -1;
    }
    if (avail - h < len) {
      c->need = h + (size_t)len;
      break;
    }
    int fin = f[0] & 0x80, op = f[0] & 0x0F;
    const uint8_t *payload = f + h;
    off += h + (size_t)len;
    if (z && (op == OP_CONT || op >= 0x8)) return protocol_error(c, "RSV1 on a control or continuation frame"), -1;
    if (op >= 0x8) {
      /* RFC 6455 5.5: control frames are <= 125 bytes and never fragmented. */
      if (!fin || len > 125) return protocol_error(c, "bad control frame"), -1;
      if (op == OP_PING)
        queue_control(c, OP_PONG, payload, (size_t)len);
      else if (op == OP_CLOSE)
        return on_close_frame(c, payload, (size_t)len), -1;
      else if (op != OP_PONG)
        return protocol_error(c, "reserved control opcode"), -1;
      continue;
    }
    if (op == OP_CONT) {
      if (!c->frag_op) return protocol_error(c, "continuation without a message"), -1;
      if (append_frag(c, payload, (size_t)len) != 0) return protocol_error(c, "out of memory"), -1;
      if (!fin) continue;
      int fop = c->frag_op;
      size_t flen = c->flen;
      c->frag_op = 0;
      c->flen = 0;
      if (deliver(c, fop, c->frag, flen, c->frag_z) < 0) return -1;
    } else if (op == OP_TEXT || op == OP_BINARY) {
      if (c->frag_op) return protocol_error(c, "new message inside a fragmented one"), -1;
      if (!fin) {
        c->frag_op = (uint8_t)op;
        c->frag_z = (uint8_t)z;
        c->flen = 0;
        if (append_frag(c, payload, (size_t)len) != 0) return protocol_error(c, "out of memory"), -1;
        continue;
      }
      if (deliver(c, op, payload, (size_t)len, z) < 0) return -1;
    } else {
      return protocol_error(c, "reserved data opcode"), -1;
    }
    if (c->state == ST_DEAD) return -1;
  }
  return (long)off;
}

static int reserve_in(bench_conn *c, size_t want) {
  if (want <= c->rcap) return 0;
  uint8_t *p = realloc(c->rbuf, want);
  if (!p) return -1;
  c->rbuf = p;
  c->rcap = want;
  return 0;
}

/* Where c's next read goes: the slice [buf + have, buf + cap) of shared (offered, not
 * yet used) unless c carries a partial frame, which then grows in c->rbuf. Returns -1
 * (c failed) when out of memory. */
static int read_target(bench_conn *c, uint8_t *shared, size_t shared_cap, uint8_t **buf, size_t *have,
                       size_t *cap) {
  if (c->rlen == 0) {
    *buf = shared;
    *have = 0;
    *cap = shared_cap;
    return 0;
  }
  size_t want = c->rlen + READ_MIN;
  if (c->need > want) want = c->need;
  if (reserve_in(c, want) != 0) {
    protocol_error(c, "out of memory");
    return -1;
  }
  *buf = c->rbuf;
  *have = c->rlen;
  *cap = c->rcap;
  return 0;
}

/* Takes the outcome of one read into buf + have: r bytes, or r < 0 with err. Parses what
 * is complete; keeps the rest in c->rbuf. */
static void consume(bench_conn *c, uint8_t *buf, size_t have, ssize_t r, int err) {
  bench_loop *l = c->loop;
  if (r < 0 && (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)) return;
  if (r <= 0) {
    if (l->raw) {
      if (r < 0) bench_note(l, "connection %u: %s", c->id, strerror(err));
      end_conn(c, BC_END_EOF);
      return;
    }
    if (c->state == ST_CLOSING) {
      end_conn(c, BC_END_CLOSE_DONE);
      return;
    }
    if (c->state == ST_HANDSHAKE) {
      handshake_fail(c, r == 0 ? "EOF before the response" : strerror(err), NULL, 0);
      return;
    }
    l->n.server_closed++;
    bench_note(l, "connection %u: %s", c->id, r == 0 ? "EOF without a close frame" : strerror(err));
    end_conn(c, BC_END_SERVER_CLOSED);
    return;
  }
  l->n.reads++;
  have += (size_t)r;
  size_t used = 0;
  if (l->raw) {
    long k = l->h.on_data(c, buf, have);
    if (k < 0 || c->state == ST_DEAD) return;
    used = (size_t)k;
  } else if (c->state == ST_HANDSHAKE) {
    long h = handshake_parse(c, buf, have);
    if (h < 0) return;
    used = (size_t)h;
  }
  if (!l->raw && (c->state == ST_OPEN || c->state == ST_CLOSING)) {
    long k = parse_frames(c, buf + used, have - used);
    if (k < 0) return;
    used += (size_t)k;
  }
  size_t left = have - used;
  if (left == 0) {
    c->rlen = 0;
    /* Most connections are idle most of the time: keep no buffer for them. */
    free(c->rbuf);
    c->rbuf = NULL;
    c->rcap = 0;
    return;
  }
  if (buf == c->rbuf) {
    memmove(c->rbuf, c->rbuf + used, left);
  } else {
    size_t want = left + READ_MIN > c->need ? left + READ_MIN : c->need;
    if (reserve_in(c, want) != 0) {
      protocol_error(c, "out of memory");
      return;
    }
    memcpy(c->rbuf, buf + used, left);
  }
  c->rlen = left;
}

/* One read() per wake-up (level-triggered: whatever is left wakes us again). */
static void on_readable(bench_conn *c) {
  bench_loop *l = c->loop;
  uint8_t *buf;
  size_t have, cap;
  if (read_target(c, l->shared, l->shared_cap, &buf, &have, &cap) != 0) return;
  ssize_t r = c->ssl ? tls_io(c, buf + have, cap - have, 0) : read(c->fd, buf + have, cap - have);
  int err = errno;
  l->now = now_ns();
  consume(c, buf, have, r, err);
}

/* Reads cs[0..n) (plain connections found readable by one epoll_wait) in one batch,
 * each into a slice of the shared buffer (or its own partial-frame buffer),
 * then parses each as on_readable would. */
static void read_batch(bench_loop *l, bench_conn **cs, int n) {
  net_op ops[NET_BATCH_MAX];
  uint8_t *bufs[NET_BATCH_MAX];
  size_t haves[NET_BATCH_MAX];
  /* The shared buffer split evenly (at least READ_MIN each): a few connections with big
   * messages get big slices. With 16 KiB slices a 16 KiB echo never fit one read, and
   * the server, sending into windows opened 16 KiB at a time, spent twice the CPU per
   * message (10.1 against 5.2 us in the run at 12f35dd). */
  size_t slice = l->shared_cap / (size_t)n;
  int m = 0;
  for (int i = 0; i < n; i++) {
    bench_conn *c = cs[i];
    uint8_t *buf;
    size_t have, cap;
    if (c->state == ST_DEAD || read_target(c, l->shared + (size_t)i * slice, slice, &buf, &have, &cap) != 0)
      continue;
    cs[m] = c;
    bufs[m] = buf;
    haves[m] = have;
    ops[m++] = (net_op){.fd = c->fd, .p = buf + have, .len = (uint32_t)(cap - have)};
  }
  if (m == 0) return;
  net_batch_recv(l->batch, ops, m);
  l->now = now_ns();
  for (int i = 0; i < m; i++) {
    bench_conn *c = cs[i];
    /* An earlier connection's callbacks may have ended this one (its bytes, if any,
     * are dropped with it). */
    if (c->state == ST_DEAD) continue;
    consume(c, bufs[i], haves[i], ops[i].res >= 0 ? ops[i].res : -1, ops[i].res >= 0 ? 0 : -ops[i].res);
  }
}

/* Advances the TLS handshake; the WebSocket handshake starts once it is done. */
static void tls_step(bench_conn *c) {
  ERR_clear_error();
  int r = SSL_do_handshake(c->ssl);
  if (r == 1) {
    start_handshake(c);
    return;
  }
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    set_events(c, e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT);
    return;
  }
  char why[160];
  ERR_error_string_n(ERR_get_error(), why, sizeof why);
  handshake_fail(c, "TLS handshake failed", why, strlen(why));
}

static void on_event(bench_conn *c, uint32_t events) {
  if (c->state == ST_DEAD) return;
  if (c->state == ST_TLS) {
    tls_step(c);
    return;
  }
  if (c->state == ST_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err) {
      c->loop->n.connect_fail++;
      bench_note(c->loop, "connect: %s", strerror(err));
      end_conn(c, BC_END_CONNECT_FAIL);
      return;
    }
    if (!(events & EPOLLOUT)) return;
    if (c->loop->raw) {
      bench_loop *l = c->loop;
      c->state = ST_OPEN;
      c->t_open = now_ns();
      l->pending--;
      l->n.opened++;
      set_events(c, EPOLLIN);
      if (l->h.on_open) l->h.on_open(c);
    } else if (c->loop->tls) {
      if (!(c->ssl = SSL_new(c->loop->tls)) || !SSL_set_fd(c->ssl, c->fd)) {
        handshake_fail(c, "out of memory for TLS", NULL, 0);
        return;
      }
      SSL_set_connect_state(c->ssl);
      c->state = ST_TLS;
      tls_step(c);
    } else {
      start_handshake(c);
    }
    return;
  }
  if (events & EPOLLOUT) flush(c);
  if (c->state != ST_DEAD && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(c);
}

int bench_loop_run(bench_loop *l, uint64_t until, int tick_ms, int (*stop)(bench_loop *l),
                   void (*tick)(bench_loop *l)) {
  struct epoll_event ev[1024];
  for (;;) {
    flush_all(l);
    l->now = now_ns();
    if (l->now >= until || (stop && stop(l))) return 0;
    uint64_t left_ms = (until - l->now + 999999) / 1000000;
    int timeout =
        tick_ms > 0 && (uint64_t)tick_ms < left_ms ? tick_ms : (int)(left_ms > 1000 ? 1000 : left_ms);
    int k = epoll_wait(l->epfd, ev, (int)(sizeof ev / sizeof ev[0]), timeout);
    if (k < 0) {
      if (errno == EINTR) continue;
      perror("wsio-bench: epoll_wait");
      return -1;
    }
    /* Plain open connections with only input waiting are read in batches (net/batch.h);
     * the rest (connecting, TLS, output waiting, errors) one event at a time. */
    bench_conn *rd[NET_BATCH_MAX];
    int nrd = 0;
    int batch = net_batch_uring(l->batch);
    for (int i = 0; i < k; i++) {
      bench_conn *c = ev[i].data.ptr;
      if (batch && ev[i].events == EPOLLIN && !c->ssl && (c->state == ST_OPEN || c->state == ST_CLOSING)) {
        rd[nrd++] = c;
        if (nrd == NET_BATCH_MAX) read_batch(l, rd, nrd), nrd = 0;
      } else {
        on_event(c, ev[i].events);
      }
    }
    if (nrd) read_batch(l, rd, nrd);
    l->now = now_ns();
    if (tick) tick(l);
  }
}

static void open_more(bench_loop *l) {
  while (l->open_next < l->open_end && l->pending < l->open_max) bench_connect(l, l->open_next++);
}

static int open_done(bench_loop *l) { return l->open_next >= l->open_end && l->pending == 0; }

uint32_t bench_open(bench_loop *l, uint32_t first, uint32_t n, uint32_t max_pending, uint64_t deadline) {
  uint64_t opened = l->n.opened;
  l->open_next = first;
  l->open_end = first + n;
  l->open_max = max_pending ? max_pending : 1;
  open_more(l);
  bench_loop_run(l, deadline, 10, open_done, open_more);
  return (uint32_t)(l->n.opened - opened);
}

void bench_loop_close_all(bench_loop *l) {
  while (l->all) end_conn(l->all, BC_END_LOCAL);
  flush_all(l);
}

void bench_loop_free(bench_loop *l) {
  bench_loop_close_all(l);
  free(l->shared);
  l->shared = NULL;
  SSL_CTX_free(l->tls);
  l->tls = NULL;
  if (l->zs) inflateEnd(l->zs);
  free(l->zs);
  free(l->zbuf);
  l->zs = NULL;
  l->zbuf = NULL;
  if (l->epfd >= 0) close(l->epfd);
  l->epfd = -1;
  net_batch_destroy(l->batch);
  l->batch = NULL;
}
