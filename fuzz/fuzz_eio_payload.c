/* fuzz/fuzz_eio_payload.c — libFuzzer target for eio/packet.c.
 *
 * Iterates a polling payload the way a POST handler does (decoding base64 records in
 * place in a private copy) and checks that every packet lies inside the buffer, that the
 * cursor only moves forward, and that text records are returned untouched. Also decodes
 * the raw input as one WebSocket text packet and round-trips it through base64. */
#include "eio/packet.h"
#include "util/base64.h"

#include <stdlib.h>
#include <string.h>

#define REQUIRE(c)     \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

static void check_payload(const uint8_t *data, size_t size) {
  /* An exact-size heap copy, so ASan sees any access past the end. */
  uint8_t *buf = malloc(size ? size : 1);
  REQUIRE(buf);
  memcpy(buf, data, size);
  size_t off = 0;
  for (size_t iter = 0;; iter++) {
    REQUIRE(iter <= size + 1);
    size_t before = off;
    eio_packet pk;
    int r = eio_payload_next(buf, size, &off, &pk);
    REQUIRE(r >= -1 && r <= 1);
    if (r != 1) break;
    REQUIRE(off > before && off <= size + 1);
    REQUIRE(pk.type <= EIO_NOOP);
    REQUIRE(pk.data > buf + before && pk.data + pk.len <= buf + size);
    size_t rec_len = off - 1 - before; /* the record is [before, off - 1) */
    REQUIRE(memchr(data + before, EIO_RECORD_SEPARATOR, rec_len) == NULL);
    REQUIRE(off - 1 == size || data[off - 1] == EIO_RECORD_SEPARATOR);
    if (pk.binary) {
      REQUIRE(data[before] == 'b' && pk.type == EIO_MESSAGE);
      REQUIRE(pk.len == (rec_len - 1) / 4 * 3 - (rec_len > 1 && data[off - 2] == '=') -
                            (rec_len > 2 && data[off - 3] == '='));
    } else {
      REQUIRE(pk.type == data[before] - '0' && pk.len == rec_len - 1);
      REQUIRE(memcmp(pk.data, data + before + 1, pk.len) == 0);
    }
  }
  free(buf);
}

static void check_text(const uint8_t *data, size_t size) {
  eio_packet pk;
  int r = eio_packet_decode_text(data, size, &pk);
  if (r != 0) {
    REQUIRE(r == -1 && (size == 0 || data[0] < '0' || data[0] > '6'));
    return;
  }
  REQUIRE(pk.type == data[0] - '0' && pk.data == data + 1 && pk.len == size - 1 && !pk.binary);
}

static void check_base64(const uint8_t *data, size_t size) {
  if (size > 4096) size = 4096;
  size_t en = base64_len(size);
  char *enc = malloc(en ? en : 1);
  REQUIRE(enc);
  REQUIRE(base64_encode(enc, data, size) == en);
  REQUIRE(base64_decode((uint8_t *)enc, enc, en) == (long)size);
  REQUIRE(memcmp(enc, data, size) == 0);
  free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_payload(data, size);
  check_text(data, size);
  check_base64(data, size);
  return 0;
}
