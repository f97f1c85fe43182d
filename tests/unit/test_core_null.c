/* The NULL rule of include/wsio.h, for every public function: a required pointer
 * that is NULL makes the call return WSIO_EINVAL / NULL / 0 / -1 as its comment
 * says, never crash. The table is checked against the header itself, so a function
 * added to wsio.h without a row here fails this test.
 *
 * Calls that need a live connection, request or response with one NULL argument
 * among valid ones are in test_core_api.c (the "nullargs" command and /x). */
#include <math.h>
#include <stdint.h>

#include "test.h"
#include "wsio.h"

static wsio_app *app; /* a real app (never run) for the calls that take one */
static void noop(void *arg) { (void)arg; }
static void timer_noop(wsio_timer *t, void *user) {
  (void)t;
  (void)user;
}
static void http_noop(const wsio_request *req, wsio_response *res, void *u) {
  (void)req;
  (void)res;
  (void)u;
}

/* Each returns 1 when every NULL form of the call behaved as documented. */
static int t_strerror(void) { return wsio_strerror(-12345) != NULL && wsio_strerror(WSIO_EDROPPED) != NULL; }
static int t_options_init(void) {
  wsio_app_options_init(NULL);
  return 1;
}
static int t_create(void) { /* NULL options = the defaults */
  wsio_app *a = wsio_app_create(NULL);
  int ok = a != NULL;
  wsio_app_destroy(a);
  return ok;
}
static int t_destroy(void) {
  wsio_app_destroy(NULL);
  return 1;
}
static int t_listen(void) { return wsio_app_listen(NULL, "127.0.0.1", 0) == WSIO_EINVAL; }
static int t_port(void) { return wsio_app_port(NULL) == -1; }
static int t_run(void) { return wsio_app_run(NULL) == WSIO_EINVAL; }
static int t_stop(void) {
  wsio_app_stop(NULL);
  return 1;
}
static int t_post(void) {
  return wsio_app_post(NULL, noop, NULL) == WSIO_EINVAL && wsio_app_post(app, NULL, NULL) == WSIO_EINVAL;
}
static int t_set_user(void) {
  wsio_app_set_user(NULL, &app);
  return 1;
}
static int t_user(void) { return wsio_app_user(NULL) == NULL; }
static int t_timer_create(void) {
  return wsio_timer_create(NULL, timer_noop, NULL) == NULL && wsio_timer_create(app, NULL, NULL) == NULL;
}
static int t_timer_start(void) { return wsio_timer_start(NULL, 1, 0) == WSIO_EINVAL; }
static int t_timer_stop(void) {
  wsio_timer_stop(NULL);
  return 1;
}
static int t_timer_active(void) { return wsio_timer_active(NULL) == 0; }
static int t_timer_destroy(void) {
  wsio_timer_destroy(NULL);
  return 1;
}
static int t_timer_user(void) { return wsio_timer_user(NULL) == NULL; }
static int t_req_method(void) {
  size_t len = 7;
  return wsio_request_method(NULL, &len) == NULL && len == 0 && wsio_request_method(NULL, NULL) == NULL;
}
static int t_req_path(void) {
  size_t len = 7;
  return wsio_request_path(NULL, &len) == NULL && len == 0 && wsio_request_path(NULL, NULL) == NULL;
}
static int t_req_query(void) {
  size_t len = 7;
  return wsio_request_query(NULL, &len) == NULL && len == 0;
}
static int t_req_header(void) {
  size_t len = 7;
  return wsio_request_header(NULL, "host", &len) == NULL && len == 0 && wsio_request_header(NULL, NULL, NULL) == NULL;
}
static int t_req_query_param(void) {
  char out[8];
  return wsio_request_query_param(NULL, "k", out, sizeof(out)) == WSIO_EINVAL;
}
static int t_req_body(void) {
  size_t len = 7;
  return wsio_request_body(NULL, &len) == NULL && len == 0;
}
static int t_req_addr(void) {
  char buf[WSIO_ADDRSTRLEN];
  return wsio_request_remote_address(NULL, buf, sizeof(buf)) == WSIO_EINVAL;
}
static int t_req_tls_peer(void) {
  char buf[64] = "x";
  return wsio_request_tls_peer(NULL, buf, sizeof(buf)) == WSIO_EINVAL;
}
static int t_conn_tls_peer(void) {
  char buf[64] = "x";
  return wsio_conn_tls_peer(NULL, buf, sizeof(buf)) == WSIO_EINVAL;
}
static int t_req_origin(void) { return wsio_request_origin_allowed(NULL) == 1; }
static int t_origins_check(void) {
  int any = 7;
  const char *why = NULL;
  return wsio_origins_check(NULL, &any, &why) == WSIO_EINVAL && any == 0 && why &&
         wsio_origins_check(NULL, NULL, NULL) == WSIO_EINVAL;
}
static int t_app_ws(void) {
  wsio_ws_handlers h = {0};
  return wsio_app_ws(NULL, "/a", &h, NULL) == WSIO_EINVAL && wsio_app_ws(app, NULL, &h, NULL) == WSIO_EINVAL &&
         wsio_app_ws(app, "/a", NULL, NULL) == WSIO_EINVAL;
}
static int t_app_http(void) {
  return wsio_app_http(NULL, "GET", "/a", http_noop, NULL) == WSIO_EINVAL &&
         wsio_app_http(app, "GET", NULL, http_noop, NULL) == WSIO_EINVAL &&
         wsio_app_http(app, "GET", "/a", NULL, NULL) == WSIO_EINVAL;
}
static int t_res_header(void) { return wsio_response_header(NULL, "a", "b") == WSIO_EINVAL; }
static int t_res_hold(void) { return wsio_response_hold(NULL, NULL, NULL) == NULL; }
static int t_res_send(void) { return wsio_response_send(NULL, 200, NULL, "x", 1) == WSIO_EINVAL; }
static int t_send(void) { return wsio_conn_send(NULL, "x", 1, WSIO_OP_TEXT) == WSIO_EINVAL; }
static int t_ping(void) { return wsio_conn_ping(NULL, NULL, 0) == WSIO_EINVAL; }
static int t_close(void) { return wsio_conn_close(NULL, 1000, NULL) == WSIO_EINVAL; }
static int t_terminate(void) {
  wsio_conn_terminate(NULL);
  return 1;
}
static int t_buffered(void) { return wsio_conn_buffered_amount(NULL) == 0; }
static int t_user_data(void) { return wsio_conn_user_data(NULL) == NULL; }
static int t_route_user(void) { return wsio_conn_route_user(NULL) == NULL; }
static int t_conn_app(void) { return wsio_conn_app(NULL) == NULL; }
static int t_protocol(void) { return wsio_conn_protocol(NULL) == NULL; }
static int t_conn_addr(void) {
  char buf[WSIO_ADDRSTRLEN];
  return wsio_conn_remote_address(NULL, buf, sizeof(buf)) == WSIO_EINVAL;
}
static int t_subscribe(void) { return wsio_conn_subscribe(NULL, "t") == WSIO_EINVAL; }
static int t_unsubscribe(void) { return wsio_conn_unsubscribe(NULL, "t") == WSIO_EINVAL; }
static int t_is_subscribed(void) { return wsio_conn_is_subscribed(NULL, "t") == 0; }
static int t_publish(void) {
  return wsio_app_publish(NULL, "t", "x", 1, WSIO_OP_TEXT) == WSIO_EINVAL &&
         wsio_app_publish(app, NULL, "x", 1, WSIO_OP_TEXT) == WSIO_EINVAL &&
         wsio_app_publish(app, "t", NULL, 1, WSIO_OP_TEXT) == WSIO_EINVAL &&
         wsio_app_publish(app, "t", NULL, 0, WSIO_OP_TEXT) == 0; /* empty message, nobody subscribed */
}
static int t_num_subscribers(void) {
  return wsio_app_num_subscribers(NULL, "t") == 0 && wsio_app_num_subscribers(app, NULL) == 0;
}
static int t_stats(void) {
  wsio_stats st;
  memset(&st, 0xff, sizeof(st));
  wsio_app_stats(NULL, &st);
  wsio_app_stats(app, NULL);
  return st.connections_total == 0 && st.loop_lag_count == 0;
}
static int t_stats_sum(void) {
  wsio_stats st;
  memset(&st, 0xff, sizeof(st));
  wsio_app_stats_sum(NULL, &st);
  wsio_app_stats_sum(app, NULL);
  return st.connections_total == 0 && st.loop_lag_count == 0;
}
static int t_join(void) {
  return wsio_app_join(NULL, app) == WSIO_EINVAL && wsio_app_join(app, NULL) == WSIO_EINVAL &&
         wsio_app_join(app, app) == WSIO_EINVAL;
}
static int t_thread_index(void) { return wsio_app_thread_index(NULL) == 0 && wsio_app_thread_index(app) == 0; }
static int t_thread_count(void) { return wsio_app_thread_count(NULL) == 1 && wsio_app_thread_count(app) == 1; }
static int t_thread_peer(void) {
  return wsio_app_thread_peer(NULL, 0) == NULL && wsio_app_thread_peer(app, 0) == app &&
         wsio_app_thread_peer(app, 1) == NULL;
}
static int t_threads_run(void) {
  wsio_app *none[1] = {NULL};
  return wsio_threads_run(NULL, 1) == WSIO_EINVAL && wsio_threads_run(none, 0) == WSIO_EINVAL &&
         wsio_threads_run(none, 1) == WSIO_EINVAL;
}
static int t_threads_auto(void) { return wsio_threads_auto() >= 1; }
static int t_listen_plain(void) { return wsio_app_listen_plain(NULL, NULL, 0) == WSIO_EINVAL; }
static int t_reload_tls(void) {
  return wsio_app_reload_tls(NULL) == WSIO_EINVAL && wsio_app_reload_tls(app) == WSIO_EINVAL; /* no TLS */
}
static int t_close_code(void) { return wsio_stats_close_code(1000) == 0; }
static int t_hs_status(void) { return wsio_stats_handshake_status(1000) == 0; }
static int t_lag_bound(void) { return isinf(wsio_stats_lag_bound(1000)); }

