/* sio/rooms.c — the room index of a namespace (Node's in-memory adapter): room name ->
 * member sockets (nsp->rooms), socket -> joined rooms (s->rooms), both arrays with
 * back-indexes so join and leave are O(1) after the name lookup; and selections
 * (rooms minus except rooms minus one socket, each socket once).
 *
 * The room named after a socket's own id has no object: a selection resolves that
 * name through the namespace's id table. Must not send, encode or call back: callers
 * collect a selection first and act on it afterwards. */
#include <stdlib.h>
#include <string.h>

#include "sio/internal.h"
#include "util/buf.h"

static int room_is_own_id(const wsio_sio_socket *s, const char *room, size_t len) {
  return len == SIO_ID_LEN && memcmp(s->id, room, len) == 0;
}

static sio_room *room_create(wsio_sio_nsp *nsp, const char *name, size_t len) {
  sio_room *r = calloc(1, sizeof(*r) + len + 1);
  if (!r) return NULL;
  memcpy(r->name, name, len);
  r->name_len = (uint32_t)len;
  if (map_put(&nsp->rooms, r->name, len, r) != 0) {
    free(r);
    return NULL;
  }
  return r;
}

static int grow(void **v, uint32_t *cap, size_t elem) {
  uint32_t ncap = (uint32_t)grow_cap(*cap, (size_t)*cap + 1, 2, UINT32_MAX / elem);
  void *nv = ncap ? realloc(*v, (size_t)ncap * elem) : NULL;
  if (!nv) return WSIO_ENOMEM;
  *v = nv;
  *cap = ncap;
  return 0;
}

int sio_room_has(const wsio_sio_socket *s, const char *room, size_t len) {
  if (room_is_own_id(s, room, len)) return 1;
  for (uint32_t i = 0; i < s->nrooms; i++) {
    const sio_room *r = s->rooms[i].r;
    if (r->name_len == len && memcmp(r->name, room, len) == 0) return 1;
  }
  return 0;
}

int sio_room_join(wsio_sio_socket *s, const char *room, size_t len) {
  if (len > UINT32_MAX / 2) return WSIO_EINVAL;
  if (sio_room_has(s, room, len)) return 0;
  wsio_sio_nsp *nsp = s->nsp;
  sio_room *r = map_get(&nsp->rooms, room, len);
  int fresh = !r;
  if (fresh && !(r = room_create(nsp, room, len))) return WSIO_ENOMEM;
  if ((r->n == r->cap && grow((void **)&r->m, &r->cap, sizeof(*r->m)) != 0) ||
      (s->nrooms == s->rooms_cap && grow((void **)&s->rooms, &s->rooms_cap, sizeof(*s->rooms)) != 0)) {
    if (fresh) {
      map_del(&nsp->rooms, r->name, r->name_len);
      free(r->m);
      free(r);
    }
    return WSIO_ENOMEM;
  }
  sio_sel_changed(nsp->io);
  r->m[r->n] = (sio_member){s, s->nrooms};
  s->rooms[s->nrooms] = (sio_sock_room){r, r->n};
  r->n++;
  s->nrooms++;
  return 0;
}

/* Removes the socket's membership number `slot` (swap-remove on both sides). */
static void leave_slot(wsio_sio_socket *s, uint32_t slot) {
  sio_sel_changed(s->nsp->io);
  sio_room *r = s->rooms[slot].r;
  uint32_t idx = s->rooms[slot].idx;
  /* Room side: the last member takes idx; its socket's back-index follows. */
  r->m[idx] = r->m[--r->n];
  if (idx < r->n) r->m[idx].s->rooms[r->m[idx].slot].idx = idx;
  /* Socket side: the last membership takes slot; its room's back-index follows. */
  s->rooms[slot] = s->rooms[--s->nrooms];
  if (slot < s->nrooms) s->rooms[slot].r->m[s->rooms[slot].idx].slot = slot;
  if (r->n == 0) {
    map_del(&s->nsp->rooms, r->name, r->name_len);
    free(r->m);
    free(r);
  }
}

int sio_room_leave(wsio_sio_socket *s, const char *room, size_t len) {
  for (uint32_t i = 0; i < s->nrooms; i++) {
    const sio_room *r = s->rooms[i].r;
    if (r->name_len == len && memcmp(r->name, room, len) == 0) {
      leave_slot(s, i);
      return 1;
    }
  }
  return 0;
}

void sio_room_leave_all(wsio_sio_socket *s) {
  while (s->nrooms) leave_slot(s, s->nrooms - 1);
  free(s->rooms);
  s->rooms = NULL;
  s->rooms_cap = 0;
}

/* ---- selections ------------------------------------------------------------------ */

