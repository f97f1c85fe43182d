/* core/app.c — the wsio_app: options, routes, listening, the loop's post phase, the
 * connection sweep (all per-connection timeouts), graceful shutdown and statistics.
 *
 * Timeouts: instead of a timer per connection, one periodic sweep walks the
 * connection list and compares each connection's deadline with the loop clock. The
 * sweep period is a quarter of the shortest configured timeout (clamped to
 * 50 ms..1 s), so a deadline is honoured within 25% and the sweep costs no syscall. */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "core/conn.h"
#include "core/threads.h"
#include "util/buf.h"
#include "net/tls.h"
#include "edge/origin.h"
#include "ws/frame.h"

const char *wsio_strerror(int err) {
  switch (err) {
    case WSIO_OK: return "success";
    case WSIO_EINVAL: return "invalid argument";
    case WSIO_ENOMEM: return "out of memory";
    case WSIO_EADDR: return "cannot resolve or bind the address";
    case WSIO_ESYS: return "system call failed";
    case WSIO_ECLOSED: return "connection is closed";
    case WSIO_EEXIST: return "route already exists";
    case WSIO_ETOOBIG: return "payload too big";
    case WSIO_ETIMEDOUT: return "timed out";
    case WSIO_EDROPPED: return "dropped: send buffer over max_backpressure";
    default: return "unknown error";
  }
}

/* ---- allocation (with the tests' failure injection) ------------------------------ */

unsigned core_alloc_fail_in;

static int alloc_should_fail(void) { return core_alloc_fail_in && --core_alloc_fail_in == 0; }
void *core_malloc(size_t n) { return alloc_should_fail() ? NULL : malloc(n); }
void *core_calloc(size_t count, size_t size) { return alloc_should_fail() ? NULL : calloc(count, size); }
void *core_realloc(void *p, size_t n) { return alloc_should_fail() ? NULL : realloc(p, n); }
char *core_strdup(const char *s) { return alloc_should_fail() ? NULL : strdup(s); }

void wsio_app_options_init(wsio_app_options *o) {
  if (!o) return;
  memset(o, 0, sizeof(*o));
  o->max_message_size = 1024 * 1024;
  o->max_backpressure = 1024 * 1024;
  o->kernel_send_limit = 64 * 1024;
  o->io_uring = 1;
  o->max_header_size = 8 * 1024;
  o->max_headers = 64;
  o->max_body_size = 1024 * 1024;
  o->max_connections = 100000;
  o->ping_interval_ms = 25000;
  o->ping_timeout_ms = 20000;
  o->handshake_timeout_ms = 10000;
  o->close_timeout_ms = 5000;
  o->shutdown_timeout_ms = 5000;
  o->handle_signals = 1;
}

/* ---- connection lifetime --------------------------------------------------------- */

/* Freed connections are kept (up to CORE_CONN_SPARE_MAX) for the next accepts instead of
 * going back to malloc. Why: every long-polling request of socket.io-client is a new
 * TCP connection, ~1,000 a second in the soak; each freed connection block merged with
 * its free neighbours and was cut again for blocks of other sizes, so the holes the
 * churn left were smaller than the next connection and the heap grew through a
 * 10-minute soak (docs/reliability.md, known issue 4). A kept block is reused whole.
 * Not under ASan (it would hide a use after free), not across threads (a connection
 * handed to another thread is freed by an app whose blocks may differ in size). */

static void spare_free_all(wsio_app *app) {
  while (app->spare) {
    wsio_conn *c = app->spare;
    app->spare = c->grave_next;
    free(c);
  }
  app->nspare = 0;
}

static wsio_conn *conn_alloc(wsio_app *app) {
  size_t size = sizeof(wsio_conn) + app->user_data_size;
  /* A route added since with more user data makes the kept blocks too small. */
  if (app->spare && malloc_usable_size(app->spare) < size) spare_free_all(app);
  wsio_conn *c = app->spare;
  if (!c) return core_calloc(1, size);
  app->spare = c->grave_next;
  app->nspare--;
  memset(c, 0, size);
  return c;
}

static net_conn *on_accept(net_ctx *ctx, void *listener_user) {
  wsio_app *app = net_ctx_user(ctx);
  if (app->stopping && !threads_drain_holds(app)) return NULL; /* (holds: app_drain_hold) */
  wsio_conn *c = conn_alloc(app);
  if (!c) return NULL;
  c->app = app;
  c->state = CONN_HTTP;
  c->t_rx = core_now(app);
  c->t_due = c->t_rx + app->o.handshake_timeout_ms;
  if (app->group) threads_accepted(app, c, listener_user);
  return &c->net;
}

