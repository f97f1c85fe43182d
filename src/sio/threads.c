/* sio/threads.c — the in-process adapter (--threads): the Socket.IO servers of a group
 * of apps (one per thread, core/threads.c) act as the nodes of one cluster. Every
 * adapter operation does this thread's part with the sio_local_* functions, as the
 * Redis adapter does, and sends the other threads a message through core's
 * cross-thread queue (core_xt_send: appended to a per-peer outbox, handed over once
 * per loop iteration, so a broadcast costs no lock). A thread receiving one calls
 * sio_local_* directly: a delivery is never sent on again.
 *
 * Queries (fetchSockets, allRooms, serverSideEmit with an answer, broadcasts with
 * acks) are requests with an id, answered by every other thread to the asking one and
 * merged there; a request ends when every thread answered or at its deadline.
 *
 * Must not know Redis or sockets; it uses sio/adapter.h (never another thread's
 * structures: only bytes cross) and core/transport.h. Installed by wsio_sio_attach
 * when the app belongs to a group; a cluster adapter installed later replaces it
 * (each thread is then a node of the Redis cluster). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/transport.h"
#include "sio/internal.h"
#include "sio/jscan.h"
#include "util/buf.h"
#include "util/map.h"

enum {
  M_BCAST = 1,      /* nsp, target, event */
  M_BCAST_ACK,      /* id, timeout, nsp, target, event: answered by M_ACK_COUNT, M_ACK_ANSWER */
  M_ACK_COUNT,      /* id, clients reached */
  M_ACK_ANSWER,     /* id, one client's answer, its attachments (count, each) */
  M_SOCKETS,        /* nsp, target, room, join (1) / leave (0) / disconnect (2, 3: close) */
  M_FETCH,          /* id, nsp, target: answered by M_RESULT */
  M_ROOMS,          /* id, nsp: answered by M_RESULT */
  M_SSE,            /* id (0: no answer), nsp, event: answered by M_RESULT */
  M_RESULT,         /* id, JSON text */
  M_RECOVER,        /* id, nsp, the CONNECT's auth: answered by M_RECOVERED */
  M_RECOVERED,      /* id, found (1/0), the session (sio_session_export) */
};

#define REQUEST_TIMEOUT_MS 5000

typedef struct xreq xreq;
struct xreq {
  loop_timer timer; /* first: the timer callback casts back */
  struct tadapter *ta;
  xreq *next;
  uint32_t id;
  int type;
  unsigned waiting;     /* threads that have not answered */
  long expected;        /* broadcast with ack: clients reached on every thread so far */
  long got;             /* answers received */
  int local_pending;    /* the local broadcast's done callback has not run */
  int done;
  uint64_t token;       /* recovery: the held CONNECT (middleware.c) */
  byte_buf acc;         /* answers so far, comma-separated JSON values */
  str_map seen;         /* allRooms: names already in acc */
  wsio_sio_result_fn cb;
  wsio_sio_broadcast_ack_fn acb;
  wsio_sio_broadcast_ack_bin_fn bcb; /* instead of acb: the answers' attachments too */
  wsio_span *bins;                   /* bcb: copies of the answers' attachments so far */
  size_t nbins, bins_cap;
  void *user;
};

typedef struct tadapter {
  sio_adapter base; /* first: the ops cast back */
  wsio_sio *io;
  wsio_app *app;
  xreq *reqs;
  uint32_t next_id;
  byte_buf deferred; /* session searches to answer in the post phase: from, length, message */
  int in_post;
} tadapter;

/* ---- encoding: integers, and strings with their NUL (so they are read in place) ----- */

typedef struct {
  byte_buf b;
  int err;
} wr;

static void w_u32(wr *w, uint32_t v) {
  if (!w->err && byte_buf_append(&w->b, &v, 4) < 0) w->err = 1;
}
static void w_bytes(wr *w, const void *p, size_t n) {
  w_u32(w, (uint32_t)n);
  if (!w->err && (byte_buf_append(&w->b, p, n) < 0 || byte_buf_append(&w->b, "", 1) < 0)) w->err = 1;
}
static void w_str(wr *w, const char *s) { w_bytes(w, s, strlen(s)); }

typedef struct {
  const uint8_t *p;
  size_t n, off;
  int err;
} rd;

