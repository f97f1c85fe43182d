/* core/pubsub.c — topics: subscriptions and batched fan-out of published messages.
 *
 * A publish frames the message once and appends the frame to the topic's pending
 * buffer. The buffer is written to every subscriber when the loop finishes the
 * current batch of events (or earlier, before anything else is written to one of the
 * subscribers, to keep each connection's byte order). A subscriber receiving several
 * publishes in one iteration therefore gets them in a single send(2), and the bytes
 * are shared: a subscriber gets its own copy only of what its kernel buffer refused.
 *
 * permessage-deflate: subscribers that negotiated it get the pending frames compressed
 * once per window size (core_frames_for: context-free, so the same bytes are valid on
 * every connection with that window); everyone else gets the uncompressed frames.
 *
 * Subscriptions are indexed both ways (topic -> subscribers, connection -> topics) so
 * that unsubscribing, and dropping a closed connection, costs O(its topics). */
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/threads.h"
#include "util/buf.h"
#include "util/map.h"

static topic *topic_find(const wsio_app *app, const char *name) { return map_get(&app->topics, name, strlen(name)); }

static topic *topic_get(wsio_app *app, const char *name) {
  topic *t = topic_find(app, name);
  if (t) return t;
  t = core_calloc(1, sizeof(*t));
  if (!t || !(t->name = core_strdup(name)) || map_put(&app->topics, t->name, strlen(t->name), t) < 0) {
    if (t) free(t->name);
    free(t);
    return NULL;
  }
  return t;
}

static void topic_release(topic *t) {
  free(t->name);
  free(t->subs);
  core_frames_free(&t->pending);
  free(t);
}

static void topic_free(wsio_app *app, topic *t) {
  map_del(&app->topics, t->name, strlen(t->name));
  topic_release(t);
}

/* deflate_per_connection_broadcast: each message through c's own compressor. */
static void pubsub_send_each(wsio_app *app, wsio_conn *c, core_frames *f) {
  size_t cap = app->o.max_backpressure;
  if (cap && net_buffered(&c->net) >= cap) {
    app->st.dropped_backpressure_total += f->nframes;
    ws_close_missed(c, 0);
    return;
  }
  int r = core_frames_send_each(c, f);
  if (r < 0) { /* a frame of the batch refused (the cap reached within it, or memory) */
    ws_close_missed(c, r != WSIO_EDROPPED);
    return;
  }
  app->st.deliveries_total += f->nframes;
}

/* Writes the topic's pending frames to every subscriber. */
static void topic_flush(wsio_app *app, topic *t) {
  size_t cap = app->o.max_backpressure;
  /* The frames go once into the iteration's shared output buffer and every
   * subscriber is owed them: one batched send for all in the post phase. */
  for (uint32_t i = 0; i < t->n; i++) {
    wsio_conn *c = t->subs[i].c;
    if (c->state != CONN_WS) continue;
    if ((c->dfl & DFL_ON) && app->o.deflate_per_connection_broadcast) {
      pubsub_send_each(app, c, &t->pending);
      continue;
    }
    int z = 0;
    core_frames *f = core_frames_for(c, &t->pending, &z);
    if (!f) { /* out of memory for the compressed copy */
      app->st.dropped_backpressure_total += t->pending.nframes;
      ws_close_missed(c, 1);
      continue;
    }
    if (cap && net_buffered(&c->net) >= cap) {
      app->st.dropped_backpressure_total += f->nframes;
      ws_close_missed(c, 0);
      continue;
    }
    if (core_frames_write(&c->net, f) < 0) continue;
    /* The peer's window now holds bytes our own compressor for c did not produce. */
    if (z) ws_conn_deflate_forget(c);
    app->st.deliveries_total += f->nframes;
    app->st.messages_out_total += f->nframes;
    app->st.bytes_out_total += f->len;
  }
  core_frames_reset(&t->pending, NET_SHARED_FLUSH_AT * 2);
}

/* The dirty list is FIFO so that topics are flushed in the order of their first
 * publish in the iteration. */
static void dirty_unlink(wsio_app *app, topic *t) {
  topic *prev = NULL;
  for (topic **pp = &app->dirty; *pp; prev = *pp, pp = &(*pp)->dirty_next) {
    if (*pp == t) {
      *pp = t->dirty_next;
      if (app->dirty_tail == t) app->dirty_tail = prev;
      break;
    }
  }
  t->dirty = 0;
  t->dirty_next = NULL;
}

void pubsub_flush_all(wsio_app *app) {
  while (app->dirty) {
    topic *t = app->dirty;
    dirty_unlink(app, t);
    topic_flush(app, t);
    if (!t->n) topic_free(app, t);
  }
}

static void flush_one(wsio_app *app, topic *t) {
  if (!t->dirty) return;
  dirty_unlink(app, t);
  topic_flush(app, t);
}

