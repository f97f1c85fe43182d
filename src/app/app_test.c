/* app/app_test.c — `wsio-server --app test`: the server of the Socket.IO test suite
 * (tests/sio), one handler per server API feature. tests/sio/reference/server.js is
 * the same app on Node's socket.io and the contract: keep the two in step.
 *
 * Every event below acknowledges (when the client asked) with the result shown, or
 * with no argument: echo, info, set-data, join, leave, to-room, in-room, except-room,
 * to-except, broadcast, all, self, volatile, volatile-room, ask, ask-room, fetch,
 * sockets-join, sockets-leave, kick-room, and across a cluster all-rooms, server-count,
 * sse, sse-ack, local-all (tests/cluster); kick has no ack. Namespaces: "/" (a
 * middleware refuses auth.refuse === true), "/private" (refuses without
 * auth.token "secret", with data {"code":401}), "/slow" (an asynchronous middleware,
 * see mw_slow) and any "/dyn-..." created on demand.
 * Engine.IO handshakes with ?forbidden=1 are refused with 403. Mutual TLS
 * (tests/tls/mtls.test.js): GET /tls-peer answers the client certificate's subject, and
 * the WebSocket /tls-peer-ws sends it at open, read from the connection, once checked
 * against what its upgrade hook read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "app/apps.h"
#include "app/auth.h"
#include "app/metrics.h"
#include "sio/jscan.h"

#define MAX_LIST 32
#define NAME_MAX_LEN 256
/* Reply and argument buffers are locals of this size, not static _Thread_local ones:
 * static TLS is copied and zeroed into every thread at its start, so thirteen of them
 * cost each --threads loop 832 KiB of RSS whether or not it ran the test app (and made
 * a thread's RSS appear when it started, after the server said it was listening). */
#define OUT_MAX (64 * 1024)

/* ---- argument helpers ------------------------------------------------------------ */

typedef struct {
  const char *p;
  size_t n;
  jscan_type t;
} elem;

/* Splits the top-level elements of the args array (at most max). */
static size_t split_args(const wsio_sio_args *a, elem *out, size_t max) {
  size_t off = 0, k = 0;
  const char *e;
  size_t el;
  jscan_type t;
  while (k < max && jscan_array_next(a->json, a->json_len, &off, &e, &el, &t) == 1) {
    out[k].p = e;
    out[k].n = el;
    out[k].t = t;
    k++;
  }
  return k;
}

/* "[" + the arguments from element i on + "]" into buf; returns the length. */
static size_t rest_args(const wsio_sio_args *a, const elem *els, size_t nels, size_t i, char *buf, size_t cap) {
  if (i >= nels) return (size_t)snprintf(buf, cap, "[]");
  size_t from = (size_t)(els[i].p - a->json), n = a->json_len - from; /* through the final ']' */
  if (n + 2 > cap) return 0;
  buf[0] = '[';
  memcpy(buf + 1, els[i].p, n);
  return n + 1;
}

typedef struct {
  char names[MAX_LIST][NAME_MAX_LEN];
  const char *ptrs[MAX_LIST];
  size_t n;
} name_list;

/* A room argument: a string or an array of strings. Returns 0, or -1 when malformed. */
static int room_list_from(const elem *e, name_list *l) {
  l->n = 0;
  if (e->t == JSCAN_STRING) {
    long r = jscan_string_unescape(e->p, e->n, l->names[0], NAME_MAX_LEN);
    if (r < 0 || r >= NAME_MAX_LEN) return -1;
    l->ptrs[0] = l->names[0];
    l->n = 1;
    return 0;
  }
  if (e->t != JSCAN_ARRAY) return -1;
  size_t off = 0, el;
  const char *p;
  jscan_type t;
  while (l->n < MAX_LIST && jscan_array_next(e->p, e->n, &off, &p, &el, &t) == 1) {
    if (t != JSCAN_STRING) return -1;
    long r = jscan_string_unescape(p, el, l->names[l->n], NAME_MAX_LEN);
    if (r < 0 || r >= NAME_MAX_LEN) return -1;
    l->ptrs[l->n] = l->names[l->n];
    l->n++;
  }
  return 0;
}