static uint32_t r_u32(rd *r) {
  uint32_t v = 0;
  if (r->err || r->n - r->off < 4) {
    r->err = 1;
    return 0;
  }
  memcpy(&v, r->p + r->off, 4);
  r->off += 4;
  return v;
}
static const char *r_bytes(rd *r, size_t *len) {
  if (len) *len = 0;
  size_t n = r_u32(r);
  if (r->err || r->n - r->off < n + 1) {
    r->err = 1;
    return "";
  }
  const char *s = (const char *)r->p + r->off;
  r->off += n + 1;
  if (len) *len = n;
  return s;
}

static void w_target(wr *w, const wsio_sio_target *t) {
  w_str(w, wsio_sio_nsp_name(t->nsp));
  w_u32(w, (uint32_t)t->nrooms);
  for (size_t i = 0; i < t->nrooms; i++) w_str(w, t->rooms[i]);
  /* The excepted socket lives on this thread only: elsewhere it selects nothing. */
  w_u32(w, (uint32_t)t->nexcept);
  for (size_t i = 0; i < t->nexcept; i++) w_str(w, t->except[i]);
  w_u32(w, (uint32_t)t->is_volatile);
}

/* Room lists arrive as pointers into the message; names holds them. */
typedef struct {
  const char *small[32];
  const char **v;
} names;

static const char **r_names(rd *r, names *nm, size_t *n, size_t off) {
  *n = r_u32(r);
  if (r->err || *n > r->n) return NULL;
  const char **v = nm->small + off;
  if (off + *n > 32) {
    v = malloc((*n ? *n : 1) * sizeof(*v));
    if (!v) {
      r->err = 1;
      return NULL;
    }
    nm->v = v;
  }
  for (size_t i = 0; i < *n; i++) v[i] = r_bytes(r, NULL);
  return v;
}

/* Reads a target; 0 when this thread has no such namespace (nothing to do here). */
static int r_target(tadapter *ta, rd *r, wsio_sio_target *t, names *rooms, names *except) {
  size_t nl;
  const char *nsp = r_bytes(r, &nl);
  memset(t, 0, sizeof(*t));
  t->rooms = r_names(r, rooms, &t->nrooms, 0);
  t->except = r_names(r, except, &t->nexcept, 0);
  t->is_volatile = (int)r_u32(r);
  if (r->err) return 0;
  t->nsp = sio_nsp_find(ta->io, nsp, nl);
  return t->nsp != NULL;
}

static void w_event(wr *w, const sio_event *ev) {
  w_str(w, ev->name);
  w_bytes(w, ev->json, ev->len);
  w_u32(w, (uint32_t)ev->nbins);
  for (size_t i = 0; i < ev->nbins; i++) w_bytes(w, ev->bins[i].p, ev->bins[i].n);
}

/* The attachments are read into bins (up to 64; more make the event unreadable). */
#define MAX_BINS 64
static void r_event(rd *r, sio_event *ev, wsio_span *bins) {
  ev->name = r_bytes(r, NULL);
  ev->json = r_bytes(r, &ev->len);
  ev->nbins = r_u32(r);
  if (ev->nbins > MAX_BINS) r->err = 1;
  for (size_t i = 0; !r->err && i < ev->nbins; i++) {
    size_t n;
    bins[i].p = (const uint8_t *)r_bytes(r, &n);
    bins[i].n = n;
  }
  ev->bins = bins;
  ev->offset = NULL;
  ev->delivery = 1; /* the emitting thread counted the broadcast */
}

static int send_to(tadapter *ta, unsigned to, wr *w) {
  int r = w->err ? WSIO_ENOMEM : core_xt_send(ta->app, to, CORE_XT_SIO, w->b.p, w->b.len, NULL, 0);
  byte_buf_free(&w->b);
  return r;
}

/* ---- requests ------------------------------------------------------------------------ */

static void seen_free(xreq *q);

static void req_free(xreq *q) {
  for (size_t i = 0; i < q->nbins; i++) free((void *)q->bins[i].p);
  free(q->bins);
  byte_buf_free(&q->acc);
  seen_free(q);
  map_free(&q->seen);
  free(q);
}

static void req_unlink(xreq *q) {
  for (xreq **pp = &q->ta->reqs; *pp; pp = &(*pp)->next)
    if (*pp == q) {
      *pp = q->next;
      return;
    }
}

