/* bench/src/sysstat.c — see sysstat.h. */
#include "sysstat.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t self_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int proc_cpu_ns(pid_t pid, uint64_t *ns) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* proc(5): the command name in field 2 is in parentheses and may hold spaces, so
   * count fields from the last ')': field 3 (state) follows it, utime is 14, stime 15. */
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  unsigned long long utime, stime;
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return -1;
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) hz = 100;
  *ns = (utime + stime) * (1000000000ULL / (unsigned long long)hz);
  return 0;
}

int proc_rss_kib(pid_t pid, uint64_t *kib) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  int rc = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long long v;
    if (sscanf(line, "VmRSS: %llu kB", &v) == 1) {
      *kib = v;
      rc = 0;
      break;
    }
  }
  fclose(f);
  return rc;
}

void cpu_snap_take(cpu_snap *s, pid_t pid) {
  s->wall_ns = now_ns();
  s->self_ns = self_cpu_ns();
  s->server_ok = pid > 0 && proc_cpu_ns(pid, &s->server_ns) == 0;
}

void cpu_snap_take2(cpu_snap *s, pid_t pid, pid_t pid2) {
  cpu_snap_take(s, pid);
  uint64_t ns2;
  if (pid2 <= 0) return;
  if (proc_cpu_ns(pid2, &ns2) == 0) s->server_ns += ns2;
  else s->server_ok = 0;
}
