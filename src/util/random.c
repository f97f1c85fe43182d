/* util/random.c — random bytes from getrandom(2) and base64ids; see random.h. */
#include "util/random.h"

#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

int random_bytes(void *p, size_t n) {
  uint8_t *b = p;
  while (n) {
    ssize_t r = getrandom(b, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

int random_id(char out[RANDOM_ID_LEN + 1]) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint8_t b[15];
  int e = random_bytes(b, sizeof(b));
  if (e < 0) return e;
  for (int i = 0, o = 0; i < 15; i += 3) {
    uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
    out[o++] = alphabet[v >> 18];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = alphabet[(v >> 6) & 63];
    out[o++] = alphabet[v & 63];
  }
  out[RANDOM_ID_LEN] = '\0';
  return 0;
}