static int string_arg(const elem *e, char *out, size_t cap) {
  if (e->t != JSCAN_STRING) return -1;
  long r = jscan_string_unescape(e->p, e->n, out, cap);
  return r < 0 || (size_t)r >= cap ? -1 : 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Appends strs as a sorted JSON array of strings to out; returns the new length. */
static size_t json_sorted_strings(char *out, size_t len, size_t cap, const char **strs, size_t n) {
  qsort(strs, n, sizeof(*strs), cmp_str);
  if (len < cap) out[len++] = '[';
  for (size_t i = 0; i < n; i++) {
    if (i && len < cap) out[len++] = ',';
    len += jscan_string_escape(out + len, len < cap ? cap - len : 0, strs[i], strlen(strs[i]));
  }
  if (len < cap) out[len++] = ']';
  return len;
}

/* ---- rooms of a socket ----------------------------------------------------------- */

typedef struct {
  const char *skip;
  char *names[256];
  size_t n;
} own_rooms;

static void collect_room(const char *room, void *user) {
  own_rooms *r = user;
  if (strcmp(room, r->skip) == 0 || r->n == 256) return;
  r->names[r->n++] = strdup(room);
}

/* The socket's rooms but its own id, sorted, as a JSON array into out. */
static size_t rooms_json(wsio_sio_socket *s, char *out, size_t cap) {
  own_rooms r = {.skip = wsio_sio_socket_id(s)};
  wsio_sio_socket_rooms(s, collect_room, &r);
  size_t len = json_sorted_strings(out, 0, cap, (const char **)r.names, r.n);
  for (size_t i = 0; i < r.n; i++) free(r.names[i]);
  return len;
}

/* Acks with one argument, the JSON value[0..n) (whose placeholders index bins). */
static void ack_value(wsio_sio_ack ack, const char *value, size_t n, const wsio_span *bins, size_t nbins) {
  if (ack.id < 0) return;
  char buf[OUT_MAX];
  if (n + 2 > sizeof(buf)) return;
  buf[0] = '[';
  memcpy(buf + 1, value, n);
  buf[n + 1] = ']';
  wsio_sio_ack_send(ack, buf, n + 2, bins, nbins);
}

static void ack_json(wsio_sio_ack ack, const char *value, size_t n) { ack_value(ack, value, n, NULL, 0); }

static void ack_empty(wsio_sio_ack ack) {
  if (ack.id >= 0) wsio_sio_ack_send(ack, "[]", 2, NULL, 0);
}

/* ---- handlers -------------------------------------------------------------------- */

#define HANDLER(name) \
  static void name(wsio_sio_socket *s, const char *ev, const wsio_sio_args *a, wsio_sio_ack ack, void *u)
#define UNUSED_ARGS (void)ev, (void)u

HANDLER(h_echo) {
  UNUSED_ARGS;
  if (ack.id >= 0) wsio_sio_ack_send(ack, a->json, a->json_len, a->bins, a->nbins);
  else wsio_sio_emit(s, "echo", a->json, a->json_len, a->bins, a->nbins);
}

HANDLER(h_info) {
  UNUSED_ARGS;
  (void)a;
  char out[OUT_MAX];
  size_t alen, dlen;
  const char *auth = wsio_sio_socket_auth(s, &alen);
  const char *data = wsio_sio_socket_data(s, &dlen);
  int n = snprintf(out, sizeof(out), "{\"id\":\"%s\",\"nsp\":", wsio_sio_socket_id(s));
  size_t len = (size_t)n;
  const char *nsp = wsio_sio_nsp_name(wsio_sio_socket_nsp(s));
  len += jscan_string_escape(out + len, sizeof(out) - len, nsp, strlen(nsp));
  len += (size_t)snprintf(out + len, sizeof(out) - len, ",\"rooms\":");
  len += rooms_json(s, out + len, sizeof(out) - len);
  len += (size_t)snprintf(out + len, sizeof(out) - len, ",\"recovered\":%s,\"auth\":%.*s,\"data\":%.*s}",
                          wsio_sio_socket_recovered(s) ? "true" : "false", (int)alen, auth, (int)dlen, data);
  if (len < sizeof(out)) ack_json(ack, out, len);
}

HANDLER(h_set_data) {
  UNUSED_ARGS;
  elem e[1];
  if (split_args(a, e, 1) == 1) wsio_sio_socket_set_data(s, e[0].p, e[0].n);
  else wsio_sio_socket_set_data(s, "null", 4);
  ack_empty(ack);
}

static void ack_rooms(wsio_sio_socket *s, wsio_sio_ack ack) {
  char out[OUT_MAX];
  size_t len = rooms_json(s, out, sizeof(out));
  if (len < sizeof(out)) ack_json(ack, out, len);
}

HANDLER(h_join) {
  UNUSED_ARGS;
  elem e[1];
  name_list l;
  if (split_args(a, e, 1) == 1 && room_list_from(&e[0], &l) == 0)
    for (size_t i = 0; i < l.n; i++) wsio_sio_socket_join(s, l.ptrs[i]);
  ack_rooms(s, ack);
}

HANDLER(h_leave) {
  UNUSED_ARGS;
  elem e[1];
  char room[NAME_MAX_LEN];
  if (split_args(a, e, 1) == 1 && string_arg(&e[0], room, sizeof(room)) == 0) wsio_sio_socket_leave(s, room);
  ack_rooms(s, ack);
}

/* Emits event elems[ev_at] with the arguments after it to the target. */
static void emit_to(wsio_sio_target *t, const wsio_sio_args *a, const elem *els, size_t n, size_t ev_at) {
  char ev[NAME_MAX_LEN];
  char rest[OUT_MAX];
  if (ev_at >= n || string_arg(&els[ev_at], ev, sizeof(ev)) < 0) return;
  size_t rl = rest_args(a, els, n, ev_at + 1, rest, sizeof(rest));
  if (rl) wsio_sio_broadcast(t, ev, rest, rl, a->bins, a->nbins);
}

#define MAX_ARGS 64

/* For the broadcast variants: rooms at 0 (and except at 1), then the event. */
static void room_emit(wsio_sio_socket *s, const wsio_sio_args *a, wsio_sio_ack ack, int except_sender,
                      int rooms_are_except, int with_except, int is_volatile) {
  elem els[MAX_ARGS];
  size_t n = split_args(a, els, MAX_ARGS);
  name_list rooms, except;
  wsio_sio_target t = {.nsp = wsio_sio_socket_nsp(s), .is_volatile = is_volatile};
  if (except_sender) t.except_socket = s;
  if (n < 2 || room_list_from(&els[0], &rooms) < 0) goto done;
  if (rooms_are_except) {
    t.except = rooms.ptrs;
    t.nexcept = rooms.n;
  } else {
    t.rooms = rooms.ptrs;
    t.nrooms = rooms.n;
  }
  if (with_except) {
    if (n < 3 || room_list_from(&els[1], &except) < 0) goto done;
    t.except = except.ptrs;
    t.nexcept = except.n;
  }
  emit_to(&t, a, els, n, with_except ? 2 : 1);
done:
  ack_empty(ack);
}

HANDLER(h_to_room) { UNUSED_ARGS; room_emit(s, a, ack, 1, 0, 0, 0); }
HANDLER(h_in_room) { UNUSED_ARGS; room_emit(s, a, ack, 0, 0, 0, 0); }
HANDLER(h_except_room) { UNUSED_ARGS; room_emit(s, a, ack, 0, 1, 0, 0); }
HANDLER(h_to_except) { UNUSED_ARGS; room_emit(s, a, ack, 1, 0, 1, 0); }
HANDLER(h_volatile_room) { UNUSED_ARGS; room_emit(s, a, ack, 0, 0, 0, 1); }

/* The event at 0 to everyone / everyone else / this socket (volatile or not). */
static void plain_emit(wsio_sio_socket *s, const wsio_sio_args *a, wsio_sio_ack ack, int mode) {
  elem els[MAX_ARGS];
  size_t n = split_args(a, els, MAX_ARGS);
  const char *self_room[1] = {wsio_sio_socket_id(s)};
  wsio_sio_target t = {.nsp = wsio_sio_socket_nsp(s)};
  if (mode == 1) t.except_socket = s;
  if (mode == 3) {
    t.rooms = self_room;
    t.nrooms = 1;
    t.is_volatile = 1;
  }
  if (mode == 2) {
    char ev[NAME_MAX_LEN];
    char rest[OUT_MAX];
    if (n >= 1 && string_arg(&els[0], ev, sizeof(ev)) == 0) {
      size_t rl = rest_args(a, els, n, 1, rest, sizeof(rest));
      if (rl) wsio_sio_emit(s, ev, rest, rl, a->bins, a->nbins);
    }
  } else {
    emit_to(&t, a, els, n, 0);
  }
  ack_empty(ack);
}

HANDLER(h_all) { UNUSED_ARGS; plain_emit(s, a, ack, 0); }
HANDLER(h_broadcast) { UNUSED_ARGS; plain_emit(s, a, ack, 1); }
HANDLER(h_self) { UNUSED_ARGS; plain_emit(s, a, ack, 2); }
HANDLER(h_volatile) { UNUSED_ARGS; plain_emit(s, a, ack, 3); }

/* ask(ms, ...args): asks the client "question" with args; acks the client's answer
 * (the array of its ack arguments) or "timeout". */
static void ask_done(wsio_sio_socket *s, const wsio_sio_args *answer, int err, void *user) {
  (void)s;
  wsio_sio_ack *ack = user;
  if (err == WSIO_ETIMEDOUT) ack_json(*ack, "\"timeout\"", 9);
  else if (!err && answer) ack_value(*ack, answer->json, answer->json_len, answer->bins, answer->nbins);
  free(ack);
}

static int ms_arg(const elem *e, unsigned *ms) {
  if (e->t != JSCAN_NUMBER) return -1;
  char num[32];
  if (e->n >= sizeof(num)) return -1;
  memcpy(num, e->p, e->n);
  num[e->n] = '\0';
  double v = strtod(num, NULL);
  if (v < 0 || v > 600000) return -1;
  *ms = (unsigned)v;
  return 0;
}

HANDLER(h_ask) {
  UNUSED_ARGS;
  elem els[MAX_ARGS];
  size_t n = split_args(a, els, MAX_ARGS);
  unsigned ms;
  char rest[OUT_MAX];
  if (n < 1 || ms_arg(&els[0], &ms) < 0) return ack_empty(ack);
  size_t rl = rest_args(a, els, n, 1, rest, sizeof(rest));
  wsio_sio_ack *keep = malloc(sizeof(*keep));
  if (!keep) return ack_empty(ack);
  *keep = ack;
  if (wsio_sio_emit_with_ack(s, "question", rest, rl, a->bins, a->nbins, ms ? ms : 1, ask_done, keep) < 0) {
    free(keep);
    ack_empty(ack);
  }
}

/* ask-room(rooms, ms, ...args): {"timeout":bool,"responses":[sorted answers]}. */
/* The asking socket may disconnect before the answers are in: keep its namespace and
 * id, and find it again at the end. */
typedef struct {
  wsio_sio_ack ack; /* a value that stays safe to keep: answering it late is a no-op */
} ask_room_ctx;

static int cmp_elem(const void *x, const void *y) {
  const elem *a = x, *b = y;
  size_t n = a->n < b->n ? a->n : b->n;
  int c = memcmp(a->p, b->p, n);
  return c ? c : (a->n > b->n) - (a->n < b->n);
}

/* The answers' attachments come back to the asker with them (placeholders numbered
 * over all the answers, whichever node or client they came from). */
static void ask_room_done(const char *responses, size_t len, const wsio_span *bins, size_t nbins, int err,
                          void *user) {
  ask_room_ctx *ctx = user;
  elem els[1024];
  size_t n = 0, off = 0, el;
  const char *p;
  jscan_type t;
  while (n < 1024 && jscan_array_next(responses, len, &off, &p, &el, &t) == 1) {
    els[n].p = p;
    els[n].n = el;
    els[n].t = t;
    n++;
  }
  qsort(els, n, sizeof(els[0]), cmp_elem);
  char out[OUT_MAX];
  size_t o = (size_t)snprintf(out, sizeof(out), "{\"timeout\":%s,\"responses\":[",
                              err == WSIO_ETIMEDOUT ? "true" : "false");
  for (size_t i = 0; i < n && o + els[i].n + 4 < sizeof(out); i++) {
    if (i) out[o++] = ',';
    memcpy(out + o, els[i].p, els[i].n);
    o += els[i].n;
  }
  o += (size_t)snprintf(out + o, sizeof(out) - o, "]}");
  if (o < sizeof(out)) ack_value(ctx->ack, out, o, bins, nbins); /* WSIO_ECLOSED when the asker left */
  free(ctx);
}

HANDLER(h_ask_room) {
  UNUSED_ARGS;
  elem els[MAX_ARGS];
  size_t n = split_args(a, els, MAX_ARGS);
  name_list rooms;
  unsigned ms;
  char rest[OUT_MAX];
  if (n < 2 || room_list_from(&els[0], &rooms) < 0 || ms_arg(&els[1], &ms) < 0) return ack_empty(ack);
  size_t rl = rest_args(a, els, n, 2, rest, sizeof(rest));
  ask_room_ctx *ctx = malloc(sizeof(*ctx));
  if (!ctx) return ack_empty(ack);
  ctx->ack = ack;
  wsio_sio_target t = {.nsp = wsio_sio_socket_nsp(s), .rooms = rooms.ptrs, .nrooms = rooms.n};
  if (wsio_sio_broadcast_with_ack_bin(&t, "question", rest, rl, a->bins, a->nbins, ms ? ms : 1, ask_room_done, ctx) < 0) {
    free(ctx); /* (the callback never runs then) */
    ack_empty(ack);
  }
}

/* The selection of a rooms argument (null = the whole namespace). */
static int target_from(wsio_sio_socket *s, const elem *e, name_list *l, wsio_sio_target *t) {
  memset(t, 0, sizeof(*t));
  t->nsp = wsio_sio_socket_nsp(s);
  if (e->t == JSCAN_NULL) return 0;
  if (room_list_from(e, l) < 0) return -1;
  t->rooms = l->ptrs;
  t->nrooms = l->n;
  return 0;
}

/* fetch(rooms): the ids of the selected sockets on every node (a cluster's too). */
static void fetch_done(const char *json, size_t len, int err, void *user) {
  (void)err; /* a node that did not answer in time: the ids that did arrive */
  wsio_sio_ack *ack = user;
  json_error_t je;
  json_t *v = json_loadb(json, len, 0, &je);
  const char *ids[1024];
  size_t cnt = 0;
  for (size_t i = 0; i < json_array_size(v) && cnt < 1024; i++) {
    const char *id = json_string_value(json_object_get(json_array_get(v, i), "id"));
    if (id) ids[cnt++] = id;
  }
  char out[OUT_MAX];
  size_t olen = json_sorted_strings(out, 0, sizeof(out), ids, cnt);
  if (olen < sizeof(out)) ack_json(*ack, out, olen);
  json_decref(v);
  free(ack);
}

static wsio_sio_ack *keep_ack(wsio_sio_ack ack) {
  wsio_sio_ack *k = malloc(sizeof(*k));
  if (k) *k = ack;
  return k;
}

HANDLER(h_fetch) {
  UNUSED_ARGS;
  elem els[1];
  size_t n = split_args(a, els, 1);
  name_list l;
  wsio_sio_target t;
  elem null_elem = {"null", 4, JSCAN_NULL};
  if (target_from(s, n ? &els[0] : &null_elem, &l, &t) < 0) return ack_empty(ack);
  wsio_sio_ack *k = keep_ack(ack);
  if (!k) return ack_empty(ack);
  if (wsio_sio_fetch_sockets_all(&t, fetch_done, k) < 0) {
    free(k);
    ack_empty(ack);
  }
}

/* ---- every node of a cluster (docs/cluster.md) ------------------------------------ */

/* A JSON array of strings, sorted (room names, node answers). */
static void ack_sorted(wsio_sio_ack ack, json_t *arr, const char *wrap_key, int timeout) {
  const char *strs[1024];
  size_t cnt = 0;
  char numbuf[1024][24];
  for (size_t i = 0; i < json_array_size(arr) && cnt < 1024; i++) {
    json_t *e = json_array_get(arr, i);
    if (json_is_string(e)) strs[cnt++] = json_string_value(e);
    else if (json_is_integer(e)) {
      snprintf(numbuf[cnt], sizeof(numbuf[cnt]), "%lld", (long long)json_integer_value(e));
      strs[cnt] = numbuf[cnt];
      cnt++;
    }
  }
  char out[OUT_MAX];
  size_t len = 0;
  if (wrap_key) len = (size_t)snprintf(out, sizeof(out), "{\"timeout\":%s,\"%s\":", timeout ? "true" : "false", wrap_key);
  len = json_sorted_strings(out, len, sizeof(out), strs, cnt);
  if (wrap_key && len < sizeof(out)) out[len++] = '}';
  if (len < sizeof(out)) ack_json(ack, out, len);
}

/* A cluster answer (a JSON array) sent back sorted under key; frees the kept ack. */
static void ack_sorted_json(wsio_sio_ack *ack, const char *json, size_t len, int err, const char *key) {
  json_error_t je;
  json_t *v = json_loadb(json, len, 0, &je);
  ack_sorted(*ack, v, key, err == WSIO_ETIMEDOUT);
  json_decref(v);
  free(ack);
}

static void all_rooms_done(const char *json, size_t len, int err, void *user) {
  ack_sorted_json(user, json, len, err, "rooms");
}

HANDLER(h_all_rooms) {
  UNUSED_ARGS;
  (void)a;
  wsio_sio_ack *k = keep_ack(ack);
  if (!k) return ack_empty(ack);
  if (wsio_sio_all_rooms(wsio_sio_socket_nsp(s), all_rooms_done, k) < 0) {
    free(k);
    ack_empty(ack);
  }
}

static void count_done(long count, int err, void *user) {
  (void)err;
  wsio_sio_ack *ack = user;
  char out[32];
  ack_json(*ack, out, (size_t)snprintf(out, sizeof(out), "%ld", count));
  free(ack);
}

HANDLER(h_server_count) {
  UNUSED_ARGS;
  (void)a;
  wsio_sio_ack *k = keep_ack(ack);
  if (!k) return ack_empty(ack);
  if (wsio_sio_server_count(wsio_sio_socket_nsp(s), count_done, k) < 0) {
    free(k);
    ack_empty(ack);
  }
}

/* sse(ev, ...args): serverSideEmit without an answer. */
HANDLER(h_sse) {
  UNUSED_ARGS;
  elem els[MAX_ARGS];
  size_t n = split_args(a, els, MAX_ARGS);
  char name[NAME_MAX_LEN];
  char rest[OUT_MAX];
  if (n >= 1 && string_arg(&els[0], name, sizeof(name)) == 0) {
    size_t rl = rest_args(a, els, n, 1, rest, sizeof(rest));
    wsio_sio_server_side_emit(wsio_sio_socket_nsp(s), name, rest, rl, NULL, NULL);
  }
  ack_empty(ack);
}

static void sse_done(const char *json, size_t len, int err, void *user) {
  ack_sorted_json(user, json, len, err, "responses");
}

/* sse-ack(ev, ...args): serverSideEmit with an answer from every other node:
 * ack({timeout, responses: sorted}). */
HANDLER(h_sse_ack) {
  UNUSED_ARGS;
  elem els[MAX_ARGS];
  size_t n = split_args(a, els, MAX_ARGS);
  char name[NAME_MAX_LEN];
  char rest[OUT_MAX];
  if (n < 1 || string_arg(&els[0], name, sizeof(name)) != 0) return ack_empty(ack);
  size_t rl = rest_args(a, els, n, 1, rest, sizeof(rest));
  wsio_sio_ack *k = keep_ack(ack);
  if (!k) return ack_empty(ack);
  if (wsio_sio_server_side_emit(wsio_sio_socket_nsp(s), name, rest, rl, sse_done, k) < 0) {
    free(k);
    ack_empty(ack);
  }
}

/* local-all(ev, ...args): nsp.local.emit(ev, ...args) (this node only). */
HANDLER(h_local_all) {
  UNUSED_ARGS;
  elem els[MAX_ARGS];
  size_t n = split_args(a, els, MAX_ARGS);
  char name[NAME_MAX_LEN];
  char rest[OUT_MAX];
  if (n >= 1 && string_arg(&els[0], name, sizeof(name)) == 0) {
    size_t rl = rest_args(a, els, n, 1, rest, sizeof(rest));
    wsio_sio_target t = {.nsp = wsio_sio_socket_nsp(s), .is_local = 1};
    wsio_sio_broadcast(&t, name, rest, rl, a->bins, a->nbins);
  }
  ack_empty(ack);
}

/* Another node's serverSideEmit("ping-nodes", ...args): every socket of this node's
 * namespace gets "server-event" with the args; an asked answer is "wsio". */
static void on_server_event(wsio_sio_nsp *nsp, const char *event, const wsio_sio_args *args, wsio_sio_reply *reply,
                            void *user) {
  (void)user;
  if (strcmp(event, "ping-nodes") != 0) return;
  wsio_sio_target t = {.nsp = nsp, .is_local = 1};
  wsio_sio_broadcast(&t, "server-event", args->json, args->json_len, NULL, 0);
  if (reply) wsio_sio_reply_send(reply, "\"wsio\"", 6);
}

static void sockets_rooms(wsio_sio_socket *s, const wsio_sio_args *a, wsio_sio_ack ack, int join) {
  elem els[2];
  name_list sel, names;
  wsio_sio_target t;
  if (split_args(a, els, 2) == 2 && target_from(s, &els[0], &sel, &t) == 0 && room_list_from(&els[1], &names) == 0) {
    for (size_t i = 0; i < names.n; i++) {
      if (join) wsio_sio_sockets_join(&t, names.ptrs[i]);
      else wsio_sio_sockets_leave(&t, names.ptrs[i]);
    }
  }
  ack_empty(ack);
}

HANDLER(h_sockets_join) { UNUSED_ARGS; sockets_rooms(s, a, ack, 1); }
HANDLER(h_sockets_leave) { UNUSED_ARGS; sockets_rooms(s, a, ack, 0); }

HANDLER(h_kick_room) {
  UNUSED_ARGS;
  elem els[2];
  name_list sel;
  wsio_sio_target t;
  size_t n = split_args(a, els, 2);
  int close = n == 2 && els[1].t == JSCAN_TRUE;
  /* Ack first: the asking socket may be among those disconnected. */
  ack_empty(ack);
  if (n >= 1 && target_from(s, &els[0], &sel, &t) == 0) wsio_sio_disconnect_sockets(&t, close);
}

HANDLER(h_kick) {
  UNUSED_ARGS;
  (void)ack;
  elem els[1];
  int close = split_args(a, els, 1) == 1 && els[0].t == JSCAN_TRUE;
  wsio_sio_socket_disconnect(s, close);
}

/* tls-peer: acks the handshake's client certificate subject (a string), or null. */
HANDLER(h_tls_peer) {
  UNUSED_ARGS;
  (void)a;
  const char *peer = wsio_sio_socket_tls_peer(s);
  char out[2 * WSIO_TLS_PEER_MAX + 8];
  size_t len = peer ? jscan_string_escape(out, sizeof(out), peer, strlen(peer)) : 0;
  if (!peer) memcpy(out, "null", len = 4);
  if (len < sizeof(out)) ack_json(ack, out, len);
}

/* ---- namespaces ------------------------------------------------------------------ */

static void setup_handlers(wsio_sio_nsp *nsp) {
  static const struct {
    const char *name;
    wsio_sio_event_fn fn;
  } table[] = {
      {"echo", h_echo},           {"info", h_info},
      {"set-data", h_set_data},   {"join", h_join},
      {"leave", h_leave},         {"to-room", h_to_room},
      {"in-room", h_in_room},     {"except-room", h_except_room},
      {"to-except", h_to_except}, {"broadcast", h_broadcast},
      {"all", h_all},             {"self", h_self},
      {"volatile", h_volatile},   {"volatile-room", h_volatile_room},
      {"ask", h_ask},             {"ask-room", h_ask_room},
      {"fetch", h_fetch},         {"sockets-join", h_sockets_join},
      {"sockets-leave", h_sockets_leave}, {"kick-room", h_kick_room},
      {"kick", h_kick},           {"all-rooms", h_all_rooms},
      {"server-count", h_server_count}, {"sse", h_sse},
      {"sse-ack", h_sse_ack},     {"local-all", h_local_all},
      {"tls-peer", h_tls_peer},
  };
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) wsio_sio_nsp_on(nsp, table[i].name, table[i].fn, NULL);
  wsio_sio_nsp_on_server_event(nsp, on_server_event, NULL);
}

