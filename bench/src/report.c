/* bench/src/report.c — collects a run's results and prints them as aligned text or as
 * one JSON line (--json), which bench/run.sh parses. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "modes.h"

static report_item *add(report *r, const char *key, const char *label, const char *unit) {
  if (r->n >= REPORT_MAX) return NULL;
  report_item *it = &r->it[r->n++];
  memset(it, 0, sizeof *it);
  it->key = key;
  it->label = label;
  it->unit = unit ? unit : "";
  return it;
}

void report_num(report *r, const char *key, const char *label, double v, int prec, const char *unit) {
  report_item *it = add(r, key, label, unit);
  if (!it) return;
  it->num = v;
  it->prec = prec;
}

void report_str(report *r, const char *key, const char *label, const char *s) {
  report_item *it = add(r, key, label, NULL);
  if (it) it->str = s;
}

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      printf("\\u%04x", *s);
    else
      putchar(*s);
  }
  putchar('"');
}

void report_print(const report *r, int json) {
  if (json) {
    putchar('{');
    for (int i = 0; i < r->n; i++) {
      const report_item *it = &r->it[i];
      printf("%s\"%s\":", i ? "," : "", it->key);
      if (it->str)
        json_string(it->str);
      else if (!isfinite(it->num))
        printf("null");
      else
        printf("%.*f", it->prec, it->num);
    }
    printf("}\n");
    fflush(stdout);
    return;
  }
  for (int i = 0; i < r->n; i++) {
    const report_item *it = &r->it[i];
    if (!it->label) continue;
    if (it->str)
      printf("  %-26s %s\n", it->label, it->str);
    else
      printf("  %-26s %.*f%s%s\n", it->label, it->prec, it->num, *it->unit ? " " : "", it->unit);
  }
  fflush(stdout);
}

void report_cpu(report *r, const cpu_snap *a, const cpu_snap *b, double units, const char *per_key,
                const char *per_label) {
  double wall = (double)(b->wall_ns - a->wall_ns);
  double self = (double)(b->self_ns - a->self_ns);
  if (a->server_ok && b->server_ok) {
    double server = (double)(b->server_ns - a->server_ns);
    if (per_key) report_num(r, per_key, per_label, units > 0 ? server / units : NAN, 0, "ns");
    report_num(r, "server_cpu_pct", "server CPU", wall > 0 ? 100.0 * server / wall : NAN, 1, "% of a core");
  }
  double pct = wall > 0 ? 100.0 * self / wall : 0;
  report_num(r, "client_cpu_pct", "load generator CPU", pct, 1, "% of a core");
  if (pct > 95.0)
    fprintf(stderr,
            "wsio-bench: warning: the load generator used %.0f%% of a core; it may be the bottleneck\n", pct);
}

uint64_t report_conn_errors(report *r, const bench_loop *l) {
  report_num(r, "connect_failures", "connect failures", (double)l->n.connect_fail, 0, NULL);
  report_num(r, "handshake_failures", "handshake failures", (double)l->n.handshake_fail, 0, NULL);
  report_num(r, "closed_by_server", "closed by server", (double)l->n.server_closed, 0, NULL);
  report_num(r, "protocol_errors", "protocol errors", (double)l->n.protocol, 0, NULL);
  return l->n.connect_fail + l->n.handshake_fail + l->n.server_closed + l->n.protocol;
}

uint64_t open_deadline(uint32_t n) { return now_ns() + (30 + (uint64_t)n / 500) * 1000000000ULL; }
