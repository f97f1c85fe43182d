/* bench/src/main.c — wsio-bench: command line, limits, and dispatch to the modes.
 *
 * A single-threaded epoll load generator for WebSocket servers (wsio-server and the
 * peers in bench/peers/). Pin it to its own core (taskset) so it does not compete with
 * the server it measures; it warns when it used nearly a whole core itself. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "modes.h"

static void usage(FILE *f) {
  fprintf(f, "usage: wsio-bench MODE [options]\n"
             "\n"
             "modes:\n"
             "  echo       -c connections keep -d messages of -s bytes in flight each; every echo is\n"
             "             checked. Prints messages/s and round-trip time p50/p99. --raw: the same\n"
             "             bytes over plain TCP to a raw echo server (bench/peers/tcp-echo), no\n"
             "             handshake or framing: the floor a WebSocket echo is held against.\n"
             "  broadcast  -c subscribers on /broadcast, one of them also publishing -s byte messages\n"
             "             (sequence number + timestamp) at --rate R msg/s, or with at most --window W\n"
             "             outstanding (published, not yet received by every subscriber). Prints\n"
             "             deliveries/s, latency p50/p99/p999/max, and lost / out-of-order deliveries\n"
             "             (counted after a --drain period).\n"
             "  idle       opens -c connections and holds them -t seconds; with --pid, the server's RSS\n"
             "             per connection (VmRSS before connecting vs. after all are open).\n"
             "  connect    -c at a time: connect, handshake, close frame, repeat. Prints handshakes/s.\n"
             "\n"
             "Socket.IO modes (Engine.IO v4 / Socket.IO v5, namespace \"/\", against a server running\n"
             "the bench app: wsio-server --app bench or bench/peers/socketio.js):\n"
             "  sio-echo       -c clients (WebSocket transport) keep -d events 42[\"echo\",\"<-s chars>\"]\n"
             "                 in flight each; the reply 42[\"echo\",<same>] (with --ack: the ack) is\n"
             "                 checked. Prints messages/s, RTT, server CPU per message.\n"
             "  sio-broadcast  -c clients join room \"bench\"; client 0 publishes 42[\"bcast\",\"<-s chars:\n"
             "                 seq, time, pattern>\"] paced like broadcast; every client gets each one.\n"
             "                 Prints deliveries/s, latency, lost / out of order, CPU per delivery.\n"
             "  sio-idle       holds -c Socket.IO clients (answering pings) -t seconds; with --pid, the\n"
             "                 server's RSS per client.\n"
             "  sio-polling    -c clients on the long-polling transport (two keep-alive connections\n"
             "                 each, GET and POST), each doing one echo round trip at a time. Prints\n"
             "                 round trips/s, RTT, server CPU per round trip.\n"
             "\n"
             "options:\n"
             "  --url ws://HOST:PORT/PATH  server (default ws://127.0.0.1:9001; wss:// for TLS; path defaults to\n"
             "                             /broadcast for broadcast, /echo otherwise; /socket.io/\n"
             "                             for the sio-* modes; http:// works too)\n"
             "  -c N         connections / subscribers / concurrency (defaults: echo 100,\n"
             "               broadcast 1000, idle 10000, connect 64; sio-echo 100, sio-broadcast\n"
             "               1000, sio-idle 10000, sio-polling 50)\n"
             "  -d N         echo, sio-echo: messages in flight per connection (16)\n"
             "  -s BYTES     payload size (32; broadcast 64, at least 16); sio-*: characters of\n"
             "               the JSON string payload (32; sio-broadcast 64, at least 32)\n"
             "  -t SECONDS   measured time, after the warm-up (5)\n"
             "  -w SECONDS   warm-up before measuring (1)\n"
             "  --rate R     broadcast: publish R messages/s (default: window-limited)\n"
             "  --window W   broadcast: messages outstanding at most (16)\n"
             "  --drain S    broadcast: after publishing stops, wait for stragglers until none came\n"
             "               for S seconds (2; 5 x S at most), then count losses\n"
             "  --pid PID    the server's pid: adds its CPU time per message / delivery / handshake\n"
             "               (utime+stime from /proc/PID/stat over the measured window) and, for\n"
             "               idle, its RSS per connection\n"
             "  --url2 URL   sio-broadcast across a cluster: odd-numbered clients connect to this\n"
             "               second node (the publisher, client 0, stays on --url); their\n"
             "               deliveries' latency is also reported apart (cross-node)\n"
             "  --pid2 PID   that node's pid: its CPU time counts in the server's\n"
             "  --sources N  spread connections over source addresses 127.0.0.2..127.0.0.(N+1) (32)\n"
             "  --pending N  connections being opened at a time (256)\n"
             "  --ack        sio-echo: emit with an ack id; the server answers with the ack\n"
             "  --raw        echo: plain TCP, no WebSocket (against a raw echo server; -s >= 1)\n"
             "  --io-uring on|off\n"
             "               on (default): each loop iteration's sends go to the kernel in\n"
             "               batches through io_uring, where it allows; off: one send() each\n"
             "  --deflate    broadcast, sio-broadcast: offer permessage-deflate with\n"
             "               server_no_context_takeover and inflate what comes compressed (reports\n"
             "               the compressed share; use -s over the server's threshold)\n"
             "  --json       one JSON object on one line instead of text\n"
             "  -h, --help   this text\n"
             "\n"
             "Exit status: 0 clean run; 2 ran but saw errors (verification, lost messages, lost\n"
             "connections); 1 could not run.\n");
}

static int parse_num(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

/* Each connection is a descriptor here and one in the server: take the hard limit. */
static uint64_t raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

