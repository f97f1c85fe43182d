/* tests/unit/test_ws_frame.c — ws/frame.c: header parse/encode, checks, masking. */
#include "test.h"
#include "ws/frame.h"

#include <stdint.h>

/* RFC 6455 5.7 examples. */
static void test_rfc_examples(void) {
  static const struct {
    const char *name;
    uint8_t bytes[16];
    size_t len;
    uint8_t fin, opcode, masked;
    uint64_t payload_len;
    size_t header_len;
  } cases[] = {
      {"unmasked Hello", {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}, 7, 1, WS_OP_TEXT, 0, 5, 2},
      {"masked Hello",
       {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
       11, 1, WS_OP_TEXT, 1, 5, 6},
      {"fragment Hel", {0x01, 0x03, 'H', 'e', 'l'}, 5, 0, WS_OP_TEXT, 0, 3, 2},
      {"fragment lo", {0x80, 0x02, 'l', 'o'}, 4, 1, WS_OP_CONT, 0, 2, 2},
      {"unmasked ping", {0x89, 0x05, 'H', 'e', 'l', 'l', 'o'}, 7, 1, WS_OP_PING, 0, 5, 2},
      {"masked pong",
       {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58},
       11, 1, WS_OP_PONG, 1, 5, 6},
      {"256 bytes binary", {0x82, 0x7E, 0x01, 0x00}, 4, 1, WS_OP_BINARY, 0, 256, 4},
      {"64 KiB binary", {0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}, 10, 1, WS_OP_BINARY, 0, 65536, 10},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].name;
    ws_frame_header h;
    int r = ws_frame_parse_header(cases[i].bytes, cases[i].len, &h);
    CHECK_EQ_INT(r, cases[i].header_len);
    CHECK_EQ_INT(h.fin, cases[i].fin);
    CHECK_EQ_INT(h.rsv, 0);
    CHECK_EQ_INT(h.opcode, cases[i].opcode);
    CHECK_EQ_INT(h.masked, cases[i].masked);
    CHECK(h.payload_len == cases[i].payload_len);
    CHECK_EQ_INT(h.header_len, cases[i].header_len);
  }
}

static void test_rfc_masked_hello_unmasks(void) {
  uint8_t f[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  ws_frame_header h;
  CHECK_EQ_INT(ws_frame_parse_header(f, sizeof f, &h), 6);
  CHECK_MEM(h.mask, "\x37\xfa\x21\x3d", 4);
  ws_mask_apply(f + 6, 5, h.mask, 0);
  CHECK_MEM(f + 6, "Hello", 5);
  /* The same payload unmasked in two pieces with the running offset. */
  uint8_t g[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
  ws_mask_apply(g, 2, h.mask, 0);
  ws_mask_apply(g + 2, 3, h.mask, 2);
  CHECK_MEM(g, "Hello", 5);
  CHECK_EQ_INT(ws_frame_check(&h, 1, 0), 0);
  CHECK_EQ_INT(ws_frame_check(&h, 0, 0), WS_CLOSE_PROTOCOL_ERROR);
}

/* Lengths at each encoding boundary; the encoder must pick the minimal form. */
static void test_lengths_roundtrip(void) {
  static const struct {
    uint64_t len;
    size_t hdr; /* unmasked header length */
  } cases[] = {
      {0, 2},       {1, 2},        {125, 2},         {126, 4},
      {127, 4},     {65535, 4},    {65536, 10},      {0xFFFFFFFFull, 10},
      {0x100000000ull, 10},        {0x7FFFFFFFFFFFFFFFull, 10},
  };
  static const uint8_t mask[4] = {1, 2, 3, 4};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int m = 0; m < 2; m++) {
      uint8_t buf[WS_FRAME_MAX_HEADER];
      size_t n = ws_frame_header_encode(buf, 1, 0, WS_OP_BINARY, cases[i].len, m ? mask : NULL);
      CHECK_EQ_INT(n, cases[i].hdr + (m ? 4 : 0));
      ws_frame_header h;
      CHECK_EQ_INT(ws_frame_parse_header(buf, n, &h), n);
      CHECK(h.payload_len == cases[i].len);
      CHECK_EQ_INT(h.masked, m);
      if (m) CHECK_MEM(h.mask, mask, 4);
    }
  }
  /* Exact bytes for the 16-bit and 64-bit forms (RFC 6455 5.2: network byte order). */
  uint8_t buf[WS_FRAME_MAX_HEADER];
  CHECK_EQ_INT(ws_frame_header_encode(buf, 1, 0, WS_OP_TEXT, 65535, NULL), 4);
  CHECK_MEM(buf, "\x81\x7e\xff\xff", 4);
  CHECK_EQ_INT(ws_frame_header_encode(buf, 0, 4, WS_OP_BINARY, 65536, mask), 14);
  CHECK_MEM(buf, "\x42\xff\x00\x00\x00\x00\x00\x01\x00\x00\x01\x02\x03\x04", 14);
}

