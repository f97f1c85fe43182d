/* app/metrics.c — GET /metrics: Prometheus text exposition (format 0.0.4). Names follow
 * the conventions: a wsio_ prefix, _total for counters, base units (_seconds, _bytes).
 * Rendering is a pure function of the counters, so tests can check it without a server. */
#include "app/metrics.h"
#include "app/auth.h"
#include "util/buf.h"

#include <math.h>
#include <stdarg.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One Engine.IO and one Socket.IO server per app, and one app per thread (--threads,
 * at most 256): their counters are added up here. */
#define MAX_WATCHED 512

static wsio_eio_server *eio_servers[MAX_WATCHED];
static wsio_sio *sio_servers[MAX_WATCHED];
static size_t n_eio, n_sio;

/* One page per app that mounts /metrics (apps live until exit, as the server's do):
 * each thread's app renders into its own buffer, so no lock. */
#define MAX_PAGES 256

struct metrics_page {
  wsio_app *app;
  byte_buf text; /* the last scrape's text, kept: see scrape() */
};
static metrics_page pages[MAX_PAGES];
static size_t n_pages;

void metrics_watch_eio(wsio_eio_server *srv) {
  if (srv && n_eio < MAX_WATCHED) eio_servers[n_eio++] = srv;
}

void metrics_watch_sio(wsio_sio *io) {
  if (io && n_sio < MAX_WATCHED) sio_servers[n_sio++] = io;
  if (io) metrics_watch_eio(wsio_sio_engine(io));
}

typedef struct {
  char *p;
  size_t n, cap;
} out_buf;

static void put(out_buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out_buf *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vsnprintf(o->p + (o->n < o->cap ? o->n : o->cap), o->n < o->cap ? o->cap - o->n : 0, fmt, ap);
  va_end(ap);
  if (r > 0) o->n += (size_t)r;
}