static const struct {
  const char *name;
  int (*check)(void);
} table[] = {
    {"wsio_strerror", t_strerror},
    {"wsio_app_options_init", t_options_init},
    {"wsio_app_create", t_create},
    {"wsio_app_destroy", t_destroy},
    {"wsio_app_listen", t_listen},
    {"wsio_app_port", t_port},
    {"wsio_app_run", t_run},
    {"wsio_app_stop", t_stop},
    {"wsio_app_post", t_post},
    {"wsio_app_set_user", t_set_user},
    {"wsio_app_user", t_user},
    {"wsio_timer_create", t_timer_create},
    {"wsio_timer_start", t_timer_start},
    {"wsio_timer_stop", t_timer_stop},
    {"wsio_timer_active", t_timer_active},
    {"wsio_timer_destroy", t_timer_destroy},
    {"wsio_timer_user", t_timer_user},
    {"wsio_request_method", t_req_method},
    {"wsio_request_path", t_req_path},
    {"wsio_request_query", t_req_query},
    {"wsio_request_header", t_req_header},
    {"wsio_request_query_param", t_req_query_param},
    {"wsio_request_body", t_req_body},
    {"wsio_request_remote_address", t_req_addr},
    {"wsio_request_tls_peer", t_req_tls_peer},
    {"wsio_conn_tls_peer", t_conn_tls_peer},
    {"wsio_request_origin_allowed", t_req_origin},
    {"wsio_origins_check", t_origins_check},
    {"wsio_app_ws", t_app_ws},
    {"wsio_app_http", t_app_http},
    {"wsio_response_header", t_res_header},
    {"wsio_response_hold", t_res_hold},
    {"wsio_response_send", t_res_send},
    {"wsio_conn_send", t_send},
    {"wsio_conn_ping", t_ping},
    {"wsio_conn_close", t_close},
    {"wsio_conn_terminate", t_terminate},
    {"wsio_conn_buffered_amount", t_buffered},
    {"wsio_conn_user_data", t_user_data},
    {"wsio_conn_route_user", t_route_user},
    {"wsio_conn_app", t_conn_app},
    {"wsio_conn_protocol", t_protocol},
    {"wsio_conn_remote_address", t_conn_addr},
    {"wsio_conn_subscribe", t_subscribe},
    {"wsio_conn_unsubscribe", t_unsubscribe},
    {"wsio_conn_is_subscribed", t_is_subscribed},
    {"wsio_app_publish", t_publish},
    {"wsio_app_num_subscribers", t_num_subscribers},
    {"wsio_app_stats", t_stats},
    {"wsio_app_stats_sum", t_stats_sum},
    {"wsio_app_join", t_join},
    {"wsio_app_thread_index", t_thread_index},
    {"wsio_app_thread_count", t_thread_count},
    {"wsio_app_thread_peer", t_thread_peer},
    {"wsio_threads_run", t_threads_run},
    {"wsio_threads_auto", t_threads_auto},
    {"wsio_app_reload_tls", t_reload_tls},
    {"wsio_app_listen_plain", t_listen_plain},
    {"wsio_stats_close_code", t_close_code},
    {"wsio_stats_handshake_status", t_hs_status},
    {"wsio_stats_lag_bound", t_lag_bound},
};
#define NTABLE (sizeof(table) / sizeof(table[0]))

