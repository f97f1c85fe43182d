/* ws/utf8.h — incremental UTF-8 validator (RFC 3629 as required by RFC 6455 8.1).
 *
 * Owns: deciding, byte by byte across fragment boundaries, whether text is well-formed
 * UTF-8, failing at the first byte that cannot start or continue a valid sequence
 * (overlongs, surrogates U+D800..DFFF, > U+10FFFF). Has an ASCII fast path (8 bytes at a
 * time). Must not allocate. */
#ifndef WSIO_WS_UTF8_H
#define WSIO_WS_UTF8_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t state; /* 0 = at a character boundary (accept) */
} ws_utf8;

#define WS_UTF8_ACCEPT 0u

static inline void ws_utf8_init(ws_utf8 *u) { u->state = WS_UTF8_ACCEPT; }

/* Feeds p[0..n). Returns 0 while the text so far is a valid prefix of UTF-8 (possibly
 * ending inside a multi-byte sequence), -1 at the first invalid byte (the state is then
 * sticky-invalid). */
int ws_utf8_feed(ws_utf8 *u, const uint8_t *p, size_t n);

/* As ws_utf8_feed, but says where it failed: returns n when p[0..n) continues the text
 * validly, else the index in p of the first invalid byte (0 when u was already
 * invalid). A caller that reports the failing offset, and the tests that compare
 * split and whole feeding, use this. */
size_t ws_utf8_scan(ws_utf8 *u, const uint8_t *p, size_t n);

/* 1 when the text fed so far ends at a character boundary. */
static inline int ws_utf8_complete(const ws_utf8 *u) { return u->state == WS_UTF8_ACCEPT; }

/* Whole-buffer check: 1 when p[0..n) is complete, valid UTF-8. */
int ws_utf8_valid(const uint8_t *p, size_t n);

#endif
