/* adapter/conn.c — Redis connections of the cluster adapter on wsio's own net layer.
 *
 * Owns: each connection's lifecycle (connect, AUTH/SELECT, reconnection with backoff),
 * its RESP stream (hiredis' reader and command formatter only: hiredis' own networking
 * is never used), the replies awaited in order on a command connection, the publish
 * path with its backlog bound, and, for the sharded adapter on a Redis Cluster, the
 * topology (CLUSTER SLOTS: one publish and one subscribe connection per master, each
 * command routed to its channel's slot master).
 * rediss://: each connection speaks TLS through net (net/tls.h's client role), the
 * server's certificate checked against the host it was asked for; a connection counts
 * as made only once its handshake is through (a PING answered), so a certificate that
 * fails is a connection that failed: logged, retried with backoff. Each connection
 * made (a reconnection too) first has ra_tls_refresh look whether the CA, client
 * certificate or key file changed since loaded (a renewal), so the next handshake
 * presents the new certificate.
 * Must not know the adapter's messages: a message received goes to ra_on_message. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/internal.h"
#include "net/tls.h"

static void conn_schedule_retry(rconn *c);
static void topology_refresh(redis_adapter *ra);

void ra_log(redis_adapter *ra, int level, const char *fmt, ...) {
  if (!ra->log) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  ra->log(level, buf, ra->log_user);
}

/* uid2's alphabet. */
void ra_make_id(char out[8]) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  uint8_t b[6];
  random_bytes(b, sizeof(b));
  for (int i = 0; i < 6; i++) out[i] = abc[b[i] % 62];
  out[6] = '\0';
}

/* Up: able to publish and subscribed. On a Redis Cluster: the topology is known (each
 * command then needs its own master's connection, see route()). */
int ra_is_up(const redis_adapter *ra) {
  if (ra->cluster) return ra->slots_known;
  return ra->pub.state == RC_READY && ra->sub.state == RC_READY && (!ra->sharded || ra->slots_known);
}

/* The connection a command on this channel must use: the slot's master on a cluster. */
rconn *ra_route(redis_adapter *ra, const char *channel, int sub) {
  unsigned i = ra->cluster ? ra->slot_node[codec_key_slot(channel, strlen(channel))] : 0;
  if (i == 0 || i > ra->nnodes) return sub ? &ra->sub : &ra->pub;
  return sub ? &ra->nodes[i - 1]->sub : &ra->nodes[i - 1]->pub;
}

/* ---- connections -------------------------------------------------------------------- */


/* Writes one command (binary-safe arguments). Queues its reply handler on the pub
 * connection. Returns 0 or -1 (not connected, out of memory: the command is dropped). */
int ra_conn_command(rconn *c, int argc, const char **argv, const size_t *lens, reply_fn fn, uint32_t arg) {
  if (c->state != RC_READY || !c->linked) return -1;
  if (!c->is_sub) {
    if (c->qlen == c->qcap) {
      size_t ncap = c->qcap ? c->qcap * 2 : 16;
      pending_reply *nq = malloc(ncap * sizeof(*nq));
      if (!nq) return -1;
      for (size_t i = 0; i < c->qlen; i++) nq[i] = c->q[(c->qhead + i) % c->qcap];
      free(c->q);
      c->q = nq;
      c->qhead = 0;
      c->qcap = ncap;
    }
  }
  char *cmd = NULL;
  int n = redisFormatCommandArgv(&cmd, argc, argv, lens);
  if (n < 0) return -1;
  int r = net_write(&c->net, cmd, (size_t)n);
  redisFreeCommand(cmd);
  if (r < 0) return -1;
  if (!c->is_sub) c->q[(c->qhead + c->qlen++) % c->qcap] = (pending_reply){fn, arg};
  redis_adapter *ra = c->ra;
  if (!loop_timer_active(&ra->flush_timer)) (void)loop_timer_start(ra->loop, &ra->flush_timer, 0, 0);
  return 0;
}

/* Fails every awaited reply (the connection is gone). */
static void conn_fail_pending(rconn *c) {
  while (c->qlen) {
    pending_reply p = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    if (p.fn) p.fn(c->ra, NULL, p.arg);
  }
}

/* level: of the "cannot connect" line (an error where only a configuration change
 * helps, as a certificate that fails its check). */
