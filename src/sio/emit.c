/* sio/emit.c — everything that goes out: EVENT/ACK encoding, emit to one socket,
 * acknowledgements both ways (deadlines on loop timers; acks the application keeps
 * are checked, so a second or late answer is an error, never a stale pointer), broadcasts
 * (encoded once and framed once through eio_prepared for every recipient), broadcasts
 * with acknowledgements, and the server-side operations on selections.
 *
 * Arguments are never parsed beyond validation: the caller's JSON array is spliced
 * after the event name as it is. */
#include <string.h>

#include <jansson.h>

#include "sio/internal.h"
#include "util/buf.h"
#include "sio/jscan.h"

/* ---- sbuf ------------------------------------------------------------------------ */

int sbuf_reserve(sbuf *b, size_t more) {
  if (b->n + more <= b->cap) return 0;
  size_t cap = grow_cap(b->cap, b->n + more, 128, SIZE_MAX);
  int moving = b->stack && b->p == b->stack; /* out of the caller's storage */
  char *p = !cap ? NULL : moving ? malloc(cap) : realloc(b->p, cap);
  if (!p) return WSIO_ENOMEM;
  if (moving) memcpy(p, b->p, b->n);
  b->p = p;
  b->cap = cap;
  return 0;
}

int sbuf_put(sbuf *b, const void *p, size_t n) {
  if (sbuf_reserve(b, n) != 0) return WSIO_ENOMEM;
  if (n) memcpy(b->p + b->n, p, n);
  b->n += n;
  return 0;
}

int sbuf_puts(sbuf *b, const char *s) { return sbuf_put(b, s, strlen(s)); }

int sbuf_put_json_string(sbuf *b, const char *s, size_t n) {
  size_t need = jscan_string_escape(b->p ? b->p + b->n : NULL, b->cap - b->n, s, n);
  if (need > b->cap - b->n) {
    if (sbuf_reserve(b, need) != 0) return WSIO_ENOMEM;
    jscan_string_escape(b->p + b->n, b->cap - b->n, s, n);
  }
  b->n += need;
  return 0;
}

/* ---- argument checks and encoding ----------------------------------------------- */

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* The elements of a JSON array text, without the brackets: "[1, 2]" -> "1, 2". Empty
 * (n == 0) when the array has none. The text must already be a valid array. */
static void array_inner(const char *json, size_t len, const char **inner, size_t *n) {
  size_t a = 0, z = len;
  while (a < z && is_ws(json[a])) a++;
  while (z > a && is_ws(json[z - 1])) z--;
  a++, z--; /* the brackets */
  while (a < z && is_ws(json[a])) a++;
  while (z > a && is_ws(json[z - 1])) z--;
  *inner = json + a;
  *n = z - a;
}

/* Whether the text contains "_placeholder" at all: memchr is vectorised and cheap,
 * where glibc's memmem costs about 230 instructions per short argument text (measured
 * with callgrind on the sio-echo bench: 5% of the server's instructions). */
static int may_hold_placeholder(const char *p, size_t n) {
  const char *end = p + n;
  while (n >= 12 && (p = memchr(p, '_', n - 11)) != NULL) {
    if (memcmp(p + 1, "placeholder", 11) == 0) return 1;
    p++;
    n = (size_t)(end - p);
  }
  return 0;
}

/* io: the server whose event callback may be running (NULL: none known). The args
 * that callback was handed were validated as an array when their packet was decoded;
 * the same bytes passed back (an echo, a relay to a room: the same pointer and
 * length, alive for the whole callback) skip the second validation, which was ~10 %
 * of a long-polling echo round trip. */
static int check_args(const wsio_sio *io, const char **json, size_t *len, const wsio_span *bins, size_t nbins) {
  if (*json && *len == 0) *len = strlen(*json);
  if (!*json || *len == 0) {
    *json = "[]";
    *len = 2;
  }
  jscan_type t;
  int known = io && io->cb_args && *json == io->cb_args && *len == io->cb_args_len;
  if (!known && (!jscan_valid(*json, *len, &t) || t != JSCAN_ARRAY)) return WSIO_EINVAL;
  if (nbins > SIO_MAX_ATTACHMENTS || (nbins && !bins)) return WSIO_EINVAL;
  /* A placeholder without its attachment (num >= nbins) would make the client's decoder
   * drop the whole connection ("illegal attachments"): refuse it here. The placeholder
   * walk copies keys and costs more than validation, so without attachments it runs
   * only when the text can hold one. */
  if ((nbins || may_hold_placeholder(*json, *len)) && jscan_count_placeholders(*json, *len, nbins) < 0)
    return WSIO_EINVAL;
  return 0;
}

int sio_check_emit(const wsio_sio *io, const char *event, const char **json, size_t *len, const wsio_span *bins,
                   size_t nbins) {
  if (!event || sio_reserved_event(event, strlen(event))) return WSIO_EINVAL;
  return check_args(io, json, len, bins, nbins);
}

static int put_head(sbuf *b, uint8_t type, size_t nbins, const wsio_sio_nsp *nsp, int64_t ack_id) {
  if (sbuf_reserve(b, 32 + nsp->name_len) != 0) return WSIO_ENOMEM;
  b->n += sio_packet_head(b->p + b->n, type, (uint32_t)nbins, nsp->name, nsp->name_len, ack_id);
  return 0;
}

