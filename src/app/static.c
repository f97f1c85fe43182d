/* app/static.c — wsio-server's static file serving (see static.h): a GET/HEAD handler
 * over a folder, with content types, validators (ETag, Last-Modified) and 304s, and a
 * path check that keeps every answer inside the folder.
 *
 * Two layers: pure helpers (path cleaning, aliases, content types, ETag, HTTP dates)
 * that touch no file and allocate nothing, and the handler that uses them. Files are
 * read synchronously on the loop thread: fine for a demo page of a few small files that
 * live in the page cache, not a CDN. This file must not know about Socket.IO or the
 * chat; it only knows the three names the pages need (static_alias). */
#include "app/static.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct static_site {
  char *root; /* realpath of the folder, no trailing '/' (except for "/" itself) */
  size_t root_len;
  struct static_site *next;
} static_site;

/* Every mounted site. The route API has no hook that runs when an app frees its routes,
 * so the sites are kept here (reachable, not leaked) until static_unmount_all. Mounting
 * happens on one thread before the loops run. */
static static_site *g_sites;

/* ---- pure helpers ------------------------------------------------------------------ */

static int hex_digit(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Checks one decoded segment seg[0..n): dot segments are refused outright, other
 * names starting with '.' are hidden (dotfiles are never part of a site). */
static int segment_check(const char *seg, size_t n) {
  if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) return STATIC_EFORBIDDEN;
  if (seg[0] == '.') return STATIC_EHIDDEN;
  return 0;
}

int static_path_clean(const char *path, size_t n, char *out, size_t cap, int *is_dir) {
  if (!cap) return STATIC_ETOOLONG;
  if (n == 0 || path[0] != '/') return STATIC_EBADPATH;
  *is_dir = path[n - 1] == '/';
  size_t o = 0;
  int verdict = 0; /* the first hidden segment, reported only if nothing is forbidden */
  for (size_t i = 1; i < n;) {
    size_t j = i;
    while (j < n && path[j] != '/') j++;
    if (j == i) { /* "a//b": an empty segment */
      i = j + 1;
      continue;
    }
    if (o && o + 1 < cap) out[o++] = '/';
    else if (o) return STATIC_ETOOLONG;
    size_t start = o;
    for (size_t k = i; k < j; k++) {
      int ch = (unsigned char)path[k];
      if (ch == '%') {
        if (k + 2 >= j || hex_digit(path[k + 1]) < 0 || hex_digit(path[k + 2]) < 0)
          return STATIC_EBADPATH;
        ch = hex_digit(path[k + 1]) * 16 + hex_digit(path[k + 2]);
        k += 2;
      }
      /* An encoded '/' would let one segment smuggle a separator past the dot-segment
       * check; a backslash is a separator elsewhere; NUL would cut the file name. */
      if (ch == '/' || ch == '\\' || ch < 0x20 || ch == 0x7f) return STATIC_EFORBIDDEN;
      if (o + 1 >= cap) return STATIC_ETOOLONG;
      out[o++] = (char)ch;
    }
    int c = segment_check(out + start, o - start);
    if (c == STATIC_EFORBIDDEN) return c;
    if (c && !verdict) verdict = c;
    i = j + 1;
  }
  out[o] = '\0';
  return verdict ? verdict : (int)o;
}

const char *static_alias(const char *rel) {
  static const struct {
    const char *from, *to;
  } aliases[] = {
      {"", "index.html"},
      {"stats", "stats.html"},
      {"socket.io.min.js", "vendor/socket.io.min.js"},
      {"socket.io.min.js.map", "vendor/socket.io.min.js.map"},
  };
  for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
    if (strcmp(rel, aliases[i].from) == 0) return aliases[i].to;
  return rel;
}