static void conn_down_as(rconn *c, const char *why, int level) {
  redis_adapter *ra = c->ra;
  int was_ready = c->state == RC_READY;
  if (c->state == RC_IDLE) return;
  c->state = RC_IDLE;
  loop_timer_stop(ra->loop, &c->retry); /* a TLS handshake's timeout */
  if (c->linked) net_close(&c->net); /* released by the retry timer, outside net's callbacks */
  if (was_ready)
    ra_log(ra, WSIO_LOG_WARN, "redis: %s connection lost (%s); retrying",
           c->is_sub ? "subscribe" : c == &ra->xr ? "stream" : "publish", why);
  else if (c->failures++ == 0) ra_log(ra, level, "redis: cannot connect (%s); retrying with backoff", why);
  if (c != &ra->xr) ra->st.up = 0;
  conn_fail_pending(c);
  conn_schedule_retry(c);
}

static void conn_down(rconn *c, const char *why) { conn_down_as(c, why, WSIO_LOG_WARN); }


static void on_handshake_reply(redis_adapter *ra, redisReply *r, uint32_t arg) {
  if (r && r->type == REDIS_REPLY_ERROR) {
    ra_log(ra, WSIO_LOG_ERROR, "redis: %s refused: %.*s", arg ? "SELECT" : "AUTH", (int)r->len, r->str);
    conn_down(&ra->pub, "refused");
  }
}


static void conn_ready(rconn *c);

static void tls_timeout(loop_timer *t) {
  conn_down((rconn *)((char *)t - offsetof(rconn, retry)), "TLS handshake timed out");
}

static void on_connected(net_conn *nc, int err) {
  rconn *c = (rconn *)nc;
  redis_adapter *ra = c->ra;
  if (err) {
    conn_down(c, strerror(-err));
    return;
  }
  if (!ra->tls_ctx) {
    conn_ready(c);
    return;
  }
  /* Redis says nothing unasked: a PING's answer is the first sign that the handshake
   * (certificate check included) went through. Until then nothing else is written. */
  static const char ping[] = "*1\r\n$4\r\nPING\r\n";
  ra_tls_refresh(ra);
  struct ssl_st *s = net_tls_client_session(ra->tls_ctx, c->tls_host);
  if (!s) {
    conn_down(c, "out of memory for the TLS session");
    return;
  }
  net_conn_start_tls(&c->net, s);
  c->state = RC_TLS;
  if (net_write(&c->net, ping, sizeof(ping) - 1) < 0) {
    conn_down(c, net_tls_error(s)[0] ? net_tls_error(s) : "cannot write");
    return;
  }
  c->retry.cb = tls_timeout;
  (void)loop_timer_start(ra->loop, &c->retry, RA_CONNECT_TIMEOUT_MS, 0);
  if (!loop_timer_active(&ra->flush_timer)) (void)loop_timer_start(ra->loop, &ra->flush_timer, 0, 0);
}

/* Connected (and, over TLS, the handshake through): AUTH, SELECT, subscriptions. */
static void conn_ready(rconn *c) {
  redis_adapter *ra = c->ra;
  c->state = RC_READY;
  if (c->ever_ready) ra->st.reconnects++;
  c->ever_ready = 1;
  c->failures = 0;
  c->backoff_ms = 0;
  if (ra->password) {
    const char *a[] = {"AUTH", ra->user ? ra->user : ra->password, ra->password};
    size_t l[] = {4, strlen(a[1]), strlen(ra->password)};
    ra_conn_command(c, ra->user ? 3 : 2, a, l, c->is_sub ? NULL : on_handshake_reply, 0);
  }
  if (!c->is_sub && ra->db && !ra->cluster) {
    char db[16];
    snprintf(db, sizeof(db), "%d", ra->db);
    const char *a[] = {"SELECT", db};
    size_t l[] = {6, strlen(db)};
    ra_conn_command(c, 2, a, l, on_handshake_reply, 1);
  }
  if (ra->sharded && !c->is_sub && (c == &ra->pub || ra->cluster)) topology_refresh(ra);
  if (c->is_sub && (!ra->sharded || ra->slots_known))
    for (rnsp *ns = ra->nsps; ns; ns = ns->next) ra_subscribe_nsp(ra, ns, c);
  if (c == &ra->xr) {
    ra_st_poll(ra);
    return;
  }
  if (ra_is_up(ra)) {
    ra->st.up = 1;
    ra_log(ra, WSIO_LOG_INFO, "redis: connected, node %s subscribed", ra->uid);
  }
}

