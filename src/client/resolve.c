/* client/resolve.c — host name resolution off the loop's thread (see
 * resolve.h). */
#include "client/resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsio.h"
#include "wsio/client.h"

unsigned client_resolve_test_delay_ms;

/* The request is shared by the thread and the loop; `lock` guards the three
 * flags, and whichever side finishes last frees it:
 *  - the thread, done, posts it to the loop unless it was cancelled (then it
 * frees it);
 *  - the loop, on the posted call, frees it (calling back unless cancelled);
 *  - a cancel frees it at once when the thread is done but its post failed. */
struct client_resolve {
  pthread_mutex_t lock;
  int cancelled, finished, posted;
  loop *loop;
  client_resolve_fn cb;
  void *user;
  char host[256], port[8];
  int err;
  char why[320];
  client_addrs res;
  unsigned delay_ms;
};

static void fill(client_addrs *out, const struct addrinfo *res) {
  out->n = 0;
  for (const struct addrinfo *a = res; a && out->n < CLIENT_RESOLVE_MAX;
       a = a->ai_next) {
    if (a->ai_addrlen > sizeof out->addr[0])
      continue;
    memcpy(&out->addr[out->n], a->ai_addr, a->ai_addrlen);
    out->len[out->n++] = a->ai_addrlen;
  }
}

int client_resolve_numeric(const char *host, const char *port,
                           client_addrs *out) {
  unsigned char tmp[16];
  if (inet_pton(AF_INET, host, tmp) != 1 && inet_pton(AF_INET6, host, tmp) != 1)
    return 0;
  /* AI_NUMERICHOST: converts, never asks a name service, never blocks. */
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV},
                  *res = NULL;
  if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
    return 0;
  fill(out, res);
  freeaddrinfo(res);
  return out->n > 0;
}

static void deliver(void *arg) {
  client_resolve *r = arg;
  pthread_mutex_lock(&r->lock);
  int cancelled = r->cancelled;
  pthread_mutex_unlock(&r->lock);
  if (!cancelled)
    r->cb(r->user, r->err, r->why, &r->res);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

static void *run(void *arg) {
  client_resolve *r = arg;
  if (r->delay_ms) {
    struct timespec ts = {r->delay_ms / 1000,
                          (long)(r->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  int g = getaddrinfo(r->host, r->port, &hints, &res);
  if (g == 0 && res)
    fill(&r->res, res);
  if (res)
    freeaddrinfo(res);
  if (g != 0 || !r->res.n) {
    r->err = WSIO_ENETWORK;
    snprintf(r->why, sizeof r->why, "cannot resolve %s: %s", r->host,
             g ? gai_strerror(g) : "no address");
  }
  pthread_mutex_lock(&r->lock);
  r->finished = 1;
  int cancelled = r->cancelled;
  /* Posting under the lock: a cancel on the loop then sees either "not posted
   * and cancelled here" or "posted" (the loop frees it), never both sides
   * freeing. */
  if (!cancelled)
    r->posted = loop_post(r->loop, deliver, r) == 0;
  pthread_mutex_unlock(&r->lock);
  if (cancelled) {
    pthread_mutex_destroy(&r->lock);
    free(r);
  }
  return NULL;
}

client_resolve *client_resolve_start(loop *l, const char *host,
                                     const char *port, client_resolve_fn cb,
                                     void *user) {
  client_resolve *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  if (strlen(host) >= sizeof r->host || strlen(port) >= sizeof r->port ||
      pthread_mutex_init(&r->lock, NULL)) {
    free(r);
    return NULL;
  }
  strcpy(r->host, host);
  strcpy(r->port, port);
  r->loop = l;
  r->cb = cb;
  r->user = user;
  r->delay_ms = client_resolve_test_delay_ms;
  /* The thread takes no signal (the loop's thread handles them, loop_signals).
   */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t at;
  pthread_t t;
  int e = pthread_attr_init(&at);
  if (!e) {
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    e = pthread_create(&t, &at, run, r);
    pthread_attr_destroy(&at);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e) {
    pthread_mutex_destroy(&r->lock);
    free(r);
    return NULL;
  }
  return r;
}

void client_resolve_cancel(client_resolve *r) {
  if (!r)
    return;
  pthread_mutex_lock(&r->lock);
  r->cancelled = 1;
  /* Done but never posted (loop_post failed): nobody else holds it any more. */
  int orphan = r->finished && !r->posted;
  pthread_mutex_unlock(&r->lock);
  if (orphan) {
    pthread_mutex_destroy(&r->lock);
    free(r);
  }
}