void conn_kill(wsio_conn *c) {
  if (c->state == CONN_DEAD) return;
  if (c->state == CONN_WS || c->state == CONN_WS_CLOSING) {
    ws_notify_close(c, WS_CLOSE_ABNORMAL, NULL, 0);
    c->app->st.connections_open--;
  }
  if (c->state == CONN_HTTP) http_abort_held(c);
  c->state = CONN_DEAD;
  net_close(&c->net);
  c->grave_next = c->app->grave;
  c->app->grave = c;
}

/* (A function, not a comparison inline: under ASan the cap is 0, and "unsigned >= 0"
 * is a warning that -Werror makes an error.) */
static int spare_full(const wsio_app *app) {
#if CORE_CONN_SPARE_MAX == 0
  (void)app;
  return 1;
#else
  return app->nspare >= CORE_CONN_SPARE_MAX;
#endif
}

static void conn_free(wsio_conn *c) {
  if (c->route && c->route->ws.release) c->route->ws.release(wsio_conn_user_data(c), c->route->user);
  if (c->app->group) threads_forget(c);
  limits_release(c);
  pubsub_conn_drop(c);
  if (c->aux && *(uint8_t *)c->aux == AUX_HTTP) http_aux_free(c);
  else ws_aux_free(c);
  net_conn_release(&c->net);
  wsio_app *app = c->app;
  /* (The block's own size: user data may have grown since it was cut.) */
  if (app->group || spare_full(app) ||
      malloc_usable_size(c) < sizeof(wsio_conn) + app->user_data_size) {
    free(c);
    return;
  }
  c->grave_next = app->spare;
  app->spare = c;
  app->nspare++;
}

void app_reap(wsio_app *app) {
  while (app->grave) {
    wsio_conn *c = app->grave;
    app->grave = c->grave_next;
    conn_free(c);
  }
}

static void on_data(net_conn *nc, uint8_t *p, size_t n) {
  wsio_conn *c = (wsio_conn *)nc;
  c->app->st.bytes_in_total += n;
  switch (c->state) {
    case CONN_HTTP: http_on_data(c, p, n); break;
    case CONN_WS:
    case CONN_WS_CLOSING: ws_on_data(c, p, n); break;
    case CONN_MOVING: threads_keep(c, p, n); break;
    default: break; /* CONN_HTTP_CLOSING: discard until the peer's FIN */
  }
}

static void on_end(net_conn *nc, int err) {
  (void)err;
  conn_kill((wsio_conn *)nc); /* the close callback learns 1006 unless a close arrived */
}

/* Out of descriptors or memory at accept: counted, and logged at most once a minute
 * (a flood must not become a log flood); net keeps the listener from spinning. */
static void on_accept_error(net_ctx *ctx, int err) {
  wsio_app *app = net_ctx_user(ctx);
  app->st.accept_errors_total++;
  uint64_t now = loop_now_ms(app->loop);
  if (app->accept_error_logged && now - app->accept_error_logged < 60000) return;
  app->accept_error_logged = now;
  app_log(app, WSIO_LOG_WARN, "accept failed: %s%s; new connections are refused until resources free up",
          strerror(-err), err == -EMFILE ? " (the process's descriptor limit, ulimit -n)" : "");
}

static void on_drain(net_conn *nc) {
  wsio_conn *c = (wsio_conn *)nc;
  if (c->state == CONN_WS && c->route && c->route->ws.drain) c->route->ws.drain(c);
}

void app_resume_later(wsio_conn *c) {
  wsio_app *app = c->app;
  if (app->nresume == app->resume_cap) {
    size_t cap = grow_cap(app->resume_cap, app->nresume + 1, 16, SIZE_MAX / sizeof(wsio_conn *));
    wsio_conn **r = cap ? core_realloc(app->resume, cap * sizeof(*r)) : NULL;
    if (!r) {
      /* Forgetting it would leave its queued requests unanswered forever. */
      conn_kill(c);
      return;
    }
    app->resume = r;
    app->resume_cap = cap;
  }
  app->resume[app->nresume++] = c;
}

/* ---- the transport interface's accessors and hooks (core/transport.h) ----------- */