int sio_encode_event(sbuf *b, const wsio_sio_nsp *nsp, const char *event, const char *json, size_t len,
                     size_t nbins, int64_t ack_id, const char *offset) {
  const char *inner;
  size_t ilen;
  array_inner(json, len, &inner, &ilen);
  /* Fast: one reservation for the whole packet (a string escapes to at most six bytes a
   * byte, plus its quotes), then plain writes: every emit and broadcast encodes here. */
  size_t elen = strlen(event), olen = offset ? strlen(offset) : 0;
  size_t ecap = 6 * elen + 2, ocap = offset ? 6 * olen + 2 : 0;
  if (sbuf_reserve(b, 32 + nsp->name_len + 1 + ecap + 1 + ilen + 1 + ocap + 1) != 0) return WSIO_ENOMEM;
  char *o = b->p + b->n;
  o += sio_packet_head(o, nbins ? SIO_BINARY_EVENT : SIO_EVENT, (uint32_t)nbins, nsp->name, nsp->name_len, ack_id);
  *o++ = '[';
  o += jscan_string_escape(o, ecap, event, elen);
  if (ilen) {
    *o++ = ',';
    memcpy(o, inner, ilen);
    o += ilen;
  }
  if (offset) {
    *o++ = ',';
    o += jscan_string_escape(o, ocap, offset, olen);
  }
  *o++ = ']';
  b->n = (size_t)(o - b->p);
  return 0;
}

int sio_send_packet(wsio_sio_socket *s, const char *text, size_t len, const wsio_span *bins, size_t nbins) {
  if (!sio_socket_live(s)) return WSIO_ECLOSED;
  wsio_eio_session *es = s->client->es;
  int r = wsio_eio_send(es, text, len, 0);
  for (size_t i = 0; !r && i < nbins; i++) r = wsio_eio_send(es, bins[i].p, bins[i].n, 1);
  return r;
}

static int prepare(eio_prepared *p, const sbuf *text, const wsio_span *bins, size_t nbins) {
  eio_prepared_init(p);
  int r = eio_prepared_add(p, (const uint8_t *)text->p, text->n, 0);
  for (size_t i = 0; !r && i < nbins; i++) r = eio_prepared_add(p, bins[i].p, bins[i].n, 1);
  if (r) eio_prepared_free(p);
  return r;
}

/* ---- acks the server waits for --------------------------------------------------- */

static void wait_unlink_socket(sio_ack_wait *w) {
  for (sio_ack_wait **pp = &w->s->x->acks; *pp; pp = &(*pp)->next) { /* (in it: x is there) */
    if (*pp == w) {
      *pp = w->next;
      return;
    }
  }
}

static void wait_unlink_group(sio_ack_wait *w) {
  sio_ack_group *g = w->group;
  if (w->gprev) w->gprev->gnext = w->gnext;
  else g->members = w->gnext;
  if (w->gnext) w->gnext->gprev = w->gprev;
}

/* wsio_sio_broadcast_with_ack_bin: the answers' attachments, copied (an answer's own
 * are valid during its callback only), in the order their placeholders number them. */
struct sio_ack_bins {
  wsio_span *v;
  size_t n, cap;
};

static void ack_bins_free(struct sio_ack_bins *b) {
  if (!b) return;
  for (size_t i = 0; i < b->n; i++) free((void *)b->v[i].p);
  free(b->v);
  free(b);
}

json_t *sio_placeholders_rebase(json_t *v, size_t base) {
  json_t *num = json_object_get(v, "num");
  if (json_is_true(json_object_get(v, "_placeholder")) && json_is_integer(num)) {
    json_integer_set(num, json_integer_value(num) + (json_int_t)base);
    return v;
  }
  size_t i;
  json_t *x;
  const char *k;
  if (json_is_array(v)) json_array_foreach(v, i, x) sio_placeholders_rebase(x, base);
  else if (json_is_object(v)) json_object_foreach(v, k, x) sio_placeholders_rebase(x, base);
  return v;
}

int sio_spans_keep(wsio_span **v, size_t *n, size_t *cap, const wsio_span *bins, size_t nbins) {
  if (*n + nbins > *cap) {
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < *n + nbins) ncap *= 2;
    wsio_span *nv = realloc(*v, ncap * sizeof(*nv));
    if (!nv) return WSIO_ENOMEM;
    *v = nv;
    *cap = ncap;
  }
  for (size_t i = 0; i < nbins; i++) {
    void *c = malloc(bins[i].n ? bins[i].n : 1);
    if (!c) return WSIO_ENOMEM; /* those copied stay: the placeholders past them name nothing */
    if (bins[i].n) memcpy(c, bins[i].p, bins[i].n);
    (*v)[(*n)++] = (wsio_span){c, bins[i].n};
  }
  return 0;
}

/* One answer (its first argument e, with nbins attachments) into a bin-aware group.
 * Returns 0, or WSIO_ENOMEM (the answer counts as null). */
static int group_keep_answer(sio_ack_group *g, const char *e, size_t elen, size_t nbins) {
  if (!g->bins && !(g->bins = calloc(1, sizeof(*g->bins)))) return WSIO_ENOMEM;
  struct sio_ack_bins *b = g->bins;
  if (!nbins || !b->n) return sbuf_put(&g->responses, e, elen) ? WSIO_ENOMEM : 0; /* numbered right already */
  json_error_t je;
  json_t *v = json_loadb(e, elen, JSON_DECODE_ANY, &je);
  char *text = v ? json_dumps(sio_placeholders_rebase(v, b->n), JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)
                 : NULL;
  json_decref(v);
  int r = text ? sbuf_puts(&g->responses, text) : -1;
  free(text);
  return r ? WSIO_ENOMEM : 0;
}

