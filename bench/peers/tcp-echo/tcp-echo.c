/* bench/peers/tcp-echo/tcp-echo.c — the raw TCP echo floor for bench/run.sh: every
 * byte read is written back, nothing else (no framing, no parsing, no per-message work).
 * A WebSocket server's echo moves the same bytes through the same kernel paths plus its
 * own work, so wsio's CPU per message over this one's is what the WebSocket layer costs.
 *
 * Usage: tcp-echo PORT (0 picks one); listens on 127.0.0.1 and prints
 * "listening on 127.0.0.1:PORT" to stderr, like the other peers. Runs until killed.
 *
 * One thread, one level-triggered epoll loop, TCP_NODELAY as every WebSocket peer sets.
 * Per readiness: one read() into a shared buffer and one send() of what came. What the
 * kernel does not take is kept for that connection (malloc'd, the only per-connection
 * memory) and the connection stops reading until it is written (EPOLLOUT), so a client
 * that does not read cannot make it buffer without bound. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (256 * 1024)

typedef struct {
  int fd;
  uint8_t *left; /* bytes read but not yet taken by send(), left[off..len) */
  size_t off, len;
} conn;

static int epfd;
static uint8_t buf[BUF];

static void drop(conn *c) {
  close(c->fd); /* also removes it from the epoll set */
  free(c->left);
  free(c);
}

static int want(conn *c, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = c};
  return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends p[0..n); keeps what the kernel did not take and waits for EPOLLOUT. Returns -1
 * when the connection is gone. */
static int send_back(conn *c, const uint8_t *p, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = send(c->fd, p + done, n - done, MSG_NOSIGNAL);
    if (w > 0) {
      done += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return -1;
  }
  if (done == n) return 0;
  uint8_t *keep = malloc(n - done);
  if (!keep) return -1;
  memcpy(keep, p + done, n - done);
  c->left = keep;
  c->off = 0;
  c->len = n - done;
  return want(c, EPOLLOUT);
}

static void on_event(conn *c, uint32_t events) {
  if (c->left) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    uint8_t *old = c->left;
    size_t off = c->off, len = c->len;
    c->left = NULL;
    int r = send_back(c, old + off, len - off);
    free(old);
    if (r != 0) drop(c);
    else if (!c->left && want(c, EPOLLIN) != 0) drop(c);
    return;
  }
  ssize_t r = read(c->fd, buf, sizeof buf);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (r <= 0 || send_back(c, buf, (size_t)r) != 0) drop(c);
}

static void on_accept(int lfd) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) perror("tcp-echo: accept4");
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      continue;
    }
    c->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) drop(c);
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 9001;
  signal(SIGPIPE, SIG_IGN);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4096) != 0 ||
      getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
    perror("tcp-echo: listen");
    return 1;
  }
  if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
    perror("tcp-echo: epoll_create1");
    return 1;
  }
  /* The listening socket is told apart by a NULL pointer. */
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) != 0) {
    perror("tcp-echo: epoll_ctl");
    return 1;
  }
  fprintf(stderr, "listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
  fflush(stderr);
  struct epoll_event ev[1024];
  for (;;) {
    int n = epoll_wait(epfd, ev, (int)(sizeof ev / sizeof ev[0]), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("tcp-echo: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      if (ev[i].data.ptr)
        on_event(ev[i].data.ptr, ev[i].events);
      else
        on_accept(lfd);
    }
  }
}
