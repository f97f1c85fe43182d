/* client/url.c — see url.h. */
#include "client/url.h"

#include <string.h>

#include "wsio/client.h"

int client_url_authority(const char *s, client_authority *a) {
  const char *end = s + strcspn(s, "/?#");
  if (end == s) return WSIO_EURL;
  a->end = end;
  if (*s == '[') {
    const char *rb = memchr(s, ']', (size_t)(end - s));
    if (!rb) return WSIO_EURL;
    a->host = s + 1;
    a->host_len = (size_t)(rb - a->host);
    a->colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
  } else {
    a->colon = memchr(s, ':', (size_t)(end - s));
    a->host = s;
    a->host_len = (size_t)((a->colon ? a->colon : end) - s);
  }
  return 0;
}