/* RFC 6455 5.2: 64-bit length with the most significant bit set. */
static void test_length_msb(void) {
  uint8_t f[14] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0};
  ws_frame_header h;
  CHECK_EQ_INT(ws_frame_parse_header(f, 10, &h), WS_FRAME_ERR_LENGTH);
  CHECK_EQ_INT(ws_frame_parse_header(f, 14, &h), WS_FRAME_ERR_LENGTH);
  f[1] = 0xFF; /* masked: known as soon as the length bytes are there, before the mask */
  CHECK_EQ_INT(ws_frame_parse_header(f, 10, &h), WS_FRAME_ERR_LENGTH);
  for (size_t n = 0; n < 10; n++) CHECK_EQ_INT(ws_frame_parse_header(f, n, &h), WS_FRAME_INCOMPLETE);
  f[2] = 0xFF;
  CHECK_EQ_INT(ws_frame_parse_header(f, 14, &h), WS_FRAME_ERR_LENGTH);
}

/* Every strict prefix of a valid header is INCOMPLETE; the full header parses. */
static void test_prefixes_incomplete(void) {
  static const uint64_t lens[] = {0, 5, 125, 126, 65535, 65536, 1ull << 40};
  static const uint8_t mask[4] = {0xde, 0xad, 0xbe, 0xef};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    for (int m = 0; m < 2; m++) {
      uint8_t buf[WS_FRAME_MAX_HEADER + 4] = {0};
      size_t n = ws_frame_header_encode(buf, 1, 0, WS_OP_TEXT, lens[i], m ? mask : NULL);
      ws_frame_header h;
      for (size_t k = 0; k < n; k++) CHECK_EQ_INT(ws_frame_parse_header(buf, k, &h), WS_FRAME_INCOMPLETE);
      /* Trailing payload bytes do not change the header. */
      CHECK_EQ_INT(ws_frame_parse_header(buf, n + 4, &h), n);
      CHECK_EQ_INT(h.header_len, n);
    }
  }
}

static void test_fin_rsv_opcode_bits(void) {
  for (int fin = 0; fin < 2; fin++)
    for (uint8_t rsv = 0; rsv < 8; rsv++)
      for (uint8_t op = 0; op < 16; op++) {
        uint8_t buf[WS_FRAME_MAX_HEADER];
        size_t n = ws_frame_header_encode(buf, fin, rsv, op, 3, NULL);
        CHECK_EQ_INT(buf[0], (fin << 7) | (rsv << 4) | op);
        ws_frame_header h;
        CHECK_EQ_INT(ws_frame_parse_header(buf, n, &h), 2);
        CHECK_EQ_INT(h.fin, fin);
        CHECK_EQ_INT(h.rsv, rsv);
        CHECK_EQ_INT(h.opcode, op);
      }
}

static ws_frame_header hdr(int fin, uint8_t rsv, uint8_t op, int masked, uint64_t len) {
  ws_frame_header h = {0};
  h.fin = (uint8_t)fin;
  h.rsv = rsv;
  h.opcode = op;
  h.masked = (uint8_t)masked;
  h.payload_len = len;
  h.header_len = 2;
  return h;
}

