/* sio/middleware.c — a namespace's middleware chain (Node's nsp.use((socket, next))),
 * which may complete later than the CONNECT that started it: a middleware gets a
 * wsio_sio_pending handle and completes it with wsio_sio_next, before it returns or
 * from a later callback (a timer, work posted back to the loop).
 *
 * A chain that completes inside its callbacks allocates nothing (the common, fast
 * case). One that waits gets a sio_pending record, found again through io->pending by
 * a token that is never reused: the handle the application keeps holds only that
 * token, so a completion after the client left or after the timeout finds nothing and
 * returns WSIO_ECLOSED without touching the socket.
 *
 * Must not accept or refuse the socket itself: server.c does (sio_connect_finish,
 * sio_connect_refuse); this file only decides when. */
#include <string.h>

#include "sio/internal.h"
#include "sio/jscan.h"

enum {
  PEND_CALLING = 1, /* inside a middleware's callback */
  PEND_NEXT = 2,    /* that middleware called next (go on) */
  PEND_WAITING = 3, /* its callback returned without completing */
};

struct sio_pending {
  sio_pending *next; /* in the client's list */
  wsio_sio_socket *s;
  uint64_t token; /* the key in io->pending (these 8 bytes) */
  uint64_t restore_offset;
  size_t mw; /* the middleware running or awaited */
  uint8_t state, recovered;
  loop_timer timer;
};

static void pending_forget(sio_pending *p) {
  wsio_sio *io = p->s->nsp->io;
  sio_client *c = p->s->client;
  map_del(&io->pending, (const char *)&p->token, sizeof(p->token));
  loop_timer_stop(io->loop, &p->timer);
  for (sio_pending **pp = &c->pending; *pp; pp = &(*pp)->next) {
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  }
  free(p);
}

static void pending_refuse(sio_pending *p, const char *message, const char *data_json) {
  wsio_sio_socket *s = p->s;
  pending_forget(p);
  sio_connect_refuse(s, message, data_json);
}

static void pending_accept(sio_pending *p) {
  wsio_sio_socket *s = p->s;
  int recovered = p->recovered;
  uint64_t offset = p->restore_offset;
  pending_forget(p);
  (void)sio_connect_finish(s, recovered, offset);
}

static void pending_expired(loop_timer *t) {
  sio_pending *p = (sio_pending *)((char *)t - offsetof(sio_pending, timer));
  pending_refuse(p, "middleware timeout", NULL);
}

/* Calls the middlewares from p->mw on while each completes inside its callback (a
 * loop, not recursion, so a long synchronous chain uses no stack). Returns when the
 * chain is done, refused, or waiting for a later wsio_sio_next. */
static void run_chain(wsio_sio *io, uint64_t token) {
  for (;;) {
    sio_pending *p = map_get(&io->pending, (const char *)&token, sizeof(token));
    if (!p) return; /* refused, or the client closed, inside the last callback */
    if (p->state == PEND_CALLING) {
      p->state = PEND_WAITING;
      return;
    }
    wsio_sio_nsp *nsp = p->s->nsp;
    if (p->mw >= io->nmw + nsp->nmw) {
      pending_accept(p);
      return;
    }
    p->state = PEND_CALLING;
    /* The server's (wsio_sio_use) first, then the namespace's own. */
    const sio_middleware *m = p->mw < io->nmw ? &io->mw[p->mw] : &nsp->mw[p->mw - io->nmw];
    m->fn(p->s, (wsio_sio_pending){io, token}, m->user);
  }
}

void sio_middlewares_start(wsio_sio_socket *s, int recovered, uint64_t restore_offset) {
  wsio_sio_nsp *nsp = s->nsp;
  wsio_sio *io = nsp->io;
  if (io->nmw + nsp->nmw == 0 || (recovered && io->o.recovery_skip_middlewares)) {
    (void)sio_connect_finish(s, recovered, restore_offset);
    return;
  }
  sio_pending *p = calloc(1, sizeof(*p));
  if (!p) {
    sio_connect_refuse(s, "server error", NULL);
    return;
  }
  p->s = s;
  p->token = ++io->next_token;
  p->restore_offset = restore_offset;
  p->recovered = (uint8_t)recovered;
  p->timer.cb = pending_expired;
  unsigned ms = io->o.middleware_timeout_ms ? io->o.middleware_timeout_ms : io->o.connect_timeout_ms;
  if (map_put(&io->pending, (const char *)&p->token, sizeof(p->token), p) != 0 ||
      loop_timer_start(io->loop, &p->timer, ms ? ms : 1, 0) != 0) {
    map_del(&io->pending, (const char *)&p->token, sizeof(p->token));
    free(p);
    sio_connect_refuse(s, "server error", NULL);
    return;
  }
  p->next = s->client->pending;
  s->client->pending = p;
  /* The middlewares' own deadline governs from here (the connect timeout would close
   * the session without a word); server.c re-arms it if the CONNECT is refused. */
  sio_client_unwait(s->client);
  run_chain(io, p->token);
}

int wsio_sio_next(wsio_sio_pending next, const char *message, const char *data_json) {
  if (!next.io || !next.token) return WSIO_ECLOSED;
  sio_pending *p = map_get(&next.io->pending, (const char *)&next.token, sizeof(next.token));
  if (!p || p->state == PEND_NEXT) return WSIO_ECLOSED; /* gone, or completed already */
  if (data_json && !message) return WSIO_EINVAL;
  jscan_type t;
  if (data_json && !jscan_valid(data_json, strlen(data_json), &t)) return WSIO_EINVAL;
  if (message) {
    pending_refuse(p, message, data_json);
    return 0;
  }
  p->mw++;
  int waiting = p->state == PEND_WAITING;
  p->state = PEND_NEXT;
  if (waiting) run_chain(next.io, next.token); /* completed later: go on from here */
  return 0;
}

void sio_pending_drop_client(sio_client *c) {
  while (c->pending) {
    wsio_sio_socket *s = c->pending->s;
    pending_forget(c->pending);
    sio_socket_discard(s);
  }
}

uint64_t sio_pending_hold(wsio_sio_socket *s) {
  wsio_sio *io = s->nsp->io;
  sio_pending *p = calloc(1, sizeof(*p));
  if (!p) return 0;
  p->s = s;
  p->token = ++io->next_token;
  p->state = PEND_WAITING;
  p->mw = SIZE_MAX; /* no middleware: wsio_sio_next cannot name this token anyway */
  p->timer.cb = pending_expired;
  unsigned ms = io->o.middleware_timeout_ms ? io->o.middleware_timeout_ms : io->o.connect_timeout_ms;
  if (map_put(&io->pending, (const char *)&p->token, sizeof(p->token), p) != 0 ||
      loop_timer_start(io->loop, &p->timer, ms ? ms : 1, 0) != 0) {
    map_del(&io->pending, (const char *)&p->token, sizeof(p->token));
    free(p);
    return 0;
  }
  p->next = s->client->pending;
  s->client->pending = p;
  sio_client_unwait(s->client);
  return p->token;
}

wsio_sio_socket *sio_pending_release(wsio_sio *io, uint64_t token) {
  sio_pending *p = map_get(&io->pending, (const char *)&token, sizeof(token));
  if (!p) return NULL;
  wsio_sio_socket *s = p->s;
  pending_forget(p);
  return s;
}
