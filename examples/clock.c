/* examples/clock.c — timers and work from another thread: every WebSocket client of
 * ws://127.0.0.1:9003/ receives "tick N" once a second (a timer on the loop) and the
 * results of a worker thread (posted to the loop, which publishes them).
 * Build: part of `make build` (build/examples/example_clock), or out of tree with
 *   cc clock.c $(pkg-config --cflags --libs wsio) -lpthread */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wsio.h>

static void on_open(wsio_conn *c) { wsio_conn_subscribe(c, "clock"); }

/* On the loop thread, once a second. */
static void tick(wsio_timer *t, void *user) {
  static unsigned n;
  char msg[32];
  int len = snprintf(msg, sizeof(msg), "tick %u", ++n);
  (void)t;
  wsio_app_publish(user, "clock", msg, (size_t)len, WSIO_OP_TEXT);
}

/* A job from the worker: it runs on the loop thread, where publishing is allowed, and
 * owns its argument (every post runs exactly once, even at wsio_app_destroy). */
typedef struct {
  wsio_app *app;
  char text[64];
} job;

static void publish_job(void *arg) {
  job *j = arg;
  wsio_app_publish(j->app, "clock", j->text, strlen(j->text), WSIO_OP_TEXT);
  free(j);
}

static atomic_int quit;

static void *worker(void *arg) {
  wsio_app *app = arg;
  for (unsigned i = 1; !atomic_load(&quit); i++) {
    nanosleep(&(struct timespec){2, 0}, NULL); /* "slow work" */
    job *j = malloc(sizeof(*j));
    if (!j) continue;
    j->app = app;
    snprintf(j->text, sizeof(j->text), "worker result %u", i);
    if (wsio_app_post(app, publish_job, j) < 0) free(j);
  }
  return NULL;
}

int main(void) {
  wsio_app *app = wsio_app_create(NULL);
  if (!app) return 1;
  wsio_ws_handlers h = {.open = on_open};
  wsio_timer *t = wsio_timer_create(app, tick, app);
  if (wsio_app_ws(app, "/", &h, NULL) < 0 || !t || wsio_timer_start(t, 1000, 1000) < 0) {
    wsio_app_destroy(app);
    return 1;
  }
  int r = wsio_app_listen(app, "127.0.0.1", 9003);
  if (r < 0) {
    fprintf(stderr, "cannot listen: %s\n", r == WSIO_EADDR || r == WSIO_ESYS ? strerror(errno) : wsio_strerror(r));
    wsio_app_destroy(app);
    return 1;
  }
  pthread_t th;
  if (pthread_create(&th, NULL, worker, app) != 0) {
    wsio_app_destroy(app);
    return 1;
  }
  printf("ws://127.0.0.1:%d/\n", wsio_app_port(app));
  r = wsio_app_run(app); /* until SIGINT/SIGTERM */
  atomic_store(&quit, 1);
  pthread_join(th, NULL); /* no post may race wsio_app_destroy */
  wsio_app_destroy(app);  /* runs the posts still queued, frees the timer */
  return r < 0 ? 1 : 0;
}