static void head(out_buf *o, const char *name, const char *type, const char *help) {
  put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(out_buf *o, const char *name, const char *help, uint64_t v) {
  head(o, name, "counter", help);
  put(o, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(out_buf *o, const char *name, const char *help, uint64_t v) {
  head(o, name, "gauge", help);
  put(o, "%s %llu\n", name, (unsigned long long)v);
}

/* A counter with one sample per code slot; code 0 is the "other" slot. */
static void by_code(out_buf *o, const char *name, const char *help, const char *label, int (*code_of)(size_t),
                    const uint64_t *values, size_t n) {
  head(o, name, "counter", help);
  for (size_t i = 0; i < n; i++) {
    int code = code_of(i);
    if (code) put(o, "%s{%s=\"%d\"} %llu\n", name, label, code, (unsigned long long)values[i]);
    else put(o, "%s{%s=\"other\"} %llu\n", name, label, (unsigned long long)values[i]);
  }
}

static uint64_t closes_with(const wsio_stats *st, int code) {
  for (size_t i = 0; i < WSIO_STATS_NCLOSE; i++)
    if (wsio_stats_close_code(i) == code) return st->closes_by_code[i];
  return 0;
}

size_t metrics_render(char *out, size_t cap, const wsio_stats *st, const wsio_eio_stats *eio,
                      const wsio_sio_stats *sio, const wsio_sio_redis_stats *redis) {
  out_buf o = {out, 0, cap};
  head(&o, "wsio_build_info", "gauge", "Version of the running wsio-server.");
  put(&o, "wsio_build_info{version=\"%s\"} 1\n", WSIO_VERSION);

  head(&o, "wsio_connections", "gauge", "Open client connections by transport.");
  put(&o, "wsio_connections{transport=\"websocket\"} %llu\n", (unsigned long long)st->connections_open);
  put(&o, "wsio_connections{transport=\"polling\"} %llu\n", (unsigned long long)eio->sessions_polling);
  counter(&o, "wsio_websocket_connections_total", "WebSocket handshakes completed.", st->connections_total);
  counter(&o, "wsio_http_requests_total", "HTTP requests served (upgrades and polling included).",
          st->http_requests_total);

  by_code(&o, "wsio_handshake_failures_total", "Refused WebSocket handshakes by HTTP status.", "status",
          wsio_stats_handshake_status, st->handshake_failures_by_status, WSIO_STATS_NSTATUS);
  head(&o, "wsio_refusals_total", "counter",
       "Requests and handshakes refused at the edge (docs/security.md), by reason.");
  put(&o, "wsio_refusals_total{reason=\"origin\"} %llu\n", (unsigned long long)st->origin_refused_total);
  put(&o, "wsio_refusals_total{reason=\"jwt\"} %llu\n", (unsigned long long)auth_refusals());
  put(&o, "wsio_refusals_total{reason=\"connections_per_ip\"} %llu\n", (unsigned long long)st->ratelimit_connections_total);
  put(&o, "wsio_refusals_total{reason=\"handshake_rate\"} %llu\n", (unsigned long long)st->ratelimit_handshakes_total);
  put(&o, "wsio_refusals_total{reason=\"ip_table_full\"} %llu\n", (unsigned long long)st->ratelimit_table_full_total);
  head(&o, "wsio_rate_limited_messages_total", "counter",
       "WebSocket messages over --messages-per-second, by what was done (dropped, or the connection closed 1008).");
  put(&o, "wsio_rate_limited_messages_total{action=\"dropped\"} %llu\n", (unsigned long long)st->ratelimit_messages_dropped_total);
  put(&o, "wsio_rate_limited_messages_total{action=\"closed\"} %llu\n", (unsigned long long)st->ratelimit_messages_closed_total);
  counter(&o, "wsio_accept_errors_total",
          "Times pending connections were refused at accept (out of descriptors or memory).",
          st->accept_errors_total);
  counter(&o, "wsio_tls_handshake_failures_total",
          "TLS handshakes that failed (plain HTTP to the TLS port, garbage, no common cipher, client certificate missing or refused).",
          st->tls_handshake_failures_total);
  counter(&o, "wsio_deflate_compressions_total",
          "Messages compressed (permessage-deflate); a broadcast counts once per window size.",
          st->deflate_compressions_total);
  counter(&o, "wsio_handshake_timeouts_total", "Connections closed before sending a complete request head.",
          st->handshake_timeouts_total);

  counter(&o, "wsio_messages_received_total", "WebSocket messages received.", st->messages_in_total);
  counter(&o, "wsio_messages_sent_total", "WebSocket messages sent.", st->messages_out_total);
  counter(&o, "wsio_received_bytes_total", "Bytes received from clients.", st->bytes_in_total);
  counter(&o, "wsio_sent_bytes_total", "Bytes of WebSocket messages sent.", st->bytes_out_total);
  counter(&o, "wsio_engineio_messages_received_total", "Engine.IO messages received (both transports).",
          eio->messages_in_total);
  counter(&o, "wsio_engineio_messages_sent_total", "Engine.IO messages sent (both transports).",
          eio->messages_out_total);

  counter(&o, "wsio_broadcasts_total", "Broadcasts: topic publishes and Socket.IO emits to selections.",
          st->publishes_total + sio->broadcasts_total);
  counter(&o, "wsio_broadcast_deliveries_total", "Messages delivered by broadcasts.",
          st->deliveries_total + sio->deliveries_total);

  head(&o, "wsio_dropped_messages_total", "counter", "Messages not sent, by reason.");
  put(&o, "wsio_dropped_messages_total{reason=\"backpressure\"} %llu\n",
      (unsigned long long)st->dropped_backpressure_total);
  put(&o, "wsio_dropped_messages_total{reason=\"volatile\"} %llu\n", (unsigned long long)sio->volatile_drops_total);
  counter(&o, "wsio_backpressure_closes_total", "Connections closed (1008) for staying over the send buffer cap.",
          st->closed_backpressure_total);

  by_code(&o, "wsio_closes_total", "Ended WebSocket connections by close code (1006: abnormal).", "code",
          wsio_stats_close_code, st->closes_by_code, WSIO_STATS_NCLOSE);
  counter(&o, "wsio_abnormal_closes_total", "WebSocket connections lost without a close frame (1006).",
          closes_with(st, 1006));
  counter(&o, "wsio_protocol_errors_total", "Connections failed for a protocol error (1002, 1007, 1009).",
          st->protocol_errors_total);

  head(&o, "wsio_heartbeat_timeouts_total", "counter", "Connections dropped for a missing heartbeat answer.");
  put(&o, "wsio_heartbeat_timeouts_total{layer=\"websocket\"} %llu\n", (unsigned long long)st->ping_timeouts_total);
  put(&o, "wsio_heartbeat_timeouts_total{layer=\"engineio\"} %llu\n", (unsigned long long)eio->ping_timeouts_total);
  counter(&o, "wsio_polling_buffer_closes_total",
          "Long-polling sessions closed because their pending output went over --max-polling-buffer.",
          eio->polling_buffer_closes_total);

  head(&o, "wsio_engineio_sessions", "gauge", "Open Engine.IO sessions by transport.");
  put(&o, "wsio_engineio_sessions{transport=\"polling\"} %llu\n", (unsigned long long)eio->sessions_polling);
  put(&o, "wsio_engineio_sessions{transport=\"websocket\"} %llu\n", (unsigned long long)eio->sessions_websocket);
  counter(&o, "wsio_engineio_sessions_total", "Engine.IO sessions opened.", eio->sessions_total);
  counter(&o, "wsio_engineio_upgrades_total", "Engine.IO sessions upgraded from polling to WebSocket.",
          eio->upgrades_total);

  gauge(&o, "wsio_sio_sockets", "Connected Socket.IO sockets (all namespaces).", sio->sockets);
  gauge(&o, "wsio_rooms", "Socket.IO rooms (socket-id rooms excluded).", sio->rooms);
  gauge(&o, "wsio_sio_namespaces", "Socket.IO namespaces.", sio->namespaces);
  counter(&o, "wsio_sio_connections_total", "Socket.IO sockets connected.", sio->connections_total);
  counter(&o, "wsio_sio_recovered_sessions_total", "Connections that restored their session (state recovery).",
          sio->recovered_total);
  counter(&o, "wsio_sio_recovery_too_large_total",
          "Recoveries refused because the missed packets would not fit the send buffer (--max-backpressure, --max-polling-buffer): the client got a new session.",
          sio->recovery_too_large_total);
  counter(&o, "wsio_sio_connect_errors_total", "CONNECT_ERRORs sent (unknown namespace, middleware refusal).",
          sio->connect_errors_total);

  gauge(&o, "wsio_redis_adapter_up", "1 when the Redis adapter is connected (0: single node, no Redis).",
        redis && redis->up ? 1 : 0);
  if (redis && redis->attached) {
    counter(&o, "wsio_redis_messages_in_total", "Messages received from other nodes through Redis.", redis->messages_in);
    counter(&o, "wsio_redis_messages_out_total", "Messages published to other nodes through Redis.", redis->messages_out);
    counter(&o, "wsio_redis_messages_dropped_total",
            "Messages not published: Redis away, or too much unsent to it.", redis->messages_dropped);
    counter(&o, "wsio_redis_request_timeouts_total", "Cluster requests that ended without every node's answer.",
            redis->request_timeouts);
    counter(&o, "wsio_redis_reconnects_total", "Redis connections made again after a loss.", redis->reconnects);
    gauge(&o, "wsio_redis_nodes", "Nodes in the cluster at the last count (PUBSUB NUMSUB, 0: not counted yet).",
          redis->nodes > 0 ? (uint64_t)redis->nodes : 0);
  }

  head(&o, "wsio_event_loop_lag_seconds", "histogram", "How late the event loop ran its timers (sweep, heartbeats, deadlines), from each one's due time.");
  uint64_t cum = 0;
  for (size_t i = 0; i < WSIO_STATS_NLAG; i++) {
    cum += st->loop_lag_buckets[i];
    double b = wsio_stats_lag_bound(i);
    if (isinf(b)) put(&o, "wsio_event_loop_lag_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    else put(&o, "wsio_event_loop_lag_seconds_bucket{le=\"%g\"} %llu\n", b, (unsigned long long)cum);
  }
  put(&o, "wsio_event_loop_lag_seconds_sum %.6f\n", st->loop_lag_sum_seconds);
  put(&o, "wsio_event_loop_lag_seconds_count %llu\n", (unsigned long long)st->loop_lag_count);
  return o.n;
}

size_t metrics_render_threads(char *out, size_t cap, const wsio_app *app) {
  out_buf o = {out, 0, cap};
  unsigned nt = wsio_app_thread_count(app);
  gauge(&o, "wsio_threads", "Event-loop threads (--threads).", nt);
  head(&o, "wsio_thread_connections_total", "counter",
       "Connections each thread accepted and answered: WebSocket handshakes plus HTTP requests.");
  for (unsigned i = 0; i < nt; i++) {
    wsio_stats t;
    wsio_app_stats(wsio_app_thread_peer(app, i), &t);
    put(&o, "wsio_thread_connections_total{thread=\"%u\"} %llu\n", i,
        (unsigned long long)(t.connections_total + t.http_requests_total));
  }
  head(&o, "wsio_thread_websockets", "gauge", "Open WebSocket connections of each thread.");
  for (unsigned i = 0; i < nt; i++) {
    wsio_stats t;
    wsio_app_stats(wsio_app_thread_peer(app, i), &t);
    put(&o, "wsio_thread_websockets{thread=\"%u\"} %llu\n", i, (unsigned long long)t.connections_open);
  }
  wsio_stats sum;
  wsio_app_stats_sum(app, &sum);
  counter(&o, "wsio_thread_handoffs_total",
          "Connections handed to the thread holding their session (a long-poll that reached another thread).",
          sum.handoffs_total);
  return o.n < cap ? o.n : cap;
}

size_t metrics_render_heap(char *out, size_t cap) {
  out_buf o = {out, 0, cap};
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  /* mallinfo2 walks the free lists of every arena: a few microseconds, once a scrape.
   * Bytes in use against the arena (and the process' RSS) tell a leak (in use grows)
   * from fragmentation (the arena grows while in use does not). */
  struct mallinfo2 mi = mallinfo2();
  gauge(&o, "wsio_heap_bytes", "Heap bytes in use (malloc'ed, not freed), mmap'ed blocks included.",
        (uint64_t)(mi.uordblks + mi.hblkhd));
  gauge(&o, "wsio_heap_free_bytes", "Heap bytes freed and kept by the allocator (holes and the top).",
        (uint64_t)mi.fordblks);
  gauge(&o, "wsio_heap_arena_bytes",
        "Bytes of the allocator's arenas (got with brk/mmap; big mmap'ed blocks not included).", (uint64_t)mi.arena);
#endif
  return o.n < cap ? o.n : cap;
}

/* Sums the counters of every watched server and renders the whole page into pg's
 * buffer. The buffer is kept from one scrape to the next, never freed: a fresh ~10 KB
 * block a scrape was what made the heap creep in the soak (docs/reliability.md, known
 * issue 4): among a heap of small holes no free chunk holds 10 KB, so each scrape took
 * it from the top of the heap, small long-lived blocks (a connection, a recovery log
 * entry) then landed in the space it gave back, and the next scrape had to go higher. */
static int scrape(metrics_page *pg, size_t *len) {
  wsio_stats st;
  wsio_eio_stats eio = {0}, e;
  wsio_sio_stats sio = {0}, s;
  wsio_app_stats_sum(pg->app, &st);
  for (size_t i = 0; i < n_eio; i++) {
    wsio_eio_server_stats(eio_servers[i], &e);
    eio.sessions_polling += e.sessions_polling;
    eio.sessions_websocket += e.sessions_websocket;
    eio.sessions_total += e.sessions_total;
    eio.upgrades_total += e.upgrades_total;
    eio.ping_timeouts_total += e.ping_timeouts_total;
    eio.polling_buffer_closes_total += e.polling_buffer_closes_total;
    eio.messages_in_total += e.messages_in_total;
    eio.messages_out_total += e.messages_out_total;
  }
  for (size_t i = 0; i < n_sio; i++) {
    wsio_sio_server_stats(sio_servers[i], &s);
    sio.sockets += s.sockets;
    sio.rooms += s.rooms;
    sio.namespaces += s.namespaces;
    sio.connections_total += s.connections_total;
    sio.recovered_total += s.recovered_total;
    sio.connect_errors_total += s.connect_errors_total;
    sio.broadcasts_total += s.broadcasts_total;
    sio.deliveries_total += s.deliveries_total;
    sio.volatile_drops_total += s.volatile_drops_total;
    sio.recovery_too_large_total += s.recovery_too_large_total;
  }
  wsio_sio_redis_stats redis = {0}, rs;
  for (size_t i = 0; i < n_sio; i++) {
    wsio_sio_redis_stats_get(sio_servers[i], &rs);
    if (!rs.attached) continue;
    redis.attached = 1;
    redis.up = rs.up;
    redis.messages_in += rs.messages_in;
    redis.messages_out += rs.messages_out;
    redis.request_timeouts += rs.request_timeouts;
    redis.reconnects += rs.reconnects;
    redis.messages_dropped += rs.messages_dropped;
    redis.nodes = rs.nodes;
  }
  unsigned nt = wsio_app_thread_count(pg->app);
  size_t need = metrics_render(NULL, 0, &st, &eio, &sio, &redis) + 1 + 1024 + (size_t)nt * 160;
  byte_buf *b = &pg->text;
  b->len = 0;
  if (byte_buf_reserve(b, need) < 0) return WSIO_ENOMEM;
  char *out = (char *)b->p;
  size_t n = metrics_render(out, need, &st, &eio, &sio, &redis);
  n += metrics_render_threads(out + n, need - n, pg->app);
  n += metrics_render_heap(out + n, need - n);
  *len = n;
  return 0;
}

const char *metrics_scrape(metrics_page *pg, size_t *len) {
  return scrape(pg, len) < 0 ? NULL : (const char *)pg->text.p;
}

static void serve(const wsio_request *req, wsio_response *res, void *user) {
  (void)req;
  size_t n;
  const char *text = metrics_scrape(user, &n);
  if (!text) {
    wsio_response_send(res, 500, NULL, "out of memory\n", 14);
    return;
  }
  wsio_response_header(res, "Cache-Control", "no-store");
  /* Sent or copied by the time this returns: the buffer is free for the next scrape. */
  wsio_response_send(res, 200, "text/plain; version=0.0.4; charset=utf-8", text, n);
}

metrics_page *metrics_page_for(wsio_app *app) {
  for (size_t i = 0; i < n_pages; i++)
    if (pages[i].app == app) return &pages[i];
  if (n_pages == MAX_PAGES) return NULL;
  pages[n_pages].app = app;
  return &pages[n_pages++];
}

int metrics_mount(wsio_app *app) {
  metrics_page *pg = metrics_page_for(app);
  return pg ? wsio_app_http(app, "GET", "/metrics", serve, pg) : WSIO_ENOMEM;
}
