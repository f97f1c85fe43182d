/* util/base64.c — RFC 4648 base64 with padding; see base64.h. */
#include "util/base64.h"

#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encode(char *dst, const uint8_t *src, size_t n) {
  size_t o = 0, i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
    dst[o++] = b64_alphabet[v >> 18];
    dst[o++] = b64_alphabet[(v >> 12) & 63];
    dst[o++] = b64_alphabet[(v >> 6) & 63];
    dst[o++] = b64_alphabet[v & 63];
  }
  if (i == n) return o;
  uint32_t v = (uint32_t)src[i] << 16 | (i + 1 < n ? (uint32_t)src[i + 1] << 8 : 0);
  dst[o++] = b64_alphabet[v >> 18];
  dst[o++] = b64_alphabet[(v >> 12) & 63];
  dst[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
  dst[o++] = '=';
  return o;
}

/* 0..63 for an alphabet character, -1 otherwise. */
static int b64_value(uint8_t c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Decodes one 4-character quantum; pad is how many '=' end it (0 only before the last).
 * Writes 3 - pad bytes. Returns -1 on a character outside the alphabet. */
static int b64_quantum(uint8_t *dst, const uint8_t *s, int pad) {
  uint32_t v = 0;
  for (int k = 0; k < 4 - pad; k++) {
    int d = b64_value(s[k]);
    if (d < 0) return -1;
    v |= (uint32_t)d << (18 - 6 * k);
  }
  /* RFC 4648 3.5: leftover bits in a padded quantum should be zero; like Node's
   * Buffer.from(.., "base64") we ignore them rather than reject the record. */
  dst[0] = (uint8_t)(v >> 16);
  if (pad < 2) dst[1] = (uint8_t)(v >> 8);
  if (pad < 1) dst[2] = (uint8_t)v;
  return 0;
}

/* In place is safe: quantum k is read from src[4k..4k+4) before dst[3k..3k+3) is
 * written, and 3k + 3 <= 4k + 4 means it never overwrites an unread byte. */
long base64_decode(uint8_t *dst, const char *src, size_t n) {
  const uint8_t *s = (const uint8_t *)src;
  if (n % 4 != 0) return -1;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int pad = 0;
    if (i + 4 == n) pad = s[i + 3] != '=' ? 0 : s[i + 2] != '=' ? 1 : 2;
    uint8_t q[4];
    memcpy(q, s + i, 4);
    if (b64_quantum(dst + o, q, pad) < 0) return -1;
    o += 3 - (size_t)pad;
  }
  return (long)o;
}