/* Runs the callback once; q lives on while the local broadcast may still call it. */
static void req_finish(xreq *q, int err) {
  if (q->done) return;
  q->done = 1;
  req_unlink(q);
  loop_timer_stop(sio_server_loop(q->ta->io), &q->timer);
  char *text = malloc(q->acc.len + 3);
  if (text) {
    text[0] = '[';
    if (q->acc.len) memcpy(text + 1, q->acc.p, q->acc.len);
    text[q->acc.len + 1] = ']';
    text[q->acc.len + 2] = '\0';
  }
  if (q->bcb) q->bcb(text ? text : "[]", text ? q->acc.len + 2 : 2, q->bins, q->nbins, err, q->user);
  else if (q->acb) q->acb(text ? text : "[]", text ? q->acc.len + 2 : 2, err, q->user);
  else if (q->cb) q->cb(text ? text : "[]", text ? q->acc.len + 2 : 2, text ? err : WSIO_ENOMEM, q->user);
  free(text);
  if (!q->local_pending) req_free(q);
}

static void recover_done(xreq *q, const uint8_t *session, size_t len);
static void recover_post(void *arg);

static void req_expired(loop_timer *t) {
  xreq *q = (xreq *)t;
  if (q->type == M_RECOVER) recover_done(q, NULL, 0);
  else req_finish(q, WSIO_ETIMEDOUT);
}

/* A session search ended: found (session) or not (NULL: a new session, as when it
 * has expired). The CONNECT goes on either way, if its client is still there. */
static void recover_done(xreq *q, const uint8_t *session, size_t len) {
  tadapter *ta = q->ta;
  req_unlink(q);
  loop_timer_stop(sio_server_loop(ta->io), &q->timer);
  wsio_sio_socket *s = sio_pending_release(ta->io, q->token);
  req_free(q);
  if (!s) return; /* the client left, or the CONNECT timed out */
  int recovered = session && sio_session_import(s, session, len) == 0;
  sio_middlewares_start(s, recovered, 0); /* offset 0: nothing more to replay here */
}

static xreq *req_new(tadapter *ta, int type, unsigned timeout_ms) {
  xreq *q = calloc(1, sizeof(*q));
  if (!q) return NULL;
  q->ta = ta;
  q->type = type;
  q->id = ++ta->next_id ? ta->next_id : ++ta->next_id; /* 0 means "no answer" */
  q->waiting = core_thread_count(ta->app) - 1;
  q->timer.cb = req_expired;
  if (timeout_ms && loop_timer_start(sio_server_loop(ta->io), &q->timer, timeout_ms, 0) < 0) {
    free(q);
    return NULL;
  }
  q->next = ta->reqs;
  ta->reqs = q;
  return q;
}

static xreq *req_find(tadapter *ta, uint32_t id) {
  for (xreq *q = ta->reqs; q; q = q->next)
    if (q->id == id) return q;
  return NULL;
}

/* Appends the values of a JSON array text ("[a,b]") to acc. */
static void acc_array(xreq *q, const char *json, size_t len) {
  while (len && (json[len - 1] == ' ' || json[len - 1] == '\n')) len--;
  if (len < 2 || json[0] != '[' || len == 2) return;
  if (q->acc.len) byte_buf_append(&q->acc, ",", 1);
  byte_buf_append(&q->acc, json + 1, len - 2);
}

static void acc_value(xreq *q, const char *json, size_t len) {
  if (q->acc.len) byte_buf_append(&q->acc, ",", 1);
  byte_buf_append(&q->acc, json, len);
}

/* allRooms: each name once. The names are JSON strings from the same encoder on every
 * thread, so equal names are equal texts. */
static void acc_rooms(xreq *q, const char *json, size_t len) {
  size_t i = 0;
  while (i < len) {
    if (json[i] != '"') {
      i++;
      continue;
    }
    size_t s = i++;
    while (i < len && json[i] != '"') i += json[i] == '\\' ? 2 : 1;
    if (i >= len) return;
    i++;
    if (map_get(&q->seen, json + s, i - s)) continue;
    /* The key points into acc, which may move: keep a copy of it instead. */
    char *k = malloc(i - s);
    if (!k) continue;
    memcpy(k, json + s, i - s);
    if (map_put(&q->seen, k, i - s, k) < 0) {
      free(k);
      continue;
    }
    acc_value(q, json + s, i - s);
  }
}