static int sel_push(sio_selection *sel, wsio_sio_socket *s) {
  if (sel->n == sel->cap) {
    size_t ncap = grow_cap(sel->cap, sel->n + 1, 16, SIZE_MAX / sizeof(wsio_sio_socket *));
    wsio_sio_socket **nv;
    if (!ncap) return WSIO_ENOMEM;
    if (sel->v == sel->small) {
      nv = malloc(ncap * sizeof(*nv));
      if (nv) memcpy(nv, sel->small, sel->n * sizeof(*nv));
    } else {
      nv = realloc(sel->v, ncap * sizeof(*nv));
    }
    if (!nv) return WSIO_ENOMEM;
    sel->v = nv;
    sel->cap = ncap;
  }
  sel->v[sel->n++] = s;
  return 0;
}

/* Calls visit on every connected socket in `room`: the room object's members and the
 * socket whose id is the room's name. Stops at the first non-zero return. */
static int for_room(wsio_sio_nsp *nsp, const char *room, int (*visit)(wsio_sio_socket *s, void *arg),
                    void *arg) {
  size_t len = strlen(room);
  sio_room *r = map_get(&nsp->rooms, room, len);
  for (uint32_t i = 0; r && i < r->n; i++) {
    if (r->m[i].s->state != SOCK_CONNECTED) continue;
    int rc = visit(r->m[i].s, arg);
    if (rc) return rc;
  }
  wsio_sio_socket *own = idmap_get(&nsp->sockets, room, len);
  return own ? visit(own, arg) : 0;
}

typedef struct select_ctx {
  sio_selection *sel;
  uint32_t epoch;
} select_ctx;

static int visit_mark(wsio_sio_socket *s, void *arg) {
  s->mark = ((select_ctx *)arg)->epoch;
  return 0;
}

static int visit_collect(wsio_sio_socket *s, void *arg) {
  select_ctx *c = arg;
  if (s->mark == c->epoch) return 0;
  s->mark = c->epoch;
  return sel_push(c->sel, s);
}

/* Room for more selected sockets, all at once (a 1,000-member room grew the array
 * five times through sel_push). */
static int sel_reserve(sio_selection *sel, size_t more) {
  if (more <= sel->cap - sel->n) return 0;
  if (more > SIZE_MAX / sizeof(wsio_sio_socket *) - sel->n) return WSIO_ENOMEM;
  size_t ncap = sel->n + more;
  wsio_sio_socket **nv = sel->v == sel->small ? malloc(ncap * sizeof(*nv)) : realloc(sel->v, ncap * sizeof(*nv));
  if (!nv) return WSIO_ENOMEM;
  if (sel->v == sel->small) memcpy(nv, sel->small, sel->n * sizeof(*nv));
  sel->v = nv;
  sel->cap = ncap;
  return 0;
}

/* for_room(visit_collect) without the indirect call and the capacity check per member:
 * a room broadcast's selection is one tight loop over the member array, which
 * callgrind put at a sixth of a room delivery's instructions before. */
static int collect_room(wsio_sio_nsp *nsp, const char *room, select_ctx *c) {
  size_t len = strlen(room);
  sio_room *r = map_get(&nsp->rooms, room, len);
  if (r && sel_reserve(c->sel, r->n) != 0) return WSIO_ENOMEM;
  sio_selection *sel = c->sel;
  for (uint32_t i = 0; r && i < r->n; i++) {
    wsio_sio_socket *s = r->m[i].s;
    if (s->state != SOCK_CONNECTED || s->mark == c->epoch) continue;
    s->mark = c->epoch;
    sel->v[sel->n++] = s;
  }
  wsio_sio_socket *own = idmap_get(&nsp->sockets, room, len);
  return own ? visit_collect(own, c) : 0;
}

/* The marks make "each socket once" and "minus the except rooms" one pass each with no
 * temporary set: a socket marked with this selection's epoch is excluded or taken. */
int sio_select(const wsio_sio_target *t, sio_selection *sel) {
  sel->v = sel->small;
  sel->n = 0;
  sel->cap = sizeof(sel->small) / sizeof(sel->small[0]);
  wsio_sio_nsp *nsp = t ? t->nsp : NULL;
  if (!nsp) return WSIO_EINVAL;
  wsio_sio *io = nsp->io;
  if (++io->epoch == 0) ++io->epoch; /* 0 is every fresh socket's mark */
  select_ctx c = {sel, io->epoch};
  for (size_t i = 0; i < t->nexcept; i++)
    if (t->except[i]) for_room(nsp, t->except[i], visit_mark, &c);
  if (t->except_socket) t->except_socket->mark = c.epoch;
  if (t->nrooms) {
    for (size_t i = 0; i < t->nrooms; i++) {
      if (!t->rooms[i]) continue;
      int rc = collect_room(nsp, t->rooms[i], &c);
      if (rc) return rc;
    }
    return 0;
  }
  uint32_t it = 0;
  void *v;
  while (idmap_next(&nsp->sockets, &it, &v)) {
    wsio_sio_socket *s = v;
    if (s->mark == c.epoch) continue;
    if (sel_push(sel, s) != 0) return WSIO_ENOMEM;
  }
  return 0;
}
