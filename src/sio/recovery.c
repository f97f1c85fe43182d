/* sio/recovery.c — connection state recovery (Node's SessionAwareAdapter):
 *  - the log: per namespace, the broadcast EVENTs (non-volatile, without ack) as they
 *    went on the wire, offset included, with their rooms/except selection; bounded by
 *    recovery_max_packets and by age (recovery_max_disconnection_ms);
 *  - sessions: a socket that disconnected for a recoverable reason leaves {pid, sid,
 *    rooms, data} for recovery_max_disconnection_ms;
 *  - restore: a CONNECT whose auth carries a known pid and a still-logged offset gets
 *    the old id, rooms and data back, and the missed packets its rooms select.
 *
 * Offsets are base36 numbers from one server-wide counter: unique and increasing, so a
 * namespace's log is sorted by them and found by binary search. */
#include <string.h>

#include "sio/internal.h"
#include "sio/jscan.h"
#include "util/buf.h"

typedef struct sio_log_entry {
  uint64_t offset;
  uint64_t at; /* when it was emitted */
  uint32_t nrooms, nexcept, nbins;
  uint32_t text_len;
  /* then: uint32_t bin_len[nbins]; rooms then except names, each NUL-terminated;
   * the packet text; the attachments, back to back */
  _Alignas(8) unsigned char data[];
} sio_log_entry;

struct sio_log {
  sio_log_entry **v; /* ring */
  size_t cap, head, n;
};

struct sio_session {
  sio_session *prev, *next; /* disconnection order */
  wsio_sio_nsp *nsp;
  uint64_t at; /* when it disconnected */
  char *data;
  uint32_t data_len;
  uint32_t nrooms; /* joined rooms, not counting the id room */
  char pid[SIO_ID_LEN + 1], sid[SIO_ID_LEN + 1];
  char rooms[]; /* NUL-terminated names back to back */
};

/* ---- small JSON helper ----------------------------------------------------------- */

static size_t skip_ws(const char *p, size_t n, size_t i) {
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) i++;
  return i;
}

const char *sio_json_object_get(const char *p, size_t n, const char *key, size_t *vlen) {
  size_t i = skip_ws(p, n, 0), klen = strlen(key);
  if (i >= n || p[i] != '{') return NULL;
  i = skip_ws(p, n, i + 1);
  while (i < n && p[i] != '}') {
    jscan_type t;
    size_t kl = jscan_scan(p + i, n - i, &t);
    if (!kl || t != JSCAN_STRING) return NULL;
    const char *k = p + i;
    i = skip_ws(p, n, i + kl);
    if (i >= n || p[i] != ':') return NULL;
    i = skip_ws(p, n, i + 1);
    size_t vl = jscan_scan(p + i, n - i, &t);
    if (!vl) return NULL;
    /* Keys compared unescaped; the ones looked up here are short ASCII. */
    char kbuf[32];
    long ul = jscan_string_unescape(k, kl, kbuf, sizeof(kbuf));
    if (ul >= 0 && (size_t)ul == klen && memcmp(kbuf, key, klen) == 0) {
      *vlen = vl;
      return p + i;
    }
    i = skip_ws(p, n, i + vl);
    if (i < n && p[i] == ',') i = skip_ws(p, n, i + 1);
  }
  return NULL;
}

/* The string value of key, unescaped into out (cap bytes); -1 when absent, not a
 * string, or too long. */
static int object_string(const char *p, size_t n, const char *key, char *out, size_t cap) {
  size_t vl;
  const char *v = sio_json_object_get(p, n, key, &vl);
  if (!v || v[0] != '"') return -1;
  long ul = jscan_string_unescape(v, vl, out, cap);
  return ul < 0 || (size_t)ul >= cap ? -1 : 0;
}

/* ---- offsets --------------------------------------------------------------------- */

uint64_t sio_log_next_offset(wsio_sio *io, char offset[24]) {
  uint64_t num = ++io->next_offset, v = num;
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
    v /= 36;
  } while (v);
  for (size_t i = 0; i < n; i++) offset[i] = tmp[n - 1 - i];
  offset[n] = '\0';
  return num;
}

