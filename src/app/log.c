/* app/log.c — see log.h. Lines are written with one write(2) each so concurrent
 * writers (and logrotate's copytruncate) never interleave half lines. */
#include "app/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_level = LOG_INFO, g_json, g_fd = 2;
static char g_path[1024];

static const char *const names[] = {"debug", "info", "warn", "error", "off"};

int log_level_parse(const char *s) {
  for (int i = 0; i <= LOG_OFF; i++)
    if (strcmp(s, names[i]) == 0) return i;
  if (strcmp(s, "warning") == 0) return LOG_WARN;
  return -1;
}

static int open_file(const char *path) {
  return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

int log_init(int level, int json, const char *path) {
  g_level = level;
  g_json = json;
  if (!path) return 0;
  int fd = open_file(path);
  if (fd < 0) return -1;
  snprintf(g_path, sizeof(g_path), "%s", path);
  g_fd = fd;
  return 0;
}

int log_reopen(void) {
  if (!g_path[0]) return 0;
  int fd = open_file(g_path);
  if (fd < 0) return -1;
  dup2(fd, g_fd);
  close(fd);
  return 0;
}

void log_close(void) {
  if (g_path[0] && g_fd > 2) close(g_fd);
  g_fd = 2;
  g_path[0] = '\0';
}

/* JSON string contents of s (without quotes) into out; returns the length used. */
static int json_escape(char *out, int cap, const char *s) {
  int o = 0;
  for (; *s && o < cap - 7; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      out[o++] = '\\';
      out[o++] = (char)ch;
    } else if (ch < 0x20) {
      o += snprintf(out + o, (size_t)(cap - o), "\\u%04x", ch);
    } else {
      out[o++] = (char)ch;
    }
  }
  out[o] = '\0';
  return o;
}

int log_format_line(char *out, int cap, int json, int level, const char *ts, const char *msg) {
  if (!json) return snprintf(out, (size_t)cap, "%s %s wsio-server: %s", ts, names[level], msg);
  char esc[1024];
  json_escape(esc, sizeof(esc), msg);
  return snprintf(out, (size_t)cap, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}", ts, names[level], esc);
}

void log_vmsg(int level, const char *fmt, va_list ap) {
  if (level < g_level || level >= LOG_OFF) return;
  char msg[768], line[1200], ts[40];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm tm;
  gmtime_r(&now.tv_sec, &tm);
  size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);
  int len = log_format_line(line, (int)sizeof(line) - 1, g_json, level, ts, msg);
  if (len < 0) return;
  if (len > (int)sizeof(line) - 2) len = (int)sizeof(line) - 2;
  line[len++] = '\n';
  ssize_t w = write(g_fd, line, (size_t)len);
  (void)w;
}

void log_msg(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_vmsg(level, fmt, ap);
  va_end(ap);
}
