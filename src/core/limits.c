/* core/limits.c — the rate limits of wsio_app_options (docs/security.md): which IP a
 * client has (the peer, or what a trusted proxy forwarded for), open connections and
 * handshakes per second per IP at the WebSocket upgrade (edge/ratelimit.c's fixed
 * table), and messages per second per connection (a token bucket in the conn's conn_edge).
 *
 * With --threads the group's members share one table (core/threads.c), so a limit
 * holds for the process, not per thread: every table call below goes through ip_*,
 * which take the group's lock around it. Those run at a connection's open and close
 * and at a handshake, never per message (the message bucket is the connection's own),
 * so the lock costs one uncontended mutex pair per handshake. A lone app has no lock.
 *
 * Must not: decide what the limits are (the options), or parse headers itself (edge/). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "edge/forwarded.h"
#include "edge/ratelimit.h"
#include "util/random.h"

static int ip_open(wsio_app *app, const edge_ip *ip) {
  if (app->iplock) pthread_mutex_lock(app->iplock);
  int r = edge_iplimit_open(app->iplimit, ip, loop_now_ms(app->loop));
  if (app->iplock) pthread_mutex_unlock(app->iplock);
  return r;
}

static void ip_close(wsio_app *app, const edge_ip *ip) {
  if (app->iplock) pthread_mutex_lock(app->iplock);
  edge_iplimit_close(app->iplimit, ip, loop_now_ms(app->loop));
  if (app->iplock) pthread_mutex_unlock(app->iplock);
}

static int ip_handshake(wsio_app *app, const edge_ip *ip) {
  if (app->iplock) pthread_mutex_lock(app->iplock);
  int r = edge_iplimit_handshake(app->iplimit, ip, loop_now_ms(app->loop));
  if (app->iplock) pthread_mutex_unlock(app->iplock);
  return r;
}

int limits_init(wsio_app *app) {
  const wsio_app_options *o = &app->o;
  if (o->trusted_proxies) {
    int r = edge_cidrs_parse(o->trusted_proxies, strlen(o->trusted_proxies), &app->proxies, NULL);
    if (r < 0) return r == WSIO_ENOMEM ? r : WSIO_EINVAL;
  }
  app->o.trusted_proxies = NULL; /* the caller's string: only the parsed list is kept */
  if (!o->max_connections_per_ip && !o->handshakes_per_second) return 0;
  edge_iplimit_cfg cfg = {.max_conns = o->max_connections_per_ip,
                          .handshake_rate = o->handshakes_per_second,
                          .handshake_burst = o->handshake_burst,
                          .slots = o->ip_table_slots ? o->ip_table_slots : 16384};
  if (random_bytes(cfg.seed, sizeof(cfg.seed)) < 0) return WSIO_ESYS;
  return edge_iplimit_new(&cfg, &app->iplimit);
}

void limits_free(wsio_app *app) {
  edge_cidrs_free(app->proxies);
  edge_iplimit_free(app->iplimit);
  app->proxies = NULL;
  app->iplimit = NULL;
}

static void peer_ip(const wsio_conn *c, edge_ip *out) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  if (c->net.family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, c->net.peer, 4);
  } else {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    memcpy(&in6->sin6_addr, c->net.peer, 16);
  }
  if (!edge_ip_from_sockaddr((struct sockaddr *)&ss, out)) memset(out, 0, sizeof(*out));
}

/* The client's IP of a request on c: the peer, or what a trusted proxy forwarded for. */
static void client_ip(const wsio_conn *c, const http_request *h, edge_ip *out) {
  edge_ip peer;
  peer_ip(c, &peer);
  edge_client_ip(c->app->proxies, &peer, h, c->app->o.forwarded_header ? EDGE_FWD_FORWARDED : EDGE_FWD_XFF, out);
}

int limits_client_ip_format(const wsio_conn *c, const http_request *h, char *buf, size_t cap) {
  edge_ip ip;
  client_ip(c, h, &ip);
  char tmp[EDGE_IP_STRLEN];
  size_t n = edge_ip_format(&ip, tmp);
  if (!n || n >= cap) return n ? WSIO_ETOOBIG : WSIO_EINVAL;
  memcpy(buf, tmp, n + 1);
  return (int)n;
}

/* Answers a refusal r of edge_iplimit_*: the status, *reason and *extra; counted. */
static int refuse(wsio_app *app, const edge_ip *ip, int r, const char *what, const char **reason, const char **extra) {
  char text[EDGE_IP_STRLEN];
  edge_ip_format(ip, text);
  /* One line per refusal at debug level only: a flood must not become a log flood. */
  app_log(app, WSIO_LOG_DEBUG, "%s from %s refused: %s", what, text, edge_rl_strerror(r));
  *extra = "Retry-After: 1\r\n";
  if (r == EDGE_RL_ECONNS) {
    app->st.ratelimit_connections_total++;
    *reason = "too many connections from this address";
    return 429;
  }
  if (r == EDGE_RL_ERATE) {
    app->st.ratelimit_handshakes_total++;
    *reason = "too many handshakes from this address";
    return 429;
  }
  app->st.ratelimit_table_full_total++;
  *reason = "too many client addresses";
  return 503;
}