static void seen_free(xreq *q) {
  uint32_t it = 0;
  void *v;
  while (map_next(&q->seen, &it, NULL, NULL, &v)) free(v);
}


/* Done once every thread said how many clients it reached and all of them answered. */
static void ack_check(xreq *q) {
  if (!q->done && q->waiting == 0 && q->got >= q->expected) req_finish(q, 0);
}

/* Copies of an answer's attachments, after those kept; -1: out of memory. */
static int keep_bins(xreq *q, const wsio_span *bins, size_t nbins) {
  return sio_spans_keep(&q->bins, &q->nbins, &q->bins_cap, bins, nbins) < 0 ? -1 : 0;
}

/* One client's answer, from this thread or another. With bcb its attachments are kept
 * and its placeholders renumbered past those of the answers before it; with the JSON
 * callback they stay placeholders, as in the local adapter. */
static void ack_answer(xreq *q, const char *json, size_t len, const wsio_span *bins, size_t nbins) {
  if (q->done) return;
  q->got++;
  if (!q->bcb || !nbins) {
    acc_value(q, json, len);
  } else {
    size_t base = q->nbins;
    json_error_t je;
    json_t *v = keep_bins(q, bins, nbins) == 0 ? json_loadb(json, len, JSON_DECODE_ANY, &je) : NULL;
    if (v && base) sio_placeholders_rebase(v, base);
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) : NULL;
    json_decref(v);
    if (text) acc_value(q, text, strlen(text));
    else acc_value(q, "null", 4); /* its placeholders would name what is not there */
    free(text);
  }
  ack_check(q);
}

/* ---- ops ------------------------------------------------------------------------------ */

static int t_add_all(sio_adapter *a, wsio_sio_socket *s, const char *const *rooms, size_t n) {
  (void)a;
  return sio_local_add_all(s, rooms, n);
}
static void t_del(sio_adapter *a, wsio_sio_socket *s, const char *room) {
  (void)a;
  sio_local_del(s, room);
}
static void t_del_all(sio_adapter *a, wsio_sio_socket *s) {
  (void)a;
  sio_local_del_all(s);
}

static int t_broadcast(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev) {
  tadapter *ta = (tadapter *)a;
  if (!t->is_local) {
    wr w = {BYTE_BUF_INIT, 0};
    w_u32(&w, M_BCAST);
    w_target(&w, t);
    w_event(&w, ev);
    send_to(ta, CORE_XT_ALL, &w);
  }
  return sio_local_broadcast(t, ev);
}

/* Answers cross threads with their attachments (M_ACK_ANSWER); the JSON callback
 * gets their placeholders, the bin-aware one (wsio_sio_broadcast_with_ack_bin) them. */
static void ack_each_local(const char *json, size_t len, const wsio_span *bins, size_t nbins, void *arg) {
  ack_answer(arg, json, len, bins, nbins);
}

static void ack_local_done(const char *json, size_t len, int err, void *user) {
  (void)json;
  (void)len;
  (void)err;
  xreq *q = user;
  q->local_pending = 0;
  if (q->done) req_free(q);
}

static int with_ack(tadapter *ta, const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                    wsio_sio_broadcast_ack_fn cb, wsio_sio_broadcast_ack_bin_fn bcb, void *user) {
  if (t->is_local)
    return bcb ? sio_local_broadcast_with_ack_bin(t, ev, timeout_ms, bcb, user)
               : sio_local_broadcast_with_ack(t, ev, timeout_ms, cb, user);
  xreq *q = req_new(ta, M_BCAST_ACK, timeout_ms);
  if (!q) return WSIO_ENOMEM;
  q->acb = cb;
  q->bcb = bcb;
  q->user = user;
  wr w = {BYTE_BUF_INIT, 0};
  w_u32(&w, M_BCAST_ACK);
  w_u32(&w, q->id);
  w_u32(&w, timeout_ms);
  w_target(&w, t);
  w_event(&w, ev);
  if (send_to(ta, CORE_XT_ALL, &w) < 0) q->waiting = 0; /* nobody else will answer */
  q->local_pending = 1;
  int reached = sio_local_broadcast_with_ack_each(t, ev, timeout_ms, ack_local_done, q, ack_each_local, q);
  if (reached < 0) {
    req_unlink(q);
    loop_timer_stop(sio_server_loop(ta->io), &q->timer);
    req_free(q);
    return reached;
  }
  q->expected += reached; /* no answer can have come yet: clients answer later */
  ack_check(q);
  return reached;
}

