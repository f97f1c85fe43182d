/* util/random.h — the kernel's CSPRNG (getrandom(2)), and Node's base64id on top of
 * it: the session and socket ids that must not be guessable.
 *
 * Owns: nothing. Must not allocate. */
#ifndef WSIO_UTIL_RANDOM_H
#define WSIO_UTIL_RANDOM_H

#include <stddef.h>

#define RANDOM_ID_LEN 20

/* Fills p[0..n) with random bytes. Returns 0, or -errno when the kernel has none to
 * give (getrandom unsupported; it only blocks before the pool is first seeded). */
int random_bytes(void *p, size_t n);

/* 15 random bytes as 20 URL-safe base64 characters and a NUL (Node's base64id, minus
 * its counter: 120 random bits make collisions negligible). Returns 0 or -errno. */
int random_id(char out[RANDOM_ID_LEN + 1]);

/* --threads: an id that names the thread (t of n) holding what it identifies, in its
 * first character (two past 64 threads); 114 (108) random bits remain. Nothing when
 * n <= 1. random_id_owner reads it back: the thread, or -1 (not such an id). */
void random_id_mark(char id[RANDOM_ID_LEN + 1], unsigned t, unsigned n);
int random_id_owner(const char *id, size_t len, unsigned n);

#endif