const char *static_content_type(const char *name) {
  static const struct {
    const char *ext, *type;
  } types[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"}, /* RFC 9239 */
      {"mjs", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"webmanifest", "application/manifest+json"},
      {"txt", "text/plain; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"woff2", "font/woff2"},
      {"woff", "font/woff"},
      {"wasm", "application/wasm"},
  };
  const char *slash = strrchr(name, '/');
  const char *base = slash ? slash + 1 : name;
  const char *dot = strrchr(base, '.');
  if (dot && dot != base) {
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
      if (strcasecmp(dot + 1, types[i].ext) == 0) return types[i].type;
  }
  return "application/octet-stream";
}

size_t static_etag(char *out, size_t cap, uint64_t size, int64_t mtime_sec, long mtime_nsec) {
  uint64_t ns = (uint64_t)mtime_sec * 1000000000u + (uint64_t)mtime_nsec;
  int n = snprintf(out, cap, "W/\"%llx-%llx\"", (unsigned long long)size, (unsigned long long)ns);
  return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static int is_ows(int ch) { return ch == ' ' || ch == '\t'; }

/* The opaque part of an entity tag (quotes included), skipping "W/". */
static const char *opaque_tag(const char *etag, size_t *len) {
  size_t n = strlen(etag);
  if (n >= 2 && etag[0] == 'W' && etag[1] == '/') etag += 2, n -= 2;
  *len = n;
  return etag;
}

int static_etag_matches(const char *inm, size_t n, const char *etag) {
  size_t olen;
  const char *opaque = opaque_tag(etag, &olen);
  size_t i = 0;
  for (;;) {
    while (i < n && (is_ows(inm[i]) || inm[i] == ',')) i++;
    if (i >= n) return 0;
    if (inm[i] == '*') return 1; /* "any current representation": there is one */
    if (i + 1 < n && inm[i] == 'W' && inm[i + 1] == '/') i += 2;
    if (i >= n || inm[i] != '"') return 0; /* not an entity tag: ignore the rest */
    size_t j = i + 1;
    while (j < n && inm[j] != '"') j++;
    if (j >= n) return 0;
    if (j + 1 - i == olen && memcmp(inm + i, opaque, olen) == 0) return 1;
    i = j + 1;
  }
}

static const char k_days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const k_long_days[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                           "Thursday", "Friday", "Saturday"};
static const char k_months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

size_t static_http_date(char *out, size_t cap, time_t t) {
  struct tm tm;
  if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) return 0;
  /* Not strftime: its day and month names follow the locale. */
  int n = snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", k_days[tm.tm_wday], tm.tm_mday,
                   k_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

/* Reads exactly `digits` decimal digits at s[*i]; -1 when not digits. */
static int read_num(const char *s, size_t n, size_t *i, int digits) {
  int v = 0;
  for (int k = 0; k < digits; k++, (*i)++) {
    if (*i >= n || s[*i] < '0' || s[*i] > '9') return -1;
    v = v * 10 + (s[*i] - '0');
  }
  return v;
}

static int expect(const char *s, size_t n, size_t *i, const char *lit) {
  size_t l = strlen(lit);
  if (*i + l > n || memcmp(s + *i, lit, l) != 0) return -1;
  *i += l;
  return 0;
}

static int read_month(const char *s, size_t n, size_t *i) {
  for (int m = 0; m < 12; m++)
    if (expect(s, n, i, k_months[m]) == 0) return m + 1;
  return -1;
}

/* "hh:mm:ss" into seconds of the day; -1 when invalid. */
static int read_time(const char *s, size_t n, size_t *i) {
  int h = read_num(s, n, i, 2);
  if (h < 0 || h > 23 || expect(s, n, i, ":") < 0) return -1;
  int m = read_num(s, n, i, 2);
  if (m < 0 || m > 59 || expect(s, n, i, ":") < 0) return -1;
  int sec = read_num(s, n, i, 2);
  if (sec < 0 || sec > 60) return -1;
  return h * 3600 + m * 60 + (sec == 60 ? 59 : sec); /* a leap second: its minute's end */
}

static int days_in_month(int y, int m) {
  static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : d[m - 1];
}

int static_parse_http_date(const char *s, size_t n, time_t *t) {
  while (n && is_ows(s[n - 1])) n--;
  while (n && is_ows(*s)) s++, n--;
  size_t i = 0;
  int day = -1, mon = -1, year = -1, secs = -1;
  int wday = -1;
  for (int k = 0; k < 7 && wday < 0; k++)
    if (expect(s, n, &i, k_long_days[k]) == 0) wday = k + 7; /* marks the long form */
  for (int k = 0; k < 7 && wday < 0; k++)
    if (expect(s, n, &i, k_days[k]) == 0) wday = k;
  if (wday < 0) return -1;
  if (wday >= 7) { /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
    if (expect(s, n, &i, ", ") < 0 || (day = read_num(s, n, &i, 2)) < 0 || expect(s, n, &i, "-") < 0 ||
        (mon = read_month(s, n, &i)) < 0 || expect(s, n, &i, "-") < 0 || (year = read_num(s, n, &i, 2)) < 0 ||
        expect(s, n, &i, " ") < 0 || (secs = read_time(s, n, &i)) < 0 || expect(s, n, &i, " GMT") < 0)
      return -1;
    year += year < 70 ? 2000 : 1900; /* RFC 9110 5.6.7's 50-year rule, fixed at 1970 */
  } else if (i < n && s[i] == ',') { /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (expect(s, n, &i, ", ") < 0 || (day = read_num(s, n, &i, 2)) < 0 || expect(s, n, &i, " ") < 0 ||
        (mon = read_month(s, n, &i)) < 0 || expect(s, n, &i, " ") < 0 || (year = read_num(s, n, &i, 4)) < 0 ||
        expect(s, n, &i, " ") < 0 || (secs = read_time(s, n, &i)) < 0 || expect(s, n, &i, " GMT") < 0)
      return -1;
  } else { /* asctime: "Sun Nov  6 08:49:37 1994" */
    if (expect(s, n, &i, " ") < 0 || (mon = read_month(s, n, &i)) < 0 || expect(s, n, &i, " ") < 0) return -1;
    if (i < n && s[i] == ' ') {
      i++;
      day = read_num(s, n, &i, 1);
    } else {
      day = read_num(s, n, &i, 2);
    }
    if (day < 0 || expect(s, n, &i, " ") < 0 || (secs = read_time(s, n, &i)) < 0 || expect(s, n, &i, " ") < 0 ||
        (year = read_num(s, n, &i, 4)) < 0)
      return -1;
  }
  if (i != n || day < 1 || day > days_in_month(year, mon)) return -1;
  int64_t v = days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 + secs;
  if ((int64_t)(time_t)v != v) return -1;
  *t = (time_t)v;
  return 0;
}

/* ---- the handler ------------------------------------------------------------------- */

static void send_text(wsio_response *res, int status, const char *msg) {
  wsio_response_header(res, "Cache-Control", "no-store");
  wsio_response_send(res, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

/* Is the resolved path inside the root (the root itself included)? */
static int under_root(const static_site *site, const char *path) {
  if (site->root_len == 1) return path[0] == '/'; /* serving "/": everything is under it */
  return strncmp(path, site->root, site->root_len) == 0 &&
         (path[site->root_len] == '\0' || path[site->root_len] == '/');
}

/* Resolves rel under the root and opens it. realpath follows every symlink, so a link
 * that points outside the root is caught by the prefix check; O_NOFOLLOW then refuses a
 * final component swapped for a link in between, and O_NONBLOCK keeps a FIFO from
 * blocking the loop (it is refused after fstat). Returns the descriptor, or -404. */
static int open_under_root(const static_site *site, const char *rel, struct stat *st) {
  char full[PATH_MAX], resolved[PATH_MAX];
  int n = snprintf(full, sizeof(full), "%s/%s", site->root, rel);
  if (n < 0 || (size_t)n >= sizeof(full)) return -404;
  if (!realpath(full, resolved) || !under_root(site, resolved)) return -404;
  int fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return -404;
  if (fstat(fd, st) < 0) {
    close(fd);
    return -404;
  }
  return fd;
}

/* Reads the whole file (size bytes expected) into a new buffer; NULL on error. */
static char *read_all(int fd, size_t size, size_t *got) {
  char *buf = malloc(size ? size : 1);
  if (!buf) return NULL;
  size_t off = 0;
  while (off < size) {
    ssize_t r = read(fd, buf + off, size - off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      free(buf);
      return NULL;
    }
    if (r == 0) break; /* the file shrank meanwhile: serve what is there */
    off += (size_t)r;
  }
  *got = off;
  return buf;
}

/* "Location: /rel/" for a folder asked without its slash, percent-encoding what is not
 * unreserved (built from the cleaned path, so "//host" can never come out of it). */
static void redirect_to_dir(wsio_response *res, const char *rel) {
  char loc[PATH_MAX * 3 + 4];
  size_t o = 0;
  loc[o++] = '/';
  for (const unsigned char *p = (const unsigned char *)rel; *p && o + 5 < sizeof(loc); p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~/", *p))
      loc[o++] = (char)*p;
    else
      o += (size_t)snprintf(loc + o, sizeof(loc) - o, "%%%02X", *p);
  }
  loc[o++] = '/';
  loc[o] = '\0';
  wsio_response_header(res, "Location", loc);
  send_text(res, 301, "moved: this is a folder\n");
}

/* RFC 9110 13.1.2/13.1.3: If-None-Match decides when present; otherwise
 * If-Modified-Since, when it is a valid date, against the second-resolution mtime. */
static int not_modified(const wsio_request *req, const char *etag, time_t mtime) {
  size_t n;
  const char *inm = wsio_request_header(req, "If-None-Match", &n);
  if (inm) return static_etag_matches(inm, n, etag);
  const char *ims = wsio_request_header(req, "If-Modified-Since", &n);
  time_t since;
  return ims && static_parse_http_date(ims, n, &since) == 0 && mtime <= since;
}

static void add_headers(wsio_response *res, const char *type, const char *etag, time_t mtime, time_t now) {
  char date[40];
  if (static_http_date(date, sizeof(date), now)) wsio_response_header(res, "Date", date);
  if (static_http_date(date, sizeof(date), mtime < now ? mtime : now))
    wsio_response_header(res, "Last-Modified", date);
  wsio_response_header(res, "ETag", etag);
  /* Always revalidate: the pages and their scripts change together on an upgrade, and a
   * 304 is cheap. */
  wsio_response_header(res, "Cache-Control", "no-cache");
  wsio_response_header(res, "X-Content-Type-Options", "nosniff");
  if (strncmp(type, "text/html", 9) == 0) {
    /* The demo pages load nothing from elsewhere; inline script and style are not used. */
    wsio_response_header(res, "Content-Security-Policy",
                         "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                         "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    wsio_response_header(res, "Referrer-Policy", "no-referrer");
  }
}

/* Opens the file a cleaned path names: an alias, or index.html inside a folder. Returns
 * the descriptor (a regular file, with *st), -301 for a folder asked without its slash,
 * or -404. */
static int open_target(const static_site *site, const char *rel, int is_dir, char *file, size_t cap,
                       struct stat *st) {
  snprintf(file, cap, "%s", static_alias(rel));
  int fd = open_under_root(site, file, st);
  if (fd >= 0 && S_ISDIR(st->st_mode)) {
    close(fd);
    if (!is_dir && rel[0]) return -301;
    size_t fl = strlen(file);
    snprintf(file + fl, cap - fl, "%sindex.html", fl ? "/" : "");
    fd = open_under_root(site, file, st);
  }
  if (fd >= 0 && !S_ISREG(st->st_mode)) { /* a FIFO, a device, a folder's index folder */
    close(fd);
    fd = -404;
  }
  return fd;
}

static void static_serve(const wsio_request *req, wsio_response *res, void *route_user) {
  const static_site *site = route_user;
  size_t plen;
  const char *path = wsio_request_path(req, &plen);
  char rel[PATH_MAX], file[PATH_MAX];
  int is_dir = 0;
  int r = static_path_clean(path, plen, rel, sizeof(rel) - 16, &is_dir);
  if (r < 0) {
    if (r == STATIC_EFORBIDDEN) send_text(res, 403, "forbidden\n");
    else if (r == STATIC_EBADPATH) send_text(res, 400, "bad path\n");
    else send_text(res, 404, "not found\n");
    return;
  }
  struct stat st;
  int fd = open_target(site, rel, is_dir, file, sizeof(file), &st);
  if (fd == -301) {
    redirect_to_dir(res, rel);
    return;
  }
  if (fd < 0) {
    send_text(res, 404, "not found\n");
    return;
  }
  if ((uint64_t)st.st_size > STATIC_MAX_FILE) {
    close(fd);
    send_text(res, 500, "file too large to serve (over 8 MiB)\n");
    return;
  }

  const char *type = static_content_type(file);
  char etag[64];
  static_etag(etag, sizeof(etag), (uint64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  if (not_modified(req, etag, st.st_mtim.tv_sec)) {
    close(fd);
    add_headers(res, type, etag, st.st_mtim.tv_sec, time(NULL));
    /* The Content-Type of the 200: a cache may merge a 304's fields into its entry. */
    wsio_response_send(res, 304, type, NULL, 0);
    return;
  }
  size_t got = 0;
  char *body = read_all(fd, (size_t)st.st_size, &got);
  close(fd);
  if (!body) {
    send_text(res, 500, "cannot read the file\n");
    return;
  }
  add_headers(res, type, etag, st.st_mtim.tv_sec, time(NULL));
  wsio_response_send(res, 200, type, body, got);
  free(body);
}

/* ---- mounting ---------------------------------------------------------------------- */

/* Top-level names that become routes as they are: no percent-encoding needed. */
static int routable_name(const char *name) {
  if (!name[0] || name[0] == '.' || strlen(name) > 200) return 0;
  for (const char *p = name; *p; p++) {
    int ch = (unsigned char)*p;
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("._~-", ch)))
      return 0;
  }
  return 1;
}

/* Registers GET path; a route the app already has is left to it. */
static int add_route(wsio_app *app, const char *path, static_site *site) {
  int r = wsio_app_http(app, "GET", path, static_serve, site);
  return r == WSIO_EEXIST ? 0 : r;
}

static int add_entries(wsio_app *app, static_site *site, DIR *d) {
  static const char *const fixed[] = {"/", "/stats", "/socket.io.min.js", "/socket.io.min.js.map"};
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
    if (add_route(app, fixed[i], site) < 0) return -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!routable_name(e->d_name)) continue;
    char full[PATH_MAX], route[sizeof(e->d_name) + 4];
    struct stat st;
    int n = snprintf(full, sizeof(full), "%s/%s", site->root, e->d_name);
    if (n < 0 || (size_t)n >= sizeof(full) || stat(full, &st) < 0) continue;
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) continue;
    snprintf(route, sizeof(route), "/%s", e->d_name);
    if (add_route(app, route, site) < 0) return -1;
    if (S_ISDIR(st.st_mode)) {
      snprintf(route, sizeof(route), "/%s/*", e->d_name);
      if (add_route(app, route, site) < 0) return -1;
    }
  }
  return 0;
}

int static_mount(wsio_app *app, const char *dir) {
  char root[PATH_MAX];
  struct stat st;
  if (!app || !dir) {
    errno = EINVAL;
    return -1;
  }
  if (!realpath(dir, root) || stat(root, &st) < 0) return -1;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  DIR *d = opendir(root);
  if (!d) return -1;
  static_site *site = calloc(1, sizeof(*site));
  if (site) site->root = strdup(root);
  if (!site || !site->root) {
    free(site);
    closedir(d);
    errno = ENOMEM;
    return -1;
  }
  site->root_len = strlen(root);
  /* Listed before any route points at it, so it is never lost. */
  site->next = g_sites;
  g_sites = site;
  int r = add_entries(app, site, d);
  closedir(d);
  if (r < 0) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

void static_unmount_all(void) {
  while (g_sites) {
    static_site *next = g_sites->next;
    free(g_sites->root);
    free(g_sites);
    g_sites = next;
  }
}