static int group_copy_bins(sio_ack_group *g, const wsio_span *bins, size_t nbins) {
  struct sio_ack_bins *b = g->bins;
  return sio_spans_keep(&b->v, &b->n, &b->cap, bins, nbins);
}

static void sio_group_free(sio_ack_group *g) {
  while (g->members) {
    sio_ack_wait *w = g->members;
    g->members = w->gnext;
    wait_unlink_socket(w);
    free(w);
  }
  sbuf_free(&g->responses);
  ack_bins_free(g->bins);
  free(g);
}

/* Runs the group's callback once and frees it. */
static void group_finish(wsio_sio *io, sio_ack_group *g, int err) {
  loop_timer_stop(io->loop, &g->timer);
  if (sbuf_put(&g->responses, "]", 1) != 0) {
    g->responses.n = 0;
    (void)sbuf_puts(&g->responses, "[]");
  }
  wsio_sio_broadcast_ack_fn cb = g->cb;
  void *user = g->user;
  /* Unlink the members first: the callback may emit or disconnect. */
  sio_ack_wait *m = g->members;
  g->members = NULL;
  while (m) {
    sio_ack_wait *nx = m->gnext;
    wait_unlink_socket(m);
    free(m);
    m = nx;
  }
  if (g->bcb) g->bcb(g->responses.p, g->responses.n, g->bins ? g->bins->v : NULL, g->bins ? g->bins->n : 0, err, user);
  else cb(g->responses.p, g->responses.n, err, user);
  sio_group_free(g);
}

static void group_check(wsio_sio *io, sio_ack_group *g) {
  if (g->building || g->received + g->lost < g->expected) return;
  group_finish(io, g, g->lost ? WSIO_ECLOSED : 0);
}

/* A group member answered: keep its first argument (Node pushes args[0]; a missing
 * one becomes null in the JSON array). */
static void group_answer(wsio_sio *io, sio_ack_group *g, const wsio_sio_args *args) {
  size_t off = 0, elen = 4;
  const char *e = "null";
  jscan_type t;
  if (jscan_array_next(args->json, args->json_len, &off, &e, &elen, &t) != 1) {
    e = "null";
    elen = 4;
  }
  if (g->received) (void)sbuf_put(&g->responses, ",", 1);
  if (!g->bcb) (void)sbuf_put(&g->responses, e, elen);
  else if (group_keep_answer(g, e, elen, args->nbins) != 0 ||
           group_copy_bins(g, args->bins, args->nbins) != 0)
    (void)sbuf_put(&g->responses, "null", 4);
  g->received++;
  if (g->each) g->each(e, elen, args->bins, args->nbins, g->each_arg);
  group_check(io, g);
}

void sio_on_ack(wsio_sio_socket *s, int64_t id, const wsio_sio_args *args) {
  sio_ack_wait *w = sio_socket_acks(s);
  while (w && (w->owed || w->id != id)) w = w->next;
  if (!w) return; /* Node: "bad ack", ignored */
  wait_unlink_socket(w);
  wsio_sio *io = s->nsp->io;
  if (w->group) {
    sio_ack_group *g = w->group;
    wait_unlink_group(w);
    free(w);
    group_answer(io, g, args);
    return;
  }
  loop_timer_stop(io->loop, &w->timer);
  wsio_sio_ack_fn cb = w->cb;
  void *user = w->user;
  free(w);
  cb(s, args, 0, user);
}

void sio_acks_fail(wsio_sio_socket *s) {
  wsio_sio *io = s->nsp->io;
  while (sio_socket_acks(s)) {
    sio_ack_wait *w = s->x->acks;
    s->x->acks = w->next;
    if (w->owed) { /* a late answer now finds no socket: WSIO_ECLOSED */
      free(w);
      continue;
    }
    if (w->group) {
      sio_ack_group *g = w->group;
      wait_unlink_group(w);
      free(w);
      g->lost++;
      group_check(io, g);
      continue;
    }
    loop_timer_stop(io->loop, &w->timer);
    wsio_sio_ack_fn cb = w->cb;
    void *user = w->user;
    free(w);
    cb(s, NULL, WSIO_ECLOSED, user);
  }
}

static void group_expired(loop_timer *t) {
  sio_ack_group *g = (sio_ack_group *)((char *)t - offsetof(sio_ack_group, timer));
  group_finish(g->io, g, WSIO_ETIMEDOUT);
}

static void wait_expired(loop_timer *t) {
  sio_ack_wait *w = (sio_ack_wait *)((char *)t - offsetof(sio_ack_wait, timer));
  wait_unlink_socket(w);
  wsio_sio_socket *s = w->s;
  wsio_sio_ack_fn cb = w->cb;
  void *user = w->user;
  free(w);
  cb(s, NULL, WSIO_ETIMEDOUT, user);
}

static sio_ack_wait *wait_new(wsio_sio_socket *s, int64_t id) {
  sio_ack_wait *w = sio_socket_extra(s) ? calloc(1, sizeof(*w)) : NULL;
  if (!w) return NULL;
  w->s = s;
  w->id = id;
  w->timer.cb = wait_expired;
  w->next = s->x->acks;
  s->x->acks = w;
  return w;
}

/* ---- emit to one socket ---------------------------------------------------------- */

static int emit_recorded(wsio_sio_socket *s, const char *event, const char *json, size_t len, const wsio_span *bins,
                         size_t nbins);

