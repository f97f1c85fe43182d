/* ws/frame.c — RFC 6455 frame headers (5.2), their receive-side checks (5.2, 5.5) and
 * the masking XOR (5.3).
 *
 * Owns: bytes <-> ws_frame_header, and XORing payload bytes with a 4-byte mask.
 * Must not: allocate, do I/O, or know about messages, fragments in flight or
 * extensions beyond the RSV bits the caller says are allowed (that is ws/conn.c's). */
#include "ws/frame.h"

#include <string.h>

static uint64_t load_be(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

static void store_be(uint8_t *p, uint64_t v, size_t n) {
  for (size_t i = n; i > 0; i--) {
    p[i - 1] = (uint8_t)v;
    v >>= 8;
  }
}

/* RFC 6455 5.2: the 7-bit length 126 means "16-bit length follows", 127 means "64-bit
 * length follows". Returns how many extended-length bytes follow the first two. */
static size_t ext_len_bytes(uint8_t len7) {
  if (len7 == 126) return 2;
  if (len7 == 127) return 8;
  return 0;
}

int ws_frame_parse_header(const uint8_t *buf, size_t len, ws_frame_header *h) {
  if (len < 2) return WS_FRAME_INCOMPLETE;
  uint8_t len7 = buf[1] & 0x7F;
  uint8_t masked = buf[1] >> 7;
  size_t ext = ext_len_bytes(len7);
  if (len < 2 + ext) return WS_FRAME_INCOMPLETE;

  uint64_t payload_len = ext ? load_be(buf + 2, ext) : len7;
  /* RFC 6455 5.2: "the most significant bit MUST be 0" in the 64-bit form. Fail as soon
   * as the length is visible rather than waiting for the mask. We accept non-minimal
   * length encodings, as Node's ws and most peers do. */
  if (ext == 8 && (payload_len >> 63)) return WS_FRAME_ERR_LENGTH;

  size_t header_len = 2 + ext + (masked ? 4u : 0u);
  if (len < header_len) return WS_FRAME_INCOMPLETE;

  h->fin = buf[0] >> 7;
  h->rsv = (buf[0] >> 4) & 7;
  h->opcode = buf[0] & 0x0F;
  h->masked = masked;
  if (masked)
    memcpy(h->mask, buf + 2 + ext, 4);
  else
    memset(h->mask, 0, 4);
  h->payload_len = payload_len;
  h->header_len = header_len;
  return (int)header_len;
}

static int opcode_is_control(uint8_t op) { return op >= 0x8; }

/* RFC 6455 5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved. */
static int opcode_is_known(uint8_t op) {
  return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

/* RFC 6455 5.2: a nonzero RSV bit that no negotiated extension defines fails the
 * connection. RFC 7692 6 (the only extension we negotiate): the compression bit is set
 * only on the first frame of a data message, never on control or continuation frames,
 * so extension bits are accepted on TEXT/BINARY frames only. */
static int rsv_ok(const ws_frame_header *h, uint8_t allowed_rsv) {
  if (h->rsv == 0) return 1;
  if (h->opcode != WS_OP_TEXT && h->opcode != WS_OP_BINARY) return 0;
  return (h->rsv & (uint8_t)~allowed_rsv) == 0;
}

int ws_frame_check(const ws_frame_header *h, int is_server, uint8_t allowed_rsv) {
  /* RFC 6455 5.1: client-to-server frames are masked, server-to-client frames are not. */
  if (is_server && !h->masked) return WS_CLOSE_PROTOCOL_ERROR;
  if (!is_server && h->masked) return WS_CLOSE_PROTOCOL_ERROR;
  if (!opcode_is_known(h->opcode)) return WS_CLOSE_PROTOCOL_ERROR;
  if (!rsv_ok(h, allowed_rsv)) return WS_CLOSE_PROTOCOL_ERROR;
  /* RFC 6455 5.5: control frames carry at most 125 bytes and are never fragmented. */
  if (opcode_is_control(h->opcode) && (h->payload_len > 125 || !h->fin))
    return WS_CLOSE_PROTOCOL_ERROR;
  return 0;
}

size_t ws_frame_header_encode(uint8_t *out, int fin, uint8_t rsv, uint8_t opcode, uint64_t len,
                              const uint8_t *mask) {
  out[0] = (uint8_t)((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0F));
  uint8_t mask_bit = mask ? 0x80 : 0;
  size_t n;
  /* RFC 6455 5.2: "the minimal number of bytes MUST be used to encode the length". */
  if (len <= 125) {
    out[1] = (uint8_t)(mask_bit | len);
    n = 2;
  } else if (len <= 0xFFFF) {
    out[1] = mask_bit | 126;
    store_be(out + 2, len, 2);
    n = 4;
  } else {
    out[1] = mask_bit | 127;
    store_be(out + 2, len & 0x7FFFFFFFFFFFFFFFull, 8);
    n = 10;
  }
  if (mask) {
    memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

/* The mask as it applies from mask byte `phase` on, repeated to 8 bytes: one load and
 * a rotate, so that memory byte i of the word is mask[(phase + i) & 3]. Building it
 * bytewise on the stack and reloading it as a word stalls store forwarding, which
 * showed on short payloads. Both halves are the same 4 bytes, so only the direction of
 * the rotate depends on byte order. */
static uint64_t mask_word(const uint8_t mask[4], unsigned phase) {
  uint32_t m;
  memcpy(&m, mask, 4);
  unsigned r = 8 * phase;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  m = m << r | m >> ((32 - r) & 31);
#else
  m = m >> r | m << ((32 - r) & 31);
#endif
  return (uint64_t)m << 32 | m;
}

/* Scalar XOR from mask phase `phase`; returns the phase after n bytes. */
static unsigned mask_bytes(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4],
                           unsigned phase) {
  for (size_t i = 0; i < n; i++) dst[i] = src[i] ^ mask[(phase + i) & 3];
  return (unsigned)((phase + n) & 3);
}

/* Big payloads (a 16 KiB message is unmasked in place before it is delivered) are
 * XORed 64 bytes per iteration in two 32-byte vectors (GCC/Clang vector extensions):
 * one AVX2 load, XOR and store each where the CPU has AVX2, two SSE2 ones otherwise.
 * x86-64's baseline is SSE2, so on glibc the AVX2 copy is picked at load time
 * (target_clones, an ifunc); elsewhere the one default copy is built. Unmasking
 * 16 KiB had taken more CPU than copying it (the profile in bench/README.md).
 * tests/unit/test_ws_mask_baseline.c defines MASK_CLONES empty to test the baseline
 * copy on any CPU. */
#ifndef MASK_CLONES
#if defined(__GNUC__) && defined(__x86_64__) && defined(__GLIBC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define MASK_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#endif
#ifndef MASK_CLONES
#define MASK_CLONES
#endif

#if defined(__GNUC__)
#define MASK_INLINE static inline __attribute__((always_inline))
#else
#define MASK_INLINE static inline
#endif

/* Each loop below comes in two copies from one body: the plain unmask, and one that also
 * ORs every word it writes into *acc (want = 1) for ws_mask_apply_ascii's test. The OR
 * is two more instructions per 64 bytes, which a binary 16 KiB message would pay for
 * nothing (+21 % of its instructions, callgrind), so the plain copy has none. */
#if defined(__GNUC__)
typedef uint64_t mask_vec __attribute__((vector_size(32)));

MASK_INLINE size_t mask_vectors_body(uint8_t *dst, const uint8_t *src, size_t n, uint64_t m, uint64_t *acc,
                                     int want) {
  mask_vec v = {m, m, m, m}, vacc = {0, 0, 0, 0};
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    mask_vec a, b;
    memcpy(&a, src + i, 32);
    memcpy(&b, src + i + 32, 32);
    a ^= v;
    b ^= v;
    if (want) vacc |= a | b;
    memcpy(dst + i, &a, 32);
    memcpy(dst + i + 32, &b, 32);
  }
  if (want) *acc |= vacc[0] | vacc[1] | vacc[2] | vacc[3];
  return i;
}

MASK_CLONES static size_t mask_vectors(uint8_t *dst, const uint8_t *src, size_t n, uint64_t m) {
  return mask_vectors_body(dst, src, n, m, NULL, 0);
}

MASK_CLONES static size_t mask_vectors_acc(uint8_t *dst, const uint8_t *src, size_t n, uint64_t m, uint64_t *acc) {
  return mask_vectors_body(dst, src, n, m, acc, 1);
}
#else
static size_t mask_vectors(uint8_t *dst, const uint8_t *src, size_t n, uint64_t m) {
  (void)dst, (void)src, (void)n, (void)m;
  return 0;
}

static size_t mask_vectors_acc(uint8_t *dst, const uint8_t *src, size_t n, uint64_t m, uint64_t *acc) {
  (void)dst, (void)src, (void)n, (void)m, (void)acc;
  return 0;
}
#endif

/* memcpy loads and stores compile to single unaligned moves on every target we build
 * for, and are defined behaviour where a cast pointer would not be. Four words per
 * iteration keeps the loads independent; compilers also vectorise this loop. */
MASK_INLINE size_t mask_words(uint8_t *dst, const uint8_t *src, size_t n, uint64_t m, uint64_t *acc, int want) {
  size_t i = 0;
  uint64_t o = 0;
  for (; i + 32 <= n; i += 32) {
    uint64_t a, b, c, d;
    memcpy(&a, src + i, 8);
    memcpy(&b, src + i + 8, 8);
    memcpy(&c, src + i + 16, 8);
    memcpy(&d, src + i + 24, 8);
    a ^= m, b ^= m, c ^= m, d ^= m;
    if (want) o |= a | b | c | d;
    memcpy(dst + i, &a, 8);
    memcpy(dst + i + 8, &b, 8);
    memcpy(dst + i + 16, &c, 8);
    memcpy(dst + i + 24, &d, 8);
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t a;
    memcpy(&a, src + i, 8);
    a ^= m;
    if (want) o |= a;
    memcpy(dst + i, &a, 8);
  }
  if (want) *acc |= o;
  return i;
}

/* Below this, aligning the stores costs more than it saves. */
#define MASK_ALIGN_MIN 128

#if defined(__GNUC__)
#define MASK_NOINLINE __attribute__((noinline))
#else
#define MASK_NOINLINE
#endif

/* A long run: a scalar head up to a 32-byte boundary of dst keeps the wide stores from
 * straddling cache lines (unaligned loads from src are cheap), then the vector loop.
 * Out of line: inlined, its call to mask_vectors made every short message (the most
 * common) pay for saving registers at ws_mask_copy's entry. With want, returns the OR
 * of every byte written, in the bytes of a word (ws_mask_apply_ascii's test). */
MASK_INLINE uint64_t mask_long_body(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4],
                                    unsigned phase, int want) {
  size_t head = (size_t)(-(uintptr_t)dst & 31);
  phase = mask_bytes(dst, src, head, mask, phase);
  uint64_t m = mask_word(mask, phase), acc = 0;
  /* The vector and word loops consume multiples of 8 bytes: the phase is unchanged. */
  size_t done = head + (want ? mask_vectors_acc(dst + head, src + head, n - head, m, &acc)
                             : mask_vectors(dst + head, src + head, n - head, m));
  done += mask_words(dst + done, src + done, n - done, m, &acc, want);
  mask_bytes(dst + done, src + done, n - done, mask, phase);
  if (want) {
    for (size_t i = 0; i < head; i++) acc |= dst[i];
    for (size_t i = done; i < n; i++) acc |= dst[i];
  }
  return acc;
}

MASK_NOINLINE static void mask_long(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4],
                                    unsigned phase) {
  (void)mask_long_body(dst, src, n, mask, phase, 0);
}

