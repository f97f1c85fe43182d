/* bench/src/sysstat.h — what the bench reads about processes: clocks, a server's CPU
 * time and RSS from /proc, and its own CPU time.
 *
 * Owns: parsing /proc/PID/stat and /proc/PID/status. Must not keep state. */
#ifndef BENCH_SYSSTAT_H
#define BENCH_SYSSTAT_H

#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);

/* This process's CPU time (user + system, all threads) in nanoseconds. */
uint64_t self_cpu_ns(void);

/* utime + stime of pid (all its threads) from /proc/PID/stat, converted from clock ticks
 * to nanoseconds. Returns 0 on success, -1 when the file cannot be read or parsed. */
int proc_cpu_ns(pid_t pid, uint64_t *ns);

/* VmRSS of pid from /proc/PID/status, in KiB. Returns 0 or -1. */
int proc_rss_kib(pid_t pid, uint64_t *kib);

/* A snapshot of both clocks (and the server's CPU time when pid > 0), and the difference
 * of two snapshots as percentages of one core and nanoseconds. */
typedef struct {
  uint64_t wall_ns;
  uint64_t self_ns;
  uint64_t server_ns;
  int server_ok;
} cpu_snap;

void cpu_snap_take(cpu_snap *s, pid_t pid);
/* The same for two servers (a cluster's nodes): server_ns is their sum. */
void cpu_snap_take2(cpu_snap *s, pid_t pid, pid_t pid2);

#endif