/* Looks for "key": true / "key": "value" at the top level of the auth object. */
static int auth_field(wsio_sio_socket *s, const char *key, const char *want_str) {
  size_t len;
  const char *auth = wsio_sio_socket_auth(s, &len);
  char pattern[64];
  /* The auth object is small: scan its members with the JSON scanner. */
  size_t i = 1;
  while (i < len) {
    while (i < len && (auth[i] == ' ' || auth[i] == ',' || auth[i] == '\n' || auth[i] == '\t')) i++;
    jscan_type kt, vt;
    size_t kl = jscan_scan(auth + i, len - i, &kt);
    if (!kl || kt != JSCAN_STRING) return 0;
    long kn = jscan_string_unescape(auth + i, kl, pattern, sizeof(pattern));
    i += kl;
    while (i < len && auth[i] != ':') i++;
    i++;
    while (i < len && (auth[i] == ' ' || auth[i] == '\n' || auth[i] == '\t')) i++;
    size_t vl = jscan_scan(auth + i, len - i, &vt);
    if (!vl) return 0;
    if (kn >= 0 && strcmp(pattern, key) == 0) {
      if (!want_str) return vt == JSCAN_TRUE;
      char v[128];
      long r = vt == JSCAN_STRING ? jscan_string_unescape(auth + i, vl, v, sizeof(v)) : -1;
      return r >= 0 && strcmp(v, want_str) == 0;
    }
    i += vl;
  }
  return 0;
}

