/* app/args.c — reading event arguments in the apps (see apps.h). */
#include "app/apps.h"
#include "sio/jscan.h"

int app_first_string(const wsio_sio_args *a, char *out, size_t cap) {
  size_t off = 0, elen;
  const char *e;
  jscan_type t;
  if (jscan_array_next(a->json, a->json_len, &off, &e, &elen, &t) != 1 || t != JSCAN_STRING) return -1;
  long n = jscan_string_unescape(e, elen, out, cap);
  return n <= 0 || (size_t)n >= cap ? -1 : 0;
}