static int t_broadcast_with_ack(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                                wsio_sio_broadcast_ack_fn cb, void *user) {
  return with_ack((tadapter *)a, t, ev, timeout_ms, cb, NULL, user);
}

static int t_broadcast_with_ack_bin(sio_adapter *a, const wsio_sio_target *t, const sio_event *ev,
                                    unsigned timeout_ms, wsio_sio_broadcast_ack_bin_fn cb, void *user) {
  return with_ack((tadapter *)a, t, ev, timeout_ms, NULL, cb, user);
}

static int sockets_op(tadapter *ta, const wsio_sio_target *t, const char *room, uint32_t op) {
  if (t->is_local) return 0;
  wr w = {BYTE_BUF_INIT, 0};
  w_u32(&w, M_SOCKETS);
  w_target(&w, t);
  w_str(&w, room ? room : "");
  w_u32(&w, op);
  return send_to(ta, CORE_XT_ALL, &w);
}

static int t_add_sockets(sio_adapter *a, const wsio_sio_target *t, const char *room, int join) {
  int r = sockets_op((tadapter *)a, t, room, join ? 1 : 0);
  int l = sio_local_add_sockets(t, room, join);
  return l < 0 ? l : r;
}

static int t_disconnect_sockets(sio_adapter *a, const wsio_sio_target *t, int close_transport) {
  int r = sockets_op((tadapter *)a, t, NULL, close_transport ? 3 : 2);
  int l = sio_local_disconnect_sockets(t, close_transport);
  return l < 0 ? l : r;
}

/* A query: this thread's answer first, the others' merged as they come. */
static int query(tadapter *ta, int type, const wsio_sio_target *t, wsio_sio_nsp *nsp, const sio_event *ev,
                 wsio_sio_result_fn cb, void *user) {
  xreq *q = req_new(ta, type, REQUEST_TIMEOUT_MS);
  if (!q) return WSIO_ENOMEM;
  q->cb = cb;
  q->user = user;
  size_t n = 0;
  char *local = NULL;
  if (type == M_FETCH) local = sio_local_fetch_text(t, &n);
  else if (type == M_ROOMS) local = sio_local_rooms_text(nsp, &n);
  if (type != M_SSE && !local) {
    req_unlink(q);
    loop_timer_stop(sio_server_loop(ta->io), &q->timer);
    req_free(q);
    return WSIO_ENOMEM;
  }
  if (type == M_FETCH) acc_array(q, local, n);
  else if (type == M_ROOMS) acc_rooms(q, local, n);
  free(local);
  wr w = {BYTE_BUF_INIT, 0};
  w_u32(&w, (uint32_t)type);
  w_u32(&w, q->id);
  if (type == M_FETCH) w_target(&w, t);
  else w_str(&w, wsio_sio_nsp_name(nsp));
  if (type == M_SSE) w_event(&w, ev);
  if (send_to(ta, CORE_XT_ALL, &w) < 0) q->waiting = 0;
  if (q->waiting == 0) req_finish(q, 0);
  return 0;
}

static int t_fetch_sockets(sio_adapter *a, const wsio_sio_target *t, wsio_sio_result_fn cb, void *user) {
  if (t->is_local) return sio_local_adapter.ops->fetch_sockets(&sio_local_adapter, t, cb, user);
  return query((tadapter *)a, M_FETCH, t, t->nsp, NULL, cb, user);
}

static int t_all_rooms(sio_adapter *a, wsio_sio_nsp *nsp, wsio_sio_result_fn cb, void *user) {
  return query((tadapter *)a, M_ROOMS, NULL, nsp, NULL, cb, user);
}

static int t_server_count(sio_adapter *a, wsio_sio_nsp *nsp, wsio_sio_count_fn cb, void *user) {
  (void)nsp;
  cb((long)core_thread_count(((tadapter *)a)->app), 0, user);
  return 0;
}