static void mw_refuse(wsio_sio_socket *s, wsio_sio_pending next, void *u) {
  (void)u;
  wsio_sio_next(next, auth_field(s, "refuse", NULL) ? "refused" : NULL, NULL);
}

static void mw_private(wsio_sio_socket *s, wsio_sio_pending next, void *u) {
  (void)u;
  if (auth_field(s, "token", "secret")) wsio_sio_next(next, NULL, NULL);
  else wsio_sio_next(next, "not authorized", "{\"code\":401}");
}

/* /sensors: admits a client whose TLS certificate (mutual TLS, --tls-client-ca) names
 * OU=sensors in its subject; refuses the others with {"code":403}. */
static int subject_has(const char *subject, const char *rdn) {
  size_t n = strlen(rdn);
  for (const char *p = subject; *p;) { /* p: the start of a component */
    if (strncmp(p, rdn, n) == 0 && (p[n] == ',' || p[n] == '\0')) return 1;
    while (*p && *p != ',') p += p[0] == '\\' && p[1] ? 2 : 1; /* "\," is inside a value */
    if (*p) p++;
  }
  return 0;
}

static void mw_sensors(wsio_sio_socket *s, wsio_sio_pending next, void *u) {
  (void)u;
  const char *peer = wsio_sio_socket_tls_peer(s);
  if (peer && subject_has(peer, "OU=sensors")) wsio_sio_next(next, NULL, NULL);
  else wsio_sio_next(next, peer ? "not a sensor" : "certificate required", "{\"code\":403}");
}

