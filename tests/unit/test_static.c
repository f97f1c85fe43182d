/* Unit and end-to-end tests of wsio-server's static file serving (app/static.c,
 * included directly: it is part of the program, not the library).
 *
 * The pure helpers are table-driven. The end-to-end part builds a site in a temporary
 * folder (with a secret next to it, symlinks out of it, a FIFO and an oversized sparse
 * file in it), mounts it on an app whose loop runs in a pthread, and speaks raw HTTP/1.1
 * over 127.0.0.1 with Connection: close, so each answer ends at EOF. Every wait is
 * bounded by socket timeouts. */
#include "app/static.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "net_harness.h"
#include "test.h"

/* ---- pure helpers -------------------------------------------------------------------- */

static void test_path_clean(void) {
  static const struct {
    const char *in;
    size_t n; /* 0 = strlen(in) */
    int want; /* >= 0: the length of `out` */
    const char *out;
    int is_dir;
  } cases[] = {
      {"/", 0, 0, "", 1},
      {"/index.html", 0, 10, "index.html", 0},
      {"/a/b.js", 0, 6, "a/b.js", 0},
      {"/a//b.js", 0, 6, "a/b.js", 0},
      {"//etc/passwd", 0, 10, "etc/passwd", 0}, /* "absolute" paths stay under the root */
      {"/a/", 0, 1, "a", 1},
      {"/hello%20world.txt", 0, 15, "hello world.txt", 0},
      {"/%E2%82%AC.txt", 0, 7, "\xE2\x82\xAC.txt", 0},
      {"/a..b/c...d", 0, 10, "a..b/c...d", 0},
      {"/../etc/passwd", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/a/../../x", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/a/..", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/./x", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/%2e%2e/%2e%2e/etc/passwd", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/%2E%2E/x", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/.%2e/x", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/%2e/x", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/..%2fetc/passwd", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/a%2Fb", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/a\\..\\x", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/a%5c..%5cx", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/a%00.html", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/a\0b", 4, STATIC_EFORBIDDEN, NULL, 0},
      {"/a%0d%0aSet-Cookie:x", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/a%7f", 0, STATIC_EFORBIDDEN, NULL, 0},
      {"/.hidden/../x", 0, STATIC_EFORBIDDEN, NULL, 0}, /* forbidden outranks hidden */
      {"/.git/config", 0, STATIC_EHIDDEN, NULL, 0},
      {"/a/.env", 0, STATIC_EHIDDEN, NULL, 0},
      {"/%2egit/config", 0, STATIC_EHIDDEN, NULL, 0},
      {"/...", 0, STATIC_EHIDDEN, NULL, 0},
      {"", 0, STATIC_EBADPATH, NULL, 0},
      {"etc/passwd", 0, STATIC_EBADPATH, NULL, 0},
      {"/%zz", 0, STATIC_EBADPATH, NULL, 0},
      {"/%2", 0, STATIC_EBADPATH, NULL, 0},
      {"/a%", 0, STATIC_EBADPATH, NULL, 0},
      {"/a%2/b", 0, STATIC_EBADPATH, NULL, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char out[64];
    int is_dir = -1;
    size_t n = cases[i].n ? cases[i].n : strlen(cases[i].in);
    int r = static_path_clean(cases[i].in, n, out, sizeof(out), &is_dir);
    if (r != cases[i].want) fprintf(stderr, "path case %zu: %s\n", i, cases[i].in);
    CHECK_EQ_INT(r, cases[i].want);
    if (cases[i].want >= 0 && r >= 0) {
      CHECK_STR(out, cases[i].out);
      CHECK_EQ_INT(is_dir, cases[i].is_dir);
    }
  }
  /* Output buffer limits: exactly fitting, and one byte short. */
  char small[6];
  int d;
  CHECK_EQ_INT(static_path_clean("/abcde", 6, small, sizeof(small), &d), 5);
  CHECK_EQ_INT(static_path_clean("/abcdef", 7, small, sizeof(small), &d), STATIC_ETOOLONG);
  CHECK_EQ_INT(static_path_clean("/ab/cd", 6, small, sizeof(small), &d), 5);
  CHECK_EQ_INT(static_path_clean("/ab/cde", 7, small, sizeof(small), &d), STATIC_ETOOLONG);
  CHECK_EQ_INT(static_path_clean("/", 1, small, 0, &d), STATIC_ETOOLONG);
}

static void test_alias(void) {
  CHECK_STR(static_alias(""), "index.html");
  CHECK_STR(static_alias("stats"), "stats.html");
  CHECK_STR(static_alias("socket.io.min.js"), "vendor/socket.io.min.js");
  CHECK_STR(static_alias("socket.io.min.js.map"), "vendor/socket.io.min.js.map");
  CHECK_STR(static_alias("app.js"), "app.js");
  CHECK_STR(static_alias("stats.html"), "stats.html");
}

static void test_content_type(void) {
  static const struct {
    const char *name, *type;
  } cases[] = {
      {"index.html", "text/html; charset=utf-8"},
      {"a/B.HTML", "text/html; charset=utf-8"},
      {"app.css", "text/css; charset=utf-8"},
      {"app.js", "text/javascript; charset=utf-8"},
      {"mod.mjs", "text/javascript; charset=utf-8"},
      {"data.json", "application/json"},
      {"logo.svg", "image/svg+xml"},
      {"logo.png", "image/png"},
      {"favicon.ico", "image/x-icon"},
      {"notes.txt", "text/plain; charset=utf-8"},
      {"vendor/socket.io.min.js.map", "application/json"},
      {"font.woff2", "font/woff2"},
      {"archive.tar.gz", "application/octet-stream"},
      {"Makefile", "application/octet-stream"},
      {".html", "application/octet-stream"}, /* a dotfile, not an extension */
      {"dir.js/file", "application/octet-stream"},
      {"", "application/octet-stream"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    CHECK_STR(static_content_type(cases[i].name), cases[i].type);
}

static void test_etag(void) {
  char e[64];
  CHECK_EQ_INT(static_etag(e, sizeof(e), 10, 1700000000, 5), strlen("W/\"a-17979cfe362a0005\""));
  CHECK_STR(e, "W/\"a-17979cfe362a0005\"");
  static const struct {
    const char *inm;
    int want;
  } cases[] = {
      {"W/\"a-17979cfe362a0005\"", 1},
      {"\"a-17979cfe362a0005\"", 1}, /* weak comparison ignores W/ */
      {"*", 1},
      {"\"x\", W/\"a-17979cfe362a0005\"", 1},
      {" \"x\" ,\t\"a-17979cfe362a0005\" ", 1},
      {"\"x\"", 0},
      {"W/\"a-17979cfe362a0006\"", 0},
      {"a-17979cfe362a0005", 0}, /* unquoted: not an entity tag */
      {"\"a-17979cfe362a0005", 0},
      {"\"a-17979cfe362a000\"", 0},
      {"", 0},
      {",,", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    CHECK_EQ_INT(static_etag_matches(cases[i].inm, strlen(cases[i].inm), e), cases[i].want);
}

static void test_http_date(void) {
  char d[40];
  CHECK_EQ_INT(static_http_date(d, sizeof(d), 784111777), 29);
  CHECK_STR(d, "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK_EQ_INT(static_http_date(d, sizeof(d), 0), 29);
  CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 GMT");
  static_http_date(d, sizeof(d), 951825600);
  CHECK_STR(d, "Tue, 29 Feb 2000 12:00:00 GMT");
  static_http_date(d, sizeof(d), 2147483648);
  CHECK_STR(d, "Tue, 19 Jan 2038 03:14:08 GMT");
  CHECK_EQ_INT(static_http_date(d, 10, 0), 0); /* does not fit */

  static const struct {
    const char *in;
    int ok;
    long long want;
  } cases[] = {
      {"Sun, 06 Nov 1994 08:49:37 GMT", 1, 784111777},
      {"Sunday, 06-Nov-94 08:49:37 GMT", 1, 784111777},
      {"Sun Nov  6 08:49:37 1994", 1, 784111777},
      {"Sun Nov 16 08:49:37 1994", 1, 784111777 + 10 * 86400},
      {"  Sun, 06 Nov 1994 08:49:37 GMT\t", 1, 784111777},
      {"Thu, 01 Jan 1970 00:00:00 GMT", 1, 0},
      {"Tue, 29 Feb 2000 12:00:00 GMT", 1, 951825600},
      {"Tue, 19 Jan 2038 03:14:08 GMT", 1, 2147483648LL},
      {"Thursday, 01-Jan-15 00:00:00 GMT", 1, 1420070400},
      {"Wed, 31 Dec 1969 23:59:59 GMT", 1, -1},
      {"Sat, 30 Jun 2012 23:59:60 GMT", 1, 1341100799}, /* leap second */
      {"Sun, 06 Nov 1994 08:49:37 UTC", 0, 0},
      {"Sun, 6 Nov 1994 08:49:37 GMT", 0, 0},
      {"Sun, 06 nov 1994 08:49:37 GMT", 0, 0},
      {"Sun, 06 Nov 1994 08:49:37 GMT x", 0, 0},
      {"Sun, 06 Nov 1994 24:00:00 GMT", 0, 0},
      {"Sun, 06 Nov 1994 08:60:00 GMT", 0, 0},
      {"Tue, 29 Feb 2100 12:00:00 GMT", 0, 0},
      {"Sat, 31 Apr 2000 12:00:00 GMT", 0, 0},
      {"Sun, 00 Nov 1994 08:49:37 GMT", 0, 0},
      {"Xyz, 06 Nov 1994 08:49:37 GMT", 0, 0},
      {"Sun, 06 Nov 1994 08:49:37", 0, 0},
      {"Sun, 06 Nov 1994", 0, 0},
      {"Sun Nov 6 08:49:37 1994", 0, 0},
      {"1994-11-06T08:49:37Z", 0, 0},
      {"", 0, 0},
      {"-1", 0, 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    time_t t = 12345;
    int r = static_parse_http_date(cases[i].in, strlen(cases[i].in), &t);
    if ((r == 0) != cases[i].ok) fprintf(stderr, "date case %zu: %s\n", i, cases[i].in);
    CHECK_EQ_INT(r == 0, cases[i].ok);
    if (cases[i].ok && r == 0) CHECK_EQ_INT(t, cases[i].want);
  }
  /* Round trip over a spread of times. */
  for (long long t = 0; t < 4102444800LL; t += 86400LL * 97 + 3671) {
    time_t back = 0;
    size_t n = static_http_date(d, sizeof(d), (time_t)t);
    CHECK(n == 29 && static_parse_http_date(d, n, &back) == 0 && back == (time_t)t);
  }
}

/* ---- end to end: the site on disk ---------------------------------------------------- */

static char g_base[64], g_root[128];

static int write_file(const char *rel, const char *content) {
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", g_root, rel);
  FILE *f = fopen(p, "wb");
  if (!f) return -1;
  fputs(content, f);
  return fclose(f);
}

static int sub(char *out, size_t cap, const char *rel) {
  return snprintf(out, cap, "%s/%s", g_root, rel);
}

static int make_site(void) {
  snprintf(g_base, sizeof(g_base), "/tmp/wsio-static-XXXXXX");
  if (!mkdtemp(g_base)) return -1;
  snprintf(g_root, sizeof(g_root), "%s/root", g_base);
  char p[512], q[512];
  if (mkdir(g_root, 0755) < 0) return -1;
  snprintf(p, sizeof(p), "%s/secret.txt", g_base); /* next to the root: must never leak */
  FILE *f = fopen(p, "w");
  if (!f) return -1;
  fputs("TOPSECRET\n", f);
  fclose(f);
  const char *dirs[] = {"a", "docs", "vendor"};
  for (size_t i = 0; i < 3; i++) {
    sub(p, sizeof(p), dirs[i]);
    if (mkdir(p, 0755) < 0) return -1;
  }
  int r = 0;
  r |= write_file("index.html", "<!doctype html><h1>chat</h1>\n");
  r |= write_file("stats.html", "<!doctype html><h1>stats</h1>\n");
  r |= write_file("app.css", "body{margin:0}\n");
  r |= write_file("app.js", "console.log('app');\n");
  r |= write_file("vendor/socket.io.min.js", "/* socket.io client */\n");
  r |= write_file("a/b.txt", "bee\n");
  r |= write_file("a/.env", "HIDDEN=1\n");
  r |= write_file("a/logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n");
  r |= write_file("docs/index.html", "<p>docs</p>\n");
  r |= write_file(".secret", "dotfile\n");
  r |= write_file("healthz", "FROMFILE\n"); /* the app's own /healthz must win */
  r |= write_file("hello world.txt", "spaces\n");
  if (r) return -1;
  sub(p, sizeof(p), "etclink");
  if (symlink("/etc", p) < 0) return -1;
  sub(p, sizeof(p), "a/passwd");
  if (symlink("/etc/passwd", p) < 0) return -1;
  snprintf(q, sizeof(q), "%s/secret.txt", g_base);
  sub(p, sizeof(p), "a/up");
  if (symlink(q, p) < 0) return -1;
  sub(p, sizeof(p), "a/inside.txt"); /* a link that stays inside is fine */
  if (symlink("b.txt", p) < 0) return -1;
  sub(p, sizeof(p), "a/fifo");
  if (mkfifo(p, 0644) < 0) return -1;
  sub(p, sizeof(p), "a/big.bin"); /* sparse: no disk used */
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ftruncate(fd, STATIC_MAX_FILE + 1) < 0) return -1;
  close(fd);
  return 0;
}

static void remove_site(void) {
  static const char *const rels[] = {
      "index.html", "stats.html", "app.css",  "app.js",    "vendor/socket.io.min.js", "a/b.txt",
      "a/.env",     "a/logo.svg", "docs/index.html", ".secret", "healthz", "hello world.txt", "etclink",
      "a/passwd",   "a/up",       "a/inside.txt",    "a/fifo",  "a/big.bin", "a/new.txt", "vendor",
      "a",          "docs"};
  char p[512];
  for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
    sub(p, sizeof(p), rels[i]);
    if (unlink(p) < 0) rmdir(p);
  }
  rmdir(g_root);
  snprintf(p, sizeof(p), "%s/secret.txt", g_base);
  unlink(p);
  rmdir(g_base);
}

/* ---- end to end: the server ------------------------------------------------------- */

typedef struct {
  wsio_app *app;
  pthread_t th;
  atomic_int done;
  int rc, port;
} server;

static void *server_main(void *arg) {
  server *s = arg;
  s->rc = wsio_app_run(s->app);
  atomic_store(&s->done, 1);
  return NULL;
}

static void healthz(const wsio_request *req, wsio_response *res, void *user) {
  (void)req, (void)user;
  wsio_response_send(res, 200, NULL, "ok\n", 3);
}

static void echo_message(wsio_conn *c, const uint8_t *data, size_t len, wsio_opcode op) {
  wsio_conn_send(c, data, len, op);
}

static int server_start(server *s) {
  memset(s, 0, sizeof(*s));
  wsio_app_options o;
  wsio_app_options_init(&o);
  o.handle_signals = 0;
  o.shutdown_timeout_ms = 500;
  o.close_timeout_ms = 1000;
  s->app = wsio_app_create(&o);
  CHECK(s->app != NULL);
  if (!s->app) return -1;
  /* The app's own routes first, as wsio-server registers them. */
  wsio_ws_handlers echo = {.message = echo_message};
  CHECK_EQ_INT(wsio_app_ws(s->app, "/echo", &echo, NULL), 0);
  CHECK_EQ_INT(wsio_app_http(s->app, "GET", "/healthz", healthz, NULL), 0);
  int m = static_mount(s->app, g_root);
  CHECK_EQ_INT(m, 0);
  if (m == 0) {
    char real[PATH_MAX];
    CHECK(g_sites && realpath(g_root, real) && strcmp(g_sites->root, real) == 0);
  }
  CHECK_EQ_INT(wsio_app_listen(s->app, "127.0.0.1", 0), 0);
  s->port = wsio_app_port(s->app);
  if (m != 0 || s->port <= 0 || pthread_create(&s->th, NULL, server_main, s) != 0) {
    wsio_app_destroy(s->app);
    static_unmount_all();
    return -1;
  }
  return 0;
}

static void server_stop(server *s) {
  wsio_app_stop(s->app);
  for (int i = 0; i < 1600 && !atomic_load(&s->done); i++) usleep(5000);
  if (!atomic_load(&s->done)) {
    fprintf(stderr, "wsio_app_run did not return after wsio_app_stop\n");
    _exit(2);
  }
  pthread_join(s->th, NULL);
  CHECK_EQ_INT(s->rc, 0);
  wsio_app_destroy(s->app);
  static_unmount_all();
  CHECK(g_sites == NULL);
}

typedef struct {
  int status;
  char head[4096]; /* the response head, NUL-terminated */
  char *body;      /* NUL-terminated; free with resp_free */
  size_t body_len;
} resp;

static void resp_free(resp *r) {
  free(r->body);
  r->body = NULL;
}

/* The value of header name in r's head (case-insensitive), copied into out; "" if absent. */
static const char *resp_header(const resp *r, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  out[0] = '\0';
  for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
    const char *line = p + 2;
    if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      const char *v = line + nl + 1;
      while (*v == ' ') v++;
      const char *e = strstr(v, "\r\n");
      size_t n = e ? (size_t)(e - v) : strlen(v);
      if (n >= cap) n = cap - 1;
      memcpy(out, v, n);
      out[n] = '\0';
      return out;
    }
  }
  return out;
}

/* Sends one request (method, raw path bytes, extra header lines) and reads the answer
 * until EOF. Returns 0, or -1 when no parsable answer came. */
static int request(int port, const char *method, const char *path, size_t path_len, const char *extra, resp *out) {
  memset(out, 0, sizeof(*out));
  int fd = test_dial(port, 0, 5, 5);
  if (fd < 0) return -1;
  char req[4096];
  size_t n = (size_t)snprintf(req, sizeof(req), "%s ", method);
  memcpy(req + n, path, path_len);
  n += path_len;
  n += (size_t)snprintf(req + n, sizeof(req) - n, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n",
                        extra ? extra : "");
  if (send(fd, req, n, MSG_NOSIGNAL) != (ssize_t)n) {
    close(fd);
    return -1;
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap + 1);
  for (;;) {
    if (len == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
    }
    ssize_t r = recv(fd, buf + len, cap - len, 0);
    /* EINTR without a signal: Linux interrupts a blocking call of a thread once after
     * an io_uring ring it created is torn down (an earlier wsio_app's), and socket
     * calls with SO_RCVTIMEO are not restarted. */
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
  }
  close(fd);
  buf[len] = '\0';
  char *end = strstr(buf, "\r\n\r\n");
  if (!end || sscanf(buf, "HTTP/1.1 %d", &out->status) != 1) {
    free(buf);
    return -1;
  }
  size_t hl = (size_t)(end - buf) + 2; /* keep the last header's CRLF */
  if (hl >= sizeof(out->head)) hl = sizeof(out->head) - 1;
  memcpy(out->head, buf, hl);
  out->head[hl] = '\0';
  out->body_len = len - (size_t)(end + 4 - buf);
  out->body = malloc(out->body_len + 1);
  memcpy(out->body, end + 4, out->body_len);
  out->body[out->body_len] = '\0';
  free(buf);
  return 0;
}

static int get(int port, const char *path, const char *extra, resp *out) {
  return request(port, "GET", path, strlen(path), extra, out);
}

/* A 200 with this type and exactly this body. */
static void expect_file(int port, const char *path, const char *type, const char *body) {
  resp r;
  char v[256];
  CHECK_EQ_INT(get(port, path, NULL, &r), 0);
  if (r.status != 200) fprintf(stderr, "GET %s -> %d\n", path, r.status);
  CHECK_EQ_INT(r.status, 200);
  CHECK_STR(resp_header(&r, "Content-Type", v, sizeof(v)), type);
  CHECK(r.body && strcmp(r.body, body) == 0);
  resp_free(&r);
}

/* A refusal (403 or 404, or 400 for a malformed path) that leaks nothing. */
static void expect_refused(int port, const char *path, size_t n) {
  resp r;
  CHECK_EQ_INT(request(port, "GET", path, n ? n : strlen(path), NULL, &r), 0);
  if (r.status != 403 && r.status != 404 && r.status != 400)
    fprintf(stderr, "GET %.*s -> %d\n", (int)(n ? n : strlen(path)), path, r.status);
  CHECK(r.status == 403 || r.status == 404 || r.status == 400);
  CHECK(r.body && !strstr(r.body, "TOPSECRET") && !strstr(r.body, "root:") && !strstr(r.body, "HIDDEN") &&
        !strstr(r.body, "dotfile"));
  resp_free(&r);
}

static void test_serving(int port) {
  expect_file(port, "/", "text/html; charset=utf-8", "<!doctype html><h1>chat</h1>\n");
  expect_file(port, "/index.html", "text/html; charset=utf-8", "<!doctype html><h1>chat</h1>\n");
  expect_file(port, "/?room=lobby", "text/html; charset=utf-8", "<!doctype html><h1>chat</h1>\n");
  expect_file(port, "/stats", "text/html; charset=utf-8", "<!doctype html><h1>stats</h1>\n");
  expect_file(port, "/app.css", "text/css; charset=utf-8", "body{margin:0}\n");
  expect_file(port, "/app.js", "text/javascript; charset=utf-8", "console.log('app');\n");
  expect_file(port, "/socket.io.min.js", "text/javascript; charset=utf-8", "/* socket.io client */\n");
  expect_file(port, "/vendor/socket.io.min.js", "text/javascript; charset=utf-8", "/* socket.io client */\n");
  expect_file(port, "/a/b.txt", "text/plain; charset=utf-8", "bee\n");
  expect_file(port, "/a/inside.txt", "text/plain; charset=utf-8", "bee\n");
  expect_file(port, "/a/logo.svg", "image/svg+xml", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n");
  expect_file(port, "/docs/", "text/html; charset=utf-8", "<p>docs</p>\n");
  expect_file(port, "/healthz", "text/plain; charset=utf-8", "ok\n"); /* the app's route */

  /* A file added to a subfolder after mounting is served. */
  write_file("a/new.txt", "new\n");
  expect_file(port, "/a/new.txt", "text/plain; charset=utf-8", "new\n");

  resp r;
  char v[256];
  CHECK_EQ_INT(get(port, "/", NULL, &r), 0);
  CHECK_STR(resp_header(&r, "Cache-Control", v, sizeof(v)), "no-cache");
  CHECK_STR(resp_header(&r, "X-Content-Type-Options", v, sizeof(v)), "nosniff");
  CHECK(strstr(resp_header(&r, "Content-Security-Policy", v, sizeof(v)), "default-src 'self'") != NULL);
  CHECK(resp_header(&r, "Date", v, sizeof(v))[0] != '\0');
  resp_free(&r);

  /* A folder without its slash is redirected to it. */
  CHECK_EQ_INT(get(port, "/docs", NULL, &r), 0);
  CHECK_EQ_INT(r.status, 301);
  CHECK_STR(resp_header(&r, "Location", v, sizeof(v)), "/docs/");
  resp_free(&r);

  /* A folder with no index.html is not listed. */
  CHECK_EQ_INT(get(port, "/a/", NULL, &r), 0);
  CHECK_EQ_INT(r.status, 404);
  resp_free(&r);

  CHECK_EQ_INT(get(port, "/a/missing.txt", NULL, &r), 0);
  CHECK_EQ_INT(r.status, 404);
  resp_free(&r);
  CHECK_EQ_INT(get(port, "/missing.txt", NULL, &r), 0);
  CHECK_EQ_INT(r.status, 404);
  resp_free(&r);

  /* A FIFO is refused without blocking the loop; a file over the cap is refused. */
  CHECK_EQ_INT(get(port, "/a/fifo", NULL, &r), 0);
  CHECK_EQ_INT(r.status, 404);
  resp_free(&r);
  CHECK_EQ_INT(get(port, "/a/big.bin", NULL, &r), 0);
  CHECK_EQ_INT(r.status, 500);
  CHECK(r.body && strstr(r.body, "too large") != NULL);
  resp_free(&r);

  /* The catch-all is not there: a plain GET of a WebSocket route still reaches it. */
  CHECK_EQ_INT(get(port, "/echo", NULL, &r), 0);
  CHECK(r.status == 400 || r.status == 426);
  resp_free(&r);
}

static void test_head(int port) {
  resp r;
  char v[64];
  CHECK_EQ_INT(request(port, "HEAD", "/app.js", 7, NULL, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(r.body_len, 0);
  CHECK_STR(resp_header(&r, "Content-Length", v, sizeof(v)), "20"); /* strlen("console.log('app');\n") */
  CHECK_STR(resp_header(&r, "Content-Type", v, sizeof(v)), "text/javascript; charset=utf-8");
  CHECK(resp_header(&r, "ETag", v, sizeof(v))[0] == 'W');
  resp_free(&r);
  CHECK_EQ_INT(request(port, "HEAD", "/", 1, NULL, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK_EQ_INT(r.body_len, 0);
  resp_free(&r);
  CHECK_EQ_INT(request(port, "POST", "/app.js", 7, "Content-Length: 0\r\n", &r), 0);
  CHECK_EQ_INT(r.status, 405);
  resp_free(&r);
}

static void test_conditional(int port) {
  resp r;
  char etag[128], lm[64], hdr[256], v[128];
  CHECK_EQ_INT(get(port, "/app.css", NULL, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_header(&r, "ETag", etag, sizeof(etag));
  resp_header(&r, "Last-Modified", lm, sizeof(lm));
  resp_free(&r);
  CHECK(strncmp(etag, "W/\"", 3) == 0);
  time_t t;
  CHECK(static_parse_http_date(lm, strlen(lm), &t) == 0);

  snprintf(hdr, sizeof(hdr), "If-None-Match: %s\r\n", etag);
  CHECK_EQ_INT(get(port, "/app.css", hdr, &r), 0);
  CHECK_EQ_INT(r.status, 304);
  CHECK_EQ_INT(r.body_len, 0);
  CHECK_STR(resp_header(&r, "ETag", v, sizeof(v)), etag);
  resp_free(&r);

  snprintf(hdr, sizeof(hdr), "If-None-Match: \"nope\", %s\r\n", etag + 2); /* strong form, in a list */
  CHECK_EQ_INT(get(port, "/app.css", hdr, &r), 0);
  CHECK_EQ_INT(r.status, 304);
  resp_free(&r);

  CHECK_EQ_INT(get(port, "/app.css", "If-None-Match: W/\"other\"\r\n", &r), 0);
  CHECK_EQ_INT(r.status, 200);
  CHECK(r.body && strcmp(r.body, "body{margin:0}\n") == 0);
  resp_free(&r);

  snprintf(hdr, sizeof(hdr), "If-Modified-Since: %s\r\n", lm);
  CHECK_EQ_INT(get(port, "/app.css", hdr, &r), 0);
  CHECK_EQ_INT(r.status, 304);
  CHECK_EQ_INT(r.body_len, 0);
  resp_free(&r);

  CHECK_EQ_INT(request(port, "HEAD", "/app.css", 8, hdr, &r), 0);
  CHECK_EQ_INT(r.status, 304);
  resp_free(&r);

  CHECK_EQ_INT(get(port, "/app.css", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n", &r), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);

  CHECK_EQ_INT(get(port, "/app.css", "If-Modified-Since: yesterday\r\n", &r), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);

  /* If-None-Match decides when present, even if If-Modified-Since would say 304. */
  snprintf(hdr, sizeof(hdr), "If-None-Match: \"other\"\r\nIf-Modified-Since: %s\r\n", lm);
  CHECK_EQ_INT(get(port, "/app.css", hdr, &r), 0);
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
}

static void test_traversal(int port) {
  expect_refused(port, "/../etc/passwd", 0);
  expect_refused(port, "/../secret.txt", 0);
  expect_refused(port, "/%2e%2e/%2e%2e/etc/passwd", 0);
  expect_refused(port, "/..%2fetc/passwd", 0);
  expect_refused(port, "/a/../../x", 0);
  expect_refused(port, "/a/../../secret.txt", 0);
  expect_refused(port, "/a/%2e%2e/%2e%2e/secret.txt", 0);
  expect_refused(port, "/a/%2E%2E/%2E%2E/etc/passwd", 0);
  expect_refused(port, "/a/..%2f..%2fsecret.txt", 0);
  expect_refused(port, "/a/..%5c..%5csecret.txt", 0);
  expect_refused(port, "/a/..\\..\\secret.txt", 0);
  expect_refused(port, "/a/%00../secret.txt", 0);
  expect_refused(port, "/a/b.txt%00.html", 0);
  expect_refused(port, "/a//../../secret.txt", 0);
  expect_refused(port, "/a/./../../secret.txt", 0);
  expect_refused(port, "/a/passwd", 0);         /* symlink to /etc/passwd */
  expect_refused(port, "/a/up", 0);             /* symlink to ../../secret.txt */
  expect_refused(port, "/etclink/passwd", 0);   /* symlink to /etc */
  expect_refused(port, "/etclink/", 0);
  expect_refused(port, "/etclink", 0);
  expect_refused(port, "/a/.env", 0);           /* dotfiles are hidden */
  expect_refused(port, "/.secret", 0);
  expect_refused(port, "/a/%2eenv", 0);
  expect_refused(port, "/hello world.txt", 0);  /* not a valid request target anyway */
  expect_refused(port, "/a/%zz", 0);

  resp r;
  CHECK_EQ_INT(get(port, "/a/%2e%2e/%2e%2e/secret.txt", NULL, &r), 0);
  CHECK_EQ_INT(r.status, 403); /* reached the handler: refused by the path check */
  resp_free(&r);
  CHECK_EQ_INT(get(port, "/a/passwd", NULL, &r), 0);
  CHECK_EQ_INT(r.status, 404); /* resolved outside the root: does not exist here */
  resp_free(&r);
}

static void test_mount_errors(void) {
  wsio_app_options o;
  wsio_app_options_init(&o);
  o.handle_signals = 0;
  wsio_app *app = wsio_app_create(&o);
  CHECK(app != NULL);
  if (!app) return;
  errno = 0;
  CHECK_EQ_INT(static_mount(app, "/nonexistent/wsio-static"), -1);
  CHECK_EQ_INT(errno, ENOENT);
  char p[512];
  sub(p, sizeof(p), "app.js");
  errno = 0;
  CHECK_EQ_INT(static_mount(app, p), -1);
  CHECK_EQ_INT(errno, ENOTDIR);
  CHECK_EQ_INT(static_mount(NULL, g_root), -1);
  CHECK(g_sites == NULL); /* nothing kept from failed mounts */
  wsio_app_destroy(app);
}

static void test_end_to_end(void) {
  if (make_site() < 0) {
    perror("make_site");
    CHECK(0);
    remove_site();
    return;
  }
  test_mount_errors();
  server s;
  if (server_start(&s) == 0) {
    test_current = "test_serving";
    test_serving(s.port);
    test_current = "test_head";
    test_head(s.port);
    test_current = "test_conditional";
    test_conditional(s.port);
    test_current = "test_traversal";
    test_traversal(s.port);
    server_stop(&s);
  }
  remove_site();
}

int main(void) {
  RUN(test_path_clean);
  RUN(test_alias);
  RUN(test_content_type);
  RUN(test_etag);
  RUN(test_http_date);
  RUN(test_end_to_end);
  return test_report();
}