static int t_server_side_emit(sio_adapter *a, wsio_sio_nsp *nsp, const sio_event *ev, wsio_sio_result_fn cb,
                              void *user) {
  tadapter *ta = (tadapter *)a;
  if (!cb) {
    wr w = {BYTE_BUF_INIT, 0};
    w_u32(&w, M_SSE);
    w_u32(&w, 0);
    w_str(&w, wsio_sio_nsp_name(nsp));
    w_event(&w, ev);
    return send_to(ta, CORE_XT_ALL, &w);
  }
  return query(ta, M_SSE, NULL, nsp, ev, cb, user);
}

static void t_destroy(sio_adapter *a) {
  tadapter *ta = (tadapter *)a;
  while (ta->reqs) {
    xreq *q = ta->reqs;
    q->local_pending = 0; /* the server's sockets are gone: no local callback follows */
    if (q->type == M_RECOVER) recover_done(q, NULL, 0);
    else req_finish(q, WSIO_ECLOSED);
  }
  core_xt_handler(ta->app, CORE_XT_SIO, NULL, NULL);
  core_hook_remove(ta->app, CORE_HOOK_POST, recover_post, ta);
  byte_buf_free(&ta->deferred);
  free(ta);
}

static const sio_adapter_ops threads_ops = {
    .add_all = t_add_all,
    .del = t_del,
    .del_all = t_del_all,
    .broadcast = t_broadcast,
    .broadcast_with_ack = t_broadcast_with_ack,
    .broadcast_with_ack_bin = t_broadcast_with_ack_bin,
    .add_sockets = t_add_sockets,
    .disconnect_sockets = t_disconnect_sockets,
    .fetch_sockets = t_fetch_sockets,
    .all_rooms = t_all_rooms,
    .server_count = t_server_count,
    .server_side_emit = t_server_side_emit,
    .nsp_created = NULL,
    .destroy = t_destroy,
};

/* ---- messages from the other threads -------------------------------------------------- */

typedef struct {
  tadapter *ta;
  unsigned from;
  uint32_t id;
} answer_to;

static void send_result(tadapter *ta, unsigned to, uint32_t id, const char *json, size_t len) {
  wr w = {BYTE_BUF_INIT, 0};
  w_u32(&w, M_RESULT);
  w_u32(&w, id);
  w_bytes(&w, json, len);
  send_to(ta, to, &w);
}

static void remote_ack_each(const char *json, size_t len, const wsio_span *bins, size_t nbins, void *arg) {
  answer_to *at = arg;
  wr w = {BYTE_BUF_INIT, 0};
  w_u32(&w, M_ACK_ANSWER);
  w_u32(&w, at->id);
  w_bytes(&w, json, len);
  w_u32(&w, (uint32_t)nbins);
  for (size_t i = 0; i < nbins; i++) w_bytes(&w, bins[i].p, bins[i].n);
  send_to(at->ta, at->from, &w);
}

static void remote_ack_done(const char *json, size_t len, int err, void *user) {
  (void)json;
  (void)len;
  (void)err;
  free(user);
}

static void sse_answer(const char *json, size_t len, void *arg) {
  answer_to *at = arg;
  send_result(at->ta, at->from, at->id, json, len);
  at->id = 0; /* answered once */
}

static void on_result(tadapter *ta, int type, rd *r) {
  uint32_t id = r_u32(r);
  xreq *q = req_find(ta, id);
  if (!q || r->err) return;
  if (type == M_ACK_COUNT) {
    q->expected += (long)r_u32(r);
    q->waiting--;
  } else {
    size_t len;
    const char *json = r_bytes(r, &len);
    if (r->err) return;
    if (type == M_ACK_ANSWER) {
      wsio_span bins[MAX_BINS];
      size_t nbins = r_u32(r);
      if (nbins > MAX_BINS) r->err = 1;
      for (size_t i = 0; !r->err && i < nbins; i++) {
        size_t bl;
        bins[i].p = (const uint8_t *)r_bytes(r, &bl);
        bins[i].n = bl;
      }
      if (r->err) { /* more attachments than are read: the answer counts, as null */
        json = "null", len = 4, nbins = 0;
      }
      ack_answer(q, json, len, bins, nbins);
      return; /* (ack_check ran) */
    } else {
      if (q->type == M_FETCH) acc_array(q, json, len);
      else if (q->type == M_ROOMS) acc_rooms(q, json, len);
      else acc_value(q, json, len);
      q->waiting--;
    }
  }
  if (q->type == M_BCAST_ACK) ack_check(q);
  else if (q->waiting == 0) req_finish(q, 0);
}