loop *core_loop(const wsio_app *app) { return app->loop; }
uint32_t app_now(const wsio_app *app) { return core_now(app); }
int app_stopping(const wsio_app *app) { return app->stopping; }

int core_hook_add(wsio_app *app, core_hook_kind kind, void (*fn)(void *arg), void *arg) {
  app_hooks *h = &app->hooks[kind];
  if (h->n == h->cap) {
    uint32_t cap = (uint32_t)grow_cap(h->cap, (size_t)h->n + 1, 4, UINT32_MAX);
    struct app_hook *v = cap ? core_realloc(h->v, cap * sizeof(*v)) : NULL;
    if (!v) return WSIO_ENOMEM;
    h->v = v;
    h->cap = cap;
  }
  h->v[h->n].fn = fn;
  h->v[h->n++].arg = arg;
  return 0;
}

/* Removed entries stay as holes while the list runs (indexes must not move under
 * the loop in run_hooks) and are squeezed out once no run is in progress. */
static void hooks_compact(app_hooks *h) {
  if (h->running || !h->dead) return;
  uint32_t k = 0;
  for (uint32_t i = 0; i < h->n; i++)
    if (h->v[i].fn) h->v[k++] = h->v[i];
  h->n = k;
  h->dead = 0;
}

int core_hook_remove(wsio_app *app, core_hook_kind kind, void (*fn)(void *arg), void *arg) {
  app_hooks *h = &app->hooks[kind];
  for (uint32_t i = 0; i < h->n; i++) {
    if (h->v[i].fn != fn || h->v[i].arg != arg) continue;
    h->v[i].fn = NULL;
    h->dead++;
    hooks_compact(h);
    return 0;
  }
  return WSIO_EINVAL;
}

static void run_hooks(wsio_app *app, core_hook_kind kind) {
  app_hooks *h = &app->hooks[kind];
  h->running++;
  if (kind == CORE_HOOK_DESTROY) { /* upper layers were added last: they go first */
    for (uint32_t i = h->n; i-- > 0;)
      if (h->v[i].fn) h->v[i].fn(h->v[i].arg);
  } else {
    for (uint32_t i = 0; i < h->n; i++)
      if (h->v[i].fn) h->v[i].fn(h->v[i].arg);
  }
  h->running--;
  hooks_compact(h);
}

static void app_begin_stop(wsio_app *app);

static void post(void *arg) {
  wsio_app *app = arg;
  if (app->group) threads_hand_accepted(app); /* first: before reads and reaping */
  net_read_queued(app->net);
  run_hooks(app, CORE_HOOK_POST);
  /* Before reaping: the list may name connections killed since (they are skipped). */
  for (size_t i = 0; i < app->nresume; i++) http_resume(app->resume[i]);
  app->nresume = 0;
  /* A close callback run while reaping may publish again: repeat, boundedly. So may
   * one run by the flush itself (a send that failed ends its connection there): its
   * publishes, and its messages to the other threads, go out in this iteration too,
   * not whenever the loop next wakes (an idle loop sleeps until the sweep). Past the
   * bound, the next iteration takes the rest. A connection the flush ended (its last
   * bytes written, e.g. the close frame of a peer that answered ours) is reaped in
   * this iteration too: the drain's count below must see it gone, or a stopping server
   * waits for the next sweep (up to a second) to exit. */
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 4 && (app->dirty || app->grave); i++) {
      if (app->dirty) pubsub_flush_all(app);
      app_reap(app);
    }
    if (app->group) threads_flush(app); /* this iteration's messages to the other threads */
    net_flush_queued(app->net);
    if (!app->dirty && !app->grave && !(app->group && threads_pending(app))) break;
  }
  if (app->stopping && !app->drain_released && !threads_drain_holds(app)) app_drain_release(app); /* (a peer's last release woke us) */
  if (app->stopping && net_ctx_count(app->net) == 0 && !threads_drain_holds(app)) loop_stop(app->loop);
  if (!app->stopping && atomic_load(&app->stop_requested) && threads_may_stop(app)) app_begin_stop(app);
}

static void stats_count_lag(void *arg, uint64_t lag_ms);

/* ---- sweep ----------------------------------------------------------------------- */