/* /slow: an asynchronous middleware, completed from a loop timer (as after a database
 * lookup). auth.slow: next() after 50 ms; auth.slowRefuse: refused after 50 ms with
 * data {"after":50}; auth.late: next() after 400 ms (the client may be gone by then:
 * the call returns WSIO_ECLOSED); auth.never: never completes, so the middleware
 * timeout (500 ms here) refuses with "middleware timeout". */
typedef struct {
  wsio_sio_pending next;
  int refuse;
} slow_mw;

static void slow_mw_done(wsio_timer *t, void *user) {
  slow_mw *m = user;
  if (m->refuse) wsio_sio_next(m->next, "slow refused", "{\"after\":50}");
  else wsio_sio_next(m->next, NULL, NULL);
  free(m);
  wsio_timer_destroy(t); /* allowed inside its own callback */
}

static void mw_slow(wsio_sio_socket *s, wsio_sio_pending next, void *u) {
  wsio_app *app = u;
  if (auth_field(s, "never", NULL)) return;
  unsigned ms = auth_field(s, "late", NULL) ? 400 : 50;
  slow_mw *m = calloc(1, sizeof(*m));
  if (!m) {
    wsio_sio_next(next, "server error", NULL);
    return;
  }
  m->next = next;
  m->refuse = auth_field(s, "slowRefuse", NULL);
  wsio_timer *t = wsio_timer_create(app, slow_mw_done, m);
  if (!t || wsio_timer_start(t, ms, 0) != 0) {
    wsio_timer_destroy(t);
    free(m);
    wsio_sio_next(next, "server error", NULL);
  }
}

