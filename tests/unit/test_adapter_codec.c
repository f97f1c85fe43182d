/* tests/unit/test_adapter_codec.c — the cluster adapter's codec (adapter/codec.c)
 * against the bytes Node's notepack.io writes (the capture in docs/cluster.md's
 * protocol notes): a broadcast [uid, packet, opts] with a Buffer decodes to JSON with a
 * placeholder and the attachment's bytes; packing it back gives the same bytes; numbers
 * stay integers or doubles; nesting and attachment limits hold. And wsio-server's Redis
 * URL parser (app/cluster.c), and Redis Cluster key slots. */
#include <string.h>

#include "adapter/codec.h"
#include "app/cluster.c"
#include "app/log.c"
#include "test.h"

/* Node: msgpack.encode(["ErrR6j", {type:2, data:["hello","world",Buffer.from([1,2,3])],
 * nsp:"/"}, {rooms:["r1"], except:["nobody"], flags:{}}]) */
static const char NODE_BCAST[] =
    "\x93\xa6" "ErrR6j\x83\xa4type\x02\xa4" "data\x93\xa5hello\xa5world\xc4\x03\x01\x02\x03\xa3nsp\xa1/"
    "\x83\xa5rooms\x91\xa2r1\xa6" "except\x91\xa6nobody\xa5" "flags\x80";

static void test_node_broadcast(void) {
  size_t len = sizeof(NODE_BCAST) - 1;
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  CHECK(msgpack_unpack_next(&up, NODE_BCAST, len, &off) == MSGPACK_UNPACK_SUCCESS);
  codec_bins bins;
  json_t *v = codec_to_json(&up.data, &bins);
  CHECK(v != NULL);
  size_t n;
  char *text = codec_dump(v, &n);
  CHECK_STR(text, "[\"ErrR6j\",{\"type\":2,\"data\":[\"hello\",\"world\",{\"_placeholder\":true,\"num\":0}],"
                  "\"nsp\":\"/\"},{\"rooms\":[\"r1\"],\"except\":[\"nobody\"],\"flags\":{}}]");
  CHECK_EQ_INT(bins.n, 1);
  CHECK(bins.v[0].n == 3 && memcmp(bins.v[0].p, "\x01\x02\x03", 3) == 0);
  /* Back to msgpack: the placeholder becomes the bin again, byte for byte. */
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  CHECK(codec_pack_json(&pk, v, bins.v, bins.n) == 0);
  CHECK_EQ_INT(sb.size, len);
  CHECK(sb.size == len && memcmp(sb.data, NODE_BCAST, len) == 0);
  msgpack_sbuffer_destroy(&sb);
  free(text);
  json_decref(v);
  msgpack_unpacked_destroy(&up);
}

static json_t *roundtrip(const char *json, const wsio_span *bins, size_t nbins, codec_bins *out) {
  json_error_t je;
  json_t *in = json_loads(json, JSON_DECODE_ANY, &je);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  json_t *v = NULL;
  if (in && codec_pack_json(&pk, in, bins, nbins) == 0) {
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS) {
      v = codec_to_json(&up.data, out);
      /* spans point into sb: copy what the test reads before freeing */
    }
    msgpack_unpacked_destroy(&up);
  }
  msgpack_sbuffer_destroy(&sb);
  json_decref(in);
  return v;
}

static void test_values(void) {
  static const char *cases[][2] = {
      {"[1,-2,3.5,true,false,null,\"x\\u00e9\",{\"a\":[{}]}]", "[1,-2,3.5,true,false,null,\"x\xc3\xa9\",{\"a\":[{}]}]"},
      {"9007199254740993", "9007199254740993"},
      {"-9223372036854775808", "-9223372036854775808"},
      {"2.0", "2"}, /* notepack has no whole doubles either: JS 2.0 is 2 */
      {"{\"_placeholder\":true,\"num\":5}", "{\"_placeholder\":true,\"num\":5}"}, /* no bins[5]: an object */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    codec_bins b;
    json_t *v = roundtrip(cases[i][0], NULL, 0, &b);
    size_t n;
    char *t = v ? codec_dump(v, &n) : NULL;
    CHECK(t && strcmp(t, cases[i][1]) == 0);
    if (t && strcmp(t, cases[i][1])) fprintf(stderr, "  got %s want %s\n", t, cases[i][1]);
    free(t);
    json_decref(v);
  }
  /* Two attachments keep their order. */
  wsio_span bins[2] = {{(const uint8_t *)"ab", 2}, {(const uint8_t *)"", 0}};
  codec_bins b;
  json_t *v = roundtrip("[{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]", bins, 2, &b);
  CHECK(v != NULL);
  CHECK_EQ_INT(b.n, 2);
  CHECK(b.n == 2 && b.v[0].n == 0 && b.v[1].n == 2);
  json_decref(v);
}