static int parse_offset(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (!*s || strlen(s) > 12) return -1; /* 36^12 > 2^62: no overflow below */
  for (; *s; s++) {
    int d;
    if (*s >= '0' && *s <= '9') d = *s - '0';
    else if (*s >= 'a' && *s <= 'z') d = *s - 'a' + 10;
    else return -1;
    v = v * 36 + (uint64_t)d;
  }
  *out = v;
  return 0;
}

/* ---- the log --------------------------------------------------------------------- */

static sio_log_entry *log_at(const sio_log *l, size_t i) { return l->v[(l->head + i) % l->cap]; }

static void log_drop_oldest(sio_log *l) {
  free(l->v[l->head]);
  l->v[l->head] = NULL;
  l->head = (l->head + 1) % l->cap;
  l->n--;
}

static int log_grow(sio_log *l, size_t max) {
  size_t cap = l->cap ? l->cap * 2 : 64;
  if (cap > max) cap = max;
  sio_log_entry **v = malloc(cap * sizeof(*v));
  if (!v) return WSIO_ENOMEM;
  for (size_t i = 0; i < l->n; i++) v[i] = log_at(l, i);
  free(l->v);
  l->v = v;
  l->cap = cap;
  l->head = 0;
  return 0;
}

static size_t names_size(const char *const *names, size_t n, uint32_t *count) {
  size_t size = 0;
  for (size_t i = 0; i < n; i++) {
    if (!names[i]) continue;
    size += strlen(names[i]) + 1;
    (*count)++;
  }
  return size;
}

static unsigned char *put_names(unsigned char *w, const char *const *names, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (!names[i]) continue;
    size_t len = strlen(names[i]) + 1;
    memcpy(w, names[i], len);
    w += len;
  }
  return w;
}

static sio_log_entry *entry_new(uint64_t offset, uint64_t at, const wsio_sio_target *t, const char *text, size_t len,
                                const wsio_span *bins, size_t nbins) {
  uint32_t nrooms = 0, nexcept = 0;
  size_t rsize = names_size(t->rooms, t->nrooms, &nrooms);
  size_t esize = names_size(t->except, t->nexcept, &nexcept);
  const char *self = t->except_socket ? t->except_socket->id : NULL;
  if (self) esize += names_size(&self, 1, &nexcept);
  size_t size = sizeof(sio_log_entry) + nbins * sizeof(uint32_t) + rsize + esize + len;
  for (size_t i = 0; i < nbins; i++) size += bins[i].n;
  if (len > UINT32_MAX) return NULL;
  sio_log_entry *e = malloc(size);
  if (!e) return NULL;
  e->offset = offset;
  e->at = at;
  e->nrooms = nrooms;
  e->nexcept = nexcept;
  e->nbins = (uint32_t)nbins;
  e->text_len = (uint32_t)len;
  uint32_t *lens = (uint32_t *)e->data;
  unsigned char *w = e->data + nbins * sizeof(uint32_t);
  w = put_names(w, t->rooms, t->nrooms);
  w = put_names(w, t->except, t->nexcept);
  if (self) w = put_names(w, &self, 1);
  memcpy(w, text, len);
  w += len;
  for (size_t i = 0; i < nbins; i++) {
    lens[i] = (uint32_t)bins[i].n;
    if (bins[i].n) memcpy(w, bins[i].p, bins[i].n);
    w += bins[i].n;
  }
  return e;
}

int sio_log_append(wsio_sio_nsp *nsp, uint64_t offset_num, const wsio_sio_target *t, const char *text,
                   size_t len, const wsio_span *bins, size_t nbins) {
  wsio_sio *io = nsp->io;
  size_t max = io->o.recovery_max_packets;
  if (!max) return 0;
  if (!nsp->log && !(nsp->log = calloc(1, sizeof(*nsp->log)))) return WSIO_ENOMEM;
  sio_log *l = nsp->log;
  if (l->n == l->cap && l->cap < max && log_grow(l, max) != 0) return WSIO_ENOMEM;
  if (l->n == l->cap) log_drop_oldest(l); /* full at its bound: the oldest goes */
  sio_log_entry *e = entry_new(offset_num, sio_now(io), t, text, len, bins, nbins);
  if (!e) return WSIO_ENOMEM;
  l->v[(l->head + l->n) % l->cap] = e;
  l->n++;
  sio_recovery_arm(io);
  return 0;
}

void sio_log_free(sio_log *l) {
  if (!l) return;
  while (l->n) log_drop_oldest(l);
  free(l->v);
  free(l);
}

