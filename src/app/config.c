/* app/config.c — option value parsing (see config.h). */
#include "app/config.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

int config_parse_uint(const char *s, uint64_t max, uint64_t *out) {
  if (!s || !isdigit((unsigned char)*s)) return -1;
  uint64_t v = 0;
  for (; *s; s++) {
    if (!isdigit((unsigned char)*s)) return -1;
    if (v > (max - (uint64_t)(*s - '0')) / 10) return -1;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *out = v;
  return 0;
}

int config_parse_size(const char *s, uint64_t *out) {
  if (!s || !isdigit((unsigned char)*s)) return -1;
  uint64_t v = 0;
  while (isdigit((unsigned char)*s)) {
    v = v * 10 + (uint64_t)(*s++ - '0');
    if (v > ((uint64_t)1 << 48)) return -1;
  }
  static const struct {
    const char *sfx;
    unsigned shift;
  } units[] = {{"", 0},     {"b", 0},    {"k", 10},   {"kb", 10},  {"kib", 10}, {"m", 20},
               {"mb", 20},  {"mib", 20}, {"g", 30},   {"gb", 30},  {"gib", 30}};
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (strcasecmp(s, units[i].sfx) != 0) continue;
    if (v > (((uint64_t)1 << 48) >> units[i].shift)) return -1;
    *out = v << units[i].shift;
    return 0;
  }
  return -1;
}

int config_parse_seconds(const char *s, uint32_t *ms) {
  if (!s || !isdigit((unsigned char)*s)) return -1;
  uint64_t whole = 0, frac = 0, scale = 1000;
  while (isdigit((unsigned char)*s)) {
    whole = whole * 10 + (uint64_t)(*s++ - '0');
    if (whole > 86400) return -1;
  }
  if (*s == '.') {
    s++;
    if (!isdigit((unsigned char)*s)) return -1;
    while (isdigit((unsigned char)*s)) {
      scale /= 10;
      frac += (uint64_t)(*s++ - '0') * scale;
      if (!scale) break;
    }
    while (isdigit((unsigned char)*s)) s++;
  }
  if (*s) return -1;
  *ms = (uint32_t)(whole * 1000 + frac);
  return 0;
}
