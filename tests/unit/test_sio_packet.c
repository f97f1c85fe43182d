/* tests/unit/test_sio_packet.c — sio/packet.c: decoding with socket.io-parser's rules,
 * packet heads, reserved names. */
#include "test.h"
#include "sio/jscan.h"
#include "sio/packet.h"

#include <stdint.h>

#define PH0 "{\"_placeholder\":true,\"num\":0}"
#define PH1 "{\"_placeholder\":true,\"num\":1}"

/* Packets as they arrive inside an Engine.IO message (the leading "4" stripped). */
static const struct {
  const char *in;
  uint8_t type;
  uint32_t attachments;
  const char *nsp;
  int64_t ack_id;
  const char *data;      /* NULL: absent */
  const char *event;     /* EVENT types only */
  const char *args_rest;
} good[] = {
    {"0", SIO_CONNECT, 0, "/", -1, NULL, NULL, NULL},
    {"0/admin,{\"token\":\"123\"}", SIO_CONNECT, 0, "/admin", -1, "{\"token\":\"123\"}", NULL, NULL},
    {"0{\"sid\":\"abc\"}", SIO_CONNECT, 0, "/", -1, "{\"sid\":\"abc\"}", NULL, NULL},
    {"0/custom", SIO_CONNECT, 0, "/custom", -1, NULL, NULL, NULL},
    {"0/,{}", SIO_CONNECT, 0, "/", -1, "{}", NULL, NULL},
    {"0/a/b,", SIO_CONNECT, 0, "/a/b", -1, NULL, NULL, NULL},
    {"1", SIO_DISCONNECT, 0, "/", -1, NULL, NULL, NULL},
    {"1/admin,", SIO_DISCONNECT, 0, "/admin", -1, NULL, NULL, NULL},
    {"1/custom", SIO_DISCONNECT, 0, "/custom", -1, NULL, NULL, NULL},
    /* Node reads an id on any type; the namespace layer decides what it means. */
    {"01", SIO_CONNECT, 0, "/", 1, NULL, NULL, NULL},
    {"1/admin,1", SIO_DISCONNECT, 0, "/admin", 1, NULL, NULL, NULL},
    {"4{\"message\":\"Not authorized\"}", SIO_CONNECT_ERROR, 0, "/", -1,
     "{\"message\":\"Not authorized\"}", NULL, NULL},
    {"4/random,{\"message\":\"Invalid namespace\"}", SIO_CONNECT_ERROR, 0, "/random", -1,
     "{\"message\":\"Invalid namespace\"}", NULL, NULL},
    {"4\"oops\"", SIO_CONNECT_ERROR, 0, "/", -1, "\"oops\"", NULL, NULL},
    {"2[\"foo\"]", SIO_EVENT, 0, "/", -1, "[\"foo\"]", "\"foo\"", "]"},
    {"213[\"foo\"]", SIO_EVENT, 0, "/", 13, "[\"foo\"]", "\"foo\"", "]"},
    {"2/admin,13[\"foo\"]", SIO_EVENT, 0, "/admin", 13, "[\"foo\"]", "\"foo\"", "]"},
    {"2[\"auth\",{\"token\":\"123\"}]", SIO_EVENT, 0, "/", -1, "[\"auth\",{\"token\":\"123\"}]",
     "\"auth\"", "{\"token\":\"123\"}]"},
    {"2[1,\"a\"]", SIO_EVENT, 0, "/", -1, "[1,\"a\"]", "1", "\"a\"]"},
    {"2[-1.5e3]", SIO_EVENT, 0, "/", -1, "[-1.5e3]", "-1.5e3", "]"},
    {"2[ \"a\" , 1 , [2] ] ", SIO_EVENT, 0, "/", -1, "[ \"a\" , 1 , [2] ] ", "\"a\"", " 1 , [2] ]"},
    {"2[\"a\" ]", SIO_EVENT, 0, "/", -1, "[\"a\" ]", "\"a\"", "]"},
    {"2 [\"a\"]", SIO_EVENT, 0, "/", -1, " [\"a\"]", "\"a\"", "]"},
    {"2007[\"a\"]", SIO_EVENT, 0, "/", 7, "[\"a\"]", "\"a\"", "]"},
    {"2[\"connected\"]", SIO_EVENT, 0, "/", -1, "[\"connected\"]", "\"connected\"", "]"},
    {"2[\"\\u00e9v\"]", SIO_EVENT, 0, "/", -1, "[\"\\u00e9v\"]", "\"\\u00e9v\"", "]"},
    {"29223372036854775807[\"a\"]", SIO_EVENT, 0, "/", INT64_MAX, "[\"a\"]", "\"a\"", "]"},
    {"3/admin,13[\"bar\"]", SIO_ACK, 0, "/admin", 13, "[\"bar\"]", NULL, NULL},
    {"30[]", SIO_ACK, 0, "/", 0, "[]", NULL, NULL},
    {"52-/admin,[\"baz\"," PH0 "," PH1 "]", SIO_BINARY_EVENT, 2, "/admin", -1,
     "[\"baz\"," PH0 "," PH1 "]", "\"baz\"", PH0 "," PH1 "]"},
    {"51-[\"a\"," PH0 "]", SIO_BINARY_EVENT, 1, "/", -1, "[\"a\"," PH0 "]", "\"a\"", PH0 "]"},
    {"50-[\"a\"]", SIO_BINARY_EVENT, 0, "/", -1, "[\"a\"]", "\"a\"", "]"},
    {"501-9[\"a\"]", SIO_BINARY_EVENT, 1, "/", 9, "[\"a\"]", "\"a\"", "]"},
    {"510-[\"a\"]", SIO_BINARY_EVENT, 10, "/", -1, "[\"a\"]", "\"a\"", "]"},
    {"61-15[\"bar\"," PH0 "]", SIO_BINARY_ACK, 1, "/", 15, "[\"bar\"," PH0 "]", NULL, NULL},
    {"61-/x,15[" PH0 "]", SIO_BINARY_ACK, 1, "/x", 15, "[" PH0 "]", NULL, NULL},
};