int wsio_sio_emit(wsio_sio_socket *s, const char *event, const char *json, size_t len, const wsio_span *bins,
                  size_t nbins) {
  if (!s) return WSIO_EINVAL;
  int r = sio_check_emit(s->nsp->io, event, &json, &len, bins, nbins);
  if (r) return r;
  if (!sio_socket_live(s)) return WSIO_ECLOSED;
  /* Node routes socket.emit as a broadcast to the socket's id room when recovery is
   * on, so it gets an offset and is kept for catch-up. */
  if (s->nsp->io->o.recovery) return emit_recorded(s, event, json, len, bins, nbins);
  char mem[512];
  sbuf b;
  sbuf_on_stack(&b, mem, sizeof(mem));
  r = sio_encode_event(&b, s->nsp, event, json, len, nbins, -1, NULL);
  if (!r) r = sio_send_packet(s, b.p, b.n, bins, nbins);
  sbuf_free(&b);
  return r;
}

static int emit_recorded(wsio_sio_socket *s, const char *event, const char *json, size_t len, const wsio_span *bins,
                         size_t nbins) {
  const char *room = s->id;
  wsio_sio_target t = {.nsp = s->nsp, .rooms = &room, .nrooms = 1};
  sio_adapter *a = s->nsp->io->adapter;
  if (a->ops->restore_session) { /* recovery kept by the cluster: Node's adapter.broadcast */
    sio_event ev = {event, json, len, bins, nbins, NULL, 0};
    int r = a->ops->broadcast(a, &t, &ev);
    return r < 0 ? r : 0;
  }
  char offset[24];
  uint64_t num = sio_log_next_offset(s->nsp->io, offset);
  sbuf b = {0};
  int r = sio_encode_event(&b, s->nsp, event, json, len, nbins, -1, offset);
  if (!r) r = sio_log_append(s->nsp, num, &t, b.p, b.n, bins, nbins);
  if (!r) r = sio_send_packet(s, b.p, b.n, bins, nbins);
  sbuf_free(&b);
  return r;
}

int wsio_sio_emit_with_ack(wsio_sio_socket *s, const char *event, const char *json, size_t len,
                           const wsio_span *bins, size_t nbins, unsigned timeout_ms, wsio_sio_ack_fn cb,
                           void *user) {
  if (!s || !cb) return WSIO_EINVAL;
  int r = sio_check_emit(s->nsp->io, event, &json, &len, bins, nbins);
  if (r) return r;
  if (!sio_socket_live(s)) return WSIO_ECLOSED;
  wsio_sio *io = s->nsp->io;
  int64_t id = s->nsp->next_ack_id;
  sbuf b = {0};
  r = sio_encode_event(&b, s->nsp, event, json, len, nbins, id, NULL);
  sio_ack_wait *w = r ? NULL : wait_new(s, id);
  if (!r && !w) r = WSIO_ENOMEM;
  if (!r) {
    w->cb = cb;
    w->user = user;
    if (timeout_ms && loop_timer_start(io->loop, &w->timer, timeout_ms, 0) != 0) r = WSIO_ENOMEM;
  }
  if (!r) r = sio_send_packet(s, b.p, b.n, bins, nbins);
  sbuf_free(&b);
  if (r) {
    if (w) {
      wait_unlink_socket(w);
      loop_timer_stop(io->loop, &w->timer);
      free(w);
    }
    return r;
  }
  s->nsp->next_ack_id++;
  return 0;
}

/* ---- acks the client asked for -------------------------------------------------- */

wsio_sio_socket *sio_socket_find(wsio_sio_nsp *nsp, const char *id, uint32_t serial) {
  if (!nsp || memchr(id, '\0', SIO_ID_LEN)) return NULL;
  wsio_sio_socket *s = idmap_get(&nsp->sockets, id, SIO_ID_LEN);
  return s && s->serial == serial && s->state == SOCK_CONNECTED && sio_socket_live(s) ? s : NULL;
}

wsio_sio_ref wsio_sio_socket_ref(const wsio_sio_socket *s) {
  wsio_sio_ref r;
  memset(&r, 0, sizeof(r));
  if (!s) return r;
  r.nsp = s->nsp;
  r.serial = s->serial;
  memcpy(r.id, s->id, SIO_ID_LEN + 1);
  return r;
}

wsio_sio_socket *wsio_sio_ref_socket(const wsio_sio_ref *ref) {
  return ref ? sio_socket_find(ref->nsp, ref->id, ref->serial) : NULL;
}


/* The event callback now running gets its ack tracked inline (no allocation): most
 * handlers answer before they return. */
void sio_ack_begin(wsio_sio_socket *s, int64_t id) {
  wsio_sio *io = s->nsp->io;
  io->inline_ack = (sio_inline_ack){id >= 0 ? s : NULL, id, 0};
}

/* Kept past the callback: remember that it is owed, so a later answer is checked. */
void sio_ack_end(wsio_sio_socket *s) {
  wsio_sio *io = s->nsp->io;
  sio_inline_ack a = io->inline_ack;
  io->inline_ack.s = NULL;
  if (!a.s || a.answered || !sio_socket_live(s) || s->state != SOCK_CONNECTED) return;
  /* An application that never answers (its handlers ignore acks) must not let a client
   * grow this list without bound: past SIO_MAX_OWED_ACKS the oldest owed one (the last
   * in the list, which is newest first) is forgotten. */
  sio_ack_wait **oldest = NULL;
  unsigned owed = 0;
  for (sio_ack_wait **pp = s->x ? &s->x->acks : NULL; pp && *pp; pp = &(*pp)->next) {
    if ((*pp)->owed) {
      owed++;
      oldest = pp;
    }
  }
  if (owed >= SIO_MAX_OWED_ACKS) {
    sio_ack_wait *w = *oldest;
    *oldest = w->next;
    free(w);
  }
  sio_ack_wait *w = wait_new(s, a.id);
  if (w) w->owed = 1; /* out of memory: a later answer finds nothing (WSIO_EINVAL) */
}

