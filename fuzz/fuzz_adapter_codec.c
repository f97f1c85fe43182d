/* fuzz/fuzz_adapter_codec.c — libFuzzer target for adapter/codec.c, the decoder of what
 * other cluster nodes publish (untrusted bytes from Redis).
 *
 * Decodes every msgpack value in the input to JSON (binaries as placeholders), and for
 * each one that decodes: its JSON text parses again, and packing it back with the
 * collected attachments and decoding that gives the same JSON text and bytes (the codec
 * is its own inverse on what it produces). */
#include "adapter/codec.h"

#include <stdlib.h>
#include <string.h>

#define REQUIRE(c)     \
  do {                 \
    if (!(c)) abort(); \
  } while (0)

static void roundtrip(const json_t *v, const codec_bins *bins, const char *text) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  REQUIRE(codec_pack_json(&pk, v, bins->v, bins->n) == 0);
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  REQUIRE(msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS);
  codec_bins again;
  json_t *w = codec_to_json(&up.data, &again);
  REQUIRE(w);
  size_t n;
  char *t2 = codec_dump(w, &n);
  REQUIRE(t2 && strcmp(text, t2) == 0);
  REQUIRE(again.n == bins->n);
  for (size_t i = 0; i < again.n; i++)
    REQUIRE(again.v[i].n == bins->v[i].n && memcmp(again.v[i].p, bins->v[i].p, again.v[i].n) == 0);
  free(t2);
  json_decref(w);
  msgpack_unpacked_destroy(&up);
  msgpack_sbuffer_destroy(&sb);
}

/* msgpack-c allocates a container's declared size before reading its elements, so a
 * five-byte map32 header asks for up to 64 GiB: in the server, malloc fails and the
 * message is dropped (msgpack_unpack_next returns an error). Here too: huge
 * allocations return NULL instead of stopping the run. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  static char *args[64];
  static char rss[] = "-rss_limit_mb=0", mall[] = "-malloc_limit_mb=0";
  int n = *argc < 60 ? *argc : 60;
  for (int i = 0; i < n; i++) args[i] = (*argv)[i];
  args[n++] = rss;
  args[n++] = mall;
  args[n] = NULL;
  *argc = n;
  *argv = args;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size ? size : 1); /* exact size: ASan sees any overread */
  REQUIRE(buf);
  memcpy(buf, data, size);
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  for (int i = 0; i < 8 && msgpack_unpack_next(&up, buf, size, &off) == MSGPACK_UNPACK_SUCCESS; i++) {
    codec_bins bins;
    json_t *v = codec_to_json(&up.data, &bins);
    if (!v) continue;
    size_t n;
    char *text = codec_dump(v, &n);
    REQUIRE(text);
    json_error_t je;
    json_t *re = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    REQUIRE(re);
    json_decref(re);
    /* A map that looks like a placeholder is one when packed back (Socket.IO's own
     * ambiguity): the inverse property holds when every placeholder came from a bin. */
    size_t nph = 0;
    for (const char *p = text; (p = strstr(p, "\"_placeholder\"")) != NULL; p++) nph++;
    if (nph == bins.n) roundtrip(v, &bins, text);
    free(text);
    json_decref(v);
  }
  msgpack_unpacked_destroy(&up);
  free(buf);
  return 0;
}
