/* app/metrics.h — /metrics in the Prometheus text exposition format (version 0.0.4):
 * the core's counters, Engine.IO sessions by transport, Socket.IO sockets and rooms,
 * the Redis cluster adapter, and the event-loop lag histogram. */
#ifndef WSIO_APP_METRICS_H
#define WSIO_APP_METRICS_H

#include <stddef.h>

#include "wsio.h"

/* Registers GET /metrics on app. Returns 0 or a negative WSIO_E*. */
int metrics_mount(wsio_app *app);

/* What GET /metrics answers for one app, rendered into a buffer kept for that app from
 * one scrape to the next (not a fresh block each time: see metrics.c). */
typedef struct metrics_page metrics_page;
/* The page of app (made on first use; at most 256 apps per process, then NULL). Lives
 * until exit. */
metrics_page *metrics_page_for(wsio_app *app);
/* Renders the page now; returns its text (owned by pg, valid until the next scrape of
 * pg) and sets *len, or NULL when out of memory. */
const char *metrics_scrape(metrics_page *pg, size_t *len);

/* Apps register their Engine.IO / Socket.IO servers so /metrics can count them. */
void metrics_watch_eio(wsio_eio_server *srv);
void metrics_watch_sio(wsio_sio *io);

/* Writes the exposition text into out (cap bytes); returns the length needed. Pure
 * given its inputs, for tests. */
/* The per-thread lines (--threads): the thread count, each thread's connections and
 * open WebSockets (another thread's counters read as they stand, as wsio_app_stats_sum
 * does), so a test can see that connections reached every thread. Returns the length. */
size_t metrics_render_threads(char *out, size_t cap, const wsio_app *app);
/* The allocator's figures (glibc's mallinfo2: bytes in use, freed but kept, and got
 * from the system), process-wide; nothing where the C library has no mallinfo2.
 * Returns the length written. */
size_t metrics_render_heap(char *out, size_t cap);
size_t metrics_render(char *out, size_t cap, const wsio_stats *st, const wsio_eio_stats *eio,
                      const wsio_sio_stats *sio, const wsio_sio_redis_stats *redis);

#endif
