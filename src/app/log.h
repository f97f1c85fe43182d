/* app/log.h — wsio-server's log: one line per event, text or JSON, to stderr or a file
 * that SIGHUP reopens (for logrotate). */
#ifndef WSIO_APP_LOG_H
#define WSIO_APP_LOG_H

#include <stdarg.h>

enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 };

/* Parses "debug", "info", "warn", "error" or "off"; returns the level or -1. */
int log_level_parse(const char *s);

/* Configures the log: level, json (0 = text), path (NULL = stderr). Returns 0, or -1
 * when the file cannot be opened (errno set). */
int log_init(int level, int json, const char *path);
/* Reopens the log file (no-op on stderr). Returns 0 or -1. */
int log_reopen(void);
void log_close(void);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap);

/* Formats one line (without the newline) into out: pure, for tests. */
int log_format_line(char *out, int cap, int json, int level, const char *timestamp, const char *msg);

#endif