/* Claims the right to answer ack `id` of s: 0, or WSIO_EINVAL when it is not owed
 * (answered already, or never asked). */
static int ack_claim(wsio_sio_socket *s, int64_t id) {
  sio_inline_ack *in = &s->nsp->io->inline_ack;
  if (in->s == s && in->id == id && !in->answered) {
    in->answered = 1;
    return 0;
  }
  for (sio_ack_wait **pp = s->x ? &s->x->acks : NULL; pp && *pp; pp = &(*pp)->next) {
    sio_ack_wait *w = *pp;
    if (w->owed && w->id == id) {
      *pp = w->next;
      free(w);
      return 0;
    }
  }
  return WSIO_EINVAL;
}

int wsio_sio_ack_send(wsio_sio_ack ack, const char *json, size_t len, const wsio_span *bins, size_t nbins) {
  if (ack.id < 0) return WSIO_EINVAL;
  int r = check_args(ack.socket.nsp ? ack.socket.nsp->io : NULL, &json, &len, bins, nbins);
  if (r) return r;
  /* Answered inside its event callback (the common case): the socket is the one the
   * callback runs for, still in memory (frees wait for the post phase), so the id
   * lookup is skipped. Serials are unique per server. */
  wsio_sio_socket *s;
  const sio_inline_ack *in = ack.socket.nsp ? &ack.socket.nsp->io->inline_ack : NULL;
  if (in && in->s && in->s->serial == ack.socket.serial && in->s->nsp == ack.socket.nsp && in->id == ack.id)
    s = in->s->state == SOCK_CONNECTED && sio_socket_live(in->s) ? in->s : NULL;
  else
    s = wsio_sio_ref_socket(&ack.socket);
  if (!s) return WSIO_ECLOSED;
  if ((r = ack_claim(s, ack.id)) != 0) return r;
  char mem[512];
  sbuf b;
  sbuf_on_stack(&b, mem, sizeof(mem));
  r = put_head(&b, nbins ? SIO_BINARY_ACK : SIO_ACK, nbins, s->nsp, ack.id);
  if (!r) r = sbuf_put(&b, json, len);
  if (!r) r = sio_send_packet(s, b.p, b.n, bins, nbins);
  sbuf_free(&b);
  return r;
}

/* ---- broadcasts ------------------------------------------------------------------ */

/* Recovery (Node's SessionAwareAdapter.broadcast): a non-volatile EVENT without ack
 * gets an offset as its last argument and is kept for catch-up. */
static int encode_broadcast(sbuf *b, const wsio_sio_target *t, const char *event, const char *json, size_t len,
                            const wsio_span *bins, size_t nbins, int64_t ack_id, const char *cluster_offset) {
  wsio_sio_nsp *nsp = t->nsp;
  if (!nsp->io->o.recovery || t->is_volatile || ack_id >= 0)
    return sio_encode_event(b, nsp, event, json, len, nbins, ack_id, NULL);
  /* Recovery kept by the cluster adapter: its offset (none while it is away), no log. */
  if (nsp->io->adapter->ops->restore_session)
    return sio_encode_event(b, nsp, event, json, len, nbins, -1, cluster_offset);
  char offset[24];
  uint64_t num = sio_log_next_offset(nsp->io, offset);
  int r = sio_encode_event(b, nsp, event, json, len, nbins, -1, offset);
  if (!r) r = sio_log_append(nsp, num, t, b->p, b->n, bins, nbins);
  return r;
}

/* Sends the prepared packet to every selected socket still live; calls on_sent for
 * each that queued it. Returns how many did. */
static int send_selection(const sio_selection *sel, eio_prepared *p, int is_volatile,
                          int (*on_sent)(wsio_sio_socket *s, void *arg), void *arg) {
  int reached = 0;
  for (size_t i = 0; i < sel->n; i++) {
    wsio_sio_socket *s = sel->v[i];
    if (!sio_socket_live(s)) continue;
    int r = eio_send_prepared(s->client->es, p, is_volatile);
    if (r == WSIO_EDROPPED) s->nsp->io->st.volatile_drops_total++;
    if (r != 0) continue;
    if (on_sent && on_sent(s, arg) != 0) continue;
    reached++;
  }
  return reached;
}

/* ---- broadcasts held for the iteration -------------------------------------------
 * A room broadcast used to cost each recipient one trip through the send path per
 * broadcast; a raw topic costs it one per iteration (core/pubsub.c). Here too: a plain
 * broadcast (no ack, not volatile) is selected and encoded at once (so the selection,
 * the recovery offset and the log are those of the moment it was emitted) but its
 * packets wait in io->held; the next broadcasts of the iteration that select the same
 * sockets in the same order join them, and each recipient is written the whole batch
 * once: from the post hook, or earlier, before anything else goes out through the
 * Engine.IO server (eio_hold), before a socket leaves (socket_bury), before a broadcast
 * that cannot join. So every session still gets its packets in the order they were
 * emitted. Only while this iteration's post hook is still to come (post_iter): a
 * broadcast from the post phase itself (a disconnect handler run while reaping) is
 * sent at once, as nothing would flush it. */

#define SIO_HELD_FLUSH_AT (32 * 1024)