static void check_span(const char *got, size_t len, const char *want) {
  if (!want) {
    CHECK(got == NULL);
    return;
  }
  CHECK(got != NULL);
  CHECK_EQ_INT(len, strlen(want));
  if (got && len == strlen(want)) CHECK_MEM(got, want, len);
}

static void test_decode_good(void) {
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    test_current = good[i].in;
    sio_packet pk;
    CHECK_EQ_INT(sio_packet_decode(good[i].in, strlen(good[i].in), &pk), 0);
    CHECK_EQ_INT(pk.type, good[i].type);
    CHECK_EQ_INT(pk.attachments, good[i].attachments);
    check_span(pk.nsp, pk.nsp_len, good[i].nsp);
    CHECK(pk.ack_id == good[i].ack_id);
    check_span(pk.data, pk.data_len, good[i].data);
    check_span(pk.event, pk.event_len, good[i].event);
    check_span(pk.args_rest, pk.args_rest_len, good[i].args_rest);
    /* A string name without escapes is marked: the server uses its bytes as they are. */
    const char *ev = good[i].event;
    CHECK_EQ_INT(pk.event_plain, ev && ev[0] == '"' && !strchr(ev, '\\'));
  }
}

/* Each is a reason socket.io closes the connection (or a stricter reading, noted). */
static void test_decode_bad(void) {
  static const char *const bad[] = {
      "",                          /* Node reads "" as CONNECT; nothing sends it */
      "7",  "9[]", "a", "abc",     /* unknown type: "4abc" seen from Engine.IO */
      "/0", "-",
      "2{}",                       /* EVENT payload not an array */
      "2abc[\"a\"]",               /* non-numeric ack id */
      "2[]", "2[null]", "2[{}]", "2[[\"a\"]]", "2[true]", "2\"a\"", "2",
      "2[\"connect\"]", "2[\"connect_error\"]", "2[\"disconnect\"]", "2[\"disconnecting\"]",
      "2[\"newListener\"]", "2[\"removeListener\"]", "2[\"\\u0063onnect\"]",
      "2[\"a\",]", "2[\"a\"", "2[\"a\"] x", "2[\"a\"]]", "2[01]",
      "2/admin[\"a\"]",            /* no comma: the namespace eats the payload */
      "2/admin,",                  /* EVENT with no payload (isPacketValid) */
      "29223372036854775808[\"a\"]", /* ack id overflows int64 */
      "0[]", "0\"s\"", "0null", "0/admin,[]",
      "1{}", "1/admin,{}",
      "3{}", "3", "3/admin,13", "3\"a\"",
      "4", "4[]", "41", "4null",
      "5[\"a\"]", "5-[\"a\"]", "5x-[\"a\"]", "51[\"a\"]", "511-[\"a\"]", "599999999999-[\"a\"]",
      "5 1-[\"a\"]", "51-", "51-[]", "51-{}", "51-[\"disconnect\"]",
      "6[]", "61-{}", "61-",
      "21-[\"a\"]",                /* attachments on a non-binary type */
      "2[\"\xff\"]",               /* invalid UTF-8 inside the JSON */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    test_current = bad[i];
    sio_packet pk;
    CHECK_EQ_INT(sio_packet_decode(bad[i], strlen(bad[i]), &pk), -1);
  }
}

