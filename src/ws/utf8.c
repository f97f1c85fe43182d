/* ws/utf8.c — incremental UTF-8 validation for text messages and close reasons.
 *
 * Owns: the RFC 3629 well-formedness automaton (Bjoern Hoehrmann's DFA, laid out as a
 * shift DFA) and its ASCII fast path.
 * Must not: allocate, decode code points for anyone, or know about frames. RFC 6455 8.1
 * only asks us to reject bad text, and 5.6 lets a fragment end mid-character, so the
 * state is carried across calls and "complete" is asked separately at message end. */
#include "ws/utf8.h"

#include <string.h>

/* The automaton is a "shift DFA": each state is a bit offset (a multiple of 6) into a
 * 64-bit word, and row[b] holds, at each state's offset, the state that byte b leads
 * to. A step is then (row[b] >> state) & 63: the load does not depend on the state, so
 * the chain from one byte to the next is one shift and one mask, not the two dependent
 * loads of a class-plus-transition table. ACCEPT must stay 0 (WS_UTF8_ACCEPT). */
enum {
  S_ACCEPT = 0,
  S_REJECT = 6,  /* sticky: every byte leads from it back to it */
  S_NEED1 = 12,  /* one more 80..BF */
  S_NEED2 = 18,  /* two more 80..BF */
  S_NEED3 = 24,  /* three more 80..BF */
  S_E0 = 30,     /* after E0: A0..BF (else overlong), then one more */
  S_ED = 36,     /* after ED: 80..9F (else a surrogate U+D800..DFFF), then one more */
  S_F0 = 42,     /* after F0: 90..BF (else overlong), then two more */
  S_F4 = 48,     /* after F4: 80..8F (else past U+10FFFF), then two more */
};
#define STATE_MASK 63u

/* One row per byte class: the next state from each of the nine states, in the order
 * of the enum above. */
#define ROW(acc, n1, n2, n3, e0, ed, f0, f4)                                                  \
  ((uint64_t)(acc) << S_ACCEPT | (uint64_t)S_REJECT << S_REJECT | (uint64_t)(n1) << S_NEED1 | \
   (uint64_t)(n2) << S_NEED2 | (uint64_t)(n3) << S_NEED3 | (uint64_t)(e0) << S_E0 |           \
   (uint64_t)(ed) << S_ED | (uint64_t)(f0) << S_F0 | (uint64_t)(f4) << S_F4)
#define R S_REJECT
/*                 ACCEPT    NEED1     NEED2    NEED3    E0       ED       F0       F4 */
#define ASC ROW(S_ACCEPT, R,        R,       R,       R,       R,       R,       R)       /* 00..7F */
#define CT1 ROW(R,        S_ACCEPT, S_NEED1, S_NEED2, R,       S_NEED1, R,       S_NEED2) /* 80..8F */
#define CT2 ROW(R,        S_ACCEPT, S_NEED1, S_NEED2, R,       S_NEED1, S_NEED2, R)       /* 90..9F */
#define CT3 ROW(R,        S_ACCEPT, S_NEED1, S_NEED2, S_NEED1, R,       S_NEED2, R)       /* A0..BF */
#define BAD ROW(R,        R,        R,       R,       R,       R,       R,       R)       /* C0 C1 F5..FF */
#define L2  ROW(S_NEED1,  R,        R,       R,       R,       R,       R,       R)       /* C2..DF */
#define LE0 ROW(S_E0,     R,        R,       R,       R,       R,       R,       R)       /* E0 */
#define L3  ROW(S_NEED2,  R,        R,       R,       R,       R,       R,       R)       /* E1..EC EE EF */
#define LED ROW(S_ED,     R,        R,       R,       R,       R,       R,       R)       /* ED */
#define LF0 ROW(S_F0,     R,        R,       R,       R,       R,       R,       R)       /* F0 */
#define L4  ROW(S_NEED3,  R,        R,       R,       R,       R,       R,       R)       /* F1..F3 */
#define LF4 ROW(S_F4,     R,        R,       R,       R,       R,       R,       R)       /* F4 */
#define X16(r) r, r, r, r, r, r, r, r, r, r, r, r, r, r, r, r

/* RFC 3629 4: C0/C1 only start overlongs, F5..FF only code points past U+10FFFF, and
 * the second byte after E0, ED, F0, F4 is narrower than 80..BF. That is why the
 * continuation bytes fall in three classes, and why overlongs, surrogates and values
 * past U+10FFFF fail at the first byte that makes them so. */
static const uint64_t row[256] = {
    X16(ASC), X16(ASC), X16(ASC), X16(ASC), X16(ASC), X16(ASC), X16(ASC), X16(ASC), /* 00..7F */
    X16(CT1),                                                                       /* 80..8F */
    X16(CT2),                                                                       /* 90..9F */
    X16(CT3), X16(CT3),                                                             /* A0..BF */
    BAD, BAD, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2, L2,               /* C0..CF */
    X16(L2),                                                                        /* D0..DF */
    LE0, L3, L3, L3, L3, L3, L3, L3, L3, L3, L3, L3, L3, LED, L3, L3,               /* E0..EF */
    LF0, L4, L4, L4, LF4, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,    /* F0..FF */
};
#undef R

#define HIGH_BITS 0x8080808080808080ull

/* Length of the all-ASCII prefix of p[0..n): 16 then 8 bytes per step while no byte
 * has its top bit set; an ASCII tail shorter than a word is one test of the last eight
 * bytes (overlapping ones already seen), so only a non-ASCII byte is looked for
 * bytewise, to find its exact spot. */
static size_t ascii_prefix(const uint8_t *p, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    uint64_t a, b;
    memcpy(&a, p + i, 8);
    memcpy(&b, p + i + 8, 8);
    if ((a | b) & HIGH_BITS) break;
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t a;
    memcpy(&a, p + i, 8);
    if (a & HIGH_BITS) break;
  }
  if (i < n && i + 8 > n && n >= 8) {
    uint64_t a;
    memcpy(&a, p + n - 8, 8);
    if (!(a & HIGH_BITS)) return n;
  }
  while (i < n && p[i] < 0x80) i++;
  return i;
}

size_t ws_utf8_scan(ws_utf8 *u, const uint8_t *p, size_t n) {
  uint32_t s = u->state;
  if (s == S_REJECT) return 0;
  size_t i = 0;
  while (i < n) {
    /* Only worth trying the word-at-a-time path at an ASCII byte: in text that is
     * mostly multi-byte (Greek, CJK) this keeps the automaton loop tight. */
    if (s == S_ACCEPT && p[i] < 0x80) {
      i += ascii_prefix(p + i, n - i);
      if (i == n) break;
    }
    s = (uint32_t)(row[p[i]] >> s) & STATE_MASK;
    if (s == S_REJECT) {
      u->state = S_REJECT;
      return i;
    }
    i++;
  }
  u->state = s;
  return n;
}

int ws_utf8_feed(ws_utf8 *u, const uint8_t *p, size_t n) {
  if (u->state == S_REJECT) return -1;
  return ws_utf8_scan(u, p, n) == n ? 0 : -1;
}

int ws_utf8_valid(const uint8_t *p, size_t n) {
  ws_utf8 u;
  ws_utf8_init(&u);
  return ws_utf8_scan(&u, p, n) == n && ws_utf8_complete(&u);
}