static void test_check_table(void) {
  enum { E = WS_CLOSE_PROTOCOL_ERROR };
  static const struct {
    const char *name;
    int fin, rsv, op, masked;
    uint64_t len;
    int is_server, allowed_rsv, want;
  } cases[] = {
      {"server text masked", 1, 0, WS_OP_TEXT, 1, 10, 1, 0, 0},
      {"server text unmasked", 1, 0, WS_OP_TEXT, 0, 10, 1, 0, E},
      {"client text unmasked", 1, 0, WS_OP_TEXT, 0, 10, 0, 0, 0},
      {"client text masked", 1, 0, WS_OP_TEXT, 1, 10, 0, 0, E},
      {"binary fragment", 0, 0, WS_OP_BINARY, 1, 1 << 20, 1, 0, 0},
      {"continuation", 1, 0, WS_OP_CONT, 1, 0, 1, 0, 0},
      {"huge binary", 1, 0, WS_OP_BINARY, 1, 0x7FFFFFFFFFFFFFFFull, 1, 0, 0},
      {"rsv1 without ext", 1, 4, WS_OP_TEXT, 1, 1, 1, 0, E},
      {"rsv2 without ext", 1, 2, WS_OP_TEXT, 1, 1, 1, 0, E},
      {"rsv3 without ext", 1, 1, WS_OP_TEXT, 1, 1, 1, 0, E},
      {"rsv1 with deflate", 1, 4, WS_OP_TEXT, 1, 1, 1, 4, 0},
      {"rsv1 binary with deflate", 0, 4, WS_OP_BINARY, 1, 1, 1, 4, 0},
      {"rsv2 with deflate", 1, 2, WS_OP_TEXT, 1, 1, 1, 4, E},
      {"rsv1 on continuation (RFC 7692 6)", 1, 4, WS_OP_CONT, 1, 1, 1, 4, E},
      {"rsv1 on ping (RFC 7692 6)", 1, 4, WS_OP_PING, 1, 1, 1, 4, E},
      {"ping 125", 1, 0, WS_OP_PING, 1, 125, 1, 0, 0},
      {"ping 126", 1, 0, WS_OP_PING, 1, 126, 1, 0, E},
      {"pong 125", 1, 0, WS_OP_PONG, 1, 125, 1, 0, 0},
      {"pong 65536", 1, 0, WS_OP_PONG, 1, 65536, 1, 0, E},
      {"close 0", 1, 0, WS_OP_CLOSE, 1, 0, 1, 0, 0},
      {"close 126", 1, 0, WS_OP_CLOSE, 1, 126, 1, 0, E},
      {"fragmented ping", 0, 0, WS_OP_PING, 1, 1, 1, 0, E},
      {"fragmented close", 0, 0, WS_OP_CLOSE, 1, 1, 1, 0, E},
      {"client ping unmasked", 1, 0, WS_OP_PING, 0, 5, 0, 0, 0},
      {"client ping 126", 1, 0, WS_OP_PING, 0, 126, 0, 0, E},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    test_current = cases[i].name;
    ws_frame_header h = hdr(cases[i].fin, (uint8_t)cases[i].rsv, (uint8_t)cases[i].op, cases[i].masked,
                            cases[i].len);
    CHECK_EQ_INT(ws_frame_check(&h, cases[i].is_server, (uint8_t)cases[i].allowed_rsv), cases[i].want);
  }
}

/* RFC 6455 5.2: 0x3-0x7 and 0xB-0xF are reserved, in both roles. */
static void test_check_opcodes(void) {
  for (uint8_t op = 0; op < 16; op++) {
    int known = op <= 2 || (op >= 8 && op <= 10);
    ws_frame_header h = hdr(1, 0, op, 1, 0);
    CHECK_EQ_INT(ws_frame_check(&h, 1, 0), known ? 0 : WS_CLOSE_PROTOCOL_ERROR);
    h.masked = 0;
    CHECK_EQ_INT(ws_frame_check(&h, 0, 7), known ? 0 : WS_CLOSE_PROTOCOL_ERROR);
  }
}

static void naive_xor(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset) {
  for (size_t i = 0; i < n; i++) p[i] ^= mask[(offset + i) % 4];
}

static void fill(uint8_t *p, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = (uint8_t)(seed >> 16);
  }
}

/* Every offset 0..7, length 0..300 and buffer alignment 0..31 against a naive XOR, so
 * the scalar head (up to 31 bytes), the 64-byte vector loop, the word loop and the
 * tail are all crossed at every phase. */
static void test_mask_vs_naive(void) {
  static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  uint8_t buf[300 + 32], ref[300 + 32];
  int bad = 0;
  for (size_t align = 0; align < 32; align++)
    for (uint64_t off = 0; off < 8; off++)
      for (size_t n = 0; n <= 300; n++) {
        fill(buf, sizeof buf, (uint32_t)(n * 131 + off * 7 + align));
        memcpy(ref, buf, sizeof buf);
        ws_mask_apply(buf + align, n, mask, off);
        naive_xor(ref + align, n, mask, off);
        if (memcmp(buf, ref, sizeof buf) != 0) bad++;
      }
  CHECK_EQ_INT(bad, 0);
}

