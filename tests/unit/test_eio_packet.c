/* tests/unit/test_eio_packet.c — eio/packet.c: text packets, polling payloads, base64. */
#include "test.h"
#include "eio/packet.h"
#include "util/base64.h"

#include <stdint.h>


static void test_decode_text(void) {
  static const struct {
    const char *in;
    int rc;
    uint8_t type;
    const char *data;
  } cases[] = {
      {"4hello", 0, EIO_MESSAGE, "hello"},
      {"2probe", 0, EIO_PING, "probe"},
      {"3probe", 0, EIO_PONG, "probe"},
      {"0{\"sid\":\"x\"}", 0, EIO_OPEN, "{\"sid\":\"x\"}"},
      {"1", 0, EIO_CLOSE, ""},
      {"5", 0, EIO_UPGRADE, ""},
      {"6", 0, EIO_NOOP, ""},
      {"42[\"foo\"]", 0, EIO_MESSAGE, "2[\"foo\"]"},
      {"", -1, 0, NULL},
      {"7", -1, 0, NULL},
      {"9x", -1, 0, NULL},
      {"abc", -1, 0, NULL},
      {"bAQIDBA==", -1, 0, NULL}, /* binary records only exist inside polling payloads */
      {"/4", -1, 0, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].in;
    eio_packet pk;
    size_t n = strlen(cases[i].in);
    int rc = eio_packet_decode_text((const uint8_t *)cases[i].in, n, &pk);
    CHECK_EQ_INT(rc, cases[i].rc);
    if (rc != 0) continue;
    CHECK_EQ_INT(pk.type, cases[i].type);
    CHECK_EQ_INT(pk.binary, 0);
    CHECK_EQ_INT(pk.len, strlen(cases[i].data));
    CHECK(pk.data == (const uint8_t *)cases[i].in + 1);
    CHECK_MEM(pk.data, cases[i].data, pk.len);
  }
}

/* One expected step of a payload iteration. */
typedef struct {
  int rc;
  uint8_t type, binary;
  const char *data;
  size_t len;
} step;

static void run_payload(const char *name, const char *in, size_t n, const step *steps, size_t nsteps) {
  test_current = name;
  uint8_t buf[256];
  memcpy(buf, in, n);
  size_t off = 0;
  for (size_t k = 0; k < nsteps; k++) {
    eio_packet pk;
    size_t before = off;
    int rc = eio_payload_next(buf, n, &off, &pk);
    CHECK_EQ_INT(rc, steps[k].rc);
    if (rc != 1) break;
    CHECK(off > before);
    CHECK_EQ_INT(pk.type, steps[k].type);
    CHECK_EQ_INT(pk.binary, steps[k].binary);
    CHECK_EQ_INT(pk.len, steps[k].len);
    CHECK(pk.data >= buf && pk.data + pk.len <= buf + n);
    CHECK_MEM(pk.data, steps[k].data, pk.len);
  }
}

#define PAYLOAD(name, lit, ...)                                            \
  do {                                                                     \
    static const step st[] = {__VA_ARGS__};                                \
    run_payload(name, lit, sizeof(lit) - 1, st, sizeof st / sizeof st[0]); \
  } while (0)