static void on_message(void *arg, unsigned from, const uint8_t *p, size_t n) {
  tadapter *ta = arg;
  rd r = {p, n, 0, 0};
  int type = (int)r_u32(&r);
  names rooms = {{0}, NULL}, except = {{0}, NULL};
  wsio_span bins[MAX_BINS];
  wsio_sio_target t;
  sio_event ev;
  switch (type) {
    case M_BCAST:
      if (r_target(ta, &r, &t, &rooms, &except)) {
        r_event(&r, &ev, bins);
        if (!r.err) sio_local_broadcast(&t, &ev);
      }
      break;
    case M_BCAST_ACK: {
      uint32_t id = r_u32(&r);
      unsigned timeout = r_u32(&r);
      int reached = 0;
      if (r_target(ta, &r, &t, &rooms, &except)) {
        r_event(&r, &ev, bins);
        answer_to *at = r.err ? NULL : malloc(sizeof(*at));
        if (at) {
          *at = (answer_to){ta, from, id};
          reached = sio_local_broadcast_with_ack_each(&t, &ev, timeout, remote_ack_done, at, remote_ack_each, at);
          if (reached < 0) {
            free(at);
            reached = 0;
          }
        }
      }
      wr w = {BYTE_BUF_INIT, 0};
      w_u32(&w, M_ACK_COUNT);
      w_u32(&w, id);
      w_u32(&w, (uint32_t)reached);
      send_to(ta, from, &w);
      break;
    }
    case M_SOCKETS:
      if (r_target(ta, &r, &t, &rooms, &except)) {
        const char *room = r_bytes(&r, NULL);
        uint32_t op = r_u32(&r);
        if (r.err) break;
        if (op <= 1) sio_local_add_sockets(&t, room, (int)op);
        else sio_local_disconnect_sockets(&t, op == 3);
      }
      break;
    case M_FETCH: {
      uint32_t id = r_u32(&r);
      size_t len = 0;
      char *text = r_target(ta, &r, &t, &rooms, &except) ? sio_local_fetch_text(&t, &len) : NULL;
      send_result(ta, from, id, text ? text : "[]", text ? len : 2);
      free(text);
      break;
    }
    case M_ROOMS: {
      uint32_t id = r_u32(&r);
      size_t nl, len = 0;
      const char *name = r_bytes(&r, &nl);
      wsio_sio_nsp *nsp = r.err ? NULL : sio_nsp_find(ta->io, name, nl);
      char *text = nsp ? sio_local_rooms_text(nsp, &len) : NULL;
      send_result(ta, from, id, text ? text : "[]", text ? len : 2);
      free(text);
      break;
    }
    case M_SSE: {
      uint32_t id = r_u32(&r);
      size_t nl;
      const char *name = r_bytes(&r, &nl);
      r_event(&r, &ev, bins);
      wsio_sio_nsp *nsp = r.err ? NULL : sio_nsp_find(ta->io, name, nl);
      answer_to at = {ta, from, id};
      /* A handler that does not answer leaves the asker to its timeout, as in Node. */
      if (nsp) sio_local_server_event(nsp, &ev, id ? sse_answer : NULL, &at);
      break;
    }
    case M_RECOVER: {
      if (!ta->in_post) { /* answered after this iteration's reads, see recover_post */
        uint32_t hdr[2] = {from, (uint32_t)n};
        if (byte_buf_append(&ta->deferred, hdr, sizeof(hdr)) == 0 && byte_buf_append(&ta->deferred, p, n) < 0)
          ta->deferred.len -= sizeof(hdr);
        break;
      }
      uint32_t id = r_u32(&r);
      size_t nl, al;
      const char *name = r_bytes(&r, &nl);
      const char *auth = r_bytes(&r, &al);
      wsio_sio_nsp *nsp = r.err ? NULL : sio_nsp_find(ta->io, name, nl);
      byte_buf out = BYTE_BUF_INIT;
      int found = nsp && sio_session_export(nsp, auth, al, &out) == 0;
      wr w = {BYTE_BUF_INIT, 0};
      w_u32(&w, M_RECOVERED);
      w_u32(&w, id);
      w_u32(&w, (uint32_t)found);
      w_bytes(&w, out.p ? (const char *)out.p : "", found ? out.len : 0);
      byte_buf_free(&out);
      send_to(ta, from, &w);
      break;
    }
    case M_RECOVERED: {
      uint32_t id = r_u32(&r), found = r_u32(&r);
      size_t bl;
      const char *b = r_bytes(&r, &bl);
      xreq *q = r.err ? NULL : req_find(ta, id);
      if (!q) break;
      q->waiting--;
      if (found) recover_done(q, (const uint8_t *)b, bl);
      else if (q->waiting == 0) recover_done(q, NULL, 0);
      break;
    }
    case M_ACK_COUNT:
    case M_ACK_ANSWER:
    case M_RESULT: on_result(ta, type, &r); break;
    default: break;
  }
  free(rooms.v);
  free(except.v);
}