static void test_every_function(void) {
  for (size_t i = 0; i < NTABLE; i++) {
    test_current = table[i].name;
    CHECK(table[i].check());
  }
  test_current = "test_every_function";
}

/* Every function declared in include/wsio.h has a row: a declaration is a line that
 * is not a comment or typedef and names wsio_<something> followed by '('. */
static void test_table_covers_header(void) {
  char path[1024];
  snprintf(path, sizeof(path), "%s", __FILE__);
  char *slash = strrchr(path, '/');
  if (!slash) {
    CHECK(0);
    return;
  }
  snprintf(slash, sizeof(path) - (size_t)(slash - path), "/../../include/wsio.h");
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  if (!f) return;
  char line[512];
  int declared = 0;
  while (fgets(line, sizeof(line), f)) {
    const char *p = line;
    while (*p == ' ') p++;
    if (*p == '*' || *p == '/' || *p == '#' || strncmp(p, "typedef", 7) == 0 || p != line) continue;
    for (const char *q = strstr(p, "wsio_"); q; q = strstr(q + 1, "wsio_")) {
      size_t n = 0;
      while ((q[n] >= 'a' && q[n] <= 'z') || q[n] == '_' || (q[n] >= '0' && q[n] <= '9')) n++;
      if (q[n] != '(' || (q > line && (q[-1] == '*' && q > line + 1 && q[-2] == '('))) continue;
      declared++;
      int found = 0;
      for (size_t i = 0; i < NTABLE; i++) found |= strlen(table[i].name) == n && memcmp(table[i].name, q, n) == 0;
      if (!found) fprintf(stderr, "no NULL-rule row for %.*s\n", (int)n, q);
      CHECK(found);
      break;
    }
  }
  fclose(f);
  CHECK_EQ_INT(declared, NTABLE);
}

int main(void) {
  app = wsio_app_create(NULL);
  CHECK(app != NULL);
  if (!app) return test_report();
  RUN(test_every_function);
  RUN(test_table_covers_header);
  wsio_app_destroy(app);
  return test_report();
}