static void held_reset(sio_held *h) {
  eio_prepared_init(&h->p);
  h->v = NULL;
  h->n = h->cap = 0;
  h->nmsgs = 0;
  h->active = 0;
}

void sio_held_free(wsio_sio *io) {
  sio_held *h = &io->held;
  if (h->active) eio_prepared_free(&h->p);
  free(h->v);
  held_reset(h);
  /* (teardown: the Engine.IO server, freed before us, no longer calls back) */
}

void sio_held_flush(wsio_sio *io) {
  sio_held *h = &io->held;
  if (!h->active) return;
  /* Taken out first: a send that fails a connection runs close handlers, which may
   * broadcast (and start a new batch) or flush again. */
  sio_held b = *h;
  held_reset(h);
  eio_unhold(io->eio);
  uint64_t delivered = 0;
  for (size_t i = 0; b.nmsgs && i < b.n; i++) {
    wsio_sio_socket *s = b.v[i];
    if (!sio_socket_live(s)) continue;
    if (eio_send_prepared(s->client->es, &b.p, 0) == 0) delivered += b.nmsgs;
  }
  io->st.deliveries_total += delivered;
  eio_prepared_free(&b.p);
  if (!h->v && !h->active) { /* the recipient array serves the next batch */
    h->v = b.v;
    h->cap = b.cap;
  } else {
    free(b.v);
  }
}

void sio_held_release(void *io) { sio_held_flush(io); }

/* The held batch's target, kept when its names fit (then the same target with no
 * membership change since joins the batch without a selection walk). */
static void held_key(wsio_sio *io, const wsio_sio_target *t) {
  sio_held *h = &io->held;
  h->keyed = 0;
  size_t n = 0;
  for (size_t i = 0; i < t->nrooms + t->nexcept; i++) {
    const char *name = i < t->nrooms ? t->rooms[i] : t->except[i - t->nrooms];
    size_t l = name ? strlen(name) + 1 : 0;
    if (!name || l > sizeof(h->names) - n) return;
    memcpy(h->names + n, name, l);
    n += l;
  }
  h->names_len = n;
  h->nsp = t->nsp;
  h->except_socket = t->except_socket;
  h->nrooms = t->nrooms;
  h->nexcept = t->nexcept;
  h->gen = io->sel_gen;
  h->keyed = 1;
}

/* Whether t is the held batch's target and nothing changed that its selection
 * depends on. */
static int held_key_matches(const wsio_sio *io, const wsio_sio_target *t) {
  const sio_held *h = &io->held;
  if (!h->active || !h->keyed || h->gen != io->sel_gen || h->nsp != t->nsp || h->except_socket != t->except_socket ||
      h->nrooms != t->nrooms || h->nexcept != t->nexcept)
    return 0;
  size_t n = 0;
  for (size_t i = 0; i < t->nrooms + t->nexcept; i++) {
    const char *name = i < t->nrooms ? t->rooms[i] : t->except[i - t->nrooms];
    if (!name) return 0;
    size_t l = strlen(name) + 1;
    if (l > h->names_len - n || memcmp(h->names + n, name, l) != 0) return 0;
    n += l;
  }
  return n == h->names_len;
}

/* Whether a broadcast to sel may join (or start) the held batch. */
static int held_joins(const sio_held *h, const sio_selection *sel) {
  return h->active && h->n == sel->n && memcmp(h->v, sel->v, sel->n * sizeof(*sel->v)) == 0;
}

/* Adds the encoded broadcast to the held batch (flushing one for other sockets first).
 * Returns 0, or WSIO_ENOMEM (the caller sends it at once instead). */
static int held_add(wsio_sio *io, const wsio_sio_target *t, const sio_selection *sel, const sbuf *text,
                    const wsio_span *bins, size_t nbins) {
  sio_held *h = &io->held;
  if (h->active && sel && !held_joins(h, sel)) sio_held_flush(io);
  else if (h->active && sel) held_key(io, t); /* the same sockets: this target, as of now */
  if (!h->active) {
    if (sel->n > h->cap) {
      wsio_sio_socket **nv = realloc(h->v, sel->n * sizeof(*nv));
      if (!nv) return WSIO_ENOMEM;
      h->v = nv;
      h->cap = sel->n;
    }
    memcpy(h->v, sel->v, sel->n * sizeof(*sel->v));
    h->n = sel->n;
    eio_prepared_init(&h->p);
    h->active = 1;
    held_key(io, t);
    eio_hold(io->eio);
  }
  eio_prepared_mark m = eio_prepared_mark_now(&h->p);
  int r = eio_prepared_add(&h->p, (const uint8_t *)text->p, text->n, 0);
  for (size_t i = 0; !r && i < nbins; i++) r = eio_prepared_add(&h->p, bins[i].p, bins[i].n, 1);
  if (r) { /* back to what the batch held (a part of a packet would corrupt it) */
    eio_prepared_rewind(&h->p, m);
    if (!h->nmsgs) sio_held_flush(io); /* (an empty batch: nothing is sent) */
    return r;
  }
  h->nmsgs++;
  /* A big batch goes out at once: under 64 KiB its frames are shared by every
   * recipient (core_frames_write), past it each would get a copy. */
  if (h->p.ws.len >= SIO_HELD_FLUSH_AT) sio_held_flush(io);
  return 0;
}

/* counted: 0 for a delivery of a broadcast another thread of the group emitted and
 * counted (sio_event.delivery), so that the threads' sum counts each broadcast once. */