static void sweep(loop_timer *t) {
  wsio_app *app = (wsio_app *)((char *)t - offsetof(wsio_app, sweep));
  uint32_t now = core_now(app);
  for (net_conn *nc = net_ctx_first(app->net); nc; nc = nc->next) {
    wsio_conn *c = (wsio_conn *)nc;
    if (nc->out || nc->tls) net_trim(nc); /* (TLS: idle sessions free their BIO buffers) */
    switch (c->state) {
      case CONN_HTTP:
        /* (A held response, such as an Engine.IO long-poll, has its request: it is its
         * handler's to answer, not a slow handshake.) */
        if (app->o.handshake_timeout_ms && time_reached(now, c->t_due) && !http_is_held(c)) {
          app->st.handshake_timeouts_total++;
          conn_kill(c);
        }
        break;
      case CONN_HTTP_CLOSING:
        if (time_reached(now, c->t_due)) conn_kill(c);
        break;
      case CONN_WS:
      case CONN_WS_CLOSING: ws_sweep(c, now); break;
      default: break;
    }
  }
  /* Killed connections are reaped in the post phase, like all others. */
}

static uint32_t sweep_period(const wsio_app_options *o) {
  uint32_t m = 1000;
  uint32_t ts[] = {o->ping_interval_ms, o->ping_timeout_ms, o->handshake_timeout_ms, o->close_timeout_ms};
  for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
    if (ts[i] && ts[i] / 4 < m) m = ts[i] / 4;
  }
  return m < 50 ? 50 : m;
}

/* ---- app ------------------------------------------------------------------------- */

static void on_signal(int signo, void *arg) {
  wsio_app *app = arg;
  if (signo == SIGHUP) {
    if (app->o.tls_cert_file) wsio_app_reload_tls(app);
    threads_reload_peers(app); /* --threads: each reloads on its own loop */
    if (app->o.on_reload) app->o.on_reload(app, app->o.hooks_user);
    return;
  }
  app_log(app, WSIO_LOG_INFO, "received %s: shutting down gracefully", signo == SIGINT ? "SIGINT" : "SIGTERM");
  /* signalfd: this is the loop thread. --threads: through the stop barrier (the post
   * phase begins the stop once the peers' marks are in); alone it begins now. */
  atomic_store(&app->stop_requested, 1);
  if (!app->stopping && threads_may_stop(app)) app_begin_stop(app);
}

void app_log(wsio_app *app, int level, const char *fmt, ...) {
  if (!app->o.log) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  app->o.log(level, msg, app->o.hooks_user);
}

static void log_tls(const char *msg, void *user) { app_log(user, WSIO_LOG_DEBUG, "%s", msg); }

/* Loads the configured certificate into a fresh server context for new connections. */
static int load_tls(wsio_app *app, int reload) {
  char err[512];
  struct ssl_ctx_st *ctx = net_tls_server_ctx(app->o.tls_cert_file, app->o.tls_key_file, err, sizeof(err));
  if (ctx && ((app->o.tls_sni && net_tls_server_add_names(ctx, app->o.tls_sni, err, sizeof(err)) < 0) ||
              (app->o.tls_client_ca_file &&
               net_tls_server_verify_clients(ctx, app->o.tls_client_ca_file, app->o.tls_crl_file,
                                             app->o.tls_client_auth == WSIO_TLS_CLIENT_AUTH_OPTIONAL, err,
                                             sizeof(err)) < 0))) {
    net_tls_ctx_free(ctx); /* every file loads, or none replaces the old set */
    ctx = NULL;
  }
  if (!ctx) {
    app_log(app, WSIO_LOG_ERROR, "TLS: %s%s", err, reload ? " (the previous certificate stays in use)" : "");
    return WSIO_ESYS;
  }
  net_tls_set_log(ctx, log_tls, app);
  net_ctx_set_tls(app->net, ctx);
  const char *ca = app->o.tls_client_ca_file;
  int opt = app->o.tls_client_auth == WSIO_TLS_CLIENT_AUTH_OPTIONAL;
  const char *crl = ca ? app->o.tls_crl_file : NULL;
  app_log(app, WSIO_LOG_INFO, "TLS: certificate %s%s%s %s%s%s%s%s", app->o.tls_cert_file,
          app->o.tls_sni ? " and --tls-sni " : "", app->o.tls_sni ? app->o.tls_sni : "",
          reload ? "reloaded" : "loaded",
          !ca ? "" : opt ? "; client certificates optional, verified against " : "; client certificates required, from ",
          ca ? ca : "", crl ? ", revocations from " : "", crl ? crl : "");
  return WSIO_OK;
}