/* Index of the entry with this offset, or -1. */
static long log_find(const sio_log *l, uint64_t offset) {
  size_t lo = 0, hi = l ? l->n : 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint64_t o = log_at(l, mid)->offset;
    if (o == offset) return (long)mid;
    if (o < offset) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

/* Node's shouldIncludePacket, with the socket's rooms (its id room included). */
static int entry_selects(const sio_log_entry *e, const wsio_sio_socket *s) {
  const char *name = (const char *)e->data + e->nbins * sizeof(uint32_t);
  int included = e->nrooms == 0;
  for (uint32_t i = 0; i < e->nrooms; i++) {
    size_t len = strlen(name);
    if (!included && sio_room_has(s, name, len)) included = 1;
    name += len + 1;
  }
  if (!included) return 0;
  for (uint32_t i = 0; i < e->nexcept; i++) {
    size_t len = strlen(name);
    if (sio_room_has(s, name, len)) return 0;
    name += len + 1;
  }
  return 1;
}

/* Node's shouldIncludePacket for a session (its rooms and its id room). */
static int session_has(const sio_session *sess, const char *name, size_t len) {
  if (len == SIO_ID_LEN && memcmp(name, sess->sid, len) == 0) return 1;
  const char *r = sess->rooms;
  for (uint32_t i = 0; i < sess->nrooms; i++) {
    size_t rl = strlen(r);
    if (rl == len && memcmp(r, name, len) == 0) return 1;
    r += rl + 1;
  }
  return 0;
}

static int entry_selects_session(const sio_log_entry *e, const sio_session *sess) {
  const char *name = (const char *)e->data + e->nbins * sizeof(uint32_t);
  int included = e->nrooms == 0;
  for (uint32_t i = 0; i < e->nrooms; i++) {
    size_t len = strlen(name);
    if (!included && session_has(sess, name, len)) included = 1;
    name += len + 1;
  }
  if (!included) return 0;
  for (uint32_t i = 0; i < e->nexcept; i++) {
    size_t len = strlen(name);
    if (session_has(sess, name, len)) return 0;
    name += len + 1;
  }
  return 1;
}

/* ---- how much a catch-up sends -----------------------------------------------------
 * The missed packets go out at once, before the CONNECT reply, and the transport
 * refuses what goes over its cap (eio_send_budget): a refused one would leave the
 * client a gap, and a refused CONNECT reply no connection at all, the same again at
 * every reconnect. So a catch-up that does not fit is no recovery: the client gets a
 * new session (socket.recovered false, as when its offset has left the log), and the
 * application knows to resynchronise it. Counted in recovery_too_large_total. */

/* Bytes one packet of text_len and attachments takes on the wire, at most: the
 * WebSocket frame header or the polling separator, the "4" or "b", base64 on polling. */
static size_t wire_size(size_t text_len, const uint32_t *lens, const wsio_span *bins, size_t nbins) {
  size_t n = text_len + 16;
  for (size_t i = 0; i < nbins; i++) n += (lens ? lens[i] : bins[i].n) / 3 * 4 + 4 + 16;
  return n;
}

static size_t entry_wire_size(const sio_log_entry *e) {
  return wire_size(e->text_len, (const uint32_t *)e->data, NULL, e->nbins);
}

/* sid: the public socket id, for the log (never the pid: it is what restores a session). */
static int catch_up_fits(wsio_sio *io, size_t bytes, const char *sid) {
  size_t budget = io->eio ? eio_send_budget(io->eio) : SIZE_MAX; /* (unit tests: none) */
  if (bytes <= budget) return 1;
  io->st.recovery_too_large_total++;
  app_log(io->app, WSIO_LOG_INFO,
          "socket %s not recovered: its %zu bytes of missed packets would not fit the send buffer (%zu)", sid,
          bytes, budget);
  return 0;
}

static void entry_send(const sio_log_entry *e, wsio_sio_socket *s) {
  const uint32_t *lens = (const uint32_t *)e->data;
  const unsigned char *p = e->data + e->nbins * sizeof(uint32_t);
  for (uint32_t i = 0; i < e->nrooms + e->nexcept; i++) p += strlen((const char *)p) + 1;
  const char *text = (const char *)p;
  p += e->text_len;
  wsio_span bins[16], *bv = e->nbins ? bins : NULL;
  if (e->nbins > 16 && !(bv = malloc(e->nbins * sizeof(*bv)))) return;
  for (uint32_t i = 0; i < e->nbins; i++) {
    bv[i] = (wsio_span){p, lens[i]};
    p += lens[i];
  }
  (void)sio_send_packet(s, text, e->text_len, bv, e->nbins);
  if (bv != bins) free(bv);
}

/* ---- sessions -------------------------------------------------------------------- */

static void session_unlink(wsio_sio *io, sio_session *sess) {
  if (sess->prev) sess->prev->next = sess->next;
  else io->sess_head = sess->next;
  if (sess->next) sess->next->prev = sess->prev;
  else io->sess_tail = sess->prev;
  map_del(&io->sessions, sess->pid, SIO_ID_LEN);
}

void sio_session_drop(wsio_sio *io, sio_session *sess) {
  session_unlink(io, sess);
  free(sess->data);
  free(sess);
}

void sio_session_persist(wsio_sio_socket *s) {
  wsio_sio *io = s->nsp->io;
  const char *pid = sio_socket_pid(s);
  if (!pid) return;
  size_t size = 0;
  for (uint32_t i = 0; i < s->nrooms; i++) size += s->rooms[i].r->name_len + 1;
  sio_session *sess = calloc(1, sizeof(*sess) + size);
  if (!sess) return;
  sess->nsp = s->nsp;
  sess->at = sio_now(io);
  memcpy(sess->pid, pid, SIO_ID_LEN + 1);
  memcpy(sess->sid, s->id, SIO_ID_LEN + 1);
  char *w = sess->rooms;
  for (uint32_t i = 0; i < s->nrooms; i++) {
    memcpy(w, s->rooms[i].r->name, s->rooms[i].r->name_len + 1);
    w += s->rooms[i].r->name_len + 1;
  }
  sess->nrooms = s->nrooms;
  /* A pid seen again (recovered, then lost again) replaces its older session. */
  sio_session *old = map_get(&io->sessions, sess->pid, SIO_ID_LEN);
  if (old) sio_session_drop(io, old);
  /* A copy: the disconnect callback still sees the socket's data. */
  const sio_sock_extra *x = s->x; /* (non-NULL: it holds the pid) */
  if (x->data && !(sess->data = malloc(x->data_len + 1))) {
    free(sess);
    return;
  }
  if (x->data) memcpy(sess->data, x->data, x->data_len + 1);
  sess->data_len = x->data_len;
  if (map_put(&io->sessions, sess->pid, SIO_ID_LEN, sess) != 0) {
    free(sess->data);
    free(sess);
    return;
  }
  sess->prev = io->sess_tail;
  if (io->sess_tail) io->sess_tail->next = sess;
  else io->sess_head = sess;
  io->sess_tail = sess;
  sio_recovery_arm(io);
}

int sio_session_find(wsio_sio_nsp *nsp, const char *auth, size_t auth_len, sio_restore *out) {
  wsio_sio *io = nsp->io;
  char pid[SIO_ID_LEN + 1], offset[24];
  if (!io->o.recovery || !auth) return -1;
  if (object_string(auth, auth_len, "pid", pid, sizeof(pid)) != 0) return -1;
  if (object_string(auth, auth_len, "offset", offset, sizeof(offset)) != 0) return -1;
  sio_session *sess = map_get(&io->sessions, pid, strlen(pid));
  if (!sess || sess->nsp != nsp) return -1;
  if (sess->at + io->o.recovery_max_disconnection_ms < sio_now(io)) {
    sio_session_drop(io, sess);
    return -1;
  }
  uint64_t num;
  long at;
  if (parse_offset(offset, &num) != 0 || (at = log_find(nsp->log, num)) < 0) return -1;
  size_t bytes = 0;
  for (size_t i = (size_t)at + 1; i < nsp->log->n; i++) {
    const sio_log_entry *e = log_at(nsp->log, i);
    if (entry_selects_session(e, sess)) bytes += entry_wire_size(e);
  }
  if (!catch_up_fits(io, bytes, sess->sid)) return -1;
  out->sess = sess;
  out->offset = num;
  return 0;
}

int sio_session_apply(wsio_sio_socket *s, const sio_restore *r) {
  sio_session *sess = r->sess;
  wsio_sio *io = s->nsp->io;
  /* The restored id must not collide with a live socket (a client restoring twice). */
  if (idmap_get(&s->nsp->sockets, sess->sid, SIO_ID_LEN)) return -1;
  if (!sio_socket_extra(s)) return -1;
  memcpy(s->id, sess->sid, SIO_ID_LEN + 1);
  memcpy(s->x->pid, sess->pid, SIO_ID_LEN + 1);
  const char *name = sess->rooms;
  for (uint32_t i = 0; i < sess->nrooms; i++) {
    size_t len = strlen(name);
    (void)sio_room_join(s, name, len);
    name += len + 1;
  }
  free(s->x->data);
  s->x->data = sess->data;
  s->x->data_len = sess->data_len;
  sess->data = NULL;
  s->recovered = 1;
  sio_session_drop(io, sess);
  return 0;
}

void sio_session_replay(wsio_sio_socket *s, uint64_t after_offset) {
  sio_log *l = s->nsp->log;
  long at = log_find(l, after_offset);
  if (at < 0) return;
  for (size_t i = (size_t)at + 1; i < l->n && sio_socket_live(s); i++) {
    const sio_log_entry *e = log_at(l, i);
    if (entry_selects(e, s)) entry_send(e, s);
  }
}

/* ---- moving a session to another thread (--threads) ------------------------------ */

/* The format is private to this file (both ends are this process): sid, pid, data
 * (length, 0xFFFFFFFF for none), rooms (count, then NUL-terminated names), then the
 * packets to replay (count; each its text and attachments). Integers are host order. */
static void put32(byte_buf *b, uint32_t v, int *err) {
  if (!*err && byte_buf_append(b, &v, 4) < 0) *err = 1;
}
static void put(byte_buf *b, const void *p, size_t n, int *err) {
  if (!*err && byte_buf_append(b, p, n) < 0) *err = 1;
}

static void entry_export(const sio_log_entry *e, byte_buf *b, int *err) {
  const uint32_t *lens = (const uint32_t *)e->data;
  const unsigned char *p = e->data + e->nbins * sizeof(uint32_t);
  for (uint32_t i = 0; i < e->nrooms + e->nexcept; i++) p += strlen((const char *)p) + 1;
  put32(b, e->text_len, err);
  put(b, p, e->text_len, err);
  p += e->text_len;
  put32(b, e->nbins, err);
  for (uint32_t i = 0; i < e->nbins; i++) {
    put32(b, lens[i], err);
    put(b, p, lens[i], err);
    p += lens[i];
  }
}

int sio_session_export(wsio_sio_nsp *nsp, const char *auth, size_t auth_len, byte_buf *out) {
  sio_restore r;
  if (sio_session_find(nsp, auth, auth_len, &r) != 0) return -1;
  sio_session *sess = r.sess;
  int err = 0;
  put(out, sess->sid, SIO_ID_LEN, &err);
  put(out, sess->pid, SIO_ID_LEN, &err);
  put32(out, sess->data ? sess->data_len : UINT32_MAX, &err);
  if (sess->data) put(out, sess->data, sess->data_len, &err);
  size_t rl = 0;
  for (uint32_t i = 0; i < sess->nrooms; i++) rl += strlen(sess->rooms + rl) + 1;
  put32(out, sess->nrooms, &err);
  put(out, sess->rooms, rl, &err);
  size_t count_at = out->len;
  put32(out, 0, &err);
  uint32_t count = 0;
  sio_log *l = nsp->log;
  long at = log_find(l, r.offset);
  for (size_t i = (size_t)at + 1; at >= 0 && i < l->n; i++) {
    const sio_log_entry *e = log_at(l, i);
    if (!entry_selects_session(e, sess)) continue;
    entry_export(e, out, &err);
    count++;
  }
  if (err) return -1; /* kept here: the client gets a new session, as without threads */
  memcpy(out->p + count_at, &count, 4);
  sio_session_drop(nsp->io, sess);
  return 0;
}

typedef struct {
  const uint8_t *p;
  size_t n, off;
  int err;
} blob;

static const uint8_t *take(blob *b, size_t n) {
  if (b->err || b->n - b->off < n) {
    b->err = 1;
    return NULL;
  }
  const uint8_t *p = b->p + b->off;
  b->off += n;
  return p;
}
static uint32_t take32(blob *b) {
  const uint8_t *p = take(b, 4);
  uint32_t v = 0;
  if (p) memcpy(&v, p, 4);
  return v;
}

int sio_session_import(wsio_sio_socket *s, const uint8_t *p, size_t n) {
  blob b = {p, n, 0, 0};
  const uint8_t *sid = take(&b, SIO_ID_LEN), *pid = take(&b, SIO_ID_LEN);
  uint32_t dl = take32(&b);
  const uint8_t *data = dl == UINT32_MAX ? NULL : take(&b, dl);
  uint32_t nrooms = take32(&b);
  if (b.err || idmap_get(&s->nsp->sockets, (const char *)sid, SIO_ID_LEN)) return -1;
  char *d = NULL;
  if (data && !(d = malloc((size_t)dl + 1))) return -1;
  if (d) {
    memcpy(d, data, dl);
    d[dl] = '\0';
  }
  sio_sock_extra *x = sio_socket_extra(s);
  if (!x) {
    free(d);
    return -1;
  }
  memcpy(s->id, sid, SIO_ID_LEN);
  s->id[SIO_ID_LEN] = '\0';
  if (x->pid[0]) {
    memcpy(x->pid, pid, SIO_ID_LEN);
    x->pid[SIO_ID_LEN] = '\0';
  }
  free(x->data);
  x->data = d;
  x->data_len = d ? dl : 0;
  for (uint32_t i = 0; i < nrooms && !b.err; i++) {
    const char *name = (const char *)b.p + b.off;
    size_t len = strnlen(name, b.n - b.off);
    if (!take(&b, len + 1)) break;
    (void)sio_room_join(s, name, len);
  }
  s->recovered = 1;
  /* The missed packets go before the CONNECT reply, as a local restore sends them. */
  uint32_t count = take32(&b);
  for (uint32_t i = 0; i < count && !b.err; i++) {
    uint32_t tl = take32(&b);
    const char *text = (const char *)take(&b, tl);
    uint32_t nb = take32(&b);
    wsio_span bins[16], *bv = bins;
    if (nb > 16 && !(bv = malloc(nb * sizeof(*bv)))) return 0;
    for (uint32_t k = 0; k < nb && !b.err; k++) {
      uint32_t bl = take32(&b);
      bv[k] = (wsio_span){take(&b, bl), bl};
    }
    if (!b.err) (void)sio_send_packet(s, text, tl, bv, nb);
    if (bv != bins) free(bv);
  }
  return 0;
}

/* ---- expiry ---------------------------------------------------------------------- */

/* Expiry needs no precision (Node checks a session's age when it is restored, which
 * sio_session_find does too): one loop timer, every second while sessions or logged
 * packets exist, drops what has expired from the heads of the time-ordered lists. */
void sio_recovery_arm(wsio_sio *io) {
  if (!loop_timer_active(&io->recovery_timer)) (void)loop_timer_start(io->loop, &io->recovery_timer, 1000, 1000);
}

void sio_recovery_housekeeping(wsio_sio *io) {
  uint64_t now = sio_now(io), max = io->o.recovery_max_disconnection_ms;
  while (io->sess_head && io->sess_head->at + max < now) sio_session_drop(io, io->sess_head);
  int left = io->sess_head != NULL;
  uint32_t it = 0;
  void *v;
  while (map_next(&io->nsps, &it, NULL, NULL, &v)) {
    sio_log *l = ((wsio_sio_nsp *)v)->log;
    while (l && l->n && log_at(l, 0)->at + max < now) log_drop_oldest(l);
    if (l && l->n) left = 1;
  }
  if (!left) loop_timer_stop(io->loop, &io->recovery_timer);
}

void sio_recovery_timer_cb(loop_timer *t) {
  sio_recovery_housekeeping((wsio_sio *)((char *)t - offsetof(wsio_sio, recovery_timer)));
}

void sio_recovery_free(wsio_sio *io) {
  while (io->sess_head) sio_session_drop(io, io->sess_head);
  map_free(&io->sessions);
}

/* ---- recovery kept by the cluster adapter (sio/adapter.h persist/restore_session) -- */

/* Node's Socket: adapter.persistSession({sid, pid, rooms: [...socket.rooms], data}). */
void sio_session_persist_cluster(wsio_sio_socket *s) {
  wsio_sio *io = s->nsp->io;
  const char *pid = sio_socket_pid(s);
  if (!pid) return;
  const char *stack[16], **rooms = stack;
  size_t n = (size_t)s->nrooms + 1;
  if (n > 16 && !(rooms = malloc(n * sizeof(*rooms)))) return;
  rooms[0] = s->id; /* the id room first, as Node's Set */
  for (uint32_t i = 0; i < s->nrooms; i++) rooms[i + 1] = s->rooms[i].r->name;
  sio_session_state st = {s->id, pid, rooms, n, s->x->data, s->x->data_len};
  io->adapter->ops->persist_session(io->adapter, s->nsp, &st, (unsigned)io->o.recovery_max_disconnection_ms);
  if (rooms != stack) free(rooms);
}

/* The pid and offset of a CONNECT's auth object; 0 when both are there. */
int sio_session_auth(const char *auth, size_t auth_len, char pid[SIO_ID_LEN + 1], char offset[64]) {
  if (!auth) return -1;
  if (object_string(auth, auth_len, "pid", pid, SIO_ID_LEN + 1) != 0) return -1;
  return object_string(auth, auth_len, "offset", offset, 64);
}

int sio_session_adopt(wsio_sio_socket *s, const sio_restored *r) {
  const sio_session_state *st = &r->st;
  wsio_sio_nsp *nsp = s->nsp;
  if (!st->sid || strlen(st->sid) != SIO_ID_LEN || !st->pid || strlen(st->pid) != SIO_ID_LEN || !sio_socket_pid(s)) return -1;
  if (idmap_get(&nsp->sockets, st->sid, SIO_ID_LEN)) return -1; /* a client restoring twice */
  size_t bytes = 0;
  for (size_t i = 0; i < r->nmissed; i++) {
    const sio_event *ev = &r->missed[i];
    bytes += wire_size(strlen(ev->name) + ev->len + 64, NULL, ev->bins, ev->nbins);
  }
  if (!catch_up_fits(s->nsp->io, bytes, st->sid)) return -1;
  sio_log_entry **missed = r->nmissed ? calloc(r->nmissed, sizeof(*missed)) : NULL;
  if (r->nmissed && !missed) return -1;
  wsio_sio_target none = {.nsp = nsp};
  size_t n = 0;
  for (size_t i = 0; i < r->nmissed; i++) {
    const sio_event *ev = &r->missed[i];
    sbuf b = {0};
    if (sio_encode_event(&b, nsp, ev->name, ev->json, ev->len, ev->nbins, -1, ev->offset) == 0 &&
        (missed[n] = entry_new(0, 0, &none, b.p, b.n, ev->bins, ev->nbins)) != NULL)
      n++;
    sbuf_free(&b);
  }
  char *data = NULL;
  if (st->data && st->data_len && !(data = malloc(st->data_len + 1))) {
    for (size_t i = 0; i < n; i++) free(missed[i]);
    free(missed);
    return -1;
  }
  if (data) {
    memcpy(data, st->data, st->data_len);
    data[st->data_len] = '\0';
  }
  sio_sock_extra *x = s->x; /* there: it holds the pid */
  memcpy(s->id, st->sid, SIO_ID_LEN + 1);
  memcpy(x->pid, st->pid, SIO_ID_LEN + 1);
  for (size_t i = 0; i < st->nrooms; i++)
    if (strcmp(st->rooms[i], s->id) != 0) (void)sio_room_join(s, st->rooms[i], strlen(st->rooms[i]));
  free(x->data);
  x->data = data;
  x->data_len = data ? (uint32_t)st->data_len : 0;
  s->recovered = 1;
  x->missed = (void **)missed;
  x->nmissed = (uint32_t)n;
  return 0;
}

/* Sends what sio_session_adopt kept (before the CONNECT reply, as Node), or frees it. */
void sio_session_missed_flush(wsio_sio_socket *s, int send) {
  if (!s->x) return;
  sio_log_entry **missed = (sio_log_entry **)s->x->missed;
  for (uint32_t i = 0; i < s->x->nmissed; i++) {
    if (send && sio_socket_live(s)) entry_send(missed[i], s);
    free(missed[i]);
  }
  free(missed);
  s->x->missed = NULL;
  s->x->nmissed = 0;
}
