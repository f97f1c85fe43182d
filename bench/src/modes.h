/* bench/src/modes.h — the workloads (four WebSocket ones, four Socket.IO ones), their
 * options, and the report they fill.
 *
 * Owns: the contract between main.c (options in, report out) and mode_*.c (one file per
 * workload). A mode returns 0 when the run was clean, 2 when it ran but saw errors
 * (verification failures, lost connections, lost messages), 1 when it could not run. */
#ifndef BENCH_MODES_H
#define BENCH_MODES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"
#include "sysstat.h"

typedef struct {
  const char *mode;
  const char *url;
  uint32_t conns;   /* -c */
  uint32_t depth;   /* -d: echo messages in flight per connection */
  size_t size;      /* -s: payload bytes */
  double duration;  /* -t: measured seconds (idle: seconds held) */
  double warmup;    /* -w: seconds before measuring */
  double drain;     /* --drain: broadcast's wait for stragglers before counting losses */
  double rate;      /* --rate: broadcast messages per second; 0: window-limited */
  uint32_t window;  /* --window: broadcast messages outstanding at most */
  pid_t pid;        /* --pid: the server, for CPU time and RSS; 0: none */
  const char *url2; /* --url2: a second node (a cluster): odd-numbered clients connect there */
  pid_t pid2;       /* --pid2: that node, its CPU time added to the server's */
  uint32_t nsrc;    /* --sources: source addresses 127.0.0.2.. */
  uint32_t pending; /* --pending: connections being opened at a time */
  int ack;          /* --ack: sio-echo asks for acks instead of echo events */
  int deflate;      /* --deflate: broadcast, sio-broadcast offer permessage-deflate */
  int raw;          /* --raw: echo over plain TCP (a raw echo server), no WebSocket */
  int json;
} bench_opts;

#define REPORT_MAX 48

typedef struct {
  const char *key;   /* JSON key */
  const char *label; /* text label; NULL: JSON only */
  const char *unit;
  const char *str; /* a string value, or NULL for a number */
  double num;
  int prec;
} report_item;

typedef struct {
  report_item it[REPORT_MAX];
  int n;
} report;

void report_num(report *r, const char *key, const char *label, double v, int prec, const char *unit);
void report_str(report *r, const char *key, const char *label, const char *s);
void report_print(const report *r, int json);

/* Adds server/client CPU figures for the window a..b: server ns per unit of work (when
 * the server's CPU time was readable) and both processes' share of one core. Warns on
 * stderr when the load generator itself used nearly a whole core. */
void report_cpu(report *r, const cpu_snap *a, const cpu_snap *b, double units, const char *per_key,
                const char *per_label);

/* Adds the loop's connection error counters and returns their sum. */
uint64_t report_conn_errors(report *r, const bench_loop *l);

/* A deadline for opening n connections: generous, since a slow server is what we measure. */
uint64_t open_deadline(uint32_t n);

int mode_echo(const bench_opts *o, report *r);
int mode_broadcast(const bench_opts *o, report *r);
int mode_idle(const bench_opts *o, report *r);
int mode_connect(const bench_opts *o, report *r);
int mode_sio_echo(const bench_opts *o, report *r);
int mode_sio_broadcast(const bench_opts *o, report *r);
int mode_sio_idle(const bench_opts *o, report *r);
int mode_sio_polling(const bench_opts *o, report *r);

#endif