static void test_limits(void) {
  /* Nesting past CODEC_MAX_DEPTH: refused (by msgpack-c's own stack limit or by the
   * codec), never a stack overflow. */
  char deep[2 * (CODEC_MAX_DEPTH + 10)];
  size_t k = 0;
  for (int i = 0; i < CODEC_MAX_DEPTH + 5; i++) deep[k++] = '\x91'; /* fixarray of 1 */
  deep[k++] = '\xc0';
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  CHECK(msgpack_unpack_next(&up, deep, k, &off) != MSGPACK_UNPACK_SUCCESS || codec_to_json(&up.data, NULL) == NULL);
  msgpack_unpacked_destroy(&up);
  /* More attachments than CODEC_MAX_BINS: refused. */
  char many[3 + 2 * (CODEC_MAX_BINS + 1)];
  k = 0;
  many[k++] = '\xdc';
  many[k++] = 0;
  many[k++] = (char)(CODEC_MAX_BINS + 1);
  for (int i = 0; i <= CODEC_MAX_BINS; i++) {
    many[k++] = '\xc4';
    many[k++] = 0;
  }
  msgpack_unpacked_init(&up);
  off = 0;
  CHECK(msgpack_unpack_next(&up, many, k, &off) == MSGPACK_UNPACK_SUCCESS);
  codec_bins b;
  CHECK(codec_to_json(&up.data, &b) == NULL);
  msgpack_unpacked_destroy(&up);
  /* A string that is not UTF-8 cannot become JSON text. */
  msgpack_unpacked_init(&up);
  off = 0;
  CHECK(msgpack_unpack_next(&up, "\xa2\xff\xfe", 3, &off) == MSGPACK_UNPACK_SUCCESS);
  CHECK(codec_to_json(&up.data, NULL) == NULL);
  msgpack_unpacked_destroy(&up);
  /* A key twice (here the integer 100, as "100"), binaries beside it: refused, or the
   * binaries' numbering would not follow the document (fuzz_adapter_codec's find). */
  static const char dup[] = "\x83\x64\x65\xa1w\xc4\x01\x01\x64\xc4\x01\x02";
  msgpack_unpacked_init(&up);
  off = 0;
  CHECK(msgpack_unpack_next(&up, dup, sizeof(dup) - 1, &off) == MSGPACK_UNPACK_SUCCESS);
  CHECK(codec_to_json(&up.data, &b) == NULL);
  msgpack_unpacked_destroy(&up);
}

/* Empty strings and binaries (found by the fuzz target: an empty str8 has no pointer). */
static void test_empty(void) {
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  CHECK(msgpack_unpack_next(&up, "\x93\xd9\x00\xa0\xc4\x00", 6, &off) == MSGPACK_UNPACK_SUCCESS);
  codec_bins b;
  json_t *v = codec_to_json(&up.data, &b);
  CHECK(v != NULL);
  size_t n;
  char *t = v ? codec_dump(v, &n) : NULL;
  CHECK(t && strcmp(t, "[\"\",\"\",{\"_placeholder\":true,\"num\":0}]") == 0);
  CHECK(b.n == 1 && b.v[0].n == 0);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  CHECK(v && codec_pack_json(&pk, v, b.v, b.n) == 0);
  CHECK(sb.size == 5 && memcmp(sb.data, "\x93\xa0\xa0\xc4\x00", 5) == 0);
  msgpack_sbuffer_destroy(&sb);
  free(t);
  json_decref(v);
  msgpack_unpacked_destroy(&up);
}

static void test_url(void) {
  cluster_url u;
  CHECK(cluster_parse_url("redis://127.0.0.1:6380", &u) == 0);
  CHECK(strcmp(u.host, "127.0.0.1") == 0 && u.port == 6380 && !u.user && !u.password && u.db == 0);
  CHECK(cluster_parse_url("redis://alice:s3cret@cache.local:7000/3", &u) == 0);
  CHECK(strcmp(u.host, "cache.local") == 0 && u.port == 7000 && u.db == 3);
  CHECK(u.user && strcmp(u.user, "alice") == 0 && strcmp(u.password, "s3cret") == 0);
  CHECK(cluster_parse_url("redis://:pw@[::1]:6379", &u) == 0);
  CHECK(strcmp(u.host, "::1") == 0 && !u.user && strcmp(u.password, "pw") == 0 && u.port == 6379);
  CHECK(cluster_parse_url("redis://localhost", &u) == 0);
  CHECK(strcmp(u.host, "localhost") == 0 && u.port == 6379);
  CHECK(strcmp(u.host, "localhost") == 0 && !u.tls);
  CHECK(cluster_parse_url("rediss://u:p@redis.example:6380/2", &u) == 0); /* TLS */
  CHECK(u.tls && strcmp(u.host, "redis.example") == 0 && u.port == 6380 && u.db == 2 && strcmp(u.password, "p") == 0);
  CHECK(cluster_parse_url("redisss://h:1", &u) < 0);
  CHECK(cluster_parse_url("http://h:1", &u) < 0);
  CHECK(cluster_parse_url("redis://h:0", &u) < 0);
  CHECK(cluster_parse_url("redis://h:70000", &u) < 0);
  CHECK(cluster_parse_url("redis://h:1/x", &u) < 0);
}

/* The slots redis-server 7.0's CLUSTER KEYSLOT answers for these names. */
static void test_key_slot(void) {
  static const struct {
    const char *k;
    unsigned slot;
  } cases[] = {{"foo", 12182},         {"somekey", 11058}, {"{user1000}.following", 3443},
               {"socket.io#/#", 13868}, {"{}x", 10595},     {"a{}{b}", 15033}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    CHECK(codec_key_slot(cases[i].k, strlen(cases[i].k)) == cases[i].slot);
  CHECK(codec_key_slot("user1000", 8) == 3443); /* the tag alone */
}

int main(void) {
  RUN(test_node_broadcast);
  RUN(test_values);
  RUN(test_limits);
  RUN(test_empty);
  RUN(test_url);
  RUN(test_key_slot);
  return test_report();
}