static int do_broadcast(const wsio_sio_target *t, const char *event, const char *json, size_t len,
                        const wsio_span *bins, size_t nbins, int64_t ack_id, const char *cluster_offset, int counted,
                        int (*on_sent)(wsio_sio_socket *s, void *arg), void *arg) {
  wsio_sio *io = t->nsp->io;
  sbuf b = {0};
  eio_prepared p;
  sio_selection sel;
  int hold = ack_id < 0 && !on_sent && !t->is_volatile && io->eio && loop_iteration(io->loop) != io->post_iter;
  /* The held batch's target again, nothing changed: its sockets, without a walk. */
  int selected = !(hold && held_key_matches(io, t));
  int r = selected ? sio_select(t, &sel) : 0;
  if (!r) r = encode_broadcast(&b, t, event, json, len, bins, nbins, ack_id, cluster_offset);
  if (hold && !r && (!selected || sel.n)) {
    size_t n = selected ? sel.n : io->held.n;
    if (held_add(io, t, selected ? &sel : NULL, &b, bins, nbins) == 0) {
      sbuf_free(&b);
      if (selected) sio_selection_free(&sel);
      if (counted) io->st.broadcasts_total++;
      return (int)n;
    }
  }
  if (!selected && !r) { /* out of memory for the batch: sent at once, as below */
    r = sio_select(t, &sel);
    selected = 1;
  }
  if (!selected) {
    sbuf_free(&b);
    return r;
  }
  sio_held_flush(io); /* what was held goes first */
  if (!r && sel.n) r = prepare(&p, &b, bins, nbins);
  sbuf_free(&b);
  if (r) {
    sio_selection_free(&sel);
    return r;
  }
  int reached = sel.n ? send_selection(&sel, &p, t->is_volatile, on_sent, arg) : 0;
  if (counted) io->st.broadcasts_total++;
  io->st.deliveries_total += (uint64_t)reached;
  if (sel.n) eio_prepared_free(&p);
  sio_selection_free(&sel);
  return reached;
}

int sio_local_broadcast(const wsio_sio_target *t, const sio_event *ev) {
  return do_broadcast(t, ev->name, ev->json, ev->len, ev->bins, ev->nbins, -1, ev->offset, !ev->delivery, NULL, NULL);
}

/* One indirect call per broadcast (the adapter); the local adapter's is the function
 * above. */
int wsio_sio_broadcast(const wsio_sio_target *t, const char *event, const char *json, size_t len,
                       const wsio_span *bins, size_t nbins) {
  if (!t || !t->nsp) return WSIO_EINVAL;
  int r = sio_check_emit(t->nsp->io, event, &json, &len, bins, nbins);
  if (r) return r;
  sio_event ev = {event, json, len, bins, nbins, NULL, 0};
  sio_adapter *a = t->nsp->io->adapter;
  return a->ops->broadcast(a, t, &ev);
}

typedef struct group_ctx {
  sio_ack_group *g;
  int64_t id;
} group_ctx;

static int group_add_member(wsio_sio_socket *s, void *arg) {
  group_ctx *c = arg;
  sio_ack_wait *w = wait_new(s, c->id);
  if (!w) return WSIO_ENOMEM; /* its answer will be ignored; the deadline ends the wait */
  w->group = c->g;
  w->gnext = c->g->members;
  if (w->gnext) w->gnext->gprev = w;
  c->g->members = w;
  c->g->expected++;
  return 0;
}

int wsio_sio_broadcast_with_ack(const wsio_sio_target *t, const char *event, const char *json, size_t len,
                                const wsio_span *bins, size_t nbins, unsigned timeout_ms,
                                wsio_sio_broadcast_ack_fn cb, void *user) {
  if (!t || !t->nsp || !cb) return WSIO_EINVAL;
  int r = sio_check_emit(t->nsp->io, event, &json, &len, bins, nbins);
  if (r) return r;
  sio_event ev = {event, json, len, bins, nbins, NULL, 0};
  sio_adapter *a = t->nsp->io->adapter;
  return a->ops->broadcast_with_ack(a, t, &ev, timeout_ms, cb, user);
}

/* An adapter without the op: its JSON-only answers, with no attachments. */
typedef struct ack_bin_shim {
  wsio_sio_broadcast_ack_bin_fn cb;
  void *user;
} ack_bin_shim;

static void ack_bin_shim_done(const char *json, size_t len, int err, void *user) {
  ack_bin_shim sh = *(ack_bin_shim *)user;
  free(user);
  sh.cb(json, len, NULL, 0, err, sh.user);
}

int wsio_sio_broadcast_with_ack_bin(const wsio_sio_target *t, const char *event, const char *json, size_t len,
                                    const wsio_span *bins, size_t nbins, unsigned timeout_ms,
                                    wsio_sio_broadcast_ack_bin_fn cb, void *user) {
  if (!t || !t->nsp || !cb) return WSIO_EINVAL;
  int r = sio_check_emit(t->nsp->io, event, &json, &len, bins, nbins);
  if (r) return r;
  sio_event ev = {event, json, len, bins, nbins, NULL, 0};
  sio_adapter *a = t->nsp->io->adapter;
  if (a->ops->broadcast_with_ack_bin) return a->ops->broadcast_with_ack_bin(a, t, &ev, timeout_ms, cb, user);
  ack_bin_shim *sh = malloc(sizeof(*sh));
  if (!sh) return WSIO_ENOMEM;
  *sh = (ack_bin_shim){cb, user};
  r = a->ops->broadcast_with_ack(a, t, &ev, timeout_ms, ack_bin_shim_done, sh);
  if (r < 0) free(sh); /* the callback never runs then */
  return r;
}

