/* util/random.c — random bytes from getrandom(2) and base64ids; see random.h. */
#include "util/random.h"

#include <string.h>

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

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int digit(char ch) {
  const char *p = ch ? strchr(alphabet, ch) : NULL;
  return p ? (int)(p - alphabet) : -1;
}

void random_id_mark(char id[RANDOM_ID_LEN + 1], unsigned t, unsigned n) {
  if (n <= 1) return;
  id[0] = alphabet[t & 63];
  if (n > 64) id[1] = alphabet[(t >> 6) & 63];
}

int random_id_owner(const char *id, size_t len, unsigned n) {
  if (n <= 1 || len != RANDOM_ID_LEN) return -1;
  int lo = digit(id[0]), hi = n > 64 ? digit(id[1]) : 0;
  if (lo < 0 || hi < 0) return -1;
  unsigned t = (unsigned)(hi << 6 | lo);
  return t < n ? (int)t : -1;
}

int random_id(char out[RANDOM_ID_LEN + 1]) {
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