static int dyn_accept(wsio_sio *io, const char *name, void *user) {
  (void)io, (void)user;
  return strncmp(name, "/dyn-", 5) == 0 && name[5] != '\0';
}

static void dyn_created(wsio_sio_nsp *nsp, void *user) {
  (void)user;
  setup_handlers(nsp);
}

static int allow_request(const wsio_request *req, const char **message, void *user) {
  (void)message, (void)user;
  char v[8];
  return wsio_request_query_param(req, "forbidden", v, sizeof(v)) == 1 && v[0] == '1';
}

/* ---- mutual TLS: the verified client certificate's subject ("" when none) ------------ */

static void tls_peer_http(const wsio_request *req, wsio_response *res, void *user) {
  (void)user;
  char subject[WSIO_TLS_PEER_MAX];
  int n = wsio_request_tls_peer(req, subject, sizeof(subject));
  wsio_response_send(res, 200, "text/plain; charset=utf-8", subject, n > 0 ? (size_t)n : 0);
}

/* The hook reads the subject and keeps only its length + 1: user data is allocated with
 * every connection of the app (the largest route's size), so a 1 KiB subject kept there
 * would cost each of the soak's 12,000 connections 1 KiB. The open callback reads the
 * subject again from the connection and sends it, or says that the two differ. */