/* A disconnected socket's session waits on the thread where it was lost, which need
 * not be the one the client reconnected to: when this thread has none for the pid,
 * every other thread is asked (one of them at most holds it) and the CONNECT waits. */
int sio_threads_recover(wsio_sio_socket *s) {
  wsio_sio *io = s->nsp->io;
  sio_adapter *a = sio_adapter_get(io);
  const char *auth = s->x ? s->x->auth : NULL;
  if (!io->o.recovery || !auth || a->ops != &threads_ops) return 0;
  size_t auth_len = s->x->auth_len;
  tadapter *ta = (tadapter *)a;
  size_t vl;
  if (!sio_json_object_get(auth, auth_len, "pid", &vl)) return 0;
  sio_restore here;
  if (sio_session_find(s->nsp, auth, auth_len, &here) == 0) return 0; /* this thread's */
  xreq *q = req_new(ta, M_RECOVER, REQUEST_TIMEOUT_MS);
  if (!q) return 0;
  if (!(q->token = sio_pending_hold(s))) { /* out of memory: a new session here */
    req_unlink(q);
    loop_timer_stop(sio_server_loop(ta->io), &q->timer);
    req_free(q);
    return 0;
  }
  wr w = {BYTE_BUF_INIT, 0};
  w_u32(&w, M_RECOVER);
  w_u32(&w, q->id);
  w_str(&w, wsio_sio_nsp_name(s->nsp));
  w_bytes(&w, auth, auth_len);
  if (send_to(ta, CORE_XT_ALL, &w) < 0) recover_done(q, NULL, 0);
  return 1;
}

/* Messages from other threads run when the loop wakes, before the iteration's reads:
 * a client that lost its connection here and reconnected to another thread may have
 * its close still unread. Searches for a session are answered in the post phase, after
 * the reads (and the layers' post hooks, registered before this one), so a session
 * lost in the same iteration is found. */
static void recover_post(void *arg) {
  tadapter *ta = arg;
  if (!ta->deferred.len) return;
  byte_buf todo = ta->deferred;
  byte_buf_init(&ta->deferred);
  ta->in_post = 1;
  for (size_t off = 0; off + 8 <= todo.len;) {
    uint32_t hdr[2];
    memcpy(hdr, todo.p + off, sizeof(hdr));
    off += sizeof(hdr);
    if (hdr[1] > todo.len - off) break;
    on_message(ta, hdr[0], todo.p + off, hdr[1]);
    off += hdr[1];
  }
  ta->in_post = 0;
  byte_buf_free(&todo);
}

int sio_threads_install(wsio_sio *io) {
  wsio_app *app = sio_server_app(io);
  if (core_thread_count(app) < 2) return 0;
  tadapter *ta = calloc(1, sizeof(*ta));
  if (!ta) return WSIO_ENOMEM;
  ta->base.ops = &threads_ops;
  ta->io = io;
  ta->app = app;
  if (core_xt_handler(app, CORE_XT_SIO, on_message, ta) < 0 || core_hook_add(app, CORE_HOOK_POST, recover_post, ta) < 0) {
    core_xt_handler(app, CORE_XT_SIO, NULL, NULL);
    free(ta);
    return WSIO_ENOMEM;
  }
  sio_adapter_set(io, &ta->base);
  return 0;
}