MASK_NOINLINE static uint64_t mask_long_acc(uint8_t *p, size_t n, const uint8_t mask[4], unsigned phase) {
  return mask_long_body(p, p, n, mask, phase, 1);
}

void ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4], uint64_t offset) {
  unsigned phase = (unsigned)(offset & 3);
  if (n >= MASK_ALIGN_MIN) {
    mask_long(dst, src, n, mask, phase);
    return;
  }
  if (n < 8) {
    mask_bytes(dst, src, n, mask, phase);
    return;
  }
  /* The word loop consumes a multiple of 8 bytes: the phase is unchanged. */
  size_t done = mask_words(dst, src, n, mask_word(mask, phase), NULL, 0);
  mask_bytes(dst + done, src + done, n - done, mask, phase);
}

void ws_mask_apply(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset) {
  ws_mask_copy(p, p, n, mask, offset);
}

/* ws_mask_apply ORing what it writes: the ASCII test of a Socket.IO event (~45 bytes)
 * cost ~95 instructions in ws_utf8_valid's calls and loops, and costs ~8 here; a long
 * text message is not read a second time (callgrind, bench/README.md). */
int ws_mask_apply_ascii(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset) {
  if (n >= MASK_ALIGN_MIN) return !(mask_long_acc(p, n, mask, (unsigned)(offset & 3)) & 0x8080808080808080ull);
  unsigned phase = (unsigned)(offset & 3);
  uint64_t m = mask_word(mask, phase), acc = 0;
  /* Whole multiples of 4 bytes leave the phase unchanged: words, a half word, bytes. */
  size_t i = mask_words(p, p, n, m, &acc, 1);
  if (i + 4 <= n) { /* (either half of m) */
    uint32_t a;
    memcpy(&a, p + i, 4);
    a ^= (uint32_t)m;
    acc |= a;
    memcpy(p + i, &a, 4);
    i += 4;
  }
  uint8_t tail = 0;
  for (; i < n; i++, phase++) {
    p[i] ^= mask[phase & 3];
    tail |= p[i];
  }
  return !((acc & 0x8080808080808080ull) | (tail & 0x80));
}
