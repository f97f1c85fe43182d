/* sio/jscan.c — a validating RFC 8259 scanner: one pass, no allocation, no recursion.
 *
 * Owns: the JSON grammar (values, strings with escapes and UTF-8, numbers), nesting
 * depth, array iteration, string (un)escaping and binary-placeholder counting. Must not
 * build a document, allocate, or convert numbers beyond what placeholders need.
 *
 * Nesting is tracked with a bit per level (object or array) instead of recursion, so a
 * hostile "[[[[..." costs no stack; JSCAN_MAX_DEPTH is 64 so the bits fit a uint64_t. */
#include "sio/jscan.h"

#include <string.h>
#if defined(__SSE2__) && !defined(JSCAN_NO_VECTOR)
#include <emmintrin.h>
#endif

#include "util/ascii.h"
#include "util/swar.h"

_Static_assert(JSCAN_MAX_DEPTH <= 64, "nesting bits live in a uint64_t");

static int is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t skip_ws(const uint8_t *s, size_t n, size_t i) {
  while (i < n && is_ws(s[i])) i++;
  return i;
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static int hex_value(uint8_t c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The code unit of the 4 hex digits at s[i..i+4), or -1. */
static long hex4(const uint8_t *s, size_t n, size_t i) {
  if (n - i < 4) return -1;
  long v = 0;
  for (int k = 0; k < 4; k++) {
    int d = hex_value(s[i + (size_t)k]);
    if (d < 0) return -1;
    v = v << 4 | d;
  }
  return v;
}

/* Length of the well-formed UTF-8 sequence at s[0] (a byte >= 0x80), or 0. RFC 3629 4:
 * the second byte's range excludes overlongs (E0, F0), surrogates (ED) and > U+10FFFF
 * (F4). */
static size_t utf8_seq(const uint8_t *s, size_t n) {
  uint8_t c = s[0], lo = 0x80, hi = 0xBF;
  size_t len;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi) return 0;
  for (size_t k = 2; k < len; k++)
    if ((s[k] & 0xC0) != 0x80) return 0;
  return len;
}

static size_t utf8_put(uint8_t *b, uint32_t cp) {
  if (cp < 0x80) {
    b[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    b[0] = (uint8_t)(0xC0 | cp >> 6);
    b[1] = (uint8_t)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    b[0] = (uint8_t)(0xE0 | cp >> 12);
    b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    b[2] = (uint8_t)(0x80 | (cp & 0x3F));
    return 3;
  }
  b[0] = (uint8_t)(0xF0 | cp >> 18);
  b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
  b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
  b[3] = (uint8_t)(0x80 | (cp & 0x3F));
  return 4;
}

/* Where unescaped string bytes go: nowhere when out is NULL (plain validation). len
 * counts every byte, written or not; at most cap - 1 are written (room for the NUL). */
typedef struct {
  char *out;
  size_t cap;
  size_t len;
} sink;

static void sink_put(sink *k, const void *b, size_t n) {
  if (k->out && k->len + 1 < k->cap) {
    size_t room = k->cap - 1 - k->len;
    memcpy(k->out + k->len, b, n < room ? n : room);
  }
  k->len += n;
}

/* Decodes the escape whose backslash is at s[i]. Returns the index after it, or 0.
 * A \uD800-\uDBFF followed by a \uDC00-\uDFFF escape is one pair; any other surrogate
 * escape is accepted alone, as JSON.parse does (RFC 8259 8.2 leaves it to the
 * receiver), and unescapes to U+FFFD, which is what Node writes for it as UTF-8. */
static size_t scan_escape(const uint8_t *s, size_t n, size_t i, sink *k) {
  static const char simple_in[] = "\"\\/bfnrt", simple_out[] = "\"\\/\b\f\n\r\t";
  if (i + 1 >= n) return 0;
  const char *e = s[i + 1] ? strchr(simple_in, s[i + 1]) : NULL;
  if (e) {
    sink_put(k, &simple_out[e - simple_in], 1);
    return i + 2;
  }
  if (s[i + 1] != 'u') return 0;
  long u = hex4(s, n, i + 2);
  if (u < 0) return 0;
  i += 6;
  uint32_t cp = (uint32_t)u;
  if (u >= 0xD800 && u <= 0xDBFF && n - i >= 6 && s[i] == '\\' && s[i + 1] == 'u') {
    long lo = hex4(s, n, i + 2);
    if (lo >= 0xDC00 && lo <= 0xDFFF) {
      cp = 0x10000 + (((uint32_t)u - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
      i += 6;
    }
  }
  if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
  uint8_t b[4];
  sink_put(k, b, utf8_put(b, cp));
  return i;
}

/* The high bit of each byte of w that may need a look: a quote, a backslash, a control
 * character or a non-ASCII byte (the classic "has a byte less than / equal to" tricks).
 * Exact for "any"; a borrow can flag a plain byte only above (at a higher address than,
 * on little-endian) a byte that truly needs a look, so the lowest flag is a true one.
 * Strings are most of a Socket.IO payload: skipping their plain bytes eight at a time
 * made validating an event ~3x cheaper per string byte. */
/* The bytes JSON requires escaped: a control character, a quote, a backslash. */
static uint64_t word_escapes(uint64_t w) { return swar_below(w, 0x20) | swar_eq(w, '"') | swar_eq(w, '\\'); }

static uint64_t word_specials(uint64_t w) { return (w & SWAR_HIGHS) | word_escapes(w); }

#if defined(__SSE2__) && !defined(JSCAN_NO_VECTOR)
/* The same set sixteen bytes at a time, one bit a byte and exact: a signed compare
 * with 0x20 is true for the control characters and for every byte of 0x80 or more. */
static unsigned vec_specials(const uint8_t *p) {
  __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
  __m128i m = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                           _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
  return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* The index of the first byte of s[i..n) that word_specials would flag, or n. Fast:
 * with SSE2 (every x86-64), sixteen bytes a step and the last step a load of the
 * buffer's final sixteen bytes, its bits below i dropped (exact compares: no borrow
 * from a byte already passed), so a 32-character argument takes three steps; else
 * eight bytes a step, then bytes. */
static inline __attribute__((always_inline)) size_t next_special(const uint8_t *s, size_t n, size_t i) {
#if defined(__SSE2__) && !defined(JSCAN_NO_VECTOR)
  if (n >= 16) {
    for (; i + 16 <= n; i += 16) {
      unsigned m = vec_specials(s + i);
      if (m) return i + (size_t)__builtin_ctz(m);
    }
    if (i >= n) return n;
    unsigned m = vec_specials(s + n - 16) >> (i - (n - 16));
    return m ? i + (size_t)__builtin_ctz(m) : n;
  }
#endif
  for (uint64_t w, m; i + 8 <= n; i += 8) {
    memcpy(&w, s + i, 8);
    if (!(m = word_specials(w))) continue;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && defined(__GNUC__)
    return i + ((size_t)__builtin_ctzll(m) >> 3); /* straight to the first byte to look at */
#else
    break;
#endif
  }
  while (i < n && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\') i++;
  return i;
}

/* After next_special stopped at s[i] (i < n) inside a string: the index after the
 * closing quote (*done set), the index after an escape or a UTF-8 sequence, or 0. */
static size_t string_special(const uint8_t *s, size_t n, size_t i, sink *k, int *done) {
  uint8_t c = s[i];
  if (c == '"') {
    *done = 1;
    return i + 1;
  }
  if (c == '\\') return scan_escape(s, n, i, k);
  if (c < 0x20) return 0; /* RFC 8259 7: control characters must be escaped */
  size_t m = utf8_seq(s + i, n - i);
  if (!m) return 0;
  sink_put(k, s + i, m);
  return i + m;
}

/* Scans the string token whose quote is at s[i]; returns the index after the closing
 * quote, or 0. Runs of plain ASCII are copied in one go. */
static size_t scan_string(const uint8_t *s, size_t n, size_t i, sink *k) {
  i++;
  for (int done = 0;;) {
    size_t run = i;
    i = next_special(s, n, i);
    sink_put(k, s + run, i - run);
    if (i >= n) return 0;
    i = string_special(s, n, i, k, &done);
    if (!i || done) return i;
  }
}

/* scan_string with nowhere to put the bytes (validation): the same steps without a
 * sink's bookkeeping per run, and the closing quote found without a call. */
static size_t skip_string(const uint8_t *s, size_t n, size_t i) {
  sink none = {NULL, 0, 0};
  i++;
  for (int done = 0;;) {
    i = next_special(s, n, i);
    if (i >= n) return 0;
    if (s[i] == '"') return i + 1; /* (the common end, without a call) */
    i = string_special(s, n, i, &none, &done);
    if (!i || done) return i;
  }
}

static size_t scan_digits(const uint8_t *s, size_t n, size_t i) {
  while (i < n && is_digit(s[i])) i++;
  return i;
}

/* RFC 8259 6: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?. Returns the end or 0. */
static size_t scan_number(const uint8_t *s, size_t n, size_t i) {
  if (s[i] == '-') i++;
  if (i >= n || !is_digit(s[i])) return 0;
  i = s[i] == '0' ? i + 1 : scan_digits(s, n, i);
  if (i < n && s[i] == '.') {
    size_t f = scan_digits(s, n, i + 1);
    if (f == i + 1) return 0;
    i = f;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    size_t x = scan_digits(s, n, i);
    if (x == i) return 0;
    i = x;
  }
  return i;
}

static size_t scan_literal(const uint8_t *s, size_t n, size_t i, const char *lit, size_t len) {
  return n - i >= len && memcmp(s + i, lit, len) == 0 ? i + len : 0;
}

static jscan_type value_type(uint8_t c) {
  switch (c) {
    case '{': return JSCAN_OBJECT;
    case '[': return JSCAN_ARRAY;
    case '"': return JSCAN_STRING;
    case 't': return JSCAN_TRUE;
    case 'f': return JSCAN_FALSE;
    case 'n': return JSCAN_NULL;
    default: return c == '-' || is_digit(c) ? JSCAN_NUMBER : JSCAN_INVALID;
  }
}

/* A string, number or literal at s[i] (i < n); returns its end or 0. */
static size_t scan_scalar(const uint8_t *s, size_t n, size_t i) {
  switch (value_type(s[i])) {
    case JSCAN_STRING: return skip_string(s, n, i);
    case JSCAN_NUMBER: return scan_number(s, n, i);
    case JSCAN_TRUE: return scan_literal(s, n, i, "true", 4);
    case JSCAN_FALSE: return scan_literal(s, n, i, "false", 5);
    case JSCAN_NULL: return scan_literal(s, n, i, "null", 4);
    default: return 0;
  }
}

/* ---- placeholder tracking, an optional observer of the walk ----
 *
 * socket.io-parser's reconstructPacket replaces any object whose _placeholder is true
 * (last duplicate key wins, as in JSON.parse) and does not look inside it, so what an
 * object contains only counts when the object itself is not a placeholder: each level
 * remembers the totals at its '{' and a placeholder rewinds to them. */
enum { KEY_OTHER, KEY_PLACEHOLDER, KEY_NUM };

typedef struct {
  size_t count_at_open, bad_at_open;
  uint8_t key;      /* KEY_* of the member whose value comes next */
  uint8_t ph_true;  /* "_placeholder": true seen */
  uint8_t num_ok;   /* "num" is an integer in [0, nbins) */
} ph_frame;

typedef struct {
  size_t nbins, count, bad;
  ph_frame f[JSCAN_MAX_DEPTH];
} ph_state;

/* Compares a key token with a plain name, unescaping only when it has escapes. */
static int key_is(const uint8_t *tok, size_t len, const char *name, size_t name_len) {
  if (len == name_len + 2 && memcmp(tok + 1, name, name_len) == 0) return 1;
  if (!memchr(tok, '\\', len)) return 0;
  char buf[16];
  long m = jscan_string_unescape((const char *)tok, len, buf, sizeof buf);
  return m == (long)name_len && memcmp(buf, name, name_len) == 0;
}

/* Node checks typeof num === "number" && 0 <= num < buffers.length; this accepts only
 * the plain integer spelling (what every encoder writes) and treats 1.0, 1e0 and -0 as
 * bad rather than carry a float parser for them. */
static int num_in_range(const uint8_t *s, size_t len, size_t nbins) {
  if (len == 0 || len > 19) return 0; /* 19 digits cannot overflow a uint64_t */
  uint64_t v = 0;
  for (size_t k = 0; k < len; k++) {
    if (!is_digit(s[k])) return 0;
    v = v * 10 + (uint64_t)(s[k] - '0');
  }
  return v < (uint64_t)nbins;
}

static void ph_key(ph_state *ph, unsigned depth, const uint8_t *tok, size_t len) {
  ph_frame *f = &ph->f[depth - 1];
  f->key = key_is(tok, len, "_placeholder", 12) ? KEY_PLACEHOLDER
           : key_is(tok, len, "num", 3)         ? KEY_NUM
                                                : KEY_OTHER;
}

/* A member value s[b..e) (e == b for a container) of the object at depth. */
static void ph_value(ph_state *ph, unsigned depth, const uint8_t *s, size_t b, size_t e) {
  ph_frame *f = &ph->f[depth - 1];
  if (f->key == KEY_PLACEHOLDER) f->ph_true = e - b == 4 && memcmp(s + b, "true", 4) == 0;
  if (f->key == KEY_NUM) f->num_ok = (uint8_t)num_in_range(s + b, e - b, ph->nbins);
}

static void ph_open(ph_state *ph, unsigned depth) {
  ph_frame *f = &ph->f[depth - 1];
  f->count_at_open = ph->count;
  f->bad_at_open = ph->bad;
  f->key = KEY_OTHER;
  f->ph_true = 0;
  f->num_ok = 0;
}

static void ph_close(ph_state *ph, unsigned depth) {
  ph_frame *f = &ph->f[depth - 1];
  if (!f->ph_true) return;
  ph->count = f->count_at_open + 1;
  ph->bad = f->bad_at_open + !f->num_ok;
}

/* ---- the walk ---- */

typedef struct {
  const uint8_t *s;
  size_t n, i;
  uint64_t objects; /* bit d-1 set when nesting level d is an object */
  unsigned depth;
  ph_state *ph;
  size_t first_b, first_e; /* walk_array: its first element (a scalar: first_e is its end) */
} walker;

static int in_object(const walker *w) { return w->depth && (w->objects >> (w->depth - 1) & 1); }

/* At a member's key: scans it, the ':' and whitespace. Returns 0 on error. */
static int walk_key(walker *w) {
  if (w->i >= w->n || w->s[w->i] != '"') return 0;
  size_t end = skip_string(w->s, w->n, w->i);
  if (!end) return 0;
  if (w->ph) ph_key(w->ph, w->depth, w->s + w->i, end - w->i);
  size_t c = skip_ws(w->s, w->n, end);
  if (c >= w->n || w->s[c] != ':') return 0;
  w->i = skip_ws(w->s, w->n, c + 1);
  return 1;
}

/* At an opening bracket: pushes a level. Returns 0 on error, 1 when the value is still
 * open (next: a value), 2 when it was empty and is already closed. */
static int walk_open(walker *w) {
  uint8_t c = w->s[w->i];
  if (w->depth == JSCAN_MAX_DEPTH) return 0;
  if (w->ph && in_object(w)) ph_value(w->ph, w->depth, w->s, w->i, w->i);
  uint64_t bit = (uint64_t)1 << w->depth;
  w->objects = c == '{' ? w->objects | bit : w->objects & ~bit;
  w->depth++;
  if (w->ph && c == '{') ph_open(w->ph, w->depth);
  w->i = skip_ws(w->s, w->n, w->i + 1);
  if (w->i < w->n && w->s[w->i] == (c == '{' ? '}' : ']')) {
    w->i++;
    if (w->ph && c == '{') ph_close(w->ph, w->depth);
    w->depth--;
    return 2;
  }
  if (c == '{') return walk_key(w);
  return 1;
}

/* After a value inside a container: a ',' (then the next key) or the closing bracket.
 * Returns 0 on error, 1 when a value comes next, 2 when a level was closed. */
static int walk_after(walker *w) {
  w->i = skip_ws(w->s, w->n, w->i);
  if (w->i >= w->n) return 0;
  int obj = in_object(w);
  uint8_t c = w->s[w->i++];
  if (c == (obj ? '}' : ']')) {
    if (w->ph && obj) ph_close(w->ph, w->depth);
    w->depth--;
    return 2;
  }
  if (c != ',') return 0;
  w->i = skip_ws(w->s, w->n, w->i);
  return obj ? walk_key(w) : 1;
}

/* Walks one value starting at w->i (after whitespace); returns its end or 0. */
static size_t walk_value(walker *w) {
  int want_value = 1;
  for (;;) {
    if (want_value) {
      if (w->i >= w->n) return 0;
      uint8_t c = w->s[w->i];
      if (c == '{' || c == '[') {
        int r = walk_open(w);
        if (!r) return 0;
        want_value = r == 1;
        continue;
      }
      size_t end = scan_scalar(w->s, w->n, w->i);
      if (!end) return 0;
      if (w->ph && in_object(w)) ph_value(w->ph, w->depth, w->s, w->i, end);
      w->i = end;
      want_value = 0;
      continue;
    }
    if (w->depth == 0) return w->i;
    int r = walk_after(w);
    if (!r) return 0;
    want_value = r == 1;
  }
}

/* Walks the array whose '[' is at w->i; returns its end or 0. Fast: its scalars (an
 * event's name, strings and numbers: most payloads) are scanned in a plain loop; at
 * the first nested value the walker goes on from there, inside the array (depth 1). */
static size_t walk_array(walker *w) {
  const uint8_t *s = w->s;
  size_t n = w->n, i = skip_ws(s, n, w->i + 1);
  if (i < n && s[i] == ']') return i + 1;
  for (;;) {
    if (i >= n) return 0;
    if (!w->first_b) w->first_b = i; /* (never 0: after the '[') */
    if (s[i] == '[' || s[i] == '{') {
      w->depth = 1;
      w->objects = 0;
      w->i = i;
      return walk_value(w);
    }
    size_t end = scan_scalar(s, n, i);
    if (!end) return 0;
    if (w->first_b == i) w->first_e = end;
    i = skip_ws(s, n, end);
    if (i >= n) return 0;
    if (s[i] == ']') return i + 1;
    if (s[i] != ',') return 0;
    i = skip_ws(s, n, i + 1);
  }
}

static size_t walk_first(const char *p, size_t n, jscan_type *type, ph_state *ph, size_t *first_b, size_t *first_e) {
  walker w = {(const uint8_t *)p, n, 0, 0, 0, ph, 0, 0};
  w.i = skip_ws(w.s, n, 0);
  *type = JSCAN_INVALID;
  if (w.i >= n) return 0;
  jscan_type t = value_type(w.s[w.i]);
  size_t end = t == JSCAN_ARRAY ? walk_array(&w) : walk_value(&w);
  if (end) *type = t;
  if (first_b) *first_b = w.first_b, *first_e = w.first_e;
  return end;
}

static size_t walk(const char *p, size_t n, jscan_type *type, ph_state *ph) {
  return walk_first(p, n, type, ph, NULL, NULL);
}

size_t jscan_scan(const char *p, size_t n, jscan_type *type) { return walk(p, n, type, NULL); }

int jscan_valid(const char *p, size_t n, jscan_type *type) {
  size_t end = jscan_scan(p, n, type);
  if (end && skip_ws((const uint8_t *)p, n, end) == n) return 1;
  *type = JSCAN_INVALID;
  return 0;
}

int jscan_valid_first(const char *p, size_t n, jscan_type *type, const char **first, size_t *first_len,
                      jscan_type *first_type) {
  size_t b, e;
  size_t end = walk_first(p, n, type, NULL, &b, &e);
  if (!end || skip_ws((const uint8_t *)p, n, end) != n) {
    *type = JSCAN_INVALID;
    return 0;
  }
  *first = e ? p + b : NULL;
  *first_len = e ? e - b : 0;
  *first_type = e ? value_type((uint8_t)p[b]) : JSCAN_INVALID;
  return 1;
}

/* *off is 0 before the '[' and afterwards just past the last element returned, so the
 * first call is the only one that expects '[' rather than ',' or ']'. */
int jscan_array_next(const char *p, size_t n, size_t *off, const char **elem, size_t *elem_len,
                    jscan_type *elem_type) {
  const uint8_t *s = (const uint8_t *)p;
  size_t i = skip_ws(s, n, *off);
  if (i >= n) return -1;
  if (*off == 0) {
    if (s[i] != '[') return -1;
    i = skip_ws(s, n, i + 1);
    if (i < n && s[i] == ']') {
      *off = i + 1;
      return 0;
    }
  } else if (s[i] == ']') {
    *off = i + 1;
    return 0;
  } else if (s[i] == ',') {
    i = skip_ws(s, n, i + 1);
  } else {
    return -1;
  }
  /* A scalar (an event's name, most arguments) is scanned as itself: the walker's set-up
   * and loop are only for nesting, and were most of an event name's cost. */
  size_t len;
  if (i >= n) return -1;
  if (s[i] == '[' || s[i] == '{') {
    len = jscan_scan(p + i, n - i, elem_type);
  } else {
    size_t end = scan_scalar(s, n, i);
    *elem_type = end ? value_type(s[i]) : JSCAN_INVALID;
    len = end ? end - i : 0;
  }
  if (!len) return -1;
  *elem = p + i;
  *elem_len = len;
  *off = i + len;
  return 1;
}

int jscan_string_plain(const char *tok, size_t n, const char **s, size_t *len) {
  if (n < 2 || tok[0] != '"') return 0;
  for (size_t k = 1; k + 1 < n; k++) /* (names are short: a loop, not a memchr call) */
    if (tok[k] == '\\') return 0;
  *s = tok + 1;
  *len = n - 2;
  return 1;
}

long jscan_string_unescape(const char *tok, size_t n, char *out, size_t cap) {
  sink k = {out, cap, 0};
  const uint8_t *s = (const uint8_t *)tok;
  size_t end = n && s[0] == '"' ? scan_string(s, n, 0, &k) : 0;
  if (cap) out[k.len < cap ? k.len : cap - 1] = '\0';
  if (!end || end != n) return -1;
  return (long)k.len;
}

/* Writes b[0..m) at out[o..) as far as cap allows; returns o + m. */
static size_t put(char *out, size_t cap, size_t o, const char *b, size_t m) {
  if (o < cap && m) memcpy(out + o, b, m < cap - o ? m : cap - o);
  return o + m;
}

static size_t put_quote(char *out, size_t cap, size_t o) {
  if (o < cap) out[o] = '"';
  return o + 1;
}

/* The JSON.stringify spelling of a byte RFC 8259 7 requires to be escaped ('"', '\\',
 * < 0x20) into e; returns its length, or 0 when c goes out as it is. */
static size_t escape_of(uint8_t c, char e[6]) {
  static const char hex[] = "0123456789abcdef";
  static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
  if (c >= 0x20 && c != '"' && c != '\\') return 0;
  const char *f = c ? strchr(from, c) : NULL;
  e[0] = '\\';
  if (f) {
    e[1] = to[f - from];
    return 2;
  }
  memcpy(e + 1, "u00", 3);
  e[4] = hex[c >> 4];
  e[5] = hex[c & 15];
  return 6;
}

/* Whether none of s[0..n) is a byte escape_of names. Fast: whole words only, the last
 * one overlapping the word before it, and a string under eight bytes as one word
 * (util/ascii.h; under four, its three loaded bytes only: the word's zero padding would
 * read as control characters, and a borrow only runs upwards), so a short event name
 * is one test instead of a loop over its bytes (the loop cost 54 of the 110
 * instructions that escaping "echo" took). */
static int escape_free(const char *s, size_t n) {
  if (n == 0) return 1;
  if (n < 8) return !(word_escapes(ascii_load_short(s, n)) & (n < 4 ? 0x808080u : SWAR_HIGHS));
  uint64_t w;
  for (size_t i = 0; i + 8 < n; i += 8) {
    memcpy(&w, s + i, 8);
    if (word_escapes(w)) return 0;
  }
  memcpy(&w, s + n - 8, 8);
  return !word_escapes(w);
}

/* Bytes other than those escape_of names are copied, runs at a time; s is expected to be
 * UTF-8 (invalid bytes are not repaired). Fast: a string with nothing to escape (an
 * event name, an id, an address) is tested a word at a time and copied in one go; one
 * that has something is scanned eight bytes at a time up to each escape. */
size_t jscan_string_escape(char *out, size_t cap, const char *s, size_t n) {
  size_t o = put_quote(out, cap, 0);
  if (escape_free(s, n)) return put_quote(out, cap, put(out, cap, o, s, n));
  size_t run = 0, i = 0;
  for (;;) {
    for (uint64_t w; i + 8 <= n; i += 8) {
      memcpy(&w, s + i, 8);
      if (word_escapes(w)) break;
    }
    while (i < n && (uint8_t)s[i] >= 0x20 && s[i] != '"' && s[i] != '\\') i++;
    if (i >= n) break;
    char e[6];
    size_t m = escape_of((uint8_t)s[i], e);
    o = put(out, cap, o, s + run, i - run);
    o = put(out, cap, o, e, m);
    run = ++i;
  }
  o = put(out, cap, o, s + run, n - run);
  return put_quote(out, cap, o);
}

long jscan_count_placeholders(const char *p, size_t n, size_t nbins) {
  ph_state ph;
  ph.nbins = nbins;
  ph.count = 0;
  ph.bad = 0;
  jscan_type t;
  size_t end = walk(p, n, &t, &ph);
  if (!end || skip_ws((const uint8_t *)p, n, end) != n) return -1;
  return ph.bad ? -1 : (long)ph.count;
}
