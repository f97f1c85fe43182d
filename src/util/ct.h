/* util/ct.h — comparing secrets (bearer tokens, Engine.IO sids, API keys) in constant
 * time, so that how long a refusal takes says nothing about how many leading bytes
 * of a guess were right.
 *
 * Owns: nothing. Must not allocate or branch on the bytes compared. */
#ifndef WSIO_UTIL_CT_H
#define WSIO_UTIL_CT_H

#include <stddef.h>

/* 1 when given[0..given_len) equals secret[0..secret_len), else 0. The time taken
 * depends only on given_len (the length the peer chose, which it knows anyway), never
 * on the contents of either side or on where they first differ; secret_len is not
 * revealed beyond whether it equals given_len. NULL with a length of 0 is an empty
 * value. */
int ct_equal(const void *given, size_t given_len, const void *secret, size_t secret_len);

#endif