void ra_conn_start(rconn *c) {
  redis_adapter *ra = c->ra;
  if (c->linked) {
    net_conn_release(&c->net);
    c->linked = 0;
  }
  if (c->reader) redisReaderFree(c->reader);
  c->reader = redisReaderCreate();
  memset(&c->net, 0, sizeof(c->net));
  c->qhead = c->qlen = 0;
  if (!c->reader) {
    conn_schedule_retry(c);
    return;
  }
  c->state = RC_CONNECTING;
  int r = net_connect(ra->ctx, &c->net, (struct sockaddr *)&c->addr, c->addr_len, RA_CONNECT_TIMEOUT_MS, on_connected);
  if (r < 0) {
    c->state = RC_CONNECTING; /* so conn_down reports and retries */
    conn_down(c, strerror(-r));
    return;
  }
  c->linked = 1;
}

static void retry_fired(loop_timer *t) {
  rconn *c = (rconn *)((char *)t - offsetof(rconn, retry));
  ra_conn_start(c);
}

static void conn_schedule_retry(rconn *c) {
  if (c->ra->destroyed) return;
  c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : RA_BACKOFF_MIN_MS;
  if (c->backoff_ms > RA_BACKOFF_MAX_MS) c->backoff_ms = RA_BACKOFF_MAX_MS;
  c->retry.cb = retry_fired;
  (void)loop_timer_start(c->ra->loop, &c->retry, c->backoff_ms, 0);
}


static void handle_reply(rconn *c, redisReply *r) {
  redis_adapter *ra = c->ra;
  if (c->is_sub) {
    if (r->type == REDIS_REPLY_ERROR) {
      ra_log(ra, WSIO_LOG_ERROR, "redis: subscribe connection: %.*s", (int)r->len, r->str);
      if (ra->sharded && (strncmp(r->str, "MOVED", 5) == 0 || strncmp(r->str, "ASK", 3) == 0)) topology_refresh(ra);
      return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING) return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "message") == 0) {
      ra->st.messages_in++;
      ra_on_message(ra, r->element[1]->str, r->element[1]->len, r->element[2]->str, r->element[2]->len, 0);
    } else if (strcmp(kind, "pmessage") == 0 && r->elements >= 4) {
      ra->st.messages_in++;
      ra_on_message(ra, r->element[2]->str, r->element[2]->len, r->element[3]->str, r->element[3]->len, 1);
    } else if (strcmp(kind, "smessage") == 0) { /* sharded pub/sub (Redis 7) */
      ra->st.messages_in++;
      ra_on_message(ra, r->element[1]->str, r->element[1]->len, r->element[2]->str, r->element[2]->len, 0);
    } else if (strcmp(kind, "sunsubscribe") == 0 && ra->cluster) {
      /* Unasked (a slot moved away, or its master changed): where is it now? Our own
       * SUNSUBSCRIBEs land here too: a refresh more, harmless. */
      topology_refresh(ra);
    }
    return;
  }
  if (r->type == REDIS_REPLY_ERROR && ra->sharded && (strncmp(r->str, "MOVED", 5) == 0 || strncmp(r->str, "ASK", 3) == 0))
    topology_refresh(ra); /* this command is lost (pub/sub is at-most-once anyway) */
  if (!c->qlen) return;
  pending_reply p = c->q[c->qhead];
  c->qhead = (c->qhead + 1) % c->qcap;
  c->qlen--;
  if (p.fn) p.fn(ra, r, p.arg);
}

void ra_on_data(net_conn *nc, uint8_t *p, size_t n) {
  rconn *c = (rconn *)nc;
  if (redisReaderFeed(c->reader, (const char *)p, n) != REDIS_OK) {
    conn_down(c, "bad reply stream");
    return;
  }
  for (;;) {
    void *reply = NULL;
    if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
      conn_down(c, "bad reply stream");
      return;
    }
    if (!reply) return;
    if (c->state == RC_TLS) { /* the PING's answer (PONG, or NOAUTH before AUTH) */
      freeReplyObject(reply);
      loop_timer_stop(c->ra->loop, &c->retry);
      conn_ready(c);
      if (c->state != RC_READY) return;
      continue;
    }
    handle_reply(c, reply);
    freeReplyObject(reply);
    if (c->state != RC_READY) return; /* a handler took it down */
  }
}