int main(int argc, char **argv) {
  /* The load generator must not be what it measures: connections drop their buffers
   * when idle (10,000 idle ones would hold ~640 MB otherwise), and with glibc's
   * defaults every large free trimmed the heap or unmapped a chunk, so the next 16 KiB
   * message faulted its pages in again (a third of the client's CPU at echo -s 16384,
   * more than the echo itself). Freed memory stays in the heap for reuse instead. */
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 1 : 0;
  }
  bench_opts o = {.mode = argv[1],
                  .url = "ws://127.0.0.1:9001",
                  .depth = 16,
                  .duration = 5,
                  .warmup = 1,
                  .drain = 2,
                  .window = 16,
                  .nsrc = 32,
                  .pending = 256};
  int (*run)(const bench_opts *, report *) = NULL;
  double conns = 0, size = -1;
  if (strcmp(o.mode, "echo") == 0)
    run = mode_echo, conns = 100;
  else if (strcmp(o.mode, "broadcast") == 0)
    run = mode_broadcast, conns = 1000;
  else if (strcmp(o.mode, "idle") == 0)
    run = mode_idle, conns = 10000;
  else if (strcmp(o.mode, "connect") == 0)
    run = mode_connect, conns = 64;
  else if (strcmp(o.mode, "sio-echo") == 0)
    run = mode_sio_echo, conns = 100;
  else if (strcmp(o.mode, "sio-broadcast") == 0)
    run = mode_sio_broadcast, conns = 1000;
  else if (strcmp(o.mode, "sio-idle") == 0)
    run = mode_sio_idle, conns = 10000;
  else if (strcmp(o.mode, "sio-polling") == 0)
    run = mode_sio_polling, conns = 50;
  if (!run) {
    fprintf(stderr,
            "wsio-bench: unknown mode '%s' (echo, broadcast, idle, connect, sio-echo, sio-broadcast, sio-idle, "
            "sio-polling)\n",
            o.mode);
    return 1;
  }
  enum { OPT_URL = 256, OPT_RATE, OPT_WINDOW, OPT_DRAIN, OPT_PID, OPT_SOURCES, OPT_PENDING, OPT_JSON, OPT_ACK,
         OPT_URL2, OPT_PID2, OPT_DEFLATE, OPT_RAW, OPT_IO_URING };
  static const struct option longs[] = {
      {"url", required_argument, 0, OPT_URL},
      {"rate", required_argument, 0, OPT_RATE},
      {"window", required_argument, 0, OPT_WINDOW},
      {"drain", required_argument, 0, OPT_DRAIN},
      {"pid", required_argument, 0, OPT_PID},
      {"sources", required_argument, 0, OPT_SOURCES},
      {"pending", required_argument, 0, OPT_PENDING},
      {"json", no_argument, 0, OPT_JSON},
      {"ack", no_argument, 0, OPT_ACK},
      {"url2", required_argument, 0, OPT_URL2},
      {"pid2", required_argument, 0, OPT_PID2},
      {"deflate", no_argument, 0, OPT_DEFLATE},
      {"raw", no_argument, 0, OPT_RAW},
      {"io-uring", required_argument, 0, OPT_IO_URING},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0},
  };
  int opt;
  optind = 2;
  while ((opt = getopt_long(argc, argv, "c:d:s:t:w:h", longs, NULL)) != -1) {
    double v = 0;
    int bad = 0;
    switch (opt) {
    case 'c': bad = parse_num(optarg, 1, 1e6, &conns); break;
    case 'd': bad = parse_num(optarg, 1, 1e6, &v), o.depth = (uint32_t)v; break;
    case 's': bad = parse_num(optarg, 0, 64 << 20, &size); break;
    case 't': bad = parse_num(optarg, 0.01, 3600, &o.duration); break;
    case 'w': bad = parse_num(optarg, 0, 3600, &o.warmup); break;
    case OPT_URL: o.url = optarg; break;
    case OPT_RATE: bad = parse_num(optarg, 0, 1e9, &o.rate); break;
    case OPT_WINDOW: bad = parse_num(optarg, 1, 1 << 20, &v), o.window = (uint32_t)v; break;
    case OPT_DRAIN: bad = parse_num(optarg, 0, 600, &o.drain); break;
    case OPT_PID: bad = parse_num(optarg, 1, 1 << 30, &v), o.pid = (pid_t)v; break;
    case OPT_SOURCES: bad = parse_num(optarg, 0, 250, &v), o.nsrc = (uint32_t)v; break;
    case OPT_PENDING: bad = parse_num(optarg, 1, 1e6, &v), o.pending = (uint32_t)v; break;
    case OPT_JSON: o.json = 1; break;
    case OPT_ACK: o.ack = 1; break;
    case OPT_DEFLATE: o.deflate = 1; break;
    case OPT_RAW: o.raw = 1; break;
    case OPT_IO_URING:
      bad = strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0;
      bench_io_uring = strcmp(optarg, "on") == 0;
      break;
    case OPT_URL2: o.url2 = optarg; break;
    case OPT_PID2: bad = parse_num(optarg, 1, 1 << 30, &v), o.pid2 = (pid_t)v; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 1;
    }
    if (bad) {
      fprintf(stderr, "wsio-bench: bad value for option -%c / --%s: %s\n", opt < 256 ? opt : '-',
              opt >= 256 ? longs[opt - OPT_URL].name : "", optarg);
      return 1;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "wsio-bench: unexpected argument '%s'\n", argv[optind]);
    return 1;
  }
  if (o.raw && run != mode_echo) {
    fprintf(stderr, "wsio-bench: --raw is for echo only\n");
    return 1;
  }
  o.conns = (uint32_t)conns;
  o.size = size >= 0 ? (size_t)size : (run == mode_broadcast || run == mode_sio_broadcast ? 64 : 32);
  uint64_t fds = run == mode_sio_polling ? 2ULL * o.conns : o.conns; /* a GET and a POST connection each */
  signal(SIGPIPE, SIG_IGN);
  uint64_t nofile = raise_nofile();
  if (fds + 64 > nofile) {
    fprintf(stderr, "wsio-bench: -c %u needs more file descriptors than the limit (%llu); raise ulimit -n\n",
            o.conns, (unsigned long long)nofile);
    return 1;
  }
  if (o.pid > 0) {
    uint64_t ns;
    if (proc_cpu_ns(o.pid, &ns) != 0) {
      fprintf(stderr, "wsio-bench: cannot read /proc/%d/stat\n", (int)o.pid);
      return 1;
    }
  }
  report r = {.n = 0};
  int rc = run(&o, &r);
  if (rc == 1) return 1;
  if (!o.json) printf("wsio-bench %s\n", o.mode);
  report_print(&r, o.json);
  return rc;
}
