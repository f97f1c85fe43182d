/* core/limits.c — the rate limits of wsio_app_options (docs/security.md): which IP a
 * client has (the peer, or what a trusted proxy forwarded for), open connections and
 * handshakes per second per IP at the WebSocket upgrade (edge/ratelimit.c's fixed
 * table), and messages per second per connection (a token bucket in the conn).
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

int limits_admit(wsio_conn *c, const http_request *h, const char **reason, const char **extra) {
  wsio_app *app = c->app;
  edge_ip peer;
  peer_ip(c, &peer);
  edge_client_ip(app->proxies, &peer, h, app->o.forwarded_header ? EDGE_FWD_FORWARDED : EDGE_FWD_XFF, &c->cip);
  edge_bucket_init(&c->msgs, app->o.messages_per_second, app->o.messages_burst, loop_now_ms(app->loop));
  if (!app->iplimit) return 0;
  uint64_t now = loop_now_ms(app->loop);
  int r = edge_iplimit_handshake(app->iplimit, &c->cip, now);
  if (r == 0) r = edge_iplimit_open(app->iplimit, &c->cip, now);
  if (r == 0) {
    c->ip_counted = 1;
    return 0;
  }
  char ip[EDGE_IP_STRLEN];
  edge_ip_format(&c->cip, ip);
  /* One line per refusal at debug level only: a flood must not become a log flood. */
  app_log(app, WSIO_LOG_DEBUG, "handshake from %s refused: %s", ip, edge_rl_strerror(r));
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

int limits_handshake(wsio_conn *c, const http_request *h, const char **reason) {
  wsio_app *app = c->app;
  if (!app->iplimit) return 0;
  edge_ip peer, ip;
  peer_ip(c, &peer);
  edge_client_ip(app->proxies, &peer, h, app->o.forwarded_header ? EDGE_FWD_FORWARDED : EDGE_FWD_XFF, &ip);
  int r = edge_iplimit_handshake(app->iplimit, &ip, loop_now_ms(app->loop));
  if (r == 0) return 0;
  char text[EDGE_IP_STRLEN];
  edge_ip_format(&ip, text);
  app_log(app, WSIO_LOG_DEBUG, "Engine.IO handshake from %s refused: %s", text, edge_rl_strerror(r));
  if (r == EDGE_RL_ERATE) {
    app->st.ratelimit_handshakes_total++;
    *reason = "too many handshakes from this address";
    return 429;
  }
  app->st.ratelimit_table_full_total++;
  *reason = "too many client addresses";
  return 503;
}

void limits_release(wsio_conn *c) {
  if (!c->ip_counted) return;
  c->ip_counted = 0;
  edge_iplimit_close(c->app->iplimit, &c->cip, loop_now_ms(c->app->loop));
}

int limits_message(wsio_conn *c) {
  wsio_app *app = c->app;
  if (!app->o.messages_per_second || edge_bucket_take(&c->msgs, loop_now_ms(app->loop))) return 1;
  if (!app->o.messages_over_close) {
    app->st.ratelimit_messages_dropped_total++;
    return 0;
  }
  app->st.ratelimit_messages_closed_total++;
  char ip[EDGE_IP_STRLEN];
  edge_ip_format(&c->cip, ip);
  app_log(app, WSIO_LOG_INFO, "closing %s with 1008: over %u messages per second", ip, app->o.messages_per_second);
  wsio_conn_close(c, 1008, "message rate limit");
  return 0;
}
