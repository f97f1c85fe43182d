/* app/config.h — wsio-server's command-line options: parsing of sizes ("64KiB") and
 * durations ("0.5" seconds) with clear errors naming the option. Pure. */
#ifndef WSIO_APP_CONFIG_H
#define WSIO_APP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* Parses "1048576", "64KiB", "16MiB", "1GiB", "64KB", "64k" (binary multiples).
 * Returns 0 and *out, or -1 when invalid or over 2^48. */
int config_parse_size(const char *s, uint64_t *out);

/* Parses seconds with an optional fraction ("25", "0.5", "1.25") into milliseconds.
 * Returns 0 and *ms, or -1 when invalid, negative or over a day. */
int config_parse_seconds(const char *s, uint32_t *ms);

/* Parses a non-negative integer up to max. Returns 0 or -1. */
int config_parse_uint(const char *s, uint64_t max, uint64_t *out);

#endif