static void sub_remove(wsio_app *app, wsio_conn *c, uint32_t ci) {
  topic *t = c->subs->v[ci].t;
  uint32_t ti = c->subs->v[ci].idx;
  /* swap-remove from the topic, fixing the moved subscriber's back-index */
  t->subs[ti] = t->subs[--t->n];
  if (ti < t->n) t->subs[ti].c->subs->v[t->subs[ti].slot].idx = ti;
  /* swap-remove from the connection */
  conn_subs *cs = c->subs;
  cs->v[ci] = cs->v[--cs->n];
  if (ci < cs->n) {
    topic *mt = cs->v[ci].t;
    mt->subs[cs->v[ci].idx].slot = ci;
  }
  if (!t->n && !t->dirty) topic_free(app, t);
}

static int sub_index(const wsio_conn *c, const char *name) {
  const conn_subs *cs = c->subs;
  for (uint32_t i = 0; cs && i < cs->n; i++)
    if (strcmp(cs->v[i].t->name, name) == 0) return (int)i;
  return -1;
}

int wsio_conn_subscribe(wsio_conn *c, const char *name) {
  if (!c || !name) return WSIO_EINVAL;
  wsio_app *app = c->app;
  if (c->state != CONN_WS && c->state != CONN_WS_CLOSING) return WSIO_ECLOSED;
  if (sub_index(c, name) >= 0) return 0;
  topic *t = topic_get(app, name);
  if (!t) return WSIO_ENOMEM;
  flush_one(app, t); /* earlier publishes are not for this new subscriber */
  uint32_t cn = c->subs ? c->subs->n : 0, ccap = c->subs ? c->subs->cap : 0;
  if (cn == ccap) {
    uint32_t cap = (uint32_t)grow_cap(ccap, (size_t)cn + 1, 2, UINT32_MAX / sizeof(conn_sub) - 1);
    conn_subs *s = cap ? core_realloc(c->subs, sizeof(*s) + cap * sizeof(conn_sub)) : NULL;
    if (!s) goto oom;
    s->n = cn;
    s->cap = cap;
    c->subs = s;
  }
  if (t->n == t->cap) {
    uint32_t cap = (uint32_t)grow_cap(t->cap, (size_t)t->n + 1, 8, UINT32_MAX);
    void *s = cap ? core_realloc(t->subs, cap * sizeof(*t->subs)) : NULL;
    if (!s) goto oom;
    t->subs = s;
    t->cap = cap;
  }
  t->subs[t->n].c = c;
  t->subs[t->n].slot = cn;
  c->subs->v[cn].t = t;
  c->subs->v[cn].idx = t->n;
  t->n++;
  c->subs->n++;
  return 0;
oom:
  if (!t->n) topic_free(app, t);
  return WSIO_ENOMEM;
}

int wsio_conn_unsubscribe(wsio_conn *c, const char *name) {
  if (!c || !name) return WSIO_EINVAL;
  int i = sub_index(c, name);
  if (i < 0) return 0;
  flush_one(c->app, c->subs->v[i].t); /* what was published while subscribed is delivered */
  sub_remove(c->app, c, (uint32_t)i);
  return 1;
}

int wsio_conn_is_subscribed(const wsio_conn *c, const char *name) { return c && name && sub_index(c, name) >= 0; }

void pubsub_conn_drop(wsio_conn *c) {
  while (c->subs && c->subs->n) sub_remove(c->app, c, c->subs->n - 1);
  free(c->subs);
  c->subs = NULL;
}

int wsio_app_publish(wsio_app *app, const char *name, const void *data, size_t len, wsio_opcode op) {
  int n = pubsub_publish_local(app, name, data, len, op, 1);
  /* --threads: the subscribers of the other threads get it after this iteration. */
  if (n >= 0 && app->group && threads_publish(app, name, data, len, op) < 0) return WSIO_ENOMEM;
  return n;
}

int pubsub_publish_local(wsio_app *app, const char *name, const void *data, size_t len, wsio_opcode op,
                         int count) {
  if (!app || !name || (!data && len) || (op != WSIO_OP_TEXT && op != WSIO_OP_BINARY)) return WSIO_EINVAL;
  if (app->o.max_backpressure && len > app->o.max_backpressure) return WSIO_ETOOBIG; /* as wsio_conn_send */
  topic *t = topic_find(app, name);
  if (!t || !t->n) return 0;
  if (core_frames_add(&t->pending, op, NULL, 0, data, len) < 0) return WSIO_ENOMEM;
  if (count) app->st.publishes_total++;
  if (!t->dirty) {
    t->dirty = 1;
    if (app->dirty_tail) app->dirty_tail->dirty_next = t;
    else app->dirty = t;
    app->dirty_tail = t;
  }
  int n = (int)t->n;
  if (t->pending.len >= NET_SHARED_FLUSH_AT) flush_one(app, t);
  return n;
}

size_t wsio_app_num_subscribers(const wsio_app *app, const char *name) {
  if (!app || !name) return 0;
  topic *t = topic_find(app, name);
  return t ? t->n : 0;
}

void pubsub_free_all(wsio_app *app) {
  uint32_t it = 0;
  void *v;
  while (map_next(&app->topics, &it, NULL, NULL, &v)) topic_release(v);
  map_free(&app->topics);
  app->dirty = app->dirty_tail = NULL;
  core_zshared_free(app);
}