void conn_client_ip(const wsio_conn *c, edge_ip *out) {
  if (c->edge) *out = c->edge->cip;
  else peer_ip(c, out);
}

int limits_admit(wsio_conn *c, const http_request *h, const char **reason, const char **extra) {
  wsio_app *app = c->app;
  /* Only a connection behind a trusted proxy can have a client IP other than its peer,
   * and only a message rate needs a bucket: the others carry no conn_edge. */
  if ((app->proxies || app->o.messages_per_second) && !c->edge) {
    c->edge = core_calloc(1, sizeof(*c->edge));
    if (!c->edge) {
      *reason = "out of memory";
      *extra = NULL;
      return 503;
    }
  }
  edge_ip ip;
  if (c->edge) {
    client_ip(c, h, &c->edge->cip);
    edge_bucket_init(&c->edge->msgs, app->o.messages_per_second, app->o.messages_burst, loop_now_ms(app->loop));
    ip = c->edge->cip;
  } else if (app->iplimit) {
    peer_ip(c, &ip);
  }
  if (!app->iplimit) return 0;
  int r = ip_handshake(app, &ip);
  return r ? refuse(app, &ip, r, "handshake", reason, extra) : 0;
}

int limits_open(wsio_conn *c, const char **reason, const char **extra) {
  wsio_app *app = c->app;
  if (c->ip_counted == IP_SESSION_UPGRADE) { /* counted as its Engine.IO session */
    c->ip_counted = 0;
    return 0;
  }
  if (!app->iplimit) return 0;
  edge_ip ip;
  conn_client_ip(c, &ip);
  int r = ip_open(app, &ip);
  if (r == 0) {
    c->ip_counted = 1;
    return 0;
  }
  return refuse(app, &ip, r, "handshake", reason, extra);
}

/* The Engine.IO session's address (eio keeps AF_INET/AF_INET6 and the bytes). */
static int session_ip(int family, const uint8_t *peer, edge_ip *out) {
  memset(out, 0, sizeof(*out));
  if (family != AF_INET && family != AF_INET6) return 0;
  out->family = family == AF_INET ? 4 : 6;
  memcpy(out->a, peer, family == AF_INET ? 4 : 16);
  return 1;
}

int core_limit_session_open(const wsio_request *req, const char **reason) {
  wsio_conn *c = req ? core_request_conn(req) : NULL;
  if (!c || !c->app->iplimit) return 0;
  edge_ip ip;
  client_ip(c, core_request_head(req), &ip);
  int r = ip_open(c->app, &ip);
  const char *extra;
  return r ? refuse(c->app, &ip, r, "Engine.IO session", reason, &extra) : 0;
}

void core_limit_session_close(wsio_app *app, int family, const uint8_t *peer) {
  edge_ip ip;
  if (app->iplimit && session_ip(family, peer, &ip)) ip_close(app, &ip);
}

void core_limit_upgrade_of_session(const wsio_request *req) {
  wsio_conn *c = req ? core_request_conn(req) : NULL;
  if (c && c->app->iplimit) c->ip_counted = IP_SESSION_UPGRADE;
}

int core_limit_session_move(wsio_conn *c, int family, const uint8_t *peer) {
  edge_ip ip, cip;
  if (!c->app->iplimit || c->ip_counted || !session_ip(family, peer, &ip)) return 0;
  conn_client_ip(c, &cip);
  if (!edge_ip_equal(&ip, &cip)) return 0;
  c->ip_counted = 1; /* the same client: its one count now ends with the WebSocket */
  return 1;
}

int limits_handshake(wsio_conn *c, const http_request *h, const char **reason) {
  wsio_app *app = c->app;
  if (!app->iplimit) return 0;
  edge_ip ip;
  client_ip(c, h, &ip);
  int r = ip_handshake(app, &ip);
  const char *extra;
  return r ? refuse(app, &ip, r, "Engine.IO handshake", reason, &extra) : 0;
}

void limits_release(wsio_conn *c) {
  if (c->ip_counted == 1) {
    edge_ip ip;
    conn_client_ip(c, &ip);
    ip_close(c->app, &ip);
  }
  c->ip_counted = 0;
  free(c->edge);
  c->edge = NULL;
}

int limits_message(wsio_conn *c) {
  wsio_app *app = c->app;
  /* A connection upgraded with a message rate has its bucket (limits_admit). */
  if (!app->o.messages_per_second || !c->edge || edge_bucket_take(&c->edge->msgs, loop_now_ms(app->loop))) return 1;
  if (!app->o.messages_over_close) {
    app->st.ratelimit_messages_dropped_total++;
    return 0;
  }
  app->st.ratelimit_messages_closed_total++;
  char ip[EDGE_IP_STRLEN];
  edge_ip_format(&c->edge->cip, ip);
  app_log(app, WSIO_LOG_INFO, "closing %s with 1008: over %u messages per second", ip, app->o.messages_per_second);
  wsio_conn_close(c, 1008, "message rate limit");
  return 0;
}