void ra_on_end(net_conn *nc, int err) {
  rconn *c = (rconn *)nc;
  if (err == -EPROTO && nc->tls && net_tls_error(nc->tls)[0]) {
    char why[512];
    int verify = net_tls_verify_failed(nc->tls), refused = net_tls_cert_refused(nc->tls);
    /* Refused: Redis (tls-auth-clients yes, its default) wants a certificate signed by
     * its tls-ca-cert-file and got none, or not such a one. */
    snprintf(why, sizeof(why), "%s; Redis at %s%s", net_tls_error(nc->tls), c->tls_host,
             verify                        ? ", see --redis-tls-ca"
             : !refused                    ? ""
             : c->ra->tls_files[1]         ? ", which refused this node's client certificate (--redis-tls-cert)"
                                           : ", which asks for a client certificate: see --redis-tls-cert and --redis-tls-key");
    conn_down_as(c, why, verify || refused ? WSIO_LOG_ERROR : WSIO_LOG_WARN);
    return;
  }
  conn_down(c, err ? strerror(-err) : "closed by Redis");
}

void ra_on_drain(net_conn *nc) { (void)nc; }

net_conn *ra_on_accept(net_ctx *ctx, void *user) {
  (void)ctx;
  (void)user;
  return NULL;
}

/* Writes queued on the adapter's context go out in the app's post phase, or on the
 * next iteration's timers when they were queued after it. */
void ra_post(void *arg) {
  redis_adapter *ra = arg;
  if (ra->destroyed) return;
  net_read_queued(ra->ctx);
  net_flush_queued(ra->ctx);
  loop_timer_stop(ra->loop, &ra->flush_timer);
}

void ra_flush_fired(loop_timer *t) {
  redis_adapter *ra = (redis_adapter *)((char *)t - offsetof(redis_adapter, flush_timer));
  net_flush_queued(ra->ctx);
}

int ra_publish(redis_adapter *ra, const char *channel, const char *msg, size_t len) {
  rconn *c = ra_route(ra, channel, 0);
  if (!ra_is_up(ra) || c->state != RC_READY) {
    ra->st.messages_dropped++;
    return -1;
  }
  if (net_buffered(&c->net) > RA_MAX_BACKLOG) {
    ra->st.messages_dropped++;
    return -1;
  }
  const char *a[] = {ra->sharded ? "SPUBLISH" : "PUBLISH", channel, msg};
  size_t l[] = {ra->sharded ? 8u : 7u, strlen(channel), len};
  int r = ra_conn_command(c, 3, a, l, NULL, 0);
  if (r == 0) ra->st.messages_out++;
  return r;
}

/* ---- sharded on a Redis Cluster: the topology ---- */

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
  return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* The node index (0: the seed) of a master named by CLUSTER SLOTS; a new one is added
 * and connected. Returns -1 (not a numeric address, too many nodes, out of memory). */
static int node_index(redis_adapter *ra, const char *ip, long port, const char *name) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  socklen_t len;
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (port <= 0 || port > 65535) return -1;
  if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    len = sizeof(*in4);
  } else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    len = sizeof(*in6);
  } else {
    return -1; /* CLUSTER SLOTS names masters by IP unless configured otherwise */
  }
  if (same_addr(&ss, &ra->pub.addr)) return 0;
  for (size_t i = 0; i < ra->nnodes; i++)
    if (same_addr(&ss, &ra->nodes[i]->pub.addr)) return (int)i + 1;
  if (ra->nnodes == RA_MAX_NODES) return -1;
  rnode *n = calloc(1, sizeof(*n));
  if (!n) return -1;
  n->pub.ra = n->sub.ra = ra;
  n->sub.is_sub = 1;
  n->pub.addr = n->sub.addr = ss;
  n->pub.addr_len = n->sub.addr_len = len;
  n->pub.retry.cb = n->sub.retry.cb = retry_fired;
  snprintf(n->host, sizeof(n->host), "%s", name && name[0] ? name : ip);
  n->pub.tls_host = n->sub.tls_host = n->host;
  ra->nodes[ra->nnodes++] = n;
  ra_conn_start(&n->pub);
  ra_conn_start(&n->sub);
  return (int)ra->nnodes;
}

/* Redis 7 adds to a node's entry [ip, port, id, {hostname: ...}] when the node
 * announces a name (cluster-announce-hostname; a flat array in RESP2): the name its
 * certificate carries. */
static const char *node_hostname(const redisReply *n) {
  if (n->elements < 4 || n->element[3]->type != REDIS_REPLY_ARRAY)
    return NULL;
  const redisReply *m = n->element[3];
  for (size_t i = 0; i + 1 < m->elements; i += 2)
    if (m->element[i]->type == REDIS_REPLY_STRING && strcmp(m->element[i]->str, "hostname") == 0 &&
        m->element[i + 1]->type == REDIS_REPLY_STRING)
      return m->element[i + 1]->str;
  return NULL;
}