static int local_with_ack(const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                          wsio_sio_broadcast_ack_fn cb, wsio_sio_broadcast_ack_bin_fn bcb, void *user,
                          sio_ack_each_fn each, void *each_arg);

int sio_local_broadcast_with_ack(const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                                 wsio_sio_broadcast_ack_fn cb, void *user) {
  return local_with_ack(t, ev, timeout_ms, cb, NULL, user, NULL, NULL);
}

int sio_local_broadcast_with_ack_bin(const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                                     wsio_sio_broadcast_ack_bin_fn cb, void *user) {
  return local_with_ack(t, ev, timeout_ms, NULL, cb, user, NULL, NULL);
}

int sio_local_broadcast_with_ack_each(const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                                      wsio_sio_broadcast_ack_fn cb, void *user, sio_ack_each_fn each,
                                      void *each_arg) {
  return local_with_ack(t, ev, timeout_ms, cb, NULL, user, each, each_arg);
}

static int local_with_ack(const wsio_sio_target *t, const sio_event *ev, unsigned timeout_ms,
                          wsio_sio_broadcast_ack_fn cb, wsio_sio_broadcast_ack_bin_fn bcb, void *user,
                          sio_ack_each_fn each, void *each_arg) {
  const char *event = ev->name, *json = ev->json;
  size_t len = ev->len, nbins = ev->nbins;
  const wsio_span *bins = ev->bins;
  wsio_sio *io = t->nsp->io;
  sio_ack_group *g = calloc(1, sizeof(*g));
  if (!g || sbuf_put(&g->responses, "[", 1) != 0) {
    free(g);
    return WSIO_ENOMEM;
  }
  g->io = io;
  g->cb = cb;
  g->bcb = bcb;
  g->user = user;
  g->each = each;
  g->each_arg = each_arg;
  g->timer.cb = group_expired;
  group_ctx c = {g, t->nsp->next_ack_id++};
  /* No completion while the members are still being added (a send that fails a
   * connection may disconnect a member under us). */
  g->building = 1;
  int reached = do_broadcast(t, event, json, len, bins, nbins, c.id, NULL, !ev->delivery, group_add_member, &c);
  g->building = 0;
  if (reached < 0) {
    sio_group_free(g);
    return reached;
  }
  if (g->received + g->lost >= g->expected) { /* nobody reached (or all gone already) */
    group_finish(io, g, 0);
    return reached;
  }
  /* Out of memory for the timer: the group still ends when every member answered or
   * disconnected, as with timeout_ms 0. */
  if (timeout_ms) (void)loop_timer_start(io->loop, &g->timer, timeout_ms, 0);
  return reached;
}

/* ---- selections ------------------------------------------------------------------ */

long wsio_sio_fetch_sockets(const wsio_sio_target *t, wsio_sio_socket **out, size_t cap) {
  sio_selection sel;
  if (!t || !t->nsp || (cap && !out)) return WSIO_EINVAL;
  int r = sio_select(t, &sel);
  size_t n = r == 0 ? sel.n : 0;
  for (size_t i = 0; i < n && i < cap; i++) out[i] = sel.v[i];
  sio_selection_free(&sel);
  return r ? r : (long)n;
}

int sio_local_add_sockets(const wsio_sio_target *t, const char *room, int join) {
  sio_selection sel;
  int r = sio_select(t, &sel);
  for (size_t i = 0; r == 0 && i < sel.n; i++) {
    if (join) r = sio_room_join(sel.v[i], room, strlen(room));
    else (void)sio_room_leave(sel.v[i], room, strlen(room));
  }
  sio_selection_free(&sel);
  return r < 0 ? r : 0;
}

static int join_or_leave(const wsio_sio_target *t, const char *room, int join) {
  if (!t || !t->nsp || !room) return WSIO_EINVAL;
  sio_adapter *a = t->nsp->io->adapter;
  return a->ops->add_sockets(a, t, room, join);
}

int wsio_sio_sockets_join(const wsio_sio_target *t, const char *room) { return join_or_leave(t, room, 1); }
int wsio_sio_sockets_leave(const wsio_sio_target *t, const char *room) { return join_or_leave(t, room, 0); }

int wsio_sio_disconnect_sockets(const wsio_sio_target *t, int close_transport) {
  if (!t || !t->nsp) return WSIO_EINVAL;
  sio_adapter *a = t->nsp->io->adapter;
  return a->ops->disconnect_sockets(a, t, close_transport);
}

int sio_local_disconnect_sockets(const wsio_sio_target *t, int close_transport) {
  sio_selection sel;
  int r = sio_select(t, &sel);
  if (r == 0) {
    /* Sockets gone meanwhile (a disconnect callback closing others) wait in the grave,
     * so the pointers stay valid; they are skipped. */
    for (size_t i = 0; i < sel.n; i++) {
      if (sio_socket_live(sel.v[i]) && sel.v[i]->state == SOCK_CONNECTED)
        wsio_sio_socket_disconnect(sel.v[i], close_transport);
    }
  }
  sio_selection_free(&sel);
  return r;
}

void wsio_sio_server_stats(const wsio_sio *io, wsio_sio_stats *out) {
  *out = io->st;
  out->sockets = out->rooms = out->namespaces = 0;
  uint32_t it = 0;
  void *v;
  while (map_next(&io->nsps, &it, NULL, NULL, &v)) {
    const wsio_sio_nsp *nsp = v;
    out->namespaces++;
    out->sockets += idmap_size(&nsp->sockets);
    out->rooms += map_size(&nsp->rooms);
  }
}