static void test_payloads(void) {
  PAYLOAD("text then binary", "4hello\x1e" "bAQIDBA==", {1, EIO_MESSAGE, 0, "hello", 5},
          {1, EIO_MESSAGE, 1, "\x01\x02\x03\x04", 4}, {0, 0, 0, NULL, 0}, {0, 0, 0, NULL, 0});
  PAYLOAD("single ping", "2probe", {1, EIO_PING, 0, "probe", 5}, {0, 0, 0, NULL, 0});
  PAYLOAD("batch", "1\x1e" "6\x1e" "3", {1, EIO_CLOSE, 0, "", 0}, {1, EIO_NOOP, 0, "", 0},
          {1, EIO_PONG, 0, "", 0}, {0, 0, 0, NULL, 0});
  PAYLOAD("empty binary", "b", {1, EIO_MESSAGE, 1, "", 0}, {0, 0, 0, NULL, 0});
  PAYLOAD("binary 1 byte", "bAQ==\x1e" "4x", {1, EIO_MESSAGE, 1, "\x01", 1},
          {1, EIO_MESSAGE, 0, "x", 1}, {0, 0, 0, NULL, 0});
  PAYLOAD("socket.io binary event", "451-[\"a\",{\"_placeholder\":true,\"num\":0}]\x1e" "bAA==",
          {1, EIO_MESSAGE, 0, "51-[\"a\",{\"_placeholder\":true,\"num\":0}]", 38},
          {1, EIO_MESSAGE, 1, "\x00", 1}, {0, 0, 0, NULL, 0});
  PAYLOAD("empty payload", "", {-1, 0, 0, NULL, 0});
  PAYLOAD("trailing separator", "4a\x1e", {1, EIO_MESSAGE, 0, "a", 1}, {-1, 0, 0, NULL, 0});
  PAYLOAD("leading separator", "\x1e" "4a", {-1, 0, 0, NULL, 0});
  PAYLOAD("empty middle record", "4a\x1e\x1e" "4b", {1, EIO_MESSAGE, 0, "a", 1}, {-1, 0, 0, NULL, 0});
  PAYLOAD("undecodable", "abc", {-1, 0, 0, NULL, 0});
  PAYLOAD("unknown type after good", "4a\x1e" "8", {1, EIO_MESSAGE, 0, "a", 1}, {-1, 0, 0, NULL, 0});
  PAYLOAD("bad base64", "bAQ=\x1e" "4a", {-1, 0, 0, NULL, 0});
  PAYLOAD("bad base64 char", "bAQ*=", {-1, 0, 0, NULL, 0});
}

/* After the end, the iterator keeps saying so. */
static void test_payload_end_is_sticky(void) {
  uint8_t buf[] = "4a";
  size_t off = 0;
  eio_packet pk;
  CHECK_EQ_INT(eio_payload_next(buf, 2, &off, &pk), 1);
  CHECK_EQ_INT(eio_payload_next(buf, 2, &off, &pk), 0);
  CHECK_EQ_INT(eio_payload_next(buf, 2, &off, &pk), 0);
}

/* RFC 4648 10 test vectors, both ways, and decoding in place. */
static void test_base64_rfc4648(void) {
  static const struct {
    const char *raw, *enc;
  } v[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
           {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    test_current = v[i].enc;
    size_t rn = strlen(v[i].raw), en = strlen(v[i].enc);
    char enc[16];
    CHECK_EQ_INT(base64_len(rn), en);
    CHECK_EQ_INT(base64_encode(enc, (const uint8_t *)v[i].raw, rn), en);
    CHECK_MEM(enc, v[i].enc, en);
    uint8_t dec[16];
    CHECK_EQ_INT(base64_decode(dec, v[i].enc, en), rn);
    CHECK_MEM(dec, v[i].raw, rn);
    char inplace[16];
    memcpy(inplace, v[i].enc, en);
    CHECK_EQ_INT(base64_decode((uint8_t *)inplace, inplace, en), rn);
    CHECK_MEM(inplace, v[i].raw, rn);
  }
}

static void test_base64_invalid(void) {
  static const char *const bad[] = {
      "Z",        "Zg",   "Zg=",      "Zg=a",     "Z===",     "====",     "Zm9v====",
      "Zg==Zg==", "Zm9-", "Zm 9",     "Zm9v\n",   "Zm9_",     "Zm9\x80",  "=Zm9",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    test_current = bad[i];
    uint8_t out[16];
    CHECK_EQ_INT(base64_decode(out, bad[i], strlen(bad[i])), -1);
  }
  /* Non-zero leftover bits are ignored, as Node's Buffer.from does. */
  test_current = "leftover bits";
  uint8_t out[4];
  CHECK_EQ_INT(base64_decode(out, "Zh==", 4), 1);
  CHECK_EQ_INT(out[0], 'f');
}

/* Every byte value and every length mod 3, encoded then decoded in place. */
static void test_base64_roundtrip(void) {
  uint8_t raw[256];
  for (int i = 0; i < 256; i++) raw[i] = (uint8_t)(i * 167 + 13);
  for (size_t n = 0; n <= sizeof raw; n++) {
    char enc[344];
    size_t en = base64_encode(enc, raw, n);
    CHECK_EQ_INT(en, base64_len(n));
    long dn = base64_decode((uint8_t *)enc, enc, en);
    CHECK_EQ_INT(dn, n);
    if (dn == (long)n) CHECK_MEM(enc, raw, n);
  }
}

int main(void) {
  RUN(test_decode_text);
  RUN(test_payloads);
  RUN(test_payload_end_is_sticky);
  RUN(test_base64_rfc4648);
  RUN(test_base64_invalid);
  RUN(test_base64_roundtrip);
  return test_report();
}