/* CLUSTER SLOTS' answer: [[start, end, [ip, port, id], replicas...], ...]. An error
 * (cluster support disabled): one node, every slot. Then every ready subscribe
 * connection takes its channels (SSUBSCRIBE of a channel held already is a no-op). */
static void on_slots(redis_adapter *ra, redisReply *r, uint32_t arg) {
  (void)arg;
  ra->slots_pending = 0;
  if (!r) return; /* the master asked went away: asked again at the next connect or MOVED */
  if (r->type == REDIS_REPLY_ARRAY) {
    uint8_t map[RA_SLOTS];
    memset(map, 0, sizeof(map));
    for (size_t i = 0; i < r->elements; i++) {
      redisReply *e = r->element[i];
      if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[2]->type != REDIS_REPLY_ARRAY ||
          e->element[2]->elements < 2 || e->element[2]->element[0]->type != REDIS_REPLY_STRING)
        continue;
      long long lo = e->element[0]->integer, hi = e->element[1]->integer;
      int idx = node_index(ra, e->element[2]->element[0]->str, (long)e->element[2]->element[1]->integer,
                           node_hostname(e->element[2]));
      if (idx < 0 || lo < 0 || hi >= RA_SLOTS || lo > hi) continue;
      memset(map + lo, idx, (size_t)(hi - lo + 1));
    }
    memcpy(ra->slot_node, map, sizeof(map));
    if (!ra->cluster) ra_log(ra, WSIO_LOG_INFO, "redis: a Redis Cluster of %zu masters", ra->nnodes + 1);
    ra->cluster = 1;
  } else if (ra->slots_known && ra->cluster) {
    /* A master that cannot say now (loading, going away): the map we have stays. */
    ra_log(ra, WSIO_LOG_WARN, "redis: CLUSTER SLOTS refused: %.*s", r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
           r->type == REDIS_REPLY_ERROR ? r->str : "");
    return;
  } else {
    ra->cluster = 0;
  }
  ra->slots_known = 1;
  rconn *subs[RA_MAX_NODES + 1];
  size_t n = 0;
  subs[n++] = &ra->sub;
  for (size_t i = 0; i < ra->nnodes; i++) subs[n++] = &ra->nodes[i]->sub;
  for (size_t i = 0; i < n; i++)
    for (rnsp *ns = ra->nsps; ns; ns = ns->next) ra_sh_subscribe_nsp(ra, ns, subs[i]);
  if (ra->pub.state == RC_READY && ra->sub.state == RC_READY) ra->st.up = 1;
}

/* Asks for the slots (at the seed's connect, and after MOVED/ASK or a slot that moved
 * away), the seed first, else any master we reach; one question at a time. */
static void topology_refresh(redis_adapter *ra) {
  if (!ra->sharded || ra->slots_pending) return;
  rconn *c = &ra->pub;
  for (size_t i = 0; c->state != RC_READY && i < ra->nnodes; i++) c = &ra->nodes[i]->pub;
  if (c->state != RC_READY) return;
  const char *a[] = {"CLUSTER", "SLOTS"};
  size_t l[] = {7, 5};
  if (ra_conn_command(c, 2, a, l, on_slots, 0) == 0) ra->slots_pending = 1;
}


/* ---- lifetime ------------------------------------------------------------------------- */

void ra_conn_free(rconn *c) {
  loop_timer_stop(c->ra->loop, &c->retry);
  if (c->linked) net_conn_release(&c->net);
  c->linked = 0;
  if (c->reader) redisReaderFree(c->reader);
  c->reader = NULL;
  c->state = RC_IDLE;
  conn_fail_pending(c);
  free(c->q);
  c->q = NULL;
}

/* A numeric address, or a name resolved once here (before the loop serves anyone:
 * the server calls this while it sets up). */
int ra_resolve(redis_adapter *ra, const char *host, int port) {
  const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ra->addr;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ra->addr;
  memset(&ra->addr, 0, sizeof(ra->addr));
  if (inet_pton(AF_INET, h, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    ra->addr_len = sizeof(*in4);
    return 0;
  }
  if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    ra->addr_len = sizeof(*in6);
    return 0;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
  char ps[16];
  snprintf(ps, sizeof(ps), "%d", port);
  if (getaddrinfo(h, ps, &hints, &res) != 0 || !res) return -1;
  memcpy(&ra->addr, res->ai_addr, res->ai_addrlen);
  ra->addr_len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}
