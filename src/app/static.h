/* app/static.h — serving a folder of static files (wsio-server --static DIR): the chat
 * demo page at "/", the live stats page at "/stats", the Socket.IO browser client at
 * "/socket.io.min.js" and whatever else the folder holds.
 *
 * Routes are registered per entry of the folder's top level, not as one catch-all
 * prefix route for "/": a catch-all GET route would take plain (non-upgrade) requests
 * away from WebSocket routes such as /echo, which must answer them 400 themselves
 * (route_find prefers an HTTP route when the request is not an upgrade). A file added
 * to the top level after static_mount is therefore not served until the next start;
 * files added inside a subfolder are.
 *
 * The pure helpers below (path cleaning, content types, validators and HTTP dates) do
 * no I/O and no allocation; tests/unit/test_static.c covers them. */
#ifndef WSIO_APP_STATIC_H
#define WSIO_APP_STATIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "wsio.h"

/* Largest file served; larger ones get 500 with a message saying so. */
#define STATIC_MAX_FILE (8u * 1024 * 1024)

/* Result codes of static_path_clean (negative: the request is refused). */
enum {
  STATIC_EFORBIDDEN = -1, /* "..", ".", encoded '/', backslash, NUL or control bytes: 403 */
  STATIC_EHIDDEN = -2,    /* a segment starting with '.' (.git, .env): 404 */
  STATIC_ETOOLONG = -3,   /* longer than the output buffer: 404 */
  STATIC_EBADPATH = -4,   /* not starting with '/', or bad percent-encoding: 400 */
};

/* Serves the folder dir (resolved with realpath once, now) on app: registers GET (and
 * so HEAD) routes "/", "/stats", "/socket.io.min.js" (+ ".map"), "/NAME" for each
 * top-level file and folder, and a "/NAME/" prefix route for each top-level folder
 * (names of letters, digits and "._~-", not starting with '.'; others are skipped).
 * Register it after the app's own routes; a route the app already has is left to it.
 * Returns 0, or -1 with errno set when dir cannot be read (ENOENT, ENOTDIR, EACCES...)
 * or memory ran out. The routes' state lives until static_unmount_all. */
int static_mount(wsio_app *app, const char *dir);

/* Frees what every static_mount allocated. Call only after wsio_app_destroy of the apps
 * they were mounted on (their routes point at it); optional at exit, as that memory
 * stays reachable. */
void static_unmount_all(void);

/* Maps a request path (raw: percent-encoded, no query) to a file path relative to the
 * root, percent-decoded, written NUL-terminated to out. Dot segments are refused rather
 * than resolved (browsers resolve them before sending, so only an attack has them);
 * empty segments ("a//b") are dropped. *is_dir is set when the path ends in '/' (or is
 * "/"): the caller serves index.html inside. Returns the length written (0 = the root),
 * or a negative STATIC_E*. */
int static_path_clean(const char *path, size_t n, char *out, size_t cap, int *is_dir);

/* The relative file a cleaned path names after the site's aliases: "" and "stats" are
 * the two pages, "socket.io.min.js(.map)" the client bundle under vendor/. Returns rel
 * itself when no alias applies. */
const char *static_alias(const char *rel);

/* The Content-Type for a file name by its extension (case-insensitive): text types
 * carry "; charset=utf-8"; unknown extensions are application/octet-stream. */
const char *static_content_type(const char *name);

/* Writes the weak validator W/"<size>-<mtime>" (hex; mtime in nanoseconds) into out
 * (at least 48 bytes). Returns its length. */
size_t static_etag(char *out, size_t cap, uint64_t size, int64_t mtime_sec, long mtime_nsec);

/* Does an If-None-Match value (a list of entity tags, or "*") match etag? Weak
 * comparison (RFC 9110 8.8.3.2: the W/ prefix is ignored), as 13.1.2 asks for GETs. */
int static_etag_matches(const char *inm, size_t n, const char *etag);

/* Formats t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110 5.6.7) into
 * out (at least 30 bytes). Returns its length, 0 when t is out of range. */
size_t static_http_date(char *out, size_t cap, time_t t);

/* Parses an HTTP-date in any of the three formats a recipient must accept (RFC 9110
 * 5.6.7: IMF-fixdate, RFC 850, asctime). Returns 0 and *t, or -1 when invalid. */
int static_parse_http_date(const char *s, size_t n, time_t *t);

#endif