static int tls_peer(const wsio_conn *c, char *buf, size_t cap) {
  buf[0] = '\0';
  if (!c || !c->net.tls) return 0;
  int r = net_tls_peer_subject(c->net.tls, buf, cap);
  return r == -ENOBUFS ? WSIO_ETOOBIG : r < 0 ? WSIO_ENOMEM : r;
}

int wsio_request_tls_peer(const wsio_request *req, char *buf, size_t cap) {
  if (!req || !buf || !cap) return WSIO_EINVAL;
  return tls_peer(core_request_conn(req), buf, cap);
}

/* (The TLS session lives as long as the connection: the subject is there to read
 * whenever asked, so nobody needs to keep a copy in every connection's user data.) */
int wsio_conn_tls_peer(const wsio_conn *conn, char *buf, size_t cap) {
  if (!conn || !buf || !cap) return WSIO_EINVAL;
  return tls_peer(conn, buf, cap);
}

int wsio_app_reload_tls(wsio_app *app) {
  if (!app || !app->o.tls_cert_file || !app->o.tls_key_file) return WSIO_EINVAL;
  return load_tls(app, 1);
}

static void on_wakeup(void *arg) {
  wsio_app *app = arg;
  if (!app->stopping && atomic_load(&app->stop_requested) && threads_may_stop(app)) app_begin_stop(app);
}

wsio_app *wsio_app_create(const wsio_app_options *opts) {
  wsio_app *app = core_calloc(1, sizeof(*app));
  if (!app) return NULL;
  atomic_init(&app->stop_requested, 0);
  if (opts) app->o = *opts;
  else wsio_app_options_init(&app->o);
  const char *ao = app->o.allowed_origins;
  app->o.allowed_origins = NULL; /* the caller's string: only the parsed list is kept */
  if ((ao && edge_origins_parse(ao, strlen(ao), &app->origins, NULL) < 0) || limits_init(app) < 0) {
    limits_free(app);
    edge_origins_free(app->origins);
    free(app);
    return NULL;
  }
  app->loop = loop_create();
  static const net_handlers h = {on_data, on_end, on_drain, on_accept, on_accept_error};
  app->net = app->loop ? net_ctx_create(app->loop, &h, app, app->o.io_uring ? NET_CTX_URING : 0) : NULL;
  if (!app->net || loop_set_wakeup(app->loop, on_wakeup, app) < 0) {
    wsio_app_destroy(app);
    return NULL;
  }
  if ((app->o.tls_cert_file || app->o.tls_key_file) &&
      (!app->o.tls_cert_file || !app->o.tls_key_file || load_tls(app, 0) < 0)) {
    if (!app->o.tls_cert_file || !app->o.tls_key_file)
      app_log(app, WSIO_LOG_ERROR, "TLS needs both a certificate and a key file");
    wsio_app_destroy(app);
    return NULL;
  }
  if (app->o.io_uring && !net_ctx_uring(app->net))
    app_log(app, WSIO_LOG_INFO, "io_uring unavailable (kernel, seccomp or build): one syscall per socket read/send");
  app->t0 = loop_now_ms(app->loop) - 1;
  app->port = -1;
  app->sweep.cb = sweep;
  app->sweep_ms = sweep_period(&app->o);
  loop_set_post(app->loop, post, app);
  loop_set_lag_observer(app->loop, stats_count_lag, app);
  return app;
}

static void timers_free_all(wsio_app *app);

void wsio_app_destroy(wsio_app *app) {
  if (!app) return;
  /* Work posted and not run yet runs now, once, with the app whole (wsio_app_post);
   * bounded, in case each run posts again. */
  for (int i = 0; app->loop && i < 16 && loop_post_drain(app->loop); i++) {
  }
  /* Upper layers first: they release their sessions while connections still exist. */
  run_hooks(app, CORE_HOOK_DESTROY);
  if (app->net) {
    while (net_ctx_first(app->net)) {
      wsio_conn *c = (wsio_conn *)net_ctx_first(app->net);
      c->wsf |= WSF_NOTIFIED; /* destroy runs no callbacks */
      if (c->state != CONN_DEAD) {
        if (c->state == CONN_WS || c->state == CONN_WS_CLOSING) app->st.connections_open--;
        c->state = CONN_DEAD;
        c->grave_next = app->grave;
        app->grave = c;
      }
      app_reap(app);
    }
    app_reap(app);
    net_ctx_destroy(app->net);
  }
  spare_free_all(app);
  pubsub_free_all(app);
  timers_free_all(app);
  free(app->resume);
  for (int k = 0; k < CORE_NHOOKS; k++) free(app->hooks[k].v);
  for (route *r = app->routes, *nx; r; r = nx) {
    nx = r->next;
    free(r->path);
    free(r->method);
    free(r);
  }
  threads_free(app);
  loop_destroy(app->loop);
  edge_origins_free(app->origins);
  limits_free(app);
  free(app);
}