static void test_head(void) {
  static const struct {
    uint8_t type;
    uint32_t att;
    const char *nsp;
    int64_t ack;
    const char *want;
  } cases[] = {
      {SIO_CONNECT, 0, "/", -1, "0"},
      {SIO_CONNECT, 0, "", -1, "0"},
      {SIO_CONNECT, 0, "/admin", -1, "0/admin,"},
      {SIO_EVENT, 0, "/", 13, "213"},
      {SIO_EVENT, 0, "/admin", 13, "2/admin,13"},
      {SIO_ACK, 0, "/admin", 0, "3/admin,0"},
      {SIO_BINARY_EVENT, 2, "/admin", -1, "52-/admin,"},
      {SIO_BINARY_ACK, 1, "/", 15, "61-15"},
      {SIO_BINARY_EVENT, 0, "/", -1, "50-"},
      {SIO_BINARY_EVENT, UINT32_MAX, "/x", INT64_MAX, "54294967295-/x,9223372036854775807"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].want;
    char out[64];
    size_t nl = strlen(cases[i].nsp);
    size_t n = sio_packet_head(out, cases[i].type, cases[i].att, cases[i].nsp, nl, cases[i].ack);
    CHECK_EQ_INT(n, strlen(cases[i].want));
    CHECK(n <= 32 + nl);
    CHECK_MEM(out, cases[i].want, n);
  }
}

/* Every good packet, re-encoded from its decoded head plus its data, decodes the same. */
static void test_head_roundtrip(void) {
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    test_current = good[i].in;
    sio_packet a, b;
    CHECK_EQ_INT(sio_packet_decode(good[i].in, strlen(good[i].in), &a), 0);
    char buf[256];
    size_t n = sio_packet_head(buf, a.type, a.attachments, a.nsp, a.nsp_len, a.ack_id);
    if (a.data) {
      memcpy(buf + n, a.data, a.data_len);
      n += a.data_len;
    }
    CHECK_EQ_INT(sio_packet_decode(buf, n, &b), 0);
    CHECK_EQ_INT(b.type, a.type);
    CHECK_EQ_INT(b.attachments, a.attachments);
    CHECK(b.nsp_len == a.nsp_len && memcmp(b.nsp, a.nsp, a.nsp_len) == 0);
    CHECK(b.ack_id == a.ack_id);
    CHECK_EQ_INT(b.data_len, a.data_len);
    CHECK_EQ_INT(b.event_len, a.event_len);
    CHECK_EQ_INT(b.args_rest_len, a.args_rest_len);
  }
}

/* "[" + args_rest is the argument array, and the placeholders in it can be counted. */
static void test_args_rest_is_array(void) {
  const char *in = "52-/admin,[\"baz\"," PH0 "," PH1 "]";
  sio_packet pk;
  CHECK_EQ_INT(sio_packet_decode(in, strlen(in), &pk), 0);
  char args[256] = "[";
  memcpy(args + 1, pk.args_rest, pk.args_rest_len);
  jscan_type t;
  CHECK(jscan_valid(args, pk.args_rest_len + 1, &t));
  CHECK_EQ_INT(t, JSCAN_ARRAY);
  CHECK_EQ_INT(jscan_count_placeholders(pk.data, pk.data_len, pk.attachments), 2);
  char name[16];
  CHECK_EQ_INT(jscan_string_unescape(pk.event, pk.event_len, name, sizeof name), 3);
  CHECK_STR(name, "baz");
}

static void test_reserved(void) {
  static const struct {
    const char *name;
    int want;
  } cases[] = {{"connect", 1},        {"connect_error", 1}, {"disconnect", 1},
               {"disconnecting", 1},  {"newListener", 1},   {"removeListener", 1},
               {"Connect", 0},        {"connec", 0},        {"connectx", 0},
               {"", 0},               {"message", 0},       {"disconnected", 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].name;
    CHECK_EQ_INT(sio_reserved_event(cases[i].name, strlen(cases[i].name)), cases[i].want);
  }
}

int main(void) {
  RUN(test_decode_good);
  RUN(test_decode_bad);
  RUN(test_head);
  RUN(test_head_roundtrip);
  RUN(test_args_rest_is_array);
  RUN(test_reserved);
  return test_report();
}
