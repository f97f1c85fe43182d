/* bench/client/sio_client_bench.c — client-side throughput of the library's
 * Socket.IO client (include/wsio/client.h): C connections on one app's loop,
 * each keeping D "echo" events in flight against a server whose "echo"
 * emits the event back (wsio-server --app bench, or Node socket.io with
 * bench/peers/socketio.js). Counts echoes after a warm-up and reports
 * messages/s and this process's CPU time per message (user + system), as one
 * JSON line. bench/client/sio_client_bench.js is the same workload with Node's
 * socket.io-client; bench/client_bench.sh runs both.
 *
 * Usage: wsio-client-bench --url http://127.0.0.1:PORT [-c 100] [-d 16]
 *        [-s 32] [-t 5] [-w 1] [--polling]
 * Owns: the workload and its measurement. Must not: speak Socket.IO itself. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/transport.h"
#include "loop/loop.h"
#include "wsio.h"
#include "wsio/client.h"

static struct {
  unsigned conns, depth, connected;
  size_t size;
  double duration, warmup;
  char *args;
  int measuring, failed;
  unsigned long long count, errors;
  double t_start, cpu_start;
  loop_timer warm, stop;
  loop *loop;
} B;

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

static void send_one(wsio_sio_client_socket *s) {
  if (wsio_sio_client_emit(s, "echo", B.args, 0, NULL, 0) < 0)
    B.errors++;
}

static void on_connect(wsio_sio_client_socket *s, const char *sid, int rec,
                       void *u) {
  (void)sid;
  (void)rec;
  (void)u;
  B.connected++;
  for (unsigned i = 0; i < B.depth; i++)
    send_one(s);
}

static void on_event(wsio_sio_client_socket *s, const char *event,
                     const char *args, size_t len, const wsio_span *bins,
                     size_t nb, int64_t ack, void *u) {
  (void)args;
  (void)len;
  (void)bins;
  (void)nb;
  (void)ack;
  (void)u;
  if (strcmp(event, "echo") != 0)
    return;
  if (B.measuring)
    B.count++;
  send_one(s);
}

static void on_error(wsio_sio_client *c, int err, int status,
                     const char *detail, void *u) {
  (void)c;
  (void)status;
  (void)u;
  fprintf(stderr, "wsio-client-bench: %s (%s)\n", detail,
          wsio_sio_client_strerror(err));
  B.errors++;
}

static void warm_fired(loop_timer *t) {
  (void)t;
  B.measuring = 1;
  B.count = 0;
  B.t_start = mono();
  B.cpu_start = cpu();
}

static void stop_fired(loop_timer *t) {
  (void)t;
  loop_stop(B.loop);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"url", required_argument, 0, 'u'},
                                        {"polling", no_argument, 0, 'p'},
                                        {0, 0, 0, 0}};
  const char *url = NULL;
  int polling = 0;
  B.conns = 100;
  B.depth = 16;
  B.size = 32;
  B.duration = 5;
  B.warmup = 1;
  for (int c; (c = getopt_long(argc, argv, "u:c:d:s:t:w:", opts, NULL)) != -1;) {
    switch (c) {
    case 'u': url = optarg; break;
    case 'p': polling = 1; break;
    case 'c': B.conns = (unsigned)atoi(optarg); break;
    case 'd': B.depth = (unsigned)atoi(optarg); break;
    case 's': B.size = (size_t)atol(optarg); break;
    case 't': B.duration = atof(optarg); break;
    case 'w': B.warmup = atof(optarg); break;
    default:
      fprintf(stderr, "usage: wsio-client-bench --url http://HOST:PORT [-c N] "
                      "[-d D] [-s BYTES] [-t SEC] [-w SEC] [--polling]\n");
      return 1;
    }
  }
  if (!url || !B.conns || !B.depth)
    return fprintf(stderr, "wsio-client-bench: --url is required\n"), 1;
  /* ["xxxx..."]: one string argument of `size` bytes. */
  B.args = malloc(B.size + 5);
  if (!B.args)
    return 1;
  B.args[0] = '[';
  B.args[1] = '"';
  memset(B.args + 2, 'x', B.size);
  memcpy(B.args + 2 + B.size, "\"]", 3);
  wsio_app *app = wsio_app_create(NULL);
  if (!app)
    return 1;
  B.loop = core_loop(app);
  wsio_sio_client_options o = {.on_error = on_error,
                               .transports = polling ? WSIO_SIO_POLLING
                                                     : WSIO_SIO_WEBSOCKET};
  wsio_sio_client_socket_options so = {.on_connect = on_connect,
                                       .on_event = on_event};
  for (unsigned i = 0; i < B.conns; i++) {
    int err;
    wsio_sio_client *c = wsio_sio_client_create(app, url, &o, &err);
    if (!c || !wsio_sio_client_socket_open(c, "/", NULL, &so, &err)) {
      fprintf(stderr, "wsio-client-bench: %s\n", wsio_sio_client_strerror(err));
      return 1;
    }
  }
  B.warm.cb = warm_fired;
  B.stop.cb = stop_fired;
  (void)loop_timer_start(B.loop, &B.warm, (uint32_t)(B.warmup * 1000), 0);
  (void)loop_timer_start(B.loop, &B.stop,
                         (uint32_t)((B.warmup + B.duration) * 1000), 0);
  loop_run(B.loop); /* the app's loop without a listener, as wsio-cat */
  double secs = mono() - B.t_start, used = cpu() - B.cpu_start;
  printf("{\"client\":\"wsio\",\"transport\":\"%s\",\"connections\":%u,"
         "\"connected\":%u,\"in_flight\":%u,\"size\":%zu,\"seconds\":%.2f,"
         "\"messages\":%llu,\"msgs_per_s\":%.0f,\"cpu_s\":%.3f,"
         "\"cpu_us_per_msg\":%.3f,\"errors\":%llu}\n",
         polling ? "polling" : "websocket", B.conns, B.connected, B.depth,
         B.size, secs, B.count, B.count / (secs > 0 ? secs : 1), used,
         B.count ? used * 1e6 / B.count : 0, B.errors);
  wsio_app_destroy(app);
  free(B.args);
  return B.connected == B.conns && B.count ? 0 : 2;
}