int wsio_origins_check(const char *list, int *any, const char **why) {
  edge_origins *o = NULL;
  if (any) *any = 0;
  if (!list) {
    if (why) *why = "no list";
    return WSIO_EINVAL;
  }
  int r = edge_origins_parse(list, strlen(list), &o, why);
  if (r < 0) return r == WSIO_ENOMEM ? r : WSIO_EINVAL;
  if (any) *any = edge_origins_any(o);
  edge_origins_free(o);
  return 0;
}

static int listen_on(wsio_app *app, const char *host, int port, int plain) {
  if (!app || port < 0 || port > 65535) return WSIO_EINVAL;
  if (!threads_listens(app)) { /* the acceptor experiment: thread 0 accepts for all */
    app->nlisteners++;
    return plain ? port : 0;
  }
  /* Set on the listeners, inherited by accepted sockets: no setsockopt per upgrade. */
  net_ctx_set_kernel_send_limit(app->net, app->o.kernel_send_limit);
  /* --threads: every member watches one socket on the first one's port. */
  net_listener *ls = app->group ? threads_listen(app, host ? host : "127.0.0.1", port, plain)
                                : net_listen(app->net, host ? host : "127.0.0.1", port, 1024, NULL);
  if (!ls) {
    int e = errno; /* kept for the caller: strerror(errno) is the reason */
    int r = e == ENOMEM ? WSIO_ENOMEM
            : (e == EADDRINUSE || e == EADDRNOTAVAIL || e == EACCES || e == EAFNOSUPPORT) ? WSIO_EADDR
                                                                                       : WSIO_ESYS;
    errno = e;
    return r;
  }
  /* HTTP and TLS clients speak first: accepted with their request (see net.h). */
  net_listener_defer_accept(ls);
  app->nlisteners++;
  threads_listened(app, net_listener_port(ls), plain);
  if (plain) {
    net_listener_set_plain(ls, 1);
    return net_listener_port(ls);
  }
  if (app->port < 0) app->port = net_listener_port(ls);
  return 0;
}

int wsio_app_listen(wsio_app *app, const char *host, int port) { return listen_on(app, host, port, 0); }
int wsio_app_listen_plain(wsio_app *app, const char *host, int port) { return listen_on(app, host, port, 1); }

int wsio_app_port(const wsio_app *app) { return app ? app->port : -1; }

int wsio_app_run(wsio_app *app) {
  if (!app || !app->nlisteners) return WSIO_EINVAL;
  if (app->o.handle_signals && loop_signals(app->loop, on_signal, app) < 0) return WSIO_ESYS;
  loop_update_time(app->loop);
  loop_timer_start(app->loop, &app->sweep, app->sweep_ms, app->sweep_ms);
  /* Work posted before the run, and a stop asked for before it, are seen at once. */
  loop_wakeup(app->loop);
  int r = loop_run(app->loop);
  int e = errno;
  loop_timer_stop(app->loop, &app->sweep);
  loop_timer_stop(app->loop, &app->shutdown_timer);
  errno = e;
  return r < 0 ? WSIO_ESYS : 0;
}

static void shutdown_expired(loop_timer *t) {
  wsio_app *app = (wsio_app *)((char *)t - offsetof(wsio_app, shutdown_timer));
  for (net_conn *nc = net_ctx_first(app->net); nc; nc = nc->next) conn_kill((wsio_conn *)nc);
  loop_stop(app->loop);
}

/* Any thread, or a signal handler: only an atomic store and write(2) on the eventfd,
 * both async-signal-safe; errno is preserved for the interrupted code. */
void wsio_app_stop(wsio_app *app) {
  if (!app) return;
  int e = errno;
  atomic_store(&app->stop_requested, 1);
  loop_wakeup(app->loop);
  errno = e;
}