static void test_mask_long_and_pieces(void) {
  static const uint8_t mask[4] = {0x01, 0x80, 0xff, 0x5a};
  enum { N = 16384 + 4099 };
  static uint8_t src[N + 8], a[N + 8], b[N + 8];
  fill(src, sizeof src, 7);
  memcpy(a, src, sizeof a);
  memcpy(b, src, sizeof b);
  naive_xor(a + 1, N, mask, 3);
  /* In uneven pieces with the running offset, as a payload arrives over reads. */
  size_t done = 0, step = 1;
  while (done < N) {
    size_t k = step < N - done ? step : N - done;
    ws_mask_apply(b + 1 + done, k, mask, 3 + done);
    done += k;
    step = step * 3 % 97 + 1;
  }
  CHECK_MEM(a, b, sizeof a);
  /* Masking twice is the identity. */
  ws_mask_apply(b + 1, N, mask, 3);
  CHECK_MEM(b, src, sizeof b);
  /* A large offset only matters modulo 4. */
  memcpy(b, src, sizeof b);
  ws_mask_apply(b + 1, N, mask, 0xFFFFFFFFFFFFFFF3ull);
  CHECK_MEM(a, b, sizeof a);
}

static void test_mask_copy(void) {
  static const uint8_t mask[4] = {9, 8, 7, 6};
  uint8_t src[100], dst[100 + 8], ref[100];
  for (size_t align = 0; align < 8; align++)
    for (uint64_t off = 0; off < 4; off++)
      for (size_t n = 0; n <= sizeof src; n += 7) {
        fill(src, sizeof src, (uint32_t)(n + align));
        memcpy(ref, src, sizeof ref);
        naive_xor(ref, n, mask, off);
        uint8_t keep[sizeof src];
        memcpy(keep, src, sizeof keep);
        memset(dst, 0xAA, sizeof dst);
        ws_mask_copy(dst + align, src, n, mask, off);
        CHECK_MEM(dst + align, ref, n);
        CHECK(align + n == sizeof dst || dst[align + n] == 0xAA);
        CHECK_MEM(src, keep, sizeof keep); /* the source is not written */
      }
  /* dst == src works like ws_mask_apply. */
  fill(src, sizeof src, 1);
  memcpy(ref, src, sizeof ref);
  naive_xor(ref, sizeof ref, mask, 1);
  ws_mask_copy(src, src, sizeof src, mask, 1);
  CHECK_MEM(src, ref, sizeof ref);
}

/* ws_mask_apply_ascii unmasks exactly as ws_mask_apply does (every length 0..300,
 * offset and alignment: the short path, and the long one's head, vectors, words and
 * tail), and says 1 exactly for an all-ASCII payload: one byte of 0x80 or more anywhere
 * makes it 0 (every position under 128 bytes; above, every 5th and the last 40). */
static void test_mask_ascii(void) {
  static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  uint8_t buf[300 + 8], ref[300 + 8];
  int bad = 0, wrong = 0;
  for (size_t align = 0; align < 8; align++)
    for (uint64_t off = 0; off < 4; off++)
      for (size_t n = 0; n <= 300; n++) {
        /* ASCII plaintext, masked: unmasking must give it back and say ASCII. */
        fill(ref, sizeof ref, (uint32_t)(n * 7 + off + align));
        for (size_t i = 0; i < sizeof ref; i++) ref[i] &= 0x7f;
        memcpy(buf, ref, sizeof buf);
        naive_xor(buf + align, n, mask, off);
        int r = ws_mask_apply_ascii(buf + align, n, mask, off);
        if (memcmp(buf, ref, sizeof buf) != 0) bad++;
        if (r != 1) wrong++;
        /* One non-ASCII byte at each position in turn. */
        for (size_t at = 0; at < n; at += (n < 128 || at + 40 >= n) ? 1 : 5) {
          memcpy(buf, ref, sizeof buf);
          buf[align + at] |= 0x80;
          uint8_t want = buf[align + at];
          naive_xor(buf + align, n, mask, off);
          if (ws_mask_apply_ascii(buf + align, n, mask, off) != 0) wrong++;
          if (buf[align + at] != want) bad++;
        }
      }
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(wrong, 0);
}

int main(void) {
  RUN(test_rfc_examples);
  RUN(test_rfc_masked_hello_unmasks);
  RUN(test_lengths_roundtrip);
  RUN(test_length_msb);
  RUN(test_prefixes_incomplete);
  RUN(test_fin_rsv_opcode_bits);
  RUN(test_check_table);
  RUN(test_check_opcodes);
  RUN(test_mask_vs_naive);
  RUN(test_mask_long_and_pieces);
  RUN(test_mask_copy);
  RUN(test_mask_ascii);
  return test_report();
}