static int tls_peer_upgrade(const wsio_request *req, void *user_data, const char **reason, void *route_user) {
  (void)reason;
  (void)route_user;
  char subject[WSIO_TLS_PEER_MAX];
  int n = wsio_request_tls_peer(req, subject, sizeof(subject)); /* "" when none */
  *(int *)user_data = n < 0 ? -1 : n + 1;
  return 0;
}

static void tls_peer_open(wsio_conn *c) {
  const int *seen = wsio_conn_user_data(c);
  char subject[WSIO_TLS_PEER_MAX];
  int n = wsio_conn_tls_peer(c, subject, sizeof(subject));
  if (n < 0 || *seen != n + 1) n = snprintf(subject, sizeof(subject), "hook %d, connection %d", *seen - 1, n);
  wsio_conn_send(c, subject, (size_t)n, WSIO_OP_TEXT);
}

int app_test_setup(wsio_app *app, const server_config *cfg) {
  wsio_sio_options so;
  wsio_sio_options_init(&so);
  so.eio.ping_interval_ms = cfg->ping_interval_ms ? cfg->ping_interval_ms : 1000;
  so.eio.ping_timeout_ms = cfg->ping_timeout_ms ? cfg->ping_timeout_ms : 2000;
  so.eio.max_payload = 1000000;
  so.eio.cors_origin = cfg->cors_origin ? cfg->cors_origin : "*";
  so.eio.max_polling_buffer = cfg->max_polling_buffer;
  so.connect_timeout_ms = 1000;
  so.middleware_timeout_ms = 500;
  so.recovery = 1;
  so.recovery_max_disconnection_ms = 120000;
  so.recovery_skip_middlewares = 1;
  so.allow_request = allow_request;
  wsio_sio *io = wsio_sio_attach(app, &so);
  if (!io) return -1;
  metrics_watch_sio(io);
  if (auth_sio_attach(io) < 0) return -1; /* --jwt-*: a token on every namespace */
  if (app_cluster_attach(io, cfg) < 0) return -1;
  wsio_sio_nsp *root = wsio_sio_of(io, "/");
  wsio_sio_nsp_use(root, mw_refuse, NULL);
  setup_handlers(root);
  wsio_sio_nsp *priv = wsio_sio_of(io, "/private");
  wsio_sio_nsp_use(priv, mw_private, NULL);
  setup_handlers(priv);
  wsio_sio_nsp *sensors = wsio_sio_of(io, "/sensors");
  wsio_sio_nsp_use(sensors, mw_sensors, NULL);
  setup_handlers(sensors);
  wsio_sio_nsp *slow = wsio_sio_of(io, "/slow");
  wsio_sio_nsp_use(slow, mw_slow, app);
  setup_handlers(slow);
  wsio_sio_set_dynamic(io, dyn_accept, dyn_created, NULL);
  wsio_ws_handlers peer = {.upgrade = tls_peer_upgrade, .open = tls_peer_open, .user_data_size = sizeof(int)};
  if (wsio_app_http(app, "GET", "/tls-peer", tls_peer_http, NULL) < 0 || wsio_app_ws(app, "/tls-peer-ws", &peer, NULL) < 0)
    return -1;
  return 0;
}