/* The graceful stop itself, on the loop thread (wake-up, post phase, signalfd). */
static void app_begin_stop(wsio_app *app) {
  if (app->stopping) return;
  app->stopping = 1;
  threads_stop_peers(app); /* --threads: SIGTERM drains every thread */
  /* Upper layers first: Engine.IO answers its long-polls with a close packet. */
  run_hooks(app, CORE_HOOK_STOP);
  /* --threads: this member's clients' holds are known now; the hold its join took ends
   * (until every member got here, a peer's client may still come through us). */
  threads_drain_hold(app, -1);
  /* Stop accepting, unless a client is still expected (app_drain_hold: then the last
   * release closes the listeners; a client may come back on a new connection). */
  unsigned held = threads_drain_holds(app);
  if (!held) {
    app->drain_released = 1;
    net_ctx_close_listeners(app->net);
  }
  for (net_conn *nc = net_ctx_first(app->net); nc; nc = nc->next) {
    wsio_conn *c = (wsio_conn *)nc;
    http_aux *a = c->state == CONN_HTTP ? c->aux : NULL;
    if (c->state == CONN_WS) wsio_conn_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
    else if (c->state == CONN_HTTP && !held && !(a && (a->held || a->len))) conn_kill(c); /* idle keep-alive */
  }
  app->shutdown_timer.cb = shutdown_expired;
  loop_timer_start(app->loop, &app->shutdown_timer, threads_stop_left_ms(app), 0); /* (--threads: less the barrier) */
  if (net_ctx_count(app->net) == 0 && !app->grave && !held) loop_stop(app->loop);
}

int wsio_app_post(wsio_app *app, void (*fn)(void *arg), void *arg) {
  if (!app || !fn) return WSIO_EINVAL;
  return loop_post(app->loop, fn, arg) < 0 ? WSIO_ENOMEM : 0;
}

/* ---- timers ---------------------------------------------------------------------- */

struct wsio_timer {
  loop_timer lt; /* first: the loop's callback casts back */
  wsio_app *app;
  wsio_timer *prev, *next; /* app->timers */
  wsio_timer_cb cb;
  void *user;
};

static void timer_fired(loop_timer *lt) {
  wsio_timer *t = (wsio_timer *)lt;
  t->cb(t, t->user); /* may stop, restart or destroy t: nothing touches t after */
}

wsio_timer *wsio_timer_create(wsio_app *app, wsio_timer_cb cb, void *user) {
  if (!app || !cb) return NULL;
  wsio_timer *t = core_calloc(1, sizeof(*t));
  if (!t) return NULL;
  t->lt.cb = timer_fired;
  t->app = app;
  t->cb = cb;
  t->user = user;
  t->next = app->timers;
  if (app->timers) app->timers->prev = t;
  app->timers = t;
  return t;
}

int wsio_timer_start(wsio_timer *t, uint64_t after_ms, uint64_t repeat_ms) {
  if (!t || repeat_ms > UINT32_MAX) return WSIO_EINVAL;
  loop *l = t->app->loop;
  uint64_t now = loop_now_ms(l);
  uint64_t due = after_ms > UINT64_MAX - now ? UINT64_MAX : now + after_ms;
  return loop_timer_start_at(l, &t->lt, due, (uint32_t)repeat_ms) < 0 ? WSIO_ENOMEM : 0;
}

void wsio_timer_stop(wsio_timer *t) {
  if (t) loop_timer_stop(t->app->loop, &t->lt);
}

int wsio_timer_active(const wsio_timer *t) { return t && loop_timer_active(&t->lt); }
void *wsio_timer_user(const wsio_timer *t) { return t ? t->user : NULL; }

void wsio_timer_destroy(wsio_timer *t) {
  if (!t) return;
  wsio_app *app = t->app;
  loop_timer_stop(app->loop, &t->lt);
  if (t->prev) t->prev->next = t->next;
  else app->timers = t->next;
  if (t->next) t->next->prev = t->prev;
  free(t);
}

static void timers_free_all(wsio_app *app) {
  while (app->timers) wsio_timer_destroy(app->timers);
}

void wsio_app_set_user(wsio_app *app, void *user) {
  if (app) app->user = user;
}
void *wsio_app_user(const wsio_app *app) { return app ? app->user : NULL; }

void wsio_app_stats(const wsio_app *app, wsio_stats *out) {
  if (!out) return;
  if (app) {
    *out = app->st;
    out->tls_handshake_failures_total = net_ctx_tls_failures(app->net);
  } else {
    memset(out, 0, sizeof(*out));
  }
}

