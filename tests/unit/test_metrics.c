/* Unit tests of GET /metrics' page (app/metrics.c, included directly: it is part of the
 * program, not the library).
 *
 * The scrape must not take a fresh heap block each time: a ~10 KB block a second (the
 * soak scrapes once a second, as a Prometheus server does every few seconds) was what
 * made the server's heap creep among its small holes (docs/reliability.md, known issue
 * 4). The allocations are counted through -Wl,--wrap (CMakeLists.txt). */
#include "app/metrics.c"

#include "test.h"

/* The program's JWT refusal counter (app/auth.c, not linked here). */
uint64_t auth_refusals(void) { return 0; }

static size_t n_allocs;
void *__real_malloc(size_t n);
void *__real_calloc(size_t c, size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n) {
  n_allocs++;
  return __real_malloc(n);
}
void *__wrap_calloc(size_t c, size_t n) {
  n_allocs++;
  return __real_calloc(c, n);
}
void *__wrap_realloc(void *p, size_t n) {
  n_allocs++;
  return __real_realloc(p, n);
}

static int has(const char *text, size_t len, const char *needle) {
  size_t k = strlen(needle);
  for (size_t i = 0; i + k <= len; i++)
    if (memcmp(text + i, needle, k) == 0) return 1;
  return 0;
}

static void test_page_complete(void) {
  wsio_app_options o;
  wsio_app_options_init(&o);
  wsio_app *app = wsio_app_create(&o);
  CHECK(app != NULL);
  if (!app) return;
  metrics_page *pg = metrics_page_for(app);
  CHECK(pg != NULL);
  CHECK(metrics_page_for(app) == pg); /* one page per app */
  size_t len = 0;
  const char *text = metrics_scrape(pg, &len);
  CHECK(text != NULL && len > 1000);
  if (!text) return;
  CHECK(text[len - 1] == '\n');
  CHECK(has(text, len, "wsio_connections{transport=\"websocket\"} 0\n"));
  CHECK(has(text, len, "wsio_threads 1\n"));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  CHECK(has(text, len, "\nwsio_heap_bytes "));
  CHECK(has(text, len, "\nwsio_heap_arena_bytes "));
#endif
  wsio_app_destroy(app);
}

static void test_scrapes_reuse_one_buffer(void) {
  wsio_app_options o;
  wsio_app_options_init(&o);
  wsio_app *app = wsio_app_create(&o);
  CHECK(app != NULL);
  if (!app) return;
  metrics_page *pg = metrics_page_for(app);
  size_t len0 = 0, len = 0;
  const char *first = metrics_scrape(pg, &len0);
  CHECK(first != NULL);
  n_allocs = 0;
  for (int i = 0; i < 100; i++) {
    const char *text = metrics_scrape(pg, &len);
    CHECK(text == first);
  }
  /* The old code malloc'ed (and freed) the whole page on every scrape: 100 here. */
  CHECK_EQ_INT(n_allocs, 0);
  CHECK(len > 0 && len <= len0 + 64); /* the same page, give or take digits */
  wsio_app_destroy(app);
}

int main(void) {
  RUN(test_page_complete);
  RUN(test_scrapes_reuse_one_buffer);
  return test_report();
}