static const int close_codes[WSIO_STATS_NCLOSE] = {1000, 1001, 1002, 1003, 1005, 1006,
                                                   1007, 1008, 1009, 1011, 1012, 0};
static const int hs_statuses[WSIO_STATS_NSTATUS] = {400, 403, 404, 405, 426, 431, 500, 501, 503, 0};
static const double lag_bounds[WSIO_STATS_NLAG] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, INFINITY};

int wsio_stats_close_code(size_t i) { return i < WSIO_STATS_NCLOSE ? close_codes[i] : 0; }
int wsio_stats_handshake_status(size_t i) { return i < WSIO_STATS_NSTATUS ? hs_statuses[i] : 0; }
double wsio_stats_lag_bound(size_t i) { return i < WSIO_STATS_NLAG ? lag_bounds[i] : INFINITY; }

void stats_count_close(wsio_app *app, int code) {
  size_t i = 0;
  while (i < WSIO_STATS_NCLOSE - 1 && close_codes[i] != code) i++;
  app->st.closes_by_code[i]++;
}

void stats_count_handshake_failure(wsio_app *app, int status) {
  size_t i = 0;
  while (i < WSIO_STATS_NSTATUS - 1 && hs_statuses[i] != status) i++;
  app->st.handshake_failures_by_status[i]++;
  app->st.handshake_failures_total++;
}

static void stats_count_lag(void *arg, uint64_t lag_ms) {
  wsio_app *app = arg;
  double s = (double)lag_ms / 1000.0;
  size_t i = 0;
  while (i < WSIO_STATS_NLAG - 1 && s > lag_bounds[i]) i++;
  app->st.loop_lag_buckets[i]++;
  app->st.loop_lag_count++;
  app->st.loop_lag_sum_seconds += s;
}

/* ---- routes ---------------------------------------------------------------------- */

static int path_ok(const char *path) { return path && path[0] == '/'; }

/* A complete route, not linked yet: registration links it only once nothing else can
 * fail, so a failed call leaves no half-registered route behind. */
static route *route_new(const char *path, const char *method) {
  route *r = core_calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->path = core_strdup(path);
  r->method = method ? core_strdup(method) : NULL;
  if (!r->path || (method && !r->method)) {
    free(r->path);
    free(r->method);
    free(r);
    return NULL;
  }
  r->path_len = strlen(path);
  if (r->path_len > 1 && path[r->path_len - 1] == '*') { /* a prefix route */
    r->prefix = 1;
    r->path_len--;
  }
  return r;
}

static void route_link(wsio_app *app, route *r) {
  route **pp = &app->routes;
  while (*pp) pp = &(*pp)->next;
  *pp = r;
}

/* A path may have one WebSocket route and HTTP routes (one per method, or one for
 * any method): upgrade requests go to the former, everything else to the latter. */
static int route_exists(wsio_app *app, const char *path, int is_ws, const char *method) {
  for (route *r = app->routes; r; r = r->next) {
    if (strcmp(r->path, path) != 0 || r->is_ws != is_ws) continue;
    if (is_ws) return 1;
    if (!method || !r->method || strcmp(method, r->method) == 0) return 1;
  }
  return 0;
}

int wsio_app_ws(wsio_app *app, const char *path, const wsio_ws_handlers *h, void *route_user) {
  if (!app || !h || !path_ok(path)) return WSIO_EINVAL;
  if (route_exists(app, path, 1, NULL)) return WSIO_EEXIST;
  route *r = route_new(path, NULL);
  if (!r) return WSIO_ENOMEM;
  r->is_ws = 1;
  r->ws = *h;
  r->user = route_user;
  /* user[] itself starts 16-aligned; its size is only padded to a pointer's, so an
   * 8-byte area (Engine.IO's) does not make every connection's malloc chunk larger. */
  size_t ud = (h->user_data_size + 7) & ~(size_t)7;
  if (ud > app->user_data_size) app->user_data_size = ud;
  route_link(app, r);
  return 0;
}

int wsio_app_http(wsio_app *app, const char *method, const char *path, wsio_http_handler handler,
                  void *route_user) {
  if (!app || !handler || !path_ok(path)) return WSIO_EINVAL;
  if (route_exists(app, path, 0, method)) return WSIO_EEXIST;
  route *r = route_new(path, method);
  if (!r) return WSIO_ENOMEM;
  r->http = handler;
  r->user = route_user;
  route_link(app, r);
  return 0;
}
